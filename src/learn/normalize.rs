//! Normalization: the keys that decide when two wordings are the same concept.
//!
//! Ids are derived from these keys ([`crate::graph::ConceptId::derive`]), so the rules
//! here are part of the stored format: changing them changes the ids of new writes.

/// Words dropped from the front of an entity name.
const ARTICLES: [&str; 3] = ["a", "an", "the"];

/// Plural forms that do not follow the suffix rules.
const IRREGULAR: [(&str, &str); 14] = [
    ("men", "man"),
    ("women", "woman"),
    ("children", "child"),
    ("people", "person"),
    ("mice", "mouse"),
    ("geese", "goose"),
    ("feet", "foot"),
    ("teeth", "tooth"),
    ("oxen", "ox"),
    ("wolves", "wolf"),
    ("leaves", "leaf"),
    ("knives", "knife"),
    ("lives", "life"),
    ("halves", "half"),
];

/// Words that end in "s" but are not plurals (or are the same in both numbers).
const NOT_PLURAL: [&str; 8] = [
    "species",
    "series",
    "news",
    "physics",
    "mathematics",
    "means",
    "gas",
    "always",
];

/// The key of a statement: lower case, single spaces, no trailing punctuation.
pub fn sentence_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    while out.ends_with(['.', '!', '?', ';', ' ']) {
        out.pop();
    }
    out
}

/// The name as it should be shown: trimmed, single spaces, leading article dropped,
/// otherwise as first written ("The Eiffel Tower" -> "Eiffel Tower").
pub fn display_name(name: &str) -> String {
    let words: Vec<&str> = name
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, ',' | '.' | '!' | '?' | ';' | ':' | '"')))
        .filter(|w| !w.is_empty())
        .collect();
    let skip = usize::from(words.len() > 1 && ARTICLES.contains(&words[0].to_lowercase().as_str()));
    words[skip..].join(" ")
}

/// The display form of a name used as a generic plural ("Speckled marsh beetles are
/// moths." -> "Speckled marsh beetle"), so a class reads the same whichever way it was
/// first written. Proper names keep their form: a name written with an article ("the
/// Netherlands") or with a capital after its first word ("United States").
pub fn generic_singular(name: &str) -> String {
    let shown = display_name(name);
    let first_is_article = name
        .split_whitespace()
        .next()
        .is_some_and(|w| ARTICLES.contains(&w.to_lowercase().as_str()));
    let mut words: Vec<&str> = shown.split(' ').collect();
    let proper = words[1..]
        .iter()
        .any(|w| w.chars().next().is_some_and(char::is_uppercase));
    let Some(last) = words.pop() else {
        return shown;
    };
    if first_is_article || proper || last.chars().any(|c| !c.is_alphabetic() && c != '-') {
        return shown;
    }
    let lower = last.to_lowercase();
    let one = singular(&lower);
    if one == lower {
        return shown;
    }
    // Keep a capital the writer gave the word (a sentence-initial one).
    let one = if last.chars().next().is_some_and(char::is_uppercase) {
        let mut c = one.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    } else {
        one
    };
    words.push(&one);
    words.join(" ")
}

/// The key of an entity name: case, articles, punctuation, hyphens and the plural of
/// the head (last) word are ignored, so "Dogs", "a dog" and "the dog" are one concept.
pub fn entity_key(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '-' | '_' | '/' => ' ',
            c if c.is_alphanumeric() || c == '\'' || c.is_whitespace() => c,
            _ => ' ',
        })
        .flat_map(char::to_lowercase)
        .collect();
    let mut words: Vec<&str> = cleaned
        .split_whitespace()
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() > 1 && ARTICLES.contains(&words[0]) {
        words.remove(0);
    }
    let Some(last) = words.pop() else {
        return String::new();
    };
    let head = singular(last);
    words.push(&head);
    words.join(" ")
}

/// The singular of one lower-case word (a heuristic; consistent use is what matters,
/// since both the statement and the question go through it).
pub fn singular(word: &str) -> String {
    if let Some((_, s)) = IRREGULAR.iter().find(|(p, _)| *p == word) {
        return s.to_string();
    }
    if word.len() <= 3 || NOT_PLURAL.contains(&word) || word.chars().any(|c| c.is_ascii_digit()) {
        return word.to_string();
    }
    if let Some(stem) = word.strip_suffix("ies") {
        if stem.len() >= 2 {
            return format!("{stem}y");
        }
    }
    for suffix in ["sses", "shes", "ches", "xes", "zzes"] {
        if word.ends_with(suffix) {
            return word[..word.len() - 2].to_string();
        }
    }
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        return word.to_string();
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.ends_with('\'') => stem.to_string(),
        _ => word.to_string(),
    }
}

/// Word stems for loose matching (sorted, deduplicated): lower case, no articles,
/// singular, common suffixes off. Two names match loosely when their stems are equal.
pub fn stems(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .filter(|w| !matches!(w.as_str(), "a" | "an" | "the" | "of"))
        .map(|w| {
            let w = singular(&w);
            for suffix in [
                "ations", "ation", "ures", "ure", "ings", "ing", "ed", "es", "e", "s",
            ] {
                if let Some(stem) = w.strip_suffix(suffix) {
                    if stem.len() >= 3 {
                        return stem.to_string();
                    }
                }
            }
            w
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A fixed 64-bit hash of a name's [`stems`] (`None` for no stems): the key of a shard's
/// stem index. Stored in checkpoints, so it must never change (xxh3, like concept ids).
pub fn stem_hash(stems: &[String]) -> Option<u64> {
    if stems.is_empty() {
        return None;
    }
    Some(xxhash_rust::xxh3::xxh3_64(stems.join("\u{1f}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_keys_ignore_case_articles_plurals_punctuation_hyphens() {
        for w in ["Dogs", "a dog", "the dog", "The Dog.", "DOG"] {
            assert_eq!(entity_key(w), "dog", "{w}");
        }
        assert_eq!(
            entity_key("double-reed instrument"),
            "double reed instrument"
        );
        assert_eq!(
            entity_key("Double reed instruments"),
            "double reed instrument"
        );
        assert_eq!(entity_key("the United States"), entity_key("United States"));
        assert_eq!(entity_key("butterflies"), "butterfly");
        assert_eq!(entity_key("boxes"), "box");
        assert_eq!(entity_key("churches"), "church");
        assert_eq!(entity_key("glass"), "glass");
        assert_eq!(entity_key("virus"), "virus");
        assert_eq!(entity_key("analysis"), "analysis");
        assert_eq!(entity_key("species"), "species");
        assert_eq!(entity_key("wolves"), "wolf");
        assert_eq!(entity_key("Mice"), "mouse");
        assert_eq!(entity_key("A"), "a");
        assert_eq!(entity_key("  "), "");
    }

    #[test]
    fn display_keeps_written_form_minus_article() {
        assert_eq!(display_name("The Eiffel Tower"), "Eiffel Tower");
        assert_eq!(
            display_name("a double-reed instrument"),
            "double-reed instrument"
        );
        assert_eq!(display_name("Vulpes fulva"), "Vulpes fulva");
        assert_eq!(display_name("  United   States. "), "United States");
    }

    #[test]
    fn generic_plurals_read_singular_proper_names_do_not() {
        assert_eq!(
            generic_singular("Speckled marsh beetles"),
            "Speckled marsh beetle"
        );
        assert_eq!(generic_singular("Dogs"), "Dog");
        assert_eq!(generic_singular("mammals"), "mammal");
        assert_eq!(generic_singular("boxes"), "box");
        assert_eq!(generic_singular("United States"), "United States");
        assert_eq!(generic_singular("the Netherlands"), "Netherlands");
        assert_eq!(generic_singular("glass"), "glass");
        assert_eq!(generic_singular("a dog"), "dog");
        assert_eq!(
            entity_key(&generic_singular("Black-throated poarveills")),
            entity_key("black-throated poarveill")
        );
    }

    #[test]
    fn sentence_keys() {
        assert_eq!(
            sentence_key("The Eiffel Tower   is in Paris."),
            sentence_key("the eiffel tower is in paris")
        );
        assert_ne!(
            sentence_key("Paris is in France"),
            sentence_key("France is in Paris")
        );
        assert_eq!(sentence_key("Really?!"), "really");
    }
}
