//! The learning pipeline's pure parts: normalization of names and statements.

pub mod normalize;
pub mod patterns;
