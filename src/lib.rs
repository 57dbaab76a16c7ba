//! Sutra: an explainable knowledge engine built as a supervised actor system.
//!
//! Pure logic lives in plain modules with no actor code ([`graph`], [`store`], [`learn`]);
//! the [`actors`] are thin shells that own state and speak messages ([`protocol`]).

pub mod actors;
pub mod cluster;
pub mod config;
pub mod embed;
pub mod events;
pub mod faults;
pub mod graph;
pub mod grid;
pub mod http;
pub mod index;
pub mod latency;
pub mod learn;
pub mod logging;
pub mod logic;
pub mod membership;
pub mod metrics;
pub mod nlp;
pub mod protocol;
pub mod reason;
pub mod router;
pub mod store;
