//! `gdsweep bench`: the standard workloads on every available backend, with the peers of
//! ../shared/peers/ timed in the same run when asked.
//!
//! - W1: the forum matrix, GD, 2²⁰ learning rates log-spaced in [1e-6, 1e-4], 1000 steps, f32.
//! - W2: Himmelblau, Adam, 1024 × 1024 starts in [−5, 5]², 1000 steps, f32.
//!
//! Throughput is nominal config-steps per second (runs × steps / wall time, upload, readback
//! and result decoding included), the measure the peers print.

use crate::config::{parse, Overrides};
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
            let sel = plan.selections(None);
            let mut best: Option<BenchRow> = None;
            for _ in 0..repeat.max(1) {
                let report = execute(&plan, backend.as_ref(), &sel)?;
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
            rows.extend(best);
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
