//! Small statistics helpers for latency samples.

use std::time::Duration;

/// Latency summary of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

/// The `p`-th percentile (0 < p ≤ 100) of `sorted` by the nearest-rank
/// method; `None` when there are no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    // Nearest rank: ceil(p/100 * n), 1-based, at least 1.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[idx])
}

/// Sorts `samples` and summarizes them (all zero when empty).
pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    Summary {
        count: samples.len(),
        p50: percentile(samples, 50.0).unwrap_or_default(),
        p99: percentile(samples, 99.0).unwrap_or_default(),
        max: samples.last().copied().unwrap_or_default(),
    }
}

/// Milliseconds with two decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Jobs per second for `n` jobs in `elapsed`.
pub fn rate(n: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 { 0.0 } else { n as f64 / secs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_vec(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = ms_vec(&(1..=100).rev().collect::<Vec<_>>());
        let sum = summarize(&mut s);
        assert_eq!(sum.count, 100);
        assert_eq!(sum.p50, Duration::from_millis(50));
        assert_eq!(sum.p99, Duration::from_millis(99));
        assert_eq!(sum.max, Duration::from_millis(100));

        let one = ms_vec(&[7]);
        assert_eq!(percentile(&one, 50.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&one, 99.0), Some(Duration::from_millis(7)));

        let mut few = ms_vec(&[30, 10, 20]);
        let sum = summarize(&mut few);
        assert_eq!(sum.p50, Duration::from_millis(20));
        assert_eq!(sum.p99, Duration::from_millis(30));
    }

    #[test]
    fn empty_and_rates() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(summarize(&mut []), Summary::default());
        assert_eq!(rate(10, Duration::ZERO), 0.0);
        assert!((rate(1000, Duration::from_millis(500)) - 2000.0).abs() < 1e-9);
        assert_eq!(ms(Duration::from_micros(1500)), "1.50");
    }
}
