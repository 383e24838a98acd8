//! Models trained on a data table: the objective (1/m)·Σᵢ ℓ(model(xᵢ; θ), yᵢ) + l2·‖w‖² as an
//! expression graph whose per-row part reads the row's columns (see `problem::expr::graph`,
//! "Sums over a data table"). The parameters θ are the variables, with readable names: `w_<feature>`
//! for each feature's weight, then `b` for the bias.
//!
//! Models, for a row x with features x_1 … x_d and z = w_1·x_1 + … + w_d·x_d + b (summed left to
//! right, the bias last):
//! - `linear`: the prediction is z;
//! - `logistic`: the prediction is σ(z), the probability of the class 1.
//!
//! Losses, with r = prediction − y:
//! - `mse`: r²;
//! - `mae`: |r|;
//! - `huber` (δ = `huber_delta`, 1 by default, as PyTorch's `HuberLoss`): ½r² where |r| ≤ δ and
//!   δ(|r| − ½δ) beyond, written ½r² − ½·max(|r| − δ, 0)² so that one formula holds everywhere;
//! - `bce` (logistic only): −y·log σ(z) − (1 − y)·log(1 − σ(z)), computed as softplus(z) − y·z,
//!   which stays finite where σ(z) rounds to 0 or 1.
//!
//! The L2 penalty l2·Σⱼ wⱼ² is on the weights, not the bias (as scikit-learn's `Ridge`).

use crate::problem::data::Table;
use crate::problem::expr::{Func, Graph, NodeId, Objective, Rows};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Linear,
    Logistic,
}

impl ModelKind {
    pub const NAMES: [&'static str; 2] = ["linear", "logistic"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "linear" => Some(Self::Linear),
            "logistic" => Some(Self::Logistic),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    Mse,
    Mae,
    Huber { delta: f64 },
    Bce,
}

impl LossKind {
    pub const NAMES: [&'static str; 4] = ["mse", "mae", "huber", "bce"];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Mse => "mse",
            Self::Mae => "mae",
            Self::Huber { .. } => "huber",
            Self::Bce => "bce",
        }
    }
}

/// What is trained: the model, the loss, the L2 penalty and whether the model has a bias.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ModelSpec {
    pub model: ModelKind,
    pub loss: LossKind,
    pub l2: f64,
    pub bias: bool,
}

/// A parameter name for a feature: `w_<feature>`, with every character that cannot be in a
/// name replaced by `_`.
pub fn weight_name(feature: &str) -> String {
    let clean: String = feature.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("w_{clean}")
}

/// The parameters' names: one weight per feature, then the bias (where there is one).
pub fn parameter_names(table: &Table, bias: bool) -> Vec<String> {
    let mut names: Vec<String> = table.features.iter().map(|f| weight_name(f)).collect();
    if bias {
        names.push("b".to_string());
    }
    names
}

/// The training objective of `spec` on `table`. The table is stored row by row as the kernels
/// read it: the features, then the target (column d).
pub fn objective(table: &Table, spec: &ModelSpec) -> Objective {
    let d = table.dim();
    let vars = parameter_names(table, spec.bias);
    let mut g = Graph::new();
    // z = w_1·x_1 + … + w_d·x_d (+ b)
    let mut z: Option<NodeId> = None;
    for j in 0..d {
        let (w, x) = (g.var(j as u32), g.data(j as u32));
        let t = g.mul(w, x);
        z = Some(match z {
            Some(z) => g.add(z, t),
            None => t,
        });
    }
    let mut z = z.expect("a table has at least one feature");
    if spec.bias {
        let b = g.var(d as u32);
        z = g.add(z, b);
    }
    let y = g.data(d as u32);
    let pred = match spec.model {
        ModelKind::Linear => z,
        ModelKind::Logistic => g.func(Func::Sigmoid, z),
    };
    let per_row = match spec.loss {
        LossKind::Bce => {
            let sp = g.func(Func::Softplus, z);
            let yz = g.mul(y, z);
            g.sub(sp, yz)
        }
        loss => {
            let r = g.sub(pred, y);
            match loss {
                LossKind::Mse => g.mul(r, r),
                LossKind::Mae => g.func(Func::Abs, r),
                LossKind::Huber { delta } => {
                    // ½r² − ½m², m = max(|r| − δ, 0) = ((|r| − δ) + ||r| − δ|)/2
                    let a = g.func(Func::Abs, r);
                    let dc = g.constant(delta);
                    let over = g.sub(a, dc);
                    let over_abs = g.func(Func::Abs, over);
                    let twice_m = g.add(over, over_abs);
                    let half = g.constant(0.5);
                    let m = g.mul(half, twice_m);
                    let (r2, m2) = (g.mul(r, r), g.mul(m, m));
                    let diff = g.sub(r2, m2);
                    g.mul(half, diff)
                }
                LossKind::Bce => unreachable!("handled above"),
            }
        }
    };
    let mut loss = g.row_mean(per_row);
    if spec.l2 != 0.0 {
        let mut penalty: Option<NodeId> = None;
        for j in 0..d {
            let w = g.var(j as u32);
            let w2 = g.mul(w, w);
            penalty = Some(match penalty {
                Some(p) => g.add(p, w2),
                None => w2,
            });
        }
        let l2 = g.constant(spec.l2);
        let p = g.mul(l2, penalty.expect("at least one weight"));
        loss = g.add(loss, p);
    }
    let prediction = match spec.model {
        ModelKind::Linear => "x·w + b",
        ModelKind::Logistic => "sigmoid(x·w + b)",
    };
    let formula = format!(
        "{} model, {} loss over {} rows ({prediction}; features {}{})",
        match spec.model {
            ModelKind::Linear => "linear",
            ModelKind::Logistic => "logistic",
        },
        spec.loss.name(),
        table.rows(),
        table.features.join(", "),
        if spec.l2 != 0.0 { format!("; + {}·‖w‖²", spec.l2) } else { String::new() },
    );
    let mut obj = Objective::with_derivatives(g, loss, vars, formula);
    let mut values = Vec::with_capacity(table.rows() * (d + 1));
    for i in 0..table.rows() {
        values.extend_from_slice(table.row(i));
        values.push(table.y[i]);
    }
    obj.rows = Some(Arc::new(Rows { values, cols: d + 1 }));
    obj.model = Some(*spec);
    obj
}

/// Whether the parameters x prove that `obj` has no minimum: a logistic model without an L2
/// penalty on targets that are all 0 or 1, and x classifies every row strictly right
/// (z > 0 where y = 1, z < 0 where y = 0). Then x scaled by any t > 1 lowers every row's loss,
/// so the infimum is approached as ‖x‖ → ∞ and never reached (the data are linearly separable,
/// x is the witness; Soudry et al., "The implicit bias of gradient descent on separable data",
/// JMLR 2018, for where GD goes instead). Without a bias the scaling argument is the same.
pub fn separates(obj: &Objective, x: &[f64]) -> bool {
    let (Some(spec), Some(rows)) = (&obj.model, &obj.rows) else { return false };
    if spec.model != ModelKind::Logistic || spec.l2 != 0.0 || !x.iter().all(|v| v.is_finite()) {
        return false;
    }
    let d = rows.cols - 1;
    (0..rows.count()).all(|i| {
        let row = rows.row(i);
        let z = (0..d).map(|j| x[j] * row[j]).sum::<f64>() + if spec.bias { x[d] } else { 0.0 };
        (row[d] == 1.0 && z > 0.0) || (row[d] == 0.0 && z < 0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forum_table() -> Table {
        // The forum's regression: a bias column and one feature (here the bias is the model's).
        Table::inline(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]], &[2.0, 3.8, 5.9, 7.8], Some(&["x".to_string()])).unwrap()
    }

    #[test]
    fn linear_mse_is_the_mean_squared_residual_with_the_known_hessian() {
        let t = forum_table();
        let spec = ModelSpec { model: ModelKind::Linear, loss: LossKind::Mse, l2: 0.0, bias: true };
        let o = objective(&t, &spec);
        assert_eq!(o.vars, ["w_x", "b"]);
        let (w, b) = (1.5, 0.2);
        let want: f64 = (0..4).map(|i| (w * t.row(i)[0] + b - t.y[i]).powi(2)).sum::<f64>() / 4.0;
        assert!((o.loss_f64(&[w, b]) - want).abs() < 1e-12);
        let gw: f64 = (0..4).map(|i| 2.0 * (w * t.row(i)[0] + b - t.y[i]) * t.row(i)[0]).sum::<f64>() / 4.0;
        assert!((o.grad_f64(&[w, b])[0] - gw).abs() < 1e-12);
        let h = o.constant_hessian().expect("a linear model's squared error has a constant Hessian");
        let want_h = t.mse_hessian(true);
        for i in 0..2 {
            for j in 0..2 {
                assert!((h[i][j] - want_h[i][j]).abs() < 1e-12, "{h:?} vs {want_h:?}");
            }
        }
    }

    #[test]
    fn losses_match_their_definitions() {
        let t = forum_table();
        let at = [0.5, -0.3];
        let r: Vec<f64> = (0..4).map(|i| at[0] * t.row(i)[0] + at[1] - t.y[i]).collect();
        let mean = |f: &dyn Fn(f64) -> f64| r.iter().map(|&v| f(v)).sum::<f64>() / 4.0;
        let spec = |loss| ModelSpec { model: ModelKind::Linear, loss, l2: 0.0, bias: true };
        let mae = objective(&t, &spec(LossKind::Mae));
        assert!((mae.loss_f64(&at) - mean(&|v| v.abs())).abs() < 1e-12);
        let huber = objective(&t, &spec(LossKind::Huber { delta: 2.0 }));
        let h = |v: f64| if v.abs() <= 2.0 { 0.5 * v * v } else { 2.0 * (v.abs() - 1.0) };
        assert!((huber.loss_f64(&at) - mean(&h)).abs() < 1e-12);
        // Huber's gradient is the clipped residual: δ·sign(r) beyond δ.
        let dh = |v: f64, x: f64| if v.abs() <= 2.0 { v * x } else { 2.0 * v.signum() * x };
        let gw = (0..4).map(|i| dh(r[i], t.row(i)[0])).sum::<f64>() / 4.0;
        assert!((huber.grad_f64(&at)[0] - gw).abs() < 1e-12);
        // Logistic with cross-entropy, against its textbook form, and its gradient mean((σ(z) − y)x).
        let labels = Table::inline(&[vec![-1.0], vec![0.5], vec![2.0]], &[0.0, 1.0, 1.0], None).unwrap();
        let bce = objective(&labels, &ModelSpec { model: ModelKind::Logistic, loss: LossKind::Bce, l2: 0.1, bias: true });
        assert_eq!(bce.vars, ["w_x_1", "b"]);
        let s = |z: f64| 1.0 / (1.0 + (-z).exp());
        let z: Vec<f64> = (0..3).map(|i| at[0] * labels.row(i)[0] + at[1]).collect();
        let want = (0..3).map(|i| -(labels.y[i] * s(z[i]).ln() + (1.0 - labels.y[i]) * (1.0 - s(z[i])).ln())).sum::<f64>() / 3.0 + 0.1 * at[0] * at[0];
        assert!((bce.loss_f64(&at) - want).abs() < 1e-12);
        let gb = (0..3).map(|i| s(z[i]) - labels.y[i]).sum::<f64>() / 3.0;
        assert!((bce.grad_f64(&at)[1] - gb).abs() < 1e-12, "the bias has no penalty");
        assert!(bce.constant_hessian().is_none());
    }
}
