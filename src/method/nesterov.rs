//! `nesterov`: PyTorch's SGD with nesterov=True (dampening 0): v ← g on the first step, else
//! v ← β·v + g; x ← x − lr·(g + β·v).
//!
//! Stable on a quadratic iff, for a = lr·λ_max, z² − (1+β)(1−a)z + β(1−a) has both roots in the
//! unit circle (Jury's criterion), i.e. a < (2 + 2β)/(1 + 2β) (Cohen et al., "Gradient Descent on
//! Neural Networks Typically Occurs at the Edge of Stability", ICLR 2021, appendix on momentum).

use super::lanes::{keep, Build, CompiledStep, CpuStep, LANES, V};
use super::momentum::BETA;
use super::{Method, Slot, SlotInit, WeightDecay, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

const H_BETA: usize = 0;

pub const METHOD: Method = Method {
    name: "nesterov",
    aliases: &[],
    hypers: &[BETA, WEIGHT_DECAY],
    slots: &[Slot::per_coordinate("v", SlotInit::Value(0.0))],
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: Some(|h| {
        let beta = h("beta")?;
        Some((2.0 + 2.0 * beta) / (1.0 + 2.0 * beta))
    }),
    compiled: Some(compiled),
    ..super::FIRST_ORDER
};

fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    for j in 0..dim {
        emit!(s, "{IND}if (steps_done == 0u) {{ v{j} = gd{j}; }} else {{ v{j} = beta * v{j} + gd{j}; }}");
        emit!(s, "{IND}x{j} = x{j} - lr{j} * (gd{j} + beta * v{j});");
    }
    s
}

#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    // Local copies: read through the struct, LLVM cannot tell it from the lanes being written.
    let (hold, steps_done) = (*s.hold, *s.steps_done);
    let beta = s.hyper[H_BETA];
    for (j, (lr_j, gd_j)) in s.lrj.iter().zip(s.gd).enumerate() {
        coordinate::<F, MASKED>(&mut s.regs[s.vars[j] as usize], &mut s.slots[j], lr_j, gd_j, &beta, &steps_done, &hold);
    }
}

/// One coordinate of every lane, as its own function so that the lanes written are `&mut`
/// parameters: LLVM then knows they alias none of the inputs and vectorizes without run-time
/// overlap checks (see gd.rs).
#[inline(always)]
fn coordinate<F: Real, const MASKED: bool>(
    x: &mut V<F>,
    v: &mut V<F>,
    lr_j: &V<F>,
    gd_j: &V<F>,
    beta: &V<F>,
    steps_done: &[u32; LANES],
    hold: &[bool; LANES],
) {
    for i in 0..LANES {
        let nv = if steps_done[i] == 0 { gd_j[i] } else { beta[i] * v[i] + gd_j[i] };
        let nx = x[i] - lr_j[i] * (gd_j[i] + beta[i] * nv);
        v[i] = keep::<_, MASKED>(hold[i], v[i], nv);
        x[i] = keep::<_, MASKED>(hold[i], x[i], nx);
    }
}

/// The compiled update, after a run's first step (see `Method::compiled`): the twin's
/// v ← β·v + gd, x ← x − lr·(gd + β·v).
fn compiled(b: &mut dyn Build, s: CompiledStep<'_>) {
    let beta = b.hyper(H_BETA);
    for j in 0..s.dim {
        let bv = b.mul(beta, s.slots[j]);
        s.slots[j] = b.add(bv, s.gd[j]);
        let bnv = b.mul(beta, s.slots[j]);
        let dir = b.add(s.gd[j], bnv);
        let d = b.mul(s.lrj[j], dir);
        s.x[j] = b.sub(s.x[j], d);
    }
}
