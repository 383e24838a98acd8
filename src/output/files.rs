//! runs.csv and manifest.json (README "Outputs"). Files are written to a temporary name and
//! renamed into place, so an interrupted run never leaves a half-written file over a good one,
//! and existing results are only replaced with `--force`.

use crate::engine::Report;
use crate::error::{Error, Result};
use crate::outcome::Results;
use crate::plan::{Plan, Precision};
use std::io::Write;
use std::path::Path;

pub const RESULT_FILES: [&str; 11] = [
    "runs.csv",
    "manifest.json",
    "basins.csv",
    "thresholds.csv",
    "map.csv",
    "map_grid.csv",
    "map.png",
    "trajectories.csv",
    "trajectories.png",
    "differences.csv",
    "verify.json",
];

/// A number as runs.csv writes it: the shortest text that reads back to the value at the
/// run's precision, always with a decimal point or an exponent; exponent form outside
/// [1e-4, 1e15); `nan`, `inf`, `-inf`.
pub fn number(v: f64, p: Precision) -> String {
    let mut s = String::new();
    push_number(&mut s, v, p);
    s
}

pub fn push_number(out: &mut String, v: f64, p: Precision) {
    use std::fmt::Write as _;
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    let a = v.abs();
    let plain = a == 0.0 || (1e-4..1e15).contains(&a);
    let start = out.len();
    let _ = match (p, plain) {
        (Precision::F32, true) => write!(out, "{}", v as f32),
        (Precision::F32, false) => write!(out, "{:e}", v as f32),
        (Precision::F64, true) => write!(out, "{v}"),
        (Precision::F64, false) => write!(out, "{v:e}"),
    };
    // A whole number still reads as a float ("1.0", not "1"), so a column's type does not
    // depend on its values (pandas would make init_x int64 in one sweep, float64 in the next).
    if !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// A measured value that may not apply (NaN: empty cell), in f64 digits: rate, steps_left.
fn optional(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        number(v, Precision::F64)
    }
}

/// Write `path` whole or not at all: into an exclusive temporary file of a random name in the
/// same folder (created with O_EXCL, so a symlink planted there is never followed), fsynced,
/// then renamed over `path`. On any error the temporary file is removed.
fn write_atomically(path: &Path, body: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) -> Result<()> {
    let io = |e| Error::io(format!("writing {}", path.display()), e);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new().prefix(super::folder::TEMP_PREFIX).tempfile_in(dir).map_err(io)?;
    let (file, tmp_path) = tmp.into_parts();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    body(&mut w).map_err(io)?;
    w.flush().map_err(io)?;
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    tmp_path.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// The columns that say which run a row is: run, optimizer, block, lr, hyperparameters,
/// `init_<var>` (runs.csv and verify's differences.csv).
fn identity_header(plan: &Plan, hyper_cols: &[String]) -> Vec<String> {
    let mut header: Vec<String> = ["run", "optimizer", "block", "lr"].map(String::from).to_vec();
    header.extend(hyper_cols.iter().cloned());
    header.extend(plan.objective.vars.iter().map(|v| format!("init_{v}")));
    header
}

/// The identity fields of run `id`, each appended to `text` with its end in `ends`.
fn push_identity(text: &mut String, ends: &mut Vec<usize>, plan: &Plan, hyper_cols: &[String], id: u64) {
    use std::fmt::Write as _;
    let p = plan.precision;
    let (bi, local) = plan.locate(id).expect("result ids come from the plan");
    let block = &plan.blocks[bi];
    let _ = write!(text, "{id}");
    ends.push(text.len());
    text.push_str(block.optimizer.name());
    ends.push(text.len());
    let _ = write!(text, "{bi}");
    ends.push(text.len());
    push_number(text, block.axis_value(local, 0), p);
    ends.push(text.len());
    for col in hyper_cols {
        if let Some(k) = block.hyper_index(col) {
            push_number(text, block.axis_value(local, 1 + k), p);
        }
        ends.push(text.len());
    }
    for j in 0..plan.objective.dim() {
        push_number(text, block.axis_value(local, 1 + block.n_hypers() + j), p);
        ends.push(text.len());
    }
}

/// Write `text` cut at `ends` as one CSV record.
fn write_fields<W: std::io::Write>(csv: &mut csv::Writer<W>, text: &str, ends: &[usize]) -> csv::Result<()> {
    let bytes = text.as_bytes();
    let mut start = 0;
    csv.write_record(ends.iter().map(|&e| {
        let f = &bytes[start..e];
        start = e;
        f
    }))
}

/// runs.csv: run, optimizer, block, lr, hyperparameters, `init_<var>`, status, steps, loss,
/// grad_norm, `x_<var>`, rate, period, steps_left.
/// Rows are formatted in parallel chunks and written in order.
pub fn write_runs_csv(path: &Path, plan: &Plan, r: &Results) -> Result<()> {
    write_runs_csv_with_basins(path, plan, r, None)
}

/// runs.csv with a last column `basin` (the basin id of converged runs, empty otherwise).
pub fn write_runs_csv_with_basins(path: &Path, plan: &Plan, r: &Results, basins: Option<&[Option<usize>]>) -> Result<()> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    let hyper_cols = plan.hyper_columns();
    let vars = &plan.objective.vars;
    write_atomically(path, |w| {
        let mut header = identity_header(plan, &hyper_cols);
        header.extend(["status", "steps", "loss", "grad_norm"].map(String::from));
        header.extend(vars.iter().map(|v| format!("x_{v}")));
        header.extend(["rate", "period", "steps_left"].map(String::from));
        if basins.is_some() {
            header.push("basin".into());
        }
        let mut csv = csv::WriterBuilder::new().from_writer(Vec::new());
        csv.write_record(&header)?;
        w.write_all(&csv.into_inner().map_err(|e| e.into_error())?)?;
        let n_chunks = r.len().div_ceil(CHUNK);
        // A window of chunks at a time bounds the memory of formatted text.
        let window = rayon::current_num_threads() * 4;
        for first in (0..n_chunks).step_by(window) {
            let parts: Vec<std::io::Result<Vec<u8>>> = (first..(first + window).min(n_chunks))
                .into_par_iter()
                .map(|c| format_rows(plan, r, c * CHUNK..((c + 1) * CHUNK).min(r.len()), &hyper_cols, basins))
                .collect();
            for part in parts {
                w.write_all(&part?)?;
            }
        }
        Ok(())
    })
}

fn format_rows(
    plan: &Plan,
    r: &Results,
    rows: std::ops::Range<usize>,
    hyper_cols: &[String],
    basins: Option<&[Option<usize>]>,
) -> std::io::Result<Vec<u8>> {
    use std::fmt::Write as _;
    let p = plan.precision;
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::with_capacity(rows.len() * 96));
    let mut text = String::with_capacity(512);
    let mut ends: Vec<usize> = Vec::with_capacity(32);
    for i in rows {
        text.clear();
        ends.clear();
        push_identity(&mut text, &mut ends, plan, hyper_cols, r.run[i]);
        text.push_str(r.status[i].name());
        ends.push(text.len());
        let _ = write!(text, "{}", r.steps[i]);
        ends.push(text.len());
        push_number(&mut text, r.loss[i], p);
        ends.push(text.len());
        push_number(&mut text, r.grad_norm[i], p);
        ends.push(text.len());
        for &v in r.point(i) {
            push_number(&mut text, v, p);
            ends.push(text.len());
        }
        // Not applicable: empty (rate and steps_left are NaN, period 0).
        if !r.rate[i].is_nan() {
            push_number(&mut text, r.rate[i], Precision::F64);
        }
        ends.push(text.len());
        if r.period[i] > 0 {
            let _ = write!(text, "{}", r.period[i]);
        }
        ends.push(text.len());
        if !r.steps_left[i].is_nan() {
            push_number(&mut text, r.steps_left[i], Precision::F64);
        }
        ends.push(text.len());
        if let Some(labels) = basins {
            if let Some(b) = labels[i] {
                let _ = write!(text, "{b}");
            }
            ends.push(text.len());
        }
        write_fields(&mut csv, &text, &ends)?;
    }
    csv.into_inner().map_err(|e| e.into_error())
}

/// verify's differences.csv: every run whose status differs between the backends, with its
/// class (`differs`, `boundary`, `rounding_chaos`: see analysis::verify) and, per backend,
/// status, steps, loss, grad_norm and final point.
pub fn write_differences_csv(path: &Path, plan: &Plan, gpu: &Results, cpu: &Results, rows: &[(usize, crate::analysis::verify::Difference)]) -> Result<()> {
    let hyper_cols = plan.hyper_columns();
    let p = plan.precision;
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header = identity_header(plan, &hyper_cols);
        header.push("class".into());
        for col in ["status", "steps", "loss", "grad_norm"] {
            header.extend([format!("{col}_gpu"), format!("{col}_cpu")]);
        }
        for v in &plan.objective.vars {
            header.extend([format!("x_{v}_gpu"), format!("x_{v}_cpu")]);
        }
        csv.write_record(&header)?;
        let (mut text, mut ends) = (String::new(), Vec::new());
        for &(i, class) in rows {
            text.clear();
            ends.clear();
            push_identity(&mut text, &mut ends, plan, &hyper_cols, cpu.run[i]);
            text.push_str(class.name());
            ends.push(text.len());
            for r in [gpu, cpu] {
                text.push_str(r.status[i].name());
                ends.push(text.len());
            }
            for r in [gpu, cpu] {
                text.push_str(&r.steps[i].to_string());
                ends.push(text.len());
            }
            for r in [gpu, cpu] {
                push_number(&mut text, r.loss[i], p);
                ends.push(text.len());
            }
            for r in [gpu, cpu] {
                push_number(&mut text, r.grad_norm[i], p);
                ends.push(text.len());
            }
            for j in 0..cpu.dim {
                for r in [gpu, cpu] {
                    push_number(&mut text, r.point(i)[j], p);
                    ends.push(text.len());
                }
            }
            write_fields(&mut csv, &text, &ends)?;
        }
        csv.flush()
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

/// basins.csv: one row per optimizer block × lr × basin reached (see `basins`).
pub fn write_basins_csv(path: &Path, plan: &Plan, map: &crate::analysis::basins::BasinMap, rows: &[crate::analysis::basins::GroupRow]) -> Result<()> {
    let vars = &plan.objective.vars;
    let d = vars.len();
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header: Vec<String> = ["basin", "optimizer", "block", "lr", "count", "fraction", "entropy", "kind", "loss"]
            .map(String::from)
            .to_vec();
        header.extend(vars.iter().map(|v| format!("x_{v}")));
        header.extend((1..=d).map(|k| format!("eigenvalue_{k}")));
        header.push("gd_lr_threshold".into());
        header.push("runs_in_basin".into());
        csv.write_record(&header)?;
        let f = |v: f64| number(v, crate::plan::Precision::F64);
        for row in rows {
            let b = &map.basins[row.basin];
            let mut rec: Vec<String> = vec![
                b.id.to_string(),
                plan.blocks[row.block].optimizer.name().into(),
                row.block.to_string(),
                number(row.lr, plan.precision),
                row.count.to_string(),
                f(row.fraction),
                f(row.entropy),
                b.kind.into(),
                f(b.loss),
            ];
            rec.extend(b.centre.iter().map(|&v| f(v)));
            rec.extend(b.eigenvalues.iter().map(|&v| f(v)));
            rec.push(b.gd_threshold.map(f).unwrap_or_default());
            rec.push(b.count.to_string());
            csv.write_record(&rec)?;
        }
        csv.flush()
    })
}

/// thresholds.csv: one row per group of runs that differ only in lr (see `threshold`):
/// optimizer, block, the group's hyperparameters and initial point, lr_stable, lr_unstable,
/// rel_width, crossings, lr_theory, rounds, stop. Empty where a value does not exist.
pub fn write_thresholds_csv(path: &Path, plan: &Plan, search: &crate::analysis::threshold::Search) -> Result<()> {
    let hyper_cols = plan.hyper_columns();
    let vars = &plan.objective.vars;
    let p = plan.precision;
    let f = |v: Option<f64>, p: Precision| v.map(|v| number(v, p)).unwrap_or_default();
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header: Vec<String> = vec!["optimizer".into(), "block".into()];
        header.extend(hyper_cols.iter().cloned());
        header.extend(vars.iter().map(|v| format!("init_{v}")));
        header.extend(["lr_stable", "lr_unstable", "rel_width", "crossings", "lr_theory", "rounds", "stop"].map(String::from));
        csv.write_record(&header)?;
        for t in &search.thresholds {
            let block = &plan.blocks[t.block];
            let mut rec: Vec<String> = vec![block.optimizer.name().into(), t.block.to_string()];
            rec.extend(hyper_cols.iter().map(|c| f(block.hyper_index(c).map(|k| block.axis_value(t.rest, 1 + k)), p)));
            rec.extend((0..vars.len()).map(|j| number(block.axis_value(t.rest, 1 + block.n_hypers() + j), p)));
            rec.push(f(t.lr_stable, p));
            rec.push(f(t.lr_unstable, p));
            rec.push(f(t.rel_width(), Precision::F64));
            rec.push(t.crossings.to_string());
            rec.push(f(t.lr_theory, Precision::F64));
            rec.push(t.rounds.to_string());
            rec.push(t.stop.name().into());
            csv.write_record(&rec)?;
        }
        csv.flush()
    })
}

/// A file's bytes, written atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |w| w.write_all(bytes))
}

/// The value a map colours a run by, as map.csv writes it.
fn map_value(map: &crate::analysis::map::Map, r: &Results, i: usize, basins: Option<&[Option<usize>]>, p: Precision) -> String {
    use crate::plan::analyses::Colour;
    match map.spec.color {
        Colour::Status => r.status[i].name().to_string(),
        Colour::Basin => basins.and_then(|b| b[i]).map(|b| b.to_string()).unwrap_or_default(),
        Colour::Steps => r.steps[i].to_string(),
        Colour::Loss => number(r.loss[i], p),
        Colour::Rate => optional(r.rate[i]),
    }
}

/// map.csv (tidy: one row per run on the map: run, panel, panel_label, optimizer, the map's
/// axes, status, steps, loss, rate, basin, value) and map_grid.csv (2-D: panel, panel_label,
/// the y value, then one column per x value; 1-D: the x value, then one column per series).
pub fn write_map_csvs(dir: &Path, plan: &Plan, map: &crate::analysis::map::Map, r: &Results, basins: Option<&[Option<usize>]>) -> Result<()> {
    let p = plan.precision;
    let nx = map.x.values.len();
    write_atomically(&dir.join("map.csv"), |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header = vec!["run".to_string(), "panel".into(), "panel_label".into(), "optimizer".into(), map.x.name.clone()];
        header.extend(map.y.iter().map(|a| a.name.clone()));
        header.extend(["status", "steps", "loss", "rate", "basin", "value"].map(String::from));
        csv.write_record(&header)?;
        for (k, panel) in map.panels.iter().enumerate() {
            for (c, &i) in panel.cells.iter().enumerate() {
                let mut rec = vec![
                    r.run[i].to_string(),
                    k.to_string(),
                    panel.label.clone(),
                    plan.blocks[panel.block].optimizer.name().to_string(),
                    number(map.x.values[c % nx], p),
                ];
                rec.extend(map.y.iter().map(|a| number(a.values[c / nx], p)));
                rec.push(r.status[i].name().into());
                rec.push(r.steps[i].to_string());
                rec.push(number(r.loss[i], p));
                rec.push(optional(r.rate[i]));
                rec.push(basins.and_then(|b| b[i]).map(|b| b.to_string()).unwrap_or_default());
                rec.push(map_value(map, r, i, basins, p));
                csv.write_record(&rec)?;
            }
        }
        csv.flush()
    })?;
    write_atomically(&dir.join("map_grid.csv"), |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        match &map.y {
            Some(y) => {
                let mut header = vec!["panel".to_string(), "panel_label".into(), format!("{}\\{}", y.name, map.x.name)];
                header.extend(map.x.values.iter().map(|&v| number(v, p)));
                csv.write_record(&header)?;
                for (k, panel) in map.panels.iter().enumerate() {
                    for (iy, &yv) in y.values.iter().enumerate() {
                        let mut rec = vec![k.to_string(), panel.label.clone(), number(yv, p)];
                        rec.extend((0..nx).map(|ix| map_value(map, r, panel.cells[iy * nx + ix], basins, p)));
                        csv.write_record(&rec)?;
                    }
                }
            }
            None => {
                let mut header = vec![map.x.name.clone()];
                header.extend(map.panels.iter().map(|q| q.label.clone()));
                csv.write_record(&header)?;
                for (ix, &xv) in map.x.values.iter().enumerate() {
                    let mut rec = vec![number(xv, p)];
                    rec.extend(map.panels.iter().map(|q| map_value(map, r, q.cells[ix], basins, p)));
                    csv.write_record(&rec)?;
                }
            }
        }
        csv.flush()
    })
}

/// trajectories.csv: one row per recorded point: run, optimizer, lr, step, `x_<var>`, loss.
pub fn write_trajectories_csv(path: &Path, plan: &Plan, traces: &[crate::analysis::trajectory::Trace]) -> Result<()> {
    let p = plan.precision;
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header = vec!["run".to_string(), "optimizer".into(), "lr".into(), "step".into()];
        header.extend(plan.objective.vars.iter().map(|v| format!("x_{v}")));
        header.push("loss".into());
        csv.write_record(&header)?;
        for t in traces {
            let (bi, local) = plan.locate(t.run).expect("traced runs come from the plan");
            let b = &plan.blocks[bi];
            let (name, lr) = (b.optimizer.name().to_string(), number(b.axis_value(local, 0), p));
            for (k, &step) in t.steps.iter().enumerate() {
                let mut rec = vec![t.run.to_string(), name.clone(), lr.clone(), step.to_string()];
                rec.extend(t.point(k).iter().map(|&v| number(v, p)));
                rec.push(number(t.loss[k], Precision::F64));
                csv.write_record(&rec)?;
            }
        }
        csv.flush()
    })
}
