//! The pipeline of `gdsweep run` as a library function: plan → execute on a backend (with the
//! stalled relabel) → basins → thresholds → map (which draws them) → trajectories → files,
//! manifest last. The CLI
//! only parses, opens the backend, shows progress and prints what this returns.

use crate::analysis::basins::{self, BasinMap};
use crate::analysis::threshold::{self, Search};
use crate::analysis::{map, trajectory};
use crate::backend::{Backend, Progress};
use crate::engine::{execute_with_progress, Report};
use crate::error::{Error, Result};
use crate::output::{files, plot};
use crate::plan::Plan;
use std::path::Path;

/// What one sweep produced, besides its files.
pub struct Sweep {
    pub report: Report,
    pub basins: Option<BasinMap>,
    pub thresholds: Option<Search>,
}

/// Run `plan` on `backend` and write every result file into `dir` (opened and locked by the
/// caller: see [`crate::output::folder::ResultFolder`]). manifest.json is written last and
/// lists the files written, so it is the sweep's commit record.
pub fn run(plan: &Plan, backend: &dyn Backend, dir: &Path, progress: Progress) -> Result<Sweep> {
    let report = execute_with_progress(plan, backend, &plan.selections(None), progress)?;
    let mut written: Vec<&str> = Vec::new();
    let results = &report.results;
    let basin_map = plan.basins.map(|tol| basins::find(&plan.objective, results, tol));
    let labels = basin_map.as_ref().map(|m| m.label.as_slice());
    files::write_runs_csv_with_basins(&dir.join("runs.csv"), plan, results, labels)?;
    written.push("runs.csv");
    if let Some(m) = &basin_map {
        files::write_basins_csv(&dir.join("basins.csv"), plan, m, &basins::group_counts(plan, results, m))?;
        written.push("basins.csv");
    }
    let thresholds = match &plan.threshold {
        Some(spec) => Some(threshold::search(plan, backend, results, spec)?),
        None => None,
    };
    if let Some(spec) = &plan.map {
        let laid_out = map::build(plan, spec, results);
        files::write_map_csvs(dir, plan, &laid_out, results, labels)?;
        written.extend(["map.csv", "map_grid.csv"]);
        let png = match laid_out.y {
            Some(_) => plot::map_png(plan, &laid_out, results, basin_map.as_ref()),
            None => plot::line_png(plan, &laid_out, results, thresholds.as_ref()),
        }
        .map_err(Error::Other)?;
        files::write_bytes(&dir.join("map.png"), &png)?;
        written.push("map.png");
    }
    if let Some(spec) = &plan.trajectories {
        let traces = trajectory::trace(plan, backend, spec)?;
        files::write_trajectories_csv(&dir.join("trajectories.csv"), plan, &traces)?;
        written.push("trajectories.csv");
        let png = plot::trajectories_png(plan, &traces).map_err(Error::Other)?;
        files::write_bytes(&dir.join("trajectories.png"), &png)?;
        written.push("trajectories.png");
    }
    if let Some(search) = &thresholds {
        files::write_thresholds_csv(&dir.join("thresholds.csv"), plan, search)?;
        written.push("thresholds.csv");
    }
    let mut manifest = files::manifest(plan, &report);
    if let Some(search) = &thresholds {
        manifest["threshold"] = serde_json::json!({
            "groups": search.thresholds.len(),
            "rounds": search.rounds,
            "refinement_runs": search.refinement_runs,
            "seconds": search.seconds,
        });
    }
    manifest["files"] = serde_json::json!(written);
    files::write_manifest(&dir.join("manifest.json"), &manifest)?;
    Ok(Sweep { report, basins: basin_map, thresholds })
}
