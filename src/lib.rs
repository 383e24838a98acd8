//! gdsweep: gradient descent over huge grids of configurations, in WGSL compute shaders with a
//! CPU reference path. See README.md and the product contract for the user-facing side.
pub mod catalogue;
pub mod expr;
pub mod config;
pub mod error;
pub mod optim;
pub mod outcome;
pub mod plan;
pub mod real;
pub mod codegen;
pub mod cpu;
pub mod gpu;
pub mod engine;
pub mod output;
pub mod verify;
pub mod bench;
pub mod cli;
pub mod basins;
pub mod threshold;
pub mod map;
pub mod plot;
pub mod trajectory;
