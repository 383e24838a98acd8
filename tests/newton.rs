//! Newton's method (method::newton) on cases with known answers, on both backends and
//! precisions: one step on a quadratic, pure Newton's saddles and maximum, the regularised
//! step away from them, and the singular system.

mod common;
use common::{plan, run_all};
use gdsweep::backend::Backend;
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;

fn newton(objective: &str, init: &str, extra: &str, steps: u32) -> String {
    format!("[objective]\n{objective}\n[sweep]\nlr = 1.0\n[sweep.init]\n{init}\n[[optimizer]]\nkind = \"newton\"\n{extra}\n[run]\nsteps = {steps}\n")
}

/// ½xᵀHx + gᵀx with H = [[3, 1], [1, 2]], g = (1, −1): x* = −H⁻¹g = (−0.6, 0.8), reached in one
/// step from anywhere (the first trial of the line search is accepted), then converged.
fn one_step_on_a_quadratic(b: &dyn Backend, p: Precision) {
    let src = newton("quadratic = { h = [[3, 1], [1, 2]], g = [1, -1] }", "x = [-3.0, 0.0, 7.0]\ny = [-2.0, 5.0]", "", 50);
    let r = run_all(&plan(&src, p), b);
    let tol = if p == Precision::F64 { 1e-12 } else { 1e-5 };
    for i in 0..r.len() {
        let w = format!("{} run {i}: {:?} after {} steps at {:?}", b.name(), r.status[i], r.steps[i], r.point(i));
        assert_eq!((r.status[i], r.steps[i], r.evals[i]), (Status::Converged, 1, 2), "{w}");
        assert!((r.point(i)[0] + 0.6).abs() < tol && (r.point(i)[1] - 0.8).abs() < tol, "{w}");
    }
}
per_backend!(one_step_on_a_quadratic, [f32, f64]);

/// The forum matrix (condition number 5e7): one Newton step lands on the least-squares
/// solution (1.2000337, −72.182414), the point optax's L-BFGS reaches in three.
fn one_step_on_the_forum_matrix(b: &dyn Backend, _p: Precision) {
    let src = newton("least_squares = { a = [[-249.69, -4.1511], [-4.1511, -0.20755]], b = [0.0, 10.0] }", "x = 0.0\ny = 0.0", "", 1);
    let r = run_all(&plan(&src, Precision::F64), b);
    let x = r.point(0);
    assert_eq!(r.steps[0], 1);
    assert!((x[0] - 1.200_033_709_178_5).abs() < 1e-9 && (x[1] + 72.182_413_539_73).abs() < 1e-7, "{}: {x:?}", b.name());
}
per_backend!(one_step_on_the_forum_matrix, [f64]);

/// f = x² − y², a saddle at 0. Pure Newton (no regularisation, no line search) jumps onto it in
/// one step: the gradient vanishes there, and the final point is no minimum: `stalled`. The
/// regularised step (H + τI with τ = β + 2, positive definite) with the line search lowers f
/// instead, and the run leaves along −y² (`escaping` or `diverged`, never converged).
fn pure_newton_finds_the_saddle(b: &dyn Backend, p: Precision) {
    let pure = run_all(&plan(&newton("expr = \"x^2 - y^2\"", "x = 0.5\ny = 0.25", "regularize = 0\nlinesearch = \"none\"", 20), p), b);
    let w = format!("{}: {:?} after {:?} steps at {:?}", b.name(), pure.status, pure.steps, pure.x);
    assert_eq!((pure.status[0], pure.steps[0]), (Status::Stalled, 1), "{w}");
    assert_eq!(pure.x, vec![0.0, 0.0], "{w}");
    let damped = run_all(&plan(&newton("expr = \"x^2 - y^2\"", "x = 0.5\ny = 0.25", "", 20), p), b);
    assert!(!matches!(damped.status[0], Status::Converged | Status::Stalled), "{}: {:?} at {:?}", b.name(), damped.status, damped.x);
    assert!(damped.x[1].abs() > 1.0, "{}: y moved away from the saddle: {:?}", b.name(), damped.x);
}
per_backend!(pure_newton_finds_the_saddle, [f32, f64]);

/// Himmelblau's maximum at (−0.270845, −0.923039): pure Newton from near it converges to it
/// (`stalled`: a maximum is no minimum); damped Newton from the same start reaches a minimum.
fn pure_newton_climbs_himmelblau_to_its_maximum(b: &dyn Backend, p: Precision) {
    let start = "x = -0.5\ny = -0.6";
    let pure = run_all(&plan(&newton("builtin = \"himmelblau\"", start, "regularize = 0\nlinesearch = \"none\"", 100), p), b);
    let x = pure.point(0);
    // (the maximum to the 7 digits given; f32 stops at ‖g‖ ≈ 1e-4·‖g₀‖)
    let tol = if p == Precision::F64 { 1e-6 } else { 1e-4 };
    assert_eq!(pure.status[0], Status::Stalled, "{}: {:?} at {x:?}", b.name(), pure.status);
    assert!((x[0] + 0.270_844_6).abs() < tol && (x[1] + 0.923_038_5).abs() < tol, "{}: {x:?}", b.name());
    let damped = run_all(&plan(&newton("builtin = \"himmelblau\"", start, "", 100), p), b);
    assert_eq!(damped.status[0], Status::Converged, "{}: {:?} at {:?}", b.name(), damped.status, damped.x);
    assert!(damped.loss[0] < 1e-6, "{}: a minimum of Himmelblau has f = 0: {:?}", b.name(), damped.loss);
}
per_backend!(pure_newton_climbs_himmelblau_to_its_maximum, [f32, f64]);

/// f = x⁴ + y from (0, 0): H = [[12x², 0], [0, 0]] = 0. Pure Newton's system has a zero pivot:
/// `hessian_singular` before any step, at the start. Regularised, τ = β = 10⁻³ makes it
/// positive definite and the run steps (down y).
fn a_singular_hessian_ends_pure_newton(b: &dyn Backend, p: Precision) {
    let pure = run_all(&plan(&newton("expr = \"x^4 + y\"", "x = 0.0\ny = 0.0", "regularize = 0", 20), p), b);
    assert_eq!((pure.status[0], pure.steps[0], pure.evals[0]), (Status::HessianSingular, 0, 1), "{}: {:?}", b.name(), pure.x);
    assert_eq!(pure.x, vec![0.0, 0.0]);
    let damped = run_all(&plan(&newton("expr = \"x^4 + y\"", "x = 0.0\ny = 0.0", "", 5), p), b);
    assert!(damped.steps[0] > 0 && damped.x[1] < 0.0, "{}: {:?} after {:?} steps at {:?}", b.name(), damped.status, damped.steps, damped.x);
}
per_backend!(a_singular_hessian_ends_pure_newton, [f32, f64]);
