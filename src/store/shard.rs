//! One shard's storage engine: write-ahead log first, then the in-memory write log, then
//! folded into an immutable snapshot that is published atomically.
//!
//! Invariants:
//! - A write is acknowledged only from the log's durability callback, i.e. after the
//!   fdatasync covering its record ([`ShardCore::submit`]).
//! - Records enter the write log in LSN order (callbacks run in LSN order on the one
//!   flusher thread), so folding them in order reproduces exactly what replay would.
//! - The published snapshot only moves forward (`lsn` never decreases).
//! - A commit applied ahead of its record ([`ShardCore::commit_ahead`]) changes the
//!   snapshot exactly as replay will: it is only done when no record that changes data
//!   is logged but unfolded, and its commit record is appended before any later one.

use crate::graph::snapshot::{Record, VectorChange};
use crate::graph::{ConceptId, GraphSnapshot, KbTag, ShardId, TxId};
use crate::index::{IndexError, IndexParams, VectorIndex};
use crate::protocol::codec;
use crate::store::{checkpoint, wal};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Why a shard could not open or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write-ahead log failed.
    #[error("shard {shard}: {source}")]
    Wal {
        /// Shard.
        shard: ShardId,
        /// Cause.
        #[source]
        source: wal::WalError,
    },
    /// The checkpoint failed.
    #[error("shard {shard}: {source}")]
    Checkpoint {
        /// Shard.
        shard: ShardId,
        /// Cause.
        #[source]
        source: checkpoint::CheckpointError,
    },
    /// The vector index could not be loaded or saved.
    #[error("shard {shard}: {source}")]
    Index {
        /// Shard.
        shard: ShardId,
        /// Cause.
        #[source]
        source: IndexError,
    },
    /// The saved vector index is older than the checkpoint, so vectors are missing.
    #[error("shard {shard}: {detail} in {dir}; restore the data directory from a backup (vectors cannot be recovered from the checkpoint alone)")]
    IndexBehind {
        /// Shard.
        shard: ShardId,
        /// Directory.
        dir: PathBuf,
        /// What is missing.
        detail: String,
    },
    /// A record passed its checksum but could not be decoded.
    #[error("shard {shard}: {what} in {dir} passed its checksum but cannot be decoded ({detail}); it was written by an incompatible version of Sutra or the data directory is damaged: restore it from a backup")]
    Decode {
        /// Shard.
        shard: ShardId,
        /// Which file(s).
        dir: PathBuf,
        /// Log record or checkpoint.
        what: &'static str,
        /// Decoder message.
        detail: String,
    },
}

/// A knowledge base with at most this many vectors on a shard is searched by comparing
/// them all (exact; 4K dot products of 384 floats take well under a millisecond).
const EXHAUSTIVE_SEARCH_UP_TO: usize = 4096;

/// Records made durable but not yet folded, with their LSNs.
type WriteLog = Mutex<Vec<(u64, Record)>>;

/// What [`ShardCore::commit_ahead`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ahead {
    /// Applied and published; the caller appends the commit record next.
    Applied,
    /// Nothing prepared under that txid (a repeated delivery: already applied).
    NotPrepared,
    /// A record that changes data is logged but not yet durable, so it is not folded
    /// yet: applying the commit ahead of it would order them unlike replay. Log the
    /// commit and wait for it instead.
    Busy,
}

/// Whether folding `record` can change data (not just the prepared set). A commit is
/// counted whatever it finds prepared; only commits applied ahead are not.
fn changes_data(record: &Record) -> bool {
    matches!(record, Record::Apply(_) | Record::Commit(_))
}

/// A shard's log, write log and published snapshot.
pub struct ShardCore {
    shard: ShardId,
    dir: PathBuf,
    wal: wal::Wal,
    pending: Arc<WriteLog>,
    published: ArcSwap<GraphSnapshot>,
    /// The shard's embeddings, kept in step with `published` by every fold (under the
    /// fold lock); searches take the read side.
    vectors: RwLock<VectorIndex>,
    index_load_ms: u64,
    /// Serializes folds so two never interleave their take-apply-publish steps.
    fold_lock: Mutex<()>,
    folds: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_lsn: AtomicU64,
    recovery_ms: u64,
    /// Set when a folded record removed something (a delete or a forget): the removed
    /// text is still in log segments, the checkpoint and the vector file until
    /// [`ShardCore::erase`] runs. The reconciler runs it while this is set.
    erase_wanted: AtomicBool,
    /// Vectors removed from the index since it was last compacted.
    vectors_removed: AtomicU64,
    /// One checkpoint at a time (the reconciler's, an erase's, a clean stop's): they
    /// share the temporary file names.
    checkpoint_lock: Mutex<()>,
    /// Serializes erases, so concurrent deletes share one.
    erase_lock: Mutex<()>,
    /// The log position through which everything removed is off the disk.
    erased_through: AtomicU64,
    /// Records that change data ([`changes_data`]), submitted and not yet durable (so
    /// not yet in `pending`). While any is, no commit is applied ahead.
    data_in_flight: Arc<AtomicU64>,
    /// The last version a commit applied ahead stamped (see
    /// [`ShardCore::commit_ahead`]).
    ahead_version: AtomicU64,
    /// Transactions committed here that the coordinator may not have durably recorded
    /// yet, with when we learned of each. While it has not, a coordinator restart may
    /// ask whether this shard holds the transaction ([`ShardCore::holds`]); the answer
    /// must stay yes even after a checkpoint drops the records and the shard restarts,
    /// so a checkpoint re-logs their commit records and the open collects them again.
    unconfirmed: Mutex<HashMap<TxId, Instant>>,
}

impl ShardCore {
    /// Opens shard `shard` in `dir`: loads the checkpoint, replays the log after it, and
    /// publishes the result. Takes the log's lock, waiting for a previous owner in this
    /// process (a killed actor's flusher finishing its queue) to release it.
    pub fn open(shard: ShardId, dir: &Path, opts: wal::WalOptions) -> Result<Self, StoreError> {
        let started = Instant::now();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Wal {
            shard,
            source: wal::WalError::Io {
                path: dir.to_path_buf(),
                source: e,
            },
        })?;
        let read =
            checkpoint::read(dir).map_err(|source| StoreError::Checkpoint { shard, source })?;
        let read_ms = started.elapsed().as_millis() as u64;
        let mut snap = match read {
            // Handed over, not copied: the snapshot keeps association lists encoded in
            // it until first use (see `AssocList::Lazy`).
            Some((_, bytes)) => {
                GraphSnapshot::decode_checkpoint_owned(bytes).map_err(|e| StoreError::Decode {
                    shard,
                    dir: dir.to_path_buf(),
                    what: "the checkpoint",
                    detail: e.to_string(),
                })?
            }
            None => GraphSnapshot::default(),
        };
        let checkpoint_lsn = snap.lsn;
        let decode_ms = started.elapsed().as_millis() as u64 - read_ms;
        let index_started = Instant::now();
        let index_err = |source| StoreError::Index { shard, source };
        let saved = VectorIndex::load_latest(dir, IndexParams::default()).map_err(index_err)?;
        let from_disk = saved.is_some();
        let mut vectors = match saved {
            Some((index, index_lsn)) => {
                // Saved before its checkpoint, so never behind it; replay from the
                // checkpoint re-applies changes idempotently (see crate::index).
                if index_lsn < checkpoint_lsn {
                    return Err(StoreError::IndexBehind {
                        shard,
                        dir: dir.to_path_buf(),
                        detail: format!(
                            "the vector index covers the log through {index_lsn} but the checkpoint through {checkpoint_lsn}"
                        ),
                    });
                }
                index
            }
            None => {
                if snap.vectors > 0 {
                    return Err(StoreError::IndexBehind {
                        shard,
                        dir: dir.to_path_buf(),
                        detail: "the checkpoint has concepts with vectors but no vectors-*.usearch file is present".into(),
                    });
                }
                VectorIndex::new(IndexParams::default()).map_err(index_err)?
            }
        };
        let index_load_ms = index_started.elapsed().as_millis() as u64;
        let mut index_failure = None;
        let loaded_vectors = vectors.len();
        let mut replayed_vectors = 0usize;
        let mut replayed_removals = false;
        // Every commit in the replayed log may be one the coordinator has not recorded
        // yet (over-approximated: the first status query drops the others).
        let mut unconfirmed = HashMap::new();
        let long_ago = Instant::now();
        let wal = wal::Wal::open(dir, opts, snap.lsn, |lsn, bytes| {
            let record: Record = codec::decode(bytes).map_err(|e| e.to_string())?;
            if let Record::Commit(txid) = record {
                unconfirmed.insert(txid, long_ago);
            }
            replayed_removals |= snap.record_removes(&record);
            snap.apply_record_with(lsn, &record, &mut |change| match apply_vector(
                &mut vectors,
                change,
            ) {
                Ok(true) => replayed_vectors += 1,
                Ok(false) => {}
                Err(e) => {
                    index_failure.get_or_insert(e);
                }
            });
            Ok::<(), String>(())
        })
        .map_err(|e| match e {
            wal::OpenError::Wal(source) => StoreError::Wal { shard, source },
            wal::OpenError::Visit(detail) => StoreError::Decode {
                shard,
                dir: dir.to_path_buf(),
                what: "a write-ahead log record",
                detail,
            },
        })?;
        if let Some(e) = index_failure {
            return Err(index_err(e));
        }
        let recovery_ms = started.elapsed().as_millis() as u64;
        if from_disk {
            tracing::info!(
                shard,
                loaded_vectors,
                index_load_ms,
                replayed_vectors,
                "vector index loaded from disk, not rebuilt (only vectors logged after its save were replayed)"
            );
            crate::events::emit(crate::events::EventKind::HnswIndexLoaded {
                shard,
                vectors: (loaded_vectors + replayed_vectors) as u64,
                ms: index_load_ms as f64,
            });
        } else if replayed_vectors > 0 {
            tracing::info!(
                shard,
                replayed_vectors,
                "no saved vector index yet (none since the last checkpoint); vectors replayed from the log"
            );
            crate::events::emit(crate::events::EventKind::HnswIndexBuilt {
                shard,
                vectors: replayed_vectors as u64,
                ms: index_started.elapsed().as_secs_f64() * 1000.0,
            });
        }
        tracing::info!(
            shard,
            concepts = snap.concepts,
            lsn = snap.lsn,
            checkpoint_lsn,
            checkpoint_read_ms = read_ms,
            checkpoint_decode_ms = decode_ms,
            recovery_ms,
            "shard opened (checkpoint loaded, log replayed)"
        );
        crate::events::emit(crate::events::EventKind::ReconciliationComplete {
            shard,
            folded: snap.lsn.saturating_sub(checkpoint_lsn),
            ms: recovery_ms as f64,
        });
        Ok(ShardCore {
            shard,
            dir: dir.to_path_buf(),
            wal,
            pending: Arc::new(Mutex::new(Vec::new())),
            published: ArcSwap::from_pointee(snap),
            vectors: RwLock::new(vectors),
            index_load_ms,
            fold_lock: Mutex::new(()),
            folds: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            checkpoint_lsn: AtomicU64::new(checkpoint_lsn),
            recovery_ms,
            // A removal replayed from the log may still be on disk (the process died
            // before erasing it): erase again.
            erase_wanted: AtomicBool::new(replayed_removals),
            vectors_removed: AtomicU64::new(u64::from(replayed_removals)),
            checkpoint_lock: Mutex::new(()),
            erase_lock: Mutex::new(()),
            erased_through: AtomicU64::new(0),
            data_in_flight: Arc::new(AtomicU64::new(0)),
            ahead_version: AtomicU64::new(0),
            unconfirmed: Mutex::new(unconfirmed),
        })
    }

    /// The shard's index.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// Queues records for the log. `done` runs once they are durable (with the last
    /// LSN) and already in the write log, or with an error text if the log failed.
    /// Never blocks on I/O.
    pub fn submit(
        &self,
        records: Vec<Record>,
        done: impl FnOnce(Result<u64, String>) + Send + 'static,
    ) -> Result<(), wal::WalError> {
        let data = records.iter().filter(|r| changes_data(r)).count() as u64;
        self.append(records, data, done)
    }

    /// [`ShardCore::submit`], counting `data` of the records as changing data.
    fn append(
        &self,
        records: Vec<Record>,
        data: u64,
        done: impl FnOnce(Result<u64, String>) + Send + 'static,
    ) -> Result<(), wal::WalError> {
        let payloads = records.iter().map(codec::encode).collect();
        let pending = Arc::clone(&self.pending);
        let in_flight = Arc::clone(&self.data_in_flight);
        in_flight.fetch_add(data, Ordering::AcqRel);
        let appended = self.wal.append(
            payloads,
            Box::new(move |result| {
                match result {
                    Ok(range) => {
                        let last = *range.end();
                        let mut log = pending.lock().unwrap_or_else(|e| e.into_inner());
                        log.extend(range.zip(records));
                        drop(log);
                        // Only once they are in `pending`: a commit ahead folds them first.
                        in_flight.fetch_sub(data, Ordering::AcqRel);
                        done(Ok(last));
                    }
                    Err(e) => {
                        in_flight.fetch_sub(data, Ordering::AcqRel);
                        done(Err(e));
                    }
                }
            }),
        );
        if appended.is_err() {
            self.data_in_flight.fetch_sub(data, Ordering::AcqRel);
        }
        appended
    }

    /// Parallel commit: makes the prepared ops of `txid` visible now, ahead of its
    /// commit record, which the caller must append next ([`ShardCore::log_commit`])
    /// before anything else. Never waits for a sync.
    ///
    /// Why it replays the same: replay applies records in LSN order, the commit's ops
    /// at its commit record. Applied ahead, they land after every folded record and
    /// before every record folded later. So it is only done when every record logged
    /// before the commit record that changes data is already folded: records that are
    /// durable but unfolded are folded first, and while one is not durable yet
    /// (`data_in_flight`) it answers [`Ahead::Busy`]. (An unfolded `Apply` with a
    /// deletion would otherwise fold after the commit in memory but replay before it,
    /// and a deleted fact could come back.) Prepares and aborts in flight change only
    /// the prepared set, and commits applied ahead fold as no-ops, so they commute.
    /// What the ops change is stamped with a version above every one stamped before
    /// and at most the commit record's LSN (which is above every folded record's and
    /// every earlier commit ahead's), so versions keep growing and stay unique.
    pub fn commit_ahead(&self, txid: TxId) -> Ahead {
        let _guard = self.fold_lock.lock().unwrap_or_else(|e| e.into_inner());
        // A log that refuses writes could not append the commit record behind it.
        if self.data_in_flight.load(Ordering::Acquire) > 0 || self.wal.failure().is_some() {
            return Ahead::Busy;
        }
        let mut next = self.folded_locked();
        if !next.prepared.contains_key(&txid) {
            return Ahead::NotPrepared;
        }
        let version = self.ahead_version.load(Ordering::Relaxed).max(next.lsn) + 1;
        self.ahead_version.store(version, Ordering::Relaxed);
        if next.record_removes(&Record::Commit(txid)) {
            self.erase_wanted.store(true, Ordering::Release);
        }
        {
            let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
            next.commit_ahead(txid, version, &mut |change| {
                self.vector_change(&mut vectors, change)
            });
            self.published.store(Arc::new(next));
        }
        self.unconfirmed_insert(txid);
        self.folds.fetch_add(1, Ordering::Relaxed);
        Ahead::Applied
    }

    /// Appends the commit record of a transaction applied ahead; `done` runs once it is
    /// durable. Not counted as changing data: it folds as a no-op.
    pub fn log_commit(
        &self,
        txid: TxId,
        done: impl FnOnce(Result<u64, String>) + Send + 'static,
    ) -> Result<(), wal::WalError> {
        self.append(vec![Record::Commit(txid)], 0, done)
    }

    /// Runs `done` once every record submitted so far is durable (an empty append).
    pub fn sync(
        &self,
        done: impl FnOnce(Result<u64, String>) + Send + 'static,
    ) -> Result<(), wal::WalError> {
        self.append(Vec::new(), 0, done)
    }

    /// Remembers that `txid` committed here before the coordinator recorded it durably.
    pub fn unconfirmed_insert(&self, txid: TxId) {
        self.unconfirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(txid)
            .or_insert_with(Instant::now);
    }

    /// The coordinator recorded `txid` durably (or forgot it, every participant's
    /// commit being durable): nobody will ask about it again.
    pub fn confirm(&self, txid: TxId) {
        self.unconfirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&txid);
    }

    /// Unconfirmed commits learned of at least `age` ago.
    pub fn unconfirmed_older_than(&self, age: std::time::Duration) -> Vec<TxId> {
        self.unconfirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, since)| since.elapsed() >= age)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Whether this shard holds `txid`: a durable prepare of it, or a commit of it the
    /// coordinator may not have recorded. (A prepare still in flight is not durable:
    /// no.) Folds first, so every durable prepare counts.
    pub fn holds(&self, txid: TxId) -> bool {
        self.fold();
        self.snapshot().prepared.contains_key(&txid)
            || self
                .unconfirmed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&txid)
    }

    /// The current published snapshot (never blocks writers).
    pub fn snapshot(&self) -> Arc<GraphSnapshot> {
        self.published.load_full()
    }

    /// Folds every durable record into a new snapshot and publishes it; returns how many
    /// records were folded.
    pub fn fold(&self) -> usize {
        let _guard = self.fold_lock.lock().unwrap_or_else(|e| e.into_inner());
        let records = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if records.is_empty() {
            return 0;
        }
        self.fold_records_locked(&records);
        records.len()
    }

    /// The published snapshot with every durable record folded in (published too when
    /// there was any). The fold lock must be held.
    fn folded_locked(&self) -> GraphSnapshot {
        let records = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if !records.is_empty() {
            self.fold_records_locked(&records);
        }
        GraphSnapshot::clone(&self.published.load())
    }

    /// Folds `records` into a new snapshot and publishes it. The fold lock must be held.
    fn fold_records_locked(&self, records: &[(u64, Record)]) {
        let mut next = GraphSnapshot::clone(&self.published.load());
        {
            // Write-locked only while this fold's vectors go in: searches wait at most
            // that long, and see the index and the snapshot move together.
            let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
            for (lsn, record) in records {
                if next.record_removes(record) {
                    self.erase_wanted.store(true, Ordering::Release);
                }
                next.apply_record_with(*lsn, record, &mut |change| {
                    self.vector_change(&mut vectors, change)
                });
            }
            self.published.store(Arc::new(next));
        }
        self.folds.fetch_add(1, Ordering::Relaxed);
    }

    fn vector_change(&self, vectors: &mut VectorIndex, change: VectorChange<'_>) {
        if let VectorChange::Remove(id) = change {
            if vectors.contains(id.0) {
                self.vectors_removed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Err(e) = apply_vector(vectors, change) {
            // Only usearch allocation failures get here; the vector stays in the log
            // and returns on the next restart's replay.
            tracing::error!(shard = self.shard, error = %e, "vector index update failed");
        }
    }

    /// Durable records not yet folded.
    pub fn unfolded(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Records folded since the last checkpoint.
    pub fn records_since_checkpoint(&self) -> u64 {
        self.snapshot()
            .lsn
            .saturating_sub(self.checkpoint_lsn.load(Ordering::Relaxed))
    }

    /// Writes the published snapshot as the checkpoint and drops the log segments it
    /// covers. Safe to run beside writes and folds: the snapshot is immutable.
    pub fn checkpoint(&self) -> Result<u64, StoreError> {
        self.write_checkpoint(self.snapshot())
    }

    /// [`ShardCore::checkpoint`] even when the snapshot has not moved since the last one
    /// (the index may have been compacted, the log rolled).
    fn checkpoint_forced(&self) -> Result<u64, StoreError> {
        let _one = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.write_checkpoint_locked(self.snapshot())
    }

    fn write_checkpoint(&self, snap: Arc<GraphSnapshot>) -> Result<u64, StoreError> {
        let _one = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if snap.lsn <= self.checkpoint_lsn.load(Ordering::Relaxed) {
            return Ok(snap.lsn);
        }
        self.write_checkpoint_locked(snap)
    }

    fn write_checkpoint_locked(&self, snap: Arc<GraphSnapshot>) -> Result<u64, StoreError> {
        self.relog_unconfirmed()?;
        // The index first: it must never be behind the checkpoint (see crate::index).
        let started = Instant::now();
        let saved = self
            .vectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .save(&self.dir, snap.lsn)
            .map_err(|source| StoreError::Index {
                shard: self.shard,
                source,
            })?;
        tracing::debug!(shard = self.shard, file = %saved.display(), ms = started.elapsed().as_millis() as u64, "vector index saved");
        let bytes = snap.encode_checkpoint();
        let stall = || {
            if let Some(stall) = crate::faults::take_checkpoint_stall(self.shard) {
                tracing::warn!(
                    shard = self.shard,
                    ms = stall.as_millis() as u64,
                    "injected fault: checkpoint stalls before its rename"
                );
                std::thread::sleep(stall);
            }
        };
        checkpoint::write_with(&self.dir, snap.lsn, &bytes, stall).map_err(|source| {
            StoreError::Checkpoint {
                shard: self.shard,
                source,
            }
        })?;
        self.checkpoint_lsn.fetch_max(snap.lsn, Ordering::Relaxed);
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        // Only after the checkpoint is durable may the records it covers go.
        self.wal.truncate_through(snap.lsn);
        tracing::debug!(
            shard = self.shard,
            lsn = snap.lsn,
            bytes = bytes.len(),
            "checkpoint written"
        );
        Ok(snap.lsn)
    }

    /// Appends a commit record for every unconfirmed commit and waits until they are
    /// durable, so they lie after any checkpoint of the current snapshot and the next
    /// open still finds them (they fold as no-ops: nothing is prepared under them by
    /// then, or the original commit record comes first).
    fn relog_unconfirmed(&self) -> Result<(), StoreError> {
        let txids: Vec<TxId> = self
            .unconfirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        if txids.is_empty() {
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let records = txids.into_iter().map(Record::Commit).collect();
        let wal_err = |source| StoreError::Wal {
            shard: self.shard,
            source,
        };
        self.append(records, 0, move |r| {
            let _ = tx.send(r);
        })
        .map_err(wal_err)?;
        match rx.recv() {
            Ok(Ok(_)) => Ok(()),
            _ => Err(wal_err(match self.wal.failure() {
                Some(failure) => wal::WalError::ReadOnly { failure },
                None => wal::WalError::Closed,
            })),
        }
    }

    /// Why this shard's log refuses writes, while it does (read-only mode).
    pub fn read_only(&self) -> Option<wal::Failure> {
        self.wal.failure()
    }

    /// In read-only mode, lets the log check whether the disk accepts writes again.
    pub fn probe_log(&self) {
        self.wal.probe();
    }

    /// Whether something removed may still be on disk ([`ShardCore::erase`] is due).
    pub fn erase_wanted(&self) -> bool {
        self.erase_wanted.load(Ordering::Acquire)
    }

    /// Makes sure nothing removed by a durable write so far is left in this shard's
    /// files: starts a new log segment, folds, compacts the vector index if vectors were
    /// removed (usearch's `remove` only relabels a slot; its bytes stay in every later
    /// save until compaction), writes a checkpoint and the index through the fold, and
    /// drops every log segment and older index file the checkpoint covers. Returns the
    /// checkpoint's log position. Concurrent calls share one erase.
    pub fn erase(&self) -> Result<u64, StoreError> {
        let target = self.wal.last_lsn();
        let _one = self.erase_lock.lock().unwrap_or_else(|e| e.into_inner());
        let done = self.erased_through.load(Ordering::Acquire);
        if done >= target && !self.erase_wanted() {
            return Ok(done);
        }
        // Cleared before the work: a removal folded meanwhile sets it again.
        self.erase_wanted.store(false, Ordering::Release);
        let result = self.erase_now();
        if result.is_err() {
            self.erase_wanted.store(true, Ordering::Release);
        }
        result
    }

    fn erase_now(&self) -> Result<u64, StoreError> {
        let started = Instant::now();
        let wal_err = |source| StoreError::Wal {
            shard: self.shard,
            source,
        };
        let rolled = self.wal.roll().map_err(wal_err)?;
        self.fold();
        if self.vectors_removed.swap(0, Ordering::AcqRel) > 0 {
            // No fold may change the index while its copy is built (searches go on).
            let _folds = self.fold_lock.lock().unwrap_or_else(|e| e.into_inner());
            let snap = self.snapshot();
            let keys: Vec<u64> = snap
                .nodes
                .iter()
                .filter(|(_, n)| n.concept.as_ref().is_some_and(|c| c.has_vector))
                .map(|(id, _)| id.0)
                .collect();
            let rebuild_started = Instant::now();
            let rebuilt = self
                .vectors
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .rebuilt(&keys, 2);
            match rebuilt {
                Ok(index) => {
                    *self.vectors.write().unwrap_or_else(|e| e.into_inner()) = index;
                    crate::events::emit(crate::events::EventKind::HnswIndexBuilt {
                        shard: self.shard,
                        vectors: keys.len() as u64,
                        ms: rebuild_started.elapsed().as_secs_f64() * 1000.0,
                    });
                }
                Err(source) => {
                    self.vectors_removed.fetch_add(1, Ordering::Relaxed);
                    return Err(StoreError::Index {
                        shard: self.shard,
                        source,
                    });
                }
            }
        }
        let lsn = self.checkpoint_forced()?;
        // The checkpoint queued the deletion of the covered segments: wait for it.
        self.wal.barrier();
        debug_assert!(lsn >= rolled, "the fold covers every rolled-away record");
        self.erased_through.fetch_max(lsn, Ordering::AcqRel);
        tracing::info!(
            shard = self.shard,
            lsn,
            ms = started.elapsed().as_millis() as u64,
            "removed data erased from disk (log rolled, index compacted, checkpoint rewritten)"
        );
        Ok(lsn)
    }

    /// The `k` concepts whose embeddings are most similar to `query` (unit length), with
    /// their cosine similarity, best first.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(ConceptId, f32)>, IndexError> {
        let hits = self
            .vectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .search(query, k)?;
        Ok(hits
            .into_iter()
            .map(|h| (ConceptId(h.key), h.similarity))
            .collect())
    }

    /// The `k` concepts of knowledge base `kb` (`None`: `default`) whose embeddings are
    /// most similar to `query`, best first. Only that knowledge base's vectors are ever
    /// candidates: a small one is compared exhaustively (exact, and cheap), a large one
    /// searched with the knowledge base as the HNSW walk's filter.
    pub fn search_in(
        &self,
        query: &[f32],
        k: usize,
        kb: Option<KbTag>,
    ) -> Result<Vec<(ConceptId, f32)>, IndexError> {
        let snap = self.snapshot();
        let vectors = self.vectors.read().unwrap_or_else(|e| e.into_inner());
        let hits = match kb {
            None if snap.kb_of.is_empty() => vectors.search(query, k)?,
            None => vectors
                .filtered_search(query, k, |key| !snap.kb_of.contains_key(&ConceptId(key)))?,
            Some(t) => {
                let held = snap.kbs.get(&t).map_or(0, |c| c.vectors);
                if held == 0 {
                    Vec::new()
                } else if held <= EXHAUSTIVE_SEARCH_UP_TO {
                    let keys: Vec<u64> = snap
                        .kb_ids_of(Some(t))
                        .filter(|id| snap.concept(*id).is_some_and(|c| c.has_vector))
                        .map(|id| id.0)
                        .collect();
                    vectors.search_among(query, &keys, k)?
                } else {
                    vectors.filtered_search(query, k, |key| {
                        snap.kb_of.get(&ConceptId(key)) == Some(&t)
                    })?
                }
            }
        };
        Ok(hits
            .into_iter()
            .map(|h| (ConceptId(h.key), h.similarity))
            .collect())
    }

    /// Vectors in the index and bytes it holds.
    pub fn index_size(&self) -> (u64, u64) {
        let v = self.vectors.read().unwrap_or_else(|e| e.into_inner());
        (v.len() as u64, v.memory_bytes() as u64)
    }

    /// Counters for `/v1/stats`.
    pub fn stats(&self) -> crate::protocol::ShardStats {
        let snap = self.snapshot();
        let w = self.wal.stats();
        let (vectors, vector_index_bytes) = self.index_size();
        let events = snap.kb_counts(crate::events::EVENTS_KB);
        crate::protocol::ShardStats {
            shard: self.shard,
            concepts: snap.concepts.saturating_sub(events.concepts) as u64,
            associations: snap.edges.saturating_sub(events.associations) as u64,
            event_concepts: events.concepts as u64,
            event_associations: events.associations as u64,
            snapshot_lsn: snap.lsn,
            durable_lsn: self.wal.last_lsn(),
            unfolded_records: self.unfolded() as u64,
            in_doubt: snap.prepared.len() as u64,
            log_records: w.records,
            log_flushes: w.flushes,
            log_bytes: w.bytes,
            folds: self.folds.load(Ordering::Relaxed),
            checkpoints: self.checkpoints.load(Ordering::Relaxed),
            checkpoint_lsn: self.checkpoint_lsn.load(Ordering::Relaxed),
            recovery_ms: self.recovery_ms,
            vectors,
            vector_index_bytes,
            index_load_ms: self.index_load_ms,
            read_only: self.wal.failure().map(|f| f.reason),
        }
    }
}

/// Applies one change; true if a vector was added.
fn apply_vector(index: &mut VectorIndex, change: VectorChange<'_>) -> Result<bool, IndexError> {
    match change {
        VectorChange::Put(id, v) => index.upsert(id.0, v),
        VectorChange::Remove(id) => index.remove(id.0).map(|_| false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{self, FaultPoint};
    use crate::graph::{ConceptKind, Op};

    fn put(name: &str) -> Op {
        crate::graph::snapshot::tests::put(name, 1)
    }

    fn open(dir: &Path, shard: ShardId) -> ShardCore {
        // Small segments, so a checkpoint really drops the log it covers.
        let opts = wal::WalOptions {
            shard: Some(shard),
            segment_bytes: 256,
            ..wal::WalOptions::default()
        };
        ShardCore::open(shard, dir, opts).unwrap()
    }

    /// Submits and waits until durable.
    fn durable(core: &ShardCore, records: Vec<Record>) {
        let (tx, rx) = std::sync::mpsc::channel();
        core.submit(records, move |r| tx.send(r).unwrap()).unwrap();
        rx.recv().unwrap().unwrap();
    }

    fn has(core: &ShardCore, name: &str) -> bool {
        core.snapshot()
            .concept(ConceptId::derive(ConceptKind::Entity, name))
            .is_some()
    }

    /// The hazard of applying a commit ahead of its record: replay applies records in
    /// LSN order, so a deletion logged before the commit record but not yet folded
    /// would, applied after the commit in memory, leave the fact deleted in memory but
    /// present after a restart. The commit must wait for it instead, and memory and
    /// replay then agree.
    #[test]
    fn commit_ahead_waits_for_data_writes_in_flight_and_replays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let shard = 9_001; // a shard number no other test arms faults for
        let core = open(dir.path(), shard);
        let x = ConceptId::derive(ConceptKind::Entity, "x");
        durable(&core, vec![Record::Apply(vec![put("x")])]);
        let t = TxId::new(1, 1);
        durable(
            &core,
            vec![Record::Prepare {
                txid: t,
                ops: vec![put("y")],
            }],
        );
        // A deletion logged ahead of the commit, its sync held back by a fault.
        faults::arm(FaultPoint::LogSlowSync { shard, ms: 3_000 });
        let (tx, rx) = std::sync::mpsc::channel();
        core.submit(vec![Record::Apply(vec![Op::DeleteConcept(x)])], move |r| {
            tx.send(r).unwrap()
        })
        .unwrap();
        assert_eq!(core.commit_ahead(t), Ahead::Busy);
        assert!(!has(&core, "y"), "nothing applied while busy");
        rx.recv().unwrap().unwrap();
        // Durable now (not yet folded): folded first, then the commit applies.
        assert_eq!(core.commit_ahead(t), Ahead::Applied);
        assert!(has(&core, "y") && !has(&core, "x"));
        assert_eq!(core.commit_ahead(t), Ahead::NotPrepared, "applied once");
        let (tx, rx) = std::sync::mpsc::channel();
        core.log_commit(t, move |r| tx.send(r).unwrap()).unwrap();
        rx.recv().unwrap().unwrap();
        core.fold(); // the commit record folds as a no-op
        let memory = core.snapshot();
        assert!(memory.prepared.is_empty());
        drop(core);
        let replayed = open(dir.path(), shard).snapshot();
        assert_eq!(replayed.nodes, memory.nodes);
        assert_eq!(replayed.prepared, memory.prepared);
    }

    /// A checkpoint of a snapshot with a commit applied ahead restores to the same
    /// state, and the shard still holds the transaction (the coordinator may not have
    /// recorded it) until it is confirmed.
    #[test]
    fn checkpoint_with_a_commit_applied_ahead_restores_the_same_and_keeps_it_held() {
        let dir = tempfile::tempdir().unwrap();
        let shard = 9_002;
        let core = open(dir.path(), shard);
        let t = TxId::new(1, 7);
        durable(
            &core,
            vec![Record::Prepare {
                txid: t,
                ops: vec![put("a"), put("b")],
            }],
        );
        assert_eq!(core.commit_ahead(t), Ahead::Applied);
        core.log_commit(t, |_| {}).unwrap();
        // Checkpoint the snapshot with the commit applied ahead (its record maybe not
        // durable yet), then write more after it.
        core.checkpoint().unwrap();
        durable(&core, vec![Record::Apply(vec![put("c")])]);
        core.fold();
        core.checkpoint().unwrap();
        core.wal.barrier(); // the covered segments are gone
        let first_kept = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.strip_prefix("wal-")?
                    .strip_suffix(".log")?
                    .parse::<u64>()
                    .ok()
            })
            .min()
            .unwrap();
        assert!(
            first_kept > 2,
            "the prepare and commit records were dropped"
        );
        let memory = core.snapshot();
        assert!(core.holds(t));
        drop(core);
        let core = open(dir.path(), shard);
        let restored = core.snapshot();
        assert_eq!(restored.nodes, memory.nodes);
        assert!(restored.prepared.is_empty());
        assert!(
            core.holds(t),
            "a restart still holds the unconfirmed commit"
        );
        core.confirm(t);
        assert!(!core.holds(t));
        assert!(!core.holds(TxId::new(1, 8)), "never prepared here");
    }

    /// A store written by the previous version (checkpoint payload in format 2) opens
    /// with everything in it, and its next checkpoint is written in format 3, which opens
    /// the same again.
    #[test]
    fn a_format2_checkpoint_opens_and_the_next_checkpoint_writes_format3() {
        let dir = tempfile::tempdir().unwrap();
        let shard = 9_003;
        let mut old = GraphSnapshot::default();
        old.apply_record(
            1,
            &Record::Apply(vec![put("paris"), put("lyon"), put("france")]),
        );
        checkpoint::write(dir.path(), 1, &old.encode_checkpoint_format2()).unwrap();
        let core = open(dir.path(), shard);
        assert!(has(&core, "paris") && has(&core, "lyon"));
        assert_eq!(core.snapshot().nodes, old.nodes);
        durable(&core, vec![Record::Apply(vec![put("nice")])]);
        core.fold();
        core.checkpoint().unwrap();
        let (_, payload) = checkpoint::read(dir.path()).unwrap().unwrap();
        assert!(payload.starts_with(&crate::graph::snapshot::FORMAT3));
        drop(core);
        let reopened = open(dir.path(), shard);
        assert!(has(&reopened, "paris") && has(&reopened, "nice"));
        assert_eq!(reopened.snapshot().concepts, 4);
    }
}
