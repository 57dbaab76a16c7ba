//! English analysis for extraction: tokens, part-of-speech tags, noun-phrase chunks with
//! their head nouns, and lemmas. Pure code: no actors, no I/O after loading.
//!
//! The tokenizer, features, tok2vec and tagger are a Rust port of spaCy's
//! `en_core_web_sm` 3.8.0 (MIT), run on its own weights, which `scripts/setup-nlp.py`
//! exports by package name at set-up time. Its tags equal spaCy's on the golden file the
//! set-up makes with real spaCy (tests in `golden.rs`). Lemmas come from lemminflect's
//! tables (NIH SPECIALIST lexicon), not spaCy's lemmatizer, which turns "scissors" into
//! "scissor". Chunks are read from the tags (see [`chunk`]).
//!
//! The model loads once per process: [`Nlp::shared`] (from [`default_dir`]) or
//! [`Nlp::load`] with a directory; a missing directory is an error that names the
//! missing file and the set-up command.

pub mod chunk;
mod hash;
pub mod matmul;
pub mod model;
pub mod parser;
pub mod tok2vec;
pub mod tokenizer;

#[cfg(test)]
mod golden;

pub use chunk::Chunk;
pub use model::{default_dir, dir_beside, SETUP_COMMAND};

use matmul::Packed;
use model::{Lemmas, Vocab, Weights};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tok2vec::{argmax, Tok2Vec};
use tokenizer::Tokenizer;

/// Why the model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NlpError {
    /// A file of the model directory is missing or unreadable.
    #[error("cannot read {}: {reason}; prepare it with `{SETUP_COMMAND}` (or set SUTRA_NLP_DIR)", path.display())]
    Missing { path: PathBuf, reason: String },
    /// A file is there but not as the set-up writes it.
    #[error(
        "the nlp model data is damaged or from another version ({0}); re-run `{SETUP_COMMAND}`"
    )]
    Format(String),
}

/// One analysed token.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// As written.
    pub text: String,
    /// A space follows it.
    pub space: bool,
    /// spaCy's NORM (lower case, with spelling variants unified: "n't" -> "not").
    pub norm: String,
    /// Penn Treebank tag ("NN", "VBZ", ...).
    pub tag: &'static str,
    /// Universal part of speech ("NOUN", "PROPN", "PRON", ...), as spaCy's
    /// attribute_ruler sets it from the tag, the word and the parse; only after
    /// [`Nlp::analyze`].
    pub pos: String,
    /// Dictionary form ("mice" -> "mouse", "is" -> "be").
    pub lemma: String,
    /// Index of its syntactic head (itself for a root); only after [`Nlp::analyze`].
    pub head: usize,
    /// Dependency label ("nsubj", "attr", "ROOT", ...); empty before parsing.
    pub dep: String,
}

/// An analysed sentence (or any text: it is not split into sentences).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Doc {
    pub tokens: Vec<Token>,
    /// Base noun phrases, left to right.
    pub chunks: Vec<Chunk>,
}

/// The loaded model.
pub struct Nlp {
    tokenizer: Tokenizer,
    vocab: Vocab,
    tok2vec: Tok2Vec,
    /// Tagger softmax layer (its argmax is the tag).
    tagger: Packed,
    /// Tag names, leaked once so tokens can hold `&'static str` (one model per process).
    tags: Vec<&'static str>,
    lemmas: Lemmas,
    parser: parser::Parser,
}

static SHARED: OnceLock<Result<Nlp, String>> = OnceLock::new();

impl Nlp {
    /// Loads the model data from `dir` (the output of `scripts/setup-nlp.py`).
    pub fn load(dir: &Path) -> Result<Nlp, NlpError> {
        let weights = Weights::load(dir)?;
        let vocab = Vocab::load(dir)?;
        let tok2vec = weights.tok2vec()?;
        let n_tags = vocab.tags.len();
        let (w, _) = weights.get("tagger.W", &[n_tags, tok2vec.width])?;
        let (b, _) = weights.get("tagger.b", &[n_tags])?;
        let tags = vocab
            .tags
            .iter()
            .map(|t| &*Box::leak(t.clone().into_boxed_str()))
            .collect();
        Ok(Nlp {
            tokenizer: Tokenizer::from_json(&model::read_text(dir, "tokenizer.json")?)?,
            parser: parser::Parser::new(&weights, &vocab.moves, tok2vec.width)?,
            tagger: Packed::from_out_major(w, b, n_tags, tok2vec.width),
            tok2vec,
            vocab,
            tags,
            lemmas: Lemmas::load(dir)?,
        })
    }

    /// The process-wide model: the one [`Nlp::init_shared`] loaded, else the one in
    /// [`default_dir`], loaded on first use (and an error naming the missing file and
    /// the set-up command if it cannot be).
    pub fn shared() -> Result<&'static Nlp, String> {
        SHARED
            .get_or_init(|| Nlp::load(&default_dir()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Loads the process-wide model from `dir` unless one is loaded already (a node
    /// calls this at start with the directory beside its embedding model).
    pub fn init_shared(dir: &Path) -> Result<&'static Nlp, String> {
        SHARED
            .get_or_init(|| Nlp::load(dir).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Tokens with their norms, tags and lemmas (no parse, no chunks).
    pub fn tag(&self, text: &str) -> Vec<Token> {
        self.run(text, false)
    }

    fn run(&self, text: &str, parse: bool) -> Vec<Token> {
        let raw = self.tokenizer.tokenize(text);
        if raw.is_empty() {
            return Vec::new();
        }
        let norms: Vec<String> = raw
            .iter()
            .map(|t| t.norm.clone().unwrap_or_else(|| self.vocab.norm(&t.text)))
            .collect();
        let features: Vec<[u64; 6]> = raw
            .iter()
            .zip(&norms)
            .map(|(t, n)| self.vocab.features(&t.text, n, t.space))
            .collect();
        let vectors = self.tok2vec.forward(&features);
        let n_tags = self.tags.len();
        let deps = if parse {
            self.parser.parse(&vectors, raw.len(), self.tok2vec.width)
        } else {
            Vec::new()
        };
        let mut scores = vec![0f32; raw.len() * n_tags];
        self.tagger
            .forward(&vectors, raw.len(), self.tok2vec.width, &mut scores);
        raw.into_iter()
            .zip(norms)
            .enumerate()
            .map(|(i, (t, norm))| {
                let tag = self.tags[argmax(&scores[i * n_tags..(i + 1) * n_tags])];
                let (head, dep) = deps
                    .get(i)
                    .map_or((i, String::new()), |d| (d.head, d.label.clone()));
                Token {
                    head,
                    dep,
                    pos: String::new(),
                    lemma: self.lemmas.lemma(&t.text, tag),
                    text: t.text,
                    space: t.space,
                    norm,
                    tag,
                }
            })
            .collect()
    }

    /// The full analysis: tokens, tags, lemmas and noun-phrase chunks.
    pub fn analyze(&self, text: &str) -> Doc {
        let mut tokens = self.run(text, true);
        let lowers: Vec<String> = tokens.iter().map(|t| t.text.to_lowercase()).collect();
        let inputs: Vec<model::PosInput> = tokens
            .iter()
            .zip(&lowers)
            .map(|(t, lower)| model::PosInput {
                tag: t.tag,
                lower,
                dep: &t.dep,
                is_space: t.text.chars().all(char::is_whitespace),
            })
            .collect();
        let pos: Vec<String> = self
            .vocab
            .coarse_pos(&inputs)
            .into_iter()
            .map(str::to_string)
            .collect();
        for (t, p) in tokens.iter_mut().zip(pos) {
            t.pos = p;
        }
        let chunks = chunk::noun_chunks(&tokens);
        Doc { tokens, chunks }
    }

    /// The tokenizer alone.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Whether the lexicon knows `word` as a verb form ("used", "housing"): a tag alone
    /// can be a guess on an unknown word.
    pub fn is_verb_form(&self, word: &str) -> bool {
        self.lemmas.is_verb_form(word)
    }

    /// Whether the lexicon lists a word as a form of a noun.
    pub fn is_noun_form(&self, word: &str) -> bool {
        self.lemmas.is_noun_form(word)
    }

    /// Whether the lexicon lists a word under any part of speech (see
    /// [`model::Lemmas::is_known`]).
    pub fn is_known(&self, word: &str) -> bool {
        self.lemmas.is_known(word)
    }

    /// The lemma of a word with a given tag.
    pub fn lemma(&self, word: &str, tag: &str) -> String {
        self.lemmas.lemma(word, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlp() -> &'static Nlp {
        &golden::data().0
    }

    #[test]
    fn noun_lemmas_come_from_the_lexicon() {
        let nlp = nlp();
        for (word, lemma) in [
            ("scissors", "scissors"),
            ("species", "species"),
            ("mice", "mouse"),
            ("paralyses", "paralysis"),
            ("corpora", "corpus"),
            ("hooves", "hoof"),
            ("buildings", "building"),
        ] {
            assert_eq!(nlp.lemma(word, "NNS"), lemma, "{word}");
        }
        // Not in the lexicon: the pluralizer fallback.
        assert_eq!(nlp.lemma("glorbaxes", "NNS"), "glorbax");
        assert_eq!(nlp.lemma("was", "VBD"), "be");
        assert_eq!(nlp.lemma("Cornell", "NNP"), "Cornell");
    }

    #[test]
    fn analyze_gives_tags_parse_chunks_and_lemmas() {
        let doc = nlp().analyze("The mice were chased by two cats.");
        let words: Vec<(&str, &str, &str)> = doc
            .tokens
            .iter()
            .map(|t| (t.text.as_str(), t.tag, t.lemma.as_str()))
            .collect();
        assert_eq!(words[1], ("mice", "NNS", "mouse"));
        assert_eq!(words[2], ("were", "VBD", "be"));
        assert_eq!(doc.tokens[1].dep, "nsubjpass");
        assert_eq!(doc.tokens[1].head, 3);
        let heads: Vec<&str> = doc
            .chunks
            .iter()
            .map(|c| doc.tokens[c.head].text.as_str())
            .collect();
        assert_eq!(heads, ["mice", "cats"]);
        assert!(nlp().analyze("").tokens.is_empty());
    }

    #[test]
    fn a_missing_directory_names_the_file_and_the_set_up_command() {
        let dir = std::env::temp_dir().join("sutra-nlp-no-such-dir");
        let err = Nlp::load(&dir).err().expect("no model there").to_string();
        assert!(err.contains("weights.json"), "{err}");
        assert!(err.contains(SETUP_COMMAND), "{err}");
    }
}
