//! Run outcomes and the results of a sweep.
//!
//! Every run ends with one [`Status`]. The rules (see [`crate::plan::Rules`]) are checked at
//! every evaluated point x_k, k = 0, 1, …, in this order:
//! 1. `diverged` — the loss or a coordinate is not finite, or |loss| > blowup·max(|loss₀|, 1);
//! 2. `converged` — ‖∇f(x_k)‖₂ ≤ max(grad_tol_abs, grad_tol_rel·‖∇f(x₀)‖₂);
//! 3. k = steps: the run is classified from its last steps by [`classify`].
//!
//! Otherwise the optimizer takes step k+1. `steps` in the results is k: the number of updates
//! made (for `diverged`, the escape step). Since the test is on the gradient, a tiny learning
//! rate never looks converged just because its steps are tiny.
//!
//! After the run, a `converged` run whose Hessian at its final point has a negative eigenvalue
//! (a saddle or a maximum: see [`mark_stalled_points`]) becomes `stalled`.

use crate::plan::{Rules, SEGMENTS};
use crate::problem::expr::Objective;
use crate::problem::linalg::{point_kind, symmetric_eigenvalues};
use serde::Serialize;

/// The first four are the shader's STATUS_* constants (keep in sync); the rest are what
/// [`classify`] makes of a run that reached `steps` (the shader's `max_steps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum Status {
    Running = 0,
    Converged = 1,
    Diverged = 2,
    /// Reached `steps` with a window too short to classify (steps < 8).
    MaxSteps = 3,
    Diverging = 4,
    Slow = 5,
    Cycling = 6,
    Chaotic = 7,
    Stalled = 8,
}

impl Status {
    pub const FINAL: [Status; 8] = [
        Status::Converged,
        Status::Diverged,
        Status::Diverging,
        Status::Slow,
        Status::Cycling,
        Status::Chaotic,
        Status::Stalled,
        Status::MaxSteps,
    ];

    pub fn from_u32(v: u32) -> Status {
        match v {
            1 => Status::Converged,
            2 => Status::Diverged,
            3 => Status::MaxSteps,
            4 => Status::Diverging,
            5 => Status::Slow,
            6 => Status::Cycling,
            7 => Status::Chaotic,
            8 => Status::Stalled,
            _ => Status::Running,
        }
    }

    /// Unstable for the threshold search (`[analysis.threshold]`): the run blew up, or was
    /// still growing at `steps`. Every other final status is bounded, hence stable.
    pub fn is_unstable(self) -> bool {
        matches!(self, Status::Diverged | Status::Diverging)
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Converged => "converged",
            Status::Diverged => "diverged",
            Status::MaxSteps => "max_steps",
            Status::Diverging => "diverging",
            Status::Slow => "slow",
            Status::Cycling => "cycling",
            Status::Chaotic => "chaotic",
            Status::Stalled => "stalled",
        }
    }
}

/// What the kernel recorded over a run's classification window (see shaders/sweep.wgsl).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRecord {
    /// Largest ‖g‖² in each segment of the window.
    pub segment_max: [f64; SEGMENTS as usize],
    /// Loss at the window's first point.
    pub loss_start: f64,
    /// Candidate period (0: none) and how many times the point came back after it.
    pub period: u32,
    pub returns: u32,
    /// Whether the loss rose at some step of the window.
    pub loss_rose: bool,
    /// Steps of the window whose gradient points against the previous one (g·g_prev < 0).
    pub turns: u32,
}

/// The outcome of a run that reached `steps`, with its measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    pub status: Status,
    /// Measured per-step factor of ‖g‖ over the window (NaN where not measured).
    pub rate: f64,
    /// The period of a `cycling` run (0 otherwise).
    pub period: u32,
    /// For `slow`: estimated further steps until ‖g‖ reaches the tolerance (NaN otherwise).
    pub steps_left: f64,
}

impl Finding {
    pub fn plain(status: Status) -> Finding {
        Finding { status, rate: f64::NAN, period: 0, steps_left: f64::NAN }
    }
}

/// Returns counted as a confirmed period: the first return and two more after exactly the
/// same number of steps (three whole periods).
pub const RETURNS_FOR_PERIOD: u32 = 3;

/// Classify a run that reached `steps` from its window record (README "Outcomes"). G_1..G_8
/// are the segments' largest ‖g‖; the trend is *steady* when G strictly increases or strictly
/// decreases and the last segment's change ln(G_8/G_7) is at least a quarter of the average
/// ln(G_8/G_1)/7 (a geometric rate, not one settling onto a limit). In this order:
/// 1. `cycling` — the point came back within cycle_tol after the same p ≥ 2 steps three times
///    (p ≤ max_period), and the trend is not steady (a run settling onto its cycle);
/// 2. `diverging` — G strictly increases, and either the loss at the end is above the loss at
///    the window's start or the run oscillates (the gradient turns against the previous one at
///    ≥ 1/4 of the window's steps: instability past lr < 2/λ_max sets in through an eigenvalue
///    −1 of the step map, while slow modes can keep lowering the loss);
/// 3. `slow` — G strictly decreases; `steps_left` = ln(gtol/‖g‖)/ln(rate);
/// 4. `cycling` — a period p ≥ 2 as in 1;
/// 5. `stalled` — the point no longer moves (period 1, although ‖g‖ > tol), or the loss never
///    rose in the window (a plateau, or a saddle left very slowly: ‖g‖ may grow there, but
///    without oscillating);
/// 6. `chaotic` — bounded, no trend, no period.
///
/// `rate` = (G_8/G_1)^(1/(7·segment_len)): the geometric mean per-step factor of ‖g‖.
pub fn classify(rec: &WindowRecord, last_loss: f64, last_gn2: f64, gtol2: f64, segment_len: u32) -> Finding {
    if segment_len == 0 {
        return Finding::plain(Status::MaxSteps);
    }
    let g = rec.segment_max.map(f64::sqrt);
    let n = SEGMENTS as usize;
    let (first, last) = (g[0], g[n - 1]);
    let rate = (last / first).powf(1.0 / ((SEGMENTS - 1) * segment_len) as f64);
    let increasing = g.windows(2).all(|w| w[1] > w[0]);
    let decreasing = g.windows(2).all(|w| w[1] < w[0]);
    let average = (last / first).ln() / (n - 1) as f64;
    let steady = (increasing || decreasing) && (g[n - 1] / g[n - 2]).ln() / average >= 0.25;
    let period = rec.returns >= RETURNS_FOR_PERIOD;
    let oscillating = rec.turns as f64 >= 0.25 * (SEGMENTS * segment_len) as f64;
    let with = |status, period, steps_left| Finding { status, rate, period, steps_left };
    if period && rec.period > 1 && !steady {
        with(Status::Cycling, rec.period, f64::NAN)
    } else if increasing && (last_loss > rec.loss_start || oscillating) {
        with(Status::Diverging, 0, f64::NAN)
    } else if decreasing {
        let left = ((gtol2.sqrt() / last_gn2.sqrt()).ln() / rate.ln()).ceil().max(1.0);
        with(Status::Slow, 0, left)
    } else if period && rec.period > 1 {
        with(Status::Cycling, rec.period, f64::NAN)
    } else if period || !rec.loss_rose {
        with(Status::Stalled, 0, f64::NAN)
    } else {
        with(Status::Chaotic, 0, f64::NAN)
    }
}

/// The outcome of a finished run from the kernel's raw status (1, 2 or 3) and state.
pub fn finish(raw: Status, rec: &WindowRecord, last_loss: f64, last_gn2: f64, gtol2: f64, rules: &Rules, steps: u32) -> Finding {
    match raw {
        Status::MaxSteps => classify(rec, last_loss, last_gn2, gtol2, rules.window_of(steps).1),
        s => Finding::plain(s),
    }
}

/// Results of a contiguous range of runs, as columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    pub dim: usize,
    /// Run ids (see `plan`): contiguous for a whole sweep, strided when sampling.
    pub run: Vec<u64>,
    pub status: Vec<Status>,
    pub steps: Vec<u32>,
    pub loss: Vec<f64>,
    pub grad_norm: Vec<f64>,
    /// Per-step factor of ‖g‖ over the window, period, estimated steps left (see [`Finding`]).
    pub rate: Vec<f64>,
    pub period: Vec<u32>,
    pub steps_left: Vec<f64>,
    /// Final points, `dim` values per run.
    pub x: Vec<f64>,
}

impl Results {
    /// Host memory one run's row takes (id, status, steps, loss, grad_norm, rate, period,
    /// steps_left, final point).
    pub fn bytes_per_run(dim: usize) -> usize {
        8 + std::mem::size_of::<Status>() + 4 + 8 + 8 + 8 + 4 + 8 + 8 * dim
    }

    /// Bytes of host memory that the results of a plan's whole grid take.
    pub fn bytes_of(plan: &crate::plan::Plan) -> u64 {
        plan.total_runs() * Self::bytes_per_run(plan.objective.dim()) as u64
    }

    pub fn with_capacity(dim: usize, n: usize) -> Self {
        Results {
            dim,
            run: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            steps: Vec::with_capacity(n),
            loss: Vec::with_capacity(n),
            grad_norm: Vec::with_capacity(n),
            rate: Vec::with_capacity(n),
            period: Vec::with_capacity(n),
            steps_left: Vec::with_capacity(n),
            x: Vec::with_capacity(n * dim),
        }
    }

    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    pub fn push(&mut self, run: u64, f: Finding, steps: u32, loss: f64, grad_norm: f64, x: &[f64]) {
        self.run.push(run);
        self.status.push(f.status);
        self.rate.push(f.rate);
        self.period.push(f.period);
        self.steps_left.push(f.steps_left);
        self.steps.push(steps);
        self.loss.push(loss);
        self.grad_norm.push(grad_norm);
        self.x.extend_from_slice(x);
    }

    pub fn point(&self, i: usize) -> &[f64] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// Append the rows of `other`.
    pub fn append(&mut self, other: Results) {
        self.run.extend(other.run);
        self.status.extend(other.status);
        self.steps.extend(other.steps);
        self.loss.extend(other.loss);
        self.grad_norm.extend(other.grad_norm);
        self.rate.extend(other.rate);
        self.period.extend(other.period);
        self.steps_left.extend(other.steps_left);
        self.x.extend(other.x);
    }

    pub fn counts(&self) -> [(Status, u64); 8] {
        let mut c = [0u64; 9];
        for s in &self.status {
            c[*s as usize] += 1;
        }
        Status::FINAL.map(|s| (s, c[s as usize]))
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
