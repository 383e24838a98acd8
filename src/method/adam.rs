//! `adam` (torch.optim.Adam; Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR
//! 2015): t ← t+1; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
//! x ← x − (lr/(1−β₁ᵗ))·(m / (√v/√(1−β₂ᵗ) + ε)).
//!
//! The bias corrections use running products β₁ᵗ, β₂ᵗ kept in the state (`b1t`, `b2t`), so both
//! backends compute them with the same multiplications. No stability bound: the step adapts.

use super::lanes::{keep, Build, CompiledStep, CpuStep, LANES, V};
use super::{Hyper, Method, Slot, SlotInit, WeightDecay, EPS, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

pub const BETA1: Hyper = Hyper::rate("beta1", 0.9);
pub const BETA2: Hyper = Hyper::rate("beta2", 0.999);
const H_BETA1: usize = 0;
const H_BETA2: usize = 1;
const H_EPS: usize = 2;
/// m, v per coordinate, then the running products β₁ᵗ, β₂ᵗ (shared with adamw).
pub const SLOTS: &[Slot] = &[
    Slot::per_coordinate("m", SlotInit::Value(0.0)),
    Slot::per_coordinate("v", SlotInit::Value(0.0)),
    Slot::scalar("b1t", SlotInit::Value(1.0)),
    Slot::scalar("b2t", SlotInit::Value(1.0)),
];
const M: usize = 0;
const V_: usize = 1;
const B1T: usize = 2;
const B2T: usize = 3;

pub const METHOD: Method = Method {
    name: "adam",
    aliases: &[],
    hypers: &[BETA1, BETA2, EPS, WEIGHT_DECAY],
    slots: SLOTS,
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: None,
    compiled: Some(compiled),
    ..super::FIRST_ORDER
};

pub fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    emit!(s, "{IND}b1t = b1t * beta1;");
    emit!(s, "{IND}b2t = b2t * beta2;");
    emit!(s, "{IND}let bc2_sqrt: real = sqrt(real(1.0) - b2t);");
    for j in 0..dim {
        emit!(s, "{IND}m{j} = beta1 * m{j} + (real(1.0) - beta1) * gd{j};");
        emit!(s, "{IND}v{j} = beta2 * v{j} + (real(1.0) - beta2) * gd{j} * gd{j};");
        emit!(s, "{IND}let step_size{j}: real = lr{j} / (real(1.0) - b1t);");
        emit!(s, "{IND}x{j} = x{j} - step_size{j} * (m{j} / (sqrt(v{j}) / bc2_sqrt + eps));");
    }
    s
}

#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    // A local copy: read through the struct, LLVM cannot tell it from the lanes being written.
    let hold = *s.hold;
    let one = F::from_f64(1.0);
    let (beta1, beta2, eps) = (s.hyper[H_BETA1], s.hyper[H_BETA2], s.hyper[H_EPS]);
    let mut bc1 = [one; LANES];
    let mut bc2_sqrt = [one; LANES];
    {
        let (b1t, b2t) = (s.slot(SLOTS, B1T, 0), s.slot(SLOTS, B2T, 0));
        // Local copies, written back after: see the note on lr_j below.
        let (old1, old2) = (s.slots[b1t], s.slots[b2t]);
        let (mut new1, mut new2) = (old1, old2);
        for i in 0..LANES {
            let n1 = old1[i] * beta1[i];
            let n2 = old2[i] * beta2[i];
            new1[i] = keep::<_, MASKED>(hold[i], old1[i], n1);
            new2[i] = keep::<_, MASKED>(hold[i], old2[i], n2);
            bc1[i] = one - n1;
            bc2_sqrt[i] = (one - n2).sqrt();
        }
        s.slots[b1t] = new1;
        s.slots[b2t] = new2;
    }
    // The shader's step_size{j} = lr{j}/(1 − β₁ᵗ): one division per lane when every
    // coordinate has the same rate (no lr_scale), same values either way.
    let shared_step: [F; LANES] = std::array::from_fn(|i| s.lrj[0][i] / bc1[i]);
    let (m0, v0) = (s.slot(SLOTS, M, 0), s.slot(SLOTS, V_, 0));
    for j in 0..s.dim {
        // Local copies: indexing through the slices inside the lane loop defeats vectorization.
        let (lr_j, gd_j) = (&s.lrj[j], &s.gd[j]);
        let step_size: [F; LANES] = if s.lr_scaled { std::array::from_fn(|i| lr_j[i] / bc1[i]) } else { shared_step };
        let (ms, rest) = s.slots.split_at_mut(v0);
        let lanes = Lanes { beta1: &beta1, beta2: &beta2, eps: &eps, bc2_sqrt: &bc2_sqrt, step_size: &step_size, hold: &hold };
        coordinate::<F, MASKED>(&mut s.regs[s.vars[j] as usize], &mut ms[m0 + j], &mut rest[j], gd_j, &lanes);
    }
}

/// The per-lane inputs of a coordinate's step, shared by every coordinate.
struct Lanes<'a, F: Real> {
    beta1: &'a V<F>,
    beta2: &'a V<F>,
    eps: &'a V<F>,
    bc2_sqrt: &'a V<F>,
    step_size: &'a V<F>,
    hold: &'a [bool; LANES],
}

/// One coordinate of every lane, as its own function so that the lanes written are `&mut`
/// parameters: LLVM then knows they alias none of the inputs and vectorizes without run-time
/// overlap checks (see gd.rs).
#[inline(always)]
fn coordinate<F: Real, const MASKED: bool>(x: &mut V<F>, m: &mut V<F>, v: &mut V<F>, gd_j: &V<F>, l: &Lanes<'_, F>) {
    let one = F::from_f64(1.0);
    for i in 0..LANES {
        let g = gd_j[i];
        let nm = l.beta1[i] * m[i] + (one - l.beta1[i]) * g;
        let nv = l.beta2[i] * v[i] + (one - l.beta2[i]) * g * g;
        let nx = x[i] - l.step_size[i] * (nm / (nv.sqrt() / l.bc2_sqrt[i] + l.eps[i]));
        m[i] = keep::<_, MASKED>(l.hold[i], m[i], nm);
        v[i] = keep::<_, MASKED>(l.hold[i], v[i], nv);
        x[i] = keep::<_, MASKED>(l.hold[i], x[i], nx);
    }
}

/// The compiled update (see `Method::compiled`; adamw's too), in the twin's order: the running
/// products and bias corrections, one shared step size without lr_scale, then per coordinate
/// m, v and x.
pub fn compiled(b: &mut dyn Build, s: CompiledStep<'_>) {
    let one = b.constant(1.0);
    let (beta1, beta2, eps) = (b.hyper(H_BETA1), b.hyper(H_BETA2), b.hyper(H_EPS));
    let (b1t, b2t) = (2 * s.dim, 2 * s.dim + 1);
    s.slots[b1t] = b.mul(s.slots[b1t], beta1);
    s.slots[b2t] = b.mul(s.slots[b2t], beta2);
    let bc1 = b.sub(one, s.slots[b1t]);
    let bc2 = b.sub(one, s.slots[b2t]);
    let bc2_sqrt = b.sqrt(bc2);
    let shared_step = b.div(s.lrj[0], bc1);
    let (c1, c2) = (b.sub(one, beta1), b.sub(one, beta2));
    for j in 0..s.dim {
        let (m, v) = (j, s.dim + j);
        let g = s.gd[j];
        let step_size = if s.lr_scaled { b.div(s.lrj[j], bc1) } else { shared_step };
        let (bm, cg) = (b.mul(beta1, s.slots[m]), b.mul(c1, g));
        s.slots[m] = b.add(bm, cg);
        let (bv, cg) = (b.mul(beta2, s.slots[v]), b.mul(c2, g));
        let cgg = b.mul(cg, g);
        s.slots[v] = b.add(bv, cgg);
        let root = b.sqrt(s.slots[v]);
        let scaled = b.div(root, bc2_sqrt);
        let denom = b.add(scaled, eps);
        let ratio = b.div(s.slots[m], denom);
        let d = b.mul(step_size, ratio);
        s.x[j] = b.sub(s.x[j], d);
    }
}
