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
    suffix: Suffix,
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
            suffix: Suffix::new(&rules.suffix, &compile)?,
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
                || tokenizer.suffix.len(key) != 0
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
            let suf_len = self.suffix.len(&s[pre_len..]);
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

/// spaCy's suffix pattern, split so that no search backtracks through it.
///
/// Every alternative of spaCy's suffix pattern ends at `$`, so the suffix `re.search`
/// finds is the one with the earliest start over all alternatives. The plain
/// alternatives go into one pattern without look-arounds (which `fancy_regex` hands whole
/// to the `regex` automata); each alternative `(?<=L)rest$` becomes `(?:L)(rest)$`:
/// Python's look-behinds are fixed-width, so the earliest match of that gives the
/// alternative's earliest suffix start as its group. A pattern of any other shape is kept
/// whole (the backtracking search, same answers).
enum Suffix {
    Split {
        plain: Option<Regex>,
        behind: Vec<Regex>,
    },
    Whole(Regex),
}

impl Suffix {
    fn new(
        pattern: &str,
        compile: &dyn Fn(&str, &str) -> Result<Regex, NlpError>,
    ) -> Result<Suffix, NlpError> {
        let alts = top_level_alternatives(pattern);
        let mut plain = Vec::new();
        let mut behind = Vec::new();
        for alt in &alts {
            let looks = |t: &str| ["(?=", "(?!", "(?<=", "(?<!"].iter().any(|l| t.contains(l));
            if !alt.ends_with('$') {
                return Ok(Suffix::Whole(compile("suffix", pattern)?));
            }
            if !looks(alt) {
                plain.push(alt.as_str());
                continue;
            }
            match lookbehind_and_rest(alt) {
                Some((body, rest)) if !looks(body) && !looks(rest) => {
                    behind.push(compile("suffix", &format!("(?:{body})({rest})"))?);
                }
                _ => return Ok(Suffix::Whole(compile("suffix", pattern)?)),
            }
        }
        let plain = if plain.is_empty() {
            None
        } else {
            Some(compile("suffix", &plain.join("|"))?)
        };
        Ok(Suffix::Split { plain, behind })
    }

    /// The length of the suffix (0: none).
    fn len(&self, s: &str) -> usize {
        match self {
            Suffix::Whole(re) => find_len(re, s),
            Suffix::Split { plain, behind } => {
                let mut start = plain
                    .as_ref()
                    .and_then(|re| re.find(s).ok().flatten())
                    .map(|m| m.start());
                for re in behind {
                    let at = re.captures(s).ok().flatten().and_then(|c| c.get(1));
                    if let Some(at) = at.map(|m| m.start()) {
                        if start.is_none_or(|st| at < st) {
                            start = Some(at);
                        }
                    }
                }
                start.map_or(0, |st| s.len() - st)
            }
        }
    }
}

/// The top-level `|` alternatives of a Python pattern (outside groups and classes).
fn top_level_alternatives(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut in_class, mut cur) = (0usize, false, String::new());
    let mut chars = p.chars().peekable();
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                class_start = false;
                continue;
            }
            ']' if in_class && !class_start => in_class = false,
            '[' if !in_class => {
                in_class = true;
                cur.push(c);
                if chars.peek() == Some(&'^') {
                    cur.push('^');
                    chars.next();
                }
                class_start = true;
                continue;
            }
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth = depth.saturating_sub(1),
            '|' if !in_class && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                class_start = false;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        class_start = false;
    }
    out.push(cur);
    out
}

/// `(?<=L)rest` -> (`L`, `rest`): the look-behind's body and what follows it.
fn lookbehind_and_rest(alt: &str) -> Option<(&str, &str)> {
    let body = alt.strip_prefix("(?<=")?;
    let (mut depth, mut in_class, mut class_start) = (1usize, false, false);
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                if chars.peek().is_some_and(|&(_, n)| n == '^') {
                    chars.next();
                }
                continue;
            }
            ']' if in_class && !class_start => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                depth -= 1;
                if depth == 0 {
                    return Some((&body[..i], &body[i + 1..]));
                }
            }
            _ => {}
        }
        class_start = false;
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The split suffix search gives the whole pattern's answer on every chunk of the
    /// golden sentences and on strings made for the look-behind alternatives.
    #[test]
    fn split_suffix_matches_the_whole_pattern() {
        let dir = crate::nlp::default_dir();
        let json =
            crate::nlp::model::read_text(&dir, "tokenizer.json").unwrap_or_else(|e| panic!("{e}"));
        let rules: Rules = serde_json::from_str(&json).expect("tokenizer.json");
        let compile = |_: &str, p: &str| {
            Regex::new(&python_to_rust_regex(p)).map_err(|e| NlpError::Format(e.to_string()))
        };
        let split = Suffix::new(&rules.suffix, &compile).expect("suffix compiles");
        assert!(
            matches!(&split, Suffix::Split { behind, .. } if !behind.is_empty()),
            "spaCy's suffix pattern is expected to split"
        );
        let whole = compile("", &rules.suffix).expect("suffix compiles");
        let golden = std::fs::read_to_string(dir.join("golden.jsonl")).unwrap_or_default();
        let mut words: Vec<String> = golden
            .split(|c: char| c.is_whitespace() || c == '"')
            .map(str::to_string)
            .collect();
        for w in [
            "5+", "32°F.", "32°C.", "10$", "10US$", "5km", "5km²", "3kg.", "12%", "abc.", "ABC.",
            "a.", "A.", "'s", "word's", "U.S.", "(x)", "x)", "1990s", "e.g.", "5m/s", "°F.", "+",
            ".", "", "é.", "É.", "ä's", "20€", "2,000km", "x'", "yes!", "...", "a...",
        ] {
            words.push(w.to_string());
        }
        for w in &words {
            // Every tail of the chunk, as the affix loop asks.
            for (i, _) in w.char_indices() {
                let t = &w[i..];
                assert_eq!(split.len(t), find_len(&whole, t), "suffix of {t:?}");
            }
        }
    }
}
