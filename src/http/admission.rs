//! Admission control at the ingress: when the node is full, a request is refused at once
//! with 503 + Retry-After instead of queueing behind work the node cannot finish in time.
//!
//! Two bounds, both `try_acquire` (never wait):
//! - requests in flight (`limits.max_in_flight`), for every `/v1/` data endpoint: bounds
//!   memory and the tasks the runtime holds, whatever the requests are;
//! - statements in flight (`limits.max_statements_in_flight`), for learns: a batch of 500
//!   costs 500 units, a single learn 1, so a few large batches fill the node as much as
//!   many small learns do. A batch larger than the whole budget takes all of it (it runs
//!   alone) rather than being refused forever.
//!
//! Liveness, readiness, metrics, statistics, the cluster view, the API description and
//! the admin endpoints are never refused: an operator must be able to see and act on a
//! full node.

use crate::protocol::SutraError;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The ingress bounds of one node.
#[derive(Debug)]
pub struct Admission {
    requests: Arc<Semaphore>,
    max_requests: usize,
    statements: Arc<Semaphore>,
    max_statements: usize,
}

/// Held while an admitted request runs; dropping it frees its place.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// Bounds of `max_requests` requests and `max_statements` statements in flight.
    pub fn new(max_requests: usize, max_statements: usize) -> Self {
        let max_requests = max_requests.max(1);
        let max_statements = max_statements.max(1);
        Admission {
            requests: Arc::new(Semaphore::new(max_requests)),
            max_requests,
            statements: Arc::new(Semaphore::new(max_statements)),
            max_statements,
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
            .map(Permit)
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
        let units = n.clamp(1, self.max_statements) as u32;
        self.statements
            .clone()
            .try_acquire_many_owned(units)
            .map(Permit)
            .map_err(|_| {
                crate::metrics::refused("statements");
                SutraError::unavailable(format!(
                    "the node is full: {} of at most {} statements are being learned (limits.max_statements_in_flight); retry after the Retry-After delay, or send smaller batches",
                    self.max_statements - self.statements.available_permits(),
                    self.max_statements
                ))
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
        serde_json::json!({
            "requests_in_flight": self.requests_in_flight(),
            "max_in_flight": self.max_requests,
            "statements_in_flight": self.statements_in_flight(),
            "max_statements_in_flight": self.max_statements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_node_refuses_at_once_and_frees_places_when_work_ends() {
        let a = Admission::new(2, 1000);
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
        let a = Admission::new(10, 1000);
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
    fn operators_endpoints_are_never_refused() {
        assert!(Admission::applies_to("/v1/learn/batch"));
        assert!(Admission::applies_to("/v1/reason"));
        assert!(!Admission::applies_to("/v1/admin/actors"));
        assert!(!Admission::applies_to("/v1/stats"));
        assert!(!Admission::applies_to("/health"));
        assert!(!Admission::applies_to("/metrics"));
    }
}
