//! Extraction: reads one plain-English statement into typed associations.
//!
//! The reasoner chains whatever this module produces, so a wrong edge can turn into a
//! false "yes". Every rule here therefore prefers reading nothing over guessing.
//!
//! How a statement is read:
//! 1. Sentences that do not assert anything are dropped: questions (a `?`, or a first
//!    word such as "is", "does", "where"), hedges and reported speech ("might", "some
//!    say", "I think"), conditionals ("if", "unless", "because"), disjunctions ("or").
//! 2. The sentence becomes lower-cased words with their written form kept. Brackets are
//!    dropped, contractions expanded ("isn't" -> "is not", "cannot" -> "can not"), and a
//!    non-restrictive relative clause (", which can fly,") removed, since it is not what
//!    the sentence asserts. Any other comma, `;`, `:` or a second sentence leaves the
//!    statement unread: lists and appositions ("Paris, Texas") are too easy to misread.
//! 3. A leading quantifier is read: "all/every/each/any" make a rule, "no" a denial,
//!    "some/most/many" a hedge (unread). One "not"/"never" is allowed, directly after
//!    the auxiliary ("is not in", "does not cause", "can not fly") or, for "never",
//!    before the verb; it is removed and marks the edge negated. Anything else unread.
//! 4. The first position holding a wording from [`PATTERNS`] splits subject from object;
//!    at one position the table's order (most specific first) picks the wording. If that
//!    reading fails, nothing else is tried: a later, looser wording would be a misreading.
//!
//! Decisions on ambiguous wordings:
//! - "is a/an/the NP" is is_a; "is ADJ" (no article, at most three lower-case words, no
//!   preposition or number) is has_property. After "are", a plural noun ("Dogs are
//!   mammals", "Penguins are flightless birds", "Whales are fish") is is_a, both names
//!   kept as written: [`entity_key`] singularizes them for matching. A bare singular
//!   noun ("Gold is metal") cannot be told from an adjective and is read as a property.
//! - "X is a N of Y": N a kind word (kind, type, sort, species, breed, example...) or a
//!   taxon (family, genus, class...) gives is_a(X, Y); N a part word (part, component,
//!   member...) part_of(X, Y); N a place word (city, state, capital...) is_a(X, N) and
//!   part_of(X, Y); any other N only is_a(X, N), which the statement entails ("A leaf is
//!   an organ of a plant"). "X is a N in Y" gives is_a(X, N) and located_in(X, Y) ("Lyon
//!   is a city in France"). The place edge needs a proper-noun Y: "the city of love"
//!   and "a leader in technology" name no place.
//! - A positive object is cut at a relative pronoun, and for is_a, part_of, located_in
//!   and capable_of at a preposition other than "of": "X is a mammal with fins" entails
//!   is_a(X, mammal), "Dogs can bark at strangers" capable_of(dogs, bark). A negated
//!   statement is never cut or split, because denying a longer phrase does not deny its
//!   head ("Lyon is not a city in Germany"). An adjective with a modifier ("rich in
//!   iron", "south of France") is unread; a causal object with "to" ("causes ice to
//!   melt") too.
//! - "in the north of Y" and "in northern Y" (lower-case direction before a proper
//!   noun) are located_in Y; "Northern Ireland" stays a name. "in danger", "in March",
//!   "in 1990" are not places: unread.
//! - Conjunctions: "X and Y are in Z" (a plural verb, or "can") gives one edge per
//!   subject; with a singular verb "Bosnia and Herzegovina is in Europe" is one name.
//!   Objects are split only where the relation distributes (causes, precedes, the
//!   subjects of reversed wordings, adjectives, abilities, "a Y and a Z"). "X is in Y and
//!   Z" keeps "Y and Z" as one name rather than skipping or splitting: splitting "in
//!   Trinidad and Tobago" can be false, and skipping would lose such names.
//! - "belongs to" and "is a member of" are part_of; "lives in" and "can be found in" are
//!   located_in; "is home to" is located_in reversed; "is caused by", "results from",
//!   "is due to", "happens after", "follows" and "is preceded by" are reversed.
//! - Past tense counts as the same relation ("was in", "was invented before").
//! - Names are at most eight words, without an article in front, auxiliaries, relative
//!   words or lower-case pronouns inside; a pronoun subject ("It is in Paris") is no
//!   entity, but "the US" and "World War I" are.

use crate::graph::{AssocType, AssocType as A, SemanticType};
use crate::learn::normalize::{display_name, entity_key, may_be_plural, singular};
use serde::Serialize;

/// One association read from a statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Extracted {
    /// Entity name as written, minus a leading article ("Eiffel Tower").
    pub source: String,
    /// Entity name, verb phrase (capable_of) or adjective (has_property) as written.
    pub target: String,
    /// The relation.
    pub kind: AssocType,
    /// Belief in the reading: explicit wordings score higher than ambiguous ones.
    pub confidence: f32,
    /// Negative evidence ("Paris is not in Germany"): never a positive edge.
    pub negated: bool,
    /// The source names a class by a bare plural ("Dogs are mammals", "Mice can swim"):
    /// the plural is grammar, not part of the name, so it may be shown in the singular.
    /// False for a name written with an article ("A scissors is a tool"), which is
    /// shown exactly as written.
    pub source_generic: bool,
    /// The target is such a bare plural ("... are mammals"). False after "a kind of"
    /// ("a kind of baked goods") and after an article.
    pub target_generic: bool,
}

/// What a statement says: its semantic type and the associations read from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Extraction {
    /// What the statement is about.
    pub semantic_type: SemanticType,
    /// The associations, empty when nothing could be read safely.
    pub associations: Vec<Extracted>,
}

/// Analyses one statement. Never panics, on any input.
pub fn extract(sentence: &str) -> Extraction {
    let lows = plain_words(sentence);
    let question =
        sentence.contains('?') || lows.first().is_some_and(|w| among(w, QUESTION_STARTS));
    let associations = if question {
        Vec::new()
    } else {
        match read(sentence) {
            Some(found) => prefer_parse(sentence, refine(sentence, found)),
            // What the wordings leave unread, a plain definition may still say
            // ("A paresis is a slight or partial paralysis."). Only a sentence with a
            // copula can be one: the others skip the analysis (about a millisecond).
            None if lows.iter().any(|w| among(w, "is are was were")) => {
                super::parsed::definition(sentence).unwrap_or_default()
            }
            None => Vec::new(),
        }
    };
    Extraction {
        semantic_type: classify(sentence, &lows, question, &associations),
        associations,
    }
}

/// Where the wordings read "X is a/an/the NP" by cutting at a preposition or relative
/// word, a phrase whose head noun is followed by a participle ("the tobacco used to form
/// ...", "a government building housing ...") keeps words that are not its name: the
/// parse's head noun replaces it when it is what the phrase starts with ("tobacco used"
/// -> "tobacco"). Only then: elsewhere the wordings' reading stands (the small model
/// can misparse invented names, where the wordings are exact).
fn refine(sentence: &str, mut found: Vec<Extracted>) -> Vec<Extracted> {
    // The parse costs about a millisecond; run it only when a word after the phrase's
    // first is a verb form the lexicon knows ("tobacco used"), never for names like
    // "concept 4" or "government building" (a cheap lookup instead of a parse).
    let multi_word =
        |e: &Extracted| e.kind == AssocType::IsA && !e.negated && e.target.contains(' ');
    if !found.iter().any(multi_word) {
        return found;
    }
    let Ok(nlp) = crate::nlp::Nlp::shared() else {
        return found;
    };
    let runs_on = |e: &Extracted| {
        multi_word(e)
            && e.target
                .split_whitespace()
                .skip(1)
                .any(|w| nlp.is_verb_form(w))
    };
    if !found.iter().any(runs_on) {
        return found;
    }
    let Some(parsed) = super::parsed::head_before_participle(sentence) else {
        return found;
    };
    for e in found.iter_mut().filter(|e| runs_on(e)) {
        if entity_key(&parsed.source) == entity_key(&e.source)
            && e.target.starts_with(&format!("{} ", parsed.target))
        {
            e.target = parsed.target.clone();
        }
    }
    found
}

/// Where the wordings read a definition's class as a longer phrase than its name ("a
/// quick evasive movement", "an athletic game played on a court", "the discovery and
/// description of ..."), or stopped at a noun that passes the meaning on ("the act of
/// entering", "a mode of action"), the parse's reading replaces theirs for that subject:
/// the head noun with its compounds as the class, adjectives as properties, coordinated
/// nouns and "of" objects as further classes. Other edges of the wordings stay.
///
/// The parse runs only when the reading leaves words it may have misread: a phrase of
/// more than one word that is not a plain name ("concept 4", "Rex"), or words after the
/// phrase. A sentence that is exactly "X is a/an Y." costs no parse.
fn prefer_parse(sentence: &str, found: Vec<Extracted>) -> Vec<Extracted> {
    let defining = |e: &Extracted| matches!(e.kind, A::IsA | A::HasProperty) && !e.negated;
    let unsure = |e: &Extracted| {
        let words: Vec<&str> = e.target.split_whitespace().collect();
        let plain_name = words.len() == 1
            || words
                .last()
                .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
            || words[1..].iter().all(|w| w.starts_with(char::is_uppercase));
        let low = sentence.to_lowercase();
        let after = low
            .rfind(&e.target.to_lowercase())
            .map(|at| &low[at + e.target.len()..])
            .unwrap_or("");
        !plain_name || after.chars().any(char::is_alphanumeric)
    };
    if !found.iter().any(|e| defining(e) && unsure(e)) {
        return found;
    }
    let Some(parsed) = super::parsed::definition(sentence) else {
        return found;
    };
    let Some(first) = parsed.first().filter(|e| e.kind == A::IsA) else {
        return found;
    };
    let subject = entity_key(&first.source);
    let heads: Vec<String> = parsed
        .iter()
        .filter(|e| e.kind == A::IsA)
        .map(|e| entity_key(e.target.rsplit(' ').next().unwrap_or(&e.target)))
        .collect();
    // The wordings must have read the same subject and a phrase holding the same head:
    // otherwise the two readings disagree about the sentence, and the wordings stand.
    // The phrase must be made of real words: on an invented name ("an amber vuraelt", "a
    // voryumketu larva") the small model guesses, and the wordings' phrase is right.
    let Ok(nlp) = crate::nlp::Nlp::shared() else {
        return found;
    };
    let known = |w: &&str| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        !w.chars().all(char::is_alphabetic) || nlp.is_known(w)
    };
    let agrees = found.iter().any(|e| {
        let words: Vec<&str> = e.target.split_whitespace().collect();
        defining(e)
            && entity_key(&e.source) == subject
            && words.iter().all(known)
            && words.iter().any(|w| heads.contains(&entity_key(w)))
    });
    if !agrees {
        return found;
    }
    let key = |e: &Extracted| (entity_key(&e.source), e.kind, entity_key(&e.target));
    // A phrase the parse only splits ("greater marsh beetles": head last) is still the
    // writer's name for the class: it stays, beside the parse's head and kinds. A phrase
    // that runs past the head ("tobacco used", "discovery and description") goes.
    let whole = |e: &Extracted| {
        e.kind == A::IsA
            && e.target.contains(' ')
            && e.target
                .rsplit(' ')
                .next()
                .is_some_and(|last| heads.contains(&entity_key(last)))
    };
    let mut out = parsed;
    for e in found {
        let replaced = defining(&e) && entity_key(&e.source) == subject && !whole(&e);
        let repeated = out.iter().any(|o| key(o) == key(&e));
        if !replaced && !repeated {
            out.push(e);
        }
    }
    out
}

/// One word of the statement.
#[derive(Clone, Debug)]
struct Word {
    /// As written, minus surrounding quotes and comma.
    text: String,
    /// Lower case, with typographic apostrophes made plain.
    low: String,
    /// A comma follows it.
    comma: bool,
}

/// How the words after a wording are read.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Object {
    /// An entity name.
    Name,
    /// A verb phrase (capable_of).
    Verb,
    /// A noun phrase after "is a/an/the".
    NounPhrase,
    /// A bare complement after "is/are": adjectives or a plural noun.
    Complement,
}

/// One element of a wording.
#[derive(Clone, Copy, Debug)]
enum Key {
    /// One of these (space-separated) words.
    Any(&'static str),
    /// Optionally one of these words.
    Opt(&'static str),
    /// A past participle ("invented", "built").
    Participle,
}

/// A wording of a relation: the keywords between subject and object.
#[derive(Debug)]
struct Pattern {
    keys: &'static [Key],
    kind: AssocType,
    /// The object is the relation's source ("X is caused by Y": Y causes X).
    reverse: bool,
    confidence: f32,
    object: Object,
    /// The wording itself denies the relation ("is unable to").
    denial: bool,
}

const fn rel(keys: &'static [Key], kind: AssocType, confidence: f32) -> Pattern {
    Pattern {
        keys,
        kind,
        reverse: false,
        confidence,
        object: Object::Name,
        denial: false,
    }
}

const fn inv(keys: &'static [Key], kind: AssocType, confidence: f32) -> Pattern {
    Pattern {
        reverse: true,
        ..rel(keys, kind, confidence)
    }
}

const fn with(
    keys: &'static [Key],
    kind: AssocType,
    c: f32,
    object: Object,
    denial: bool,
) -> Pattern {
    Pattern {
        object,
        denial,
        ..rel(keys, kind, c)
    }
}

const fn any(words: &'static str) -> Key {
    Key::Any(words)
}

const BE: Key = any("is are was were");
const DO: Key = any("does do did");
const CAN: Key = any("can");
const ONE: Key = Key::Opt("a an one");
const THE: Key = Key::Opt("a an the one");
const OF: Key = any("of");
const TO: Key = any("to");
const BY: Key = any("by");
const IN: Key = any("in within inside");
const BEFORE: Key = any("before");
const AFTER: Key = any("after");
const HAPPEN: Key = any(
    "happens happen happened occurs occur occurred comes come came \
     starts start started begins begin began ends end ended",
);
const TAKE: Key = any("takes take took");
const CAUSE_NOUN: Key = any("cause causes");
const RESULT_NOUN: Key = any("result results consequence consequences effect effects");

/// Words that make "X is a W of Y" an is_a of Y, unambiguously.
const KIND_WORDS: &str = "kind kinds type types sort sorts";
/// Words that make "X is a W of Y" an is_a of Y, less directly.
const VARIETY_WORDS: &str = "species subspecies breed breeds variety varieties form forms \
     subtype subtypes example examples instance instances";
/// Taxa and orders: "Corvids are a family of birds" makes corvids birds.
const TAXON_WORDS: &str = "family families genus genera order orders class classes subfamily \
     superfamily suborder subclass phylum clade tribe";
/// Words that make "X is a W of Y" a part_of Y.
const PART_WORDS: &str = "part parts component components piece section portion segment \
     element constituent member members subdivision division";

/// The wordings, most specific first where several start with the same word.
#[rustfmt::skip]
const PATTERNS: &[Pattern] = &[
    // is_a
    rel(&[BE, ONE, any(KIND_WORDS), OF], A::IsA, 0.95),
    rel(&[BE, ONE, any(VARIETY_WORDS), OF], A::IsA, 0.9),
    rel(&[BE, ONE, any(TAXON_WORDS), OF], A::IsA, 0.85),
    // part_of
    rel(&[BE, ONE, any("member members"), OF], A::PartOf, 0.9),
    rel(&[BE, ONE, any(PART_WORDS), OF], A::PartOf, 0.95),
    rel(&[any("belongs belong belonged"), TO], A::PartOf, 0.85),
    rel(&[DO, any("belong"), TO], A::PartOf, 0.85),
    // located_in
    rel(&[BE, any("located situated"), IN], A::LocatedIn, 0.95),
    rel(&[BE, any("found based headquartered"), IN], A::LocatedIn, 0.9),
    rel(&[CAN, any("be"), any("found seen"), IN], A::LocatedIn, 0.9),
    rel(&[any("lies lie lay"), IN], A::LocatedIn, 0.9),
    rel(&[any("lives live lived"), IN], A::LocatedIn, 0.85),
    rel(&[DO, any("lie live"), IN], A::LocatedIn, 0.85),
    rel(&[BE, IN], A::LocatedIn, 0.9),
    inv(&[BE, any("home"), TO], A::LocatedIn, 0.85),
    // causes
    inv(&[BE, any("caused"), BY], A::Causes, 0.95),
    inv(&[BE, any("triggered"), BY], A::Causes, 0.85),
    inv(&[BE, any("due"), TO], A::Causes, 0.85),
    rel(&[BE, THE, CAUSE_NOUN, OF], A::Causes, 0.9),
    inv(&[BE, THE, RESULT_NOUN, OF], A::Causes, 0.9),
    rel(&[any("causes cause caused")], A::Causes, 0.95),
    rel(&[DO, any("cause")], A::Causes, 0.95),
    rel(&[CAN, any("cause")], A::Causes, 0.85),
    rel(&[any("leads lead led"), TO], A::Causes, 0.9),
    rel(&[DO, any("lead"), TO], A::Causes, 0.9),
    rel(&[CAN, any("lead"), TO], A::Causes, 0.85),
    rel(&[any("results result resulted"), IN], A::Causes, 0.9),
    rel(&[DO, any("result"), IN], A::Causes, 0.9),
    rel(&[CAN, any("result"), IN], A::Causes, 0.85),
    inv(&[any("results result resulted"), any("from")], A::Causes, 0.9),
    rel(&[any("gives give gave"), any("rise"), TO], A::Causes, 0.9),
    rel(&[any("triggers trigger triggered")], A::Causes, 0.85),
    // precedes
    rel(&[HAPPEN, BEFORE], A::Precedes, 0.95),
    inv(&[HAPPEN, AFTER], A::Precedes, 0.95),
    rel(&[DO, HAPPEN, BEFORE], A::Precedes, 0.95),
    inv(&[DO, HAPPEN, AFTER], A::Precedes, 0.95),
    rel(&[TAKE, any("place"), BEFORE], A::Precedes, 0.9),
    inv(&[TAKE, any("place"), AFTER], A::Precedes, 0.9),
    rel(&[any("precedes precede preceded predates predate predated")], A::Precedes, 0.95),
    inv(&[any("follows follow followed postdates postdate postdated")], A::Precedes, 0.9),
    rel(&[BE, any("followed"), BY], A::Precedes, 0.9),
    inv(&[BE, any("preceded"), BY], A::Precedes, 0.9),
    rel(&[BE, Key::Participle, BEFORE], A::Precedes, 0.9),
    inv(&[BE, Key::Participle, AFTER], A::Precedes, 0.9),
    rel(&[BE, BEFORE], A::Precedes, 0.85),
    inv(&[BE, AFTER], A::Precedes, 0.85),
    rel(&[BE, any("earlier"), any("than")], A::Precedes, 0.85),
    inv(&[BE, any("later"), any("than")], A::Precedes, 0.85),
    // capable_of
    with(&[BE, any("able"), TO], A::CapableOf, 0.9, Object::Verb, false),
    with(&[BE, any("unable"), TO], A::CapableOf, 0.9, Object::Verb, true),
    with(&[BE, any("capable"), OF], A::CapableOf, 0.85, Object::Verb, false),
    with(&[BE, any("incapable"), OF], A::CapableOf, 0.85, Object::Verb, true),
    with(&[CAN], A::CapableOf, 0.9, Object::Verb, false),
    // related_to
    rel(&[BE, any("related linked connected"), TO], A::RelatedTo, 0.6),
    rel(&[BE, any("associated"), any("with")], A::RelatedTo, 0.6),
    // The catch-alls, last: "is a NP", "is the NP", "is ADJ" / "are NPs".
    with(&[BE, any("a an")], A::IsA, 0.9, Object::NounPhrase, false),
    with(&[BE, any("the")], A::IsA, 0.85, Object::NounPhrase, false),
    with(&[BE], A::HasProperty, 0.8, Object::Complement, false),
];

/// Longest statement read, in words: longer ones are almost always compound.
const MAX_WORDS: usize = 40;
/// Longest entity name, in words: longer means a misparse.
pub const MAX_NAME_WORDS: usize = 8;
/// Longest entity name, in characters.
const MAX_NAME_CHARS: usize = 160;
/// Longest ability ("swim fast"), in words.
const MAX_VERB_WORDS: usize = 6;

// Word lists, space-separated.
const ARTICLES: &str = "a an the";
const QUESTION_STARTS: &str = "is are was were am do does did can could would should will \
     shall may might must has have had what where why who whom whose how which when \
     isn't aren't doesn't don't didn't can't won't wasn't weren't";
/// Words that make a statement something other than a plain assertion: modality,
/// reported speech, conditions, alternatives, exceptions.
const HEDGES: &str = "might may could would should must perhaps maybe possibly probably \
     likely unlikely allegedly reportedly supposedly apparently seemingly presumably rarely \
     seldom sometimes occasionally hardly barely almost nearly partly partially mostly mainly \
     only say says said claim claims claimed think thinks thought believe believes believed \
     suppose supposed suggest suggests suggested rumored rumoured seem seems seemed appear \
     appears appeared know knows knew heard told tells argue argues argued insist insists \
     stated wrote guess hope hopes feel feels doubt doubts deny denies denied assume assumes \
     assumed imagine according opinion if unless because although though whereas whenever \
     whether otherwise then or either neither nor except but however";
/// Adverbs that do not change what is asserted; dropped.
const DROPPED: &str = "also always usually generally typically commonly often frequently \
     normally really actually indeed certainly definitely still now truly";
/// Intensifiers in front of an adjective ("very hot" is hot).
const INTENSIFIERS: &str =
    "very extremely quite so too rather fairly pretty incredibly highly exceptionally remarkably";
/// Words that start a relative clause.
const RELATIVES: &str = "which who whom whose that where when while";
/// Prepositions other than "of": where an object phrase may be cut.
const PREPS: &str = "in on at near with from by for during since until into onto over under \
     between among along across through within inside outside beyond without like than as to \
     toward towards around about against behind below above beside after before via per";
/// Words no entity name contains.
const NAME_STOP: &str = "is are was were be been being am do does did has have had can \
     could will would shall should may might must not never which who whom whose that where \
     when while if because although unless whether or nor than began started ended happened \
     occurred existed";
/// Modal words that are also names when capitalized ("Theresa May", "Will Smith").
const MODAL_NAMES: &str = "may will";
/// Words no entity name starts with.
const BAD_FIRST: &str = "this that these those my your his her its our their some many most \
     few several any every each all no such other another both either neither of in on at to \
     from by with for and or but so than as if because there here what which who whose where \
     when why how everyone everything someone something anyone anything nobody nothing \
     somebody everybody none";
/// Whole names that are pronouns, not entities.
const PRONOUNS: &str = "one it's that's there's here's he's she's they're we're you're i'm \
     itself themselves himself herself";
/// Words a name cannot end with.
const DANGLING: &str = "a an the of and 's";
/// Relational nouns: "the cause of flooding" is no entity to hang edges on.
const RELATIONAL: &str =
    "cause causes result results effect effects consequence reason same opposite";
/// Heads that make "X is a N" say nothing about what X is ("a lot of fun").
const BAD_HEAD: &str = "same opposite reverse lot bit couple number lack absence result cause \
     effect consequence way reason name word matter";
/// Place words: "X is a N of Y" makes X part of Y.
const PLACE_WORDS: &str = "city town village state province region county district territory \
     department prefecture municipality canton borough suburb capital island country nation \
     neighbourhood neighborhood quarter arrondissement oblast emirate commune parish shire \
     colony dependency republic";
/// Participles that end a noun phrase before its place ("a city located in France").
const LOC_PARTICIPLES: &str = "located situated found based";
/// Words that place something in a part of Y: "in the north of Y" is in Y.
const DIRECTIONS: &str = "north south east west northeast northwest southeast southwest \
     north-east north-west south-east south-west northern southern eastern western central \
     centre center middle heart interior part";
/// What "in Y" can mean besides a place.
const NON_PLACE: &str = "danger trouble love use fashion charge debt stock progress decline \
     bloom season question doubt favour favor order general fact particular short total turn \
     effect action power office time common addition conclusion contrast comparison theory \
     practice public private secret vain advance mind need operation service pain shock news \
     future past morning afternoon evening night january february march april may june july \
     august september october november december spring summer autumn fall winter monday \
     tuesday wednesday thursday friday saturday sunday century year years decade week month \
     hospital prison jail school";
/// Complements that are not properties ("is located", "is tomorrow").
const NOT_PROPERTY: &str = "located situated found caused invented called named known made \
     used based built considered regarded today tomorrow yesterday here there everywhere \
     nowhere gone over one none all both home";
/// Plurals written like their singular ("Whales are not fish").
const ZERO_PLURALS: &str = "fish sheep deer moose salmon trout cod bison cattle swine aircraft \
     offspring shrimp squid";
/// Irregular past participles ("was built before").
const PARTICIPLES: &str = "built made written held sung begun fought sold taught won brought \
     bought sent spent struck laid paid shot sunk born drawn known grown thrown shown flown \
     seen done led met found told set put run given taken sworn torn worn frozen spoken \
     chosen stolen broken driven eaten fallen risen";
/// Irregular past tenses, for the event type and verb number.
const PAST: &str = "was were did had came went fell began became won lost wrote built made \
     took gave led lay rose died born ran saw";
const NUMBER_WORDS: &str = "two three four five six seven eight nine ten eleven twelve twenty \
     thirty forty fifty hundred hundreds thousand thousands million millions billion dozen half";
const TIME_WORDS: &str = "before after during since until ago century centuries decade year \
     years january february march april june july august september october november december \
     monday tuesday wednesday thursday friday saturday sunday yesterday today tomorrow";
const NEGATORS: &str = "not never no none nothing nobody neither nor";

/// Whether `low` is one of the space-separated `words`.
///
/// Every word of a statement is checked against several lists, some of a hundred words:
/// scanning them was a sixth of the learn path's CPU (BENCHMARKS.md, "Learn path
/// profile"). Each list is split once per thread into a hash set, found again by its
/// address: `words` is `'static`, so one address always holds the same text.
fn among(low: &str, words: &'static str) -> bool {
    use std::cell::RefCell;
    // foldhash: these keys are our own constants, so a fast hash is enough (xxh3's
    // streaming hasher cost more than the lookup it served).
    type Sets = foldhash::HashMap<(usize, usize), foldhash::HashSet<&'static str>>;
    thread_local! {
        static SETS: RefCell<Sets> = RefCell::new(Sets::default());
    }
    SETS.with(|sets| {
        let mut sets = sets.borrow_mut();
        sets.entry((words.as_ptr() as usize, words.len()))
            .or_insert_with(|| words.split_whitespace().collect())
            .contains(low)
    })
}

/// The base of a "n't" contraction ("isn't" -> "is", "can't" -> "can").
fn contraction(low: &str) -> Option<&str> {
    if low == "cannot" {
        return Some("can");
    }
    low.strip_suffix("n't").map(|base| match base {
        "ca" => "can",
        "wo" => "will",
        "sha" => "shall",
        b => b,
    })
}

/// Lower-case words with contractions expanded, for classification.
fn plain_words(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in sentence.split_whitespace() {
        let low = raw
            .replace(['\u{2019}', '\u{2018}'], "'")
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if low.is_empty() {
            continue;
        }
        match contraction(&low) {
            Some(base) => {
                out.push(base.to_string());
                out.push("not".to_string());
            }
            None => out.push(low),
        }
    }
    out
}

/// Drops bracketed asides; `None` when the brackets do not balance.
fn drop_brackets(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.checked_sub(1)?,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    (depth == 0).then_some(out)
}

/// "St.", "Mt.", "U.S.": a period that does not end the sentence.
fn abbreviation(core: &str) -> bool {
    let body = core.trim_end_matches('.');
    body.contains('.')
        || (body.chars().count() <= 3 && body.chars().next().is_some_and(char::is_uppercase))
}

/// The statement as words, or `None` when its structure is not safe to read.
fn tokenize(sentence: &str) -> Option<Vec<Word>> {
    let text: String = sentence
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' | '`' => '\'',
            '\u{201c}' | '\u{201d}' | '\u{ab}' | '\u{bb}' => '"',
            c => c,
        })
        .collect();
    let text = drop_brackets(&text)?;
    let text = text
        .trim()
        .trim_end_matches(|c: char| matches!(c, '.' | '!' | '"' | '\'') || c.is_whitespace());
    if text.contains([';', ':', '?', '!', '\u{2014}', '\u{2013}']) {
        return None;
    }
    let raws: Vec<&str> = text.split_whitespace().collect();
    if raws.len() > MAX_WORDS {
        return None;
    }
    let quotes = |c: char| matches!(c, '"' | '\'');
    let mut words: Vec<Word> = Vec::with_capacity(raws.len() + 2);
    for raw in raws {
        let core = raw.trim_matches(quotes);
        let (core, comma) = match core.strip_suffix(',') {
            Some(c) => (c.trim_matches(quotes), true),
            None => (core, false),
        };
        let bad_period = core.ends_with('.') && !abbreviation(core);
        if core.starts_with(',') || bad_period {
            return None;
        }
        if !core.chars().any(char::is_alphanumeric) && core != "&" {
            return None;
        }
        let low = core.to_lowercase();
        match contraction(&low) {
            Some(base) => {
                for (w, c) in [(base, false), ("not", comma)] {
                    words.push(Word {
                        text: w.to_string(),
                        low: w.to_string(),
                        comma: c,
                    });
                }
            }
            None => words.push(Word {
                text: core.to_string(),
                low,
                comma,
            }),
        }
    }
    // A ", which ...," clause is an aside; any other comma is a structure we do not read.
    let mut i = 0;
    while i < words.len() {
        if words[i].comma {
            let next = words.get(i + 1)?;
            if !among(&next.low, "which who whom whose where") {
                return None;
            }
            let end = (i + 1..words.len())
                .find(|&j| words[j].comma)
                .map_or(words.len(), |j| j + 1);
            words.drain(i + 1..end);
            words[i].comma = false;
        }
        i += 1;
    }
    Some(words)
}

/// A modal or stop word, unless capitalized as part of a name ("Theresa May").
fn stop(w: &Word, list: &'static str) -> bool {
    among(&w.low, list) && !(among(&w.low, MODAL_NAMES) && capitalized(w))
}

fn capitalized(w: &Word) -> bool {
    w.text.chars().next().is_some_and(char::is_uppercase)
}

/// "US", "UK": capitals, not the pronoun.
fn all_caps(w: &Word) -> bool {
    w.text.chars().count() > 1 && !w.text.chars().any(char::is_lowercase)
}

/// A word no name or ability contains: an auxiliary, a relative word, a lower-case pronoun.
fn bad_word(w: &Word) -> bool {
    stop(w, NAME_STOP) || (pronoun(w) && !capitalized(w))
}

fn pronoun(w: &Word) -> bool {
    is(w, "it they he she we you i them him us me")
}

fn is(w: &Word, list: &'static str) -> bool {
    among(&w.low, list)
}

fn is_participle(low: &str) -> bool {
    (low.len() > 4 && low.ends_with("ed")) || among(low, PARTICIPLES)
}

impl Key {
    fn matches(self, w: &Word) -> bool {
        match self {
            Key::Any(set) | Key::Opt(set) => among(&w.low, set),
            Key::Participle => is_participle(&w.low),
        }
    }
}

impl Pattern {
    /// How many words the wording takes at the start of `ws`, if it is there.
    fn match_len(&self, ws: &[Word]) -> Option<usize> {
        let mut n = 0;
        for key in self.keys {
            match (key, ws.get(n)) {
                (Key::Opt(_), Some(w)) if key.matches(w) => n += 1,
                (Key::Opt(_), _) => {}
                (_, Some(w)) if key.matches(w) => n += 1,
                _ => return None,
            }
        }
        Some(n)
    }
}

/// The grammatical number of a verb: `Some(true)` plural, `None` either.
fn plural_verb(low: &str) -> Option<bool> {
    match low {
        "is" | "was" | "does" | "has" => Some(false),
        "are" | "were" | "do" | "have" => Some(true),
        "can" => None,
        l if among(l, PAST) || l.ends_with("ed") => None,
        l => Some(!l.ends_with('s')),
    }
}

/// Whether subject words name a class by a bare plural: no article, and a plural verb
/// ("Dogs are", "Dogs were") or, after a verb of either number ("can"), a plural head
/// ("Mice can swim"). "Every wumpus is" and "A scissors is" are singular as written.
fn generic_subject(ws: &[Word], verb: &str) -> bool {
    if ws.first().is_none_or(|w| is(w, ARTICLES)) {
        return false;
    }
    match plural_verb(verb) {
        Some(plural) => plural,
        None => ws.last().is_some_and(|w| singular(&w.low) != w.low),
    }
}

fn strip_article(ws: &[Word]) -> &[Word] {
    match ws.first() {
        Some(w) if is(w, ARTICLES) => &ws[1..],
        _ => ws,
    }
}

fn join(ws: &[Word]) -> String {
    let texts: Vec<&str> = ws.iter().map(|w| w.text.as_str()).collect();
    texts.join(" ")
}

/// `ws` up to the first word in `list`.
fn cut_at<'a>(ws: &'a [Word], list: &'static str) -> &'a [Word] {
    let end = ws.iter().position(|w| is(w, list)).unwrap_or(ws.len());
    &ws[..end]
}

/// `ws` split on "and".
fn split_and(ws: &[Word]) -> Vec<&[Word]> {
    ws.split(|w| w.low == "and").collect()
}

/// The display form of accepted name words, unless it is empty or absurdly long.
fn shown(ws: &[Word]) -> Option<String> {
    let shown = display_name(&join(ws));
    (!entity_key(&shown).is_empty() && shown.chars().count() <= MAX_NAME_CHARS).then_some(shown)
}

/// An entity name, or `None` when the words are not one.
fn name(ws: &[Word]) -> Option<String> {
    let ws = strip_article(ws);
    let first = ws.first()?;
    let last = ws.last()?;
    if ws.len() > MAX_NAME_WORDS
        || is(first, BAD_FIRST)
        || (pronoun(first) && !all_caps(first))
        || (ws.len() == 1 && is(first, PRONOUNS))
        || (ws.len() > 1 && is(first, RELATIONAL))
        || is(last, DANGLING)
        || ws.iter().any(bad_word)
    {
        return None;
    }
    shown(ws)
}

/// An ability ("fly", "swim fast"), or `None`.
fn verb_phrase(ws: &[Word]) -> Option<String> {
    let first = ws.first()?;
    if ws.len() > MAX_VERB_WORDS
        || is(first, ARTICLES)
        || is(first, BAD_FIRST)
        || is(ws.last()?, DANGLING)
        || ws.iter().any(bad_word)
    {
        return None;
    }
    shown(ws)
}

/// Whether a located_in object can be a place ("in danger", "in 1990" cannot).
fn place_like(ws: &[Word]) -> bool {
    let ws = strip_article(ws);
    let Some(last) = ws.last() else {
        return false;
    };
    let number = ws.iter().any(|w| w.low.chars().any(|c| c.is_ascii_digit()));
    !number && (ws.len() > 2 || !is(last, NON_PLACE))
}

/// "the north of Y", "the northern part of Y" -> "Y".
/// "northern Africa" -> "Africa"; "Northern Ireland" and "South Africa" stay names.
fn strip_direction(ws: &[Word]) -> &[Word] {
    let body = strip_article(ws);
    let n = body.iter().take_while(|w| is(w, DIRECTIONS)).count();
    match body.get(n) {
        Some(w) if n > 0 && w.low == "of" && body.len() > n + 1 => &body[n + 1..],
        Some(w) if n > 0 && capitalized(w) && !body[..n].iter().any(capitalized) => &body[n..],
        _ => ws,
    }
}

/// One object of a reading.
struct Target {
    kind: AssocType,
    name: String,
    confidence: f32,
    /// A bare plural naming a class ("are mammals").
    generic: bool,
}

/// The names of a Name-object for `kind`.
fn object_names(
    kind: AssocType,
    ws: &[Word],
    negated: bool,
    distribute: bool,
) -> Option<Vec<String>> {
    let mut ws = ws;
    if negated {
        if ws
            .iter()
            .any(|w| is(w, RELATIVES) || is(w, PREPS) || w.low == "and")
        {
            return None;
        }
    } else {
        ws = cut_at(ws, RELATIVES);
        if matches!(
            kind,
            AssocType::IsA | AssocType::PartOf | AssocType::LocatedIn
        ) {
            ws = cut_at(ws, PREPS);
        }
        if matches!(kind, AssocType::PartOf | AssocType::LocatedIn) {
            ws = strip_direction(ws);
        }
    }
    if kind == AssocType::LocatedIn && !place_like(ws) {
        return None;
    }
    // "Heat causes ice to melt": the effect is a clause, not the thing named.
    if kind == AssocType::Causes && ws.iter().any(|w| w.low == "to") {
        return None;
    }
    if distribute && !negated {
        split_and(ws).into_iter().map(name).collect()
    } else {
        Some(vec![name(ws)?])
    }
}

fn targets(kind: AssocType, names: Vec<String>, confidence: f32) -> Vec<Target> {
    names
        .into_iter()
        .map(|name| Target {
            kind,
            name,
            confidence,
            generic: false,
        })
        .collect()
}

/// One noun phrase after "is a/an/the" (article already consumed).
fn noun_phrase(ws: &[Word], confidence: f32, negated: bool) -> Option<Vec<Target>> {
    let cut = ws
        .iter()
        .position(|w| w.low == "of" || is(w, PREPS) || is(w, RELATIVES));
    let (mut head, link, rest) = match cut {
        Some(c) => (&ws[..c], Some(ws[c].low.as_str()), &ws[c + 1..]),
        None => (ws, None, &ws[ws.len()..]),
    };
    while head.len() > 1 && head.last().is_some_and(|w| is(w, LOC_PARTICIPLES)) {
        head = &head[..head.len() - 1];
    }
    let last = head.last()?;
    if link == Some("of")
        && [KIND_WORDS, VARIETY_WORDS, TAXON_WORDS]
            .iter()
            .any(|l| is(last, l))
    {
        let names = object_names(AssocType::IsA, rest, negated, false)?;
        let confidence = if is(last, TAXON_WORDS) { 0.85 } else { 0.9 };
        return Some(targets(AssocType::IsA, names, confidence));
    }
    if matches!(link, Some("of" | "in" | "within")) && is(last, PART_WORDS) {
        let names = object_names(AssocType::PartOf, rest, negated, false)?;
        return Some(targets(AssocType::PartOf, names, 0.9));
    }
    if is(last, BAD_HEAD) || (negated && link.is_some()) {
        return None;
    }
    let mut out = vec![Target {
        kind: AssocType::IsA,
        name: name(head)?,
        confidence,
        generic: false,
    }];
    out.extend(place_of(link, last, rest));
    Some(out)
}

/// The place entailed by "a N of/in Y": part_of Y for a place word N ("a state of
/// Germany"), located_in Y after "in". Only for a proper-noun Y: "the city of love" and
/// "a leader in technology" name no place. A bad place only loses this extra edge.
fn place_of(link: Option<&str>, head: &Word, rest: &[Word]) -> Vec<Target> {
    let kind = match link {
        Some("of") if among(&singular(&head.low), PLACE_WORDS) => AssocType::PartOf,
        Some("in" | "within") => AssocType::LocatedIn,
        _ => return Vec::new(),
    };
    match object_names(kind, rest, false, false) {
        Some(names) if names.iter().all(|n| n.starts_with(char::is_uppercase)) => {
            targets(kind, names, 0.85)
        }
        _ => Vec::new(),
    }
}

/// A bare complement after "is/are": adjectives, or a plural noun after "are".
fn complement(ws: &[Word], negated: bool, plural: bool) -> Option<Vec<Target>> {
    if negated && ws.iter().any(|w| w.low == "and" || is(w, INTENSIFIERS)) {
        return None;
    }
    // A plural noun entails its head ("fish that live in rivers", "birds of prey"); an
    // adjective with a modifier ("rich in iron", "bad for health") is left unread.
    let end = match negated {
        true => ws.len(),
        false => ws
            .iter()
            .position(|w| w.low == "of" || is(w, PREPS) || is(w, RELATIVES))
            .unwrap_or(ws.len()),
    };
    let cut = end < ws.len();
    let mut out = Vec::new();
    for part in split_and(&ws[..end]) {
        let start = part.iter().take_while(|w| is(w, INTENSIFIERS)).count();
        let part = &part[start..];
        let last = part.last()?;
        let plain = |w: &Word| {
            w.text.chars().next().is_some_and(char::is_lowercase)
                && !w.low.chars().any(|c| c.is_ascii_digit())
                && !w.low.contains("'s")
                && w.low != "of"
                && !is(w, PREPS)
                && !is(w, RELATIVES)
                && !is(w, BAD_FIRST)
                && !is(w, ARTICLES)
                && !is(w, NOT_PROPERTY)
                && !bad_word(w)
        };
        if part.len() > 3 || !part.iter().all(plain) {
            return None;
        }
        let kind = if may_be_plural(&last.low) || is(last, ZERO_PLURALS) {
            if !plural {
                return None;
            }
            AssocType::IsA
        } else if cut {
            return None;
        } else {
            AssocType::HasProperty
        };
        let confidence = if kind == AssocType::IsA { 0.85 } else { 0.8 };
        out.push(Target {
            kind,
            name: display_name(&join(part)),
            confidence,
            generic: kind == AssocType::IsA,
        });
    }
    // "The Maldives are islands in the Indian Ocean."
    if let ([only], Some(link)) = (out.as_slice(), ws.get(end)) {
        if only.kind == AssocType::IsA && end > 0 {
            let extra = place_of(Some(&link.low), &ws[end - 1], &ws[end + 1..]);
            out.extend(extra);
        }
    }
    Some(out)
}

/// Reads the object words `rest` as the pattern says.
fn read_object(p: &Pattern, rest: &[Word], negated: bool, plural: bool) -> Option<Vec<Target>> {
    match p.object {
        Object::Name => {
            let distribute = p.reverse || matches!(p.kind, AssocType::Causes | AssocType::Precedes);
            let names = object_names(p.kind, rest, negated, distribute)?;
            Some(targets(p.kind, names, p.confidence))
        }
        Object::Verb => {
            let parts = if negated {
                if rest
                    .iter()
                    .any(|w| w.low == "and" || is(w, PREPS) || is(w, RELATIVES))
                {
                    return None;
                }
                vec![rest]
            } else {
                split_and(cut_at(cut_at(rest, RELATIVES), PREPS))
            };
            let names = parts
                .into_iter()
                .map(verb_phrase)
                .collect::<Option<Vec<_>>>()?;
            Some(targets(p.kind, names, p.confidence))
        }
        Object::NounPhrase => {
            if negated {
                return noun_phrase(rest, p.confidence, true);
            }
            // "a mammal and a flyer": two phrases; "a black and white animal": one.
            let mut groups = Vec::new();
            let mut start = 0;
            for i in 0..rest.len() {
                if rest[i].low == "and" && rest.get(i + 1).is_some_and(|w| is(w, ARTICLES)) {
                    groups.push(&rest[start..i]);
                    start = i + 2;
                }
            }
            groups.push(&rest[start.min(rest.len())..]);
            let mut out = Vec::new();
            for g in groups {
                out.extend(noun_phrase(g, p.confidence, false)?);
            }
            Some(out)
        }
        Object::Complement => complement(rest, negated, plural),
    }
}

/// The associations of a statement, or `None` when it cannot be read safely.
fn read(sentence: &str) -> Option<Vec<Extracted>> {
    let mut ws = tokenize(sentence)?;
    if ws.first().is_some_and(|w| is(w, QUESTION_STARTS)) {
        return None;
    }
    if ws.iter().any(|w| stop(w, HEDGES)) {
        return None;
    }
    ws.retain(|w| !is(w, DROPPED));
    // Quantifier.
    let mut denied = false;
    let mut both = false;
    let mut rule = false;
    match ws.first()?.low.as_str() {
        "all" | "every" | "each" | "any" => {
            ws.remove(0);
            rule = true;
        }
        "both" => {
            ws.remove(0);
            both = true;
        }
        "no" => {
            ws.remove(0);
            denied = true;
        }
        _ => {}
    }
    // Negation: at most one, removed and remembered with where it stood.
    let negs: Vec<usize> = (0..ws.len())
        .filter(|&i| matches!(ws[i].low.as_str(), "not" | "never"))
        .collect();
    let neg = match negs.as_slice() {
        [] => None,
        [0] => return None,
        [i] => Some((*i, ws.remove(*i).low == "never")),
        _ => return None,
    };
    if ws.len() < 2 {
        return None;
    }
    // The first position holding a wording; a word after an article is a noun ("the cause").
    let (k, len, p) = (1..ws.len()).find_map(|k| {
        if is(&ws[k - 1], ARTICLES) || is(&ws[k - 1], BAD_FIRST) {
            return None;
        }
        PATTERNS
            .iter()
            .find_map(|p| p.match_len(&ws[k..]).map(|len| (k, len, p)))
    })?;
    let verb = ws[k].low.as_str();
    // "All birds cannot fly": none, or not all? Unread.
    if neg.is_some() && rule {
        return None;
    }
    if let Some((at, never)) = neg {
        let after_aux = at == k + 1
            && matches!(
                verb,
                "is" | "are" | "was" | "were" | "can" | "does" | "do" | "did"
            );
        if !(after_aux || (never && at == k)) || denied {
            return None;
        }
    }
    let negated = match (neg.is_some() || denied, p.denial) {
        (true, true) => return None,
        (n, d) => n || d,
    };
    let plural = plural_verb(verb);
    let subject = &ws[..k];
    let split = both || plural == Some(true) || verb == "can";
    let parts = if split {
        split_and(subject)
    } else {
        vec![subject]
    };
    let subjects: Vec<(String, bool)> = parts
        .into_iter()
        .map(|ws| Some((name(ws)?, generic_subject(ws, verb))))
        .collect::<Option<_>>()?;
    let objects = read_object(p, &ws[k + len..], negated, plural == Some(true))?;
    let mut out = Vec::new();
    for (s, s_generic) in &subjects {
        for t in &objects {
            let (source, target) = if p.reverse {
                (&t.name, s)
            } else {
                (s, &t.name)
            };
            let class = matches!(
                t.kind,
                AssocType::IsA | AssocType::CapableOf | AssocType::HasProperty
            );
            if entity_key(source) == entity_key(target) {
                continue;
            }
            out.push(Extracted {
                source: source.clone(),
                target: target.clone(),
                kind: t.kind,
                confidence: t.confidence,
                negated,
                source_generic: !p.reverse && class && *s_generic,
                target_generic: !p.reverse && t.generic,
            });
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The semantic type of a statement.
fn classify(sentence: &str, lows: &[String], question: bool, found: &[Extracted]) -> SemanticType {
    if question {
        return SemanticType::Unclassified;
    }
    let has = |list: &'static str| lows.iter().any(|w| among(w, list));
    let rule = lows.first().is_some_and(|w| {
        matches!(
            w.as_str(),
            "all" | "every" | "each" | "any" | "if" | "when" | "whenever"
        )
    }) || has("if whenever unless");
    if found.iter().any(|a| a.negated) {
        return SemanticType::Negation;
    }
    if let Some(first) = found.first() {
        if rule {
            return SemanticType::Rule;
        }
        return match first.kind {
            AssocType::IsA => SemanticType::Definitional,
            AssocType::LocatedIn | AssocType::PartOf => SemanticType::Spatial,
            AssocType::Causes => SemanticType::Causal,
            AssocType::Precedes => SemanticType::Temporal,
            AssocType::CapableOf => SemanticType::Capability,
            AssocType::HasProperty => SemanticType::Property,
            AssocType::RelatedTo | AssocType::Mentions => SemanticType::Unclassified,
        };
    }
    // Capitalized words are names ("United States"), not past tenses.
    let past = sentence
        .split_whitespace()
        .filter(|w| w.chars().next().is_some_and(char::is_lowercase))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .any(|w| among(w, PAST) || (w.len() > 4 && w.ends_with("ed") && !w.ends_with("eed")));
    let number = lows
        .iter()
        .any(|w| w.chars().any(|c| c.is_ascii_digit()) || among(w, NUMBER_WORDS));
    if has(NEGATORS) {
        SemanticType::Negation
    } else if rule {
        SemanticType::Rule
    } else if past {
        SemanticType::Event
    } else if has(TIME_WORDS) {
        SemanticType::Temporal
    } else if number {
        SemanticType::Quantitative
    } else {
        SemanticType::Unclassified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One statement a line: `sentence => source / kind / target; ...`, a kind written
    /// `!kind` for a negated edge.
    const POSITIVE: &str = "
        The Eiffel Tower is in Paris. => Eiffel Tower / located_in / Paris
        A poodle is a kind of dog. => poodle / is_a / dog
        A beagle is a type of dog => beagle / is_a / dog
        A tabby is a sort of cat => tabby / is_a / cat
        A poodle is a dog => poodle / is_a / dog
        An oak is a tree. => oak / is_a / tree
        An ostrich is an animal => ostrich / is_a / animal
        Dogs are mammals. => Dogs / is_a / mammals
        Poodles are a kind of dog => Poodles / is_a / dog
        The red fox is a species of fox => red fox / is_a / fox
        Vulpes fulva is a species of fox => Vulpes fulva / is_a / fox
        A spaniel is an example of a dog => spaniel / is_a / dog
        A poodle is a small kind of dog => poodle / is_a / dog
        Every dog is a mammal => dog / is_a / mammal
        All whales are mammals => whales / is_a / mammals
        Penguins are flightless birds => Penguins / is_a / flightless birds; Penguins / is_a / birds; flightless birds / is_a / birds
        A double-reed instrument is a kind of woodwind instrument => double-reed instrument / is_a / woodwind instrument; double-reed instrument / is_a / instrument; woodwind instrument / is_a / instrument
        A bat is a mammal with wings => bat / is_a / mammal
        A bat is a mammal that can fly => bat / is_a / mammal
        Water is a liquid => Water / is_a / liquid
        Theresa May is a politician => Theresa May / is_a / politician
        Paris is located in France => Paris / located_in / France
        Kyoto is situated in Japan => Kyoto / located_in / Japan
        The Danube lies in Europe => Danube / located_in / Europe
        Koalas can be found in Australia => Koalas / located_in / Australia
        Penguins are found in Antarctica => Penguins / located_in / Antarctica
        Kangaroos live in Australia => Kangaroos / located_in / Australia
        The Brandenburg Gate is in Berlin => Brandenburg Gate / located_in / Berlin
        The United States is in North America => United States / located_in / North America
        The Mona Lisa is in the Louvre => Mona Lisa / located_in / Louvre
        Mount Everest is in the Himalayas => Mount Everest / located_in / Himalayas
        the louvre is in paris => louvre / located_in / paris
        The Eiffel Tower IS LOCATED IN Paris! => Eiffel Tower / located_in / Paris
        The Eiffel Tower is now in Paris => Eiffel Tower / located_in / Paris
        Munich is in the south of Germany => Munich / located_in / Germany
        The Louvre is in Paris near the Seine => Louvre / located_in / Paris
        The Seine (a river) is in France => Seine / located_in / France
        St. Louis is in Missouri => St Louis / located_in / Missouri
        Paris is home to the Louvre => Louvre / located_in / Paris
        Paris and Lyon are in France => Paris / located_in / France; Lyon / located_in / France
        Bosnia and Herzegovina is in Europe => Bosnia and Herzegovina / located_in / Europe
        Basseterre is in Saint Kitts and Nevis => Basseterre / located_in / Saint Kitts and Nevis
        A wheel is part of a car. => wheel / part_of / car
        A piston is a part of an engine => piston / part_of / engine
        A piston is a component in an engine => piston / part_of / engine
        Wales belongs to the United Kingdom => Wales / part_of / United Kingdom
        Germany is a member of the European Union => Germany / part_of / European Union
        Lyon is a city in France => Lyon / is_a / city; Lyon / located_in / France
        Lyon is a city located in France => Lyon / is_a / city; Lyon / located_in / France
        Bavaria is a state of Germany => Bavaria / is_a / state; Bavaria / part_of / Germany
        Paris is the capital of France => Paris / is_a / capital; Paris / part_of / France
        The Louvre is a museum in Paris => Louvre / is_a / museum; Louvre / located_in / Paris
        The Nile is the longest river in Africa => Nile / is_a / river; Nile / located_in / Africa; Nile / is_a / longest river
        A leaf is an organ of a plant => leaf / is_a / organ
        Smoking causes lung cancer. => Smoking / causes / lung cancer
        Heavy rain leads to flooding => Heavy rain / causes / flooding
        Deforestation results in soil erosion => Deforestation / causes / soil erosion
        Smoking can cause heart disease => Smoking / causes / heart disease
        Floods can lead to famine => Floods / causes / famine
        Lung cancer is caused by smoking => smoking / causes / Lung cancer
        Earthquakes are caused by plate movements => plate movements / causes / Earthquakes
        Flooding is the result of heavy rain => heavy rain / causes / Flooding
        Erosion results from deforestation => deforestation / causes / Erosion
        Smoking causes cancer and heart disease => Smoking / causes / cancer; Smoking / causes / heart disease
        Smoking and drinking cause liver damage => Smoking / causes / liver damage; drinking / causes / liver damage
        Breakfast happens before lunch. => Breakfast / precedes / lunch
        The Renaissance happened before the Industrial Revolution => Renaissance / precedes / Industrial Revolution
        Spring comes before summer => Spring / precedes / summer
        Monday precedes Tuesday => Monday / precedes / Tuesday
        The printing press was invented before the steam engine. => printing press / precedes / steam engine
        The pyramids were built before the Colosseum => pyramids / precedes / Colosseum
        Dinner happens after lunch => lunch / precedes / Dinner
        Lunch follows breakfast => breakfast / precedes / Lunch
        The telephone was invented after the telegraph => telegraph / precedes / telephone
        Birds can fly. => Birds / capable_of / fly
        Dolphins can swim fast => Dolphins / capable_of / swim fast
        A cheetah is able to run fast => cheetah / capable_of / run fast
        Dogs can bark at strangers => Dogs / capable_of / bark
        Ducks can swim and fly => Ducks / capable_of / swim; Ducks / capable_of / fly
        Dogs and cats can swim => Dogs / capable_of / swim; cats / capable_of / swim
        Snow is white => Snow / has_property / white
        The sky is blue. => sky / has_property / blue
        Lemons are sour => Lemons / has_property / sour
        Fish are cold-blooded => Fish / has_property / cold-blooded
        The sun is very hot => sun / has_property / hot
        Snow is white and cold => Snow / has_property / white; Snow / has_property / cold
        Birds, which can fly, are animals => Birds / is_a / animals
        Paris is in France, which is in Europe => Paris / located_in / France
        Global warming is related to pollution => Global warming / related_to / pollution
        Paris is not in Germany => Paris / !located_in / Germany
        A whale isn't a fish => whale / !is_a / fish
        A bat is not a kind of bird => bat / !is_a / bird
        Smoking does not cause baldness => Smoking / !causes / baldness
        Rain doesn't cause earthquakes => Rain / !causes / earthquakes
        Penguins cannot fly => Penguins / !capable_of / fly
        Fish can't climb => Fish / !capable_of / climb
        Fish can\u{2019}t climb => Fish / !capable_of / climb
        Paris is never in Asia => Paris / !located_in / Asia
        No birds are mammals => birds / !is_a / mammals
        Ostriches are unable to fly => Ostriches / !capable_of / fly
        Dinner never happens before lunch => Dinner / !precedes / lunch
        Snow is not black => Snow / !has_property / black
        Dogs and cats are not reptiles => Dogs / !is_a / reptiles; cats / !is_a / reptiles
    ";

    /// Statements that must yield no association, one a line.
    const NOTHING: &str = "
        Is Paris in France?
        Where is Paris?
        Paris is in France?
        Is Paris in France
        Does smoking cause cancer
        Can birds fly
        What is a poodle
        Why are roads closed
        Which city is in France
        If it rains, the ground is wet
        If it rains the ground is wet
        The ground is wet if it rains
        Paris might be in France
        Paris may be in France
        Some say Paris is in Germany
        Paris is probably in France
        I think Paris is in France
        Paris is in France in my opinion
        Perhaps dogs are mammals
        It is in Paris
        They are mammals
        He can fly
        There are dogs in Paris
        This is a dog
        Some birds can fly
        Most birds can fly
        Not all birds can fly
        All birds cannot fly
        The Eiffel Tower is in Paris, Texas
        Dogs, cats and mice are mammals
        Paris is in France. Berlin is in Germany.
        Paris is near Berlin
        Paris is north of Lyon
        Paris is bigger than Lyon
        The meeting is in March
        The patient is in danger
        Einstein was born in 1879
        Paris is in France or Belgium
        Paris is France's capital
        The capital of France is Paris
        The cause of flooding is heavy rain
        Snakes can be dangerous
        Smoking will cause cancer
        Paris is not a city in Germany
        The sun is not very hot
        Paris is in France and Berlin is in Germany
        Dogs that bark are loud
        Tell me about Paris
        Paris is a
        Paris is in
        The is in the
        A is a
        A dog is a dog
        Paris is a city (in France
        Paris is one of the largest cities
        Everyone knows dogs are mammals
        Hello.
        Paris
        .
        ?!
    ";

    fn parse_edges(spec: &str) -> Vec<(String, AssocType, String, bool)> {
        spec.split(';')
            .map(|e| {
                let parts: Vec<&str> = e.split(" / ").map(str::trim).collect();
                let (kind, negated) = match parts[1].strip_prefix('!') {
                    Some(k) => (k, true),
                    None => (parts[1], false),
                };
                (
                    parts[0].into(),
                    kind.parse().unwrap(),
                    parts[2].into(),
                    negated,
                )
            })
            .collect()
    }

    fn edges(sentence: &str) -> Vec<(String, AssocType, String, bool)> {
        extract(sentence)
            .associations
            .into_iter()
            .map(|a| (a.source, a.kind, a.target, a.negated))
            .collect()
    }

    fn lines(table: &str) -> impl Iterator<Item = &str> {
        table.lines().map(str::trim).filter(|l| !l.is_empty())
    }

    /// Definitions the wordings misread or left unread, read through the parse
    /// (`super::super::parsed`): the head noun, not what follows it.
    #[test]
    fn definitions_through_the_parse() {
        use AssocType::{HasProperty as P, IsA, LocatedIn as L};
        for (sentence, want) in [
            (
                "A filler is the tobacco used to form the core of a cigar.",
                vec![("filler", IsA, "tobacco")],
            ),
            (
                "A chancellery is a government building housing the office of a chancellor.",
                vec![
                    ("chancellery", IsA, "government building"),
                    ("chancellery", IsA, "building"),
                    ("government building", IsA, "building"),
                ],
            ),
            (
                "A paresis is a slight or partial paralysis.",
                vec![
                    ("paresis", IsA, "paralysis"),
                    ("paresis", P, "slight"),
                    ("paresis", P, "partial"),
                ],
            ),
            // An invented head the tagger guesses is a participle is not cut.
            (
                "Every pale gegeirk is an amber vuraelt.",
                vec![("pale gegeirk", IsA, "amber vuraelt")],
            ),
            (
                "Cornell University is a university in Ithaca, New York.",
                vec![
                    ("Cornell University", IsA, "university"),
                    ("Cornell University", L, "Ithaca, New York"),
                ],
            ),
        ] {
            let want: Vec<(String, AssocType, String, bool)> = want
                .into_iter()
                .map(|(a, k, b)| (a.to_string(), k, b.to_string(), false))
                .collect();
            assert_eq!(edges(sentence), want, "{sentence}");
        }
    }

    #[test]
    fn reads_the_wordings() {
        let mut n = 0;
        for line in lines(POSITIVE) {
            let (sentence, spec) = line.split_once(" => ").unwrap();
            let sentence = sentence.replace("\\u{2019}", "\u{2019}");
            assert_eq!(edges(&sentence), parse_edges(spec), "{sentence}");
            n += 1;
        }
        assert!(n >= 60);
        // Surrounding whitespace and a missing final period change nothing.
        assert_eq!(
            edges("  Paris is in France  "),
            edges("Paris is in France.")
        );
    }

    #[test]
    fn reads_nothing_it_should_not() {
        let mut n = 0;
        for sentence in lines(NOTHING).chain(["", "   ", "\n"]) {
            assert_eq!(edges(sentence), vec![], "{sentence:?}");
            n += 1;
        }
        assert!(n >= 25);
        let found = extract("Birds, which can fly, are animals").associations;
        assert!(found.iter().all(|a| a.kind != AssocType::CapableOf));
    }

    #[test]
    fn only_bare_plural_classes_are_generic() {
        let generic = |s: &str| {
            let found = extract(s).associations;
            let is_a = found.iter().any(|a| a.kind == A::IsA);
            found
                .into_iter()
                .filter(|a| !is_a || a.kind != A::HasProperty)
                .map(|a| (a.source_generic, a.target_generic))
                .collect::<Vec<_>>()
        };
        for (sentence, want) in [
            ("Dogs are mammals", (true, true)),
            ("Dumpuses are wumpuses", (true, true)),
            ("All whales are mammals", (true, true)),
            ("Mice can swim", (true, false)),
            ("Lemons are sour", (true, false)),
            ("Poodles are a kind of dog", (true, false)),
            // Singular as written: an article, a singular verb, "a kind of".
            ("A scissors is a kind of cutting tool", (false, false)),
            ("An eyas is a kind of hawk", (false, false)),
            ("A secateurs is a kind of pruning shears", (false, false)),
            // "baked goods", and "goods" as the head with "baked goods" a kind of it.
            ("A cake is a kind of baked goods", (false, false)),
            ("Every wumpus is an impus", (false, false)),
            ("Max is a dumpus", (false, false)),
            ("Max can swim", (false, false)),
            ("The Maldives are islands", (false, true)),
            ("Penguins are found in Antarctica", (false, false)),
        ] {
            let got = generic(sentence);
            assert!(
                !got.is_empty() && got.iter().all(|g| *g == want),
                "{sentence}: {got:?}"
            );
        }
    }

    #[test]
    fn explicit_wordings_are_more_confident() {
        let conf = |s: &str| extract(s).associations[0].confidence;
        assert!(conf("A poodle is a kind of dog") > conf("A poodle is a dog"));
        assert!(conf("A poodle is a dog") > conf("Poodles are dogs"));
        assert!(conf("Poodles are dogs") > conf("The sun is hot"));
        assert!(conf("The sun is hot") > conf("Rain is related to clouds"));
        assert!(conf("Paris is located in France") > conf("Paris is in France"));
    }

    #[test]
    fn semantic_types() {
        use SemanticType as S;
        for (sentence, want) in [
            ("A poodle is a kind of dog", S::Definitional),
            ("Paris is in France", S::Spatial),
            ("A wheel is part of a car", S::Spatial),
            ("Smoking causes cancer", S::Causal),
            ("Breakfast happens before lunch", S::Temporal),
            ("Birds can fly", S::Capability),
            ("Snow is white", S::Property),
            ("Paris is not in Germany", S::Negation),
            ("All dogs are mammals", S::Rule),
            ("If it rains, the ground is wet", S::Rule),
            ("A spider has 8 legs", S::Quantitative),
            ("The Berlin Wall fell in 1989", S::Event),
            ("The telephone was invented by Bell", S::Event),
            ("The festival is in August", S::Temporal),
            ("Hello there", S::Unclassified),
            ("Is Paris in France?", S::Unclassified),
        ] {
            assert_eq!(extract(sentence).semantic_type, want, "{sentence}");
        }
    }

    #[test]
    fn never_panics_and_names_stay_short() {
        let odd = [
            ",",
            ",,,",
            "...",
            "'",
            "\"",
            "()",
            ")(",
            "((((",
            "n't",
            "isn't",
            "not",
            "never never",
            "a an the",
            "is is is is",
            "X is",
            "is X",
            "X is not",
            "X can't",
            "a, which",
            "Birds, which",
            "X, which is,",
            "\u{e9}t\u{e9} is \u{e9}t\u{e9}",
            "\u{65e5}\u{672c} is in \u{30a2}\u{30b8}\u{30a2}",
            "\u{1f600} is a \u{1f600}",
            "Zo\u{eb} is in \u{c5}land.",
            "\u{130}stanbul is in T\u{fc}rkiye",
            "\u{200b}\u{200b}",
            "X is in \u{0}",
            "'s is 's",
            "& is &",
            "The the the the is a a a a",
        ];
        let mut inputs: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
        inputs.push("very ".repeat(5000));
        inputs.push(format!("{} is in Paris", "big ".repeat(50)));
        inputs.push(format!("Paris is in {}", "x".repeat(100_000)));
        assert!(extract(inputs.last().unwrap()).associations.is_empty());
        let words = [
            "is", "a", "not", ",", "in", "can", "the", "of", "and", "X", "which", "?", "before",
            "kind", "(", "\u{e9}", "n't", "by", "caused",
        ];
        let mut seed = 7u64;
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..(seed % 11) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push_str(words[(seed >> 33) as usize % words.len()]);
                s.push(' ');
            }
            inputs.push(s);
        }
        for input in &inputs {
            for a in extract(input).associations {
                for n in [&a.source, &a.target] {
                    assert!(!entity_key(n).is_empty(), "{input:?}");
                    assert!(n.split_whitespace().count() <= MAX_NAME_WORDS, "{input:?}");
                }
                assert!((0.0..=1.0).contains(&a.confidence));
            }
        }
    }

    #[test]
    fn reads_every_public_fact() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/eval/basics_facts.txt"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: {path} is absent");
            return;
        };
        for line in lines(&text) {
            let found = extract(line);
            assert!(!found.associations.is_empty(), "nothing read from {line:?}");
            assert!(found.associations.iter().all(|a| !a.negated), "{line:?}");
        }
    }
}
