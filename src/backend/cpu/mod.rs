//! The CPU backend: the reference path that judges the GPU, and a fast backend of its own.
//! Runs are split into chunks handed out dynamically to all cores (rayon's work stealing),
//! because runs end at very different steps.

pub mod sweep;
pub mod tape;

use crate::backend::{Backend, AdapterSummary, Path, Progress};
use crate::error::Result;
use crate::outcome::Results;
use crate::plan::{Plan, Precision, Selection};
use rayon::prelude::*;
use crate::problem::real::Real;
use crate::method::lanes::LANES;
use sweep::{run_chunk, Kernel};
use tape::Tape;

/// The CPU backend. It holds nothing: rayon's global pool is its device.
pub struct Cpu;

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn adapter(&self) -> Option<&AdapterSummary> {
        None
    }

    fn device(&self) -> String {
        name()
    }

    /// On all cores, in chunks handed out dynamically.
    fn run_block(&self, plan: &Plan, block: usize, sel: Selection, progress: Progress) -> Result<Results> {
        Ok(match plan.precision {
            Precision::F32 => run_block_as::<f32>(plan, block, sel, progress),
            Precision::F64 => run_block_as::<f64>(plan, block, sel, progress),
        })
    }

    /// The same eval and update as the sweep, recording at the GPU's dispatch boundaries (see
    /// [`sweep::trace_run`]).
    fn trace_first_run(&self, plan: &Plan, block: usize) -> Result<Path> {
        fn as_<F: Real>(plan: &Plan, bi: usize) -> Path {
            let obj = plan.step_objective(&plan.blocks[bi]);
            let tape = Tape::new(obj, plan.blocks[bi].optimizer.method().hessian);
            let kernel = Kernel::<F>::new(&tape, obj, &plan.blocks[bi], plan.steps, &plan.rules);
            sweep::trace_run(&kernel, 0, |s| plan.dispatch_boundary(s, plan.steps_per_dispatch))
        }
        Ok(match plan.precision {
            Precision::F32 => as_::<f32>(plan, block),
            Precision::F64 => as_::<f64>(plan, block),
        })
    }
}

/// The CPU model and thread count, from /proc/cpuinfo where available.
pub fn name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {} threads", rayon::current_num_threads())
}

fn run_block_as<F: Real>(plan: &Plan, bi: usize, sel: Selection, progress: Progress) -> Results {
    let block = &plan.blocks[bi];
    let obj = plan.step_objective(block);
    let tape = Tape::new(obj, block.optimizer.method().hessian);
    let kernel = Kernel::<F>::new(&tape, obj, block, plan.steps, &plan.rules);
    // Enough chunks for every thread to steal from, none smaller than a few lane-fills.
    let threads = rayon::current_num_threads() as u64;
    let chunk = (sel.count / (threads * 16)).clamp(4 * LANES as u64, 8192);
    let chunks: Vec<Selection> = (0..sel.count.div_ceil(chunk))
        .map(|c| {
            let start = c * chunk;
            Selection { offset: sel.offset + start * sel.stride, stride: sel.stride, count: chunk.min(sel.count - start) }
        })
        .collect();
    let parts: Vec<Results> = chunks
        .into_par_iter()
        .map(|c| {
            let r = run_chunk(&kernel, c);
            progress(c.count);
            r
        })
        .collect();
    let mut all = Results::with_capacity(plan.objective.dim(), sel.count as usize);
    for p in parts {
        all.append(p);
    }
    all.run = (0..sel.count).map(|i| block.first_run + sel.offset + i * sel.stride).collect();
    all
}
