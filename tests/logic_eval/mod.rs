//! Scoring of the public reasoning sets (tests/data/external-eval) through the logic
//! module in-process, with exactly the rules of that directory's README: one fresh
//! knowledge base per story or example, lines learned in order, answers and
//! explanations (cited sources) checked. Shared by tests/logic_public.rs and
//! benches/logic.rs.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use sutra::learn::normalize::singular;
use sutra::logic::{AskOptions, Kb, Reply, Verdict};

/// The directory of the public sets in the repository.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/external-eval")
}

/// Score of one set.
#[derive(Debug, Default, Clone)]
pub struct Score {
    pub name: String,
    pub questions: usize,
    pub answers: usize,
    pub explanations: usize,
    /// A few failures, for the report.
    pub failures: Vec<String>,
}

impl Score {
    fn record(&mut self, answer_ok: bool, explanation_ok: bool, what: impl FnOnce() -> String) {
        self.questions += 1;
        self.answers += usize::from(answer_ok);
        self.explanations += usize::from(explanation_ok);
        if (!answer_ok || !explanation_ok) && self.failures.len() < 8 {
            self.failures.push(what());
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{}: answers {}/{} ({:.1}%), explanations {}/{} ({:.1}%)",
            self.name,
            self.answers,
            self.questions,
            100.0 * self.answers as f64 / self.questions.max(1) as f64,
            self.explanations,
            self.questions,
            100.0 * self.explanations as f64 / self.questions.max(1) as f64
        )
    }
}

/// The bAbI test files, by task number.
pub const BABI: &[(u32, &str)] = &[
    (1, "qa1_single-supporting-fact_test.txt"),
    (2, "qa2_two-supporting-facts_test.txt"),
    (15, "qa15_basic-deduction_test.txt"),
    (16, "qa16_basic-induction_test.txt"),
    (17, "qa17_positional-reasoning_test.txt"),
    (19, "qa19_path-finding_test.txt"),
];

pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The answer text contains the gold word (a plural of it counts).
pub fn contains_word(answer: &str, gold: &str) -> bool {
    let gold = gold.to_lowercase();
    words(answer).iter().any(|w| {
        *w == gold || singular(w) == gold || *w == format!("{gold}s") || *w == format!("{gold}es")
    })
}

/// The answer text names the gold directions in order as words.
pub fn names_directions(answer: &str, gold: &str) -> bool {
    let want: Vec<&str> = gold
        .split(',')
        .map(|d| match d.trim() {
            "n" => "north",
            "s" => "south",
            "e" => "east",
            "w" => "west",
            other => other,
        })
        .collect();
    let said: Vec<String> = words(answer)
        .into_iter()
        .filter(|w| matches!(w.as_str(), "north" | "south" | "east" | "west"))
        .collect();
    said == want
}

/// Scores one bAbI task file.
pub fn score_babi(task: u32, file: &str) -> Score {
    let text = std::fs::read_to_string(data_dir().join("babi").join(file)).expect("bAbI file");
    let mut score = Score {
        name: format!("bAbI {task}"),
        ..Score::default()
    };
    let mut kb = Kb::new();
    for line in text.lines() {
        let (n, rest) = line.split_once(' ').expect("numbered line");
        let n: u64 = n.parse().expect("line number");
        if n == 1 {
            kb = Kb::new();
        }
        let parts: Vec<&str> = rest.split('\t').collect();
        if parts.len() == 1 {
            kb.learn(rest.trim(), n, n).expect("learn");
            continue;
        }
        let question = parts[0].trim();
        let gold = parts[1].trim();
        let support: Vec<u64> = parts[2]
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        let reply = kb.ask(question, &AskOptions::default());
        let (ok, cited) = match &reply {
            None => (false, Vec::new()),
            Some(r) => {
                let ok = match task {
                    17 => r.verdict.as_str() == gold,
                    19 => names_directions(&r.answer, gold),
                    _ => contains_word(&r.answer, gold),
                };
                (ok, r.sources())
            }
        };
        let explained = support.iter().all(|s| cited.contains(s));
        score.record(ok, explained, || {
            format!(
                "{question} gold {gold} {support:?}: {:?}",
                reply
                    .as_ref()
                    .map(|r: &Reply| (r.verdict, r.answer.clone(), r.sources()))
            )
        });
    }
    score
}

/// Splits a context into sentences at each '.'.
pub fn sentences(context: &str) -> Vec<String> {
    context
        .split('.')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("{s}."))
        .collect()
}

pub fn question_statement(question: &str) -> String {
    let statement = question
        .rsplit_once('?')
        .map(|(_, s)| s)
        .unwrap_or(question)
        .trim();
    let statement = statement.strip_suffix('.').unwrap_or(statement);
    format!("Is it true that {statement}?")
}

/// Learns a context into a fresh kb; returns it and sentence -> tokens.
fn learn_context(context: &str) -> (Kb, HashMap<String, Vec<u64>>) {
    let mut kb = Kb::new();
    let mut tokens: HashMap<String, Vec<u64>> = HashMap::new();
    for (i, s) in sentences(context).iter().enumerate() {
        let t = i as u64 + 1;
        kb.learn(s, t, t).expect("learn");
        tokens
            .entry(s.trim_end_matches('.').to_string())
            .or_default()
            .push(t);
    }
    (kb, tokens)
}

fn load(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(data_dir().join(rel)).expect("data file");
    serde_json::from_str(&text).expect("json")
}

/// Scores PrOntoQA (answers; explanations: every gold explanation sentence that is a
/// context sentence is cited).
pub fn score_prontoqa() -> Score {
    let mut score = Score {
        name: "PrOntoQA".into(),
        ..Score::default()
    };
    for ex in load("prontoqa/dev.json") {
        let (mut kb, tokens) = learn_context(ex["context"].as_str().unwrap());
        let q = question_statement(ex["question"].as_str().unwrap());
        let want = match ex["answer"].as_str().unwrap() {
            "A" => Verdict::Yes,
            _ => Verdict::No,
        };
        let reply = kb.ask(&q, &AskOptions::default());
        let ok = reply.as_ref().is_some_and(|r| r.verdict == want);
        let cited = reply.as_ref().map(Reply::sources).unwrap_or_default();
        let explained = ex["explanation"].as_array().unwrap().iter().all(|s| {
            let s = s.as_str().unwrap().trim().trim_end_matches('.');
            match tokens.get(s) {
                Some(ts) => ts.iter().any(|t| cited.contains(t)),
                None => true,
            }
        });
        score.record(ok, explained, || {
            format!(
                "{} {q} want {want:?}: {:?}",
                ex["id"],
                reply.as_ref().map(|r| (r.verdict, r.answer.clone()))
            )
        });
    }
    score
}

/// Scores ProofWriter (answers; the explanation column counts replies whose proofs
/// cite only sentences of the context, as there is no gold proof in this file).
pub fn score_proofwriter() -> Score {
    let mut score = Score {
        name: "ProofWriter".into(),
        ..Score::default()
    };
    for ex in load("proofwriter/test.json") {
        let (mut kb, tokens) = learn_context(ex["context"].as_str().unwrap());
        let q = question_statement(ex["question"].as_str().unwrap());
        let want = match ex["answer"].as_str().unwrap() {
            "A" => Verdict::Yes,
            "B" => Verdict::No,
            _ => Verdict::Unknown,
        };
        let reply = kb.ask(&q, &AskOptions::default());
        let ok = reply.as_ref().is_some_and(|r| r.verdict == want);
        let n = tokens.values().map(Vec::len).sum::<usize>() as u64;
        let explained = reply.as_ref().is_some_and(|r| {
            r.sources().iter().all(|t| (1..=n).contains(t))
                && (r.verdict == Verdict::Unknown || !r.proofs.is_empty())
        });
        score.record(ok, explained, || {
            format!(
                "{} {q} want {want:?}: {:?}",
                ex["id"],
                reply.as_ref().map(|r| (r.verdict, r.answer.clone()))
            )
        });
    }
    score
}
