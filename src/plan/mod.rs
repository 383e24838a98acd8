//! The validated plan of a sweep: objective, axes, optimizer blocks, run ids and rules.
//!
//! ## Run ids
//! The grid is the union of one block per `[[optimizer]]` table, in config order. A block is the
//! Cartesian product of its axes in this order: `lr`, the optimizer's hyperparameters (in the
//! order of [`OptimizerKind::hypers`]), then the initial point, one axis per variable in
//! variable order. The last axis varies fastest (row-major, like `itertools.product` or
//! `numpy.meshgrid(indexing="ij")`). A run's id is its block's first id plus its row-major index,
//! so ids are stable whatever the backend, batch size or shard.
//!
//! Axis values are computed once on the host in f64 (log ranges: lo·(hi/lo)^(i/(n−1))) and
//! rounded to the run precision; devices decode a run's values from its id and these per-axis
//! tables, so nothing is uploaded per run.

pub mod analyses;
pub mod layout;
pub mod workgroup;

pub use layout::{StateLayout, INFO_STRIDE, SEGMENTS};
pub use workgroup::Layout;

use crate::problem::expr::Objective;
pub use crate::problem::real::Precision;
use crate::method::knobs::Knobs;
use crate::method::OptimizerKind;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Auto,
    Gpu,
    Cpu,
    /// The CPU backend on the tape interpreter alone (backend::cpu::CpuRef).
    #[serde(rename = "cpu-ref")]
    CpuRef,
}

impl BackendChoice {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "gpu" => Some(Self::Gpu),
            "cpu" => Some(Self::Cpu),
            "cpu-ref" => Some(Self::CpuRef),
            _ => None,
        }
    }
}

/// How runs are written: runs.csv (the default) or runs.parquet (see output::parquet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Csv,
    Parquet,
}

impl OutputFormat {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }
}

/// `[output] parameters`: where each run's initial and final parameters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterOutput {
    /// `init_<var>` and `x_<var>` columns of runs.csv (the default up to
    /// [`PARAMETER_COLUMNS_MAX`] parameters).
    Columns,
    /// parameters.npy: every run's final point, a (runs, parameters) array in run order (see
    /// output::npy); runs.csv keeps the `init_<var>` columns of swept starts only (the default
    /// beyond [`PARAMETER_COLUMNS_MAX`] parameters: a network's are too many for columns).
    Npy,
}

impl ParameterOutput {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "columns" => Some(Self::Columns),
            "npy" => Some(Self::Npy),
            _ => None,
        }
    }
}

/// Most parameters runs.csv gives columns by default.
pub const PARAMETER_COLUMNS_MAX: usize = 64;

pub const DEFAULT_WINDOW: u32 = 256;
pub const DEFAULT_MAX_PERIOD: u32 = 64;

/// When a run stops. Documented in README.md ("Outcomes").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rules {
    /// Converged when ‖g‖₂ ≤ grad_tol_abs, or when ‖g‖₂ ≤ grad_tol_rel·‖g₀‖₂ and the last step
    /// moved x by at most step_tol·‖x‖∞ in every coordinate (the steps have stopped mattering
    /// at the run's precision: see [`crate::outcome`]).
    pub grad_tol_abs: f64,
    pub grad_tol_rel: f64,
    pub step_tol: f64,
    /// The unit roundoff u of the run precision (2⁻²⁴ or 2⁻⁵³): changes of the loss below
    /// [`Rules::LOSS_ULPS`]·u·|loss| over the window cannot be told from rounding.
    pub unit_roundoff: f64,
    /// Diverged when the loss or a coordinate is not finite, or |loss| > blowup·max(|loss₀|, 1).
    pub blowup: f64,
    /// Runs still going at `steps` are classified from their last `window` steps
    /// (see [`crate::outcome::classify`]).
    pub window: u32,
    /// Longest period looked for, in steps.
    pub max_period: u32,
    /// A point returns to an earlier one when ‖x − x_earlier‖∞ ≤ cycle_tol·‖x_earlier‖∞.
    pub cycle_tol: f64,
    /// Record every run's [`crate::outcome::Trainability`] (`[analysis.trainability]`, or a map
    /// coloured by it): four more reals of state per run and a few operations per step.
    pub trainability: bool,
}

impl Rules {
    /// Roundings a loss change over the window must exceed to count as a change.
    pub const LOSS_ULPS: f64 = 16.0;
    /// The default step tolerance, in roundings of x: a step of a few ulps is rounding noise.
    pub const STEP_ULPS: f64 = 4.0;

    pub fn defaults(p: Precision) -> Rules {
        let u = p.unit_roundoff();
        match p {
            Precision::F32 => Rules {
                grad_tol_abs: 1e-5,
                grad_tol_rel: 1e-4,
                step_tol: Self::STEP_ULPS * u,
                unit_roundoff: u,
                blowup: 1e10,
                window: DEFAULT_WINDOW,
                max_period: DEFAULT_MAX_PERIOD,
                cycle_tol: 1e-5,
                trainability: false,
            },
            Precision::F64 => Rules {
                grad_tol_abs: 1e-10,
                grad_tol_rel: 1e-8,
                step_tol: Self::STEP_ULPS * u,
                unit_roundoff: u,
                blowup: 1e10,
                window: DEFAULT_WINDOW,
                max_period: DEFAULT_MAX_PERIOD,
                cycle_tol: 1e-9,
                trainability: false,
            },
        }
    }

    /// The relative change of a loss that rounding can make: LOSS_ULPS·u.
    pub fn loss_rounding(&self) -> f64 {
        Self::LOSS_ULPS * self.unit_roundoff
    }

    /// Whether a loss change from `a` to `b` is larger than rounding can make it.
    pub fn loss_changed(&self, a: f64, b: f64) -> bool {
        (a - b).abs() > self.loss_rounding() * a.abs().max(b.abs())
    }

    /// The classification window of a run of `steps` steps: (first step in it, segment length).
    /// The window is the last min(window, steps) steps, cut into [`SEGMENTS`] equal segments
    /// (the last also holds the final point); a segment length of 0 means no window.
    pub fn window_of(&self, steps: u32) -> (u32, u32) {
        let seg = self.window.min(steps) / SEGMENTS;
        (steps - seg * SEGMENTS, seg)
    }
}

/// How a block's runs draw their mini-batches (see problem::random): without replacement
/// within each epoch, or with replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    Shuffle,
    Replacement,
}

impl Sampling {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "shuffle" => Some(Self::Shuffle),
            "replacement" => Some(Self::Replacement),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Axis {
    /// `lr`, a hyperparameter name, or `init_<var>`.
    pub name: String,
    pub values: Vec<f64>,
    pub log: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Block {
    pub optimizer: OptimizerKind,
    /// Axes in decode order: lr, hyperparameters (the kind's, then the knobs `clip_norm` and
    /// `lr_scale_<var>` where the table sets them), init per variable.
    pub axes: Vec<Axis>,
    /// How many of `axes` after lr are hyperparameters.
    pub n_hypers: usize,
    /// The learning-rate schedule; its parameters are hyperparameter axes `schedule_<param>`.
    pub schedule: Option<crate::method::ScheduleKind>,
    /// The line search; its parameters are hyperparameter axes `linesearch_<param>`.
    pub linesearch: Option<crate::method::LineSearchKind>,
    pub first_run: u64,
    pub runs: u64,
    /// Refinement blocks of the threshold search: each combination of the other axes (`rest`)
    /// has its own learning rates, and run `local` takes `lr_table[rest·K + d]` where d is its lr
    /// digit (K = the lr axis' length, whose values are then only indices). None for sweeps.
    pub lr_table: Option<Vec<f64>>,
    /// Which of the plan's objectives the block minimises ([`Plan::objective_of`]): 0 but for a
    /// data axis (`standardize`), whose value the block's `standardize` axis holds.
    pub variant: usize,
    /// Mini-batches: how they are drawn, their sizes and seeds being the hyperparameter axes
    /// `batch_size` and `seed`. None: every evaluation sees the whole table.
    pub sampling: Option<Sampling>,
    /// Per-layer learning rates: for each coordinate, which of the block's `lr_scale_*` axes
    /// (in hyperparameter order) scales it, where they are per group (`lr_scale_l1` for every
    /// `l1.*` parameter). None: one `lr_scale_<var>` axis per variable, in variable order.
    pub scale_of: Option<Vec<usize>>,
    /// Seeded initial points with a seed axis (`[sweep.init] seed = { lin = [0, 255], n = 256 }`):
    /// each seed's whole initial point, drawn on the host. None: the `init_<var>` axes hold the
    /// initial points.
    pub init_table: Option<InitTable>,
    /// Where each run lives on the GPU, one invocation or one workgroup (plan::workgroup); the
    /// CPU backend mirrors it ([`Plan::step_objective`]).
    pub layout: Layout,
}

/// The initial points of a seed axis: for the s-th value of the hyperparameter axis
/// `init_seed` (axis `seed_axis` of the block), coordinate j starts at `values[s·dim + j]`; the
/// block's `init_<var>` axes then hold one value each, unread.
#[derive(Debug, Clone, Serialize)]
pub struct InitTable {
    pub seed_axis: usize,
    #[serde(skip)]
    pub values: Vec<f64>,
}

impl Block {
    /// Coordinate j's lr_scale for run `local` (1 without lr_scale).
    pub fn lr_scale(&self, local: u64, j: usize) -> f64 {
        let scales: Vec<usize> = self.hyper_names().enumerate().filter(|(_, n)| n.starts_with("lr_scale_")).map(|(q, _)| q).collect();
        if scales.is_empty() {
            return 1.0;
        }
        let q = match &self.scale_of {
            Some(map) => scales[map[j]],
            None => scales[j],
        };
        self.axis_value(local, 1 + q)
    }

    pub fn n_hypers(&self) -> usize {
        self.n_hypers
    }

    /// The hyperparameter axes' names, in decode order.
    pub fn hyper_names(&self) -> impl Iterator<Item = &str> {
        self.axes[1..1 + self.n_hypers].iter().map(|a| a.name.as_str())
    }

    /// The knobs the block uses, as positions among its hyperparameters (see
    /// [`crate::method::knobs`]).
    pub fn knobs(&self) -> Knobs {
        let weight_decay = self.axes.iter().find(|a| a.name == "weight_decay").is_some_and(|a| a.values != [0.0]);
        let scales: Vec<(usize, String)> =
            self.hyper_names().enumerate().filter(|(_, n)| n.starts_with("lr_scale_")).map(|(q, n)| (q, n.to_string())).collect();
        let scales = match &self.scale_of {
            Some(map) if !scales.is_empty() => map.iter().map(|&k| scales[k].clone()).collect(),
            _ => scales,
        };
        Knobs {
            clip_norm: self.hyper_index("clip_norm"),
            weight_decay: if weight_decay { self.hyper_index("weight_decay") } else { None },
            decay: self.optimizer.method().weight_decay,
            lr_scale: (!scales.is_empty()).then_some(scales),
            schedule: self.schedule.map(|kind| (kind, self.param_positions("schedule", kind.params()))),
            linesearch: self.linesearch.map(|kind| (kind, self.param_positions("linesearch", kind.params()))),
        }
    }

    /// Positions among the hyperparameters of a knob's parameters (axes `<knob>_<param>`).
    fn param_positions(&self, knob: &str, params: &[crate::method::KnobParam]) -> Vec<usize> {
        let at = |q: &crate::method::KnobParam| self.hyper_index(&format!("{knob}_{}", q.hyper.name));
        params.iter().map(|q| at(q).expect("config adds every parameter of a knob")).collect()
    }

    /// The most memory entries a run of this block keeps (its largest `memory_size`; 0 for
    /// methods without a memory).
    pub fn memory(&self) -> usize {
        self.axis_max("memory_size").map_or(0, |m| m as usize)
    }

    /// The largest value of the axis `name`, where the block has it.
    pub fn axis_max(&self, name: &str) -> Option<f64> {
        self.axes.iter().find(|a| a.name == name).map(|a| a.values.iter().fold(0.0f64, |m, &v| m.max(v)))
    }

    /// Position of a hyperparameter among the block's hyperparameters.
    pub fn hyper_index(&self, name: &str) -> Option<usize> {
        self.hyper_names().position(|n| n == name)
    }

    /// Axis digits of the block-local index `local` (row-major, last axis fastest).
    pub fn digits(&self, mut local: u64) -> Vec<usize> {
        let mut d = vec![0; self.axes.len()];
        for (k, axis) in self.axes.iter().enumerate().rev() {
            let n = axis.values.len() as u64;
            d[k] = (local % n) as usize;
            local /= n;
        }
        d
    }

    /// This block with every axis but lr fixed at its value for block-local index `local`, and
    /// `lrs` as the lr axis (a refinement block of the threshold search; with one lr, a single
    /// run: a traced run).
    pub fn fixed_at(&self, local: u64, lrs: Vec<f64>, first_run: u64) -> Block {
        let mut axes = vec![Axis { name: self.axes[0].name.clone(), values: lrs, log: false }];
        axes.extend(self.axes.iter().enumerate().skip(1).map(|(k, a)| Axis { name: a.name.clone(), values: vec![self.axis_value(local, k)], log: false }));
        let runs = axes[0].values.len() as u64;
        Block { axes, first_run, runs, lr_table: None, init_table: None, ..self.clone() }
    }

    /// The value of axis `k` for block-local index `local`, without decoding the others (an
    /// `init_<var>` axis: the run's initial coordinate, from the seed table where there is one).
    pub fn axis_value(&self, local: u64, k: usize) -> f64 {
        let digit = |k: usize| {
            let inner: u64 = self.axes[k + 1..].iter().map(|a| a.values.len() as u64).product();
            (local / inner) % self.axes[k].values.len() as u64
        };
        let first_init = 1 + self.n_hypers;
        match (&self.lr_table, &self.init_table, k) {
            (Some(table), _, 0) => {
                let inner: u64 = self.axes[1..].iter().map(|a| a.values.len() as u64).product();
                table[((local % inner) * self.axes[0].values.len() as u64 + digit(0)) as usize]
            }
            (_, Some(t), k) if k >= first_init => t.values[digit(t.seed_axis) as usize * self.n_init() + k - first_init],
            _ => self.axes[k].values[digit(k) as usize],
        }
    }

    /// The coordinates of the block's initial points (its `init_<var>` axes, the last ones).
    pub fn n_init(&self) -> usize {
        self.axes.len() - 1 - self.n_hypers
    }

    /// Coordinate j of the initial point of the run whose axis digits are `digits`.
    pub fn init_value(&self, digits: &[usize], j: usize) -> f64 {
        let k = 1 + self.n_hypers + j;
        match &self.init_table {
            Some(t) => t.values[digits[t.seed_axis] * self.n_init() + j],
            None => self.axes[k].values[digits[k]],
        }
    }
}

/// Which runs of a block to compute: block-local indices offset + i·stride, i < count
/// (the same selection as the shader's `Params`).
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    pub offset: u64,
    pub stride: u64,
    pub count: u64,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// The objective (with a data axis, its first value's: the variables, the graph and the
    /// formula are the same for every value, only the data differ).
    pub objective: Objective,
    /// With a data axis, the objectives of its other values, in order (see [`Block::variant`]).
    pub variants: Vec<Objective>,
    pub blocks: Vec<Block>,
    pub steps: u32,
    pub steps_per_dispatch: u32,
    pub precision: Precision,
    pub backend: BackendChoice,
    pub rules: Rules,
    /// `[analysis.basins]`, where the config asks for basins.
    pub basins: Option<analyses::BasinSpec>,
    /// `[analysis.threshold]`, where the config asks for learning-rate thresholds.
    pub threshold: Option<analyses::ThresholdSpec>,
    /// `[analysis.map]`: the axes and colouring of map.csv and map.png.
    pub map: Option<analyses::MapSpec>,
    /// `[analysis.trajectories]`: the runs whose paths are recorded.
    pub trajectories: Option<analyses::TrajectorySpec>,
    /// `[analysis.sharpness]` (or a map coloured by sharpness): final sharpness of every run,
    /// and its traces along chosen runs.
    pub sharpness: Option<analyses::SharpnessSpec>,
    /// The resolved configuration, for manifest.json and `gdsweep plan`.
    pub resolved: serde_json::Value,
    /// The config file this plan came from (for error messages at run time).
    pub source: String,
    /// `[output] format`: runs.csv or runs.parquet.
    pub format: OutputFormat,
    /// Where the parameters go (`[output] parameters`).
    pub parameters: ParameterOutput,
    /// The config text the plan was parsed from (with `--set` applied) and the name a sweep
    /// without `name` takes: `gdsweep merge` rebuilds the plan from these.
    pub config_text: String,
    pub default_name: String,
    /// Per objective (0 the plan's, k its k-th variant) that a workgroup block minimises, the
    /// network's split composed in the kernel's order (see [`Plan::step_objective`]).
    pub composed: Vec<Option<Objective>>,
}

impl Plan {
    /// A fingerprint of everything the sweep's results depend on (objective, grid, steps,
    /// precision, rules, analyses and the gdsweep version; not the backend or the file name):
    /// FNV-1a, 64 bits, in hex. Resume, shards and merge use it to refuse mixing two sweeps;
    /// it guards against mistakes, not against forgery.
    /// runs.csv has the `x_<var>` columns (else the final points are in parameters.npy).
    pub fn point_columns(&self) -> bool {
        self.parameters == ParameterOutput::Columns
    }

    /// The variables whose `init_<var>` column runs.csv and the other run tables have: all of
    /// them, or with parameters.npy those whose start is swept (more than one value in a block).
    pub fn init_columns(&self) -> Vec<usize> {
        let d = self.objective.dim();
        match self.parameters {
            ParameterOutput::Columns => (0..d).collect(),
            ParameterOutput::Npy => (0..d).filter(|&j| self.blocks.iter().any(|b| b.axes[1 + b.n_hypers() + j].values.len() > 1)).collect(),
        }
    }

    pub fn fingerprint(&self) -> String {
        let o = &self.objective;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        let text = format!(
            "{}|{:?}|{}|{:?}|{:?}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            env!("CARGO_PKG_VERSION"),
            o.vars,
            o.graph.fingerprint(),
            o.loss,
            o.grad,
            o.hessian,
            self.steps,
            self.steps_per_dispatch,
            self.precision,
            self.rules,
            self.basins,
            self.threshold,
            self.map,
            self.trajectories,
            self.sharpness,
        );
        eat(text.as_bytes());
        // The data tables, as bits.
        for o in std::iter::once(&self.objective).chain(&self.variants) {
            if let Some(rows) = &o.rows {
                eat(format!("|rows {}", rows.cols).as_bytes());
                for v in &rows.values {
                    eat(&v.to_bits().to_le_bytes());
                }
            }
        }
        // The blocks, their axis values as bits (an axis may have millions of values).
        for b in &self.blocks {
            eat(format!("|{:?}|{:?}|{:?}|{}|{}|{}|{}|{:?}", b.optimizer, b.schedule, b.linesearch, b.n_hypers, b.first_run, b.runs, b.variant, b.sampling).as_bytes());
            for a in &b.axes {
                eat(format!("|{}|{}|{}", a.name, a.log, a.values.len()).as_bytes());
                for v in &a.values {
                    eat(&v.to_bits().to_le_bytes());
                }
            }
            for v in b.lr_table.iter().flatten().chain(b.init_table.iter().flat_map(|t| &t.values)) {
                eat(&v.to_bits().to_le_bytes());
            }
        }
        eat(format!("|{:?}", self.parameters).as_bytes());
        format!("{h:016x}")
    }

    /// Operations one step evaluates (the step graph's nodes): what a shader's size and the CPU
    /// tape's length go with.
    pub fn step_ops(&self) -> usize {
        let hessian = self.blocks.iter().any(|b| b.optimizer.method().hessian);
        self.objective.graph.schedule(&self.objective.step_roots(hessian)).len()
    }

    /// The most loop iterations one step of block `b` makes in the shader, as lavapipe counts
    /// them: llvmpipe keeps one limiter for all of a shader's loops and stops them after 65,535
    /// back-edges in all, so a dispatch may hold at most
    /// [`crate::config::MAX_STEPS_PER_DISPATCH`] of them. A step makes its evaluations (1, or
    /// up to 1 + the largest `linesearch_max_steps` with a line search), each one pass of the
    /// main loop and, over a data table, `rows` passes of the row loop. With a line search over
    /// a data table, lavapipe stopped runs at 3.7 times fewer (L-BFGS's zoom on 12 rows: at 85
    /// steps of 16 evaluations a dispatch): such steps count 4 times.
    pub fn loop_iterations_per_step(&self, b: &Block) -> u64 {
        if b.layout == Layout::Workgroup {
            let obj = self.objective_of(b);
            return workgroup::fit(obj, b, self.precision).expect("the config checked the workgroup layout").loop_iterations_per_step(obj);
        }
        let trials = b.axis_max("linesearch_max_steps").unwrap_or(0.0);
        let rows = self.objective_of(b).rows.as_ref().map(|r| r.count() as u64);
        let evals = if b.linesearch.is_some() { (1 + trials as u64) * if rows.is_some() { 4 } else { 1 } } else { 1 };
        // A mini-batch's rows: a shuffled one's cycle walk makes a few passes per row (fewer
        // than 4 on average: the Feistel domain is under 4 times the rows; counted 4 more).
        let batch = b.axis_max("batch_size").map(|v| v as u64);
        let rows = match (rows, batch, b.sampling) {
            (Some(m), Some(batch), Some(Sampling::Shuffle)) if batch < m => Some(5 * batch),
            (Some(_), Some(batch), Some(Sampling::Replacement)) => Some(batch),
            (rows, _, _) => rows,
        };
        evals * (1 + rows.unwrap_or(0))
    }

    /// Seconds the CPU backend takes, roughly, every run taking all its steps: 5e8 config-steps/s
    /// on 2 cores for a 17-operation step (W1 measures 1.4e9 with early exits), scaled by the
    /// step's size: what the automatic backend choice weighs against lavapipe's compile time
    /// (`plan` prints [`Plan::cpu_seconds_bound`]).
    pub fn cpu_seconds_estimate(&self) -> f64 {
        self.total_runs() as f64 * self.steps as f64 / (5e8 * 17.0 / self.step_ops().max(10) as f64)
    }

    /// The CPU backend's compute time at most, every run taking all its steps, where this can
    /// say: runs go in groups of [`crate::method::lanes::LANES`] lanes (a group of 4 runs costs
    /// a full one), each group on one of 2 cores at 2.5e8 lane-steps/s for a 17-operation step,
    /// and a step with a backtracking search evaluates up to 1 + `max_steps` points. None where
    /// a block's update costs far more than the objective's operations (newton, lbfgs, cg: see
    /// BENCHMARKS.md) or has a zoom search: no bound is claimed for them.
    pub fn cpu_seconds_bound(&self) -> Option<f64> {
        let lanes = crate::method::lanes::LANES as f64;
        let per_core = 2.5e8 * 17.0 / self.step_ops().max(10) as f64;
        let mut total = 0.0;
        for b in &self.blocks {
            let m = b.optimizer.method();
            if m.default_linesearch.is_some() || m.hessian {
                return None;
            }
            let evals_per_step = match b.linesearch {
                None => 1.0,
                Some(crate::method::LineSearchKind::Backtracking) => {
                    1.0 + b.axis_max("linesearch_max_steps").unwrap_or(0.0)
                }
                Some(_) => return None,
            };
            let groups = (b.runs as f64 / lanes).ceil();
            total += groups * lanes * self.steps as f64 * evals_per_step / (per_core * groups.min(2.0));
        }
        Some(total)
    }

    /// Whether run `local` of `b` takes mini-batches smaller than the table (or draws with
    /// replacement): its gradients are noisy estimates of the objective's.
    pub fn noisy(&self, b: &Block, local: u64) -> bool {
        let Some(sampling) = b.sampling else { return false };
        let rows = self.objective_of(b).rows.as_ref().map_or(0, |r| r.count()) as f64;
        let batch = b.hyper_index("batch_size").map_or(rows, |q| b.axis_value(local, 1 + q));
        sampling == Sampling::Replacement || batch < rows
    }

    /// The objective block `b` minimises.
    pub fn objective_of(&self, b: &Block) -> &Objective {
        match b.variant {
            0 => &self.objective,
            k => &self.variants[k - 1],
        }
    }

    /// The objective whose graph block `b`'s steps evaluate: the one it minimises, or in the
    /// workgroup layout the same function composed from its units in the kernel's order, so
    /// that the CPU backend computes what the GPU kernel computes (plan::workgroup).
    pub fn step_objective(&self, b: &Block) -> &Objective {
        match (b.layout, self.composed.get(b.variant)) {
            (Layout::Workgroup, Some(Some(c))) => c,
            (Layout::Workgroup, _) => panic!("a workgroup block's objective is composed when the plan is made"),
            (Layout::Invocation, _) => self.objective_of(b),
        }
    }

    /// The composed objectives of the workgroup blocks ([`Plan::composed`]), from the blocks'
    /// layouts and fits.
    pub fn compose_workgroup_objectives(&mut self) {
        let n = 1 + self.variants.len();
        self.composed = (0..n)
            .map(|v| {
                let b = self.blocks.iter().find(|b| b.variant == v && b.layout == Layout::Workgroup)?;
                let obj = self.objective_of(b);
                let fit = workgroup::fit(obj, b, self.precision).expect("a workgroup block fits its layout");
                Some(fit.split.composed(obj))
            })
            .collect();
    }

    /// The objective run `id` minimises.
    pub fn objective_of_run(&self, id: u64) -> &Objective {
        self.locate(id).map_or(&self.objective, |(bi, _)| self.objective_of(&self.blocks[bi]))
    }

    pub fn total_runs(&self) -> u64 {
        self.blocks.iter().map(|b| b.runs).sum()
    }

    /// Hyperparameter columns of runs.csv: every hyperparameter of every optimizer used, in
    /// order of first appearance.
    pub fn hyper_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        for b in &self.blocks {
            for h in b.hyper_names() {
                if !cols.iter().any(|c| c == h) {
                    cols.push(h.to_string());
                }
            }
        }
        cols
    }

    /// Whether a run's point after `s` steps ends a dispatch of `every` steps: multiples of
    /// `every`, counted again from the classification window's first step, where the GPU's main
    /// pipeline pauses. Trajectories record their points there, on both backends.
    pub fn dispatch_boundary(&self, s: u32, every: u32) -> bool {
        let (ws, seg) = self.rules.window_of(self.steps);
        if seg > 0 && s >= ws {
            (s - ws).is_multiple_of(every)
        } else {
            s.is_multiple_of(every)
        }
    }

    /// The runs of each block to compute: all of them, or about `sample` evenly strided runs.
    pub fn selections(&self, sample: Option<u64>) -> Vec<Selection> {
        let stride = match sample {
            Some(n) if n > 0 && n < self.total_runs() => self.total_runs().div_ceil(n),
            _ => 1,
        };
        self.blocks.iter().map(|b| Selection { offset: 0, stride, count: b.runs.div_ceil(stride) }).collect()
    }

    /// The block holding run `id`, and the block-local index.
    pub fn locate(&self, id: u64) -> Option<(usize, u64)> {
        self.blocks
            .iter()
            .position(|b| id >= b.first_run && id < b.first_run + b.runs)
            .map(|i| (i, id - self.blocks[i].first_run))
    }

    /// The eigenvalues (ascending) of the curvature a step of run `local` of `block` sees,
    /// S(H + wd·I)S with S = diag(√lr_scale_<var>) and wd the L2 weight decay: where the
    /// objective's Hessian H is constant, the block has no schedule, no line search and no
    /// clipping. None otherwise (the step map is then not one linear map).
    pub fn step_curvature(&self, block: &Block, local: u64) -> Option<Vec<f64>> {
        let h = self.objective_of(block).constant_hessian()?;
        if !Self::linear_step(block, local) {
            return None;
        }
        let value = |name: &str| block.hyper_index(name).map(|k| block.axis_value(local, 1 + k));
        let wd = value("weight_decay").unwrap_or(0.0);
        let vars = &self.objective.vars;
        let s: Vec<f64> = (0..vars.len()).map(|j| block.lr_scale(local, j).sqrt()).collect();
        let d = vars.len();
        let m = (0..d).map(|i| (0..d).map(|j| s[i] * (h[i][j] + if i == j { wd } else { 0.0 }) * s[j]).collect()).collect();
        Some(crate::problem::linalg::symmetric_eigenvalues(m))
    }

    /// Whether a step of run `local` of `block` is its method's rule alone near a minimum: no
    /// schedule, no line search, no finite clipping (each makes the step map nonlinear in lr).
    fn linear_step(block: &Block, local: u64) -> bool {
        let clip = block.hyper_index("clip_norm").map(|k| block.axis_value(local, 1 + k));
        block.schedule.is_none() && block.linesearch.is_none() && !clip.is_some_and(f64::is_finite)
    }

    /// The factor c of run `local`'s stability bound lr < c/λ_max on a quadratic
    /// (`Method::stability`, from the run's hyperparameters); None where the method has none.
    pub fn stability_factor(&self, block: &Block, local: u64) -> Option<f64> {
        let value = |name: &str| block.hyper_index(name).map(|k| block.axis_value(local, 1 + k));
        (block.optimizer.method().stability?)(&value)
    }

    /// The edge of stability of run `local` (Cohen et al. 2021): the sharpness λ_max above which
    /// its method cannot stay near a minimum, c/lr (2/lr for GD). Only where that is the whole
    /// story: the method has a bound, the step is linear ([`Self::linear_step`]) and the run has
    /// no per-coordinate lr and no weight decay (either changes the curvature a step sees, so the
    /// loss's λ_max alone would not decide). None otherwise.
    pub fn edge_of_stability(&self, block: &Block, local: u64) -> Option<f64> {
        let value = |name: &str| block.hyper_index(name).map(|k| block.axis_value(local, 1 + k));
        let plain = (0..self.objective.dim()).all(|j| block.lr_scale(local, j) == 1.0) && value("weight_decay").unwrap_or(0.0) == 0.0;
        let lr = block.axis_value(local, 0);
        (plain && Self::linear_step(block, local) && lr > 0.0).then(|| self.stability_factor(block, local)).flatten().map(|c| c / lr)
    }

    /// Where each real of a block's per-run state lies (see [`layout`]).
    pub fn layout(&self, block: &Block) -> StateLayout {
        StateLayout::new(block, self.objective.dim(), self.rules.window_of(self.steps).1 > 0, self.rules.trainability)
    }
}
