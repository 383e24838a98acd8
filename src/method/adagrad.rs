//! `adagrad` (torch.optim.Adagrad; Duchi, Hazan & Singer, JMLR 2011):
//! c = lr / (1 + (t−1)·lr_decay); S ← S + g² (S₀ = initial_accumulator_value);
//! x ← x − c·(g / (√S + ε)).

use super::lanes::{keep, Build, CompiledStep, CpuStep, LANES};
use super::{Hyper, Method, Slot, SlotInit, WeightDecay, EPS, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

const LR_DECAY: Hyper = Hyper::non_negative("lr_decay", 0.0);
const ADAGRAD_EPS: Hyper = Hyper { default: 1e-10, ..EPS };
const INITIAL_ACCUMULATOR: Hyper = Hyper::non_negative("initial_accumulator_value", 0.0);
const H_LR_DECAY: usize = 0;
const H_EPS: usize = 1;

pub const METHOD: Method = Method {
    name: "adagrad",
    aliases: &[],
    hypers: &[LR_DECAY, ADAGRAD_EPS, INITIAL_ACCUMULATOR, WEIGHT_DECAY],
    slots: &[Slot::per_coordinate("sum", SlotInit::Hyper("initial_accumulator_value"))],
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: None,
    compiled: Some(compiled),
    ..super::FIRST_ORDER
};

fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    for j in 0..dim {
        emit!(s, "{IND}let clr{j}: real = lr{j} / (real(1.0) + real(steps_done) * lr_decay);");
        emit!(s, "{IND}sum{j} = sum{j} + gd{j} * gd{j};");
        emit!(s, "{IND}x{j} = x{j} - clr{j} * (gd{j} / (sqrt(sum{j}) + eps));");
    }
    s
}

#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    // Local copies: read through the struct, LLVM cannot tell it from the lanes being written.
    let (hold, steps_done) = (*s.hold, *s.steps_done);
    let one = F::from_f64(1.0);
    let (lr_decay, eps) = (s.hyper[H_LR_DECAY], s.hyper[H_EPS]);
    for j in 0..s.dim {
        // Local copies: indexing through the slices inside the lane loop defeats vectorization.
        let (lr_j, gd_j) = (&s.lrj[j], &s.gd[j]);
        let clr: [F; LANES] = std::array::from_fn(|i| lr_j[i] / (one + F::from_f64(steps_done[i] as f64) * lr_decay[i]));
        let (sum, x) = (&mut s.slots[j], &mut s.regs[s.vars[j] as usize]);
        for i in 0..LANES {
            let g = gd_j[i];
            let nsum = sum[i] + g * g;
            let nx = x[i] - clr[i] * (g / (nsum.sqrt() + eps[i]));
            sum[i] = keep::<_, MASKED>(hold[i], sum[i], nsum);
            x[i] = keep::<_, MASKED>(hold[i], x[i], nx);
        }
    }
}

/// The compiled update (see `Method::compiled`), in the twin's order: the decayed rate from
/// steps_done, then per coordinate the sum and x.
fn compiled(b: &mut dyn Build, s: CompiledStep<'_>) {
    let one = b.constant(1.0);
    let (lr_decay, eps) = (b.hyper(H_LR_DECAY), b.hyper(H_EPS));
    let steps = b.steps();
    let decayed = b.mul(steps, lr_decay);
    let denom = b.add(one, decayed);
    for j in 0..s.dim {
        let clr = b.div(s.lrj[j], denom);
        let g = s.gd[j];
        let g2 = b.mul(g, g);
        s.slots[j] = b.add(s.slots[j], g2);
        let root = b.sqrt(s.slots[j]);
        let shifted = b.add(root, eps);
        let ratio = b.div(g, shifted);
        let d = b.mul(clr, ratio);
        s.x[j] = b.sub(s.x[j], d);
    }
}
