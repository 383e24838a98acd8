//! The zoom line search (`linesearch = "zoom"`, L-BFGS's default): optax's
//! `scale_by_zoom_linesearch` as `optax.lbfgs` configures it (max_linesearch_steps = 20,
//! initial guess 1, tol 0), step for step. Nocedal & Wright, *Numerical Optimization*, 2nd ed.,
//! Algorithms 3.5 (interval search) and 3.6 (zoom); the approximate sufficient decrease of
//! Hager & Zhang, "Algorithm 851: CG_DESCENT", 2006.
//!
//! Along the direction d from x_k (f₀ = f(x_k), s₀ = ∇f(x_k)ᵀd), a trial η is judged by
//! - the decrease error, max(0, min(f(η) − f₀ − c·η·s₀, max(s(η) − (2c − 1)s₀,
//!   f(η) − f₀ − approx_rtol·|f₀|))) (Armijo, or Hager–Zhang's approximate condition where the
//!   loss no longer resolves the decrease);
//! - the curvature error, max(0, |s(η)| − curvature·|s₀|) (strong Wolfe);
//!
//! with s(η) = ∇f(x_k + ηd)ᵀd, and is accepted when both are 0. A non-finite loss or slope
//! makes both infinite. The search first grows η (1, then ×`increase`) until an interval
//! holding an acceptable step is found, then shrinks the interval by cubic interpolation
//! (through low, high and the previous reference point), quadratic where the cubic's minimum
//! lies too close to an end (within 20 % of the interval; the quadratic within 10 %), else
//! bisection. Every trial with no decrease error is kept as the *safe* step (in the zoom, if its
//! loss is the lowest so far). After `max_steps` trials, or once the interval is shorter than
//! `interval_tol` with a safe step known, the search fails and takes the safe step (or, with
//! none, the last trial): optax's fallback. A run whose search failed goes on from that point
//! (optax's semantics); gdsweep evaluates a safe step again where it is not the last trial
//! (optax keeps its value and gradient), so such a step costs one evaluation more than optax's
//! `num_linesearch_steps`.
//!
//! Interpolants that are not finite, or lie outside the interval's guarded part, are not used
//! (optax relies on NaN comparisons being false; WGSL does not promise NaN, so both twins test
//! it explicitly).

use super::lanes::{LANES, V};
use super::linesearch::{at_lsd, at_lsx, at_scalar, measure_accepted, CpuSearch, Verdicts};
use super::{Hyper, KnobParam, Slot, SlotInit, IND};
use crate::problem::real::Real;


/// optax.lbfgs's zoom: slope_rtol, curv_rtol, max_linesearch_steps, increase_factor,
/// approx_dec_rtol, stepsize_precision.
pub const PARAMS: [KnobParam; 6] = [
    KnobParam { hyper: Hyper::fraction("c", 1e-4), required: false },
    KnobParam { hyper: Hyper::fraction("curvature", 0.9), required: false },
    KnobParam { hyper: Hyper::count("max_steps", 20.0, 1000.0), required: false },
    KnobParam { hyper: Hyper { name: "increase", default: 2.0, min: 1.0, max: f64::INFINITY, max_open: true, min_open: true, switch: false, whole: false }, required: false },
    KnobParam { hyper: Hyper::non_negative("approx_rtol", 1e-6), required: false },
    KnobParam { hyper: Hyper::non_negative("interval_tol", 1e-5), required: false },
];
const P_C: usize = 0;
const P_CURVATURE: usize = 1;
const P_MAX_STEPS: usize = 2;
const P_INCREASE: usize = 3;
const P_APPROX: usize = 4;
const P_INTERVAL: usize = 5;

/// The search's scalars, after x_k (`lsx{j}`) and the direction (`lsd{j}`): the trial η being
/// evaluated, the phase (0 idle, 1 interval search, 2 zoom, 3 the fallback step re-evaluated),
/// the trials made, f₀ and s₀, the last evaluated trial (η, f, s), the interval's low and high
/// ends and the cubic's reference point (each η, f and, for the ends, s), the safe step (η, f).
const SCALARS: [&str; 18] = [
    "ls_t", "ls_phase", "ls_count", "ls_f0", "ls_slope", "ls_prev_t", "ls_prev_f", "ls_prev_s", "ls_low", "ls_flow", "ls_slow", "ls_high",
    "ls_fhigh", "ls_shigh", "ls_cref", "ls_fcref", "ls_safe_t", "ls_safe_f",
];
const T: usize = 0;
const PHASE: usize = 1;
const COUNT: usize = 2;
const F0: usize = 3;
const S0: usize = 4;
const PREV_T: usize = 5;
const PREV_F: usize = 6;
const PREV_S: usize = 7;
const LOW: usize = 8;
const F_LOW: usize = 9;
const S_LOW: usize = 10;
const HIGH: usize = 11;
const F_HIGH: usize = 12;
const S_HIGH: usize = 13;
const CREF: usize = 14;
const F_CREF: usize = 15;
const SAFE_T: usize = 16;
const SAFE_F: usize = 17;

const fn scalar(k: usize) -> Slot {
    Slot::scalar(SCALARS[k], SlotInit::Value(0.0))
}

pub const SLOTS: [Slot; 20] = [
    Slot::per_coordinate("lsx", SlotInit::Value(0.0)),
    Slot::per_coordinate("lsd", SlotInit::Value(0.0)),
    scalar(0),
    scalar(1),
    scalar(2),
    scalar(3),
    scalar(4),
    scalar(5),
    scalar(6),
    scalar(7),
    scalar(8),
    scalar(9),
    scalar(10),
    scalar(11),
    scalar(12),
    scalar(13),
    scalar(14),
    scalar(15),
    scalar(16),
    scalar(17),
];

/// The largest finite real, standing for optax's +∞ errors (WGSL has no infinity literal).
fn big_literal(p: crate::problem::real::Precision) -> String {
    crate::problem::real::literal(
        match p {
            crate::problem::real::Precision::F32 => f32::MAX as f64,
            crate::problem::real::Precision::F64 => f64::MAX,
        },
        p,
    )
}

/// The helper functions (module scope): errors and interpolants, CPU twins below.
pub fn wgsl_helpers(p: crate::problem::real::Precision) -> String {
    let big = big_literal(p);
    format!(
        r#"const ZOOM_BIG: real = {big};

fn zoom_decrease_error(t: real, v: real, sl: real, f0: real, s0: real, c: real, approx: real) -> real {{
    if (!(is_finite(v) && is_finite(sl))) {{
        return ZOOM_BIG;
    }}
    let armijo = v - f0 - c * t * s0;
    let approximate = max(sl - (real(2.0) * c - real(1.0)) * s0, v - f0 - approx * abs(f0));
    return max(min(approximate, armijo), real(0.0));
}}

fn zoom_curvature_error(sl: real, s0: real, curvature: real) -> real {{
    if (!is_finite(sl)) {{
        return ZOOM_BIG;
    }}
    return max(abs(sl) - curvature * abs(s0), real(0.0));
}}

// The critical point of the cubic through (a, fa) with slope fpa, (b, fb) and (c, fc);
// ZOOM_BIG where there is none (optax's NaN).
fn zoom_cubicmin(a: real, fa: real, fpa: real, b: real, fb: real, c: real, fc: real) -> real {{
    let db = b - a;
    let dc = c - a;
    let denom = (db * dc) * (db * dc) * (db - dc);
    let r0 = fb - fa - fpa * db;
    let r1 = fc - fa - fpa * dc;
    let ca = (dc * dc * r0 - db * db * r1) / denom;
    let cb = (db * db * db * r1 - dc * dc * dc * r0) / denom;
    let radical = cb * cb - real(3.0) * ca * fpa;
    if (!(denom != real(0.0) && is_finite(ca) && is_finite(cb) && ca != real(0.0) && radical >= real(0.0))) {{
        return ZOOM_BIG;
    }}
    let x = a + (-cb + sqrt(radical)) / (real(3.0) * ca);
    return select(ZOOM_BIG, x, is_finite(x));
}}

// The critical point of the quadratic through (a, fa) with slope fpa and (b, fb).
fn zoom_quadmin(a: real, fa: real, fpa: real, b: real, fb: real) -> real {{
    let db = b - a;
    let cb = (fb - fa - fpa * db) / (db * db);
    let x = a - fpa / (real(2.0) * cb);
    return select(ZOOM_BIG, x, is_finite(x) && cb != real(0.0));
}}

// The zoom's next trial inside [low, high]: the cubic's, else the quadratic's, else the middle.
fn zoom_middle(low: real, flow: real, slow: real, high: real, fhigh: real, cref: real, fcref: real) -> real {{
    let delta = abs(high - low);
    let left = min(high, low);
    let right = max(high, low);
    let cubic = zoom_cubicmin(low, flow, slow, high, fhigh, cref, fcref);
    if (cubic > left + real(0.2) * delta && cubic < right - real(0.2) * delta) {{
        return cubic;
    }}
    let quad = zoom_quadmin(low, flow, slow, high, fhigh);
    if (quad > left + real(0.1) * delta && quad < right - real(0.1) * delta) {{
        return quad;
    }}
    return (low + high) / real(2.0);
}}
"#
    )
}

/// CPU twin of `zoom_decrease_error`.
#[allow(clippy::too_many_arguments)]
fn decrease_error<F: Real>(t: F, v: F, sl: F, f0: F, s0: F, c: F, approx: F, big: F) -> F {
    if !(v.is_finite() && sl.is_finite()) {
        return big;
    }
    let (one, two) = (F::from_f64(1.0), F::from_f64(2.0));
    let armijo = v - f0 - c * t * s0;
    let approximate = (sl - (two * c - one) * s0).max(v - f0 - approx * f0.abs());
    approximate.min(armijo).max(F::default())
}

/// CPU twin of `zoom_curvature_error`.
fn curvature_error<F: Real>(sl: F, s0: F, curvature: F, big: F) -> F {
    if !sl.is_finite() {
        return big;
    }
    (sl.abs() - curvature * s0.abs()).max(F::default())
}

/// CPU twin of `zoom_cubicmin`.
#[allow(clippy::too_many_arguments)]
fn cubicmin<F: Real>(a: F, fa: F, fpa: F, b: F, fb: F, c: F, fc: F, big: F) -> F {
    let zero = F::default();
    let db = b - a;
    let dc = c - a;
    let denom = (db * dc) * (db * dc) * (db - dc);
    let r0 = fb - fa - fpa * db;
    let r1 = fc - fa - fpa * dc;
    let ca = (dc * dc * r0 - db * db * r1) / denom;
    let cb = (db * db * db * r1 - dc * dc * dc * r0) / denom;
    let radical = cb * cb - F::from_f64(3.0) * ca * fpa;
    if !(denom != zero && ca.is_finite() && cb.is_finite() && ca != zero && radical >= zero) {
        return big;
    }
    let x = a + (-cb + radical.sqrt()) / (F::from_f64(3.0) * ca);
    if x.is_finite() {
        x
    } else {
        big
    }
}

/// CPU twin of `zoom_quadmin`.
fn quadmin<F: Real>(a: F, fa: F, fpa: F, b: F, fb: F, big: F) -> F {
    let db = b - a;
    let cb = (fb - fa - fpa * db) / (db * db);
    let x = a - fpa / (F::from_f64(2.0) * cb);
    if x.is_finite() && cb != F::default() {
        x
    } else {
        big
    }
}

/// CPU twin of `zoom_middle`.
#[allow(clippy::too_many_arguments)]
fn middle<F: Real>(low: F, flow: F, slow: F, high: F, fhigh: F, cref: F, fcref: F, big: F) -> F {
    let delta = (high - low).abs();
    let (left, right) = (high.min(low), high.max(low));
    let cubic = cubicmin(low, flow, slow, high, fhigh, cref, fcref, big);
    let (c2, c1) = (F::from_f64(0.2), F::from_f64(0.1));
    if cubic > left + c2 * delta && cubic < right - c2 * delta {
        return cubic;
    }
    let quad = quadmin(low, flow, slow, high, fhigh, big);
    if quad > left + c1 * delta && quad < right - c1 * delta {
        return quad;
    }
    (low + high) / F::from_f64(2.0)
}

/// WGSL right after the evaluation: judge the trial (see the module docs); `continue` to the
/// next trial's evaluation, or fall through with the accepted point.
pub fn wgsl_judge(w: &super::linesearch::WgslParts) -> String {
    let d = w.dim;
    let mut s = String::new();
    let slope = (0..d).map(|j| format!("g{j} * lsd{j}")).collect::<Vec<_>>().join(" + ");
    let i2 = format!("{IND}    ");
    let i3 = format!("{IND}        ");
    let i4 = format!("{IND}            ");
    emit!(s, "{IND}if (ls_phase > real(0.0)) {{");
    emit!(s, "{i2}var ls_go = false;");
    emit!(s, "{i2}var ls_next = real(0.0);");
    emit!(s, "{i2}if (ls_phase != real(3.0)) {{");
    emit!(s, "{i3}let ls_cur = ls_t;");
    emit!(s, "{i3}let ls_sl = {slope};");
    emit!(s, "{i3}let ls_de = zoom_decrease_error(ls_cur, loss, ls_sl, ls_f0, ls_slope, linesearch_c, linesearch_approx_rtol);");
    emit!(s, "{i3}let ls_done = max(ls_de, zoom_curvature_error(ls_sl, ls_slope, linesearch_curvature)) <= real(0.0);");
    emit!(s, "{i3}var ls_failed_now = false;");
    emit!(s, "{i3}if (ls_phase == real(1.0)) {{");
    emit!(s, "{i4}if (ls_de <= real(0.0)) {{ ls_safe_t = ls_cur; ls_safe_f = loss; }}");
    emit!(s, "{i4}let high_new = ls_de > real(0.0) || (loss >= ls_prev_f && ls_count > real(0.0));");
    emit!(s, "{i4}let low_new = ls_sl >= real(0.0) && !high_new;");
    emit!(s, "{i4}if (low_new) {{");
    emit!(s, "{i4}    ls_low = ls_cur; ls_flow = loss; ls_slow = ls_sl; ls_high = ls_prev_t; ls_fhigh = ls_prev_f; ls_shigh = ls_prev_s;");
    emit!(s, "{i4}}} else {{");
    emit!(s, "{i4}    ls_low = ls_prev_t; ls_flow = ls_prev_f; ls_slow = ls_prev_s; ls_high = ls_cur; ls_fhigh = loss; ls_shigh = ls_sl;");
    emit!(s, "{i4}}}");
    emit!(s, "{i4}ls_cref = ls_low;");
    emit!(s, "{i4}ls_fcref = ls_flow;");
    emit!(s, "{i4}if (high_new || low_new || ls_done) {{ ls_phase = real(2.0); }}");
    emit!(s, "{i4}ls_failed_now = ls_count + real(1.0) >= linesearch_max_steps && !ls_done;");
    emit!(s, "{i3}}} else {{");
    emit!(s, "{i4}let too_small = abs(ls_high - ls_low) <= linesearch_interval_tol;");
    emit!(s, "{i4}if (ls_de <= real(0.0) && loss < ls_safe_f) {{ ls_safe_t = ls_cur; ls_safe_f = loss; }}");
    emit!(s, "{i4}let high_mid = ls_de > real(0.0) || loss >= ls_flow;");
    emit!(s, "{i4}let high_low = ls_sl * (ls_high - ls_low) >= real(0.0) && !high_mid;");
    emit!(s, "{i4}let cref_t = select(ls_low, ls_high, high_mid || high_low);");
    emit!(s, "{i4}let cref_f = select(ls_flow, ls_fhigh, high_mid || high_low);");
    emit!(s, "{i4}if (high_mid) {{");
    emit!(s, "{i4}    ls_high = ls_cur; ls_fhigh = loss; ls_shigh = ls_sl;");
    emit!(s, "{i4}}} else {{");
    emit!(s, "{i4}    if (high_low) {{ ls_high = ls_low; ls_fhigh = ls_flow; ls_shigh = ls_slow; }}");
    emit!(s, "{i4}    ls_low = ls_cur; ls_flow = loss; ls_slow = ls_sl;");
    emit!(s, "{i4}}}");
    emit!(s, "{i4}ls_cref = cref_t;");
    emit!(s, "{i4}ls_fcref = cref_f;");
    emit!(s, "{i4}ls_failed_now = (ls_count + real(1.0) >= linesearch_max_steps || (too_small && ls_safe_t > real(0.0))) && !ls_done;");
    emit!(s, "{i3}}}");
    emit!(s, "{i3}ls_prev_t = ls_cur;");
    emit!(s, "{i3}ls_prev_f = loss;");
    emit!(s, "{i3}ls_prev_s = ls_sl;");
    emit!(s, "{i3}ls_count = ls_count + real(1.0);");
    emit!(s, "{i3}if (ls_failed_now) {{");
    // optax's _try_safe_step: the safe step where there is one (or the search left the domain).
    emit!(s, "{i3}    if ((ls_safe_t > real(0.0) || ls_de >= ZOOM_BIG) && ls_safe_t != ls_cur) {{");
    emit!(s, "{i3}        ls_go = true; ls_next = ls_safe_t; ls_phase = real(3.0);");
    emit!(s, "{i3}    }}");
    emit!(s, "{i3}}} else if (!ls_done) {{");
    emit!(s, "{i3}    ls_go = true;");
    emit!(s, "{i3}    if (ls_phase == real(1.0)) {{");
    emit!(s, "{i3}        ls_next = linesearch_increase * ls_cur;");
    emit!(s, "{i3}    }} else {{");
    emit!(s, "{i3}        ls_next = zoom_middle(ls_low, ls_flow, ls_slow, ls_high, ls_fhigh, ls_cref, ls_fcref);");
    emit!(s, "{i3}    }}");
    emit!(s, "{i3}}}");
    emit!(s, "{i2}}}");
    emit!(s, "{i2}if (ls_go) {{");
    emit!(s, "{i2}    ls_t = ls_next;");
    for j in 0..d {
        emit!(s, "{i2}    x{j} = lsx{j} + ls_next * lsd{j};");
    }
    emit!(s, "{i2}    evals = evals + 1u;");
    emit!(s, "{i2}    continue;");
    emit!(s, "{i2}}}");
    emit!(s, "{i2}ls_phase = real(0.0);");
    emit!(s, "{i2}ls_t = real(0.0);");
    s += &super::linesearch::wgsl_measure(w, &i2);
    emit!(s, "{IND}}}");
    s
}

/// WGSL right after the method's update, after the start every search shares
/// (linesearch::wgsl_start: x_k, d, f₀, s₀): optax's init_fn, with the interval search's first
/// trial η = 1, the proposal itself.
pub fn wgsl_start() -> String {
    let mut s = String::new();
    for (name, value) in [
        ("ls_prev_t", "real(0.0)"),
        ("ls_prev_f", "loss"),
        ("ls_prev_s", "ls_slope"),
        ("ls_low", "real(0.0)"),
        ("ls_flow", "loss"),
        ("ls_slow", "ls_slope"),
        ("ls_high", "real(0.0)"),
        ("ls_fhigh", "loss"),
        ("ls_shigh", "ls_slope"),
        ("ls_cref", "real(0.0)"),
        ("ls_fcref", "loss"),
        ("ls_safe_t", "real(0.0)"),
        ("ls_safe_f", "loss"),
        ("ls_count", "real(0.0)"),
        ("ls_phase", "real(1.0)"),
        ("ls_t", "real(1.0)"),
    ] {
        emit!(s, "{IND}{name} = {value};");
    }
    s
}

/// The parameters' positions among the hyperparameters, in [`PARAMS`] order.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub c: usize,
    pub curvature: usize,
    pub max_steps: usize,
    pub increase: usize,
    pub approx: usize,
    pub interval: usize,
}

impl Params {
    pub fn new(at: &[usize]) -> Params {
        Params { c: at[P_C], curvature: at[P_CURVATURE], max_steps: at[P_MAX_STEPS], increase: at[P_INCREASE], approx: at[P_APPROX], interval: at[P_INTERVAL] }
    }
}

/// CPU twin of [`wgsl_judge`] for lane `i`: the trial's loss `v` and slope `sl` given, the
/// search's scalars `z` (in [`SCALARS`] order) updated. Returns the next trial's η, or None
/// where the search ends at the point just evaluated.
#[allow(clippy::too_many_arguments)]
fn cpu_judge_lane<F: Real>(z: &mut [F; 18], v: F, sl: F, hyper: &[V<F>], q: Params, i: usize, big: F) -> Option<F> {
    let zero = F::default();
    let one = F::from_f64(1.0);
    if z[PHASE] == F::from_f64(3.0) {
        return None;
    }
    let cur = z[T];
    let de = decrease_error(cur, v, sl, z[F0], z[S0], hyper[q.c][i], hyper[q.approx][i], big);
    let done = de.max(curvature_error(sl, z[S0], hyper[q.curvature][i], big)) <= zero;
    let max_steps = hyper[q.max_steps][i];
    let failed;
    if z[PHASE] == one {
        if de <= zero {
            (z[SAFE_T], z[SAFE_F]) = (cur, v);
        }
        let high_new = de > zero || (v >= z[PREV_F] && z[COUNT] > zero);
        let low_new = sl >= zero && !high_new;
        if low_new {
            (z[LOW], z[F_LOW], z[S_LOW], z[HIGH], z[F_HIGH], z[S_HIGH]) = (cur, v, sl, z[PREV_T], z[PREV_F], z[PREV_S]);
        } else {
            (z[LOW], z[F_LOW], z[S_LOW], z[HIGH], z[F_HIGH], z[S_HIGH]) = (z[PREV_T], z[PREV_F], z[PREV_S], cur, v, sl);
        }
        (z[CREF], z[F_CREF]) = (z[LOW], z[F_LOW]);
        if high_new || low_new || done {
            z[PHASE] = F::from_f64(2.0);
        }
        failed = z[COUNT] + one >= max_steps && !done;
    } else {
        let too_small = (z[HIGH] - z[LOW]).abs() <= hyper[q.interval][i];
        if de <= zero && v < z[SAFE_F] {
            (z[SAFE_T], z[SAFE_F]) = (cur, v);
        }
        let high_mid = de > zero || v >= z[F_LOW];
        let high_low = sl * (z[HIGH] - z[LOW]) >= zero && !high_mid;
        let cref = if high_mid || high_low { (z[HIGH], z[F_HIGH]) } else { (z[LOW], z[F_LOW]) };
        if high_mid {
            (z[HIGH], z[F_HIGH], z[S_HIGH]) = (cur, v, sl);
        } else {
            if high_low {
                (z[HIGH], z[F_HIGH], z[S_HIGH]) = (z[LOW], z[F_LOW], z[S_LOW]);
            }
            (z[LOW], z[F_LOW], z[S_LOW]) = (cur, v, sl);
        }
        (z[CREF], z[F_CREF]) = cref;
        failed = (z[COUNT] + one >= max_steps || (too_small && z[SAFE_T] > zero)) && !done;
    }
    (z[PREV_T], z[PREV_F], z[PREV_S]) = (cur, v, sl);
    z[COUNT] = z[COUNT] + one;
    if failed {
        if (z[SAFE_T] > zero || de >= big) && z[SAFE_T] != cur {
            z[PHASE] = F::from_f64(3.0);
            return Some(z[SAFE_T]);
        }
        None
    } else if !done {
        if z[PHASE] == one {
            Some(hyper[q.increase][i] * cur)
        } else {
            Some(middle(z[LOW], z[F_LOW], z[S_LOW], z[HIGH], z[F_HIGH], z[CREF], z[F_CREF], big))
        }
    } else {
        None
    }
}

/// The search's scalars of lane `i` from its slots (`first` = the slot of `ls_t`), and back.
fn load<F: Real>(slots: &[V<F>], first: usize, i: usize) -> [F; 18] {
    std::array::from_fn(|k| slots[first + k][i])
}

fn store<F: Real>(slots: &mut [V<F>], first: usize, i: usize, z: &[F; 18]) {
    for (k, v) in z.iter().enumerate() {
        slots[first + k][i] = *v;
    }
}

/// CPU twin of [`wgsl_start`]'s scalars for lane `i` (`f0`, `s0` computed by the caller).
fn start_lane<F: Real>(f0: F, s0: F) -> [F; 18] {
    let (zero, one) = (F::default(), F::from_f64(1.0));
    let mut z = [zero; 18];
    z[F0] = f0;
    z[S0] = s0;
    (z[PREV_F], z[PREV_S]) = (f0, s0);
    (z[F_LOW], z[S_LOW]) = (f0, s0);
    (z[F_HIGH], z[S_HIGH]) = (f0, s0);
    z[F_CREF] = f0;
    z[SAFE_F] = f0;
    z[PHASE] = one;
    z[T] = one;
    z
}

/// CPU twin of [`wgsl_judge`] for every lane not held, lane by lane as the shader's
/// invocations.
pub fn cpu_judge<F: Real>(s: CpuSearch<'_, F>, v: Verdicts<'_, F>, step_tol: F) {
    let Verdicts { hold, retry, evals, last_step, step_res, .. } = v;
    let d = s.dim;
    let q = Params::new(&s.place.at);
    let first = at_scalar(d, 0);
    let big = F::MAX; // the CPU's ZOOM_BIG
    let zero = F::default();
    let loss = s.regs[s.loss as usize];
    for i in 0..LANES {
        retry[i] = false;
        if hold[i] || s.slots[first + PHASE][i] <= zero {
            continue;
        }
        let mut sl = zero;
        for (j, &g) in s.grad.iter().enumerate() {
            let t = s.regs[g as usize][i] * s.slots[at_lsd(d, j)][i];
            sl = if j == 0 { t } else { sl + t };
        }
        let mut z = load(s.slots, first, i);
        match cpu_judge_lane(&mut z, loss[i], sl, s.hyper, q, i, big) {
            Some(next) => {
                z[T] = next;
                store(s.slots, first, i, &z);
                for (j, &r) in s.vars.iter().enumerate() {
                    s.regs[r as usize][i] = s.slots[at_lsx(j)][i] + next * s.slots[at_lsd(d, j)][i];
                }
                evals[i] += 1;
                retry[i] = true;
                hold[i] = true;
            }
            None => {
                (z[PHASE], z[T]) = (zero, zero);
                store(s.slots, first, i, &z);
                measure_accepted(s.vars, s.regs, s.slots, s.lr, s.unit_step, i, last_step, step_res, step_tol);
            }
        }
    }
}

/// CPU twin of [`wgsl_start`]'s scalars for every lane not held (x_k, d, f₀ and s₀ set by
/// linesearch::cpu_start).
pub fn cpu_start<F: Real, const MASKED: bool>(slots: &mut [V<F>], dim: usize, loss: &V<F>, slope: &V<F>, hold: &[bool; LANES]) {
    for i in 0..LANES {
        if !(MASKED && hold[i]) {
            store(slots, at_scalar(dim, 0), i, &start_lane(loss[i], slope[i]));
        }
    }
}
