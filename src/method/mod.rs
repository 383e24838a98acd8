//! Optimizers, one module per method: the first-order ones with PyTorch's update rules and
//! defaults, `newton`, `lbfgs` (optax's) and `cg` (argmin's), with the line searches in
//! [`linesearch`] (backtracking) and [`zoom`] (optax's zoom), run by the kernel. Each module
//! holds the method's hyperparameters (defaults, bounds), its state slots by name, its WGSL
//! update and right below it the CPU twin (same names, same order of operations, read side by
//! side), its rule with its source, and its stability bound on quadratics where one is known.
//! The knobs every method takes (gradient clipping, per-coordinate lr, weight decay) are in
//! [`knobs`], learning-rate schedules in [`schedule`].
//!
//! Adding a method: a new file with a `METHOD` and a `cpu_update`, and one line in the
//! registry below; a `compiled` update in `METHOD` (the same operations through
//! [`lanes::Build`]) puts its blocks on the compiled CPU step loop (backend::cpu::jit). A
//! method that branches per run takes its `cpu_update` from that description
//! ([`lanes::cpu_from_compiled`]), as L-BFGS, CG and Newton do: one Rust description, run on
//! the CPU's lanes and compiled.
//!
//! Both twins see the same names: `x{j}` (the coordinate), `gd{j}` (the gradient after
//! clipping and L2 weight decay, see [`knobs`]), `lr{j}` (this step's learning rate of
//! coordinate j), the method's slots (`v{j}`, `b1t`…), its hyperparameters by name, and
//! `steps_done` (updates made before this one).

/// `writeln!` into a String, which cannot fail (in scope for the modules below).
macro_rules! emit {
    ($s:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($s, $($arg)*);
    }};
}

pub mod knobs;
pub mod lanes;
pub mod linesearch;
pub mod schedule;
pub mod zoom;

pub use knobs::{CLIP_NORM, LR_SCALE, WEIGHT_DECAY};
pub use linesearch::LineSearchKind;
pub use schedule::ScheduleKind;

use crate::problem::real::Real;
use lanes::CpuStep;
use serde::Serialize;

/// The registry: every method, as `Variant => module`. The variant's lowercase name is the
/// method's name in configs and in runs.csv; the module holds the method.
macro_rules! registry {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum OptimizerKind {
            $($variant),*
        }

        impl OptimizerKind {
            /// Every method, in registry order.
            pub const ALL: [OptimizerKind; [$(stringify!($variant)),*].len()] = [$(OptimizerKind::$variant),*];

            /// The method's definition.
            pub fn method(self) -> &'static Method {
                match self {
                    $(OptimizerKind::$variant => &$module::METHOD),*
                }
            }
        }

        /// The CPU twin of the method's WGSL update, for every lane not held. Static dispatch,
        /// always inlined: it is compiled into the CPU backend's SIMD loop (with its target
        /// features), never called through a pointer.
        #[inline(always)]
        pub fn cpu_update<F: Real, const MASKED: bool>(kind: OptimizerKind, s: CpuStep<'_, F>) {
            match kind {
                $(OptimizerKind::$variant => $module::cpu_update::<F, MASKED>(s)),*
            }
        }
    };
}

registry! {
    Gd => gd,
    Momentum => momentum,
    Nesterov => nesterov,
    Adam => adam,
    Adamw => adamw,
    Rmsprop => rmsprop,
    Adagrad => adagrad,
    Newton => newton,
    Lbfgs => lbfgs,
    Cg => cg,
}

/// A hyperparameter: its name in the config and in runs.csv, PyTorch's default, allowed range.
#[derive(Debug, Clone, Copy)]
pub struct Hyper {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    /// Exclusive upper bound when `max_open`, else inclusive.
    pub max: f64,
    pub max_open: bool,
    pub min_open: bool,
    /// A switch: only 0 (off) or 1 (on).
    pub switch: bool,
    /// Only whole numbers (counts: steps, memory entries).
    pub whole: bool,
}

impl Hyper {
    /// A number in [0, 1) with this default (decay rates: β, α, momentum).
    pub const fn rate(name: &'static str, default: f64) -> Hyper {
        Hyper { name, default, min: 0.0, max: 1.0, max_open: true, min_open: false, switch: false, whole: false }
    }

    /// A number in [0, ∞) with this default.
    pub const fn non_negative(name: &'static str, default: f64) -> Hyper {
        Hyper { name, default, min: 0.0, max: f64::INFINITY, max_open: true, min_open: false, switch: false, whole: false }
    }

    /// A number in (0, ∞) with this default.
    pub const fn positive(name: &'static str, default: f64) -> Hyper {
        Hyper { name, default, min: 0.0, max: f64::INFINITY, max_open: true, min_open: true, switch: false, whole: false }
    }

    /// A number in (0, 1) with this default (line-search constants).
    pub const fn fraction(name: &'static str, default: f64) -> Hyper {
        Hyper { name, default, min: 0.0, max: 1.0, max_open: true, min_open: true, switch: false, whole: false }
    }

    /// A whole number in [1, max] with this default.
    pub const fn count(name: &'static str, default: f64, max: f64) -> Hyper {
        Hyper { name, default, min: 1.0, max, max_open: false, min_open: false, switch: false, whole: true }
    }

    pub fn allows(&self, v: f64) -> bool {
        if self.switch {
            return v == 0.0 || v == 1.0;
        }
        if self.whole && v.fract() != 0.0 {
            return false;
        }
        let lo = if self.min_open { v > self.min } else { v >= self.min };
        let hi = if self.max_open { v < self.max } else { v <= self.max };
        v.is_finite() && lo && hi
    }

    pub fn range_text(&self) -> String {
        if self.switch {
            return "{0, 1} (0 = off, 1 = on)".into();
        }
        if self.whole {
            return format!("whole numbers {} ..= {}", self.min, self.max);
        }
        let lo = if self.min_open { "(" } else { "[" };
        let hi = if self.max_open { ")" } else { "]" };
        format!("{lo}{}, {}{hi}", self.min, if self.max.is_infinite() { "inf".into() } else { self.max.to_string() })
    }
}

/// A parameter of a knob given as a table with a kind (`schedule = { kind = "step", ... }`,
/// `linesearch = { kind = "backtracking", ... }`): its key in the table; its axis and runs.csv
/// column is `<knob>_<key>`. `required` parameters have no default.
#[derive(Debug, Clone, Copy)]
pub struct KnobParam {
    pub hyper: Hyper,
    pub required: bool,
}

/// Why a step ends a run (`CpuStep::stop`, `Verdicts::stop`; 0 there is none). The outcome
/// layer names them as statuses (outcome::Status::from), the kernel injects each as the WGSL
/// constant [`StopReason::wgsl_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum StopReason {
    /// The line search found no sufficient decrease (method::linesearch).
    LineSearchFailed = 1,
    /// Newton's system was singular (method::newton).
    HessianSingular = 2,
}

impl StopReason {
    pub const ALL: [StopReason; 2] = [StopReason::LineSearchFailed, StopReason::HessianSingular];

    pub fn from_u32(v: u32) -> Option<StopReason> {
        Self::ALL.into_iter().find(|r| *r as u32 == v)
    }

    /// The WGSL constant holding the status code of this reason.
    pub fn wgsl_name(self) -> &'static str {
        match self {
            StopReason::LineSearchFailed => "STOP_LINE_SEARCH_FAILED",
            StopReason::HessianSingular => "STOP_HESSIAN_SINGULAR",
        }
    }
}

/// The ε added to denominators (Adam, AdamW, RMSprop: PyTorch's 1e-8).
pub const EPS: Hyper = Hyper::positive("eps", 1e-8);

/// The initial value of a state slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotInit {
    Value(f64),
    /// The run's value of this hyperparameter.
    Hyper(&'static str),
    /// The run's learning rate.
    Lr,
}

/// A state slot of a method, kept per run between steps: one real per coordinate
/// (`{name}{j}`) or one per run (`{name}`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub name: &'static str,
    pub per_coordinate: bool,
    /// One per memory entry k (L-BFGS's pairs): `{name}{k}_{j}` or `{name}{k}`, for k below
    /// the block's largest `memory_size` (see `plan::Block::memory`).
    pub per_memory: bool,
    pub init: SlotInit,
}

impl Slot {
    /// The memory entries the slot has in a block of `memory` entries: each k, or one (None).
    pub fn entries(&self, memory: usize) -> Vec<Option<usize>> {
        if self.per_memory { (0..memory).map(Some).collect() } else { vec![None] }
    }

    /// The WGSL and CPU name of entry k's coordinate j (j unused for a scalar slot).
    pub fn entry_name(&self, k: Option<usize>, j: usize) -> String {
        match (k, self.per_coordinate) {
            (Some(k), true) => format!("{}{k}_{j}", self.name),
            (Some(k), false) => format!("{}{k}", self.name),
            (None, true) => format!("{}{j}", self.name),
            (None, false) => self.name.to_string(),
        }
    }

    pub const fn per_coordinate(name: &'static str, init: SlotInit) -> Slot {
        Slot { name, per_coordinate: true, per_memory: false, init }
    }
    /// One per memory entry and coordinate (`{name}{k}_{j}`), or per memory entry.
    pub const fn per_memory(name: &'static str, per_coordinate: bool, init: SlotInit) -> Slot {
        Slot { name, per_coordinate, per_memory: true, init }
    }
    pub const fn scalar(name: &'static str, init: SlotInit) -> Slot {
        Slot { name, per_coordinate: false, per_memory: false, init }
    }
}

/// How weight decay enters the step (see [`knobs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightDecay {
    /// Added to the gradient: gd = g + weight_decay·x (PyTorch's L2 form).
    L2,
    /// Applied to x before the step: x ← x·(1 − lr·weight_decay) (AdamW).
    Decoupled,
}

/// The factor c of a stability bound lr < c/λ_max, from hyperparameters looked up by name.
pub type Stability = fn(&dyn Fn(&str) -> Option<f64>) -> Option<f64>;

/// One optimization method.
pub struct Method {
    pub name: &'static str,
    /// Other names accepted in configs (runs.csv always says `name`).
    pub aliases: &'static [&'static str],
    /// In axis order (the order of runs.csv's columns and of the shader's decode); the method's
    /// own update reads them by position. `weight_decay` is always the last.
    pub hypers: &'static [Hyper],
    /// State slots, in their order in the state after x.
    pub slots: &'static [Slot],
    pub weight_decay: WeightDecay,
    /// The WGSL update of a run with `dim` coordinates (and room for `memory` entries, for the
    /// methods with a memory): statements after the knobs' prologue (which defines `gd{j}` and
    /// `lr{j}`).
    pub wgsl: fn(dim: usize, memory: usize) -> String,
    /// The factor c of the stability bound lr < c/λ_max on a quadratic whose Hessian has largest
    /// eigenvalue λ_max, from the run's hyperparameters (by name); None where not known.
    pub stability: Option<Stability>,
    /// The update reads the Hessian (`h{i}_{j}`, i ≤ j; the CPU twin's `CpuStep::hess`).
    pub hessian: bool,
    /// The update can end a run (`CpuStep::stop`; in WGSL it sets `status` and breaks).
    pub may_stop: bool,
    /// The line search a block of this method has when its table names none (`linesearch =
    /// "none"` turns it off).
    pub default_linesearch: Option<LineSearchKind>,
    /// The per-coordinate slot where the update leaves its displacement d exactly (x₊ = x + d):
    /// the line search's direction, rather than x₊ − x, whose rounding in f32 is a few % of a
    /// small step and which a search that grows η (the zoom) would amplify.
    pub direction: Option<&'static str>,
    /// Whether the step rule of `converged` measures the method's step at lr = 1, ‖x₊ − x‖∞/lr
    /// (the run's lr, before lr_scale and schedules): for the methods whose lr damps a step
    /// scaled by curvature (Newton's, L-BFGS's quasi-Newton step). With lr ≪ 1 their damped
    /// step can fall below x's precision far from any minimum (L-BFGS whose curvature pairs
    /// know only a stiff direction: γ ≈ 1/λ_max), which says the run is stuck, not converged.
    pub unit_step: bool,
    /// This method's defaults for parameters of its line search, where they differ from the
    /// search's own (CG: the zoom's curvature 0.1, Nocedal & Wright's value for CG, §5.2).
    pub linesearch_defaults: &'static [(&'static str, f64)],
    /// Whether the update of each coordinate reads only that coordinate's own values (its x, g,
    /// slots and lr) and the run's scalars: then the coordinates can be spread over the threads
    /// of a workgroup (plan::workgroup). Not for the methods that take dot products or solve
    /// with the whole vector (CG, L-BFGS, Newton).
    pub coordinatewise: bool,
    /// The update written for the compiled CPU kernel (backend::cpu::jit's step loop), in the
    /// CPU twin's order of operations; None where the method is not compiled (its blocks run
    /// the twin, and the manifest says so).
    pub compiled: Option<lanes::CompiledUpdate>,
}

fn no_update(_dim: usize, _memory: usize) -> String {
    String::new()
}

/// What the first-order methods share (`..FIRST_ORDER` in their definitions): no Hessian, no
/// stop of their own, no line search unless the table asks for one, their step measured as
/// taken. The fields before `hessian` are each method's own.
pub const FIRST_ORDER: Method = Method {
    name: "",
    aliases: &[],
    hypers: &[],
    slots: &[],
    weight_decay: WeightDecay::L2,
    wgsl: no_update,
    stability: None,
    hessian: false,
    may_stop: false,
    default_linesearch: None,
    direction: None,
    unit_step: false,
    linesearch_defaults: &[],
    coordinatewise: true,
    compiled: None,
};

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        self.method().name
    }

    /// The method of this name or alias (`sgd` is `gd`, as in PyTorch's torch.optim.SGD).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s || k.method().aliases.contains(&s))
    }

    /// Hyperparameters in the order they appear as axes and in the shader's decode.
    pub fn hypers(self) -> &'static [Hyper] {
        self.method().hypers
    }

    /// Whether weight decay is decoupled from the gradient (AdamW) rather than added to it.
    pub fn decoupled_weight_decay(self) -> bool {
        self.method().weight_decay == WeightDecay::Decoupled
    }
}

/// The WGSL expression a(0) * b(0) + a(1) * b(1) + … over `dim` coordinates (added left to
/// right, as its twin `lanes::Build::dot` adds).
pub(crate) fn wgsl_dot(dim: usize, a: impl Fn(usize) -> String, b: impl Fn(usize) -> String) -> String {
    (0..dim).map(|j| format!("{} * {}", a(j), b(j))).collect::<Vec<_>>().join(" + ")
}

/// Indentation of the update's statements in the shader's step loop.
pub(crate) const IND: &str = "        ";
