//! spaCy's greedy arc-eager dependency parser (3.8, `en_core_web_sm`), in plain Rust.
//!
//! Network (thinc's `TransitionBasedParser.v2`): the tok2vec vectors go through a linear
//! layer (96 -> 64); each state reads 8 tokens (B0, B1, S0, S1, S2, leftmost... see
//! [`State::context`]), and the hidden layer is the sum over those 8 features of a
//! per-feature affine map of the token's vector (a learned pad vector for a missing
//! token), plus bias, max over 2 pieces; the output layer scores the 106 moves; the best
//! valid move is taken (the first on a tie, as spaCy's `arg_max_if_valid`).
//!
//! The state and moves follow `_state.pxd` and `arc_eager.pyx` line by line, including
//! two details that change results: a child's earlier arc is only removed when it is the
//! last arc of its head (spaCy's `map_del_arc` edits a copy otherwise), and the final
//! heads are read from the arcs, left arcs first, then right arcs. Labels with `||` are
//! then deprojectivised as `nonproj.deprojectivize` does.

use super::matmul::Packed;
use super::tok2vec::argmax;
use super::NlpError;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Shift,
    Reduce,
    Left,
    Right,
    Break,
}

#[derive(Clone, Copy, Debug)]
struct Arc {
    head: usize,
    child: usize,
    label: usize,
}

/// The parser's weights and moves.
pub struct Parser {
    /// tok2vec width -> 64.
    proj: Packed,
    /// 64 -> 8 feats * 64 hidden * 2 pieces, no bias (`lower_b` is added once per state).
    lower: Packed,
    lower_b: Vec<f32>,
    pad: Vec<f32>,
    /// 64 hidden -> moves.
    upper: Packed,
    moves: Vec<(Kind, usize)>,
    /// Dependency labels; index 0 is "ROOT".
    labels: Vec<String>,
    n_feats: usize,
    n_hidden: usize,
    n_pieces: usize,
    width_in: usize,
}

/// One token's head and label.
#[derive(Clone, Debug, PartialEq)]
pub struct Dep {
    pub head: usize,
    pub label: String,
}

impl Parser {
    pub(crate) fn new(
        w: &super::model::Weights,
        move_names: &[String],
        width: usize,
    ) -> Result<Parser, NlpError> {
        let (pw, ps) = w.get("parser.tok2vec_proj.W", &[0, width])?;
        let (pb, _) = w.get("parser.tok2vec_proj.b", &[ps[0]])?;
        let (lw, ls) = w.get("parser.lower.W", &[0, 0, 0, ps[0]])?;
        let (nf, nh, np, ni) = (ls[0], ls[1], ls[2], ls[3]);
        let (lb, _) = w.get("parser.lower.b", &[nh, np])?;
        let (pad, _) = w.get("parser.lower.pad", &[1, nf, nh, np])?;
        let (uw, us) = w.get("parser.upper.W", &[move_names.len(), nh])?;
        let (ub, _) = w.get("parser.upper.b", &[us[0]])?;
        let mut labels = vec!["ROOT".to_string()];
        let mut moves = Vec::new();
        for name in move_names {
            let (kind, label) = match name.split_once('-') {
                Some(("L", l)) => (Kind::Left, l),
                Some(("R", l)) => (Kind::Right, l),
                Some(("B", l)) => (Kind::Break, l),
                _ if name == "S" => (Kind::Shift, ""),
                _ if name == "D" => (Kind::Reduce, ""),
                _ => return Err(NlpError::Format(format!("unknown parser move {name}"))),
            };
            let id = match labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    labels.push(label.to_string());
                    labels.len() - 1
                }
            };
            moves.push((kind, id));
        }
        Ok(Parser {
            proj: Packed::from_out_major(pw, pb, ps[0], width),
            lower: Packed::from_out_major(lw, &vec![0.0; nf * nh * np], nf * nh * np, ni),
            lower_b: lb.to_vec(),
            pad: pad.to_vec(),
            upper: Packed::from_out_major(uw, ub, us[0], nh),
            moves,
            labels,
            n_feats: nf,
            n_hidden: nh,
            n_pieces: np,
            width_in: ni,
        })
    }

    /// Heads and labels for a document, from its tok2vec vectors ([n][width]).
    pub fn parse(&self, vectors: &[f32], n: usize, width: usize) -> Vec<Dep> {
        if n == 0 {
            return Vec::new();
        }
        let mut proj = vec![0f32; n * self.width_in];
        self.proj.forward(vectors, n, width, &mut proj);
        let fo = self.n_hidden * self.n_pieces;
        let mut cached = vec![0f32; n * self.n_feats * fo];
        self.lower.forward(&proj, n, self.width_in, &mut cached);
        let mut state = State::new(n);
        let mut unmaxed = vec![0f32; fo];
        let mut hidden = vec![0f32; self.n_hidden];
        let mut scores = vec![0f32; self.moves.len()];
        let mut valid = vec![false; self.moves.len()];
        while !state.is_final() {
            let ids = state.context();
            unmaxed.iter_mut().for_each(|v| *v = 0.0);
            for (f, &id) in ids.iter().enumerate() {
                let feature = match id {
                    Some(t) => {
                        &cached[(t * self.n_feats + f) * fo..(t * self.n_feats + f + 1) * fo]
                    }
                    None => &self.pad[f * fo..(f + 1) * fo],
                };
                for (u, v) in unmaxed.iter_mut().zip(feature) {
                    *u += v;
                }
            }
            for (u, b) in unmaxed.iter_mut().zip(&self.lower_b) {
                *u += b;
            }
            for (j, h) in hidden.iter_mut().enumerate() {
                let pieces = &unmaxed[j * self.n_pieces..(j + 1) * self.n_pieces];
                *h = pieces[argmax(pieces)];
            }
            self.upper.forward(&hidden, 1, self.n_hidden, &mut scores);
            let v = [
                state.can_shift(),
                state.can_reduce(),
                state.can_arc(),
                state.can_arc(),
                state.can_break(),
            ];
            for (ok, (kind, _)) in valid.iter_mut().zip(&self.moves) {
                *ok = v[*kind as usize];
            }
            let mut best: Option<usize> = None;
            for i in 0..scores.len() {
                if valid[i] && best.is_none_or(|b| scores[i] > scores[b]) {
                    best = Some(i);
                }
            }
            let Some(best) = best else {
                break; // spaCy's force_final: cannot happen with these moves
            };
            let (kind, label) = self.moves[best];
            state.apply(kind, label);
        }
        self.annotate(&state, n)
    }

    fn annotate(&self, state: &State, n: usize) -> Vec<Dep> {
        let mut heads: Vec<usize> = (0..n).collect();
        let mut labels = vec![0usize; n];
        for arcs in [&state.left, &state.right] {
            for list in arcs {
                for a in list {
                    heads[a.child] = a.head;
                    labels[a.child] = a.label;
                }
            }
        }
        for i in 0..n {
            if heads[i] == i {
                labels[i] = 0;
            }
        }
        let mut deps: Vec<Dep> = (0..n)
            .map(|i| Dep {
                head: heads[i],
                label: self.labels[labels[i]].clone(),
            })
            .collect();
        deprojectivize(&mut deps);
        deps
    }
}

/// `nonproj.deprojectivize`: a label "X||Y" moves the token under the first token
/// labelled Y found breadth-first below its head (children left to right), labelled X.
fn deprojectivize(deps: &mut [Dep]) {
    for i in 0..deps.len() {
        let Some((new_label, head_label)) = deps[i].label.split_once("||") else {
            continue;
        };
        let (new_label, head_label) = (new_label.to_string(), head_label.to_string());
        let mut queue = vec![deps[i].head];
        let mut found = None;
        'search: while !queue.is_empty() {
            let mut next = Vec::new();
            for &q in &queue {
                for (c, d) in deps.iter().enumerate() {
                    if d.head != q || c == q || c == i {
                        continue;
                    }
                    if d.label == head_label {
                        found = Some(c);
                        break 'search;
                    }
                    next.push(c);
                }
            }
            queue = next;
        }
        if let Some(h) = found {
            deps[i].head = h;
        }
        deps[i].label = new_label;
    }
}

/// The parser state (`StateC`).
struct State {
    n: usize,
    heads: Vec<Option<usize>>,
    stack: Vec<usize>,
    rebuffer: Vec<usize>,
    b_i: usize,
    /// Arcs by head, in the order added.
    left: Vec<Vec<Arc>>,
    right: Vec<Vec<Arc>>,
    unshiftable: Vec<bool>,
    sent_start: Vec<bool>,
}

impl State {
    fn new(n: usize) -> State {
        let mut sent_start = vec![false; n];
        sent_start[0] = true; // spaCy marks a document's first token
        State {
            n,
            heads: vec![None; n],
            stack: Vec::new(),
            rebuffer: Vec::new(),
            b_i: 0,
            left: vec![Vec::new(); n],
            right: vec![Vec::new(); n],
            unshiftable: vec![false; n],
            sent_start,
        }
    }

    fn s(&self, i: usize) -> Option<usize> {
        (i < self.stack.len()).then(|| self.stack[self.stack.len() - 1 - i])
    }

    fn b(&self, i: usize) -> Option<usize> {
        if i < self.rebuffer.len() {
            return Some(self.rebuffer[self.rebuffer.len() - 1 - i]);
        }
        let b = self.b_i + (i - self.rebuffer.len());
        (b < self.n).then_some(b)
    }

    /// The idx-th most recent child (1-based) among `arcs[head]`.
    fn nth(arcs: &[Vec<Arc>], head: Option<usize>, idx: usize) -> Option<usize> {
        let list = &arcs[head?];
        list.iter().rev().nth(idx - 1).map(|a| a.child)
    }

    /// The 8 context tokens of `set_context_tokens(ids, 8)`.
    fn context(&self) -> [Option<usize>; 8] {
        [
            self.b(0),
            self.b(1),
            self.s(0),
            self.s(1),
            self.s(2),
            Self::nth(&self.left, self.b(0), 1),
            Self::nth(&self.left, self.s(0), 1),
            Self::nth(&self.right, self.s(0), 1),
        ]
    }

    fn buffer_len(&self) -> usize {
        self.n - self.b_i + self.rebuffer.len()
    }

    fn is_final(&self) -> bool {
        self.stack.is_empty() && self.buffer_len() == 0
    }

    fn is_sent_start(&self, w: Option<usize>) -> bool {
        w.is_some_and(|w| self.sent_start[w])
    }

    fn can_shift(&self) -> bool {
        if self.stack.is_empty() {
            return true;
        }
        if self.buffer_len() < 2 || self.is_sent_start(self.b(0)) {
            return false;
        }
        !self.b(0).is_some_and(|b| self.unshiftable[b])
    }

    fn can_reduce(&self) -> bool {
        // (spaCy also refuses when the stack has one item and B0 cannot start a
        // sentence; no token is marked so here.)
        !self.stack.is_empty()
    }

    fn can_arc(&self) -> bool {
        !self.stack.is_empty() && self.buffer_len() != 0 && !self.is_sent_start(self.b(0))
    }

    fn can_break(&self) -> bool {
        if self.buffer_len() < 2 {
            return false;
        }
        match (self.b(0), self.b(1)) {
            (Some(b0), Some(b1)) => b1 == b0 + 1 && !self.sent_start[b1],
            _ => false,
        }
    }

    fn push(&mut self) {
        let b0 = match self.rebuffer.pop() {
            Some(b) => b,
            None => {
                self.b_i += 1;
                self.b_i - 1
            }
        };
        self.stack.push(b0);
    }

    fn add_arc(&mut self, head: usize, child: usize, label: usize) {
        if let Some(old) = self.heads[child] {
            // map_del_arc: only the last arc of the old head is really removed.
            let list = if old > child {
                &mut self.left[old]
            } else {
                &mut self.right[old]
            };
            if list
                .last()
                .is_some_and(|a| a.head == old && a.child == child)
            {
                list.pop();
            }
        }
        let arc = Arc { head, child, label };
        if head > child {
            self.left[head].push(arc);
        } else {
            self.right[head].push(arc);
        }
        self.heads[child] = Some(head);
    }

    fn apply(&mut self, kind: Kind, label: usize) {
        match kind {
            Kind::Shift => self.push(),
            Kind::Reduce => {
                let s0 = self.stack[self.stack.len() - 1];
                if self.heads[s0].is_some() || self.stack.len() == 1 {
                    self.stack.pop();
                } else {
                    self.unshiftable[s0] = true;
                    self.rebuffer.push(s0);
                    self.stack.pop();
                }
            }
            Kind::Left => {
                let (Some(b0), Some(s0)) = (self.b(0), self.s(0)) else {
                    return;
                };
                self.add_arc(b0, s0, label);
                self.unshiftable[b0] = false;
                self.stack.pop();
            }
            Kind::Right => {
                let (Some(b0), Some(s0)) = (self.b(0), self.s(0)) else {
                    return;
                };
                self.add_arc(s0, b0, label);
                self.push();
            }
            Kind::Break => {
                if let Some(b1) = self.b(1) {
                    self.sent_start[b1] = true;
                }
            }
        }
    }
}
