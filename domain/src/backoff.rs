//! Retry backoff for background jobs.

use std::time::Duration;

/// Upper bound of any single retry delay.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// Delay before retry number `attempt` (1-based: the attempt that just failed):
/// `min(1h, 15s + 2^attempt s)`, scaled by a jitter factor in `[0.75, 1.25]`
/// derived from `jitter` (any value in `[0, 1)`; pass a random number).
pub fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    let base = 15.0 + 2f64.powi(attempt.min(20) as i32);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    let secs = (base * factor).min(MAX_RETRY_DELAY.as_secs_f64());
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        assert_eq!(retry_delay(1, 0.5), Duration::from_secs(17));
        assert!(retry_delay(5, 0.5) > retry_delay(4, 0.5));
        assert_eq!(retry_delay(30, 1.0), MAX_RETRY_DELAY);
        let lo = retry_delay(3, 0.0).as_secs_f64();
        let hi = retry_delay(3, 0.999).as_secs_f64();
        assert!(lo >= 23.0 * 0.75 - 0.01 && hi <= 23.0 * 1.25 + 0.01);
    }
}
