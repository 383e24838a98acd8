//! Optimizers, with PyTorch's update rules and defaults.
//!
//! With g the gradient (plus `weight_decay`·x when weight decay is set, as PyTorch's L2 form):
//!
//! | kind | update (PyTorch docs: torch.optim.SGD, torch.optim.Adam) |
//! |---|---|
//! | `gd` | x ← x − lr·g |
//! | `momentum` | v ← g on the first step, else v ← β·v + (1 − dampening)·g; x ← x − lr·v |
//! | `nesterov` | v as momentum (dampening 0); x ← x − lr·(g + β·v) |
//! | `adam` | t ← t+1; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; x ← x − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε) |
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
}

const BETA: Hyper = Hyper { name: "beta", default: 0.9, min: 0.0, max: 1.0, max_open: true, min_open: false };
const DAMPENING: Hyper = Hyper { name: "dampening", default: 0.0, min: 0.0, max: 1.0, max_open: false, min_open: false };
const WEIGHT_DECAY: Hyper =
    Hyper { name: "weight_decay", default: 0.0, min: 0.0, max: f64::INFINITY, max_open: true, min_open: false };
const BETA1: Hyper = Hyper { name: "beta1", default: 0.9, min: 0.0, max: 1.0, max_open: true, min_open: false };
const BETA2: Hyper = Hyper { name: "beta2", default: 0.999, min: 0.0, max: 1.0, max_open: true, min_open: false };
const EPS: Hyper = Hyper { name: "eps", default: 1e-8, min: 0.0, max: f64::INFINITY, max_open: true, min_open: true };

impl Hyper {
    pub fn allows(&self, v: f64) -> bool {
        let lo = if self.min_open { v > self.min } else { v >= self.min };
        let hi = if self.max_open { v < self.max } else { v <= self.max };
        v.is_finite() && lo && hi
    }

    pub fn range_text(&self) -> String {
        let lo = if self.min_open { "(" } else { "[" };
        let hi = if self.max_open { ")" } else { "]" };
        format!("{lo}{}, {}{hi}", self.min, if self.max.is_infinite() { "inf".into() } else { self.max.to_string() })
    }
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 4] =
        [OptimizerKind::Gd, OptimizerKind::Momentum, OptimizerKind::Nesterov, OptimizerKind::Adam];

    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Gd => "gd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::Adam => "adam",
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
        }
    }

    /// Per-run optimizer state in reals, for `dim` variables (after x itself).
    pub fn state_slots(self, dim: usize) -> usize {
        match self {
            OptimizerKind::Gd => 0,
            OptimizerKind::Momentum | OptimizerKind::Nesterov => dim,
            OptimizerKind::Adam => 2 * dim + 2,
        }
    }
}
