//! The engine's mechanics: state carried between dispatches, 2-D dispatch, matrix objectives
//! of dimension 8, sampling.

mod common;
use common::{gpu, plan, run_all};
use gdsweep::backend::cpu::Cpu;
use gdsweep::engine::execute;
use gdsweep::backend::gpu::sweep::{Grid, GROUP_COLUMNS};
use gdsweep::plan::Precision;
use gdsweep::analysis::verify::compare;

#[test]
fn dispatch_geometry() {
    let grid = |n, per, max| {
        let g = Grid::new(n, per, max);
        (g.x, g.y, g.columns, g.rows)
    };
    assert_eq!(grid(1, 64, 65535), (1, 1, 1, 1));
    assert_eq!(grid(64 * 10, 64, 65535), (10, 1, 10, 1));
    // 100 groups in 64 columns of 2 rows: 28 groups past the last run.
    assert_eq!(grid(64 * 100, 64, 65535), (128, 1, 64, 2));
    assert_eq!(grid(64 * 65535, 64, 65535), (65535, 2, 64, 1024));
    // One run per workgroup (the workgroup layout).
    assert_eq!(grid(65536, 1, 65535), (65535, 2, 64, 1024));
    // Every group the runs need has a workgroup, and no more than a column's worth is spare.
    for n in [1u64, 63, 64, 65, 4095, 4097, 1 << 20, 4_200_000, 64 * 65535 + 1] {
        for per in [1u32, 64] {
            let g = Grid::new(n, per, 65535);
            let groups = n.div_ceil(per as u64);
            let cells = g.rows as u64 * g.columns as u64;
            assert!(cells >= groups && cells - groups < g.columns as u64, "n {n} per {per}: {g:?}");
            assert!(g.columns <= GROUP_COLUMNS && g.x as u64 * g.y as u64 >= cells && g.x <= 65535, "n {n} per {per}: {g:?}");
        }
    }
}

/// Splitting a run into many short dispatches (state through the buffer) changes nothing.
#[test]
fn results_do_not_depend_on_steps_per_dispatch() {
    let Some(g) = gpu(false) else { return };
    let src = |per: u32| {
        format!(
            "[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = [0.01, 0.05, 0.16]\n[sweep.init]\nx = {{ lin = [-3, 3], n = 101 }}\n[[optimizer]]\nkind = \"adam\"\n[[optimizer]]\nkind = \"momentum\"\n[run]\nsteps = 3000\nsteps_per_dispatch = {per}\n"
        )
    };
    let one = run_all(&plan(&src(3000), Precision::F32), &g);
    let many = run_all(&plan(&src(7), Precision::F32), &g);
    // Debug text: equal NaNs (rate where not measured) compare equal there.
    assert!(format!("{one:?}") == format!("{many:?}"), "results differ between dispatch sizes");
}

/// More than 65,535 × 64 runs in one batch need a 2-D dispatch; every run must still be run once.
#[test]
fn two_dimensional_dispatch_covers_every_run() {
    let Some(g) = gpu(false) else { return };
    let src = "[objective]\nexpr = \"(x - 1)^2\"\n[sweep]\nlr = { lin = [0.0, 1.2], n = 4200000 }\n[run]\nsteps = 2\n";
    let p = plan(src, Precision::F32);
    let r = run_all(&p, &g);
    assert_eq!(r.len(), 4_200_000);
    let lr = &p.blocks[0].axes[0].values;
    for i in (0..r.len()).step_by(997).chain([r.len() - 1]) {
        // Two GD steps on (x−1)² from 0: x = 1 − (1 − 2lr)².
        let want = 1.0 - (1.0 - 2.0 * lr[i]).powi(2);
        let got = r.point(i)[0];
        assert!(r.steps[i] <= 2 && (r.steps[i] < 2 || (got - want).abs() < 1e-5), "run {i}: x {got}, want {want}");
    }
    assert!(r.status.iter().all(|s| *s != gdsweep::outcome::Status::Running));
}

/// least_squares and quadratic objectives of dimension 8 go through the same path.
#[test]
fn eight_dimensional_matrix_objectives_agree() {
    let n = 8;
    let a: Vec<String> = (0..n)
        .map(|i| {
            let row: Vec<String> = (0..n).map(|j| format!("{}", if i == j { 2.0 + i as f64 } else { 0.1 * ((i * 7 + j * 3) % 5) as f64 - 0.2 })).collect();
            format!("[{}]", row.join(", "))
        })
        .collect();
    let b: Vec<String> = (0..n).map(|i| format!("{}", i as f64 - 3.0)).collect();
    // The quadratic's h must be symmetric (config refuses others): the same matrix, symmetrised.
    let entry = |i: usize, j: usize| if i == j { 2.0 + i as f64 } else { 0.1 * ((i * 7 + j * 3) % 5) as f64 - 0.2 };
    let h: Vec<String> = (0..n)
        .map(|i| format!("[{}]", (0..n).map(|j| format!("{}", 0.5 * (entry(i, j) + entry(j, i)))).collect::<Vec<_>>().join(", ")))
        .collect();
    let inits: String = ["x1", "x2", "x3"].iter().map(|v| format!("{v} = [-1.0, 2.0]\n")).collect();
    for objective in [
        format!("least_squares = {{ a = [{}], b = [{}] }}", a.join(", "), b.join(", ")),
        format!("quadratic = {{ h = [{}], g = [{}] }}", h.join(", "), b.join(", ")),
    ] {
        let src = format!(
            "[objective]\n{objective}\n[sweep]\nlr = {{ log = [1e-3, 0.2], n = 6 }}\n[sweep.init]\n{inits}[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"adam\"\n[run]\nsteps = 3000\n"
        );
        for precision in [Precision::F32, Precision::F64] {
            let p = plan(&src, precision);
            assert_eq!(p.objective.dim(), 8);
            let rc = run_all(&p, &Cpu);
            assert!(rc.status.contains(&gdsweep::outcome::Status::Converged));
            let Some(g) = gpu(precision == Precision::F64) else { continue };
            let rg = run_all(&p, &g);
            let v = compare(&p, &rg, &rc);
            assert!(v.passed(), "{objective}: {v:?}");
        }
    }
}

/// `verify --sample` runs an evenly strided subset with the right run ids on both backends.
#[test]
fn sampling_selects_the_same_runs_on_both_backends() {
    let src = "[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.01\n[sweep.init]\nx = { lin = [-5, 5], n = 100 }\ny = { lin = [-5, 5], n = 100 }\n[run]\nsteps = 500\n";
    let p = plan(src, Precision::F32);
    let sel = p.selections(Some(1000));
    let rc = execute(&p, &Cpu, &sel).unwrap().results;
    assert_eq!(rc.len(), 1000);
    assert_eq!(rc.run[..3], [0, 10, 20]);
    let full = run_all(&p, &Cpu);
    for i in 0..rc.len() {
        let id = rc.run[i] as usize;
        assert_eq!((rc.status[i], rc.steps[i], rc.point(i)), (full.status[id], full.steps[id], full.point(id)));
    }
    if let Some(g) = gpu(false) {
        let rg = execute(&p, &g, &sel).unwrap().results;
        assert_eq!(rg.run, rc.run);
    }
}
