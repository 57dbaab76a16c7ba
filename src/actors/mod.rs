//! The actors: thin shells that own state and speak [`crate::protocol`] messages.
//! One file per actor kind; [`node`] assembles them into one node's supervision tree.

pub mod coordinator;
pub mod embedder;
pub mod event_sink;
pub mod grid;
pub mod ingress;
pub mod learner;
pub mod node;
pub mod query;
pub mod reconciler;
pub mod shard;
pub mod supervisor;
pub mod tree;
