//! What is written: the result files (runs.csv, manifest.json, the analyses' CSVs; atomically,
//! in [`files`]) and the pictures ([`plot`]), into a locked result folder ([`folder`]).
pub mod files;
pub mod folder;
pub mod plot;
