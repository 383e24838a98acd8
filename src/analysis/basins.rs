//! Basins of attraction (`[analysis.basins]`): which limit point each converged run reached.
//!
//! - **Which runs.** Converged runs; with `critical_points = true` also the `stalled` runs whose
//!   final point is a saddle or a maximum (`Objective::critical_point`: pure Newton's, which
//!   goes to any critical point). Plateaus and points that are no critical point stay out.
//! - **Clustering.** Final points of those runs are grouped greedily, in run order: a point
//!   joins the first basin whose centre is within `tolerance`·max(1, ‖centre‖∞) in the ∞-norm
//!   (relative for large coordinates, absolute near 0), else it starts a new basin. Centres are
//!   the running mean of their members. Converged runs stop at ‖g‖ ≈ the gradient tolerance, so
//!   members of one basin scatter by about that over the curvature; distinct minima are usually
//!   much further apart than the default tolerance 1e-2.
//! - **Classification.** At each centre the symbolic Hessian is evaluated in f64 and its
//!   eigenvalues computed (cyclic Jacobi rotations; Golub & Van Loan, Matrix Computations §8.5).
//!   `minimum` if all are > ε, `maximum` if all < −ε, `saddle` if some are > ε and some < −ε,
//!   else `degenerate`, with ε = 1e-8·max(1, max|λ|); `not_critical` where the Hessian
//!   changes by more than 10 % over the Newton step (see `Objective::critical_point`: the
//!   point is no critical point to the run's precision). The local GD threshold is 2/λ_max
//!   (GD is locally stable at a minimum iff lr < 2/λ_max).
//! - **Entropy.** Per optimizer and lr, H = −Σ p_b ln p_b over the basins' fractions of the
//!   group's clustered runs (0 for one basin; ln k for k equally likely ones).

use crate::problem::expr::Objective;
use crate::outcome::{Results, Status};
use crate::plan::analyses::BasinSpec;
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

/// All the results at once (see [`Clusters`], which this feeds): minima only.
pub fn find(obj: &Objective, r: &Results, tolerance: f64) -> BasinMap {
    find_with(obj, r, BasinSpec::minima(tolerance))
}

/// [`find`] as `spec` says (with `critical_points`, saddles and maxima too).
pub fn find_with(obj: &Objective, r: &Results, spec: BasinSpec) -> BasinMap {
    let mut c = Clusters::new(spec);
    let label = c.observe(obj, r);
    BasinMap { basins: c.basins(obj), label }
}

/// The greedy clustering of the module docs, fed chunk by chunk in run order: the same basins
/// and labels whether a sweep is seen whole, streamed, resumed or merged from shards.
#[derive(Debug, Clone)]
pub struct Clusters {
    tolerance: f64,
    critical_points: bool,
    centres: Vec<Vec<f64>>,
    counts: Vec<u64>,
}

impl Clusters {
    pub fn new(spec: BasinSpec) -> Clusters {
        Clusters { tolerance: spec.tolerance, critical_points: spec.critical_points, centres: Vec::new(), counts: Vec::new() }
    }

    /// The basin of each row of `r` (runs after every run observed before).
    pub fn observe(&mut self, obj: &Objective, r: &Results) -> Vec<Option<usize>> {
        use rayon::prelude::*;
        let tolerance = self.tolerance;
        // Which runs reached a limit point: converged ones, and with `critical_points` the
        // stalled ones at a saddle or maximum (judged in parallel: a Hessian each).
        let reached: Vec<bool> = (0..r.len())
            .into_par_iter()
            .with_min_len(1024)
            .map(|i| match r.status[i] {
                Status::Converged => true,
                Status::Stalled if self.critical_points => matches!(obj.critical_point(r.point(i)).0, "saddle" | "maximum"),
                _ => false,
            })
            .collect();
        let mut label = vec![None; r.len()];
        for (i, l) in label.iter_mut().enumerate() {
            if !reached[i] {
                continue;
            }
            let p = r.point(i);
            let near = self.centres.iter().position(|c| {
                let scale = c.iter().fold(1f64, |m, v| m.max(v.abs()));
                c.iter().zip(p).all(|(a, b)| (a - b).abs() <= tolerance * scale)
            });
            let b = match near {
                Some(b) => {
                    self.counts[b] += 1;
                    let n = self.counts[b] as f64;
                    for (c, v) in self.centres[b].iter_mut().zip(p) {
                        *c += (v - *c) / n;
                    }
                    b
                }
                None => {
                    self.centres.push(p.to_vec());
                    self.counts.push(1);
                    self.centres.len() - 1
                }
            };
            *l = Some(b);
        }
        label
    }

    /// The basins so far, each classified at its centre.
    pub fn basins(&self, obj: &Objective) -> Vec<Basin> {
        self.centres
            .iter()
            .zip(&self.counts)
            .enumerate()
            .map(|(id, (centre, &count))| {
                let (kind, eigenvalues) = obj.critical_point(centre);
                let lmax = eigenvalues.last().copied().unwrap_or(0.0);
                Basin {
                    id,
                    loss: obj.loss_f64(centre),
                    centre: centre.clone(),
                    kind,
                    gd_threshold: (lmax > 0.0).then(|| 2.0 / lmax),
                    eigenvalues,
                    count,
                }
            })
            .collect()
    }
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

/// Counts per (optimizer block, lr, basin), fractions of the group's clustered runs, entropy.
pub fn group_counts(plan: &Plan, r: &Results, map: &BasinMap) -> Vec<GroupRow> {
    let mut g = GroupCounts::default();
    g.observe(plan, r, &map.label);
    g.rows(plan)
}

/// [`group_counts`] accumulated chunk by chunk: (block, lr index) → basin → count.
#[derive(Debug, Clone, Default)]
pub struct GroupCounts {
    groups: std::collections::BTreeMap<(usize, usize), std::collections::BTreeMap<usize, u64>>,
}

impl GroupCounts {
    pub fn observe(&mut self, plan: &Plan, r: &Results, labels: &[Option<usize>]) {
        for (i, label) in labels.iter().enumerate() {
            let Some(b) = *label else { continue };
            let (bi, local) = plan.locate(r.run[i]).expect("result ids come from the plan");
            let block = &plan.blocks[bi];
            let inner: u64 = block.axes[1..].iter().map(|a| a.values.len() as u64).product();
            *self.groups.entry((bi, (local / inner) as usize)).or_default().entry(b).or_default() += 1;
        }
    }

    pub fn rows(&self, plan: &Plan) -> Vec<GroupRow> {
        let mut rows = Vec::new();
        for (&(block, li), counts) in &self.groups {
            let total: u64 = counts.values().sum();
            let entropy = -counts
                .values()
                .map(|&c| {
                    let p = c as f64 / total as f64;
                    p * p.ln()
                })
                .sum::<f64>();
            for (&basin, &count) in counts {
                rows.push(GroupRow {
                    block,
                    lr: plan.blocks[block].axes[0].values[li],
                    basin,
                    count,
                    fraction: count as f64 / total as f64,
                    entropy: entropy.max(0.0),
                });
            }
        }
        rows
    }
}
