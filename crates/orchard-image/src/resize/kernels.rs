//! The resampling kernels: Pillow's bicubic weights in fixed point, and the
//! horizontal and vertical passes (plain Rust, also compiled with AVX2 and
//! picked at run time; every variant computes the same integer sums).

pub(super) const PRECISION_BITS: u32 = 32 - 8 - 2;
pub(super) const HALF: i32 = 1 << (PRECISION_BITS - 1);
pub(super) const BICUBIC_SUPPORT: f64 = 2.0;
/// Longest kernel for which the transposed horizontal pass is used: it wins
/// for upsampling (5 taps) and mild downsampling (7 taps, scale <= 1.5);
/// for stronger downsampling its extra memory traffic costs more.
pub(super) const TRANSPOSE_MAX_KSIZE: usize = 7;

/// Pillow's `bicubic_filter` (a = -0.5), same operation order.
#[inline]
pub(super) fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = if x < 0.0 { -x } else { x };
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point weights of one axis (Pillow's `precompute_coeffs` followed by
/// `normalize_coeffs_8bpc`).
#[derive(Debug, Clone)]
pub(super) struct Coeffs {
    pub(super) in_size: u32,
    pub(super) out_size: u32,
    /// Max taps per output sample; row stride of `weights`.
    pub(super) ksize: usize,
    /// `(first source index, number of taps)` per output sample.
    pub(super) bounds: Vec<(usize, usize)>,
    pub(super) weights: Vec<i32>,
}

impl Coeffs {
    pub(super) fn new(in_size: u32, out_size: u32) -> Coeffs {
        let scale = f64::from(in_size) / f64::from(out_size);
        let filterscale = if scale < 1.0 { 1.0 } else { scale };
        let support = BICUBIC_SUPPORT * filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let ss = 1.0 / filterscale;
        let mut bounds = Vec::with_capacity(out_size as usize);
        let mut weights = vec![0i32; ksize * out_size as usize];
        let mut k = vec![0f64; ksize];
        for (xx, row) in weights.chunks_exact_mut(ksize).enumerate() {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) cast truncates toward zero; clamp as Pillow does.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
            let n = (xmax - xmin).max(0) as usize;
            let n = n.min(ksize);
            let mut ww = 0.0;
            for (x, kx) in k[..n].iter_mut().enumerate() {
                let w = bicubic((x as f64 + xmin as f64 - center + 0.5) * ss);
                *kx = w;
                ww += w;
            }
            for (kx, out) in k[..n].iter().zip(row.iter_mut()) {
                let v = if ww != 0.0 { kx / ww } else { *kx };
                let f = v * f64::from(1u32 << PRECISION_BITS);
                *out = if v < 0.0 {
                    (-0.5 + f) as i32
                } else {
                    (0.5 + f) as i32
                };
            }
            bounds.push((xmin as usize, n));
        }
        Coeffs {
            in_size,
            out_size,
            ksize,
            bounds,
            weights,
        }
    }

    /// Source range `[first, last)` touched by all outputs.
    pub(super) fn span(&self) -> (usize, usize) {
        let first = self.bounds.first().map_or(0, |b| b.0);
        let last = self.bounds.last().map_or(0, |b| b.0 + b.1);
        (first, last.max(first))
    }
}

#[inline(always)]
pub(super) fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Transpose a packed RGB8 image: `dst` (`src_h` wide, `src_w` tall) gets
/// `dst[x][y] = src[y][x]`. Walks 16×16 tiles to stay in cache.
#[inline(always)]
pub(super) fn transpose_rgb8(src: &[u8], src_w: usize, src_h: usize, dst: &mut [u8]) {
    const TILE: usize = 16;
    let (src, _) = src.as_chunks::<3>();
    let (dst, _) = dst.as_chunks_mut::<3>();
    for ty in (0..src_h).step_by(TILE) {
        let y_end = (ty + TILE).min(src_h);
        for tx in (0..src_w).step_by(TILE) {
            let x_end = (tx + TILE).min(src_w);
            for y in ty..y_end {
                let row = &src[y * src_w..(y + 1) * src_w];
                for x in tx..x_end {
                    dst[x * src_h + y] = row[x];
                }
            }
        }
    }
}

/// Horizontal pass over `rows` source rows starting at `first_row`.
#[inline(always)]
pub(super) fn horizontal_impl(
    src: &[u8],
    src_w: usize,
    first_row: usize,
    c: &Coeffs,
    dst: &mut [u8],
) {
    let sstride = src_w * 3;
    let dstride = c.out_size as usize * 3;
    let src = &src[first_row * sstride..];
    for (srow, drow) in src.chunks_exact(sstride).zip(dst.chunks_exact_mut(dstride)) {
        for ((&(xmin, n), k), out) in c
            .bounds
            .iter()
            .zip(c.weights.chunks_exact(c.ksize))
            .zip(drow.chunks_exact_mut(3))
        {
            let (px, _) = srow[xmin * 3..(xmin + n) * 3].as_chunks::<3>();
            let (mut s0, mut s1, mut s2) = (HALF, HALF, HALF);
            for (p, &kv) in px.iter().zip(&k[..n]) {
                s0 = s0.wrapping_add(i32::from(p[0]).wrapping_mul(kv));
                s1 = s1.wrapping_add(i32::from(p[1]).wrapping_mul(kv));
                s2 = s2.wrapping_add(i32::from(p[2]).wrapping_mul(kv));
            }
            out[0] = clip8(s0);
            out[1] = clip8(s1);
            out[2] = clip8(s2);
        }
    }
}

/// Vertical pass; `src` rows are `row_bytes` long, `row_offset` is subtracted
/// from the coefficient bounds (rows skipped by the horizontal pass).
#[inline(always)]
pub(super) fn vertical_impl(
    src: &[u8],
    row_bytes: usize,
    row_offset: usize,
    c: &Coeffs,
    dst: &mut [u8],
    acc: &mut [i32],
) {
    for ((&(ymin, n), k), drow) in c
        .bounds
        .iter()
        .zip(c.weights.chunks_exact(c.ksize))
        .zip(dst.chunks_exact_mut(row_bytes))
    {
        acc.fill(HALF);
        let start = ymin - row_offset;
        for (j, &kv) in k[..n].iter().enumerate() {
            let row = &src[(start + j) * row_bytes..(start + j + 1) * row_bytes];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(i32::from(p).wrapping_mul(kv));
            }
        }
        for (d, &a) in drow.iter_mut().zip(acc.iter()) {
            *d = clip8(a);
        }
    }
}

/// Scratch buffers of the transposed horizontal pass.
#[derive(Debug, Default)]
pub(super) struct TransposeBufs {
    pub(super) tin: Vec<u8>,
    pub(super) tout: Vec<u8>,
    pub(super) acc: Vec<i32>,
}

/// The horizontal pass computed as a vertical pass on the transposed image
/// (transpose, filter along what are now columns, transpose back). Same
/// integer sums as [`horizontal_impl`], but the inner loop runs over
/// contiguous bytes and vectorises; faster for short kernels.
#[inline(always)]
pub(super) fn horizontal_transposed_impl(
    src: &[u8],
    src_w: usize,
    first_row: usize,
    c: &Coeffs,
    bufs: &mut TransposeBufs,
    dst: &mut [u8],
) {
    let out_w = c.out_size as usize;
    let rows = dst.len() / (out_w * 3);
    let src = &src[first_row * src_w * 3..(first_row + rows) * src_w * 3];
    bufs.tin.resize(src.len(), 0);
    transpose_rgb8(src, src_w, rows, &mut bufs.tin);
    bufs.tout.resize(out_w * rows * 3, 0);
    bufs.acc.resize(rows * 3, 0);
    vertical_impl(&bufs.tin, rows * 3, 0, c, &mut bufs.tout, &mut bufs.acc);
    transpose_rgb8(&bufs.tout, rows, out_w, dst);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn horizontal_transposed_avx2(
    src: &[u8],
    src_w: usize,
    first_row: usize,
    c: &Coeffs,
    bufs: &mut TransposeBufs,
    dst: &mut [u8],
) {
    horizontal_transposed_impl(src, src_w, first_row, c, bufs, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn horizontal_avx2(
    src: &[u8],
    src_w: usize,
    first_row: usize,
    c: &Coeffs,
    dst: &mut [u8],
) {
    horizontal_impl(src, src_w, first_row, c, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn vertical_avx2(
    src: &[u8],
    row_bytes: usize,
    row_offset: usize,
    c: &Coeffs,
    dst: &mut [u8],
    acc: &mut [i32],
) {
    vertical_impl(src, row_bytes, row_offset, c, dst, acc)
}

pub(super) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Horizontal pass on the rows `[first_row, first_row + dst rows)` of `src`.
pub(super) fn horizontal(
    src: &[u8],
    src_w: usize,
    first_row: usize,
    c: &Coeffs,
    bufs: &mut TransposeBufs,
    dst: &mut [u8],
    (avx2, transposed): (bool, bool),
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: AVX2 support was detected at run time (`has_avx2`).
        unsafe {
            if transposed {
                horizontal_transposed_avx2(src, src_w, first_row, c, bufs, dst)
            } else {
                horizontal_avx2(src, src_w, first_row, c, dst)
            }
        };
        return;
    }
    let _ = avx2;
    if transposed {
        horizontal_transposed_impl(src, src_w, first_row, c, bufs, dst)
    } else {
        horizontal_impl(src, src_w, first_row, c, dst)
    }
}

pub(super) fn vertical(
    src: &[u8],
    row_bytes: usize,
    row_offset: usize,
    c: &Coeffs,
    dst: &mut [u8],
    acc: &mut [i32],
    avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: AVX2 support was detected at run time (`has_avx2`).
        unsafe { vertical_avx2(src, row_bytes, row_offset, c, dst, acc) };
        return;
    }
    let _ = avx2;
    vertical_impl(src, row_bytes, row_offset, c, dst, acc)
}
