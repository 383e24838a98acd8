//! Sharpness and the edge of stability (`[analysis.sharpness]`).
//!
//! - **Sharpness** is λ_max, the largest eigenvalue of the loss's Hessian, here the symbolic
//!   Hessian evaluated in f64 and its eigenvalues by cyclic Jacobi rotations (as for basins).
//!   It is NaN (an empty cell) where the point or the Hessian is not finite.
//! - **Edge of stability**: on a quadratic with Hessian H, GD's step map is I − lr·H, which
//!   is stable iff λ_max < 2/lr; heavy-ball momentum's is (2 + 2β)/lr, Nesterov's
//!   (2 + 2β)/((1 + 2β)·lr) (each method's `stability`). A run that converges to a minimum must
//!   end where its sharpness is at most that edge. Cohen, Kaur, Li, Kolter & Talwalkar,
//!   "Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability", ICLR 2021:
//!   full-batch GD sharpens progressively until λ_max reaches 2/lr, then hovers there. The edge
//!   is given only where it decides ([`Plan::edge_of_stability`]): not for adaptive methods,
//!   line searches, schedules, clipping, per-coordinate lr or weight decay.
//! - **Where it appears**: every run's final sharpness and edge are runs.csv's `sharpness` and
//!   `edge_of_stability` columns (computed from the final point as each chunk is written, so a
//!   resumed or merged sweep writes the same bytes); the runs named by `runs` or `sample` are
//!   traced (as `[analysis.trajectories]` traces them) into sharpness.csv and sharpness.png; map
//!   colours `sharpness` and `edge_ratio` (λ_max over the edge: ≤ 1 where GD can stay).

use crate::analysis::trajectory::{self, Trace};
use crate::backend::Backend;
use crate::error::Result;
use crate::outcome::Results;
use crate::plan::analyses::TrajectorySpec;
use crate::plan::Plan;
use crate::problem::expr::Objective;

/// λ_max of the Hessian of `obj` at `x`, in f64; NaN where x or the Hessian is not finite.
pub fn sharpness(obj: &Objective, x: &[f64]) -> f64 {
    if !x.iter().all(|v| v.is_finite()) {
        return f64::NAN;
    }
    let h = obj.hessian_f64(x);
    if !h.iter().flatten().all(|v| v.is_finite()) {
        return f64::NAN;
    }
    crate::problem::linalg::symmetric_eigenvalues(h).last().copied().unwrap_or(f64::NAN)
}

/// One chunk's runs: the sharpness at each final point and each run's edge of stability (NaN
/// where there is none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Finals {
    pub sharpness: Vec<f64>,
    pub edge: Vec<f64>,
}

/// The edge of stability of run `id` (see [`Plan::edge_of_stability`]); NaN where none.
pub fn edge_of(plan: &Plan, id: u64) -> f64 {
    let (bi, local) = plan.locate(id).expect("run ids come from the plan");
    plan.edge_of_stability(&plan.blocks[bi], local).unwrap_or(f64::NAN)
}

/// The final sharpness and edge of every run of `r`.
pub fn finals(plan: &Plan, r: &Results) -> Finals {
    use rayon::prelude::*;
    let sharpness = (0..r.len()).into_par_iter().map(|i| sharpness(plan.objective_of_run(r.run[i]), r.point(i))).collect();
    let edge = r.run.iter().map(|&id| edge_of(plan, id)).collect();
    Finals { sharpness, edge }
}

/// One traced run: its path, the sharpness at each recorded point, its edge (NaN: none).
#[derive(Debug, Clone)]
pub struct SharpnessTrace {
    pub trace: Trace,
    pub sharpness: Vec<f64>,
    pub edge: f64,
}

/// Trace the runs of `spec` on `backend` (see [`trajectory::trace`]) with their sharpness.
pub fn trace(plan: &Plan, backend: &dyn Backend, spec: &TrajectorySpec) -> Result<Vec<SharpnessTrace>> {
    let dim = plan.objective.dim();
    Ok(trajectory::trace(plan, backend, spec)?
        .into_iter()
        .map(|t| {
            let sharpness = t.x.chunks(dim).map(|p| sharpness(plan.objective_of_run(t.run), p)).collect();
            let edge = edge_of(plan, t.run);
            SharpnessTrace { trace: t, sharpness, edge }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharpness_of_the_valley_of_half_one_minus_xy_squared() {
        // ½(1 − xy)²: on xy = 1 the Hessian is [[y², 1], [1, x²]], eigenvalues {0, x² + y²}.
        let obj = crate::problem::expr::Objective::from_expr("0.5*(1 - x*y)^2", None).expect("parses");
        assert!((sharpness(&obj, &[1.0, 1.0]) - 2.0).abs() < 1e-12);
        assert!((sharpness(&obj, &[2.0, 0.5]) - 4.25).abs() < 1e-12);
        // At the origin [[0, −1], [−1, 0]]: eigenvalues ±1.
        assert!((sharpness(&obj, &[0.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(sharpness(&obj, &[f64::INFINITY, 1.0]).is_nan());
    }
}
