//! Backends: what executes a plan's runs. Each implements [`Backend`]; [`open`] is the one place
//! that turns the user's choice into an opened backend. Everything that runs work (the engine,
//! the threshold search, trajectories, verify, bench, the tests) goes through `&dyn Backend`,
//! so a scheduler can hold several at once and hand each its share of the blocks.
//!
//! - [`cpu::Cpu`]: the CPU path, SIMD lanes on all cores (always available), its objective
//!   compiled to native code; [`cpu::CpuRef`], the same on the tape interpreter: the reference.
//! - [`gpu::Gpu`]: shaders/sweep.wgsl through wgpu (Vulkan, Metal, DX12; lavapipe on CPU-only
//!   machines).

pub mod cpu;
pub mod gpu;

use crate::error::{ConfigError, Error, Result};
use crate::outcome::Results;
use crate::plan::{BackendChoice, Plan, Precision, Selection};
use serde::Serialize;

/// Called with the number of runs just finished, from any thread.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// What manifest.json and `gdsweep devices` say of a GPU adapter.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub shader_f64: bool,
}

/// A path recorded by [`Backend::trace_first_run`]: the steps at which points were recorded,
/// the evaluations of the loss and gradient made up to each (line-search trials included), and
/// the points, flattened (point k is `x[k·dim .. (k+1)·dim]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Path {
    pub steps: Vec<u32>,
    pub evals: Vec<u32>,
    pub x: Vec<f64>,
}

/// An opened backend: created once, then given every block of every plan it runs.
pub trait Backend: Send + Sync {
    /// `cpu` or `gpu`, as manifest.json and the tests name it.
    fn name(&self) -> &'static str;
    /// The GPU adapter, where there is one.
    fn adapter(&self) -> Option<&AdapterSummary>;
    /// The device in words: the adapter's name, or the CPU model and its threads.
    fn device(&self) -> String;
    /// Run the selected runs of block `block`; results in selection order. `progress` is
    /// called with the number of runs finished as batches complete.
    fn run_block(&self, plan: &Plan, block: usize, sel: Selection, progress: Progress) -> Result<Results>;
    /// How the kernel runs `plan`, where the backend has a choice (the CPU's: compiled or
    /// interpreted, and why), for manifest.json.
    fn kernel(&self, _plan: &Plan) -> Option<String> {
        None
    }
    /// The path of the first run of block `block`: its initial point, its point after every
    /// `plan.steps_per_dispatch` steps (counted again from the classification window's first
    /// step, where the GPU's main pipeline pauses), and its last point.
    fn trace_first_run(&self, plan: &Plan, block: usize) -> Result<Path>;
}

/// Open the backend the user chose for a plan of `precision` read from `config_file` (see
/// [`open_explained`]).
pub fn open(choice: BackendChoice, precision: Precision, config_file: &str) -> Result<Box<dyn Backend>> {
    open_explained(choice, precision, config_file).map(|(b, _)| b)
}

/// The one opener, with the reason for its choice in words. `auto` takes a hardware GPU (an
/// adapter that is not of device type CPU) that can run the precision, else the CPU backend:
/// a software adapter such as lavapipe runs the same WGSL on the same cores, slower than the
/// CPU backend's own SIMD loop (W1: 4.6× in BENCHMARKS.md), so it is used only when asked for.
/// An explicit `gpu` that cannot run the precision is an error (f64 on an adapter without
/// SHADER_F64 is bad input: exit 2).
pub fn open_explained(choice: BackendChoice, precision: Precision, config_file: &str) -> Result<(Box<dyn Backend>, String)> {
    let f64 = precision == Precision::F64;
    let cpu = || Box::new(cpu::Cpu) as Box<dyn Backend>;
    if !matches!(choice, BackendChoice::Cpu | BackendChoice::CpuRef) {
        gpu::check_backend_env()?;
    }
    match choice {
        BackendChoice::Cpu => Ok((cpu(), "asked for".into())),
        BackendChoice::CpuRef => Ok((Box::new(cpu::CpuRef), "asked for".into())),
        BackendChoice::Auto => Ok(match gpu::Gpu::new(f64) {
            Ok(g) if g.adapter.device_type == "Cpu" => {
                (cpu(), format!("auto: the only adapter, '{}', is a software one, slower than the CPU backend (--backend gpu uses it)", g.adapter.name))
            }
            Ok(g) => {
                let why = format!("auto: hardware adapter '{}'", g.adapter.name);
                (Box::new(g) as Box<dyn Backend>, why)
            }
            Err(e) => (cpu(), format!("auto: no usable GPU adapter ({e})")),
        }),
        BackendChoice::Gpu => match gpu::Gpu::new(f64) {
            Ok(g) => Ok((Box::new(g), "asked for".into())),
            // Tell apart "no adapter" from "adapter without f64".
            Err(e) if f64 => match gpu::Gpu::new(false) {
                Ok(g) => Err(Error::Config(ConfigError {
                    file: config_file.to_string(),
                    line: None,
                    field: "run.precision".into(),
                    message: format!(
                        "f64 needs an adapter with SHADER_F64, and '{}' has none: use precision = \"f32\", or --backend cpu",
                        g.adapter.name
                    ),
                })),
                Err(_) => Err(e),
            },
            Err(e) => Err(e),
        },
    }
}

/// `--devices`: the backends that compute one sweep together, each its share of the chunks
/// (the fast ones take more: see `app::pipeline`). SPEC is `all` (every hardware GPU adapter
/// that can run the precision, then the CPU backend: a software adapter such as lavapipe only
/// competes with the CPU backend for the same cores, so it is used only when named) or a
/// comma-separated list of `cpu`, `gpu` (the preferred adapter) and `gpu:N` (adapter N of
/// [`gpu::Gpu::adapters`], counted from 0).
pub fn open_devices(spec: &str, precision: Precision) -> Result<Vec<Box<dyn Backend>>> {
    let f64 = precision == Precision::F64;
    let bad = |m: String| Error::Usage(format!("--devices {spec}: {m}"));
    let mut out: Vec<Box<dyn Backend>> = Vec::new();
    if spec.trim() == "all" {
        gpu::check_backend_env()?;
        for a in gpu::Gpu::adapters().unwrap_or_default() {
            if a.get_info().device_type == wgpu::DeviceType::Cpu {
                continue;
            }
            if let Ok(g) = gpu::Gpu::open(a, f64) {
                out.push(Box::new(g));
            }
        }
        out.push(Box::new(cpu::Cpu));
        return Ok(out);
    }
    for item in spec.split(',').map(str::trim) {
        match item {
            "cpu" if out.iter().any(|b| b.name().starts_with("cpu")) => return Err(bad("the CPU is named twice".into())),
            "cpu" => out.push(Box::new(cpu::Cpu)),
            "cpu-ref" if out.iter().any(|b| b.name().starts_with("cpu")) => return Err(bad("the CPU is named twice (cpu and cpu-ref share its cores)".into())),
            "cpu-ref" => out.push(Box::new(cpu::CpuRef)),
            _ if item == "gpu" || item.starts_with("gpu:") => {
                gpu::check_backend_env()?;
                let mut adapters = gpu::Gpu::adapters()?;
                let k: usize = match item.strip_prefix("gpu:") {
                    None => 0,
                    Some(n) => n.parse().map_err(|_| bad(format!("'{item}': write gpu:N with N an adapter's number (gdsweep devices)")))?,
                };
                if k >= adapters.len() {
                    return Err(bad(format!("there are {} adapters; gpu:{k} is not one of them (they count from 0)", adapters.len())));
                }
                out.push(Box::new(gpu::Gpu::open(adapters.remove(k), f64)?));
            }
            _ => return Err(bad(format!("'{item}' is not a device: write all, or a list of cpu, cpu-ref, gpu, gpu:N"))),
        }
    }
    if out.is_empty() {
        return Err(bad("no device named".into()));
    }
    Ok(out)
}

/// How much faster than lavapipe a hardware driver is taken to compile a shader, for `auto`'s
/// choice: an assumption (no hardware GPU has measured it here), chosen so that the CPU is taken
/// only where it wins by a wide margin.
pub const HARDWARE_COMPILE_SPEEDUP: f64 = 10.0;

/// The backend for a sweep, with the reason for the choice ([`open_explained`]); `auto` also
/// weighs the shader's compile time: where the CPU backend would finish the whole sweep before
/// even a driver [`HARDWARE_COMPILE_SPEEDUP`]× faster than lavapipe compiles the shader
/// ([`gpu::compile_seconds_estimate`]), it takes the CPU.
pub fn open_for(plan: &Plan) -> Result<(Box<dyn Backend>, String)> {
    if plan.backend == BackendChoice::Auto {
        let (compile, cpu) = (gpu::compile_seconds_estimate(plan.step_ops()), plan.cpu_seconds_estimate());
        if compile / HARDWARE_COMPILE_SPEEDUP > cpu.max(1.0) {
            gpu::check_backend_env()?;
            return Ok((
                Box::new(cpu::Cpu),
                format!(
                    "auto: the shader has {} operations per step: compiling it takes about {compile:.0} s on lavapipe, and even {HARDWARE_COMPILE_SPEEDUP}x faster, longer than the CPU backend takes for the whole sweep ({cpu:.1} s at most); --backend gpu uses the GPU anyway",
                    plan.step_ops()
                ),
            ));
        }
    }
    open_explained(plan.backend, plan.precision, &plan.source)
}

/// A boxed backend is a backend (so `&Box<dyn Backend>` passes where `&dyn Backend` is asked).
impl<B: Backend + ?Sized> Backend for Box<B> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn adapter(&self) -> Option<&AdapterSummary> {
        (**self).adapter()
    }
    fn device(&self) -> String {
        (**self).device()
    }
    fn kernel(&self, plan: &Plan) -> Option<String> {
        (**self).kernel(plan)
    }
    fn run_block(&self, plan: &Plan, block: usize, sel: Selection, progress: Progress) -> Result<Results> {
        (**self).run_block(plan, block, sel, progress)
    }
    fn trace_first_run(&self, plan: &Plan, block: usize) -> Result<Path> {
        (**self).trace_first_run(plan, block)
    }
}
