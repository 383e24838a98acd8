//! Backtracking line search (method::linesearch) on cases whose every trial is known, on both
//! backends and precisions; the forum matrix, where no learning rate diverges with it; the
//! threshold analysis, which says so; and the config's checks.

mod common;
use common::{plan, run_all};
use gdsweep::backend::Backend;
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;

fn quadratic(lr: f64, extra: &str) -> String {
    format!("[objective]\nexpr = \"x^2\"\n[sweep]\nlr = {lr}\n[sweep.init]\nx = 1.0\n[[optimizer]]\nkind = \"gd\"\n{extra}\n[run]\nsteps = 50\n")
}

/// f = x² from x = 1 with lr = 1: GD proposes x = 1 − 2 = −1 (f = 1, no decrease: rejected),
/// then x = 1 + ½·(−2) = 0 (f = 0: accepted), the minimum. One step, three evaluations
/// (x₀, the rejected trial, the accepted one), converged exactly at 0. Without the search the
/// same lr bounces between ±1 for ever.
fn one_shrink_reaches_the_minimum(b: &dyn Backend, p: Precision) {
    let r = run_all(&plan(&quadratic(1.0, "linesearch = \"backtracking\""), p), b);
    let w = format!("{}: {:?} steps {:?} evals {:?} x {:?}", b.name(), r.status, r.steps, r.evals, r.x);
    assert_eq!((r.status[0], r.steps[0], r.evals[0]), (Status::Converged, 1, 3), "{w}");
    assert_eq!(r.x[0], 0.0, "{w}");
    let plain = run_all(&plan(&quadratic(1.0, ""), p), b);
    assert_eq!(plain.status[0], Status::Cycling, "without the search lr = 1 is a 2-cycle: {:?}", plain.status);
    assert_eq!(plain.evals[0], plain.steps[0] + 1);
}
per_backend!(one_shrink_reaches_the_minimum, [f32, f64]);

/// f = x² from 1 with lr = 100 and at most one shrink: x = 1 − 200 = −199 and x = 1 − 100 =
/// −99 both raise f, so the first step fails its search: `line_search_failed` after one step and
/// three evaluations, at the last trial point −99.
fn a_search_that_runs_out_of_shrinks_says_so(b: &dyn Backend, p: Precision) {
    let r = run_all(&plan(&quadratic(100.0, "linesearch = { kind = \"backtracking\", max_steps = 1 }"), p), b);
    let w = format!("{}: {:?} steps {:?} evals {:?} x {:?}", b.name(), r.status, r.steps, r.evals, r.x);
    assert_eq!((r.status[0], r.steps[0], r.evals[0]), (Status::LineSearchFailed, 1, 3), "{w}");
    assert_eq!((r.x[0], r.loss[0]), (-99.0, 9801.0), "{w}");
}
per_backend!(a_search_that_runs_out_of_shrinks_says_so, [f32, f64]);

/// The forum matrix: plain GD diverges above 1.6031e-5; with backtracking no lr up to 1e3
/// diverges (or is diverging), large learning rates pay in evaluations, and the threshold
/// analysis reports that there is no threshold (`line_search`, no lr_unstable, no theory).
fn forum_matrix_never_diverges_with_a_line_search(b: &dyn Backend, p: Precision) {
    let src = r#"
[objective]
least_squares = { a = [[-249.69, -4.1511], [-4.1511, -0.20755]], b = [0.0, 10.0] }
[sweep]
lr = { log = [1e-6, 1e3], n = 28 }
[[optimizer]]
kind = "gd"
linesearch = { kind = "backtracking", c = 1e-4, shrink = 0.5, max_steps = 30 }
[run]
steps = 300
[analysis.threshold]
"#;
    let plan = plan(src, p);
    let r = run_all(&plan, b);
    let lrs = &plan.blocks[0].axes[0].values;
    for (i, &lr) in lrs.iter().enumerate() {
        let w = format!("{} lr {lr}: {:?} after {} steps, {} evals", b.name(), r.status[i], r.steps[i], r.evals[i]);
        assert!(!r.status[i].is_unstable() && r.status[i] != Status::LineSearchFailed, "{w}");
        // Far above 2/λ_max (λ_max·1e-3 = 125) the first trial multiplies the stiff mode by
        // about −124 and raises the loss: every step shrinks at least once.
        if lr >= 1e-3 {
            assert!(r.evals[i] > 2 * r.steps[i], "{w}");
        }
    }
    let t = gdsweep::analysis::threshold::coarse(&plan, &r);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].stop, gdsweep::analysis::threshold::Stop::LineSearch);
    assert_eq!((t[0].lr_unstable, t[0].lr_theory), (None, None), "{t:?}");
}
per_backend!(forum_matrix_never_diverges_with_a_line_search, [f32, f64]);

#[test]
fn linesearch_tables_are_checked() {
    let bad = |extra: &str, field: &str, says: &str| {
        let e = gdsweep::config::parse("t.toml", &quadratic(0.1, extra), "t", Default::default()).expect_err(extra).to_string();
        assert!(e.contains(field) && e.contains(says), "{extra}: {e}");
    };
    bad("linesearch = \"wolfe\"", "optimizer[0].linesearch.kind", "unknown linesearch 'wolfe' (allowed: backtracking, zoom, none)");
    bad("linesearch = { kind = \"backtracking\", c = 1.5 }", "optimizer[0].linesearch.c", "(0, 1)");
    bad("linesearch = { kind = \"backtracking\", shrink = 0 }", "optimizer[0].linesearch.shrink", "(0, 1)");
    bad("linesearch = { kind = \"backtracking\", max_steps = 2.5 }", "optimizer[0].linesearch.max_steps", "whole numbers");
    bad("linesearch = { kind = \"backtracking\", tries = 3 }", "optimizer[0].linesearch.tries", "allowed: c, shrink, max_steps");
    bad("linesearch = 3", "optimizer[0].linesearch", "expected a table");
    // Parameters are axes.
    let p = gdsweep::config::parse("t.toml", &quadratic(0.1, "linesearch = { kind = \"backtracking\", shrink = [0.3, 0.5, 0.8] }"), "t", Default::default()).unwrap();
    assert_eq!(p.total_runs(), 3);
    assert!(p.hyper_columns().iter().any(|c| c == "linesearch_shrink"));
}

/// CG (Polak–Ribière+) with its zoom search (curvature 0.1) on Rosenbrock from (−1.2, 1)
/// converges in a fraction of GD's steps with the same search; with backtracking from lr, β
/// clamps to ~0 and the run is GD's with backtracking, to 1e-7 (method::cg's note).
fn cg_is_conjugate_with_a_wolfe_search(b: &dyn Backend, p: Precision) {
    let src = |kind: &str, search: &str| {
        format!("[objective]\nexpr = \"(1 - x)^2 + 100*(y - x^2)^2\"\n[sweep]\nlr = 1e-3\n[sweep.init]\nx = -1.2\ny = 1.0\n[[optimizer]]\nkind = \"{kind}\"\nlinesearch = \"{search}\"\n[run]\nsteps = 20000\n")
    };
    let cg = run_all(&plan(&src("cg", "zoom"), p), b);
    let gd = run_all(&plan(&src("gd", "zoom"), p), b);
    assert_eq!(cg.status[0], Status::Converged, "{}: {:?} at {:?}", b.name(), cg.status, cg.x);
    assert!((cg.x[0] - 1.0).abs() < 1e-3 && (cg.x[1] - 1.0).abs() < 1e-3, "{}: {:?}", b.name(), cg.x);
    assert!(cg.steps[0] * 10 < gd.steps[0], "{}: cg {} steps, gd {} ({:?})", b.name(), cg.steps[0], gd.steps[0], gd.status);
    let cg_bt = run_all(&plan(&src("cg", "backtracking"), p), b);
    let gd_bt = run_all(&plan(&src("gd", "backtracking"), p), b);
    assert_eq!(cg_bt.status, gd_bt.status, "{}", b.name());
    assert!(cg_bt.x.iter().zip(&gd_bt.x).all(|(a, g)| (a - g).abs() < 1e-5), "{}: {:?} {:?}", b.name(), cg_bt.x, gd_bt.x);
}
per_backend!(cg_is_conjugate_with_a_wolfe_search, [f32, f64]);

/// `plan`'s time bound is one: a block of 4 runs costs a full group of lanes, a backtracking
/// search multiplies the evaluations a step may take by 1 + max_steps, and the methods whose
/// updates it does not model (newton, lbfgs, cg) get no bound at all rather than a wrong one.
#[test]
fn the_time_bound_counts_lanes_and_trials() {
    let bound = |extra: &str, lrs: &str| {
        let src = format!("[objective]\nexpr = \"x^2\"\n[sweep]\nlr = {lrs}\n[sweep.init]\nx = 1.0\n[[optimizer]]\nkind = \"gd\"\n{extra}\n[run]\nsteps = 1000\n");
        gdsweep::config::parse("t.toml", &src, "t", Default::default()).unwrap().cpu_seconds_bound()
    };
    let four = bound("", "[0.1, 0.2, 0.3, 0.4]").unwrap();
    let sixty_four = bound("", "{ lin = [0.01, 0.64], n = 64 }").unwrap();
    assert_eq!(four, sixty_four, "a partly filled group of lanes costs a whole one");
    let searched = bound("linesearch = { kind = \"backtracking\", max_steps = 9 }", "[0.1, 0.2, 0.3, 0.4]").unwrap();
    assert!((searched / four - 10.0).abs() < 1e-9, "{searched} vs {four}");
    assert_eq!(bound("linesearch = \"zoom\"", "0.1"), None);
    let newton = "[objective]\nexpr = \"x^2\"\n[sweep]\nlr = 1.0\n[[optimizer]]\nkind = \"newton\"\n";
    assert_eq!(gdsweep::config::parse("t.toml", newton, "t", Default::default()).unwrap().cpu_seconds_bound(), None);
}

/// A run's outcome is its own, whichever runs share its lanes. CG with a backtracking search
/// that fails for some runs inside the outcome window: the window pool takes the parked runs
/// 64 at a time and puts each next one into a lane whose run may just have ended by a failed
/// search. Each run must end as it does among other neighbours (the sweep split into two
/// interleaved halves). Before the mend (the lane's stop was not cleared when a parked run
/// took it), 9 of these 400 runs were labelled line_search_failed at the window's first step.
#[test]
fn a_run_does_not_inherit_the_end_of_the_run_before_it_in_its_lane() {
    use gdsweep::backend::cpu::{Cpu, CpuRef};
    use gdsweep::engine::execute;
    use gdsweep::plan::Selection;
    let src = "[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.001\n[sweep.init]\nx = { lin = [-5.0, 5.0], n = 20 }\ny = { lin = [-5.0, 5.0], n = 20 }\n[[optimizer]]\nkind = \"cg\"\nlinesearch = { kind = \"backtracking\", c = 0.3 }\nweight_decay = 0.01\n[run]\nsteps = 800\n";
    let p = plan(src, Precision::F64);
    let (window_start, _) = p.rules.window_of(p.steps);
    for backend in [&Cpu as &dyn Backend, &CpuRef] {
        let all = run_all(&p, backend);
        let in_window = all.steps.iter().filter(|&&s| s >= window_start).count();
        let failed_there = (0..all.status.len()).filter(|&i| all.status[i] == Status::LineSearchFailed && all.steps[i] > window_start).count();
        assert!(in_window > 2 * 64 && failed_there > 0, "{}: the case needs window batches with failed searches ({in_window} runs in the window, {failed_there} failed there)", backend.name());
        for offset in 0..2 {
            let half = execute(&p, backend, &[Selection { offset, stride: 2, count: 200 }]).unwrap().results;
            for (k, i) in (offset as usize..400).step_by(2).enumerate() {
                let (alone, among) = ((half.status[k], half.steps[k], half.evals[k], half.loss[k].to_bits()), (all.status[i], all.steps[i], all.evals[i], all.loss[i].to_bits()));
                assert_eq!(alone, among, "{}: run {i} ends differently with other neighbours", backend.name());
            }
        }
    }
}
