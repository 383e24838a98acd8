//! runs.csv while its sweep runs: rows stream into `.gdsweep-runs.partial` chunk by chunk (see
//! [`crate::engine::Chunks`]), and every second (after the chunk that ends it)
//! `.gdsweep-resume.json` records, atomically, how many chunks and bytes of it are complete and
//! fsynced. `gdsweep run --resume` after a kill
//! cuts the partial file back to that length and goes on from the next chunk; the finished file
//! is renamed to runs.csv, so the result is byte for byte the file of an uninterrupted run.
//!
//! With `[output] parameters = "npy"`, parameters.npy grows the same way beside it, as
//! `.gdsweep-parameters.partial`: the checkpoint records both lengths, a resume cuts both back,
//! and both are renamed at the end.
//!
//! The partial files are created exclusively and opened without following symlinks (O_NOFOLLOW),
//! so a link planted at their names is refused, never written through.

use super::files;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const PARTIAL: &str = ".gdsweep-runs.partial";
pub const CHECKPOINT: &str = ".gdsweep-resume.json";
pub const POINTS_PARTIAL: &str = ".gdsweep-parameters.partial";
const POINTS_FILE: &str = "parameters.npy";

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
    /// Bytes of the partial parameters.npy they fill, header included (0: none).
    #[serde(default)]
    pub point_bytes: u64,
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
    /// The partial parameters.npy, where the final points go there.
    points: Option<File>,
    dir: PathBuf,
    /// What is durable: the last checkpoint written.
    pub checkpoint: Checkpoint,
    /// Chunks, bytes and parameter bytes written since (not yet fsynced and recorded).
    pending: (u64, u64, u64),
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
    /// Start a partial file with runs.csv's header (and, with `points_header`, the partial
    /// parameters.npy with its header). The checkpoint comes first, so a folder killed at any
    /// moment after this began has one (a missing partial file is started again).
    pub fn create(dir: &Path, checkpoint: Checkpoint, header: &[u8], points_header: Option<&[u8]>) -> Result<PartialRuns> {
        let checkpoint = Checkpoint { chunks_done: 0, bytes: header.len() as u64, point_bytes: points_header.map_or(0, |h| h.len() as u64), ..checkpoint };
        save(dir, &checkpoint)?;
        Self::start(dir, checkpoint, header, points_header)
    }

    fn start(dir: &Path, checkpoint: Checkpoint, header: &[u8], points_header: Option<&[u8]>) -> Result<PartialRuns> {
        let begin = |name: &str, header: &[u8]| -> Result<File> {
            let path = dir.join(name);
            let io = |e| Error::io(format!("creating {}", path.display()), e);
            let mut file = open_options().create_new(true).open(&path).map_err(io)?;
            file.write_all(header).map_err(io)?;
            file.sync_data().map_err(io)?;
            Ok(file)
        };
        let file = begin(PARTIAL, header)?;
        let points = points_header.map(|h| begin(POINTS_PARTIAL, h)).transpose()?;
        Ok(PartialRuns { file, points, dir: dir.to_path_buf(), checkpoint, pending: (0, 0, 0), last_commit: std::time::Instant::now(), interval: commit_interval() })
    }

    /// Reopen the partial files that `checkpoint` (read from `dir`) describes, cut back to their
    /// complete parts (or start them, with `header` and `points_header`, where the kill came
    /// before anything was recorded).
    pub fn reopen(dir: &Path, checkpoint: Checkpoint, header: &[u8], points_header: Option<&[u8]>) -> Result<PartialRuns> {
        let names = [(PARTIAL, "runs.csv", true), (POINTS_PARTIAL, POINTS_FILE, points_header.is_some())];
        for &(partial, done, _) in names.iter().filter(|n| n.2) {
            let path = dir.join(partial);
            // Killed between the renames and the manifest: the file has its final name now.
            if !path.exists() && dir.join(done).exists() {
                std::fs::rename(dir.join(done), &path).map_err(|e| Error::io(format!("renaming {}", path.display()), e))?;
            }
        }
        // Nothing recorded yet: start the files again (a kill may have cut a header short).
        if checkpoint.chunks_done == 0 {
            for &(partial, _, _) in &names {
                let path = dir.join(partial);
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(format!("removing {}", path.display()), e)),
                    _ => {}
                }
            }
            let point_bytes = points_header.map_or(0, |h| h.len() as u64);
            return Self::start(dir, Checkpoint { bytes: header.len() as u64, point_bytes, ..checkpoint }, header, points_header);
        }
        let cut = |name: &str, bytes: u64| -> Result<File> {
            let path = dir.join(name);
            let file = open_options().open(&path).map_err(|e| {
                Error::Usage(format!("cannot resume: {} ({e}); pass --force to start the sweep again", path.display()))
            })?;
            let len = file.metadata().map_err(|e| Error::io(format!("reading {}", path.display()), e))?.len();
            if len < bytes {
                return Err(Error::Usage(format!(
                    "cannot resume: {} has {len} bytes, fewer than the {bytes} its checkpoint records; pass --force to start the sweep again",
                    path.display(),
                )));
            }
            file.set_len(bytes).map_err(|e| Error::io(format!("truncating {}", path.display()), e))?;
            Ok(file)
        };
        let file = cut(PARTIAL, checkpoint.bytes)?;
        let points = points_header.map(|_| cut(POINTS_PARTIAL, checkpoint.point_bytes)).transpose()?;
        Ok(PartialRuns { file, points, dir: dir.to_path_buf(), checkpoint, pending: (0, 0, 0), last_commit: std::time::Instant::now(), interval: commit_interval() })
    }

    /// A reader of the complete part of the partial parameters.npy, positioned at its first
    /// row (to rebuild the analyses), where there is one.
    pub fn points_reader(&self) -> Result<Option<std::io::BufReader<std::io::Take<File>>>> {
        use std::io::Read;
        let Some(f) = &self.points else { return Ok(None) };
        let io = |e| Error::io("reading the partial parameters.npy", e);
        let mut f = f.try_clone().map_err(io)?;
        std::io::Seek::rewind(&mut f).map_err(io)?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, f.take(self.checkpoint.point_bytes));
        crate::problem::npy::skip_header(&mut r).map_err(io)?;
        Ok(Some(r))
    }

    /// A reader of the complete part, positioned at the header (to rebuild the analyses).
    pub fn reader(&self) -> Result<csv::Reader<std::io::BufReader<std::io::Take<File>>>> {
        use std::io::Read;
        let f = self.file.try_clone().map_err(|e| Error::io("reading the partial runs.csv", e))?;
        let mut f = f;
        std::io::Seek::rewind(&mut f).map_err(|e| Error::io("reading the partial runs.csv", e))?;
        Ok(csv::Reader::from_reader(std::io::BufReader::with_capacity(1 << 20, f.take(self.checkpoint.bytes))))
    }

    /// Append one chunk's rows (and its final points, where they go to parameters.npy); every
    /// [`COMMIT_INTERVAL`] seconds, make what was appended durable, then record it in the
    /// checkpoint.
    pub fn append(&mut self, rows: &[u8], points: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let io = |e| Error::io(format!("writing {}", self.dir.join(PARTIAL).display()), e);
        let io_points = |e| Error::io(format!("writing {}", self.dir.join(POINTS_PARTIAL).display()), e);
        self.file.write_all_at(rows, self.checkpoint.bytes + self.pending.1).map_err(io)?;
        if let Some(f) = &self.points {
            f.write_all_at(points, self.checkpoint.point_bytes + self.pending.2).map_err(io_points)?;
        }
        self.pending = (self.pending.0 + 1, self.pending.1 + rows.len() as u64, self.pending.2 + points.len() as u64);
        if self.last_commit.elapsed() >= self.interval {
            self.file.sync_data().map_err(io)?;
            if let Some(f) = &self.points {
                f.sync_data().map_err(io_points)?;
            }
            self.checkpoint.chunks_done += self.pending.0;
            self.checkpoint.bytes += self.pending.1;
            self.checkpoint.point_bytes += self.pending.2;
            self.pending = (0, 0, 0);
            self.save()?;
            self.last_commit = std::time::Instant::now();
        }
        Ok(())
    }

    fn save(&mut self) -> Result<()> {
        save(&self.dir, &self.checkpoint)
    }

    /// The whole file is written: rename it to runs.csv, and the partial parameters.npy to
    /// its name (the checkpoint stays until the manifest is written: see [`finish`]).
    pub fn commit(self) -> Result<()> {
        if let Some(points) = &self.points {
            rename(&self.dir, points, POINTS_PARTIAL, POINTS_FILE)?;
        }
        rename(&self.dir, &self.file, PARTIAL, "runs.csv")
    }

    /// Only the partial parameters.npy is kept (runs.parquet replaces runs.csv): rename it.
    pub fn commit_points(&self) -> Result<()> {
        match &self.points {
            Some(points) => rename(&self.dir, points, POINTS_PARTIAL, POINTS_FILE),
            None => Ok(()),
        }
    }
}

fn rename(dir: &Path, file: &File, from: &str, to: &str) -> Result<()> {
    let (from, to) = (dir.join(from), dir.join(to));
    file.sync_all().map_err(|e| Error::io(format!("writing {}", from.display()), e))?;
    std::fs::rename(&from, &to).map_err(|e| Error::io(format!("renaming {} to {}", from.display(), to.display()), e))
}

fn save(dir: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let text = serde_json::to_vec(checkpoint).expect("a checkpoint serialises");
    files::write_bytes(&dir.join(CHECKPOINT), &text)
}

/// The manifest is written: the sweep needs no resuming. The checkpoint goes, and the partial
/// file where it is still there (runs.parquet replaced it).
pub fn finish(dir: &Path) -> Result<()> {
    for name in [PARTIAL, POINTS_PARTIAL, CHECKPOINT] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(format!("removing {}", path.display()), e)),
            _ => {}
        }
    }
    Ok(())
}
