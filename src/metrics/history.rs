//! The last few minutes of per-second samples, so a dashboard opened now draws a full chart.
//!
//! One [`Sample`] is pushed per reactor tick (one second) into a ring of [`HISTORY_LEN`]
//! entries: a fixed, small amount of memory whatever the load.

use std::collections::VecDeque;

use super::latency::IntervalLatency;

/// Samples kept: five minutes at one per second.
pub const HISTORY_LEN: usize = 300;

/// What happened during one tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Wall-clock end of the interval, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Delivery latency over the interval.
    pub delivery: IntervalLatency,
    /// Messages published during the interval.
    pub messages_in: u64,
    /// Messages queued to subscribers during the interval.
    pub messages_out: u64,
}

/// A bounded ring of samples, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    samples: VecDeque<Sample>,
}

impl History {
    pub(crate) fn push(&mut self, sample: Sample) {
        if self.samples.len() == HISTORY_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    pub(crate) fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_samples() {
        let mut h = History::default();
        for i in 0..(HISTORY_LEN as u64 + 5) {
            h.push(Sample { unix_ms: i, ..Sample::default() });
        }
        assert_eq!(h.iter().count(), HISTORY_LEN);
        assert_eq!(h.iter().next().unwrap().unix_ms, 5);
        assert_eq!(h.last().unwrap().unix_ms, HISTORY_LEN as u64 + 4);
    }
}
