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

use super::lanes::{Build, Cmp, Val};
use super::linesearch::{at_lsd, at_lsx, at_scalar, measure_accepted, Judge, Verdict};
use super::{Hyper, KnobParam, Slot, SlotInit, IND};


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

/// The description of `zoom_decrease_error` (compiled step loop and CPU twin).
#[allow(clippy::too_many_arguments)]
fn decrease_error(b: &mut dyn Build, t: Val, v: Val, sl: Val, f0: Val, s0: Val, c: Val, approx: Val, big: Val) -> Val {
    let (one, two, zero) = (b.constant(1.0), b.constant(2.0), b.constant(0.0));
    let (v_ok, sl_ok) = (b.finite(v), b.finite(sl));
    let finite = b.and(v_ok, sl_ok);
    let rise = b.sub(v, f0);
    let ct = b.mul(c, t);
    let expected = b.mul(ct, s0);
    let armijo = b.sub(rise, expected);
    let two_c = b.mul(two, c);
    let factor = b.sub(two_c, one);
    let scaled = b.mul(factor, s0);
    let by_slope = b.sub(sl, scaled);
    let f0_abs = b.abs(f0);
    let allowance = b.mul(approx, f0_abs);
    let by_value = b.sub(rise, allowance);
    let approximate = b.max(by_slope, by_value);
    let error = b.min(approximate, armijo);
    let error = b.max(error, zero);
    b.select(finite, error, big)
}

/// The description of `zoom_curvature_error`.
fn curvature_error(b: &mut dyn Build, sl: Val, s0: Val, curvature: Val, big: Val) -> Val {
    let zero = b.constant(0.0);
    let finite = b.finite(sl);
    let (sl_abs, s0_abs) = (b.abs(sl), b.abs(s0));
    let allowed = b.mul(curvature, s0_abs);
    let excess = b.sub(sl_abs, allowed);
    let error = b.max(excess, zero);
    b.select(finite, error, big)
}

/// The description of `zoom_cubicmin`.
#[allow(clippy::too_many_arguments)]
fn cubicmin(b: &mut dyn Build, a: Val, fa: Val, fpa: Val, bb: Val, fb: Val, c: Val, fc: Val, big: Val) -> Val {
    let (zero, three) = (b.constant(0.0), b.constant(3.0));
    let db = b.sub(bb, a);
    let dc = b.sub(c, a);
    let dbdc = b.mul(db, dc);
    let square = b.mul(dbdc, dbdc);
    let gap = b.sub(db, dc);
    let denom = b.mul(square, gap);
    let (rise_b, rise_c) = (b.sub(fb, fa), b.sub(fc, fa));
    let (lin_b, lin_c) = (b.mul(fpa, db), b.mul(fpa, dc));
    let r0 = b.sub(rise_b, lin_b);
    let r1 = b.sub(rise_c, lin_c);
    let (dc2, db2) = (b.mul(dc, dc), b.mul(db, db));
    let (t0, t1) = (b.mul(dc2, r0), b.mul(db2, r1));
    let ca = b.sub(t0, t1);
    let ca = b.div(ca, denom);
    let (db3, dc3) = (b.mul(db2, db), b.mul(dc2, dc));
    let (t2, t3) = (b.mul(db3, r1), b.mul(dc3, r0));
    let cb = b.sub(t2, t3);
    let cb = b.div(cb, denom);
    let cb2 = b.mul(cb, cb);
    let three_ca = b.mul(three, ca);
    let t4 = b.mul(three_ca, fpa);
    let radical = b.sub(cb2, t4);
    let valid = [b.cmp(Cmp::Ne, denom, zero), b.finite(ca), b.finite(cb), b.cmp(Cmp::Ne, ca, zero), b.cmp(Cmp::Ge, radical, zero)];
    let root = b.sqrt(radical);
    let minus_cb = b.neg(cb);
    let top = b.add(minus_cb, root);
    let offset = b.div(top, three_ca);
    let x = b.add(a, offset);
    let x_finite = b.finite(x);
    let valid = b.all(&valid);
    let valid = b.and(valid, x_finite);
    b.select(valid, x, big)
}

/// The description of `zoom_quadmin`.
fn quadmin(b: &mut dyn Build, a: Val, fa: Val, fpa: Val, bb: Val, fb: Val, big: Val) -> Val {
    let (zero, two) = (b.constant(0.0), b.constant(2.0));
    let db = b.sub(bb, a);
    let rise = b.sub(fb, fa);
    let lin = b.mul(fpa, db);
    let top = b.sub(rise, lin);
    let db2 = b.mul(db, db);
    let cb = b.div(top, db2);
    let two_cb = b.mul(two, cb);
    let offset = b.div(fpa, two_cb);
    let x = b.sub(a, offset);
    let x_finite = b.finite(x);
    let curved = b.cmp(Cmp::Ne, cb, zero);
    let valid = b.and(x_finite, curved);
    b.select(valid, x, big)
}

/// The description of `zoom_middle`.
#[allow(clippy::too_many_arguments)]
fn middle(b: &mut dyn Build, low: Val, flow: Val, slow: Val, high: Val, fhigh: Val, cref: Val, fcref: Val, big: Val) -> Val {
    let span = b.sub(high, low);
    let delta = b.abs(span);
    let (left, right) = (b.min(high, low), b.max(high, low));
    let cubic = cubicmin(b, low, flow, slow, high, fhigh, cref, fcref, big);
    let inside = |b: &mut dyn Build, x: Val, guard: f64| {
        let g = b.constant(guard);
        let margin = b.mul(g, delta);
        let (lo, hi) = (b.add(left, margin), b.sub(right, margin));
        let (above, below) = (b.cmp(Cmp::Gt, x, lo), b.cmp(Cmp::Lt, x, hi));
        b.and(above, below)
    };
    let cubic_inside = inside(b, cubic, 0.2);
    let quad = quadmin(b, low, flow, slow, high, fhigh, big);
    let quad_inside = inside(b, quad, 0.1);
    let two = b.constant(2.0);
    let sum = b.add(low, high);
    let half = b.div(sum, two);
    let chosen = b.select(quad_inside, quad, half);
    b.select(cubic_inside, cubic, chosen)
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

/// The description of [`wgsl_judge`] (compiled step loop and CPU twin; see
/// linesearch::judge): both of the shader's branches computed per lane, then chosen. The
/// zoom never fails a run: a failed search takes its fallback step.
pub(super) fn judge(b: &mut dyn Build, mut j: Judge<'_>) -> Verdict {
    let d = j.dim;
    let q = Params::new(&j.at);
    let first = at_scalar(d, 0);
    let mut z: [Val; 18] = std::array::from_fn(|k| j.slots[first + k]);
    let (zero, one, two, three) = (b.constant(0.0), b.constant(1.0), b.constant(2.0), b.constant(3.0));
    let big = b.constant(j.big);
    let searching = b.cmp(Cmp::Gt, z[PHASE], zero);
    let fallback = b.cmp(Cmp::Eq, z[PHASE], three);
    let not_fallback = b.not(fallback);
    let judging = b.and(searching, not_fallback);
    let (v, cur) = (j.loss, z[T]);
    let sl = b.dot(d, &|k| j.grad[k], &|k| j.slots[at_lsd(d, k)]);
    let (c, approx, curvature) = (b.hyper(q.c), b.hyper(q.approx), b.hyper(q.curvature));
    let de = decrease_error(b, cur, v, sl, z[F0], z[S0], c, approx, big);
    let ce = curvature_error(b, sl, z[S0], curvature, big);
    let worst = b.max(de, ce);
    let done = b.cmp(Cmp::Le, worst, zero);
    let not_done = b.not(done);
    let max_steps = b.hyper(q.max_steps);
    let counted = b.add(z[COUNT], one);
    let out_of_trials = b.cmp(Cmp::Ge, counted, max_steps);
    let decreased = b.cmp(Cmp::Le, de, zero);
    let no_decrease = b.cmp(Cmp::Gt, de, zero);

    // The interval search (phase 1).
    let mut z1 = z;
    z1[SAFE_T] = b.select(decreased, cur, z[SAFE_T]);
    z1[SAFE_F] = b.select(decreased, v, z[SAFE_F]);
    let not_lower = b.cmp(Cmp::Ge, v, z[PREV_F]);
    let counted_before = b.cmp(Cmp::Gt, z[COUNT], zero);
    let rose = b.and(not_lower, counted_before);
    let high_new = b.or(no_decrease, rose);
    let not_high = b.not(high_new);
    let climbing = b.cmp(Cmp::Ge, sl, zero);
    let low_new = b.and(climbing, not_high);
    for (end, own, prev) in [(LOW, cur, PREV_T), (F_LOW, v, PREV_F), (S_LOW, sl, PREV_S)] {
        z1[end] = b.select(low_new, own, z[prev]);
    }
    for (end, own, prev) in [(HIGH, cur, PREV_T), (F_HIGH, v, PREV_F), (S_HIGH, sl, PREV_S)] {
        z1[end] = b.select(low_new, z[prev], own);
    }
    (z1[CREF], z1[F_CREF]) = (z1[LOW], z1[F_LOW]);
    let found = b.or(high_new, low_new);
    let found = b.or(found, done);
    z1[PHASE] = b.select(found, two, z[PHASE]);
    let failed1 = b.and(out_of_trials, not_done);

    // The zoom (phase 2).
    let mut z2 = z;
    let width = b.sub(z[HIGH], z[LOW]);
    let width_abs = b.abs(width);
    let interval = b.hyper(q.interval);
    let too_small = b.cmp(Cmp::Le, width_abs, interval);
    let lowest = b.cmp(Cmp::Lt, v, z[SAFE_F]);
    let safer = b.and(decreased, lowest);
    z2[SAFE_T] = b.select(safer, cur, z[SAFE_T]);
    z2[SAFE_F] = b.select(safer, v, z[SAFE_F]);
    let above_low = b.cmp(Cmp::Ge, v, z[F_LOW]);
    let high_mid = b.or(no_decrease, above_low);
    let not_high_mid = b.not(high_mid);
    let turn = b.mul(sl, width);
    let turned = b.cmp(Cmp::Ge, turn, zero);
    let high_low = b.and(turned, not_high_mid);
    let from_high = b.or(high_mid, high_low);
    z2[CREF] = b.select(from_high, z[HIGH], z[LOW]);
    z2[F_CREF] = b.select(from_high, z[F_HIGH], z[F_LOW]);
    for ((high, low), own) in [(HIGH, LOW), (F_HIGH, F_LOW), (S_HIGH, S_LOW)].into_iter().zip([cur, v, sl]) {
        let moved = b.select(high_low, z[low], z[high]);
        z2[high] = b.select(high_mid, own, moved);
        z2[low] = b.select(high_mid, z[low], own);
    }
    let safe_known = b.cmp(Cmp::Gt, z2[SAFE_T], zero);
    let narrow = b.and(too_small, safe_known);
    let stuck = b.or(out_of_trials, narrow);
    let failed2 = b.and(stuck, not_done);

    // Per lane the branch of its phase, then what both share.
    let in_phase1 = b.cmp(Cmp::Eq, z[PHASE], one);
    for k in 0..18 {
        z[k] = b.select(in_phase1, z1[k], z2[k]);
    }
    let not_phase1 = b.not(in_phase1);
    let (f1, f2) = (b.and(in_phase1, failed1), b.and(not_phase1, failed2));
    let failed = b.or(f1, f2);
    (z[PREV_T], z[PREV_F], z[PREV_S]) = (cur, v, sl);
    z[COUNT] = counted;
    // optax's _try_safe_step: the safe step where there is one (or the search left the domain).
    let safe_exists = b.cmp(Cmp::Gt, z[SAFE_T], zero);
    let left_domain = b.cmp(Cmp::Ge, de, big);
    let usable = b.or(safe_exists, left_domain);
    let elsewhere = b.cmp(Cmp::Ne, z[SAFE_T], cur);
    let go_safe = b.and(failed, usable);
    let go_safe = b.and(go_safe, elsewhere);
    z[PHASE] = b.select(go_safe, three, z[PHASE]);
    let not_failed = b.not(failed);
    let go_on = b.and(not_failed, not_done);
    let still_growing = b.cmp(Cmp::Eq, z[PHASE], one);
    let increase = b.hyper(q.increase);
    let grown = b.mul(increase, cur);
    // (the interpolation only where a judged lane goes on inside the interval)
    let zooming = b.not(still_growing);
    let zooming = b.and(zooming, go_on);
    let zooming = b.and(zooming, judging);
    let inner = b.if_any(zooming, &[grown], &mut |b| vec![middle(b, z[LOW], z[F_LOW], z[S_LOW], z[HIGH], z[F_HIGH], z[CREF], z[F_CREF], big)])[0];
    let next = b.select(still_growing, grown, inner);
    let next = b.select(go_safe, z[SAFE_T], next);
    let go = b.or(go_safe, go_on);
    let retry = b.and(judging, go);

    // The judged lanes take the new scalars; the lanes whose search ends (judged or falling
    // back) leave it, the others try `next`.
    let not_retry = b.not(retry);
    let accepted = b.and(searching, not_retry);
    for k in 0..18 {
        let judged = b.select(judging, z[k], j.slots[first + k]);
        j.slots[first + k] = match k {
            T => {
                let ended = b.select(accepted, zero, judged);
                b.select(retry, next, ended)
            }
            PHASE => b.select(accepted, zero, judged),
            _ => judged,
        };
    }
    for k in 0..d {
        let step = b.mul(next, j.slots[at_lsd(d, k)]);
        let trial = b.add(j.slots[at_lsx(k)], step);
        j.x[k] = b.select(retry, trial, j.x[k]);
    }
    measure_accepted(b, &mut j, accepted);
    let fail = b.cmp(Cmp::Ne, zero, zero);
    Verdict { retry, fail }
}

/// The description of [`wgsl_start`]'s scalars (`z`, in [`SCALARS`] order) from f₀ and s₀.
pub(super) fn start(b: &mut dyn Build, z: &mut [Val], f0: Val, s0: Val) {
    let (zero, one) = (b.constant(0.0), b.constant(1.0));
    for (k, v) in z.iter_mut().enumerate().take(SCALARS.len()) {
        *v = match k {
            F0 | PREV_F | F_LOW | F_HIGH | F_CREF | SAFE_F => f0,
            S0 | PREV_S | S_LOW | S_HIGH => s0,
            PHASE | T => one,
            _ => zero,
        };
    }
}
