//! Retrying calls to outside services: exponential backoff with full jitter, within a time
//! budget (AWS's "Exponential Backoff And Jitter").

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How long and how often a call is tried again.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The first wait; each retry doubles it.
    pub base: Duration,
    /// No single wait is longer.
    pub max_wait: Duration,
    /// Everything (calls, waits and retries) ends within this, counted from the first attempt:
    /// each call waits for its answer only as long as the budget has left.
    pub budget: Duration,
    /// And after this many attempts in all.
    pub max_attempts: u32,
}

/// How patient a retry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Normal,
    /// Rate limits: waits start four times longer.
    Longer,
}

impl Default for RetryPolicy {
    /// Fits a record's share of the processor's time with room for the rest of its work.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(4),
            budget: Duration::from_secs(10),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1, 2, …): a random duration between a quarter
    /// of the exponential cap and the cap ("full jitter", never at once), so that many callers
    /// do not retry in step.
    pub fn wait(&self, attempt: u32, patience: Wait) -> Duration {
        let base = match patience {
            Wait::Normal => self.base,
            Wait::Longer => self.base * 4,
        };
        let cap = base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_wait);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
        let floor = cap_ms / 4;
        Duration::from_millis(floor + random() % (cap_ms - floor).max(1))
    }

    /// Whether another attempt may follow `attempts` made so far, after `wait`, `elapsed`
    /// after the first attempt: only with a tenth of the budget left for it once the wait is
    /// over (a call cut shorter would rather end in doubt than in an answer).
    pub fn allows(&self, attempts: u32, elapsed: Duration, wait: Duration) -> bool {
        attempts < self.max_attempts && elapsed + wait + self.budget / 10 <= self.budget
    }

    /// How long a call starting `elapsed` after the first attempt may wait for its answer:
    /// its own `timeout`, cut to what is left of the budget.
    pub fn time_for_call(&self, elapsed: Duration, timeout: Duration) -> Duration {
        timeout.min(self.budget.saturating_sub(elapsed))
    }
}

/// A random number from the standard library's randomly keyed hasher (jitter needs no more).
fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_exponentially_within_their_caps() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max_wait: Duration::from_millis(1000),
            budget: Duration::from_secs(5),
            max_attempts: 4,
        };
        // (attempt, patience, cap in ms)
        for (attempt, patience, cap) in [
            (1, Wait::Normal, 100),
            (2, Wait::Normal, 200),
            (3, Wait::Normal, 400),
            (5, Wait::Normal, 1000),
            (1, Wait::Longer, 400),
            (3, Wait::Longer, 1000),
        ] {
            for _ in 0..50 {
                let wait = policy.wait(attempt, patience).as_millis();
                assert!(
                    (cap / 4..=cap).contains(&wait),
                    "attempt {attempt} {patience:?}: {wait} ms outside {}..={cap}",
                    cap / 4
                );
            }
        }
        // A tenth of the budget (500 ms) must be left for the call after the wait.
        assert!(policy.allows(1, Duration::from_secs(4), Duration::from_millis(500)));
        assert!(!policy.allows(1, Duration::from_secs(4), Duration::from_millis(501)));
        assert!(!policy.allows(4, Duration::ZERO, Duration::ZERO));
        // Each call's own timeout counts in the budget.
        assert_eq!(
            policy.time_for_call(Duration::ZERO, Duration::from_secs(10)),
            Duration::from_secs(5)
        );
        assert_eq!(
            policy.time_for_call(Duration::from_secs(4), Duration::from_secs(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.time_for_call(Duration::from_secs(1), Duration::from_millis(300)),
            Duration::from_millis(300)
        );
        assert_eq!(
            policy.time_for_call(Duration::from_secs(6), Duration::from_secs(1)),
            Duration::ZERO
        );
    }
}
