//! CPU port of shaders/sweep.wgsl: the same run decode, the same graph evaluated in the same
//! order, the same outcome checks and the same optimizer updates, written to be read side by
//! side with the shader (names follow it: `x{j}` is `x[j]`, `steps_done`, `bound`, `gtol2`…).
//!
//! Where the shader gives every run its own invocation, the CPU runs `LANES` runs at once, one
//! per lane, so every operation is a loop over lanes that the compiler turns into SIMD. When a
//! run ends, its lane is refilled at once with the next run, so lanes never idle while work is
//! left (runs end at very different steps). A refilled lane is held out of one update: its
//! first evaluation, at its initial point, happens on the next pass, as step 0 does in the
//! shader. There are no dispatches on the CPU: a run goes from step 0 to its end in one go,
//! which gives the same numbers since the shader's state round-trips exactly through memory.
//!
//! Lint note: index loops over lanes are deliberate (they mirror the shader and vectorize).
#![allow(clippy::needless_range_loop)]

use crate::problem::real::Real;
use super::jit::{cycle, Batches, Jit, LoopLanes, StepLoop, WindowLoop};
use super::tape::{Instr, Op, Tape};
use crate::method::knobs::{self, CpuKnobStep, Knobs};
use crate::method::lanes::{CpuStep, LANES, V};
use crate::method::linesearch::{self, CpuPlace, CpuSearch, Verdicts};
use crate::method::SlotInit;
use crate::outcome::{finish, Finding, Results, RunEnd, Status, TrainSums, Trainability, WindowRecord, TRAIN_CAP, TRAIN_TAIL};
use crate::plan::{Block, Rules, Sampling, Selection, StateLayout, SEGMENTS};
use crate::problem::expr::{Objective, Phase};
use crate::problem::real::Func;


/// Everything a chunk of runs of one block needs, shared read-only by all threads.
pub struct Kernel<'a, F: Real> {
    pub tape: &'a Tape,
    /// The tape compiled (backend::cpu::jit), where it is: evaluations run it instead of
    /// interpreting the tape, with the same results bit for bit.
    jit: Option<&'a Jit>,
    pub block: &'a Block,
    pub dim: usize,
    pub max_steps: u32,
    /// grad_tol_abs², grad_tol_rel and step_tol at the run precision (see [`Rules`]).
    pub grad_tol_abs2: F,
    pub grad_tol_rel: F,
    pub step_tol: F,
    pub blowup: F,
    /// The line search's rounding allowance, relative (see method::linesearch).
    pub loss_rounding: F,
    pub rules: Rules,
    /// The classification window: first step, segment length (0: none).
    window_start: u32,
    segment_len: u32,
    /// The main pool parks a run at this step (the window's first, or never).
    pause_at: u32,
    cycle_tol: F,
    /// The knobs the block uses (see method::knobs).
    knobs: Knobs,
    /// The state's slots (x and the window record live in the lanes' own arrays).
    layout: StateLayout,
    /// The schedule's `lr_now` among the slots, where it keeps one.
    lr_now: Option<usize>,
    /// The line search's slots and parameters, where the block has one.
    linesearch: Option<CpuPlace>,
    /// The slot of the method's exact displacement (`Method::direction`), where it keeps one.
    direction: Option<usize>,
    /// The objective's data table at the run precision, row-major, `rows_cols` per row (empty
    /// without one).
    rows: Vec<F>,
    rows_cols: usize,
    /// Mini-batches: how they are drawn, and the positions of `batch_size` and `seed` among
    /// the hyperparameters (see problem::random).
    sampling: Option<(Sampling, usize, usize)>,
}

impl<'a, F: Real> Kernel<'a, F> {
    pub fn new(tape: &'a Tape, obj: &Objective, block: &'a Block, max_steps: u32, rules: &Rules) -> Self {
        let dim = obj.dim();
        let (window_start, segment_len) = rules.window_of(max_steps);
        let layout = StateLayout::new(block, dim, segment_len > 0, rules.trainability);
        Kernel {
            tape,
            jit: None,
            block,
            dim,
            max_steps,
            grad_tol_abs2: F::from_f64(rules.grad_tol_abs * rules.grad_tol_abs),
            grad_tol_rel: F::from_f64(rules.grad_tol_rel),
            step_tol: F::from_f64(rules.step_tol),
            blowup: F::from_f64(rules.blowup),
            loss_rounding: F::from_f64(rules.loss_rounding()),
            rules: *rules,
            window_start,
            segment_len,
            pause_at: if segment_len > 0 { window_start } else { u32::MAX },
            cycle_tol: F::from_f64(rules.cycle_tol),
            knobs: block.knobs(),
            lr_now: block.schedule.and_then(|s| s.slot()).and_then(|s| layout.slot(s.name)),
            direction: block.optimizer.method().direction.and_then(|d| layout.slot(&format!("{d}0"))),
            linesearch: block.knobs().linesearch.map(|(kind, at)| CpuPlace::new(kind, layout.slot("lsx0").expect("a line search has its slots"), &at)),
            layout,
            rows: obj.rows.as_ref().map_or(Vec::new(), |r| r.values.iter().map(|&v| F::from_f64(v)).collect()),
            rows_cols: obj.rows.as_ref().map_or(1, |r| r.cols),
            sampling: block.sampling.map(|s| (s, block.hyper_index("batch_size").expect("a batched block has batch_size"), block.hyper_index("seed").expect("a batched block has seed"))),
        }
    }

    /// The mini-batches the compiled loop is handed, where the block takes them: as many slots
    /// as its largest batch (a shuffle's holds at most the rows).
    fn batches(&self) -> Option<Batches> {
        self.sampling.map(|(sampling, q, _)| {
            let largest = self.block.axes[1 + q].values.iter().fold(1.0f64, |m, &v| m.max(v)) as usize;
            let rows = self.rows.len() / self.rows_cols;
            Batches::new(if sampling == Sampling::Shuffle { largest.min(rows) } else { largest })
        })
    }

    /// Evaluate with `jit`, compiled from this kernel's tape (and step loop, from
    /// [`Kernel::step_loop`]), instead of the interpreter.
    pub fn with_jit(self, jit: Option<&'a Jit>) -> Self {
        Kernel { jit, ..self }
    }

    /// What the compiled step loop runs of this kernel's block, or why the block's steps stay
    /// in Rust: the loop has the main pool's eval, outcome checks and update of a method with
    /// a compiled update, its knobs (clipping, weight decay, lr_scale), its learning-rate
    /// schedule and its line search.
    pub fn step_loop(&self) -> Result<StepLoop, String> {
        let method = self.block.optimizer.method();
        let why = if method.compiled.is_none() {
            Some(format!("{} has no compiled update", method.name))
        } else {
            None
        };
        match why {
            Some(why) => Err(why),
            None => Ok(StepLoop {
                dim: self.dim,
                method: self.block.optimizer,
                slots: self.layout.slots.len(),
                method_slots: crate::method::lanes::slot_reals(method.slots, self.dim, self.block.memory()),
                memory: self.block.memory(),
                linesearch: self.linesearch.map(|place| (place, self.direction, self.loss_rounding.to_f64())),
                rows: (!self.tape.means.is_empty()).then(|| (self.rows.len() / self.rows_cols, self.rows_cols)),
                batches: self.batches(),
                trainability: self.layout.trained.then_some((self.max_steps, TRAIN_CAP, TRAIN_TAIL)),
                lr_scale: self.knobs.lr_scale.as_ref().map(|scales| scales.iter().map(|&(q, _)| q).collect()),
                // (a one-parameter schedule reads only the first, as knobs::cpu)
                schedule: self.knobs.schedule.as_ref().map(|(kind, at)| (*kind, [at[0], *at.last().unwrap_or(&at[0])], self.lr_now)),
                unit_step: method.unit_step,
                clip_norm: self.knobs.clip_norm,
                weight_decay: self.knobs.weight_decay.map(|q| (q, self.knobs.decay)),
                grad_tol_abs2: self.rules.grad_tol_abs * self.rules.grad_tol_abs,
                step_tol: self.rules.step_tol,
                window: (self.segment_len > 0).then(|| WindowLoop { max_period: self.rules.max_period, cycle_tol: self.cycle_tol.to_f64() }),
                operations: self.tape.operations(),
            }),
        }
    }
}

/// Per-chunk lane state: the shader's registers, one lane per run.
struct Lanes<F: Real> {
    /// The tape's registers; coordinate j lives in `regs[tape.vars[j]]` (the shader's `x{j}`).
    regs: Vec<V<F>>,
    /// The running sums of the tape's means over the rows (the shader's `acc{k}`).
    acc: Vec<V<F>>,
    /// The lane's run takes mini-batches (the shader's `noisy`), and this evaluation's rows.
    noisy: [bool; LANES],
    batch: [Vec<u32>; LANES],
    slots: Vec<V<F>>,
    lr: V<F>,
    /// Each coordinate's learning rate (the shader's `lr{j}`: lr·lr_scale_<var>, or lr).
    lrj: Vec<V<F>>,
    hyper: Vec<V<F>>,
    bound: V<F>,
    /// min(bound, largest real), set with `bound`, steps_done as a real, set per call, and the
    /// rejected line-search trials of a call, for the compiled step loop (see
    /// `jit::LoopLanes`).
    ceiling: V<F>,
    steps_real: V<F>,
    retried: V<F>,
    /// All ones where the lane holds a run (see `jit::LoopLanes::active`), and the step at
    /// which a searching lane's run has an event (`jit::LoopLanes::until`), set per call.
    active_bits: V<F>,
    until: V<F>,
    /// With mini-batches, the batches a call of the compiled loop is handed (see
    /// `jit::LoopLanes::batch_rows`), and all ones where a lane's run is noisy.
    batch_rows: Vec<u32>,
    batch_size: Vec<F>,
    noisy_bits: V<F>,
    gtol2: V<F>,
    gn2: V<F>,
    /// The last step's ‖Δx‖∞ and step_tol·‖x‖∞ after it (the shader's `last_step`, `step_res`).
    last_step: V<F>,
    step_res: V<F>,
    /// x before the update (the shader's `xo{j}`).
    xo: Vec<V<F>>,
    /// The gradient plus weight decay, per coordinate (the shader's `gd{j}`).
    gd: Vec<V<F>>,
    steps_done: [u32; LANES],
    /// Evaluations so far (the shader's `evals`).
    evals: [u32; LANES],
    /// Position of the lane's run in the chunk's selection; `usize::MAX` when idle.
    slot_of: [usize; LANES],
    /// Held out of this pass's update (freshly filled, idle, or retrying a line search).
    hold: [bool; LANES],
    /// The line search rejected the lane's point and set the next trial (method::linesearch).
    retry: [bool; LANES],
    /// Why the step ended the run (a method::StopReason; 0: it did not): the line search found
    /// no sufficient decrease, or Newton's system was singular (the shader's `ls_failed`, or
    /// its `break` with the status inside the update).
    stop: [u32; LANES],
    /// The window record, per lane (the window pipeline's registers: a{j}, anchor_tol, gp{j}, …).
    anchor: Vec<V<F>>,
    anchor_tol: V<F>,
    gprev: Vec<V<F>>,
    gcur: V<F>,
    loss_start: V<F>,
    last_loss: V<F>,
    /// The trainability record (the shader's `train_loss0`, `train_sum`, `train_inv`,
    /// `train_tail`).
    train_loss0: V<F>,
    train_sum: V<F>,
    train_inv: V<F>,
    train_tail: V<F>,
    anchor_step: [u32; LANES],
    period: [u32; LANES],
    returns: [u32; LANES],
    loss_rose: [u32; LANES],
    turns: [u32; LANES],
    seg: [u32; LANES],
    next_flush: [u32; LANES],
    /// The next step at which the window record does more than its every-step part
    /// (`record_window_lanes`); 0 until the window's first point.
    next_event: [u32; LANES],
    segment_max: [[F; SEGMENTS as usize]; LANES],
    /// The compiled step loop's two copies of a group's state (see `jit::scratch_bytes`):
    /// x, the slots, last_step and step_res, a vector of lanes each.
    scratch: Vec<V<F>>,
    /// `turns` and `loss_rose` as integers as wide as a real, for the compiled window loop.
    counts: Vec<V<F>>,
    /// The cycle search's whole numbers as reals, for the compiled window loop (see
    /// `jit::cycle`).
    cycle: Vec<V<F>>,
}

/// Built-in function `f` on every lane: one loop per function, so that each loop's body is
/// that function's branch-free code alone (problem::elementary), which the compiler vectorizes.
#[inline(always)]
fn func_lanes<F: Real>(f: Func, a: &V<F>, o: &mut V<F>) {
    macro_rules! each {
        ($($g:ident),*) => {
            match f {
                $(Func::$g => {
                    for i in 0..LANES {
                        o[i] = F::func(Func::$g, a[i]);
                    }
                })*
            }
        };
    }
    each!(Sin, Cos, Tan, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Softplus, Sign)
}

/// Output columns of a chunk, written by position.
struct ChunkOut {
    finding: Vec<Finding>,
    steps: Vec<u32>,
    evals: Vec<u32>,
    loss: Vec<f64>,
    grad_norm: Vec<f64>,
    x: Vec<f64>,
    /// Where trainability is recorded (else empty).
    train: Vec<Trainability>,
}

impl<F: Real> Lanes<F> {
    fn new(k: &Kernel<F>) -> Self {
        let z = [F::default(); LANES];
        let mut regs = vec![z; k.tape.n_regs.max(1)];
        for &(r, c) in &k.tape.consts {
            regs[r as usize] = [F::from_f64(c); LANES];
        }
        Lanes {
            regs,
            acc: vec![z; k.tape.means.len()],
            noisy: [false; LANES],
            batch: std::array::from_fn(|_| Vec::new()),
            slots: vec![z; k.layout.slots.len()],
            lr: z,
            lrj: vec![z; k.dim],
            hyper: vec![z; k.block.n_hypers()],
            bound: z,
            ceiling: z,
            steps_real: z,
            retried: z,
            active_bits: z,
            until: z,
            batch_rows: Vec::new(),
            batch_size: Vec::new(),
            noisy_bits: z,
            gtol2: z,
            gn2: z,
            last_step: z,
            step_res: z,
            xo: vec![z; k.dim],
            gd: vec![z; k.dim],
            steps_done: [0; LANES],
            evals: [0; LANES],
            slot_of: [usize::MAX; LANES],
            hold: [true; LANES],
            retry: [false; LANES],
            stop: [0; LANES],
            anchor: vec![z; k.dim],
            anchor_tol: z,
            gprev: vec![z; k.dim],
            gcur: z,
            loss_start: z,
            last_loss: z,
            train_loss0: z,
            train_sum: z,
            train_inv: z,
            train_tail: z,
            anchor_step: [0; LANES],
            period: [0; LANES],
            returns: [0; LANES],
            loss_rose: [0; LANES],
            turns: [0; LANES],
            seg: [0; LANES],
            next_flush: [0; LANES],
            next_event: [0; LANES],
            segment_max: [[F::default(); SEGMENTS as usize]; LANES],
            scratch: vec![z; k.step_loop().map_or(0, |spec| super::jit::scratch_bytes(&spec).div_ceil(std::mem::size_of::<V<F>>()))],
            counts: vec![z; 2],
            cycle: vec![z; cycle::COUNT],
        }
    }

    /// Put run `pos` of the selection into `lane`: the shader's DECODE and INIT.
    fn fill(&mut self, k: &Kernel<F>, lane: usize, pos: usize, run_local: u64) {
        let digits = k.block.digits(run_local);
        let value = |a: usize| F::from_f64(k.block.axes[a].values[digits[a]]);
        let h = k.block.n_hypers();
        // (refinement blocks look their lr up per combination of the other axes)
        self.lr[lane] = if k.block.lr_table.is_some() { F::from_f64(k.block.axis_value(run_local, 0)) } else { value(0) };
        for q in 0..h {
            self.hyper[q][lane] = value(1 + q);
        }
        for j in 0..k.dim {
            self.regs[k.tape.vars[j] as usize][lane] = F::from_f64(k.block.init_value(&digits, j));
        }
        knobs::cpu_lrj(&k.knobs, &self.lr, &self.hyper, &mut self.lrj, Some(lane));
        for (s, slot) in k.layout.slots.iter().enumerate() {
            self.slots[s][lane] = match slot.init {
                SlotInit::Value(v) => F::from_f64(v),
                SlotInit::Lr => self.lr[lane],
                SlotInit::Hyper(h) => {
                    let q = k.block.hyper_index(h).expect("slot's hyperparameter exists");
                    self.hyper[q][lane]
                }
            };
        }
        self.set_noisy(k, lane);
        self.last_step[lane] = F::from_f64(1.0);
        self.step_res[lane] = F::from_f64(-1.0);
        self.steps_done[lane] = 0;
        self.evals[lane] = 1;
        self.slot_of[lane] = pos;
        self.hold[lane] = true;
        self.retry[lane] = false;
        self.stop[lane] = 0;
    }

    /// The shader's `noisy`, from the lane's hyperparameters.
    fn set_noisy(&mut self, k: &Kernel<F>, lane: usize) {
        self.noisy[lane] = match k.sampling {
            None => false,
            Some((Sampling::Replacement, _, _)) => true,
            Some((Sampling::Shuffle, q, _)) => (self.hyper[q][lane].to_f64() as usize) < k.rows.len() / k.rows_cols,
        };
    }

    fn idle(&mut self, k: &Kernel<F>, lane: usize) {
        self.slot_of[lane] = usize::MAX;
        self.hold[lane] = true;
        for j in 0..k.dim {
            self.regs[k.tape.vars[j] as usize][lane] = F::default();
        }
    }

    /// The shader's EVAL and GRAD_NORM2 for every lane: the point's instructions, then over a
    /// data table the rows in order (each row's columns into the data registers, the body, each
    /// mean's running sum), the means (sum / rows) and the instructions after them.
    #[inline(always)]
    fn eval(&mut self, k: &Kernel<F>) {
        let tape = k.tape;
        self.exec_phase(k, Phase::Point);
        if !tape.means.is_empty() {
            let cols = k.rows_cols;
            for a in self.acc.iter_mut() {
                *a = [F::default(); LANES];
            }
            let count: V<F> = match k.sampling {
                None => {
                    for row in k.rows.chunks_exact(cols) {
                        for &(reg, c) in &tape.data {
                            self.regs[reg as usize] = [row[c as usize]; LANES];
                        }
                        self.exec_phase(k, Phase::Row);
                        for (a, &(_, arg)) in self.acc.iter_mut().zip(&tape.means) {
                            let v = &self.regs[arg as usize];
                            for i in 0..LANES {
                                a[i] = a[i] + v[i];
                            }
                        }
                    }
                    [F::from_f64((k.rows.len() / cols) as f64); LANES]
                }
                Some(sampling) => self.batch_sums(k, sampling),
            };
            for (a, &(out, _)) in self.acc.iter().zip(&tape.means) {
                let o = &mut self.regs[out as usize];
                for i in 0..LANES {
                    o[i] = a[i] / count[i];
                }
            }
            self.exec_phase(k, Phase::Reduced);
        }
        self.grad_norm2(k);
    }

    /// The means' sums over each lane's mini-batch of this step (the shader's batch loop), and
    /// each lane's batch size: slot k of every lane in turn, each lane's row gathered into the
    /// data registers, added only where the lane's batch has a slot k.
    fn batch_sums(&mut self, k: &Kernel<F>, (sampling, q_batch, q_seed): (Sampling, usize, usize)) -> V<F> {
        let tape = k.tape;
        let (cols, m) = (k.rows_cols, (k.rows.len() / k.rows_cols) as u32);
        let mut most = 0;
        for i in 0..LANES {
            let batch = (self.hyper[q_batch][i].to_f64() as u32).max(1);
            let seed = self.hyper[q_seed][i].to_f64() as u32;
            crate::problem::random::batch_rows_into(&mut self.batch[i], seed, self.steps_done[i], batch, m, sampling == Sampling::Shuffle);
            most = most.max(self.batch[i].len());
        }
        for slot in 0..most {
            for &(reg, c) in &tape.data {
                let r = &mut self.regs[reg as usize];
                for i in 0..LANES {
                    let row = self.batch[i].get(slot).copied().unwrap_or(0) as usize;
                    r[i] = k.rows[row * cols + c as usize];
                }
            }
            self.exec_phase(k, Phase::Row);
            for (a, &(_, arg)) in self.acc.iter_mut().zip(&tape.means) {
                let v = &self.regs[arg as usize];
                for i in 0..LANES {
                    if slot < self.batch[i].len() {
                        a[i] = a[i] + v[i];
                    }
                }
            }
        }
        std::array::from_fn(|i| F::from_f64(self.batch[i].len() as f64))
    }

    /// The tape's instructions of one phase on every lane: compiled where the kernel has them,
    /// else interpreted.
    #[inline(always)]
    fn exec_phase(&mut self, k: &Kernel<F>, phase: Phase) {
        match k.jit {
            Some(jit) if jit.has_lists() => jit.run(phase, &mut self.regs),
            _ => self.exec(k.tape.list(phase)),
        }
    }

    /// The compiled step loop (backend::cpu::jit) in place of `eval`, on each group of lanes:
    /// steps every lane of the group until one of them has something to settle, leaving the
    /// lanes as `eval` would after those steps. A group with an idle lane, or a lane at its
    /// first point, is only evaluated (budget 0): those lanes are the pass's own work. In the
    /// window pool (`window`), the loop also keeps the window record of the points it steps
    /// from, `window_event`'s cycle search included, and stops at the window's first point
    /// and at a segment's end, which the pass records as after `eval`.
    fn step_loop(&mut self, k: &Kernel<F>, jit: &Jit, until: u32, window: bool) {
        let size = std::mem::size_of::<F>();
        // In the window pool, the step from which the Rust record takes over: the window's
        // first point (`next_event` 0 before it), else the next segment's end.
        let exit_at: [u32; LANES] = std::array::from_fn(|i| if self.next_event[i] == 0 { 0 } else { self.next_flush[i] });
        if window {
            for i in 0..LANES {
                for (q, v) in [(cycle::ANCHOR_STEP, self.anchor_step[i]), (cycle::PERIOD, self.period[i]), (cycle::RETURNS, self.returns[i]), (cycle::EXIT_AT, exit_at[i])] {
                    self.cycle[q][i] = F::from_f64(v as f64);
                }
            }
            // turns and loss_rose as integers as wide as a real, for the compiled code.
            let counts: &mut [u8] = bytemuck::cast_slice_mut(&mut self.counts);
            for i in 0..LANES {
                for (q, v) in [self.turns[i], self.loss_rose[i]].into_iter().enumerate() {
                    let at = (q * LANES + i) * size;
                    counts[at..at + size].fill(0);
                    counts[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        for i in 0..LANES {
            self.steps_real[i] = F::from_f64(self.steps_done[i] as f64);
        }
        self.retried = [F::default(); LANES];
        for i in 0..LANES {
            self.until[i] = F::from_f64(if window { until.min(exit_at[i]) } else { until } as f64);
        }
        let active_bits: &mut [u8] = bytemuck::cast_slice_mut(&mut self.active_bits);
        for (i, lane) in active_bits.chunks_exact_mut(size).enumerate() {
            lane.fill(if self.slot_of[i] == usize::MAX { 0 } else { 0xff });
        }
        let batches = k.batches();
        if let (Some(b), Some((sampling, q_batch, q_seed))) = (batches, k.sampling) {
            let stop: [u32; LANES] = std::array::from_fn(|i| if window { until.min(exit_at[i]) } else { until });
            self.hand_batches(k, b, sampling == Sampling::Shuffle, q_batch, q_seed, &stop);
            for i in 0..LANES {
                // (a searching lane stops at the last step it was handed)
                self.until[i] = self.until[i].min(F::from_f64((self.steps_done[i] as u64 + b.ahead as u64 - 1).min(u32::MAX as u64) as f64));
            }
        }
        // steps_done counted as a real stays exact below 2^24 in f32 (see Build::steps).
        let exact_steps: u32 = if size == 4 { 1 << 24 } else { u32::MAX };
        let lanes = LoopLanes {
            regs: self.regs.as_mut_ptr() as *mut u8,
            slots: self.slots.as_mut_ptr() as *mut u8,
            lrj: self.lrj.as_ptr() as *const u8,
            hyper: self.hyper.as_ptr() as *const u8,
            lr: self.lr.as_ptr() as *const u8,
            ceiling: self.ceiling.as_ptr() as *const u8,
            gtol2: self.gtol2.as_ptr() as *const u8,
            gn2: self.gn2.as_mut_ptr() as *mut u8,
            last_step: self.last_step.as_mut_ptr() as *mut u8,
            step_res: self.step_res.as_mut_ptr() as *mut u8,
            scratch: self.scratch.as_mut_ptr() as *mut u8,
            steps: self.steps_real.as_ptr() as *const u8,
            retried: self.retried.as_mut_ptr() as *mut u8,
            active: self.active_bits.as_ptr() as *const u8,
            until: self.until.as_ptr() as *const u8,
            rows: k.rows.as_ptr() as *const u8,
            batch_rows: self.batch_rows.as_ptr() as *const u8,
            batch_size: self.batch_size.as_ptr() as *const u8,
            noisy: self.noisy_bits.as_ptr() as *const u8,
            train_loss0: self.train_loss0.as_ptr() as *const u8,
            train_sum: self.train_sum.as_mut_ptr() as *mut u8,
            train_inv: self.train_inv.as_mut_ptr() as *mut u8,
            train_tail: self.train_tail.as_mut_ptr() as *mut u8,
            anchor: self.anchor.as_mut_ptr() as *mut u8,
            anchor_tol: self.anchor_tol.as_mut_ptr() as *mut u8,
            gprev: self.gprev.as_mut_ptr() as *mut u8,
            gcur: self.gcur.as_mut_ptr() as *mut u8,
            last_loss: self.last_loss.as_mut_ptr() as *mut u8,
            counts: self.counts.as_mut_ptr() as *mut u8,
            cycle: self.cycle.as_mut_ptr() as *mut u8,
        };
        for first in (0..LANES).step_by(jit.group()) {
            let group = first..first + jit.group();
            // Idle lanes are stepped along without events (see `LoopLanes::idle`); a lane at its
            // first point, or one the last update or search ended, is this pass's to settle.
            let active = || group.clone().filter(|&i| self.slot_of[i] != usize::MAX);
            if active().next().is_none() {
                // (nothing to evaluate: the pass's settle and update pass over idle lanes)
                continue;
            }
            let budget = if active().any(|i| self.steps_done[i] == 0 || self.stop[i] != 0) {
                0
            } else if k.linesearch.is_some() {
                // (evaluations: the loop stops each lane at its `until` itself)
                active().map(|i| exact_steps.saturating_sub(self.steps_done[i])).min().unwrap_or(0)
            } else {
                let end = |i: usize| if window { until.min(exit_at[i]) } else { until }.min(exact_steps);
                // (with mini-batches, no further than the steps whose batches it was handed: the
                // point at the last of them is evaluated once more on leaving)
                let ahead = batches.map_or(u32::MAX, |b| b.ahead as u32);
                active().map(|i| end(i).saturating_sub(self.steps_done[i]).min(ahead - 1)).min().unwrap_or(0)
            };
            // SAFETY: the lane arrays are this kernel's (Lanes::new sizes them from its tape and
            // block), and the kernel's jit was compiled for them (see Kernel::step_loop).
            let made = unsafe { jit.step_loop::<F>(&lanes, first, budget, window) };
            for i in group.filter(|&i| self.slot_of[i] != usize::MAX) {
                // (each evaluation is a step but for the rejected trials, whole numbers below
                // the budget: exact as reals)
                self.steps_done[i] += made - self.retried[i].to_f64() as u32;
                self.evals[i] += made;
            }
        }
        if window {
            let counts: &[u8] = bytemuck::cast_slice(&self.counts);
            let count = |q: usize, i: usize| {
                let at = (q * LANES + i) * size;
                u32::from_le_bytes(counts[at..at + 4].try_into().expect("4 bytes"))
            };
            for i in 0..LANES {
                self.turns[i] = count(0, i);
                self.loss_rose[i] = (count(1, i) != 0) as u32;
                let whole = |q: usize| self.cycle[q][i].to_f64() as u32;
                (self.anchor_step[i], self.period[i], self.returns[i]) = (whole(cycle::ANCHOR_STEP), whole(cycle::PERIOD), whole(cycle::RETURNS));
                if self.next_event[i] != 0 {
                    // as window_event leaves it
                    self.next_event[i] = self.next_flush[i].min(self.cycle_step(k, i));
                }
            }
        }
    }

    /// The batches of the next `b.ahead` steps of every active lane from its steps_done (up to
    /// the step where the loop stops it, `stop`), for the compiled loop
    /// (`jit::LoopLanes::batch_rows`): the rows `batch_sums` would take, as byte offsets in the
    /// table, and each batch's size; and which lanes are noisy.
    fn hand_batches(&mut self, k: &Kernel<F>, b: Batches, shuffle: bool, q_batch: usize, q_seed: usize, stop: &[u32; LANES]) {
        let size = std::mem::size_of::<F>();
        let (cols, m) = (k.rows_cols, (k.rows.len() / k.rows_cols) as u32);
        self.batch_rows.resize(LANES * b.ahead * b.most, 0);
        self.batch_size.resize(LANES * b.ahead, F::default());
        let mut rows = Vec::new();
        for i in (0..LANES).filter(|&i| self.slot_of[i] != usize::MAX) {
            let batch = (self.hyper[q_batch][i].to_f64() as u32).max(1);
            let seed = self.hyper[q_seed][i].to_f64() as u32;
            // (the point at the stop is evaluated too, on leaving)
            let needed = (stop[i].saturating_sub(self.steps_done[i]) as usize + 1).min(b.ahead);
            for ahead in 0..needed {
                let at = i * b.ahead + ahead;
                let t = self.steps_done[i].saturating_add(ahead as u32);
                crate::problem::random::batch_rows_into(&mut rows, seed, t, batch, m, shuffle);
                let slots = &mut self.batch_rows[at * b.most..(at + 1) * b.most];
                slots.fill(0);
                for (slot, &row) in slots.iter_mut().zip(&rows) {
                    *slot = (row as usize * cols * size) as u32;
                }
                self.batch_size[at] = F::from_f64(rows.len() as f64);
            }
        }
        let noisy_bits: &mut [u8] = bytemuck::cast_slice_mut(&mut self.noisy_bits);
        for (i, lane) in noisy_bits.chunks_exact_mut(size).enumerate() {
            lane.fill(if self.noisy[i] { 0xff } else { 0 });
        }
    }

    /// Run a list of tape instructions on every lane.
    #[inline(always)]
    fn exec(&mut self, instrs: &[Instr]) {
        for ins in instrs {
            let (lo, hi) = self.regs.split_at_mut(ins.out as usize);
            let o = &mut hi[0];
            match ins.op {
                Op::Add(a, b) => {
                    let (a, b) = (&lo[a as usize], &lo[b as usize]);
                    for i in 0..LANES {
                        o[i] = a[i] + b[i];
                    }
                }
                Op::Sub(a, b) => {
                    let (a, b) = (&lo[a as usize], &lo[b as usize]);
                    for i in 0..LANES {
                        o[i] = a[i] - b[i];
                    }
                }
                Op::Mul(a, b) => {
                    let (a, b) = (&lo[a as usize], &lo[b as usize]);
                    for i in 0..LANES {
                        o[i] = a[i] * b[i];
                    }
                }
                Op::Div(a, b) => {
                    let (a, b) = (&lo[a as usize], &lo[b as usize]);
                    for i in 0..LANES {
                        o[i] = a[i] / b[i];
                    }
                }
                Op::Neg(a) => {
                    let a = &lo[a as usize];
                    for i in 0..LANES {
                        o[i] = -a[i];
                    }
                }
                Op::Pow(a, b) => {
                    let (a, b) = (&lo[a as usize], &lo[b as usize]);
                    for i in 0..LANES {
                        o[i] = a[i].powf(b[i]);
                    }
                }
                Op::Func(f, a) => func_lanes(f, &lo[a as usize], o),
                Op::AddC(a, c) => {
                    let (a, c) = (&lo[a as usize], F::from_f64(c));
                    for i in 0..LANES {
                        o[i] = a[i] + c;
                    }
                }
                Op::SubC(a, c) => {
                    let (a, c) = (&lo[a as usize], F::from_f64(c));
                    for i in 0..LANES {
                        o[i] = a[i] - c;
                    }
                }
                Op::CSub(c, a) => {
                    let (a, c) = (&lo[a as usize], F::from_f64(c));
                    for i in 0..LANES {
                        o[i] = c - a[i];
                    }
                }
                Op::MulC(a, c) => {
                    let (a, c) = (&lo[a as usize], F::from_f64(c));
                    for i in 0..LANES {
                        o[i] = a[i] * c;
                    }
                }
                Op::DivC(a, c) => {
                    let (a, c) = (&lo[a as usize], F::from_f64(c));
                    for i in 0..LANES {
                        o[i] = a[i] / c;
                    }
                }
                Op::CDiv(c, a) => {
                    let (a, c) = (&lo[a as usize], F::from_f64(c));
                    for i in 0..LANES {
                        o[i] = c / a[i];
                    }
                }
                Op::Lin2(a, ka, b, kb) => {
                    let (a, b, ka, kb) = (&lo[a as usize], &lo[b as usize], F::from_f64(ka), F::from_f64(kb));
                    for i in 0..LANES {
                        o[i] = a[i] * ka + b[i] * kb;
                    }
                }
                Op::Lin2C(a, ka, b, kb, c) => {
                    let (a, b, ka, kb, c) = (&lo[a as usize], &lo[b as usize], F::from_f64(ka), F::from_f64(kb), F::from_f64(c));
                    for i in 0..LANES {
                        o[i] = (a[i] * ka + b[i] * kb) + c;
                    }
                }
                Op::MulCAdd(a, ka, b) => {
                    let (a, b, ka) = (&lo[a as usize], &lo[b as usize], F::from_f64(ka));
                    for i in 0..LANES {
                        o[i] = a[i] * ka + b[i];
                    }
                }
                Op::MulAdd2(a, b, c, d) => {
                    let (a, b, c, d) = (&lo[a as usize], &lo[b as usize], &lo[c as usize], &lo[d as usize]);
                    for i in 0..LANES {
                        o[i] = a[i] * b[i] + c[i] * d[i];
                    }
                }
            }
        }
    }

    /// The shader's GRAD_NORM2.
    #[inline(always)]
    fn grad_norm2(&mut self, k: &Kernel<F>) {
        let tape = k.tape;
        // gn2 = g0*g0 + g1*g1 + …, left to right as in the shader. Summed in a local (kept in
        // registers) and stored once: summing into the field made every coordinate a 64-byte
        // store and reload (measured: 5 % of W1, more where the lane arrays sit unaligned).
        let g0 = &self.regs[tape.grad[0] as usize];
        let mut gn2: V<F> = std::array::from_fn(|i| g0[i] * g0[i]);
        for &g in &tape.grad[1..] {
            let g = &self.regs[g as usize];
            for i in 0..LANES {
                gn2[i] = gn2[i] + g[i] * g[i];
            }
        }
        self.gn2 = gn2;
    }

    /// Whether any lane has something to settle this pass (step 0, an outcome, or reaching
    /// `until`: the window in the main pool, `steps` in the window pool). Branch-free,
    /// coordinates outermost, so it vectorizes: it runs every pass.
    #[inline(always)]
    fn any_event(&self, k: &Kernel<F>, until: u32) -> bool {
        let loss = &self.regs[k.tape.loss as usize];
        let mut ok = [true; LANES];
        for i in 0..LANES {
            ok[i] = loss[i].is_finite() & (loss[i].abs() <= self.bound[i]);
        }
        for j in 0..k.dim {
            let x = &self.regs[k.tape.vars[j] as usize];
            for i in 0..LANES {
                ok[i] &= x[i].is_finite();
            }
        }
        let mut ev = false;
        for i in 0..LANES {
            let converged = !self.noisy[i] & ((self.gn2[i] <= k.grad_tol_abs2) | ((self.gn2[i] <= self.gtol2[i]) & (self.last_step[i] <= self.step_res[i])));
            ev |= (self.steps_done[i] == 0) | !ok[i] | converged | (self.steps_done[i] >= until) | (self.stop[i] != 0);
        }
        ev
    }

    /// The shader's TRAINABILITY record of the point each lane just evaluated, where it is an
    /// accepted point before `steps` not counted yet: in the window pool, the first point is
    /// the one the main pool parked the run at (the shader's `k > 0u || steps_done == 0u`).
    #[inline(always)]
    fn record_trainability(&mut self, k: &Kernel<F>, window_pool: bool) {
        if !k.layout.trained {
            return;
        }
        let loss = &self.regs[k.tape.loss as usize];
        let (zero, one, cap) = (F::default(), F::from_f64(1.0), F::from_f64(TRAIN_CAP));
        for i in 0..LANES {
            let s = self.steps_done[i];
            if self.slot_of[i] == usize::MAX || self.retry[i] {
                continue;
            }
            if s == 0 {
                self.train_loss0[i] = loss[i];
                (self.train_sum[i], self.train_inv[i], self.train_tail[i]) = (zero, zero, zero);
            }
            if (!(window_pool && s == k.window_start) || s == 0) && s < k.max_steps {
                let ratio = loss[i] / self.train_loss0[i];
                let v = if ratio.is_finite() { ratio.min(cap) } else { cap };
                self.train_sum[i] = self.train_sum[i] + v;
                self.train_inv[i] = self.train_inv[i] + one / v;
                if s + TRAIN_TAIL >= k.max_steps {
                    self.train_tail[i] = self.train_tail[i] + v;
                }
            }
        }
    }

    /// The window pipeline's record of the point just evaluated, for every lane not held (in
    /// the window pool every active lane is in its window). Branch-free over lanes, like the
    /// shader's selects, so it vectorizes.
    #[inline(always)]
    fn record_window(&mut self, k: &Kernel<F>) {
        // As in `update`: without held lanes, no per-lane selects (slow masked stores).
        if self.hold.iter().any(|&h| h) {
            self.record_window_lanes::<true>(k)
        } else {
            self.record_window_lanes::<false>(k)
        }
    }

    /// Every point of the window moves the record the same way but at a few steps: the turn
    /// count, whether the loss rose, the segment's largest ‖g‖², the previous loss and
    /// gradient. That part runs for every lane, branch-free. The rest (the window's first point,
    /// a return to the anchor, a candidate period due, the anchor moving on, a segment's end)
    /// happens only at a lane's `next_event` or where the point is back within `anchor_tol`, and
    /// runs per lane in [`Lanes::window_event`]: the same updates in the same order as the
    /// shader's, at a fraction of the per-step cost.
    #[inline(always)]
    fn record_window_lanes<const MASKED: bool>(&mut self, k: &Kernel<F>) {
        let loss = self.regs[k.tape.loss as usize];
        let active: [bool; LANES] = std::array::from_fn(|i| !MASKED || !self.hold[i]);
        let zero = F::default();
        // g · g_prev and ‖x − anchor‖∞, left to right as in the shader.
        let mut dot = [zero; LANES];
        let mut dist = [zero; LANES];
        for j in 0..k.dim {
            let (x, g) = (&self.regs[k.tape.vars[j] as usize], &self.regs[k.tape.grad[j] as usize]);
            let (a, gp) = (&self.anchor[j], &mut self.gprev[j]);
            for i in 0..LANES {
                let (d, t) = ((x[i] - a[i]).abs(), g[i] * gp[i]);
                dist[i] = if j == 0 { d } else { dist[i].max(d) };
                dot[i] = if j == 0 { t } else { dot[i] + t };
                gp[i] = if active[i] { g[i] } else { gp[i] };
            }
        }
        let mut event = [false; LANES];
        let mut any = false;
        for i in 0..LANES {
            let on = active[i];
            self.turns[i] += (on & (dot[i] < zero)) as u32;
            self.loss_rose[i] |= (on & (loss[i] > self.last_loss[i])) as u32;
            self.gcur[i] = if on { self.gcur[i].max(self.gn2[i]) } else { self.gcur[i] };
            self.last_loss[i] = if on { loss[i] } else { self.last_loss[i] };
            event[i] = on & ((dist[i] <= self.anchor_tol[i]) | (self.steps_done[i] >= self.next_event[i]));
            any |= event[i];
        }
        if any {
            for lane in 0..LANES {
                if event[lane] {
                    self.window_event(k, lane, dist[lane], loss[lane]);
                }
            }
        }
    }

    /// The rest of the window record for one lane (see `record_window_lanes`, which has already
    /// counted this point's turn, loss rise and ‖g‖²): at the window's first point the record
    /// starts, else a return to the anchor starts or confirms a candidate period, a period
    /// due without a return drops it; the anchor moves to x on any of these and after
    /// `max_period` steps without a candidate; a segment that ends is flushed. Then the lane's
    /// next event: the earliest step at which any of these can happen without a return.
    fn window_event(&mut self, k: &Kernel<F>, lane: usize, dist: F, loss: F) {
        let (ws, never) = (k.window_start, u32::MAX);
        let s = self.steps_done[lane];
        let max_period = k.rules.max_period;
        let move_anchor = if s == ws {
            self.returns[lane] = 0;
            self.period[lane] = 0;
            self.loss_rose[lane] = 0;
            self.turns[lane] = 0;
            self.loss_start[lane] = loss;
            self.gcur[lane] = self.gn2[lane];
            self.seg[lane] = 0;
            self.next_flush[lane] = if SEGMENTS > 1 { ws + k.segment_len - 1 } else { never };
            true
        } else {
            let (period, returns) = (self.period[lane], self.returns[lane]);
            let since = s.wrapping_sub(self.anchor_step[lane]);
            let back = dist <= self.anchor_tol[lane];
            let searching = period == 0;
            let found = searching & back;
            let due = !searching & (since == period);
            self.returns[lane] = if found { 1 } else if due & back { returns + 1 } else if due { 0 } else { returns };
            self.period[lane] = if found { since } else if due & !back { 0 } else { period };
            found | due | (searching & (since >= max_period))
        };
        if move_anchor {
            // ‖x‖∞ left to right, as in the shader's X_INF.
            let mut x_inf = F::default();
            for j in 0..k.dim {
                let x = self.regs[k.tape.vars[j] as usize][lane];
                self.anchor[j][lane] = x;
                x_inf = if j == 0 { x.abs() } else { x_inf.max(x.abs()) };
            }
            self.anchor_tol[lane] = k.cycle_tol * x_inf;
            self.anchor_step[lane] = s;
        }
        if s == self.next_flush[lane] {
            let seg = self.seg[lane] as usize;
            self.segment_max[lane][seg] = self.gcur[lane];
            self.gcur[lane] = F::default();
            self.seg[lane] += 1;
            self.next_flush[lane] = if self.seg[lane] < SEGMENTS - 1 { self.next_flush[lane] + k.segment_len } else { never };
        }
        self.next_event[lane] = self.next_flush[lane].min(self.cycle_step(k, lane));
    }

    /// The step at which the lane's candidate period is due (or, searching, the anchor moves
    /// on).
    fn cycle_step(&self, k: &Kernel<F>, lane: usize) -> u32 {
        self.anchor_step[lane].saturating_add(if self.period[lane] == 0 { k.rules.max_period } else { self.period[lane] })
    }

    /// The shader's outcome checks for each lane that has an event. Finished runs are
    /// recorded. In the main pool, a run that reaches the window is parked for the window pool,
    /// and freed lanes are refilled from the selection; in the window pool they go idle (the
    /// next pass refills them from the parked runs). Returns false when every lane is idle.
    fn settle(&mut self, k: &Kernel<F>, window_pool: bool, sel: &Selection, next: &mut usize, parked: &mut Parked<F>, out: &mut ChunkOut) -> bool {
        let loss_reg = k.tape.loss as usize;
        let mut any_active = false;
        for lane in 0..LANES {
            let pos = self.slot_of[lane];
            if pos == usize::MAX {
                continue;
            }
            if self.retry[lane] {
                // A rejected trial: not a point of the run (still held).
                any_active = true;
                continue;
            }
            let loss = self.regs[loss_reg][lane];
            let gn2 = self.gn2[lane];
            match self.outcome(k, lane) {
                Some(status) => {
                    let mut segment_max = self.segment_max[lane].map(|v| v.to_f64());
                    segment_max[self.seg[lane] as usize] = self.gcur[lane].to_f64();
                    let rec = WindowRecord {
                        segment_max,
                        loss_start: self.loss_start[lane].to_f64(),
                        period: self.period[lane],
                        returns: self.returns[lane],
                        loss_rose: self.loss_rose[lane] != 0,
                        turns: self.turns[lane],
                    };
                    let end = RunEnd {
                        loss: loss.to_f64(),
                        gn2: gn2.to_f64(),
                        gtol2: self.gtol2[lane].to_f64(),
                        step: self.last_step[lane].to_f64(),
                        step_res: self.step_res[lane].to_f64(),
                    };
                    out.finding[pos] = finish(status, &rec, &end, &k.rules, k.max_steps, k.linesearch.is_some());
                    out.steps[pos] = self.steps_done[lane];
                    out.evals[pos] = self.evals[lane];
                    out.loss[pos] = loss.to_f64();
                    out.grad_norm[pos] = gn2.sqrt().to_f64();
                    for j in 0..k.dim {
                        out.x[pos * k.dim + j] = self.regs[k.tape.vars[j] as usize][lane].to_f64();
                    }
                    if k.layout.trained {
                        let sums = TrainSums {
                            loss0: self.train_loss0[lane].to_f64(),
                            ratio_sum: self.train_sum[lane].to_f64(),
                            inverse_sum: self.train_inv[lane].to_f64(),
                            tail_sum: self.train_tail[lane].to_f64(),
                        };
                        out.train[pos] = Trainability::complete(status, self.steps_done[lane], k.max_steps, sums, loss.to_f64());
                    }
                }
                None if !window_pool && self.steps_done[lane] >= k.pause_at => parked.park(self, k, lane),
                None => {
                    self.hold[lane] = false;
                    any_active = true;
                    continue;
                }
            }
            if !window_pool && (*next as u64) < sel.count {
                let p = *next;
                *next += 1;
                self.fill(k, lane, p, sel.offset + p as u64 * sel.stride);
                any_active = true;
            } else {
                self.idle(k, lane);
            }
        }
        any_active
    }

    /// The lane's blow-up bound, and the compiled loop's `ceiling` from it.
    fn set_bound(&mut self, lane: usize, bound: F) {
        self.bound[lane] = bound;
        self.ceiling[lane] = bound.min(F::MAX);
    }

    /// The shader's outcome checks for the point a lane just evaluated (at step 0 they first
    /// fix the run's blow-up bound and gradient tolerance): diverged, converged, or at `steps`.
    fn outcome(&mut self, k: &Kernel<F>, lane: usize) -> Option<Status> {
        let loss = self.regs[k.tape.loss as usize][lane];
        let gn2 = self.gn2[lane];
        if self.steps_done[lane] == 0 {
            self.set_bound(lane, k.blowup * loss.abs().max(F::from_f64(1.0)));
            let gtol = k.grad_tol_rel * gn2.sqrt();
            self.gtol2[lane] = gtol * gtol;
        }
        if let Some(reason) = crate::method::StopReason::from_u32(self.stop[lane]) {
            return Some(Status::from(reason));
        }
        let x_finite = k.tape.vars.iter().all(|&r| self.regs[r as usize][lane].is_finite());
        if !(loss.is_finite() && x_finite && loss.abs() <= self.bound[lane]) {
            Some(Status::Diverged)
        } else if !self.noisy[lane] && (gn2 <= k.grad_tol_abs2 || (gn2 <= self.gtol2[lane] && self.last_step[lane] <= self.step_res[lane])) {
            Some(Status::Converged)
        } else if self.steps_done[lane] >= k.max_steps {
            Some(Status::MaxSteps)
        } else {
            None
        }
    }

    /// The shader's LS_JUDGE for every lane not held, where the block has a line search.
    #[inline(always)]
    fn judge(&mut self, k: &Kernel<F>) {
        let Some(place) = k.linesearch else { return };
        linesearch::cpu_judge(
            search(k, place, &mut self.regs, &mut self.slots[place.first_slot..], &self.hyper, &self.lr),
            Verdicts {
                hold: &mut self.hold,
                retry: &mut self.retry,
                stop: &mut self.stop,
                evals: &mut self.evals,
                last_step: &mut self.last_step,
                step_res: &mut self.step_res,
            },
            k.step_tol,
            k.loss_rounding,
        );
    }

    /// The shader's UPDATE for every lane not held, then `steps_done += 1`.
    #[inline(always)]
    fn update(&mut self, k: &Kernel<F>) {
        // Held lanes are rare (a refill, or the idle tail of a chunk): without any, the update
        // runs without per-lane selects, which compile to slow masked stores on some CPUs.
        // A method that can end runs in its update holds them after it: masked.
        if k.block.optimizer.method().may_stop || self.hold.iter().any(|&h| h) {
            self.update_lanes::<true>(k)
        } else {
            self.update_lanes::<false>(k)
        }
    }

    /// The knobs' prologue (method::knobs), then the method's update (method::cpu_update),
    /// then `steps_done += 1`, for every lane not held.
    #[inline(always)]
    fn update_lanes<const MASKED: bool>(&mut self, k: &Kernel<F>) {
        let tape = k.tape;
        // The shader's `measure`: the step is measured from points that pass the relative
        // test only; where no lane does (most of a run), the copies and norms are skipped.
        let measure: [bool; LANES] = std::array::from_fn(|i| self.gn2[i] <= self.gtol2[i]);
        let any_measure = measure.iter().any(|&m| m);
        if any_measure {
            for j in 0..k.dim {
                self.xo[j] = self.regs[tape.vars[j] as usize];
            }
        }
        if let Some(place) = k.linesearch {
            linesearch::cpu_begin::<F, MASKED>(search(k, place, &mut self.regs, &mut self.slots[place.first_slot..], &self.hyper, &self.lr), &self.hold);
        }
        let (lr_now, method_slots) = match k.lr_now {
            // lr_now follows the method's slots: split it off so they stay borrowable.
            Some(s) => {
                let (rest, last) = self.slots.split_at_mut(s);
                (Some(&mut last[0]), rest)
            }
            None => (None, &mut self.slots[..]),
        };
        knobs::cpu::<F, MASKED>(
            &k.knobs,
            CpuKnobStep {
                regs: &mut self.regs,
                vars: &tape.vars,
                grad: &tape.grad,
                gn2: &self.gn2,
                lr: &self.lr,
                hyper: &self.hyper,
                lr_now,
                gd: &mut self.gd,
                lrj: &mut self.lrj,
                steps_done: &self.steps_done,
                hold: &self.hold,
            },
        );
        crate::method::cpu_update::<F, MASKED>(
            k.block.optimizer,
            CpuStep {
                dim: k.dim,
                memory: k.block.memory(),
                regs: &mut self.regs,
                vars: &tape.vars,
                slots: method_slots,
                gd: &self.gd,
                lrj: &self.lrj,
                lr_scaled: k.knobs.lr_scale.is_some(),
                hyper: &self.hyper,
                steps_done: &self.steps_done,
                hold: &self.hold,
                hess: &tape.hess,
                stop: &mut self.stop,
            },
        );
        // A run the update ended (stop) took no step: it is held from here on.
        for i in 0..LANES {
            self.hold[i] |= self.stop[i] != 0;
        }
        let hold = &self.hold;
        let (one, minus_one) = (F::from_f64(1.0), F::from_f64(-1.0));
        if any_measure {
            // last_step = ‖x − xo‖∞, step_res = step_tol·‖x‖∞, left to right as in the shader,
            // where measured.
            let zero = F::default();
            let (mut step, mut x_inf) = ([zero; LANES], [zero; LANES]);
            let unit = k.block.optimizer.method().unit_step;
            for j in 0..k.dim {
                let (x, xo, lr) = (&self.regs[tape.vars[j] as usize], &self.xo[j], &self.lr);
                for i in 0..LANES {
                    let d = (x[i] - xo[i]).abs();
                    let (d, m) = (if unit { d / lr[i] } else { d }, x[i].abs());
                    step[i] = if j == 0 { d } else { step[i].max(d) };
                    x_inf[i] = if j == 0 { m } else { x_inf[i].max(m) };
                }
            }
            for i in 0..LANES {
                let on = !(MASKED && hold[i]);
                self.last_step[i] = if !on { self.last_step[i] } else if measure[i] { step[i] } else { one };
                self.step_res[i] = if !on { self.step_res[i] } else if measure[i] { k.step_tol * x_inf[i] } else { minus_one };
            }
        } else {
            for i in 0..LANES {
                let on = !(MASKED && hold[i]);
                self.last_step[i] = if on { one } else { self.last_step[i] };
                self.step_res[i] = if on { minus_one } else { self.step_res[i] };
            }
        }
        if let Some(place) = k.linesearch {
            let (front, ls) = self.slots.split_at_mut(place.first_slot);
            let direction = k.direction.map(|at| &front[at..at + k.dim]);
            linesearch::cpu_start::<F, MASKED>(search(k, place, &mut self.regs, ls, &self.hyper, &self.lr), &self.hold, direction);
        }
        let hold = &self.hold;
        for i in 0..LANES {
            self.steps_done[i] += !(MASKED && hold[i]) as u32;
            self.evals[i] += !(MASKED && hold[i]) as u32;
        }
    }
}

/// What the line search's CPU twins see of the lanes (a function of the fields it borrows, so
/// that the lanes' other fields stay free).
#[inline(always)]
fn search<'s, F: Real>(k: &'s Kernel<F>, place: CpuPlace, regs: &'s mut [V<F>], slots: &'s mut [V<F>], hyper: &'s [V<F>], lr: &'s V<F>) -> CpuSearch<'s, F> {
    let unit_step = k.block.optimizer.method().unit_step;
    CpuSearch { dim: k.dim, regs, vars: &k.tape.vars, grad: &k.tape.grad, loss: k.tape.loss, slots, hyper, lr, unit_step, place }
}

/// Runs of the main pool that reached the window, waiting for a lane of the window pool: per
/// run x, slots, per-coordinate lr, hyperparameters, lr, bound, gtol2, last step, step resolution,
/// the trainability record (`width` reals), and its position, steps and evaluations.
struct Parked<F: Real> {
    reals: Vec<F>,
    meta: Vec<(usize, u32, u32)>,
    width: usize,
}

impl<F: Real> Parked<F> {
    fn new(k: &Kernel<F>) -> Self {
        Parked { reals: Vec::new(), meta: Vec::new(), width: 2 * k.dim + k.layout.slots.len() + k.block.n_hypers() + 5 + StateLayout::TRAIN_REALS }
    }

    fn len(&self) -> usize {
        self.meta.len()
    }

    fn park(&mut self, l: &Lanes<F>, k: &Kernel<F>, lane: usize) {
        self.reals.extend(k.tape.vars.iter().map(|&r| l.regs[r as usize][lane]));
        self.reals.extend(l.slots.iter().map(|s| s[lane]));
        self.reals.extend(l.lrj.iter().map(|s| s[lane]));
        self.reals.extend(l.hyper.iter().map(|s| s[lane]));
        self.reals.extend([l.lr[lane], l.bound[lane], l.gtol2[lane], l.last_step[lane], l.step_res[lane]]);
        self.reals.extend([l.train_loss0[lane], l.train_sum[lane], l.train_inv[lane], l.train_tail[lane]]);
        self.meta.push((l.slot_of[lane], l.steps_done[lane], l.evals[lane]));
    }

    /// Move the last parked run into `lane`, to be evaluated in this pass.
    fn unpark(&mut self, l: &mut Lanes<F>, k: &Kernel<F>, lane: usize) {
        let (pos, steps, evals) = self.meta.pop().expect("a parked run");
        let start = self.reals.len() - self.width;
        let mut it = self.reals.drain(start..);
        for &r in &k.tape.vars {
            l.regs[r as usize][lane] = it.next().unwrap();
        }
        for v in l.slots.iter_mut().chain(l.lrj.iter_mut()).chain(l.hyper.iter_mut()) {
            v[lane] = it.next().unwrap();
        }
        l.lr[lane] = it.next().unwrap();
        l.set_bound(lane, it.next().unwrap());
        l.gtol2[lane] = it.next().unwrap();
        l.last_step[lane] = it.next().unwrap();
        l.step_res[lane] = it.next().unwrap();
        for v in [&mut l.train_loss0, &mut l.train_sum, &mut l.train_inv, &mut l.train_tail] {
            v[lane] = it.next().unwrap();
        }
        l.slot_of[lane] = pos;
        l.steps_done[lane] = steps;
        l.evals[lane] = evals;
        l.hold[lane] = false;
        // (the lane's last run may have ended by a stop or mid-search: nothing of it goes on)
        l.retry[lane] = false;
        l.stop[lane] = 0;
        l.next_event[lane] = 0;
        l.set_noisy(k, lane);
    }
}

/// The path of one run (block-local index `run_local`): its point after every step `s` with
/// `record(s)`, and its last point, as (steps, x flattened). The same eval and update as the
/// sweep (the compiled loop between recorded steps, where the kernel has one), in lane 0 with
/// the others idle; no window record (a path needs no classification).
pub fn trace_run<F: Real>(k: &Kernel<F>, run_local: u64, record: impl Fn(u32) -> bool) -> crate::backend::Path {
    let mut l = Lanes::<F>::new(k);
    l.fill(k, 0, 0, run_local);
    for lane in 1..LANES {
        l.idle(k, lane);
    }
    let mut path = crate::backend::Path::default();
    loop {
        match k.jit {
            // The compiled loop up to the next step recorded (a trial pending there is judged
            // here: budget 0), as the sweep's main pool.
            Some(jit) if jit.has_step_loop() => {
                let s = l.steps_done[0];
                let next = (s..k.max_steps).find(|&t| record(t)).unwrap_or(k.max_steps);
                l.step_loop(k, jit, next, false)
            }
            _ => l.eval(k),
        }
        l.judge(k);
        if l.retry[0] {
            // A rejected trial point: not on the path.
            l.hold[0] = false;
            continue;
        }
        let s = l.steps_done[0];
        let end = l.outcome(k, 0).is_some();
        if record(s) || end {
            path.steps.push(s);
            path.evals.push(l.evals[0]);
            path.x.extend(k.tape.vars.iter().map(|&r| l.regs[r as usize][0].to_f64()));
        }
        if end {
            return path;
        }
        l.hold[0] = false;
        l.update(k);
    }
}

#[inline(always)]
fn run_chunk_inner<F: Real>(k: &Kernel<F>, sel: Selection) -> Results {
    let n = sel.count as usize;
    let mut out = ChunkOut {
        finding: vec![Finding::plain(Status::Running); n],
        steps: vec![0; n],
        evals: vec![0; n],
        loss: vec![0.0; n],
        grad_norm: vec![0.0; n],
        x: vec![0.0; n * k.dim],
        train: if k.layout.trained { vec![Trainability::UNKNOWN; n] } else { Vec::new() },
    };
    // Two pools of lanes: the main one runs every run up to its window, the window one runs
    // the window with its record (the shader's two pipelines). Parked runs wait between them;
    // the window pool runs once it can fill all its lanes, or when the main pool is done.
    let mut lanes = Lanes::<F>::new(k);
    let mut window = Lanes::<F>::new(k);
    let mut parked = Parked::new(k);
    let mut next = 0usize;
    for lane in 0..LANES {
        if next < n {
            lanes.fill(k, lane, next, sel.offset + next as u64 * sel.stride);
            next += 1;
        } else {
            lanes.idle(k, lane);
        }
    }
    let mut main_active = true;
    let until = k.pause_at.min(k.max_steps);
    loop {
        if main_active {
            match k.jit {
                Some(jit) if jit.has_step_loop() => lanes.step_loop(k, jit, until, false),
                _ => lanes.eval(k),
            }
            lanes.judge(k);
            lanes.record_trainability(k, false);
            if lanes.any_event(k, until) && !lanes.settle(k, false, &sel, &mut next, &mut parked, &mut out) {
                main_active = false;
            }
            lanes.update(k);
            for i in 0..LANES {
                // Refilled lanes wait one pass for their first evaluation; idle lanes stay held.
                lanes.hold[i] = lanes.slot_of[i] == usize::MAX;
            }
        }
        // The window pool takes parked runs a full set of lanes at a time, all at the window's
        // first step, and runs them to their end: they stay in step, so they settle together.
        if parked.len() >= LANES || (!main_active && parked.len() > 0) {
            for lane in 0..LANES {
                if parked.len() > 0 {
                    parked.unpark(&mut window, k, lane);
                }
            }
            loop {
                match k.jit {
                    Some(jit) if jit.has_window_loop() => window.step_loop(k, jit, k.max_steps, true),
                    _ => window.eval(k),
                }
                window.judge(k);
                window.record_window(k);
                window.record_trainability(k, true);
                if window.any_event(k, k.max_steps) && !window.settle(k, true, &sel, &mut next, &mut parked, &mut out) {
                    break;
                }
                window.update(k);
                for i in 0..LANES {
                    window.hold[i] = window.slot_of[i] == usize::MAX;
                }
            }
        } else if !main_active {
            break;
        }
    }
    Results {
        dim: k.dim,
        run: Vec::new(),
        status: out.finding.iter().map(|f| f.status).collect(),
        rate: out.finding.iter().map(|f| f.rate).collect(),
        period: out.finding.iter().map(|f| f.period).collect(),
        steps_left: out.finding.iter().map(|f| f.steps_left).collect(),
        steps: out.steps,
        evals: out.evals,
        loss: out.loss,
        grad_norm: out.grad_norm,
        x: out.x,
        train: out.train,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn run_chunk_avx512<F: Real>(k: &Kernel<F>, sel: Selection) -> Results {
    run_chunk_inner(k, sel)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_chunk_avx2<F: Real>(k: &Kernel<F>, sel: Selection) -> Results {
    run_chunk_inner(k, sel)
}

/// Run the selected runs of one block on this thread, with the widest SIMD the CPU has.
/// (FMA is enabled for its instructions only: Rust never fuses a*b+c on its own, so results do
/// not depend on the CPU.)
pub fn run_chunk<F: Real>(k: &Kernel<F>, sel: Selection) -> Results {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { run_chunk_avx512(k, sel) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { run_chunk_avx2(k, sel) };
        }
    }
    run_chunk_inner(k, sel)
}
