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
use std::sync::Arc;
use crate::problem::real::Real;
use crate::method::lanes::LANES;
use jit::StepLoop;
use sweep::{run_chunk, Kernel};
use tape::Tape;

/// The CPU backend. It holds nothing: rayon's global pool is its device. Each block is
/// compiled to native code ([`jit::Jit`]): its step loop (eval, line search, outcome checks,
/// update) wherever the block's steps have a compiled form (`Kernel::step_loop`: all but
/// mini-batches), and its tape's instruction lists, which
/// the Rust passes evaluate; what is too short to gain or cannot be compiled runs on the tape
/// interpreter, and the manifest says so ([`Backend::kernel`]).
pub struct Cpu;

/// The CPU backend on the tape interpreter alone (`--backend cpu-ref`): the reference that
/// the compiled kernel is judged against, bit for bit.
pub struct CpuRef;

/// Instruction lists of tapes shorter than this stay on the interpreter (the step loop is
/// compiled whatever the length): their few operations per point leave a compiled list
/// nothing to keep in registers, and the interpreter's loops run at the machine's full vector
/// width where Cranelift has 128 bits (W1, the forum matrix, 5 instructions: 5 % slower
/// compiled; Himmelblau and the 272-parameter network 8 % faster; BENCHMARKS.md, 2026-12-03).
pub const COMPILE_MIN_INSTRUCTIONS: usize = 8;

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

            fn kernel(&self, plan: &Plan) -> Option<String> {
                Some(kernel_report(plan, $compiled))
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

/// What the manifest says of the CPU kernel of `plan`: what was compiled, and what ran on the
/// interpreter and why, for each block (blocks that ran alike together).
fn kernel_report(plan: &Plan, compiled: bool) -> String {
    if !compiled {
        return "tape interpreter (the reference)".into();
    }
    let says: Vec<String> = (0..plan.blocks.len())
        .map(|bi| match plan.precision {
            Precision::F32 => with_kernel::<f32, _>(plan, bi, true, |_, made| made.says.clone()),
            Precision::F64 => with_kernel::<f64, _>(plan, bi, true, |_, made| made.says.clone()),
        })
        .collect();
    if says.iter().all(|s| *s == says[0]) {
        return says[0].clone();
    }
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for (bi, said) in says.iter().enumerate() {
        match groups.iter_mut().find(|(s, _)| s == said) {
            Some((_, blocks)) => blocks.push(bi.to_string()),
            None => groups.push((said, vec![bi.to_string()])),
        }
    }
    groups.iter().map(|(said, blocks)| format!("block{} {}: {said}", if blocks.len() > 1 { "s" } else { "" }, blocks.join(", "))).collect::<Vec<_>>().join("; ")
}

/// A block's compiled code, and what the manifest says of how its kernel ran.
struct Made {
    jit: Option<Arc<jit::Jit>>,
    says: String,
}

/// The code this process compiled, by what it was compiled from (the tape, the step loop, the
/// real's size), most recent last: the pipeline hands a block to `run_block` one chunk at a
/// time (up to 256 per sweep), and each chunk would compile it again (about 1 ms for the
/// forum matrix, 64 chunks for W1).
static COMPILED: std::sync::Mutex<Vec<(String, usize, Arc<jit::Jit>)>> = std::sync::Mutex::new(Vec::new());
/// Most kept (the code of those dropped stays mapped: see `jit::Jit`).
const COMPILED_KEPT: usize = 32;

/// The block's tape compiled where it gains (its lists from [`COMPILE_MIN_INSTRUCTIONS`] on,
/// the step loop where the block has one: `step`, from `Kernel::step_loop`), from the cache
/// where this process compiled it before; and what ran how.
fn compile<F: Real>(tape: &Tape, step: std::result::Result<StepLoop, String>) -> Made {
    let length = tape.instrs.len() + tape.body.len() + tape.post.len();
    let short = (length < COMPILE_MIN_INSTRUCTIONS).then(|| format!("{length} instructions per point, faster interpreted (fewer than {COMPILE_MIN_INSTRUCTIONS})"));
    let says = match (&step, &short) {
        (Ok(_), None) => "compiled (Cranelift): step loop and objective".to_string(),
        (Ok(_), Some(short)) => format!("compiled (Cranelift): step loop; the objective elsewhere on the tape interpreter ({short})"),
        (Err(why), None) => format!("compiled (Cranelift): objective; steps in Rust ({why})"),
        (Err(why), Some(short)) => format!("tape interpreter ({short}; steps in Rust: {why})"),
    };
    let step = step.ok();
    if step.is_none() && short.is_some() {
        return Made { jit: None, says };
    }
    let key = format!("{tape:?} {} {step:?}", short.is_none());
    let size = std::mem::size_of::<F>();
    let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, jit)) = cache.iter().find(|(k, s, _)| *s == size && *k == key) {
        return Made { jit: Some(jit.clone()), says };
    }
    let jit = match jit::Jit::new::<F>(tape, short.is_none(), step.as_ref()) {
        Ok(jit) => Arc::new(jit),
        Err(e) => {
            let why = format!("Cranelift could not compile it ({})", e.0);
            eprintln!("gdsweep: warning: {why}; running the tape interpreter");
            return Made { jit: None, says: format!("tape interpreter ({why})") };
        }
    };
    if cache.len() >= COMPILED_KEPT {
        cache.remove(0);
    }
    cache.push((key, size, jit.clone()));
    Made { jit: Some(jit), says }
}

/// Call `f` with block `bi`'s kernel, compiled where the backend compiles (`cpu`) and it can be.
fn with_kernel<F: Real, R>(plan: &Plan, bi: usize, compiled: bool, f: impl FnOnce(&Kernel<F>, &Made) -> R) -> R {
    let block = &plan.blocks[bi];
    let obj = plan.step_objective(block);
    let tape = Tape::new(obj, block.optimizer.method().hessian);
    let kernel = Kernel::<F>::new(&tape, obj, block, plan.steps, &plan.rules);
    let made = if compiled { compile::<F>(&tape, kernel.step_loop()) } else { Made { jit: None, says: String::new() } };
    let kernel = kernel.with_jit(made.jit.as_deref());
    f(&kernel, &made)
}

fn trace_as<F: Real>(plan: &Plan, bi: usize, compiled: bool) -> Path {
    with_kernel::<F, _>(plan, bi, compiled, |kernel, _| sweep::trace_run(kernel, 0, |s| plan.dispatch_boundary(s, plan.steps_per_dispatch)))
}

pub fn name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {} threads", rayon::current_num_threads())
}

fn run_block_as<F: Real>(plan: &Plan, bi: usize, sel: Selection, progress: Progress, compiled: bool) -> Results {
    with_kernel::<F, _>(plan, bi, compiled, |kernel, _| run_selection(plan, bi, kernel, sel, progress))
}

fn run_selection<F: Real>(plan: &Plan, bi: usize, kernel: &Kernel<F>, sel: Selection, progress: Progress) -> Results {
    let block = &plan.blocks[bi];
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
            let r = run_chunk(kernel, c);
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
