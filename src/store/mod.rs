//! Durable storage: the per-shard write-ahead log, checkpoints, and the shard engine
//! that ties them to published snapshots.

pub mod checkpoint;
pub mod shard;
pub mod wal;
