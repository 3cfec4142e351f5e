//! Too many triggers in a short window (a build tool writing into a watched folder, a
//! checkout switching branches): watch pauses instead of rerunning again and again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub struct Storm {
    limit: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl Storm {
    /// More than `limit` triggers within `window` is a storm.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            recent: VecDeque::new(),
        }
    }

    /// Records a trigger at `now`; true when it makes a storm.
    pub fn trigger(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() > self.limit
    }

    /// Forgets the triggers (after a pause).
    pub fn reset(&mut self) {
        self.recent.clear();
    }

    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_limit_within_the_window_is_a_storm() {
        let mut storm = Storm::new(2, Duration::from_secs(10));
        let start = Instant::now();
        assert!(!storm.trigger(start));
        assert!(!storm.trigger(start + Duration::from_secs(1)));
        assert!(storm.trigger(start + Duration::from_secs(2)));
        storm.reset();
        assert!(!storm.trigger(start + Duration::from_secs(3)));
        // Triggers older than the window do not count.
        assert!(!storm.trigger(start + Duration::from_secs(20)));
        assert!(!storm.trigger(start + Duration::from_secs(21)));
    }
}
