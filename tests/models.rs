//! Models trained on data (`[objective] data`): the forum's regressions against numpy, GD's
//! threshold with and without standardisation against 2/λ_max, logistic regression on separable
//! data, every model kind × optimizer on both backends, and the config's errors.
mod common;

use common::{backends, dump_both, gpu, plan, run_all};
use gdsweep::analysis::threshold::search;
use gdsweep::analysis::verify::compare;
use gdsweep::backend::cpu::Cpu;
use gdsweep::config::{load, Overrides};
use gdsweep::method::OptimizerKind;
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;

/// Seed 001, the forum's regression: X = [[1, 1], [1, 2], [1, 3], [1, 4]] (a bias column and one
/// feature), y = [2, 3.8, 5.9, 7.8], mean squared error, w from 0, lr 0.01, 1000 steps.
const SEED001: &str = r#"
[objective]
data = { x = [[1.0], [2.0], [3.0], [4.0]], y = [2.0, 3.8, 5.9, 7.8] }
features = ["x"]
[sweep]
lr = 0.01
[run]
steps = 1000
"#;

/// numpy's full-batch GD on seed 001 (tests/scripts/numpy_models.py): [w_x, b].
const SEED001_NUMPY: [f64; 2] = [1.939917286149935, 0.02964440827272743];

/// Seed 003: X = [[1000, 2], [2000, 3], [3000, 4]], y = [12, 23, 34], a bias, raw and
/// standardised: numpy's 2/λ_max of 2X̃ᵀX̃/m (tests/scripts/numpy_models.py).
const SEED003_NUMPY: [f64; 2] = [2.1428523761036718e-07, 0.5];

const SEED003: &str = r#"
[objective]
data = { x = [[1000.0, 2.0], [2000.0, 3.0], [3000.0, 4.0]], y = [12.0, 23.0, 34.0] }
features = ["size", "bedrooms"]
[sweep]
lr = { log = [1e-8, 10.0], n = 200 }
standardize = [false, true]
[run]
steps = 20000
[analysis.threshold]
"#;

/// numpy's numbers, recomputed where the tests have a Python with numpy (CI's venv): the
/// constants above are then checked against numpy itself, not only against the value once
/// printed.
#[test]
fn the_reference_numbers_are_numpys() {
    let Some(python) = std::env::var_os("GDSWEEP_TEST_PYTHON") else {
        eprintln!("SKIPPED: GDSWEEP_TEST_PYTHON is not set (CI sets it to a venv with numpy)");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/numpy_models.py");
    let out = std::process::Command::new(python).arg(script).output().expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w: Vec<f64> = v["seed001"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    for (a, b) in w.iter().zip(SEED001_NUMPY) {
        assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0), "{w:?} vs {SEED001_NUMPY:?}");
    }
    for (key, want) in [("seed003_raw", SEED003_NUMPY[0]), ("seed003_standardized", SEED003_NUMPY[1])] {
        let got = v[key].as_f64().unwrap();
        assert!((got / want - 1.0).abs() < 1e-12, "{key}: {got:e} vs {want:e}");
    }
}

#[test]
fn seed_001_final_weights_equal_numpys_gd_in_f64() {
    let p = plan(SEED001, Precision::F64);
    assert_eq!(p.objective.vars, ["w_x", "b"]);
    for b in backends(Precision::F64) {
        let r = run_all(&p, b.as_ref());
        assert_eq!(r.steps[0], 1000, "{}: GD is still going at lr 0.01 (status {:?})", b.name(), r.status[0]);
        let x = r.point(0);
        for (j, (got, want)) in x.iter().zip(SEED001_NUMPY).enumerate() {
            assert!((got - want).abs() <= 1e-6, "{}: {} = {got}, numpy {want}", b.name(), p.objective.vars[j]);
        }
    }
}

#[test]
fn seed_003_thresholds_raw_and_standardised_are_two_over_lambda_max() {
    let p = plan(SEED003, Precision::F64);
    assert_eq!(p.blocks.len(), 2, "one block per standardize value");
    assert_eq!(p.objective.vars, ["w_size", "w_bedrooms", "b"]);
    for b in backends(Precision::F64) {
        let coarse = run_all(&p, b.as_ref());
        let s = search(&p, b.as_ref(), &coarse, p.threshold.as_ref().unwrap()).unwrap();
        assert_eq!(s.thresholds.len(), 2);
        for (t, want) in s.thresholds.iter().zip(SEED003_NUMPY) {
            let what = format!("{} block {} (standardize = {})", b.name(), t.block, p.blocks[t.block].variant == 1);
            let theory = t.lr_theory.expect("a linear model's squared error has a constant Hessian");
            assert!((theory / want - 1.0).abs() < 1e-9, "{what}: lr_theory {theory:e}, numpy {want:e}");
            let (lo, hi) = (t.lr_stable.unwrap(), t.lr_unstable.unwrap());
            assert!(lo <= want && want <= hi && hi / lo - 1.0 < 1e-4, "{what}: bracket [{lo:e}, {hi:e}] vs 2/λ_max {want:e}");
        }
    }
}

/// Logistic regression on separable data has no minimum: no run may say it converged or is
/// slowly converging; the runs whose weights already separate the classes say `escaping`. On
/// overlapping classes the same model converges.
#[test]
fn logistic_regression_says_when_the_data_have_no_minimum() {
    let config = |y: &str| {
        format!(
            "[objective]\ndata = {{ x = [[-2.0], [-1.0], [1.0], [2.0]], y = {y} }}\nmodel = \"logistic\"\n[sweep]\nlr = {{ log = [0.01, 100.0], n = 9 }}\n[run]\nsteps = 20000\n"
        )
    };
    for precision in [Precision::F32, Precision::F64] {
        let separable = plan(&config("[0.0, 0.0, 1.0, 1.0]"), precision);
        let overlapping = plan(&config("[0.0, 1.0, 0.0, 1.0]"), precision);
        for b in backends(precision) {
            let what = format!("{} {}", b.name(), precision.name());
            let r = run_all(&separable, b.as_ref());
            assert!(!r.status.iter().any(|s| matches!(s, Status::Converged | Status::Slow)), "{what}: {:?}", r.status);
            assert!(r.status.iter().filter(|&&s| s == Status::Escaping).count() >= 5, "{what}: {:?}", r.status);
            let r = run_all(&overlapping, b.as_ref());
            let converged = r.status.iter().filter(|&&s| s == Status::Converged).count();
            assert!(converged >= 6, "{what}: {:?}", r.status);
        }
    }
}

/// A small table that no line separates, with two features on different scales.
fn table(labels: bool) -> String {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..12 {
        let (a, b) = ((i as f64 * 0.37).sin() * 2.0, (i as f64 * 0.91).cos() * 0.5 + 0.1 * i as f64);
        x.push(format!("[{a:.4}, {b:.4}]"));
        let target = 0.8 * a - 1.5 * b + 0.3 * ((i * 7 % 5) as f64 - 2.0);
        y.push(if labels { if (target > 0.0) != (i % 4 == 0) { "1.0".to_string() } else { "0.0".to_string() } } else { format!("{target:.4}") });
    }
    format!("data = {{ x = [{}], y = [{}] }}", x.join(", "), y.join(", "))
}

/// Every model kind × loss × optimizer agrees between the GPU and the CPU reference by the
/// rules of tests/agreement.rs: the 99.9 % bar over all fixed-step runs, each case 99 %, and a
/// line search at the precision floor 90 % (f32) or 95 % (f64), where whether a run creeps on
/// to the convergence rule or stalls is rounding chaos (CG, linear + huber, f32: 2 runs of 72).
/// Where both converged, to the same point.
fn agreement(precision: Precision) {
    let Some(g) = gpu(precision == Precision::F64) else { return };
    let models = [("linear", "mse"), ("linear", "mae"), ("linear", "huber"), ("logistic", "bce"), ("logistic", "mse")];
    let (mut agreeing, mut judged) = (0u64, 0u64);
    for (model, loss) in models {
        for kind in OptimizerKind::ALL {
            let lr = if kind.method().unit_step { "{ lin = [0.25, 1.0], n = 4 }" } else { "{ log = [1e-3, 3.0], n = 8 }" };
            let src = format!(
                "[objective]\n{}\nmodel = \"{model}\"\nloss = \"{loss}\"\nl2 = 0.01\n[sweep]\nlr = {lr}\nstandardize = [false, true]\n[sweep.init]\nw_x_1 = {{ lin = [-1.0, 1.0], n = 3 }}\nb = [0.0, 0.5]\n[[optimizer]]\nkind = \"{}\"\n[run]\nsteps = 300\n",
                table(model == "logistic"),
                kind.name()
            );
            let p = plan(&src, precision);
            let (rg, rc) = (run_all(&p, g.as_ref()), run_all(&p, &Cpu));
            let v = compare(&p, &rg, &rc);
            let what = format!("{model} + {loss} / {} / {}", kind.name(), precision.name());
            let searched = p.blocks[0].linesearch.is_some();
            let bar = match (searched, precision) {
                (false, _) => 0.99,
                (true, Precision::F32) => 0.90,
                (true, Precision::F64) => 0.95,
            };
            let tol = if precision == Precision::F64 { 1e-6 } else { 5e-2 };
            if v.agreement < bar || v.max_point_difference > tol {
                let dir = dump_both(&p, &what, &rg, &rc);
                panic!("{what}: agreement {:.4}, point difference {:e}, examples {:?} (both results in {})", v.agreement, v.max_point_difference, v.examples, dir.display());
            }
            assert!(!rg.status.iter().any(|s| *s == Status::Running), "{what}: a GPU run was left running");
            if !searched {
                agreeing += v.agreeing;
                judged += v.agreeing + v.disagreeing;
            }
        }
    }
    // A small network (2 → 3 → 1, tanh, biases: 13 parameters, Newton included), seeded init.
    for kind in OptimizerKind::ALL {
        let lr = if kind.method().unit_step { "{ lin = [0.25, 1.0], n = 4 }" } else { "{ log = [1e-3, 3.0], n = 8 }" };
        let src = format!(
            "[objective]\n{}\nmodel = {{ mlp = {{ hidden = [3], activation = \"tanh\" }} }}\n[sweep]\nlr = {lr}\nstandardize = [false, true]\n[sweep.init]\nscheme = \"xavier_normal\"\nseed = 3\n[[optimizer]]\nkind = \"{}\"\n[run]\nsteps = 300\n",
            table(false),
            kind.name()
        );
        let p = plan(&src, precision);
        let (rg, rc) = (run_all(&p, g.as_ref()), run_all(&p, &Cpu));
        let v = compare(&p, &rg, &rc);
        let what = format!("mlp / {} / {}", kind.name(), precision.name());
        let bar = if p.blocks[0].linesearch.is_some() { 0.9 } else { 0.99 };
        let tol = if precision == Precision::F64 { 1e-6 } else { 5e-2 };
        if v.agreement < bar || v.max_point_difference > tol {
            let dir = dump_both(&p, &what, &rg, &rc);
            panic!("{what}: agreement {:.4}, point difference {:e}, examples {:?} (both results in {})", v.agreement, v.max_point_difference, v.examples, dir.display());
        }
        if p.blocks[0].linesearch.is_none() {
            agreeing += v.agreeing;
            judged += v.agreeing + v.disagreeing;
        }
    }
    let overall = agreeing as f64 / judged as f64;
    assert!(overall >= gdsweep::analysis::verify::AGREEMENT_BAR, "overall agreement {overall} over {judged} runs");
}

#[test]
fn models_agree_between_backends_f32() {
    agreement(Precision::F32);
}

#[test]
fn models_agree_between_backends_f64() {
    agreement(Precision::F64);
}

/// A config next to its data file, in a fresh folder.
fn files(config: &str, csv: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/houses.csv"), csv).unwrap();
    let path = dir.path().join("sweep.toml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

const HOUSES: &str = "size,bedrooms,price\n1000,2,12\n2000,3,23\n3000,4,34\n";

#[test]
fn a_csv_next_to_the_config_is_read_by_name() {
    let config = "[objective]\ndata = \"data/houses.csv\"\ntarget = \"price\"\n[sweep]\nlr = 1e-7\nstandardize = true\n";
    let (_dir, path) = files(config, HOUSES);
    let p = load(&path, Overrides::default()).unwrap();
    assert_eq!(p.objective.vars, ["w_size", "w_bedrooms", "b"]);
    assert_eq!(p.objective.rows.as_ref().unwrap().count(), 3);
    assert!(p.objective.formula.contains("standardised"), "{}", p.objective.formula);
    // The standardised table: z-scores, then the target.
    let row0 = p.objective.rows.as_ref().unwrap().row(0).to_vec();
    assert!((row0[0] + 1.224744871391589).abs() < 1e-12 && row0[2] == 12.0, "{row0:?}");
}

#[test]
fn bad_data_and_model_fields_say_where_and_what_is_allowed() {
    let err = |config: &str, csv: &str| {
        let (_dir, path) = files(config, csv);
        load(&path, Overrides::default()).map(|_| ()).unwrap_err().to_string()
    };
    let base = "[objective]\ndata = \"data/houses.csv\"\ntarget = \"price\"\n";
    let sweep = "[sweep]\nlr = 0.1\n";
    // A bad value in the data file: its file, line and column.
    let e = err(&format!("{base}{sweep}"), "size,bedrooms,price\n1000,2,12\n2000,x,23\n");
    assert!(e.contains("houses.csv:3: field `bedrooms`") && e.contains("'x' is not allowed: use a finite number"), "{e}");
    let e = err(&format!("{base}{sweep}"), "size,bedrooms,price\n1e39,2,12\n");
    assert!(e.contains("houses.csv:2: field `size`") && e.contains("rounds to infinity in f32"), "{e}");
    let e = err(&format!("[objective]\ndata = \"data/houses.csv\"\ntarget = \"cost\"\n{sweep}"), HOUSES);
    assert!(e.contains("sweep.toml:3: field `objective.target`") && e.contains("no column 'cost' (columns: size, bedrooms, price)"), "{e}");
    let e = err(&format!("[objective]\ndata = \"data/none.csv\"\ntarget = \"price\"\n{sweep}"), HOUSES);
    assert!(e.contains("field `objective.data`") && e.contains("cannot read the data file"), "{e}");
    let e = err(&format!("[objective]\ndata = \"data/houses.csv\"\n{sweep}"), HOUSES);
    assert!(e.contains("field `objective.target`"), "{e}");
    // Model fields.
    let e = err(&format!("{base}model = \"mlp2\"\n{sweep}"), HOUSES);
    assert!(e.contains("sweep.toml:4: field `objective.model`") && e.contains("allowed: linear, logistic"), "{e}");
    let e = err(&format!("{base}loss = \"bce\"\n{sweep}"), HOUSES);
    assert!(e.contains("field `objective.loss`") && e.contains("model = \"logistic\""), "{e}");
    let e = err(&format!("{base}model = \"logistic\"\n{sweep}"), HOUSES);
    assert!(e.contains("bce needs targets in [0, 1]"), "{e}");
    let e = err(&format!("{base}loss = \"cross\"\n{sweep}"), HOUSES);
    assert!(e.contains("allowed: mse, mae, huber, bce"), "{e}");
    let e = err(&format!("{base}l2 = -1.0\n{sweep}"), HOUSES);
    assert!(e.contains("field `objective.l2`") && e.contains(">= 0"), "{e}");
    let e = err(&format!("{base}huber_delta = 2.0\n{sweep}"), HOUSES);
    assert!(e.contains("only used with loss = \"huber\""), "{e}");
    let e = err(&format!("[objective]\nbuiltin = \"rosenbrock\"\nloss = \"mse\"\n{sweep}"), HOUSES);
    assert!(e.contains("sweep.toml:3: field `objective.loss`") && e.contains("only used with data"), "{e}");
    let e = err(&format!("[objective]\ndata = {{ x = [[1.0], [2.0]], y = [1.0] }}\n{sweep}"), HOUSES);
    assert!(e.contains("field `objective.data`") && e.contains("1 values for 2 rows"), "{e}");
    // The standardize axis.
    let e = err(&format!("[objective]\nbuiltin = \"rosenbrock\"\n{sweep}standardize = [false, true]\n"), HOUSES);
    assert!(e.contains("field `sweep.standardize`") && e.contains("only used with [objective] data"), "{e}");
    let e = err(&format!("{base}{sweep}standardize = [true, true]\n"), HOUSES);
    assert!(e.contains("[false, true] (each value once)"), "{e}");
    let e = err(&format!("{base}{sweep}standardize = [false, true]\n[analysis.basins]\n"), HOUSES);
    assert!(e.contains("need one standardize value"), "{e}");
}

/// Mini-batch SGD on a 7-row regression: `extra` adds to `[sweep]` and `[run]`.
fn sgd(batch: &str, sampling: &str, steps: u32) -> String {
    format!(
        "[objective]\ndata = {{ x = [[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]], y = [2.0, 3.8, 5.9, 7.8, 10.1, 12.2, 13.7] }}\n[sweep]\nlr = [0.001, 0.01, 0.03]\nbatch_size = {batch}\nseed = {{ lin = [0, 5], n = 6 }}\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"adam\"\n[run]\nsteps = {steps}\nsampling = \"{sampling}\"\n"
    )
}

/// The GPU and the CPU take the same batches: in f64, where both compute the same roundings,
/// every run's final point is the same to the bit, for both samplings, every batch size and
/// seed (a single different batch anywhere would move it).
#[test]
fn minibatches_are_the_same_on_both_backends() {
    let Some(g) = gpu(true) else { return };
    for sampling in ["shuffle", "replacement"] {
        let p = plan(&sgd("[1, 2, 3, 5]", sampling, 700), Precision::F64);
        let (rg, rc) = (run_all(&p, g.as_ref()), run_all(&p, &Cpu));
        for i in 0..rc.len() {
            let same = rg.point(i).iter().zip(rc.point(i)).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && rg.status[i] == rc.status[i] && rg.steps[i] == rc.steps[i], "{sampling}, run {i}: gpu {:?} {:?}, cpu {:?} {:?}", rg.status[i], rg.point(i), rc.status[i], rc.point(i));
        }
    }
}

/// A shuffled batch of every row is the table in order: full-batch GD exactly, on every backend
/// and precision.
#[test]
fn a_batch_of_every_row_is_full_batch_gd() {
    for precision in [Precision::F32, Precision::F64] {
        let batched = plan(&sgd("7", "shuffle", 500), precision);
        let full = plan(&sgd("7", "shuffle", 500).replace("batch_size = 7\nseed = { lin = [0, 5], n = 6 }\n", "").replace("sampling = \"shuffle\"\n", ""), precision);
        assert!(full.blocks[0].sampling.is_none());
        for b in backends(precision) {
            let (rb, rf) = (run_all(&batched, b.as_ref()), run_all(&full, b.as_ref()));
            let per_lr = 6; // seeds per learning rate in the batched sweep
            for i in 0..rb.len() {
                let j = i / per_lr;
                let same = rb.point(i).iter().zip(rf.point(j)).all(|(a, c)| a.to_bits() == c.to_bits());
                assert!(same && rb.status[i] == rf.status[j] && rb.steps[i] == rf.steps[j], "{} {}: run {i} {:?} {:?} vs full batch {:?} {:?}", b.name(), precision.name(), rb.status[i], rb.point(i), rf.status[j], rf.point(j));
            }
        }
    }
}

/// A run of mini-batches is not classified from its noisy window: it ends diverged, converged
/// (the whole table's gradient vanished at its final point, as where every row can be fitted)
/// or max_steps, with the whole table's loss and gradient norm.
#[test]
fn noisy_runs_say_only_what_the_whole_table_shows() {
    let exact = sgd("[1, 3]", "shuffle", 4000).replace("y = [2.0, 3.8, 5.9, 7.8, 10.1, 12.2, 13.7]", "y = [3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0]");
    for (src, fits) in [(sgd("[1, 3]", "shuffle", 4000), false), (sgd("[1, 3]", "replacement", 4000), false), (exact, true)] {
        let p = plan(&src, Precision::F64);
        for b in backends(Precision::F64) {
            let r = run_all(&p, b.as_ref());
            for i in 0..r.len() {
                let s = r.status[i];
                assert!(matches!(s, Status::Converged | Status::Diverged | Status::MaxSteps), "{}: run {i} is {s:?}", b.name());
                if s == Status::Diverged {
                    continue;
                }
                let obj = p.objective_of_run(r.run[i]);
                let g = obj.grad_f64(r.point(i)).iter().map(|v| v * v).sum::<f64>().sqrt();
                assert_eq!(r.grad_norm[i], g, "run {i}: the whole table's gradient norm");
                assert_eq!(r.loss[i], obj.loss_f64(r.point(i)));
                assert_eq!(s == Status::Converged, g <= p.rules.grad_tol_abs, "run {i}");
            }
            let converged = r.status.iter().filter(|&&s| s == Status::Converged).count();
            if fits {
                assert!(converged >= 12, "{}: SGD fits a line through every row: {:?}", b.name(), r.status);
            } else {
                assert_eq!(converged, 0, "{}: the residuals keep the batch gradients apart", b.name());
            }
        }
    }
}

#[test]
fn batch_settings_are_checked() {
    let err = |src: &str| gdsweep::config::parse("t.toml", src, "t", Overrides::default()).map(|_| ()).unwrap_err().to_string();
    let data = "[objective]\ndata = { x = [[1.0], [2.0], [3.0]], y = [1.0, 2.0, 3.0] }\n";
    let e = err("[objective]\nbuiltin = \"rosenbrock\"\n[sweep]\nlr = 0.1\nbatch_size = 2\n");
    assert!(e.contains("field `sweep.batch_size`") && e.contains("only used with [objective] data"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\nseed = 3\n"));
    assert!(e.contains("field `sweep.seed`") && e.contains("set batch_size too"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\n[run]\nsampling = \"shuffle\"\n"));
    assert!(e.contains("field `run.sampling`") && e.contains("set [sweep] batch_size too"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\nbatch_size = 2\n[run]\nsampling = \"bootstrap\"\n"));
    assert!(e.contains("use shuffle or replacement"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\nbatch_size = 0\n"));
    assert!(e.contains("field `sweep.batch_size`") && e.contains("batch_size = 0 is not allowed"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\nbatch_size = 2\nseed = 0.5\n"));
    assert!(e.contains("seed = 0.5 is not allowed"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\nbatch_size = [1, 2]\n[run]\nepochs = 5\n"));
    assert!(e.contains("field `run.epochs`") && e.contains("one batch_size"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\n[run]\nsteps = 10\nepochs = 5\n"));
    assert!(e.contains("give steps or epochs, not both"), "{e}");
    // An epoch of 3 rows in batches of 2 is 2 steps.
    let p = gdsweep::config::parse("t.toml", &format!("{data}[sweep]\nlr = 0.1\nbatch_size = 2\n[run]\nepochs = 5\n"), "t", Overrides::default()).unwrap();
    assert_eq!(p.steps, 10);
}

/// A network's parameters are named by layer, start where a seeded scheme puts them, and step
/// with their layer's learning rate.
#[test]
fn networks_have_named_layers_seeded_inits_and_layer_learning_rates() {
    let src = "[objective]\ndata = { x = [[0.5, -1.0], [1.5, 0.2], [-0.7, 0.9]], y = [0.3, 1.2, -0.5] }\nmodel = { mlp = { hidden = [2], activation = \"tanh\", bias = false, scaling = \"mean_field\" } }\n[sweep]\nlr = 1.0\n[sweep.init]\nscheme = \"he_normal\"\nscale = 2.0\nseed = 7\n[[optimizer]]\nkind = \"gd\"\nlr_scale = { l1 = [0.0, 0.5], l2 = 0.25 }\n[run]\nsteps = 1\nprecision = \"f64\"\n";
    let p = plan(src, Precision::F64);
    assert_eq!(p.objective.vars[0], "l1.w[0][0]");
    assert_eq!(p.objective.vars[5], "l2.w[1][0]");
    // he_normal: 2·√(2/fan_in)·N(0, 1), fan_in 2 in both layers.
    let b = &p.blocks[0];
    for j in 0..6 {
        let want = 2.0 * (2.0f64 / 2.0).sqrt() * gdsweep::problem::random::normal(7, j as u32);
        assert_eq!(b.axis_value(0, 1 + b.n_hypers + j), want, "init of {}", p.objective.vars[j]);
    }
    assert_eq!(p.blocks.iter().map(|b| b.runs).sum::<u64>(), 2, "one axis per layer, not per parameter");
    for bk in backends(Precision::F64) {
        let r = run_all(&p, bk.as_ref());
        let x0: Vec<f64> = (0..6).map(|j| b.axis_value(0, 1 + b.n_hypers + j)).collect();
        let g = p.objective.grad_f64(&x0);
        for (run, s1) in [(0usize, 0.0), (1, 0.5)] {
            for j in 0..6 {
                let scale = if j < 4 { s1 } else { 0.25 };
                let want = x0[j] - scale * g[j];
                assert!((r.point(run)[j] - want).abs() < 1e-15, "{}: run {run}, {}", bk.name(), p.objective.vars[j]);
            }
        }
    }
}

/// A seed axis for inits (`[sweep.init] seed = { lin = [0, 3], n = 4 }`): one hyperparameter
/// `init_seed`, each seed's point drawn whole from Philox of (seed, j), an explicit entry fixing
/// its parameter for every seed; each seed's runs end exactly where a sweep with that one seed
/// ends them, on both backends.
#[test]
fn a_seed_axis_for_inits_equals_one_sweep_per_seed() {
    let src = |seed: &str| format!("[objective]\ndata = {{ x = [[0.5, -1.0], [1.5, 0.2], [-0.7, 0.9]], y = [0.3, 1.2, -0.5] }}\nmodel = {{ mlp = {{ hidden = [2], activation = \"tanh\", bias = true }} }}\n[sweep]\nlr = [0.1, 0.5]\n[sweep.init]\nscheme = \"xavier_normal\"\nseed = {seed}\n\"l2.b[0]\" = 0.25\n[run]\nsteps = 40\n");
    for precision in [Precision::F32, Precision::F64] {
        let p = plan(&src("{ lin = [0, 3], n = 4 }"), precision);
        let b = &p.blocks[0];
        assert_eq!(b.runs, 8);
        assert!(b.hyper_index("init_seed").is_some(), "{:?}", b.hyper_names().collect::<Vec<_>>());
        let d = p.objective.dim();
        let bias = p.objective.vars.iter().position(|v| v == "l2.b[0]").unwrap();
        for bk in backends(precision) {
            let r = run_all(&p, bk.as_ref());
            for seed in 0..4u64 {
                let one = plan(&src(&seed.to_string()), precision);
                let r1 = run_all(&one, bk.as_ref());
                for lr in 0..2u64 {
                    let run = (lr * 4 + seed) as usize;
                    let start: Vec<f64> = (0..d).map(|j| b.axis_value(run as u64, 1 + b.n_hypers + j)).collect();
                    let start1: Vec<f64> = (0..d).map(|j| one.blocks[0].axis_value(lr, 1 + one.blocks[0].n_hypers + j)).collect();
                    assert_eq!(start, start1, "{} seed {seed}", bk.name());
                    assert_eq!(start[bias], 0.25, "the explicit entry holds for every seed");
                    assert_eq!(r.point(run), r1.point(lr as usize), "{} {precision:?} seed {seed} lr {lr}", bk.name());
                    assert_eq!((r.status[run], r.steps[run]), (r1.status[lr as usize], r1.steps[lr as usize]));
                }
            }
            // Different seeds start at different points, and runs.csv says which.
            assert_ne!(b.axis_value(0, 1 + b.n_hypers), b.axis_value(1, 1 + b.n_hypers));
            let dir = tempfile::tempdir().unwrap();
            gdsweep::output::files::write_runs_csv(&dir.path().join("runs.csv"), &p, &r).unwrap();
            let mut rows = csv::Reader::from_path(dir.path().join("runs.csv")).unwrap();
            let header = rows.headers().unwrap().clone();
            let (c_seed, c_init) = (header.iter().position(|h| h == "init_seed").unwrap(), header.iter().position(|h| h == "init_l1.w[0][0]").unwrap());
            for (run, row) in rows.records().enumerate() {
                let row = row.unwrap();
                assert_eq!(row[c_seed].parse::<f64>().unwrap(), (run % 4) as f64);
                assert_eq!(precision.round(row[c_init].parse::<f64>().unwrap()), precision.round(b.axis_value(run as u64, 1 + b.n_hypers)), "run {run}");
            }
        }
    }
    let e = gdsweep::config::parse("t.toml", &src("[0, 1]").replace("\"l2.b[0]\" = 0.25", "\"l2.b[0]\" = [0.1, 0.2]"), "t", Overrides::default()).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("field `sweep.init.l2.b[0]`") && e.contains("one value"), "{e}");
    let e = gdsweep::config::parse("t.toml", &src("[0, 1.5]"), "t", Overrides::default()).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("sweep.init.seed"), "{e}");
}

/// Beyond 64 parameters the final points go to parameters.npy by default; `[output]
/// parameters` chooses, and an unknown choice names what is allowed.
#[test]
fn a_network_writes_its_parameters_to_npy_by_default() {
    let data = "[objective]\ndata = { x = [[0.5, -1.0], [1.5, 0.2], [-0.7, 0.9]], y = [0.3, 1.2, -0.5] }\n";
    let net = |hidden: usize, output: &str| format!("{data}model = {{ mlp = {{ hidden = [{hidden}] }} }}\n[sweep]\nlr = 0.1\n{output}");
    assert!(plan(&net(2, ""), Precision::F32).point_columns(), "9 parameters: columns");
    let big = plan(&net(40, ""), Precision::F32);
    assert_eq!(big.objective.dim(), 161);
    assert!(!big.point_columns() && big.init_columns().is_empty());
    assert!(plan(&net(40, "[output]\nparameters = \"columns\"\n"), Precision::F32).point_columns());
    let e = gdsweep::config::parse("t.toml", &net(2, "[output]\nparameters = \"parquet\"\n"), "t", Overrides::default()).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("t.toml:") && e.contains("field `output.parameters`") && e.contains("use columns") && e.contains("or npy"), "{e}");
}

/// Input optimisation: f(u, v) = (2u − v + 0.5 − 3)², the inputs of the linear model with
/// w = (2, −1), b = 0.5 driven to the output 3. Its minima are the line 2u − v = 2.5; GD from 0
/// moves along the gradient's direction (2, −1) only, so it ends at (1, −0.5), on both backends.
#[test]
fn input_optimisation_finds_the_input_of_a_fixed_linear_model() {
    let src = "[objective]\ninputs = [\"u\", \"v\"]\nparameters = [2.0, -1.0, 0.5]\noutput = 3.0\n[sweep]\nlr = 0.05\n[run]\nsteps = 2000\n";
    let p = plan(src, Precision::F64);
    assert_eq!(p.objective.vars, ["u", "v"]);
    assert_eq!(p.objective.loss_f64(&[0.0, 0.0]), 6.25);
    assert_eq!(p.objective.grad_f64(&[0.0, 0.0]), [-10.0, 5.0]);
    for b in backends(Precision::F64) {
        let r = run_all(&p, b.as_ref());
        assert_eq!(r.status[0], Status::Converged, "{}", b.name());
        assert!((r.point(0)[0] - 1.0).abs() < 1e-9 && (r.point(0)[1] + 0.5).abs() < 1e-9, "{}: {:?}", b.name(), r.point(0));
    }
}

/// A network trained by one sweep (its final parameters in parameters.npy), then the inputs
/// that drive its output to 0.4 found by another: the input objective is the trained model's
/// loss with the roles swapped (the same value as the model's objective on a one-row table of
/// that input), whether the parameters come from the file or are written out.
#[test]
fn input_optimisation_reads_a_trained_networks_parameters() {
    use gdsweep::problem::{data::Table, model};
    let dir = tempfile::tempdir().unwrap();
    let train = "[objective]\ndata = { x = [[0.5, -1.0], [1.5, 0.2], [-0.7, 0.9]], y = [0.3, 1.2, -0.5] }\nmodel = { mlp = { hidden = [3], activation = \"tanh\" } }\n[sweep]\nlr = 0.2\n[sweep.init]\nscheme = \"xavier_normal\"\n[run]\nsteps = 300\nprecision = \"f64\"\n[output]\nparameters = \"npy\"\n";
    std::fs::write(dir.path().join("train.toml"), train).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gdsweep")).args(["run", "train.toml", "-b", "cpu", "-q", "--out", "net"]).current_dir(dir.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trained = gdsweep::problem::npy::read_row(&dir.path().join("net/parameters.npy"), 0).unwrap();
    assert_eq!(trained.len(), 13);
    let net = "model = { mlp = { hidden = [3], activation = \"tanh\" } }\ninputs = [\"a\", \"b\"]\noutput = 0.4\n";
    let rest = "[sweep]\nlr = 0.1\n[sweep.init]\na = 0.3\nb = -0.2\n[[optimizer]]\nkind = \"lbfgs\"\n[run]\nsteps = 200\n";
    let from_file = format!("[objective]\n{net}parameters = {{ npy = \"net/parameters.npy\", row = 0 }}\n{rest}");
    std::fs::write(dir.path().join("inputs.toml"), &from_file).unwrap();
    let p = load(&dir.path().join("inputs.toml"), Overrides { precision: Some(Precision::F64), ..Default::default() }).unwrap();
    let listed = plan(&format!("[objective]\n{net}parameters = {trained:?}\n{rest}"), Precision::F64);
    assert!(listed.objective.model.is_none(), "an input objective is no model on data");
    let mlp = model::MlpSpec { hidden: vec![3], activation: model::Activation::Tanh, bias: true, mean_field: false };
    let spec = model::ModelSpec { model: model::ModelKind::Mlp, loss: model::LossKind::Mse, l2: 0.0, bias: true, mlp: Some(mlp) };
    for u in [[0.0, 0.0], [0.3, -0.2], [1.5, 2.0]] {
        let one_row = model::objective(&Table::inline(&[u.to_vec()], &[0.4], None).unwrap(), &spec);
        let want = one_row.loss_f64(&trained);
        assert_eq!(p.objective.loss_f64(&u), want, "at {u:?}");
        assert_eq!(listed.objective.loss_f64(&u), want, "at {u:?}");
    }
    for b in backends(Precision::F64) {
        let r = run_all(&p, b.as_ref());
        assert_eq!(r.status[0], Status::Converged, "{}: {:?}", b.name(), r.point(0));
        assert!(r.loss[0] < 1e-20, "{}: the output reaches 0.4 ({})", b.name(), r.loss[0]);
    }
}

#[test]
fn input_optimisation_settings_are_checked() {
    let err = |src: &str| gdsweep::config::parse("t.toml", src, "t", Overrides::default()).map(|_| ()).unwrap_err().to_string();
    let base = "[objective]\ninputs = [\"u\", \"v\"]\n";
    let e = err(&format!("{base}parameters = [2.0, -1.0]\noutput = 3.0\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("field `objective.parameters`") && e.contains("2 values, but this model has 3 parameters (w_u, w_v, b"), "{e}");
    let e = err(&format!("{base}parameters = [2.0, -1.0, 0.5]\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("field `objective.output`"), "{e}");
    let e = err(&format!("{base}output = 1.0\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("field `objective.parameters`") && e.contains("3 parameters"), "{e}");
    let e = err(&format!("{base}parameters = {{ npy = \"missing.npy\" }}\noutput = 1.0\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("missing.npy"), "{e}");
    let e = err("[objective]\nexpr = \"x^2\"\noutput = 1.0\n[sweep]\nlr = 0.1\n");
    assert!(e.contains("field `objective.output`") && e.contains("only used with inputs"), "{e}");
    let e = err(&format!("{base}data = {{ x = [[1.0]], y = [1.0] }}\noutput = 1.0\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("exactly one of") && e.contains("data, inputs"), "{e}");
    let e = err(&format!("{base}parameters = [2.0, -1.0, 0.5]\noutput = 1.0\nl2 = 0.1\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("field `objective.l2`") && e.contains("not used with inputs"), "{e}");
}

#[test]
fn network_settings_are_checked() {
    let err = |src: &str| gdsweep::config::parse("t.toml", src, "t", Overrides::default()).map(|_| ()).unwrap_err().to_string();
    let data = "[objective]\ndata = { x = [[1.0], [2.0], [3.0]], y = [1.0, 2.0, 3.0] }\n";
    let e = err(&format!("{data}model = {{ mlp = {{ hidden = [0] }} }}\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("field `objective.model`") && e.contains("1 ..= 4096 units"), "{e}");
    let e = err(&format!("{data}model = {{ mlp = {{ hidden = [4], activation = \"gelu\" }} }}\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("allowed: tanh, sigmoid, relu, identity"), "{e}");
    let e = err(&format!("{data}model = {{ mlp = {{ hidden = [4] }} }}\nloss = \"bce\"\n[sweep]\nlr = 0.1\n"));
    assert!(e.contains("a network's output is not one"), "{e}");
    let e = err(&format!("{data}model = {{ mlp = {{ hidden = [2] }} }}\n[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"gd\"\nlr_scale = [1, 2, 3, 4, 5, 6, 7]\n"));
    assert!(e.contains("per layer: lr_scale = { l1 = [...] }"), "{e}");
    let e = err(&format!("{data}model = {{ mlp = {{ hidden = [2] }} }}\n[sweep]\nlr = 0.1\n[[optimizer]]\nkind = \"gd\"\nlr_scale = {{ l3 = 2.0 }}\n"));
    assert!(e.contains("'l3' is not a layer of the network (layers: l1, l2)"), "{e}");
    let e = err("[objective]\nbuiltin = \"rosenbrock\"\n[sweep]\nlr = 0.1\n[sweep.init]\nscheme = \"normal\"\n");
    assert!(e.contains("field `sweep.init.scheme`") && e.contains("models trained on data"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\n[sweep.init]\nseed = 3\n"));
    assert!(e.contains("field `sweep.init.seed`") && e.contains("only used with scheme"), "{e}");
    let e = err(&format!("{data}[sweep]\nlr = 0.1\n[sweep.init]\nscheme = \"uniform\"\n"));
    assert!(e.contains("use normal, xavier_normal or he_normal"), "{e}");
}

/// The fractal paper's network (16 → 16 → 1, 272 parameters) makes a kernel that naga accepts:
/// per-coordinate maxima are a balanced tree, not a chain deeper than its parser allows.
#[test]
fn a_network_of_272_parameters_makes_a_valid_kernel() {
    let mut x = Vec::new();
    for i in 0..20 {
        x.push(format!("[{}]", (0..16).map(|j| format!("{:.3}", ((i * 16 + j) as f64 * 0.37).sin())).collect::<Vec<_>>().join(", ")));
    }
    let y: Vec<String> = (0..20).map(|i| format!("{:.3}", (i as f64 * 0.7).cos())).collect();
    let src = format!(
        "[objective]\ndata = {{ x = [{}], y = [{}] }}\nmodel = {{ mlp = {{ hidden = [16], activation = \"tanh\", bias = false, scaling = \"mean_field\" }} }}\n[sweep]\nlr = 1.0\n[sweep.init]\nscheme = \"normal\"\n[[optimizer]]\nkind = \"gd\"\nlr_scale = {{ l1 = [0.1, 1.0], l2 = [0.1, 1.0] }}\n[run]\nsteps = 50\n",
        x.join(", "),
        y.join(", ")
    );
    let p = plan(&src, Precision::F32);
    assert_eq!(p.objective.dim(), 272);
    for window in [false, true] {
        let wgsl = gdsweep::kernel::sweep_wgsl(&p, 0, window);
        gdsweep::kernel::validate_wgsl(&wgsl, false).unwrap_or_else(|e| panic!("{e}"));
    }
}
