//! Latency and timing summaries.

use std::time::Duration;

/// Percentiles of a set of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// The sample at rank `ceil(q * n)` (1-based) of an ascending slice.
fn nearest_rank(sorted_ms: &[f64], q: f64) -> f64 {
    let n = sorted_ms.len();
    let rank = (q * n as f64).ceil() as usize;
    sorted_ms[rank.clamp(1, n) - 1]
}

impl Latency {
    /// Summarises `samples` (all zero when there are none).
    pub fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        if ms.is_empty() {
            return Self::default();
        }
        ms.sort_by(f64::total_cmp);
        Self {
            n: ms.len(),
            p50: nearest_rank(&ms, 0.50),
            p95: nearest_rank(&ms, 0.95),
            p99: nearest_rank(&ms, 0.99),
            max: ms[ms.len() - 1],
        }
    }
}

/// Median, smallest and largest of repeated measurements (seconds, bytes, …).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    /// Median (the lower middle value for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// Summarises `values` (all zero when there are none).
    pub fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        Self {
            median: v[(v.len() - 1) / 2],
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `median (min–max)` with `decimals` decimals; just the value when
    /// every run gave the same.
    pub fn show(&self, decimals: usize) -> String {
        let f = |x: f64| format!("{x:.decimals$}");
        if f(self.min) == f(self.max) {
            f(self.median)
        } else {
            format!("{} ({}–{})", f(self.median), f(self.min), f(self.max))
        }
    }
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// A percentage with one decimal.
pub fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "n/a".into();
    }
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).rev().map(Duration::from_millis).collect();
        let l = Latency::of(&samples);
        assert_eq!(l.n, 200);
        assert_eq!((l.p50, l.p95, l.p99, l.max), (100.0, 190.0, 198.0, 200.0));
        let one = Latency::of(&[Duration::from_micros(1500)]);
        assert_eq!((one.p50, one.p99), (1.5, 1.5));
        assert_eq!(Latency::of(&[]), Latency::default());
    }

    #[test]
    fn spreads_and_ratios() {
        let s = Spread::of(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 10.0));
        assert_eq!(s.show(1), "2.0 (1.0–10.0)");
        assert_eq!(Spread::of(&[0.5, 0.5]).show(2), "0.50");
        assert_eq!(ratio(1.0, 0.0), 0.0);
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "n/a");
    }
}
