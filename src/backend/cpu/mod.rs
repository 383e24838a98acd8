//! The CPU backend: the reference path that judges the GPU, and a fast backend of its own.
//! Runs are split into chunks handed out dynamically to all cores (rayon's work stealing),
//! because runs end at very different steps.

pub mod jit;
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

/// The CPU backend. It holds nothing: rayon's global pool is its device. Each block's tape is
/// compiled to native code ([`jit::Jit`]) and the sweep evaluates that; where it cannot be
/// compiled, the block runs on the tape interpreter, and the manifest says so
/// ([`Backend::kernel`]).
pub struct Cpu;

/// The CPU backend on the tape interpreter alone (`--backend cpu-ref`): the reference that
/// the compiled kernel is judged against, bit for bit.
pub struct CpuRef;

/// Why blocks of this process ran on the interpreter where they were to be compiled (the
/// reasons, each once): what the manifest's `kernel` reports for the `cpu` backend.
static INTERPRETED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn note_interpreted(why: String) {
    let mut seen = INTERPRETED.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.contains(&why) {
        eprintln!("gdsweep: warning: the CPU kernel could not be compiled ({why}); running the tape interpreter");
        seen.push(why);
    }
}

macro_rules! cpu_backend {
    ($t:ty, $name:literal, $compiled:literal) => {
        impl Backend for $t {
            fn name(&self) -> &'static str {
                $name
            }

            fn adapter(&self) -> Option<&AdapterSummary> {
                None
            }

            fn device(&self) -> String {
                name()
            }

            fn kernel(&self) -> Option<String> {
                Some(kernel_report($compiled))
            }

            /// On all cores, in chunks handed out dynamically.
            fn run_block(&self, plan: &Plan, block: usize, sel: Selection, progress: Progress) -> Result<Results> {
                Ok(match plan.precision {
                    Precision::F32 => run_block_as::<f32>(plan, block, sel, progress, $compiled),
                    Precision::F64 => run_block_as::<f64>(plan, block, sel, progress, $compiled),
                })
            }

            /// The same eval and update as the sweep, recording at the GPU's dispatch boundaries (see
            /// [`sweep::trace_run`]).
            fn trace_first_run(&self, plan: &Plan, block: usize) -> Result<Path> {
                Ok(match plan.precision {
                    Precision::F32 => trace_as::<f32>(plan, block, $compiled),
                    Precision::F64 => trace_as::<f64>(plan, block, $compiled),
                })
            }
        }
    };
}

cpu_backend!(Cpu, "cpu", true);
cpu_backend!(CpuRef, "cpu-ref", false);

/// What the manifest says of the CPU kernel.
fn kernel_report(compiled: bool) -> String {
    let interpreted = INTERPRETED.lock().unwrap_or_else(|e| e.into_inner());
    match (compiled, interpreted.is_empty()) {
        (false, _) => "tape interpreter (the reference)".into(),
        (true, true) => "compiled (Cranelift)".into(),
        (true, false) => format!("tape interpreter for the blocks that could not be compiled: {}", interpreted.join("; ")),
    }
}

/// The tape compiled, or None (the interpreter) where it was not asked for or cannot be.
fn compile<F: Real>(tape: &Tape, compiled: bool) -> Option<jit::Jit> {
    if !compiled {
        return None;
    }
    jit::Jit::new::<F>(tape).map_err(|e| note_interpreted(e.0)).ok()
}

fn trace_as<F: Real>(plan: &Plan, bi: usize, compiled: bool) -> Path {
    let obj = plan.step_objective(&plan.blocks[bi]);
    let tape = Tape::new(obj, plan.blocks[bi].optimizer.method().hessian);
    let jit = compile::<F>(&tape, compiled);
    let kernel = Kernel::<F>::new(&tape, obj, &plan.blocks[bi], plan.steps, &plan.rules).with_jit(jit.as_ref());
    sweep::trace_run(&kernel, 0, |s| plan.dispatch_boundary(s, plan.steps_per_dispatch))
}

pub fn name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {} threads", rayon::current_num_threads())
}

fn run_block_as<F: Real>(plan: &Plan, bi: usize, sel: Selection, progress: Progress, compiled: bool) -> Results {
    let block = &plan.blocks[bi];
    let obj = plan.step_objective(block);
    let tape = Tape::new(obj, block.optimizer.method().hessian);
    let jit = compile::<F>(&tape, compiled);
    let kernel = Kernel::<F>::new(&tape, obj, block, plan.steps, &plan.rules).with_jit(jit.as_ref());
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
