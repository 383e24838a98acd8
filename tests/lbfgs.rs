//! L-BFGS (method::lbfgs) with its zoom line search (method::zoom) against optax.lbfgs, iterate
//! by iterate in f64 on both backends: the iterates below are optax's own (made by
//! tests/scripts/optax_lbfgs.py), the points within rounding of them and the evaluations
//! exactly 1 + the line-search steps optax took. Also f32, where the same runs converge.

mod common;
use common::{plan, run_all};
use gdsweep::backend::Backend;
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;

// optax 0.2.8, jax 0.10.2: (x_k, line-search steps of step k)
#[rustfmt::skip]
const SUM_OF_SQUARES: [([f64; 3], u32); 3] = [
    ([1.0, 2.0, 3.0], 0),
    ([0.7327387580875756, 1.4654775161751512, 2.1982162742627267], 1),
    ([-1.1102230246251565e-16, -2.220446049250313e-16, -4.440892098500626e-16], 1),
];
#[rustfmt::skip]
const ROSENBROCK: [([f64; 2], u32); 21] = [
    ([-1.2, 1.0], 0),
    ([-0.9163185120186556, 1.1157883624413651], 2),
    ([-1.0043138926137758, 1.070548139723944], 1),
    ([-1.028282019090441, 1.0574458580359065], 1),
    ([-1.0244445503736697, 1.0575043118777872], 1),
    ([-1.022630842908724, 1.0555663807500764], 1),
    ([-1.004554822851056, 1.0296022401414862], 1),
    ([-0.9623326056402602, 0.9595422047998554], 1),
    ([-0.6035425376972579, 0.3400240690430101], 1),
    ([-0.5914901228862504, 0.31975445221253335], 3),
    ([-0.5680947857732144, 0.29120040148463194], 2),
    ([-0.3706638948785595, 0.08066398382176412], 1),
    ([-0.3623094314308794, 0.11633852548251827], 1),
    ([-0.21687042794791292, 0.024989454242495934], 1),
    ([-0.1093684719015404, -0.023991759177188668], 2),
    ([0.004329719850703004, -0.02124821302525723], 1),
    ([0.10338366183714638, -0.0035709228175272584], 1),
    ([0.2582271470735337, 0.0344954297281773], 1),
    ([0.5181801367604002, 0.26639896281241543], 1),
    ([0.5385766053702055, 0.27934070866426297], 3),
    ([0.5939226298175522, 0.3411354630975431], 1),
];
#[rustfmt::skip]
const FORUM: [([f64; 2], u32); 4] = [
    ([0.0, 0.0], 0),
    ([-0.0006661976694940122, -3.330908103959968e-05], 10),
    ([0.19312825405777762, -11.650358857769247], 20),
    ([1.2000337091784512, -72.18241353972861], 1),
];

fn config(objective: &str, init: &[(&str, f64)], steps: u32) -> String {
    let init: String = init.iter().map(|(v, x)| format!("{v} = {x:?}\n")).collect();
    // One step per dispatch, so that the GPU's trace records every iterate; no window.
    format!("[objective]\n{objective}\n[sweep]\nlr = 1.0\n[sweep.init]\n{init}[[optimizer]]\nkind = \"lbfgs\"\n[run]\nsteps = {steps}\nwindow = 0\nsteps_per_dispatch = 1\n")
}

/// Every iterate of the run's path against optax's, within `tol`·max(1, |x|) (XLA sums the
/// dot products in its own order: the last bits differ from step 1 on, and Rosenbrock's
/// curvature grows them to 2e-9 by step 20), and the evaluations.
fn against_optax<const D: usize>(b: &dyn Backend, objective: &str, reference: &[([f64; D], u32)], tol: f64) {
    let vars = ["x", "y", "z"];
    let init: Vec<(&str, f64)> = reference[0].0.iter().enumerate().map(|(j, &v)| (vars[j], v)).collect();
    let steps = reference.len() as u32 - 1;
    let plan = plan(&config(objective, &init, steps), Precision::F64);
    let path = b.trace_first_run(&plan, 0).unwrap_or_else(|e| panic!("{e}"));
    let (at, x) = (&path.steps, &path.x);
    let r = run_all(&plan, b);
    let what = format!("{} {objective}", b.name());
    let last = r.steps[0] as usize;
    for (k, (xk, _)) in reference.iter().enumerate().take(last + 1) {
        let i = at.iter().position(|&s| s as usize == k).unwrap_or_else(|| panic!("{what}: step {k} not on the path {at:?}"));
        for j in 0..D {
            let ours = x[i * D + j];
            assert!((ours - xk[j]).abs() <= tol * xk[j].abs().max(1.0), "{what}: step {k}, x_{j} = {ours:e}, optax {:e}", xk[j]);
        }
        // Evaluations along the path: the start, then optax's line-search steps of each iteration.
        let evals_k = 1 + reference[1..=k].iter().map(|r| r.1).sum::<u32>();
        assert_eq!(path.evals[i], evals_k, "{what}: evaluations after step {k}");
    }
    let evals = 1 + reference[1..=last].iter().map(|r| r.1).sum::<u32>();
    assert_eq!(r.evals[0], evals, "{what}: evaluations after {last} steps");
}

fn sum_of_squares_as_optax(b: &dyn Backend, _p: Precision) {
    against_optax(b, "expr = \"x^2 + y^2 + z^2\"", &SUM_OF_SQUARES, 1e-15);
    // The loss: 14 → 7.5166852 → ~1e-31, converged at step 2 (‖g‖ ≈ 1e-15).
    let r = run_all(&plan(&config("expr = \"x^2 + y^2 + z^2\"", &[("x", 1.0), ("y", 2.0), ("z", 3.0)], 50), Precision::F64), b);
    assert_eq!((r.status[0], r.steps[0], r.evals[0]), (Status::Converged, 2, 3));
    assert!(r.loss[0] < 1e-30, "{:?}", r.loss);
}
per_backend!(sum_of_squares_as_optax, [f64]);

fn rosenbrock_as_optax(b: &dyn Backend, _p: Precision) {
    against_optax(b, "expr = \"(1 - x)^2 + 100*(y - x^2)^2\"", &ROSENBROCK, 1e-8);
}
per_backend!(rosenbrock_as_optax, [f64]);

/// The forum matrix: 10 and then 20 line-search steps (the second search fails and takes
/// optax's fallback), then the solution (1.2000337, −72.182414) at step 3 with loss ~1e-27.
fn forum_matrix_as_optax(b: &dyn Backend, _p: Precision) {
    let forum = "least_squares = { a = [[-249.69, -4.1511], [-4.1511, -0.20755]], b = [0.0, 10.0] }";
    against_optax(b, forum, &FORUM, 1e-10);
    let r = run_all(&plan(&config(forum, &[("x", 0.0), ("y", 0.0)], 100), Precision::F64), b);
    assert_eq!((r.status[0], r.steps[0], r.evals[0]), (Status::Converged, 3, 32), "{}: {:?}", b.name(), r.loss);
    assert!(r.loss[0] < 1e-25, "{:?}", r.loss);
}
per_backend!(forum_matrix_as_optax, [f64]);

/// In f32 the same three runs converge to the same points (to f32's precision).
fn converges_in_f32(b: &dyn Backend, _p: Precision) {
    for (objective, init, x_star) in [
        ("expr = \"x^2 + y^2 + z^2\"", vec![("x", 1.0), ("y", 2.0), ("z", 3.0)], vec![0.0, 0.0, 0.0]),
        ("expr = \"(1 - x)^2 + 100*(y - x^2)^2\"", vec![("x", -1.2), ("y", 1.0)], vec![1.0, 1.0]),
    ] {
        let r = run_all(&plan(&config(objective, &init, 200), Precision::F32), b);
        assert_eq!(r.status[0], Status::Converged, "{} {objective}: {:?} at {:?}", b.name(), r.status, r.x);
        for (j, &v) in x_star.iter().enumerate() {
            assert!((r.x[j] - v).abs() < 1e-3, "{} {objective}: {:?}", b.name(), r.x);
        }
    }
}
per_backend!(converges_in_f32, [f32]);
