//! Unit tests of the knowledge base: one per mechanism.

use super::*;

fn kb(lines: &[&str]) -> Kb {
    let mut kb = Kb::new();
    for (i, l) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        kb.learn(l, n, n).unwrap();
    }
    kb
}

fn ask(kb: &mut Kb, q: &str) -> Reply {
    kb.ask(q, &AskOptions::default())
        .unwrap_or_else(|| panic!("not handled: {q}"))
}

#[test]
fn rules_chain_with_negation_and_cite_every_sentence() {
    let mut k = kb(&[
        "The bear visits the lion.",
        "If something visits the lion then it is young.",
        "Young things are big.",
        "If something is big and it does not see the rabbit then it chases the rabbit.",
        "The bear does not see the rabbit.",
    ]);
    let r = ask(&mut k, "Is it true that the bear chases the rabbit?");
    assert_eq!(r.verdict, Verdict::Yes, "{}", r.answer);
    assert_eq!(r.sources(), vec![1, 2, 3, 4, 5]);
    assert!(
        r.answer
            .starts_with("Yes. The bear chases the rabbit because"),
        "{}",
        r.answer
    );
    assert!(
        r.answer
            .contains("young things are big, so the bear is big"),
        "{}",
        r.answer
    );
    // A tree: the last step rests on the steps for "big" and "does not see".
    let proof = &r.proofs[0];
    assert_eq!(proof.root().unwrap().premises.len(), 2);
    let r = ask(&mut k, "Does the bear visit the lion?");
    assert_eq!(r.verdict, Verdict::Yes);
    assert_eq!(r.sources(), vec![1]);
}

#[test]
fn open_world_needs_negative_evidence_closed_world_does_not() {
    let mut k = kb(&["The cat is red.", "Red things are not blue."]);
    assert_eq!(ask(&mut k, "Is the cat blue?").verdict, Verdict::No);
    assert_eq!(ask(&mut k, "Is the cat round?").verdict, Verdict::Unknown);
    let closed = AskOptions {
        closed_world: true,
        ..AskOptions::default()
    };
    assert_eq!(
        k.ask("Is the cat round?", &closed).unwrap().verdict,
        Verdict::No
    );
    assert_eq!(
        k.ask("Is the cat red?", &closed).unwrap().verdict,
        Verdict::Yes
    );
}

#[test]
fn conflicting_derivations_are_reported_with_both_proofs() {
    let mut k = kb(&["Bob is kind.", "Kind people are nice.", "Bob is not nice."]);
    let r = ask(&mut k, "Is Bob nice?");
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.conflict);
    assert_eq!(r.proofs.len(), 2);
    assert!(r.answer.starts_with("Conflict"), "{}", r.answer);
}

#[test]
fn a_pathological_rule_set_runs_out_of_budget_and_says_so() {
    let mut lines: Vec<String> = (0..300)
        .map(|i| format!("Node{i} is linked to node{}.", i + 1))
        .collect();
    lines.push("Linked to is transitive.".into());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut k = kb(&refs);
    let small = AskOptions {
        budget: 10_000,
        ..AskOptions::default()
    };
    let r = k.ask("Is node0 linked to node299?", &small).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.answer);
    assert!(r.budget_exhausted);
    assert!(r.answer.contains("budget ran out"), "{}", r.answer);
}

#[test]
fn class_statements_are_inherited_by_members() {
    let mut k = kb(&[
        "Sheep are afraid of wolves.",
        "Gertrude is a sheep.",
        "Wolves are afraid of cats.",
    ]);
    let r = ask(&mut k, "What is Gertrude afraid of?");
    assert_eq!(r.verdict, Verdict::Answer);
    assert!(r.answer.contains("wolves"), "{}", r.answer);
    assert_eq!(r.sources(), vec![1, 2]);
    let r = ask(&mut k, "Who is afraid of wolves?");
    assert!(r.answer.contains("Gertrude"), "{}", r.answer);
}

#[test]
fn is_a_chains_with_negated_properties() {
    let mut k = kb(&[
        "Jompuses are yumpuses.",
        "Each yumpus is a dumpus.",
        "Every dumpus is an impus.",
        "Impuses are not sour.",
        "Numpuses are sour.",
        "Max is a jompus.",
    ]);
    let r = ask(&mut k, "Is it true that Max is sour?");
    assert_eq!(r.verdict, Verdict::No, "{}", r.answer);
    assert_eq!(r.sources(), vec![1, 2, 3, 4, 6]);
    assert_eq!(
        ask(&mut k, "Is it true that Max is not sour?").verdict,
        Verdict::Yes
    );
}

#[test]
fn time_supersedes_and_possession_carries_location() {
    let mut k = kb(&[
        "Mary moved to the bathroom.",
        "John picked up the football.",
        "Mary went to the garden.",
        "John journeyed to the hallway.",
        "John dropped the football.",
        "John went back to the kitchen.",
    ]);
    let r = ask(&mut k, "Where is Mary?");
    assert!(r.answer.contains("garden"), "{}", r.answer);
    assert_eq!(r.sources(), vec![3]);
    let r = ask(&mut k, "Where is the football?");
    assert!(r.answer.contains("hallway"), "{}", r.answer);
    assert_eq!(r.sources(), vec![4, 5]);
    let r = ask(&mut k, "Where was Mary before the garden?");
    assert!(r.answer.contains("bathroom"), "{}", r.answer);
    assert_eq!(ask(&mut k, "Is John in the kitchen?").verdict, Verdict::Yes);
    assert_eq!(ask(&mut k, "Is Mary in the bathroom?").verdict, Verdict::No);
    assert!(k.learn("Mary went to the hall.", 9, 3).is_err());
}

#[test]
fn induction_is_labelled_and_never_a_yes_no() {
    let mut k = kb(&["Lily is a swan.", "Lily is white.", "Bernhard is a swan."]);
    let r = ask(&mut k, "What color is Bernhard?");
    assert_eq!(r.verdict, Verdict::Answer);
    assert!(r.answer.starts_with("Probably white"), "{}", r.answer);
    assert!(r.confidence < 1.0);
    assert_eq!(r.proofs[0].root().unwrap().inference, Inference::Induction);
    assert_eq!(r.sources(), vec![1, 2, 3]);
    assert_eq!(ask(&mut k, "Is Bernhard white?").verdict, Verdict::Unknown);
    let r = ask(&mut k, "What color is Lily?");
    assert_eq!(r.proofs[0].root().unwrap().inference, Inference::Deduction);
}

#[test]
fn a_relation_first_named_by_the_question_brings_its_rules() {
    // Only "above" and "below" were stated: "right of" enters with the question, and with
    // it the rule that things level on an axis are not right of each other.
    let mut k = kb(&[
        "The triangle is above the blue square.",
        "The triangle is below the red square.",
    ]);
    let r = ask(&mut k, "Is the blue square to the right of the red square?");
    assert_eq!(r.verdict, Verdict::No, "{}", r.answer);
    assert_eq!(r.sources(), vec![1, 2]);
    let r = ask(&mut k, "Is the blue square to the left of the red square?");
    assert_eq!(r.verdict, Verdict::No, "{}", r.answer);
    // Nothing relates the two on the other axis's order: still open, not guessed.
    let mut k = kb(&["The triangle is above the blue square."]);
    let r = ask(&mut k, "Is the blue square to the left of the circle?");
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.answer);
}

#[test]
fn spatial_relations_compose_through_inverses() {
    let mut k = kb(&[
        "The red square is below the blue square.",
        "The red square is to the left of the pink rectangle.",
    ]);
    let r = ask(
        &mut k,
        "Is the blue square to the left of the pink rectangle?",
    );
    assert_eq!(
        (r.verdict, k.stats()),
        (Verdict::Yes, k.stats()),
        "{} {:?}",
        r.answer,
        k.program
            .facts()
            .iter()
            .map(|f| k.render(f.atom))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        ask(
            &mut k,
            "Is the blue square to the left of the pink rectangle?"
        )
        .verdict,
        Verdict::Yes
    );
    assert_eq!(
        ask(&mut k, "Is the pink rectangle above the blue square?").verdict,
        Verdict::No
    );
    assert_eq!(
        ask(
            &mut k,
            "Is the pink rectangle to the left of the blue square?"
        )
        .verdict,
        Verdict::No
    );
    let r = ask(&mut k, "Is the blue square above the pink rectangle?");
    assert_eq!(r.verdict, Verdict::Yes);
    assert_eq!(r.sources(), vec![1, 2]);
}

#[test]
fn paths_follow_directions_both_ways() {
    let mut k = kb(&[
        "The garden is west of the bathroom.",
        "The bedroom is north of the hallway.",
        "The office is south of the hallway.",
        "The bathroom is north of the bedroom.",
        "The kitchen is east of the bedroom.",
    ]);
    let r = ask(&mut k, "How do you go from the bathroom to the hallway?");
    assert!(r.answer.starts_with("Go south, then south"), "{}", r.answer);
    assert_eq!(r.sources(), vec![2, 4]);
    let r = ask(&mut k, "How do you go from the garden to the kitchen?");
    assert!(
        r.answer.starts_with("Go east, then south, then east"),
        "{}",
        r.answer
    );
}

#[test]
fn relation_properties_are_teachable_in_english() {
    let mut k = kb(&[
        "Teacher of is the opposite of student of.",
        "Ann is the teacher of Bob.",
        "Ancestor of is transitive.",
        "Carl is an ancestor of Dina.",
        "Dina is an ancestor of Emma.",
    ]);
    let r = ask(&mut k, "Is Bob the student of Ann?");
    assert_eq!(r.verdict, Verdict::Yes, "{}", r.answer);
    assert_eq!(
        ask(&mut k, "Is Carl an ancestor of Emma?").verdict,
        Verdict::Yes
    );
    assert_eq!(
        ask(&mut k, "Is Emma an ancestor of Carl?").verdict,
        Verdict::No
    );
}

#[test]
fn questions_outside_this_layer_are_left_to_the_engine() {
    let mut k = kb(&["The bear visits the lion."]);
    assert!(k.ask("Tell me a story", &AskOptions::default()).is_none());
    assert_eq!(k.learn("Hello there!", 5, 5).unwrap(), Learned::NotRead);
}

/// A rule learned after a question (after saturation) applies to what was derived
/// before it, whether its first condition names one thing or two.
#[test]
fn a_rule_learned_after_saturation_applies_to_earlier_facts() {
    let q = "Is it true that the bear is big?";
    for asked_first in [false, true] {
        let mut k = Kb::default();
        k.learn("The bear visits the lion.", 1, 1).unwrap();
        k.learn("If something visits the lion then it is young.", 2, 2)
            .unwrap();
        if asked_first {
            k.ask(q, &AskOptions::default());
        } else {
            assert!(k.saturate(u64::MAX));
        }
        k.learn("Young things are big.", 3, 3).unwrap();
        k.learn("If something visits the lion then it is rough.", 4, 4)
            .unwrap();
        for q in [q, "Is it true that the bear is rough?"] {
            let r = k.ask(q, &AskOptions::default()).unwrap();
            assert_eq!(r.verdict, Verdict::Yes, "{q} (asked first: {asked_first})");
        }
    }
}
