//! runs.csv while its sweep runs: rows stream into `.gdsweep-runs.partial` chunk by chunk (see
//! [`crate::engine::Chunks`]), and every second (after the chunk that ends it)
//! `.gdsweep-resume.json` records, atomically, how many chunks and bytes of it are complete and
//! fsynced. `gdsweep run --resume` after a kill
//! cuts the partial file back to that length and goes on from the next chunk; the finished file
//! is renamed to runs.csv, so the result is byte for byte the file of an uninterrupted run.
//!
//! The partial file is created exclusively and opened without following symlinks (O_NOFOLLOW),
//! so a link planted at its name is refused, never written through.

use super::files;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const PARTIAL: &str = ".gdsweep-runs.partial";
pub const CHECKPOINT: &str = ".gdsweep-resume.json";

/// What `.gdsweep-resume.json` says: which sweep (and shard) the partial file belongs to, and
/// how much of it is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`crate::plan::Plan::fingerprint`] of the sweep.
    pub fingerprint: String,
    /// (index, count) of the shard, for `--shard i/N`.
    pub shard: Option<(u64, u64)>,
    pub chunk_runs: u64,
    /// Chunks of this folder's sequence (every chunk, or the shard's) written so far.
    pub chunks_done: u64,
    /// Bytes of the partial file they fill, header included.
    pub bytes: u64,
}

impl Checkpoint {
    /// The same sweep and slicing (whatever its progress).
    pub fn same_sweep(&self, other: &Checkpoint) -> bool {
        (&self.fingerprint, self.shard, self.chunk_runs) == (&other.fingerprint, other.shard, other.chunk_runs)
    }
}

/// The checkpoint of `dir`, where there is one.
pub fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>> {
    let path = dir.join(CHECKPOINT);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Usage(format!("{} is damaged ({e}): pass --force to start the sweep again", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// The partial runs.csv of a running sweep.
pub struct PartialRuns {
    file: File,
    dir: PathBuf,
    /// What is durable: the last checkpoint written.
    pub checkpoint: Checkpoint,
    /// Chunks and bytes written since (not yet fsynced and recorded).
    pending: (u64, u64),
    last_commit: std::time::Instant,
    interval: std::time::Duration,
}

/// How often the written chunks are made durable and recorded, by default: at most two fsyncs
/// a second whatever the chunk rate (small chunks finish many times a second, and on a network
/// file system one fsync can take tens of milliseconds), and a kill loses at most about this much
/// work. `GDSWEEP_CHECKPOINT_SECONDS` sets another interval (0: after every chunk; on W1, 64
/// chunks, the whole run took the same time either way on this machine's local disk).
pub const COMMIT_INTERVAL: f64 = 1.0;

fn commit_interval() -> std::time::Duration {
    let secs = std::env::var("GDSWEEP_CHECKPOINT_SECONDS").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0);
    std::time::Duration::from_secs_f64(secs.unwrap_or(COMMIT_INTERVAL))
}

fn open_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).custom_flags(libc::O_NOFOLLOW);
    o
}

impl PartialRuns {
    /// Start a partial file with runs.csv's header. The checkpoint comes first, so a folder
    /// killed at any moment after this began has one (a missing partial file is started again).
    pub fn create(dir: &Path, checkpoint: Checkpoint, header: &[u8]) -> Result<PartialRuns> {
        let checkpoint = Checkpoint { chunks_done: 0, bytes: header.len() as u64, ..checkpoint };
        save(dir, &checkpoint)?;
        Self::start(dir, checkpoint, header)
    }

    fn start(dir: &Path, checkpoint: Checkpoint, header: &[u8]) -> Result<PartialRuns> {
        let path = dir.join(PARTIAL);
        let io = |e| Error::io(format!("creating {}", path.display()), e);
        let mut file = open_options().create_new(true).open(&path).map_err(io)?;
        file.write_all(header).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(PartialRuns { file, dir: dir.to_path_buf(), checkpoint, pending: (0, 0), last_commit: std::time::Instant::now(), interval: commit_interval() })
    }

    /// Reopen the partial file that `checkpoint` (read from `dir`) describes, cut back to its
    /// complete part (or start it, with `header`, where the kill came before it existed).
    pub fn reopen(dir: &Path, checkpoint: Checkpoint, header: &[u8]) -> Result<PartialRuns> {
        let path = dir.join(PARTIAL);
        // Killed between the rename to runs.csv and the manifest: the file is runs.csv now.
        if !path.exists() && dir.join("runs.csv").exists() {
            std::fs::rename(dir.join("runs.csv"), &path).map_err(|e| Error::io(format!("renaming {}", path.display()), e))?;
        }
        // Nothing recorded yet: start the file again (a kill may have cut its header short).
        if checkpoint.chunks_done == 0 {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(format!("removing {}", path.display()), e)),
                _ => {}
            }
            return Self::start(dir, Checkpoint { bytes: header.len() as u64, ..checkpoint }, header);
        }
        let file = open_options().open(&path).map_err(|e| {
            Error::Usage(format!("cannot resume: {} ({e}); pass --force to start the sweep again", path.display()))
        })?;
        let len = file.metadata().map_err(|e| Error::io(format!("reading {}", path.display()), e))?.len();
        if len < checkpoint.bytes {
            return Err(Error::Usage(format!(
                "cannot resume: {} has {len} bytes, fewer than the {} its checkpoint records; pass --force to start the sweep again",
                path.display(),
                checkpoint.bytes
            )));
        }
        file.set_len(checkpoint.bytes).map_err(|e| Error::io(format!("truncating {}", path.display()), e))?;
        Ok(PartialRuns { file, dir: dir.to_path_buf(), checkpoint, pending: (0, 0), last_commit: std::time::Instant::now(), interval: commit_interval() })
    }

    /// A reader of the complete part, positioned at the header (to rebuild the analyses).
    pub fn reader(&self) -> Result<csv::Reader<std::io::BufReader<std::io::Take<File>>>> {
        use std::io::Read;
        let f = self.file.try_clone().map_err(|e| Error::io("reading the partial runs.csv", e))?;
        let mut f = f;
        std::io::Seek::rewind(&mut f).map_err(|e| Error::io("reading the partial runs.csv", e))?;
        Ok(csv::Reader::from_reader(std::io::BufReader::with_capacity(1 << 20, f.take(self.checkpoint.bytes))))
    }

    /// Append one chunk's rows; every [`COMMIT_INTERVAL`] seconds, make what was appended durable,
    /// then record it in the checkpoint.
    pub fn append(&mut self, rows: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let io = |e| Error::io(format!("writing {}", self.dir.join(PARTIAL).display()), e);
        self.file.write_all_at(rows, self.checkpoint.bytes + self.pending.1).map_err(io)?;
        self.pending = (self.pending.0 + 1, self.pending.1 + rows.len() as u64);
        if self.last_commit.elapsed() >= self.interval {
            self.file.sync_data().map_err(io)?;
            self.checkpoint.chunks_done += self.pending.0;
            self.checkpoint.bytes += self.pending.1;
            self.pending = (0, 0);
            self.save()?;
            self.last_commit = std::time::Instant::now();
        }
        Ok(())
    }

    fn save(&mut self) -> Result<()> {
        save(&self.dir, &self.checkpoint)
    }

    /// The whole file is written: rename it to runs.csv (the checkpoint stays until the
    /// manifest is written: see [`finish`]).
    pub fn commit(self) -> Result<()> {
        let (from, to) = (self.dir.join(PARTIAL), self.dir.join("runs.csv"));
        self.file.sync_all().map_err(|e| Error::io(format!("writing {}", from.display()), e))?;
        std::fs::rename(&from, &to).map_err(|e| Error::io(format!("renaming {} to {}", from.display(), to.display()), e))
    }
}

fn save(dir: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let text = serde_json::to_vec(checkpoint).expect("a checkpoint serialises");
    files::write_bytes(&dir.join(CHECKPOINT), &text)
}

/// The manifest is written: the sweep needs no resuming. The checkpoint goes, and the partial
/// file where it is still there (runs.parquet replaced it).
pub fn finish(dir: &Path) -> Result<()> {
    for name in [PARTIAL, CHECKPOINT] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(format!("removing {}", path.display()), e)),
            _ => {}
        }
    }
    Ok(())
}
