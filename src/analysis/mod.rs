//! What the results mean: basins of attraction, learning-rate thresholds, maps, trajectories,
//! and the GPU/CPU verification.
pub mod basins;
pub mod map;
pub mod sharpness;
pub mod threshold;
pub mod trajectory;
pub mod verify;

/// What the streamed analyses add to each run of a chunk, in runs.csv's extra columns and on
/// the map: its basin (`[analysis.basins]`) and its final sharpness (`[analysis.sharpness]`),
/// each where the sweep asks for it.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    pub basins: Option<Vec<Option<usize>>>,
    pub sharpness: Option<sharpness::Finals>,
}

impl Derived {
    /// Which extra columns a chunk of this sweep has (runs.csv's header, runs.parquet's schema).
    pub fn columns(&self) -> Extra {
        Extra { basin: self.basins.is_some(), sharpness: self.sharpness.is_some() }
    }
}

/// The extra columns of runs.csv, after its own: `basin`, then `sharpness` and
/// `edge_of_stability`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extra {
    pub basin: bool,
    pub sharpness: bool,
}

impl Extra {
    /// The columns a sweep of `plan` writes (`analyses`: false for a shard, which writes none).
    pub fn of(plan: &crate::plan::Plan, analyses: bool) -> Extra {
        Extra { basin: analyses && plan.basins.is_some(), sharpness: analyses && plan.sharpness.is_some() }
    }
}
