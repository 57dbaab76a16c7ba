//! Text embeddings: the all-MiniLM-L6-v2 model run with ONNX Runtime ([`model`]) and
//! the cache in front of it ([`cache`]). The actors that pool replicas of the model live
//! in `actors::embedder`.

pub mod cache;
pub mod model;

pub use model::{EmbedError, Embedder, ModelFiles};
