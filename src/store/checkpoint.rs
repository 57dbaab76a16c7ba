//! Checkpoints: one file, `checkpoint.bin`, holding a shard's state through some LSN.
//!
//! Layout: magic `SUTRACP1`, version u32 LE, lsn u64 LE, payload length u64 LE, crc32c of
//! the payload u32 LE, then the payload. The file is only ever replaced by rename, so a
//! crash leaves either the old or the new checkpoint whole.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SUTRACP1";
/// 2: associations keep every piece of evidence with its teacher, concepts every
/// teacher (deletion and forgetting reach derived knowledge). Version 1 is not read.
const VERSION: u32 = 2;
const HEADER_BYTES: usize = 8 + 4 + 8 + 8 + 4;
const FILE: &str = "checkpoint.bin";
const TMP: &str = "checkpoint.tmp";

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file operation failed.
    #[error("checkpoint I/O on {path} failed: {source}; check that the disk is present, writable and not full")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint was written by an earlier Sutra whose format this one cannot read.
    #[error("checkpoint {file} was written by an earlier Sutra (data format 1, before associations kept their evidence per source); this version reads format 2. Keep the old data directory, start this version on a new one (--data-dir), and learn your sources again")]
    OldFormat {
        /// The checkpoint file.
        file: PathBuf,
    },
    /// The checkpoint file is damaged or from an unknown format.
    #[error("checkpoint {file} is corrupted ({reason}); restore the data directory from a backup, or delete {file} to rebuild the shard from its write-ahead log if the log still holds all history")]
    Corrupt {
        /// The checkpoint file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Atomically replaces the checkpoint in `dir` with `payload`, which holds everything
/// through `lsn`. Returns once the new checkpoint is durable.
pub fn write(dir: &Path, lsn: u64, payload: &[u8]) -> Result<(), CheckpointError> {
    write_with(dir, lsn, payload, || {})
}

/// [`write`], calling `before_rename` once the temp file is durable and before it
/// replaces the checkpoint (fault injection kills the process there).
pub fn write_with(
    dir: &Path,
    lsn: u64,
    payload: &[u8],
    before_rename: impl FnOnce(),
) -> Result<(), CheckpointError> {
    let (tmp, file) = (dir.join(TMP), dir.join(FILE));
    let mut header = Vec::with_capacity(HEADER_BYTES);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&lsn.to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let written = File::create(&tmp).and_then(|mut out| {
        out.write_all(&header)?;
        out.write_all(payload)?;
        // The content must be durable before the rename can expose it under the real
        // name.
        out.sync_all()
    });
    if let Err(e) = written {
        // A partial file must not keep the space a full disk needs to recover.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    before_rename();
    std::fs::rename(&tmp, &file).map_err(io(&file))?;
    // Without this the rename itself could be lost, and with it the caller's right to
    // drop the log segments this checkpoint covers.
    crate::store::wal::sync_dir(dir).map_err(io(dir))
}

/// Reads the checkpoint in `dir`: `None` if there is none, else its LSN and payload.
/// A leftover `checkpoint.tmp` from an interrupted write is removed.
pub fn read(dir: &Path) -> Result<Option<(u64, Vec<u8>)>, CheckpointError> {
    let (tmp, path) = (dir.join(TMP), dir.join(FILE));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&tmp)(e)),
        _ => {}
    }
    let mut file = match File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.map_err(io(&path))?,
    };
    let corrupt = |reason: String| CheckpointError::Corrupt {
        file: path.clone(),
        reason,
    };
    let size = file.metadata().map_err(io(&path))?.len();
    let mut header = [0u8; HEADER_BYTES];
    if size < HEADER_BYTES as u64 {
        return Err(corrupt(format!(
            "only {size} bytes, shorter than its header"
        )));
    }
    file.read_exact(&mut header).map_err(io(&path))?;
    let field = |at: usize, n: usize| {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&header[at..at + n]);
        u64::from_le_bytes(b)
    };
    let (version, lsn, len, crc) = (field(8, 4), field(12, 8), field(20, 8), field(28, 4));
    if &header[..8] != MAGIC {
        return Err(corrupt("not a Sutra checkpoint: bad magic".into()));
    }
    if version == 1 {
        return Err(CheckpointError::OldFormat { file: path.clone() });
    }
    if version != VERSION as u64 {
        return Err(corrupt(format!("unknown version {version}")));
    }
    if len != size - HEADER_BYTES as u64 {
        return Err(corrupt(format!(
            "header says {len} payload bytes, file has {}",
            size - HEADER_BYTES as u64
        )));
    }
    // One exact-size read straight into the result: no growth, no copy of a large file.
    let mut payload = vec![0u8; len as usize];
    file.read_exact(&mut payload).map_err(io(&path))?;
    if crc32c::crc32c(&payload) as u64 != crc {
        return Err(corrupt("payload checksum mismatch".into()));
    }
    Ok(Some((lsn, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_none() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(read(tmp.path()).unwrap().is_none());
    }

    #[test]
    fn round_trip_and_replace() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), 7, b"first").unwrap();
        assert_eq!(read(tmp.path()).unwrap(), Some((7, b"first".to_vec())));
        write(tmp.path(), 9, b"").unwrap();
        assert_eq!(read(tmp.path()).unwrap(), Some((9, Vec::new())));
        assert!(!tmp.path().join(TMP).exists());
    }

    #[test]
    fn damage_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(FILE);
        let payload = vec![5u8; 1000];
        write(tmp.path(), 3, &payload).unwrap();
        let good = std::fs::read(&path).unwrap();
        type Damage = fn(&mut Vec<u8>);
        let cases: [(&str, Damage); 5] = [
            ("checksum", |b| b[HEADER_BYTES + 500] ^= 1),
            ("magic", |b| b[0] = b'X'),
            ("version", |b| b[8] = 9),
            ("payload bytes", |b| b.truncate(b.len() - 1)),
            ("shorter than its header", |b| b.truncate(10)),
        ];
        for (want, damage) in cases {
            let mut bytes = good.clone();
            damage(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            let err = read(tmp.path()).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
            assert!(
                text.contains(want) && text.contains(&path.display().to_string()),
                "{text}"
            );
            assert!(text.contains("delete"), "{text}");
        }
    }

    #[test]
    fn leftover_tmp_is_ignored_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), 4, b"kept").unwrap();
        std::fs::write(tmp.path().join(TMP), b"half a checkpoint").unwrap();
        assert_eq!(read(tmp.path()).unwrap(), Some((4, b"kept".to_vec())));
        assert!(!tmp.path().join(TMP).exists());
        std::fs::write(tmp.path().join(TMP), b"junk").unwrap();
        std::fs::remove_file(tmp.path().join(FILE)).unwrap();
        assert!(read(tmp.path()).unwrap().is_none());
    }
}
