//! gdsweep: gradient descent over huge grids of configurations, in WGSL compute shaders with a
//! CPU reference path. See README.md ("How it works") for the pipeline; its stages are the
//! modules below, in the order their imports run (a module never imports a later one; the test
//! `tests/layers.rs` checks it):
//!
//! problem → method → plan → outcome → config → kernel → backend → engine → analysis → output → app
pub mod error;
pub mod problem;
pub mod method;
pub mod plan;
pub mod outcome;
pub mod config;
pub mod kernel;
pub mod backend;
pub mod engine;
pub mod analysis;
pub mod output;
pub mod app;
