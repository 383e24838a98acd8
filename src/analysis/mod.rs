//! What the results mean: basins of attraction, learning-rate thresholds, maps, trajectories,
//! and the GPU/CPU verification.
pub mod basins;
pub mod map;
pub mod threshold;
pub mod trajectory;
pub mod verify;
