//! Learning-rate schedules (PyTorch's torch.optim.lr_scheduler, stepped once per optimizer
//! step; t = steps taken so far, lr = the run's lr), WGSL and CPU twin side by side:
//!
//! | kind | lr at step t |
//! |---|---|
//! | `exponential` | lr·γᵗ, as a running product (ExponentialLR's chainable form) |
//! | `step` | lr·γ^⌊t/step_size⌋, as a running product (StepLR) |
//! | `cosine` | eta_min + (lr − eta_min)·(1 + cos(π·t/t_max))/2 (CosineAnnealingLR's closed form) |
//! | `cyclic` | triangular CyclicLR with base_lr = lr: c = ⌊1 + t/(2s)⌋, u = 1 + t/(2s) − c, f = u/0.5 if u ≤ 0.5 else (u − 1)/(0.5 − 1); lr + (max_lr − lr)·f, s = step_size_up |
//!
//! The running forms keep the current lr in a state slot, `lr_now` ([`LR_NOW`]).

use super::lanes::{keep, Build, Val, LANES, V};
use super::{Hyper, KnobParam, Slot, SlotInit, IND};
use crate::problem::expr::Func;
use crate::problem::real::{literal, Precision, Real};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Exponential,
    Step,
    Cosine,
    Cyclic,
}


const GAMMA: Hyper = Hyper::positive("gamma", 0.1);
const STEPS_PARAM: Hyper = Hyper::count("step_size", 1.0, 4294967295.0);
const T_MAX: Hyper = Hyper::positive("t_max", 1.0);
const ETA_MIN: Hyper = Hyper::non_negative("eta_min", 0.0);
const MAX_LR: Hyper = Hyper::non_negative("max_lr", 0.0);
const STEP_SIZE_UP: Hyper = Hyper { name: "step_size_up", default: 2000.0, ..STEPS_PARAM };

/// The slot of the running schedules: the current lr, starting at the run's lr.
pub const LR_NOW: Slot = Slot::scalar("lr_now", SlotInit::Lr);

impl ScheduleKind {
    pub const ALL: [ScheduleKind; 4] = [ScheduleKind::Exponential, ScheduleKind::Step, ScheduleKind::Cosine, ScheduleKind::Cyclic];

    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Exponential => "exponential",
            ScheduleKind::Step => "step",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Cyclic => "cyclic",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn params(self) -> &'static [KnobParam] {
        const fn p(hyper: Hyper, required: bool) -> KnobParam {
            KnobParam { hyper, required }
        }
        const EXPONENTIAL: [KnobParam; 1] = [p(GAMMA, true)];
        const STEP: [KnobParam; 2] = [p(STEPS_PARAM, true), p(GAMMA, false)];
        const COSINE: [KnobParam; 2] = [p(T_MAX, true), p(ETA_MIN, false)];
        const CYCLIC: [KnobParam; 2] = [p(MAX_LR, true), p(STEP_SIZE_UP, false)];
        match self {
            ScheduleKind::Exponential => &EXPONENTIAL,
            ScheduleKind::Step => &STEP,
            ScheduleKind::Cosine => &COSINE,
            ScheduleKind::Cyclic => &CYCLIC,
        }
    }

    /// Whether the schedule keeps the current lr as state (a running product).
    pub fn running(self) -> bool {
        matches!(self, ScheduleKind::Exponential | ScheduleKind::Step)
    }

    /// The slot the schedule keeps, if any.
    pub fn slot(self) -> Option<Slot> {
        self.running().then_some(LR_NOW)
    }
}

/// WGSL: `let lr_t` = this step's learning rate (and the running product's next value).
/// Without a schedule, lr_t = lr.
pub fn wgsl(kind: Option<ScheduleKind>, p: Precision) -> String {
    let mut s = String::new();
    match kind {
        None => emit!(s, "{IND}let lr_t: real = lr;"),
        Some(ScheduleKind::Exponential) => {
            emit!(s, "{IND}let lr_t: real = lr_now;");
            emit!(s, "{IND}lr_now = lr_now * schedule_gamma;");
        }
        Some(ScheduleKind::Step) => {
            emit!(s, "{IND}let lr_t: real = lr_now;");
            emit!(s, "{IND}if ((steps_done + 1u) % u32(schedule_step_size) == 0u) {{ lr_now = lr_now * schedule_gamma; }}");
        }
        Some(ScheduleKind::Cosine) => emit!(
            s,
            "{IND}let lr_t: real = schedule_eta_min + (lr - schedule_eta_min) * (real(1.0) + real_cos({} * real(steps_done) / schedule_t_max)) / real(2.0);",
            literal(std::f64::consts::PI, p)
        ),
        Some(ScheduleKind::Cyclic) => {
            emit!(s, "{IND}let total_size: real = real(2.0) * schedule_step_size_up;");
            emit!(s, "{IND}let cycle: real = floor(real(1.0) + real(steps_done) / total_size);");
            emit!(s, "{IND}let cycle_x: real = real(1.0) + real(steps_done) / total_size - cycle;");
            emit!(
                s,
                "{IND}let scale_factor: real = select((cycle_x - real(1.0)) / (real(0.5) - real(1.0)), cycle_x / real(0.5), cycle_x <= real(0.5));"
            );
            emit!(s, "{IND}let lr_t: real = lr + (schedule_max_lr - lr) * scale_factor;");
        }
    }
    s
}

/// CPU twin of [`wgsl`] for a schedule: this step's lr per lane; a running schedule advances
/// `lr_now` in the lanes not held. `params` are the schedule's parameters in
/// [`ScheduleKind::params`] order.
#[inline(always)]
pub fn cpu_lr_t<F: Real, const MASKED: bool>(
    kind: ScheduleKind,
    params: &[&V<F>],
    lr: &V<F>,
    lr_now: Option<&mut V<F>>,
    steps_done: &[u32; LANES],
    hold: &[bool; LANES],
) -> V<F> {
    let one = F::from_f64(1.0);
    let steps: V<F> = std::array::from_fn(|i| F::from_f64(steps_done[i] as f64));
    match kind {
        ScheduleKind::Exponential | ScheduleKind::Step => {
            let lr_now = lr_now.expect("running schedules keep lr_now");
            let current = *lr_now;
            let (gamma, step_size) = match kind {
                ScheduleKind::Exponential => (params[0], &[one; LANES]),
                _ => (params[1], params[0]),
            };
            for i in 0..LANES {
                let decay = match kind {
                    ScheduleKind::Exponential => true,
                    // max(1): idle lanes hold no run and a step size of 0 (configs allow >= 1).
                    _ => (steps_done[i] + 1).is_multiple_of((step_size[i].to_f64() as u32).max(1)),
                };
                let n = if decay { current[i] * gamma[i] } else { current[i] };
                lr_now[i] = keep::<_, MASKED>(hold[i], current[i], n);
            }
            current
        }
        ScheduleKind::Cosine => {
            let (t_max, eta_min) = (params[0], params[1]);
            let pi = F::from_f64(std::f64::consts::PI);
            std::array::from_fn(|i| {
                eta_min[i] + (lr[i] - eta_min[i]) * (one + F::func(Func::Cos, pi * steps[i] / t_max[i])) / F::from_f64(2.0)
            })
        }
        ScheduleKind::Cyclic => {
            let (max_lr, step_size_up) = (params[0], params[1]);
            let half = F::from_f64(0.5);
            std::array::from_fn(|i| {
                let total_size = F::from_f64(2.0) * step_size_up[i];
                let cycle = (one + steps[i] / total_size).floor();
                let cycle_x = one + steps[i] / total_size - cycle;
                let scale_factor = if cycle_x <= half { cycle_x / half } else { (cycle_x - one) / (half - one) };
                lr[i] + (max_lr[i] - lr[i]) * scale_factor
            })
        }
    }
}

/// The compiled twin of [`cpu_lr_t`] for one step of lanes that all step (the compiled step
/// loop's): this step's lr, and a running schedule's next `lr_now`, in the twin's order of
/// operations so that the two agree bit for bit. `params` are the schedule's parameters'
/// hyperparameter positions, as for [`cpu_lr_t`].
pub fn compiled(kind: ScheduleKind, b: &mut dyn Build, params: [usize; 2], lr: Val, lr_now: Option<&mut Val>) -> Val {
    let one = b.constant(1.0);
    let steps = b.steps();
    match kind {
        ScheduleKind::Exponential | ScheduleKind::Step => {
            let lr_now = lr_now.expect("running schedules keep lr_now");
            let current = *lr_now;
            *lr_now = match kind {
                ScheduleKind::Exponential => {
                    let gamma = b.hyper(params[0]);
                    b.mul(current, gamma)
                }
                _ => {
                    // (steps_done + 1) % step_size == 0 with reals: both are whole numbers
                    // below 2²⁴ (f32; the loop's budget keeps steps_done there) or 2⁵³, so
                    // the sum, the floored quotient's product and the difference are exact,
                    // and a correctly rounded quotient is whole only where the true one is.
                    let (step_size, gamma) = (b.hyper(params[0]), b.hyper(params[1]));
                    let next = b.add(steps, one);
                    let quotient = b.div(next, step_size);
                    let whole = b.floor(quotient);
                    let multiple = b.mul(whole, step_size);
                    let off = b.sub(next, multiple);
                    let decayed = b.mul(current, gamma);
                    b.select_nonzero(off, current, decayed)
                }
            };
            current
        }
        ScheduleKind::Cosine => {
            let (t_max, eta_min) = (b.hyper(params[0]), b.hyper(params[1]));
            let pi = b.constant(std::f64::consts::PI);
            let angle = b.mul(pi, steps);
            let angle = b.div(angle, t_max);
            let cos = b.func(Func::Cos, angle);
            let rise = b.add(one, cos);
            let span = b.sub(lr, eta_min);
            let scaled = b.mul(span, rise);
            let two = b.constant(2.0);
            let half = b.div(scaled, two);
            b.add(eta_min, half)
        }
        ScheduleKind::Cyclic => {
            let (max_lr, step_size_up) = (b.hyper(params[0]), b.hyper(params[1]));
            let (two, half) = (b.constant(2.0), b.constant(0.5));
            let total_size = b.mul(two, step_size_up);
            let ratio = b.div(steps, total_size);
            let shifted = b.add(one, ratio);
            let cycle = b.floor(shifted);
            let cycle_x = b.sub(shifted, cycle);
            let rising = b.div(cycle_x, half);
            let below = b.sub(cycle_x, one);
            let falling_by = b.sub(half, one);
            let falling = b.div(below, falling_by);
            let scale_factor = b.select_le(cycle_x, half, rising, falling);
            let span = b.sub(max_lr, lr);
            let rise = b.mul(span, scale_factor);
            b.add(lr, rise)
        }
    }
}
