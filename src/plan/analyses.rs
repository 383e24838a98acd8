//! What the `[analysis.*]` tables ask for, resolved: the part of the plan that the analyses
//! (src/analysis/) carry out after the sweep. Defaults and limits live here, next to the types.

use super::Block;
use serde::Serialize;

/// `[analysis.basins]`: the default clustering tolerance (see analysis::basins).
pub const DEFAULT_BASIN_TOLERANCE: f64 = 1e-2;

/// `[analysis.basins]`, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BasinSpec {
    pub tolerance: f64,
    /// Also cluster the `stalled` runs that ended at a saddle or a maximum (pure Newton's).
    pub critical_points: bool,
}

impl BasinSpec {
    /// Minima only, at this tolerance.
    pub fn minima(tolerance: f64) -> BasinSpec {
        BasinSpec { tolerance, critical_points: false }
    }
}

pub const DEFAULT_REL_TOL: f64 = 1e-6;
pub const DEFAULT_THRESHOLD_POINTS: u32 = 64;
pub const DEFAULT_MAX_ROUNDS: u32 = 20;

/// `[analysis.threshold]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThresholdSpec {
    /// Stop refining a bracket once (lr_unstable − lr_stable)/lr_unstable ≤ rel_tol.
    pub rel_tol: f64,
    /// Learning rates evaluated inside each open bracket per round.
    pub points: u32,
    /// Most refinement rounds (0: the coarse grid only).
    pub max_rounds: u32,
}

impl Default for ThresholdSpec {
    fn default() -> Self {
        ThresholdSpec { rel_tol: DEFAULT_REL_TOL, points: DEFAULT_THRESHOLD_POINTS, max_rounds: DEFAULT_MAX_ROUNDS }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Status,
    Basin,
    Steps,
    /// Evaluations of the loss and gradient, line-search trials included.
    Evals,
    Loss,
    Rate,
    /// λ_max of the Hessian at the final point (turns on `[analysis.sharpness]`).
    Sharpness,
    /// That sharpness over the method's edge of stability (2/lr for GD): 1 is the edge.
    EdgeRatio,
    /// The trainability measure of Sohl-Dickstein (2024) (outcome::Trainability), in its
    /// notebook's colours (turns on `[analysis.trainability]`).
    Trainability,
}

impl Colour {
    pub const NAMES: &'static str = "status, basin, steps, evals, loss, rate, sharpness, edge_ratio, trainability";

    pub fn from_name(s: &str) -> Option<Colour> {
        Some(match s {
            "status" => Colour::Status,
            "basin" => Colour::Basin,
            "steps" => Colour::Steps,
            "evals" => Colour::Evals,
            "loss" => Colour::Loss,
            "rate" => Colour::Rate,
            "sharpness" => Colour::Sharpness,
            "edge_ratio" => Colour::EdgeRatio,
            "trainability" => Colour::Trainability,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Colour::Status => "status",
            Colour::Basin => "basin",
            Colour::Steps => "steps",
            Colour::Evals => "evals",
            Colour::Loss => "loss",
            Colour::Rate => "rate",
            Colour::Sharpness => "sharpness",
            Colour::EdgeRatio => "edge_ratio",
            Colour::Trainability => "trainability",
        }
    }
}

/// `[analysis.map]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapSpec {
    pub x: String,
    pub y: Option<String>,
    pub color: Colour,
}

/// Most panels of a 2-D map and series of a 1-D one: beyond, a picture stops being readable.
pub const MAX_PANELS: u64 = 16;
pub const MAX_SERIES: u64 = 12;

pub fn axis_pos(block: &Block, name: &str) -> Option<usize> {
    block.axes.iter().position(|a| a.name == name)
}

/// Check a map against the plan's blocks; the message says what is wrong and what is allowed.
pub fn check_map(spec: &MapSpec, blocks: &[Block]) -> Result<(), (String, String)> {
    let names: Vec<&str> = spec.y.iter().map(String::as_str).chain(std::iter::once(spec.x.as_str())).collect();
    let mut all: Vec<&str> = Vec::new();
    for b in blocks {
        for a in &b.axes {
            if !all.contains(&a.name.as_str()) {
                all.push(&a.name);
            }
        }
    }
    for (field, name) in [("x", Some(spec.x.as_str())), ("y", spec.y.as_deref())] {
        let Some(name) = name else { continue };
        if !all.contains(&name) {
            return Err((field.into(), format!("'{name}' is not an axis of this sweep (axes: {})", all.join(", "))));
        }
    }
    if spec.y.as_deref() == Some(spec.x.as_str()) {
        return Err(("y".into(), "must differ from x".into()));
    }
    let users: Vec<&Block> = blocks.iter().filter(|b| names.iter().all(|n| axis_pos(b, n).is_some())).collect();
    if users.is_empty() {
        return Err((
            "y".into(),
            format!("no [[optimizer]] table has both '{}' and '{}': a map's axes must belong to one table", spec.x, names[0]),
        ));
    }
    for (field, name) in [("x", Some(spec.x.as_str())), ("y", spec.y.as_deref())] {
        let Some(name) = name else { continue };
        let first = &users[0].axes[axis_pos(users[0], name).expect("checked")];
        if first.values.len() < 2 {
            return Err((field.into(), format!("axis '{name}' has one value: a map needs at least two along each of its axes")));
        }
        if let Some(b) = users.iter().find(|b| b.axes[axis_pos(b, name).expect("checked")].values != first.values) {
            return Err((
                field.into(),
                format!("axis '{name}' has different values in the {} and {} tables: a map needs one grid (give them the same values, or map them in separate configs)", users[0].optimizer.name(), b.optimizer.name()),
            ));
        }
    }
    let panels: u64 = users
        .iter()
        .map(|b| b.axes.iter().filter(|a| !names.contains(&a.name.as_str())).map(|a| a.values.len() as u64).product::<u64>())
        .sum();
    let (limit, what) = if spec.y.is_some() { (MAX_PANELS, "panels") } else { (MAX_SERIES, "series") };
    if panels > limit {
        return Err((
            "x".into(),
            format!("the map would have {panels} {what} (one per combination of the other axes), more than {limit}: map fewer combinations, or put the varying axis on the map"),
        ));
    }
    Ok(())
}

/// At most this many runs are traced: the picture stops being readable well before.
pub const MAX_TRAJECTORIES: usize = 64;
pub const DEFAULT_TRAJECTORY_SAMPLE: u64 = 8;
/// Default `every`: about this many points per full-length path.
pub const DEFAULT_TRAJECTORY_POINTS: u32 = 1000;

/// `[analysis.trajectories]`, resolved: the run ids and the recording interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrajectorySpec {
    pub runs: Vec<u64>,
    pub every: u32,
}

/// `[analysis.sharpness]`, resolved: every run's final sharpness (runs.csv's `sharpness` and
/// `edge_of_stability` columns) and, where `trace` is given, the sharpness along those runs'
/// paths (sharpness.csv, sharpness.png).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharpnessSpec {
    pub trace: Option<TrajectorySpec>,
}

/// `n` runs spread over the grid: dealt to the blocks in turn, and placed within a block by
/// the Halton sequence (bases 2, 3, 5, …, one per axis with more than one value), so they
/// spread over every axis at once. (Evenly spaced ids would share the slow axes' values: six
/// of a 256² grid all fell in one row.)
pub fn sample(blocks: &[super::Block], n: u64) -> Vec<u64> {
    const PRIMES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    let total: u64 = blocks.iter().map(|b| b.runs).sum();
    let n = n.min(total).max(1);
    let radical_inverse = |mut i: u64, base: u64| {
        let (mut f, mut r) = (1.0, 0.0);
        while i > 0 {
            f /= base as f64;
            r += f * (i % base) as f64;
            i /= base;
        }
        r
    };
    let mut picked: Vec<u64> = Vec::with_capacity(n as usize);
    let mut taken = vec![0u64; blocks.len()];
    let mut bi = 0;
    while (picked.len() as u64) < n {
        let b = &blocks[bi];
        if taken[bi] < b.runs {
            taken[bi] += 1;
            // One Halton sequence across the blocks: each sample its own place.
            let k = picked.len() as u64 + 1;
            let (mut local, mut stride, mut prime) = (0u64, 1u64, 0usize);
            for axis in b.axes.iter().rev() {
                let len = axis.values.len() as u64;
                if len > 1 {
                    let u = radical_inverse(k, PRIMES[prime % PRIMES.len()]);
                    prime += 1;
                    local += ((u * len as f64) as u64).min(len - 1) * stride;
                }
                stride *= len;
            }
            let mut id = b.first_run + local;
            // Tiny grids: the next free run of the block instead of a repeat.
            while picked.contains(&id) {
                id = b.first_run + (id - b.first_run + 1) % b.runs;
            }
            picked.push(id);
        }
        bi = (bi + 1) % blocks.len();
    }
    picked
}

