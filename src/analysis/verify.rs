//! `gdsweep verify`: the same runs on the GPU and the CPU reference, compared by outcome and
//! by tolerance (never bit for bit: drivers regroup additions and fuse multiply-adds).
//!
//! Rules:
//! - A run is *rounding chaos* when the backends disagree and either found it `chaotic`: its
//!   trajectory amplifies the last bit of every rounding, so where it ends depends on how the
//!   device rounds (a real class of runs, not a fault of either backend). Counted separately
//!   and excluded from the agreement figure.
//! - A run is a *boundary run* when (a) its reference (CPU) status differs from that of the
//!   previous or next compared run of the same optimizer block (it sits where the outcome
//!   changes along the grid, e.g. at the lr threshold), (b) either backend ended it by
//!   converging or diverging at step ≥ 99 % of `steps` (a hair from running out of steps), or
//!   (c) the backends found it bounded but not converged in two different ways (slow,
//!   escaping, cycling, stalled: which one the last window shows depends on where a long
//!   trajectory is at that moment, and rounding moves that). Boundary runs are excluded from
//!   the agreement figure and counted separately; a run that is stable on one backend and
//!   unstable (diverged, diverging) on the other, or converged on one only, always counts.
//! - Agreement = runs with the same status on both / runs judged (neither boundary nor
//!   rounding chaos). The bar is 99.9 %: below it, or with no run judged at all, verify fails
//!   (exit 1).
//! - Among runs converged on both, the largest difference of the final loss and of the final
//!   point (∞-norm) is reported, relative to max(1, |value|): relative for large values,
//!   absolute near zero, where minima put the loss.
//! - Every run whose status differs is listed with its class (see [`Difference`]), for
//!   `verify`'s differences.csv.
//! - Where the sweep records trainability, a run's `trained` verdict is part of its outcome: a
//!   run the backends give the same status but different verdicts differs (its example reads
//!   `trained` / `not trained`).

use crate::outcome::{Results, Status};
use crate::plan::Plan;
use serde::Serialize;

pub const AGREEMENT_BAR: f64 = 0.999;

/// Why a run's statuses differ between the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// Counted against the agreement.
    Differs,
    /// A boundary run (excluded).
    Boundary,
    /// Chaotic on either backend (excluded).
    RoundingChaos,
}

impl Difference {
    pub fn name(self) -> &'static str {
        match self {
            Difference::Differs => "differs",
            Difference::Boundary => "boundary",
            Difference::RoundingChaos => "rounding_chaos",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub compared: u64,
    pub boundary: u64,
    pub boundary_agreeing: u64,
    /// Runs chaotic on one backend and not the same on the other.
    pub rounding_chaos: u64,
    pub agreeing: u64,
    pub disagreeing: u64,
    pub agreement: f64,
    pub converged_on_both: u64,
    pub max_loss_difference: f64,
    pub max_point_difference: f64,
    /// Up to 10 disagreeing runs that count: (run, gpu status, cpu status).
    pub examples: Vec<(u64, &'static str, &'static str)>,
    /// Every run whose status differs: (row, class).
    #[serde(skip)]
    pub differences: Vec<(usize, Difference)>,
}

impl Verdict {
    /// Runs that count for the agreement.
    pub fn judged(&self) -> u64 {
        self.agreeing + self.disagreeing
    }

    pub fn passed(&self) -> bool {
        self.judged() > 0 && self.agreement >= AGREEMENT_BAR
    }
}

fn scaled_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / 1f64.max(a.abs()).max(b.abs())
}

pub fn compare(plan: &Plan, gpu: &Results, cpu: &Results) -> Verdict {
    assert_eq!(gpu.run, cpu.run, "both backends ran the same selection");
    let n = cpu.len();
    let near_end = (plan.steps as f64 * 0.99).floor() as u32;
    let block_of: Vec<usize> = cpu.run.iter().map(|&id| plan.locate(id).map_or(0, |(b, _)| b)).collect();
    let mut v = Verdict {
        compared: n as u64,
        boundary: 0,
        boundary_agreeing: 0,
        rounding_chaos: 0,
        agreeing: 0,
        disagreeing: 0,
        agreement: 1.0,
        converged_on_both: 0,
        max_loss_difference: 0.0,
        max_point_difference: 0.0,
        examples: Vec::new(),
        differences: Vec::new(),
    };
    let verdict = |r: &Results, i: usize| r.train.get(i).and_then(|t| t.trained());
    let label = |t: Option<bool>| match t {
        Some(true) => "trained",
        Some(false) => "not trained",
        None => "trained unknown",
    };
    for i in 0..n {
        let (g, c) = (gpu.status[i], cpu.status[i]);
        let same_trained = verdict(gpu, i) == verdict(cpu, i);
        let same = g == c && same_trained;
        if !same && (g == Status::Chaotic || c == Status::Chaotic) {
            v.rounding_chaos += 1;
            v.differences.push((i, Difference::RoundingChaos));
            continue;
        }
        let differs_from = |j: usize| block_of[j] == block_of[i] && cpu.status[j] != c;
        let grid_edge = (i > 0 && differs_from(i - 1)) || (i + 1 < n && differs_from(i + 1));
        let late = |s: Status, steps: u32| matches!(s, Status::Converged | Status::Diverged) && steps >= near_end;
        let step_edge = late(g, gpu.steps[i]) || late(c, cpu.steps[i]);
        let bounded = |s: Status| matches!(s, Status::Slow | Status::Escaping | Status::Cycling | Status::Stalled);
        let settling = !same && bounded(g) && bounded(c);
        if grid_edge || step_edge || settling {
            v.boundary += 1;
            v.boundary_agreeing += same as u64;
            if !same {
                v.differences.push((i, Difference::Boundary));
            }
            continue;
        }
        if same {
            v.agreeing += 1;
        } else {
            v.disagreeing += 1;
            v.differences.push((i, Difference::Differs));
            if v.examples.len() < 10 {
                v.examples.push(if g == c { (cpu.run[i], label(verdict(gpu, i)), label(verdict(cpu, i))) } else { (cpu.run[i], g.name(), c.name()) });
            }
        }
        if same && g == Status::Converged {
            v.converged_on_both += 1;
            v.max_loss_difference = v.max_loss_difference.max(scaled_diff(gpu.loss[i], cpu.loss[i]));
            let dx = gpu.point(i).iter().zip(cpu.point(i)).map(|(a, b)| scaled_diff(*a, *b)).fold(0.0, f64::max);
            v.max_point_difference = v.max_point_difference.max(dx);
        }
    }
    let judged = v.judged();
    v.agreement = if judged == 0 { 0.0 } else { v.agreeing as f64 / judged as f64 };
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Overrides};

    fn results(status: &[Status], steps: &[u32]) -> Results {
        let mut r = Results::with_capacity(1, status.len());
        for (i, (&s, &k)) in status.iter().zip(steps).enumerate() {
            r.push(i as u64, crate::outcome::Finding::plain(s), k, k + 1, 1.0 + i as f64, 0.0, &[i as f64]);
        }
        r
    }

    fn plan(n: usize) -> Plan {
        let src = format!("[objective]\nexpr = \"x^2\"\n[sweep]\nlr = {{ lin = [0.1, 0.9], n = {n} }}\n[run]\nsteps = 1000\n");
        parse("t.toml", &src, "t", Overrides::default()).unwrap()
    }

    #[test]
    fn disagreement_away_from_boundaries_fails_the_bar() {
        use Status::*;
        let cpu = results(&[Converged; 6], &[10; 6]);
        let mut gpu = cpu.clone();
        gpu.status[3] = Slow;
        let v = compare(&plan(6), &gpu, &cpu);
        assert_eq!((v.agreeing, v.disagreeing, v.boundary), (5, 1, 0));
        assert!(!v.passed());
        assert_eq!(v.examples, vec![(3, "slow", "converged")]);
    }

    /// The same status with different `trained` verdicts is a disagreement.
    #[test]
    fn a_different_trained_verdict_disagrees() {
        use crate::outcome::Trainability;
        let mut cpu = results(&[Status::Converged; 6], &[10; 6]);
        cpu.train = vec![Trainability { ratio_sum: 3.0, inverse_sum: 5.0, tail_mean: 0.5 }; 6];
        let mut gpu = cpu.clone();
        gpu.train[2].tail_mean = 1.0;
        let v = compare(&plan(6), &gpu, &cpu);
        assert_eq!((v.agreeing, v.disagreeing), (5, 1));
        assert_eq!(v.examples, vec![(2, "not trained", "trained")]);
    }

    #[test]
    fn boundary_runs_are_excluded_and_counted() {
        use Status::*;
        // The CPU's outcome changes between runs 2 and 3: both are boundary runs.
        let cpu = results(&[Converged, Converged, Converged, Diverged, Diverged, Diverged], &[10, 10, 10, 5, 5, 5]);
        let mut gpu = cpu.clone();
        gpu.status[2] = Diverged;
        // Run 0 converged at step 995 of 1000 on the GPU and ran out of steps on the CPU.
        let mut cpu = cpu;
        cpu.status[0] = Slow;
        cpu.steps[0] = 1000;
        gpu.steps[0] = 995;
        let v = compare(&plan(6), &gpu, &cpu);
        assert!(v.passed(), "{v:?}");
        assert_eq!(v.boundary, 4, "runs 0, 1 (neighbour of 0's outcome change), 2 and 3: {v:?}");
        assert_eq!(v.differences, vec![(0, Difference::Boundary), (2, Difference::Boundary)]);
        assert_eq!(v.disagreeing, 0);
        assert_eq!(v.converged_on_both, 0);
    }

    #[test]
    fn differences_among_converged_runs_are_reported() {
        use Status::*;
        let cpu = results(&[Converged; 3], &[10; 3]);
        let mut gpu = cpu.clone();
        gpu.loss[1] += 0.5; // loss 2.0 vs 2.5: 0.5 / 2.5
        gpu.x[2] += 1e-3; // x 2.0 vs 2.001
        let v = compare(&plan(3), &gpu, &cpu);
        assert!((v.max_loss_difference - 0.2).abs() < 1e-12);
        assert!((v.max_point_difference - 1e-3 / 2.001).abs() < 1e-12);
    }

    #[test]
    fn chaos_is_its_own_class_and_nothing_judged_fails() {
        use Status::*;
        let cpu = results(&[Converged, Converged, Converged, Converged], &[10; 4]);
        let mut gpu = cpu.clone();
        gpu.status[1] = Chaotic;
        let v = compare(&plan(4), &gpu, &cpu);
        assert_eq!((v.rounding_chaos, v.disagreeing), (1, 0), "{v:?}");
        assert_eq!(v.differences, vec![(1, Difference::RoundingChaos)]);
        assert!(v.passed());
        // Every run excluded: nothing was compared, which is no pass.
        let cpu = results(&[Chaotic, Chaotic], &[10; 2]);
        let gpu = results(&[Converged, Diverged], &[10; 2]);
        let v = compare(&plan(2), &gpu, &cpu);
        assert_eq!(v.judged(), 0);
        assert!(!v.passed(), "{v:?}");
    }
}
