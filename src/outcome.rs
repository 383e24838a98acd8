//! Run outcomes and the results of a sweep.
//!
//! Every run ends with one [`Status`]. The rules (see [`crate::plan::Rules`]) are checked at
//! every point x_k, k = 0, 1, … (with a line search, at every accepted point: rejected trial
//! points are only evaluations; where the search fails, the run ends `line_search_failed`
//! before these rules, see method::linesearch), in this order:
//! 1. `diverged` — the loss or a coordinate is not finite, or |loss| > blowup·max(|loss₀|, 1);
//! 2. `converged` — x_k is a critical point to the precision the run can resolve:
//!    ‖∇f(x_k)‖₂ ≤ grad_tol_abs, or ‖∇f(x_k)‖₂ ≤ grad_tol_rel·‖∇f(x₀)‖₂ *and* the step that
//!    led to x_k moved no coordinate by more than step_tol·‖x_k‖∞ (a few roundings of x);
//! 3. k = steps: the run is classified from its last steps by [`classify`].
//!
//! Otherwise the optimizer takes step k+1. `steps` in the results is k: the number of updates
//! made (for `diverged`, the escape step).
//!
//! Why two gradient rules: an absolute tolerance is what "the gradient vanished" means, but
//! f32 cannot always resolve it (‖g‖ cannot fall much below u·(the size of the terms summed):
//! about 0.01 on the forum matrix). A tolerance relative to ‖g₀‖ alone says nothing about the
//! slow directions: on x² + 10⁶y² from (1, 1) the y mode dies in 40 steps and takes ‖g‖ below
//! 10⁻⁴‖g₀‖ while x has not moved. So the relative rule counts only once the steps have
//! stopped mattering at the run's precision, which a run still crawling along x never does.
//! A tiny learning rate cannot pass it either: its ‖g‖ stays near ‖g₀‖.
//!
//! After the run, a `converged` run whose final point is no minimum (a saddle, a maximum, or
//! no critical point to the run's precision: see [`mark_stalled_points`]) becomes `stalled`.

use crate::plan::{Rules, SEGMENTS};
use crate::problem::expr::Objective;
use serde::Serialize;

/// The first four, `LineSearchFailed` and `HessianSingular` are the shader's STATUS_* constants (injected from
/// here); the rest are what [`classify`] makes of a run that reached `steps` (the shader's
/// `max_steps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum Status {
    Running = 0,
    Converged = 1,
    Diverged = 2,
    /// Reached `steps` with a window too short to classify (steps < 8), or a run of
    /// mini-batches that did not converge on the whole table (engine::mark_noisy_runs).
    MaxSteps = 3,
    Diverging = 4,
    Slow = 5,
    Cycling = 6,
    Chaotic = 7,
    Stalled = 8,
    Escaping = 9,
    /// The line search found no step with sufficient decrease within its `max_steps` shrinks
    /// (see method::linesearch).
    LineSearchFailed = 10,
    /// Newton's system had a zero or non-finite pivot with regularisation off, or no shift made
    /// it positive definite (see method::newton).
    HessianSingular = 11,
}

impl Status {
    pub const FINAL: [Status; 11] = [
        Status::Converged,
        Status::Diverged,
        Status::Diverging,
        Status::Escaping,
        Status::Slow,
        Status::Cycling,
        Status::Chaotic,
        Status::Stalled,
        Status::LineSearchFailed,
        Status::HessianSingular,
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
            9 => Status::Escaping,
            10 => Status::LineSearchFailed,
            11 => Status::HessianSingular,
            _ => Status::Running,
        }
    }

    /// Unstable for the threshold search (`[analysis.threshold]`): the run blew up, or was
    /// still growing at `steps`. Every other final status is bounded or descending, hence
    /// stable in the learning rate's sense.
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
            Status::Escaping => "escaping",
            Status::LineSearchFailed => "line_search_failed",
            Status::HessianSingular => "hessian_singular",
        }
    }
}

impl From<crate::method::StopReason> for Status {
    fn from(r: crate::method::StopReason) -> Status {
        match r {
            crate::method::StopReason::LineSearchFailed => Status::LineSearchFailed,
            crate::method::StopReason::HessianSingular => Status::HessianSingular,
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

/// A run's state at its last point, as the kernel left it (plan::layout's tail).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEnd {
    pub loss: f64,
    /// ‖g‖² at the last point.
    pub gn2: f64,
    /// (grad_tol_rel·‖g₀‖)².
    pub gtol2: f64,
    /// The last step's ‖Δx‖∞ and step_tol·‖x‖∞ after it.
    pub step: f64,
    pub step_res: f64,
}

/// The outcome of a run that reached `steps`, with its measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    pub status: Status,
    /// Measured per-step factor of ‖g‖ over the window (NaN where not measured).
    pub rate: f64,
    /// The period of a `cycling` run (0 otherwise).
    pub period: u32,
    /// For `slow` runs whose ‖g‖ decays geometrically: estimated further steps until the run
    /// converges (NaN otherwise).
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

/// A geometric decay: every segment's ln(G_{i+1}/G_i) within this fraction of their mean.
pub const GEOMETRIC_SPREAD: f64 = 0.1;

/// ‖g‖ counts as level over the window when its segment maxima differ by at most this many
/// roundings (a constant slope, as of x or softplus(x) for x ≫ 0, gives the same ‖g‖ to the
/// last bits; a slow decay seen through f32 rounding noise does not).
pub const LEVEL_ULPS: f64 = 64.0;

/// Classify a run that reached `steps` from its window record (README "Outcomes"). G_1..G_8
/// are the segments' largest ‖g‖; the trend is *steady* when G strictly increases or strictly
/// decreases and the last segment's change ln(G_8/G_7) is at least a quarter of the average
/// ln(G_8/G_1)/7 (a geometric rate, not one settling onto a limit). The loss *fell* when it
/// never rose in the window and ended lower by more than rounding (`Rules::loss_changed`); it
/// is *flat* when its change over the window is within rounding. In this order:
/// 0. `converged` — at the precision floor: ‖g‖ ≤ grad_tol_rel·‖g₀‖, the loss is flat and the
///    point keeps coming back within cycle_tol (a rounding cycle the steps cannot shrink);
/// 1. `cycling` — the point came back within cycle_tol after the same p ≥ 2 steps three times
///    (p ≤ max_period), and the trend is not steady (a run settling onto its cycle);
/// 2. `diverging` — G strictly increases, and either the loss at the end is above the loss at
///    the window's start or the run oscillates (the gradient turns against the previous one at
///    ≥ 1/4 of the window's steps: instability past lr < 2/λ_max sets in through an eigenvalue
///    −1 of the step map, while slow modes can keep lowering the loss). Never for a run with a
///    line search (`searched`): it accepts only steps that lower the loss, so a growing,
///    turning gradient is a zig-zag down a valley, not a blow-up;
/// 3. `escaping` — the run does not oscillate, and the loss never rose while G strictly
///    increases, or the loss fell with G level (within 64 roundings): the run leaves a saddle, a maximum or a plateau, or descends at a steady
///    slope with no minimum in sight (x, softplus(x) from x ≫ 0);
/// 4. `slow` — G strictly decreases, or the loss fell (still descending, G falling unevenly);
///    `steps_left` only where the decay is geometric (see [`steps_left`]);
/// 5. `cycling` — a period p ≥ 2 as in 1;
/// 6. `stalled` — the loss is flat, and either the point no longer moves (period 1) or the
///    loss never rose: the steps are below x's precision, or a true plateau;
/// 7. `chaotic` — bounded, no trend, no period.
///
/// `rate` = (G_8/G_1)^(1/(7·segment_len)): the geometric mean per-step factor of ‖g‖.
pub fn classify(rec: &WindowRecord, end: &RunEnd, rules: &Rules, segment_len: u32, searched: bool) -> Finding {
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
    let (g_min, g_max) = g.iter().fold((f64::INFINITY, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let level = g_max <= (1.0 + LEVEL_ULPS * rules.unit_roundoff) * g_min;
    let changed = rules.loss_changed(rec.loss_start, end.loss);
    let fell = !rec.loss_rose && changed && end.loss < rec.loss_start;
    let period = rec.returns >= RETURNS_FOR_PERIOD;
    let oscillating = rec.turns as f64 >= 0.25 * (SEGMENTS * segment_len) as f64;
    let with = |status, period, steps_left| Finding { status, rate, period, steps_left };
    if end.gn2 <= end.gtol2 && !changed && period {
        // At the precision floor: ‖g‖ passed the relative tolerance and the run goes round a
        // few roundings of one point (GD just below a minimum's 2/λ in f32 keeps a 2-cycle
        // of ~40 ulps that no step can shrink).
        with(Status::Converged, 0, f64::NAN)
    } else if period && rec.period > 1 && !steady {
        with(Status::Cycling, rec.period, f64::NAN)
    } else if increasing && !searched && (end.loss > rec.loss_start || oscillating) {
        // (A line search accepts only steps that lower the loss: a growing, turning gradient
        // is then a zig-zag down a valley, not a blow-up.)
        with(Status::Diverging, 0, f64::NAN)
    } else if !oscillating && ((!rec.loss_rose && increasing) || (fell && level && !decreasing)) {
        with(Status::Escaping, 0, f64::NAN)
    } else if decreasing || fell {
        with(Status::Slow, 0, steps_left(&g, rate, end, rules))
    } else if period && rec.period > 1 {
        with(Status::Cycling, rec.period, f64::NAN)
    } else if !changed && (period || !rec.loss_rose) {
        with(Status::Stalled, 0, f64::NAN)
    } else {
        with(Status::Chaotic, 0, f64::NAN)
    }
}

/// Further steps until a slow run converges, ⌈ln(tol/‖g‖)/ln(rate)⌉, where the segment maxima
/// G decay geometrically: every ln(G_{i+1}/G_i) within [`GEOMETRIC_SPREAD`] of their mean
/// (a slowest mode left alone, as GD near a minimum). Elsewhere NaN: a decay that slows down
/// (x³, softplus, a fast mode still dying out) would be extrapolated far too short. The
/// tolerance is the one that will end the run: the relative one where the steps will have
/// stopped mattering by then (they shrink with ‖g‖), else the absolute one.
pub fn steps_left(g: &[f64; SEGMENTS as usize], rate: f64, end: &RunEnd, rules: &Rules) -> f64 {
    let d: Vec<f64> = g.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let geometric = mean < 0.0 && d.iter().all(|v| (v - mean).abs() <= GEOMETRIC_SPREAD * mean.abs());
    if !geometric {
        return f64::NAN;
    }
    let g_now = end.gn2.sqrt();
    let rel = end.gtol2.sqrt();
    let rel_ends = rel > rules.grad_tol_abs && rel < g_now && end.step * (rel / g_now) <= end.step_res;
    let tol = if rel_ends { rel } else { rules.grad_tol_abs };
    ((tol / g_now).ln() / rate.ln()).ceil().max(1.0)
}

/// The outcome of a finished run from the kernel's raw status (1, 2 or 3) and state.
pub fn finish(raw: Status, rec: &WindowRecord, end: &RunEnd, rules: &Rules, steps: u32, searched: bool) -> Finding {
    match raw {
        Status::MaxSteps => classify(rec, end, rules, rules.window_of(steps).1, searched),
        s => Finding::plain(s),
    }
}

/// The trainability record of Sohl-Dickstein, "The boundary of neural network trainability is
/// fractal" (2024), as its notebook computes it (`convergence_measure`): over the losses L_k
/// at the points k = 0 … steps − 1 (the loss before each update; not the final point's), the
/// normalised losses v_k = min(L_k / L_0, [`TRAIN_CAP`]), a non-finite L_k counting as the cap,
/// and
/// - `trained` iff the mean of the last [`TRAIN_TAIL`] v_k is below 1 (the paper's
///   "converged"; its own name here, since gdsweep's `converged` is a gradient rule);
/// - the map value: −Σ v_k where trained (blues), Σ 1/v_k where not (reds).
///
/// The kernels sum v, 1/v and the tail's v at every accepted point (shaders/sweep.wgsl's
/// TRAINABILITY block, `Lanes::record_trainability`); a run that ends before `steps` is
/// completed on the host by [`Trainability::complete`]. (The notebook replaces a non-finite
/// loss by the cap *before* dividing by L_0, and its `v*fin` turns an infinite loss into NaN
/// instead; the cap after dividing is what both mean to do.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trainability {
    /// Σ v_k, Σ 1/v_k and the mean of the last [`TRAIN_TAIL`] v_k; NaN where the rule cannot
    /// tell (L_0 not positive and finite, or a run that stopped for another reason than
    /// converging or diverging).
    pub ratio_sum: f64,
    pub inverse_sum: f64,
    pub tail_mean: f64,
}

/// The notebook's `v[-20:]` and `max_val`.
pub const TRAIN_TAIL: u32 = 20;
pub const TRAIN_CAP: f64 = 1e6;

/// The record as the kernel leaves it (plan::layout's TRAIN_AT): L_0 and the three sums over
/// the points it counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSums {
    pub loss0: f64,
    pub ratio_sum: f64,
    pub inverse_sum: f64,
    pub tail_sum: f64,
}

impl Trainability {
    pub const UNKNOWN: Trainability = Trainability { ratio_sum: f64::NAN, inverse_sum: f64::NAN, tail_mean: f64::NAN };

    /// The notebook's v of a loss.
    pub fn ratio(loss: f64, loss0: f64) -> f64 {
        let v = loss / loss0;
        if v.is_finite() { v.min(TRAIN_CAP) } else { TRAIN_CAP }
    }

    /// The record of a run with raw status `raw` at point `steps` (of `max_steps`) from its
    /// kernel sums. The kernel counted the points 0 ..= min(steps, max_steps − 1); the points
    /// after a run that stopped early are the ones it would have reached had it gone on:
    /// - converged: its gradient vanished, so x and the loss stay where they are: each further
    ///   v is the last one (`last_loss`);
    /// - diverged: past the blow-up bound (the default 10¹⁰·max(|L_0|, 1) already puts v at
    ///   the cap) or not finite, a run stays there: each further v is the cap.
    ///
    /// A run that stopped for another reason (a line search's or Newton's failure) has no
    /// such continuation: unknown.
    pub fn complete(raw: Status, steps: u32, max_steps: u32, sums: TrainSums, last_loss: f64) -> Trainability {
        if !(sums.loss0.is_finite() && sums.loss0 > 0.0) || max_steps == 0 {
            return Trainability::UNKNOWN;
        }
        let rest = max_steps.saturating_sub(steps + 1);
        let v = match raw {
            Status::MaxSteps => 0.0,
            Status::Converged => Self::ratio(last_loss, sums.loss0),
            Status::Diverged => TRAIN_CAP,
            _ => return Trainability::UNKNOWN,
        };
        let tail_points = TRAIN_TAIL.min(max_steps);
        // Of the points steps + 1 … max_steps − 1 added here, those in the last tail_points.
        let rest_in_tail = rest.min(tail_points);
        let n = rest as f64;
        Trainability {
            ratio_sum: sums.ratio_sum + n * v,
            inverse_sum: sums.inverse_sum + if rest > 0 { n / v } else { 0.0 },
            tail_mean: (sums.tail_sum + rest_in_tail as f64 * v) / tail_points as f64,
        }
    }

    /// The paper's verdict; None where the record is unknown.
    pub fn trained(&self) -> Option<bool> {
        (!self.tail_mean.is_nan()).then_some(self.tail_mean < 1.0)
    }

    /// The notebook's map value: −Σv where trained, Σ1/v where not (NaN: unknown).
    pub fn measure(&self) -> f64 {
        match self.trained() {
            Some(true) => -self.ratio_sum,
            Some(false) => self.inverse_sum,
            None => f64::NAN,
        }
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
    /// Evaluations of the loss and gradient (see [`crate::plan::layout::Info::Evals`]).
    pub evals: Vec<u32>,
    pub loss: Vec<f64>,
    pub grad_norm: Vec<f64>,
    /// Per-step factor of ‖g‖ over the window, period, estimated steps left (see [`Finding`]).
    pub rate: Vec<f64>,
    pub period: Vec<u32>,
    pub steps_left: Vec<f64>,
    /// Final points, `dim` values per run.
    pub x: Vec<f64>,
    /// Each run's [`Trainability`] where the plan records it (`Rules::trainability`), else empty.
    pub train: Vec<Trainability>,
}

impl Results {
    /// Host memory one run's row takes (id, status, steps, evals, loss, grad_norm, rate,
    /// period, steps_left, final point, trainability record).
    pub fn bytes_per_run(dim: usize) -> usize {
        8 + std::mem::size_of::<Status>() + 4 + 4 + 8 + 8 + 8 + 4 + 8 + 8 * dim + std::mem::size_of::<Trainability>()
    }

    pub fn with_capacity(dim: usize, n: usize) -> Self {
        Results {
            dim,
            run: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            steps: Vec::with_capacity(n),
            evals: Vec::with_capacity(n),
            loss: Vec::with_capacity(n),
            grad_norm: Vec::with_capacity(n),
            rate: Vec::with_capacity(n),
            period: Vec::with_capacity(n),
            steps_left: Vec::with_capacity(n),
            x: Vec::with_capacity(n * dim),
            train: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push(&mut self, run: u64, f: Finding, steps: u32, evals: u32, loss: f64, grad_norm: f64, x: &[f64]) {
        self.run.push(run);
        self.status.push(f.status);
        self.rate.push(f.rate);
        self.period.push(f.period);
        self.steps_left.push(f.steps_left);
        self.steps.push(steps);
        self.evals.push(evals);
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
        self.evals.extend(other.evals);
        self.loss.extend(other.loss);
        self.grad_norm.extend(other.grad_norm);
        self.rate.extend(other.rate);
        self.period.extend(other.period);
        self.steps_left.extend(other.steps_left);
        self.x.extend(other.x);
        self.train.extend(other.train);
    }

    pub fn counts(&self) -> [(Status, u64); Status::FINAL.len()] {
        let mut t = Tally::default();
        t.add(self);
        t.counts()
    }

    /// Round every value runs.csv writes at the run precision to that precision, so the results
    /// in memory are exactly what runs.csv reads back as (a resumed or merged sweep rebuilds
    /// its analyses from runs.csv and must find the same numbers).
    pub fn round_to(&mut self, p: crate::plan::Precision) {
        for v in self.loss.iter_mut().chain(self.grad_norm.iter_mut()).chain(self.x.iter_mut()) {
            *v = p.round(*v);
        }
    }
}

/// Runs counted by status, and the steps they took: what a sweep's summary and manifest say,
/// accumulated chunk by chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    by_status: [u64; Status::FINAL.len() + 1],
    pub runs: u64,
    pub steps_taken: u64,
}

impl Tally {
    pub fn add(&mut self, r: &Results) {
        for s in &r.status {
            self.by_status[*s as usize] += 1;
        }
        self.runs += r.len() as u64;
        self.steps_taken += r.steps.iter().map(|&s| s as u64).sum::<u64>();
    }

    pub fn counts(&self) -> [(Status, u64); Status::FINAL.len()] {
        Status::FINAL.map(|s| (s, self.by_status[s as usize]))
    }
}

/// Keep a slow run's `steps_left` only where the rate it extrapolates is the run's last:
/// - GD, momentum or Nesterov on a constant Hessian (see [`slowest_mode_rate`]): every mode
///   decays by a known factor per step, so the estimate holds when the measured rate is the
///   slowest mode's (within 1 % in ln). A faster measured rate means a slower mode still hides under a
///   fast one (the standardised regression at lr 1e-9): no estimate.
/// - Otherwise: when the run has already decayed through [`E_FOLDINGS_SEEN`] e-foldings at
///   this rate, 1/|ln rate| < steps/8. A power law ‖g‖ ∝ k^−p (x³: p = 2, softplus: p = 1)
///   looks geometric over any short window, with 1/|ln rate| = k/p, so it never passes.
pub fn judge_steps_left(plan: &crate::plan::Plan, r: &mut Results) {
    // The slowest mode depends on the block, lr and hyperparameters, not on the start (the
    // last `dim` axes): one eigen-decomposition per such group, not per run.
    let mut slowest: std::collections::HashMap<(usize, u64), Option<f64>> = std::collections::HashMap::new();
    for i in 0..r.len() {
        if r.status[i] != Status::Slow || r.steps_left[i].is_nan() {
            continue;
        }
        let (bi, local) = plan.locate(r.run[i]).expect("result ids come from the plan");
        let block = &plan.blocks[bi];
        // (Refinement blocks of the threshold search look lr up per combination of all other
        // axes, starts included: there every run is its own group.)
        let starts: u64 = if block.lr_table.is_some() { 1 } else { block.axes[block.axes.len() - r.dim..].iter().map(|a| a.values.len() as u64).product() };
        let mode = *slowest.entry((bi, local / starts)).or_insert_with(|| slowest_mode_rate(plan, block, local));
        let rate = r.rate[i];
        let holds = match mode {
            Some(slowest) => (rate.ln() / slowest.ln() - 1.0).abs() <= 0.01,
            None => 1.0 / rate.ln().abs() < r.steps[i] as f64 / E_FOLDINGS_SEEN,
        };
        if !holds {
            r.steps_left[i] = f64::NAN;
        }
    }
}

/// See [`judge_steps_left`].
pub const E_FOLDINGS_SEEN: f64 = 8.0;

/// The per-step factor of the slowest mode of run `local` of `block`, where the step map is
/// linear (a constant Hessian: [`crate::plan::Plan::step_curvature`]) and known: for each
/// eigenvalue λ > 0 of the curvature, GD's |1 − lr·λ|, and for momentum and Nesterov the
/// largest root modulus of the mode's z² − t·z + d (heavy ball with dampening δ:
/// t = 1 + β − lr(1 − δ)λ, d = β; PyTorch's Nesterov: t = 1 + β − lr(1 + β)λ, d = β(1 − lr·λ)).
fn slowest_mode_rate(plan: &crate::plan::Plan, block: &crate::plan::Block, local: u64) -> Option<f64> {
    use crate::method::OptimizerKind;
    let ev = plan.step_curvature(block, local)?;
    let lr = block.axis_value(local, 0);
    let hyper = |name: &str| block.hyper_index(name).map(|k| block.axis_value(local, 1 + k));
    let top = ev.iter().fold(0f64, |m, v| m.max(v.abs()));
    let root_modulus = |t: f64, d: f64| {
        let disc = t * t - 4.0 * d;
        if disc >= 0.0 {
            ((t.abs() + disc.sqrt()) / 2.0).max(0.0)
        } else {
            d.abs().sqrt()
        }
    };
    let mode = |l: f64| -> Option<f64> {
        Some(match block.optimizer {
            OptimizerKind::Gd => (1.0 - lr * l).abs(),
            OptimizerKind::Momentum => {
                let (beta, damp) = (hyper("beta")?, hyper("dampening").unwrap_or(0.0));
                root_modulus(1.0 + beta - lr * (1.0 - damp) * l, beta)
            }
            OptimizerKind::Nesterov => {
                let beta = hyper("beta")?;
                root_modulus(1.0 + beta - lr * (1.0 + beta) * l, beta * (1.0 - lr * l))
            }
            _ => return None,
        })
    };
    ev.iter().filter(|&&l| l.abs() > 1e-12 * top).map(|&l| mode(l)).try_fold(0f64, |m, v| v.map(|v| m.max(v)))
}

/// Whether a converged run's final point x is no minimum: a saddle or a maximum, or no
/// critical point at all to the run's precision ([`Objective::critical_point`]), or a flat
/// stretch whose Hessian vanishes while its gradient does not.
fn not_a_minimum(obj: &Objective, x: &[f64]) -> bool {
    match obj.critical_point(x).0 {
        "saddle" | "maximum" | "not_critical" => true,
        // A Hessian of ~0 with a gradient that is not exactly 0: a plateau (a saturated
        // sigmoid's), not a point the run can be said to have converged to.
        "degenerate" => obj.grad_f64(x).iter().any(|&g| g != 0.0),
        _ => false,
    }
}

/// Relabel `slow` runs of a logistic model whose final parameters classify every row right as
/// `escaping`: the data are then linearly separable, the loss has no minimum and the run is
/// heading for ‖w‖ → ∞ ([`crate::problem::model::separates`]); it still descends, but towards
/// no point. Each run is judged on its own final point, so chunks, resumes and shards agree.
/// (A `converged` run there is no critical point either, and [`mark_stalled_points`] makes it
/// `stalled`.)
pub fn mark_separable_escapes<'a>(objective_of_run: impl Fn(u64) -> &'a Objective + Sync, r: &mut Results) {
    use rayon::prelude::*;
    if !r.run.iter().any(|&id| objective_of_run(id).model.as_ref().is_some_and(|m| m.model == crate::problem::model::ModelKind::Logistic)) {
        return;
    }
    let d = r.dim;
    let (x, status, run, left) = (&r.x, &mut r.status, &r.run, &mut r.steps_left);
    status.par_iter_mut().zip(left.par_iter_mut()).enumerate().with_min_len(1024).for_each(|(i, (s, left))| {
        if *s == Status::Slow && crate::problem::model::separates(objective_of_run(run[i]), &x[i * d..(i + 1) * d]) {
            *s = Status::Escaping;
            *left = f64::NAN;
        }
    });
}

/// Relabel `converged` runs whose final point is not a minimum as `stalled`: a saddle or a
/// maximum (the gradient vanished there), or a point where the gradient fell below the
/// tolerance without being at a critical point (a plateau such as a saturated sigmoid's, or
/// the flat approach to a degenerate point such as x³'s at 0). The Hessian is evaluated in f64
/// at each such run's final point; where it is constant (quadratics, least squares) and has
/// no negative eigenvalue, nowhere.
pub fn mark_stalled_points<'a>(objective_of_run: impl Fn(u64) -> &'a Objective + Sync, r: &mut Results) {
    use crate::problem::linalg::{point_kind, symmetric_eigenvalues};
    use rayon::prelude::*;
    let d = r.dim;
    let (x, status, run) = (&r.x, &mut r.status, &r.run);
    // Where the Hessian is constant (quadratics, least squares, linear regression) and has no
    // negative eigenvalue, no point is a saddle or maximum: one eigen-decomposition per objective.
    let mut cleared: Vec<(usize, bool)> = Vec::new();
    let addr = |o: &Objective| o as *const Objective as usize;
    let mut all_clear = true;
    for &id in run {
        let obj = objective_of_run(id);
        if cleared.iter().any(|&(p, _)| p == addr(obj)) {
            continue;
        }
        let clear = obj.constant_hessian().is_some_and(|h| !matches!(point_kind(&symmetric_eigenvalues(h)), "saddle" | "maximum"));
        all_clear &= clear;
        cleared.push((addr(obj), clear));
    }
    if all_clear {
        return;
    }
    status.par_iter_mut().enumerate().with_min_len(1024).for_each(|(i, s)| {
        if *s == Status::Converged {
            let obj = objective_of_run(run[i]);
            if !cleared.iter().any(|&(p, c)| p == addr(obj) && c) && not_a_minimum(obj, &x[i * d..(i + 1) * d]) {
                *s = Status::Stalled;
            }
        }
    });
}
