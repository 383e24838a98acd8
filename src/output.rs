//! runs.csv and manifest.json (SPEC.md "Outputs"). Files are written to a temporary name and
//! renamed into place, so an interrupted run never leaves a half-written file over a good one,
//! and existing results are only replaced with `--force`.

use crate::engine::Report;
use crate::error::{Error, Result};
use crate::outcome::Results;
use crate::plan::{Plan, Precision};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const RESULT_FILES: [&str; 2] = ["runs.csv", "manifest.json"];

/// Check that `dir` may receive results, and create it.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    if !force {
        if let Some(f) = RESULT_FILES.iter().map(|f| dir.join(f)).find(|p| p.exists()) {
            return Err(Error::Usage(format!(
                "{} already exists: pass --force to overwrite it, or --out DIR to write elsewhere",
                f.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))
}

/// A number as runs.csv writes it: the shortest text that reads back to the value at the
/// run's precision; exponent form outside [1e-4, 1e15); `nan`, `inf`, `-inf`.
pub fn number(v: f64, p: Precision) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    let plain = a == 0.0 || (1e-4..1e15).contains(&a);
    match (p, plain) {
        (Precision::F32, true) => format!("{}", v as f32),
        (Precision::F32, false) => format!("{:e}", v as f32),
        (Precision::F64, true) => format!("{v}"),
        (Precision::F64, false) => format!("{v:e}"),
    }
}

fn write_atomically(path: &Path, body: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) -> Result<()> {
    let tmp: PathBuf = path.with_extension("partial");
    let io = |e| Error::io(format!("writing {}", path.display()), e);
    let f = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    body(&mut w).map_err(io)?;
    w.flush().map_err(io)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(io)
}

/// runs.csv: run, optimizer, lr, hyperparameters, init_<var>, status, steps, loss, grad_norm, x_<var>.
pub fn write_runs_csv(path: &Path, plan: &Plan, r: &Results) -> Result<()> {
    let hyper_cols = plan.hyper_columns();
    let vars = &plan.objective.vars;
    let p = plan.precision;
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header: Vec<String> = vec!["run".into(), "optimizer".into(), "lr".into()];
        header.extend(hyper_cols.iter().map(|s| s.to_string()));
        header.extend(vars.iter().map(|v| format!("init_{v}")));
        header.extend(["status", "steps", "loss", "grad_norm"].map(String::from));
        header.extend(vars.iter().map(|v| format!("x_{v}")));
        csv.write_record(&header)?;
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        for i in 0..r.len() {
            let id = r.run[i];
            let (bi, local) = plan.locate(id).expect("result ids come from the plan");
            let block = &plan.blocks[bi];
            let params = block.params(local);
            row.clear();
            row.push(id.to_string());
            row.push(block.optimizer.name().into());
            row.push(number(params.lr, p));
            for col in &hyper_cols {
                match block.optimizer.hypers().iter().position(|h| h.name == *col) {
                    Some(k) => row.push(number(params.hypers[k], p)),
                    None => row.push(String::new()),
                }
            }
            row.extend(params.init.iter().map(|&v| number(v, p)));
            row.push(r.status[i].name().into());
            row.push(r.steps[i].to_string());
            row.push(number(r.loss[i], p));
            row.push(number(r.grad_norm[i], p));
            row.extend(r.point(i).iter().map(|&v| number(v, p)));
            csv.write_record(&row)?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// manifest.json: the resolved config, version, backend and adapter, precision, counts per
/// status, wall time, throughput.
pub fn manifest(plan: &Plan, report: &Report) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> =
        report.results.counts().iter().map(|(s, n)| (s.name().to_string(), (*n).into())).collect();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    serde_json::json!({
        "gdsweep_version": env!("CARGO_PKG_VERSION"),
        "config_file": plan.source,
        "config": plan.resolved,
        "backend": report.backend,
        "adapter": report.adapter,
        "precision": plan.precision,
        "runs": report.results.len(),
        "counts": counts,
        "wall_seconds": report.seconds,
        "config_steps_per_second": report.nominal_rate(plan.steps),
        "steps_taken_per_second": report.work_rate(),
        "finished_unix_time": started,
    })
}

pub fn write_manifest(path: &Path, value: &serde_json::Value) -> Result<()> {
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)
    })
}
