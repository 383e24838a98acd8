//! Knobs every method takes, applied around the method's own rule as PyTorch applies them
//! outside the optimizer. In the order of a step:
//!
//! 1. the schedule's lr_t (see [`super::schedule`]; lr without one);
//! 2. `clip_norm`: g ← g·min(1, clip_norm/(‖g‖ + 1e-6)), always multiplied, as
//!    torch.nn.utils.clip_grad_norm_ does (no clipping when not set);
//! 3. `weight_decay`, L2 form: gd = g + weight_decay·x (every method but AdamW);
//! 4. `lr_scale` (axes `lr_scale_<var>`): coordinate j steps with lr{j} = lr_t·scale_j;
//! 5. `weight_decay`, decoupled form (AdamW): x ← x·(1 − lr{j}·weight_decay);
//!
//! then the method's update with `gd{j}` and `lr{j}`, and after it, with a line search, the
//! search over the update's displacement (see [`super::linesearch`]: the kernel runs it, since
//! it spans several evaluations).

use super::lanes::{keep, LANES, V};
use super::linesearch::LineSearchKind;
use super::schedule::{self, ScheduleKind};
use super::{Hyper, WeightDecay, IND};
use crate::problem::real::{Precision, Real};

pub const WEIGHT_DECAY: Hyper = Hyper::non_negative("weight_decay", 0.0);
pub const CLIP_NORM: Hyper = Hyper { default: f64::INFINITY, ..Hyper::positive("clip_norm", 0.0) };
/// Per-coordinate learning-rate factor (axis `lr_scale_<var>`).
pub const LR_SCALE: Hyper = Hyper::non_negative("lr_scale", 1.0);

/// The knobs one optimizer block uses, as positions among its hyperparameters (see
/// `plan::Block::knobs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    pub clip_norm: Option<usize>,
    /// Where weight decay is not the single value 0 (then the step leaves it out).
    pub weight_decay: Option<usize>,
    pub decay: WeightDecay,
    /// Each coordinate's `lr_scale_<var>`, where the table sets lr_scale (the WGSL names them).
    pub lr_scale: Option<Vec<(usize, String)>>,
    /// The schedule and its parameters' positions, in [`ScheduleKind::params`] order.
    pub schedule: Option<(ScheduleKind, Vec<usize>)>,
    /// The line search and its parameters' positions, in [`LineSearchKind::params`] order.
    pub linesearch: Option<(LineSearchKind, Vec<usize>)>,
}

/// WGSL before the method's update: `lr_t`, `clip_coef`, `gd{j}`, `lr{j}`, decoupled decay.
pub fn wgsl(k: &Knobs, dim: usize, p: Precision) -> String {
    let mut s = schedule::wgsl(k.schedule.as_ref().map(|(kind, _)| *kind), p);
    if k.clip_norm.is_some() {
        // torch.nn.utils.clip_grad_norm_: the coefficient multiplies g whether or not it is < 1.
        emit!(s, "{IND}let clip_coef: real = min(clip_norm / (sqrt(gn2) + real(1e-6)), real(1.0));");
    }
    for j in 0..dim {
        let g = if k.clip_norm.is_some() { format!("g{j} * clip_coef") } else { format!("g{j}") };
        match (k.weight_decay, k.decay) {
            (Some(_), WeightDecay::L2) => emit!(s, "{IND}let gd{j}: real = {g} + weight_decay * x{j};"),
            _ => emit!(s, "{IND}let gd{j}: real = {g};"),
        }
        match &k.lr_scale {
            Some(scales) => emit!(s, "{IND}let lr{j}: real = lr_t * {};", scales[j].1),
            None => emit!(s, "{IND}let lr{j}: real = lr_t;"),
        }
        if k.weight_decay.is_some() && k.decay == WeightDecay::Decoupled {
            emit!(s, "{IND}x{j} = x{j} * (real(1.0) - lr{j} * weight_decay);");
        }
    }
    s
}

/// Lane state the knobs read and write (the CPU backend's registers).
pub struct CpuKnobStep<'a, F: Real> {
    pub regs: &'a mut [V<F>],
    pub vars: &'a [u32],
    pub grad: &'a [u32],
    pub gn2: &'a V<F>,
    pub lr: &'a V<F>,
    pub hyper: &'a [V<F>],
    /// The schedule's `lr_now` slot, where it keeps one.
    pub lr_now: Option<&'a mut V<F>>,
    pub gd: &'a mut [V<F>],
    pub lrj: &'a mut [V<F>],
    pub steps_done: &'a [u32; LANES],
    pub hold: &'a [bool; LANES],
}

/// One coordinate's `gd` = g (clipped) (+ weight_decay·x), written through a `&mut` parameter so
/// that LLVM knows it aliases none of the inputs (see method/gd.rs).
#[inline(always)]
fn gradient<F: Real>(gd: &mut V<F>, g: &V<F>, clip_coef: Option<&V<F>>, l2: Option<(&V<F>, &V<F>)>) {
    *gd = *g;
    if let Some(c) = clip_coef {
        for i in 0..LANES {
            gd[i] = g[i] * c[i];
        }
    }
    if let Some((wd, x)) = l2 {
        for i in 0..LANES {
            gd[i] = gd[i] + wd[i] * x[i];
        }
    }
}

/// Each coordinate's lr from this step's lr_t (the WGSL's `lr{j}`).
#[inline(always)]
pub fn cpu_lrj<F: Real>(k: &Knobs, lr_t: &V<F>, hyper: &[V<F>], lrj: &mut [V<F>], lane: Option<usize>) {
    let lanes = lane.map_or(0..LANES, |l| l..l + 1);
    for (j, out) in lrj.iter_mut().enumerate() {
        for i in lanes.clone() {
            out[i] = match &k.lr_scale {
                Some(q) => lr_t[i] * hyper[q[j].0][i],
                None => lr_t[i],
            };
        }
    }
}

/// CPU twin of [`wgsl`]. Without a schedule `lrj` is fixed per run (set when the lane is
/// filled, by [`cpu_lrj`]); with one it is recomputed every step.
#[inline(always)]
pub fn cpu<F: Real, const MASKED: bool>(k: &Knobs, s: CpuKnobStep<'_, F>) {
    let one = F::from_f64(1.0);
    if let Some((kind, at)) = &k.schedule {
        // (at most two parameters; a one-parameter schedule reads only the first)
        let params = [&s.hyper[at[0]], &s.hyper[*at.last().unwrap_or(&at[0])]];
        let lr_t = schedule::cpu_lr_t::<F, MASKED>(*kind, &params, s.lr, s.lr_now, s.steps_done, s.hold);
        cpu_lrj(k, &lr_t, s.hyper, s.lrj, None);
    }
    let clip_coef: Option<V<F>> = k.clip_norm.map(|q| {
        let c = &s.hyper[q];
        std::array::from_fn(|i| (c[i] / (s.gn2[i].sqrt() + F::from_f64(1e-6))).min(one))
    });
    let l2 = match (k.weight_decay, k.decay) {
        (Some(q), WeightDecay::L2) => Some(&s.hyper[q]),
        _ => None,
    };
    for ((&var, &grad), gd) in s.vars.iter().zip(s.grad).zip(s.gd.iter_mut()) {
        gradient(gd, &s.regs[grad as usize], clip_coef.as_ref(), l2.map(|wd| (wd, &s.regs[var as usize])));
    }
    if let (Some(q), WeightDecay::Decoupled) = (k.weight_decay, k.decay) {
        let hold = *s.hold;
        for j in 0..s.vars.len() {
            let (wd, lr_j) = (&s.hyper[q], &s.lrj[j]);
            let x = &mut s.regs[s.vars[j] as usize];
            for i in 0..LANES {
                x[i] = keep::<_, MASKED>(hold[i], x[i], x[i] * (one - lr_j[i] * wd[i]));
            }
        }
    }
}
