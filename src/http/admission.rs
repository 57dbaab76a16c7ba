//! Admission control at the ingress: when the node is full, a request is refused at once
//! with 503 + Retry-After instead of queueing behind work the node cannot finish in time.
//!
//! Three bounds, all checked without waiting:
//! - requests in flight (`limits.max_in_flight`), for every `/v1/` data endpoint: bounds
//!   memory and the tasks the runtime holds, whatever the requests are;
//! - statements in flight (`limits.max_statements_in_flight`), for learns: a batch of 500
//!   costs 500 units, a single learn 1, so a few large batches fill the node as much as
//!   many small learns do. A batch larger than the whole budget takes all of it (it runs
//!   alone) rather than being refused forever;
//! - the queue delay a learn would see (`limits.queue_target_ms`): the node measures the
//!   rate at which it finishes statements while busy, and admits a learn only if the
//!   statements already in flight would be finished within the target at that rate, or
//!   are no more than the learn's own statements (so a large batch still overlaps with
//!   one other). A static count cannot do this: 2,000 statements are 50 ms of is-a
//!   sentences but 7 s of sentences with embeddings, and a client admitted behind 7 s of
//!   work is better told at once to retry. Until a rate is measured only the static
//!   bounds apply; one learn is always admitted when none runs.
//!
//! Liveness, readiness, metrics, statistics, the cluster view, the API description and
//! the admin endpoints are never refused: an operator must be able to see and act on a
//! full node.

use crate::protocol::SutraError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The measured rate decays by half each time this much busy time has been counted, so
/// it follows the workload (a switch from is-a batches to embedding batches) within a few
/// seconds.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// A rate is trusted once this many statements were finished in the window.
const MIN_SAMPLE: f64 = 50.0;

/// The ingress bounds of one node.
#[derive(Debug)]
pub struct Admission {
    requests: Arc<Semaphore>,
    max_requests: usize,
    statements: Arc<Semaphore>,
    max_statements: usize,
    pace: Arc<Mutex<Pace>>,
}

/// What the queue-delay bound measures: statements in flight and the rate at which the
/// node finishes them while it has any.
#[derive(Debug)]
struct Pace {
    target: Duration,
    in_flight: usize,
    /// Since when statements have been in flight without a break (`None`: idle).
    busy_since: Option<Instant>,
    /// Busy time counted in the window.
    busy: Duration,
    /// Statements finished in the window.
    done: f64,
    /// Learns refused by this bound (also counted in the metrics).
    refused: u64,
}

impl Pace {
    fn new(target: Duration) -> Self {
        Pace {
            target,
            in_flight: 0,
            busy_since: None,
            busy: Duration::ZERO,
            done: 0.0,
            refused: 0,
        }
    }

    /// Statements finished per second of busy time, once enough were measured.
    fn rate(&self, now: Instant) -> Option<f64> {
        let busy = self.busy + self.busy_since.map_or(Duration::ZERO, |s| now - s);
        (self.done >= MIN_SAMPLE && !busy.is_zero()).then(|| self.done / busy.as_secs_f64())
    }

    /// Admits `n` statements, or says how long the statements ahead would take.
    fn admit(&mut self, n: usize, now: Instant) -> Result<(), (usize, f64)> {
        if self.in_flight > 0 && !self.target.is_zero() {
            if let Some(rate) = self.rate(now) {
                let ahead = self.in_flight as f64;
                let allowed = (rate * self.target.as_secs_f64() - n as f64).max(n as f64);
                if ahead > allowed {
                    self.refused += 1;
                    return Err((self.in_flight, ahead / rate * 1000.0));
                }
            }
        }
        self.in_flight += n;
        self.busy_since.get_or_insert(now);
        Ok(())
    }

    /// `n` statements admitted earlier finished (or were given up).
    fn finish(&mut self, n: usize, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(n);
        self.done += n as f64;
        if let Some(since) = self.busy_since.take() {
            self.busy += now - since;
            if self.in_flight > 0 {
                self.busy_since = Some(now);
            }
        }
        while self.busy > RATE_WINDOW {
            self.busy /= 2;
            self.done /= 2.0;
        }
    }
}

/// Held while an admitted request runs; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    _place: OwnedSemaphorePermit,
    /// For learns: the statements to report finished.
    paced: Option<(Arc<Mutex<Pace>>, usize)>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((pace, n)) = self.paced.take() {
            lock(&pace).finish(n, Instant::now());
        }
    }
}

fn lock(pace: &Mutex<Pace>) -> std::sync::MutexGuard<'_, Pace> {
    pace.lock().unwrap_or_else(|e| e.into_inner())
}

impl Admission {
    /// Bounds of `max_requests` requests and `max_statements` statements in flight, and
    /// a queue-delay target for learns (zero: none).
    pub fn new(max_requests: usize, max_statements: usize, queue_target: Duration) -> Self {
        let max_requests = max_requests.max(1);
        let max_statements = max_statements.max(1);
        Admission {
            requests: Arc::new(Semaphore::new(max_requests)),
            max_requests,
            statements: Arc::new(Semaphore::new(max_statements)),
            max_statements,
            pace: Arc::new(Mutex::new(Pace::new(queue_target))),
        }
    }

    /// Whether the request on `path` is subject to admission.
    pub fn applies_to(path: &str) -> bool {
        path.starts_with("/v1/")
            && !path.starts_with("/v1/admin/")
            && !matches!(path, "/v1/stats" | "/v1/cluster")
            && !path.starts_with("/v1/cluster/")
    }

    /// A place for one request, or a 503 saying the node is full.
    pub fn request(&self) -> Result<Permit, SutraError> {
        self.requests
            .clone()
            .try_acquire_owned()
            .map(|place| Permit {
                _place: place,
                paced: None,
            })
            .map_err(|_| {
                crate::metrics::refused("requests");
                SutraError::unavailable(format!(
                    "the node is full: {} requests are in flight (limits.max_in_flight); retry after the Retry-After delay, spread the load over more nodes, or raise the limit",
                    self.max_requests
                ))
            })
    }

    /// Places for `n` statements to learn, or a 503 saying the node is full.
    pub fn statements(&self, n: usize) -> Result<Permit, SutraError> {
        let units = n.clamp(1, self.max_statements);
        // One lock over both checks, so concurrent learns see each other's statements.
        let mut pace = lock(&self.pace);
        let place = self
            .statements
            .clone()
            .try_acquire_many_owned(units as u32)
            .map_err(|_| {
                crate::metrics::refused("statements");
                SutraError::unavailable(format!(
                    "the node is full: {} of at most {} statements are being learned (limits.max_statements_in_flight); retry after the Retry-After delay, or send smaller batches",
                    self.max_statements - self.statements.available_permits(),
                    self.max_statements
                ))
            })?;
        if let Err((ahead, ms)) = pace.admit(units, Instant::now()) {
            crate::metrics::refused("queue_delay");
            return Err(SutraError::unavailable(format!(
                "the node is full: the {ahead} statements being learned would take about {ms:.0} ms at its measured rate, more than limits.queue_target_ms ({} ms); retry after the Retry-After delay, spread the load over more nodes, or raise the target",
                pace.target.as_millis()
            )));
        }
        Ok(Permit {
            _place: place,
            paced: Some((self.pace.clone(), units)),
        })
    }

    /// Requests in flight now.
    pub fn requests_in_flight(&self) -> usize {
        self.max_requests - self.requests.available_permits()
    }

    /// Statements being learned now.
    pub fn statements_in_flight(&self) -> usize {
        self.max_statements - self.statements.available_permits()
    }

    /// The bounds and what fills them now (the `ingress` section of `GET /v1/stats`).
    pub fn stats(&self) -> serde_json::Value {
        let pace = lock(&self.pace);
        serde_json::json!({
            "requests_in_flight": self.requests_in_flight(),
            "max_in_flight": self.max_requests,
            "statements_in_flight": self.statements_in_flight(),
            "max_statements_in_flight": self.max_statements,
            "queue_target_ms": pace.target.as_millis() as u64,
            "statements_per_s": pace.rate(Instant::now()).map(|r| r.round()),
            "refused_for_queue_delay": pace.refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_node_refuses_at_once_and_frees_places_when_work_ends() {
        let a = Admission::new(2, 1000, Duration::ZERO);
        let p1 = a.request().unwrap();
        let _p2 = a.request().unwrap();
        let refused = a.request().unwrap_err();
        assert!(matches!(refused, SutraError::Unavailable { .. }));
        assert!(refused.to_string().contains("limits.max_in_flight"));
        assert_eq!(a.requests_in_flight(), 2);
        drop(p1);
        assert!(a.request().is_ok());
    }

    #[test]
    fn statements_are_counted_by_size_and_a_huge_batch_runs_alone() {
        let a = Admission::new(10, 1000, Duration::ZERO);
        let b1 = a.statements(600).unwrap();
        assert!(a.statements(500).is_err(), "600 + 500 > 1000");
        let small = a.statements(400).unwrap();
        drop((b1, small));
        // Larger than the whole budget: admitted when nothing else runs, holding it all.
        let huge = a.statements(5000).unwrap();
        assert!(a.statements(1).is_err());
        drop(huge);
        assert!(a.statements(1).is_ok());
    }

    #[test]
    fn learns_beyond_the_queue_target_at_the_measured_rate_are_refused() {
        let mut p = Pace::new(Duration::from_millis(100));
        let t0 = Instant::now();
        // No rate yet: only the static bounds apply.
        p.admit(100, t0).unwrap();
        p.admit(100, t0).unwrap();
        // 200 statements finished in 1 s of busy time: 200/s.
        p.finish(100, t0 + Duration::from_millis(500));
        p.finish(100, t0 + Duration::from_secs(1));
        assert!(p.busy_since.is_none(), "idle once nothing is in flight");
        let rate = p.rate(t0 + Duration::from_secs(1)).unwrap();
        assert!((rate - 200.0).abs() < 1e-6, "{rate}");
        // Idle: always admitted, whatever the size.
        let t1 = t0 + Duration::from_secs(5);
        p.admit(50, t1).unwrap();
        // 50 ahead: 250 ms at 200/s, beyond 100 ms, but no more than the learn's own 50.
        p.admit(50, t1).unwrap();
        // 100 ahead of a learn of 10: refused, with the time they would take.
        let (ahead, ms) = p.admit(10, t1).unwrap_err();
        assert_eq!(ahead, 100);
        assert!((ms - 500.0).abs() < 1.0, "{ms}");
        assert_eq!(p.refused, 1);
        p.finish(50, t1 + Duration::from_millis(250));
        p.finish(50, t1 + Duration::from_millis(500));
        p.admit(10, t1 + Duration::from_millis(500)).unwrap();
    }

    #[test]
    fn the_measured_rate_follows_a_change_of_workload() {
        let mut p = Pace::new(Duration::from_millis(100));
        let mut t = Instant::now();
        // Fast work: 1,000 statements in 10 ms, many times.
        for _ in 0..200 {
            p.admit(1000, t).unwrap();
            t += Duration::from_millis(10);
            p.finish(1000, t);
        }
        assert!(p.rate(t).unwrap() > 50_000.0);
        // Slow work: 10 statements in 100 ms. Within half a minute the rate is the new one
        // (the old samples halve with every window of busy time).
        for _ in 0..300 {
            p.admit(10, t).unwrap();
            t += Duration::from_millis(100);
            p.finish(10, t);
        }
        let rate = p.rate(t).unwrap();
        assert!(rate < 1000.0, "still {rate}/s");
    }

    #[test]
    fn a_finished_learn_frees_its_statements_in_both_bounds() {
        let a = Admission::new(10, 1000, Duration::from_millis(1));
        let first = a.statements(100).unwrap();
        drop(first);
        assert_eq!(a.statements_in_flight(), 0);
        assert_eq!(lock(&a.pace).in_flight, 0);
        let held = a.statements(10).unwrap();
        assert_eq!(lock(&a.pace).in_flight, 10);
        drop(held);
        assert_eq!(lock(&a.pace).in_flight, 0);
    }

    #[test]
    fn operators_endpoints_are_never_refused() {
        assert!(Admission::applies_to("/v1/learn/batch"));
        assert!(Admission::applies_to("/v1/reason"));
        assert!(!Admission::applies_to("/v1/admin/actors"));
        assert!(!Admission::applies_to("/v1/stats"));
        assert!(!Admission::applies_to("/health"));
        assert!(!Admission::applies_to("/metrics"));
    }
}
