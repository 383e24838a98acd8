//! The CPU backend: the reference path that judges the GPU, and a fast backend of its own.
//! Runs are split into chunks handed out dynamically to all cores (rayon's work stealing),
//! because runs end at very different steps.

pub mod sweep;
pub mod tape;

use crate::engine::Progress;
use crate::outcome::Results;
use crate::plan::{Plan, Precision};
use rayon::prelude::*;
use crate::real::Real;
pub use sweep::Selection;
use sweep::{run_chunk, Kernel, LANES};
use tape::Tape;

/// Run the selected runs of block `bi` on all cores; results in selection order.
pub fn run_block(plan: &Plan, bi: usize, sel: Selection, progress: Progress) -> Results {
    match plan.precision {
        Precision::F32 => run_block_as::<f32>(plan, bi, sel, progress),
        Precision::F64 => run_block_as::<f64>(plan, bi, sel, progress),
    }
}

/// The path of the first run of block `bi` (see [`sweep::trace_run`]).
pub fn trace_first_run(plan: &Plan, bi: usize, record: impl Fn(u32) -> bool) -> (Vec<u32>, Vec<f64>) {
    fn as_<F: Real>(plan: &Plan, bi: usize, record: impl Fn(u32) -> bool) -> (Vec<u32>, Vec<f64>) {
        let tape = Tape::new(&plan.objective);
        let kernel = Kernel::<F>::new(&tape, &plan.blocks[bi], plan.objective.dim(), plan.steps, &plan.rules);
        sweep::trace_run(&kernel, 0, record)
    }
    match plan.precision {
        Precision::F32 => as_::<f32>(plan, bi, record),
        Precision::F64 => as_::<f64>(plan, bi, record),
    }
}

fn run_block_as<F: Real>(plan: &Plan, bi: usize, sel: Selection, progress: Progress) -> Results {
    let block = &plan.blocks[bi];
    let tape = Tape::new(&plan.objective);
    let kernel = Kernel::<F>::new(&tape, block, plan.objective.dim(), plan.steps, &plan.rules);
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
