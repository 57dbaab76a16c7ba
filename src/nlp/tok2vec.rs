//! spaCy's `tok2vec` (HashEmbedCNN) and the tagger's softmax layer, in plain Rust.
//!
//! Per token: six features (NORM, PREFIX, SUFFIX, SHAPE ids, whether a space follows,
//! whether the token is whitespace) each pick four rows of a hash-embedding table (by
//! thinc's MurmurHash3 of the id with the table's seed); the six sums are concatenated
//! (576) -> maxout (96 x 3 pieces) -> layer norm. Then four residual layers of a window
//! CNN: [previous, this, next] (288) -> maxout -> layer norm, added to the input. The
//! document is padded with 4 zero rows on each side before the CNN and those rows go
//! through every layer (thinc's `with_array(pad=4)`; the research note's third trap).
//!
//! Arithmetic: every output is `bias + sum_i x[i] * w[i][o]` accumulated in f32 in the
//! order i = 0, 1, ... (the kernel in [`super::matmul`]). Rust never fuses or reorders
//! float operations, so the results are the same bits on every x86-64 CPU whatever its
//! vector width (each SIMD lane runs the same scalar sequence). Argmax takes the first of
//! equal scores.

use super::hash::murmur3_u64;
use super::matmul::Packed;

/// A maxout layer: `pieces` affine maps of `n_in` inputs to `n_out` outputs, and the
/// maximum over the pieces. The packed columns are piece-major (column p * n_out + o), so
/// the maximum runs over contiguous vectors.
pub struct Maxout {
    pub n_in: usize,
    pub n_out: usize,
    pub pieces: usize,
    pub w: Packed,
}

impl Maxout {
    /// From thinc's W of shape (n_out, pieces, n_in) and b of shape (n_out, pieces).
    pub fn from_thinc(w: &[f32], b: &[f32], n_out: usize, pieces: usize, n_in: usize) -> Maxout {
        let mut wp = Vec::with_capacity(w.len());
        let mut bp = Vec::with_capacity(b.len());
        for p in 0..pieces {
            for o in 0..n_out {
                let row = o * pieces + p;
                wp.extend_from_slice(&w[row * n_in..(row + 1) * n_in]);
                bp.push(b[row]);
            }
        }
        Maxout {
            n_in,
            n_out,
            pieces,
            w: Packed::from_out_major(&wp, &bp, n_out * pieces, n_in),
        }
    }

    /// Applies the layer to `rows` rows of `x` (row r at `x[r * stride..]`), giving
    /// [rows][n_out] in `out`; `acc` is scratch.
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        stride: usize,
        acc: &mut Vec<f32>,
        out: &mut Vec<f32>,
    ) {
        let width = self.n_out * self.pieces;
        acc.resize(rows * width, 0.0);
        self.w.forward(x, rows, stride, acc);
        out.clear();
        out.resize(rows * self.n_out, f32::NEG_INFINITY);
        for (o, a) in out
            .chunks_exact_mut(self.n_out)
            .zip(acc.chunks_exact(width))
        {
            // The pieces in order, as `fold(NEG_INFINITY, f32::max)` over each output's.
            for piece in a.chunks_exact(self.n_out) {
                for (m, &v) in o.iter_mut().zip(piece) {
                    *m = m.max(v);
                }
            }
        }
    }
}

/// thinc's LayerNorm: (x - mean) / sqrt(var + 1e-8) * g + b, per row (population variance).
pub struct LayerNorm {
    pub g: Vec<f32>,
    pub b: Vec<f32>,
}

impl LayerNorm {
    pub fn apply(&self, x: &mut [f32]) {
        let n = self.g.len();
        for row in x.chunks_exact_mut(n) {
            let mean = row.iter().sum::<f32>() / n as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32 + 1e-8;
            let inv = 1.0 / var.sqrt();
            for (i, v) in row.iter_mut().enumerate() {
                *v = (*v - mean) * inv * self.g[i] + self.b[i];
            }
        }
    }
}

/// One hash-embedding table.
pub struct HashEmbed {
    pub rows: usize,
    pub width: usize,
    pub seed: u32,
    pub e: Vec<f32>,
}

/// The whole tok2vec network.
pub struct Tok2Vec {
    pub embeds: Vec<HashEmbed>,
    pub reduce: Maxout,
    pub reduce_norm: LayerNorm,
    pub cnn: Vec<(Maxout, LayerNorm)>,
    pub width: usize,
}

/// Padding rows on each side of a document (thinc's receptive field: 4 layers x 1).
const PAD: usize = 4;

/// Buffers reused across calls on one thread (no allocation per layer or sentence).
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    acc: Vec<f32>,
    h: Vec<f32>,
    cur: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl Tok2Vec {
    /// Token vectors ([tokens][width]) for the feature rows (six u64 ids per token).
    pub fn forward(&self, features: &[[u64; 6]]) -> Vec<f32> {
        SCRATCH.with(|s| self.forward_with(features, &mut s.borrow_mut()))
    }

    fn forward_with(&self, features: &[[u64; 6]], s: &mut Scratch) -> Vec<f32> {
        let n = features.len();
        if n == 0 {
            return Vec::new();
        }
        let in_width: usize = self.embeds.iter().map(|e| e.width).sum();
        s.x.clear();
        s.x.resize(n * in_width, 0.0);
        for (t, row) in features.iter().enumerate() {
            let mut off = t * in_width;
            for (col, table) in self.embeds.iter().enumerate() {
                let keys = murmur3_u64(row[col], table.seed);
                let dst = &mut s.x[off..off + table.width];
                for k in keys {
                    let r = k as usize % table.rows;
                    let src = &table.e[r * table.width..(r + 1) * table.width];
                    for (d, v) in dst.iter_mut().zip(src) {
                        *d += v;
                    }
                }
                off += table.width;
            }
        }
        self.reduce.forward(&s.x, n, in_width, &mut s.acc, &mut s.h);
        self.reduce_norm.apply(&mut s.h);
        let w = self.width;
        // Padded with zero rows that then pass through every layer, as thinc does; one
        // more zero row on each side (never updated) is the window's edge.
        let rows = n + 2 * PAD;
        s.cur.clear();
        s.cur.resize((rows + 2) * w, 0.0);
        s.cur[(PAD + 1) * w..(PAD + 1 + n) * w].copy_from_slice(&s.h);
        for (layer, norm) in &self.cnn {
            // Row r's window [r - 1, r, r + 1] is 3w consecutive values of `cur`.
            layer.forward(&s.cur, rows, w, &mut s.acc, &mut s.h);
            norm.apply(&mut s.h);
            for (c, o) in s.cur[w..(rows + 1) * w].iter_mut().zip(&s.h) {
                *c += o;
            }
        }
        s.cur[(PAD + 1) * w..(PAD + 1 + n) * w].to_vec()
    }
}

/// The index of the largest value; the first one on a tie (as NumPy's argmax).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
