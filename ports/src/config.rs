//! Typed adapter configuration from a name → value lookup.
//!
//! Every adapter owns its configuration: a typed `XConfig` with a
//! `from_settings(&mut Settings)` constructor that reads the variables it
//! needs and records every problem with the variable's name and the fix. The
//! app (`apps/bootstrap`) hands each adapter the same lookup (the process
//! environment, or a map in tests) and collects the errors of all adapters at
//! once, so an operator sees every mistake in one start-up.
//!
//! Secret values are **not** read here: a secret-bearing setting is read
//! through the [`SecretStore`](crate::secrets::SecretStore) by its env-var
//! name (see [`SecretHandle`](crate::secrets::SecretHandle)).
//!
//! ```
//! use lettuce_ports::config::{Settings, ConfigErrors};
//! use std::collections::HashMap;
//!
//! #[derive(Debug)]
//! struct DemoConfig { host: String, port: u16, verbose: bool }
//!
//! fn demo(s: &mut Settings<'_>) -> Option<DemoConfig> {
//!     let host = s.required("DEMO_HOST", "set DEMO_HOST to the server's host name");
//!     let port = s.num("DEMO_PORT", 443u16, 1, 65535);
//!     let verbose = s.bool("DEMO_VERBOSE", false);
//!     Some(DemoConfig { host: host?, port, verbose })
//! }
//!
//! let env: HashMap<String, String> = [("DEMO_PORT".into(), "99999".into())].into();
//! let mut s = Settings::new(&env);
//! let c = demo(&mut s);
//! let errors: ConfigErrors = s.finish(c).unwrap_err();
//! assert_eq!(errors.vars(), ["DEMO_HOST", "DEMO_PORT"]);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

/// A name → value lookup of configuration (the process environment, or a map
/// standing in for it). Implementations return the raw value; [`Settings`]
/// trims it and treats an empty value as unset.
pub trait SettingSource: Send + Sync {
    /// The raw value of `name`, if set.
    fn lookup(&self, name: &str) -> Option<String>;
}

impl SettingSource for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl SettingSource for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String> + Send + Sync> SettingSource for F {
    fn lookup(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// One configuration problem: the variable, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable.
    pub var: &'static str,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl ConfigError {
    /// Builds an error.
    pub fn new(var: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} — fix: {}", self.var, self.problem, self.fix)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found (configuration is checked as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The variables named, in order (for tests and summaries).
    pub fn vars(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.var).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem{}):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The error for a configuration that needs an adapter this build lacks:
/// "`VAR=value`: feature `X` is not enabled in this build".
pub fn missing_feature(feature: &str, var: &'static str, value: &str) -> ConfigError {
    ConfigError::new(
        var,
        format!("{var}={value}: feature `{feature}` is not enabled in this build"),
        format!(
            "rebuild with `cargo build --release --features {feature}` (or the `self-hosted`/`saas` group), or change {var}"
        ),
    )
}

/// Reads typed settings from a [`SettingSource`], collecting every problem.
///
/// Each reader returns a usable value (the default when the variable is
/// unset or wrong) so parsing continues and every mistake is reported at
/// once; [`Settings::finish`] turns the collected problems into the result.
pub struct Settings<'a> {
    source: &'a dyn SettingSource,
    errors: Vec<ConfigError>,
}

impl fmt::Debug for Settings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("errors", &self.errors.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Settings<'a> {
    /// A reader over `source` with no problems recorded yet.
    pub fn new(source: &'a dyn SettingSource) -> Self {
        Self {
            source,
            errors: Vec::new(),
        }
    }

    /// The trimmed value of `var`; `None` when unset or empty.
    pub fn get(&self, var: &str) -> Option<String> {
        self.source
            .lookup(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Whether `var` has a non-empty value.
    pub fn is_set(&self, var: &str) -> bool {
        self.get(var).is_some()
    }

    /// Records a problem with `var`.
    pub fn error(&mut self, var: &'static str, problem: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ConfigError::new(var, problem, fix));
    }

    /// Records a prepared [`ConfigError`].
    pub fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }

    /// The value of `var`, or a problem "`var` is required" with `fix`.
    pub fn required(&mut self, var: &'static str, fix: impl Into<String>) -> Option<String> {
        let v = self.get(var);
        if v.is_none() {
            self.error(var, "is required but not set", fix);
        }
        v
    }

    /// A boolean (`true/false`, `1/0`, `yes/no`, `on/off`, any case), or
    /// `default` when unset.
    pub fn bool(&mut self, var: &'static str, default: bool) -> bool {
        self.opt_bool(var).unwrap_or(default)
    }

    /// A boolean, or `None` when unset.
    pub fn opt_bool(&mut self, var: &'static str) -> Option<bool> {
        let raw = self.get(var)?;
        match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            other => {
                let problem = format!("`{other}` is not a boolean");
                self.error(var, problem, "use true/false, 1/0, yes/no or on/off");
                None
            }
        }
    }

    /// A number in `min..=max`, or `default` when unset (or wrong, with a
    /// problem recorded).
    pub fn num<T>(&mut self, var: &'static str, default: T, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        match self.get(var) {
            None => default,
            Some(raw) => match raw.parse::<T>() {
                Ok(v) if v >= min && v <= max => v,
                _ => {
                    self.error(
                        var,
                        format!("`{raw}` is not a number from {min} to {max}"),
                        format!("set a whole number between {min} and {max} (default {default})"),
                    );
                    default
                }
            },
        }
    }

    /// One of `choices` (compared case-insensitively, returned lower-case),
    /// or `default` when unset.
    pub fn one_of(&mut self, var: &'static str, default: &str, choices: &[&str]) -> String {
        match self.get(var) {
            None => default.to_owned(),
            Some(raw) => {
                let v = raw.to_ascii_lowercase();
                if choices.contains(&v.as_str()) {
                    v
                } else {
                    self.error(
                        var,
                        format!("unknown value `{raw}`"),
                        format!("use one of: {} (default {default})", choices.join(", ")),
                    );
                    default.to_owned()
                }
            }
        }
    }

    /// An `http(s)` URL with a host, without a trailing `/`; `None` when
    /// unset (or wrong, with a problem recorded).
    pub fn http_url(&mut self, var: &'static str, example: &str) -> Option<url::Url> {
        let raw = self.get(var)?;
        match url::Url::parse(&raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => Some(u),
            _ => {
                self.error(
                    var,
                    format!("`{}` is not an http(s) URL with a host", redact_userinfo(&raw)),
                    format!("set it to a URL such as {example}"),
                );
                None
            }
        }
    }

    /// A comma-separated list (items trimmed, empty items dropped).
    pub fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether any problem has been recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The problems recorded so far (for apps that merge several readers).
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }

    /// `value` when no problem was recorded, else every problem.
    ///
    /// A constructor that returns `Option<T>` (`None` when a required part
    /// was missing) fits directly: `None` without a recorded problem is a
    /// bug in that constructor and is reported as one.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        match (value, self.errors.is_empty()) {
            (Some(v), true) => Ok(v),
            (_, false) => Err(ConfigErrors(self.errors)),
            (None, true) => Err(ConfigErrors(vec![ConfigError::new(
                "(configuration)",
                "an adapter configuration could not be built but recorded no problem",
                "report this as a bug",
            )])),
        }
    }
}

/// `raw` with any `user:password@` removed (for messages).
fn redact_userinfo(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn readers_collect_every_problem() {
        let e = env(&[
            ("B", "perhaps"),
            ("N", "70000"),
            ("U", "ftp://user:pw@x"),
            ("C", "Vault"),
            ("L", " a, ,b ,"),
            ("EMPTY", "   "),
        ]);
        let mut s = Settings::new(&e);
        assert!(!s.bool("B", true) || s.has_errors());
        assert_eq!(s.num("N", 8u16, 1, 65535), 8);
        assert!(s.http_url("U", "https://x.example.com").is_none());
        assert_eq!(s.one_of("C", "env", &["env", "vault"]), "vault");
        assert_eq!(s.list("L"), ["a", "b"]);
        assert!(s.required("EMPTY", "set it").is_none());
        let errs = s.finish(Some(())).unwrap_err();
        assert_eq!(errs.vars(), ["B", "N", "U", "EMPTY"]);
        let text = errs.to_string();
        assert!(!text.contains("pw"), "{text}");
        assert!(text.contains("fix:"), "{text}");
    }

    #[test]
    fn closures_are_sources() {
        let src = |name: &str| (name == "X").then(|| "1".to_owned());
        let mut s = Settings::new(&src);
        assert!(s.bool("X", false));
        assert!(s.finish(Some(1)).is_ok());
    }

    #[test]
    fn missing_feature_names_feature_and_var() {
        let e = missing_feature("secrets-vault", "LETTUCE_SECRET_STORE", "vault");
        assert!(
            e.to_string()
                .contains("feature `secrets-vault` is not enabled in this build")
        );
        assert_eq!(e.var, "LETTUCE_SECRET_STORE");
    }
}
