//! The command line as users meet it: bad input gives exit code 2 and a message naming the
//! file, the field and what is allowed; results are written as README "Outputs" says and never overwritten
//! silently.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn gdsweep(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gdsweep")).args(args).current_dir(dir).output().expect("gdsweep runs")
}

fn bad(config: &str, field: &str, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).unwrap();
    let out = gdsweep(&["run", "bad.toml", "--backend", "cpu"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code for {field}: {err}");
    assert!(err.contains("bad.toml"), "names the file: {err}");
    assert!(err.contains(field), "names the field {field}: {err}");
    assert!(err.contains(says), "says '{says}': {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!dir.path().join("results").exists(), "nothing written for bad input");
}

const OK_HEAD: &str = "[objective]\nexpr = \"x^2 + y^2\"\n";

#[test]
fn unknown_key() {
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\nlearning_rate = 0.1\n"), "sweep.learning_rate", "unknown field");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nstep = 10\n"), "run.step", "unknown field");
}

#[test]
fn outcome_window_rules_are_checked() {
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nwindow = 4\n"), "run.window", "or 8 ..=");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nmax_period = 0\n"), "run.max_period", "1 ..=");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\ncycle_tol = -1.0\n"), "run.cycle_tol", ">= 0");
}

/// An asymmetric quadratic and a range too wide for f64 are refused, naming the field.
#[test]
fn asymmetric_quadratics_and_overflowing_ranges() {
    bad("[objective]\nquadratic = { h = [[1.0, 2.0], [0.0, 1.0]] }\n[sweep]\nlr = 0.1\n", "objective.quadratic.h", "must be symmetric: h[0][1] = 2 but h[1][0] = 0");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[sweep.init]\nx = {{ lin = [-1e308, 1e308], n = 3 }}\n[run]\nprecision = \"f64\"\n"), "sweep.init.x", "wider than f64");
}

/// Values finite in f64 but infinite once rounded to f32 are refused, naming the field (an lr
/// of 1e39 used to become inf and hang the map's plot); in f64 they are fine.
#[test]
fn values_that_round_to_infinity_are_refused() {
    bad(&format!("{OK_HEAD}[sweep]\nlr = [1e-3, 1e39]\n"), "sweep.lr", "rounds to infinity in f32");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[sweep.init]\nx = {{ lin = [0.0, 1e39], n = 3 }}\n"), "sweep.init.x", "rounds to infinity");
    bad("[objective]\nexpr = \"exp(100)*x^2\"\n", "objective.expr", "2.6881171418161356e43");
    bad(&format!("{OK_HEAD}[run]\nblowup = 1e40\n"), "run.blowup", "rounds to infinity");
    bad(&format!("{OK_HEAD}[run]\ngrad_tol_abs = 1e20\n"), "run.grad_tol_abs", "its square");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.toml"), format!("{OK_HEAD}[sweep]\nlr = [1e-3, 1e39]\n[run]\nprecision = \"f64\"\nsteps = 10\n")).unwrap();
    let out = gdsweep(&["plan", "ok.toml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn wrong_type_with_line() {
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nsteps = \"many\"\n"), "run.steps", "bad.toml:6");
    bad(&format!("{OK_HEAD}[sweep]\nlr = \"fast\"\n"), "sweep.lr", "expected a number");
}

#[test]
fn ranges() {
    bad(&format!("{OK_HEAD}[sweep]\nlr = []\n"), "sweep.lr", "empty list");
    bad(&format!("{OK_HEAD}[sweep]\nlr = {{ lin = [1.0, 0.1], n = 5 }}\n"), "sweep.lr", "reversed");
    bad(&format!("{OK_HEAD}[sweep]\nlr = {{ lin = [0.1, 0.1], n = 5 }}\n"), "sweep.lr", "empty");
    bad(&format!("{OK_HEAD}[sweep]\nlr = {{ log = [1e-3, 1e-1], n = 0 }}\n"), "sweep.lr", "n >= 1");
    bad(&format!("{OK_HEAD}[sweep]\nlr = {{ log = [0, 1e-1], n = 8 }}\n"), "sweep.lr", "positive endpoints");
    bad(&format!("{OK_HEAD}[sweep]\nlr = {{ log = [-1e-3, 1e-1], n = 8 }}\n"), "sweep.lr", "positive endpoints");
    bad(&format!("{OK_HEAD}[sweep]\nlr = {{ log = [1e-3, 1e-1] }}\n"), "sweep.lr", "needs n");
    bad(&format!("{OK_HEAD}[sweep]\nlr = -0.1\n"), "sweep.lr", ">= 0");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[sweep.init]\nz = 1.0\n"), "sweep.init.z", "not a variable");
}

#[test]
fn optimizers() {
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"lbfgs2\"\n"), "optimizer[0].kind", "allowed: gd (or sgd), momentum, nesterov, adam");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"adam\"\nbeta = 0.9\n"), "optimizer[0].beta", "not a hyperparameter of adam");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"momentum\"\nbeta = 1.5\n"), "optimizer[0].beta", "[0, 1)");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nbeta = 0.5\n"), "optimizer[0].kind", "needs kind");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"rmsprop\"\ncentered = 0.5\n"), "optimizer[0].centered", "{0, 1}");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"gd\"\nclip_norm = 0\n"), "optimizer[0].clip_norm", "(0, inf)");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"gd\"\nlr_scale = [1, 2, 3]\n"), "optimizer[0].lr_scale", "one per variable");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"gd\"\nlr_scale = {{ z = 2 }}\n"), "optimizer[0].lr_scale.z", "not a variable");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"gd\"\nlr_scale = [1, -2]\n"), "optimizer[0].lr_scale", "[0, inf)");
    let sched = |s: &str| format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"gd\"\nschedule = {s}\n");
    bad(&sched("{ kind = \"linear\" }"), "optimizer[0].schedule.kind", "allowed: exponential, step, cosine, cyclic");
    bad(&sched("{ kind = \"cosine\" }"), "optimizer[0].schedule.t_max", "needs t_max");
    bad(&sched("{ kind = \"step\", step_size = 2.5 }"), "optimizer[0].schedule.step_size", "whole numbers");
    bad(&sched("{ kind = \"exponential\", gamma = 0.9, t_max = 3 }"), "optimizer[0].schedule.t_max", "not a parameter of the exponential schedule");
    bad(&sched("\"cosine\""), "optimizer[0].schedule.t_max", "the cosine schedule needs t_max");
    bad(&sched("3"), "optimizer[0].schedule", "expected a table");
    bad(&format!("{OK_HEAD}[[optimizer]]\nkind = \"gd\"\n"), "sweep.lr", "no learning rates");
}

#[test]
fn objectives() {
    bad("[objective]\nbuiltin = \"himmelblu\"\n[sweep]\nlr = 0.1\n", "objective.builtin", "unknown builtin 'himmelblu'");
    bad("[objective]\nexpr = \"x^2 + * y\"\n[sweep]\nlr = 0.1\n", "objective.expr", "column 7");
    bad("[objective]\nexpr = \"x^2 + foo(y)\"\n[sweep]\nlr = 0.1\n", "objective.expr", "unknown function 'foo'");
    bad("[objective]\nexpr = \"x^2 + y\"\nvars = [\"x\"]\n[sweep]\nlr = 0.1\n", "objective.expr", "unknown variable 'y'");
    bad("[objective]\nexpr = \"x\"\nbuiltin = \"booth\"\n[sweep]\nlr = 0.1\n", "objective", "exactly one of");
    bad("[objective]\nleast_squares = { a = [[1, 2], [3]], b = [0, 1] }\n[sweep]\nlr = 0.1\n", "objective.least_squares.a", "row 1 has 1 entries");
    bad("[objective]\nleast_squares = { a = [[1, 2], [3, 4]], b = [0, 1, 2] }\n[sweep]\nlr = 0.1\n", "objective.least_squares.b", "must have 2");
    bad("[objective]\nquadratic = { h = [[1, 2]] }\n[sweep]\nlr = 0.1\n", "objective.quadratic.h", "must be square");
}

#[test]
fn a_grid_larger_than_memory_is_planned_not_refused() {
    // 3.6e9 runs: their results would take 270 GiB, but results stream to disk (bounded memory).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.toml"), format!("{OK_HEAD}[sweep]\nlr = 0.1\n[sweep.init]\nx = {{ lin = [-1, 1], n = 60000 }}\ny = {{ lin = [-1, 1], n = 60000 }}\n")).unwrap();
    let out = gdsweep(&["plan", "big.toml"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("3600000000 runs") && text.contains("memory") && text.contains("runs.csv"), "{text}");
    // verify holds both backends' results in memory: it refuses, and says how to sample.
    let out = gdsweep(&["verify", "big.toml"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--sample"), "{err}");
}

#[test]
fn one_huge_axis_is_refused_before_allocating_it() {
    bad(&format!("{OK_HEAD}[sweep]\nlr = {{ lin = [0, 1], n = 3000000000 }}\n"), "sweep.lr", "at most 134217728");
}

#[test]
fn f64_without_shader_f64_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nprecision = \"f64\"\nbackend = \"gpu\"\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gdsweep"))
        .args(["run", "c.toml"])
        .env("GDSWEEP_DISABLE_F64", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("no GPU adapter") && std::env::var_os("CI").is_none() {
        eprintln!("SKIPPED: no GPU adapter here");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("run.precision") && err.contains("SHADER_F64"), "{err}");
}

#[test]
fn missing_config_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = gdsweep(&["run", "nope.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
    let out = gdsweep(&["run", "nope.toml", "--backend", "tpu"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_writes_results_and_never_overwrites_silently() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "name = \"bowl\"\n[objective]\nexpr = \"x^2 + 3*y^2\"\n[sweep]\nlr = [0.01, 0.1, 0.5]\n[sweep.init]\nx = [1.0, -2.0]\ny = 0.5\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"momentum\"\nbeta = [0.5, 0.9]\n[[optimizer]]\nkind = \"gd\"\nclip_norm = 1.0\nlr_scale = { y = [1.0, 0.1] }\n[run]\nsteps = 500\n",
    )
    .unwrap();
    let out = gdsweep(&["run", "c.toml", "--backend", "cpu", "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(dir.path().join("results/bowl/runs.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "run,optimizer,block,lr,weight_decay,beta,dampening,clip_norm,lr_scale_x,lr_scale_y,init_x,init_y,status,steps,evals,loss,grad_norm,x_x,x_y,rate,period,steps_left"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3 * 2 + 3 * 2 * 2 + 3 * 2 * 2);
    // Whole numbers are written as floats ("1.0"), so a column's type never depends on its values.
    assert_eq!(rows[18][..10], ["18", "gd", "2", "0.01", "0.0", "", "", "1.0", "1.0", "1.0"]);
    assert_eq!((rows[19][9], rows[19][10]), ("1.0", "-2.0"), "init_x varies faster than the hyperparameters");
    assert_eq!(rows[20][9], "0.1", "then lr_scale_y, the last hyperparameter axis");
    assert_eq!(rows[0][..5], ["0", "gd", "0", "0.01", "0.0"]);
    assert_eq!((rows[6][1], rows[6][2]), ("momentum", "1"));
    assert_eq!(rows[6][5], "0.5");
    assert_eq!(rows[0][6], "", "gd has no dampening: empty cell");
    // lr 0.5 on 3y² (λ = 6): |1 − 0.5·6| = 2 > 1 diverges for GD.
    assert_eq!(rows[4][12], "diverged");
    for r in &rows {
        for cell in &r[14..18] {
            assert!(cell.parse::<f64>().is_ok() || ["nan", "inf", "-inf"].contains(cell), "{cell}");
        }
        // rate, period, steps_left: numbers, or empty where they do not apply.
        for cell in &r[18..] {
            assert!(cell.is_empty() || cell.parse::<f64>().is_ok(), "{cell}");
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results/bowl/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backend"], "cpu");
    // (every block's step loop compiles; x² + 3y² is too short a tape for its instruction lists to
    // gain from compiling: backend::cpu::COMPILE_MIN_INSTRUCTIONS)
    assert_eq!(manifest["sweep"]["devices"][0]["kernel"], "compiled (Cranelift): step loop; the objective elsewhere on the tape interpreter (5 instructions per point, faster interpreted (fewer than 8))");
    assert_eq!(manifest["runs"], 30);
    assert!(manifest["counts"]["diverged"].as_u64().unwrap() >= 1);

    // A second run refuses, exit 2, and leaves the first results as they were.
    let out = gdsweep(&["run", "c.toml", "--backend", "cpu"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(dir.path().join("results/bowl/runs.csv")).unwrap(), csv);
    let out = gdsweep(&["run", "c.toml", "--backend", "cpu", "--force", "--quiet"], dir.path());
    assert!(out.status.success());
}

#[test]
fn plan_objectives_devices() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/forum_lr_threshold.toml");
    let out = gdsweep(&["plan", cfg.to_str().unwrap()], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("16384 runs, up to 20000 steps each"), "{text}");
    let out = gdsweep(&["objectives"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["forum_lstsq", "himmelblau", "rosenbrock", "ackley", "softplus", "sigmoid_mse"] {
        assert!(text.contains(name), "{name} missing from `gdsweep objectives`");
    }
    let out = gdsweep(&["devices"], dir.path());
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("cpu |"));
}

#[test]
fn basins_analysis_writes_basins_csv_and_labels_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "name = \"dw\"\n[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = [0.05, 0.1]\n[sweep.init]\nx = { lin = [-3, 3], n = 41 }\n[run]\nsteps = 2000\n[analysis.basins]\ntolerance = 1e-3\n",
    )
    .unwrap();
    let out = gdsweep(&["run", "b.toml", "--backend", "cpu"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 basins"));
    let runs = std::fs::read_to_string(dir.path().join("results/dw/runs.csv")).unwrap();
    assert!(runs.lines().next().unwrap().ends_with(",x_x,rate,period,steps_left,basin"));
    let basins = std::fs::read_to_string(dir.path().join("results/dw/basins.csv")).unwrap();
    let header = basins.lines().next().unwrap();
    assert_eq!(header, "basin,optimizer,block,lr,count,fraction,entropy,kind,loss,x_x,eigenvalue_1,gd_lr_threshold,runs_in_basin");
    // lr 0.1 is above the global minimum's 2/λ_max = 0.079: only the right-hand basin remains there.
    let at_01: Vec<&str> = basins.lines().filter(|l| l.split(',').nth(3) == Some("0.1")).collect();
    assert_eq!(at_01.len(), 1, "{basins}");
    assert!(at_01[0].contains(",minimum,") && at_01[0].split(',').nth(6) == Some("0.0"), "{basins}");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[analysis.basins]\ntolerance = 0\n"), "analysis.basins.tolerance", "> 0");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[analysis.basin]\n"), "analysis.basin", "unknown field");
}

#[test]
fn threshold_analysis_writes_thresholds_csv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.toml"),
        "name = \"forum\"\n[objective]\nleast_squares = { a = [[-249.69, -4.1511], [-4.1511, -0.20755]], b = [0.0, 10.0] }\n[sweep]\nlr = { log = [1e-6, 1e-4], n = 64 }\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"adam\"\n[run]\nsteps = 20000\nprecision = \"f64\"\n[analysis.threshold]\nrel_tol = 1e-7\npoints = 32\n",
    )
    .unwrap();
    let out = gdsweep(&["run", "t.toml", "--backend", "cpu"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("thresholds: 2 groups") && stdout.contains("theory 1.60308862e-5"), "{stdout}");
    let csv = std::fs::read_to_string(dir.path().join("results/forum/thresholds.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "optimizer,block,weight_decay,beta1,beta2,eps,init_x,init_y,lr_stable,lr_unstable,rel_width,crossings,lr_theory,rounds,stop"
    );
    let gd: Vec<&str> = lines.next().unwrap().split(',').collect();
    let num = |s: &str| s.parse::<f64>().unwrap();
    assert_eq!((gd[0], gd[3], gd[11], gd[14]), ("gd", "", "1", "rel_tol"));
    assert!(num(gd[8]) <= 1.6030886e-5 && 1.603088619e-5 <= num(gd[9]), "{gd:?}");
    assert!(num(gd[10]) <= 1e-7 && (num(gd[12]) / 1.603088619e-5 - 1.0).abs() < 1e-9, "{gd:?}");
    // Adam never diverges on this grid: no unstable lr, no width, no theory.
    let adam: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((adam[0], adam[9], adam[10], adam[12], adam[14]), ("adam", "", "", "", "unbracketed"), "{adam:?}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results/forum/manifest.json")).unwrap()).unwrap();
    assert!(manifest["threshold"]["rounds"].as_u64().unwrap() >= 2, "{manifest}");
    assert_eq!(manifest["config"]["analysis"]["threshold"]["points"], 32);

    let with = |t: &str| format!("{OK_HEAD}[sweep]\nlr = 0.1\n[analysis.threshold]\n{t}\n");
    bad(&with("rel_tol = 0.0"), "analysis.threshold.rel_tol", "> 0");
    bad(&with("rel_tol = 1.5"), "analysis.threshold.rel_tol", "(0, 1)");
    bad(&with("points = 0"), "analysis.threshold.points", "1 ..=");
    bad(&with("max_rounds = -1"), "analysis.threshold.max_rounds", "0 ..=");
    bad(&with("tolerance = 1e-3"), "analysis.threshold.tolerance", "unknown field");
    bad(&format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nwindow = 0\n[analysis.threshold]\n"), "analysis.threshold", "run.window");
}

#[test]
fn map_analysis_writes_csvs_and_png() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.toml"),
        "name = \"dw\"\n[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = { log = [1e-3, 0.3], n = 20 }\n[sweep.init]\nx = { lin = [-3, 3], n = 11 }\n[run]\nsteps = 500\n[analysis.map]\nx = \"lr\"\ny = \"init_x\"\ncolor = \"basin\"\n",
    )
    .unwrap();
    let out = gdsweep(&["run", "m.toml", "--backend", "cpu", "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let res = dir.path().join("results/dw");
    let tidy = std::fs::read_to_string(res.join("map.csv")).unwrap();
    assert_eq!(tidy.lines().next().unwrap(), "run,panel,panel_label,optimizer,lr,init_x,status,steps,evals,loss,rate,basin,value");
    assert_eq!(tidy.lines().count(), 1 + 20 * 11);
    let grid = std::fs::read_to_string(res.join("map_grid.csv")).unwrap();
    let header: Vec<&str> = grid.lines().next().unwrap().split(',').collect();
    assert_eq!((header[0], header[2], header.len()), ("panel", "init_x\\lr", 3 + 20));
    assert_eq!(grid.lines().count(), 1 + 11);
    let png_bytes = std::fs::read(res.join("map.png")).unwrap();
    assert_eq!(&png_bytes[1..4], b"PNG");
    assert!(res.join("basins.csv").exists(), "basin colours turn basins on");
    // map.png is a result file: not overwritten without --force.
    std::fs::remove_file(res.join("runs.csv")).unwrap();
    let out = gdsweep(&["run", "m.toml", "--backend", "cpu"], dir.path());
    assert_eq!(out.status.code(), Some(2));

    let with = |m: &str| format!("{OK_HEAD}[sweep]\nlr = [0.1, 0.2]\n[sweep.init]\nx = [1.0, 2.0]\n[analysis.map]\n{m}\n");
    bad(&with("x = \"init_z\""), "analysis.map.x", "not an axis of this sweep (axes: lr, weight_decay, init_x, init_y)");
    bad(&with("x = \"lr\"\ny = \"lr\""), "analysis.map.y", "must differ");
    bad(&with("x = \"lr\"\ny = \"init_y\""), "analysis.map.y", "one value");
    bad(&with("x = \"lr\"\ncolor = \"speed\""), "analysis.map.color", "status, basin, steps, evals, loss, rate");
    bad(&with("y = \"lr\""), "analysis.map", "missing field `x`");
    bad(
        &format!("{OK_HEAD}[sweep]\nlr = [0.1, 0.2]\n[sweep.init]\nx = {{ lin = [0, 1], n = 20 }}\n[analysis.map]\nx = \"lr\"\n"),
        "analysis.map.x",
        "20 series",
    );
    bad(
        &format!("{OK_HEAD}[sweep]\nlr = [0.1, 0.2]\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"adam\"\nlr = [0.1, 0.3]\n[analysis.map]\nx = \"lr\"\n"),
        "analysis.map.x",
        "different values in the gd and adam tables",
    );
    bad(
        &format!("{OK_HEAD}[sweep]\nlr = [0.1, 0.2]\n[[optimizer]]\nkind = \"momentum\"\nbeta = [0.5, 0.9]\n[[optimizer]]\nkind = \"adam\"\neps = [1e-8, 1e-6]\n[analysis.map]\nx = \"beta\"\ny = \"eps\"\n"),
        "analysis.map.y",
        "no [[optimizer]] table has both 'beta' and 'eps'",
    );
}

#[test]
fn trajectories_write_csv_and_png() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.toml"),
        "name = \"paths\"\n[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.01\n[sweep.init]\nx = [-4.0, 4.0]\ny = [-4.0, 4.0]\n[run]\nsteps = 300\n[analysis.trajectories]\nruns = [1, 3]\nevery = 10\n",
    )
    .unwrap();
    let out = gdsweep(&["run", "t.toml", "--backend", "cpu", "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(dir.path().join("results/paths/trajectories.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "run,optimizer,lr,step,evals,x_x,x_y,loss");
    assert!(lines.next().unwrap().starts_with("1,gd,0.01,0,1,-4.0,4.0,"));
    assert!(csv.lines().any(|l| l.starts_with("3,gd,0.01,10,11,")));
    assert_eq!(&std::fs::read(dir.path().join("results/paths/trajectories.png")).unwrap()[1..4], b"PNG");

    let with = |t: &str| format!("{OK_HEAD}[sweep]\nlr = [0.1, 0.2]\n[analysis.trajectories]\n{t}\n");
    bad(&with("runs = [0, 2]"), "analysis.trajectories.runs", "run 2 does not exist: ids are 0 ..= 1");
    bad(&with("runs = []"), "analysis.trajectories.runs", "1 ..= 64");
    bad(&with("runs = [0]\nsample = 3"), "analysis.trajectories.sample", "not both");
    bad(&with("sample = 0"), "analysis.trajectories.sample", "1 ..= 64");
    bad(&with("every = 0"), "analysis.trajectories.every", "1 ..= 60000");
}

/// Short flags (-o -b -f -q) do what the long ones do, and `sgd` is accepted for `gd`
/// (runs.csv says `gd`).
#[test]
fn short_flags_and_the_sgd_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), format!("{OK_HEAD}[sweep]\nlr = [0.1, 0.2]\n[[optimizer]]\nkind = \"sgd\"\n[run]\nsteps = 50\n")).unwrap();
    let out = gdsweep(&["run", "s.toml", "-b", "cpu", "-o", "res", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "-q prints no summary: {}", String::from_utf8_lossy(&out.stdout));
    let runs = std::fs::read_to_string(dir.path().join("res/runs.csv")).unwrap();
    assert!(runs.lines().nth(1).unwrap().starts_with("0,gd,"), "{runs}");
    let again = gdsweep(&["run", "s.toml", "-b", "cpu", "-o", "res", "-q"], dir.path());
    assert_eq!(again.status.code(), Some(2), "existing results are refused without -f");
    let forced = gdsweep(&["run", "s.toml", "-b", "cpu", "-o", "res", "-q", "-f"], dir.path());
    assert_eq!(forced.status.code(), Some(0), "{}", String::from_utf8_lossy(&forced.stderr));
    std::fs::write(dir.path().join("u.toml"), format!("{OK_HEAD}[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"sgdm\"\n")).unwrap();
    let err = String::from_utf8_lossy(&gdsweep(&["run", "u.toml", "-b", "cpu"], dir.path()).stderr).to_string();
    assert!(err.contains("gd (or sgd)"), "the message lists the alias: {err}");
}

/// Every option of every command says what it does in `--help`.
#[test]
fn every_flag_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["run", "verify", "plan", "devices", "objectives", "bench"] {
        let help = String::from_utf8_lossy(&gdsweep(&[cmd, "--help"], dir.path()).stdout).to_string();
        let options = help.split("Options:").nth(1).unwrap_or_else(|| panic!("{cmd} --help has options: {help}"));
        for line in options.lines().filter(|l| l.trim_start().starts_with('-')) {
            let flag_end = line.find("  ").map(|_| line.trim_start()).unwrap_or(line);
            let words: Vec<&str> = flag_end.split("  ").filter(|w| !w.trim().is_empty()).collect();
            assert!(words.len() >= 2, "{cmd}: option without help: '{line}'");
        }
    }
}

/// `auto` takes a hardware GPU, else the CPU backend, never a software adapter such as
/// lavapipe, and says which it took and why.
#[test]
fn auto_prefers_the_cpu_backend_over_software_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let devices = String::from_utf8_lossy(&gdsweep(&["devices"], dir.path()).stdout).to_string();
    let hardware = devices.lines().any(|l| l.contains("| type ") && !l.contains("| type Cpu") && l.contains("compute yes"));
    std::fs::write(dir.path().join("a.toml"), format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nsteps = 10\n")).unwrap();
    let out = gdsweep(&["run", "a.toml", "-o", "res"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let manifest = std::fs::read_to_string(dir.path().join("res/manifest.json")).unwrap();
    if hardware {
        assert!(err.contains("on gpu") && err.contains("auto: hardware adapter"), "{err}");
    } else {
        assert!(err.contains("on cpu") && err.contains("auto: "), "{err}");
        assert!(manifest.contains("\"backend\": \"cpu\""), "{manifest}");
        if devices.contains("| type Cpu") {
            assert!(err.contains("software"), "says why the software adapter was passed over: {err}");
        }
    }
}

/// `plan` writes values as the run precision reads them ("0.005", not 0.004999999888241291) and
/// counts in the right number ("1 value"); a closed stdout ends it quietly, with exit 0.
#[test]
fn plan_is_readable_and_a_closed_pipe_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/himmelblau_basins.toml");
    let all = String::from_utf8_lossy(&gdsweep(&["plan", cfg.to_str().unwrap()], dir.path()).stdout).to_string();
    let text = all.split("resolved config:").next().unwrap();
    assert!(text.contains("1 value, 0.005\n"), "{text}");
    assert!(text.contains("256 values, -5.0 .. 5.0"), "{text}");
    assert!(!all.contains("0.00499999"), "neither in the summary nor in the resolved config: {all}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gdsweep"))
        .args(["plan", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before gdsweep writes
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("error"), "{err}");
}

/// Without XDG_RUNTIME_DIR, gdsweep gives itself a private one before wgpu probes the adapters,
/// so Mesa prints nothing about it.
#[test]
fn no_runtime_dir_noise_without_xdg_runtime_dir() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["devices"][..], &["run", "s.toml", "-b", "auto", "-o", "res"][..]] {
        std::fs::write(dir.path().join("s.toml"), format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nsteps = 10\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gdsweep")).args(args).current_dir(dir.path()).env_remove("XDG_RUNTIME_DIR").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("XDG_RUNTIME_DIR"), "{args:?}: {err}");
    }
}

/// `verify` says what it compared, writes the runs whose status differs (with their class) and
/// its verdict, and refuses to overwrite them without -f.
#[test]
fn verify_writes_differences_and_verdict() {
    if common::gpu(false).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.toml"), "name = \"v\"\n[objective]\nexpr = \"x^4 - 5*x^2 + 3*x\"\n[sweep]\nlr = { log = [1e-2, 0.3], n = 40 }\n[sweep.init]\nx = { lin = [-3.0, 3.0], n = 40 }\n[run]\nsteps = 500\n").unwrap();
    let out = gdsweep(&["verify", "v.toml"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("rounding chaos:") && text.contains("PASS"), "{text}");
    let diffs = std::fs::read_to_string(dir.path().join("results/v-verify/differences.csv")).unwrap();
    assert!(diffs.starts_with("run,optimizer,block,lr,weight_decay,init_x,class,status_gpu,status_cpu,steps_gpu,steps_cpu,"), "{diffs}");
    for line in diffs.lines().skip(1) {
        let class = line.split(',').nth(6).unwrap();
        assert!(["differs", "boundary", "rounding_chaos"].contains(&class), "{line}");
    }
    let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("results/v-verify/verify.json")).unwrap()).unwrap();
    assert_eq!(verdict["passed"], true);
    assert_eq!(verdict["verdict"]["compared"], 1600);
    let again = gdsweep(&["verify", "v.toml"], dir.path());
    assert_eq!(again.status.code(), Some(2), "an earlier verify's files are kept without -f");
}

/// `verify --backends cpu,cpu-ref` judges the compiled CPU kernel by the interpreter: every
/// run agrees, to the bit (differences of 0); the columns and verify.json name the two.
#[test]
fn verify_compares_any_two_backends() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.toml"), "name = \"v\"\n[objective]\nexpr = \"x^4 - 5*x^2 + 3*x + sin(3*x)\"\n[sweep]\nlr = { log = [1e-2, 0.3], n = 30 }\n[sweep.init]\nx = { lin = [-3.0, 3.0], n = 30 }\n[run]\nsteps = 500\n").unwrap();
    let out = gdsweep(&["verify", "v.toml", "--backends", "cpu,cpu-ref"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("on cpu (") && text.contains("vs cpu-ref (") && text.contains("PASS"), "{text}");
    assert!(text.contains("max loss difference:  0.000e0") && text.contains("max point difference: 0.000e0"), "{text}");
    let diffs = std::fs::read_to_string(dir.path().join("results/v-verify/differences.csv")).unwrap();
    assert!(diffs.starts_with("run,optimizer,block,lr,weight_decay,init_x,class,status_cpu,status_cpu-ref,"), "{diffs}");
    let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("results/v-verify/verify.json")).unwrap()).unwrap();
    assert_eq!(verdict["backends"][1]["kernel"], "tape interpreter (the reference)");
    assert_eq!(verdict["verdict"]["disagreeing"], 0);
    for bad in ["cpu", "cpu,cpu", "cpu,auto", "cpu,gpu,cpu-ref"] {
        let out = gdsweep(&["verify", "v.toml", "--backends", bad, "--force"], dir.path());
        assert_eq!(out.status.code(), Some(2), "--backends {bad}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--backends"), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `--set KEY=VALUE` changes a setting and is validated like the file: a bad value names the
/// `--set`, an error elsewhere still names the file and its line.
#[test]
fn set_overrides_are_validated_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nsteps = 100\n")).unwrap();
    let out = gdsweep(&["plan", "s.toml", "--set", "run.steps=5000", "--set", "sweep.lr=[0.1, 0.2]", "--set", "run.precision=f64"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("2 runs, up to 5000 steps each, f64"), "{text}");
    for (set, says) in [
        ("run.steps=0", "--set run.steps=0: field `run.steps`: 0 is not allowed"),
        ("run.step=5", "--set run.step=5: field `run.step`: unknown field `step`"),
        ("optimizer[3].beta=0.5", "no optimizer tables"),
        ("steps", "write KEY=VALUE"),
    ] {
        let out = gdsweep(&["run", "s.toml", "--set", set, "-b", "cpu"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{set}: {err}");
        assert!(err.contains(says) || (set.starts_with("optimizer") && err.contains("--set optimizer[3]")), "{set}: {err}");
    }
    std::fs::write(dir.path().join("b.toml"), format!("{OK_HEAD}[sweep]\nlr = -1.0\n")).unwrap();
    let err = String::from_utf8_lossy(&gdsweep(&["plan", "b.toml", "--set", "run.steps=10"], dir.path()).stderr).to_string();
    assert!(err.contains("b.toml:4: field `sweep.lr`"), "the file's own error keeps its line: {err}");
}

/// `gdsweep init` writes a commented starter config that runs as written, and never replaces a
/// file without --force.
#[test]
fn init_writes_a_starter_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = gdsweep(&["init"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.path().join("sweep.toml")).unwrap();
    assert!(text.lines().filter(|l| l.trim_start().starts_with('#')).count() > 20, "commented: {text}");
    assert_eq!(gdsweep(&["init"], dir.path()).status.code(), Some(2), "an existing file is kept");
    let out = gdsweep(&["run", "sweep.toml", "-b", "cpu", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("results/starter/map.png").exists());
    assert_eq!(gdsweep(&["init", "other.toml"], dir.path()).status.code(), Some(0));
}

/// Messages name what is wrong: a WGPU_BACKEND that names no backend; the key above a comment
/// line where TOML reports a value that ran on, not the comment.
#[test]
fn messages_name_the_real_culprit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.toml"), format!("{OK_HEAD}[sweep]\nlr = 0.1\n[run]\nsteps = 5\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gdsweep")).args(["run", "ok.toml"]).env("WGPU_BACKEND", "bogus").current_dir(dir.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("WGPU_BACKEND=bogus") && err.contains("'bogus' is no wgpu backend"), "{err}");
    bad(&format!("{OK_HEAD}[sweep]\nlr = [0.1,\n# a comment = here\n"), "sweep.lr", "bad.toml:4");
    bad("[objective] # what to minimise\nexpr = 5\n", "objective.expr", "expected a string");
}

/// A huge expression: `plan` estimates the shader's compile time, and `auto` takes the CPU where
/// it would finish the whole sweep before the shader compiles.
#[test]
fn huge_expressions_stay_off_the_gpu_under_auto() {
    let terms: Vec<String> = (1..=1600).map(|i| format!("sin({i}*x + {}*y)*{}", i % 7 + 1, 1 + i % 3)).collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("huge.toml"), format!("[objective]\nexpr = \"{}\"\n[sweep]\nlr = 0.001\n[run]\nsteps = 10\n", terms.join(" + "))).unwrap();
    let out = gdsweep(&["plan", "huge.toml"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("shader:")).expect("plan has a shader line");
    let seconds: f64 = line.split("about ").nth(1).and_then(|r| r.split(' ').next()).and_then(|v| v.parse().ok()).unwrap();
    assert!(line.contains("17616 operations per step") && (15.0..35.0).contains(&seconds), "{line}");
    let out = gdsweep(&["run", "huge.toml", "-q", "--out", "o"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("o/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["backend"], "cpu");
    let out = gdsweep(&["run", "huge.toml", "--out", "o2"], dir.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("compiling it takes about"), "{}", String::from_utf8_lossy(&out.stderr));
}
