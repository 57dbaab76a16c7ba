//! The Rust analysis against real spaCy's, on the golden file the set-up writes
//! (`golden.jsonl`: what spaCy 3.8 with en_core_web_sm made of tests/data/nlp/*.txt).

use super::{default_dir, Nlp};
use std::sync::OnceLock;

#[derive(serde::Deserialize)]
pub(crate) struct Golden {
    pub text: String,
    pub tokens: Vec<String>,
    pub pos: Vec<String>,
    pub ws: Vec<bool>,
    pub norms: Vec<String>,
    pub tags: Vec<String>,
    pub heads: Vec<usize>,
    pub deps: Vec<String>,
    pub chunks: Vec<(usize, usize, usize)>,
}

/// The model and golden rows; the set-up has made them (the test command runs it first).
pub(crate) fn data() -> &'static (Nlp, Vec<Golden>) {
    static DATA: OnceLock<(Nlp, Vec<Golden>)> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = default_dir();
        let nlp = Nlp::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(dir.join("golden.jsonl")).unwrap_or_else(|e| {
            panic!(
                "golden.jsonl in {}: {e}; run {}",
                dir.display(),
                super::SETUP_COMMAND
            )
        });
        let rows = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("golden.jsonl row"))
            .collect::<Vec<Golden>>();
        assert!(
            rows.len() >= 2000,
            "golden.jsonl has {} sentences",
            rows.len()
        );
        (nlp, rows)
    })
}

#[test]
fn tokens_match_spacy() {
    let (nlp, rows) = data();
    let mut same = 0;
    let mut bad = Vec::new();
    for g in rows {
        let toks = nlp.tokenizer().tokenize(&g.text);
        let ours: Vec<(&str, bool)> = toks.iter().map(|t| (t.text.as_str(), t.space)).collect();
        let theirs: Vec<(&str, bool)> = g
            .tokens
            .iter()
            .map(String::as_str)
            .zip(g.ws.iter().copied())
            .collect();
        if ours == theirs {
            same += 1;
        } else if bad.len() < 10 {
            bad.push(format!(
                "{:?}\n  ours   {:?}\n  spaCy  {:?}",
                g.text, ours, theirs
            ));
        }
    }
    eprintln!(
        "tokenization: {same}/{} sentences identical to spaCy's",
        rows.len()
    );
    assert_eq!(
        same,
        rows.len(),
        "sentences tokenized differently:\n{}",
        bad.join("\n")
    );
}

#[test]
fn norms_and_tags_match_spacy() {
    let (nlp, rows) = data();
    let (mut total, mut tags_same, mut norms_same) = (0, 0, 0);
    let mut bad = Vec::new();
    for g in rows {
        let toks = nlp.tag(&g.text);
        assert_eq!(toks.len(), g.tokens.len(), "token count for {:?}", g.text);
        for (i, t) in toks.iter().enumerate() {
            total += 1;
            norms_same += usize::from(t.norm == g.norms[i]);
            if t.tag == g.tags[i] {
                tags_same += 1;
            } else if bad.len() < 20 {
                bad.push(format!(
                    "{:?}: token {i} {:?} ours {} spaCy {}",
                    g.text, t.text, t.tag, g.tags[i]
                ));
            }
        }
    }
    eprintln!("norms: {norms_same}/{total}; tags: {tags_same}/{total} identical to spaCy's");
    assert_eq!(norms_same, total, "norms differ");
    // Target 100%; at least 99.9%.
    assert!(
        tags_same * 1000 >= total * 999,
        "tags differ:\n{}",
        bad.join("\n")
    );
}

#[test]
fn pos_and_noun_chunks_match_spacy() {
    let (nlp, rows) = data();
    let (mut total, mut pos_same, mut chunks_same) = (0, 0, 0);
    let mut bad = Vec::new();
    for g in rows {
        let doc = nlp.analyze(&g.text);
        for (t, p) in doc.tokens.iter().zip(&g.pos) {
            total += 1;
            if &t.pos == p {
                pos_same += 1;
            } else if bad.len() < 10 {
                bad.push(format!(
                    "{:?}: {:?} {} {} ours {:?} spaCy {p}",
                    g.text, t.text, t.tag, t.dep, t.pos
                ));
            }
        }
        let ours: Vec<(usize, usize, usize)> = doc
            .chunks
            .iter()
            .map(|c| (c.start, c.end, c.head))
            .collect();
        if ours == g.chunks {
            chunks_same += 1;
        } else if bad.len() < 10 {
            bad.push(format!("{:?}: ours {ours:?} spaCy {:?}", g.text, g.chunks));
        }
    }
    eprintln!("coarse pos: {pos_same}/{total}; noun chunks: {chunks_same}/{} sentences identical to spaCy's", rows.len());
    assert_eq!(pos_same, total, "{}", bad.join("\n"));
    assert!(
        chunks_same * 1000 >= rows.len() * 995,
        "noun chunks differ:\n{}",
        bad.join("\n")
    );
}

/// The tag-only chunker against spaCy's parse-based chunks (a measurement with a floor).
#[test]
fn tag_chunk_heads_against_spacy() {
    let (nlp, rows) = data();
    let (mut theirs, mut ours, mut heads_same, mut spans_same) = (0, 0, 0, 0);
    for g in rows {
        let tokens = nlp.tag(&g.text);
        let mine = &super::chunk::chunks(&tokens);
        theirs += g.chunks.len();
        ours += mine.len();
        for c in mine {
            if g.chunks.iter().any(|&(_, _, h)| h == c.head) {
                heads_same += 1;
            }
            if g.chunks
                .iter()
                .any(|&(s, e, h)| (s, e, h) == (c.start, c.end, c.head))
            {
                spans_same += 1;
            }
        }
    }
    let p = heads_same as f64 / ours as f64;
    let r = heads_same as f64 / theirs as f64;
    eprintln!(
        "tag-only chunk heads: {heads_same} of our {ours} chunks have a spaCy chunk's head (precision {p:.4}), \
         spaCy has {theirs} (recall {r:.4}); identical spans {spans_same}"
    );
    assert!(
        p >= 0.9 && r >= 0.9,
        "chunk heads: precision {p:.4}, recall {r:.4}"
    );
}

#[test]
fn parse_matches_spacy() {
    let (nlp, rows) = data();
    let (mut total, mut heads_same, mut labels_same) = (0, 0, 0);
    let mut bad = Vec::new();
    for g in rows {
        let doc = nlp.analyze(&g.text);
        for (i, t) in doc.tokens.iter().enumerate() {
            total += 1;
            if t.head == g.heads[i] {
                heads_same += 1;
                labels_same += usize::from(t.dep == g.deps[i]);
            } else if bad.len() < 10 {
                bad.push(format!(
                    "{:?}: token {i} {:?} head ours {} spaCy {}",
                    g.text, t.text, t.head, g.heads[i]
                ));
            }
        }
    }
    eprintln!("parse: heads {heads_same}/{total}, heads and labels {labels_same}/{total} identical to spaCy's");
    // Target: heads >= 99.5%.
    assert!(
        heads_same * 1000 >= total * 995,
        "heads differ:\n{}",
        bad.join("\n")
    );
}
