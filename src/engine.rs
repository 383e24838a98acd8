//! Runs a plan on a backend. The plan says what to run; the backend only executes it.

use crate::backend::{AdapterSummary, Backend, Progress};
use crate::error::{Error, Result};
use crate::outcome::{Results, Status};
use crate::plan::{Plan, Selection};
use std::time::Instant;

/// What one execution of a plan produced.
pub struct Report {
    pub results: Results,
    pub backend: &'static str,
    pub adapter: Option<AdapterSummary>,
    pub seconds: f64,
}

impl Report {
    /// Nominal config-steps per second: runs × steps / wall time (the peers' measure).
    pub fn nominal_rate(&self, steps: u32) -> f64 {
        self.results.len() as f64 * steps as f64 / self.seconds.max(1e-9)
    }
}

/// Run the selected runs of every block; results concatenated in block order.
pub fn execute(plan: &Plan, backend: &dyn Backend, sel: &[Selection]) -> Result<Report> {
    execute_with_progress(plan, backend, sel, &|_| {})
}

pub fn execute_with_progress(plan: &Plan, backend: &dyn Backend, sel: &[Selection], progress: Progress) -> Result<Report> {
    let t = Instant::now();
    let mut all: Option<Results> = None;
    for (bi, s) in sel.iter().enumerate() {
        let r = backend.run_block(plan, bi, *s, progress)?;
        match &mut all {
            None => all = Some(r),
            Some(a) => a.append(r),
        }
    }
    let mut results = all.ok_or_else(|| Error::Other("the plan has no optimizer blocks".into()))?;
    let seconds = t.elapsed().as_secs_f64();
    finish_results(plan, &mut results);
    Ok(Report { results, backend: backend.name(), adapter: backend.adapter().cloned(), seconds })
}

/// What every execution does to the runs a backend returns: converged runs that reached no
/// minimum become `stalled`, and `steps_left` is kept only where it can be trusted (see
/// [`crate::outcome`]).
fn finish_results(plan: &Plan, r: &mut Results) {
    mark_noisy_runs(plan, r);
    crate::outcome::mark_stalled_points(|id| plan.objective_of_run(id), r);
    crate::outcome::mark_separable_escapes(|id| plan.objective_of_run(id), r);
    crate::outcome::judge_steps_left(plan, r);
}

/// The outcome of a run of mini-batches ([`Plan::noisy`]): its gradients are noisy estimates,
/// so neither the kernel's convergence rule nor the window's classes apply (SGD with a
/// constant lr does not settle on a point; a segment's largest batch gradient says little of
/// the objective's). Such a run keeps `diverged` (a blow-up is one) and a line search's or
/// Newton's failure; otherwise it is judged on the whole table at its final point, in f64:
/// `converged` where ‖∇f‖ ≤ grad_tol_abs there (as SGD does where every row can be fitted),
/// else `max_steps`, with `loss` and `grad_norm` the full objective's there.
pub fn mark_noisy_runs(plan: &Plan, r: &mut Results) {
    use rayon::prelude::*;
    if !plan.blocks.iter().any(|b| b.sampling.is_some()) {
        return;
    }
    let d = r.dim;
    let tol = plan.rules.grad_tol_abs;
    let Results { run, status, x, loss, grad_norm, rate, period, steps_left, .. } = r;
    (status, loss, grad_norm, rate, period, steps_left).into_par_iter().enumerate().for_each(|(i, (s, loss, grad_norm, rate, period, left))| {
        let (bi, local) = plan.locate(run[i]).expect("result ids come from the plan");
        if !plan.noisy(&plan.blocks[bi], local) || matches!(*s, Status::Diverged | Status::LineSearchFailed | Status::HessianSingular) {
            return;
        }
        let obj = plan.objective_of(&plan.blocks[bi]);
        let at = &x[i * d..(i + 1) * d];
        let g = obj.grad_f64(at).iter().map(|v| v * v).sum::<f64>().sqrt();
        *loss = obj.loss_f64(at);
        *grad_norm = g;
        *s = if g <= tol { Status::Converged } else { Status::MaxSteps };
        (*rate, *period, *left) = (f64::NAN, 0, f64::NAN);
    });
}

/// A sweep's runs stream to disk, resume and split into shards in *chunks* of consecutive run
/// ids: chunk k holds ids [k·C, (k+1)·C) (the last may be shorter). C depends only on the number
/// of runs, so every process that runs or merges a sweep cuts it the same way: about 256 chunks,
/// a power of two between 2¹⁴ (per-chunk overhead stays small) and 2²⁰ runs (a chunk's results
/// and text stay near 200 MB whatever the grid).
pub struct Chunks {
    pub runs: u64,
    pub size: u64,
}

impl Chunks {
    pub const MIN: u64 = 1 << 14;
    pub const MAX: u64 = 1 << 20;

    pub fn of(plan: &Plan) -> Chunks {
        let runs = plan.total_runs();
        Chunks { runs, size: (runs / 256).max(1).next_power_of_two().clamp(Self::MIN, Self::MAX) }
    }

    pub fn count(&self) -> u64 {
        self.runs.div_ceil(self.size)
    }

    pub fn range(&self, k: u64) -> std::ops::Range<u64> {
        k * self.size..((k + 1) * self.size).min(self.runs)
    }

    pub fn len(&self, k: u64) -> u64 {
        let r = self.range(k);
        r.end - r.start
    }
}

/// Compute chunk `k` of the sweep: each block's share of its ids on `backend`, finished as
/// every execution is, and rounded to what runs.csv holds ([`Results::round_to`]).
pub fn compute_chunk(plan: &Plan, backend: &dyn Backend, chunks: &Chunks, k: u64, progress: Progress) -> Result<Results> {
    let ids = chunks.range(k);
    let mut out = Results::with_capacity(plan.objective.dim(), (ids.end - ids.start) as usize);
    for (bi, b) in plan.blocks.iter().enumerate() {
        let (lo, hi) = (ids.start.max(b.first_run), ids.end.min(b.first_run + b.runs));
        if lo < hi {
            out.append(backend.run_block(plan, bi, Selection { offset: lo - b.first_run, stride: 1, count: hi - lo }, progress)?);
        }
    }
    finish_results(plan, &mut out);
    out.round_to(plan.precision);
    Ok(out)
}
