//! A sliding window of recent latencies with percentiles, for `/v1/stats`.

use std::collections::VecDeque;

/// The last [`LatencyWindow::CAPACITY`] latencies in microseconds.
#[derive(Debug, Default)]
pub struct LatencyWindow(VecDeque<u64>);

impl LatencyWindow {
    /// How many recent samples are kept.
    pub const CAPACITY: usize = 1024;

    /// Records one latency, dropping the oldest beyond the capacity.
    pub fn push(&mut self, us: u64) {
        if self.0.len() == Self::CAPACITY {
            self.0.pop_front();
        }
        self.0.push_back(us);
    }

    /// (p50, p99) in microseconds; zeros when empty.
    pub fn p50_p99(&self) -> (u64, u64) {
        let mut v: Vec<u64> = self.0.iter().copied().collect();
        v.sort_unstable();
        let pct = |p: f64| {
            v.get(((v.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        (pct(0.5), pct(0.99))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_over_a_bounded_window() {
        let mut w = LatencyWindow::default();
        assert_eq!(w.p50_p99(), (0, 0));
        for us in 1..=100 {
            w.push(us);
        }
        assert_eq!(w.p50_p99(), (51, 99));
        for _ in 0..LatencyWindow::CAPACITY {
            w.push(7);
        }
        assert_eq!(w.p50_p99(), (7, 7), "old samples fall out of the window");
    }
}
