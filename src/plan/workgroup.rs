//! Where a run lives on the GPU (`[run] layout`): in one invocation, its whole state in
//! registers (the default, for every method and objective), or spread over one workgroup, for a
//! network with one hidden layer too wide for one invocation's registers: thread o holds hidden
//! unit o's parameters and their optimizer slots (problem::model::UnitSplit), and the threads
//! meet in workgroup memory for each row's output and for the whole-vector quantities (‖g‖²,
//! ‖x‖∞, …). The CPU backend mirrors the layout a block takes: it evaluates the split's composed
//! objective ([`crate::problem::model::UnitSplit::composed`]), whose operations are the kernel's.

use super::{Block, Precision};
use crate::problem::expr::Objective;
use crate::problem::model::UnitSplit;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Invocation,
    Workgroup,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Invocation => "invocation",
            Layout::Workgroup => "workgroup",
        }
    }
}

/// Most hidden units of a workgroup layout: one thread each, and wgpu's default
/// `max_compute_invocations_per_workgroup` is 256.
pub const MAX_UNITS: usize = 256;

/// Bytes of workgroup memory a kernel may use: wgpu's default
/// `max_compute_workgroup_storage_size`, which every adapter offers.
pub const WORKGROUP_MEMORY: usize = 16384;

/// `layout = "auto"`'s cost model, from lavapipe on the project's 2-core machine (BENCHMARKS.md,
/// "One invocation or one workgroup per run"; a hardware GPU's figures are not measured yet):
/// the invocation kernel compiles in INVOCATION_COMPILE_272 seconds at 272 parameters, growing
/// as the parameter count to the power INVOCATION_COMPILE_EXPONENT (its straight-line code has
/// one expression per parameter's gradient); the workgroup kernel costs WORKGROUP_FIXED seconds
/// more to set up and WORKGROUP_EXTRA seconds more per row × parameter × config-step.
pub const INVOCATION_COMPILE_272: f64 = 71.0;
pub const INVOCATION_COMPILE_EXPONENT: f64 = 2.1;
pub const WORKGROUP_FIXED: f64 = 3.0;
pub const WORKGROUP_EXTRA: f64 = 1.5e-9;

/// A block's workgroup layout: the network's split and the rows the threads evaluate between
/// two meetings (each thread one row's output; bounded by the workgroup memory).
#[derive(Debug, Clone)]
pub struct Fit {
    pub split: UnitSplit,
    pub chunk: usize,
}

impl Fit {
    /// Reals of workgroup memory: the reduction buffer (one real per local coordinate and
    /// thread), each chunk row's unit terms, and per chunk row the loss and its two
    /// derivatives.
    pub fn workgroup_reals(split: &UnitSplit, chunk: usize) -> usize {
        split.local_dim() * split.units + chunk * split.units + 3 * chunk
    }

    /// The most loop iterations one step makes in a thread (Plan::loop_iterations_per_step; the
    /// loops of kernel/workgroup.rs): the step's pass, per chunk of rows a pass over its rows
    /// for the terms, one over the units for a row's sum and one over its rows for the
    /// products; then the reductions, over the coordinates for ‖g‖² and the window's turn, over
    /// the units for the penalty, ‖x‖∞ (twice), the step, the window's distance and the
    /// finiteness test.
    pub fn loop_iterations_per_step(&self, obj: &Objective) -> u64 {
        let rows = obj.rows.as_ref().map_or(0, |r| r.count()) as u64;
        let (units, dim) = (self.split.units as u64, obj.dim() as u64);
        1 + 2 * rows + rows.div_ceil(self.chunk as u64) * units + 2 * dim + 6 * units
    }
}

/// The workgroup layout of `block` on `obj` at precision `p`, or why it cannot take it (a
/// sentence for the config error).
pub fn fit(obj: &Objective, block: &Block, p: Precision) -> Result<Fit, String> {
    let (Some(spec), Some(rows)) = (&obj.model, &obj.rows) else {
        return Err("it is for networks trained on data".to_string());
    };
    let split = UnitSplit::new(rows.cols - 1, spec).ok_or("it is for networks with one hidden layer")?;
    let method = block.optimizer.method();
    if !method.coordinatewise || block.linesearch.is_some() {
        return Err(format!("'{}'{} updates the whole vector at once: use gd, momentum, nesterov, adam, adamw, rmsprop or adagrad without a line search", method.name, if block.linesearch.is_some() { " with a line search" } else { "" }));
    }
    if block.sampling.is_some() {
        return Err("mini-batches are not supported in it".to_string());
    }
    if split.units > MAX_UNITS {
        return Err(format!("it takes at most {MAX_UNITS} hidden units, one thread each"));
    }
    let knobs = block.knobs();
    if let Some(scales) = &knobs.lr_scale {
        let same = (0..split.local_dim()).all(|j| (0..split.units).all(|o| scales[split.global(o, j)].0 == scales[split.global(0, j)].0));
        if !same {
            return Err("its units share their learning-rate scales: scale per layer (lr_scale = { l1 = […], l2 = […] })".to_string());
        }
    }
    if block.init_table.is_none() && block.axes[1 + block.n_hypers..].iter().any(|a| a.values.len() > 1) {
        return Err("its initial points are whole vectors: give one initial point, or a seed axis".to_string());
    }
    let fits = |c: usize| Fit::workgroup_reals(&split, c) * p.bytes() <= WORKGROUP_MEMORY;
    let chunk = (1..=split.units.min(rows.count())).rev().find(|&c| fits(c)).ok_or_else(|| {
        format!("{} hidden units on {} features need more than the {WORKGROUP_MEMORY} bytes of workgroup memory at {}", split.units, split.features, p.name())
    })?;
    Ok(Fit { split, chunk })
}

/// The layout `auto` takes for `block` run for `steps`: the workgroup where it fits and the
/// cost model says the invocation kernel's compile would take longer than the workgroup's
/// slower steps (small sweeps of wide networks), else the invocation.
pub fn auto(obj: &Objective, block: &Block, p: Precision, steps: u32) -> Layout {
    if fit(obj, block, p).is_err() {
        return Layout::Invocation;
    }
    let params = obj.dim() as f64;
    let rows = obj.rows.as_ref().map_or(1, |r| r.count()) as f64;
    let compile = INVOCATION_COMPILE_272 * (params / 272.0).powf(INVOCATION_COMPILE_EXPONENT);
    let extra = WORKGROUP_FIXED + block.runs as f64 * steps as f64 * rows * params * WORKGROUP_EXTRA;
    if compile > extra {
        Layout::Workgroup
    } else {
        Layout::Invocation
    }
}
