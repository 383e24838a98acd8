//! Divergence thresholds along `lr` (`[analysis.threshold]`).
//!
//! ## What is found
//! Runs are grouped by everything but the learning rate: one group per optimizer block and
//! combination of its other axes (hyperparameters, initial point). Along a group's learning
//! rates a run is *unstable* when it `diverged` or was still `diverging` at `steps`, and
//! *stable* otherwise (converged, slow, cycling, chaotic, stalled: bounded).
//!
//! - `lr_unstable` is the smallest unstable learning rate seen, `lr_stable` the largest stable
//!   one below it: together they bracket the first stable → unstable crossing, the edge of the
//!   stable region that starts at small learning rates.
//! - `crossings` counts the changes between stable and unstable along the coarse grid's
//!   learning rates: 1 for a clean boundary, more where it is ragged (non-convex objectives,
//!   cycling windows inside the unstable region).
//! - `rel_width` = (lr_unstable − lr_stable) / lr_unstable.
//!
//! ## How
//! The coarse sweep gives the first brackets. Each refinement round then evaluates `points`
//! learning rates strictly inside every open bracket (geometrically spaced, linearly where the
//! bracket starts at 0), all groups in one execution on the device: each original block is
//! evaluated whole, with a table of per-group learning rates (see `round_plan`), or, where
//! few of its groups are still open, one small block per open group. The new
//! bracket is again the first unstable point and the stable point below it, so each round
//! shrinks the bracket by about `points + 1`: from a 4096-point log grid over two decades
//! (width 1.1e-3) two rounds of 64 reach 1e-6. A group stops when its width is ≤ `rel_tol`
//! (`rel_tol`), when no learning rate of the run precision lies strictly inside the bracket
//! (`precision`; f32 resolves about 6e-8 relative), after `max_rounds` (`max_rounds`), or at
//! once when the coarse grid has no stable point below an unstable one, or no unstable point
//! (`unbracketed`), or, for a block with a line search, never (`line_search`: the step adapts,
//! so no learning rate is a threshold; see method::linesearch). Every run of a round has the config's `steps` and rules, so a point just
//! above the threshold counts as unstable only where its growth shows within `steps` (see the
//! `diverging` rule): the bracket is the threshold *of the runs as configured*.
//!
//! ## Theory (`lr_theory`)
//! Where the Hessian H is constant (quadratics, least squares), the error e = x − x* of GD
//! evolves linearly, e ← (I − lr·H)e, and along an eigenvector of H with eigenvalue λ > 0 it is
//! stable iff |1 − lr·λ| < 1, i.e. lr < 2/λ_max (Nesterov, *Introductory Lectures on Convex
//! Optimization*, 2004, §1.2.3; Goh, "Why Momentum Really Works", Distill 2017). With momentum
//! each eigen-direction follows a two-term recurrence whose characteristic polynomial must have
//! both roots inside the unit circle (Jury's criterion for z² + c₁z + c₀: |c₀| < 1 and
//! 1 ± c₁ + c₀ > 0). With a = lr·λ:
//!
//! | optimizer (PyTorch form) | polynomial | stable iff |
//! |---|---|---|
//! | `gd` | z − (1 − a) | a < 2 |
//! | `momentum` (heavy ball, Polyak 1964; dampening τ) | z² − (1 + β − (1−τ)a)z + β | (1−τ)a < 2(1 + β) |
//! | `nesterov` | z² − (1+β)(1−a)z + β(1−a) | a < (2 + 2β)/(1 + 2β) |
//!
//! so lr_theory = 2/λ_max, 2(1+β)/((1−τ)λ_max), (2+2β)/((1+2β)λ_max) (heavy ball: Goh 2017,
//! "0 < αλ < 2 + 2β"; both: Cohen et al., "Gradient Descent on Neural Networks Typically Occurs
//! at the Edge of Stability", ICLR 2021, appendix on momentum). Weight decay (L2 form)
//! adds `weight_decay` to every eigenvalue; per-coordinate scales S = diag(lr_scale) make the
//! iteration e ← (I − lr·S·H)e, similar to I − lr·S^½HS^½, so λ_max is that of S^½(H + wd·I)S^½.
//! There is no theory column for schedules, gradient clipping, adaptive optimizers, or a Hessian
//! that varies or has a negative eigenvalue (then no lr is stable along that direction).

use crate::backend::Backend;
use crate::engine::execute;
use crate::error::Result;
use crate::outcome::Results;
use crate::plan::analyses::ThresholdSpec;
use crate::plan::{Block, Plan};
use serde::Serialize;
use std::time::Instant;

/// Why a group's refinement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    RelTol,
    Precision,
    MaxRounds,
    Unbracketed,
    /// The block has a line search: lr is only its first trial step, and a step that raises
    /// the loss is shrunk until it lowers it, so no learning rate is a threshold. The group
    /// reports the coarse grid as seen and is not refined.
    LineSearch,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::RelTol => "rel_tol",
            Stop::Precision => "precision",
            Stop::MaxRounds => "max_rounds",
            Stop::Unbracketed => "unbracketed",
            Stop::LineSearch => "line_search",
        }
    }
}

/// The threshold of one group: one optimizer block and one combination of its other axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub block: usize,
    /// The block-local index of the group's run at the first learning rate; since lr is the
    /// block's outermost axis, it also locates the group's other axis values.
    pub rest: u64,
    pub lr_stable: Option<f64>,
    pub lr_unstable: Option<f64>,
    /// Stable/unstable changes along the coarse grid's learning rates.
    pub crossings: u32,
    pub lr_theory: Option<f64>,
    /// Refinement rounds this group took part in.
    pub rounds: u32,
    pub stop: Stop,
}

impl Threshold {
    /// (lr_unstable − lr_stable) / lr_unstable, where both exist.
    pub fn rel_width(&self) -> Option<f64> {
        match (self.lr_stable, self.lr_unstable) {
            (Some(s), Some(u)) => Some((u - s) / u),
            _ => None,
        }
    }
}

/// Every group's threshold, and what the refinement cost.
pub struct Search {
    pub thresholds: Vec<Threshold>,
    pub rounds: u32,
    pub refinement_runs: u64,
    pub seconds: f64,
}

/// The first stable → unstable crossing of a sequence sorted by lr: (largest stable lr below
/// the first unstable one, first unstable lr).
fn bracket(seq: &[(f64, bool)]) -> (Option<f64>, Option<f64>) {
    match seq.iter().position(|&(_, unstable)| unstable) {
        Some(i) => (i.checked_sub(1).map(|j| seq[j].0), Some(seq[i].0)),
        None => (seq.last().map(|p| p.0), None),
    }
}

/// Which runs of a sweep were unstable: one bit per run id, filled chunk by chunk (the coarse
/// brackets need every group's whole sequence along lr, and lr is the slowest axis, so a group's
/// runs arrive spread over the whole sweep: 1 bit per run, 125 MB for 10⁹ runs).
#[derive(Debug, Clone)]
pub struct UnstableRuns {
    bits: Vec<u64>,
}

impl UnstableRuns {
    pub fn new(runs: u64) -> UnstableRuns {
        UnstableRuns { bits: vec![0; runs.div_ceil(64) as usize] }
    }

    pub fn observe(&mut self, r: &Results) {
        for (&id, s) in r.run.iter().zip(&r.status) {
            if s.is_unstable() {
                self.bits[(id / 64) as usize] |= 1 << (id % 64);
            }
        }
    }

    pub fn get(&self, id: u64) -> bool {
        self.bits[(id / 64) as usize] >> (id % 64) & 1 == 1
    }
}

/// Brackets from the coarse sweep `r` (every run of the plan), one per group.
pub fn coarse(plan: &Plan, r: &Results) -> Vec<Threshold> {
    let mut u = UnstableRuns::new(plan.total_runs());
    u.observe(r);
    coarse_from(plan, &u)
}

/// Brackets from the coarse sweep, one per group, in block order then `rest` order.
pub fn coarse_from(plan: &Plan, unstable: &UnstableRuns) -> Vec<Threshold> {
    let mut out = Vec::new();
    for (bi, block) in plan.blocks.iter().enumerate() {
        let lrs = &block.axes[0].values;
        let inner = block.runs / lrs.len() as u64;
        // The lr digits in ascending order of lr (a list may be given in any order).
        let mut order: Vec<usize> = (0..lrs.len()).collect();
        order.sort_by(|&a, &b| lrs[a].total_cmp(&lrs[b]));
        let mut seq: Vec<(f64, bool)> = Vec::with_capacity(lrs.len());
        for rest in 0..inner {
            seq.clear();
            seq.extend(order.iter().map(|&d| (lrs[d], unstable.get(block.first_run + d as u64 * inner + rest))));
            let crossings = seq.windows(2).filter(|w| w[0].1 != w[1].1).count() as u32;
            let (lr_stable, lr_unstable) = bracket(&seq);
            out.push(Threshold {
                block: bi,
                rest,
                lr_stable,
                lr_unstable,
                crossings,
                lr_theory: theory(plan, block, rest),
                rounds: 0,
                stop: match (lr_stable, lr_unstable) {
                    _ if block.linesearch.is_some() => Stop::LineSearch,
                    (Some(_), Some(_)) => Stop::MaxRounds,
                    _ => Stop::Unbracketed,
                },
            });
        }
    }
    out
}

/// `points` learning rates strictly inside (a, b) at the run precision, ascending, distinct.
fn interior(a: f64, b: f64, points: u32, plan: &Plan) -> Vec<f64> {
    let n = points as f64 + 1.0;
    let mut v: Vec<f64> = (1..=points)
        .map(|i| {
            let t = i as f64 / n;
            if a > 0.0 {
                a * (b / a).powf(t)
            } else {
                a + (b - a) * t
            }
        })
        .map(|x| plan.precision.round(x))
        .filter(|&x| x > a && x < b)
        .collect();
    v.dedup();
    v
}

/// Where a round's result row goes: per round block and block-local run, (open group, point).
type Slots = Vec<Vec<Option<(usize, usize)>>>;

/// The plan of one refinement round. Where at least a quarter of an original block's groups
/// are open, the block is evaluated whole with a per-group lr table (`Block::lr_table`: one
/// dispatch for all its groups; closed groups fill their places with their lr_stable, and
/// their runs are not read); otherwise each open group is its own small block.
fn round_plan(plan: &Plan, ts: &[Threshold], open: &[(usize, Vec<f64>)], points: usize) -> (Plan, Slots) {
    let mut round = plan.clone();
    round.blocks.clear();
    let mut slots: Slots = Vec::new();
    let mut first_run = 0;
    for (bi, block) in plan.blocks.iter().enumerate() {
        let mine: Vec<usize> = (0..open.len()).filter(|&o| ts[open[o].0].block == bi).collect();
        if mine.is_empty() {
            continue;
        }
        let inner = (block.runs / block.axes[0].values.len() as u64) as usize;
        if inner > 1 && mine.len() * 4 >= inner {
            let mut table = vec![0.0; inner * points];
            for t in ts.iter().filter(|t| t.block == bi) {
                let filler = t.lr_stable.or(t.lr_unstable).unwrap_or(block.axes[0].values[0]);
                table[t.rest as usize * points..(t.rest as usize + 1) * points].fill(filler);
            }
            let mut slot = vec![None; inner * points];
            for &o in &mine {
                let (g, lrs) = &open[o];
                let rest = ts[*g].rest as usize;
                for (j, &lr) in lrs.iter().enumerate() {
                    table[rest * points + j] = lr;
                    slot[j * inner + rest] = Some((o, j));
                }
                // Fewer distinct points than `points` (precision): repeat the last, unread.
                table[rest * points + lrs.len()..(rest + 1) * points].fill(lrs[lrs.len() - 1]);
            }
            let mut axes = block.axes.clone();
            axes[0] = crate::plan::Axis { name: block.axes[0].name.clone(), values: (0..points).map(|j| j as f64).collect(), log: false };
            let runs = (inner * points) as u64;
            round.blocks.push(Block { axes, first_run, runs, lr_table: Some(table), ..block.clone() });
            first_run += runs;
            slots.push(slot);
        } else {
            for &o in &mine {
                let (g, lrs) = &open[o];
                let b = block.fixed_at(ts[*g].rest, lrs.clone(), first_run);
                first_run += b.runs;
                round.blocks.push(b);
                slots.push((0..lrs.len()).map(|j| Some((o, j))).collect());
            }
        }
    }
    (round, slots)
}

/// Find every group's threshold: brackets from the coarse results `r`, then refinement rounds
/// on `backend` until each bracket is below `spec.rel_tol` (see the module docs).
pub fn search(plan: &Plan, backend: &dyn Backend, r: &Results, spec: &ThresholdSpec) -> Result<Search> {
    refine(plan, backend, coarse(plan, r), spec)
}

/// Most runs of one refinement execution: a round's open groups go to the device in batches
/// of at most this many runs, so a round's tables and results stay bounded whatever the grid.
pub const MAX_ROUND_RUNS: usize = 1 << 20;

/// The refinement rounds from the coarse brackets `ts` (see the module docs).
pub fn refine(plan: &Plan, backend: &dyn Backend, mut ts: Vec<Threshold>, spec: &ThresholdSpec) -> Result<Search> {
    let t0 = Instant::now();
    let done = |t: &Threshold| t.stop == Stop::LineSearch || t.rel_width().is_some_and(|w| w <= spec.rel_tol);
    for t in ts.iter_mut().filter(|t| done(t) && t.stop != Stop::LineSearch) {
        t.stop = Stop::RelTol;
    }
    let mut rounds = 0;
    let mut refinement_runs = 0;
    let per_batch = (MAX_ROUND_RUNS / spec.points.max(1) as usize).max(1);
    for _ in 0..spec.max_rounds {
        // The open groups and the learning rates each evaluates this round.
        let mut open: Vec<usize> = Vec::new();
        for (g, t) in ts.iter_mut().enumerate() {
            let (Some(a), Some(b)) = (t.lr_stable, t.lr_unstable) else { continue };
            if done(t) {
                continue;
            }
            if interior(a, b, spec.points, plan).is_empty() {
                t.stop = Stop::Precision;
                continue;
            }
            open.push(g);
        }
        if open.is_empty() {
            break;
        }
        rounds += 1;
        for batch in open.chunks(per_batch) {
            let open: Vec<(usize, Vec<f64>)> = batch
                .iter()
                .map(|&g| (g, interior(ts[g].lr_stable.expect("open"), ts[g].lr_unstable.expect("open"), spec.points, plan)))
                .collect();
            let (round, slots) = round_plan(plan, &ts, &open, spec.points as usize);
            let results = execute(&round, backend, &round.selections(None))?.results;
            refinement_runs += results.len() as u64;
            let mut unstable: Vec<Vec<bool>> = open.iter().map(|(_, lrs)| vec![false; lrs.len()]).collect();
            for i in 0..results.len() {
                let (bi, local) = round.locate(results.run[i]).expect("result ids come from the round's plan");
                if let Some((o, j)) = slots[bi][local as usize] {
                    unstable[o][j] = results.status[i].is_unstable();
                }
            }
            for ((g, lrs), unstable) in open.iter().zip(unstable) {
                let t = &mut ts[*g];
                t.rounds += 1;
                match unstable.iter().position(|&u| u) {
                    Some(0) => t.lr_unstable = Some(lrs[0]),
                    Some(i) => (t.lr_stable, t.lr_unstable) = (Some(lrs[i - 1]), Some(lrs[i])),
                    None => t.lr_stable = lrs.last().copied(),
                }
                if done(t) {
                    t.stop = Stop::RelTol;
                }
            }
        }
    }
    Ok(Search { thresholds: ts, rounds, refinement_runs, seconds: t0.elapsed().as_secs_f64() })
}

/// lr_theory of a group (see the module docs), where its Hessian is constant and its optimizer
/// has a known stability bound.
pub fn theory(plan: &Plan, block: &Block, rest: u64) -> Option<f64> {
    let ev = plan.step_curvature(block, rest)?;
    // The method's own bound (method::<kind>::METHOD.stability): lr < factor/λ_max.
    let factor = plan.stability_factor(block, rest)?;
    let (lo, hi) = (ev[0], ev[ev.len() - 1]);
    (hi > 0.0 && lo >= -1e-12 * hi).then(|| factor / hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_is_the_first_crossing() {
        let s = |v: &[(f64, bool)]| bracket(v);
        assert_eq!(s(&[(1.0, false), (2.0, false), (3.0, true), (4.0, false), (5.0, true)]), (Some(2.0), Some(3.0)));
        assert_eq!(s(&[(1.0, true), (2.0, false)]), (None, Some(1.0)));
        assert_eq!(s(&[(1.0, false), (2.0, false)]), (Some(2.0), None));
        assert_eq!(s(&[]), (None, None));
    }
}
