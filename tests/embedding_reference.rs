//! The Rust embedding path (tokenizers + ort + mean pooling + L2) against reference
//! vectors computed once by Python onnxruntime (`scripts/make-reference-embeddings.py`,
//! stored in tests/data/reference_embeddings.json), for both model variants; and the
//! int8 model stays close to fp32.

mod common;

use serde_json::Value;
use sutra::embed::{Embedder, ModelFiles};

fn reference() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/reference_embeddings.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("reference file")).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn load(variant: &str) -> Embedder {
    let files = ModelFiles::in_dir(&common::model_dir(), variant).unwrap_or_else(|e| panic!("{e}"));
    Embedder::load(&files, 1, 256).unwrap()
}

/// (text, token ids, fp32 vector, int8 vector) as Python computed them.
type Reference = (String, Vec<u32>, Vec<f32>, Vec<f32>);

fn sentences() -> Vec<Reference> {
    reference()["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["text"].as_str().unwrap().to_string(),
                s["token_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_u64().unwrap() as u32)
                    .collect(),
                floats(&s["fp32"]),
                floats(&s["int8"]),
            )
        })
        .collect()
}

#[test]
fn matches_python_onnxruntime_within_1e_4() {
    let refs = sentences();
    assert!(refs.len() >= 5);
    for (variant, pick) in [("fp32", 2usize), ("int8", 3)] {
        let mut model = load(variant);
        let texts: Vec<&str> = refs.iter().map(|r| r.0.as_str()).collect();
        // One at a time and all in one padded batch: both must match.
        let batched = model.embed(&texts).unwrap().vectors;
        for (i, r) in refs.iter().enumerate() {
            assert_eq!(
                model.token_count(&r.0),
                r.1.len(),
                "tokenizer agrees on '{}'",
                r.0
            );
            let single = model.embed(&[r.0.as_str()]).unwrap().vectors.remove(0);
            let want = if pick == 2 { &r.2 } else { &r.3 };
            let batch_diff = single
                .iter()
                .zip(&batched[i])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                batch_diff <= 1e-6,
                "{variant} '{}': a text's vector must not depend on its batch ({batch_diff})",
                r.0
            );
            for got in [&single, &batched[i]] {
                let diff = got
                    .iter()
                    .zip(want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff <= 1e-4, "{variant} '{}': max difference {diff}", r.0);
            }
        }
    }
}

#[test]
fn int8_stays_close_to_fp32() {
    let refs = sentences();
    let (mut fp32, mut int8) = (load("fp32"), load("int8"));
    let mut texts: Vec<String> = refs.iter().map(|r| r.0.clone()).collect();
    texts.extend([
        "Penicillin was discovered by Alexander Fleming in 1928.".to_string(),
        "Where can I find the Eiffel Tower?".to_string(),
        "Bees make honey from the nectar of flowers.".to_string(),
        "The committee postponed the vote until next Tuesday.".to_string(),
    ]);
    let a = fp32.embed(&texts).unwrap().vectors;
    let b = int8.embed(&texts).unwrap().vectors;
    for (t, (x, y)) in texts.iter().zip(a.iter().zip(&b)) {
        let cos: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        assert!(cos >= 0.99, "int8 vs fp32 cosine {cos} for '{t}'");
    }
}

#[test]
fn long_texts_are_truncated_and_counted() {
    let mut model = load("int8");
    let long = "word ".repeat(400);
    let out = model.embed(&[long.as_str(), "short"]).unwrap();
    assert_eq!(out.truncated, 1);
    assert_eq!(out.vectors.len(), 2);
    assert!(out.tokens <= 2 * 256);
}
