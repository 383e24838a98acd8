//! `cg`: nonlinear conjugate gradient, Polak–Ribière+ with restarts, as argmin's
//! `NonlinearConjugateGradient` with `PolakRibierePlus` (Nocedal & Wright, *Numerical
//! Optimization*, 2nd ed., 2006, §5.2, (5.44)–(5.45)), and by default the zoom line search
//! (strong Wolfe, method::zoom; argmin's examples pair it with More–Thuente's, also a Wolfe
//! search) with curvature c₂ = 0.1, N&W's value for CG (§5.2): on Rosenbrock from (−1.2, 1) it
//! converges in 21–32 steps at lr 1 and 1e-3, against 36–4620 with c₂ = 0.9 (GD with either:
//! thousands). With backtracking from the run's lr, successive gradients stay nearly parallel,
//! PR+ clamps β to (nearly) 0 and CG is GD: on x² + 10y², the forum matrix and Rosenbrock its
//! runs ended within 1e-7 of GD's with the same search, after as many steps.
//!
//! At x_k with gradient g_k (`gd`): p₀ = −g₀; for k ≥ 1,
//! β = max(0, g_kᵀ(g_k − g_{k−1})/‖g_{k−1}‖²), or β = 0 (a restart) where k is a multiple of
//! `restart_every` (0: never) or |g_kᵀg_{k−1}|/‖g_k‖² ≥ `restart_orthogonality` (∞: never, as
//! argmin's default; N&W suggest ν = 0.1 with a line search accurate enough to make successive
//! gradients nearly orthogonal, which backtracking is not: with it, ν = 0.1 restarts every
//! step and CG is GD); p_k = −g_k + β·p_{k−1}; x₊ = x_k + lr·p_k, the
//! line search's first trial. Where p_k is no descent direction (g_kᵀp_k ≥ 0, which PR+ rules
//! out only under a strong-Wolfe search, not under backtracking), p_k = −g_k: a restart
//! argmin leaves to its line search.
//!
//! Lint note: index loops mirror the shader's unrolled statements.
#![allow(clippy::needless_range_loop)]

use super::lanes::{cpu_from_compiled, Build, Cmp, CompiledStep, CpuStep, Val};
use super::{wgsl_dot, Hyper, LineSearchKind, Method, Slot, SlotInit, WeightDecay, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

const RESTART_EVERY: Hyper = Hyper { min: 0.0, ..Hyper::count("restart_every", 0.0, 4294967295.0) };
/// argmin's default is no such restart (None): ∞ here.
const RESTART_ORTHOGONALITY: Hyper = Hyper { default: f64::INFINITY, ..Hyper::non_negative("restart_orthogonality", 0.0) };
const H_EVERY: usize = 0;
const H_ORTHOGONALITY: usize = 1;

/// The previous gradient and direction, and the steps taken.
const SLOTS: &[Slot] = &[
    Slot::per_coordinate("cgg", SlotInit::Value(0.0)),
    Slot::per_coordinate("cgp", SlotInit::Value(0.0)),
    Slot::scalar("cgn", SlotInit::Value(0.0)),
];

pub const METHOD: Method = Method {
    name: "cg",
    aliases: &[],
    hypers: &[RESTART_EVERY, RESTART_ORTHOGONALITY, WEIGHT_DECAY],
    slots: SLOTS,
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: None,
    hessian: false,
    may_stop: false,
    default_linesearch: Some(LineSearchKind::Zoom),
    direction: None,
    unit_step: false,
    linesearch_defaults: &[("curvature", 0.1)],
    coordinatewise: false,
    compiled: Some(compiled),
};

fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    emit!(s, "{IND}let cg_gg: real = {};", wgsl_dot(dim, |j| format!("gd{j}"), |j| format!("gd{j}")));
    emit!(s, "{IND}let cg_prev2: real = {};", wgsl_dot(dim, |j| format!("cgg{j}"), |j| format!("cgg{j}")));
    emit!(s, "{IND}let cg_cross: real = {};", wgsl_dot(dim, |j| format!("gd{j}"), |j| format!("cgg{j}")));
    emit!(s, "{IND}let cg_pr: real = ({}) / cg_prev2;", wgsl_dot(dim, |j| format!("gd{j}"), |j| format!("(gd{j} - cgg{j})")));
    emit!(s, "{IND}let cg_periodic = restart_every > real(0.0) && cgn - floor(cgn / restart_every) * restart_every == real(0.0);");
    emit!(s, "{IND}let cg_parallel = cg_gg > real(0.0) && abs(cg_cross) / cg_gg >= restart_orthogonality;");
    emit!(s, "{IND}let cg_beta: real = select(max(cg_pr, real(0.0)), real(0.0), cgn == real(0.0) || cg_periodic || cg_parallel);");
    for j in 0..dim {
        emit!(s, "{IND}var cgd{j}: real = -gd{j} + cg_beta * cgp{j};");
    }
    emit!(s, "{IND}if ({} >= real(0.0)) {{", wgsl_dot(dim, |j| format!("gd{j}"), |j| format!("cgd{j}")));
    for j in 0..dim {
        emit!(s, "{IND}    cgd{j} = -gd{j};");
    }
    emit!(s, "{IND}}}");
    for j in 0..dim {
        emit!(s, "{IND}cgp{j} = cgd{j};");
        emit!(s, "{IND}cgg{j} = gd{j};");
        emit!(s, "{IND}x{j} = x{j} + lr{j} * cgd{j};");
    }
    emit!(s, "{IND}cgn = cgn + real(1.0);");
    s
}

/// CPU twin of [`wgsl`]: its description ([`compiled`]) on every lane.
#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(st: CpuStep<'_, F>) {
    cpu_from_compiled::<F, MASKED>(compiled, SLOTS, st)
}

/// The update as the compiled kernel and the CPU twin run it, in [`wgsl`]'s order of
/// operations (both sides of its `select` and its `if` computed, then chosen).
fn compiled(b: &mut dyn Build, st: CompiledStep<'_>) {
    let d = st.dim;
    let (g_at, p_at, n_at) = (0, d, 2 * d);
    let zero = b.constant(0.0);
    let g = |j: usize| st.gd[j];
    let gp = |j: usize| st.slots[g_at + j];
    let gg = b.dot(d, &g, &g);
    let prev2 = b.dot(d, &gp, &gp);
    let cross = b.dot(d, &g, &gp);
    let change: Vec<Val> = (0..d).map(|j| b.sub(g(j), gp(j))).collect();
    let pr = b.dot(d, &g, &|j| change[j]);
    let pr = b.div(pr, prev2);
    let (n, every) = (st.slots[n_at], b.hyper(H_EVERY));
    let quotient = b.div(n, every);
    let whole = b.floor(quotient);
    let multiple = b.mul(whole, every);
    let rest = b.sub(n, multiple);
    let on = b.cmp(Cmp::Gt, every, zero);
    let due = b.cmp(Cmp::Eq, rest, zero);
    let periodic = b.and(on, due);
    let turning = b.cmp(Cmp::Gt, gg, zero);
    let size = b.abs(cross);
    let size = b.div(size, gg);
    let orthogonality = b.hyper(H_ORTHOGONALITY);
    let parallel = b.cmp(Cmp::Ge, size, orthogonality);
    let parallel = b.and(turning, parallel);
    let fresh = b.cmp(Cmp::Eq, n, zero);
    let restart = b.or(fresh, periodic);
    let restart = b.or(restart, parallel);
    let pr_plus = b.max(pr, zero);
    let beta = b.select(restart, zero, pr_plus);
    let mut p = Vec::with_capacity(d);
    for j in 0..d {
        let down = b.neg(g(j));
        let carried = b.mul(beta, st.slots[p_at + j]);
        p.push(b.add(down, carried));
    }
    let slope = b.dot(d, &g, &|j| p[j]);
    let uphill = b.cmp(Cmp::Ge, slope, zero);
    for j in 0..d {
        let down = b.neg(g(j));
        p[j] = b.select(uphill, down, p[j]);
    }
    for j in 0..d {
        st.slots[p_at + j] = p[j];
        st.slots[g_at + j] = st.gd[j];
        let step = b.mul(st.lrj[j], p[j]);
        st.x[j] = b.add(st.x[j], step);
    }
    let one = b.constant(1.0);
    st.slots[n_at] = b.add(n, one);
}
