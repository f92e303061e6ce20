//! The ops dashboard: one server-rendered HTML page (no scripts), every
//! value escaped.

use crate::report::{EXPIRING_WITHIN_DAYS, Report, STALE_AFTER};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// HTML-escapes `s`.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now - t;
    if d.num_minutes() < 1 {
        "just now".into()
    } else if d.num_hours() < 1 {
        format!("{} min ago", d.num_minutes())
    } else if d.num_days() < 2 {
        format!("{} h ago", d.num_hours())
    } else {
        format!("{} days ago", d.num_days())
    }
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2b1f;background:#f7faf5}\
h1{margin:0 0 .2rem}h2{margin-top:2rem}.muted{color:#667}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e8e0;text-align:left;white-space:nowrap}\
th{background:#eef3ea}td.n{text-align:right;font-variant-numeric:tabular-nums}.cards{display:flex;gap:1rem;flex-wrap:wrap}\
.card{background:#fff;border:1px solid #e3e8e0;border-radius:8px;padding:.8rem 1.2rem;min-width:10rem}\
.card b{display:block;font-size:1.6rem}.warn{color:#a03a00;font-weight:600}.stale{color:#999}code{font-size:12px}";

/// Renders the dashboard for `r`.
pub fn render(r: &Report) -> String {
    let now = r.summary.generated_at;
    let s = &r.summary;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"300\">\
         <title>Lettuce telemetry</title><style>{STYLE}</style></head><body>\
         <h1>Lettuce telemetry</h1><p class=\"muted\">Generated {} · JSON: <code>/v1/summary</code>, \
         <code>/v1/instances</code>, <code>/v1/licenses</code></p><div class=\"cards\">",
        date(now)
    );
    for (label, value) in [
        ("instances", num(s.instances)),
        ("active in 24 h", num(s.active_24h)),
        ("stale (no heartbeat for 48 h)", num(s.stale)),
        ("tokens saved, last 24 h", num(s.tokens_saved_24h)),
        ("licenses expiring ≤ 30 days", num(s.licenses_expiring)),
    ] {
        let _ = write!(h, "<div class=\"card\"><b>{}</b>{}</div>", esc(&value), esc(label));
    }
    h.push_str("</div>");

    let _ = write!(
        h,
        "<h2 id=\"expiring\">Licenses expiring within {EXPIRING_WITHIN_DAYS} days</h2>"
    );
    let expiring: Vec<_> = r.licenses.iter().filter(|l| l.expiring).collect();
    if expiring.is_empty() {
        h.push_str("<p class=\"muted\">None.</p>");
    } else {
        h.push_str(
            "<table><tr><th>license</th><th>customer</th><th>tier</th><th>seats</th><th>expires</th>\
             <th>days left</th><th>state</th><th>instances</th><th>last seen</th></tr>",
        );
        for l in expiring {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
                 <td class=\"n warn\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&l.license.license_id),
                esc(&l.license.customer_id),
                esc(&l.license.tier),
                l.license.seats,
                date(l.license.expires_at),
                l.days_left,
                l.state,
                l.instances,
                l.last_seen.map_or_else(|| "never".into(), |t| ago(t, now)),
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2 id=\"versions\">Versions</h2>");
    if s.versions.is_empty() {
        h.push_str("<p class=\"muted\">No live instances.</p>");
    } else {
        h.push_str("<table><tr><th>version</th><th>live instances</th></tr>");
        for v in &s.versions {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&v.version),
                v.instances
            );
        }
        h.push_str("</table>");
    }

    let _ = write!(
        h,
        "<h2 id=\"instances\">Instances</h2><p class=\"muted\">Grey rows have sent no heartbeat for {} hours.</p>",
        STALE_AFTER.num_hours()
    );
    if r.instances.is_empty() {
        h.push_str("<p class=\"muted\">No heartbeat received yet.</p>");
    } else {
        h.push_str(
            "<table><tr><th>instance</th><th>license</th><th>customer</th><th>license expires</th><th>version</th>\
             <th>repos</th><th>users / seats</th><th>tokens saved 24 h</th><th>uptime h</th><th>last seen</th>\
             <th>first seen</th><th>heartbeats</th></tr>",
        );
        for v in &r.instances {
            let i = &v.instance;
            let (customer, expires) = match &v.license {
                Some(l) => (
                    esc(&l.customer_id),
                    format!(
                        "{}{}",
                        date(l.expires_at),
                        if l.days_left <= EXPIRING_WITHIN_DAYS {
                            format!(" <span class=\"warn\">({} days)</span>", l.days_left)
                        } else {
                            String::new()
                        }
                    ),
                ),
                None if i.license_id.is_some() => ("<span class=\"warn\">not registered</span>".into(), "—".into()),
                None => ("<span class=\"muted\">unlicensed</span>".into(), "—".into()),
            };
            let _ = write!(
                h,
                "<tr{}><td><code>{}</code></td><td><code>{}</code></td><td>{customer}</td><td>{expires}</td>\
                 <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{} / {}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                if v.stale { " class=\"stale\"" } else { "" },
                i.instance_id,
                esc(i.license_id.as_deref().unwrap_or("—")),
                esc(&i.version),
                num(i.repo_count),
                num(i.user_count),
                i.seat_count.map_or_else(|| "—".into(), num),
                num(i.tokens_saved_24h),
                num(i.uptime_hours),
                ago(i.last_seen, now),
                date(i.first_seen),
                num(i.pings),
            );
        }
        h.push_str("</table>");
    }
    if !s.unregistered_license_ids.is_empty() {
        h.push_str("<h2>License ids not in the registry</h2><p class=\"muted\">Register them with <code>telemetry-receiver licenses add</code> or <code>POST /v1/licenses</code>.</p><ul>");
        for id in &s.unregistered_license_ids {
            let _ = write!(h, "<li><code>{}</code></li>", esc(id));
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_numbers() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(num(0), "0");
        assert_eq!(num(1234), "1,234");
        assert_eq!(num(184_293), "184,293");
        assert_eq!(num(1_000_000), "1,000,000");
    }
}
