//! `[analysis.trajectories]`: recorded paths, the same on every backend, ending where the
//! sweep's runs end, and matching closed forms.
mod common;

use common::{assert_close, backends, decode_png, plan, run_all};
use gdsweep::backend::{cpu::Cpu, Backend};
use gdsweep::plan::Precision;
use gdsweep::analysis::trajectory::trace;

const PATHS: &str = r#"
[objective]
builtin = "himmelblau"
[sweep]
lr = [0.005, 0.02]
[sweep.init]
x = [-4.0, 0.5, 4.5]
y = [-4.0, 4.0]
[[optimizer]]
kind = "gd"
[[optimizer]]
kind = "adam"
lr = [0.05, 0.3]
[run]
steps = 500
[analysis.trajectories]
sample = 10
every = 7
"#;

#[test]
fn paths_agree_across_backends_and_end_where_the_runs_end() {
    let p = plan(PATHS, Precision::F64);
    let spec = p.trajectories.clone().unwrap();
    // Dealt to both blocks in turn, spread over each by the Halton sequence (plan::analyses::sample).
    assert_eq!(spec.runs, [3, 16, 7, 20, 5, 12, 4, 22, 8, 14]);
    // The window starts at 500 − 256 = 244: points every 7 steps up to it, then 244 + 7k.
    assert!(p.dispatch_boundary(238, 7) && p.dispatch_boundary(244, 7) && p.dispatch_boundary(251, 7) && !p.dispatch_boundary(245, 7));
    let mut all = Vec::new();
    for exec in backends(Precision::F64) {
        let sweep = run_all(&p, &exec);
        let traces = trace(&p, &exec, &spec).unwrap_or_else(|e| panic!("{e}"));
        for t in &traces {
            let i = sweep.run.iter().position(|&r| r == t.run).unwrap();
            let last = t.steps.len() - 1;
            assert_eq!(t.steps[last], sweep.steps[i], "{}: run {} ends at its sweep step", exec.name(), t.run);
            assert_eq!(t.point(last), sweep.point(i), "{}: run {} ends at its sweep point", exec.name(), t.run);
            let (bi, local) = p.locate(t.run).unwrap();
            let b = &p.blocks[bi];
            assert_eq!(t.point(0), [b.axis_value(local, b.axes.len() - 2), b.axis_value(local, b.axes.len() - 1)]);
            assert!(t.steps[..last].iter().all(|&s| p.dispatch_boundary(s, 7)), "{:?}", t.steps);
            let want: Vec<u32> = (0..sweep.steps[i]).filter(|&s| p.dispatch_boundary(s, 7)).chain([sweep.steps[i]]).collect();
            assert_eq!(t.steps, want);
            assert!((t.loss[last] - sweep.loss[i]).abs() <= 1e-9 * sweep.loss[i].abs().max(1.0));
        }
        all.push((exec.name(), traces));
    }
    if let [(_, cpu), (_, gpu)] = &all[..] {
        for (c, g) in cpu.iter().zip(gpu) {
            assert_eq!(c.steps, g.steps, "run {}", c.run);
            assert_close(&g.x, &c.x, 1e-9, &format!("run {}: gpu path against cpu", c.run));
        }
    }
}

fn gd_paths_on_a_quadratic_follow_the_closed_form(exec: &dyn Backend, _p: Precision) {
    // f = ½(x² + 4y²): x_k = (1 − lr)^k x₀, y_k = (1 − 4 lr)^k y₀.
    let p = plan(
        "[objective]\nquadratic = { h = [[1.0, 0.0], [0.0, 4.0]] }\n[sweep]\nlr = 0.1\n[sweep.init]\nx = 2.0\ny = -1.0\n[run]\nsteps = 300\nwindow = 0\n[analysis.trajectories]\nruns = [0]\nevery = 3\n",
        Precision::F64,
    );
    let t = &trace(&p, exec, p.trajectories.as_ref().unwrap()).unwrap()[0];
    assert!(t.steps.len() > 20);
    for (k, &s) in t.steps.iter().enumerate() {
        let want = [2.0 * 0.9f64.powi(s as i32), -(0.6f64.powi(s as i32))];
        let got = t.point(k);
        assert_close(got, &want, 1e-12, &format!("{} step {s}", exec.name()));
        if k + 1 < t.steps.len() {
            assert_eq!(s % 3, 0);
        }
        // Without a line search, one evaluation per point reached: the start and each step.
        assert_eq!(t.evals[k], s + 1, "{} step {s}", exec.name());
    }
}
per_backend!(gd_paths_on_a_quadratic_follow_the_closed_form, [f64]);

#[test]
fn pictures_of_paths() {
    let p = plan(PATHS, Precision::F32);
    let traces = trace(&p, &Cpu, p.trajectories.as_ref().unwrap()).unwrap();
    let (px, w, h) = decode_png(&gdsweep::output::plot::trajectories_png(&p, &traces).unwrap());
    assert_eq!((w, h), (1040, 1180));
    // Each path's colour is drawn, over the contours (the top 760 rows) and in the loss against
    // the evaluations below them.
    let (paths, curves) = px.split_at(1040 * 760);
    for k in 0..traces.len() {
        let c = gdsweep::output::plot::series_colour(k);
        assert!(paths.iter().filter(|&&q| q == [c.0, c.1, c.2]).count() > 20, "path {k}");
        assert!(curves.iter().filter(|&&q| q == [c.0, c.1, c.2]).count() > 20, "loss curve {k}");
    }
    // 1-D objectives: loss curves.
    let p1 = plan("[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = [0.01, 0.05]\n[sweep.init]\nx = [-2.5, 2.5]\n[analysis.trajectories]\n", Precision::F64);
    let t1 = trace(&p1, &Cpu, p1.trajectories.as_ref().unwrap()).unwrap();
    assert_eq!(t1.len(), 4, "sample defaults to 8, capped by the grid");
    let (_, w, h) = decode_png(&gdsweep::output::plot::trajectories_png(&p1, &t1).unwrap());
    assert_eq!((w, h), (1000, 600));
}

/// `sample = 6` spreads the six paths over the grid: six different starts, in different rows
/// and columns, dealt to every optimizer (they used to share one row of a 256² grid).
#[test]
fn sampled_paths_spread_over_the_grid() {
    let p = common::plan(
        "[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.005\n[sweep.init]\nx = { lin = [-5.0, 5.0], n = 256 }\ny = { lin = [-5.0, 5.0], n = 256 }\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"momentum\"\n[[optimizer]]\nkind = \"adam\"\n[analysis.trajectories]\nsample = 6\n",
        gdsweep::plan::Precision::F32,
    );
    let runs = &p.trajectories.as_ref().unwrap().runs;
    assert_eq!(runs.len(), 6);
    let starts: Vec<(u64, u64, usize)> = runs
        .iter()
        .map(|&id| {
            let (bi, local) = p.locate(id).unwrap();
            (local / 256, local % 256, bi)
        })
        .collect();
    for (i, a) in starts.iter().enumerate() {
        for b in &starts[i + 1..] {
            assert!(a.0 != b.0 && a.1 != b.1, "{starts:?}");
        }
    }
    for block in 0..3 {
        assert_eq!(starts.iter().filter(|s| s.2 == block).count(), 2, "{starts:?}");
    }
}
