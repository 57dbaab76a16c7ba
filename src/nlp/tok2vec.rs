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
    /// See [`Tok2Vec::pad_row`].
    pub pad_row: Vec<f32>,
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
    /// The CNN's first-layer output for a padding row whose window is all padding: a
    /// constant, computed once at load exactly as [`Tok2Vec::forward`] would.
    pub fn pad_row(cnn: &[(Maxout, LayerNorm)], width: usize) -> Vec<f32> {
        let Some((layer, norm)) = cnn.first() else {
            return vec![0.0; width];
        };
        let zero = vec![0f32; 3 * width];
        let (mut acc, mut out) = (Vec::new(), Vec::new());
        layer.forward(&zero, 1, 3 * width, &mut acc, &mut out);
        norm.apply(&mut out);
        // The residual add onto the zero padding, as for every other row.
        out.iter().map(|o| 0.0 + o).collect()
    }

    /// Token vectors ([tokens][width]) for the feature rows (six u64 ids per token).
    ///
    /// The 4 padding rows on each side go through the layers as in thinc, but only where
    /// they reach a token: layer k (1-based) needs rows `k..rows - k` of the padded
    /// document, and in layer 1 the two outermost of those on each side see only padding,
    /// so they are the load-time constant [`Tok2Vec::pad_row`]. That is 4n + 8 rows of CNN
    /// work instead of 4n + 32, for the same bits.
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
        let rows = n + 2 * PAD;
        s.cur.clear();
        s.cur.resize(rows * w, 0.0);
        s.cur[PAD * w..(PAD + n) * w].copy_from_slice(&s.h);
        for (k, (layer, norm)) in self.cnn.iter().enumerate() {
            let k = k + 1;
            // Rows first..last of the padded document; in layer 1 the outer two of them
            // on each side are the constant padding row.
            let (first, last) = if k == 1 { (3, rows - 3) } else { (k, rows - k) };
            // Row r's window [r - 1, r, r + 1] is 3w consecutive values of `cur`.
            layer.forward(
                &s.cur[(first - 1) * w..],
                last - first,
                w,
                &mut s.acc,
                &mut s.h,
            );
            norm.apply(&mut s.h);
            for (c, o) in s.cur[first * w..last * w].iter_mut().zip(&s.h) {
                *c += o;
            }
            if k == 1 {
                for r in [1, 2, rows - 3, rows - 2] {
                    s.cur[r * w..(r + 1) * w].copy_from_slice(&self.pad_row);
                }
            }
        }
        s.cur[PAD * w..(PAD + n) * w].to_vec()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// thinc's computation as written: every padded row through every layer.
    fn forward_all_rows(t: &Tok2Vec, features: &[[u64; 6]]) -> Vec<f32> {
        let n = features.len();
        let in_width: usize = t.embeds.iter().map(|e| e.width).sum();
        let mut x = vec![0f32; n * in_width];
        for (r, row) in features.iter().enumerate() {
            let mut off = r * in_width;
            for (col, table) in t.embeds.iter().enumerate() {
                for k in murmur3_u64(row[col], table.seed) {
                    let e = k as usize % table.rows;
                    for c in 0..table.width {
                        x[off + c] += table.e[e * table.width + c];
                    }
                }
                off += table.width;
            }
        }
        let (mut acc, mut h) = (Vec::new(), Vec::new());
        t.reduce.forward(&x, n, in_width, &mut acc, &mut h);
        t.reduce_norm.apply(&mut h);
        let w = t.width;
        let rows = n + 2 * PAD;
        let mut cur = vec![0f32; rows * w];
        cur[PAD * w..(PAD + n) * w].copy_from_slice(&h);
        for (layer, norm) in &t.cnn {
            let mut window = vec![0f32; rows * 3 * w];
            for r in 0..rows {
                for (k, src) in [r.checked_sub(1), Some(r), Some(r + 1)]
                    .into_iter()
                    .enumerate()
                {
                    if let Some(s) = src.filter(|&s| s < rows) {
                        window[(r * 3 + k) * w..(r * 3 + k + 1) * w]
                            .copy_from_slice(&cur[s * w..(s + 1) * w]);
                    }
                }
            }
            let mut out = Vec::new();
            layer.forward(&window, rows, 3 * w, &mut acc, &mut out);
            norm.apply(&mut out);
            for (c, o) in cur.iter_mut().zip(&out) {
                *c += o;
            }
        }
        cur[PAD * w..(PAD + n) * w].to_vec()
    }

    /// Skipping the padding rows no token sees changes no bit, for any length.
    #[test]
    fn skipping_unseen_padding_rows_changes_nothing() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut val = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0
        };
        let (ew, w, pieces) = (5, 7, 3);
        let mut random = |len: usize| (0..len).map(|_| val()).collect::<Vec<f32>>();
        let embeds = (0..6)
            .map(|i| HashEmbed {
                rows: 11,
                width: ew,
                seed: i,
                e: random(11 * ew),
            })
            .collect();
        let reduce = Maxout::from_thinc(
            &random(w * pieces * 6 * ew),
            &random(w * pieces),
            w,
            pieces,
            6 * ew,
        );
        let reduce_norm = LayerNorm {
            g: random(w),
            b: random(w),
        };
        let mut cnn = Vec::new();
        for _ in 0..4 {
            let layer = Maxout::from_thinc(
                &random(w * pieces * 3 * w),
                &random(w * pieces),
                w,
                pieces,
                3 * w,
            );
            let norm = LayerNorm {
                g: random(w),
                b: random(w),
            };
            cnn.push((layer, norm));
        }
        let t = Tok2Vec {
            embeds,
            reduce,
            reduce_norm,
            pad_row: Tok2Vec::pad_row(&cnn, w),
            cnn,
            width: w,
        };
        for n in 1..12u64 {
            let features: Vec<[u64; 6]> = (0..n)
                .map(|i| [i * 7 + 1, i % 3, 1000 + i, 5, i % 2, 0])
                .collect();
            let want = forward_all_rows(&t, &features);
            let got = t.forward(&features);
            assert_eq!(want.len(), got.len());
            assert!(
                want.iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{n} tokens"
            );
        }
        assert!(t.forward(&[]).is_empty());
    }
}
