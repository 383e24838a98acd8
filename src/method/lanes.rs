//! What a method's CPU twin sees: the CPU backend runs [`LANES`] runs at once, one per lane, and
//! every quantity of the shader is an array over lanes ([`V`]). Loops over lanes are written
//! branch-free so that they vectorize; a held lane (just filled, or idle) keeps its values
//! where `MASKED` is set.

use super::Slot;
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
        let size = |s: &Slot| if s.per_coordinate { self.dim } else { 1 } * if s.per_memory { self.memory } else { 1 };
        slots[..k].iter().map(size).sum::<usize>() + j
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

/// The arithmetic a method's compiled update is written in (`Method::compiled`): each call
/// emits one IEEE operation on every lane of the group, the same operation the CPU twin does
/// per lane, so that the two agree bit for bit when written in the same order.
pub trait Build {
    fn constant(&mut self, c: f64) -> Val;
    fn add(&mut self, a: Val, b: Val) -> Val;
    fn sub(&mut self, a: Val, b: Val) -> Val;
    fn mul(&mut self, a: Val, b: Val) -> Val;
    fn div(&mut self, a: Val, b: Val) -> Val;
    fn sqrt(&mut self, a: Val) -> Val;
    /// Rounded toward −∞ (the twin's `floor`).
    fn floor(&mut self, a: Val) -> Val;
    /// A built-in function, as the interpreter computes it (the twin's `F::func`).
    fn func(&mut self, f: Func, a: Val) -> Val;
    /// The block's hyperparameter `q` (the CPU twin's `hyper[q]`), read where it is used.
    fn hyper(&mut self, q: usize) -> Val;
    /// Per lane `a` where `cond > 0`, else `b` (the twin's `if cond > 0 { a } else { b }`,
    /// both sides computed).
    fn select_positive(&mut self, cond: Val, a: Val, b: Val) -> Val;
    /// Per lane `a` where `cond != 0` (NaN included, as Rust's `!=`), else `b`.
    fn select_nonzero(&mut self, cond: Val, a: Val, b: Val) -> Val;
    /// Per lane `a` where `p <= q` (false with a NaN, as Rust's `<=`), else `b`.
    fn select_le(&mut self, p: Val, q: Val, a: Val, b: Val) -> Val;
    /// steps_done (the updates made before this one) as a real: the twin's
    /// `F::from_f64(steps_done as f64)`.
    fn steps(&mut self) -> Val;
}

/// One update step, as a method's compiled update sees it: values, not arrays. The compiled
/// step loop runs only steps after a run's first (`steps_done > 0`, where momentum and
/// Nesterov take g as their velocity): the first is the CPU twin's.
pub struct CompiledStep<'a> {
    pub dim: usize,
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
}

/// A method's compiled update (see `Method::compiled`).
pub type CompiledUpdate = fn(&mut dyn Build, CompiledStep<'_>);
