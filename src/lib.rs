//! gdsweep: gradient descent over huge grids of configurations, in WGSL compute shaders with a
//! CPU reference path. See README.md and the product contract for the user-facing side.
pub mod expr;
