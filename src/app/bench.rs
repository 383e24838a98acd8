//! `gdsweep bench`: the standard workloads on every available backend, with the peers of
//! ../shared/peers/ timed in the same run when asked.
//!
//! - W1: the forum matrix, GD, 2²⁰ learning rates log-spaced in [1e-6, 1e-4], 1000 steps, f32.
//! - W2: Himmelblau, Adam, 1024 × 1024 starts in [−5, 5]², 1000 steps, f32.
//!
//! - W3: linear regression with a bias on 1000 rows × 8 features (a fixed formula), MSE, GD,
//!   256 learning rates in [1e-3, 1] × runs/256 initial biases, 1000 steps, f32.
//! - W4: the fractal paper's network (16 → 16 → 1, tanh, mean-field, 272 parameters) on 272
//!   rows, GD with per-layer learning rates on a side² log grid over [0.1, 10]², 200 steps, f32.
//!
//! W3 and W4 run with `--models`; their JAX peers are src/app/bench_models.py (same data).
//!
//! Throughput is nominal config-steps per second (runs × steps / wall time, upload, readback
//! and result decoding included), the measure the peers print.

use crate::config::{parse, Overrides};
use crate::backend::cpu::{jit::Jit, sweep::Kernel, tape::Tape};
use crate::backend::Backend;
use crate::engine::execute;
use crate::error::Result;

/// W1: the peers' workload. `window = 0` does what the peers do (no classification of runs
/// that reach `steps`); W1c is W1 with the default outcome window, to show what it costs.
pub fn w1(n: u64, steps: u32, window: Option<u32>) -> String {
    format!(
        "name = \"W1\"\n[objective]\nbuiltin = \"forum_lstsq\"\n[sweep]\nlr = {{ log = [1e-6, 1e-4], n = {n} }}\n[run]\nsteps = {steps}\n{}",
        window.map_or(String::new(), |w| format!("window = {w}\n"))
    )
}

pub fn w2(side: u64, steps: u32) -> String {
    format!(
        "name = \"W2\"\n[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.01\n[sweep.init]\nx = {{ lin = [-5, 5], n = {side} }}\ny = {{ lin = [-5, 5], n = {side} }}\n[[optimizer]]\nkind = \"adam\"\n[run]\nsteps = {steps}\n"
    )
}

/// A table of `rows` rows whose features and target are fixed formulas (the peer script computes
/// the same), as an inline `data = { x, y }`.
fn formula_table(rows: usize, cols: usize, x: impl Fn(usize, usize) -> f64, y: impl Fn(usize, &[f64]) -> f64) -> String {
    let mut xs = Vec::with_capacity(rows);
    let mut ys = Vec::with_capacity(rows);
    for i in 0..rows {
        let row: Vec<f64> = (0..cols).map(|j| x(i, j)).collect();
        ys.push(format!("{:?}", y(i, &row)));
        xs.push(format!("[{}]", row.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")));
    }
    format!("data = {{ x = [{}], y = [{}] }}", xs.join(", "), ys.join(", "))
}

/// W3 with `runs` runs (a multiple of 256).
pub fn w3(runs: u64, steps: u32) -> String {
    let data = formula_table(
        1000,
        8,
        |i, j| (1.3 * i as f64 + 0.7 * j as f64 + 0.01 * (i * j) as f64).sin(),
        |i, x| x.iter().enumerate().map(|(j, v)| 0.1 * (j + 1) as f64 * v).sum::<f64>() + 0.05 * (3.0 * i as f64).sin(),
    );
    format!(
        "name = \"W3\"\n[objective]\n{data}\n[sweep]\nlr = {{ log = [1e-3, 1.0], n = 256 }}\n[sweep.init]\nb = {{ lin = [-1.0, 1.0], n = {} }}\n[run]\nsteps = {steps}\nwindow = 0\n",
        (runs / 256).max(1)
    )
}

/// W4 on a side × side grid of per-layer learning rates.
pub fn w4(side: u64, steps: u32) -> String {
    let data = formula_table(272, 16, |i, j| (0.37 * (16 * i + j) as f64).sin() * 1.5, |i, _| (0.7 * i as f64).cos());
    format!(
        "name = \"W4\"\n[objective]\n{data}\nmodel = {{ mlp = {{ hidden = [16], activation = \"tanh\", bias = false, scaling = \"mean_field\" }} }}\n[sweep]\nlr = 1.0\n[sweep.init]\nscheme = \"normal\"\n[[optimizer]]\nkind = \"gd\"\nlr_scale = {{ l1 = {{ log = [0.1, 10.0], n = {side} }}, l2 = {{ log = [0.1, 10.0], n = {side} }} }}\n[run]\nsteps = {steps}\nwindow = 0\n"
    )
}

/// The CPU kernel's compile time (backend::cpu::jit: the instruction lists, the step loop and
/// the window loop) for every catalogue objective × method × line search (none, backtracking,
/// zoom) × precision, with clipping, weight decay and lr_scale compiled in: milliseconds and
/// what, fastest first.
pub fn compile_times() -> Result<Vec<(f64, String)>> {
    use crate::method::OptimizerKind;
    use crate::plan::Precision;
    let mut times = Vec::new();
    for entry in crate::problem::catalogue::CATALOGUE {
        for kind in OptimizerKind::ALL {
            for search in SEARCHES {
                let src = kernel_case(entry, kind, search);
                for precision in [Precision::F32, Precision::F64] {
                    let plan = parse("bench", &src, "bench", Overrides { precision: Some(precision), ..Default::default() })?;
                    let ms = match precision {
                        Precision::F32 => compile_time::<f32>(&plan)?,
                        Precision::F64 => compile_time::<f64>(&plan)?,
                    };
                    times.push((ms, format!("{} / {} / {search} / {}", entry.name, kind.name(), precision.name())));
                }
            }
        }
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(times)
}

/// Each line search a block can have, and none (`linesearch = "…"`).
pub const SEARCHES: [&str; 3] = ["none", "backtracking", "zoom"];

/// A one-run config of catalogue objective `entry` with method `kind`, line search `search`
/// and every knob the compiled step loop takes (clipping, weight decay, lr_scale).
pub fn kernel_case(entry: &crate::problem::catalogue::Entry, kind: crate::method::OptimizerKind, search: &str) -> String {
    format!(
        "[objective]\nbuiltin = \"{}\"\n[sweep]\nlr = 0.01\n[[optimizer]]\nkind = \"{}\"\nlinesearch = \"{search}\"\nclip_norm = 1.0\nweight_decay = 0.1\nlr_scale = {{ {} = 2.0 }}\n",
        entry.name,
        kind.name(),
        entry.vars[0]
    )
}

/// Milliseconds to compile the kernel of `plan`'s first block, as the CPU backend does.
fn compile_time<F: crate::problem::real::Real>(plan: &crate::plan::Plan) -> Result<f64> {
    let block = &plan.blocks[0];
    let obj = plan.step_objective(block);
    let tape = Tape::new(obj, block.optimizer.method().hessian);
    let spec = Kernel::<F>::new(&tape, obj, block, plan.steps, &plan.rules).step_loop().ok();
    let start = std::time::Instant::now();
    Jit::new::<F>(&tape, true, spec.as_ref()).map_err(|e| crate::error::Error::Other(format!("compiling {}: {}", plan.name, e.0)))?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// W3 (`runs`) and W4 (`side`²) on each backend, best of `repeat`.
pub fn run_models(runs: u64, side: u64, backends: &[Box<dyn Backend>], repeat: u32) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for (name, src) in [("W3", w3(runs, 1000)), ("W4", w4(side, 200))] {
        let plan = parse(name, &src, name, Overrides::default())?;
        for backend in backends {
            rows.extend(best_of(&plan, name, backend.as_ref(), repeat)?);
        }
    }
    Ok(rows)
}

/// The fastest of `repeat` runs of `plan` on `backend`.
fn best_of(plan: &crate::plan::Plan, name: &str, backend: &dyn Backend, repeat: u32) -> Result<Option<BenchRow>> {
    let sel = plan.selections(None);
    let mut best: Option<BenchRow> = None;
    for _ in 0..repeat.max(1) {
        let report = execute(plan, backend, &sel)?;
        if best.as_ref().is_none_or(|r| report.seconds < r.seconds) {
            best = Some(BenchRow {
                workload: name.into(),
                backend: backend.name().into(),
                device: backend.adapter().map_or_else(|| backend.device(), |a| format!("{} ({})", a.name, a.backend)),
                seconds: report.seconds,
                config_steps_per_s: report.nominal_rate(plan.steps),
            });
        }
    }
    Ok(best)
}

/// The JAX peer of W3 or W4 (src/app/bench_models.py) with `python`: one row, or None where it
/// did not run (reported on stderr).
pub fn run_model_peer(python: &str, workload: &str, size: u64, steps: u32, repeat: u32) -> Result<Option<PeerRow>> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app/bench_models.py");
    let mut best: Option<PeerRow> = None;
    for _ in 0..repeat.max(1) {
        let out = std::process::Command::new(python)
            .arg(&script)
            .args([workload.to_lowercase(), size.to_string(), steps.to_string()])
            .output()
            .map_err(|e| crate::error::Error::Usage(format!("cannot run {python} {}: {e}", script.display())))?;
        match String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str::<PeerRow>(l).ok()).next() {
            Some(r) if best.as_ref().is_none_or(|b| r.seconds < b.seconds) => best = Some(r),
            Some(_) => {}
            None => eprintln!("peer for {workload} did not run: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")),
        }
    }
    Ok(best)
}

#[derive(Debug, Clone)]
pub struct BenchRow {
    pub workload: String,
    pub backend: String,
    pub device: String,
    pub seconds: f64,
    pub config_steps_per_s: f64,
}

/// Run W1 (n learning rates) and W2 (side² starts) on each opened backend, best of `repeat`
/// runs (shared machines are noisy; the best run is the least disturbed).
pub fn run(n: u64, side: u64, steps: u32, backends: &[Box<dyn Backend>], repeat: u32) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for (name, src) in [("W1", w1(n, steps, Some(0))), ("W1c", w1(n, steps, None)), ("W2", w2(side, steps))] {
        let plan = parse(name, &src, name, Overrides::default())?;
        for backend in backends {
            rows.extend(best_of(&plan, name, backend.as_ref(), repeat)?);
        }
    }
    Ok(rows)
}

/// One peer's W1 result, as ../shared/peers/lstsq_sweep.py prints it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PeerRow {
    pub peer: String,
    pub seconds: f64,
    pub config_steps_per_s: f64,
}

/// Run the peer script on W1 (same n and steps) with `python`, best of `repeat`; one row per
/// peer that ran. A peer that fails (say, jax not installed) is reported on stderr and left out.
pub fn run_peers(python: &str, script: &std::path::Path, n: u64, steps: u32, peers: &str, repeat: u32) -> Result<Vec<PeerRow>> {
    let mut rows: Vec<PeerRow> = Vec::new();
    for peer in peers.split(',').flat_map(|p| std::iter::repeat_n(p, repeat.max(1) as usize)) {
        let out = std::process::Command::new(python)
            .arg(script)
            .args([n.to_string(), steps.to_string(), peer.to_string()])
            .output()
            .map_err(|e| crate::error::Error::Usage(format!("cannot run {python} {}: {e}", script.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.lines().filter_map(|l| serde_json::from_str::<PeerRow>(l).ok()).next() {
            Some(r) => match rows.iter_mut().find(|x| x.peer == r.peer) {
                Some(x) if r.seconds < x.seconds => *x = r,
                Some(_) => {}
                None => rows.push(r),
            },
            None => eprintln!("peer {peer} did not run: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")),
        }
    }
    Ok(rows)
}
