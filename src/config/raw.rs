//! The raw mirror of a config's TOML: what the user typed, with spans, unknown keys rejected.
//! Validation (the other modules of `config`) turns it into a plan.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::{Spanned, Value};

/// An `[[optimizer]]` table: kind, lr and hyperparameters, checked against the kind later.
pub(super) type RawOptimizer = Spanned<BTreeMap<String, Spanned<Value>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) name: Option<Spanned<String>>,
    pub(super) objective: Spanned<RawObjective>,
    pub(super) sweep: Option<RawSweep>,
    pub(super) optimizer: Option<Vec<RawOptimizer>>,
    pub(super) run: Option<RawRun>,
    pub(super) analysis: Option<RawAnalysis>,
    pub(super) output: Option<RawOutput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    pub(super) format: Option<Spanned<String>>,
    /// `columns` or `npy` (see plan::ParameterOutput).
    pub(super) parameters: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnalysis {
    pub(super) basins: Option<RawBasins>,
    pub(super) threshold: Option<Spanned<RawThreshold>>,
    pub(super) map: Option<Spanned<RawMap>>,
    pub(super) trajectories: Option<Spanned<RawTrajectories>>,
    /// The same fields as trajectories (`sample = 0`: the final sharpness only).
    pub(super) sharpness: Option<Spanned<RawTrajectories>>,
    /// No fields: the paper's rule is fixed (outcome::Trainability).
    pub(super) trainability: Option<Spanned<RawTrainability>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrainability {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrajectories {
    pub(super) runs: Option<Spanned<Vec<i64>>>,
    pub(super) sample: Option<Spanned<i64>>,
    pub(super) every: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMap {
    pub(super) x: Spanned<String>,
    pub(super) y: Option<Spanned<String>>,
    pub(super) color: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThreshold {
    pub(super) rel_tol: Option<Spanned<f64>>,
    pub(super) points: Option<Spanned<i64>>,
    pub(super) max_rounds: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBasins {
    pub(super) tolerance: Option<Spanned<f64>>,
    pub(super) critical_points: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawObjective {
    pub(super) expr: Option<Spanned<String>>,
    pub(super) vars: Option<Spanned<Vec<String>>>,
    pub(super) builtin: Option<Spanned<String>>,
    pub(super) least_squares: Option<Spanned<RawLeastSquares>>,
    pub(super) quadratic: Option<Spanned<RawQuadratic>>,
    /// A data table: a CSV path (relative to the config's folder) or `{ x = [[…]], y = […] }`.
    pub(super) data: Option<Spanned<toml::Value>>,
    pub(super) features: Option<Spanned<Vec<String>>>,
    pub(super) target: Option<Spanned<String>>,
    pub(super) model: Option<Spanned<toml::Value>>,
    pub(super) loss: Option<Spanned<String>>,
    pub(super) l2: Option<Spanned<f64>>,
    pub(super) huber_delta: Option<Spanned<f64>>,
    pub(super) bias: Option<Spanned<bool>>,
    /// Input optimisation: the variables are these inputs of a fixed model ...
    pub(super) inputs: Option<Spanned<Vec<String>>>,
    /// ... with these parameters (a list, or `{ npy = "parameters.npy", row = 17 }`) ...
    pub(super) parameters: Option<Spanned<toml::Value>>,
    /// ... whose output should reach this value.
    pub(super) output: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLeastSquares {
    pub(super) a: Spanned<Vec<Vec<f64>>>,
    pub(super) b: Spanned<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuadratic {
    pub(super) h: Spanned<Vec<Vec<f64>>>,
    pub(super) g: Option<Spanned<Vec<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSweep {
    pub(super) lr: Option<Spanned<Value>>,
    /// Standardise the data's features: false, true, or [false, true] (an axis).
    pub(super) standardize: Option<Spanned<Value>>,
    /// Mini-batch sizes (an axis); default: the whole table.
    pub(super) batch_size: Option<Spanned<Value>>,
    /// Seeds of the batches' random order (an axis).
    pub(super) seed: Option<Spanned<Value>>,
    pub(super) init: Option<BTreeMap<String, Spanned<Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) steps: Option<Spanned<i64>>,
    pub(super) precision: Option<Spanned<String>>,
    pub(super) backend: Option<Spanned<String>>,
    pub(super) grad_tol_abs: Option<Spanned<f64>>,
    pub(super) grad_tol_rel: Option<Spanned<f64>>,
    pub(super) step_tol: Option<Spanned<f64>>,
    pub(super) blowup: Option<Spanned<f64>>,
    pub(super) steps_per_dispatch: Option<Spanned<i64>>,
    pub(super) window: Option<Spanned<i64>>,
    pub(super) max_period: Option<Spanned<i64>>,
    pub(super) cycle_tol: Option<Spanned<f64>>,
    /// How mini-batches are drawn: "shuffle" or "replacement".
    pub(super) sampling: Option<Spanned<String>>,
    /// Steps as passes over the data: steps = epochs·⌈m/batch_size⌉.
    pub(super) epochs: Option<Spanned<i64>>,
    /// Where a run lives on the GPU: "auto", "invocation" or "workgroup" (plan::workgroup).
    pub(super) layout: Option<Spanned<String>>,
}
