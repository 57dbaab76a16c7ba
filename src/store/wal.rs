//! Write-ahead log: one per shard, owned by a single flusher thread that batches many
//! writers into one `write` + `fdatasync` (group commit).
//!
//! Invariants:
//! - A record is acknowledged (its callback gets `Ok`) only after an fdatasync covering
//!   it succeeded; after any write or sync failure the log acknowledges nothing more.
//! - LSNs start at 1 and grow by exactly 1 per record, across segments; callbacks run
//!   in LSN order on the flusher thread.
//! - At most one batch (a *flush group*) is ever unsynced, and it is always at the end
//!   of the last segment: that is the only place recovery may cut anything away.
//!
//! Segment files are `wal-{first_lsn:020}.log`. Each starts with [`SEGMENT_MAGIC`]
//! (written and synced when the segment is created), then flush groups: the records
//! of one write + fdatasync followed by a commit trailer. A record is
//! `[len u32 LE][crc32c u32 LE over (lsn LE ++ payload)][lsn u64 LE][payload]`; a
//! trailer is `[TRAILER_TAG u32 LE][crc32c u32 LE][first lsn u64 LE][count u32 LE]
//! [group bytes u32 LE]`, its checksum covering every byte of the group's records and
//! then the trailer's last 16 bytes.
//!
//! Why trailers: a crash or power loss during the last write can leave any subset of
//! its sectors on disk (they reach the platter out of order), so a damaged record can
//! be followed by intact ones of the same, never-acknowledged write. Record checksums
//! alone cannot tell that apart from damage inside acknowledged data; a group is
//! committed only when its trailer matches, so recovery cuts off exactly the last,
//! uncommitted group, and treats damage anywhere before a committed group as
//! corruption. (As in PostgreSQL, damage confined to the very last group after it was
//! synced looks the same as a torn write and is cut off with a warning.)

use std::fs::{File, OpenOptions, TryLockError};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Log sequence number: the first record is 1, each record is the previous one plus 1.
pub type Lsn = u64;

/// Bytes before each record's payload.
pub const HEADER_BYTES: usize = 16;
/// Larger lengths can only come from damage: no caller writes records this big.
pub const MAX_RECORD_BYTES: u32 = 256 << 20;
/// The first bytes of every segment of this log format (format 2: flush groups with
/// commit trailers). Format 1 segments began directly with a record.
pub const SEGMENT_MAGIC: &[u8; 16] = b"sutra-wal v2\0\0\0\n";
/// The length field that marks a group's commit trailer: the top bit is never set in
/// a record's length (see [`MAX_RECORD_BYTES`]).
pub const TRAILER_TAG: u32 = 0x8000_0000 | TRAILER_BYTES as u32;
/// Bytes of a commit trailer.
pub const TRAILER_BYTES: usize = 24;

/// Tuning for one log.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Start a new segment once the current one holds at least this many bytes.
    pub segment_bytes: u64,
    /// Stop gathering queued appends into one flush once this many bytes are in (a
    /// single larger append is still written whole).
    pub max_batch_bytes: usize,
    /// How long `open` waits for the directory lock held by a previous owner.
    pub lock_wait: Duration,
    /// The shard this log belongs to, for fault injection (`None`: the coordinator's).
    pub shard: Option<u32>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
            max_batch_bytes: 8 << 20,
            lock_wait: Duration::from_secs(5),
            shard: None,
        }
    }
}

/// Why the log could not open or accept a write.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file operation failed.
    #[error("write-ahead log I/O on {path} failed: {source}; check that the disk is present, writable and not full")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Another owner holds the directory lock.
    #[error("{path} is locked by another process: another sutra-node is using this data directory; stop it or pick another --data-dir")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A segment holds damage that is not a torn, never-acknowledged final write.
    #[error("write-ahead log {file} is corrupted at byte {offset} ({reason}); the records after it cannot be trusted. Restore this data directory from a backup, or move this file and every later wal-*.log file away to start the shard without the records from this point on (they will be lost).")]
    Corrupt {
        /// Damaged segment.
        file: PathBuf,
        /// Byte offset of the first bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A write or sync failed (full disk, I/O error, read-only file system): writes are
    /// refused until a probe finds the disk writable again; reads go on.
    #[error("the write-ahead log in {} cannot write ({}); writes are refused until the disk accepts them again (checked every {} ms){}", .failure.dir.display(), .failure.reason, PROBE_EVERY.as_millis(), if .failure.no_space { "; free space on that disk" } else { "; check the disk and the kernel log" })]
    ReadOnly {
        /// What failed.
        failure: Failure,
    },
    /// A segment written by an older version of Sutra, whose log format this one does
    /// not read.
    #[error("write-ahead log {file} was written by an older version of Sutra (log format 1, records without commit trailers); this version reads format 2. Start the older version once and stop it cleanly (SIGTERM folds the log into a checkpoint), then move its wal-*.log files away; or start from an empty data directory.")]
    OldFormat {
        /// The segment.
        file: PathBuf,
    },
    /// The flusher thread is gone.
    #[error("the write-ahead log is closed (its flusher thread stopped); restart the shard to reopen it")]
    Closed,
}

/// The errnos that mean "out of space" (Linux values; the project runs on Linux).
mod libc_errno {
    pub const ENOSPC: i32 = 28;
    pub const EDQUOT: i32 = 122;
}

/// Why a log refuses writes for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The log's directory.
    pub dir: PathBuf,
    /// Out of space or quota (ENOSPC, EDQUOT) rather than an I/O error.
    pub no_space: bool,
    /// The error, with the file and errno.
    pub reason: String,
}

/// How often a log in read-only mode probes whether the disk accepts writes again.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);

/// Why [`Wal::open`] failed: the log itself, or the caller's visitor.
#[derive(Debug, thiserror::Error)]
pub enum OpenError<E> {
    /// The log could not be opened or is damaged.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The visitor rejected a record; its error is passed through unchanged.
    #[error("replaying the write-ahead log failed: {0}")]
    Visit(E),
}

/// Counters since the log was opened.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct WalStats {
    /// Records made durable.
    pub records: u64,
    /// fdatasync calls that covered at least one record.
    pub flushes: u64,
    /// Bytes written, headers included.
    pub bytes: u64,
    /// Segment files currently in the directory.
    pub segments: u64,
}

/// Called once the records of one append are durable (or the log failed).
pub type OnDurable = Box<dyn FnOnce(Result<RangeInclusive<Lsn>, String>) + Send>;

enum Command {
    Append(Vec<Vec<u8>>, OnDurable),
    Truncate(Lsn),
    /// Check whether a failed disk accepts writes again.
    Probe,
    /// Wait until every command queued before this one is done.
    Barrier(std::sync::mpsc::SyncSender<()>),
    /// Start a new segment for the next record; replies with the last LSN written so far.
    Roll(std::sync::mpsc::SyncSender<Result<Lsn, String>>),
}

struct Shared {
    dir: PathBuf,
    last_lsn: AtomicU64,
    records: AtomicU64,
    flushes: AtomicU64,
    bytes: AtomicU64,
    segments: AtomicU64,
    /// Set while writes are refused (read-only mode); cleared by a successful probe.
    failure: std::sync::Mutex<Option<Failure>>,
}

impl Shared {
    fn failure(&self) -> Option<Failure> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Handle to one log; clones share the flusher. When the last handle is dropped the
/// flusher finishes what is queued, closes the log and releases the directory lock.
#[derive(Clone)]
pub struct Wal {
    tx: Sender<Command>,
    shared: Arc<Shared>,
}

/// Appends one encoded record to `buf`.
pub fn encode_record(buf: &mut Vec<u8>, lsn: Lsn, payload: &[u8]) {
    let lsn_bytes = lsn.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&lsn_bytes), payload);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&lsn_bytes);
    buf.extend_from_slice(payload);
}

/// Appends the commit trailer of the group `buf[group_start..]`, whose records are
/// `first..first + count`.
pub fn encode_trailer(buf: &mut Vec<u8>, group_start: usize, first: Lsn, count: u32) {
    let mut tail = [0u8; 16];
    tail[..8].copy_from_slice(&first.to_le_bytes());
    tail[8..12].copy_from_slice(&count.to_le_bytes());
    tail[12..].copy_from_slice(&((buf.len() - group_start) as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[group_start..]), &tail);
    buf.extend_from_slice(&TRAILER_TAG.to_le_bytes());
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&tail);
}

/// Whether `data[at..]` starts with a commit trailer that matches the group of records
/// before it; returns the group's start offset and its first LSN and record count.
fn committed_group(data: &[u8], at: usize) -> Option<(usize, Lsn, u32)> {
    let trailer = data.get(at..at + TRAILER_BYTES)?;
    let word = |i: usize| u32::from_le_bytes(trailer[i..i + 4].try_into().unwrap());
    if word(0) != TRAILER_TAG {
        return None;
    }
    let (crc, count, bytes) = (word(4), word(16), word(20) as usize);
    let start = at.checked_sub(bytes)?;
    let first = u64::from_le_bytes(trailer[8..16].try_into().unwrap());
    let sum = crc32c::crc32c_append(crc32c::crc32c(&data[start..at]), &trailer[8..]);
    (count > 0 && sum == crc).then_some((start, first, count))
}

/// The start of a committed group beginning at or after `from` whose records could follow
/// `expected`; the LSN filter keeps stray bytes from passing as a group.
fn committed_group_after(data: &[u8], from: usize, expected: Lsn) -> Option<usize> {
    let tag = TRAILER_TAG.to_le_bytes();
    (from..data.len().saturating_sub(TRAILER_BYTES - 1)).find_map(|at| {
        if data[at..at + 4] != tag {
            return None;
        }
        let (start, first, _) = committed_group(data, at)?;
        (start >= from && first >= expected).then_some(start)
    })
}

/// What [`decode_record`] found at the start of a byte slice.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A record whose checksum matches; `len` is its full encoded size.
    Record {
        /// Its number.
        lsn: Lsn,
        /// Its payload.
        payload: &'a [u8],
        /// Header plus payload bytes.
        len: usize,
    },
    /// The slice ends before the record does.
    Incomplete,
    /// A commit trailer (its checksum is checked against the group by the caller).
    Trailer,
    /// The length field exceeds [`MAX_RECORD_BYTES`].
    TooLong(u32),
    /// The checksum does not match.
    BadChecksum,
}

/// Decodes the record at the start of `bytes`.
pub fn decode_record(bytes: &[u8]) -> Decoded<'_> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Decoded::Incomplete;
    };
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    let (len, crc) = (word(0), word(4));
    if len == TRAILER_TAG {
        return match bytes.len() >= TRAILER_BYTES {
            true => Decoded::Trailer,
            false => Decoded::Incomplete,
        };
    }
    if len > MAX_RECORD_BYTES {
        return Decoded::TooLong(len);
    }
    let Some(payload) = bytes.get(HEADER_BYTES..HEADER_BYTES + len as usize) else {
        return Decoded::Incomplete;
    };
    if crc32c::crc32c_append(crc32c::crc32c(&header[8..16]), payload) != crc {
        return Decoded::BadChecksum;
    }
    let lsn = u64::from_le_bytes(header[8..16].try_into().unwrap());
    Decoded::Record {
        lsn,
        payload,
        len: HEADER_BYTES + len as usize,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn segment_path(dir: &Path, first: Lsn) -> PathBuf {
    dir.join(format!("wal-{first:020}.log"))
}

/// First LSNs of the segments in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<Lsn>, WalError> {
    let mut firsts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let name = entry.map_err(io(dir))?.file_name();
        let lsn = name
            .to_str()
            .and_then(|n| n.strip_prefix("wal-")?.strip_suffix(".log"));
        if let Some(lsn) = lsn.filter(|s| s.len() == 20).and_then(|s| s.parse().ok()) {
            firsts.push(lsn);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Creates (or, after a failed attempt, empties) segment `first` and makes it hold
/// just its header, durably, directory entry included. A failed attempt leaves no
/// acknowledged data behind: the file is only ever written after this succeeded.
fn create_segment(dir: &Path, first: Lsn) -> Result<File, WalError> {
    use std::io::Write;
    let path = segment_path(dir, first);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    file.write_all(SEGMENT_MAGIC).map_err(io(&path))?;
    file.sync_data().map_err(io(&path))?;
    sync_dir(dir).map_err(io(dir))?;
    Ok(file)
}

/// Makes a created or renamed directory entry survive power loss.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Scans one segment whose first record is `first`, visiting the records of committed
/// groups after `after_lsn`. Returns the next LSN and the length of the valid prefix
/// (0 when even the segment header never reached the disk).
fn scan_segment<E>(
    path: &Path,
    data: &[u8],
    first: Lsn,
    last: bool,
    after_lsn: Lsn,
    visit: &mut impl FnMut(Lsn, &[u8]) -> Result<(), E>,
) -> Result<(Lsn, usize), OpenError<E>> {
    let corrupt = |at: usize, reason: String| WalError::Corrupt {
        file: path.to_path_buf(),
        offset: at as u64,
        reason,
    };
    let torn = |at: usize, reason: &str| {
        tracing::warn!(
            file = %path.display(),
            offset = at,
            bytes = data.len() - at,
            "write-ahead log ends in a torn write that was never acknowledged ({reason}); cutting it off"
        );
    };
    if data.get(..SEGMENT_MAGIC.len()) != Some(&SEGMENT_MAGIC[..]) {
        if matches!(decode_record(data), Decoded::Record { lsn, .. } if lsn == first) {
            return Err(WalError::OldFormat {
                file: path.to_path_buf(),
            }
            .into());
        }
        // The header is synced before any group is written, so a segment without it
        // holds nothing acknowledged, unless a committed group says otherwise.
        if !last || committed_group_after(data, 0, first).is_some() {
            return Err(corrupt(0, "the segment header is damaged".into()).into());
        }
        torn(0, "the segment header is incomplete");
        return Ok((first, 0));
    }
    let mut at = SEGMENT_MAGIC.len();
    let mut lsn = first;
    let mut records: Vec<std::ops::Range<usize>> = Vec::new();
    while at < data.len() {
        let (group_start, group_lsn) = (at, lsn);
        records.clear();
        let reason = loop {
            match decode_record(&data[at..]) {
                Decoded::Record { lsn: got, .. } if got != lsn => {
                    break format!("record number {got} where {lsn} was expected")
                }
                Decoded::Record { len, .. } => {
                    records.push(at + HEADER_BYTES..at + len);
                    lsn += 1;
                    at += len;
                }
                Decoded::Trailer => match committed_group(data, at) {
                    Some((start, first, count))
                        if start == group_start
                            && first == group_lsn
                            && count as usize == records.len() =>
                    {
                        for (i, payload) in records.iter().enumerate() {
                            let lsn = group_lsn + i as Lsn;
                            if lsn > after_lsn {
                                visit(lsn, &data[payload.clone()]).map_err(OpenError::Visit)?;
                            }
                        }
                        at += TRAILER_BYTES;
                        break String::new();
                    }
                    _ => break "the group's commit trailer does not match its records".into(),
                },
                Decoded::TooLong(n) => {
                    break format!("record length {n} exceeds the 256 MiB limit")
                }
                Decoded::Incomplete if at == data.len() => {
                    break "the group ends before its commit trailer".into()
                }
                Decoded::Incomplete => break "record cut short".into(),
                Decoded::BadChecksum => break "checksum mismatch".into(),
            }
        };
        if reason.is_empty() {
            continue;
        }
        // Earlier segments were fully synced before the next one was created, and a
        // committed group after this one means this one was synced too: only an
        // uncommitted last group can be a torn, never-acknowledged write.
        if !last {
            return Err(corrupt(at, reason).into());
        }
        if let Some(next) = committed_group_after(data, group_start, group_lsn) {
            return Err(corrupt(
                at,
                format!("{reason}, but a committed group of records follows at byte {next}"),
            )
            .into());
        }
        torn(group_start, &reason);
        return Ok((group_lsn, group_start));
    }
    Ok((lsn, data.len()))
}

impl Wal {
    /// Opens or creates the log in `dir`: locks `dir/LOCK` (waiting up to
    /// `opts.lock_wait` for a previous owner in this process whose flusher is still
    /// draining), verifies every segment, calls `visit` for each record after
    /// `after_lsn` in LSN order, cuts off a torn final write, and starts the flusher.
    /// `after_lsn` is what a checkpoint already holds: records up to it may be missing,
    /// and new records are numbered after it even if the log ends earlier.
    pub fn open<E>(
        dir: &Path,
        opts: WalOptions,
        after_lsn: Lsn,
        mut visit: impl FnMut(Lsn, &[u8]) -> Result<(), E>,
    ) -> Result<Wal, OpenError<E>> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        let deadline = Instant::now() + opts.lock_wait;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(WalError::Locked { path: lock_path }.into())
                }
                Err(TryLockError::Error(e)) => return Err(io(&lock_path)(e).into()),
            }
        }

        let mut segments = list_segments(dir)?;
        // `next` is the LSN the following record must carry; `None` before any segment.
        let mut next: Option<Lsn> = None;
        let mut tail_len = 0;
        let mut header_torn = false;
        for (i, &first) in segments.iter().enumerate() {
            let path = segment_path(dir, first);
            // Segments chain without overlap; a gap is tolerated only where the
            // checkpoint already holds every missing record.
            let broken = match next {
                Some(n) if first < n => Some(format!("overlaps records up to {}", n - 1)),
                _ if first > after_lsn + 1 && next != Some(first) => Some(format!(
                    "starts at record {first}, but neither the log nor the checkpoint holds record {}",
                    next.unwrap_or(1).max(after_lsn + 1)
                )),
                _ => None,
            };
            if let Some(reason) = broken {
                return Err(WalError::Corrupt {
                    file: path,
                    offset: 0,
                    reason,
                }
                .into());
            }
            let data = std::fs::read(&path).map_err(io(&path))?;
            let last = i + 1 == segments.len();
            let (n, valid) = scan_segment(&path, &data, first, last, after_lsn, &mut visit)?;
            next = Some(n);
            tail_len = valid as u64;
            if valid == 0 {
                // Created but its header never became durable: it holds nothing.
                std::fs::remove_file(&path).map_err(io(&path))?;
                header_torn = true;
            } else if valid < data.len() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io(&path))?;
                file.set_len(tail_len).map_err(io(&path))?;
                file.sync_all().map_err(io(&path))?;
            }
        }

        if header_torn {
            segments.pop();
            sync_dir(dir).map_err(io(dir))?;
            let last = segments.last().map(|&f| segment_path(dir, f));
            tail_len = match last {
                Some(p) => std::fs::metadata(&p).map_err(io(&p))?.len(),
                None => 0,
            };
        }
        let log_end = next.map_or(0, |n| n - 1);
        let next = log_end.max(after_lsn) + 1;
        // Appending to the last segment is only valid if it ends right before `next`.
        let fresh = segments.is_empty() || log_end < after_lsn;
        if fresh {
            if !segments.is_empty() {
                tracing::warn!(
                    dir = %dir.display(),
                    log_end,
                    after_lsn,
                    "write-ahead log ends before the checkpoint; numbering continues after it"
                );
            }
            segments.push(next);
        }
        let file = if fresh {
            tail_len = SEGMENT_MAGIC.len() as u64;
            create_segment(dir, next)?
        } else {
            let path = segment_path(dir, *segments.last().unwrap());
            OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io(&path))?
        };

        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            last_lsn: AtomicU64::new(next - 1),
            records: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            segments: AtomicU64::new(segments.len() as u64),
            failure: std::sync::Mutex::new(None),
        });
        let flusher = Flusher {
            shared: Arc::clone(&shared),
            opts,
            file,
            file_len: tail_len,
            segments,
            next_lsn: next,
            buf: Vec::new(),
            needs_restore: false,
            last_probe: None,
            _lock: lock,
        };
        let name = dir.file_name().map_or("".into(), |n| n.to_string_lossy());
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("wal-{name}"))
            .spawn(move || flusher.run(rx))
            .map_err(io(dir))?;
        Ok(Wal { tx, shared })
    }

    /// Queues `payloads` as consecutive records; `on_durable` runs on the flusher thread
    /// once an fdatasync covers all of them, with their LSN range (empty for no payloads)
    /// or the error text. Callbacks run in LSN order. Never blocks on I/O. In read-only
    /// mode ([`Wal::failure`]) `on_durable` gets the refusal at once, on the caller's
    /// thread.
    pub fn append(&self, payloads: Vec<Vec<u8>>, on_durable: OnDurable) -> Result<(), WalError> {
        if let Some(failure) = self.shared.failure() {
            // Refused at once, through the callback like any failed write, so the
            // caller answers its client without waiting for the flusher.
            on_durable(Err(WalError::ReadOnly { failure }.to_string()));
            return Ok(());
        }
        self.tx
            .send(Command::Append(payloads, on_durable))
            .map_err(|_| WalError::Closed)
    }

    /// Deletes whole segments whose every record is at or below `lsn` (which a durable
    /// checkpoint covers), never the one being written. Ordered with appends.
    pub fn truncate_through(&self, lsn: Lsn) {
        // A closed log has nobody left to delete for; the next open may truncate.
        let _ = self.tx.send(Command::Truncate(lsn));
    }

    /// Starts a new segment for the next record (unless the current one is empty) and
    /// returns the last LSN written before it, once every earlier append is durable and
    /// acknowledged. A checkpoint through that LSN can then drop every older segment,
    /// which is how deleted text leaves the log ([`crate::store::shard::ShardCore::erase`]).
    /// Blocks the caller (not the flusher) until done.
    pub fn roll(&self) -> Result<Lsn, WalError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.tx
            .send(Command::Roll(tx))
            .map_err(|_| WalError::Closed)?;
        match rx.recv() {
            Ok(Ok(lsn)) => Ok(lsn),
            Ok(Err(_)) => Err(match self.shared.failure() {
                Some(failure) => WalError::ReadOnly { failure },
                None => WalError::Closed,
            }),
            Err(_) => Err(WalError::Closed),
        }
    }

    /// Why writes are refused, while they are (read-only mode).
    pub fn failure(&self) -> Option<Failure> {
        self.shared.failure()
    }

    /// In read-only mode, asks the flusher to check (at most every [`PROBE_EVERY`])
    /// whether the disk accepts writes again; writes resume when it does.
    pub fn probe(&self) {
        if self.shared.failure().is_some() {
            let _ = self.tx.send(Command::Probe);
        }
    }

    /// Returns once every command queued before this call (appends, truncations) is done.
    pub fn barrier(&self) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if self.tx.send(Command::Barrier(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// The last durable LSN (or the checkpoint's, if the log held nothing after it).
    pub fn last_lsn(&self) -> Lsn {
        self.shared.last_lsn.load(Ordering::Acquire)
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        let s = &self.shared;
        WalStats {
            records: s.records.load(Ordering::Relaxed),
            flushes: s.flushes.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
            segments: s.segments.load(Ordering::Relaxed),
        }
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("last_lsn", &self.last_lsn())
            .finish_non_exhaustive()
    }
}

struct Flusher {
    shared: Arc<Shared>,
    opts: WalOptions,
    file: File,
    file_len: u64,
    /// First LSN of every segment on disk, ascending; the last one is being written.
    segments: Vec<Lsn>,
    next_lsn: Lsn,
    buf: Vec<u8>,
    /// The segment must still be cut back to `file_len` (read-only mode).
    needs_restore: bool,
    /// When the last probe ran (read-only mode).
    last_probe: Option<std::time::Instant>,
    /// Held until the thread exits, so a new owner cannot start before the queue drains.
    _lock: File,
}

impl Flusher {
    fn run(mut self, rx: Receiver<Command>) {
        let mut batch = Vec::new();
        // `recv` fails only once every handle is gone *and* the queue is empty, so
        // everything queued before the last drop is still written and acknowledged.
        while let Ok(first) = rx.recv() {
            let mut bytes = 0;
            let mut cmd = Some(first);
            while let Some(c) = cmd {
                if let Command::Append(p, _) = &c {
                    bytes += p.iter().map(|p| p.len() + HEADER_BYTES).sum::<usize>();
                }
                batch.push(c);
                cmd = if bytes < self.opts.max_batch_bytes {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            self.flush(&mut batch);
        }
    }

    fn flush(&mut self, batch: &mut Vec<Command>) {
        let batch_first = self.next_lsn;
        let mut acks = Vec::with_capacity(batch.len());
        let mut truncate = None;
        let mut rolls = Vec::new();
        let mut barriers = Vec::new();
        let mut probe = false;
        self.buf.clear();
        for cmd in batch.drain(..) {
            match cmd {
                Command::Append(payloads, done) => {
                    let first = self.next_lsn;
                    for p in &payloads {
                        encode_record(&mut self.buf, self.next_lsn, p);
                        self.next_lsn += 1;
                    }
                    acks.push((first..=self.next_lsn - 1, done));
                }
                Command::Truncate(lsn) => truncate = truncate.max(Some(lsn)),
                Command::Roll(reply) => rolls.push(reply),
                Command::Barrier(reply) => barriers.push(reply),
                Command::Probe => probe = true,
            }
        }
        if !self.buf.is_empty() {
            let count = (self.next_lsn - batch_first) as u32;
            encode_trailer(&mut self.buf, 0, batch_first, count);
        }
        if probe {
            self.probe();
        }
        let result = match self.shared.failure() {
            Some(f) => {
                self.next_lsn = batch_first;
                Err(f.reason)
            }
            None if self.buf.is_empty() => Ok(()),
            None => self.write(batch_first).map_err(|e| {
                // Nothing of this batch is acknowledged; its LSNs are used again by the
                // next write, after the file is cut back to what was synced before.
                self.next_lsn = batch_first;
                self.fail(e)
            }),
        };
        // Before the callbacks, so whoever appends after a truncation sees it done.
        if let (Some(lsn), None) = (truncate, self.shared.failure()) {
            self.truncate_through(lsn);
        }
        for (range, done) in acks {
            done(result.clone().map(|()| range));
        }
        if !rolls.is_empty() {
            let rolled = match result {
                Err(e) => Err(e),
                Ok(()) => self.roll().map_err(|e| self.fail(e)),
            };
            for reply in rolls {
                let _ = reply.send(rolled.clone());
            }
        }
        for reply in barriers {
            let _ = reply.send(());
        }
    }

    /// Makes the next record start a new segment; returns the last LSN written.
    fn roll(&mut self) -> Result<Lsn, WalError> {
        if self.file_len > SEGMENT_MAGIC.len() as u64 {
            self.open_segment(self.next_lsn)?;
        }
        Ok(self.next_lsn - 1)
    }

    /// Creates the segment whose first record is `first` and writes there from now on.
    /// The previous segment is fully synced, so only the new one can hold an unsynced
    /// write.
    fn open_segment(&mut self, first: Lsn) -> Result<(), WalError> {
        self.file = create_segment(&self.shared.dir, first)?;
        self.segments.push(first);
        self.file_len = SEGMENT_MAGIC.len() as u64;
        self.shared
            .segments
            .store(self.segments.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Enters read-only mode after a failed write or fdatasync, and cuts the segment
    /// back to what the last good sync covered. After a failed fdatasync the page
    /// cache's state is unknown (PostgreSQL's "fsyncgate"), so the cut goes through a
    /// new descriptor and is synced there; the failed descriptor is never synced again.
    /// Returns the error text for the batch's callbacks.
    fn fail(&mut self, e: WalError) -> String {
        let no_space = match &e {
            WalError::Io { source, .. } => {
                matches!(
                    source.raw_os_error(),
                    Some(libc_errno::ENOSPC | libc_errno::EDQUOT)
                )
            }
            _ => false,
        };
        let reason = e.to_string();
        tracing::error!(
            dir = %self.shared.dir.display(),
            error = %reason,
            no_space,
            "write-ahead log cannot write; refusing writes (reads go on) until the disk accepts them again"
        );
        *self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Failure {
            dir: self.shared.dir.clone(),
            no_space,
            reason: reason.clone(),
        });
        self.needs_restore = true;
        self.restore();
        reason
    }

    /// Reopens the current segment and cuts it back to its last synced length.
    fn restore(&mut self) {
        let path = segment_path(&self.shared.dir, *self.segments.last().unwrap());
        let reopened = OpenOptions::new().append(true).open(&path).and_then(|f| {
            f.set_len(self.file_len)
                .and_then(|()| f.sync_all())
                .map(|()| f)
        });
        match reopened {
            Ok(f) => {
                self.file = f;
                self.needs_restore = false;
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot cut the log back yet; will retry")
            }
        }
    }

    /// In read-only mode, at most every [`PROBE_EVERY`]: cut the segment back if that
    /// is still due, then write, sync and delete a probe file; if all of that works the
    /// disk accepts writes again and the log leaves read-only mode.
    fn probe(&mut self) {
        let Some(failure) = self.shared.failure() else {
            return;
        };
        if self.last_probe.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
            return;
        }
        self.last_probe = Some(std::time::Instant::now());
        if self.needs_restore {
            self.restore();
            if self.needs_restore {
                return;
            }
        }
        let path = self.shared.dir.join("probe.tmp");
        let written = (|| -> std::io::Result<()> {
            if let Some(errno) = self.injected_error(None) {
                return Err(std::io::Error::from_raw_os_error(errno));
            }
            use std::io::Write;
            let mut f = File::create(&path)?;
            f.write_all(&[0u8; 64 << 10])?;
            f.sync_data()?;
            Ok(())
        })();
        let _ = std::fs::remove_file(&path);
        if written.is_ok() {
            *self
                .shared
                .failure
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!(
                dir = %self.shared.dir.display(),
                was = %failure.reason,
                "the disk accepts writes again; write-ahead log writable"
            );
        }
    }

    /// An armed fault (chaos tests) that makes this log's writes fail with an errno.
    fn injected_error(&self, stage: Option<crate::faults::LogStage>) -> Option<i32> {
        self.opts
            .shard
            .and_then(|shard| crate::faults::log_error(shard, stage))
    }

    /// Writes and syncs `self.buf`, whose first record is `first`.
    fn write(&mut self, first: Lsn) -> Result<(), WalError> {
        if self.file_len >= self.opts.segment_bytes {
            self.open_segment(first)?;
        }
        let path = segment_path(&self.shared.dir, *self.segments.last().unwrap());
        use crate::faults::LogStage;
        let shard = self.opts.shard;
        let injected = move |stage| {
            let errno = shard.and_then(|shard| crate::faults::log_error(shard, Some(stage)));
            errno.map_or(Ok(()), |e| Err(std::io::Error::from_raw_os_error(e)))
        };
        injected(LogStage::Write).map_err(io(&path))?;
        use std::io::Write;
        self.file.write_all(&self.buf).map_err(io(&path))?;
        if let Some(stall) = self.opts.shard.and_then(crate::faults::take_slow_sync) {
            std::thread::sleep(stall);
        }
        injected(LogStage::Sync).map_err(io(&path))?;
        self.file.sync_data().map_err(io(&path))?;
        let s = &self.shared;
        self.file_len += self.buf.len() as u64;
        s.records
            .fetch_add(self.next_lsn - first, Ordering::Relaxed);
        s.flushes.fetch_add(1, Ordering::Relaxed);
        s.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        // Published before the callbacks run, so they observe their own LSNs as durable.
        s.last_lsn.store(self.next_lsn - 1, Ordering::Release);
        Ok(())
    }

    fn truncate_through(&mut self, lsn: Lsn) {
        // Segment i holds records segments[i]..segments[i+1]-1; the last is never removed.
        while self.segments.len() > 1 && self.segments[1] - 1 <= lsn {
            let path = segment_path(&self.shared.dir, self.segments[0]);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "could not delete an old write-ahead log segment; will retry at the next checkpoint"
                );
                break;
            }
            self.segments.remove(0);
        }
        self.shared
            .segments
            .store(self.segments.len() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Visited = Vec<(Lsn, Vec<u8>)>;
    type Done = Result<RangeInclusive<Lsn>, String>;

    fn open(dir: &Path, opts: WalOptions, after: Lsn) -> Result<(Wal, Visited), WalError> {
        let mut seen = Vec::new();
        let visit = |lsn, p: &[u8]| {
            seen.push((lsn, p.to_vec()));
            Ok::<(), String>(())
        };
        match Wal::open(dir, opts, after, visit) {
            Ok(wal) => Ok((wal, seen)),
            Err(OpenError::Wal(e)) => Err(e),
            Err(OpenError::Visit(e)) => panic!("{e}"),
        }
    }

    fn small() -> WalOptions {
        WalOptions {
            segment_bytes: 200,
            ..WalOptions::default()
        }
    }

    fn payload(i: u64) -> Vec<u8> {
        format!("record-{i:04}-{}", "x".repeat(i as usize % 7)).into_bytes()
    }

    fn records(lsns: RangeInclusive<Lsn>) -> Visited {
        lsns.map(|i| (i, payload(i))).collect()
    }

    /// Appends without waiting; the result arrives on `tx`.
    fn send(wal: &Wal, payloads: Vec<Vec<u8>>, tx: &mpsc::Sender<Done>) {
        let tx = tx.clone();
        wal.append(payloads, Box::new(move |r| tx.send(r).unwrap()))
            .unwrap();
    }

    fn append_wait(wal: &Wal, payloads: Vec<Vec<u8>>) -> RangeInclusive<Lsn> {
        let (tx, rx) = mpsc::channel();
        send(wal, payloads, &tx);
        rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap()
    }

    /// Writes records 1..=n, one flush each; returns the segment paths.
    fn fill(dir: &Path, opts: WalOptions, n: u64) -> Vec<PathBuf> {
        let (wal, _) = open(dir, opts, 0).unwrap();
        (1..=n).for_each(|i| assert_eq!(append_wait(&wal, vec![payload(i)]), i..=i));
        list_segments(dir)
            .unwrap()
            .into_iter()
            .map(|f| segment_path(dir, f))
            .collect()
    }

    fn corrupt_at(result: Result<(Wal, Visited), WalError>) -> (PathBuf, u64, String) {
        match result.err() {
            Some(e @ WalError::Corrupt { .. }) => {
                let text = e.to_string();
                let WalError::Corrupt { file, offset, .. } = e else {
                    unreachable!()
                };
                (file, offset, text)
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    fn edit(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
        let mut data = std::fs::read(path).unwrap();
        change(&mut data);
        std::fs::write(path, data).unwrap();
    }

    fn record_len(i: u64) -> usize {
        HEADER_BYTES + payload(i).len()
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 42, b"hello");
        let whole = Decoded::Record {
            lsn: 42,
            payload: &b"hello"[..],
            len: HEADER_BYTES + 5,
        };
        assert_eq!(decode_record(&buf), whole);
        assert_eq!(decode_record(&buf[..buf.len() - 1]), Decoded::Incomplete);
        assert_eq!(decode_record(&buf[..10]), Decoded::Incomplete);
        buf[HEADER_BYTES + 1] ^= 1;
        assert_eq!(decode_record(&buf), Decoded::BadChecksum);
        buf[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_record(&buf), Decoded::TooLong(u32::MAX));
    }

    #[test]
    fn append_reopen_round_trip_and_after_lsn_skips() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, seen) = open(tmp.path(), WalOptions::default(), 0).unwrap();
        assert!(seen.is_empty());
        assert_eq!(append_wait(&wal, vec![payload(1)]), 1..=1);
        assert_eq!(
            append_wait(&wal, vec![payload(2), payload(3), payload(4)]),
            2..=4
        );
        assert!(append_wait(&wal, vec![]).is_empty());
        assert_eq!(wal.last_lsn(), 4);
        drop(wal);
        let (wal, seen) = open(tmp.path(), WalOptions::default(), 0).unwrap();
        assert_eq!(seen, records(1..=4));
        assert_eq!(append_wait(&wal, vec![payload(5)]), 5..=5);
        drop(wal);
        assert_eq!(
            open(tmp.path(), WalOptions::default(), 3).unwrap().1,
            records(4..=5)
        );
    }

    #[test]
    fn empty_log_numbers_after_the_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = open(tmp.path(), WalOptions::default(), 10).unwrap();
        assert_eq!(wal.last_lsn(), 10);
        assert_eq!(append_wait(&wal, vec![payload(11)]), 11..=11);
        drop(wal);
        assert_eq!(
            open(tmp.path(), WalOptions::default(), 10).unwrap().1,
            records(11..=11)
        );
    }

    #[test]
    fn concurrent_appenders_get_consecutive_lsns_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = open(tmp.path(), WalOptions::default(), 0).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::scope(|s| {
            for t in 0..8 {
                let (wal, order, done_tx) = (&wal, &order, &done_tx);
                s.spawn(move || {
                    for i in 0..500 {
                        let (order, done_tx) = (Arc::clone(order), done_tx.clone());
                        let cb = move |r: Done| {
                            order.lock().unwrap().push(*r.unwrap().start());
                            done_tx.send(()).unwrap();
                        };
                        wal.append(vec![payload(t * 1000 + i)], Box::new(cb))
                            .unwrap();
                    }
                });
            }
        });
        (0..4000).for_each(|_| done_rx.recv_timeout(Duration::from_secs(30)).unwrap());
        assert_eq!(*order.lock().unwrap(), (1..=4000).collect::<Vec<_>>());
        let stats = wal.stats();
        assert_eq!((stats.records, wal.last_lsn()), (4000, 4000));
        eprintln!("8 threads x 500 appends: {} flushes", stats.flushes);
    }

    #[test]
    fn queued_appends_share_one_flush() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = open(tmp.path(), WalOptions::default(), 0).unwrap();
        // The first callback holds the flusher until the burst is queued, so the burst
        // is necessarily gathered into one flush.
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel();
        let first_tx = tx.clone();
        let hold = move |r| {
            release_rx.recv().unwrap();
            first_tx.send(r).unwrap();
        };
        wal.append(vec![payload(1)], Box::new(hold)).unwrap();
        (2..=1001).for_each(|i| send(&wal, vec![payload(i)], &tx));
        release_tx.send(()).unwrap();
        for lsn in 1..=1001 {
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(10)).unwrap(),
                Ok(lsn..=lsn)
            );
        }
        // 1 if the flusher only woke after the whole burst was queued.
        assert_eq!(wal.stats().records, 1001);
        assert!(wal.stats().flushes <= 2, "{:?}", wal.stats());
    }

    #[test]
    fn rotation_and_reopen_across_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let segs = fill(tmp.path(), small(), 40);
        assert!(segs.len() >= 4, "only {} segments", segs.len());
        let (wal, seen) = open(tmp.path(), small(), 0).unwrap();
        assert_eq!(seen, records(1..=40));
        assert_eq!(wal.stats().segments, segs.len() as u64);
        assert_eq!(append_wait(&wal, vec![payload(41)]), 41..=41);
    }

    #[test]
    fn truncate_through_deletes_only_covered_segments() {
        let tmp = tempfile::tempdir().unwrap();
        fill(tmp.path(), small(), 40);
        let firsts = list_segments(tmp.path()).unwrap();
        let (wal, _) = open(tmp.path(), small(), 0).unwrap();
        // Segment 1 ends at firsts[2] - 1, so it and segment 0 are covered; 2 is not.
        wal.truncate_through(firsts[2]);
        append_wait(&wal, vec![payload(41)]); // acknowledged after the truncation
                                              // (41 may have started a segment of its own.)
        let left = list_segments(tmp.path()).unwrap();
        assert_eq!(left[..firsts.len() - 2], firsts[2..]);
        wal.truncate_through(u64::MAX);
        append_wait(&wal, vec![payload(42)]);
        let left = list_segments(tmp.path()).unwrap();
        assert_eq!(left.len(), 1, "the segment being written stays");
        drop(wal);
        // The checkpoint must hold everything the deleted segments held.
        corrupt_at(open(tmp.path(), small(), firsts[2]));
        assert_eq!(
            open(tmp.path(), small(), left[0] - 1).unwrap().1,
            records(left[0]..=42)
        );
    }

    #[test]
    fn torn_tail_is_cut_off_and_numbering_continues() {
        let mut partial = Vec::new();
        encode_record(&mut partial, 21, b"never acknowledged");
        partial.truncate(partial.len() - 3);
        let mut bad_crc = Vec::new();
        encode_record(&mut bad_crc, 21, b"half written");
        *bad_crc.last_mut().unwrap() ^= 0xff;
        bad_crc.extend_from_slice(&[0; 7]);
        for tail in [partial, vec![0; 4096], bad_crc] {
            let tmp = tempfile::tempdir().unwrap();
            let last = fill(tmp.path(), small(), 20).pop().unwrap();
            let len = std::fs::metadata(&last).unwrap().len();
            edit(&last, |data| data.extend_from_slice(&tail));
            let (wal, seen) = open(tmp.path(), small(), 0).unwrap();
            assert_eq!(
                (seen.len(), std::fs::metadata(&last).unwrap().len()),
                (20, len)
            );
            assert_eq!(append_wait(&wal, vec![payload(21)]), 21..=21);
            drop(wal);
            assert_eq!(open(tmp.path(), small(), 0).unwrap().1, records(1..=21));
        }
    }

    /// Offset of the `n`th (0-based) one-record group of a segment written by `fill`.
    fn group_at(first: Lsn, n: u64) -> usize {
        SEGMENT_MAGIC.len()
            + (first..first + n)
                .map(|i| record_len(i) + TRAILER_BYTES)
                .sum::<usize>()
    }

    #[test]
    fn flipped_byte_in_earlier_segment_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let segs = fill(tmp.path(), small(), 40);
        let (first, seg) = (list_segments(tmp.path()).unwrap()[1], &segs[1]);
        let at = group_at(first, 1);
        edit(seg, |data| data[at + HEADER_BYTES + 2] ^= 0x40);
        let (file, offset, text) = corrupt_at(open(tmp.path(), small(), 0));
        assert_eq!((&file, offset), (seg, at as u64));
        assert!(text.contains(&format!("{} is corrupted at byte {at}", seg.display())));
        assert!(text.contains("backup"), "{text}");
        // Damage below `after_lsn` is still found.
        corrupt_at(open(tmp.path(), small(), 40));
    }

    #[test]
    fn flipped_byte_mid_last_segment_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let seg = fill(tmp.path(), WalOptions::default(), 10).pop().unwrap();
        let at = group_at(1, 1);
        edit(&seg, |data| data[at + 9] ^= 1); // record 2's LSN field
        let (file, offset, text) = corrupt_at(open(tmp.path(), WalOptions::default(), 0));
        assert_eq!((file, offset), (seg, at as u64));
        assert!(
            text.contains("committed group of records follows"),
            "{text}"
        );
    }

    /// A segment starting at record 1 with one group per slice of LSNs.
    fn segment_of(groups: &[&[Lsn]]) -> Vec<u8> {
        let mut buf = SEGMENT_MAGIC.to_vec();
        for group in groups {
            let start = buf.len();
            group
                .iter()
                .for_each(|&lsn| encode_record(&mut buf, lsn, &payload(lsn)));
            encode_trailer(&mut buf, start, group[0], group.len() as u32);
        }
        buf
    }

    #[test]
    fn damage_before_a_committed_group_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let path = segment_path(tmp.path(), 1);
        // A committed group that skips record 3.
        std::fs::write(&path, segment_of(&[&[1], &[2], &[4, 5]])).unwrap();
        let gap = group_at(1, 2) as u64;
        let (_, offset, text) = corrupt_at(open(tmp.path(), WalOptions::default(), 0));
        assert_eq!(offset, gap, "{text}");
        assert!(
            text.contains("record number 4 where 3 was expected"),
            "{text}"
        );
        // An absurd length in a group that a committed group follows.
        let mut data = segment_of(&[&[1], &[2], &[3]]);
        let second = group_at(1, 1);
        data[second..second + 4].copy_from_slice(&(MAX_RECORD_BYTES + 1).to_le_bytes());
        std::fs::write(&path, &data).unwrap();
        let (_, offset, text) = corrupt_at(open(tmp.path(), WalOptions::default(), 0));
        assert_eq!(offset, second as u64, "{text}");
        // The same damage in the last group is a torn write: cut off.
        let mut data = segment_of(&[&[1], &[2]]);
        data[second..second + 4].copy_from_slice(&(MAX_RECORD_BYTES + 1).to_le_bytes());
        std::fs::write(&path, &data).unwrap();
        let (wal, seen) = open(tmp.path(), WalOptions::default(), 0).unwrap();
        assert_eq!((seen, wal.last_lsn()), (records(1..=1), 1));
    }

    #[test]
    fn a_log_in_the_old_format_is_refused_clearly() {
        let tmp = tempfile::tempdir().unwrap();
        let mut old = Vec::new();
        (1..=3).for_each(|lsn| encode_record(&mut old, lsn, &payload(lsn)));
        let path = segment_path(tmp.path(), 1);
        std::fs::write(&path, &old).unwrap();
        let err = open(tmp.path(), WalOptions::default(), 0).err().unwrap();
        assert!(matches!(err, WalError::OldFormat { .. }), "{err:?}");
        assert!(err.to_string().contains("older version"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), old, "nothing was changed");
    }

    #[test]
    fn a_segment_whose_header_never_reached_the_disk_is_dropped() {
        for header in [&b""[..], &SEGMENT_MAGIC[..7], &[0u8; 16][..]] {
            let tmp = tempfile::tempdir().unwrap();
            fill(tmp.path(), small(), 20);
            // The segment the next flush would have started.
            std::fs::write(segment_path(tmp.path(), 21), header).unwrap();
            let (wal, seen) = open(tmp.path(), small(), 0).unwrap();
            assert_eq!(seen, records(1..=20));
            assert_eq!(append_wait(&wal, vec![payload(21)]), 21..=21);
            drop(wal);
            assert_eq!(open(tmp.path(), small(), 0).unwrap().1, records(1..=21));
        }
    }

    /// The property of issue 15: whatever part of the last flush group reached the disk
    /// (any prefix of its bytes, or any subset of its 512-byte sectors, the others
    /// keeping what they held before the write), start-up succeeds without an operator
    /// and yields exactly the acknowledged records, plus the whole group only when all
    /// of it arrived; and the log then takes writes that survive a reopen.
    #[test]
    fn every_torn_last_group_recovers_exactly_the_acknowledged_records() {
        const SECTOR: usize = 512;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let acked = 30;
        let seg = fill(&dir, WalOptions::default(), acked).pop().unwrap();
        let durable = std::fs::read(&seg).unwrap();
        // The last group: 7 records of varied sizes across several sectors, starting
        // inside the sector that holds the end of the acknowledged data.
        let mut group = Vec::new();
        let lsns = acked + 1..=acked + 7;
        lsns.clone().for_each(|i| {
            let p = format!("torn-{i}-{}", "y".repeat((i as usize * 53) % 300));
            encode_record(&mut group, i, p.as_bytes());
        });
        encode_trailer(&mut group, 0, acked + 1, 7);
        let full: Vec<u8> = [durable.clone(), group.clone()].concat();
        let first_sector = durable.len() / SECTOR;
        let sectors = full.len().div_ceil(SECTOR) - first_sector;
        assert!((3..=8).contains(&sectors), "{sectors} sectors");

        let check = |image: &[u8], complete: bool, what: &str| {
            std::fs::remove_dir_all(&dir).ok();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&seg, image).unwrap();
            let (wal, seen) = open(&dir, WalOptions::default(), 0)
                .unwrap_or_else(|e| panic!("{what}: start-up failed: {e}"));
            let expected = if complete { acked + 7 } else { acked };
            assert_eq!(seen.len() as u64, expected, "{what}");
            assert!(
                seen.iter()
                    .take(acked as usize)
                    .eq(records(1..=acked).iter()),
                "{what}"
            );
            assert_eq!(
                append_wait(&wal, vec![payload(expected + 1)]),
                expected + 1..=expected + 1,
                "{what}"
            );
            drop(wal);
            let (_, again) = open(&dir, WalOptions::default(), 0).unwrap();
            assert_eq!(again.len() as u64, expected + 1, "{what}: reopen");
        };
        for cut in durable.len()..=full.len() {
            check(
                &full[..cut],
                cut == full.len(),
                &format!("cut at byte {cut}"),
            );
        }
        for subset in 0u32..1 << sectors {
            // Unwritten sectors read as what they held: the durable bytes, then zeros.
            let mut image = durable.clone();
            image.resize(full.len(), 0);
            for s in (0..sectors).filter(|s| subset & (1 << s) != 0) {
                let range =
                    (first_sector + s) * SECTOR..((first_sector + s + 1) * SECTOR).min(full.len());
                image[range.clone()].copy_from_slice(&full[range]);
            }
            let complete = subset == (1 << sectors) - 1;
            check(
                &image,
                complete,
                &format!("sectors {subset:0w$b}", w = sectors),
            );
        }
    }

    #[test]
    fn a_failed_sync_is_not_acknowledged_and_its_bytes_are_cut_back() {
        use crate::faults::{arm, FaultPoint, LogStage};
        let tmp = tempfile::tempdir().unwrap();
        // A shard number no other test uses: fault points are process-wide.
        let opts = WalOptions {
            shard: Some(9_001),
            ..WalOptions::default()
        };
        let (wal, _) = open(tmp.path(), opts.clone(), 0).unwrap();
        assert_eq!(append_wait(&wal, (1..=3).map(payload).collect()), 1..=3);
        let seg = segment_path(tmp.path(), 1);
        let synced = std::fs::metadata(&seg).unwrap().len();
        let fault = |ms| FaultPoint::LogError {
            shard: 9_001,
            errno: 5,
            ms,
            stage: LogStage::Sync,
        };
        arm(fault(600_000));
        let (tx, rx) = mpsc::channel();
        send(&wal, vec![payload(4)], &tx);
        let refused = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(refused.unwrap_err().contains("Input/output error"));
        assert!(wal.failure().is_some_and(|f| !f.no_space));
        // The write reached the page cache, whose fate is unknown after a failed
        // fdatasync: the file was cut back to what the last good sync covered.
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), synced);
        send(&wal, vec![payload(4)], &tx);
        assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap().is_err());
        arm(fault(0));
        let deadline = Instant::now() + Duration::from_secs(10);
        while wal.failure().is_some() {
            assert!(
                Instant::now() < deadline,
                "the probe never cleared the fault"
            );
            wal.probe();
            std::thread::sleep(Duration::from_millis(20));
        }
        // Nothing refused was numbered: the next record is 4 again.
        assert_eq!(append_wait(&wal, vec![payload(4)]), 4..=4);
        drop(wal);
        assert_eq!(open(tmp.path(), opts, 0).unwrap().1, records(1..=4));
    }

    #[test]
    fn locked_dir_waits_then_fails_and_opens_after_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let (first, _) = open(tmp.path(), WalOptions::default(), 0).unwrap();
        let short = WalOptions {
            lock_wait: Duration::from_millis(50),
            ..WalOptions::default()
        };
        let started = Instant::now();
        let err = open(tmp.path(), short, 0).err().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(matches!(err, WalError::Locked { .. }), "{err:?}");
        assert!(err.to_string().contains("--data-dir"));
        append_wait(&first, vec![payload(1)]);
        drop(first);
        assert_eq!(
            open(tmp.path(), WalOptions::default(), 0).unwrap().1,
            records(1..=1)
        );
    }

    #[test]
    fn dropping_the_wal_flushes_queued_appends() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = open(tmp.path(), WalOptions::default(), 0).unwrap();
        let (tx, rx) = mpsc::channel();
        (1..=100).for_each(|i| send(&wal, vec![payload(i)], &tx));
        drop(wal);
        for lsn in 1..=100 {
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(10)).unwrap(),
                Ok(lsn..=lsn)
            );
        }
        assert_eq!(
            open(tmp.path(), WalOptions::default(), 0).unwrap().1,
            records(1..=100)
        );
    }
}
