//! The elementary functions of expressions (exp, log, sin, cos, tan, tanh, and sigmoid and
//! softplus on them), written once and run three ways:
//!
//! - as scalar Rust code: the CPU interpreter's `Real::func` ([`value_f64`], [`Scalar`]);
//! - as vector code in the compiled CPU kernel (backend::cpu::jit implements [`Machine`] on
//!   f64x2 vectors), bit for bit the scalar code's results;
//! - as WGSL: the shader's `real_exp`, `real_log`… at f64 and `sigmoid`, `softplus` at both
//!   precisions ([`wgsl`], spliced into shaders/sweep.wgsl as `{{MATH}}`).
//!
//! Each function is a fixed sequence of operations of a small machine ([`Arith`], [`Machine`]):
//! IEEE +, −, ×, ÷, negation, |x|, max, comparisons, per-lane selects, rounding to an integer,
//! 2^k for a whole k, and splitting x into m·2^e. Every one of them is exact or correctly
//! rounded, so every machine gives the same bits (the GPU may contract a product and a sum into
//! a fused multiply-add, which verify's tolerance covers). Branches are selects: both sides are
//! computed and one is kept, so the code vectorizes and has no data-dependent control flow.
//!
//! Method (as in fdlibm, Sun Microsystems 1993): Cody–Waite range reduction, then Taylor
//! polynomials on the reduced interval, truncated where the next term is below 2⁻⁶⁰ (f64) or
//! 2⁻²⁷ (f32) of the result; each precision's constants and lengths are its [`Consts`]
//! ([`F64`], [`F32`]). Accuracy against correctly rounded values: a few ulp for |x| < 10⁶ at
//! f64 (sin and cos lose accuracy beyond, as |x|·2⁻⁸⁵), within 3 ulp at f32 (sin, cos and tan
//! for |x| < 6400); `tests/f64_math.rs` and the unit tests here measure it.
//!
//! Both precisions run on the CPU ([`value_f64`], [`value_f32`]; the compiled kernel's f64x2
//! and f32x4 code). The f32 shader keeps the GPU's own functions (Vulkan's GLSL.std.450, whose
//! accuracy the implementation chooses: on a GPU they are special-function units, far faster
//! than a polynomial), with sigmoid and softplus from this description on top of them; the f64
//! shader has none, and runs this description.
//!
//! `x^y` with a non-integer or variable exponent is not here: the CPU calls Rust's `powf`, the
//! shader exp(y·log x) (problem::expr::graph turns integer powers into products).

use super::real::{Func, Real};
use std::fmt::Write;
use std::marker::PhantomData;

/// A comparison of two reals, per lane; false where either is NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Gt,
    Eq,
}

/// The arithmetic the functions need at some precision: a value per lane (`V`) and a
/// condition per lane (`M`).
pub trait Arith {
    type V: Copy;
    type M: Copy;
    /// A constant (exact at this machine's precision).
    fn c(&mut self, v: f64) -> Self::V;
    fn add(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn div(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn neg(&mut self, a: Self::V) -> Self::V;
    fn abs(&mut self, a: Self::V) -> Self::V;
    /// Rust's `a.max(b)`: the larger, or the operand that is not NaN.
    fn max(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn cmp(&mut self, cmp: Cmp, a: Self::V, b: Self::V) -> Self::M;
    fn or(&mut self, a: Self::M, b: Self::M) -> Self::M;
    /// `a` where `m`, else `b`.
    fn select(&mut self, m: Self::M, a: Self::V, b: Self::V) -> Self::V;
}

/// The machine of the elementary functions at a precision: [`Arith`], its constants, and four
/// exact operations.
pub trait Machine: Arith {
    /// The constants and polynomial lengths of the machine's precision ([`F64`] or [`F32`]).
    fn consts(&self) -> &'static Consts;
    /// The nearest integer, ties to even (IEEE roundTiesToEven; WGSL's `round`).
    fn round(&mut self, a: Self::V) -> Self::V;
    fn floor(&mut self, a: Self::V) -> Self::V;
    /// 2^k, for a whole number k of a normal power of two (f64: [−1022, 1023]; f32:
    /// [−126, 127]; other k: any value, never a trap).
    fn pow2(&mut self, k: Self::V) -> Self::V;
    /// (m, e) with x = m·2^e, m in [1, 2) and e whole, for finite x > 0 (subnormals too;
    /// other x: any values, never a trap). Exact, so however a machine finds them, they are
    /// the same.
    fn split(&mut self, x: Self::V) -> (Self::V, Self::V);
}

const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const INV_LN2: f64 = 1.44269504088896338700e+00;
const TWO_OVER_PI: f64 = 6.36619772367581382433e-01;
/// π/2 in three parts, the first two of 33 bits: k·PIO2_1 and k·PIO2_2 are exact for |k| < 2²⁰.
const PIO2_1: f64 = 1.57079632673412561417e+00;
const PIO2_2: f64 = 6.07710050630396597660e-11;
const PIO2_3: f64 = 2.02226624871116645580e-21;
/// Past this, e^x overflows; below −745.2 it is below half the smallest subnormal.
const EXP_OVER: f64 = 709.782712893384;
const EXP_UNDER: f64 = -745.2;

/// The constants and polynomial lengths of one precision: Cody–Waite splits of ln 2 and π/2
/// whose products with the reduction's k are exact (ln 2's for every k of the range, π/2's but the last for
/// |k| < 2²⁰ in f64 and 2¹² in f32), and each polynomial truncated where its next term on the
/// reduced interval is below 2⁻⁶⁰ (f64) or 2⁻²⁷ (f32) of the result.
#[derive(Debug)]
pub struct Consts {
    pub ln2_hi: f64,
    pub ln2_lo: f64,
    pub pio2: &'static [f64],
    /// The top power n of e^r's Σ rⁿ/n!, of (e^y − 1)/y's Σ y^(n−1)/n!, of sin's and cos's
    /// series, and the terms of log's atanh series.
    pub exp: usize,
    pub expm1: usize,
    pub sin: usize,
    pub cos: usize,
    pub log: usize,
    /// Past `exp_over` e^x overflows; below `exp_under` it is below half the smallest
    /// subnormal.
    pub exp_over: f64,
    pub exp_under: f64,
    /// The largest finite value.
    pub largest: f64,
}

pub const F64: Consts = Consts { ln2_hi: LN2_HI, ln2_lo: LN2_LO, pio2: &[PIO2_1, PIO2_2, PIO2_3], exp: 13, expm1: 20, sin: 17, cos: 18, log: 11, exp_over: EXP_OVER, exp_under: EXP_UNDER, largest: f64::MAX };

/// f32: ln 2's first 15 bits (fdlibm's expf) and the f32 rest; π/2 in parts of 12, 12, 12 and
/// 24 bits, the first three times k exact (so sin, cos and tan keep their few ulp for
/// |x| < 6400, as the f64 ones to 10⁶).
pub const F32: Consts = Consts {
    ln2_hi: 0.693145751953125,
    ln2_lo: 1.428606765330187e-06,
    pio2: &[1.5703125, 0.0004837512969970703, 7.549533620476723e-08, 2.5633440682570896e-12],
    exp: 7,
    expm1: 11,
    sin: 9,
    cos: 10,
    log: 5,
    exp_over: 88.72283935546875,
    exp_under: -103.97207708399179,
    largest: f32::MAX as f64,
};

/// 1/n!, n = 0 … 20, correctly rounded: every polynomial's coefficients.
const INV_FACTORIAL: [f64; 21] = [
    1.0,
    1.0,
    0.5,
    0.16666666666666666,
    0.041666666666666664,
    0.008333333333333333,
    0.001388888888888889,
    0.0001984126984126984,
    2.48015873015873e-05,
    2.7557319223985893e-06,
    2.755731922398589e-07,
    2.505210838544172e-08,
    2.08767569878681e-09,
    1.6059043836821613e-10,
    1.1470745597729725e-11,
    7.647163731819816e-13,
    4.779477332387385e-14,
    2.8114572543455206e-15,
    1.5619206968586225e-16,
    8.22063524662433e-18,
    4.110317623312165e-19,
];

/// Taylor coefficients ±1/n! for n = `top`, `top` − `by`, … down to `last`, highest power
/// first, the signs alternating from the lowest (`+`) where `alternate`.
fn taylor(top: usize, last: usize, by: usize, alternate: bool) -> impl Iterator<Item = f64> {
    (last..=top).rev().step_by(by).map(move |n| if alternate && ((n - last) / by) % 2 == 1 { -INV_FACTORIAL[n] } else { INV_FACTORIAL[n] })
}

/// e^r on |r| ≤ ln2/2: Σ r^n/n!, n ≤ `top` (f64: 13).
fn exp_poly(top: usize) -> impl Iterator<Item = f64> {
    taylor(top, 0, 1, false)
}
/// (e^y − 1)/y on |y| ≤ 1.1: Σ y^(n−1)/n!, 1 ≤ n ≤ `top` (f64: 20).
fn expm1_poly(top: usize) -> impl Iterator<Item = f64> {
    taylor(top, 1, 1, false)
}
/// sin(r)/r in z = r², |r| ≤ π/4: Σ (−z)^i/(2i+1)!, 2i + 1 ≤ `top` (f64: 17).
fn sin_poly(top: usize) -> impl Iterator<Item = f64> {
    taylor(top, 1, 2, true)
}
/// cos(r) in z = r²: Σ (−z)^i/(2i)!, 2i ≤ `top` (f64: 18).
fn cos_poly(top: usize) -> impl Iterator<Item = f64> {
    taylor(top, 0, 2, true)
}
/// atanh(s)/s = Σ s^2i/(2i+1), i = 10 … 0, on s² ≤ 0.03 (log's m in [√½, √2)); a precision
/// takes the last `Consts::log` of them.
const LOG_POLY: [f64; 11] = [
    0.047619047619047616,
    0.05263157894736842,
    0.058823529411764705,
    0.06666666666666667,
    0.07692307692307693,
    0.09090909090909091,
    0.1111111111111111,
    0.14285714285714285,
    0.2,
    0.3333333333333333,
    1.0,
];

/// Σ coefficients·z^i by Horner's rule, highest power first: p = c₀; p = p·z + cᵢ.
fn horner<O: Arith>(o: &mut O, coefficients: impl IntoIterator<Item = f64>, z: O::V) -> O::V {
    let mut coefficients = coefficients.into_iter();
    let mut p = o.c(coefficients.next().expect("a coefficient"));
    for k in coefficients {
        let pz = o.mul(p, z);
        let k = o.c(k);
        p = o.add(pz, k);
    }
    p
}

/// e^x: x = k·ln2 + r (k = round(x/ln2), ln2 in two parts), e^r by its Taylor polynomial, then
/// the product with 2^k in two factors (each a normal number, so the only rounding is the
/// result's, also where it is subnormal).
pub fn exp<O: Machine>(o: &mut O, x: O::V) -> O::V {
    let c = o.consts();
    let inv_ln2 = o.c(INV_LN2);
    let scaled = o.mul(x, inv_ln2);
    let k = o.round(scaled);
    let (hi, lo) = (o.c(c.ln2_hi), o.c(c.ln2_lo));
    let khi = o.mul(k, hi);
    let r = o.sub(x, khi);
    let klo = o.mul(k, lo);
    let r = o.sub(r, klo);
    let p = horner(o, exp_poly(c.exp), r);
    let half = o.c(0.5);
    let k_half = o.mul(k, half);
    let k1 = o.floor(k_half);
    let k2 = o.sub(k, k1);
    let (f1, f2) = (o.pow2(k1), o.pow2(k2));
    let y = o.mul(p, f1);
    let y = o.mul(y, f2);
    // (NaN comes through the arithmetic; both comparisons are false for it)
    let (under, over) = (o.c(c.exp_under), o.c(c.exp_over));
    let below = o.cmp(Cmp::Lt, x, under);
    let zero = o.c(0.0);
    let y = o.select(below, zero, y);
    let above = o.cmp(Cmp::Gt, x, over);
    let huge = o.c(1e308);
    let inf = o.mul(x, huge);
    o.select(above, inf, y)
}

/// e^y − 1 without cancellation, for |y| ≤ 1.1.
fn expm1_small<O: Machine>(o: &mut O, y: O::V) -> O::V {
    let p = horner(o, expm1_poly(o.consts().expm1), y);
    o.mul(p, y)
}

/// ln x: x = m·2^e with m in [√½, √2), then ln m = 2·atanh(s), s = (m − 1)/(m + 1), by its
/// series; e·ln2 added in two parts.
pub fn log<O: Machine>(o: &mut O, x: O::V) -> O::V {
    let c = o.consts();
    let (m, e) = o.split(x);
    let sqrt2 = o.c(std::f64::consts::SQRT_2);
    let below = o.cmp(Cmp::Lt, m, sqrt2);
    let (half, one) = (o.c(0.5), o.c(1.0));
    let m_half = o.mul(m, half);
    let m = o.select(below, m, m_half);
    let e_next = o.add(e, one);
    let e = o.select(below, e, e_next);
    let f = o.sub(m, one);
    let two = o.c(2.0);
    let d = o.add(two, f);
    let s = o.div(f, d);
    let z = o.mul(s, s);
    let p = horner(o, LOG_POLY[LOG_POLY.len() - c.log..].iter().copied(), z);
    let (hi, lo) = (o.c(c.ln2_hi), o.c(c.ln2_lo));
    let ehi = o.mul(e, hi);
    let two_s = o.mul(two, s);
    let tail = o.mul(two_s, p);
    let elo = o.mul(e, lo);
    let tail = o.add(tail, elo);
    let y = o.add(ehi, tail);
    // x < 0 and NaN: NaN; +∞: +∞; ±0: −∞.
    let zero = o.c(0.0);
    let nan = {
        let d = o.sub(x, x);
        o.div(d, d)
    };
    let positive = o.cmp(Cmp::Gt, x, zero);
    let y = o.select(positive, y, nan);
    let largest = o.c(c.largest);
    let infinite = o.cmp(Cmp::Gt, x, largest);
    let y = o.select(infinite, x, y);
    let is_zero = o.cmp(Cmp::Eq, x, zero);
    let minus_one = o.c(-1.0);
    let ax = o.abs(x);
    let minus_inf = o.div(minus_one, ax);
    o.select(is_zero, minus_inf, y)
}

/// x = k·π/2 + r with |r| ≤ π/4 (π/2 in three parts): r, sin r and cos r by their
/// polynomials, and whether k mod 4 is 1, 2 or 3.
struct Quadrant<O: Arith> {
    sin: O::V,
    cos: O::V,
    q1: O::M,
    q2: O::M,
    q3: O::M,
}

fn quadrant<O: Machine>(o: &mut O, x: O::V) -> Quadrant<O> {
    let c = o.consts();
    let two_over_pi = o.c(TWO_OVER_PI);
    let scaled = o.mul(x, two_over_pi);
    let k = o.round(scaled);
    let mut r = x;
    for &part in c.pio2 {
        let part = o.c(part);
        let kp = o.mul(k, part);
        r = o.sub(r, kp);
    }
    // k mod 4 = k − 4·floor(k/4), exact for |k| < 2⁵³.
    let (quarter, four) = (o.c(0.25), o.c(4.0));
    let kq = o.mul(k, quarter);
    let fq = o.floor(kq);
    let f4 = o.mul(fq, four);
    let q = o.sub(k, f4);
    let z = o.mul(r, r);
    let sp = horner(o, sin_poly(c.sin), z);
    let sin = o.mul(r, sp);
    let cos = horner(o, cos_poly(c.cos), z);
    let is = |o: &mut O, n: f64| {
        let n = o.c(n);
        o.cmp(Cmp::Eq, q, n)
    };
    let (q1, q2, q3) = (is(o, 1.0), is(o, 2.0), is(o, 3.0));
    Quadrant { sin, cos, q1, q2, q3 }
}

/// sin r, cos r, −sin r, −cos r picked by k mod 4 from `shift` on: sin x from 0, cos x from 1
/// (cos x = sin(x + π/2)).
fn by_quadrant<O: Machine>(o: &mut O, x: O::V, shift: usize) -> O::V {
    let Quadrant { sin, cos, q1, q2, q3 } = quadrant(o, x);
    let (nsin, ncos) = (o.neg(sin), o.neg(cos));
    let turn = [sin, cos, nsin, ncos];
    let y = o.select(q1, turn[(1 + shift) % 4], turn[shift]);
    let y = o.select(q2, turn[(2 + shift) % 4], y);
    o.select(q3, turn[(3 + shift) % 4], y)
}

pub fn sin<O: Machine>(o: &mut O, x: O::V) -> O::V {
    by_quadrant(o, x, 0)
}

pub fn cos<O: Machine>(o: &mut O, x: O::V) -> O::V {
    by_quadrant(o, x, 1)
}

pub fn tan<O: Machine>(o: &mut O, x: O::V) -> O::V {
    let Quadrant { sin, cos, q1, q3, .. } = quadrant(o, x);
    let even = o.div(sin, cos);
    let ncos = o.neg(cos);
    let odd = o.div(ncos, sin);
    let is_odd = o.or(q1, q3);
    o.select(is_odd, odd, even)
}

/// tanh x: (e^2x − 1)/(e^2x + 1) by expm1 near 0 (|x| < 0.55), 1 − 2/(e^2|x| + 1) with x's
/// sign beyond, ±1 past |x| = 22 (where it rounds to ±1).
pub fn tanh<O: Machine>(o: &mut O, x: O::V) -> O::V {
    let a = o.abs(x);
    let two = o.c(2.0);
    let two_x = o.mul(two, x);
    let em1 = expm1_small(o, two_x);
    let d = o.add(em1, two);
    let small = o.div(em1, d);
    let two_a = o.mul(two, a);
    let e = exp(o, two_a);
    let one = o.c(1.0);
    let e1 = o.add(e, one);
    let q = o.div(two, e1);
    let t = o.sub(one, q);
    let zero = o.c(0.0);
    let negative = o.cmp(Cmp::Lt, x, zero);
    let nt = o.neg(t);
    let mid = o.select(negative, nt, t);
    let near = o.c(0.55);
    let is_small = o.cmp(Cmp::Lt, a, near);
    let y = o.select(is_small, small, mid);
    let positive = o.cmp(Cmp::Gt, x, zero);
    let minus_one = o.c(-1.0);
    let sign = o.select(positive, one, minus_one);
    let far = o.c(22.0);
    let saturated = o.cmp(Cmp::Gt, a, far);
    o.select(saturated, sign, y)
}

/// 1/(1 + e^−v), at the run precision, with that precision's e^x (`exp`).
pub fn sigmoid<O: Arith>(o: &mut O, v: O::V, exp: impl Fn(&mut O, O::V) -> O::V) -> O::V {
    let nv = o.neg(v);
    let e = exp(o, nv);
    let one = o.c(1.0);
    let d = o.add(one, e);
    o.div(one, d)
}

/// max(v, 0) + log1p(e^−|v|), log1p(t) = log(1 + t)·t/((1 + t) − 1) (Goldberg, "What every
/// computer scientist should know about floating-point arithmetic", 1991, thm 4): accurate
/// where 1 + t rounds (softplus(−20) = 2.06e-9, not 0, in f32). At the run precision, with
/// its e^x and ln x.
pub fn softplus<O: Arith>(o: &mut O, v: O::V, exp: impl Fn(&mut O, O::V) -> O::V, log: impl Fn(&mut O, O::V) -> O::V) -> O::V {
    let av = o.abs(v);
    let nav = o.neg(av);
    let t = exp(o, nav);
    let one = o.c(1.0);
    let u = o.add(one, t);
    let lu = log(o, u);
    let u1 = o.sub(u, one);
    let ratio = o.div(t, u1);
    let l = o.mul(lu, ratio);
    let rounds = o.cmp(Cmp::Eq, u, one);
    let l = o.select(rounds, t, l);
    let zero = o.c(0.0);
    let vmax = o.max(v, zero);
    o.add(vmax, l)
}

/// The functions of this module that a precision's machine computes from its reductions (exp,
/// log, sin, cos, tan, tanh), by `f`; `None` for the others.
pub fn wide<O: Machine>(o: &mut O, f: Func, x: O::V) -> Option<O::V> {
    Some(match f {
        Func::Exp => exp(o, x),
        Func::Log => log(o, x),
        Func::Sin => sin(o, x),
        Func::Cos => cos(o, x),
        Func::Tan => tan(o, x),
        Func::Tanh => tanh(o, x),
        _ => return None,
    })
}

/// Whether `f` is one of this module's functions (else an IEEE operation: sqrt, |x|, sign).
pub fn has(f: Func) -> bool {
    matches!(f, Func::Exp | Func::Log | Func::Sin | Func::Cos | Func::Tan | Func::Tanh | Func::Sigmoid | Func::Softplus)
}

/// The scalar machine at precision `T`: plain Rust arithmetic (the CPU interpreter's).
pub struct Scalar<T>(PhantomData<T>);

impl<T> Default for Scalar<T> {
    fn default() -> Self {
        Scalar(PhantomData)
    }
}

impl<T: Real> Arith for Scalar<T> {
    type V = T;
    type M = bool;
    #[inline(always)]
    fn c(&mut self, v: f64) -> T {
        T::from_f64(v)
    }
    #[inline(always)]
    fn add(&mut self, a: T, b: T) -> T {
        a + b
    }
    #[inline(always)]
    fn sub(&mut self, a: T, b: T) -> T {
        a - b
    }
    #[inline(always)]
    fn mul(&mut self, a: T, b: T) -> T {
        a * b
    }
    #[inline(always)]
    fn div(&mut self, a: T, b: T) -> T {
        a / b
    }
    #[inline(always)]
    fn neg(&mut self, a: T) -> T {
        -a
    }
    #[inline(always)]
    fn abs(&mut self, a: T) -> T {
        a.abs()
    }
    #[inline(always)]
    fn max(&mut self, a: T, b: T) -> T {
        a.max(b)
    }
    #[inline(always)]
    fn cmp(&mut self, cmp: Cmp, a: T, b: T) -> bool {
        match cmp {
            Cmp::Lt => a < b,
            Cmp::Gt => a > b,
            Cmp::Eq => a == b,
        }
    }
    #[inline(always)]
    fn or(&mut self, a: bool, b: bool) -> bool {
        a | b
    }
    #[inline(always)]
    fn select(&mut self, m: bool, a: T, b: T) -> T {
        if m {
            a
        } else {
            b
        }
    }
}

/// The bits of 2⁵² + 1023: added to a whole k in [−1023, 1024], its low bits are k + 1023,
/// 2^k's biased exponent.
pub const POW2_MAGIC: f64 = 4503599627371519.0;
/// x < this is subnormal: `split` scales it by 2⁵⁴ first.
pub const SMALLEST_NORMAL: f64 = f64::MIN_POSITIVE;
pub const SUBNORMAL_SCALE: f64 = 18014398509481984.0;
pub const SUBNORMAL_SHIFT: f64 = 54.0;
/// The bits of an f64's mantissa, of 1.0, and of 2⁵² (whose low bits then hold an integer).
pub const MANTISSA_BITS: u64 = 0x000f_ffff_ffff_ffff;
pub const ONE_BITS: u64 = 0x3ff0_0000_0000_0000;
pub const TWO52_BITS: u64 = 0x4330_0000_0000_0000;

impl Machine for Scalar<f64> {
    fn consts(&self) -> &'static Consts {
        &F64
    }
    #[inline(always)]
    fn round(&mut self, a: f64) -> f64 {
        a.round_ties_even()
    }
    #[inline(always)]
    fn floor(&mut self, a: f64) -> f64 {
        a.floor()
    }
    #[inline(always)]
    fn pow2(&mut self, k: f64) -> f64 {
        f64::from_bits((k + POW2_MAGIC).to_bits() << 52)
    }
    #[inline(always)]
    fn split(&mut self, x: f64) -> (f64, f64) {
        let tiny = x < SMALLEST_NORMAL;
        let xs = if tiny { x * SUBNORMAL_SCALE } else { x };
        let bits = xs.to_bits();
        let m = f64::from_bits((bits & MANTISSA_BITS) | ONE_BITS);
        let e = f64::from_bits((bits >> 52) | TWO52_BITS) - POW2_MAGIC;
        (m, if tiny { e - SUBNORMAL_SHIFT } else { e })
    }
}

/// f32's counterparts of the f64 bit patterns above: 2²³ + 127, the smallest normal, 2²⁴
/// for subnormals, the mantissa's bits, 1.0's and 2²³'s.
pub const POW2_MAGIC_F32: f64 = 8388735.0;
pub const SMALLEST_NORMAL_F32: f64 = f32::MIN_POSITIVE as f64;
pub const SUBNORMAL_SCALE_F32: f64 = 16777216.0;
pub const SUBNORMAL_SHIFT_F32: f64 = 24.0;
pub const MANTISSA_BITS_F32: u32 = 0x007f_ffff;
pub const ONE_BITS_F32: u32 = 0x3f80_0000;
pub const TWO23_BITS_F32: u32 = 0x4b00_0000;

impl Machine for Scalar<f32> {
    fn consts(&self) -> &'static Consts {
        &F32
    }
    #[inline(always)]
    fn round(&mut self, a: f32) -> f32 {
        a.round_ties_even()
    }
    #[inline(always)]
    fn floor(&mut self, a: f32) -> f32 {
        a.floor()
    }
    #[inline(always)]
    fn pow2(&mut self, k: f32) -> f32 {
        f32::from_bits((k + POW2_MAGIC_F32 as f32).to_bits() << 23)
    }
    #[inline(always)]
    fn split(&mut self, x: f32) -> (f32, f32) {
        let tiny = x < SMALLEST_NORMAL_F32 as f32;
        let xs = if tiny { x * SUBNORMAL_SCALE_F32 as f32 } else { x };
        let bits = xs.to_bits();
        let m = f32::from_bits((bits & MANTISSA_BITS_F32) | ONE_BITS_F32);
        let e = f32::from_bits((bits >> 23) | TWO23_BITS_F32) - POW2_MAGIC_F32 as f32;
        (m, if tiny { e - SUBNORMAL_SHIFT_F32 as f32 } else { e })
    }
}

/// `f` at `v` on the scalar machine, in f64; `None` for the functions that are not here
/// (sqrt, |x|, sign).
#[inline(always)]
pub fn value_f64(f: Func, v: f64) -> Option<f64> {
    let mut o = Scalar::<f64>::default();
    Some(match f {
        Func::Sigmoid => sigmoid(&mut o, v, |o, v| exp(o, v)),
        Func::Softplus => softplus(&mut o, v, |o, v| exp(o, v), |o, v| log(o, v)),
        _ => wide(&mut o, f, v)?,
    })
}

/// `f` at `v` on the scalar machine, in f32 (the [`F32`] description); `None` for the
/// functions that are not here.
#[inline(always)]
pub fn value_f32(f: Func, v: f32) -> Option<f32> {
    let mut o = Scalar::<f32>::default();
    Some(match f {
        Func::Sigmoid => sigmoid(&mut o, v, |o, v| exp(o, v)),
        Func::Softplus => softplus(&mut o, v, |o, v| exp(o, v), |o, v| log(o, v)),
        _ => wide(&mut o, f, v)?,
    })
}

/// The WGSL machine: each operation a `let` of a function body; a value is the index of its
/// name (or literal) in `terms`.
struct Wgsl {
    body: String,
    /// The precision's WGSL type (`f64`, or `real` for the run precision).
    ty: &'static str,
    terms: Vec<String>,
}

impl Wgsl {
    fn new(ty: &'static str) -> Self {
        Wgsl { body: String::new(), ty, terms: vec!["x".into()] }
    }

    fn term(&mut self, text: String) -> usize {
        self.terms.push(text);
        self.terms.len() - 1
    }

    fn bind(&mut self, ty: &str, rhs: String) -> usize {
        let name = format!("v{}", self.terms.len());
        let _ = writeln!(self.body, "    let {name}: {ty} = {rhs};");
        self.term(name)
    }

    fn value(&mut self, rhs: String) -> usize {
        let ty = self.ty;
        self.bind(ty, rhs)
    }

    /// `fn name(x) -> ty { body; return result; }`.
    fn function(mut self, name: &str, build: impl FnOnce(&mut Self, usize) -> usize) -> String {
        let result = build(&mut self, 0);
        format!("fn {name}(x: {ty}) -> {ty} {{\n{}    return {};\n}}\n", self.body, self.terms[result], ty = self.ty)
    }

    fn binary(&mut self, a: usize, op: &str, b: usize) -> usize {
        let rhs = format!("{} {op} {}", self.terms[a], self.terms[b]);
        self.value(rhs)
    }

    fn call(&mut self, f: &str, a: usize) -> usize {
        let rhs = format!("{f}({})", self.terms[a]);
        self.value(rhs)
    }
}

impl Arith for Wgsl {
    type V = usize;
    type M = usize;
    fn c(&mut self, v: f64) -> usize {
        debug_assert!(v.is_finite(), "WGSL has no literal for {v}");
        let literal = format!("{}({v:?})", self.ty);
        self.term(literal)
    }
    fn add(&mut self, a: usize, b: usize) -> usize {
        self.binary(a, "+", b)
    }
    fn sub(&mut self, a: usize, b: usize) -> usize {
        self.binary(a, "-", b)
    }
    fn mul(&mut self, a: usize, b: usize) -> usize {
        self.binary(a, "*", b)
    }
    fn div(&mut self, a: usize, b: usize) -> usize {
        self.binary(a, "/", b)
    }
    fn neg(&mut self, a: usize) -> usize {
        self.call("-", a)
    }
    fn abs(&mut self, a: usize) -> usize {
        self.call("abs", a)
    }
    fn max(&mut self, a: usize, b: usize) -> usize {
        // (WGSL leaves max with a NaN to the implementation: the non-NaN one, as Rust's)
        let (a, b) = (&self.terms[a], &self.terms[b]);
        let rhs = format!("select(max({a}, {b}), {b}, {a} != {a})");
        self.value(rhs)
    }
    fn cmp(&mut self, cmp: Cmp, a: usize, b: usize) -> usize {
        let op = match cmp {
            Cmp::Lt => "<",
            Cmp::Gt => ">",
            Cmp::Eq => "==",
        };
        let rhs = format!("{} {op} {}", self.terms[a], self.terms[b]);
        self.bind("bool", rhs)
    }
    fn or(&mut self, a: usize, b: usize) -> usize {
        let rhs = format!("{} || {}", self.terms[a], self.terms[b]);
        self.bind("bool", rhs)
    }
    fn select(&mut self, m: usize, a: usize, b: usize) -> usize {
        let rhs = format!("select({}, {}, {})", self.terms[b], self.terms[a], self.terms[m]);
        self.value(rhs)
    }
}

impl Machine for Wgsl {
    /// (the shader's functions are generated at f64 only: at f32 it calls the GPU's)
    fn consts(&self) -> &'static Consts {
        &F64
    }
    fn round(&mut self, a: usize) -> usize {
        self.call("round", a)
    }
    fn floor(&mut self, a: usize) -> usize {
        self.call("floor", a)
    }
    fn pow2(&mut self, k: usize) -> usize {
        // (WGSL saturates the conversion; the result is used only for k in range)
        let rhs = format!("ldexp(f64(1.0), i32(clamp({}, f64(-1022.0), f64(1023.0))))", self.terms[k]);
        self.value(rhs)
    }
    fn split(&mut self, x: usize) -> (usize, usize) {
        let rhs = format!("split_exponent({})", self.terms[x]);
        let s = self.bind("Split", rhs);
        let s = self.terms[s].clone();
        (self.term(format!("{s}.m")), self.term(format!("{s}.e")))
    }
}

/// `split_exponent` in WGSL, without frexp (naga types its f64 exponent as i64, which needs
/// SHADER_INT64) or 64-bit integers: coarse steps of 2^±100 bring m into f32's range, an f32
/// log2 estimates e to within one, and the two checks after it make m ∈ [1, 2) exact.
const WGSL_SPLIT: &str = "struct Split {
    m: f64,
    e: f64,
}

// x = m·2^e with m in [1, 2), for finite x > 0 (problem::elementary's Machine::split).
fn split_exponent(x: f64) -> Split {
    var m = x;
    var e = f64(0.0);
    for (var i = 0; i < 12 && m > f64(1.2676506002282294e30); i++) {
        m = m * f64(7.888609052210118e-31);
        e = e + f64(100.0);
    }
    for (var i = 0; i < 12 && m < f64(7.888609052210118e-31); i++) {
        m = m * f64(1.2676506002282294e30);
        e = e - f64(100.0);
    }
    let k = i32(floor(log2(f32(m))));
    m = ldexp(m, -k);
    e = e + f64(k);
    if (m < f64(1.0)) {
        m = m * f64(2.0);
        e = e - f64(1.0);
    }
    if (m >= f64(2.0)) {
        m = m * f64(0.5);
        e = e + f64(1.0);
    }
    return Split(m, e);
}
";

/// The shader's elementary functions (`{{MATH}}`): `real_exp`, `real_log`, `real_sin`,
/// `real_cos`, `real_tan`, `real_tanh` and `real_pow` at the precision (generated at f64,
/// the GPU's own at f32: Vulkan has no f64 ones), then `sigmoid` and `softplus` on them.
pub fn wgsl(f64_precision: bool) -> String {
    let mut out = String::from("// Generated by problem::elementary (the description the CPU backend runs too).\n");
    if f64_precision {
        out += WGSL_SPLIT;
        let functions: [(&str, fn(&mut Wgsl, usize) -> usize); 6] =
            [("real_exp", exp), ("real_log", log), ("real_sin", sin), ("real_cos", cos), ("real_tan", tan), ("real_tanh", tanh)];
        for (name, f) in functions {
            out += &Wgsl::new("f64").function(name, f);
        }
        out += "fn real_pow(a: f64, b: f64) -> f64 {\n    return real_exp(b * real_log(a));\n}\n";
    } else {
        for f in ["exp", "log", "sin", "cos", "tan", "tanh"] {
            let _ = writeln!(out, "fn real_{f}(v: f32) -> f32 {{ return {f}(v); }}");
        }
        out += "fn real_pow(a: f32, b: f32) -> f32 { return pow(a, b); }\n";
    }
    let call = |name: &'static str| move |o: &mut Wgsl, v: usize| o.call(name, v);
    out += &Wgsl::new("real").function("sigmoid", |o, v| sigmoid(o, v, call("real_exp")));
    out += &Wgsl::new("real").function("softplus", |o, v| softplus(o, v, call("real_exp"), call("real_log")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0.0;
        }
        (a - b).abs() / (f64::EPSILON * b.abs().max(f64::MIN_POSITIVE))
    }

    fn worst(f: Func, lo: f64, hi: f64, reference: fn(f64) -> f64) -> f64 {
        let n = 20001;
        (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .map(|x| ulps(value_f64(f, x).expect("here"), reference(x)))
            .fold(0.0, f64::max)
    }

    #[test]
    fn within_a_few_ulp_of_rusts_functions() {
        let cases: [(Func, f64, f64, fn(f64) -> f64, f64); 10] = [
            (Func::Exp, -700.0, 700.0, f64::exp, 4.0),
            (Func::Exp, -2.0, 2.0, f64::exp, 2.0),
            (Func::Log, 1e-3, 1e3, f64::ln, 2.0),
            (Func::Log, 0.25, 4.0, f64::ln, 2.0),
            (Func::Sin, -100.0, 100.0, f64::sin, 4.0),
            (Func::Cos, -100.0, 100.0, f64::cos, 4.0),
            (Func::Tan, -1.5, 1.5, f64::tan, 4.0),
            (Func::Tanh, -30.0, 30.0, f64::tanh, 4.0),
            (Func::Tanh, -0.6, 0.6, f64::tanh, 4.0),
            (Func::Exp, -745.0, -708.0, f64::exp, 4.0),
        ];
        for (f, lo, hi, reference, most) in cases {
            let w = worst(f, lo, hi, reference);
            assert!(w <= most, "{f:?} on [{lo}, {hi}]: {w} ulp");
        }
        // log over the whole range, subnormals too
        for x in [1e-310, 5e-324, 1e-300, 1e300, f64::MAX, 3.0, 0.7071067811865476, 1.4142135623730951] {
            assert!(ulps(value_f64(Func::Log, x).unwrap(), x.ln()) <= 2.0, "log({x:e})");
        }
    }

    #[test]
    fn the_polynomials_are_the_taylor_series() {
        let exp: Vec<f64> = exp_poly(F64.exp).collect();
        assert_eq!(exp.len(), 14);
        assert_eq!((exp[0], exp[12], exp[13]), (1.6059043836821613e-10, 1.0, 1.0));
        let sin: Vec<f64> = sin_poly(F64.sin).collect();
        assert_eq!(sin, [2.8114572543455206e-15, -7.647163731819816e-13, 1.6059043836821613e-10, -2.505210838544172e-08, 2.7557319223985893e-06, -0.0001984126984126984, 0.008333333333333333, -0.16666666666666666, 1.0]);
        let cos: Vec<f64> = cos_poly(F64.cos).collect();
        assert_eq!((cos.len(), cos[0], cos[8], cos[9]), (10, -1.5619206968586225e-16, -0.5, 1.0));
        assert_eq!(expm1_poly(F64.expm1).count(), 20);
        for (n, &v) in INV_FACTORIAL.iter().enumerate() {
            let factorial: f64 = (1..=n).map(|k| k as f64).product();
            assert_eq!(v, 1.0 / factorial, "1/{n}!");
        }
    }

    #[test]
    fn special_values_are_rusts() {
        let exact: [(Func, f64, f64); 14] = [
            (Func::Exp, f64::INFINITY, f64::INFINITY),
            (Func::Exp, f64::NEG_INFINITY, 0.0),
            (Func::Exp, 710.0, f64::INFINITY),
            (Func::Exp, -746.0, 0.0),
            (Func::Exp, 0.0, 1.0),
            (Func::Log, 0.0, f64::NEG_INFINITY),
            (Func::Log, -0.0, f64::NEG_INFINITY),
            (Func::Log, f64::INFINITY, f64::INFINITY),
            (Func::Log, 1.0, 0.0),
            (Func::Tanh, 30.0, 1.0),
            (Func::Tanh, -30.0, -1.0),
            (Func::Tanh, 0.0, 0.0),
            (Func::Sin, 0.0, 0.0),
            (Func::Cos, 0.0, 1.0),
        ];
        for (f, x, want) in exact {
            assert_eq!(value_f64(f, x), Some(want), "{f:?}({x})");
        }
        for (f, x) in [(Func::Log, -1.0), (Func::Log, f64::NAN), (Func::Exp, f64::NAN), (Func::Sin, f64::INFINITY), (Func::Tanh, f64::NAN), (Func::Sigmoid, f64::NAN)] {
            assert!(value_f64(f, x).unwrap().is_nan(), "{f:?}({x}) is NaN");
        }
        assert_eq!(value_f64(Func::Sigmoid, -1000.0), Some(0.0));
        assert_eq!(value_f64(Func::Softplus, 1000.0), Some(1000.0));
        assert_eq!(value_f64(Func::Sqrt, 4.0), None);
    }

    /// The f32 description against correctly rounded values (f64's, rounded), on 200 001 f32
    /// points of each range: within 3 ulp (Rust's f32 functions: within 1.4).
    #[test]
    fn f32_within_a_few_ulp_of_correctly_rounded() {
        let cases: [(Func, f64, f64, fn(f64) -> f64, f64); 9] = [
            (Func::Exp, -103.0, 88.0, f64::exp, 1.0),
            (Func::Exp, -2.0, 2.0, f64::exp, 1.0),
            (Func::Log, 1e-30, 1e30, f64::ln, 1.0),
            (Func::Log, 0.25, 4.0, f64::ln, 2.0),
            (Func::Sin, -100.0, 100.0, f64::sin, 1.5),
            (Func::Cos, -6000.0, 6000.0, f64::cos, 2.0),
            (Func::Tan, -1.5, 1.5, f64::tan, 2.0),
            (Func::Tanh, -30.0, 30.0, f64::tanh, 2.5),
            (Func::Tanh, -0.6, 0.6, f64::tanh, 3.0),
        ];
        for (f, lo, hi, reference, most) in cases {
            let n = 200001;
            let worst = (0..n)
                .map(|i| (lo + (hi - lo) * i as f64 / (n - 1) as f64) as f32)
                .map(|x| {
                    let want = reference(x as f64);
                    let ulp = (want.abs() as f32).max(f32::MIN_POSITIVE) as f64 * f32::EPSILON as f64;
                    (value_f32(f, x).expect("here") as f64 - want).abs() / ulp
                })
                .fold(0.0, f64::max);
            assert!(worst <= most, "{f:?} on [{lo}, {hi}] in f32: {worst} ulp");
        }
        let exact: [(Func, f32, f32); 9] = [
            (Func::Exp, f32::INFINITY, f32::INFINITY),
            (Func::Exp, f32::NEG_INFINITY, 0.0),
            (Func::Exp, 89.0, f32::INFINITY),
            (Func::Exp, -105.0, 0.0),
            (Func::Exp, 0.0, 1.0),
            (Func::Log, 0.0, f32::NEG_INFINITY),
            (Func::Log, f32::INFINITY, f32::INFINITY),
            (Func::Log, 1.0, 0.0),
            (Func::Tanh, 30.0, 1.0),
        ];
        for (f, x, want) in exact {
            assert_eq!(value_f32(f, x), Some(want), "{f:?}({x}) in f32");
        }
        for (f, x) in [(Func::Log, -1.0f32), (Func::Log, f32::NAN), (Func::Exp, f32::NAN), (Func::Sin, f32::INFINITY), (Func::Tanh, f32::NAN)] {
            assert!(value_f32(f, x).unwrap().is_nan(), "{f:?}({x}) is NaN in f32");
        }
        // subnormal results and arguments
        assert_eq!(value_f32(Func::Exp, -100.0), Some((-100.0f64).exp() as f32));
        assert!((value_f32(Func::Log, 1e-40).unwrap() as f64 / (1e-40f32 as f64).ln() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn f32_sigmoid_and_softplus_are_accurate() {
        for i in 0..2001 {
            let x32 = (-20.0 + 0.02 * i as f64) as f32;
            let sig = value_f32(Func::Sigmoid, x32).unwrap();
            assert!((sig as f64 - 1.0 / (1.0 + (-(x32 as f64)).exp())).abs() < 2e-7, "sigmoid({x32})");
        }
        let sp = value_f32(Func::Softplus, -20.0f32).unwrap() as f64;
        assert!((sp / 2.061153622438558e-9 - 1.0).abs() < 1e-6, "softplus keeps log1p's accuracy in f32: {sp:e}");
    }

    #[test]
    fn split_finds_the_exponent_of_every_kind_of_number() {
        let mut o = Scalar::<f64>::default();
        for x in [1.0, 1.5, 2.0, 3.0, 1e-310, 5e-324, f64::MIN_POSITIVE, f64::MAX, 0.1] {
            let (m, e) = o.split(x);
            assert!((1.0..2.0).contains(&m) && e.fract() == 0.0, "{x:e}: {m}, {e}");
            let half = (e / 2.0).floor();
            assert_eq!(m * 2f64.powi(half as i32) * 2f64.powi((e - half) as i32), x, "{x:e}");
        }
        for k in [-1022.0, -1.0, 0.0, 1.0, 1023.0] {
            assert_eq!(o.pow2(k), 2f64.powi(k as i32));
        }
    }

    #[test]
    fn f32_split_and_pow2_are_exact() {
        let mut o = Scalar::<f32>::default();
        for x in [1.0f32, 1.5, 2.0, 3.0, 1e-40, 1e-45, f32::MIN_POSITIVE, f32::MAX, 0.1] {
            let (m, e) = o.split(x);
            assert!((1.0..2.0).contains(&m) && e.fract() == 0.0, "{x:e}: {m}, {e}");
            assert_eq!(m as f64 * 2f64.powi(e as i32), x as f64, "{x:e}");
        }
        for k in [-126.0f32, -1.0, 0.0, 1.0, 127.0] {
            assert_eq!(o.pow2(k), 2f32.powi(k as i32));
        }
    }

    #[test]
    fn the_wgsl_is_valid() {
        for f64_precision in [false, true] {
            let alias = if f64_precision { "alias real = f64;\n" } else { "alias real = f32;\n" };
            let src = format!("{alias}{}", wgsl(f64_precision));
            let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}\n{src}", e.emit_to_string(&src)));
            let caps = if f64_precision { naga::valid::Capabilities::FLOAT64 } else { naga::valid::Capabilities::empty() };
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps).validate(&module).unwrap_or_else(|e| panic!("{e:?}\n{src}"));
        }
    }
}

