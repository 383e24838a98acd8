//! Line searches on the first-order methods: `linesearch = "backtracking"` or
//! `linesearch = { kind = "backtracking", c = 1e-4, shrink = 0.5, max_steps = 30 }` in an
//! `[[optimizer]]` table (each parameter may be an axis: `linesearch_c`, `linesearch_shrink`,
//! `linesearch_max_steps`). WGSL and CPU twin side by side.
//!
//! ## Backtracking (Armijo)
//! At x_k the method proposes x₊ = x_k + d as it always does (d holds the run's lr: the first
//! trial step is the run's own step) and moves its state once (momentum, Adam's moments). The
//! search then takes the first of
//!
//! x₊ (the method's point itself), x_k + s·d, x_k + s²·d, …  (s = `shrink`)
//!
//! whose loss is finite and satisfies the sufficient-decrease (Armijo) condition
//!
//! f(x_k + t·d) ≤ f(x_k) + c·t·∇f(x_k)ᵀd + ε,  ε = 16·u·|f(x_k)|
//!
//! (Armijo 1966; Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006, §3.1 and
//! Algorithm 3.1; optax.scale_by_backtracking_linesearch with increase_factor = 1 and the
//! guess reset to 1 at every step, after the method's own transform: `optax.chain(method,
//! scale_by_backtracking_linesearch(...))`). The gradient is f's own (before clipping and L2
//! weight decay). At most `max_steps` shrinks are tried per step; if none satisfies the
//! condition, the run ends `line_search_failed` at its last trial point (whose loss and
//! gradient runs.csv reports). Where d is not a descent direction (∇fᵀd ≥ 0: momentum,
//! Adam) the condition may be unsatisfiable: that is what the status says.
//!
//! ε is the rounding of the loss (16 units of roundoff u of the run precision: the
//! [`crate::plan::Rules::LOSS_ULPS`] below which the outcome rules call a loss change
//! rounding), optax's `rtol` set to what the precision resolves. Without it, a run at its
//! precision floor rejects every trial whose decrease the loss cannot show, shrinks until
//! c·t·slope rounds away, accepts a step too small to move x, and stalls short of the
//! gradient tolerance at ~25 evaluations a step; with it, a step whose change of f is rounding
//! is taken as plain GD takes it, and the run converges as GD's does.
//!
//! A trial point that is rejected is only an evaluation: the outcome rules, the window record
//! and `steps` see accepted points alone; `evals` counts every trial. The step rule of
//! `converged` measures the accepted step x_{k+1} − x_k (over lr for Newton and L-BFGS, see
//! `Method::unit_step`).
//!
//! With a line search no learning rate makes GD diverge on a function bounded below (a step
//! that raises f is shrunk until it lowers it), so `[analysis.threshold]` has no threshold to
//! find: its groups say `line_search` and the coarse grid as seen (see analysis::threshold).
//!
//! State (slots after the method's and the schedule's): `lsx{j}` = x_k, `lsd{j}` = d,
//! `ls_f0` = f(x_k), `ls_slope` = ∇f(x_k)ᵀd, `ls_t` = the trial's t (0: not searching),
//! `ls_shrinks` = shrinks so far this step.

use super::lanes::{keep, Build, Cmp, LaneBuild, Mask, Val, LANES, V};
use super::{zoom, Hyper, KnobParam, Slot, SlotInit, IND};
use crate::problem::real::Real;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineSearchKind {
    Backtracking,
    /// optax's zoom (strong Wolfe), L-BFGS's default: see [`super::zoom`].
    Zoom,
}

const C: Hyper = Hyper::fraction("c", 1e-4);
const SHRINK: Hyper = Hyper::fraction("shrink", 0.5);
const MAX_STEPS: Hyper = Hyper::count("max_steps", 30.0, 1000.0);

/// Positions of the parameters in [`LineSearchKind::params`] order.
const P_C: usize = 0;
const P_SHRINK: usize = 1;
const P_MAX_STEPS: usize = 2;

/// The slots of a line search, per coordinate first (see the module docs).
pub const SLOTS: &[Slot] = &[
    Slot::per_coordinate("lsx", SlotInit::Value(0.0)),
    Slot::per_coordinate("lsd", SlotInit::Value(0.0)),
    Slot::scalar("ls_f0", SlotInit::Value(0.0)),
    Slot::scalar("ls_slope", SlotInit::Value(0.0)),
    Slot::scalar("ls_t", SlotInit::Value(0.0)),
    Slot::scalar("ls_shrinks", SlotInit::Value(0.0)),
];

impl LineSearchKind {
    pub const ALL: [LineSearchKind; 2] = [LineSearchKind::Backtracking, LineSearchKind::Zoom];

    pub fn name(self) -> &'static str {
        match self {
            LineSearchKind::Backtracking => "backtracking",
            LineSearchKind::Zoom => "zoom",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The search's state slots (x_k and the direction first, then its scalars).
    pub fn slots(self) -> &'static [Slot] {
        match self {
            LineSearchKind::Backtracking => SLOTS,
            LineSearchKind::Zoom => &zoom::SLOTS,
        }
    }

    pub fn params(self) -> &'static [KnobParam] {
        const BACKTRACKING: [KnobParam; 3] = [
            KnobParam { hyper: C, required: false },
            KnobParam { hyper: SHRINK, required: false },
            KnobParam { hyper: MAX_STEPS, required: false },
        ];
        match self {
            LineSearchKind::Backtracking => &BACKTRACKING,
            LineSearchKind::Zoom => &zoom::PARAMS,
        }
    }
}

/// What the line search's WGSL is made of, from the kernel generator (kernel::kernel_wgsl):
/// the exit tests' expressions, so that both are written once.
pub struct WgslParts<'a> {
    pub dim: usize,
    /// Every coordinate finite (`is_finite(x0) && …`).
    pub x_finite: &'a str,
    /// The step rule's measure of the accepted step, max_j |x_j − lsx_j| (/ lr_j for the
    /// methods whose step is measured at lr = 1, `Method::unit_step`: over the run's lr), and
    /// ‖x‖∞.
    pub step_from_lsx: &'a str,
    pub x_inf: &'a str,
}

/// WGSL right after the evaluation at x: judge a trial point. A rejected one is replaced by
/// the next (and the loop goes on to evaluate it); an accepted one ends the search and goes on
/// to the exit tests like any point; `ls_failed` ends the run.
pub fn wgsl_judge(kind: LineSearchKind, w: &WgslParts) -> String {
    if kind == LineSearchKind::Zoom {
        return zoom::wgsl_judge(w);
    }
    let mut s = String::new();
    emit!(s, "{IND}if (ls_t > real(0.0)) {{");
    emit!(s, "{IND}    let ls_ok = is_finite(loss) && {} && loss <= ls_f0 + linesearch_c * ls_t * ls_slope + LS_ROUNDING * abs(ls_f0);", w.x_finite);
    emit!(s, "{IND}    if (!ls_ok && ls_shrinks < linesearch_max_steps) {{");
    emit!(s, "{IND}        ls_t = ls_t * linesearch_shrink;");
    emit!(s, "{IND}        ls_shrinks = ls_shrinks + real(1.0);");
    for j in 0..w.dim {
        emit!(s, "{IND}        x{j} = lsx{j} + ls_t * lsd{j};");
    }
    emit!(s, "{IND}        evals = evals + 1u;");
    emit!(s, "{IND}        continue;");
    emit!(s, "{IND}    }}");
    emit!(s, "{IND}    ls_failed = !ls_ok;");
    emit!(s, "{IND}    ls_t = real(0.0);");
    s += &wgsl_measure(w, &format!("{IND}    "));
    emit!(s, "{IND}}}");
    s
}

/// WGSL at an accepted point: the step rule's measure of the accepted step x_{k+1} − x_k,
/// where the update measured its own (step_res ≥ 0).
pub fn wgsl_measure(w: &WgslParts, ind: &str) -> String {
    let mut s = String::new();
    emit!(s, "{ind}if (step_res >= real(0.0)) {{");
    emit!(s, "{ind}    last_step = {};", w.step_from_lsx);
    emit!(s, "{ind}    step_res = STEP_TOL * {};", w.x_inf);
    emit!(s, "{ind}}}");
    s
}

/// WGSL of every search's start: x_k, the direction d and f₀ = f(x_k), s₀ = ∇f(x_k)ᵀd.
fn wgsl_start_line(dim: usize, direction: Option<&str>) -> String {
    let mut s = String::new();
    for j in 0..dim {
        emit!(s, "{IND}lsx{j} = xo{j};");
        match direction {
            Some(d) => emit!(s, "{IND}lsd{j} = {d}{j};"),
            None => emit!(s, "{IND}lsd{j} = x{j} - xo{j};"),
        }
    }
    let slope = (0..dim).map(|j| format!("g{j} * lsd{j}")).collect::<Vec<_>>().join(" + ");
    emit!(s, "{IND}ls_f0 = loss;");
    emit!(s, "{IND}ls_slope = {slope};");
    s
}

/// Module-scope WGSL functions the search calls.
pub fn wgsl_helpers(kind: LineSearchKind, p: crate::problem::real::Precision) -> String {
    match kind {
        LineSearchKind::Backtracking => String::new(),
        LineSearchKind::Zoom => zoom::wgsl_helpers(p),
    }
}

/// WGSL right after the method's update (x is its proposal x₊, `xo{j}` the point x_k it left):
/// start the search with x₊ as the first trial.
/// `direction`: the method's slot holding its displacement exactly (see `Method::direction`);
/// without one, x₊ − x_k.
pub fn wgsl_start(kind: LineSearchKind, dim: usize, direction: Option<&str>) -> String {
    let mut s = wgsl_start_line(dim, direction);
    if kind == LineSearchKind::Zoom {
        return s + &zoom::wgsl_start();
    }
    emit!(s, "{IND}ls_t = real(1.0);");
    emit!(s, "{IND}ls_shrinks = real(0.0);");
    s
}

/// Where the line search's slots lie among the lanes' slots (they are contiguous, in
/// [`SLOTS`] order), and its parameters among the hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuPlace {
    pub kind: LineSearchKind,
    pub first_slot: usize,
    /// The parameters' positions, in [`LineSearchKind::params`] order.
    pub at: [usize; 6],
}

impl CpuPlace {
    /// From the slot index of `lsx0` and the parameters' positions ([`LineSearchKind::params`]
    /// order).
    pub fn new(kind: LineSearchKind, first_slot: usize, at: &[usize]) -> CpuPlace {
        let mut a = [0; 6];
        a[..at.len()].copy_from_slice(at);
        CpuPlace { kind, first_slot, at: a }
    }
}

/// The lane state the CPU twins read and write.
pub struct CpuSearch<'a, F: Real> {
    pub dim: usize,
    pub regs: &'a mut [V<F>],
    pub vars: &'a [u32],
    pub grad: &'a [u32],
    pub loss: u32,
    /// The line search's slots only (from `lsx0`).
    pub slots: &'a mut [V<F>],
    /// The run's lr, and whether the step rule measures steps at lr = 1 (`Method::unit_step`).
    pub lr: &'a V<F>,
    pub unit_step: bool,
    pub hyper: &'a [V<F>],
    pub place: CpuPlace,
}

/// Slot offsets inside the line search's slots.
pub(super) fn at_lsx(j: usize) -> usize {
    j
}
pub(super) fn at_lsd(dim: usize, j: usize) -> usize {
    dim + j
}
pub(super) fn at_scalar(dim: usize, k: usize) -> usize {
    2 * dim + k
}
const F0: usize = 0;
const SLOPE: usize = 1;
const T: usize = 2;
const SHRINKS: usize = 3;

/// The lanes' verdicts and counters that the CPU twin of [`wgsl_judge`] writes.
pub struct Verdicts<'a, F: Real> {
    /// Lanes held out of this pass; a retried lane is added.
    pub hold: &'a mut [bool; LANES],
    /// The lane's point is a rejected trial replaced by the next: it skips the exit tests, the
    /// window record and the update (held), and is evaluated on the next pass.
    pub retry: &'a mut [bool; LANES],
    /// Why a lane's run ends (a StopReason; 0: it goes on; LineSearchFailed set here).
    pub stop: &'a mut [u32; LANES],
    pub evals: &'a mut [u32; LANES],
    /// The shader's `last_step`, `step_res`.
    pub last_step: &'a mut V<F>,
    pub step_res: &'a mut V<F>,
}

/// The judge of one evaluated point, as its description ([`judge`]) sees it: values, not
/// arrays (see method::lanes::Build).
pub struct Judge<'a> {
    pub dim: usize,
    /// The search's slots, in [`LineSearchKind::slots`] order (x_k, d, then its scalars).
    pub slots: &'a mut [Val],
    /// The point just evaluated; where the search tries another, that trial.
    pub x: &'a mut [Val],
    /// f's gradient and loss at x.
    pub grad: &'a [Val],
    pub loss: Val,
    /// The shader's `last_step` and `step_res`: the accepted step's measure where it is
    /// measured.
    pub last_step: &'a mut Val,
    pub step_res: &'a mut Val,
    /// The run's lr, and whether the step rule measures steps at lr = 1 (`Method::unit_step`).
    pub lr: Val,
    pub unit_step: bool,
    /// The parameters' positions among the hyperparameters ([`CpuPlace::at`]).
    pub at: [usize; 6],
    /// The run precision's step_tol, rounding allowance ([`crate::plan::Rules::loss_rounding`])
    /// and largest real (zoom's ZOOM_BIG), as f64 (each exact at the run precision).
    pub step_tol: f64,
    pub rounding: f64,
    pub big: f64,
}

/// What [`judge`] found, per lane: the trial was rejected and the next one is in x (`retry`),
/// or the search ends without sufficient decrease (`fail`: the run ends line_search_failed).
pub struct Verdict {
    pub retry: Mask,
    pub fail: Mask,
}

/// The description of [`wgsl_judge`] (compiled step loop and CPU twin): every lane is judged
/// and the lanes that are not searching keep their values.
pub fn judge(kind: LineSearchKind, b: &mut dyn Build, mut j: Judge<'_>) -> Verdict {
    if kind == LineSearchKind::Zoom {
        return zoom::judge(b, j);
    }
    let d = j.dim;
    let (c, shrink, max_steps) = (b.hyper(j.at[P_C]), b.hyper(j.at[P_SHRINK]), b.hyper(j.at[P_MAX_STEPS]));
    let zero = b.constant(0.0);
    let t = j.slots[at_scalar(d, T)];
    let searching = b.cmp(Cmp::Gt, t, zero);
    let f0 = j.slots[at_scalar(d, F0)];
    let mut ok: Vec<Mask> = vec![b.finite(j.loss)];
    ok.extend(j.x.iter().map(|&x| b.finite(x)));
    let ct = b.mul(c, t);
    let decrease = b.mul(ct, j.slots[at_scalar(d, SLOPE)]);
    let bound = b.add(f0, decrease);
    let rounding = b.constant(j.rounding);
    let f0_abs = b.abs(f0);
    let allowance = b.mul(rounding, f0_abs);
    let bound = b.add(bound, allowance);
    ok.push(b.cmp(Cmp::Le, j.loss, bound));
    let ok = b.all(&ok);
    let shrinks = j.slots[at_scalar(d, SHRINKS)];
    let can_shrink = b.cmp(Cmp::Lt, shrinks, max_steps);
    let rejected = b.not(ok);
    let rejected = b.and(searching, rejected);
    let retry = b.and(rejected, can_shrink);
    let cannot = b.not(can_shrink);
    let fail = b.and(rejected, cannot);
    let next_t = b.mul(t, shrink);
    let one = b.constant(1.0);
    let more = b.add(shrinks, one);
    for k in 0..d {
        let step = b.mul(next_t, j.slots[at_lsd(d, k)]);
        let trial = b.add(j.slots[at_lsx(k)], step);
        j.x[k] = b.select(retry, trial, j.x[k]);
    }
    j.slots[at_scalar(d, SHRINKS)] = b.select(retry, more, shrinks);
    let not_retry = b.not(retry);
    let accepted = b.and(searching, not_retry);
    let ended = b.select(accepted, zero, t);
    j.slots[at_scalar(d, T)] = b.select(retry, next_t, ended);
    measure_accepted(b, &mut j, accepted);
    Verdict { retry, fail }
}

/// The description of [`wgsl_measure`] where `accepted`: the step rule's measure of the
/// accepted step x_{k+1} − x_k (÷ lr for a unit step), where the update measured its own
/// (step_res ≥ 0).
pub(super) fn measure_accepted(b: &mut dyn Build, j: &mut Judge<'_>, accepted: Mask) {
    let zero = b.constant(0.0);
    let (mut step, mut x_inf) = (zero, zero);
    for (k, &x) in j.x.iter().enumerate() {
        let diff = b.sub(x, j.slots[at_lsx(k)]);
        let mut dk = b.abs(diff);
        if j.unit_step {
            dk = b.div(dk, j.lr);
        }
        let m = b.abs(x);
        (step, x_inf) = if k == 0 { (dk, m) } else { (b.max(step, dk), b.max(x_inf, m)) };
    }
    let measured = b.cmp(Cmp::Ge, *j.step_res, zero);
    let on = b.and(accepted, measured);
    let step_tol = b.constant(j.step_tol);
    let res = b.mul(step_tol, x_inf);
    *j.last_step = b.select(on, step, *j.last_step);
    *j.step_res = b.select(on, res, *j.step_res);
}

/// The description of [`wgsl_start`] after the method's update, for a lane that steps: x_k
/// is in the search's `slots` (`lsx`), `x` is the proposal x₊; the direction d (the method's
/// `direction`, else x₊ − x_k), f₀ = `loss` and s₀ = ∇f(x_k)ᵀd (`grad` is f's), and the
/// search's first trial.
pub fn start(kind: LineSearchKind, b: &mut dyn Build, slots: &mut [Val], x: &[Val], direction: Option<&[Val]>, grad: &[Val], loss: Val) {
    let d = x.len();
    for k in 0..d {
        slots[at_lsd(d, k)] = match direction {
            Some(dir) => dir[k],
            None => b.sub(x[k], slots[at_lsx(k)]),
        };
    }
    let slope = b.dot(d, &|k| grad[k], &|k| slots[at_lsd(d, k)]);
    if kind == LineSearchKind::Zoom {
        return zoom::start(b, &mut slots[at_scalar(d, 0)..], loss, slope);
    }
    let (zero, one) = (b.constant(0.0), b.constant(1.0));
    for (k, v) in [(F0, loss), (SLOPE, slope), (T, one), (SHRINKS, zero)] {
        slots[at_scalar(d, k)] = v;
    }
}

/// The description's values of the lanes' line search, point and gradient (a [`LaneBuild`]).
fn lane_values<F: Real>(b: &mut LaneBuild<'_, F>, s: &CpuSearch<'_, F>) -> (Vec<Val>, Vec<Val>, Vec<Val>, Val) {
    let slots = s.slots.iter().map(|v| b.val(*v)).collect();
    let x = s.vars.iter().map(|&r| b.val(s.regs[r as usize])).collect();
    let grad = s.grad.iter().map(|&r| b.val(s.regs[r as usize])).collect();
    let loss = b.val(s.regs[s.loss as usize]);
    (slots, x, grad, loss)
}

/// CPU twin of [`wgsl_judge`] for every lane not held: the description ([`judge`]) on every
/// lane.
pub fn cpu_judge<F: Real>(s: CpuSearch<'_, F>, v: Verdicts<'_, F>, step_tol: F, rounding: F) {
    let Verdicts { hold, retry, stop, evals, last_step, step_res } = v;
    let no_steps = [0; LANES];
    let mut b = LaneBuild::new(s.hyper, &no_steps, hold);
    let (mut slots, mut x, grad, loss) = lane_values(&mut b, &s);
    let (mut ls, mut sr, lr) = (b.val(*last_step), b.val(*step_res), b.val(*s.lr));
    let judged = Judge {
        dim: s.dim,
        slots: &mut slots,
        x: &mut x,
        grad: &grad,
        loss,
        last_step: &mut ls,
        step_res: &mut sr,
        lr,
        unit_step: s.unit_step,
        at: s.place.at,
        step_tol: step_tol.to_f64(),
        rounding: rounding.to_f64(),
        big: F::MAX.to_f64(),
    };
    let Verdict { retry: again, fail } = judge(s.place.kind, &mut b, judged);
    let (again, fail) = (*b.mask(again), *b.mask(fail));
    let on: [bool; LANES] = std::array::from_fn(|i| !hold[i]);
    for (&v, old) in slots.iter().zip(s.slots.iter_mut()) {
        b.store(v, old, &on);
    }
    for (&v, &r) in x.iter().zip(s.vars) {
        b.store(v, &mut s.regs[r as usize], &on);
    }
    b.store(ls, last_step, &on);
    b.store(sr, step_res, &on);
    for i in 0..LANES {
        retry[i] = on[i] && again[i];
        if retry[i] {
            evals[i] += 1;
            hold[i] = true;
        }
        if on[i] && fail[i] {
            stop[i] = super::StopReason::LineSearchFailed as u32;
        }
    }
}

/// Before the method's update: x_k into `lsx` for every lane not held.
#[inline(always)]
pub fn cpu_begin<F: Real, const MASKED: bool>(s: CpuSearch<'_, F>, hold: &[bool; LANES]) {
    for (j, &r) in s.vars.iter().enumerate() {
        let (x, lsx) = (&s.regs[r as usize], &mut s.slots[at_lsx(j)]);
        for i in 0..LANES {
            lsx[i] = keep::<_, MASKED>(hold[i], lsx[i], x[i]);
        }
    }
}

/// CPU twin of [`wgsl_start`] for every lane not held (the loss and gradient registers still
/// hold x_k's: the update evaluates nothing): the description ([`start`]) on every lane.
/// `direction`: the method's displacement lanes, where it leaves them (`Method::direction`).
pub fn cpu_start<F: Real, const MASKED: bool>(s: CpuSearch<'_, F>, hold: &[bool; LANES], direction: Option<&[V<F>]>) {
    let no_steps = [0; LANES];
    let mut b = LaneBuild::new(s.hyper, &no_steps, hold);
    let (mut slots, x, grad, loss) = lane_values(&mut b, &s);
    let direction: Option<Vec<Val>> = direction.map(|dir| dir.iter().map(|v| b.val(*v)).collect());
    start(s.place.kind, &mut b, &mut slots, &x, direction.as_deref(), &grad, loss);
    let on: [bool; LANES] = std::array::from_fn(|i| !(MASKED && hold[i]));
    for (&v, old) in slots.iter().zip(s.slots.iter_mut()) {
        b.store(v, old, &on);
    }
}
