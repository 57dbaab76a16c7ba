//! Held-out-style data for the logic module: generated stories of the public sets' kinds
//! with other vocabularies and wordings (other names, places, motion and possession
//! verbs, invented adjectives and classes, other verbs as relations, rules chaining 10
//! deep, long histories, grids of any size). The expected answers come from the
//! generator's own model of each story, never from the module. Asserts 0 false yes and
//! at least 99% right per kind, with the cited sources covering the supporting lines.

use sutra::logic::{AskOptions, Kb, Reply, Verdict};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// A story being told: sentences learned in order with their line numbers as tokens.
struct Story {
    kb: Kb,
    line: u64,
}

impl Story {
    fn new() -> Story {
        Story {
            kb: Kb::new(),
            line: 0,
        }
    }
    fn say(&mut self, s: &str) -> u64 {
        self.line += 1;
        self.kb.learn(s, self.line, self.line).expect("learn");
        self.line
    }
    fn ask(&mut self, q: &str) -> Reply {
        self.kb
            .ask(q, &AskOptions::default())
            .unwrap_or_else(|| panic!("not handled: {q}"))
    }
}

#[derive(Default)]
struct Tally {
    name: &'static str,
    asked: usize,
    right: usize,
    false_yes: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(name: &'static str) -> Tally {
        Tally {
            name,
            ..Tally::default()
        }
    }
    fn check(&mut self, ok: bool, false_yes: bool, what: impl FnOnce() -> String) {
        self.asked += 1;
        self.right += usize::from(ok);
        self.false_yes += usize::from(false_yes);
        if !ok && self.failures.len() < 6 {
            self.failures.push(what());
        }
    }
    fn assert(&self) {
        println!(
            "{}: {}/{} right, {} false yes",
            self.name, self.right, self.asked, self.false_yes
        );
        for f in &self.failures {
            println!("  {f}");
        }
        assert!(self.asked > 0);
        assert_eq!(self.false_yes, 0, "{}: false yes", self.name);
        assert!(
            self.right * 100 >= self.asked * 99,
            "{}: below 99%",
            self.name
        );
    }
}

const PEOPLE: &[&str] = &[
    "Alice", "Bruno", "Chloe", "Dmitri", "Esther", "Farid", "Greta", "Hiro",
];
const PLACES: &[&str] = &[
    "cellar", "attic", "library", "porch", "studio", "pantry", "garage", "lobby",
];
const OBJECTS: &[&str] = &[
    "lantern", "violin", "umbrella", "wallet", "notebook", "kettle",
];
const MOVES: &[&str] = &[
    "walked to",
    "ran to",
    "drove to",
    "hurried to",
    "returned to",
    "wandered to",
    "went back to",
];
const TAKES: &[&str] = &["grabbed", "picked up", "took", "collected"];
const DROPS: &[&str] = &["dropped", "put down", "discarded", "left"];

#[test]
fn long_histories_with_possession() {
    let mut rng = Rng(0x5eed_0001);
    let mut t = Tally::new("histories");
    for _ in 0..60 {
        let mut s = Story::new();
        // Where each person is (place, line) and who holds each object (person, line).
        let mut at: Vec<Option<(usize, u64)>> = vec![None; PEOPLE.len()];
        let mut held: Vec<Option<(usize, u64)>> = vec![None; OBJECTS.len()];
        // Where each object is and the lines that say so.
        let mut obj_at: Vec<Option<(usize, Vec<u64>)>> = vec![None; OBJECTS.len()];
        for _ in 0..80 {
            let p = rng.below(PEOPLE.len());
            match rng.below(4) {
                0 | 1 => {
                    let place = rng.below(PLACES.len());
                    let l = s.say(&format!(
                        "{} {} the {}.",
                        PEOPLE[p],
                        rng.pick(MOVES),
                        PLACES[place]
                    ));
                    at[p] = Some((place, l));
                    for o in 0..OBJECTS.len() {
                        if let Some((h, took)) = held[o] {
                            if h == p {
                                obj_at[o] = Some((place, vec![took, l]));
                            }
                        }
                    }
                }
                2 => {
                    let o = rng.below(OBJECTS.len());
                    if held[o].is_some() {
                        continue;
                    }
                    let l = s.say(&format!(
                        "{} {} the {}.",
                        PEOPLE[p],
                        rng.pick(TAKES),
                        OBJECTS[o]
                    ));
                    held[o] = Some((p, l));
                    if let Some((place, ml)) = at[p] {
                        obj_at[o] = Some((place, vec![l, ml]));
                    }
                }
                _ => {
                    let Some(o) =
                        (0..OBJECTS.len()).find(|&o| held[o].is_some_and(|(h, _)| h == p))
                    else {
                        continue;
                    };
                    let l = s.say(&format!(
                        "{} {} the {}.",
                        PEOPLE[p],
                        rng.pick(DROPS),
                        OBJECTS[o]
                    ));
                    held[o] = None;
                    if let Some((place, ml)) = at[p] {
                        obj_at[o] = Some((place, vec![l, ml]));
                    }
                }
            }
            if rng.below(3) == 0 {
                let q = rng.below(PEOPLE.len());
                if let Some((place, l)) = at[q] {
                    let r = s.ask(&format!("Where is {}?", PEOPLE[q]));
                    let ok = r.answer.contains(PLACES[place]) && r.sources().contains(&l);
                    t.check(ok, false, || format!("{} -> {}", PEOPLE[q], r.answer));
                    let other = (place + 1) % PLACES.len();
                    let r = s.ask(&format!("Is {} in the {}?", PEOPLE[q], PLACES[other]));
                    t.check(r.verdict == Verdict::No, r.verdict == Verdict::Yes, || {
                        r.answer.clone()
                    });
                }
                let o = rng.below(OBJECTS.len());
                if let Some((place, lines)) = obj_at[o].clone() {
                    let r = s.ask(&format!("Where is the {}?", OBJECTS[o]));
                    let cited = r.sources();
                    let ok =
                        r.answer.contains(PLACES[place]) && lines.iter().all(|l| cited.contains(l));
                    t.check(ok, false, || {
                        format!(
                            "{} at {} {lines:?} -> {} {cited:?}",
                            OBJECTS[o], PLACES[place], r.answer
                        )
                    });
                }
            }
        }
    }
    t.assert();
}

/// Invented adjectives for rule chains.
fn word(rng: &mut Rng) -> String {
    const A: &[&str] = &["bl", "gr", "z", "qu", "fr", "sn", "v", "pl", "dr", "m"];
    const B: &[&str] = &["a", "e", "i", "o", "u", "oo", "ai"];
    const C: &[&str] = &["rky", "mpy", "ndish", "lic", "ttle", "xen", "ful", "vy"];
    format!("{}{}{}", rng.pick(A), rng.pick(B), rng.pick(C))
}

#[test]
fn rules_chaining_ten_deep_with_negation() {
    let mut rng = Rng(0x5eed_0002);
    let mut t = Tally::new("rule chains");
    for _ in 0..80 {
        let mut s = Story::new();
        // A chain of 11 distinct adjectives; the last link may be negated.
        let mut chain: Vec<String> = Vec::new();
        while chain.len() < 12 {
            let w = word(&mut rng);
            if !chain.contains(&w) {
                chain.push(w);
            }
        }
        let negated_end = rng.below(2) == 0;
        let name = rng.pick(&["Quentin", "the walrus", "Odile", "the heron"]);
        let mut lines = Vec::new();
        for k in 0..10 {
            let (a, b) = (&chain[k], &chain[k + 1]);
            let not = if k == 9 && negated_end { "not " } else { "" };
            let form = rng.below(4);
            let sentence = match form {
                0 => format!("If something is {a} then it is {not}{b}."),
                1 => format!(
                    "{} {a} things are {not}{b}.",
                    if rng.below(2) == 0 { "All" } else { "" }
                ),
                2 => format!("If someone is {a} then they are {not}{b}."),
                _ => format!("{} people are {not}{b}.", capital(a)),
            };
            lines.push(s.say(sentence.trim()));
            if rng.below(2) == 0 {
                // A distractor rule from an adjective nobody has.
                s.say(&format!(
                    "If something is {} then it is {}.",
                    chain[11], chain[k]
                ));
            }
        }
        let fact = s.say(&format!("{} is {}.", capital(name), chain[0]));
        let end = &chain[10];
        let r = s.ask(&format!("Is it true that {name} is {end}?"));
        let want = if negated_end {
            Verdict::No
        } else {
            Verdict::Yes
        };
        let cited = r.sources();
        let ok = r.verdict == want && lines.iter().chain([&fact]).all(|l| cited.contains(l));
        t.check(
            ok,
            r.verdict == Verdict::Yes && want != Verdict::Yes,
            || format!("{name} {end}: {}", r.answer),
        );
        // The distractor's head adjective is never derived for the name: unknown.
        let r = s.ask(&format!("Is {name} {}?", chain[11]));
        t.check(
            r.verdict == Verdict::Unknown,
            r.verdict == Verdict::Yes,
            || r.answer.clone(),
        );
    }
    t.assert();
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[test]
fn many_relation_types_with_variables() {
    let verbs: &[(&str, &str)] = &[
        ("admires", "admire"),
        ("follows", "follow"),
        ("helps", "help"),
        ("trusts", "trust"),
        ("watches", "watch"),
        ("teaches", "teach"),
        ("carries", "carry"),
    ];
    let animals = [
        "the otter",
        "the falcon",
        "the badger",
        "the moose",
        "the lynx",
    ];
    let mut rng = Rng(0x5eed_0003);
    let mut t = Tally::new("relations");
    for _ in 0..150 {
        let mut s = Story::new();
        let (v1, v1b) = verbs[rng.below(verbs.len())];
        let (v2, v2b) = verbs[rng.below(verbs.len())];
        if v1 == v2 {
            continue;
        }
        let a = animals[rng.below(5)];
        let b = animals[rng.below(5)];
        let c = animals[rng.below(5)];
        if a == b || b == c || a == c {
            continue;
        }
        let adj = word(&mut rng);
        let l1 = s.say(&format!("{} {v1} {b}.", capital(a)));
        let l2 = s.say(&format!("If someone {v1} {b} then they are {adj}."));
        let l3 = s.say(&format!(
            "If something is {adj} and it does not {v2b} {c} then {c} {v2} it."
        ));
        let l4 = s.say(&format!("{} does not {v2b} {c}.", capital(a)));
        // c v2 a: via l1, l2, l4, l3.
        let r = s.ask(&format!("Does {c} {v2b} {a}?"));
        let cited = r.sources();
        let ok = r.verdict == Verdict::Yes && [l1, l2, l3, l4].iter().all(|l| cited.contains(l));
        t.check(ok, false, || {
            format!("{c} {v2} {a}: {} {cited:?}", r.answer)
        });
        let r = s.ask(&format!("Is it true that {b} {v1} {a}?"));
        t.check(
            r.verdict == Verdict::Unknown,
            r.verdict == Verdict::Yes,
            || r.answer.clone(),
        );
        let r = s.ask(&format!("Is it true that {a} {v2} {c}?"));
        t.check(r.verdict == Verdict::No, r.verdict == Verdict::Yes, || {
            r.answer.clone()
        });
        let r = s.ask(&format!("Who {v1} {b}?"));
        t.check(r.answer.contains(&a[4..]), false, || r.answer.clone());
        let _ = v1b;
    }
    t.assert();
}

#[test]
fn grids_of_directions_and_paths() {
    let mut rng = Rng(0x5eed_0004);
    let mut t = Tally::new("grids");
    let rooms = [
        "den", "study", "nursery", "sauna", "foyer", "gym", "loft", "vault", "parlor",
    ];
    for _ in 0..120 {
        let mut s = Story::new();
        // A random walk on a grid: each new room is next to the previous one.
        let mut pos: Vec<(i32, i32)> = vec![(0, 0)];
        let mut said = Vec::new();
        let n = 4 + rng.below(4);
        while pos.len() < n {
            let (x, y) = pos[pos.len() - 1];
            let (dx, dy, word) = [
                (0, 1, "north"),
                (0, -1, "south"),
                (1, 0, "east"),
                (-1, 0, "west"),
            ][rng.below(4)];
            let next = (x + dx, y + dy);
            if pos.contains(&next) {
                continue;
            }
            pos.push(next);
            let i = pos.len() - 1;
            let l = s.say(&format!(
                "The {} is {word} of the {}.",
                rooms[i],
                rooms[i - 1]
            ));
            said.push(l);
        }
        // The path along the walk from the last room to the first is a shortest path when
        // no other statement links them; check its length and that it arrives.
        let last = pos.len() - 1;
        let r = s.ask(&format!(
            "How do you go from the {} to the {}?",
            rooms[last], rooms[0]
        ));
        let mut at = pos[last];
        for w in r.answer.split(|c: char| !c.is_alphabetic()) {
            match w {
                "north" => at.1 += 1,
                "south" => at.1 -= 1,
                "east" => at.0 += 1,
                "west" => at.0 -= 1,
                _ => {}
            }
        }
        let cited = r.sources();
        t.check(
            at == pos[0] && said.iter().all(|l| cited.contains(l)),
            false,
            || r.answer.clone(),
        );
        // Spatial yes/no between two rooms on one line.
        let (i, j) = (rng.below(n), rng.below(n));
        if i != j && (pos[i].0 == pos[j].0 || pos[i].1 == pos[j].1) {
            let (rel, truth) = if pos[i].0 == pos[j].0 {
                ("north", pos[i].1 > pos[j].1)
            } else {
                ("east", pos[i].0 > pos[j].0)
            };
            let r = s.ask(&format!("Is the {} {rel} of the {}?", rooms[i], rooms[j]));
            // Only rooms in one straight run of statements are decidable; others may be
            // unknown, never wrong.
            let wrong =
                (r.verdict == Verdict::Yes && !truth) || (r.verdict == Verdict::No && truth);
            t.check(!wrong, r.verdict == Verdict::Yes && !truth, || {
                r.answer.clone()
            });
        }
    }
    t.assert();
}

#[test]
fn induction_over_invented_classes() {
    let mut rng = Rng(0x5eed_0005);
    let mut t = Tally::new("induction");
    let colors = ["red", "green", "purple", "brown", "black", "silver"];
    for _ in 0..100 {
        let mut s = Story::new();
        let class = word(&mut rng);
        let other = word(&mut rng);
        if class == other {
            continue;
        }
        let color = colors[rng.below(colors.len())];
        let wrong = colors[(colors.iter().position(|c| *c == color).unwrap() + 1) % colors.len()];
        let l1 = s.say(&format!("Ines is a {class}."));
        s.say(&format!("Otto is a {other}."));
        let l2 = s.say(&format!("Ines is {color}."));
        s.say(&format!("Otto is {wrong}."));
        let l3 = s.say(&format!("Pavel is a {class}."));
        let r = s.ask("What color is Pavel?");
        let cited = r.sources();
        let ok = r.answer.contains(color)
            && r.confidence < 1.0
            && [l1, l2, l3].iter().all(|l| cited.contains(l));
        t.check(ok, false, || r.answer.clone());
        let r = s.ask(&format!("Is Pavel {color}?"));
        t.check(
            r.verdict == Verdict::Unknown,
            r.verdict == Verdict::Yes,
            || r.answer.clone(),
        );
    }
    t.assert();
}
