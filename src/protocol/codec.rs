//! The one place that knows the binary encoding of log records, checkpoints and
//! node-to-node messages. `bincode` is unmaintained (RUSTSEC-2025-0141), so nothing else
//! names it: swapping the codec is a change to this file alone.

use serde::{de::DeserializeOwned, Serialize};

/// A record or message could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode stored or received data: {0}")]
pub struct CodecError(String);

impl CodecError {
    /// An error for data whose framing around encoded values is wrong (a length that
    /// runs past the end, say).
    pub fn framing(reason: impl Into<String>) -> Self {
        CodecError(reason.into())
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Encoding into a Vec only fails for types serde cannot represent (e.g. maps with
    // non-string keys in some formats); none of ours are, so this is a programming error.
    bincode::serde::encode_to_vec(value, config()).expect("every Sutra type is encodable")
}

/// Appends the encoding of a value to `out` (one buffer for many values, no
/// allocation per value).
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    bincode::serde::encode_into_std_write(value, out, config())
        .expect("every Sutra type is encodable");
}

/// Decodes a value, rejecting trailing bytes (they mean a framing bug or corruption).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(CodecError(format!(
            "{} trailing bytes after the value",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// Decodes a value from the start of `bytes`; returns it and how many bytes it used
/// (for formats that append further values).
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    bincode::serde::decode_from_slice(bytes, config()).map_err(|e| CodecError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_trailing_bytes() {
        let v = (1u32, "x".to_string(), Some(2.5f32));
        let mut b = encode(&v);
        assert_eq!(decode::<(u32, String, Option<f32>)>(&b).unwrap(), v);
        b.push(0);
        assert!(decode::<(u32, String, Option<f32>)>(&b).is_err());
        assert!(decode::<String>(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn appends_match_whole_encodings() {
        let mut out = vec![9u8];
        encode_into(&(7u32, "ab"), &mut out);
        assert_eq!(&out[1..], encode(&(7u32, "ab")).as_slice());
        assert_eq!(
            decode::<(u32, String)>(&out[1..]).unwrap(),
            (7, "ab".to_string())
        );
    }
}
