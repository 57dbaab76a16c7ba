//! The public evaluation sample (`../shared/eval`): learn every fact line by line over
//! HTTP, ask every question, and score it with the rules of `../shared/eval/README.md`.
//! Every question must pass.

mod common;

use serde_json::{json, Value};
use std::path::PathBuf;

fn eval_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    assert!(
        dir.join("basics_facts.txt").exists(),
        "the evaluation set is expected at {} (shared/ beside the repository, as in CI)",
        dir.display()
    );
    dir
}

/// Scores one answer; `Err` says why it fails.
pub fn score(q: &Value, a: &Value) -> Result<(), String> {
    let verdict = a["verdict"].as_str().unwrap_or("");
    match q["expect"].as_str().unwrap() {
        "yes" => {
            if verdict != "yes" {
                return Err(format!("verdict {verdict}, expected yes: {}", a["answer"]));
            }
            let want: Vec<String> = q["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| common::norm_name(n.as_str().unwrap()))
                .collect();
            let got: Vec<String> = a["paths"][0]["concepts"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|n| common::norm_name(n["name"].as_str().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            if got != want {
                return Err(format!("best path {got:?}, expected {want:?}"));
            }
        }
        "unknown" => {
            if verdict != "unknown" {
                return Err(format!(
                    "verdict {verdict}, expected unknown: {}",
                    a["answer"]
                ));
            }
        }
        "answer" => {
            let text = a["answer"].as_str().unwrap_or("").to_lowercase();
            for c in q["contains"].as_array().unwrap() {
                let c = c.as_str().unwrap().to_lowercase();
                if !text.contains(&c) {
                    return Err(format!("answer {text:?} lacks {c:?}"));
                }
            }
            if let Some(alts) = q["alternatives"].as_array() {
                let got: Vec<String> = a["alternatives"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .map(|x| x["answer"].as_str().unwrap_or("").to_lowercase())
                            .collect()
                    })
                    .unwrap_or_default();
                for alt in alts {
                    let alt = alt.as_str().unwrap().to_lowercase();
                    if !got.iter().any(|g| g.contains(&alt)) {
                        return Err(format!("alternatives {got:?} lack {alt:?}"));
                    }
                    if text.contains(&alt) {
                        return Err(format!(
                            "{alt:?} should rank below the main answer, not in it: {text:?}"
                        ));
                    }
                }
            }
        }
        other => return Err(format!("unknown expectation {other}")),
    }
    Ok(())
}

#[test]
fn public_sample_passes_completely() {
    let dir = eval_dir();
    let tmp = tempfile::tempdir().unwrap();
    let node = common::start(&tmp.path().join("data"));
    let facts = std::fs::read_to_string(dir.join("basics_facts.txt")).unwrap();
    for line in facts.lines().filter(|l| !l.trim().is_empty()) {
        let (status, body) = node.post(
            "/v1/learn",
            json!({ "content": line, "options": { "read_your_writes": true } }),
        );
        assert_eq!(status, 200, "{line}: {body}");
    }
    let questions = std::fs::read_to_string(dir.join("basics_questions.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut total = 0;
    for line in questions.lines().filter(|l| !l.trim().is_empty()) {
        let q: Value = serde_json::from_str(line).unwrap();
        total += 1;
        let (status, a) = node.post("/v1/reason", json!({ "query": q["q"] }));
        if status != 200 {
            failures.push(format!("{}: HTTP {status} {a}", q["q"]));
            continue;
        }
        if let Err(why) = score(&q, &a) {
            failures.push(format!("{}: {why}", q["q"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} questions failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
