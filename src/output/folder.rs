//! A result folder that holds one sweep and never a mix of two (README "Outputs").
//!
//! - **Locked.** Opening takes an exclusive advisory lock (flock) on `.gdsweep.lock` in the
//!   folder, as cargo locks its build directory, and writes the holder's pid and command into it.
//!   A second run into the same folder exits 2 naming the holder, or with `--wait` waits for it.
//!   The lock goes with the process: a killed run leaves no stale lock.
//! - **Checked before any compute.** The folder is created and a file is created and removed in
//!   it, so a read-only or impossible `--out` is bad input (exit 2) before a single run.
//! - **Committed by its manifest.** Result files are written under exclusive random temporary
//!   names (never following a planted symlink), fsynced and renamed into place
//!   ([`super::files`]); manifest.json is written last and lists the files of its sweep. A folder
//!   with result files but no manifest is an interrupted sweep: reported as incomplete.
//! - **Replaced whole.** With `--force`, the previous sweep's manifest goes first (so an
//!   interruption leaves an incomplete folder, never a complete-looking mix), then every file it
//!   lists and every known result file, then leftover temporary files.

use super::files::RESULT_FILES;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in a result folder.
pub const LOCK_FILE: &str = ".gdsweep.lock";
/// Temporary files of the result writers start with this (see `files::write_atomically`).
pub const TEMP_PREFIX: &str = ".gdsweep-tmp-";
/// The commit records: `run`'s manifest and `verify`'s verdict, each written last.
pub const MANIFESTS: [&str; 2] = ["manifest.json", "verify.json"];

/// An open result folder: locked for as long as this lives.
pub struct ResultFolder {
    pub dir: PathBuf,
    _lock: File,
}

impl ResultFolder {
    /// Open `dir` for a new sweep: create it, check that it can be written, lock it (waiting
    /// for another holder with `wait`, else refusing), and clear a previous sweep's files with
    /// `force` (else refuse to touch them).
    pub fn open(dir: &Path, force: bool, wait: bool) -> Result<ResultFolder> {
        let folder = Self::lock(dir, wait)?;
        folder.clear(force)?;
        Ok(folder)
    }

    /// Create, check and lock `dir`, touching nothing in it (see [`ResultFolder::open`]).
    pub fn lock(dir: &Path, wait: bool) -> Result<ResultFolder> {
        let usage = |what: String| Error::Usage(what);
        std::fs::create_dir_all(dir).map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
        // Writable? (Before any compute: a read-only --out used to fail after the whole sweep.)
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| usage(format!("cannot write in {}: {e}", dir.display())))?;
        let path = dir.join(LOCK_FILE);
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| usage(format!("cannot open {}: {e}", path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { "another gdsweep".to_string() } else { holder.to_string() };
                if !wait {
                    return Err(usage(format!(
                        "{} is being written by {holder}: wait for it (--wait), or write elsewhere (--out DIR)",
                        dir.display()
                    )));
                }
                eprintln!("gdsweep: waiting for {holder} to finish with {}", dir.display());
                lock.lock().map_err(|e| usage(format!("cannot lock {}: {e}", path.display())))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(usage(format!("cannot lock {}: {e}", path.display()))),
        }
        let me = format!("gdsweep pid {} ({})", std::process::id(), std::env::args().collect::<Vec<_>>().join(" "));
        let _ = lock.set_len(0).and_then(|_| lock.rewind()).and_then(|_| lock.write_all(me.as_bytes()));
        Ok(ResultFolder { dir: dir.to_path_buf(), _lock: lock })
    }

    /// The manifest of a complete sweep in the folder: its fingerprint and shard (see
    /// [`crate::app::pipeline`]), where it has them.
    pub fn complete_sweep(&self) -> Option<(String, Option<(u64, u64)>)> {
        let text = std::fs::read_to_string(self.dir.join("manifest.json")).ok()?;
        let m: serde_json::Value = serde_json::from_str(&text).ok()?;
        let sweep = m.get("sweep")?;
        let shard = sweep.get("shard").and_then(|s| Some((s.get("index")?.as_u64()?, s.get("count")?.as_u64()?)));
        Some((sweep.get("fingerprint")?.as_str()?.to_string(), shard))
    }

    /// Whether a sweep was interrupted here and left a checkpoint to resume from.
    pub fn has_checkpoint(&self) -> bool {
        self.dir.join(super::partial::CHECKPOINT).exists()
    }

    /// The files of a previous sweep: those its manifest lists, and every known result file.
    fn previous_files(&self) -> Vec<PathBuf> {
        let listed: Vec<String> = MANIFESTS
            .iter()
            .filter_map(|m| std::fs::read_to_string(self.dir.join(m)).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter_map(|m| m.get("files").and_then(|f| f.as_array()).cloned())
            .flat_map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>())
            .collect();
        let mut names: Vec<String> = RESULT_FILES.iter().map(|s| s.to_string()).collect();
        // Only plain names in the folder itself: a manifest cannot point elsewhere.
        names.extend(listed.into_iter().filter(|n| !n.contains(['/', '\\']) && n != "." && n != ".." && !n.is_empty()));
        names.sort();
        names.dedup();
        names.extend([super::partial::PARTIAL, super::partial::POINTS_PARTIAL, super::partial::CHECKPOINT].map(String::from));
        names.into_iter().map(|n| self.dir.join(n)).filter(|p| p.symlink_metadata().is_ok()).collect()
    }

    /// Refuse a folder that holds results (without `force`), or remove them (with it).
    pub fn clear(&self, force: bool) -> Result<()> {
        let is_manifest = |p: &Path| MANIFESTS.iter().any(|m| p.ends_with(m));
        let previous = self.previous_files();
        if !previous.is_empty() && !force {
            let complete = previous.iter().any(|p| is_manifest(p));
            let first = previous.iter().find(|p| !is_manifest(p)).unwrap_or(&previous[0]);
            return Err(Error::Usage(if complete {
                format!("{} already exists: pass --force to overwrite it, or --out DIR to write elsewhere", first.display())
            } else if self.has_checkpoint() {
                format!(
                    "{} holds an interrupted sweep: pass --resume to continue it, --force to replace it, or --out DIR to write elsewhere",
                    self.dir.display()
                )
            } else {
                format!(
                    "{} holds an incomplete sweep (result files but no manifest.json: it was interrupted): pass --force to replace it, or --out DIR to write elsewhere",
                    self.dir.display()
                )
            }));
        }
        let remove = |p: &Path| std::fs::remove_file(p).map_err(|e| Error::io(format!("removing {}", p.display()), e));
        // The manifest first: from here on the folder reads as incomplete, never as a mix.
        for p in previous.iter().filter(|p| is_manifest(p)) {
            remove(p)?;
        }
        for p in previous.iter().filter(|p| !is_manifest(p)) {
            remove(p)?;
        }
        remove_temporaries(&self.dir)
    }
}

/// Remove the temporary files of an interrupted writer (and the `.partial` names of older
/// versions): never part of a sweep, never resumable.
pub fn remove_temporaries(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let old_partial = RESULT_FILES.iter().any(|f| Path::new(f).with_extension("partial").to_str() == Some(name.as_str()));
        if name.starts_with(TEMP_PREFIX) || old_partial {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(format!("removing {}", entry.path().display()), e))?;
        }
    }
    Ok(())
}
