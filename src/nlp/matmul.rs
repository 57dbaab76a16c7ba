//! The one matrix kernel of the tagger and parser: `y[r] = b + x[r] . W` for all rows of a
//! layer at once (a matrix-matrix product), on weights packed at load.
//!
//! Layout: the output columns are cut into panels of [`PANEL`] (the last one padded with
//! zero weights); each panel is stored input-major ([n_in][PANEL]). The kernel keeps a
//! block of rows x one panel of accumulators in registers for the whole input loop, so
//! each loaded weight vector serves every row of the block and the accumulators are
//! never stored until the end (the old row-by-row kernel re-loaded and re-stored its
//! outputs for every input).
//!
//! Arithmetic: every output is `b[o]`, then `+ x[i] * w[i][o]` for i = 0, 1, ... in that
//! order, one IEEE multiply then one IEEE add (Rust never fuses them into an FMA nor
//! reorders float operations). Every kernel family (AVX-512, AVX2, plain) runs that same
//! scalar sequence in each lane and only the block shape differs, so the results are the
//! same bits whatever the CPU (`kernels_match_the_scalar_reference`), and the same bits
//! as the plain row-by-row loop the golden tests were first made with.

/// Output columns per packed panel: two AVX-512 vectors, four AVX2 vectors.
pub const PANEL: usize = 32;

/// A weight matrix and bias packed for [`Packed::forward`].
pub struct Packed {
    n_in: usize,
    n_out: usize,
    /// [panels][n_in][PANEL]; columns past `n_out` are zero.
    w: Vec<f32>,
    /// [panels * PANEL]; zero past `n_out`.
    b: Vec<f32>,
}

impl Packed {
    /// From an output-major matrix (`w[o * n_in + i]`, thinc's and PyTorch's layout) and
    /// its bias (`n_out` values).
    pub fn from_out_major(w: &[f32], b: &[f32], n_out: usize, n_in: usize) -> Packed {
        assert_eq!(w.len(), n_out * n_in, "weights are not n_out x n_in");
        assert_eq!(b.len(), n_out, "bias is not n_out long");
        let panels = n_out.div_ceil(PANEL);
        let mut packed = vec![0f32; panels * n_in * PANEL];
        for o in 0..n_out {
            let (p, c) = (o / PANEL, o % PANEL);
            let panel = &mut packed[p * n_in * PANEL..(p + 1) * n_in * PANEL];
            for (i, &v) in w[o * n_in..(o + 1) * n_in].iter().enumerate() {
                panel[i * PANEL + c] = v;
            }
        }
        let mut bias = b.to_vec();
        bias.resize(panels * PANEL, 0.0);
        Packed {
            n_in,
            n_out,
            w: packed,
            b: bias,
        }
    }

    /// Inputs per row.
    pub fn n_in(&self) -> usize {
        self.n_in
    }

    /// Outputs per row.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// `y[r * n_out + o] = b[o] + sum_i x[r * stride + i] * w[i][o]` for `rows` rows.
    /// `stride` lets overlapping windows of one buffer be the rows (the CNN's
    /// [previous, this, next] is three consecutive rows of its input).
    pub fn forward(&self, x: &[f32], rows: usize, stride: usize, y: &mut [f32]) {
        if rows == 0 {
            return;
        }
        assert!(
            (rows - 1) * stride + self.n_in <= x.len(),
            "input too short for {rows} rows"
        );
        assert!(y.len() >= rows * self.n_out, "output too short");
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, checked just above.
                return unsafe { forward_avx512(self, x, rows, stride, y) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just above.
                return unsafe { forward_avx2(self, x, rows, stride, y) };
            }
        }
        forward_plain(self, x, rows, stride, y)
    }
}

/// Panel by panel (a panel of weights stays in cache across the row blocks), blocks of
/// `$r` rows, then the remaining rows 4, 2, 1 at a time, each by `$kernel::<rows>`. A
/// macro rather than a generic function taking the kernel: the kernels must be called
/// directly from their target-feature wrapper to be inlined into it.
macro_rules! row_blocks {
    ($m:expr, $x:expr, $rows:expr, $stride:expr, $y:expr, $r:literal, $kernel:ident) => {{
        let (m, x, rows, stride, y): (&Packed, &[f32], usize, usize, &mut [f32]) =
            ($m, $x, $rows, $stride, $y);
        let n_in = m.n_in;
        for p in 0..m.n_out.div_ceil(PANEL) {
            let panel = &m.w[p * n_in * PANEL..(p + 1) * n_in * PANEL];
            let bias: &[f32; PANEL] = m.b[p * PANEL..(p + 1) * PANEL]
                .try_into()
                .expect("bias padded to whole panels");
            let col = p * PANEL;
            let cols = PANEL.min(m.n_out - col);
            let mut r = 0;
            #[allow(unused_unsafe)]
            // SAFETY: the wrapper this expands in has the kernel's target features.
            unsafe {
                while r + $r <= rows {
                    let (xs, ys) = (&x[r * stride..], &mut y[r * m.n_out + col..]);
                    $kernel::<$r>(xs, stride, n_in, panel, bias, ys, m.n_out, cols);
                    r += $r;
                }
                while $r > 4 && r + 4 <= rows {
                    let (xs, ys) = (&x[r * stride..], &mut y[r * m.n_out + col..]);
                    $kernel::<4>(xs, stride, n_in, panel, bias, ys, m.n_out, cols);
                    r += 4;
                }
                while $r > 2 && r + 2 <= rows {
                    let (xs, ys) = (&x[r * stride..], &mut y[r * m.n_out + col..]);
                    $kernel::<2>(xs, stride, n_in, panel, bias, ys, m.n_out, cols);
                    r += 2;
                }
                while r < rows {
                    let (xs, ys) = (&x[r * stride..], &mut y[r * m.n_out + col..]);
                    $kernel::<1>(xs, stride, n_in, panel, bias, ys, m.n_out, cols);
                    r += 1;
                }
            }
        }
    }};
}

/// AVX-512: 8 rows x 2 vectors = 16 of the 32 vector registers hold accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn forward_avx512(m: &Packed, x: &[f32], rows: usize, stride: usize, y: &mut [f32]) {
    row_blocks!(m, x, rows, stride, y, 8, kernel_avx512)
}

/// AVX2: 2 rows x 4 vectors = 8 of the 16 vector registers hold accumulators, 4 the
/// weights (3 rows spilled accumulators to the stack: 3.6x slower than AVX-512, not 2x).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2(m: &Packed, x: &[f32], rows: usize, stride: usize, y: &mut [f32]) {
    row_blocks!(m, x, rows, stride, y, 2, kernel_avx2)
}

/// Any CPU: the plain kernel, 4 rows at a time.
fn forward_plain(m: &Packed, x: &[f32], rows: usize, stride: usize, y: &mut [f32]) {
    row_blocks!(m, x, rows, stride, y, 4, kernel_plain)
}

/// The rows of a block, each `n_in` long.
#[inline(always)]
fn block_rows<const R: usize>(x: &[f32], stride: usize, n_in: usize) -> [&[f32]; R] {
    std::array::from_fn(|r| &x[r * stride..r * stride + n_in])
}

/// `R` rows x one panel in AVX-512: two vectors of accumulators per row, in registers
/// for the whole input loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
// Index loops over the block's rows and vectors: constant trip counts the compiler
// unrolls into named registers.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn kernel_avx512<const R: usize>(
    x: &[f32],
    stride: usize,
    n_in: usize,
    panel: &[f32],
    bias: &[f32; PANEL],
    y: &mut [f32],
    y_stride: usize,
    cols: usize,
) {
    use std::arch::x86_64::*;
    let xr = block_rows::<R>(x, stride, n_in);
    let panel = &panel[..n_in * PANEL];
    // SAFETY: every pointer read below is within `bias` (PANEL values) or within row i
    // of `panel` (PANEL values at i * PANEL, i < n_in), checked by the slicing above.
    unsafe {
        let b0 = _mm512_loadu_ps(bias.as_ptr());
        let b1 = _mm512_loadu_ps(bias.as_ptr().add(16));
        let mut acc0 = [b0; R];
        let mut acc1 = [b1; R];
        for i in 0..n_in {
            let wp = panel.as_ptr().add(i * PANEL);
            let w0 = _mm512_loadu_ps(wp);
            let w1 = _mm512_loadu_ps(wp.add(16));
            for r in 0..R {
                let a = _mm512_set1_ps(xr[r][i]);
                acc0[r] = _mm512_add_ps(acc0[r], _mm512_mul_ps(a, w0));
                acc1[r] = _mm512_add_ps(acc1[r], _mm512_mul_ps(a, w1));
            }
        }
        for r in 0..R {
            let mut out = [0f32; PANEL];
            _mm512_storeu_ps(out.as_mut_ptr(), acc0[r]);
            _mm512_storeu_ps(out.as_mut_ptr().add(16), acc1[r]);
            y[r * y_stride..r * y_stride + cols].copy_from_slice(&out[..cols]);
        }
    }
}

/// `R` rows x one panel in AVX2: four vectors of accumulators per row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
// Index loops over the block's rows and vectors: constant trip counts the compiler
// unrolls into named registers.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn kernel_avx2<const R: usize>(
    x: &[f32],
    stride: usize,
    n_in: usize,
    panel: &[f32],
    bias: &[f32; PANEL],
    y: &mut [f32],
    y_stride: usize,
    cols: usize,
) {
    use std::arch::x86_64::*;
    let xr = block_rows::<R>(x, stride, n_in);
    let panel = &panel[..n_in * PANEL];
    // SAFETY: as in `kernel_avx512`: reads within `bias` and row i of `panel`.
    unsafe {
        let b: [__m256; 4] = std::array::from_fn(|v| _mm256_loadu_ps(bias.as_ptr().add(8 * v)));
        let mut acc = [b; R];
        for i in 0..n_in {
            let wp = panel.as_ptr().add(i * PANEL);
            let w: [__m256; 4] = std::array::from_fn(|v| _mm256_loadu_ps(wp.add(8 * v)));
            for r in 0..R {
                let a = _mm256_set1_ps(xr[r][i]);
                for v in 0..4 {
                    acc[r][v] = _mm256_add_ps(acc[r][v], _mm256_mul_ps(a, w[v]));
                }
            }
        }
        for r in 0..R {
            let mut out = [0f32; PANEL];
            for v in 0..4 {
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * v), acc[r][v]);
            }
            y[r * y_stride..r * y_stride + cols].copy_from_slice(&out[..cols]);
        }
    }
}

/// `R` rows x one panel, plain Rust (the reference order, any CPU).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn kernel_plain<const R: usize>(
    x: &[f32],
    stride: usize,
    n_in: usize,
    panel: &[f32],
    bias: &[f32; PANEL],
    y: &mut [f32],
    y_stride: usize,
    cols: usize,
) {
    let xr = block_rows::<R>(x, stride, n_in);
    let mut acc = [*bias; R];
    for (i, w) in panel[..n_in * PANEL].chunks_exact(PANEL).enumerate() {
        for r in 0..R {
            let a = xr[r][i];
            for (o, &wv) in acc[r].iter_mut().zip(w) {
                *o += a * wv;
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        y[r * y_stride..r * y_stride + cols].copy_from_slice(&a[..cols]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition, row by row, output-major weights.
    fn reference(
        x: &[f32],
        rows: usize,
        stride: usize,
        w: &[f32],
        b: &[f32],
        n_out: usize,
        n_in: usize,
    ) -> Vec<f32> {
        let mut y = vec![0f32; rows * n_out];
        for r in 0..rows {
            for o in 0..n_out {
                let mut acc = b[o];
                for i in 0..n_in {
                    acc += x[r * stride + i] * w[o * n_in + i];
                }
                y[r * n_out + o] = acc;
            }
        }
        y
    }

    /// A small deterministic generator (xorshift) of values of mixed sign and magnitude.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn value(&mut self) -> f32 {
            let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            unit * [0.01f32, 1.0, 30.0][self.below(3)]
        }
    }

    /// Every kernel family this CPU can run gives the scalar reference's bits, on random
    /// shapes (rows and columns not multiples of the block or lane counts, strided rows).
    #[test]
    fn kernels_match_the_scalar_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut shapes: Vec<(usize, usize, usize)> = vec![
            (1, 1, 1),
            (20, 288, 288),
            (13, 96, 50),
            (1, 64, 106),
            (9, 64, 1024),
        ];
        for _ in 0..40 {
            shapes.push((1 + rng.below(23), 1 + rng.below(150), 1 + rng.below(100)));
        }
        for (rows, n_in, n_out) in shapes {
            // Half the cases read overlapping rows (stride < n_in), as the CNN does.
            let stride = if rng.below(2) == 0 {
                n_in
            } else {
                1 + rng.below(n_in)
            };
            let x: Vec<f32> = (0..(rows - 1) * stride + n_in)
                .map(|_| rng.value())
                .collect();
            let w: Vec<f32> = (0..n_out * n_in).map(|_| rng.value()).collect();
            let b: Vec<f32> = (0..n_out).map(|_| rng.value()).collect();
            let want = reference(&x, rows, stride, &w, &b, n_out, n_in);
            let m = Packed::from_out_major(&w, &b, n_out, n_in);
            let check = |got: &[f32], family: &str| {
                let same = want
                    .iter()
                    .zip(got)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{family} kernel differs on {rows}x{n_in}->{n_out}");
            };
            let mut got = vec![0f32; rows * n_out];
            m.forward(&x, rows, stride, &mut got);
            check(&got, "dispatched");
            got.fill(f32::NAN);
            forward_plain(&m, &x, rows, stride, &mut got);
            check(&got, "plain");
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    got.fill(f32::NAN);
                    // SAFETY: checked just above.
                    unsafe { forward_avx2(&m, &x, rows, stride, &mut got) };
                    check(&got, "AVX2");
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    got.fill(f32::NAN);
                    // SAFETY: checked just above.
                    unsafe { forward_avx512(&m, &x, rows, stride, &mut got) };
                    check(&got, "AVX-512");
                }
            }
        }
    }
}
