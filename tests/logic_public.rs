//! The public reasoning sets (bAbI 1, 2, 15, 16, 17, 19; PrOntoQA; ProofWriter) scored
//! through `sutra::logic` in-process with the README's rules (see tests/logic_eval).

mod logic_eval;

use logic_eval::{score_babi, score_proofwriter, score_prontoqa, Score, BABI};

fn check(score: &Score, answers: usize, explanations: usize) {
    println!("{}", score.line());
    for f in &score.failures {
        println!("  {f}");
    }
    assert!(score.questions > 0);
    assert!(score.answers >= answers, "{}: answers below the floor {answers}", score.line());
    assert!(
        score.explanations >= explanations,
        "{}: explanations below the floor {explanations}",
        score.line()
    );
}

#[test]
fn babi_tasks_are_answered_and_explained() {
    for &(task, file) in BABI {
        let s = score_babi(task, file);
        assert_eq!(s.questions, 1000, "bAbI {task}");
        check(&s, 1000, 1000);
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
