//! `gd`: plain gradient descent, x ← x − lr·g (torch.optim.SGD with momentum 0).
//!
//! Stable on a quadratic with Hessian eigenvalues λ iff |1 − lr·λ| < 1 for all of them, i.e.
//! lr < 2/λ_max (Nesterov, *Introductory Lectures on Convex Optimization*, 2004, §1.2.3).

use super::lanes::{keep, Build, CompiledStep, CpuStep, LANES, V};
use super::{Method, WeightDecay, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

pub const METHOD: Method = Method {
    name: "gd",
    aliases: &["sgd"],
    hypers: &[WEIGHT_DECAY],
    slots: &[],
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: Some(|_| Some(2.0)),
    compiled: Some(compiled),
    ..super::FIRST_ORDER
};

fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    for j in 0..dim {
        emit!(s, "{IND}x{j} = x{j} - lr{j} * gd{j};");
    }
    s
}

#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    // A local copy: read through the struct, LLVM cannot tell it from the lanes being written.
    let hold = *s.hold;
    for ((&var, lr_j), gd_j) in s.vars.iter().zip(s.lrj).zip(s.gd) {
        coordinate::<F, MASKED>(&mut s.regs[var as usize], lr_j, gd_j, &hold);
    }
}

/// One coordinate of every lane. Its own function so that `x` is a `&mut` parameter: LLVM then
/// knows it aliases none of the inputs and vectorizes without run-time overlap checks.
#[inline(always)]
fn coordinate<F: Real, const MASKED: bool>(x: &mut V<F>, lr_j: &V<F>, gd_j: &V<F>, hold: &[bool; LANES]) {
    for i in 0..LANES {
        x[i] = keep::<_, MASKED>(hold[i], x[i], x[i] - lr_j[i] * gd_j[i]);
    }
}

/// The compiled update (see `Method::compiled`): the twin's x − lr{j}·gd{j}.
fn compiled(b: &mut dyn Build, s: CompiledStep<'_>) {
    for j in 0..s.dim {
        let d = b.mul(s.lrj[j], s.gd[j]);
        s.x[j] = b.sub(s.x[j], d);
    }
}
