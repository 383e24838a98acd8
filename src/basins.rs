//! Basins of attraction (`[analysis.basins]`): which limit point each converged run reached.
//!
//! - **Clustering.** Final points of converged runs are grouped greedily, in run order: a point
//!   joins the first basin whose centre is within `tolerance`·max(1, ‖centre‖∞) in the ∞-norm
//!   (relative for large coordinates, absolute near 0), else it starts a new basin. Centres are
//!   the running mean of their members. Converged runs stop at ‖g‖ ≈ the gradient tolerance, so
//!   members of one basin scatter by about that over the curvature; distinct minima are usually
//!   much further apart than the default tolerance 1e-2.
//! - **Classification.** At each centre the symbolic Hessian is evaluated in f64 and its
//!   eigenvalues computed (cyclic Jacobi rotations; Golub & Van Loan, Matrix Computations §8.5).
//!   `minimum` if all are > ε, `maximum` if all < −ε, `saddle` if some are > ε and some < −ε,
//!   else `degenerate`, with ε = 1e-8·max(1, max|λ|). The local GD threshold is 2/λ_max
//!   (GD is locally stable at a minimum iff lr < 2/λ_max).
//! - **Entropy.** Per optimizer and lr, H = −Σ p_b ln p_b over the basins' fractions of the
//!   group's converged runs (0 for one basin; ln k for k equally likely ones).

use crate::expr::Objective;
use crate::outcome::{Results, Status};
use crate::plan::Plan;

#[derive(Debug, Clone, PartialEq)]
pub struct Basin {
    pub id: usize,
    pub centre: Vec<f64>,
    pub loss: f64,
    pub kind: &'static str,
    /// Ascending.
    pub eigenvalues: Vec<f64>,
    /// 2/λ_max, where λ_max > 0.
    pub gd_threshold: Option<f64>,
    pub count: u64,
}

/// The basins found, and each result row's basin (None for runs that did not converge).
pub struct BasinMap {
    pub basins: Vec<Basin>,
    pub label: Vec<Option<usize>>,
}

pub const DEFAULT_TOLERANCE: f64 = 1e-2;

pub fn find(obj: &Objective, r: &Results, tolerance: f64) -> BasinMap {
    let d = r.dim;
    let mut centres: Vec<Vec<f64>> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut label = vec![None; r.len()];
    for i in 0..r.len() {
        if r.status[i] != Status::Converged {
            continue;
        }
        let p = r.point(i);
        let near = centres.iter().position(|c| {
            let scale = c.iter().fold(1f64, |m, v| m.max(v.abs()));
            c.iter().zip(p).all(|(a, b)| (a - b).abs() <= tolerance * scale)
        });
        let b = match near {
            Some(b) => {
                counts[b] += 1;
                let n = counts[b] as f64;
                for j in 0..d {
                    centres[b][j] += (p[j] - centres[b][j]) / n;
                }
                b
            }
            None => {
                centres.push(p.to_vec());
                counts.push(1);
                centres.len() - 1
            }
        };
        label[i] = Some(b);
    }
    let basins = centres
        .into_iter()
        .zip(counts)
        .enumerate()
        .map(|(id, (centre, count))| {
            let eigenvalues = symmetric_eigenvalues(obj.hessian_f64(&centre));
            let kind = point_kind(&eigenvalues);
            let lmax = eigenvalues.last().copied().unwrap_or(0.0);
            Basin {
                id,
                loss: obj.loss_f64(&centre),
                centre,
                kind,
                gd_threshold: (lmax > 0.0).then(|| 2.0 / lmax),
                eigenvalues,
                count,
            }
        })
        .collect();
    BasinMap { basins, label }
}

/// What a stationary point is, from its Hessian's eigenvalues (ascending): `minimum` if all
/// are > ε, `maximum` if all < −ε, `saddle` if some are > ε and some < −ε, else `degenerate`;
/// ε = 1e-8·max(1, max|λ|).
pub fn point_kind(eigenvalues: &[f64]) -> &'static str {
    let top = eigenvalues.iter().fold(0f64, |m, v| m.max(v.abs()));
    let eps = 1e-8 * top.max(1.0);
    let (pos, neg) = (eigenvalues.iter().any(|&v| v > eps), eigenvalues.iter().any(|&v| v < -eps));
    if eigenvalues.iter().all(|&v| v > eps) {
        "minimum"
    } else if eigenvalues.iter().all(|&v| v < -eps) {
        "maximum"
    } else if pos && neg {
        "saddle"
    } else {
        "degenerate"
    }
}

/// Whether the Hessian at a point has a clearly negative eigenvalue (a saddle or a maximum).
fn has_descent_direction(eigenvalues: &[f64]) -> bool {
    matches!(point_kind(eigenvalues), "saddle" | "maximum")
}

/// Relabel `converged` runs that stopped at a saddle or a maximum as `stalled` (the gradient
/// vanished, but the point is not a minimum). The Hessian is evaluated in f64 at each such
/// run's final point; when it is constant (quadratics, least squares) only once.
pub fn mark_stalled_points(obj: &Objective, r: &mut Results) {
    use rayon::prelude::*;
    if let Some(h) = obj.constant_hessian() {
        if !has_descent_direction(&symmetric_eigenvalues(h)) {
            return;
        }
    }
    let d = r.dim;
    let (x, status) = (&r.x, &mut r.status);
    status.par_iter_mut().enumerate().with_min_len(1024).for_each(|(i, s)| {
        if *s == Status::Converged && has_descent_direction(&symmetric_eigenvalues(obj.hessian_f64(&x[i * d..(i + 1) * d]))) {
            *s = Status::Stalled;
        }
    });
}

/// Eigenvalues of a symmetric matrix, ascending (cyclic Jacobi rotations).
pub fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i][j] * a[i][j]).sum();
        let diag: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum();
        if off <= 1e-30 * diag.max(1e-300) || !off.is_finite() {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                // The smaller root of t² + 2θt − 1 = 0, tan of the rotation angle.
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| a[i][i]).collect();
    ev.sort_by(|x, y| x.total_cmp(y));
    ev
}

/// One row of basins.csv: a basin's share of one optimizer block's runs at one lr.
pub struct GroupRow {
    pub block: usize,
    pub lr: f64,
    pub basin: usize,
    pub count: u64,
    pub fraction: f64,
    pub entropy: f64,
}

/// Counts per (optimizer block, lr, basin), fractions of the group's converged runs, entropy.
pub fn group_counts(plan: &Plan, r: &Results, map: &BasinMap) -> Vec<GroupRow> {
    use std::collections::BTreeMap;
    // (block, lr index) → basin → count
    let mut groups: BTreeMap<(usize, usize), BTreeMap<usize, u64>> = BTreeMap::new();
    let mut lr_of: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for i in 0..r.len() {
        let Some(b) = map.label[i] else { continue };
        let (bi, local) = plan.locate(r.run[i]).expect("result ids come from the plan");
        let block = &plan.blocks[bi];
        let inner: u64 = block.axes[1..].iter().map(|a| a.values.len() as u64).product();
        let li = (local / inner) as usize;
        lr_of.insert((bi, li), block.axes[0].values[li]);
        *groups.entry((bi, li)).or_default().entry(b).or_default() += 1;
    }
    let mut rows = Vec::new();
    for (key, counts) in groups {
        let total: u64 = counts.values().sum();
        let entropy = -counts
            .values()
            .map(|&c| {
                let p = c as f64 / total as f64;
                p * p.ln()
            })
            .sum::<f64>();
        for (basin, count) in counts {
            rows.push(GroupRow {
                block: key.0,
                lr: lr_of[&key],
                basin,
                count,
                fraction: count as f64 / total as f64,
                entropy: entropy.max(0.0),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_eigenvalues() {
        let ev = symmetric_eigenvalues(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12, "{ev:?}");
        let ev = symmetric_eigenvalues(vec![vec![4.0, 1.0, 0.5], vec![1.0, -3.0, 0.2], vec![0.5, 0.2, 1.0]]);
        let trace: f64 = ev.iter().sum();
        assert!((trace - 2.0).abs() < 1e-10);
        assert!(ev[0] < 0.0 && ev[2] > 4.0, "{ev:?}");
        assert_eq!(symmetric_eigenvalues(vec![vec![-5.0]]), vec![-5.0]);
    }
}
