//! The GPU's f64 functions (generated from problem::elementary, since Vulkan has none) against
//! Rust's correctly rounded f64 functions, and against the CPU backend's, which run the same
//! description: with lr = 0 a run stays at its start, so the loss it reports is f(x) as the
//! GPU computes it.

mod common;
use common::{gpu, plan, run_all};
use gdsweep::plan::Precision;

fn check(expr: &str, lo: f64, hi: f64, f: fn(f64) -> f64) {
    let Some(g) = gpu(true) else { return };
    let src = format!(
        "[objective]\nexpr = \"{expr}\"\n[sweep]\nlr = 0.0\n[sweep.init]\nx = {{ lin = [{lo:e}, {hi:e}], n = 4001 }}\n[run]\nsteps = 1\nblowup = 1e300\ngrad_tol_abs = 0\ngrad_tol_rel = 0\n"
    );
    let plan = plan(&src, Precision::F64);
    let r = run_all(&plan, &g);
    let mut worst = 0.0f64;
    let mut worst_cpu = 0.0f64;
    for i in 0..r.len() {
        let x = r.point(i)[0];
        let (got, want) = (r.loss[i], f(x));
        if !want.is_finite() {
            continue;
        }
        let err = (got - want).abs() / want.abs().max(1e-300);
        let abs_ok = (got - want).abs() <= 1e-15;
        assert!(err < 1e-13 || abs_ok, "{expr} at x = {x:e}: GPU {got:e}, Rust {want:e} (relative error {err:e})");
        worst = worst.max(if abs_ok { 0.0 } else { err });
        // The CPU's value of the same description: equal but for what the GPU's compiler may
        // rewrite (a fused multiply-add; Mesa's NIR also turns softplus's (1 + t) − 1 into t,
        // which costs log1p its accuracy below 1e-15).
        // (`^` is exp(y·log x) on the GPU, Rust's powf on the CPU)
        if !expr.contains('^') {
            let cpu = cpu_value(expr, x);
            let ulps = (got - cpu).abs() / (f64::EPSILON * cpu.abs().max(1e-300));
            let near = (got - cpu).abs() <= 1e-15;
            assert!(ulps <= 8.0 || near, "{expr} at x = {x:e}: GPU {got:e}, CPU {cpu:e} ({ulps} ulp)");
            worst_cpu = worst_cpu.max(if near { 0.0 } else { ulps });
        }
    }
    eprintln!("{expr}: worst relative error {worst:e}; worst distance from the CPU's {worst_cpu} ulp");
}

/// The expression at x as the CPU backend computes it (its `Real::func`, its `powf`).
fn cpu_value(expr: &str, x: f64) -> f64 {
    gdsweep::problem::expr::Objective::from_expr(expr, None).expect("an expression").loss_f64(&[x])
}

#[test]
fn exp() {
    check("exp(x)", -700.0, 700.0, f64::exp);
    check("exp(x)", -2.0, 2.0, f64::exp);
}

#[test]
fn log() {
    check("log(x)", 1e-300, 1e300, f64::ln);
    check("log(x)", 0.25, 4.0, f64::ln);
}

#[test]
fn sin_cos_tan() {
    check("sin(x)", -100.0, 100.0, f64::sin);
    check("cos(x)", -100.0, 100.0, f64::cos);
    check("tan(x)", -1.5, 1.5, f64::tan);
}

#[test]
fn tanh_sigmoid_softplus_pow() {
    check("tanh(x)", -30.0, 30.0, f64::tanh);
    check("tanh(x)", -0.6, 0.6, f64::tanh);
    check("sigmoid(x)", -40.0, 40.0, |x| 1.0 / (1.0 + (-x).exp()));
    check("softplus(x)", -40.0, 40.0, |x| x.max(0.0) + (1.0 + (-x.abs()).exp()).ln());
    check("x^2.5", 1e-3, 1e3, |x| x.powf(2.5));
}
