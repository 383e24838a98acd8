//! `[analysis.sharpness]` on ½(1 − xy)², whose answers are known (Cohen et al. 2021's smallest
//! case): the minima are the valley xy = 1, where the Hessian's eigenvalues are {0, x² + y²},
//! so the sharpness there is at least 2 (at x = y = ±1). Hence, for GD on every backend and
//! precision:
//! - with lr > 1 (2/lr < 2) no minimum is stable and no run converges;
//! - with ½ < lr ≤ 1 every minimum has lr·λ_max > 1: runs converge oscillating across the
//!   valley (the residual 1 − xy changes sign every step), while with lr < ½ some do not;
//! - every converged run ends where its sharpness is between 2 and 2/lr, also those whose start
//!   is so unbalanced that gradient flow (which keeps x² − y²) would end sharper than 2/lr.
mod common;

use common::{plan, run_all};
use gdsweep::analysis::sharpness::{finals, sharpness, trace};
use gdsweep::backend::Backend;
use gdsweep::outcome::Status;
use gdsweep::plan::analyses::TrajectorySpec;
use gdsweep::plan::Precision;

/// 24 × 24 starts on [−2.5, 2.5]² (no start exactly on the valley) for each lr.
fn valley(lrs: &str) -> String {
    format!(
        r#"
[objective]
expr = "0.5*(1 - x*y)^2"
[sweep]
lr = {lrs}
[sweep.init]
x = {{ lin = [-2.5, 2.5], n = 24 }}
y = {{ lin = [-2.5, 2.5], n = 24 }}
[[optimizer]]
kind = "gd"
[run]
steps = 3000
[analysis.sharpness]
sample = 0
"#
    )
}

fn no_run_converges_above_lr_one(backend: &dyn Backend, precision: Precision) {
    let p = plan(&valley("[1.02, 1.1, 1.5]"), precision);
    let r = run_all(&p, backend);
    assert_eq!(r.len(), 3 * 24 * 24);
    let converged = r.status.iter().filter(|&&s| s == Status::Converged).count();
    assert_eq!(converged, 0, "{}: with 2/lr < 2 no minimum is stable", backend.name());
    // Not all of them fly off: many stay bounded, cycling across the valley.
    assert!(r.status.iter().filter(|&&s| s == Status::Cycling).count() > 100, "{:?}", r.status.iter().filter(|&&s| s == Status::Cycling).count());
}
per_backend!(no_run_converges_above_lr_one, [f32, f64]);

fn converged_runs_end_below_the_edge(backend: &dyn Backend, precision: Precision) {
    let p = plan(&valley("[0.3, 0.6, 0.9]"), precision);
    let r = run_all(&p, backend);
    let f = finals(&p, &r);
    let mut sharper_flow = [0u32; 3];
    for i in 0..r.len() {
        let (bi, local) = p.locate(r.run[i]).unwrap();
        let b = &p.blocks[bi];
        let (lr, x0, y0) = (b.axis_value(local, 0), b.axis_value(local, b.axes.len() - 2), b.axis_value(local, b.axes.len() - 1));
        assert_eq!(f.edge[i], 2.0 / lr, "GD's edge of stability is 2/lr");
        if r.status[i] != Status::Converged {
            continue;
        }
        let s = f.sharpness[i];
        assert!(s >= 2.0 - 1e-4, "{}: run {} converged at sharpness {s} < 2, off the valley", backend.name(), r.run[i]);
        assert!(s <= f.edge[i] * (1.0 + 1e-4), "{}: run {} (lr {lr}) converged at sharpness {s} > 2/lr", backend.name(), r.run[i]);
        // Gradient flow keeps x² − y²: it would end at √((x₀² − y₀²)² + 4).
        if ((x0 * x0 - y0 * y0).powi(2) + 4.0).sqrt() > 2.0 / lr {
            sharper_flow[[0.3, 0.6, 0.9].iter().position(|&l: &f64| (l - lr).abs() < 1e-6).unwrap()] += 1;
        }
    }
    // The last fact is not empty: at lr 0.6 and 0.9 many converged runs started where the flow
    // ends sharper than 2/lr (at lr 0.3, 2/lr = 6.7 is beyond the flow's reach from these starts).
    assert!(sharper_flow[1..].iter().all(|&n| n >= 10), "{}: converged unbalanced starts per lr {sharper_flow:?}", backend.name());
}
per_backend!(converged_runs_end_below_the_edge, [f32, f64]);

/// Whether the residual 1 − xy changes sign at every one of the last `k` steps where it is
/// still above rounding (|1 − xy| > 1e-3 in f32, 1e-7 in f64).
fn oscillates_at_the_end(x: &[f64], k: usize, floor: f64) -> bool {
    let r: Vec<f64> = x.chunks(2).map(|p| 1.0 - p[0] * p[1]).filter(|r| r.abs() > floor).collect();
    r.len() > k && r[r.len() - k - 1..].windows(2).all(|w| w[0] * w[1] < 0.0)
}

fn above_half_converged_runs_oscillate(backend: &dyn Backend, precision: Precision) {
    let p = plan(&valley("[0.3, 0.9]"), precision);
    let r = run_all(&p, backend);
    let floor = if precision == Precision::F32 { 1e-3 } else { 1e-7 };
    let converged: Vec<u64> = (0..r.len()).filter(|&i| r.status[i] == Status::Converged && r.steps[i] > 20).map(|i| r.run[i]).collect();
    let (low, high): (Vec<u64>, Vec<u64>) = converged.iter().partition(|&&id| id < 24 * 24);
    let pick = |ids: &[u64]| -> Vec<u64> { ids.iter().step_by((ids.len() / 12).max(1)).copied().take(12).collect() };
    let traced = |ids: Vec<u64>| trace(&p, backend, &TrajectorySpec { runs: ids, every: 1 }).unwrap_or_else(|e| panic!("{e}"));
    let high = traced(pick(&high));
    assert!(high.len() >= 10);
    for t in &high {
        assert!(oscillates_at_the_end(&t.trace.x, 6, floor), "{}: run {} at lr 0.9 converged without oscillating", backend.name(), t.trace.run);
        // Its sharpness along the path ends at the run's final sharpness, below 2/lr.
        let last = *t.sharpness.last().unwrap();
        assert!((2.0 - 1e-4..=2.0 / 0.9).contains(&last), "run {}: final sharpness {last}", t.trace.run);
    }
    // At lr 0.3, 1 − 0.3·λ_max > 0 near the sharpest minima reached: those converge monotonically.
    let low = traced(pick(&low));
    assert!(low.iter().any(|t| !oscillates_at_the_end(&t.trace.x, 6, floor)), "{}: every lr 0.3 run oscillated", backend.name());
}
per_backend!(above_half_converged_runs_oscillate, [f32, f64]);

#[test]
fn sharpness_is_the_top_hessian_eigenvalue() {
    let p = plan(&valley("0.5"), Precision::F64);
    for (x, want) in [([1.0, 1.0], 2.0), ([2.0, 0.5], 4.25), ([0.0, 0.0], 1.0)] {
        assert!((sharpness(&p.objective, &x) - want).abs() < 1e-12, "at {x:?}");
    }
    // GD's edge is 2/lr; momentum's (2 + 2β)/lr; none for Adam or with a line search.
    let p = plan(
        r#"
[objective]
expr = "0.5*(1 - x*y)^2"
[sweep]
lr = 0.1
[sweep.init]
x = 1.5
y = 0.5
[[optimizer]]
kind = "gd"
[[optimizer]]
kind = "momentum"
beta = 0.5
[[optimizer]]
kind = "adam"
[[optimizer]]
kind = "gd"
linesearch = "backtracking"
[analysis.sharpness]
sample = 0
"#,
        Precision::F64,
    );
    let edges: Vec<Option<f64>> = p.blocks.iter().map(|b| p.edge_of_stability(b, 0)).collect();
    assert_eq!(edges, [Some(20.0), Some(30.0), None, None]);
}

#[test]
fn bad_sharpness_tables_name_the_field() {
    for (table, field, allowed) in [
        ("[analysis.sharpness]\nsample = 65", "analysis.sharpness.sample", "0 ..= 64"),
        ("[analysis.sharpness]\nsample = 2\nruns = [1]", "analysis.sharpness.sample", "not both"),
        ("[analysis.sharpness]\nruns = [999999]", "analysis.sharpness.runs", "does not exist"),
        ("[analysis.sharpness]\nevery = 0", "analysis.sharpness.every", "1 ..="),
        ("[analysis.sharpness]\nsteps = 3", "", "unknown field"),
    ] {
        let src = format!("{}\n{table}\n", valley("0.5").replace("[analysis.sharpness]\nsample = 0\n", ""));
        let e = gdsweep::config::parse("t.toml", &src, "t", Default::default()).expect_err(table).to_string();
        assert!(e.contains("t.toml") && e.contains(field) && e.contains(allowed), "{table}: {e}");
    }
    // A map coloured by sharpness turns the final values on, without traces.
    let src = valley("0.5").replace("[analysis.sharpness]\nsample = 0\n", "[analysis.map]\nx = \"init_x\"\ny = \"init_y\"\ncolor = \"edge_ratio\"\n");
    let p = plan(&src, Precision::F32);
    assert_eq!(p.sharpness, Some(gdsweep::plan::analyses::SharpnessSpec { trace: None }));
}

/// `gdsweep run` writes the columns and the files, and they say the same thing.
#[test]
fn the_sweep_writes_sharpness_columns_and_traces() {
    let dir = tempfile::tempdir().unwrap();
    let src = valley("[0.6, 1.1]").replace("sample = 0", "runs = [100, 700]\nevery = 1");
    std::fs::write(dir.path().join("c.toml"), &src).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gdsweep"))
        .args(["run", "c.toml", "-b", "cpu", "-q", "--out", "out"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut runs = csv::Reader::from_path(dir.path().join("out/runs.csv")).unwrap();
    let header = runs.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (cs, ce, cx, cy, clr) = (col("sharpness"), col("edge_of_stability"), col("x_x"), col("x_y"), col("lr"));
    assert_eq!(ce, header.len() - 1, "the analyses' columns come last");
    let p = plan(&src, Precision::F32);
    for rec in runs.records() {
        let rec = rec.unwrap();
        let num = |c: usize| rec[c].parse::<f64>().unwrap();
        let x: [f64; 2] = [rec[cx].parse::<f32>().unwrap() as f64, rec[cy].parse::<f32>().unwrap() as f64];
        let s = sharpness(&p.objective, &x);
        if s.is_finite() {
            assert_eq!(num(cs), s);
        } else {
            assert_eq!(&rec[cs], "", "not finite: empty");
        }
        assert_eq!(num(ce), 2.0 / (rec[clr].parse::<f32>().unwrap() as f64));
    }
    let mut traces = csv::Reader::from_path(dir.path().join("out/sharpness.csv")).unwrap();
    let h = traces.headers().unwrap().clone();
    assert_eq!(h.iter().skip(h.len() - 3).collect::<Vec<_>>(), ["loss", "sharpness", "edge_of_stability"]);
    let ids: std::collections::BTreeSet<String> = traces.records().map(|r| r.unwrap()[0].to_string()).collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["100", "700"]);
    assert!(dir.path().join("out/sharpness.png").exists());
}
