//! Trajectories (`[analysis.trajectories]`): the path x₀, x_every, x_2·every, … of a few runs.
//!
//! The chosen runs are run again, each as a one-run block with its own values, on the same
//! backend as the sweep: the GPU reads the state back after every dispatch of `every` steps
//! (its main pipeline also stops at the window start, so that step is recorded too), the CPU
//! records the same steps from the same lanes code. A path ends at the run's last step (its
//! outcome); the loss at each point is evaluated on the host in f64.

use crate::backend::Backend;
use crate::error::Result;
use crate::plan::analyses::TrajectorySpec;
use crate::plan::Plan;

/// One run's path.
#[derive(Debug, Clone)]
pub struct Trace {
    pub run: u64,
    pub steps: Vec<u32>,
    /// Evaluations of the loss and gradient made up to each point (line-search trials too).
    pub evals: Vec<u32>,
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

/// Trace the runs of `spec` on `backend`.
pub fn trace(plan: &Plan, backend: &dyn Backend, spec: &TrajectorySpec) -> Result<Vec<Trace>> {
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
        let path = backend.trace_first_run(&sub, bi)?;
        let loss = path.x.chunks(dim).map(|p| plan.objective_of_run(run).loss_f64(p)).collect();
        out.push(Trace { run, steps: path.steps, evals: path.evals, x: path.x, loss });
    }
    Ok(out)
}
