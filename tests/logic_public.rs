//! The public reasoning sets (bAbI 1, 2, 15, 16, 17, 19; PrOntoQA; ProofWriter) scored
//! through `sutra::logic` in-process with the README's rules (see tests/logic_eval).

mod logic_eval;

use logic_eval::{score_babi, score_prontoqa, score_proofwriter, Score, BABI};

fn check(score: &Score, answers: usize, explanations: usize) {
    println!("{}", score.line());
    for f in &score.failures {
        println!("  {f}");
    }
    assert!(score.questions > 0);
    assert!(
        score.answers >= answers,
        "{}: answers below the floor {answers}",
        score.line()
    );
    assert!(
        score.explanations >= explanations,
        "{}: explanations below the floor {explanations}",
        score.line()
    );
}

/// Measured floors per bAbI task (answers = explanations): 100% on every task.
const BABI_FLOORS: &[(u32, usize)] = &[
    (1, 1000),
    (2, 1000),
    (15, 1000),
    (16, 1000),
    (17, 1000),
    (19, 1000),
];

#[test]
fn babi_tasks_are_answered_and_explained() {
    let scores: Vec<Score> = BABI
        .iter()
        .map(|&(task, file)| score_babi(task, file))
        .collect();
    for (s, &(task, floor)) in scores.iter().zip(BABI_FLOORS) {
        assert_eq!(s.questions, 1000, "bAbI {task}");
        check(s, floor, floor);
    }
}

#[test]
fn prontoqa_is_answered_and_explained() {
    let s = score_prontoqa();
    assert_eq!(s.questions, 500);
    check(&s, 500, 500);
}

#[test]
fn proofwriter_is_answered_and_explained() {
    let s = score_proofwriter();
    assert_eq!(s.questions, 600);
    check(&s, 600, 600);
}
