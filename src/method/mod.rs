//! Optimizers, with PyTorch's update rules and defaults.
//!
//! With g the gradient (plus `weight_decay`·x when weight decay is set, as PyTorch's L2 form):
//!
//! | kind | update (PyTorch docs: torch.optim.SGD, torch.optim.Adam) |
//! |---|---|
//! | `gd` | x ← x − lr·g |
//! | `momentum` | v ← g on the first step, else v ← β·v + (1 − dampening)·g; x ← x − lr·v |
//! | `nesterov` | v as momentum (dampening 0); x ← x − lr·(g + β·v) |
//! | `adam` | t ← t+1; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; x ← x − (lr/(1−β₁ᵗ))·(m / (√v/√(1−β₂ᵗ) + ε)) |
//! | `adamw` | x ← x·(1 − lr·weight_decay) (decoupled, g without L2), then the adam step (torch.optim.AdamW) |
//! | `rmsprop` | s ← αs + (1−α)g²; centered: a ← αa + (1−α)g, d = √(s − a²) + ε, else d = √s + ε; momentum μ > 0: b ← μb + g/d, x ← x − lr·b, else x ← x − lr·(g/d) (torch.optim.RMSprop) |
//! | `adagrad` | c = lr / (1 + (t−1)·lr_decay); S ← S + g² (S₀ = initial_accumulator_value); x ← x − c·(g / (√S + ε)) (torch.optim.Adagrad) |
//!
//! Adam's bias corrections use running products β₁ᵗ, β₂ᵗ kept in the state, so both backends
//! compute them with the same multiplications.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Gd,
    Momentum,
    Nesterov,
    Adam,
    Adamw,
    Rmsprop,
    Adagrad,
}

/// A hyperparameter: its name in the config and in runs.csv, PyTorch's default, allowed range.
#[derive(Debug, Clone, Copy)]
pub struct Hyper {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    /// Exclusive upper bound when `max_open`, else inclusive.
    pub max: f64,
    pub max_open: bool,
    pub min_open: bool,
    /// A switch: only 0 (off) or 1 (on).
    pub switch: bool,
}

const BETA: Hyper = Hyper { name: "beta", default: 0.9, min: 0.0, max: 1.0, max_open: true, min_open: false, switch: false };
const DAMPENING: Hyper = Hyper { name: "dampening", default: 0.0, min: 0.0, max: 1.0, max_open: false, min_open: false, switch: false };
const WEIGHT_DECAY: Hyper =
    Hyper { name: "weight_decay", default: 0.0, min: 0.0, max: f64::INFINITY, max_open: true, min_open: false, switch: false };
const BETA1: Hyper = Hyper { name: "beta1", default: 0.9, min: 0.0, max: 1.0, max_open: true, min_open: false, switch: false };
const BETA2: Hyper = Hyper { name: "beta2", default: 0.999, min: 0.0, max: 1.0, max_open: true, min_open: false, switch: false };
const EPS: Hyper = Hyper { name: "eps", default: 1e-8, min: 0.0, max: f64::INFINITY, max_open: true, min_open: true, switch: false };
const ADAMW_WEIGHT_DECAY: Hyper = Hyper { default: 1e-2, ..WEIGHT_DECAY };
const ALPHA: Hyper = Hyper { name: "alpha", default: 0.99, min: 0.0, max: 1.0, max_open: true, min_open: false, switch: false };
const MOMENTUM: Hyper = Hyper { name: "momentum", default: 0.0, min: 0.0, max: 1.0, max_open: true, min_open: false, switch: false };
const CENTERED: Hyper = Hyper { name: "centered", default: 0.0, min: 0.0, max: 1.0, max_open: false, min_open: false, switch: true };
const LR_DECAY: Hyper =
    Hyper { name: "lr_decay", default: 0.0, min: 0.0, max: f64::INFINITY, max_open: true, min_open: false, switch: false };
const ADAGRAD_EPS: Hyper = Hyper { default: 1e-10, ..EPS };
const INITIAL_ACCUMULATOR: Hyper = Hyper {
    name: "initial_accumulator_value",
    default: 0.0,
    min: 0.0,
    max: f64::INFINITY,
    max_open: true,
    min_open: false,
    switch: false,
};

/// Knobs any optimizer takes (PyTorch applies them outside the optimizer's own rule):
/// clip the gradient to this norm before the step, as torch.nn.utils.clip_grad_norm_ does
/// (g ← g·min(1, clip_norm/(‖g‖ + 1e-6))); no clipping when not set.
pub const CLIP_NORM: Hyper =
    Hyper { name: "clip_norm", default: f64::INFINITY, min: 0.0, max: f64::INFINITY, max_open: true, min_open: true, switch: false };
/// Per-coordinate learning-rate factor (axis `lr_scale_<var>`): coordinate j steps with lr·scale_j.
pub const LR_SCALE: Hyper =
    Hyper { name: "lr_scale", default: 1.0, min: 0.0, max: f64::INFINITY, max_open: true, min_open: false, switch: false };

impl Hyper {
    pub fn allows(&self, v: f64) -> bool {
        if self.switch {
            return v == 0.0 || v == 1.0;
        }
        let lo = if self.min_open { v > self.min } else { v >= self.min };
        let hi = if self.max_open { v < self.max } else { v <= self.max };
        v.is_finite() && lo && hi
    }

    pub fn range_text(&self) -> String {
        if self.switch {
            return "{0, 1} (0 = off, 1 = on)".into();
        }
        let lo = if self.min_open { "(" } else { "[" };
        let hi = if self.max_open { ")" } else { "]" };
        format!("{lo}{}, {}{hi}", self.min, if self.max.is_infinite() { "inf".into() } else { self.max.to_string() })
    }
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 7] = [
        OptimizerKind::Gd,
        OptimizerKind::Momentum,
        OptimizerKind::Nesterov,
        OptimizerKind::Adam,
        OptimizerKind::Adamw,
        OptimizerKind::Rmsprop,
        OptimizerKind::Adagrad,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Gd => "gd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Rmsprop => "rmsprop",
            OptimizerKind::Adagrad => "adagrad",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Hyperparameters in the order they appear as axes and in the shader's decode.
    pub fn hypers(self) -> &'static [Hyper] {
        match self {
            OptimizerKind::Gd => &[WEIGHT_DECAY],
            OptimizerKind::Momentum => &[BETA, DAMPENING, WEIGHT_DECAY],
            OptimizerKind::Nesterov => &[BETA, WEIGHT_DECAY],
            OptimizerKind::Adam => &[BETA1, BETA2, EPS, WEIGHT_DECAY],
            OptimizerKind::Adamw => &[BETA1, BETA2, EPS, ADAMW_WEIGHT_DECAY],
            OptimizerKind::Rmsprop => &[ALPHA, EPS, MOMENTUM, CENTERED, WEIGHT_DECAY],
            OptimizerKind::Adagrad => &[LR_DECAY, ADAGRAD_EPS, INITIAL_ACCUMULATOR, WEIGHT_DECAY],
        }
    }

    /// Whether weight decay is decoupled from the gradient (AdamW) rather than added to it.
    pub fn decoupled_weight_decay(self) -> bool {
        self == OptimizerKind::Adamw
    }
}

/// Learning-rate schedules (PyTorch's torch.optim.lr_scheduler, stepped once per optimizer
/// step; t = steps taken so far, lr = the run's lr):
///
/// | kind | lr at step t |
/// |---|---|
/// | `exponential` | lr·γᵗ, as a running product (ExponentialLR's chainable form) |
/// | `step` | lr·γ^⌊t/step_size⌋, as a running product (StepLR) |
/// | `cosine` | eta_min + (lr − eta_min)·(1 + cos(π·t/t_max))/2 (CosineAnnealingLR's closed form) |
/// | `cyclic` | triangular CyclicLR with base_lr = lr: c = ⌊1 + t/(2s)⌋, u = 1 + t/(2s) − c, f = u/0.5 if u ≤ 0.5 else (u − 1)/(0.5 − 1); lr + (max_lr − lr)·f, s = step_size_up |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Exponential,
    Step,
    Cosine,
    Cyclic,
}

/// A schedule parameter: its key in `schedule = { ... }`; its axis and runs.csv column is
/// `schedule_<key>`. `required` parameters have no default.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleParam {
    pub hyper: Hyper,
    pub required: bool,
    /// Only whole numbers ≥ 1 (step counts).
    pub whole: bool,
}

const GAMMA: Hyper = Hyper { name: "gamma", default: 0.1, min: 0.0, max: f64::INFINITY, max_open: true, min_open: true, switch: false };
const STEPS_PARAM: Hyper =
    Hyper { name: "step_size", default: 1.0, min: 1.0, max: 4294967295.0, max_open: false, min_open: false, switch: false };
const T_MAX: Hyper = Hyper { name: "t_max", default: 1.0, min: 0.0, max: f64::INFINITY, max_open: true, min_open: true, switch: false };
const ETA_MIN: Hyper = Hyper { name: "eta_min", default: 0.0, min: 0.0, max: f64::INFINITY, max_open: true, min_open: false, switch: false };
const MAX_LR: Hyper = Hyper { name: "max_lr", default: 0.0, min: 0.0, max: f64::INFINITY, max_open: true, min_open: false, switch: false };
const STEP_SIZE_UP: Hyper = Hyper { name: "step_size_up", default: 2000.0, ..STEPS_PARAM };

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

    pub fn params(self) -> &'static [ScheduleParam] {
        const fn p(hyper: Hyper, required: bool, whole: bool) -> ScheduleParam {
            ScheduleParam { hyper, required, whole }
        }
        const EXPONENTIAL: [ScheduleParam; 1] = [p(GAMMA, true, false)];
        const STEP: [ScheduleParam; 2] = [p(STEPS_PARAM, true, true), p(GAMMA, false, false)];
        const COSINE: [ScheduleParam; 2] = [p(T_MAX, true, false), p(ETA_MIN, false, false)];
        const CYCLIC: [ScheduleParam; 2] = [p(MAX_LR, true, false), p(STEP_SIZE_UP, false, true)];
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
}
