//! The command line and what only it does: the pipeline of `gdsweep run`, the benchmarks.
pub mod bench;
pub mod cli;
pub mod pipeline;
