//! What is written: the result files (runs.csv, manifest.json, the analyses' CSVs; atomically,
//! in [`files`]) and the pictures ([`plot`]), into a locked result folder ([`folder`]); runs.csv
//! streams through a checkpointed partial file while its sweep runs ([`partial`]), runs.parquet
//! beside it where asked ([`parquet`]).
pub mod files;
pub mod folder;
pub mod parquet;
pub mod partial;
pub mod plot;
