//! The compiled CPU kernel (issue 13): code generated at run time with Cranelift, in two parts.
//!
//! - The objective: each instruction list of a [`Tape`] becomes one function that evaluates it
//!   over every lane of the interpreter's register file (`Jit::run`), [`VECTORS`] independent
//!   128-bit vectors interleaved, intermediate values in registers (the interpreter stores and
//!   reloads every one) but those that live long (`Tape::long_lived`). A long objective
//!   ([`LONG_OBJECTIVE`]) is compiled one vector at a time, so that its compile time stays
//!   about linear in its length.
//! - The step loops ([`StepLoop`]): for a group of lanes, evaluate, judge a line search's trial
//!   (method::linesearch's description: a rejected trial takes the next one, in its lane
//!   only), test every outcome, apply the knobs, the schedule and the method's compiled update
//!   (`Method::compiled`), start the next search, measure the step, and in the window pool's
//!   loop keep the window record (its cycle search too: returns to the anchor, candidate
//!   periods), again and again, until a lane of the group has something to settle (a failed
//!   search and an update that ends its run included), or reaches the window's first point or
//!   a segment's end (`Jit::step_loop`). The state lives in two scratch copies and is worked
//!   one vector at a time (see `compile_loop`). The sweep's Rust code then settles, parks and
//!   refills exactly as with the interpreter (backend::cpu::sweep).
//!
//! Vectors are f32x4 or f64x2: Cranelift's x64 backend has no wider ones.
//!
//! Bit for bit the interpreter's results: every operation is the same IEEE operation in the
//! same order (products and sums stay separate: Cranelift contracts nothing into an FMA), `max`
//! and `min` are Rust's (the non-NaN operand wins), the built-in functions are
//! problem::elementary's description of the precision as f64x2 or f32x4 vector code (the
//! interpreter runs it on scalars), and `Pow` calls the interpreter's own scalar code lane by
//! lane ([`call_pow`]).
//!
//! Per-run inputs (lr, hyperparameters, the bound) are read from memory at each use, and so
//! are the objective's constants in the instruction lists: Cranelift folds a load into the
//! arithmetic where the loaded value has one use (and nothing a shared value feeds, since it
//! would rematerialize it), and nothing spills (measured in the issue's prototype: faster than
//! `opt_level = speed`, which hoisted them into registers and spilled). The step loop works
//! one vector at a time and holds its constants in registers instead (see `compile_loop`).

use super::tape::{Instr, Op, Tape};
use crate::method::lanes::{Build, Cmp, CompiledStep, Mask, Val, LANES};
use crate::method::linesearch::{self, CpuPlace, Judge};
use crate::method::{schedule, OptimizerKind, ScheduleKind, WeightDecay};
use crate::problem::elementary::{self, Arith as ElementaryArith, Cmp as ElementaryCmp, Machine};
use crate::problem::expr::Phase;
use crate::problem::real::Func;
use crate::problem::real::Real;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, AbiParam, FuncRef, InstBuilder, MemFlagsData, StackSlot, StackSlotData, StackSlotKind, Type, Value};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::{HashMap, HashSet};

/// Independent vectors per pass of a lane loop: 4 × 128 bits = 16 f32 lanes (8 f64); a step
/// loop's group of lanes is as many, but where its body is long (see [`StepLoop::vectors`]).
pub const VECTORS: usize = 4;
const VECTOR_BYTES: usize = 16;

/// The most constants a step loop holds in registers (see `Cx::hoist`), and the longest
/// objective (`Tape::operations`) whose loop holds any: the others are loaded at each use.
/// Every constant held is live across the whole loop, and regalloc2's time grows faster than
/// the code with such ranges (a sum of 400 `sin(i·x + j·y)·k` holding its hundreds of
/// constants took 40 s to compile).
const HOISTED: usize = 16;

/// A long objective (`Tape::operations` above this): its step loop holds no constants in
/// registers and works one vector per group, and its lists one vector per pass. Such a body
/// has independent work enough within a vector, and each copy of it adds to the compile
/// time, which grows faster than the code (a sum of 1600 `sin(i·x + j·y)·k`: 12 s with four
/// vectors, 3 s with one).
pub const LONG_OBJECTIVE: usize = 1024;

/// The most reals of a method's state per run that a step holds as values; a larger state
/// stays in memory and is loaded where it is read (see `compile_loop`).
pub const LAZY_SLOTS: usize = 64;

/// Past this many reals of method state per run (L-BFGS on more than 10 coordinates), the
/// code is register-allocated in one pass (Cranelift's `single_pass`) rather than by
/// backtracking, whose time grows about as the square of such an update (L-BFGS on a network
/// of 121 weights: 5.2 s, of 241: 22 s; in one pass 0.19 s and 0.47 s, whole runs). Such a
/// step is bound by its memory traffic either way.
pub const SINGLE_PASS_SLOTS: usize = 256;

/// One compiled instruction list: `f(regs, pool)` evaluates it on every lane of `regs`, the
/// interpreter's register file (register r's lanes at `r·LANES`), with `pool` the splatted
/// scalar constants of the list's instructions.
struct List {
    f: unsafe extern "C" fn(*mut u8, *const u8),
    pool: Vec<u8>,
    empty: bool,
}

/// The compiled step loop: `f(lanes, pool, offset, budget)` runs the group of lanes at byte
/// `offset` of every lane array of `lanes` and returns the updates it made (see
/// [`Jit::step_loop`]).
struct Loop {
    f: unsafe extern "C" fn(*const LoopLanes, *const u8, i64, i64) -> i64,
    pool: Vec<u8>,
}

/// What the step loop compiles in besides the tape: the block's method, knobs, schedule, line
/// search, data table, trainability record and rules. Blocks of mini-batches (each lane draws
/// its own rows) run the loop in Rust.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLoop {
    pub dim: usize,
    pub method: OptimizerKind,
    /// The state's slots (the method's, then the schedule's `lr_now`, then the line search's).
    pub slots: usize,
    /// The method's own slots, first among them.
    pub method_slots: usize,
    /// Memory entries the method's slots hold room for (`plan::Block::memory`).
    pub memory: usize,
    /// Each coordinate's `lr_scale_<var>` position among the hyperparameters, where the
    /// block sets lr_scale.
    pub lr_scale: Option<Vec<usize>>,
    /// The learning-rate schedule and its parameters' positions (as `Knobs::schedule`, the
    /// second repeating the first for a one-parameter schedule), and the slot of its
    /// `lr_now` where it keeps one.
    pub schedule: Option<(ScheduleKind, [usize; 2], Option<usize>)>,
    pub unit_step: bool,
    /// `clip_norm`'s position among the hyperparameters, where it is set.
    pub clip_norm: Option<usize>,
    /// `weight_decay`'s position and form, where it is not the single value 0.
    pub weight_decay: Option<(usize, WeightDecay)>,
    /// The line search, where the block has one: where its slots and parameters are, the
    /// method's slot holding its displacement (`Method::direction`), and the rounding allowance
    /// of its tests (rounded to the run precision here).
    pub linesearch: Option<(CpuPlace, Option<usize>, f64)>,
    /// The objective's data table, where it has one: its rows and columns (the values are
    /// `LoopLanes::rows`). Every step evaluates the point's list, the body on each row in
    /// order with each mean's running sum, the means and the list after them.
    pub rows: Option<(usize, usize)>,
    /// Mini-batches over the data table, where the block takes them: the most rows a batch
    /// holds, and the steps ahead whose batches each call is handed (`LoopLanes::batch_rows`).
    pub batches: Option<Batches>,
    /// The trainability record (outcome::Trainability), where the block keeps it: `steps` and
    /// the record's cap and tail length.
    pub trainability: Option<(u32, f64, u32)>,
    /// grad_tol_abs² and step_tol, as the kernel has them (rounded to the run precision here).
    pub grad_tol_abs2: f64,
    pub step_tol: f64,
    /// Where the block has an outcome window: a second loop is compiled for the window pool,
    /// with the window record (see backend::cpu::sweep's `record_window_lanes`).
    pub window: Option<WindowLoop>,
    /// The objective's vector operations per evaluation (`Tape::operations`).
    pub operations: usize,
}

/// The mini-batches a step loop is handed (see `LoopLanes::batch_rows`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batches {
    /// The most rows of a batch (the block's largest batch_size; a shuffle's at most the rows).
    pub most: usize,
    /// Steps ahead whose batches a call is handed: a lane's run stops there until the next.
    pub ahead: usize,
}

impl Batches {
    /// Room for about 1 MiB of row offsets per pool of lanes, 4 to 64 steps ahead.
    pub fn new(most: usize) -> Batches {
        Batches { most, ahead: (4096 / most.max(1)).clamp(4, 64) }
    }
}

impl StepLoop {
    /// Vectors per group of lanes: [`VECTORS`], but one where the body is long (a line
    /// search, a loop over a data table's rows, a method that takes dot products over the
    /// whole vector: L-BFGS, CG, Newton, or a long objective). Such a body has independent
    /// work enough within a vector; four copies of it took 4× the compile time (L-BFGS with
    /// the zoom: 47–68 ms, against 50 ms allowed), and its runs' frequent events (trials,
    /// short runs) stop a smaller group less often.
    pub fn vectors(&self) -> usize {
        if self.linesearch.is_some() || self.rows.is_some() || !self.method.method().coordinatewise || self.operations > LONG_OBJECTIVE {
            1
        } else {
            VECTORS
        }
    }
}

/// The window record's rules the window loop compiles in: the cycle search's (see
/// backend::cpu::sweep's `window_event`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowLoop {
    /// Steps without a return before the anchor moves on (`Rules::max_period`).
    pub max_period: u32,
    /// The anchor's tolerance per unit of ‖x‖∞ (rounded to the run precision here).
    pub cycle_tol: f64,
}

/// The lane arrays the step loop reads and writes (backend::cpu::sweep's `Lanes`), each at its
/// first lane: quantity q of an array of them (a register, a slot, a coordinate's lr, a
/// hyperparameter) at `q·LANES` reals.
#[repr(C)]
pub struct LoopLanes {
    pub regs: *mut u8,
    pub slots: *mut u8,
    pub lrj: *const u8,
    pub hyper: *const u8,
    pub lr: *const u8,
    /// min(bound, largest real) per lane: |loss| ≤ it iff the loss is finite and within the
    /// blow-up bound.
    pub ceiling: *const u8,
    pub gtol2: *const u8,
    pub gn2: *mut u8,
    pub last_step: *mut u8,
    pub step_res: *mut u8,
    /// Room for two copies of a group's state ([`scratch_bytes`]).
    pub scratch: *mut u8,
    /// steps_done per lane as a real, on entry (for the updates that read it).
    pub steps: *const u8,
    /// With a line search: per lane, the evaluations made here that were rejected trials (no
    /// step), as a real; 0 on entry.
    pub retried: *mut u8,
    /// Per lane, as an integer as wide as a real: all ones where the lane holds a run, 0 where
    /// it is idle. An idle lane is stepped with the others, but has no event, and whatever its
    /// state becomes is overwritten when a run is put into it.
    pub active: *const u8,
    /// With a line search: per lane, as a real, the step at which its run has an event (the
    /// window in the main pool, `steps` in the window pool). Its loop counts evaluations, which
    /// outnumber the steps by the trials: the budget bounds them, this the steps.
    pub until: *const u8,
    /// The objective's data table at the run precision, row-major (`StepLoop::rows`).
    pub rows: *const u8,
    /// With mini-batches (`StepLoop::batches`): for each lane of the pool, each of the
    /// `ahead` steps from its steps_done on entry and each slot up to `most`, the byte offset
    /// in `rows` of the slot's row (u32; the slots past the batch point at row 0); the batch's
    /// size per lane and step as a real; and all ones where the lane's run is noisy (the
    /// gradient rule of `converged` is off).
    pub batch_rows: *const u8,
    pub batch_size: *const u8,
    pub noisy: *const u8,
    /// The trainability record (`StepLoop::trainability`): the loss at the run's first point,
    /// and the sums of v, 1/v and the last steps' v.
    pub train_loss0: *const u8,
    pub train_sum: *mut u8,
    pub train_inv: *mut u8,
    pub train_tail: *mut u8,
    /// The window record (window loop only): the anchor per coordinate, its tolerance, the
    /// previous gradient per coordinate, the segment's largest ‖g‖², the previous loss, the
    /// turn count and loss-rose flag as integers as wide as a real (`turns`, then
    /// `loss_rose`), and the cycle search's whole numbers as reals ([`cycle`]).
    pub anchor: *mut u8,
    pub anchor_tol: *mut u8,
    pub gprev: *mut u8,
    pub gcur: *mut u8,
    pub last_loss: *mut u8,
    pub counts: *mut u8,
    pub cycle: *mut u8,
}

/// Quantities of [`LoopLanes::cycle`], whole numbers as reals: the anchor's step, the
/// candidate period (0: searching), the returns to the anchor, and (read only) the step from
/// which the Rust record takes over: 0 before the window's first point, else the next
/// segment's end. Below 2²⁴ they are exact in f32, and the f32 loop stops before 2²⁴ steps.
pub mod cycle {
    pub const ANCHOR_STEP: usize = 0;
    pub const PERIOD: usize = 1;
    pub const RETURNS: usize = 2;
    pub const EXIT_AT: usize = 3;
    pub const COUNT: usize = 4;
}

/// Field positions of [`LoopLanes`], in pointers.
mod field {
    pub const REGS: usize = 0;
    pub const SLOTS: usize = 1;
    pub const LRJ: usize = 2;
    pub const HYPER: usize = 3;
    pub const LR: usize = 4;
    pub const CEILING: usize = 5;
    pub const GTOL2: usize = 6;
    pub const GN2: usize = 7;
    pub const LAST_STEP: usize = 8;
    pub const STEP_RES: usize = 9;
    pub const SCRATCH: usize = 10;
    pub const STEPS: usize = 11;
    pub const RETRIED: usize = 12;
    pub const ACTIVE: usize = 13;
    pub const UNTIL: usize = 14;
    pub const ROWS: usize = 15;
    pub const BATCH_ROWS: usize = 16;
    pub const BATCH_SIZE: usize = 17;
    pub const NOISY: usize = 18;
    pub const TRAIN_LOSS0: usize = 19;
    pub const TRAIN_SUM: usize = 20;
    pub const TRAIN_INV: usize = 21;
    pub const TRAIN_TAIL: usize = 22;
    /// The fields before this one are every loop's, the rest the window loop's.
    pub const WINDOW: usize = 23;
    pub const ANCHOR: usize = 23;
    pub const ANCHOR_TOL: usize = 24;
    pub const GPREV: usize = 25;
    pub const GCUR: usize = 26;
    pub const LAST_LOSS: usize = 27;
    pub const COUNTS: usize = 28;
    pub const CYCLE: usize = 29;
    pub const COUNT: usize = 30;
}

/// A tape compiled: its three instruction lists (one per [`Phase`]: the point's, the per-row
/// body's and the one after the means), and the step loop where the block has one.
pub struct Jit {
    lists: Option<[List; 3]>,
    step: Option<Loop>,
    /// The step loop of the window pool, with the window record.
    window: Option<Loop>,
    /// Lanes per group of the step loop.
    group: usize,
    /// Owns the code the functions point to (never freed: a sweep's kernels live until it
    /// ends, and a few kilobytes per block are not worth the unsafe `free_memory`).
    _module: JITModule,
}

const PHASES: [Phase; 3] = [Phase::Point, Phase::Row, Phase::Reduced];

// SAFETY: the compiled functions are immutable code that reads the pool and writes only the
// lane arrays it is handed; the module is never touched after compilation.
unsafe impl Send for Jit {}
unsafe impl Sync for Jit {}

/// Why a tape could not be compiled (the sweep then runs the interpreter and says so).
#[derive(Debug, Clone)]
pub struct Unsupported(pub String);

impl Jit {
    /// Compile `tape` for the precision `F` (f32 or f64) on this machine: its instruction lists
    /// where `lists`, and the step loop where `step` says what it runs.
    pub fn new<F: Real>(tape: &Tape, lists: bool, step: Option<&StepLoop>) -> Result<Jit, Unsupported> {
        let size = std::mem::size_of::<F>();
        let vector = match size {
            4 => types::F32X4,
            8 => types::F64X2,
            _ => return Err(Unsupported(format!("no vector type for {size}-byte reals"))),
        };
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, k: &str, v: &str| flags.set(k, v).map_err(|e| Unsupported(format!("cranelift setting {k}: {e}")));
        set(&mut flags, "opt_level", "none")?;
        if step.is_some_and(|spec| spec.method_slots > SINGLE_PASS_SLOTS) {
            set(&mut flags, "regalloc_algorithm", "single_pass")?;
        }
        set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
        let isa = cranelift_native::builder()
            .map_err(|e| Unsupported(format!("this machine: {e}")))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| Unsupported(format!("this machine: {e}")))?;
        let mut builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        builder.symbol("gdsweep_pow", call_pow::<F> as *const u8);
        let mut module = JITModule::new(builder);

        let phase_lists = PHASES.map(|phase| tape.list(phase));
        let long_lived = tape.long_lived();
        let mut compiled = Vec::with_capacity(3);
        if lists {
            // Registers read outside each list: the kernel's roots, the means' per-row values,
            // and every input of the other lists.
            let read_outside: HashSet<u32> = std::iter::once(tape.loss).chain(tape.grad.iter().copied()).chain(tape.hess.iter().copied()).chain(tape.means.iter().map(|m| m.1)).collect();
            for (li, list) in phase_lists.iter().enumerate() {
                let mut outside = read_outside.clone();
                for (lj, other) in phase_lists.iter().enumerate() {
                    if lj != li {
                        outside.extend(other.iter().flat_map(|ins| ins.op.inputs()));
                    }
                }
                compiled.push(compile_list::<F>(&mut module, list, &outside, &long_lived, tape.operations(), vector, li)?);
            }
        }
        let step_id = step.map(|spec| compile_loop::<F>(&mut module, tape, &long_lived, spec, vector, false)).transpose()?;
        let window_id = step.filter(|spec| spec.window.is_some()).map(|spec| compile_loop::<F>(&mut module, tape, &long_lived, spec, vector, true)).transpose()?;
        module.finalize_definitions().map_err(|e| Unsupported(format!("finalizing: {e}")))?;
        let lists = if lists {
            let mut made = compiled.into_iter().zip(phase_lists).map(|((id, pool), list)| {
                let code = module.get_finalized_function(id);
                // SAFETY: `code` was compiled from the signature (pointer, pointer) -> ().
                List { f: unsafe { std::mem::transmute::<*const u8, unsafe extern "C" fn(*mut u8, *const u8)>(code) }, pool, empty: list.is_empty() }
            });
            Some([(); 3].map(|_| made.next().expect("three lists")))
        } else {
            None
        };
        let made = |(id, pool): (FuncId, Vec<u8>)| {
            let code = module.get_finalized_function(id);
            // SAFETY: `code` was compiled from the signature (pointer, pointer, i64, i64) -> i64.
            Loop { f: unsafe { std::mem::transmute::<*const u8, unsafe extern "C" fn(*const LoopLanes, *const u8, i64, i64) -> i64>(code) }, pool }
        };
        let (step_loop, window) = (step_id.map(made), window_id.map(made));
        let group = step.map_or(VECTORS, StepLoop::vectors) * VECTOR_BYTES / size;
        Ok(Jit { lists, step: step_loop, window, group, _module: module })
    }

    /// Whether the instruction lists are compiled (else `run` must not be called).
    pub fn has_lists(&self) -> bool {
        self.lists.is_some()
    }

    /// Whether the step loop is compiled (else `step_loop` must not be called).
    pub fn has_step_loop(&self) -> bool {
        self.step.is_some()
    }

    /// Whether the window pool's step loop is compiled (`step_loop` with `window`).
    pub fn has_window_loop(&self) -> bool {
        self.window.is_some()
    }

    /// Lanes per group of the step loop: `LANES` is a multiple of it.
    pub fn group(&self) -> usize {
        self.group
    }

    /// The tape's instructions of `phase` on every lane of `regs` (the interpreter's
    /// `exec(tape.list(phase))`).
    pub fn run<F: Real>(&self, phase: Phase, regs: &mut [[F; LANES]]) {
        let lists = self.lists.as_ref().expect("the lists are compiled");
        let list = &lists[PHASES.iter().position(|&p| p == phase).expect("every phase")];
        if list.empty {
            return;
        }
        // SAFETY: the list reads and writes only registers of the tape it was compiled from, all
        // below `tape.n_regs`, which `regs` holds (Lanes::new sizes it so); the pool is its own.
        unsafe { (list.f)(regs.as_mut_ptr() as *mut u8, list.pool.as_ptr()) }
    }

    /// The step loop on the group of lanes starting at lane `first`: evaluate the point (the
    /// tape's point list, ‖g‖²); stop if any lane of the group diverged, converged or made
    /// `budget` updates here (in the window pool, with `window`: or reached the window's
    /// first point or a segment's end, `cycle::EXIT_AT`); else record the point in the window
    /// (with `window`: the every-step part and the cycle search), update (knobs, schedule,
    /// method, step measure) and repeat. Leaves
    /// each lane as the interpreter's `eval` would after the same updates (x, slots, loss,
    /// gradient, gn2, last_step, step_res) and returns the updates made: the caller adds them
    /// to the lanes' steps and evaluations.
    ///
    /// # Safety
    /// `lanes` points to the lane arrays of a kernel of the tape and block this was compiled
    /// for (every register, slot, coordinate and hyperparameter of them), of reals of the
    /// size compiled for; `first` is a multiple of [`Jit::group`] below `LANES`.
    pub unsafe fn step_loop<F: Real>(&self, lanes: &LoopLanes, first: usize, budget: u32, window: bool) -> u32 {
        let step = if window { self.window.as_ref() } else { self.step.as_ref() }.expect("the step loop is compiled");
        let offset = (first * std::mem::size_of::<F>()) as i64;
        // SAFETY: the caller's contract; the pool is the loop's own.
        unsafe { (step.f)(lanes, step.pool.as_ptr(), offset, budget as i64) as u32 }
    }
}

/// `Pow` on one vector of lanes in place (`a` holds the bases, `b` the exponents): the
/// interpreter's `powf`, lane by lane.
extern "C" fn call_pow<F: Real>(a: *mut F, b: *const F) {
    let n = VECTOR_BYTES / std::mem::size_of::<F>();
    // SAFETY: the compiled code passes two stack slots of one vector each.
    let (a, b) = unsafe { (std::slice::from_raw_parts_mut(a, n), std::slice::from_raw_parts(b, n)) };
    for (x, &e) in a.iter_mut().zip(b) {
        *x = x.powf(e);
    }
}

/// The splatted scalar constants of a function, each distinct one once: values (keyed by
/// their f64 bits) and bit patterns (masks, keyed by their bits).
struct Pool<F: Real> {
    index: HashMap<(bool, u64), usize>,
    reals: Vec<F>,
}

impl<F: Real> Pool<F> {
    fn new() -> Self {
        Pool { index: HashMap::new(), reals: Vec::new() }
    }

    /// Byte offset of the vector of constant `c` (at the run precision).
    fn at(&mut self, c: f64) -> i32 {
        let per_vector = VECTOR_BYTES / std::mem::size_of::<F>();
        let v = F::from_f64(c);
        let reals = &mut self.reals;
        let at = *self.index.entry((false, v.to_f64().to_bits())).or_insert_with(|| {
            reals.extend(std::iter::repeat_n(v, per_vector));
            reals.len() / per_vector - 1
        });
        (at * VECTOR_BYTES) as i32
    }

    /// Byte offset of the vector of the real whose bits are `bits` (of its size).
    fn bits(&mut self, bits: u64) -> i32 {
        let size = std::mem::size_of::<F>();
        let v: F = bytemuck::pod_read_unaligned(&bits.to_le_bytes()[..size]);
        let per_vector = VECTOR_BYTES / size;
        let reals = &mut self.reals;
        let at = *self.index.entry((true, bits)).or_insert_with(|| {
            reals.extend(std::iter::repeat_n(v, per_vector));
            reals.len() / per_vector - 1
        });
        (at * VECTOR_BYTES) as i32
    }

    fn bytes(&self) -> Vec<u8> {
        bytemuck::cast_slice(&self.reals).to_vec()
    }
}

/// An operand of a one-operation instruction: a register, or a constant of the pool.
#[derive(Clone, Copy)]
enum Src {
    R(u32),
    K(f64),
}

#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// The imported scalar callback of a function and the stack slot it passes it, where its code
/// needs them: `Pow` with a non-integer exponent.
struct Callouts {
    pow: Option<FuncRef>,
    scratch: Option<StackSlot>,
}

/// Declare the callback `list` needs, in the function `b` builds.
fn callouts(module: &mut JITModule, b: &mut FunctionBuilder, list: &[Instr]) -> Result<Callouts, Unsupported> {
    let err = |e: &dyn std::fmt::Display| Unsupported(format!("compiling: {e}"));
    let ptr = module.target_config().pointer_type();
    if !list.iter().any(|i| matches!(i.op, Op::Pow(..))) {
        return Ok(Callouts { pow: None, scratch: None });
    }
    let mut sig = module.make_signature();
    sig.params.extend([AbiParam::new(ptr), AbiParam::new(ptr)]);
    let id = module.declare_function("gdsweep_pow", Linkage::Import, &sig).map_err(|e| err(&e))?;
    let pow = Some(module.declare_func_in_func(id, b.func));
    let scratch = Some(b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 2 * VECTOR_BYTES as u32, 4)));
    Ok(Callouts { pow, scratch })
}

/// Code generation for one function: the builder, its constant pool and callbacks.
struct Cx<'a, 'f, F: Real> {
    b: &'a mut FunctionBuilder<'f>,
    pool: Pool<F>,
    pool_ptr: Value,
    vector: Type,
    ptr: Type,
    calls: Callouts,
    /// Where constants are loaded once, before this instruction (the step loop's entry
    /// jump), and held as values (by pool offset); else each use loads its own.
    hoist: Option<(cranelift_codegen::ir::Inst, HashMap<i32, Value>)>,
}

/// Byte offset of quantity `q`'s vector `v` in a lane array (see [`LoopLanes`]).
fn lane_at<F: Real>(q: usize, v: usize) -> i32 {
    (q * LANES * std::mem::size_of::<F>() + v * VECTOR_BYTES) as i32
}

/// A loop that sums over a data table's rows or a batch's slots (see `Cx::sum_loop`).
struct SumLoop {
    block: cranelift_codegen::ir::Block,
    /// The row or slot, from 0.
    counter: Value,
    /// Each mean's running sum, from 0.
    sums: Vec<Value>,
    /// The block after the loop, and the sums there.
    after: cranelift_codegen::ir::Block,
    totals: Vec<Value>,
}

impl<F: Real> Cx<'_, '_, F> {
    fn mem() -> MemFlagsData {
        MemFlagsData::trusted()
    }

    /// Enter a loop over a counter with `means` running sums, all from 0; the builder is left
    /// at the top of its body.
    fn sum_loop(&mut self, means: usize) -> SumLoop {
        let (block, after) = (self.b.create_block(), self.b.create_block());
        let counter = self.b.append_block_param(block, types::I64);
        let sums: Vec<Value> = (0..means).map(|_| self.b.append_block_param(block, self.vector)).collect();
        let totals: Vec<Value> = (0..means).map(|_| self.b.append_block_param(after, self.vector)).collect();
        let first = self.b.ins().iconst(types::I64, 0);
        let zero = self.constant(0.0);
        let enter: Vec<cranelift_codegen::ir::BlockArg> = std::iter::once(first.into()).chain((0..means).map(|_| zero.into())).collect();
        self.b.ins().jump(block, &enter);
        self.b.switch_to_block(block);
        SumLoop { block, counter, sums, after, totals }
    }

    /// Built-in function `f` on a vector: sqrt and |x| as IEEE operations, sign by
    /// comparisons, the others by problem::elementary's description of the precision, inline.
    fn func(&mut self, f: Func, a: Value) -> Value {
        match f {
            Func::Sqrt => self.b.ins().sqrt(a),
            Func::Abs => self.abs(a),
            Func::Sign => {
                let (zero, one, minus_one) = (self.constant(0.0), self.constant(1.0), self.constant(-1.0));
                let negative = self.b.ins().fcmp(FloatCC::LessThan, a, zero);
                let s = self.select(negative, minus_one, zero);
                let positive = self.b.ins().fcmp(FloatCC::GreaterThan, a, zero);
                self.select(positive, one, s)
            }
            Func::Sigmoid => elementary::sigmoid(self, a, |cx, v| elementary::exp(cx, v)),
            Func::Softplus => elementary::softplus(self, a, |cx, v| elementary::exp(cx, v), |cx, v| elementary::log(cx, v)),
            _ => elementary::wide(self, f, a).expect("an elementary function"),
        }
    }

    fn constant(&mut self, c: f64) -> Value {
        let at = self.pool.at(c);
        self.pooled(at)
    }

    /// The pool's vector at byte `at`: loaded here, or once before the loop (see `hoist`).
    fn pooled(&mut self, at: i32) -> Value {
        let (vector, pool_ptr) = (self.vector, self.pool_ptr);
        match &mut self.hoist {
            Some((before, held)) if held.contains_key(&at) || held.len() < HOISTED => *held.entry(at).or_insert_with(|| {
                use cranelift_codegen::cursor::{Cursor, FuncCursor};
                FuncCursor::new(self.b.func).at_inst(*before).ins().load(vector, Self::mem(), pool_ptr, at)
            }),
            _ => self.b.ins().load(vector, Self::mem(), pool_ptr, at),
        }
    }

    /// |x|: x with its sign bit cleared by a mask from the pool (Cranelift's `fabs` builds
    /// the mask anew each time, in three instructions).
    fn abs(&mut self, x: Value) -> Value {
        let bits = if std::mem::size_of::<F>() == 4 { 0x7fff_ffff } else { 0x7fff_ffff_ffff_ffff };
        let at = self.pool.bits(bits);
        let mask = self.pooled(at);
        // (the mask second: Cranelift folds a load into `and` only as its second operand)
        self.b.ins().band(x, mask)
    }

    /// steps_done of vector `v`'s lanes as reals: on entry (the lane array `entry`) plus the
    /// evaluations `made` since, less the rejected trials among them (`retried`, with a line
    /// search). Exact while below 2²⁴ in f32 (the caller's budget keeps it there), 2⁵³ in f64.
    fn steps(&mut self, entry: Value, made: Value, v: usize, retried: Option<Value>) -> Value {
        let at_entry = self.load(entry, 0, v);
        let made = self.b.ins().fcvt_from_sint(self.vector.lane_type(), made);
        let made = self.b.ins().splat(self.vector, made);
        let steps = self.b.ins().fadd(at_entry, made);
        match retried {
            Some(r) => self.b.ins().fsub(steps, r),
            None => steps,
        }
    }

    /// The type of a comparison's result on this function's vectors: a lane mask.
    fn mask_type(&self) -> Type {
        if std::mem::size_of::<F>() == 4 {
            types::I32X4
        } else {
            types::I64X2
        }
    }

    fn load(&mut self, base: Value, q: usize, v: usize) -> Value {
        self.b.ins().load(self.vector, Self::mem(), base, lane_at::<F>(q, v))
    }

    fn store(&mut self, value: Value, base: Value, q: usize, v: usize) {
        self.b.ins().store(Self::mem(), value, base, lane_at::<F>(q, v));
    }

    fn arith(&mut self, op: Arith, x: Value, y: Value) -> Value {
        match op {
            Arith::Add => self.b.ins().fadd(x, y),
            Arith::Sub => self.b.ins().fsub(x, y),
            Arith::Mul => self.b.ins().fmul(x, y),
            Arith::Div => self.b.ins().fdiv(x, y),
        }
    }

    /// Lanes where `mask` (an fcmp's) is set from `x`, the others from `y`.
    fn select(&mut self, mask: Value, x: Value, y: Value) -> Value {
        let mask = self.b.ins().bitcast(self.vector, MemFlagsData::new(), mask);
        self.b.ins().bitselect(mask, x, y)
    }

    /// Rust's `a.max(b)`: the larger, or the operand that is not NaN.
    fn max_num(&mut self, a: Value, b: Value) -> Value {
        let less = self.b.ins().fcmp(FloatCC::LessThan, a, b);
        let larger = self.select(less, b, a);
        let a_nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
        self.select(a_nan, b, larger)
    }

    /// Rust's `a.min(b)`: the smaller, or the operand that is not NaN.
    fn min_num(&mut self, a: Value, b: Value) -> Value {
        let less = self.b.ins().fcmp(FloatCC::LessThan, b, a);
        let smaller = self.select(less, b, a);
        let a_nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
        self.select(a_nan, b, smaller)
    }

    /// One tape instruction on vector `v` of the lanes: its operands from `values`, else loaded
    /// from the register file at `regs`.
    fn instr(&mut self, ins: &Instr, v: usize, values: &HashMap<u32, Value>, regs: Value) -> Value {
        let get = |cx: &mut Self, r: u32| match values.get(&r) {
            Some(&val) => val,
            None => cx.load(regs, r as usize, v),
        };
        // The one-operation instructions: an IEEE operation on two operands, each a
        // register or a constant.
        let simple = match ins.op {
            Op::Add(a, c) => Some((Arith::Add, Src::R(a), Src::R(c))),
            Op::Sub(a, c) => Some((Arith::Sub, Src::R(a), Src::R(c))),
            Op::Mul(a, c) => Some((Arith::Mul, Src::R(a), Src::R(c))),
            Op::Div(a, c) => Some((Arith::Div, Src::R(a), Src::R(c))),
            // (constants first where the operation commutes: Cranelift folds a load into the
            // instruction only as its first operand; a − c is a + (−c) exactly, in IEEE)
            Op::AddC(a, c) => Some((Arith::Add, Src::K(c), Src::R(a))),
            Op::SubC(a, c) => Some((Arith::Add, Src::K(-c), Src::R(a))),
            Op::CSub(c, a) => Some((Arith::Sub, Src::K(c), Src::R(a))),
            Op::MulC(a, c) => Some((Arith::Mul, Src::K(c), Src::R(a))),
            Op::DivC(a, c) => Some((Arith::Div, Src::R(a), Src::K(c))),
            Op::CDiv(c, a) => Some((Arith::Div, Src::K(c), Src::R(a))),
            _ => None,
        };
        if let Some((op, x, y)) = simple {
            let fetch = |cx: &mut Self, s: Src| match s {
                Src::R(r) => get(cx, r),
                Src::K(c) => cx.constant(c),
            };
            let (x, y) = (fetch(self, x), fetch(self, y));
            return self.arith(op, x, y);
        }
        match ins.op {
            Op::Neg(a) => {
                let a = get(self, a);
                self.b.ins().fneg(a)
            }
            Op::Lin2(a, ka, c, kc) => {
                let (a, ka) = (get(self, a), self.constant(ka));
                let p = self.b.ins().fmul(ka, a);
                let (c, kc) = (get(self, c), self.constant(kc));
                let q = self.b.ins().fmul(kc, c);
                self.b.ins().fadd(p, q)
            }
            Op::Lin2C(a, ka, c, kc, d) => {
                let (a, ka) = (get(self, a), self.constant(ka));
                let p = self.b.ins().fmul(ka, a);
                let (c, kc) = (get(self, c), self.constant(kc));
                let q = self.b.ins().fmul(kc, c);
                let s = self.b.ins().fadd(p, q);
                let d = self.constant(d);
                self.b.ins().fadd(s, d)
            }
            Op::MulCAdd(a, ka, c) => {
                let (a, ka) = (get(self, a), self.constant(ka));
                let p = self.b.ins().fmul(ka, a);
                let c = get(self, c);
                self.b.ins().fadd(p, c)
            }
            Op::MulAdd2(a, c, d, e) => {
                let (a, c) = (get(self, a), get(self, c));
                let p = self.b.ins().fmul(a, c);
                let (d, e) = (get(self, d), get(self, e));
                let q = self.b.ins().fmul(d, e);
                self.b.ins().fadd(p, q)
            }
            Op::Pow(a, e) => {
                let (a, e) = (get(self, a), get(self, e));
                let slot = self.calls.scratch.expect("a scratch slot where the list calls out");
                let ptr = self.ptr;
                self.b.ins().stack_store(ptr, a, slot, 0);
                self.b.ins().stack_store(ptr, e, slot, VECTOR_BYTES as i32);
                let pa = self.b.ins().stack_addr(ptr, slot, 0);
                let pe = self.b.ins().stack_addr(ptr, slot, VECTOR_BYTES as i32);
                self.b.ins().call(self.calls.pow.expect("gdsweep_pow declared"), &[pa, pe]);
                self.b.ins().stack_load(ptr, self.vector, slot, 0)
            }
            Op::Func(f, a) => {
                let a = get(self, a);
                self.func(f, a)
            }
            Op::Add(..) | Op::Sub(..) | Op::Mul(..) | Op::Div(..) | Op::AddC(..) | Op::SubC(..) | Op::CSub(..) | Op::MulC(..) | Op::DivC(..) | Op::CDiv(..) => unreachable!("emitted above"),
        }
    }
}

/// problem::elementary's machine on f64x2 or f32x4 vectors. Its constants are loaded where
/// they are used (a polynomial's fold into its arithmetic), never held across the step loop:
/// there are too many for the registers.
impl<F: Real> ElementaryArith for Cx<'_, '_, F> {
    type V = Value;
    type M = Value;
    fn c(&mut self, v: f64) -> Value {
        let at = self.pool.at(v);
        self.b.ins().load(self.vector, Self::mem(), self.pool_ptr, at)
    }
    fn add(&mut self, a: Value, b: Value) -> Value {
        self.arith(Arith::Add, a, b)
    }
    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.arith(Arith::Sub, a, b)
    }
    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.arith(Arith::Mul, a, b)
    }
    fn div(&mut self, a: Value, b: Value) -> Value {
        self.arith(Arith::Div, a, b)
    }
    fn neg(&mut self, a: Value) -> Value {
        self.b.ins().fneg(a)
    }
    fn abs(&mut self, a: Value) -> Value {
        Cx::abs(self, a)
    }
    fn max(&mut self, a: Value, b: Value) -> Value {
        self.max_num(a, b)
    }
    fn cmp(&mut self, cmp: ElementaryCmp, a: Value, b: Value) -> Value {
        let cc = match cmp {
            ElementaryCmp::Lt => FloatCC::LessThan,
            ElementaryCmp::Gt => FloatCC::GreaterThan,
            ElementaryCmp::Eq => FloatCC::Equal,
        };
        self.b.ins().fcmp(cc, a, b)
    }
    fn or(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    fn select(&mut self, m: Value, a: Value, b: Value) -> Value {
        Cx::select(self, m, a, b)
    }
}

impl<F: Real> Machine for Cx<'_, '_, F> {
    fn consts(&self) -> &'static elementary::Consts {
        if std::mem::size_of::<F>() == 4 {
            &elementary::F32
        } else {
            &elementary::F64
        }
    }
    fn round(&mut self, a: Value) -> Value {
        self.b.ins().nearest(a)
    }
    fn floor(&mut self, a: Value) -> Value {
        self.b.ins().floor(a)
    }
    /// As the scalar machine: the bits of k + 2⁵² + 1023 (f32: 2²³ + 127) shifted up to the
    /// exponent.
    fn pow2(&mut self, k: Value) -> Value {
        let b = Bits::of::<F>();
        let magic = self.c(b.magic);
        let biased = self.b.ins().fadd(k, magic);
        let bits = self.b.ins().bitcast(b.int, MemFlagsData::new(), biased);
        let bits = self.b.ins().ishl_imm_u(bits, b.mantissa_bits);
        self.b.ins().bitcast(self.vector, MemFlagsData::new(), bits)
    }
    /// As the scalar machine: subnormals scaled by 2⁵⁴ (f32: 2²⁴), then the mantissa's bits
    /// with 1.0's exponent, and the exponent's bits as the low bits of 2⁵² (2²³) minus the
    /// magic number.
    fn split(&mut self, x: Value) -> (Value, Value) {
        let b = Bits::of::<F>();
        let bits_of = |cx: &mut Self, bits: u64| {
            let at = cx.pool.bits(bits);
            cx.b.ins().load(b.int, Self::mem(), cx.pool_ptr, at)
        };
        let as_ty = |cx: &mut Self, ty: Type, v: Value| cx.b.ins().bitcast(ty, MemFlagsData::new(), v);
        let smallest = self.c(b.smallest_normal);
        let tiny = self.cmp(ElementaryCmp::Lt, x, smallest);
        let scale = self.c(b.subnormal_scale);
        let scaled = self.mul(x, scale);
        let xs = ElementaryArith::select(self, tiny, scaled, x);
        let bits = as_ty(self, b.int, xs);
        let mantissa = bits_of(self, b.mantissa);
        let one = bits_of(self, b.one);
        let m = self.b.ins().band(bits, mantissa);
        let m = self.b.ins().bor(m, one);
        let m = as_ty(self, self.vector, m);
        let exponent_base = bits_of(self, b.exponent_base);
        let e = self.b.ins().ushr_imm_u(bits, b.mantissa_bits);
        let e = self.b.ins().bor(e, exponent_base);
        let e = as_ty(self, self.vector, e);
        let magic = self.c(b.magic);
        let e = self.sub(e, magic);
        let (shift, zero) = (self.c(b.subnormal_shift), self.c(0.0));
        let shift = ElementaryArith::select(self, tiny, shift, zero);
        (m, self.sub(e, shift))
    }
}

/// The bit-level constants of `Machine::pow2` and `Machine::split` at a precision (those of
/// problem::elementary), and its integer vector type.
struct Bits {
    int: Type,
    mantissa_bits: i64,
    magic: f64,
    smallest_normal: f64,
    subnormal_scale: f64,
    subnormal_shift: f64,
    mantissa: u64,
    one: u64,
    exponent_base: u64,
}

impl Bits {
    fn of<F: Real>() -> Bits {
        if std::mem::size_of::<F>() == 4 {
            Bits {
                int: types::I32X4,
                mantissa_bits: 23,
                magic: elementary::POW2_MAGIC_F32,
                smallest_normal: elementary::SMALLEST_NORMAL_F32,
                subnormal_scale: elementary::SUBNORMAL_SCALE_F32,
                subnormal_shift: elementary::SUBNORMAL_SHIFT_F32,
                mantissa: elementary::MANTISSA_BITS_F32 as u64,
                one: elementary::ONE_BITS_F32 as u64,
                exponent_base: elementary::TWO23_BITS_F32 as u64,
            }
        } else {
            Bits {
                int: types::I64X2,
                mantissa_bits: 52,
                magic: elementary::POW2_MAGIC,
                smallest_normal: elementary::SMALLEST_NORMAL,
                subnormal_scale: elementary::SUBNORMAL_SCALE,
                subnormal_shift: elementary::SUBNORMAL_SHIFT,
                mantissa: elementary::MANTISSA_BITS,
                one: elementary::ONE_BITS,
                exponent_base: elementary::TWO52_BITS,
            }
        }
    }
}

/// Compile one list as function number `li`; returns its id and its constant pool.
/// Registers in `outside` are stored for the other lists and the kernel, and those in
/// `long_lived` ([`Tape::long_lived`]) are stored and loaded again at each use.
fn compile_list<F: Real>(module: &mut JITModule, list: &[Instr], outside: &HashSet<u32>, long_lived: &HashSet<u32>, operations: usize, vector: Type, li: usize) -> Result<(FuncId, Vec<u8>), Unsupported> {
    let err = |e: &dyn std::fmt::Display| Unsupported(format!("compiling: {e}"));
    let ptr = module.target_config().pointer_type();
    let mut ctx = module.make_context();
    ctx.func.signature.params.push(AbiParam::new(ptr));
    ctx.func.signature.params.push(AbiParam::new(ptr));
    let mut fctx = FunctionBuilderContext::new();
    let frontend = module.isa().frontend_config();
    let pool = {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let calls = callouts(module, &mut b, list)?;
        let entry = b.create_block();
        let body = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.append_block_param(body, ptr);
        b.switch_to_block(entry);
        let (regs, pool_ptr) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        let zero = b.ins().iconst(ptr, 0);
        b.ins().jump(body, &[zero.into()]);
        b.seal_block(entry);

        b.switch_to_block(body);
        let offset = b.block_params(body)[0];
        let base = b.ins().iadd(regs, offset);
        let mut cx = Cx::<F> { b: &mut b, pool: Pool::new(), pool_ptr, vector, ptr, calls, hoist: None };
        // Instruction by instruction, each on every vector of a pass: the vectors' chains
        // interleave (one vector per pass for a long objective).
        let per_pass = if operations > LONG_OBJECTIVE { 1 } else { VECTORS };
        let mut values: Vec<HashMap<u32, Value>> = vec![HashMap::new(); per_pass];
        for ins in list {
            for (v, values) in values.iter_mut().enumerate() {
                let out = cx.instr(ins, v, values, base);
                let far = long_lived.contains(&ins.out);
                if far || outside.contains(&ins.out) {
                    cx.store(out, base, ins.out as usize, v);
                }
                if !far {
                    values.insert(ins.out, out);
                }
            }
        }
        let pool = cx.pool.bytes();
        let step = (per_pass * VECTOR_BYTES) as i64;
        let next = b.ins().iadd_imm_s(offset, step);
        let end = b.ins().iconst(ptr, (LANES * std::mem::size_of::<F>()) as i64);
        let more = b.ins().icmp(IntCC::UnsignedLessThan, next, end);
        b.ins().brif(more, body, &[next.into()], exit, &[]);
        b.seal_block(body);
        b.switch_to_block(exit);
        b.seal_block(exit);
        b.ins().return_(&[]);
        b.finalize(frontend);
        pool
    };
    let id = module.declare_function(&format!("list{li}"), Linkage::Local, &ctx.func.signature).map_err(|e| err(&e))?;
    module.define_function(id, &mut ctx).map_err(|e| err(&e))?;
    module.clear_context(&mut ctx);
    Ok((id, pool))
}

/// A method's compiled update on vector `v` of the lanes, emitted through [`Build`]: `vals`
/// holds every [`Val`].
struct Emit<'c, 'a, 'f, F: Real> {
    cx: &'c mut Cx<'a, 'f, F>,
    vals: Vec<Value>,
    /// The values left in memory (base, offset): loaded at each use (see [`Emit::home`]).
    homes: HashMap<u32, (Value, i32)>,
    hyper: Value,
    v: usize,
    /// What steps_done of the vector's lanes is made of (see `Cx::steps`): computed where a
    /// description reads it (each time: the read may be inside a branch).
    steps: Steps,
    /// Where the lanes that hold a run are marked (`LoopLanes::active`, at the group's first
    /// lane); the others are done from the start in [`Build::repeat`].
    active: Value,
}

impl<F: Real> Emit<'_, '_, '_, F> {
    fn val(&mut self, v: Value) -> Val {
        self.vals.push(v);
        Val(self.vals.len() as u32 - 1)
    }

    /// A value that stays in memory at `base + at` until the description reads it, and is
    /// loaded again at each read, so that no register holds it in between.
    fn home(&mut self, base: Value, at: i32) -> Val {
        // (its entry in `vals` is never read: `get` loads instead)
        let v = self.val(base);
        self.homes.insert(v.0, (base, at));
        v
    }

    fn get(&mut self, v: Val) -> Value {
        match self.homes.get(&v.0) {
            Some(&(base, at)) => self.cx.b.ins().load(self.cx.vector, Cx::<F>::mem(), base, at),
            None => self.vals[v.0 as usize],
        }
    }

    /// A mask (an fcmp's lanes), kept among the values.
    fn mask(&mut self, m: Value) -> Mask {
        self.vals.push(m);
        Mask(self.vals.len() as u32 - 1)
    }

    fn get_mask(&self, m: Mask) -> Value {
        self.vals[m.0 as usize]
    }

    fn binary(&mut self, op: Arith, a: Val, b: Val) -> Val {
        let (a, b) = (self.get(a), self.get(b));
        let out = self.cx.arith(op, a, b);
        self.val(out)
    }

    fn unary(&mut self, a: Val, f: impl FnOnce(&mut Cx<'_, '_, F>, Value) -> Value) -> Val {
        let a = self.get(a);
        let out = f(self.cx, a);
        self.val(out)
    }
}

impl<F: Real> Build for Emit<'_, '_, '_, F> {
    fn constant(&mut self, c: f64) -> Val {
        let out = self.cx.constant(c);
        self.val(out)
    }
    fn add(&mut self, a: Val, b: Val) -> Val {
        self.binary(Arith::Add, a, b)
    }
    fn sub(&mut self, a: Val, b: Val) -> Val {
        self.binary(Arith::Sub, a, b)
    }
    fn mul(&mut self, a: Val, b: Val) -> Val {
        self.binary(Arith::Mul, a, b)
    }
    fn div(&mut self, a: Val, b: Val) -> Val {
        self.binary(Arith::Div, a, b)
    }
    fn neg(&mut self, a: Val) -> Val {
        self.unary(a, |cx, a| cx.b.ins().fneg(a))
    }
    fn sqrt(&mut self, a: Val) -> Val {
        self.unary(a, |cx, a| cx.b.ins().sqrt(a))
    }
    fn abs(&mut self, a: Val) -> Val {
        self.unary(a, |cx, a| cx.abs(a))
    }
    fn max(&mut self, a: Val, b: Val) -> Val {
        let (a, b) = (self.get(a), self.get(b));
        let out = self.cx.max_num(a, b);
        self.val(out)
    }
    fn min(&mut self, a: Val, b: Val) -> Val {
        let (a, b) = (self.get(a), self.get(b));
        let out = self.cx.min_num(a, b);
        self.val(out)
    }
    fn floor(&mut self, a: Val) -> Val {
        self.unary(a, |cx, a| cx.b.ins().floor(a))
    }
    fn func(&mut self, f: Func, a: Val) -> Val {
        self.unary(a, |cx, a| cx.func(f, a))
    }
    fn hyper(&mut self, q: usize) -> Val {
        let out = self.cx.load(self.hyper, q, self.v);
        self.val(out)
    }
    fn steps(&mut self) -> Val {
        let Steps { entry, made, retried } = self.steps;
        let out = self.cx.steps(entry, made, self.v, retried);
        self.val(out)
    }
    fn cmp(&mut self, c: Cmp, a: Val, b: Val) -> Mask {
        let cc = match c {
            Cmp::Lt => FloatCC::LessThan,
            Cmp::Le => FloatCC::LessThanOrEqual,
            Cmp::Gt => FloatCC::GreaterThan,
            Cmp::Ge => FloatCC::GreaterThanOrEqual,
            Cmp::Eq => FloatCC::Equal,
            // (unordered or unequal: true with a NaN, as Rust's `!=`)
            Cmp::Ne => FloatCC::NotEqual,
        };
        let (a, b) = (self.get(a), self.get(b));
        let out = self.cx.b.ins().fcmp(cc, a, b);
        self.mask(out)
    }
    fn finite(&mut self, a: Val) -> Mask {
        // a − a is 0 where a is finite, NaN elsewhere.
        let a = self.get(a);
        let zero = self.cx.b.ins().fsub(a, a);
        let out = self.cx.b.ins().fcmp(FloatCC::Ordered, zero, zero);
        self.mask(out)
    }
    fn and(&mut self, a: Mask, b: Mask) -> Mask {
        let (a, b) = (self.get_mask(a), self.get_mask(b));
        let out = self.cx.b.ins().band(a, b);
        self.mask(out)
    }
    fn or(&mut self, a: Mask, b: Mask) -> Mask {
        let (a, b) = (self.get_mask(a), self.get_mask(b));
        let out = self.cx.b.ins().bor(a, b);
        self.mask(out)
    }
    fn not(&mut self, a: Mask) -> Mask {
        let a = self.get_mask(a);
        let out = self.cx.b.ins().bnot(a);
        self.mask(out)
    }
    fn select(&mut self, m: Mask, a: Val, b: Val) -> Val {
        let (m, a, b) = (self.get_mask(m), self.get(a), self.get(b));
        let out = self.cx.select(m, a, b);
        self.val(out)
    }
    /// A branch on the vector: `body` where a lane of `m` holds, `otherwise` where none does.
    fn if_any(&mut self, m: Mask, otherwise: &[Val], body: &mut dyn FnMut(&mut dyn Build) -> Vec<Val>) -> Vec<Val> {
        let vector = self.cx.vector;
        let (then, join) = (self.cx.b.create_block(), self.cx.b.create_block());
        let results: Vec<Value> = otherwise.iter().map(|_| self.cx.b.append_block_param(join, vector)).collect();
        let m = self.get_mask(m);
        let any = self.cx.b.ins().vany_true(m);
        let skipped: Vec<cranelift_codegen::ir::BlockArg> = otherwise.iter().map(|&o| self.get(o).into()).collect();
        self.cx.b.ins().brif(any, then, &[], join, &skipped);
        self.cx.b.switch_to_block(then);
        let made = body(self);
        let made: Vec<cranelift_codegen::ir::BlockArg> = made.iter().map(|&v| self.get(v).into()).collect();
        self.cx.b.ins().jump(join, &made);
        self.cx.b.switch_to_block(join);
        results.into_iter().map(|r| self.val(r)).collect()
    }
    /// A loop of the lanes in step: each round runs `body` on every lane of the vector, and a
    /// lane done in an earlier round keeps its values; it ends when every lane is done or
    /// after `times` rounds.
    fn repeat(&mut self, times: u32, carried: &mut [Val], body: &mut dyn FnMut(&mut dyn Build, &mut [Val]) -> Mask) {
        let (vector, mask_type) = (self.cx.vector, self.cx.mask_type());
        let n = carried.len();
        let (round_block, after) = (self.cx.b.create_block(), self.cx.b.create_block());
        for _ in 0..n {
            self.cx.b.append_block_param(round_block, vector);
            self.cx.b.append_block_param(after, vector);
        }
        self.cx.b.append_block_param(round_block, mask_type);
        self.cx.b.append_block_param(round_block, types::I64);
        let first_round = self.cx.b.ins().iconst(types::I64, 0);
        let active = self.cx.b.ins().load(mask_type, MemFlagsData::trusted(), self.active, lane_at::<F>(0, self.v));
        let idle = self.cx.b.ins().bnot(active);
        let enter: Vec<cranelift_codegen::ir::BlockArg> = carried.iter().map(|&c| self.get(c).into()).chain([idle.into(), first_round.into()]).collect();
        self.cx.b.ins().jump(round_block, &enter);
        self.cx.b.switch_to_block(round_block);
        let params = self.cx.b.block_params(round_block).to_vec();
        let (done_before, round) = (params[n], params[n + 1]);
        let mut now: Vec<Val> = params[..n].iter().map(|&p| self.val(p)).collect();
        let finished = body(self, &mut now);
        let kept: Vec<Value> = now.iter().zip(&params[..n]).map(|(&v, &old)| {
            let now = self.get(v);
            self.cx.select(done_before, old, now)
        })
        .collect();
        let finished = self.get_mask(finished);
        let done = self.cx.b.ins().bor(done_before, finished);
        let next_round = self.cx.b.ins().iadd_imm_s(round, 1);
        let all_done = self.cx.b.ins().vall_true(done);
        let last = self.cx.b.ins().icmp_imm_s(IntCC::Equal, next_round, times as i64);
        let leave = self.cx.b.ins().bor(all_done, last);
        let again: Vec<cranelift_codegen::ir::BlockArg> = kept.iter().map(|&v| v.into()).chain([done.into(), next_round.into()]).collect();
        let out: Vec<cranelift_codegen::ir::BlockArg> = kept.iter().map(|&v| v.into()).collect();
        self.cx.b.ins().brif(leave, after, &out, round_block, &again);
        self.cx.b.switch_to_block(after);
        let results = self.cx.b.block_params(after).to_vec();
        for (c, r) in carried.iter_mut().zip(results) {
            *c = self.val(r);
        }
    }
}

/// steps_done of a vector's lanes, as `Cx::steps` reads it: the lane array on entry, the
/// evaluations made since, the rejected trials among them.
#[derive(Clone, Copy)]
struct Steps {
    entry: Value,
    made: Value,
    retried: Option<Value>,
}

/// What the line search's judge left on one vector of the step loop (see `compile_loop`):
/// where the trial was rejected and where the search failed (masks), and what a lane whose
/// trial was rejected goes on with: the next trial, the state's slots (the search's as the
/// judge left them, the others as they were), the measure of the last accepted step.
struct Judged {
    retry: Value,
    fail: Value,
    x: Vec<Value>,
    /// The state's slots after the judge (None: as they were, in memory).
    slots: Vec<Option<Value>>,
    last_step: Value,
    step_res: Value,
}

/// Bytes of scratch the step loops of `spec` need (`LoopLanes::scratch`): two copies of the
/// group's state.
pub fn scratch_bytes(spec: &StepLoop) -> usize {
    2 * state_quantities(spec, spec.window.is_some()) * spec.vectors() * VECTOR_BYTES
}

/// The quantities of the step loop's state: x, the slots, last_step, step_res, with a line
/// search the rejected trials, with the trainability record its three sums; in the window
/// pool's loop then the record's gprev (per
/// coordinate), gcur, last_loss, turns, loss_rose, the anchor (per coordinate), anchor_tol,
/// and the cycle search's anchor step, period and returns.
fn state_quantities(spec: &StepLoop, window: bool) -> usize {
    spec.dim + spec.slots + 2 + spec.linesearch.map_or(0, |_| 1) + spec.trainability.map_or(0, |_| 3) + if window { 2 * spec.dim + 8 } else { 0 }
}

/// Compile the step loop of `spec` over `tape`'s point list (see [`Jit::step_loop`]); returns
/// its id and its constant pool. The statements follow backend::cpu::sweep's `eval`,
/// `any_event` and `update_lanes` in order, for lanes that are all active and past their
/// first step (the caller gives a group with an idle or fresh lane a budget of 0).
///
/// The state (x, slots, last_step, step_res) lives in two copies in the scratch memory: each
/// step reads the current one and writes the next, vector by vector, so that only one
/// vector's values are in registers at a time (16 xmm registers hold no more); the step is
/// kept (the copies swap) only where no lane of the group has an event. On leaving, the
/// current copy goes back to the lane arrays, and its point is evaluated once more for the
/// loss, the gradient and gn2 that `eval` would leave.
fn compile_loop<F: Real>(module: &mut JITModule, tape: &Tape, long_lived: &HashSet<u32>, spec: &StepLoop, vector: Type, window: bool) -> Result<(FuncId, Vec<u8>), Unsupported> {
    let err = |e: &dyn std::fmt::Display| Unsupported(format!("compiling the step loop: {e}"));
    let update = spec.method.method().compiled.ok_or_else(|| Unsupported(format!("{} has no compiled update", spec.method.name())))?;
    let list = tape.list(Phase::Point);
    let ptr = module.target_config().pointer_type();
    let ptr_bytes = ptr.bytes() as i32;
    let mut ctx = module.make_context();
    ctx.func.signature.params.extend([AbiParam::new(ptr), AbiParam::new(ptr), AbiParam::new(types::I64), AbiParam::new(types::I64)]);
    ctx.func.signature.returns.push(AbiParam::new(types::I64));
    let mut fctx = FunctionBuilderContext::new();
    let frontend = module.isa().frontend_config();
    let (dim, n_slots) = (spec.dim, spec.slots);
    let (q_last_step, q_step_res) = (dim + n_slots, dim + n_slots + 1);
    // With a line search, the rejected trials per lane (see `LoopLanes::retried`).
    let q_retried = spec.linesearch.map(|_| dim + n_slots + 2);
    // With the trainability record, its sums of v, 1/v and the tail's v.
    let q_train = spec.trainability.map(|_| dim + n_slots + 2 + q_retried.map_or(0, |_| 1));
    let vectors = spec.vectors();
    let copy_bytes = (state_quantities(spec, window) * vectors * VECTOR_BYTES) as i64;
    // The window record's quantities in the state (window loop only).
    let q_gprev = dim + n_slots + 2 + q_retried.map_or(0, |_| 1) + q_train.map_or(0, |_| 3);
    let (q_gcur, q_last_loss, q_turns, q_rose) = (q_gprev + dim, q_gprev + dim + 1, q_gprev + dim + 2, q_gprev + dim + 3);
    let q_anchor = q_gprev + dim + 4;
    let q_anchor_tol = q_anchor + dim;
    let q_cycle = q_anchor_tol + 1;
    // Quantity q's vector v in a copy of the state.
    let state_at = |q: usize, v: usize| ((q * vectors + v) * VECTOR_BYTES) as i32;
    let pool = {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        // (every list the loop evaluates: with a data table, the body and the list after too)
        let evaluated: Vec<Instr> = if spec.rows.is_some() { [list, &tape.body, &tape.post].concat() } else { list.to_vec() };
        let calls = callouts(module, &mut b, &evaluated)?;
        let entry = b.create_block();
        let header = b.create_block();
        let check_budget = b.create_block();
        let commit = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let (lanes, pool_ptr, offset, budget) = (params[0], params[1], params[2], params[3]);
        // Each lane array at the group's first lane; the scratch as it is.
        let mut bases = [pool_ptr; field::COUNT];
        for (i, base) in bases.iter_mut().enumerate().take(if window { field::COUNT } else { field::WINDOW }) {
            let array = b.ins().load(ptr, MemFlagsData::trusted(), lanes, i as i32 * ptr_bytes);
            // (the scratch, the data table and the batches are not lane arrays of reals: no
            // group offset)
            *base = if [field::SCRATCH, field::ROWS, field::BATCH_ROWS, field::BATCH_SIZE].contains(&i) { array } else { b.ins().iadd(array, offset) };
        }
        let mut cx = Cx::<F> { b: &mut b, pool: Pool::new(), pool_ptr, vector, ptr, calls, hoist: None };
        // fcmp's result type: a lane mask.
        let mask = cx.mask_type();
        let mem = MemFlagsData::trusted();
        // Where each quantity of the state lives in the lane arrays.
        let mut homes: Vec<(usize, usize)> = tape.vars.iter().map(|&r| (field::REGS, r as usize)).chain((0..n_slots).map(|s| (field::SLOTS, s))).chain([(field::LAST_STEP, 0), (field::STEP_RES, 0)]).collect();
        homes.extend(q_retried.map(|_| (field::RETRIED, 0)));
        if q_train.is_some() {
            homes.extend([(field::TRAIN_SUM, 0), (field::TRAIN_INV, 0), (field::TRAIN_TAIL, 0)]);
        }
        if window {
            homes.extend((0..dim).map(|j| (field::GPREV, j)).chain([(field::GCUR, 0), (field::LAST_LOSS, 0), (field::COUNTS, 0), (field::COUNTS, 1)]));
            homes.extend((0..dim).map(|j| (field::ANCHOR, j)).chain([(field::ANCHOR_TOL, 0)]));
            homes.extend([cycle::ANCHOR_STEP, cycle::PERIOD, cycle::RETURNS].map(|q| (field::CYCLE, q)));
        }
        let scratch = bases[field::SCRATCH];
        for (q, &(array, at)) in homes.iter().enumerate() {
            for v in 0..vectors {
                let value = cx.load(bases[array], at, v);
                cx.b.ins().store(mem, value, scratch, state_at(q, v));
            }
        }
        let (cur_var, next_var, count_var) = (cx.b.declare_var(ptr), cx.b.declare_var(ptr), cx.b.declare_var(types::I64));
        let next = cx.b.ins().iadd_imm_s(scratch, copy_bytes);
        let zero = cx.b.ins().iconst(types::I64, 0);
        cx.b.def_var(cur_var, scratch);
        cx.b.def_var(next_var, next);
        cx.b.def_var(count_var, zero);
        // Per vector: whether the current and the next copy hold last_step = 1 and
        // step_res = −1 in every lane (nothing measured); not known on entry.
        let (yes, no) = (cx.b.ins().iconst(types::I8, 1), cx.b.ins().iconst(types::I8, 0));
        let flags = |cx: &mut Cx<F>| -> Vec<cranelift_frontend::Variable> {
            (0..vectors)
                .map(|_| {
                    let var = cx.b.declare_var(types::I8);
                    cx.b.def_var(var, no);
                    var
                })
                .collect()
        };
        let (cur_plain, next_plain) = (flags(&mut cx), flags(&mut cx));
        // Per vector (window loop): whether both copies hold the same anchor, tolerance and
        // cycle search (no anchor moved since one was copied to the other); not on entry.
        let same_cycle = flags(&mut cx);
        // The loop's constants are loaded once, here, and held as values: one vector's work
        // at a time leaves registers for them, and regalloc spills what does not fit (3 %
        // faster on W1 and W2 than a load at each use, farm-bench, 2026-12-04).
        let enter = cx.b.ins().jump(header, &[]);
        if tape.operations() <= LONG_OBJECTIVE {
            cx.hoist = Some((enter, HashMap::new()));
        }

        // The point list on vector v at x from the state copy `cur`: loss, gradient, gn2, x and
        // the Hessian (where the method reads it).
        // With mini-batches, `handed` is the steps made since entry per lane (a real vector),
        // which picks each lane's batch among those it was handed.
        // An instruction's value, kept as an SSA value or, where it lives long, in the
        // register file (`Tape::long_lived`), where `cx.instr` and `reg` load it.
        let keep = |cx: &mut Cx<F>, values: &mut HashMap<u32, Value>, r: u32, out: Value, v: usize| {
            if long_lived.contains(&r) {
                cx.store(out, bases[field::REGS], r as usize, v);
            } else {
                values.insert(r, out);
            }
        };
        let eval = |cx: &mut Cx<F>, cur: Value, v: usize, handed: Option<Value>| -> (Value, Vec<Value>, Value, Vec<Value>, Vec<Value>) {
            let x: Vec<Value> = (0..dim).map(|j| cx.b.ins().load(vector, mem, cur, state_at(j, v))).collect();
            let mut values = HashMap::new();
            for (&r, &val) in tape.vars.iter().zip(&x) {
                keep(cx, &mut values, r, val, v);
            }
            for ins in list {
                let out = cx.instr(ins, v, &values, bases[field::REGS]);
                keep(cx, &mut values, ins.out, out, v);
            }
            if let (Some(batches), Some(handed)) = (spec.batches, handed) {
                // Each lane's batch, slot by slot (`batch_sums`): the slot's row of each lane
                // gathered into the data registers, the body, each mean's running sum where
                // the lane's batch has the slot; then the means over each batch's size and the
                // list after them. The slots run to the largest batch of the vector's lanes.
                let size = std::mem::size_of::<F>();
                let lanes_here = VECTOR_BYTES / size;
                let first_lane = cx.b.ins().ushr_imm_u(offset, size.trailing_zeros() as i64);
                let first_lane = cx.b.ins().iadd_imm_s(first_lane, (v * lanes_here) as i64);
                let mut slot_rows = Vec::with_capacity(lanes_here);
                let (mut sizes, mut largest) = (None, None);
                for l in 0..lanes_here {
                    let made = cx.b.ins().extractlane(handed, l as u8);
                    let made = cx.b.ins().fcvt_to_uint_sat(types::I64, made);
                    let lane = cx.b.ins().iadd_imm_s(first_lane, l as i64);
                    let at = cx.b.ins().imul_imm_s(lane, batches.ahead as i64);
                    let at = cx.b.ins().iadd(at, made);
                    let rows_at = cx.b.ins().imul_imm_s(at, (batches.most * 4) as i64);
                    slot_rows.push(cx.b.ins().iadd(bases[field::BATCH_ROWS], rows_at));
                    let size_at = cx.b.ins().imul_imm_s(at, size as i64);
                    let size_at = cx.b.ins().iadd(bases[field::BATCH_SIZE], size_at);
                    let lane_size = cx.b.ins().load(vector.lane_type(), mem, size_at, 0);
                    sizes = Some(match sizes {
                        None => cx.b.ins().scalar_to_vector(vector, lane_size),
                        Some(all) => cx.b.ins().insertlane(all, lane_size, l as u8),
                    });
                    largest = Some(match largest {
                        None => lane_size,
                        Some(m) => cx.b.ins().fmax(m, lane_size),
                    });
                }
                let (sizes, largest) = (sizes.expect("a lane"), largest.expect("a lane"));
                let slots = cx.b.ins().fcvt_to_uint_sat(types::I64, largest);
                let SumLoop { block: slot_block, counter: slot, sums, after, totals } = cx.sum_loop(tape.means.len());
                let slot_at = cx.b.ins().imul_imm_s(slot, 4);
                let row_ptrs: Vec<Value> = slot_rows
                    .iter()
                    .map(|&lane_rows| {
                        let at = cx.b.ins().iadd(lane_rows, slot_at);
                        let row_offset = cx.b.ins().uload32(mem, at, 0);
                        cx.b.ins().iadd(bases[field::ROWS], row_offset)
                    })
                    .collect();
                let mut per_row = values.clone();
                for &(reg, c) in &tape.data {
                    let mut gathered = None;
                    for (l, &row_ptr) in row_ptrs.iter().enumerate() {
                        let one = cx.b.ins().load(vector.lane_type(), mem, row_ptr, (c as usize * size) as i32);
                        gathered = Some(match gathered {
                            None => cx.b.ins().scalar_to_vector(vector, one),
                            Some(all) => cx.b.ins().insertlane(all, one, l as u8),
                        });
                    }
                    per_row.insert(reg, gathered.expect("a lane"));
                }
                for ins in &tape.body {
                    let out = cx.instr(ins, v, &per_row, bases[field::REGS]);
                    keep(cx, &mut per_row, ins.out, out, v);
                }
                let slot_real = cx.b.ins().fcvt_from_uint(vector.lane_type(), slot);
                let slot_real = cx.b.ins().splat(vector, slot_real);
                let inside = cx.b.ins().fcmp(FloatCC::LessThan, slot_real, sizes);
                let added: Vec<cranelift_codegen::ir::BlockArg> = sums
                    .iter()
                    .zip(&tape.means)
                    .map(|(&sum, &(_, arg))| {
                        let more = cx.b.ins().fadd(sum, per_row[&arg]);
                        cx.select(inside, more, sum).into()
                    })
                    .collect();
                let next_slot = cx.b.ins().iadd_imm_s(slot, 1);
                let more = cx.b.ins().icmp(IntCC::UnsignedLessThan, next_slot, slots);
                let again: Vec<cranelift_codegen::ir::BlockArg> = std::iter::once(next_slot.into()).chain(added.iter().cloned()).collect();
                cx.b.ins().brif(more, slot_block, &again, after, &added);
                cx.b.switch_to_block(after);
                for (&total, &(out, _)) in totals.iter().zip(&tape.means) {
                    values.insert(out, cx.b.ins().fdiv(total, sizes));
                }
                for ins in &tape.post {
                    let out = cx.instr(ins, v, &values, bases[field::REGS]);
                    keep(cx, &mut values, ins.out, out, v);
                }
            } else if let Some((n_rows, cols)) = spec.rows {
                // Each row in order: its columns into the data registers (one value, every
                // lane), the body, each mean's running sum (`eval`'s loop); then the means
                // and the list after them.
                let SumLoop { block: row_block, counter: row, sums, after, totals } = cx.sum_loop(tape.means.len());
                let size = std::mem::size_of::<F>();
                let row_at = cx.b.ins().imul_imm_s(row, (cols * size) as i64);
                let row_ptr = cx.b.ins().iadd(bases[field::ROWS], row_at);
                let mut per_row = values.clone();
                for &(reg, c) in &tape.data {
                    let one = cx.b.ins().load(vector.lane_type(), mem, row_ptr, (c as usize * size) as i32);
                    per_row.insert(reg, cx.b.ins().splat(vector, one));
                }
                for ins in &tape.body {
                    let out = cx.instr(ins, v, &per_row, bases[field::REGS]);
                    keep(cx, &mut per_row, ins.out, out, v);
                }
                let added: Vec<cranelift_codegen::ir::BlockArg> = sums.iter().zip(&tape.means).map(|(&sum, &(_, arg))| cx.b.ins().fadd(sum, per_row[&arg]).into()).collect();
                let next_row = cx.b.ins().iadd_imm_s(row, 1);
                let more = cx.b.ins().icmp_imm_s(IntCC::SignedLessThan, next_row, n_rows as i64);
                let again: Vec<cranelift_codegen::ir::BlockArg> = std::iter::once(next_row.into()).chain(added.iter().cloned()).collect();
                cx.b.ins().brif(more, row_block, &again, after, &added);
                cx.b.switch_to_block(after);
                let count = cx.constant(n_rows as f64);
                for (&total, &(out, _)) in totals.iter().zip(&tape.means) {
                    values.insert(out, cx.b.ins().fdiv(total, count));
                }
                for ins in &tape.post {
                    let out = cx.instr(ins, v, &values, bases[field::REGS]);
                    keep(cx, &mut values, ins.out, out, v);
                }
            }
            let reg = |cx: &mut Cx<F>, r: u32| match values.get(&r) {
                Some(&val) => val,
                None => cx.load(bases[field::REGS], r as usize, v),
            };
            let loss = reg(cx, tape.loss);
            let grad: Vec<Value> = tape.grad.iter().map(|&g| reg(cx, g)).collect();
            let hess: Vec<Value> = tape.hess.iter().map(|&h| reg(cx, h)).collect();
            // gn2 = g0*g0 + g1*g1 + …, left to right as in `grad_norm2`.
            let mut gn2 = cx.b.ins().fmul(grad[0], grad[0]);
            for &g in &grad[1..] {
                let sq = cx.b.ins().fmul(g, g);
                gn2 = cx.b.ins().fadd(gn2, sq);
            }
            (loss, grad, gn2, x, hess)
        };

        // Steps made since entry, per lane: the evaluations less the rejected trials.
        let handed_steps = |cx: &mut Cx<F>, made: Value, retried: Option<Value>| {
            let made = cx.b.ins().fcvt_from_sint(vector.lane_type(), made);
            let made = cx.b.ins().splat(vector, made);
            match retried {
                Some(r) => cx.b.ins().fsub(made, r),
                None => made,
            }
        };
        cx.b.switch_to_block(header);
        let (cur, next) = (cx.b.use_var(cur_var), cx.b.use_var(next_var));
        let mut any_event: Option<Value> = None;
        for v in 0..vectors {
            let retried = q_retried.map(|q| cx.b.ins().load(vector, mem, cur, state_at(q, v)));
            let made = cx.b.use_var(count_var);
            let handed = spec.batches.map(|_| handed_steps(&mut cx, made, retried));
            let (loss, grad, gn2, x, hess) = eval(&mut cx, cur, v, handed);
            // (read where it is used: the event's `and` takes it from memory, no register held)
            let active = |cx: &mut Cx<F>| cx.b.ins().load(mask, mem, bases[field::ACTIVE], lane_at::<F>(0, v));
            let steps_of = Steps { entry: bases[field::STEPS], made, retried };
            // (as a value where the loop itself reads it: the window and a search's `until`)
            let steps = (window || spec.linesearch.is_some() || spec.trainability.is_some()).then(|| cx.steps(bases[field::STEPS], made, v, retried));
            let hyper = bases[field::HYPER];
            // A large method state (L-BFGS's pairs over many coordinates) stays in memory, each
            // slot loaded where it is read (None here): held from the top of the step to the
            // update, thousands of values made regalloc2 take seconds (L-BFGS on a network of
            // 121 weights: 10 s).
            let lazy = spec.method_slots > LAZY_SLOTS;
            let mut slots: Vec<Option<Value>> = (0..n_slots).map(|s| (!lazy || s >= spec.method_slots).then(|| cx.b.ins().load(vector, mem, cur, state_at(dim + s, v)))).collect();
            let as_was = |cx: &mut Cx<F>, value: Option<Value>, q: usize| value.unwrap_or_else(|| cx.b.ins().load(vector, mem, cur, state_at(q, v)));
            // (the state as it was, for the lanes whose trial is rejected)
            let slots_before = slots.clone();

            // judge (with a line search): a lane whose trial is rejected takes the next trial
            // (`retry`) and is no point of its run: it has no event, no window record and no
            // update. The judge measures an accepted step into last_step, step_res.
            let judged = spec.linesearch.map(|(place, _, rounding)| {
                let first = place.first_slot;
                let mut emit = Emit { cx: &mut cx, vals: Vec::new(), homes: HashMap::new(), hyper, v, steps: steps_of, active: bases[field::ACTIVE] };
                let lr = emit.cx.load(bases[field::LR], 0, v);
                let lr = emit.val(lr);
                let (last_step, step_res) = (emit.cx.b.ins().load(vector, mem, cur, state_at(q_last_step, v)), emit.cx.b.ins().load(vector, mem, cur, state_at(q_step_res, v)));
                let (mut last_step, mut step_res) = (emit.val(last_step), emit.val(step_res));
                let mut search: Vec<Val> = slots[first..].iter().map(|&s| emit.val(s.expect("the search's slots are loaded"))).collect();
                let mut trial: Vec<Val> = x.iter().map(|&s| emit.val(s)).collect();
                let g: Vec<Val> = grad.iter().map(|&s| emit.val(s)).collect();
                let loss = emit.val(loss);
                let judge = Judge {
                    dim,
                    slots: &mut search,
                    x: &mut trial,
                    grad: &g,
                    loss,
                    last_step: &mut last_step,
                    step_res: &mut step_res,
                    lr,
                    unit_step: spec.unit_step,
                    at: place.at,
                    step_tol: spec.step_tol,
                    rounding,
                    big: F::MAX.to_f64(),
                };
                let verdict = linesearch::judge(place.kind, &mut emit, judge);
                Judged {
                    retry: emit.get_mask(verdict.retry),
                    fail: emit.get_mask(verdict.fail),
                    x: trial.iter().map(|&t| emit.get(t)).collect(),
                    slots: slots_before[..first].iter().copied().chain(search.iter().map(|&t| Some(emit.get(t)))).collect(),
                    last_step: emit.get(last_step),
                    step_res: emit.get(step_res),
                }
            });

            // any_event: x not finite (x − x is 0 for a finite x, NaN otherwise), the loss
            // not finite or past the blow-up bound (|loss| ≤ min(bound, largest real) fails for
            // both: `ceiling`), or converged.
            let mut zeros = cx.b.ins().fsub(x[0], x[0]);
            for &xj in &x[1..] {
                let z = cx.b.ins().fsub(xj, xj);
                zeros = cx.b.ins().fadd(zeros, z);
            }
            let not_finite = cx.b.ins().fcmp(FloatCC::Unordered, zeros, zeros);
            let loss_abs = cx.abs(loss);
            let ceiling = cx.load(bases[field::CEILING], 0, v);
            let past = cx.b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, loss_abs, ceiling);
            let bad = cx.b.ins().bor(not_finite, past);
            let abs2 = cx.constant(spec.grad_tol_abs2);
            let gtol2 = cx.load(bases[field::GTOL2], 0, v);
            // A noisy run (mini-batches) is never converged by the gradient rules (`outcome`):
            // without this, one near its minimum would leave the loop at every step for a
            // Rust pass that goes on with it.
            let quiet = |cx: &mut Cx<F>, converged: Value| match spec.batches {
                Some(_) => {
                    let noisy = cx.b.ins().load(mask, mem, bases[field::NOISY], lane_at::<F>(0, v));
                    cx.b.ins().band_not(converged, noisy)
                }
                None => converged,
            };
            let small = cx.b.ins().fcmp(FloatCC::LessThanOrEqual, gn2, abs2);
            let relative = cx.b.ins().fcmp(FloatCC::LessThanOrEqual, gn2, gtol2);
            let mut event = match &judged {
                // (the judge measured the accepted steps; a rejected trial has no event, but
                // a failed search ends its run)
                Some(j) => {
                    let still = cx.b.ins().fcmp(FloatCC::LessThanOrEqual, j.last_step, j.step_res);
                    let stalled = cx.b.ins().band(relative, still);
                    let converged = cx.b.ins().bor(small, stalled);
                    let converged = quiet(&mut cx, converged);
                    let event = cx.b.ins().bor(bad, converged);
                    let event = cx.b.ins().band_not(event, j.retry);
                    let until = cx.load(bases[field::UNTIL], 0, v);
                    let due = cx.b.ins().fcmp(FloatCC::GreaterThanOrEqual, steps.expect("a search's loop has steps"), until);
                    let event = cx.b.ins().bor(event, due);
                    cx.b.ins().bor(event, j.fail)
                }
                None => {
                    // The step test, where the last step measured anything (else
                    // last_step = 1 > −1 = step_res in every lane: no lane passes it).
                    let (full, join_test) = (cx.b.create_block(), cx.b.create_block());
                    let converged = cx.b.append_block_param(join_test, mask);
                    let plain_now = cx.b.use_var(cur_plain[v]);
                    cx.b.ins().brif(plain_now, join_test, &[small.into()], full, &[]);
                    cx.b.switch_to_block(full);
                    let last_step = cx.b.ins().load(vector, mem, cur, state_at(q_last_step, v));
                    let step_res = cx.b.ins().load(vector, mem, cur, state_at(q_step_res, v));
                    let still = cx.b.ins().fcmp(FloatCC::LessThanOrEqual, last_step, step_res);
                    let stalled = cx.b.ins().band(relative, still);
                    let either = cx.b.ins().bor(small, stalled);
                    cx.b.ins().jump(join_test, &[either.into()]);
                    cx.b.switch_to_block(join_test);
                    let converged = quiet(&mut cx, converged);
                    cx.b.ins().bor(bad, converged)
                }
            };
            if let (Some(q), Some((max_steps, cap, tail))) = (q_train, spec.trainability) {
                // record_trainability, into the next copy: every point the loop steps from is
                // before `steps` and not the window's first (those exit to Rust).
                // v = min(L/L₀, cap), the cap where the ratio is not finite.
                let loss0 = cx.load(bases[field::TRAIN_LOSS0], 0, v);
                let ratio = cx.b.ins().fdiv(loss, loss0);
                let cap = cx.constant(cap);
                let smaller = cx.min_num(ratio, cap);
                let zero_if_finite = cx.b.ins().fsub(ratio, ratio);
                let finite = cx.b.ins().fcmp(FloatCC::Ordered, zero_if_finite, zero_if_finite);
                let value = cx.select(finite, smaller, cap);
                let [sum, inverse, tail_sum] = [q, q + 1, q + 2].map(|q| cx.b.ins().load(vector, mem, cur, state_at(q, v)));
                let one = cx.constant(1.0);
                let reciprocal = cx.b.ins().fdiv(one, value);
                let (more, more_inverse, more_tail) = (cx.b.ins().fadd(sum, value), cx.b.ins().fadd(inverse, reciprocal), cx.b.ins().fadd(tail_sum, value));
                // steps_done + TRAIN_TAIL ≥ steps, as reals (whole numbers, exact)
                let tail_from = cx.constant(max_steps as f64 - tail as f64);
                let in_tail = cx.b.ins().fcmp(FloatCC::GreaterThanOrEqual, steps.expect("the record's loop has steps"), tail_from);
                let more_tail = cx.select(in_tail, more_tail, tail_sum);
                for (k, (old, new)) in [(sum, more), (inverse, more_inverse), (tail_sum, more_tail)].into_iter().enumerate() {
                    // (a rejected trial is no point of its run)
                    let kept = match &judged {
                        Some(j) => cx.select(j.retry, old, new),
                        None => new,
                    };
                    cx.b.ins().store(mem, kept, next, state_at(q + k, v));
                }
            }
            if let Some(rules) = spec.window.filter(|_| window) {
                // record_window_lanes, into the next copy (kept only where no lane has an
                // event: else the Rust pass records this point): its every-step part, and
                // window_event's cycle search where a lane is back within the anchor's
                // tolerance or its candidate period is due. Its event: the window's first
                // point or a segment's end (`cycle::EXIT_AT`), which the Rust record takes.
                let zero_real = cx.constant(0.0);
                let (mut dot, mut dist) = (zero_real, zero_real);
                let anchor: Vec<Value> = (0..dim).map(|j| cx.b.ins().load(vector, mem, cur, state_at(q_anchor + j, v))).collect();
                for j in 0..dim {
                    let gp = cx.b.ins().load(vector, mem, cur, state_at(q_gprev + j, v));
                    let t = cx.b.ins().fmul(grad[j], gp);
                    let diff = cx.b.ins().fsub(x[j], anchor[j]);
                    let d = cx.abs(diff);
                    (dot, dist) = if j == 0 { (t, d) } else { (cx.b.ins().fadd(dot, t), cx.max_num(dist, d)) };
                    cx.b.ins().store(mem, grad[j], next, state_at(q_gprev + j, v));
                }
                let anchor_tol = cx.b.ins().load(vector, mem, cur, state_at(q_anchor_tol, v));
                let back = cx.b.ins().fcmp(FloatCC::LessThanOrEqual, dist, anchor_tol);
                let steps = steps.expect("the window loop has steps");
                let exit_at = cx.load(bases[field::CYCLE], cycle::EXIT_AT, v);
                let handed = cx.b.ins().fcmp(FloatCC::GreaterThanOrEqual, steps, exit_at);
                event = cx.b.ins().bor(event, handed);
                // window_event's cycle search (s ≠ the window's first step, no segment ends):
                // it changes nothing in a lane that is not back and not due, so it runs on
                // every lane of a vector where one is.
                let [anchor_step, period, returns] = [cycle::ANCHOR_STEP, cycle::PERIOD, cycle::RETURNS].map(|q| cx.b.ins().load(vector, mem, cur, state_at(q_cycle + q, v)));
                let since = cx.b.ins().fsub(steps, anchor_step);
                let searching = cx.b.ins().fcmp(FloatCC::Equal, period, zero_real);
                let max_period = cx.constant(rules.max_period as f64);
                let cycle_len = cx.select(searching, max_period, period);
                let at_end = cx.b.ins().fcmp(FloatCC::GreaterThanOrEqual, since, cycle_len);
                let due_or_back = cx.b.ins().bor(back, at_end);
                let any_cycle = cx.b.ins().vany_true(due_or_back);
                let (search, unchanged, copy, joined) = (cx.b.create_block(), cx.b.create_block(), cx.b.create_block(), cx.b.create_block());
                cx.b.ins().brif(any_cycle, search, &[], unchanged, &[]);
                cx.b.switch_to_block(search);
                let found = cx.b.ins().band(searching, back);
                let period_now = cx.b.ins().fcmp(FloatCC::Equal, since, period);
                let due = cx.b.ins().band_not(period_now, searching);
                let due_back = cx.b.ins().band(due, back);
                let due_away = cx.b.ins().band_not(due, back);
                let (one, zero_r) = (cx.constant(1.0), zero_real);
                let more = cx.b.ins().fadd(returns, one);
                let r = cx.select(due, zero_r, returns);
                let r = cx.select(due_back, more, r);
                let r = cx.select(found, one, r);
                let p = cx.select(due_away, zero_r, period);
                let p = cx.select(found, since, p);
                let stale = cx.b.ins().band(searching, at_end);
                let moved = cx.b.ins().bor(found, due);
                let moved = cx.b.ins().bor(moved, stale);
                // ‖x‖∞ left to right, as window_event's.
                let mut x_inf = zero_real;
                for j in 0..dim {
                    let m = cx.abs(x[j]);
                    x_inf = if j == 0 { m } else { cx.max_num(x_inf, m) };
                    let a = cx.select(moved, x[j], anchor[j]);
                    cx.b.ins().store(mem, a, next, state_at(q_anchor + j, v));
                }
                let cycle_tol = cx.constant(rules.cycle_tol);
                let tol = cx.b.ins().fmul(cycle_tol, x_inf);
                let tol = cx.select(moved, tol, anchor_tol);
                let at = cx.select(moved, steps, anchor_step);
                for (q, value) in [(q_anchor_tol, tol), (q_cycle + cycle::ANCHOR_STEP, at), (q_cycle + cycle::PERIOD, p), (q_cycle + cycle::RETURNS, r)] {
                    cx.b.ins().store(mem, value, next, state_at(q, v));
                }
                cx.b.def_var(same_cycle[v], no);
                cx.b.ins().jump(joined, &[]);
                // No lane back or due: the record stays, in the next copy too.
                cx.b.switch_to_block(unchanged);
                let same_now = cx.b.use_var(same_cycle[v]);
                cx.b.ins().brif(same_now, joined, &[], copy, &[]);
                cx.b.switch_to_block(copy);
                for (j, &a) in anchor.iter().enumerate() {
                    cx.b.ins().store(mem, a, next, state_at(q_anchor + j, v));
                }
                for (q, value) in [(q_anchor_tol, anchor_tol), (q_cycle + cycle::ANCHOR_STEP, anchor_step), (q_cycle + cycle::PERIOD, period), (q_cycle + cycle::RETURNS, returns)] {
                    cx.b.ins().store(mem, value, next, state_at(q, v));
                }
                cx.b.def_var(same_cycle[v], yes);
                cx.b.ins().jump(joined, &[]);
                cx.b.switch_to_block(joined);
                let turns = cx.b.ins().load(mask, mem, cur, state_at(q_turns, v));
                let turned = cx.b.ins().fcmp(FloatCC::LessThan, dot, zero_real);
                let turns = cx.b.ins().isub(turns, turned);
                cx.b.ins().store(mem, turns, next, state_at(q_turns, v));
                let last_loss = cx.b.ins().load(vector, mem, cur, state_at(q_last_loss, v));
                let rose = cx.b.ins().load(mask, mem, cur, state_at(q_rose, v));
                let up = cx.b.ins().fcmp(FloatCC::GreaterThan, loss, last_loss);
                let rose = cx.b.ins().bor(rose, up);
                cx.b.ins().store(mem, rose, next, state_at(q_rose, v));
                let gcur = cx.b.ins().load(vector, mem, cur, state_at(q_gcur, v));
                let gcur = cx.max_num(gcur, gn2);
                cx.b.ins().store(mem, gcur, next, state_at(q_gcur, v));
                cx.b.ins().store(mem, loss, next, state_at(q_last_loss, v));
                if let Some(j) = &judged {
                    // A rejected trial is not recorded: its lanes keep the record as it was.
                    for q in q_gprev..q_cycle + 3 {
                        let (was, now) = (cx.b.ins().load(vector, mem, cur, state_at(q, v)), cx.b.ins().load(vector, mem, next, state_at(q, v)));
                        let kept = cx.select(j.retry, was, now);
                        cx.b.ins().store(mem, kept, next, state_at(q, v));
                    }
                }
            }
            // With a line search the update runs only where a lane of the vector steps: with
            // several trials a step, most evaluations only try the next point. Where every lane
            // tries another, the next copy takes the judge's trial, the search's slots and the
            // rest of the state as it was, and one more rejected trial per lane.
            let tried_only = judged.as_ref().map(|j| {
                let (update_block, retry_block, join) = (cx.b.create_block(), cx.b.create_block(), cx.b.create_block());
                let joined_event = cx.b.append_block_param(join, mask);
                let stepping = cx.b.ins().bnot(j.retry);
                let any_steps = cx.b.ins().vany_true(stepping);
                cx.b.ins().brif(any_steps, update_block, &[], retry_block, &[]);
                cx.b.switch_to_block(retry_block);
                for (q, value) in j.x.iter().map(|&x| Some(x)).chain(j.slots.iter().copied()).enumerate() {
                    let value = as_was(&mut cx, value, q);
                    cx.b.ins().store(mem, value, next, state_at(q, v));
                }
                cx.b.ins().store(mem, j.last_step, next, state_at(q_last_step, v));
                cx.b.ins().store(mem, j.step_res, next, state_at(q_step_res, v));
                let retried = retried.expect("a line search counts its trials");
                let one = cx.constant(1.0);
                let counted = cx.b.ins().fadd(retried, one);
                cx.b.ins().store(mem, counted, next, state_at(q_retried.expect("a line search counts its trials"), v));
                cx.b.ins().jump(join, &[event.into()]);
                cx.b.switch_to_block(update_block);
                (join, joined_event)
            });
            // update_lanes, into the next copy: the knobs, the method, the step measure.
            let measure = relative;
            let clip_coef = spec.clip_norm.map(|q| {
                let c = cx.load(bases[field::HYPER], q, v);
                let root = cx.b.ins().sqrt(gn2);
                let tiny = cx.constant(1e-6);
                let denom = cx.b.ins().fadd(root, tiny);
                let ratio = cx.b.ins().fdiv(c, denom);
                let one = cx.constant(1.0);
                cx.min_num(ratio, one)
            });
            // The schedule's lr_t (and next lr_now), and each coordinate's lr from it as
            // `cpu_lrj` has it; without a schedule the lane array's, fixed per run.
            let lr_t = spec.schedule.map(|(kind, params, lr_now)| {
                let mut emit = Emit { cx: &mut cx, vals: Vec::new(), homes: HashMap::new(), hyper, v, steps: steps_of, active: bases[field::ACTIVE] };
                let lr = emit.cx.load(bases[field::LR], 0, v);
                let lr = emit.val(lr);
                let mut now = lr_now.map(|s| emit.val(slots[s].expect("lr_now is loaded")));
                let lr_t = schedule::compiled(kind, &mut emit, params, lr, now.as_mut());
                if let (Some(s), Some(now)) = (lr_now, now) {
                    slots[s] = Some(emit.get(now));
                }
                emit.get(lr_t)
            });
            let mut stepped = x.clone();
            let mut gd = grad.clone();
            let mut lrj = Vec::with_capacity(dim);
            for j in 0..dim {
                if let Some(c) = clip_coef {
                    gd[j] = cx.b.ins().fmul(grad[j], c);
                }
                if let Some((q, WeightDecay::L2)) = spec.weight_decay {
                    let wd = cx.load(bases[field::HYPER], q, v);
                    let p = cx.b.ins().fmul(wd, x[j]);
                    gd[j] = cx.b.ins().fadd(gd[j], p);
                }
                let lr_j = match (lr_t, &spec.lr_scale) {
                    (Some(lr_t), Some(scale)) => {
                        let scale = cx.load(hyper, scale[j], v);
                        cx.b.ins().fmul(lr_t, scale)
                    }
                    (Some(lr_t), None) => lr_t,
                    (None, _) => cx.load(bases[field::LRJ], j, v),
                };
                if let Some((q, WeightDecay::Decoupled)) = spec.weight_decay {
                    let wd = cx.load(bases[field::HYPER], q, v);
                    let p = cx.b.ins().fmul(lr_j, wd);
                    let one = cx.constant(1.0);
                    let keep = cx.b.ins().fsub(one, p);
                    stepped[j] = cx.b.ins().fmul(stepped[j], keep);
                }
                lrj.push(lr_j);
            }
            let mut emit = Emit { cx: &mut cx, vals: Vec::new(), homes: HashMap::new(), hyper, v, steps: steps_of, active: bases[field::ACTIVE] };
            let mut x_vals: Vec<Val> = stepped.iter().map(|&val| emit.val(val)).collect();
            let mut slot_vals: Vec<Val> = slots.iter().enumerate().map(|(s, &val)| match val {
                    Some(val) => emit.val(val),
                    None => emit.home(cur, state_at(dim + s, v)),
                })
                .collect();
            // (lr_now and the line search's slots follow the method's, which it does not see)
            let gd_vals: Vec<Val> = gd.iter().map(|&val| emit.val(val)).collect();
            let lrj_vals: Vec<Val> = lrj.iter().map(|&val| emit.val(val)).collect();
            let hess_vals: Vec<Val> = hess.iter().map(|&val| emit.val(val)).collect();
            let mut stop = None;
            update(
                &mut emit,
                CompiledStep { dim, memory: spec.memory, x: &mut x_vals, slots: &mut slot_vals[..spec.method_slots], gd: &gd_vals, lrj: &lrj_vals, lr_scaled: spec.lr_scale.is_some(), hess: &hess_vals, stop: &mut stop },
            );
            // The line search's start from the point just evaluated, x_k (begin: lsx = x_k).
            if let Some((place, direction, _)) = spec.linesearch {
                let first = place.first_slot;
                for j in 0..dim {
                    slot_vals[first + j] = emit.val(x[j]);
                }
                let g: Vec<Val> = grad.iter().map(|&s| emit.val(s)).collect();
                let loss = emit.val(loss);
                let dir: Option<Vec<Val>> = direction.map(|at| slot_vals[at..at + dim].to_vec());
                linesearch::start(place.kind, &mut emit, &mut slot_vals[first..], &x_vals, dir.as_deref(), &g, loss);
            }
            // An update that ends a run (Newton's singular system) is an event: the Rust pass
            // takes that step again and ends the run.
            if let Some((_, stopped)) = stop {
                let stopped = emit.get_mask(stopped);
                let stopped = match &judged {
                    Some(j) => emit.cx.b.ins().band_not(stopped, j.retry),
                    None => stopped,
                };
                event = emit.cx.b.ins().bor(event, stopped);
            }
            let mut stepped: Vec<Value> = x_vals.iter().map(|&val| emit.get(val)).collect();
            let mut new_slots: Vec<Value> = slot_vals.iter().map(|&val| emit.get(val)).collect();
            if let Some(j) = &judged {
                // A rejected trial: x is the next trial, the search's slots are the judge's,
                // the rest of the state stays.
                for (s, (new, &was)) in new_slots.iter_mut().zip(&j.slots).enumerate() {
                    let was = as_was(&mut cx, was, dim + s);
                    *new = cx.select(j.retry, was, *new);
                }
                for (xj, &trial) in stepped.iter_mut().zip(&j.x) {
                    *xj = cx.select(j.retry, trial, *xj);
                }
            }
            for (q, &value) in stepped.iter().chain(&new_slots).enumerate() {
                cx.b.ins().store(mem, value, next, state_at(q, v));
            }

            // Where a lane measured its step: ‖x₊ − x‖∞ (÷ lr for a unit step) and
            // step_tol·‖x₊‖∞ there, 1 and −1 elsewhere.
            let measure_step = |cx: &mut Cx<F>, stepped: &[Value]| {
                let (mut step_inf, mut x_inf) = (zero, zero);
                for j in 0..dim {
                    let diff = cx.b.ins().fsub(stepped[j], x[j]);
                    let mut d = cx.abs(diff);
                    if spec.unit_step {
                        let lr = cx.load(bases[field::LR], 0, v);
                        d = cx.b.ins().fdiv(d, lr);
                    }
                    let m = cx.abs(stepped[j]);
                    (step_inf, x_inf) = if j == 0 { (d, m) } else { (cx.max_num(step_inf, d), cx.max_num(x_inf, m)) };
                }
                let (one, minus_one, step_tol) = (cx.constant(1.0), cx.constant(-1.0), cx.constant(spec.step_tol));
                let res = cx.b.ins().fmul(step_tol, x_inf);
                (cx.select(measure, step_inf, one), cx.select(measure, res, minus_one))
            };
            if let Some(j) = &judged {
                // (every lane: the stored values are chosen per lane, rejected trials keep
                // the judge's, and each trial is one more evaluation that is no step)
                let (ls, sr) = measure_step(&mut cx, &stepped);
                let ls = cx.select(j.retry, j.last_step, ls);
                let sr = cx.select(j.retry, j.step_res, sr);
                cx.b.ins().store(mem, ls, next, state_at(q_last_step, v));
                cx.b.ins().store(mem, sr, next, state_at(q_step_res, v));
                let one = cx.constant(1.0);
                let counted = cx.b.ins().fadd(retried.expect("a line search counts its trials"), one);
                let counted = cx.select(j.retry, counted, retried.expect("a line search counts its trials"));
                cx.b.ins().store(mem, counted, next, state_at(q_retried.expect("a line search counts its trials"), v));
                let (join, joined_event) = tried_only.expect("a line search's update is branched to");
                cx.b.ins().jump(join, &[event.into()]);
                cx.b.switch_to_block(join);
                let lanes = active(&mut cx);
                let event = cx.b.ins().band(joined_event, lanes);
                any_event = Some(match any_event {
                    None => event,
                    Some(a) => cx.b.ins().bor(a, event),
                });
                continue;
            }
            let lanes = active(&mut cx);
            let event = cx.b.ins().band(event, lanes);
            any_event = Some(match any_event {
                None => event,
                Some(a) => cx.b.ins().bor(a, event),
            });
            let (measured, plain, join) = (cx.b.create_block(), cx.b.create_block(), cx.b.create_block());
            let any_measure = cx.b.ins().vany_true(measure);
            cx.b.ins().brif(any_measure, measured, &[], plain, &[]);
            cx.b.switch_to_block(measured);
            let (ls, sr) = measure_step(&mut cx, &stepped);
            cx.b.ins().store(mem, ls, next, state_at(q_last_step, v));
            cx.b.ins().store(mem, sr, next, state_at(q_step_res, v));
            cx.b.def_var(next_plain[v], no);
            cx.b.ins().jump(join, &[]);
            // Nothing measured: 1 and −1, unless the next copy holds them already.
            cx.b.switch_to_block(plain);
            let store_plain = cx.b.create_block();
            let plain_next = cx.b.use_var(next_plain[v]);
            cx.b.ins().brif(plain_next, join, &[], store_plain, &[]);
            cx.b.switch_to_block(store_plain);
            let (one, minus_one) = (cx.constant(1.0), cx.constant(-1.0));
            cx.b.ins().store(mem, one, next, state_at(q_last_step, v));
            cx.b.ins().store(mem, minus_one, next, state_at(q_step_res, v));
            cx.b.def_var(next_plain[v], yes);
            cx.b.ins().jump(join, &[]);
            cx.b.switch_to_block(join);
        }
        let any_event = cx.b.ins().vany_true(any_event.expect("a vector or more"));
        cx.b.ins().brif(any_event, exit, &[], check_budget, &[]);

        cx.b.switch_to_block(check_budget);
        let count = cx.b.use_var(count_var);
        let spent = cx.b.ins().icmp(IntCC::Equal, count, budget);
        cx.b.ins().brif(spent, exit, &[], commit, &[]);

        // Keep the step: the next copy becomes the current one.
        cx.b.switch_to_block(commit);
        let (cur, next) = (cx.b.use_var(cur_var), cx.b.use_var(next_var));
        cx.b.def_var(cur_var, next);
        cx.b.def_var(next_var, cur);
        for v in 0..vectors {
            let (now, then) = (cx.b.use_var(cur_plain[v]), cx.b.use_var(next_plain[v]));
            cx.b.def_var(cur_plain[v], then);
            cx.b.def_var(next_plain[v], now);
        }
        let count = cx.b.use_var(count_var);
        let more = cx.b.ins().iadd_imm_s(count, 1);
        cx.b.def_var(count_var, more);
        cx.b.ins().jump(header, &[]);

        // Leave the lanes as `eval` would: the state, the loss, the gradient, gn2.
        cx.b.switch_to_block(exit);
        let cur = cx.b.use_var(cur_var);
        for v in 0..vectors {
            for (q, &(array, at)) in homes.iter().enumerate() {
                let value = cx.b.ins().load(vector, mem, cur, state_at(q, v));
                cx.store(value, bases[array], at, v);
            }
            let retried = q_retried.map(|q| cx.b.ins().load(vector, mem, cur, state_at(q, v)));
            let made = cx.b.use_var(count_var);
            let handed = spec.batches.map(|_| handed_steps(&mut cx, made, retried));
            let (loss, grad, gn2, _, hess) = eval(&mut cx, cur, v, handed);
            cx.store(loss, bases[field::REGS], tape.loss as usize, v);
            for (&value, &r) in grad.iter().zip(&tape.grad).chain(hess.iter().zip(&tape.hess)) {
                cx.store(value, bases[field::REGS], r as usize, v);
            }
            cx.store(gn2, bases[field::GN2], 0, v);
        }
        let count = cx.b.use_var(count_var);
        cx.b.ins().return_(&[count]);
        let pool = cx.pool.bytes();
        b.seal_all_blocks();
        b.finalize(frontend);
        pool
    };
    let id = module.declare_function(if window { "window_loop" } else { "step_loop" }, Linkage::Local, &ctx.func.signature).map_err(|e| err(&e))?;
    // GDSWEEP_JIT_DISASM=1 prints the loop's IR and machine code (for work on its speed).
    let disasm = std::env::var_os("GDSWEEP_JIT_DISASM").is_some();
    ctx.set_disasm(disasm);
    if disasm {
        eprintln!("{}", ctx.func.display());
    }
    module.define_function(id, &mut ctx).map_err(|e| err(&e))?;
    if disasm {
        eprintln!("{}", ctx.compiled_code().and_then(|c| c.vcode.clone()).unwrap_or_default());
    }
    module.clear_context(&mut ctx);
    Ok((id, pool))
}
