//! The symbolic gradient and Hessian against central finite differences (proptest), for every
//! catalogue objective and for random expressions.

use gdsweep::problem::catalogue::CATALOGUE;
use gdsweep::problem::expr::Objective;
use proptest::prelude::*;

/// Central differences of `f` at `x` along every coordinate, step scaled to |x|.
fn fd_grad(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let h = 1e-6 * x[i].abs().max(1.0);
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[i] += h;
            b[i] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}

/// |a − b| small against the scale of the values involved (FD error is ~h² and ~ε/h).
fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-5 * scale.max(1.0)
}

fn check_objective(o: &Objective, x: &[f64]) -> Result<(), TestCaseError> {
    let f0 = o.loss_f64(x);
    prop_assume!(f0.is_finite() && f0.abs() < 1e8);
    let g = o.grad_f64(x);
    prop_assume!(g.iter().all(|v| v.is_finite()));
    let fd = fd_grad(&|p: &[f64]| o.loss_f64(p), x);
    let scale = g.iter().chain(&fd).fold(f0.abs(), |m, v| m.max(v.abs()));
    for i in 0..x.len() {
        prop_assert!(close(g[i], fd[i], scale), "{}: d/d{} at {x:?}: symbolic {} vs FD {}", o.formula, o.vars[i], g[i], fd[i]);
    }
    let h = o.hessian_f64(x);
    for i in 0..x.len() {
        let fdh = fd_grad(&|p: &[f64]| o.grad_f64(p)[i], x);
        let hs = h[i].iter().chain(&fdh).fold(scale, |m, v| m.max(v.abs()));
        for j in 0..x.len() {
            prop_assert!(close(h[i][j], fdh[j], hs), "{}: H[{i}][{j}] at {x:?}: {} vs FD {}", o.formula, h[i][j], fdh[j]);
            prop_assert_eq!(h[i][j], h[j][i]);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn catalogue_derivatives(x in -3.0f64..3.0, y in -3.0f64..3.0) {
        for e in CATALOGUE {
            let o = e.objective();
            let p: Vec<f64> = [x, y][..o.dim()].to_vec();
            // Ackley's sqrt is not differentiable at the origin.
            prop_assume!(e.name != "ackley" || x * x + y * y > 1e-6);
            check_objective(&o, &p)?;
        }
    }

    #[test]
    fn random_expression_derivatives(src in expression(4), x in -2.0f64..2.0, y in -2.0f64..2.0) {
        let vars = vec!["x".to_string(), "y".to_string()];
        let o = Objective::from_expr(&src, Some(&vars)).unwrap();
        check_objective(&o, &[x, y])?;
    }
}

/// Random expressions over x and y with every operator and function of the language.
fn expression(depth: u32) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        (-3.0f64..3.0).prop_map(|c| format!("{c:.3}")),
        Just("pi".to_string()),
    ];
    leaf.prop_recursive(depth, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} + {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} - {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} * {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} / (1.5 + sin({b})))")),
            (inner.clone(), 0u32..5).prop_map(|(a, n)| format!("({a})^{n}")),
            inner.clone().prop_map(|a| format!("sqrt(1 + ({a})^2)")),
            inner.clone().prop_map(|a| format!("(1.2 + cos({a}))^1.5")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("exp(0.3*{a})")),
            inner.clone().prop_map(|a| format!("log(2 + tanh({a}))")),
            inner.clone().prop_map(|a| format!("sigmoid({a})")),
            inner.clone().prop_map(|a| format!("softplus({a})")),
            inner.clone().prop_map(|a| format!("tan(0.3*sin({a}))")),
            inner.clone().prop_map(|a| format!("abs({a})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("(2 + sin({a}))^(cos({b}))")),
        ]
    })
}
