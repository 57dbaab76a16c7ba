//! Durability and atomicity under crashes, proven by killing real processes and actors:
//! `kill -9` during concurrent learning, 2PC with a participant or the coordinator
//! crashing between prepare and commit, and corrupted files reported clearly.

mod common;

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sutra::graph::{ConceptId, ConceptKind};
use sutra::learn::normalize::sentence_key;

fn id_of(text: &str) -> String {
    ConceptId::derive(ConceptKind::Sentence, &sentence_key(text)).to_string()
}

fn batch(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("Transaction {tag} statement {i}."))
        .collect()
}

/// How many of `texts` the node holds (fresh reads).
fn present(node: &common::Node, texts: &[String]) -> usize {
    texts
        .iter()
        .filter(|t| node.get(&format!("/v1/concepts/{}?fresh=true", id_of(t))).0 == 200)
        .count()
}

fn in_doubt(node: &common::Node) -> u64 {
    let (_, stats) = node.get("/v1/stats");
    stats["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stats"]["in_doubt"].as_u64().unwrap_or(0))
        .sum()
}

fn wait_resolved(node: &common::Node) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while in_doubt(node) > 0 {
        assert!(
            Instant::now() < deadline,
            "in-doubt transactions never resolved:\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill9_during_concurrent_learning_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = common::start(&data);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let base = node.base.clone();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (acked, stop, base) = (acked.clone(), stop.clone(), base.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    // Alternate single-shard writes and cross-shard (2PC) batches.
                    let texts: Vec<String> = if i % 2 == 0 {
                        vec![format!("Client {c} single write {i}.")]
                    } else {
                        (0..25)
                            .map(|k| format!("Client {c} batch {i} item {k}."))
                            .collect()
                    };
                    let ok = agent
                        .post(&format!("{base}/v1/learn/batch"))
                        .send_json(json!({ "contents": texts }))
                        .is_ok_and(|r| r.status() == 200);
                    if ok {
                        acked.lock().unwrap().extend(texts);
                    } else if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        })
        .collect();
    // Let writes pile up, then kill the process mid-stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 2_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 500,
        "too few writes before the kill: {}",
        acked.len()
    );

    let node = common::start(&data);
    wait_resolved(&node);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|t| node.get(&format!("/v1/concepts/{}?fresh=true", id_of(t))).0 != 200)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(3)]
    );
}

#[test]
fn participant_crash_between_prepare_and_commit_still_commits_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    let texts = batch("participant", 60);
    node.fault(json!({ "point": "shard_before_commit", "shard": 2 }));
    let (status, body) = node.post("/v1/learn/batch", json!({ "contents": texts }));
    // The decision was logged before shard-2 died, so the transaction is committed:
    // the coordinator redelivers the commit to the restarted shard.
    assert_eq!(status, 200, "{body}");
    wait_resolved(&node);
    assert_eq!(present(&node, &texts), texts.len());
    let (_, tree) = node.get("/v1/admin/actors");
    let shard2 = tree["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "shard-2")
        .unwrap()
        .clone();
    assert!(
        shard2["restarts"].as_u64().unwrap() >= 1,
        "shard-2 should have crashed: {shard2}"
    );
}

/// Starts a node, arms the coordinator fault `point` and sends a batch of 60 that the
/// crash leaves unacknowledged (503); returns once every in-doubt part is resolved.
fn batch_through_coordinator_crash(
    point: &str,
    tag: &str,
) -> (tempfile::TempDir, common::Node, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    let texts = batch(tag, 60);
    node.fault(json!({ "point": point }));
    let (status, body) = node.post("/v1/learn/batch", json!({ "contents": texts }));
    assert_eq!(status, 503, "the write must not be acknowledged: {body}");
    wait_resolved(&node);
    (dir, node, texts)
}

#[test]
fn coordinator_crash_after_prepare_aborts_everywhere() {
    // Every shard holds a prepared part until it asks the new coordinator, which has no
    // commit record: presumed abort.
    let (_dir, node, texts) = batch_through_coordinator_crash("coordinator_after_prepare", "abort");
    assert_eq!(
        present(&node, &texts),
        0,
        "a half-done transaction became visible"
    );
    // The same write succeeds on retry.
    let (status, _) = node.post("/v1/learn/batch", json!({ "contents": texts }));
    assert_eq!(status, 200);
    assert_eq!(present(&node, &texts), texts.len());
}

#[test]
fn coordinator_crash_after_decision_commits_everywhere() {
    let (_dir, node, texts) =
        batch_through_coordinator_crash("coordinator_after_decision", "decided");
    assert_eq!(
        present(&node, &texts),
        texts.len(),
        "a committed transaction was lost"
    );
}

fn coordinator_stat(node: &common::Node, key: &str) -> u64 {
    let (_, stats) = node.get("/v1/stats");
    stats["coordinator"][key].as_u64().unwrap_or(0)
}

#[test]
fn coordinator_crash_after_staged_before_every_prepare_aborts_everywhere() {
    // The staged record is durable, one participant prepared, the others never heard
    // of it: the restarted coordinator asks them all, one says no, so it aborts.
    let (_dir, node, texts) = batch_through_coordinator_crash("coordinator_after_staged", "staged");
    assert_eq!(
        present(&node, &texts),
        0,
        "a half-done transaction became visible"
    );
    assert_eq!(coordinator_stat(&node, "resolved_aborted"), 1);
    let (status, _) = node.post("/v1/learn/batch", json!({ "contents": texts }));
    assert_eq!(status, 200);
    assert_eq!(present(&node, &texts), texts.len());
}

#[test]
fn coordinator_crash_once_committed_before_anyone_hears_commits_everywhere() {
    // Staged and every prepare durable, so committed though nobody recorded it: the
    // restarted coordinator finds every participant holding it.
    let (_dir, node, texts) =
        batch_through_coordinator_crash("coordinator_after_committed", "committed");
    assert_eq!(
        present(&node, &texts),
        texts.len(),
        "a committed transaction was lost"
    );
    assert_eq!(coordinator_stat(&node, "resolved_committed"), 1);
}

#[test]
fn participant_crash_after_visible_commit_before_its_record_keeps_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let texts = batch("ahead", 60);
    {
        let mut node = common::start(&data);
        node.fault(json!({ "point": "shard_after_visible_commit", "shard": 2 }));
        // Committed and visible everywhere before shard-2 dies; the answer may still be
        // 503 when the learner's read-your-writes fold finds shard-2 restarting.
        let (status, body) = node.post("/v1/learn/batch", json!({ "contents": texts }));
        assert!(status == 200 || status == 503, "{status} {body}");
        // Shard-2 lost the commit it showed (never logged): it still has its prepare
        // and gets the commit again (from the coordinator or by asking). Its reads
        // fail while it restarts, so wait for it to show everything.
        let deadline = Instant::now() + Duration::from_secs(20);
        while present(&node, &texts) < texts.len() {
            assert!(
                Instant::now() < deadline,
                "the commit never came back on shard-2:\n{}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        wait_resolved(&node);
        let (_, tree) = node.get("/v1/admin/actors");
        let restarts = tree["actors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "shard-2")
            .map(|a| a["restarts"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        assert!(restarts >= 1, "shard-2 should have crashed");
        node.kill9();
    }
    let node = common::start(&data);
    wait_resolved(&node);
    assert_eq!(present(&node, &texts), texts.len(), "lost across kill -9");
}

#[test]
fn two_durable_rounds_per_cross_shard_transaction_none_the_coordinators() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    for i in 0..10 {
        let texts = batch(&format!("rounds-{i}"), 40);
        assert_eq!(
            node.post("/v1/learn/batch", json!({ "contents": texts })).0,
            200
        );
    }
    let (_, stats) = node.get("/v1/stats");
    let c = &stats["coordinator"];
    let (committed, rounds) = (
        c["committed"].as_u64().unwrap(),
        c["sync_rounds"].as_u64().unwrap(),
    );
    assert!(committed >= 10, "{c}");
    // Two rounds each (stage and prepare; the participants' commit records), plus one
    // per transaction where a participant had data writes in flight ahead of the commit
    // (here: only the event sink's, if any).
    assert!(
        rounds >= 2 * committed && rounds <= 2 * committed + committed / 2,
        "{c}"
    );
    assert!(c["commits_ahead"].as_u64().unwrap() > 0, "{c}");
}

#[test]
fn in_doubt_transactions_survive_kill9_of_the_whole_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let committed = batch("kill9-decided", 40);
    let aborted = batch("kill9-undecided", 40);
    {
        let mut node = common::start(&data);
        node.fault(json!({ "point": "coordinator_after_decision" }));
        assert_eq!(
            node.post("/v1/learn/batch", json!({ "contents": committed }))
                .0,
            503
        );
        node.fault(json!({ "point": "coordinator_after_prepare" }));
        assert_eq!(
            node.post("/v1/learn/batch", json!({ "contents": aborted }))
                .0,
            503
        );
        // Before any shard has resolved its in-doubt parts (that waits 2 s).
        node.kill9();
    }
    let node = common::start(&data);
    wait_resolved(&node);
    assert_eq!(present(&node, &committed), committed.len());
    assert_eq!(present(&node, &aborted), 0);
}

#[test]
fn coordinator_checkpoint_keeps_decisions_and_epochs_across_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Checkpoint (and compact the coordinator log) every 20 transactions.
    let text = std::fs::read_to_string(common::default_config())
        .unwrap()
        .replace(
            "checkpoint_every_records = 200000",
            "checkpoint_every_records = 20",
        );
    assert!(text.contains("checkpoint_every_records = 20\n"));
    let config = dir.path().join("cluster.toml");
    std::fs::write(&config, text).unwrap();

    let mut all = Vec::new();
    let decided = batch("after-compaction", 30);
    let epoch_before;
    {
        let mut node = common::start_with(&config, &data);
        for i in 0..70 {
            let texts = batch(&format!("compaction-{i}"), 6);
            assert_eq!(
                node.post("/v1/learn/batch", json!({ "contents": texts })).0,
                200
            );
            all.extend(texts);
        }
        assert!(
            data.join("txn").join("checkpoint.bin").exists(),
            "no coordinator checkpoint"
        );
        node.fault(json!({ "point": "coordinator_after_decision" }));
        assert_eq!(
            node.post("/v1/learn/batch", json!({ "contents": decided }))
                .0,
            503
        );
        // Let the supervisor restart the coordinator (a new epoch) before the kill.
        node.wait_status("/ready", 200, 20);
        let (_, stats) = node.get("/v1/stats");
        epoch_before = stats["coordinator"]["epoch"].as_u64().unwrap();
        assert_eq!(
            epoch_before, 2,
            "the restarted coordinator starts a new epoch"
        );
        node.kill9();
    }
    let node = common::start_with(&config, &data);
    wait_resolved(&node);
    assert_eq!(
        present(&node, &decided),
        decided.len(),
        "a decision logged after the checkpoint was lost"
    );
    assert_eq!(present(&node, &all), all.len());
    let (_, stats) = node.get("/v1/stats");
    // An epoch is never reused, even when the record that started it lies after the
    // last coordinator checkpoint.
    assert_eq!(stats["coordinator"]["epoch"], epoch_before + 1, "{stats}");
}

fn flip_byte(path: &std::path::Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = at as usize;
    assert!(
        i < bytes.len(),
        "{} has only {} bytes",
        path.display(),
        bytes.len()
    );
    bytes[i] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn corrupted_log_is_reported_with_the_file_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut node = common::start(&data);
        for i in 0..50 {
            node.post(
                "/v1/learn",
                json!({ "content": format!("Corruptible statement {i}.") }),
            );
        }
        node.kill9(); // leave the records in the log, not a checkpoint
    }
    let shard_dir = (0..4)
        .map(|s| data.join(format!("shard-{s}")))
        .find(|d| {
            std::fs::read_dir(d).unwrap().flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("wal-")
                    && e.metadata().unwrap().len() > 200
            })
        })
        .expect("some shard has log records");
    let segment = std::fs::read_dir(&shard_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .unwrap();
    flip_byte(&segment, 20); // inside the first record, with valid records after it
    let log = match common::try_start(&data, &[]) {
        Ok(_) => panic!("a node with a corrupted log must not start"),
        Err(log) => log,
    };
    let name = segment.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        log.contains(&name),
        "error must name the file {name}:\n{log}"
    );
    assert!(log.contains("corrupt"), "{log}");
    assert!(log.contains("backup"), "error must say what to do:\n{log}");
}

#[test]
fn corrupted_checkpoint_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut node = common::start(&data);
        let contents: Vec<String> = (0..100)
            .map(|i| format!("Checkpoint statement {i}."))
            .collect();
        assert_eq!(
            node.post("/v1/learn/batch", json!({ "contents": contents }))
                .0,
            200
        );
        assert!(node.terminate());
    }
    let cp = data.join("shard-1").join("checkpoint.bin");
    let len = std::fs::metadata(&cp).unwrap().len();
    flip_byte(&cp, len - 3);
    let log = match common::try_start(&data, &[]) {
        Ok(_) => panic!("a node with a corrupted checkpoint must not start"),
        Err(log) => log,
    };
    assert!(log.contains("checkpoint.bin"), "{log}");
    assert!(log.contains("corrupt"), "{log}");
}
