//! `lbfgs`: limited-memory BFGS with optax.lbfgs's semantics (optax/_src/transform.py,
//! `scale_by_lbfgs` and `_precondition_by_lbfgs`; alias.py, `lbfgs`), and by default its zoom
//! line search (see [`super::zoom`]). Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006,
//! §7.2, Algorithm 7.4 (the two-loop recursion).
//!
//! At x_k with gradient g_k (`gd`, so with the L2 weight decay where it is set), step k:
//! 1. the pair of the last step, stored now as optax stores it (on the next call):
//!    s = x_k − x_{k−1}, y = g_k − g_{k−1}, ρ = 1/(yᵀs) (0 where yᵀs = 0); all 0 at k = 0;
//! 2. the memory keeps the last `memory_size` pairs (10), newest first;
//! 3. γ = sᵀy/yᵀy (1 where yᵀy = 0) with `scale_init = 1`, γ₀ = min(1, 1/‖g₀‖) at k = 0;
//!    γ = 1 with `scale_init = 0`;
//! 4. q = g; newest to oldest: αᵢ = ρᵢ sᵢᵀq, q ← q − αᵢyᵢ; r = γq; oldest to newest:
//!    βᵢ = ρᵢ yᵢᵀr, r ← r + (αᵢ − βᵢ)sᵢ;
//! 5. d = −lr·r (`lbd`, the line search's direction), x₊ = x_k + d, its first trial (optax's
//!    learning_rate=None is lr = 1).
//!
//! The memory is a shift register (newest at entry 0) rather than optax's circular buffer: the
//! same pairs in the same order, with every index known when the kernel is generated, so the
//! state stays in registers. Entries past a run's `memory_size` stay 0, and a zero pair changes
//! nothing (α = β = 0), so the layout holds the block's largest memory_size and each run uses
//! its own. Per run that is 2·m·d + m + 2d + 1 reals for the method and 2d + 18 for the zoom.

//!
//! Lint note: index loops mirror the shader's unrolled statements.
#![allow(clippy::needless_range_loop)]

use super::lanes::{cpu_from_compiled, Build, Cmp, CompiledStep, CpuStep, Val};
use super::{wgsl_dot, Hyper, LineSearchKind, Method, Slot, SlotInit, WeightDecay, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

/// Most pairs a run may keep (the layout unrolls the memory into the kernel).
pub const MAX_MEMORY: usize = 64;
const MEMORY_SIZE: Hyper = Hyper::count("memory_size", 10.0, MAX_MEMORY as f64);
const SCALE_INIT: Hyper = Hyper { default: 1.0, max_open: false, switch: true, ..Hyper::rate("scale_init", 1.0) };
const H_MEMORY: usize = 0;
const H_SCALE_INIT: usize = 1;

/// The previous point and gradient, the pairs (s, y) and their ρ, newest first, and the steps
/// taken (optax's `count`).
const SLOTS: &[Slot] = &[
    Slot::per_coordinate("lbp", SlotInit::Value(0.0)),
    Slot::per_coordinate("lbg", SlotInit::Value(0.0)),
    Slot::per_memory("lbs", true, SlotInit::Value(0.0)),
    Slot::per_memory("lby", true, SlotInit::Value(0.0)),
    Slot::per_memory("lbr", false, SlotInit::Value(0.0)),
    Slot::scalar("lbn", SlotInit::Value(0.0)),
    Slot::per_coordinate("lbd", SlotInit::Value(0.0)),
];
const P: usize = 0;
const G: usize = 1;
const S: usize = 2;
const Y: usize = 3;
const R: usize = 4;
const N: usize = 5;
const D: usize = 6;

pub const METHOD: Method = Method {
    name: "lbfgs",
    aliases: &[],
    hypers: &[MEMORY_SIZE, SCALE_INIT, WEIGHT_DECAY],
    slots: SLOTS,
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: None,
    hessian: false,
    may_stop: false,
    default_linesearch: Some(LineSearchKind::Zoom),
    direction: Some("lbd"),
    unit_step: true,
    linesearch_defaults: &[],
    coordinatewise: false,
    compiled: Some(compiled),
};

fn wgsl(dim: usize, memory: usize) -> String {
    let mut s = String::new();
    emit!(s, "{IND}let lb_first = lbn == real(0.0);");
    for j in 0..dim {
        emit!(s, "{IND}let lbs_new{j}: real = select(x{j} - lbp{j}, real(0.0), lb_first);");
        emit!(s, "{IND}let lby_new{j}: real = select(gd{j} - lbg{j}, real(0.0), lb_first);");
    }
    emit!(s, "{IND}let lb_ys: real = {};", wgsl_dot(dim, |j| format!("lby_new{j}"), |j| format!("lbs_new{j}")));
    emit!(s, "{IND}let lb_yy: real = {};", wgsl_dot(dim, |j| format!("lby_new{j}"), |j| format!("lby_new{j}")));
    emit!(s, "{IND}let lb_rho: real = select(select(real(1.0) / lb_ys, real(0.0), lb_ys == real(0.0)), real(0.0), lb_first);");
    // The shift register: entry k takes entry k − 1 (0 past the run's memory_size).
    for k in (1..memory).rev() {
        let keep = format!("real({k}.0) < memory_size");
        for j in 0..dim {
            emit!(s, "{IND}lbs{k}_{j} = select(real(0.0), lbs{}_{j}, {keep});", k - 1);
            emit!(s, "{IND}lby{k}_{j} = select(real(0.0), lby{}_{j}, {keep});", k - 1);
        }
        emit!(s, "{IND}lbr{k} = select(real(0.0), lbr{}, {keep});", k - 1);
    }
    for j in 0..dim {
        emit!(s, "{IND}lbs0_{j} = lbs_new{j};");
        emit!(s, "{IND}lby0_{j} = lby_new{j};");
    }
    emit!(s, "{IND}lbr0 = lb_rho;");
    emit!(s, "{IND}let lb_gnorm: real = sqrt({});", wgsl_dot(dim, |j| format!("gd{j}"), |j| format!("gd{j}")));
    emit!(s, "{IND}var lb_gamma: real = real(1.0);");
    emit!(s, "{IND}if (scale_init != real(0.0)) {{");
    emit!(s, "{IND}    lb_gamma = select(select(real(1.0), lb_ys / lb_yy, lb_yy > real(0.0)), min(real(1.0), real(1.0) / lb_gnorm), lb_first);");
    emit!(s, "{IND}}}");
    for j in 0..dim {
        emit!(s, "{IND}var lbq{j}: real = gd{j};");
    }
    for k in 0..memory {
        emit!(s, "{IND}let lba{k}: real = lbr{k} * ({});", wgsl_dot(dim, |j| format!("lbs{k}_{j}"), |j| format!("lbq{j}")));
        for j in 0..dim {
            emit!(s, "{IND}lbq{j} = lbq{j} - lba{k} * lby{k}_{j};");
        }
    }
    for j in 0..dim {
        emit!(s, "{IND}lbq{j} = lb_gamma * lbq{j};");
    }
    for k in (0..memory).rev() {
        emit!(s, "{IND}let lbb{k}: real = lbr{k} * ({});", wgsl_dot(dim, |j| format!("lby{k}_{j}"), |j| format!("lbq{j}")));
        for j in 0..dim {
            emit!(s, "{IND}lbq{j} = lbq{j} + (lba{k} - lbb{k}) * lbs{k}_{j};");
        }
    }
    for j in 0..dim {
        emit!(s, "{IND}lbp{j} = x{j};");
        emit!(s, "{IND}lbg{j} = gd{j};");
        emit!(s, "{IND}lbd{j} = -(lr{j} * lbq{j});");
        emit!(s, "{IND}x{j} = x{j} + lbd{j};");
    }
    emit!(s, "{IND}lbn = lbn + real(1.0);");
    s
}

/// CPU twin of [`wgsl`]: its description ([`compiled`]) on every lane.
#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(st: CpuStep<'_, F>) {
    cpu_from_compiled::<F, MASKED>(compiled, SLOTS, st)
}

/// The update as the compiled kernel and the CPU twin run it, in [`wgsl`]'s order of
/// operations (every branch of the shader's per-run `select`s computed, then chosen).
fn compiled(b: &mut dyn Build, st: CompiledStep<'_>) {
    let (d, m) = (st.dim, st.memory);
    let at = |slot: usize, k: usize, j: usize| match slot {
        P => j,
        G => d + j,
        S => 2 * d + k * d + j,
        Y => 2 * d + m * d + k * d + j,
        R => 2 * d + 2 * m * d + k,
        N => 2 * d + 2 * m * d + m,
        _ => 2 * d + 2 * m * d + m + 1 + j,
    };
    let (zero, one) = (b.constant(0.0), b.constant(1.0));
    let n = st.slots[at(N, 0, 0)];
    let first = b.cmp(Cmp::Eq, n, zero);
    let mut s_new = Vec::with_capacity(d);
    let mut y_new = Vec::with_capacity(d);
    for j in 0..d {
        let ds = b.sub(st.x[j], st.slots[at(P, 0, j)]);
        s_new.push(b.select(first, zero, ds));
        let dy = b.sub(st.gd[j], st.slots[at(G, 0, j)]);
        y_new.push(b.select(first, zero, dy));
    }
    let ys = b.dot(d, &|j| y_new[j], &|j| s_new[j]);
    let yy = b.dot(d, &|j| y_new[j], &|j| y_new[j]);
    let inverse = b.div(one, ys);
    let no_pair = b.cmp(Cmp::Eq, ys, zero);
    let no_pair = b.or(first, no_pair);
    let rho = b.select(no_pair, zero, inverse);
    // The shift register: entry k takes entry k − 1 (0 past the run's memory_size).
    let memory_size = b.hyper(H_MEMORY);
    for k in (1..m).rev() {
        let entry = b.constant(k as f64);
        let keep = b.cmp(Cmp::Lt, entry, memory_size);
        for j in 0..d {
            st.slots[at(S, k, j)] = b.select(keep, st.slots[at(S, k - 1, j)], zero);
            st.slots[at(Y, k, j)] = b.select(keep, st.slots[at(Y, k - 1, j)], zero);
        }
        st.slots[at(R, k, 0)] = b.select(keep, st.slots[at(R, k - 1, 0)], zero);
    }
    for j in 0..d {
        st.slots[at(S, 0, j)] = s_new[j];
        st.slots[at(Y, 0, j)] = y_new[j];
    }
    st.slots[at(R, 0, 0)] = rho;
    let gg = b.dot(d, &|j| st.gd[j], &|j| st.gd[j]);
    let gnorm = b.sqrt(gg);
    let inverse_norm = b.div(one, gnorm);
    let gamma_first = b.min(one, inverse_norm);
    let curved = b.cmp(Cmp::Gt, yy, zero);
    let ratio = b.div(ys, yy);
    let gamma_later = b.select(curved, ratio, one);
    let gamma = b.select(first, gamma_first, gamma_later);
    let scale_init = b.hyper(H_SCALE_INIT);
    let unscaled = b.cmp(Cmp::Eq, scale_init, zero);
    let gamma = b.select(unscaled, one, gamma);
    let mut q: Vec<Val> = st.gd.to_vec();
    let mut alpha = Vec::with_capacity(m);
    for k in 0..m {
        let sq = b.dot(d, &|j| st.slots[at(S, k, j)], &|j| q[j]);
        let a = b.mul(st.slots[at(R, k, 0)], sq);
        for j in 0..d {
            let t = b.mul(a, st.slots[at(Y, k, j)]);
            q[j] = b.sub(q[j], t);
        }
        alpha.push(a);
    }
    for qj in q.iter_mut() {
        *qj = b.mul(gamma, *qj);
    }
    for k in (0..m).rev() {
        let yr = b.dot(d, &|j| st.slots[at(Y, k, j)], &|j| q[j]);
        let beta = b.mul(st.slots[at(R, k, 0)], yr);
        let coef = b.sub(alpha[k], beta);
        for j in 0..d {
            let t = b.mul(coef, st.slots[at(S, k, j)]);
            q[j] = b.add(q[j], t);
        }
    }
    for j in 0..d {
        st.slots[at(P, 0, j)] = st.x[j];
        st.slots[at(G, 0, j)] = st.gd[j];
    }
    for j in 0..d {
        let step = b.mul(st.lrj[j], q[j]);
        let dj = b.neg(step);
        st.slots[at(D, 0, j)] = dj;
        st.x[j] = b.add(st.x[j], dj);
    }
    st.slots[at(N, 0, 0)] = b.add(n, one);
}
