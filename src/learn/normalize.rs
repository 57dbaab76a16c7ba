//! Normalization: the keys that decide when two wordings are the same concept.
//!
//! Ids are derived from these keys ([`crate::graph::ConceptId::derive`]), so the rules
//! here are part of the stored format: changing them changes the ids of new writes.

/// Words dropped from the front of an entity name.
const ARTICLES: [&str; 3] = ["a", "an", "the"];

/// Plural forms the legacy suffix rules ([`legacy_singular`]) know.
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

/// Words the legacy suffix rules leave alone although they end in "s".
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

// The exceptions to the `pluralizer` crate (its rules are those of the `pluralize` npm
// package). Each entry fixes a measured error of the crate on the word list in this
// module's tests; words the crate gets right are not listed.

/// Words that are the same in both numbers and have no other singular: kept as they are,
/// in keys too ("species", never "specie").
#[rustfmt::skip]
const SAME_IN_BOTH: &[&str] = &[
    "species", "series", "news", "means", "physics", "mathematics", "economics", "politics",
    "ethics", "linguistics", "genetics", "electronics", "acoustics", "optics", "gymnastics",
    "aerobics", "measles", "mumps", "rabies", "billiards",
];

/// Plural-only words ("a scissors", "the secateurs"): shown as written, but keyed without
/// their final "s", so the attributive "scissor" finds the same concept.
#[rustfmt::skip]
const PLURAL_ONLY: &[&str] = &[
    "scissors", "secateurs", "trousers", "pliers", "tongs", "shears", "clothes", "goods",
    "collards", "binoculars", "tweezers", "pants", "shorts", "pajamas", "pyjamas",
    "spectacles", "leggings", "tights", "earnings", "remains", "surroundings", "outskirts",
    "premises", "thanks",
];

/// Singulars ending in a plain "s" that the crate would cut ("eyas" -> "eya"); their
/// plural is the word plus "es" ("eyases").
#[rustfmt::skip]
const SINGULAR_S: &[&str] = &[
    "bias", "lens", "eyas", "pancreas", "chaos", "cosmos", "ethos", "pathos", "thermos",
    "rhinoceros", "asbestos", "lotus",
];

/// Classical plurals the crate does not know.
const CLASSICAL: &[(&str, &str)] = &[
    ("corpora", "corpus"),
    ("memoranda", "memorandum"),
    ("apices", "apex"),
    ("cortices", "cortex"),
    ("vortices", "vortex"),
    ("simplices", "simplex"),
    ("helices", "helix"),
    ("dormice", "dormouse"),
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
    let head = head_key(last);
    words.push(&head);
    words.join(" ")
}

/// The key of one lower-case head word: its singular ([`singular`]), taken again until it
/// stops changing, so that a singular written as such and its plural meet on one key even
/// where the singular rules over-cut an unseen singular ("specimen" -> "speciman" <-
/// "specimens"). Plural-only words key without their "s" ("scissors" -> "scissor"),
/// and "-sis" keys as "-ses" does ("neurosis" and "neuroses" -> "neurose"; this also puts
/// "basis" with "base", whose plurals are one word); "-ie" keys as "-y". A key is not a
/// display form.
pub fn head_key(word: &str) -> String {
    if SAME_IN_BOTH.contains(&word) {
        return word.to_string();
    }
    let mut key = word.to_string();
    for _ in 0..3 {
        let next = if PLURAL_ONLY.contains(&key.as_str()) {
            key[..key.len() - 1].to_string()
        } else if let Some(stem) = key.strip_suffix("sis") {
            singular(&format!("{stem}ses"))
        } else {
            singular(&key)
        };
        if next == key {
            break;
        }
        key = next;
    }
    // "-ies" is the plural of "-y" and of "-ie", and the crate picks wrongly both ways
    // ("daisies" -> "daisie", "prairies" -> "prairy"): "-ie" keys as "-y".
    match key.strip_suffix("ie") {
        Some(stem) if stem.len() >= 2 => format!("{stem}y"),
        _ => key,
    }
}

/// The singular of one lower-case word, for showing a generic plural in the singular:
/// the `pluralizer` crate's singular, after the exception tables above and two suffix
/// rules the crate lacks ("-sis" is singular, "-lyses" -> "-lysis", "-sies" -> "-sy",
/// "-ae" -> "-a"). A
/// word that is already singular comes back unchanged (except the crate's rare
/// over-cuts, e.g. "-men" -> "-man": never apply it to a name written in the singular).
pub fn singular(word: &str) -> String {
    if word.chars().count() <= 2 || word.chars().any(|c| c.is_ascii_digit()) {
        return word.to_string();
    }
    if SAME_IN_BOTH.contains(&word) || PLURAL_ONLY.contains(&word) || SINGULAR_S.contains(&word) {
        return word.to_string();
    }
    if let Some((_, one)) = CLASSICAL.iter().find(|(many, _)| *many == word) {
        return one.to_string();
    }
    if let Some(stem) = word.strip_suffix("es") {
        if SINGULAR_S.contains(&stem) {
            return stem.to_string();
        }
    }
    if word.ends_with("sis") {
        return word.to_string();
    }
    if let Some(stem) = word.strip_suffix("lyses") {
        return format!("{stem}lysis");
    }
    if let Some(stem) = word.strip_suffix("sies") {
        return format!("{stem}sy");
    }
    if word.len() > 4 && word.ends_with("ae") {
        return word[..word.len() - 1].to_string();
    }
    let one = pluralizer::pluralize(word, 1, false);
    // A possessive ("dog's") is no plural: keep its "s".
    if one.ends_with('\'') {
        return word.to_string();
    }
    one
}

/// Whether a lower-case word can be a plural noun: its singular differs ("mice"), or it
/// is the same in both numbers ("species") or plural-only ("scissors").
pub fn may_be_plural(word: &str) -> bool {
    SAME_IN_BOTH.contains(&word) || PLURAL_ONLY.contains(&word) || singular(word) != word
}

/// The suffix rules keys used before the `pluralizer` crate. [`stems`] keeps them: stem
/// hashes are stored in checkpoints, and loose matching needs no better singular.
fn legacy_singular(word: &str) -> String {
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
            let w = legacy_singular(&w);
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

    /// Singular and plural of 369 nouns, "singular plural" (the same word twice for
    /// invariants): regular -s/-es/-ies, -ses/-xes/-ches, -f/-ves, -o, Latin and Greek
    /// (-is/-es, -um/-a, -us/-i, -ex/-ices, -a/-ae), irregulars, invariants, plural-only
    /// words and invented words. The first 278 were used to choose the crate and write the
    /// exception tables; the rest (from "hawk") were measured before the tables were
    /// finished (see the commit message for the figures).
    const WORDS: &str = "
        dog dogs, cat cats, mammal mammals, tree trees, bird birds, fruit fruits, tool tools,
        guava guavas, banana bananas, instrument instruments, house houses, horse horses,
        rose roses, case cases, phase phases, vase vases, nose noses, cause causes,
        response responses, purse purses, course courses, nurse nurses, verse verses,
        universe universes, database databases, disease diseases, cheese cheeses,
        release releases, purchase purchases, license licenses, tortoise tortoises,
        porpoise porpoises, mongoose mongooses, spouse spouses, blouse blouses, German Germans,
        human humans, shaman shamans, talisman talismans, caiman caimans, dolphin dolphins,
        whale whales, movie movies, cookie cookies, pie pies, tie ties, zombie zombies,
        calorie calories, prairie prairies, collie collies, hippie hippies, eye eyes,
        shoe shoes, canoe canoes, toe toes, box boxes, fox foxes, tax taxes, church churches,
        match matches, watch watches, bench benches, brush brushes, dish dishes, wish wishes,
        quiz quizzes, buzz buzzes, glass glasses, class classes, boss bosses, kiss kisses,
        dress dresses, address addresses, business businesses, witness witnesses, bus buses,
        gas gases, atlas atlases, canvas canvases, alias aliases, bias biases, iris irises,
        lens lenses, virus viruses, campus campuses, bonus bonuses, census censuses,
        circus circuses, status statuses, octopus octopuses, platypus platypuses,
        walrus walruses, chorus choruses, hibiscus hibiscuses, asparagus asparaguses,
        abacus abacuses, eyas eyases, fly flies, city cities, baby babies, party parties,
        berry berries, cherry cherries, lady ladies, pony ponies, body bodies,
        butterfly butterflies, species species, series series, key keys, day days, toy toys,
        monkey monkeys, valley valleys, boy boys, donkey donkeys, hero heroes, potato potatoes,
        tomato tomatoes, echo echoes, volcano volcanoes, photo photos, piano pianos,
        radio radios, zoo zoos, kangaroo kangaroos, video videos, avocado avocados,
        leaf leaves, wolf wolves, knife knives, life lives, half halves, calf calves,
        shelf shelves, thief thieves, loaf loaves, wife wives, elf elves, hoof hooves,
        scarf scarves, roof roofs, chief chiefs, cliff cliffs, belief beliefs, chef chefs,
        giraffe giraffes, hive hives, olive olives, dove doves, glove gloves, valve valves,
        curve curves, nerve nerves, drive drives, archive archives, cave caves, wave waves,
        grove groves, stove stoves, detective detectives, explosive explosives, man men,
        woman women, child children, person people, mouse mice, louse lice, goose geese,
        foot feet, tooth teeth, ox oxen, fireman firemen, policeman policemen,
        analysis analyses, crisis crises, thesis theses, hypothesis hypotheses,
        diagnosis diagnoses, paralysis paralyses, synopsis synopses, ellipsis ellipses,
        parenthesis parentheses, oasis oases, neurosis neuroses, psychosis psychoses,
        prognosis prognoses, synthesis syntheses, metamorphosis metamorphoses, datum data,
        medium media, bacterium bacteria, curriculum curricula, memorandum memoranda,
        stratum strata, symposium symposia, criterion criteria, phenomenon phenomena,
        cactus cacti, fungus fungi, nucleus nuclei, radius radii, stimulus stimuli,
        alumnus alumni, syllabus syllabi, locus loci, focus foci, bacillus bacilli,
        index indices, matrix matrices, vertex vertices, appendix appendices, apex apices,
        cortex cortices, vortex vortices, larva larvae, alga algae, antenna antennae,
        formula formulae, vertebra vertebrae, nebula nebulae, amoeba amoebae, genus genera,
        corpus corpora, sheep sheep, deer deer, fish fish, moose moose, aircraft aircraft,
        salmon salmon, bison bison, offspring offspring, news news, scissors scissors,
        secateurs secateurs, trousers trousers, pliers pliers, tongs tongs, shears shears,
        clothes clothes, goods goods, collards collards, measles measles, diabetes diabetes,
        physics physics, mathematics mathematics, wumpus wumpuses, impus impuses,
        dumpus dumpuses, tumpus tumpuses, yumpus yumpuses, zumpus zumpuses, jompus jompuses,
        rompus rompuses, vumpus vumpuses, numpus numpuses, grimpus grimpuses, lempus lempuses,
        sterpus sterpuses, brimpus brimpuses, lorpus lorpuses, shumpus shumpuses,
        gorpus gorpuses, blicket blickets, dax daxes, wug wugs, fep feps, zorb zorbs,
        florp florps, tove toves, borogove borogoves, snark snarks, grue grues, zorch zorches,
        blash blashes, quorble quorbles, frabjy frabjies, glimmet glimmets, hawk hawks,
        falcon falcons, tulip tulips, sparrow sparrows, kiwi kiwis, mango mangoes,
        hedgehog hedgehogs, lynx lynxes, finch finches, thrush thrushes, walnut walnuts,
        peach peaches, radish radishes, topaz topazes, cirrus cirrus, fetus fetuses,
        sinus sinuses, onus onuses, ibis ibises, axis axes, testis testes,
        thrombosis thromboses, osmosis osmoses, hydrolysis hydrolyses, dialysis dialyses,
        tuberculosis tuberculoses, mitosis mitoses, stamen stamens, omen omens,
        specimen specimens, abdomen abdomens, hymen hymens, seaman seamen, frogman frogmen,
        gentleman gentlemen, penny pennies, ally allies, ruby rubies, essay essays,
        alley alleys, curry curries, fairy fairies, dwarf dwarves, sheaf sheaves, proof proofs,
        reef reefs, motif motifs, octave octaves, solve solves, cactus cactuses,
        hippopotamus hippopotami, uterus uteri, terminus termini, quantum quanta,
        addendum addenda, millennium millennia, erratum errata, ovum ova, automaton automata,
        nova novae, alumna alumnae, codex codices, helix helices, crux cruces, bureau bureaux,
        plateau plateaux, tableau tableaux, cherub cherubim, seraph seraphim, titmouse titmice,
        dormouse dormice, die dice, cod cod, trout trout, swine swine, blorpus blorpuses,
        quimpus quimpuses, vexus vexuses, zindle zindles, frobby frobbies, glax glaxes,
        shmoo shmoos, trake trakes, plinth plinths, grumpkin grumpkins, morlock morlocks,
        jabberwock jabberwocks, slithy slithies, snorp snorps, wibble wibbles, zonk zonks
    ";

    fn word_pairs() -> Vec<(&'static str, &'static str)> {
        WORDS
            .split(',')
            .map(|p| p.split_whitespace().collect::<Vec<_>>())
            .map(|p| (p[0], p[1]))
            .collect()
    }

    /// The pairs whose two forms do not meet on one key (measured, documented misses).
    const KEY_MISSES: &[&str] = &[
        "medium/media",
        "topaz/topazes",
        "ibis/ibises",
        "axis/axes",
        "hippopotamus/hippopotami",
        "quantum/quanta",
        "crux/cruces",
    ];

    #[test]
    fn singular_and_plural_meet_on_one_key() {
        let pairs = word_pairs();
        assert!(pairs.len() >= 300, "{}", pairs.len());
        let misses: Vec<String> = pairs
            .iter()
            .filter(|(one, many)| head_key(one) != head_key(many))
            .map(|(one, many)| format!("{one}/{many}"))
            .collect();
        assert_eq!(misses, KEY_MISSES, "keys that do not meet");
        // Distinct words keep distinct keys.
        let mut keys: Vec<(String, &str)> =
            pairs.iter().map(|(one, _)| (head_key(one), *one)).collect();
        keys.sort();
        keys.dedup();
        for w in keys.windows(2) {
            assert!(w[0].0 != w[1].0, "{} and {} share a key", w[0].1, w[1].1);
        }
    }

    #[test]
    fn singulars_of_the_word_list() {
        let pairs = word_pairs();
        let right = pairs
            .iter()
            .filter(|(one, many)| singular(many) == *one)
            .count();
        let kept = pairs
            .iter()
            .filter(|(one, _)| singular(one) == *one)
            .count();
        eprintln!("plurals right {right}, singulars kept {kept}");
        // Measured: 351 of 369 plurals (the invariants included) give their singular and
        // 361 of 369 singulars are kept (the misses: the crate's "-men" -> "-man" on
        // "stamen", "omen"..., "-osis" plurals, rare classical plurals).
        assert!(right >= 351, "{right} of {} plurals", pairs.len());
        assert!(kept >= 361, "{kept} of {} singulars", pairs.len());
    }

    #[test]
    fn plurals_of_unseen_words_match_their_singular() {
        for (one, many) in [
            ("impus", "impuses"),
            ("dumpus", "dumpuses"),
            ("wumpus", "wumpuses"),
            ("tumpus", "tumpuses"),
            ("bus", "buses"),
            ("virus", "viruses"),
            ("analysis", "analyses"),
            ("mouse", "mice"),
            ("goose", "geese"),
            ("index", "indices"),
            ("scissors", "scissors"),
            ("scissor", "scissors"),
            ("secateurs", "secateurs"),
            ("collards", "collards"),
            ("eyas", "eyases"),
            ("baked good", "baked goods"),
            ("pruning shear", "pruning shears"),
        ] {
            assert_eq!(entity_key(one), entity_key(many), "{one} / {many}");
            assert_eq!(entity_key(&format!("an {one}")), entity_key(many), "{one}");
        }
        for (word, key) in [
            ("impuses", "impus"),
            ("Dumpuses", "dumpus"),
            ("wumpuses", "wumpus"),
            ("buses", "bus"),
            ("viruses", "virus"),
            ("analyses", "analysis"),
            ("species", "species"),
            ("series", "series"),
            ("mice", "mouse"),
            ("geese", "goose"),
            ("indices", "index"),
            ("eyas", "eyas"),
        ] {
            assert_eq!(entity_key(word), key, "{word}");
        }
        // Singular as written: never cut.
        for w in [
            "eyas",
            "scissors",
            "secateurs",
            "collards",
            "species",
            "impus",
            "bus",
        ] {
            assert_eq!(singular(w), w);
        }
        assert_eq!(singular("impuses"), "impus");
        assert_eq!(singular("paralyses"), "paralysis");
        assert_eq!(singular("larvae"), "larva");
        assert_eq!(singular("dog's"), "dog's");
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
