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
use sweep::{run_chunk, Kernel};
use tape::Tape;

/// The CPU backend. It holds nothing: rayon's global pool is its device. Each block's tape is
/// compiled to native code ([`jit::Jit`]) and the sweep evaluates that; where it is too short
/// to gain or cannot be compiled, the block runs on the tape interpreter, and the manifest
/// says so ([`Backend::kernel`]).
pub struct Cpu;

/// The CPU backend on the tape interpreter alone (`--backend cpu-ref`): the reference that
/// the compiled kernel is judged against, bit for bit.
pub struct CpuRef;

/// Tapes shorter than this stay on the interpreter: their few operations per point leave the
/// compiled code nothing to keep in registers, and the interpreter's loops run at the
/// machine's full vector width where Cranelift has 128 bits (W1, the forum matrix, 5
/// instructions: 5 % slower compiled; Himmelblau and the 272-parameter network 8 % faster;
/// BENCHMARKS.md, 2026-12-03).
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

/// What the manifest says of the CPU kernel of `plan`: compiled, or for which blocks the
/// interpreter ran and why.
fn kernel_report(plan: &Plan, compiled: bool) -> String {
    if !compiled {
        return "tape interpreter (the reference)".into();
    }
    // (block, why) for each interpreted block, then the blocks of each reason together.
    let interpreted: Vec<(usize, String)> = (0..plan.blocks.len())
        .filter_map(|bi| {
            let tape = Tape::new(plan.step_objective(&plan.blocks[bi]), plan.blocks[bi].optimizer.method().hessian);
            let why = match plan.precision {
                Precision::F32 => compile::<f32>(&tape).err(),
                Precision::F64 => compile::<f64>(&tape).err(),
            };
            why.map(|why| (bi, why))
        })
        .collect();
    let mut reasons: Vec<(&str, Vec<String>)> = Vec::new();
    for (bi, why) in &interpreted {
        match reasons.iter_mut().find(|(w, _)| w == why) {
            Some((_, blocks)) => blocks.push(bi.to_string()),
            None => reasons.push((why, vec![bi.to_string()])),
        }
    }
    let said: Vec<String> = reasons.iter().map(|(why, blocks)| format!("block{} {}: {why}", if blocks.len() > 1 { "s" } else { "" }, blocks.join(", "))).collect();
    match interpreted.len() {
        0 => "compiled (Cranelift)".into(),
        n if n == plan.blocks.len() => format!("tape interpreter ({})", said.join("; ")),
        _ => format!("compiled (Cranelift), but the tape interpreter for {}", said.join("; ")),
    }
}

/// The tapes this process compiled, by their text and the real's size, most recent last: the
/// pipeline hands a block to `run_block` one chunk at a time (up to 256 per sweep), and each
/// chunk would compile it again (about 1 ms for the forum matrix, 64 chunks for W1).
static COMPILED: std::sync::Mutex<Vec<(String, usize, Arc<jit::Jit>)>> = std::sync::Mutex::new(Vec::new());
/// Most tapes kept (the code of those dropped stays mapped: see `jit::Jit`).
const COMPILED_KEPT: usize = 32;

/// The tape compiled (from the cache where this process compiled it before), or why the
/// interpreter runs it: too short to gain, or Cranelift could not compile it.
fn compile<F: Real>(tape: &Tape) -> std::result::Result<Arc<jit::Jit>, String> {
    let length = tape.instrs.len() + tape.body.len() + tape.post.len();
    if length < COMPILE_MIN_INSTRUCTIONS {
        return Err(format!("{length} instructions per point, faster interpreted (fewer than {COMPILE_MIN_INSTRUCTIONS})"));
    }
    let key = format!("{tape:?}");
    let size = std::mem::size_of::<F>();
    let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, jit)) = cache.iter().find(|(k, s, _)| *s == size && *k == key) {
        return Ok(jit.clone());
    }
    let jit = match jit::Jit::new::<F>(tape) {
        Ok(jit) => Arc::new(jit),
        Err(e) => {
            let why = format!("Cranelift could not compile it ({})", e.0);
            eprintln!("gdsweep: warning: {why}; running the tape interpreter");
            return Err(why);
        }
    };
    if cache.len() >= COMPILED_KEPT {
        cache.remove(0);
    }
    cache.push((key, size, jit.clone()));
    Ok(jit)
}

/// The kernel's compiled tape where the backend compiles (`cpu`) and it can be.
fn compiled_for<F: Real>(tape: &Tape, compiled: bool) -> Option<Arc<jit::Jit>> {
    if compiled { compile::<F>(tape).ok() } else { None }
}

fn trace_as<F: Real>(plan: &Plan, bi: usize, compiled: bool) -> Path {
    let obj = plan.step_objective(&plan.blocks[bi]);
    let tape = Tape::new(obj, plan.blocks[bi].optimizer.method().hessian);
    let jit = compiled_for::<F>(&tape, compiled);
    let kernel = Kernel::<F>::new(&tape, obj, &plan.blocks[bi], plan.steps, &plan.rules).with_jit(jit.as_deref());
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
    let jit = compiled_for::<F>(&tape, compiled);
    let kernel = Kernel::<F>::new(&tape, obj, block, plan.steps, &plan.rules).with_jit(jit.as_deref());
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
