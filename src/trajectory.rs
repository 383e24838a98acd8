//! Trajectories (`[analysis.trajectories]`): the path x₀, x_every, x_2·every, … of a few runs.
//!
//! The chosen runs are run again, each as a one-run block with its own values, on the same
//! backend as the sweep: the GPU reads the state back after every dispatch of `every` steps
//! (its main pipeline also stops at the window start, so that step is recorded too), the CPU
//! records the same steps from the same lanes code. A path ends at the run's last step (its
//! outcome); the loss at each point is evaluated on the host in f64.

use crate::engine::Exec;
use crate::error::Result;
use crate::plan::Plan;
use serde::Serialize;

/// At most this many runs are traced: the picture stops being readable well before.
pub const MAX_RUNS: usize = 64;
pub const DEFAULT_SAMPLE: u64 = 8;
/// Default `every`: about this many points per full-length path.
pub const DEFAULT_POINTS: u32 = 1000;

/// `[analysis.trajectories]`, resolved: the run ids and the recording interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    pub runs: Vec<u64>,
    pub every: u32,
}

/// `sample` runs spread evenly over `total` ids: ⌊i·total/sample⌋.
pub fn sample(total: u64, sample: u64) -> Vec<u64> {
    let n = sample.min(total).max(1);
    (0..n).map(|i| (i as u128 * total as u128 / n as u128) as u64).collect()
}

/// One run's path.
#[derive(Debug, Clone)]
pub struct Trace {
    pub run: u64,
    pub steps: Vec<u32>,
    /// Points, flattened: point k is x[k·dim .. (k+1)·dim].
    pub x: Vec<f64>,
    pub loss: Vec<f64>,
}

impl Trace {
    pub fn point(&self, k: usize) -> &[f64] {
        let d = self.x.len() / self.steps.len().max(1);
        &self.x[k * d..(k + 1) * d]
    }
}

/// Whether a path records its point after `s` steps: multiples of `every`, except that with a
/// classification window they count again from the window start (the GPU's dispatch
/// boundaries: its main pipeline stops at the window start).
pub fn records(plan: &Plan, s: u32, every: u32) -> bool {
    let (ws, seg) = plan.rules.window_of(plan.steps);
    if seg > 0 && s >= ws {
        (s - ws).is_multiple_of(every)
    } else {
        s.is_multiple_of(every)
    }
}

/// Trace the runs of `spec` on `exec`.
pub fn trace(plan: &Plan, exec: &Exec, spec: &Spec) -> Result<Vec<Trace>> {
    let mut sub = plan.clone();
    sub.blocks = spec
        .runs
        .iter()
        .enumerate()
        .map(|(k, &id)| {
            let (bi, local) = plan.locate(id).expect("trajectory runs are checked against the plan");
            let b = &plan.blocks[bi];
            b.fixed_at(local, vec![b.axis_value(local, 0)], k as u64)
        })
        .collect();
    sub.steps_per_dispatch = spec.every;
    let dim = plan.objective.dim();
    let mut out = Vec::with_capacity(spec.runs.len());
    for (bi, &run) in spec.runs.iter().enumerate() {
        let (steps, x) = match exec {
            Exec::Cpu => crate::cpu::trace_first_run(&sub, bi, |s| records(plan, s, spec.every)),
            Exec::Gpu(g) => {
                let one = crate::cpu::Selection { offset: 0, stride: 1, count: 1 };
                let (r, paths) = crate::gpu::sweep::trace_block(g, &sub, bi, one)?;
                let b = &sub.blocks[bi];
                let mut steps = vec![0];
                let mut x: Vec<f64> = (0..dim).map(|j| b.axes[1 + b.n_hypers() + j].values[0]).collect();
                for (s, p) in paths.into_iter().next().unwrap_or_default() {
                    if s < r.steps[0] {
                        steps.push(s);
                        x.extend(p);
                    }
                }
                if r.steps[0] > 0 {
                    steps.push(r.steps[0]);
                    x.extend_from_slice(r.point(0));
                }
                (steps, x)
            }
        };
        let loss = x.chunks(dim).map(|p| plan.objective.loss_f64(p)).collect();
        out.push(Trace { run, steps, x, loss });
    }
    Ok(out)
}
