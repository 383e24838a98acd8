//! Textbook cases with known answers, each asserting the label that is true, on both backends
//! and (where the case is not about one precision) both precisions: the cases of the trial
//! that found false labels, and the seed cases. README "Outcomes" gives the rules.

mod common;
use common::{plan, run_all};
use gdsweep::analysis::basins;
use gdsweep::backend::Backend;
use gdsweep::outcome::{Results, Status};
use gdsweep::plan::Precision;

/// One run of GD (or `kind`) on `expr` from `init` ("x = 1.0\ny = 1.0") at `lr` for `steps`.
fn one(exec: &dyn Backend, p: Precision, expr: &str, init: &str, lr: f64, steps: u32, kind: &str) -> Results {
    let src = format!(
        "[objective]\nexpr = \"{expr}\"\n[sweep]\nlr = {lr:e}\n[sweep.init]\n{init}\n[[optimizer]]\nkind = \"{kind}\"\n[run]\nsteps = {steps}\n"
    );
    run_all(&plan(&src, p), exec)
}

/// The objective and rules of `objective` (a TOML `[objective]` body) at precision p.
fn parsed(objective: &str, p: Precision) -> gdsweep::plan::Plan {
    plan(&format!("[objective]\n{objective}\n[sweep]\nlr = 0.1\n"), p)
}

fn what(exec: &dyn Backend, p: Precision, case: &str, r: &Results) -> String {
    format!(
        "{case} on {} {}: {:?} after {:?} steps, loss {:?}, ‖g‖ {:?}, x {:?}, rate {:?}, steps_left {:?}",
        exec.name(),
        p.name(),
        r.status,
        r.steps,
        r.loss,
        r.grad_norm,
        r.x,
        r.rate,
        r.steps_left
    )
}

/// Seed 000's case: x² + 10⁶y² from (1, 1) at lr 9e-7. The y mode dies in ~40 steps and takes
/// ‖g‖ below 10⁻⁴‖g₀‖ while x has not moved: not `converged` but `slow`, with the steps left
/// to ‖g‖ = grad_tol_abs that the slowest mode's rate 1 − 2·lr gives (numpy: 6.8 M in f32).
fn ill_conditioned_is_slow_not_converged(exec: &dyn Backend, p: Precision) {
    let r = one(exec, p, "x^2 + 1e6*y^2", "x = 1.0\ny = 1.0", 9e-7, 1000, "gd");
    let w = what(exec, p, "x²+1e6y²", &r);
    assert_eq!(r.status[0], Status::Slow, "{w}");
    assert!(r.x[0] > 0.99, "{w}");
    let gtol = parsed("expr = \"x\"", p).rules.grad_tol_abs;
    let theory = ((gtol / r.grad_norm[0]).ln() / (1.0 - 2.0 * 9e-7f64).ln()).ceil();
    // f32 rounds each step's 30-ulp change of x, which shifts the measured rate by ~0.5 %.
    let tol = if p == Precision::F32 { 1e-2 } else { 1e-3 };
    assert!((r.steps_left[0] / theory - 1.0).abs() < tol, "{w}: theory {theory}");
    assert!(r.steps_left[0] > 6.5e6, "{w}");
}
per_backend!(ill_conditioned_is_slow_not_converged, [f32, f64]);

/// x³ from x = 1: ‖g‖ = 3x² decays as a power law (x_k ≈ 1/(3·lr·k)), so after 1000 steps the
/// run is `slow` with no steps_left (a geometric extrapolation would be 2-300× short). Run on
/// until ‖g‖ ≤ grad_tol_abs, it stops on the flat approach to the degenerate point 0: no
/// critical point to the run's precision, so `stalled`, and never a basin of kind `minimum`.
fn cube_is_never_a_minimum(exec: &dyn Backend, p: Precision) {
    let r = one(exec, p, "x^3", "x = 1.0", 0.01, 1000, "gd");
    let w = what(exec, p, "x³", &r);
    assert_eq!(r.status[0], Status::Slow, "{w}");
    assert!(r.steps_left[0].is_nan(), "{w}: a power law has no trustworthy geometric estimate");
    let steps = if p == Precision::F32 { 30_000 } else { 2_000_000 };
    let r = one(exec, p, "x^3", "x = 1.0", 0.01, steps, "gd");
    let w = what(exec, p, "x³ long", &r);
    assert_ne!(r.status[0], Status::Converged, "{w}");
    let obj = parsed("expr = \"x^3\"", p).objective;
    let map = basins::find(&obj, &r, 1e-2);
    assert!(map.basins.iter().all(|b| b.kind != "minimum"), "{w}: {:?}", map.basins);
    assert_eq!(obj.critical_point(&[0.0018]).0, "not_critical");
}
per_backend!(cube_is_never_a_minimum, [f32, f64]);

/// Runs that descend without bound at a steady slope are `escaping`, not `stalled`: f = x
/// (x reaches −100 after 1000 steps at lr 0.1) and softplus(x) from x = 50.
fn steady_descent_is_escaping(exec: &dyn Backend, p: Precision) {
    let r = one(exec, p, "x", "x = 0.0", 0.1, 1000, "gd");
    let w = what(exec, p, "x", &r);
    assert_eq!(r.status[0], Status::Escaping, "{w}");
    assert!((r.x[0] + 100.0).abs() < 1e-3, "{w}");
    let r = one(exec, p, "softplus(x)", "x = 50.0", 0.01, 1000, "gd");
    assert_eq!(r.status[0], Status::Escaping, "{}", what(exec, p, "softplus from 50", &r));
}
per_backend!(steady_descent_is_escaping, [f32, f64]);

/// x² − y²: from (1, 0.1) at lr 0.001 the run leaves the saddle along y, loss falling, ‖g‖
/// growing 0.2 % per step: `escaping`. From (1, 0) y stays 0 and the run converges onto the
/// saddle itself: `stalled`.
fn saddle_escape_and_saddle_stall(exec: &dyn Backend, p: Precision) {
    let r = one(exec, p, "x^2 - y^2", "x = 1.0\ny = 0.1", 0.001, 3000, "gd");
    let w = what(exec, p, "saddle from (1, 0.1)", &r);
    assert_eq!(r.status[0], Status::Escaping, "{w}");
    assert!(r.loss[0] < -1000.0 && (r.rate[0] - 1.002).abs() < 1e-4, "{w}");
    let r = one(exec, p, "x^2 - y^2", "x = 1.0\ny = 0.0", 0.01, 5000, "gd");
    assert_eq!(r.status[0], Status::Stalled, "{}", what(exec, p, "saddle from (1, 0)", &r));
}
per_backend!(saddle_escape_and_saddle_stall, [f32, f64]);

/// softplus(x) = log(1 + eˣ), sigmoid cross-entropy with target 0, has no minimum. From −5
/// after 100 steps the run is `slow` with no steps_left (true: ~10⁶, a power law); run on, it
/// never becomes a `minimum` (the trial's f32 run reported one at −11.5). softplus(−20) is
/// 2.06e-9 in f32, not 0, whether written softplus(x) or log(1 + exp(x)).
fn softplus_has_no_minimum(exec: &dyn Backend, p: Precision) {
    let r = one(exec, p, "softplus(x)", "x = -5.0", 1.0, 100, "gd");
    let w = what(exec, p, "softplus from -5", &r);
    assert_eq!(r.status[0], Status::Slow, "{w}");
    assert!(r.steps_left[0].is_nan(), "{w}");
    let steps = if p == Precision::F32 { 200_000 } else { 1_500_000 };
    let r = one(exec, p, "softplus(x)", "x = -5.0", 1.0, steps, "gd");
    let w = what(exec, p, "softplus long", &r);
    assert_ne!(r.status[0], Status::Converged, "{w}");
    let obj = parsed("expr = \"softplus(x)\"", p).objective;
    assert!(basins::find(&obj, &r, 1e-2).basins.iter().all(|b| b.kind != "minimum"), "{w}");
    assert_eq!(obj.critical_point(&[-11.5]).0, "not_critical");
    for expr in ["softplus(x)", "log(1 + exp(x))"] {
        let r = one(exec, p, expr, "x = -20.0", 1.0, 10, "gd");
        assert!((r.loss[0] / 2.0611536e-9 - 1.0).abs() < 1e-6, "{}", what(exec, p, expr, &r));
    }
}
per_backend!(softplus_has_no_minimum, [f32, f64]);

/// The forum matrix with Adam: the loss keeps falling (100 → ~95) at every lr, so every run is
/// `slow`, never `stalled` (the trial saw labels flip between the two across neighbouring
/// lrs), and no run claims steps left that Adam's changing step cannot back.
fn forum_adam_is_slow(exec: &dyn Backend, p: Precision) {
    let src = "[objective]\nbuiltin = \"forum_lstsq\"\n[sweep]\nlr = { log = [1e-5, 1e-3], n = 9 }\n[[optimizer]]\nkind = \"adam\"\n[run]\nsteps = 2000\n";
    let r = run_all(&plan(src, p), exec);
    let w = what(exec, p, "forum adam", &r);
    assert!(r.status.iter().all(|&s| s == Status::Slow), "{w}");
    assert!(r.loss.iter().all(|&l| l < 100.0 && l > 80.0), "{w}");
}
per_backend!(forum_adam_is_slow, [f32, f64]);

/// The forum matrix with GD: at lr 1e-5 `slow`, at 1.01× the threshold 2/λ_max unstable.
fn forum_gd_below_and_above_threshold(exec: &dyn Backend, p: Precision) {
    let threshold = 1.6030886e-5;
    let src = format!("[objective]\nbuiltin = \"forum_lstsq\"\n[sweep]\nlr = [1e-5, {:e}]\n[run]\nsteps = 3000\n", 1.01 * threshold);
    let r = run_all(&plan(&src, p), exec);
    let w = what(exec, p, "forum gd", &r);
    assert_eq!(r.status[0], Status::Slow, "{w}");
    assert!(r.status[1].is_unstable(), "{w}");
}
per_backend!(forum_gd_below_and_above_threshold, [f32, f64]);

/// A standardised regression, ‖Ab − y‖² with a column of ones and centred features: the two
/// modes of 2AᵀA (8 and 10) decay almost alike. At lr 1e-9 neither has died after 1000 steps,
/// so the measured rate is not the slowest mode's and no steps_left is claimed (the trial got
/// 6.2 M against 1.04e10); at lr 0.05 the slow mode is alone and the estimate is given.
fn regression_steps_left_only_when_the_slowest_mode_shows(exec: &dyn Backend, _p: Precision) {
    let src = "[objective]\nleast_squares = { a = [[1.0, -1.5], [1.0, -0.5], [1.0, 0.5], [1.0, 1.5]], b = [1.0, 2.0, 2.5, 4.0] }\n[sweep]\nlr = [1e-9, 0.01]\n[run]\nsteps = 1000\nprecision = \"f64\"\n";
    let r = run_all(&plan(src, Precision::F64), exec);
    let w = what(exec, Precision::F64, "regression", &r);
    assert_eq!(r.status[0], Status::Slow, "{w}");
    assert!(r.steps_left[0].is_nan(), "{w}");
    assert_eq!(r.status[1], Status::Converged, "{w}");
}
per_backend!(regression_steps_left_only_when_the_slowest_mode_shows, [f64]);

/// The double well x⁴ − 5x² + 3x: below lr 2/f″(−1.7139) = 0.079 runs from the left end in
/// the global minimum, from the right in the local one; the local maximum at 0.3122 is
/// `stalled` when started on it. Above 0.079 no run is `converged` at the global minimum (the
/// old relative rule labelled chaotic runs passing near it so).
fn double_well_basins(exec: &dyn Backend, p: Precision) {
    let src = "[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = [0.01, 0.11]\n[sweep.init]\nx = [-3.0, 3.0, 0.31216818834407395]\n[run]\nsteps = 5000\n";
    let r = run_all(&plan(src, p), exec);
    let w = what(exec, p, "double well", &r);
    assert_eq!(r.status[..2], [Status::Converged, Status::Converged], "{w}");
    assert!((r.x[0] + 1.7139).abs() < 1e-3 && (r.x[1] - 1.4018).abs() < 1e-3, "{w}");
    assert_eq!(r.status[2], Status::Stalled, "{w}: started on the maximum");
    for i in 3..6 {
        assert!(r.status[i] != Status::Converged || (r.x[i] - 1.4018).abs() < 1e-3, "{w}: run {i}");
    }
    let obj = parsed("builtin = \"double_well\"", p).objective;
    let map = basins::find(&obj, &r, 1e-2);
    assert!(map.basins.iter().all(|b| b.kind == "minimum"), "{:?}", map.basins);
}
per_backend!(double_well_basins, [f32, f64]);

/// The sigmoid unit's plateau, 0.5(σ(x) − 0.8)² from x = −10: at lr 1e-3 the step lr·‖g‖ ≈
/// 3.6e-8 is below f32's precision of x, so the f32 run is `stalled`; f64 resolves it, and the
/// run leaves the plateau slowly (`escaping`). From x = 0 it converges to the minimum at
/// ln 4 = 1.386.
fn sigmoid_plateau(exec: &dyn Backend, p: Precision) {
    let src = "[objective]\nbuiltin = \"sigmoid_mse\"\n[sweep]\nlr = 1e-3\n[sweep.init]\nx = [-10.0, 0.0]\n[run]\nsteps = 5000\n";
    let r = run_all(&plan(src, p), exec);
    let w = what(exec, p, "sigmoid plateau", &r);
    let expected = if p == Precision::F32 { Status::Stalled } else { Status::Escaping };
    assert_eq!(r.status[0], expected, "{w}");
    assert_ne!(r.status[1], Status::Stalled, "{w}");
}
per_backend!(sigmoid_plateau, [f32, f64]);

/// Seed 000's other two functions: the near-isotropic bowl converges to (0, 0) at lr 0.1; the
/// shifted parabola (x − 2)² + 1 converges to 2 (loss 1) below its threshold lr = 1 and
/// diverges above it.
fn seed_bowls(exec: &dyn Backend, p: Precision) {
    let r = run_all(&plan("[objective]\nbuiltin = \"near_isotropic\"\n[sweep]\nlr = 0.1\n[sweep.init]\nx = 1.0\ny = -2.0\n", p), exec);
    let w = what(exec, p, "near isotropic", &r);
    assert_eq!(r.status[0], Status::Converged, "{w}");
    assert!(r.x.iter().all(|v| v.abs() < 1e-4), "{w}");
    let r = run_all(&plan("[objective]\nbuiltin = \"shifted_parabola\"\n[sweep]\nlr = [0.1, 0.99, 1.01]\n[sweep.init]\nx = 5.0\n[run]\nsteps = 5000\n", p), exec);
    let w = what(exec, p, "shifted parabola", &r);
    assert_eq!(r.status[..2], [Status::Converged, Status::Converged], "{w}");
    assert!((r.x[0] - 2.0).abs() < 1e-4 && (r.loss[0] - 1.0).abs() < 1e-6, "{w}");
    assert!(r.status[2].is_unstable(), "{w}");
}
per_backend!(seed_bowls, [f32, f64]);

/// Momentum on the forum matrix below its threshold: the measured rate is the slowest mode's
/// root modulus of z² − (1 + β − lr·λ)z + β (heavy ball), so its steps_left is given.
fn forum_momentum_rate_is_the_slowest_root(exec: &dyn Backend, _p: Precision) {
    let p = plan("[objective]\nbuiltin = \"forum_lstsq\"\n[sweep]\nlr = 1e-5\n[[optimizer]]\nkind = \"momentum\"\nbeta = 0.9\n[run]\nsteps = 20000\nprecision = \"f64\"\n", Precision::F64);
    let r = run_all(&p, exec);
    let w = what(exec, Precision::F64, "forum momentum", &r);
    assert_eq!(r.status[0], Status::Slow, "{w}");
    let h = p.objective.constant_hessian().unwrap();
    let (mean, radius) = ((h[0][0] + h[1][1]) / 2.0, (((h[0][0] - h[1][1]) / 2.0).powi(2) + h[0][1] * h[0][1]).sqrt());
    let lmin = mean - radius;
    let t = 1.0 + 0.9 - 1e-5 * lmin;
    let slowest = (t + (t * t - 4.0 * 0.9).sqrt()) / 2.0;
    assert!((r.rate[0] - slowest).abs() < 1e-7, "{w}: theory {slowest}");
    assert!(r.steps_left[0].is_finite() && r.steps_left[0] > 1e6, "{w}");
}
per_backend!(forum_momentum_rate_is_the_slowest_root, [f64]);

/// The catalogue's minima are minima to the critical-point test that labels basins, and the
/// entries with no minimum (softplus) have none: no point along its descent is one.
#[test]
fn catalogue_minima_and_no_minimum_entries() {
    for e in gdsweep::problem::catalogue::CATALOGUE {
        let obj = e.objective();
        for (x, _) in e.minima {
            assert_eq!(obj.critical_point(x).0, "minimum", "{} at {x:?}", e.name);
        }
        if e.about.contains("no minimum") {
            for x in [-30.0, -11.5, -5.0, 0.0, 5.0] {
                assert_ne!(obj.critical_point(&[x]).0, "minimum", "{} at {x}", e.name);
            }
        }
    }
}
