//! The learning pipeline's pure parts: normalization of names and statements.

pub mod extract;
pub mod normalize;
pub mod parsed;
