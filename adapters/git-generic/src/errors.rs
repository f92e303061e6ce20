//! Turning gix errors into user-facing [`GitError`]s.
//!
//! gix errors carry a chain of messages and some classifications
//! (`is_unauthenticated`, `is_permission_denied`, …). Remote failures are
//! recognised from both, phrased for the user, and scrubbed of the password
//! that was handed to the credentials callback (defence in depth: the password
//! never enters a URL, so it should never show up in a message anyway).

use lettuce_ports::box_msg;
use lettuce_ports::git::GitError;

/// Backend name used in [`GitError::Backend`].
pub(crate) const BACKEND: &str = "git";

/// Replaces every occurrence of `secret` in `text` with `***`.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        // Very short secrets would mangle ordinary words; they can't be
        // told apart from the text around them anyway.
        Some(s) if s.len() >= 4 => text.replace(s, "***"),
        _ => text.to_owned(),
    }
}

/// The messages of an error chain, joined with `: ` and de-duplicated.
pub(crate) fn chain_text(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.iter_errors() {
        let msg = e.to_string();
        let msg = msg.trim();
        if msg.is_empty() || parts.iter().any(|p| p.contains(msg)) {
            continue;
        }
        parts.push(msg.to_owned());
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    parts.join(": ")
}

/// A local (non-network) failure: always [`GitError::Backend`].
pub(crate) fn local(err: &gix::Error, what: &str) -> GitError {
    GitError::Backend {
        backend: BACKEND,
        source: box_msg(format!("{what}: {}", chain_text(err))),
        retryable: false,
    }
}

/// A plain message as a non-retryable [`GitError::Backend`].
pub(crate) fn backend_msg(msg: impl Into<String>) -> GitError {
    GitError::Backend {
        backend: BACKEND,
        source: box_msg(msg),
        retryable: false,
    }
}

const NOT_FOUND: &[&str] = &[
    "not exported",
    "repository not found",
    "does not appear to be a git repository",
    "no such repository",
    "http status 404",
    "http status 410",
    "not a git repository",
    "is a valid git directory",
];

const AUTH: &[&str] = &[
    "http status 401",
    "http status 403",
    "authentication",
    "credentials provided",
    "no credentials were returned",
];

const NETWORK: &[&str] = &[
    "connection refused",
    "could not connect",
    "could not resolve",
    "failed to lookup address",
    "name or service not known",
    "dns error",
    "timed out",
    "timeout",
    "network is unreachable",
    "host is unreachable",
    "no route to host",
    "connection reset",
    "broken pipe",
    "unexpected eof",
    "error sending request",
    "http status 5",
    "tls",
    "certificate",
];

/// Classifies a failure of a remote operation (connect, ref listing, pack
/// download) for `url` (already redacted).
pub(crate) fn remote(err: &gix::Error, url: &str, secret: Option<&str>) -> GitError {
    let text = scrub(&chain_text(err), secret);
    let lower = text.to_lowercase();
    let url = url.to_owned();

    // Our DNS resolver (HTTP transport) refused an address.
    if let Some(reason) = err.iter_errors().find_map(|e| {
        e.downcast_ref::<lettuce_domain::repo::PolicyViolation>()
            .map(ToString::to_string)
    }) {
        return GitError::Forbidden { reason };
    }
    if let Some(pos) = text.find("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS") {
        // The violation text survived only as a string (wrapped by reqwest).
        let start = text[..pos].rfind(": ").map_or(0, |i| i + 2);
        let end = text[pos..].find(": ").map_or(text.len(), |i| pos + i);
        return GitError::Forbidden {
            reason: text[start..end].to_owned(),
        };
    }
    if err.is_cancelled() || lower.contains("interrupted") {
        return GitError::Network {
            url,
            message: "the transfer was interrupted".into(),
        };
    }
    if err.is_unauthenticated() || AUTH.iter().any(|p| lower.contains(p)) {
        return GitError::AuthRequired { url };
    }
    if NOT_FOUND.iter().any(|p| lower.contains(p)) {
        return GitError::NotFound { url };
    }
    if lower.contains("'smart' protocol") {
        return backend_msg(format!(
            "{url} did not answer as a git smart-HTTP server (dumb HTTP is not supported, and redirects to other \
             hosts are not followed): check the URL and use the repository's final clone URL"
        ));
    }
    if has_network_io_error(err) || NETWORK.iter().any(|p| lower.contains(p)) {
        return GitError::Network {
            url,
            message: scrub(&err.probable_cause().to_string(), secret),
        };
    }
    if err.is_permission_denied() {
        return GitError::AuthRequired { url };
    }
    GitError::Backend {
        backend: BACKEND,
        source: box_msg(format!("{url}: {text}")),
        retryable: err.is_retryable(),
    }
}

fn has_network_io_error(err: &gix::Error) -> bool {
    use std::io::ErrorKind as K;
    err.iter_errors().any(|e| {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::TimedOut
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
                    | K::UnexpectedEof
                    | K::BrokenPipe
            );
        }
        if let Some(r) = e.downcast_ref::<reqwest::Error>() {
            return r.is_connect() || r.is_timeout() || r.status().is_some_and(|s| s.is_server_error());
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_secret() {
        assert_eq!(scrub("user:hunter2@host", Some("hunter2")), "user:***@host");
        assert_eq!(scrub("a b c", Some("a")), "a b c");
        assert_eq!(scrub("x", None), "x");
    }
}
