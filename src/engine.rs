//! Runs a plan on a backend. The plan says what to run; the backend only executes it.

use crate::backend::{AdapterSummary, Backend, Progress};
use crate::error::{Error, Result};
use crate::outcome::Results;
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

    /// Steps actually taken per second (runs that end early count only their steps).
    pub fn work_rate(&self) -> f64 {
        self.results.steps.iter().map(|&s| s as f64).sum::<f64>() / self.seconds.max(1e-9)
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
    crate::outcome::mark_stalled_points(&plan.objective, &mut results);
    crate::outcome::judge_steps_left(plan, &mut results);
    Ok(Report { results, backend: backend.name(), adapter: backend.adapter().cloned(), seconds })
}
