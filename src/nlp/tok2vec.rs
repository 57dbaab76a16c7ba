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
//! order i = 0, 1, ... Rust never fuses or reorders float operations, so the results are
//! the same bits on every x86-64 CPU whatever its vector width (each SIMD lane runs the
//! same scalar sequence). Argmax takes the first of equal scores.

use super::hash::murmur3_u64;

/// A maxout layer: `pieces` affine maps of `n_in` inputs to `n_out` outputs, and the
/// maximum over the pieces. `w` is stored input-major ([n_in][n_out * pieces]) so the
/// inner loop runs over contiguous outputs.
pub struct Maxout {
    pub n_in: usize,
    pub n_out: usize,
    pub pieces: usize,
    /// [n_in][n_out * pieces], output index o * pieces + p.
    pub w: Vec<f32>,
    /// [n_out * pieces].
    pub b: Vec<f32>,
}

impl Maxout {
    /// From thinc's W of shape (n_out, pieces, n_in) and b of shape (n_out, pieces).
    pub fn from_thinc(w: &[f32], b: &[f32], n_out: usize, pieces: usize, n_in: usize) -> Maxout {
        Maxout {
            n_in,
            n_out,
            pieces,
            w: transpose(w, n_out * pieces, n_in),
            b: b.to_vec(),
        }
    }

    /// Applies the layer to the rows of `x` ([rows][n_in]), giving [rows][n_out].
    pub fn forward(&self, x: &[f32], rows: usize, out: &mut Vec<f32>) {
        let width = self.n_out * self.pieces;
        let mut acc = vec![0f32; rows * width];
        affine(x, rows, self.n_in, &self.w, &self.b, width, &mut acc);
        out.clear();
        out.reserve(rows * self.n_out);
        for r in 0..rows {
            for o in 0..self.n_out {
                let piece = &acc[r * width + o * self.pieces..r * width + (o + 1) * self.pieces];
                out.push(piece.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            }
        }
    }
}

/// `y[r] = b + x[r] . w` for every row, with `w` input-major ([n_in][width]).
///
/// The same scalar sequence runs in every SIMD lane whatever the vector width (each
/// output accumulates its products in input order, one IEEE multiply then one add; Rust
/// never fuses them into an FMA), so compiling the loop for AVX2 or AVX-512 where the CPU
/// has them changes the speed, never a bit of the result (`simd_paths_agree_bit_for_bit`).
pub fn affine(
    x: &[f32],
    rows: usize,
    n_in: usize,
    w: &[f32],
    b: &[f32],
    width: usize,
    y: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { affine_avx512(x, rows, n_in, w, b, width, y) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { affine_avx2(x, rows, n_in, w, b, width, y) };
        }
    }
    affine_plain(x, rows, n_in, w, b, width, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn affine_avx2(
    x: &[f32],
    rows: usize,
    n_in: usize,
    w: &[f32],
    b: &[f32],
    width: usize,
    y: &mut [f32],
) {
    affine_plain(x, rows, n_in, w, b, width, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn affine_avx512(
    x: &[f32],
    rows: usize,
    n_in: usize,
    w: &[f32],
    b: &[f32],
    width: usize,
    y: &mut [f32],
) {
    affine_plain(x, rows, n_in, w, b, width, y)
}

/// The kernel: four rows at a time share each loaded row of `w` (the weights are the
/// memory traffic). Inlined into each target-feature wrapper so each gets its own code.
#[inline(always)]
fn affine_plain(
    x: &[f32],
    rows: usize,
    n_in: usize,
    w: &[f32],
    b: &[f32],
    width: usize,
    y: &mut [f32],
) {
    for r in 0..rows {
        y[r * width..(r + 1) * width].copy_from_slice(b);
    }
    let mut r = 0;
    while r + 4 <= rows {
        let (y0, rest) = y[r * width..(r + 4) * width].split_at_mut(width);
        let (y1, rest) = rest.split_at_mut(width);
        let (y2, y3) = rest.split_at_mut(width);
        for i in 0..n_in {
            let wi = &w[i * width..(i + 1) * width];
            let (a0, a1, a2, a3) = (
                x[r * n_in + i],
                x[(r + 1) * n_in + i],
                x[(r + 2) * n_in + i],
                x[(r + 3) * n_in + i],
            );
            // Zipped iterators: no bounds checks, so the loop vectorizes.
            let outs = y0
                .iter_mut()
                .zip(y1.iter_mut())
                .zip(y2.iter_mut())
                .zip(y3.iter_mut());
            for ((((o0, o1), o2), o3), &wv) in outs.zip(wi) {
                *o0 += a0 * wv;
                *o1 += a1 * wv;
                *o2 += a2 * wv;
                *o3 += a3 * wv;
            }
        }
        r += 4;
    }
    while r < rows {
        let yr = &mut y[r * width..(r + 1) * width];
        for i in 0..n_in {
            let a = x[r * n_in + i];
            let wi = &w[i * width..(i + 1) * width];
            for (o, &wv) in yr.iter_mut().zip(wi) {
                *o += a * wv;
            }
        }
        r += 1;
    }
}

/// [rows][cols] -> [cols][rows].
pub fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
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

impl Tok2Vec {
    /// Token vectors ([tokens][width]) for the feature rows (six u64 ids per token).
    pub fn forward(&self, features: &[[u64; 6]]) -> Vec<f32> {
        let n = features.len();
        let in_width: usize = self.embeds.iter().map(|e| e.width).sum();
        let mut x = vec![0f32; n * in_width];
        for (t, row) in features.iter().enumerate() {
            let mut off = t * in_width;
            for (col, table) in self.embeds.iter().enumerate() {
                let keys = murmur3_u64(row[col], table.seed);
                let dst = &mut x[off..off + table.width];
                for k in keys {
                    let r = k as usize % table.rows;
                    let src = &table.e[r * table.width..(r + 1) * table.width];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += s;
                    }
                }
                off += table.width;
            }
        }
        let mut h = Vec::new();
        self.reduce.forward(&x, n, &mut h);
        self.reduce_norm.apply(&mut h);
        // Pad with zero rows that then pass through every layer, as thinc does.
        let w = self.width;
        let rows = n + 2 * PAD;
        let mut cur = vec![0f32; rows * w];
        cur[PAD * w..(PAD + n) * w].copy_from_slice(&h);
        let mut window = vec![0f32; rows * 3 * w];
        let mut out = Vec::new();
        for (layer, norm) in &self.cnn {
            window.iter_mut().for_each(|v| *v = 0.0);
            for r in 0..rows {
                let dst = &mut window[r * 3 * w..(r + 1) * 3 * w];
                if r > 0 {
                    dst[..w].copy_from_slice(&cur[(r - 1) * w..r * w]);
                }
                dst[w..2 * w].copy_from_slice(&cur[r * w..(r + 1) * w]);
                if r + 1 < rows {
                    dst[2 * w..].copy_from_slice(&cur[(r + 1) * w..(r + 2) * w]);
                }
            }
            layer.forward(&window, rows, &mut out);
            norm.apply(&mut out);
            for (c, o) in cur.iter_mut().zip(&out) {
                *c += o;
            }
        }
        cur[PAD * w..(PAD + n) * w].to_vec()
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

    /// Every kernel this CPU can run gives the same bits as the plain one.
    #[test]
    fn simd_paths_agree_bit_for_bit() {
        let (rows, n_in, width) = (7, 37, 45);
        // Deterministic values of mixed sign and magnitude.
        let val = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) * 0.013 * (1.0 + (i % 7) as f32);
        let x: Vec<f32> = (0..rows * n_in).map(val).collect();
        let w: Vec<f32> = (0..n_in * width).map(|i| val(i + 17) * 0.1).collect();
        let b: Vec<f32> = (0..width).map(|i| val(i + 3)).collect();
        let mut plain = vec![0f32; rows * width];
        affine_plain(&x, rows, n_in, &w, &b, width, &mut plain);
        let same = |got: &[f32]| {
            plain
                .iter()
                .zip(got)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        };
        let mut got = vec![0f32; rows * width];
        affine(&x, rows, n_in, &w, &b, width, &mut got);
        assert!(same(&got));
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                got.fill(0.0);
                // SAFETY: checked just above.
                unsafe { affine_avx2(&x, rows, n_in, &w, &b, width, &mut got) };
                assert!(same(&got));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                got.fill(0.0);
                // SAFETY: checked just above.
                unsafe { affine_avx512(&x, rows, n_in, &w, &b, width, &mut got) };
                assert!(same(&got));
            }
        }
    }
}
