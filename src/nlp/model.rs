//! Loading the exported model data (`scripts/setup-nlp.py`) and turning tokens into the
//! tagger's features.

use super::tok2vec::{HashEmbed, LayerNorm, Maxout, Tok2Vec};
use super::NlpError;
use crate::nlp::hash::murmur64a;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The set-up command named in every "missing file" error.
pub const SETUP_COMMAND: &str = "python3 scripts/setup-model.py";

/// Where the model data lives: `$SUTRA_NLP_DIR`, else the sibling `nlp` of
/// `$SUTRA_MODEL_DIR` (the embedding model's directory), else `models/nlp` under the
/// crate root. `scripts/setup-nlp.py` resolves the same way.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SUTRA_NLP_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("SUTRA_MODEL_DIR") {
        let dir = PathBuf::from(dir);
        if let Some(parent) = dir.parent() {
            return parent.join("nlp");
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join("nlp")
}

/// The data directory for an embedding model directory (`embedding.model_dir`): its
/// sibling `nlp`, unless `$SUTRA_NLP_DIR` says otherwise.
pub fn dir_beside(model_dir: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("SUTRA_NLP_DIR") {
        return PathBuf::from(dir);
    }
    model_dir
        .parent()
        .map_or_else(|| PathBuf::from("nlp"), |p| p.join("nlp"))
}

pub(crate) fn read(dir: &Path, name: &str) -> Result<Vec<u8>, NlpError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| NlpError::Missing {
        path,
        reason: e.to_string(),
    })
}

pub(crate) fn read_text(dir: &Path, name: &str) -> Result<String, NlpError> {
    String::from_utf8(read(dir, name)?)
        .map_err(|_| NlpError::Format(format!("{name} is not UTF-8")))
}

#[derive(serde::Deserialize)]
struct ArrayIndex {
    offset: usize,
    shape: Vec<usize>,
}

#[derive(serde::Deserialize)]
struct EmbedInfo {
    column: usize,
    seed: u32,
}

#[derive(serde::Deserialize)]
struct WeightIndex {
    arrays: HashMap<String, ArrayIndex>,
    embeddings: Vec<EmbedInfo>,
    columns: Vec<String>,
}

/// The arrays of `weights.bin`, by name.
pub(crate) struct Weights {
    data: Vec<f32>,
    index: WeightIndex,
}

impl Weights {
    pub(crate) fn load(dir: &Path) -> Result<Weights, NlpError> {
        let index: WeightIndex = serde_json::from_str(&read_text(dir, "weights.json")?)
            .map_err(|e| NlpError::Format(format!("weights.json: {e}")))?;
        let bytes = read(dir, "weights.bin")?;
        if bytes.len() % 4 != 0 {
            return Err(NlpError::Format(
                "weights.bin is not a whole number of f32".into(),
            ));
        }
        let data = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Weights { data, index })
    }

    /// The array `name` and its shape, checked against `shape` (0 = any).
    pub(crate) fn get(
        &self,
        name: &str,
        shape: &[usize],
    ) -> Result<(&[f32], Vec<usize>), NlpError> {
        let a = self
            .index
            .arrays
            .get(name)
            .ok_or_else(|| NlpError::Format(format!("weights.json has no array {name}")))?;
        let len: usize = a.shape.iter().product();
        let ok = a.shape.len() == shape.len()
            && a.shape
                .iter()
                .zip(shape)
                .all(|(&have, &want)| want == 0 || have == want);
        let start = a.offset / 4;
        if !ok || a.offset % 4 != 0 || start + len > self.data.len() {
            return Err(NlpError::Format(format!(
                "array {name} has shape {:?} at byte {}, expected {shape:?} within weights.bin",
                a.shape, a.offset
            )));
        }
        Ok((&self.data[start..start + len], a.shape.clone()))
    }

    pub(crate) fn tok2vec(&self) -> Result<Tok2Vec, NlpError> {
        let want = ["NORM", "PREFIX", "SUFFIX", "SHAPE", "SPACY", "IS_SPACE"];
        if self.index.columns != want || self.index.embeddings.len() != 6 {
            return Err(NlpError::Format(format!(
                "weights.json: feature columns {:?}, expected {want:?}",
                self.index.columns
            )));
        }
        let mut embeds = Vec::new();
        for (i, info) in self.index.embeddings.iter().enumerate() {
            if info.column != i {
                return Err(NlpError::Format(format!(
                    "embedding {i} reads column {}",
                    info.column
                )));
            }
            let (e, shape) = self.get(&format!("embed{i}.E"), &[0, 0])?;
            embeds.push(HashEmbed {
                rows: shape[0],
                width: shape[1],
                seed: info.seed,
                e: e.to_vec(),
            });
        }
        let maxout = |i: usize| -> Result<Maxout, NlpError> {
            let (w, s) = self.get(&format!("maxout{i}.W"), &[0, 0, 0])?;
            let (b, _) = self.get(&format!("maxout{i}.b"), &[s[0], s[1]])?;
            Ok(Maxout::from_thinc(w, b, s[0], s[1], s[2]))
        };
        let norm = |i: usize| -> Result<LayerNorm, NlpError> {
            let (g, s) = self.get(&format!("layernorm{i}.G"), &[0])?;
            let (b, _) = self.get(&format!("layernorm{i}.b"), &[s[0]])?;
            Ok(LayerNorm {
                g: g.to_vec(),
                b: b.to_vec(),
            })
        };
        let reduce = maxout(0)?;
        let width = reduce.n_out;
        let mut cnn = Vec::new();
        for i in 1..5 {
            let layer = maxout(i)?;
            if layer.n_in != 3 * width || layer.n_out != width {
                return Err(NlpError::Format(format!(
                    "maxout{i} does not fit width {width}"
                )));
            }
            cnn.push((layer, norm(i)?));
        }
        Ok(Tok2Vec {
            embeds,
            reduce,
            reduce_norm: norm(0)?,
            pad_row: Tok2Vec::pad_row(&cnn, width),
            cnn,
            width,
        })
    }
}

#[derive(serde::Deserialize)]
struct VocabFile {
    symbols: HashMap<String, u64>,
    lexeme_norm: Vec<(String, String)>,
    base_norms: HashMap<String, String>,
    tags: Vec<String>,
    moves: Vec<String>,
    pos_rules: Vec<PosRule>,
}

/// One attribute_ruler rule that sets the coarse part of speech: a token pattern, which
/// of its tokens gets `pos`.
#[derive(serde::Deserialize)]
pub struct PosRule {
    pattern: Vec<HashMap<String, serde_json::Value>>,
    index: usize,
    pos: String,
}

/// What a rule's pattern can test of a token.
pub struct PosInput<'a> {
    pub tag: &'a str,
    pub lower: &'a str,
    pub dep: &'a str,
    pub is_space: bool,
}

fn value_matches(want: &serde_json::Value, have: &str) -> bool {
    match want {
        serde_json::Value::String(s) => s == have,
        serde_json::Value::Object(o) => {
            let within = |key: &str| match o.get(key) {
                Some(serde_json::Value::Array(list)) => {
                    Some(list.iter().any(|v| v.as_str() == Some(have)))
                }
                _ => None,
            };
            match (within("IN"), within("NOT_IN")) {
                (Some(inside), None) => inside,
                (None, Some(inside)) => !inside,
                _ => false,
            }
        }
        _ => false,
    }
}

impl PosRule {
    fn matches(&self, tokens: &[PosInput], start: usize) -> bool {
        self.pattern.iter().enumerate().all(|(k, spec)| {
            let Some(t) = tokens.get(start + k) else {
                return false;
            };
            spec.iter().all(|(attr, want)| match attr.as_str() {
                "TAG" => value_matches(want, t.tag),
                "LOWER" => value_matches(want, t.lower),
                "DEP" => value_matches(want, t.dep),
                "IS_SPACE" => want.as_bool() == Some(t.is_space),
                _ => false,
            })
        })
    }
}

/// spaCy's string ids and norms.
pub struct Vocab {
    symbols: HashMap<String, u64>,
    lexeme_norm: HashMap<u64, String>,
    base_norms: HashMap<String, String>,
    /// Tagger labels, in output order.
    pub tags: Vec<String>,
    /// Parser moves, in output order.
    pub moves: Vec<String>,
    pos_rules: Vec<PosRule>,
}

impl Vocab {
    pub(crate) fn load(dir: &Path) -> Result<Vocab, NlpError> {
        let v: VocabFile = serde_json::from_str(&read_text(dir, "vocab.json")?)
            .map_err(|e| NlpError::Format(format!("vocab.json: {e}")))?;
        let mut lexeme_norm = HashMap::with_capacity(v.lexeme_norm.len());
        for (key, value) in v.lexeme_norm {
            let key = key
                .parse::<u64>()
                .map_err(|_| NlpError::Format(format!("vocab.json: lexeme_norm key {key}")))?;
            lexeme_norm.insert(key, value);
        }
        Ok(Vocab {
            symbols: v.symbols,
            lexeme_norm,
            base_norms: v.base_norms,
            tags: v.tags,
            moves: v.moves,
            pos_rules: v.pos_rules,
        })
    }

    /// spaCy's id of a string: its symbol id if it has one (the second trap), else its
    /// MurmurHash64A with seed 1; the empty string is 0.
    pub fn string_id(&self, s: &str) -> u64 {
        if s.is_empty() {
            return 0;
        }
        match self.symbols.get(s) {
            Some(&id) => id,
            None => murmur64a(s.as_bytes(), 1),
        }
    }

    /// A token's NORM when no special case set one: the lexeme_norm table, then
    /// spaCy's BASE_NORMS, then the lower case.
    pub fn norm(&self, orth: &str) -> String {
        if let Some(n) = self.lexeme_norm.get(&self.string_id(orth)) {
            return n.clone();
        }
        if let Some(n) = self.base_norms.get(orth) {
            return n.clone();
        }
        orth.to_lowercase()
    }

    /// The coarse part of speech of every token, as spaCy's attribute_ruler sets it (the
    /// rules in order, a later match overriding an earlier one); "" where none applies.
    pub fn coarse_pos(&self, tokens: &[PosInput]) -> Vec<&str> {
        let mut pos = vec![""; tokens.len()];
        for rule in &self.pos_rules {
            for start in 0..tokens.len() {
                if rule.matches(tokens, start) {
                    if let Some(p) = pos.get_mut(start + rule.index) {
                        *p = &rule.pos;
                    }
                }
            }
        }
        pos
    }

    /// The six feature ids of a token, in tok2vec's column order.
    pub fn features(&self, text: &str, norm: &str, space: bool) -> [u64; 6] {
        let n = text.chars().count();
        let prefix: String = text.chars().take(1).collect();
        let suffix: String = text.chars().skip(n.saturating_sub(3)).collect();
        [
            self.string_id(norm),
            self.string_id(&prefix),
            self.string_id(&suffix),
            self.string_id(&word_shape(text)),
            u64::from(space),
            u64::from(!text.is_empty() && text.chars().all(char::is_whitespace)),
        ]
    }
}

/// spaCy's `word_shape`: letters as X/x, digits as d, other characters as themselves,
/// runs cut after four; "LONG" for 100 characters or more.
pub fn word_shape(text: &str) -> String {
    if text.chars().count() >= 100 {
        return "LONG".into();
    }
    let mut shape = String::new();
    let mut last = None;
    let mut seq = 0;
    for c in text.chars() {
        let s = if c.is_alphabetic() {
            if c.is_uppercase() {
                'X'
            } else {
                'x'
            }
        } else if c.is_numeric() {
            'd'
        } else {
            c
        };
        if Some(s) == last {
            seq += 1;
        } else {
            seq = 0;
            last = Some(s);
        }
        if seq < 4 {
            shape.push(s);
        }
    }
    shape
}

/// Lemmas from lemminflect's lookup table (NIH SPECIALIST lexicon).
pub struct Lemmas {
    table: HashMap<(String, &'static str), String>,
}

/// The universal part of speech a Penn tag's lemma is looked up under.
pub fn upos_of(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "NN" | "NNS" => "NOUN",
        "NNP" | "NNPS" => "PROPN",
        "VB" | "VBD" | "VBG" | "VBN" | "VBP" | "VBZ" | "MD" => "VERB",
        "JJ" | "JJR" | "JJS" => "ADJ",
        "RB" | "RBR" | "RBS" => "ADV",
        _ => return None,
    })
}

impl Lemmas {
    pub(crate) fn load(dir: &Path) -> Result<Lemmas, NlpError> {
        let text = read_text(dir, "lemmas.tsv")?;
        let mut table = HashMap::new();
        for line in text.lines() {
            let mut parts = line.split('\t');
            let (Some(form), Some(upos), Some(lemma)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(NlpError::Format(format!("lemmas.tsv: bad line {line:?}")));
            };
            let upos = match upos {
                "NOUN" => "NOUN",
                "PROPN" => "PROPN",
                "VERB" => "VERB",
                "AUX" => "AUX",
                "ADJ" => "ADJ",
                "ADV" => "ADV",
                _ => continue,
            };
            table.insert((form.to_string(), upos), lemma.to_string());
        }
        Ok(Lemmas { table })
    }

    /// Whether the lexicon lists `word` (any case) as a form of a verb.
    pub fn is_verb_form(&self, word: &str) -> bool {
        self.table.contains_key(&(word.to_lowercase(), "VERB"))
    }

    /// Whether the lexicon lists `word` (any case) as a form of a noun.
    pub fn is_noun_form(&self, word: &str) -> bool {
        self.table.contains_key(&(word.to_lowercase(), "NOUN"))
    }

    /// Whether the lexicon lists `word` (any case) under any part of speech: a real
    /// English word, not an invented name ("vuraelt").
    pub fn is_known(&self, word: &str) -> bool {
        let lower = word.to_lowercase();
        ["NOUN", "VERB", "ADJ", "ADV", "AUX", "PROPN"]
            .into_iter()
            .any(|upos| self.table.contains_key(&(lower.clone(), upos)))
    }

    /// The lemma of `word` tagged `tag`: the table's entry for its part of speech (as
    /// written, then in lower case); for an unknown plural noun the singular from
    /// [`crate::learn::normalize::singular`] (the `pluralizer` crate plus exceptions);
    /// else the lower-cased word. Proper nouns keep their case.
    pub fn lemma(&self, word: &str, tag: &str) -> String {
        let Some(upos) = upos_of(tag) else {
            return word.to_lowercase();
        };
        let lower = word.to_lowercase();
        for upos in [upos, if upos == "VERB" { "AUX" } else { upos }] {
            if let Some(l) = self.table.get(&(word.to_string(), upos)) {
                return l.clone();
            }
            if let Some(l) = self.table.get(&(lower.clone(), upos)) {
                return l.clone();
            }
        }
        match tag {
            "NNS" => crate::learn::normalize::singular(&lower),
            "NNP" | "NNPS" => word.to_string(),
            _ => lower,
        }
    }
}
