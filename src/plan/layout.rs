//! The per-run state and info layout shared by the WGSL kernel (its offsets are injected as
//! constants), the GPU readback, the CPU port and the tests: one definition.
//!
//! `state[i·stride ..]` of run i holds, in order:
//!
//! | reals | what |
//! |---|---|
//! | dim | x |
//! | slots | the method's slots, then the schedule's, then the line search's (see [`crate::method`]) |
//! | dim | window record, where runs are classified: the anchor point (`WIN`) |
//! | 1 | the anchor tolerance |
//! | dim | the previous gradient |
//! | [`SEGMENTS`] | each window segment's largest ‖g‖² (`SEG`) |
//! | 1 | the loss at the window's first point |
//! | 4 | where trainability is recorded (`TRAIN_AT`): L_0, Σv, Σ1/v, the last steps' Σv (see [`crate::outcome::Trainability`]) |
//! | 6 | the blow-up bound, the relative gradient tolerance², the last loss, the last ‖g‖², the last step's size (see [`crate::outcome`]), the step resolution step_tol·‖x‖∞ |
//!
//! `info[INFO_STRIDE·i ..]`: the [`Info`] fields, u32 each.

use super::Block;
use crate::method::{Slot, SlotInit};

/// Segments of the classification window.
pub const SEGMENTS: u32 = 8;

/// The u32s of a run's info record, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Info {
    /// The raw status (outcome::Status: running, converged, diverged, max_steps).
    Status = 0,
    /// Updates made.
    Steps,
    /// Evaluations of the loss and gradient: the initial point, every update's point and every
    /// line-search trial (a dispatch's re-evaluation of its first point is not counted).
    Evals,
    /// The window record's step of the anchor point, candidate period, returns to the anchor
    /// after it, whether the loss rose, and turns of the gradient (see outcome::WindowRecord).
    AnchorStep,
    Period,
    Returns,
    LossRose,
    Turns,
}

impl Info {
    pub const ALL: [Info; 8] = [Info::Status, Info::Steps, Info::Evals, Info::AnchorStep, Info::Period, Info::Returns, Info::LossRose, Info::Turns];
    /// The WGSL constant of the field's offset.
    pub fn wgsl_name(self) -> &'static str {
        match self {
            Info::Status => "INFO_STATUS",
            Info::Steps => "INFO_STEPS",
            Info::Evals => "INFO_EVALS",
            Info::AnchorStep => "INFO_ANCHOR_STEP",
            Info::Period => "INFO_PERIOD",
            Info::Returns => "INFO_RETURNS",
            Info::LossRose => "INFO_LOSS_ROSE",
            Info::Turns => "INFO_TURNS",
        }
    }
}

/// u32s of `info` per run.
pub const INFO_STRIDE: usize = Info::ALL.len();

/// One state slot, resolved: its WGSL name (`v0`, `b1t`…) and initial value.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotPlace {
    pub name: String,
    pub init: SlotInit,
}

/// Where each real of a run's state lies, for one optimizer block.
#[derive(Debug, Clone, PartialEq)]
pub struct StateLayout {
    pub dim: usize,
    /// The slots after x, in order: each per-coordinate slot once per coordinate.
    pub slots: Vec<SlotPlace>,
    /// Whether the window record is there (runs are classified at `steps`).
    pub windowed: bool,
    /// Whether the trainability record is there ([`crate::plan::Rules::trainability`]).
    pub trained: bool,
}

impl StateLayout {
    /// The kinds of slot of `block`'s state, in order: the method's, the schedule's, the line
    /// search's.
    pub fn kinds(block: &Block) -> Vec<Slot> {
        let method = block.optimizer.method().slots.iter().copied();
        let knobs = block.schedule.and_then(|s| s.slot());
        let search = block.linesearch.map_or(&[][..], |k| k.slots()).iter().copied();
        method.chain(knobs).chain(search).collect()
    }

    pub fn new(block: &Block, dim: usize, windowed: bool, trained: bool) -> StateLayout {
        let memory = block.memory();
        let slots = Self::kinds(block)
            .into_iter()
            .flat_map(|s: Slot| {
                let n = if s.per_coordinate { dim } else { 1 };
                s.entries(memory).into_iter().flat_map(move |k| (0..n).map(move |j| SlotPlace { name: s.entry_name(k, j), init: s.init }))
            })
            .collect();
        StateLayout { dim, slots, windowed, trained }
    }

    /// Index of slot `name` among the slots.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.name == name)
    }

    /// Reals of the window record: anchor, anchor tolerance, previous gradient, segment
    /// maxima, loss at the window's start.
    pub fn window_reals(dim: usize) -> usize {
        2 * dim + 1 + SEGMENTS as usize + 1
    }

    /// Reals per run.
    pub fn stride(&self) -> usize {
        self.train_at() + if self.trained { Self::TRAIN_REALS } else { 0 } + Self::TAIL
    }

    /// Reals of the trainability record: L_0, Σv, Σ1/v, the tail's Σv.
    pub const TRAIN_REALS: usize = 4;

    /// The trainability record (`TRAIN_AT`), after the window record.
    pub fn train_at(&self) -> usize {
        self.window_at() + if self.windowed { Self::window_reals(self.dim) } else { 0 }
    }

    /// The first slot (`state[base + dim + k]` is slot k).
    pub fn slots_at(&self) -> usize {
        self.dim
    }

    /// The window record's anchor point (`WIN`); the anchor tolerance follows it at WIN + dim,
    /// the previous gradient at WIN + dim + 1.
    pub fn window_at(&self) -> usize {
        self.dim + self.slots.len()
    }

    /// The segment maxima (`SEG`); the loss at the window's start follows at SEG + SEGMENTS.
    pub fn segments_at(&self) -> usize {
        self.window_at() + 2 * self.dim + 1
    }

    pub fn loss_start_at(&self) -> usize {
        self.segments_at() + SEGMENTS as usize
    }

    /// Reals after the window record: bound, gtol2, last loss, last ‖g‖², step, step resolution.
    const TAIL: usize = 6;

    pub fn bound_at(&self) -> usize {
        self.stride() - 6
    }
    pub fn gtol2_at(&self) -> usize {
        self.stride() - 5
    }
    pub fn last_loss_at(&self) -> usize {
        self.stride() - 4
    }
    pub fn last_gn2_at(&self) -> usize {
        self.stride() - 3
    }
    pub fn step_at(&self) -> usize {
        self.stride() - 2
    }
    pub fn step_res_at(&self) -> usize {
        self.stride() - 1
    }
}
