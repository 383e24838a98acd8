//! `momentum`: heavy ball with PyTorch's SGD semantics (torch.optim.SGD, nesterov=False):
//! v ← g on the first step, else v ← β·v + (1 − dampening)·g; x ← x − lr·v.
//!
//! Stable on a quadratic iff, for a = lr·λ_max, z² − (1 + β − (1−τ)a)z + β has both roots in
//! the unit circle (Jury: |c₀| < 1 and 1 ± c₁ + c₀ > 0), i.e. (1−τ)a < 2(1 + β) with dampening
//! τ (Polyak 1964; Goh, "Why Momentum Really Works", Distill 2017: 0 < αλ < 2 + 2β).

use super::lanes::{keep, Build, CompiledStep, CpuStep, LANES, V};
use super::{Hyper, Method, Slot, SlotInit, WeightDecay, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

pub const BETA: Hyper = Hyper::rate("beta", 0.9);
const DAMPENING: Hyper = Hyper { max_open: false, ..Hyper::rate("dampening", 0.0) };
/// Positions of the hyperparameters the update reads.
const H_BETA: usize = 0;
const H_DAMPENING: usize = 1;

pub const METHOD: Method = Method {
    name: "momentum",
    aliases: &[],
    hypers: &[BETA, DAMPENING, WEIGHT_DECAY],
    slots: &[Slot::per_coordinate("v", SlotInit::Value(0.0))],
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: Some(|h| {
        let (beta, dampening) = (h("beta")?, h("dampening").unwrap_or(0.0));
        (dampening < 1.0).then(|| 2.0 * (1.0 + beta) / (1.0 - dampening))
    }),
    compiled: Some(compiled),
    ..super::FIRST_ORDER
};

fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    for j in 0..dim {
        emit!(s, "{IND}if (steps_done == 0u) {{ v{j} = gd{j}; }} else {{ v{j} = beta * v{j} + (real(1.0) - dampening) * gd{j}; }}");
        emit!(s, "{IND}x{j} = x{j} - lr{j} * v{j};");
    }
    s
}

#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    // Local copies: read through the struct, LLVM cannot tell it from the lanes being written.
    let (hold, steps_done) = (*s.hold, *s.steps_done);
    let one = F::from_f64(1.0);
    let beta = s.hyper[H_BETA];
    let damp_c: [F; LANES] = std::array::from_fn(|i| one - s.hyper[H_DAMPENING][i]);
    for (j, (lr_j, gd_j)) in s.lrj.iter().zip(s.gd).enumerate() {
        coordinate::<F, MASKED>(&mut s.regs[s.vars[j] as usize], &mut s.slots[j], lr_j, gd_j, &beta, &damp_c, &steps_done, &hold);
    }
}

/// One coordinate of every lane, as its own function so that the lanes written are `&mut`
/// parameters: LLVM then knows they alias none of the inputs and vectorizes without run-time
/// overlap checks (see gd.rs).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn coordinate<F: Real, const MASKED: bool>(
    x: &mut V<F>,
    v: &mut V<F>,
    lr_j: &V<F>,
    gd_j: &V<F>,
    beta: &V<F>,
    damp_c: &V<F>,
    steps_done: &[u32; LANES],
    hold: &[bool; LANES],
) {
    for i in 0..LANES {
        let nv = if steps_done[i] == 0 { gd_j[i] } else { beta[i] * v[i] + damp_c[i] * gd_j[i] };
        let nx = x[i] - lr_j[i] * nv;
        v[i] = keep::<_, MASKED>(hold[i], v[i], nv);
        x[i] = keep::<_, MASKED>(hold[i], x[i], nx);
    }
}

/// The compiled update, after a run's first step (see `Method::compiled`): the twin's
/// v ← β·v + (1 − dampening)·gd, x ← x − lr·v.
fn compiled(b: &mut dyn Build, s: CompiledStep<'_>) {
    let (one, beta, dampening) = (b.constant(1.0), b.hyper(H_BETA), b.hyper(H_DAMPENING));
    let damp_c = b.sub(one, dampening);
    for j in 0..s.dim {
        let (bv, dg) = (b.mul(beta, s.slots[j]), b.mul(damp_c, s.gd[j]));
        s.slots[j] = b.add(bv, dg);
        let d = b.mul(s.lrj[j], s.slots[j]);
        s.x[j] = b.sub(s.x[j], d);
    }
}
