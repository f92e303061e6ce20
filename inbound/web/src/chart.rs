//! The usage chart: an SVG drawn on the server from numbers (the template
//! places rectangles; nothing is injected as markup).

use lettuce_engine::UsageReport;
use minijinja::{Value, context};
use std::collections::BTreeMap;

/// Plot width and height (SVG user units).
pub(crate) const WIDTH: u64 = 600;
/// Plot height.
pub(crate) const HEIGHT: u64 = 160;

/// Bars for every day of `report` (days without usage are zero): tokens
/// returned and tokens saved side by side, scaled to the largest value.
pub(crate) fn bars(report: &UsageReport) -> Value {
    let by_day: BTreeMap<_, _> = report.days.iter().map(|d| (d.date, d.counters)).collect();
    let mut days = Vec::new();
    let mut d = report.from;
    while d <= report.to {
        let c = by_day.get(&d).copied().unwrap_or_default();
        days.push((d, c));
        d = d.succ_opt().unwrap_or(report.to + chrono::Duration::days(1));
    }
    let max = days
        .iter()
        .map(|(_, c)| c.tokens_returned.max(c.tokens_saved))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = days.len().max(1) as u64;
    let slot = WIDTH / n;
    let bar = (slot.saturating_sub(2) / 2).max(1);
    let scale = |v: u64| -> u64 { ((u128::from(v) * u128::from(HEIGHT)) / u128::from(max)) as u64 };
    let items: Vec<Value> = days
        .iter()
        .enumerate()
        .map(|(i, (date, c))| {
            let x = i as u64 * slot + 1;
            let rh = scale(c.tokens_returned);
            let sh = scale(c.tokens_saved);
            context! {
                date => date.format("%Y-%m-%d").to_string(),
                label => date.format("%d").to_string(),
                x => x,
                x2 => x + bar,
                bar => bar,
                returned => c.tokens_returned,
                saved => c.tokens_saved,
                queries => c.queries,
                returned_y => HEIGHT - rh,
                returned_h => rh,
                saved_y => HEIGHT - sh,
                saved_h => sh,
                show_label => i % 5 == 0,
            }
        })
        .collect();
    context! { bars => items, max => max, width => WIDTH, height => HEIGHT, view_height => HEIGHT + 20, tick_y => HEIGHT + 14 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_engine::UsageDay;
    use lettuce_ports::store::UsageCounters;

    #[test]
    fn every_day_gets_a_slot_and_the_largest_bar_fills_the_plot() {
        let to = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let from = to - chrono::Duration::days(29);
        let report = UsageReport {
            encoding: "o200k_base",
            from,
            to,
            days: vec![UsageDay {
                date: to,
                counters: UsageCounters {
                    queries: 3,
                    tokens_returned: 500,
                    tokens_full: 2500,
                    tokens_saved: 2000,
                },
            }],
            total: UsageCounters::default(),
            tools: Vec::new(),
        };
        let v = bars(&report);
        let bars = v.get_attr("bars").unwrap();
        assert_eq!(bars.len(), Some(30));
        let last = bars.get_item(&Value::from(29)).unwrap();
        assert_eq!(last.get_attr("saved_h").unwrap().as_usize(), Some(HEIGHT as usize));
        assert_eq!(last.get_attr("returned_h").unwrap().as_usize(), Some(40));
    }
}
