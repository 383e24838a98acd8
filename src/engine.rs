//! Runs a plan on a backend. The plan says what to run; the backend only executes it.

use crate::cpu::{self, Selection};
use crate::error::{ConfigError, Error, Result};
use crate::gpu::{self, AdapterSummary, Gpu};
use crate::outcome::Results;
use crate::plan::{BackendChoice, Plan, Precision};
use std::time::Instant;

/// An opened backend, created once and used for every block of a plan.
pub enum Exec {
    Cpu,
    Gpu(Box<Gpu>),
}

impl Exec {
    pub fn name(&self) -> &'static str {
        match self {
            Exec::Cpu => "cpu",
            Exec::Gpu(_) => "gpu",
        }
    }

    pub fn adapter(&self) -> Option<&AdapterSummary> {
        match self {
            Exec::Cpu => None,
            Exec::Gpu(g) => Some(&g.adapter),
        }
    }

    /// Open the backend a plan asks for. `auto` takes the GPU when an adapter can run the
    /// plan's precision, else the CPU; an explicit `gpu` that cannot is an error (f64 without
    /// SHADER_F64 is bad input: exit 2).
    pub fn open(plan: &Plan, choice: BackendChoice) -> Result<Exec> {
        let f64 = plan.precision == Precision::F64;
        match choice {
            BackendChoice::Cpu => Ok(Exec::Cpu),
            BackendChoice::Auto => Ok(Gpu::new(f64).map(|g| Exec::Gpu(Box::new(g))).unwrap_or(Exec::Cpu)),
            BackendChoice::Gpu => match Gpu::new(f64) {
                Ok(g) => Ok(Exec::Gpu(Box::new(g))),
                Err(e) if f64 => {
                    // Tell apart "no adapter" from "adapter without f64".
                    match Gpu::new(false) {
                        Ok(g) => Err(Error::Config(ConfigError {
                            file: plan.source.clone(),
                            line: None,
                            field: "run.precision".into(),
                            message: format!(
                                "f64 needs an adapter with SHADER_F64, and '{}' has none: use precision = \"f32\", or --backend cpu",
                                g.adapter.name
                            ),
                        })),
                        Err(_) => Err(e),
                    }
                }
                Err(e) => Err(e),
            },
        }
    }
}

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

/// The runs of each block to compute: all of them, or about `sample` evenly strided runs.
pub fn selections(plan: &Plan, sample: Option<u64>) -> Vec<Selection> {
    let stride = match sample {
        Some(n) if n > 0 && n < plan.total_runs() => plan.total_runs().div_ceil(n),
        _ => 1,
    };
    plan.blocks.iter().map(|b| Selection { offset: 0, stride, count: b.runs.div_ceil(stride) }).collect()
}

/// Called with the number of runs just finished, from any thread.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Run the selected runs of every block; results concatenated in block order.
pub fn execute(plan: &Plan, exec: &Exec, sel: &[Selection]) -> Result<Report> {
    execute_with_progress(plan, exec, sel, &|_| {})
}

pub fn execute_with_progress(plan: &Plan, exec: &Exec, sel: &[Selection], progress: Progress) -> Result<Report> {
    let t = Instant::now();
    let mut all: Option<Results> = None;
    for (bi, s) in sel.iter().enumerate() {
        let r = match exec {
            Exec::Cpu => cpu::run_block(plan, bi, *s, progress),
            Exec::Gpu(g) => gpu::sweep::run_block(g, plan, bi, *s, progress)?,
        };
        match &mut all {
            None => all = Some(r),
            Some(a) => a.append(r),
        }
    }
    let mut results = all.ok_or_else(|| Error::Other("the plan has no optimizer blocks".into()))?;
    let seconds = t.elapsed().as_secs_f64();
    crate::basins::mark_stalled_points(&plan.objective, &mut results);
    Ok(Report { results, backend: exec.name(), adapter: exec.adapter().cloned(), seconds })
}
