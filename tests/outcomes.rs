//! The finer outcomes of runs that reach `steps` (outcome::classify), on both backends:
//! periods of the double well's period-doubling cascade, the forum matrix's slow and diverging
//! runs against the rates theory gives, saddles and plateaus as `stalled` or `escaping`.

mod common;
use gdsweep::backend::Backend;
use common::{plan, run_all};
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;

/// GD on x⁴ − 5x² + 3x from x = 0.5: the 2-cycle at lr 0.16 of the issue, then the
/// period-doubling cascade (Feigenbaum) up to period 64, then chaos. The lrs sit inside each
/// period's window, found with a 5001-point sweep of [0.15, 0.2].
fn double_well_periods_up_to_64_and_chaos(exec: &dyn Backend, _p: Precision) {
    let cases = [(0.16, 2), (0.185, 4), (0.19, 8), (0.191, 16), (0.1912, 32), (0.19123, 64), (0.195, 0), (0.2, 0)];
    let lrs: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    let src = format!(
        "[objective]\nexpr = \"x^4 - 5*x^2 + 3*x\"\n[sweep]\nlr = [{}]\n[sweep.init]\nx = 0.5\n[run]\nsteps = 20000\nwindow = 1024\nmax_period = 64\n",
        lrs.join(", ")
    );
    let p = plan(&src, Precision::F64);
    let r = run_all(&p, exec);
    for (i, &(lr, period)) in cases.iter().enumerate() {
        let what = format!("{} lr {lr}: {:?} period {}", exec.name(), r.status[i], r.period[i]);
        if period == 0 {
            assert_eq!(r.status[i], Status::Chaotic, "{what}");
        } else {
            assert_eq!((r.status[i], r.period[i]), (Status::Cycling, period), "{what}");
            assert!((r.rate[i] - 1.0).abs() < 1e-9, "{what}: a cycle neither grows nor shrinks");
        }
    }
}
per_backend!(double_well_periods_up_to_64_and_chaos, [f64]);

/// The forum matrix: f(x) = ‖Ax − b‖², Hessian H = 2AᵀA with eigenvalues λ_min, λ_max. Below
/// 2/λ_max GD is `slow`: after 20,000 steps only the slowest mode is left, so the measured
/// rate is 1 − lr·λ_min, and steps_left = ln(grad_tol_abs/‖g‖)/ln(rate). Just above, the fast mode
/// grows by lr·λ_max − 1 per step while the slow one still lowers the loss: `diverging`.
fn forum_matrix_slow_and_diverging_rates_match_theory(exec: &dyn Backend, _p: Precision) {
    let (a, b, d) = (-249.69f64, -4.1511f64, -0.20755f64);
    // H = 2AᵀA for the symmetric A = [[a, b], [b, d]].
    let (h11, h12, h22) = (2.0 * (a * a + b * b), 2.0 * (a * b + b * d), 2.0 * (b * b + d * d));
    let mean = (h11 + h22) / 2.0;
    let radius = (((h11 - h22) / 2.0).powi(2) + h12 * h12).sqrt();
    let (lmin, lmax) = (mean - radius, mean + radius);
    let threshold = 2.0 / lmax;
    assert!((threshold - 1.6030886e-5).abs() < 1e-12);
    let slow_lr = 1e-5;
    let up_lr = threshold * (1.0 + 1e-5);
    let src = format!(
        "[objective]\nleast_squares = {{ a = [[{a}, {b}], [{b}, {d}]], b = [0.0, 10.0] }}\n[sweep]\nlr = [{slow_lr:e}, {up_lr:e}]\n[run]\nsteps = 20000\n"
    );
    let p = plan(&src, Precision::F64);
    let r = run_all(&p, exec);
    let what = format!("{}: {:?} rates {:?} left {:?}", exec.name(), r.status, r.rate, r.steps_left);
    assert_eq!(r.status, vec![Status::Slow, Status::Diverging], "{what}");
    let slow_rate = 1.0 - slow_lr * lmin;
    assert!((r.rate[0] - slow_rate).abs() < 1e-9, "{what}: theory {slow_rate}");
    // The run ends at grad_tol_abs: at the relative tolerance its steps (lr·‖g‖ ≈ 1e-11) would
    // still move x by far more than step_tol·‖x‖∞ ≈ 3e-14 (outcome::steps_left).
    let gtol = p.rules.grad_tol_abs;
    let left = (gtol / r.grad_norm[0]).ln() / slow_rate.ln();
    assert!((r.steps_left[0] / left - 1.0).abs() < 1e-3, "{what}: theory {left}");
    assert!(r.steps_left[0] > 1e6, "the forum matrix at lr 1e-5 needs millions of steps: {what}");
    let grow = up_lr * lmax - 1.0;
    assert!((r.rate[1] - grow).abs() < 1e-7, "{what}: theory {grow}");
}
per_backend!(forum_matrix_slow_and_diverging_rates_match_theory, [f64]);

/// A run that converges onto a saddle (x² − y² from the x axis) or a maximum (started on it)
/// is `stalled`, as is a run on the sigmoid's plateau whose steps (lr·‖g‖ ≈ 9e-8 at x = −10)
/// are below f32's precision of x (ulp(10)/2 ≈ 4.8e-7). In f64 the same run moves, its ‖g‖
/// grows and its loss falls: `escaping`, as at lr 0.1 in both precisions. Off the plateau the
/// run is not stalled.
fn saddles_and_plateaus_are_stalled(exec: &dyn Backend, p: Precision) {
    let saddle = "[objective]\nexpr = \"x^2 - y^2\"\n[sweep]\nlr = 0.1\n[sweep.init]\nx = [1.0, 0.0]\ny = 0.0\n[run]\nsteps = 500\n";
    let plateau = "[objective]\nexpr = \"(sigmoid(x) - 1)^2\"\n[sweep]\nlr = [1e-3, 0.1]\n[sweep.init]\nx = [-10.0, 3.0]\n[run]\nsteps = 2000\n";
    let r = run_all(&plan(saddle, p), exec);
    assert_eq!(r.status, vec![Status::Stalled, Status::Stalled], "{} {} saddle", exec.name(), p.name());
    let r = run_all(&plan(plateau, p), exec);
    let what = format!("{} {} plateau: {:?}", exec.name(), p.name(), r.status);
    let tiny_steps = if p == Precision::F32 { Status::Stalled } else { Status::Escaping };
    assert_eq!(r.status[0], tiny_steps, "{what}");
    assert_eq!(r.status[2], Status::Escaping, "{what}");
    assert!(r.status[1] != Status::Stalled && r.status[3] != Status::Stalled, "{what}: off the plateau");
}
per_backend!(saddles_and_plateaus_are_stalled, [f32, f64]);

/// The local maximum of the double well, where f′(x) = 4x³ − 10x + 3 = 0 between the minima.
fn a_maximum_is_stalled(exec: &dyn Backend, p: Precision) {
    let maximum = "[objective]\nexpr = \"x^4 - 5*x^2 + 3*x\"\n[sweep]\nlr = 0.01\n[sweep.init]\nx = [0.31216818834407395, 1.0]\n[run]\nsteps = 2000\n";
    let r = run_all(&plan(maximum, p), exec);
    assert_eq!(r.status, vec![Status::Stalled, Status::Converged], "{} maximum: {:?}", exec.name(), r.steps);
}
per_backend!(a_maximum_is_stalled, [f64]);
