//! A clock that moves only when told to.

use crate::clock::Clock;
use crate::testing::lock;
use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// A [`Clock`] whose time is set by the test. Share it as
/// `Arc<ManualClock>` between the test and the code under test.
///
/// ```
/// use chrono::{DateTime, Duration};
/// use lettuce_ports::clock::Clock;
/// use lettuce_ports::testing::clock::ManualClock;
///
/// let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let clock = ManualClock::new(start);
/// clock.advance(Duration::minutes(5));
/// assert_eq!(clock.now(), start + Duration::minutes(5));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Mutex::new(start) }
    }

    /// Sets the time to `t` (may go backwards).
    pub fn set(&self, t: DateTime<Utc>) {
        *lock(&self.now) = t;
    }

    /// Moves the time by `by` (negative durations go backwards).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = lock(&self.now);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn set_and_advance() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let c = ManualClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(Duration::seconds(90));
        assert_eq!(c.now(), start + Duration::seconds(90));
        c.advance(Duration::seconds(-30));
        assert_eq!(c.now(), start + Duration::seconds(60));
        c.set(start);
        assert_eq!(c.now(), start);
    }
}
