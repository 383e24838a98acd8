//! What is written: the result files (runs.csv, manifest.json, the analyses' CSVs; atomically,
//! in [`files`]) and the pictures ([`plot`]).
pub mod files;
pub mod plot;
