//! spaCy's English tokenizer (3.8), from the rules the set-up exports.
//!
//! The algorithm is `spacy/tokenizer.pyx` without its cache: the text is cut at spaces;
//! a chunk that is a special case ("don't" -> "do" "n't") is replaced by its tokens;
//! otherwise prefixes and suffixes are peeled off (stopping as soon as what is left, or
//! the text without the prefix or suffix just found, is a special case), the middle is
//! a special case, a URL, or split at infixes. The patterns are spaCy's own, in Python
//! `re` syntax; [`python_to_rust_regex`] makes the few character-class spellings that
//! differ mean the same to `fancy_regex` (which also gives the look-arounds they use).

use super::NlpError;
use fancy_regex::Regex;
use std::collections::HashMap;
use std::sync::Mutex;

/// One token: its text, whether a space follows it, and the norm a special case set.
#[derive(Clone, Debug, PartialEq)]
pub struct RawToken {
    /// The token as written.
    pub text: String,
    /// A single space follows it in the text.
    pub space: bool,
    /// The norm a special case gives it ("n't" -> "not"), if any.
    pub norm: Option<String>,
}

/// The tokenizer: compiled affix patterns and the special cases.
pub struct Tokenizer {
    prefix: Regex,
    suffix: Regex,
    infix: Regex,
    url: Option<Regex>,
    specials: HashMap<String, Vec<(String, Option<String>)>>,
    /// Special cases that affix splitting would take apart (":)", "St."), as the tokens
    /// that splitting makes, by first token: found again after splitting (spaCy's
    /// `_special_matcher`).
    affixed: HashMap<String, Vec<(String, Vec<String>)>>,
    /// Tokens of space-delimited chunks seen before, as spaCy's tokenizer caches them:
    /// the affix patterns are long alternations that `fancy_regex` runs by backtracking,
    /// and words repeat. Bounded: emptied when it reaches [`CACHE_ENTRIES`].
    cache: Mutex<HashMap<String, Vec<RawToken>>>,
}

/// Most chunks the tokenizer cache holds (about 100 bytes each).
const CACHE_ENTRIES: usize = 100_000;

#[derive(serde::Deserialize)]
struct Rules {
    prefix: String,
    suffix: String,
    infix: String,
    url: Option<String>,
    token_match: Option<String>,
    special_cases: HashMap<String, Vec<(String, Option<String>)>>,
}

impl Tokenizer {
    /// Builds the tokenizer from the set-up's `tokenizer.json` text.
    pub fn from_json(json: &str) -> Result<Tokenizer, NlpError> {
        let rules: Rules = serde_json::from_str(json)
            .map_err(|e| NlpError::Format(format!("tokenizer.json: {e}")))?;
        if rules.token_match.is_some() {
            // en_core_web_sm has none; a model with one needs it ported first.
            return Err(NlpError::Format(
                "tokenizer.json has a token_match pattern, which this port does not support".into(),
            ));
        }
        let compile = |name: &str, p: &str| {
            Regex::new(&python_to_rust_regex(p))
                .map_err(|e| NlpError::Format(format!("tokenizer.json {name} pattern: {e}")))
        };
        let mut tokenizer = Tokenizer {
            prefix: compile("prefix", &rules.prefix)?,
            suffix: compile("suffix", &rules.suffix)?,
            infix: compile("infix", &rules.infix)?,
            url: rules
                .url
                .as_deref()
                .map(|p| compile("url", p))
                .transpose()?,
            specials: rules.special_cases,
            affixed: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        };
        // As spaCy's `_add_special_case` (faster_heuristics): a special case that has a
        // prefix, suffix, infix or space is also matched on the split tokens.
        let mut affixed: HashMap<String, Vec<(String, Vec<String>)>> = HashMap::new();
        for key in tokenizer.specials.keys() {
            let affixy = find_end(&tokenizer.prefix, key) != 0
                || find_len(&tokenizer.suffix, key) != 0
                || tokenizer.infix.find(key).ok().flatten().is_some()
                || key.contains(' ');
            if affixy {
                let parts: Vec<String> = tokenizer
                    .split(key, false)
                    .into_iter()
                    .map(|t| t.text)
                    .collect();
                affixed
                    .entry(first_token_of(&parts))
                    .or_default()
                    .push((key.clone(), parts));
            }
        }
        for list in affixed.values_mut() {
            list.sort();
        }
        tokenizer.affixed = affixed;
        Ok(tokenizer)
    }

    /// Splits `text` into tokens. Whitespace other than one space after a token becomes
    /// a token of its own, as in spaCy.
    pub fn tokenize(&self, text: &str) -> Vec<RawToken> {
        let tokens = self.split(text, true);
        self.apply_affixed_specials(tokens)
    }

    /// The whitespace split and affix rules; `specials`: whether special cases apply.
    fn split(&self, text: &str, specials: bool) -> Vec<RawToken> {
        let mut out: Vec<RawToken> = Vec::new();
        let mut start = 0;
        let mut in_ws = text.chars().next().is_some_and(char::is_whitespace);
        for (i, c) in text.char_indices() {
            if c.is_whitespace() != in_ws {
                if start < i {
                    self.tokenize_span(&text[start..i], specials, &mut out);
                }
                if c == ' ' {
                    if let Some(last) = out.last_mut() {
                        last.space = true;
                    }
                    start = i + 1;
                } else {
                    start = i;
                }
                in_ws = !in_ws;
            }
        }
        if start < text.len() {
            self.tokenize_span(&text[start..], specials, &mut out);
            if let Some(last) = out.last_mut() {
                last.space = text.ends_with(' ') && !in_ws;
            }
        }
        out
    }

    /// spaCy's `_apply_special_cases`: affixed special cases found in the token
    /// sequence (longest first, then leftmost, never overlapping) replace their tokens.
    fn apply_affixed_specials(&self, tokens: Vec<RawToken>) -> Vec<RawToken> {
        let mut spans: Vec<(usize, usize, &str)> = Vec::new();
        for i in 0..tokens.len() {
            let Some(cands) = self.affixed.get(&tokens[i].text) else {
                continue;
            };
            for (key, parts) in cands {
                let end = i + parts.len();
                if end > tokens.len()
                    || !tokens[i..end].iter().zip(parts).all(|(t, p)| &t.text == p)
                {
                    continue;
                }
                // The span's text, spaces included, must be the special case itself.
                let mut text = String::new();
                for (k, t) in tokens[i..end].iter().enumerate() {
                    text.push_str(&t.text);
                    if t.space && k + 1 < parts.len() {
                        text.push(' ');
                    }
                }
                if text == *key {
                    spans.push((i, end, key));
                }
            }
        }
        if spans.is_empty() {
            return tokens;
        }
        // spaCy's filter_spans: longest first, then leftmost; no overlaps.
        spans.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
        let mut taken = vec![false; tokens.len()];
        let mut chosen = Vec::new();
        for (s, e, key) in spans {
            if taken[s..e].iter().any(|&t| t) {
                continue;
            }
            taken[s..e].iter_mut().for_each(|t| *t = true);
            chosen.push((s, e, key));
        }
        chosen.sort();
        let mut out = Vec::with_capacity(tokens.len());
        let mut next = chosen.into_iter().peekable();
        let mut i = 0;
        while i < tokens.len() {
            match next.peek() {
                Some(&(s, e, key)) if s == i => {
                    let from = out.len();
                    self.push_special(key, &mut out);
                    if let Some(last) = out[from..].last_mut() {
                        last.space = tokens[e - 1].space;
                    }
                    next.next();
                    i = e;
                }
                _ => {
                    out.push(tokens[i].clone());
                    i += 1;
                }
            }
        }
        out
    }

    fn push_special(&self, span: &str, out: &mut Vec<RawToken>) -> bool {
        match self.specials.get(span) {
            Some(tokens) => {
                out.extend(tokens.iter().map(|(orth, norm)| RawToken {
                    text: orth.clone(),
                    space: false,
                    norm: norm.clone(),
                }));
                true
            }
            None => false,
        }
    }

    fn tokenize_span(&self, span: &str, specials: bool, out: &mut Vec<RawToken>) {
        if specials && self.push_special(span, out) {
            return;
        }
        if specials {
            // A poisoned lock only means another thread panicked mid-insert of a
            // finished entry: the map is still sound.
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(tokens) = cache.get(span) {
                out.extend(tokens.iter().cloned());
                return;
            }
        }
        let from = out.len();
        let mut prefixes = Vec::new();
        let mut suffixes = Vec::new();
        let middle = self.split_affixes(span, specials, &mut prefixes, &mut suffixes);
        out.extend(prefixes.into_iter().map(plain));
        self.attach_middle(middle, specials, out);
        out.extend(suffixes.into_iter().rev().map(plain));
        if specials {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(span.to_string(), out[from..].to_vec());
        }
    }

    /// `Tokenizer._split_affixes`: peels prefixes and suffixes off `s`, returning the
    /// middle. Suffixes come out innermost last.
    fn split_affixes<'a>(
        &self,
        mut s: &'a str,
        specials: bool,
        prefixes: &mut Vec<&'a str>,
        suffixes: &mut Vec<&'a str>,
    ) -> &'a str {
        let special = |x: &str| specials && self.specials.contains_key(x);
        let mut last_len = usize::MAX;
        while !s.is_empty() && s.len() != last_len {
            if special(s) {
                break;
            }
            last_len = s.len();
            let pre_len = find_end(&self.prefix, s);
            if pre_len != 0 {
                let minus_pre = &s[pre_len..];
                if !minus_pre.is_empty() && special(minus_pre) {
                    prefixes.push(&s[..pre_len]);
                    s = minus_pre;
                    break;
                }
            }
            let suf_len = find_len(&self.suffix, &s[pre_len..]);
            if suf_len != 0 {
                let minus_suf = &s[..s.len() - suf_len];
                if !minus_suf.is_empty() && special(minus_suf) {
                    suffixes.push(&s[s.len() - suf_len..]);
                    s = minus_suf;
                    break;
                }
            }
            if pre_len != 0 && suf_len != 0 && pre_len + suf_len <= s.len() {
                prefixes.push(&s[..pre_len]);
                suffixes.push(&s[s.len() - suf_len..]);
                s = &s[pre_len..s.len() - suf_len];
            } else if pre_len != 0 {
                prefixes.push(&s[..pre_len]);
                s = &s[pre_len..];
            } else if suf_len != 0 {
                suffixes.push(&s[s.len() - suf_len..]);
                s = &s[..s.len() - suf_len];
            }
            if !s.is_empty() && special(s) {
                break;
            }
        }
        s
    }

    /// `Tokenizer._attach_tokens` for the middle: a special case, a URL, or infix splits.
    fn attach_middle(&self, s: &str, specials: bool, out: &mut Vec<RawToken>) {
        if s.is_empty() || (specials && self.push_special(s, out)) {
            return;
        }
        if self
            .url
            .as_ref()
            .is_some_and(|re| re.is_match(s).unwrap_or(false))
        {
            out.push(plain(s));
            return;
        }
        let mut start = 0;
        let mut any = false;
        for m in self.infix.find_iter(s).flatten() {
            any = true;
            if m.start() == 0 {
                // An infix at the very start is no split (spaCy's start_before_infixes).
                continue;
            }
            if m.start() != start {
                out.push(plain(&s[start..m.start()]));
            }
            if m.start() != m.end() {
                out.push(plain(m.as_str()));
            }
            start = m.end();
        }
        if !any {
            out.push(plain(s));
        } else if start < s.len() {
            out.push(plain(&s[start..]));
        }
    }
}

fn first_token_of(parts: &[String]) -> String {
    parts.first().cloned().unwrap_or_default()
}

fn plain(s: &str) -> RawToken {
    RawToken {
        text: s.to_string(),
        space: false,
        norm: None,
    }
}

/// Where the prefix pattern's match ends (0: none). A pattern error counts as no match.
fn find_end(re: &Regex, s: &str) -> usize {
    re.find(s).ok().flatten().map_or(0, |m| m.end())
}

/// The length of the suffix pattern's match (0: none).
fn find_len(re: &Regex, s: &str) -> usize {
    re.find(s).ok().flatten().map_or(0, |m| m.end() - m.start())
}

/// Rewrites a Python `re` pattern so `fancy_regex` reads it the same way. Inside a
/// character class Python takes `[`, `&&`, `--` and `~~` literally, where Rust's regex
/// syntax reads a nested class or a set operation: they are escaped.
pub fn python_to_rust_regex(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
                class_start = false;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push(c);
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                // A `]` first in a class is literal in Python.
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
                continue;
            }
            '[' if in_class => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && (class_start || chars.peek() == Some(&']')) => out.push_str("\\-"),
            '-' if in_class && chars.peek() == Some(&'-') => out.push_str("\\-"),
            _ => out.push(c),
        }
        class_start = false;
    }
    out
}
