//! The telemetry heartbeat (PRODUCT P-7): its schema, the strict parser the
//! receiver uses ([`parse_ping`]), the receiver's acknowledgement that makes a
//! verified receipt ([`HeartbeatAck`]), and the pure rules around sending:
//! who may opt out ([`decide`]), when the daily heartbeat is due
//! ([`heartbeat_slot`]), uptime ([`next_up_since`]) and the 7-day
//! "no receipt" warning ([`receipt_overdue`]).
//!
//! The heartbeat has **exactly** eight fields — no repository names, code or
//! email addresses:
//!
//! ```
//! use lettuce_domain::telemetry::{parse_ping, Heartbeat};
//! let body = br#"{"instance_id":"6f1c2a4e-8d1b-4f7a-9a57-2b1f0c3d4e5f","license_id":"lic_acme",
//!   "version":"1.4.2","repo_count":47,"user_count":12,"seat_count":25,
//!   "tokens_saved_24h":184293,"uptime_hours":412}"#;
//! let hb: Heartbeat = parse_ping(body).unwrap();
//! assert_eq!(hb.repo_count, 47);
//! assert_eq!(serde_json::to_value(&hb).unwrap().as_object().unwrap().len(), 8);
//! let err = parse_ping(br#"{"instance_id":"x"}"#).unwrap_err();
//! assert_eq!(err.field.as_deref(), Some("instance_id"));
//! ```

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The eight heartbeat fields, in wire order.
pub const HEARTBEAT_FIELDS: [&str; 8] = [
    "instance_id",
    "license_id",
    "version",
    "repo_count",
    "user_count",
    "seat_count",
    "tokens_saved_24h",
    "uptime_hours",
];

/// Largest `repo_count` / `user_count` a heartbeat may carry.
pub const MAX_COUNT: u64 = 1_000_000_000;
/// Largest `seat_count` (license seats are 32-bit).
pub const MAX_SEATS: u64 = u32::MAX as u64;
/// Largest `tokens_saved_24h`: 2^53 − 1, the largest integer every JSON
/// implementation represents exactly.
pub const MAX_TOKENS: u64 = (1 << 53) - 1;
/// Largest `uptime_hours` (about 114 years).
pub const MAX_UPTIME_HOURS: u64 = 1_000_000;
/// Longest `version` string.
pub const MAX_VERSION_LEN: usize = 64;
/// Longest `license_id` string.
pub const MAX_LICENSE_ID_LEN: usize = 128;
/// Largest heartbeat body a receiver needs to accept (a real one is ~250 bytes).
pub const MAX_PING_BYTES: usize = 16 * 1024;

/// One daily heartbeat. Serializes to a JSON object with exactly the eight
/// [`HEARTBEAT_FIELDS`] in that order; `license_id` and `seat_count` are
/// `null` when the instance has no verified license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heartbeat {
    /// Generated once per install and kept (shared by all its processes).
    pub instance_id: Uuid,
    /// The license's `sub`, or `None` without a verified license.
    pub license_id: Option<String>,
    /// Lettuce version.
    pub version: String,
    /// Repositories on the instance.
    pub repo_count: u64,
    /// Users on the instance.
    pub user_count: u64,
    /// Seats the license grants, or `None` without a verified license.
    pub seat_count: Option<u64>,
    /// Tokens saved over the last 24 hours, all accounts.
    pub tokens_saved_24h: u64,
    /// Whole hours the instance has been up (see [`next_up_since`]).
    pub uptime_hours: u64,
}

impl Heartbeat {
    /// The heartbeat with every number clamped to the range [`parse_ping`]
    /// accepts, so a sender never emits a payload a receiver must reject.
    pub fn clamped(mut self) -> Self {
        self.repo_count = self.repo_count.min(MAX_COUNT);
        self.user_count = self.user_count.min(MAX_COUNT);
        self.seat_count = self.seat_count.map(|s| s.min(MAX_SEATS));
        self.tokens_saved_24h = self.tokens_saved_24h.min(MAX_TOKENS);
        self.uptime_hours = self.uptime_hours.min(MAX_UPTIME_HOURS);
        self
    }

    /// The heartbeat as pretty-printed JSON (what `lettuce telemetry preview` shows).
    pub fn to_pretty_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }
}

/// How a ping was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingErrorKind {
    /// Not JSON, or not a JSON object (HTTP 400).
    Malformed,
    /// A field outside the eight (HTTP 422).
    UnknownField,
    /// One of the eight is missing (HTTP 422).
    MissingField,
    /// A field has the wrong JSON type (HTTP 422).
    WrongType,
    /// A field's value is out of range or badly formed (HTTP 422).
    OutOfRange,
}

impl PingErrorKind {
    /// Stable snake_case code (`malformed_json`, `unknown_field`, …).
    pub fn code(self) -> &'static str {
        match self {
            PingErrorKind::Malformed => "malformed_json",
            PingErrorKind::UnknownField => "unknown_field",
            PingErrorKind::MissingField => "missing_field",
            PingErrorKind::WrongType => "wrong_type",
            PingErrorKind::OutOfRange => "out_of_range",
        }
    }
}

/// Why [`parse_ping`] refused a body: the kind, the field (when one is to
/// blame) and a sentence naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PingError {
    /// What kind of problem.
    pub kind: PingErrorKind,
    /// The offending field.
    pub field: Option<String>,
    /// Human message naming the field and the rule.
    pub message: String,
}

impl PingError {
    fn new(kind: PingErrorKind, field: Option<&str>, message: String) -> Self {
        Self {
            kind,
            field: field.map(str::to_owned),
            message,
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "an integer",
        Value::Number(_) => "a fractional number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, want: &str, got: &Value) -> PingError {
    PingError::new(
        PingErrorKind::WrongType,
        Some(field),
        format!("field `{field}` must be {want}, got {}", type_name(got)),
    )
}

fn out_of_range(field: &str, rule: String) -> PingError {
    PingError::new(
        PingErrorKind::OutOfRange,
        Some(field),
        format!("field `{field}` {rule}"),
    )
}

fn take<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a Value, PingError> {
    obj.get(field).ok_or_else(|| {
        PingError::new(
            PingErrorKind::MissingField,
            Some(field),
            format!(
                "field `{field}` is missing (a heartbeat has exactly: {})",
                HEARTBEAT_FIELDS.join(", ")
            ),
        )
    })
}

fn uint(obj: &Map<String, Value>, field: &str, max: u64) -> Result<u64, PingError> {
    let v = take(obj, field)?;
    let Value::Number(n) = v else {
        return Err(wrong_type(field, "a whole number", v));
    };
    if let Some(u) = n.as_u64() {
        if u > max {
            return Err(out_of_range(field, format!("must be at most {max}, got {u}")));
        }
        return Ok(u);
    }
    if let Some(i) = n.as_i64() {
        return Err(out_of_range(field, format!("must not be negative, got {i}")));
    }
    Err(wrong_type(field, "a whole number", v))
}

fn opt_uint(obj: &Map<String, Value>, field: &str, max: u64) -> Result<Option<u64>, PingError> {
    match take(obj, field)? {
        Value::Null => Ok(None),
        _ => uint(obj, field, max).map(Some),
    }
}

fn token_text(field: &str, s: &str, max_len: usize) -> Result<(), PingError> {
    if s.is_empty() || s.len() > max_len {
        return Err(out_of_range(
            field,
            format!("must be 1 to {max_len} characters, got {}", s.len()),
        ));
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(out_of_range(field, "must be printable ASCII without spaces".to_owned()));
    }
    Ok(())
}

/// Parses and validates a heartbeat body **strictly**: a JSON object with
/// exactly the eight [`HEARTBEAT_FIELDS`] — unknown fields, missing fields,
/// wrong types and out-of-range values are refused with a [`PingError`] that
/// names the field.
///
/// Rules: `instance_id` a hyphenated, non-nil UUID; `license_id` `null` or
/// 1–128 printable ASCII characters; `version` 1–64 printable ASCII
/// characters; `repo_count`, `user_count` whole numbers 0–[`MAX_COUNT`];
/// `seat_count` `null` or 0–[`MAX_SEATS`]; `tokens_saved_24h` 0–[`MAX_TOKENS`];
/// `uptime_hours` 0–[`MAX_UPTIME_HOURS`]. Fractional numbers (even `1.0`)
/// are wrong types.
pub fn parse_ping(body: &[u8]) -> Result<Heartbeat, PingError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        PingError::new(
            PingErrorKind::Malformed,
            None,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(PingError::new(
            PingErrorKind::Malformed,
            None,
            format!("the body must be a JSON object, got {}", type_name(&value)),
        ));
    };
    let mut unknown: Vec<&String> = obj.keys().filter(|k| !HEARTBEAT_FIELDS.contains(&k.as_str())).collect();
    unknown.sort();
    if let Some(first) = unknown.first() {
        return Err(PingError::new(
            PingErrorKind::UnknownField,
            Some(first),
            format!(
                "unknown field `{first}`: a heartbeat has exactly {}",
                HEARTBEAT_FIELDS.join(", ")
            ),
        ));
    }

    let instance_id = match take(&obj, "instance_id")? {
        Value::String(s) => Uuid::try_parse(s)
            .ok()
            .filter(|id| s.len() == 36 && !id.is_nil())
            .ok_or_else(|| {
                out_of_range(
                    "instance_id",
                    "must be a UUID like 6f1c2a4e-8d1b-4f7a-9a57-2b1f0c3d4e5f".to_owned(),
                )
            })?,
        other => return Err(wrong_type("instance_id", "a UUID string", other)),
    };
    let license_id = match take(&obj, "license_id")? {
        Value::Null => None,
        Value::String(s) => {
            token_text("license_id", s, MAX_LICENSE_ID_LEN)?;
            Some(s.clone())
        }
        other => return Err(wrong_type("license_id", "a string or null", other)),
    };
    let version = match take(&obj, "version")? {
        Value::String(s) => {
            token_text("version", s, MAX_VERSION_LEN)?;
            s.clone()
        }
        other => return Err(wrong_type("version", "a string", other)),
    };
    Ok(Heartbeat {
        instance_id,
        license_id,
        version,
        repo_count: uint(&obj, "repo_count", MAX_COUNT)?,
        user_count: uint(&obj, "user_count", MAX_COUNT)?,
        seat_count: opt_uint(&obj, "seat_count", MAX_SEATS)?,
        tokens_saved_24h: uint(&obj, "tokens_saved_24h", MAX_TOKENS)?,
        uptime_hours: uint(&obj, "uptime_hours", MAX_UPTIME_HOURS)?,
    })
}

// ── the receipt ─────────────────────────────────────────────────────────────

/// What a receiver answers (HTTP 2xx, JSON) when it has stored a heartbeat.
/// A sender counts a heartbeat as **verified** only when the answer parses
/// as this, `status` is `accepted` and `instance_id` echoes the heartbeat's
/// ([`verify_ack`]): a 2xx from a proxy or captive portal is not a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// Always `accepted`.
    pub status: String,
    /// The heartbeat's `instance_id`, echoed.
    pub instance_id: Uuid,
    /// The receiver's id for the stored heartbeat.
    pub receipt_id: String,
    /// When the receiver stored it (its clock).
    pub received_at: DateTime<Utc>,
}

/// The `status` of a [`HeartbeatAck`].
pub const ACK_ACCEPTED: &str = "accepted";

/// Checks that `body` is a receiver's acknowledgement of `sent`; returns it,
/// or why it is not one.
pub fn verify_ack(body: &[u8], sent: &Heartbeat) -> Result<HeartbeatAck, String> {
    let ack: HeartbeatAck = serde_json::from_slice(body).map_err(|e| {
        format!("the answer is not a heartbeat acknowledgement ({e}); is LETTUCE_TELEMETRY_URL a Lettuce telemetry receiver?")
    })?;
    if ack.status != ACK_ACCEPTED {
        return Err(format!("the receiver answered status `{}`, not `accepted`", ack.status));
    }
    if ack.instance_id != sent.instance_id {
        return Err(format!(
            "the acknowledgement is for instance {}, not this instance ({})",
            ack.instance_id, sent.instance_id
        ));
    }
    if ack.receipt_id.is_empty() || ack.receipt_id.len() > 128 {
        return Err("the acknowledgement has no usable receipt_id".into());
    }
    Ok(ack)
}

// ── whether to send ─────────────────────────────────────────────────────────

/// A request to stop telemetry, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOut {
    /// `LETTUCE_TELEMETRY_ENABLED=false` (or `0`, `no`, `off`).
    EnabledFalse,
    /// The deprecated `LETTUCE_TELEMETRY_DISABLED=1`.
    LegacyDisabled,
    /// `DO_NOT_TRACK=1`.
    DoNotTrack,
    /// The admin toggle (`PUT /v1/admin/telemetry {"enabled": false}`).
    Admin,
}

impl OptOut {
    /// How the request reads in logs and the API.
    pub fn describe(self) -> &'static str {
        match self {
            OptOut::EnabledFalse => "LETTUCE_TELEMETRY_ENABLED=false",
            OptOut::LegacyDisabled => "LETTUCE_TELEMETRY_DISABLED=1 (deprecated)",
            OptOut::DoNotTrack => "DO_NOT_TRACK=1",
            OptOut::Admin => "the admin telemetry toggle",
        }
    }
}

/// What the license says about telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseTerm {
    /// License gating is off (`LETTUCE_SELF_HOSTED` unset): no license
    /// requires telemetry, so an opt-out is honoured.
    Ungated,
    /// Gating is on but no license verified (locked): treated as required,
    /// like an absent `telemetry_required` claim.
    Unverified,
    /// `telemetry_required` is `true` or absent.
    Required,
    /// `telemetry_required=false`: opting out is allowed.
    Optional,
}

impl LicenseTerm {
    /// The term of a license with this `telemetry_required` claim (absent
    /// claims deserialize as `true`), or of no license.
    pub fn from_license(gated: bool, telemetry_required: Option<bool>) -> Self {
        match (gated, telemetry_required) {
            (false, _) => LicenseTerm::Ungated,
            (true, None) => LicenseTerm::Unverified,
            (true, Some(true)) => LicenseTerm::Required,
            (true, Some(false)) => LicenseTerm::Optional,
        }
    }

    /// Whether an opt-out is honoured under this term.
    pub fn allows_opt_out(self) -> bool {
        matches!(self, LicenseTerm::Ungated | LicenseTerm::Optional)
    }
}

/// Whether heartbeats are sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TelemetryDecision {
    /// Whether heartbeats are sent.
    pub send: bool,
    /// Every opt-out that was requested (honoured or not).
    pub opt_outs: Vec<OptOut>,
    /// The license's term.
    pub license: LicenseTerm,
}

/// Decides whether to send: heartbeats are sent unless an opt-out was
/// requested **and** the license allows opting out. An opt-out the license
/// does not allow is a contradiction: heartbeats continue and
/// [`TelemetryDecision::contradiction`] says so (for the log).
pub fn decide(opt_outs: &[OptOut], license: LicenseTerm) -> TelemetryDecision {
    let mut opt_outs = opt_outs.to_vec();
    opt_outs.dedup();
    TelemetryDecision {
        send: opt_outs.is_empty() || !license.allows_opt_out(),
        opt_outs,
        license,
    }
}

impl TelemetryDecision {
    fn requested(&self) -> String {
        self.opt_outs
            .iter()
            .map(|o| o.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An opt-out was requested but the license requires telemetry: the
    /// sentence to log (at WARN) when heartbeats continue anyway.
    pub fn contradiction(&self) -> Option<String> {
        if !self.send || self.opt_outs.is_empty() {
            return None;
        }
        let why = match self.license {
            LicenseTerm::Unverified => {
                "no license has verified yet and license gating is on (LETTUCE_SELF_HOSTED), which counts as telemetry_required"
            }
            _ => "the license requires telemetry (its telemetry_required claim is true or absent)",
        };
        Some(format!(
            "telemetry opt-out requested ({}) but {why}: heartbeats continue. Ask for a license issued with telemetry_required=false to opt out",
            self.requested()
        ))
    }

    /// One sentence: whether heartbeats are sent and why.
    pub fn reason(&self) -> String {
        if let Some(c) = self.contradiction() {
            return c;
        }
        if self.send {
            return "telemetry is on (the default); no opt-out was requested".into();
        }
        let allowed = match self.license {
            LicenseTerm::Ungated => "license gating is off, so nothing requires telemetry",
            _ => "the license allows it (telemetry_required=false)",
        };
        format!("telemetry is off: opted out by {}; {allowed}", self.requested())
    }
}

// ── when to send ────────────────────────────────────────────────────────────

/// How often the heartbeat is sent.
pub const HEARTBEAT_PERIOD: Duration = Duration::days(1);

/// The instance's fixed time of day for its heartbeat: an offset below 24 h
/// derived from `instance_id`, so installs spread over the day instead of all
/// calling at midnight UTC.
pub fn heartbeat_offset(instance_id: Uuid) -> Duration {
    let secs = instance_id.as_u128() % (HEARTBEAT_PERIOD.num_seconds() as u128);
    Duration::seconds(i64::try_from(secs).unwrap_or(0))
}

/// The start of the daily heartbeat period containing `now`: the latest
/// `midnight UTC + heartbeat_offset(instance_id)` at or before `now`. One
/// heartbeat is sent per slot.
pub fn heartbeat_slot(now: DateTime<Utc>, instance_id: Uuid) -> DateTime<Utc> {
    let offset = heartbeat_offset(instance_id);
    let shifted = now - offset;
    shifted.date_naive().and_time(NaiveTime::MIN).and_utc() + offset
}

/// A gap longer than this without any running Lettuce process resets uptime.
pub const UPTIME_GAP: Duration = Duration::hours(3);

/// Instance uptime bookkeeping: every running process records "alive at
/// `now`" about hourly. Given the stored `up_since` and the last `alive_at`,
/// returns the new `up_since`: unchanged while processes keep reporting,
/// `now` after a gap of more than [`UPTIME_GAP`] (the instance was down) or
/// when nothing is recorded yet. A rolling restart does not reset it.
pub fn next_up_since(
    up_since: Option<DateTime<Utc>>,
    alive_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match (up_since, alive_at) {
        (Some(since), Some(alive)) if now - alive <= UPTIME_GAP && since <= now => since,
        _ => now,
    }
}

/// Whole hours from `up_since` to `now` (0 when `up_since` is unknown or in
/// the future).
pub fn uptime_hours(up_since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> u64 {
    up_since
        .map(|since| u64::try_from((now - since).num_hours()).unwrap_or(0))
        .unwrap_or(0)
}

/// After this long without a verified receipt, an instance that should be
/// sending logs a WARN.
pub const RECEIPT_WARN_AFTER: Duration = Duration::days(7);

/// How long no receipt has been verified, when that is at least
/// [`RECEIPT_WARN_AFTER`]: measured from the last verified receipt, or —
/// when none was ever verified — from when the instance started trying
/// (`trying_since`).
pub fn receipt_overdue(
    last_verified: Option<DateTime<Utc>>,
    trying_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let since = last_verified.unwrap_or(trying_since);
    let silent = now - since;
    (silent >= RECEIPT_WARN_AFTER).then_some(silent)
}

/// Delay before in-process retry number `attempt` (1-based: the attempt that
/// just failed) of a heartbeat: `base × 4^(attempt − 1)`, at most 10 minutes.
pub fn heartbeat_retry_delay(attempt: u32, base: std::time::Duration) -> std::time::Duration {
    let factor = 4u32.saturating_pow(attempt.saturating_sub(1).min(10));
    base.saturating_mul(factor).min(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "instance_id": "6f1c2a4e-8d1b-4f7a-9a57-2b1f0c3d4e5f",
            "license_id": "lic_acme",
            "version": "1.4.2",
            "repo_count": 47,
            "user_count": 12,
            "seat_count": 12,
            "tokens_saved_24h": 184293,
            "uptime_hours": 412
        })
    }

    fn with(field: &str, value: Value) -> Vec<u8> {
        let mut v = good();
        v[field] = value;
        serde_json::to_vec(&v).unwrap()
    }

    fn without(field: &str) -> Vec<u8> {
        let mut v = good();
        v.as_object_mut().unwrap().remove(field);
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn schema_is_exactly_eight_fields_with_their_types() {
        let hb = parse_ping(&serde_json::to_vec(&good()).unwrap()).unwrap();
        let v = serde_json::to_value(&hb).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = HEARTBEAT_FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert!(obj["instance_id"].is_string());
        assert!(obj["license_id"].is_string());
        assert!(obj["version"].is_string());
        for n in [
            "repo_count",
            "user_count",
            "seat_count",
            "tokens_saved_24h",
            "uptime_hours",
        ] {
            assert!(obj[n].is_u64(), "{n} must be an unsigned integer");
        }
        // Wire order is the documented order.
        let text = serde_json::to_string(&hb).unwrap();
        let positions: Vec<usize> = HEARTBEAT_FIELDS
            .iter()
            .map(|f| text.find(&format!("\"{f}\"")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        // Without a license the keys stay, as null.
        let unlicensed = Heartbeat {
            license_id: None,
            seat_count: None,
            ..hb.clone()
        };
        let v = serde_json::to_value(&unlicensed).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 8);
        assert!(v["license_id"].is_null() && v["seat_count"].is_null());
        assert_eq!(parse_ping(&serde_json::to_vec(&v).unwrap()).unwrap(), unlicensed);
        assert_eq!(parse_ping(text.as_bytes()).unwrap(), hb);
    }

    #[test]
    fn bad_pings_are_refused_naming_the_field() {
        use PingErrorKind::*;
        let cases: Vec<(&str, Vec<u8>, PingErrorKind, Option<&str>)> = vec![
            ("not json", b"{nope".to_vec(), Malformed, None),
            ("empty body", Vec::new(), Malformed, None),
            ("array", b"[1,2]".to_vec(), Malformed, None),
            ("string", b"\"hi\"".to_vec(), Malformed, None),
            (
                "unknown field",
                with("repo_names", json!(["a"])),
                UnknownField,
                Some("repo_names"),
            ),
            (
                "email smuggled",
                with("email", json!("a@b.c")),
                UnknownField,
                Some("email"),
            ),
            (
                "missing instance_id",
                without("instance_id"),
                MissingField,
                Some("instance_id"),
            ),
            (
                "missing license_id",
                without("license_id"),
                MissingField,
                Some("license_id"),
            ),
            (
                "missing uptime",
                without("uptime_hours"),
                MissingField,
                Some("uptime_hours"),
            ),
            (
                "instance_id number",
                with("instance_id", json!(5)),
                WrongType,
                Some("instance_id"),
            ),
            (
                "instance_id not uuid",
                with("instance_id", json!("abc")),
                OutOfRange,
                Some("instance_id"),
            ),
            (
                "instance_id nil",
                with("instance_id", json!("00000000-0000-0000-0000-000000000000")),
                OutOfRange,
                Some("instance_id"),
            ),
            (
                "instance_id simple form",
                with("instance_id", json!("6f1c2a4e8d1b4f7a9a572b1f0c3d4e5f")),
                OutOfRange,
                Some("instance_id"),
            ),
            (
                "license_id number",
                with("license_id", json!(7)),
                WrongType,
                Some("license_id"),
            ),
            (
                "license_id empty",
                with("license_id", json!("")),
                OutOfRange,
                Some("license_id"),
            ),
            (
                "license_id too long",
                with("license_id", json!("x".repeat(129))),
                OutOfRange,
                Some("license_id"),
            ),
            (
                "license_id with space",
                with("license_id", json!("lic acme")),
                OutOfRange,
                Some("license_id"),
            ),
            ("version null", with("version", json!(null)), WrongType, Some("version")),
            (
                "version too long",
                with("version", json!("1".repeat(65))),
                OutOfRange,
                Some("version"),
            ),
            (
                "version control char",
                with("version", json!("1.0\n")),
                OutOfRange,
                Some("version"),
            ),
            (
                "repo_count string",
                with("repo_count", json!("47")),
                WrongType,
                Some("repo_count"),
            ),
            (
                "repo_count negative",
                with("repo_count", json!(-1)),
                OutOfRange,
                Some("repo_count"),
            ),
            (
                "repo_count fraction",
                with("repo_count", json!(1.5)),
                WrongType,
                Some("repo_count"),
            ),
            (
                "repo_count 1.0",
                with("repo_count", json!(1.0)),
                WrongType,
                Some("repo_count"),
            ),
            (
                "repo_count huge",
                with("repo_count", json!(MAX_COUNT + 1)),
                OutOfRange,
                Some("repo_count"),
            ),
            (
                "repo_count null",
                with("repo_count", json!(null)),
                WrongType,
                Some("repo_count"),
            ),
            (
                "user_count bool",
                with("user_count", json!(true)),
                WrongType,
                Some("user_count"),
            ),
            (
                "seat_count negative",
                with("seat_count", json!(-3)),
                OutOfRange,
                Some("seat_count"),
            ),
            (
                "seat_count huge",
                with("seat_count", json!(MAX_SEATS + 1)),
                OutOfRange,
                Some("seat_count"),
            ),
            (
                "seat_count string",
                with("seat_count", json!("12")),
                WrongType,
                Some("seat_count"),
            ),
            (
                "tokens huge",
                with("tokens_saved_24h", json!(MAX_TOKENS + 1)),
                OutOfRange,
                Some("tokens_saved_24h"),
            ),
            (
                "tokens object",
                with("tokens_saved_24h", json!({"n": 1})),
                WrongType,
                Some("tokens_saved_24h"),
            ),
            (
                "uptime huge",
                with("uptime_hours", json!(MAX_UPTIME_HOURS + 1)),
                OutOfRange,
                Some("uptime_hours"),
            ),
            (
                "uptime u64 max",
                with("uptime_hours", json!(u64::MAX)),
                OutOfRange,
                Some("uptime_hours"),
            ),
        ];
        for (name, body, kind, field) in cases {
            let err = parse_ping(&body).expect_err(name);
            assert_eq!(err.kind, kind, "{name}: {err:?}");
            assert_eq!(err.field.as_deref(), field, "{name}: {err:?}");
            if let Some(f) = field {
                assert!(
                    err.message.contains(f),
                    "{name}: the message must name the field: {}",
                    err.message
                );
            }
        }
    }

    #[test]
    fn boundary_values_are_accepted_and_clamping_respects_them() {
        let body = serde_json::to_vec(&json!({
            "instance_id": "6f1c2a4e-8d1b-4f7a-9a57-2b1f0c3d4e5f",
            "license_id": null, "version": "0", "repo_count": MAX_COUNT, "user_count": 0,
            "seat_count": null, "tokens_saved_24h": MAX_TOKENS, "uptime_hours": MAX_UPTIME_HOURS
        }))
        .unwrap();
        let hb = parse_ping(&body).unwrap();
        assert_eq!(hb.tokens_saved_24h, MAX_TOKENS);
        let big = Heartbeat {
            repo_count: u64::MAX,
            user_count: u64::MAX,
            seat_count: Some(u64::MAX),
            tokens_saved_24h: u64::MAX,
            uptime_hours: u64::MAX,
            ..hb
        }
        .clamped();
        let round = parse_ping(serde_json::to_string(&big).unwrap().as_bytes()).unwrap();
        assert_eq!(round, big);
    }

    #[test]
    fn acks_must_echo_the_instance() {
        let hb = parse_ping(&serde_json::to_vec(&good()).unwrap()).unwrap();
        let ack = |status: &str, id: &str, receipt: &str| {
            serde_json::to_vec(&json!({"status": status, "instance_id": id, "receipt_id": receipt,
                "received_at": "2026-01-01T00:00:00Z"}))
            .unwrap()
        };
        let id = hb.instance_id.to_string();
        assert_eq!(verify_ack(&ack("accepted", &id, "r1"), &hb).unwrap().receipt_id, "r1");
        assert!(verify_ack(&ack("queued", &id, "r1"), &hb).is_err());
        assert!(
            verify_ack(&ack("accepted", &Uuid::new_v4().to_string(), "r1"), &hb)
                .unwrap_err()
                .contains("not this instance")
        );
        assert!(verify_ack(&ack("accepted", &id, ""), &hb).is_err());
        assert!(verify_ack(b"<html>captive portal</html>", &hb).is_err());
        assert!(verify_ack(b"{}", &hb).is_err());
    }

    #[test]
    fn opt_out_is_honoured_only_when_the_license_allows_it() {
        use LicenseTerm::*;
        use OptOut::*;
        for (opt_outs, term, send, contradiction) in [
            (vec![], Ungated, true, false),
            (vec![], Required, true, false),
            (vec![], Optional, true, false),
            (vec![], Unverified, true, false),
            (vec![EnabledFalse], Ungated, false, false),
            (vec![EnabledFalse], Optional, false, false),
            (vec![EnabledFalse], Required, true, true),
            (vec![EnabledFalse], Unverified, true, true),
            (vec![DoNotTrack], Optional, false, false),
            (vec![DoNotTrack], Required, true, true),
            (vec![LegacyDisabled], Optional, false, false),
            (vec![Admin], Required, true, true),
            (vec![Admin, DoNotTrack], Optional, false, false),
        ] {
            let d = decide(&opt_outs, term);
            assert_eq!(d.send, send, "{opt_outs:?} × {term:?}");
            assert_eq!(d.contradiction().is_some(), contradiction, "{opt_outs:?} × {term:?}");
            let reason = d.reason();
            for o in &opt_outs {
                assert!(reason.contains(o.describe()), "{reason}");
            }
        }
        assert_eq!(LicenseTerm::from_license(false, Some(true)), Ungated);
        assert_eq!(LicenseTerm::from_license(true, None), Unverified);
        assert_eq!(LicenseTerm::from_license(true, Some(true)), Required);
        assert_eq!(LicenseTerm::from_license(true, Some(false)), Optional);
    }

    #[test]
    fn slots_are_daily_at_a_per_instance_time() {
        let id = Uuid::parse_str("6f1c2a4e-8d1b-4f7a-9a57-2b1f0c3d4e5f").unwrap();
        let offset = heartbeat_offset(id);
        assert!(offset >= Duration::zero() && offset < HEARTBEAT_PERIOD);
        let day: DateTime<Utc> = "2026-05-10T00:00:00Z".parse().unwrap();
        let slot_time = day + offset;
        assert_eq!(heartbeat_slot(slot_time, id), slot_time);
        assert_eq!(heartbeat_slot(slot_time + Duration::hours(23), id), slot_time);
        assert_eq!(
            heartbeat_slot(slot_time - Duration::seconds(1), id),
            slot_time - HEARTBEAT_PERIOD
        );
        assert_eq!(
            heartbeat_slot(slot_time + HEARTBEAT_PERIOD, id),
            slot_time + HEARTBEAT_PERIOD
        );
        let other = Uuid::parse_str("0a1c2a4e-8d1b-4f7a-9a57-2b1f0c3d4e51").unwrap();
        assert_ne!(heartbeat_offset(other), offset);
    }

    #[test]
    fn uptime_survives_rolling_restarts_and_resets_after_a_gap() {
        let t: DateTime<Utc> = "2026-05-10T00:00:00Z".parse().unwrap();
        assert_eq!(next_up_since(None, None, t), t);
        let since = t - Duration::hours(50);
        assert_eq!(next_up_since(Some(since), Some(t - Duration::hours(1)), t), since);
        assert_eq!(next_up_since(Some(since), Some(t - Duration::hours(4)), t), t);
        assert_eq!(next_up_since(Some(since), None, t), t);
        assert_eq!(uptime_hours(Some(since), t + Duration::minutes(59)), 50);
        assert_eq!(uptime_hours(None, t), 0);
        assert_eq!(uptime_hours(Some(t + Duration::hours(1)), t), 0);
    }

    #[test]
    fn receipts_are_overdue_after_seven_days() {
        let t: DateTime<Utc> = "2026-05-10T00:00:00Z".parse().unwrap();
        assert_eq!(
            receipt_overdue(Some(t - Duration::days(6)), t - Duration::days(30), t),
            None
        );
        assert_eq!(
            receipt_overdue(Some(t - Duration::days(7)), t - Duration::days(30), t),
            Some(Duration::days(7))
        );
        assert_eq!(receipt_overdue(None, t - Duration::days(2), t), None);
        assert_eq!(receipt_overdue(None, t - Duration::days(8), t), Some(Duration::days(8)));
    }

    #[test]
    fn retry_delays_grow_and_cap() {
        let base = std::time::Duration::from_secs(5);
        assert_eq!(heartbeat_retry_delay(1, base), base);
        assert_eq!(heartbeat_retry_delay(2, base), base * 4);
        assert_eq!(heartbeat_retry_delay(3, base), base * 16);
        assert_eq!(heartbeat_retry_delay(30, base), std::time::Duration::from_secs(600));
    }
}
