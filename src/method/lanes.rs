//! What a method's CPU twin sees: the CPU backend runs [`LANES`] runs at once, one per lane, and
//! every quantity of the shader is an array over lanes ([`V`]). Loops over lanes are written
//! branch-free so that they vectorize; a held lane (just filled, or idle) keeps its values
//! where `MASKED` is set.

use super::{Slot, StopReason};
use crate::problem::real::{Func, Real};

pub const LANES: usize = 64;
/// One quantity, per lane.
pub type V<F> = [F; LANES];

/// One update step of every lane, as the method's CPU twin sees it.
pub struct CpuStep<'a, F: Real> {
    pub dim: usize,
    /// Memory entries the slots hold room for (`plan::Block::memory`).
    pub memory: usize,
    /// The objective's registers; coordinate j is `regs[vars[j]]` (the shader's `x{j}`).
    pub regs: &'a mut [V<F>],
    pub vars: &'a [u32],
    /// The method's slots, in [`crate::plan::layout::StateLayout`] order (then the knobs').
    pub slots: &'a mut [V<F>],
    /// The gradient after clipping and L2 weight decay (the shader's `gd{j}`).
    pub gd: &'a [V<F>],
    /// This step's learning rate of each coordinate (the shader's `lr{j}`).
    pub lrj: &'a [V<F>],
    /// Whether the coordinates' learning rates differ (lr_scale is set).
    pub lr_scaled: bool,
    /// The block's hyperparameters: the method's own first, in its `hypers` order.
    pub hyper: &'a [V<F>],
    pub steps_done: &'a [u32; LANES],
    pub hold: &'a [bool; LANES],
    /// The Hessian's upper triangle (registers; `Objective::hessian_upper` order), for the
    /// methods that read it.
    pub hess: &'a [u32],
    /// Why the update ends the lane's run (a StopReason; 0: it does not), leaving x as it was.
    pub stop: &'a mut [u32; LANES],
}

impl<F: Real> CpuStep<'_, F> {
    /// Index in `slots` of the method's slot `k` (of `slots`), coordinate `j` (0 for a slot
    /// per run): slots follow each other in order, a per-coordinate one taking `dim` places.
    #[inline(always)]
    pub fn slot(&self, slots: &[Slot], k: usize, j: usize) -> usize {
        slot_reals(&slots[..k], self.dim, self.memory) + j
    }
}

/// `new` where the lane steps, `old` where it is held (with `MASKED`).
#[inline(always)]
pub fn keep<F: Copy, const MASKED: bool>(hold: bool, old: F, new: F) -> F {
    if MASKED && hold {
        old
    } else {
        new
    }
}

/// A quantity of a compiled kernel (backend::cpu::jit): one value per lane of a group of lanes,
/// held in vector registers.
#[derive(Debug, Clone, Copy)]
pub struct Val(pub u32);

/// A condition of a compiled kernel: per lane, true or false.
#[derive(Debug, Clone, Copy)]
pub struct Mask(pub u32);

/// A comparison of two values, as Rust's operators: false where either is NaN, except `Ne`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// The arithmetic a method's compiled update is written in (`Method::compiled`), and the line
/// searches' judge and start (method::linesearch): each call emits one IEEE operation on every
/// lane of the group, the same operation the CPU twin does per lane, so that the two agree bit
/// for bit when written in the same order. [`LaneBuild`] runs a description on the CPU's lanes,
/// which is the CPU twin of the methods that branch per run (L-BFGS, CG, Newton, the searches).
pub trait Build {
    fn constant(&mut self, c: f64) -> Val;
    fn add(&mut self, a: Val, b: Val) -> Val;
    fn sub(&mut self, a: Val, b: Val) -> Val;
    fn mul(&mut self, a: Val, b: Val) -> Val;
    fn div(&mut self, a: Val, b: Val) -> Val;
    fn neg(&mut self, a: Val) -> Val;
    fn sqrt(&mut self, a: Val) -> Val;
    fn abs(&mut self, a: Val) -> Val;
    /// The larger of a and b, and b where a is NaN: `if a < b { b } else { a }`, then b where
    /// a is NaN (Rust's `max` but for the sign of equal zeros, where this says a).
    fn max(&mut self, a: Val, b: Val) -> Val;
    /// The smaller, likewise: `if b < a { b } else { a }`, then b where a is NaN.
    fn min(&mut self, a: Val, b: Val) -> Val;
    /// Rounded toward −∞ (the twin's `floor`).
    fn floor(&mut self, a: Val) -> Val;
    /// A built-in function, as the interpreter computes it (the twin's `F::func`).
    fn func(&mut self, f: Func, a: Val) -> Val;
    /// The block's hyperparameter `q` (the CPU twin's `hyper[q]`), read where it is used.
    fn hyper(&mut self, q: usize) -> Val;
    /// steps_done (the updates made before this one) as a real: the twin's
    /// `F::from_f64(steps_done as f64)`.
    fn steps(&mut self) -> Val;
    fn cmp(&mut self, c: Cmp, a: Val, b: Val) -> Mask;
    /// Where a is finite.
    fn finite(&mut self, a: Val) -> Mask;
    fn and(&mut self, a: Mask, b: Mask) -> Mask;
    fn or(&mut self, a: Mask, b: Mask) -> Mask;
    fn not(&mut self, a: Mask) -> Mask;
    /// Per lane `a` where `m`, else `b` (both computed).
    fn select(&mut self, m: Mask, a: Val, b: Val) -> Val;
    /// At most `times` rounds of `body`, which updates the values `carried` and says where a
    /// lane is done: a lane keeps the values of the round where it is done, the others those
    /// of the last round (the twin's `for _ in 0..times { …; if done { break } }` per lane).
    /// Values made inside `body` are not valid after it: only `carried` goes on.
    fn repeat(&mut self, times: u32, carried: &mut [Val], body: &mut dyn FnMut(&mut dyn Build, &mut [Val]) -> Mask);
    /// `body`'s values where a lane of `m` holds, computed only then (a branch around work
    /// that only those lanes need); `otherwise` (as many values) where none does. Only the
    /// lanes of `m` may use the results: in the others they are either.
    fn if_any(&mut self, m: Mask, otherwise: &[Val], body: &mut dyn FnMut(&mut dyn Build) -> Vec<Val>) -> Vec<Val>;

    /// Per lane `a` where `cond > 0`, else `b` (the twin's `if cond > 0 { a } else { b }`).
    fn select_positive(&mut self, cond: Val, a: Val, b: Val) -> Val {
        let zero = self.constant(0.0);
        let m = self.cmp(Cmp::Gt, cond, zero);
        self.select(m, a, b)
    }
    /// Per lane `a` where `cond != 0` (NaN included, as Rust's `!=`), else `b`.
    fn select_nonzero(&mut self, cond: Val, a: Val, b: Val) -> Val {
        let zero = self.constant(0.0);
        let m = self.cmp(Cmp::Ne, cond, zero);
        self.select(m, a, b)
    }
    /// Per lane `a` where `p <= q` (false with a NaN, as Rust's `<=`), else `b`.
    fn select_le(&mut self, p: Val, q: Val, a: Val, b: Val) -> Val {
        let m = self.cmp(Cmp::Le, p, q);
        self.select(m, a, b)
    }
    /// a(0)·b(0) + a(1)·b(1) + … over `n` terms, added left to right (the twins' `cpu_dot`).
    fn dot(&mut self, n: usize, a: &dyn Fn(usize) -> Val, b: &dyn Fn(usize) -> Val) -> Val {
        let mut sum = self.mul(a(0), b(0));
        for j in 1..n {
            let t = self.mul(a(j), b(j));
            sum = self.add(sum, t);
        }
        sum
    }
    /// Where every mask of `ms` holds (`ms` not empty).
    fn all(&mut self, ms: &[Mask]) -> Mask {
        ms[1..].iter().fold(ms[0], |acc, &m| self.and(acc, m))
    }
}

/// One update step, as a method's compiled update sees it: values, not arrays. The compiled
/// step loop runs only steps after a run's first (`steps_done > 0`, where momentum and
/// Nesterov take g as their velocity): the first is the CPU twin's.
pub struct CompiledStep<'a> {
    pub dim: usize,
    /// Memory entries the slots hold room for (`plan::Block::memory`).
    pub memory: usize,
    /// x, written by the update.
    pub x: &'a mut [Val],
    /// The method's slots, in `StateLayout` order, written by the update.
    pub slots: &'a mut [Val],
    /// The gradient after clipping and L2 weight decay (`CpuStep::gd`).
    pub gd: &'a [Val],
    /// This step's learning rate of each coordinate (`CpuStep::lrj`).
    pub lrj: &'a [Val],
    /// Whether the coordinates' learning rates differ (lr_scale is set).
    pub lr_scaled: bool,
    /// The Hessian's upper triangle (`Objective::hessian_upper` order), for the methods that
    /// read it.
    pub hess: &'a [Val],
    /// Set by an update that can end runs (`Method::may_stop`): the lanes it ends, and why
    /// (their x and slots must be left as they were).
    pub stop: &'a mut Option<(StopReason, Mask)>,
}

/// A method's compiled update (see `Method::compiled`).
pub type CompiledUpdate = fn(&mut dyn Build, CompiledStep<'_>);

/// A description ([`Build`]) run on the CPU backend's lanes: every value an array over lanes,
/// every operation a loop over them, the same IEEE operation the compiled kernel emits.
pub struct LaneBuild<'a, F: Real> {
    vals: Vec<V<F>>,
    masks: Vec<[bool; LANES]>,
    hyper: &'a [V<F>],
    steps: &'a [u32; LANES],
    /// Lanes that `repeat` counts as done from the start (held lanes: nothing of theirs is kept).
    hold: [bool; LANES],
}

/// The values and masks of a description, kept per thread between runs of one: a run makes
/// hundreds of 64-lane values (256 KiB at f64, past malloc's threshold for mapping fresh
/// pages), and the Rust passes run one or three per pass.
type Arena<F> = (Vec<V<F>>, Vec<[bool; LANES]>);

thread_local! {
    static ARENAS: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<'a, F: Real> LaneBuild<'a, F> {
    pub fn new(hyper: &'a [V<F>], steps: &'a [u32; LANES], hold: &[bool; LANES]) -> Self {
        let kept = ARENAS.with(|arenas| {
            let mut arenas = arenas.borrow_mut();
            let at = arenas.iter().position(|a| a.is::<Arena<F>>())?;
            arenas.swap_remove(at).downcast::<Arena<F>>().ok()
        });
        let (vals, masks) = kept.map_or_else(|| (Vec::with_capacity(512), Vec::with_capacity(128)), |a| *a);
        LaneBuild { vals, masks, hyper, steps, hold: *hold }
    }

    /// A value from the lanes' arrays.
    pub fn val(&mut self, v: V<F>) -> Val {
        self.vals.push(v);
        Val(self.vals.len() as u32 - 1)
    }

    pub fn get(&self, v: Val) -> &V<F> {
        &self.vals[v.0 as usize]
    }

    pub fn mask(&self, m: Mask) -> &[bool; LANES] {
        &self.masks[m.0 as usize]
    }

    /// Value `v` into the lane array `old`, in the lanes where `on`.
    pub fn store(&self, v: Val, old: &mut V<F>, on: &[bool; LANES]) {
        let new = self.get(v);
        for i in 0..LANES {
            old[i] = if on[i] { new[i] } else { old[i] };
        }
    }

    fn lanes(&mut self, f: impl Fn(usize) -> F) -> Val {
        let v = std::array::from_fn(f);
        self.val(v)
    }

    fn mask_of(&mut self, f: impl Fn(usize) -> bool) -> Mask {
        self.masks.push(std::array::from_fn(f));
        Mask(self.masks.len() as u32 - 1)
    }

    /// A new value, lane by lane from one or two earlier ones (no copy of the operands, no
    /// bounds check in the lane loop, which vectorizes: a description runs hundreds of these
    /// per step).
    fn unary(&mut self, a: Val, f: impl Fn(F) -> F) -> Val {
        let a = &self.vals[a.0 as usize];
        let out: V<F> = std::array::from_fn(|i| f(a[i]));
        self.val(out)
    }

    fn binary(&mut self, a: Val, b: Val, f: impl Fn(F, F) -> F) -> Val {
        let (a, b) = (&self.vals[a.0 as usize], &self.vals[b.0 as usize]);
        let out: V<F> = std::array::from_fn(|i| f(a[i], b[i]));
        self.val(out)
    }

    fn compare(&mut self, a: Val, b: Val, f: impl Fn(F, F) -> bool) -> Mask {
        let (a, b) = (&self.vals[a.0 as usize], &self.vals[b.0 as usize]);
        let m = std::array::from_fn(|i| f(a[i], b[i]));
        self.masks.push(m);
        Mask(self.masks.len() as u32 - 1)
    }
}

#[inline(always)]
#[allow(clippy::eq_op)]
fn is_nan<F: Real>(a: F) -> bool {
    a != a
}

impl<F: Real> Drop for LaneBuild<'_, F> {
    fn drop(&mut self) {
        let (mut vals, mut masks) = (std::mem::take(&mut self.vals), std::mem::take(&mut self.masks));
        vals.clear();
        masks.clear();
        ARENAS.with(|arenas| arenas.borrow_mut().push(Box::new((vals, masks)) as Box<dyn std::any::Any>));
    }
}

/// [`Build::max`]'s rule on two reals.
#[inline(always)]
pub fn max_rule<F: Real>(a: F, b: F) -> F {
    let larger = if a < b { b } else { a };
    if is_nan(a) { b } else { larger }
}

/// [`Build::min`]'s rule on two reals.
#[inline(always)]
pub fn min_rule<F: Real>(a: F, b: F) -> F {
    let smaller = if b < a { b } else { a };
    if is_nan(a) { b } else { smaller }
}

impl<F: Real> Build for LaneBuild<'_, F> {
    fn constant(&mut self, c: f64) -> Val {
        let c = F::from_f64(c);
        self.lanes(|_| c)
    }
    fn add(&mut self, a: Val, b: Val) -> Val {
        self.binary(a, b, |a, b| a + b)
    }
    fn sub(&mut self, a: Val, b: Val) -> Val {
        self.binary(a, b, |a, b| a - b)
    }
    fn mul(&mut self, a: Val, b: Val) -> Val {
        self.binary(a, b, |a, b| a * b)
    }
    fn div(&mut self, a: Val, b: Val) -> Val {
        self.binary(a, b, |a, b| a / b)
    }
    fn neg(&mut self, a: Val) -> Val {
        self.unary(a, |a| -a)
    }
    fn sqrt(&mut self, a: Val) -> Val {
        self.unary(a, |a| a.sqrt())
    }
    fn abs(&mut self, a: Val) -> Val {
        self.unary(a, |a| a.abs())
    }
    fn max(&mut self, a: Val, b: Val) -> Val {
        self.binary(a, b, max_rule)
    }
    fn min(&mut self, a: Val, b: Val) -> Val {
        self.binary(a, b, min_rule)
    }
    fn floor(&mut self, a: Val) -> Val {
        self.unary(a, |a| a.floor())
    }
    fn func(&mut self, f: Func, a: Val) -> Val {
        self.unary(a, |a| F::func(f, a))
    }
    fn hyper(&mut self, q: usize) -> Val {
        self.val(self.hyper[q])
    }
    fn steps(&mut self) -> Val {
        let steps = self.steps;
        self.lanes(|i| F::from_f64(steps[i] as f64))
    }
    fn cmp(&mut self, c: Cmp, a: Val, b: Val) -> Mask {
        // (one loop per comparison, not a match in every lane)
        match c {
            Cmp::Lt => self.compare(a, b, |x, y| x < y),
            Cmp::Le => self.compare(a, b, |x, y| x <= y),
            Cmp::Gt => self.compare(a, b, |x, y| x > y),
            Cmp::Ge => self.compare(a, b, |x, y| x >= y),
            Cmp::Eq => self.compare(a, b, |x, y| x == y),
            Cmp::Ne => self.compare(a, b, |x, y| x != y),
        }
    }
    fn finite(&mut self, a: Val) -> Mask {
        let a = a.0 as usize;
        let m = std::array::from_fn(|i| self.vals[a][i].is_finite());
        self.masks.push(m);
        Mask(self.masks.len() as u32 - 1)
    }
    fn and(&mut self, a: Mask, b: Mask) -> Mask {
        let (a, b) = (*self.mask(a), *self.mask(b));
        self.mask_of(|i| a[i] & b[i])
    }
    fn or(&mut self, a: Mask, b: Mask) -> Mask {
        let (a, b) = (*self.mask(a), *self.mask(b));
        self.mask_of(|i| a[i] | b[i])
    }
    fn not(&mut self, a: Mask) -> Mask {
        let a = *self.mask(a);
        self.mask_of(|i| !a[i])
    }
    fn select(&mut self, m: Mask, a: Val, b: Val) -> Val {
        let (m, a, b) = (&self.masks[m.0 as usize], &self.vals[a.0 as usize], &self.vals[b.0 as usize]);
        // (both read, then chosen: a blend, where choosing which lane to read does not vectorize)
        let out: V<F> = std::array::from_fn(|i| std::hint::select_unpredictable(m[i], a[i], b[i]));
        self.val(out)
    }
    fn if_any(&mut self, m: Mask, otherwise: &[Val], body: &mut dyn FnMut(&mut dyn Build) -> Vec<Val>) -> Vec<Val> {
        if self.mask(m).iter().any(|&on| on) {
            body(self)
        } else {
            otherwise.to_vec()
        }
    }
    fn repeat(&mut self, times: u32, carried: &mut [Val], body: &mut dyn FnMut(&mut dyn Build, &mut [Val]) -> Mask) {
        // Each round's values are dropped after it (a Newton factorisation per round would
        // otherwise pile up 64 rounds of them); the carried ones are copied out first.
        let (vals_mark, masks_mark) = (self.vals.len(), self.masks.len());
        let mut state: Vec<V<F>> = carried.iter().map(|&c| *self.get(c)).collect();
        let mut done = self.hold;
        for _ in 0..times {
            if done.iter().all(|&d| d) {
                break;
            }
            let mut now: Vec<Val> = state.iter().map(|&s| self.val(s)).collect();
            let finished = body(self, &mut now);
            let finished = *self.mask(finished);
            for (s, n) in state.iter_mut().zip(&now) {
                let n = self.vals[n.0 as usize];
                for i in 0..LANES {
                    s[i] = if done[i] { s[i] } else { n[i] };
                }
            }
            for i in 0..LANES {
                done[i] |= finished[i];
            }
            self.vals.truncate(vals_mark);
            self.masks.truncate(masks_mark);
        }
        for (c, s) in carried.iter_mut().zip(state) {
            *c = self.val(s);
        }
    }
}

/// Reals the slots `slots` take in a run of `dim` coordinates and `memory` entries.
pub fn slot_reals(slots: &[Slot], dim: usize, memory: usize) -> usize {
    slots.iter().map(|sl| if sl.per_coordinate { dim } else { 1 } * if sl.per_memory { memory } else { 1 }).sum()
}

/// The CPU twin of a method whose compiled update is its description (L-BFGS, CG, Newton:
/// they branch per run, so a lane-by-lane twin would not vectorize either): `update` run on
/// every lane by [`LaneBuild`], x and the method's `slots` written back where the lane steps,
/// and the lanes it stops marked (their x and slots as they were).
#[inline(always)]
pub fn cpu_from_compiled<F: Real, const MASKED: bool>(update: CompiledUpdate, slots: &[Slot], s: CpuStep<'_, F>) {
    let n_slots = slot_reals(slots, s.dim, s.memory);
    let steps = *s.steps_done;
    let mut b = LaneBuild::new(s.hyper, &steps, &if MASKED { *s.hold } else { [false; LANES] });
    let mut x: Vec<Val> = s.vars.iter().map(|&r| b.val(s.regs[r as usize])).collect();
    let mut sl: Vec<Val> = s.slots[..n_slots].iter().map(|v| b.val(*v)).collect();
    let gd: Vec<Val> = s.gd.iter().map(|v| b.val(*v)).collect();
    let lrj: Vec<Val> = s.lrj.iter().map(|v| b.val(*v)).collect();
    let hess: Vec<Val> = s.hess.iter().map(|&r| b.val(s.regs[r as usize])).collect();
    let mut stop = None;
    update(&mut b, CompiledStep { dim: s.dim, memory: s.memory, x: &mut x, slots: &mut sl, gd: &gd, lrj: &lrj, lr_scaled: s.lr_scaled, hess: &hess, stop: &mut stop });
    let on: [bool; LANES] = std::array::from_fn(|i| !(MASKED && s.hold[i]));
    for (&r, &v) in s.vars.iter().zip(&x) {
        b.store(v, &mut s.regs[r as usize], &on);
    }
    for (old, &v) in s.slots.iter_mut().zip(&sl) {
        b.store(v, old, &on);
    }
    if let Some((reason, m)) = stop {
        let m = b.mask(m);
        for i in 0..LANES {
            if m[i] && on[i] {
                s.stop[i] = reason as u32;
            }
        }
    }
}
