//! The pipeline of `gdsweep run` and `gdsweep merge` as library functions. A sweep streams: its
//! runs are computed chunk by chunk ([`Chunks`]) while the previous chunk is analysed and
//! written, so memory stays bounded whatever the grid (a chunk's results, the basins, one bit
//! per run for the threshold brackets, and a map's cells, which go to disk when large). Per
//! chunk, in run order: results → basins (greedy, so the labels are those of the whole sweep)
//! → map cells and threshold bits → runs.csv rows, appended and checkpointed
//! ([`crate::output::partial`]). At the end: basins.csv, the threshold refinement, map files,
//! trajectories, runs.csv renamed into place, and the manifest last. The CLI only parses, opens
//! the backend and the folder, shows progress and prints what this returns.

use crate::analysis::basins::{Basin, Clusters, GroupCounts};
use crate::analysis::map::{self, Map, MapCells};
use crate::analysis::threshold::{self, Search, UnstableRuns};
use crate::analysis::trajectory;
use crate::backend::{Backend, Progress};
use crate::engine::{compute_chunk, Chunks};
use crate::error::{Error, Result};
use crate::outcome::{Results, Tally};
use crate::output::partial::{self, Checkpoint, PartialRuns};
use crate::output::{files, plot};
use crate::plan::Plan;
use std::path::Path;
use std::time::Instant;

/// What one sweep produced, besides its files.
pub struct Sweep {
    pub tally: Tally,
    /// Seconds spent computing the runs (not analysing or writing them).
    pub compute_seconds: f64,
    pub basins: Option<Vec<Basin>>,
    pub thresholds: Option<Search>,
    /// Chunks found complete in the folder and not computed again (`--resume`).
    pub resumed_chunks: u64,
}

/// How `run` slices and continues a sweep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--shard i/N`: only chunks k with k mod N = i; runs.csv and the manifest only, the
    /// analyses are `gdsweep merge`'s.
    pub shard: Option<(u64, u64)>,
    /// `--resume`: continue from the folder's checkpoint, where it has one for this sweep.
    pub resume: bool,
}

/// The chunks a folder holds, in order: all of them, or a shard's (interleaved, so each shard
/// gets early and late runs alike: runs end at different steps).
pub fn chunk_sequence(chunks: &Chunks, shard: Option<(u64, u64)>) -> Vec<u64> {
    match shard {
        Some((i, n)) => (i..chunks.count()).step_by(n as usize).collect(),
        None => (0..chunks.count()).collect(),
    }
}

/// The analyses that see every run, fed chunk by chunk in run order.
struct Streamed<'a> {
    plan: &'a Plan,
    tally: Tally,
    clusters: Option<Clusters>,
    groups: GroupCounts,
    unstable: Option<UnstableRuns>,
    map: Option<(Map, MapCells)>,
}

impl<'a> Streamed<'a> {
    fn new(plan: &'a Plan, dir: &Path, analyses: bool) -> Result<Streamed<'a>> {
        let map = match plan.map.as_ref().filter(|_| analyses) {
            Some(spec) => {
                let m = map::build(plan, spec);
                let cells = MapCells::new(&m, dir)?;
                Some((m, cells))
            }
            None => None,
        };
        Ok(Streamed {
            plan,
            tally: Tally::default(),
            clusters: plan.basins.filter(|_| analyses).map(Clusters::new),
            groups: GroupCounts::default(),
            unstable: plan.threshold.filter(|_| analyses).map(|_| UnstableRuns::new(plan.total_runs())),
            map,
        })
    }

    /// Take in one chunk; its basin labels, where the sweep finds basins.
    fn observe(&mut self, r: &Results) -> Result<Option<Vec<Option<usize>>>> {
        self.tally.add(r);
        let labels = self.clusters.as_mut().map(|c| c.observe(r));
        if let Some(l) = &labels {
            self.groups.observe(self.plan, r, l);
        }
        if let Some(u) = &mut self.unstable {
            u.observe(r);
        }
        if let Some((m, cells)) = &mut self.map {
            cells.observe(self.plan, m, r, labels.as_deref())?;
        }
        Ok(labels)
    }
}

/// Run `produce` for each chunk of `order` on a worker thread while `consume` takes the
/// previous chunk on this one (compute overlaps analysis and writing; at most one chunk waits).
fn stream(
    order: &[u64],
    produce: &(dyn Fn(u64) -> Result<Results> + Sync),
    consume: &mut dyn FnMut(u64, Results) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, Results)>>(1);
        let worker = s.spawn(move || {
            for &k in order {
                let item = produce(k).map(|r| (k, r));
                let failed = item.is_err();
                if tx.send(item).is_err() || failed {
                    return;
                }
            }
        });
        let mut outcome = Ok(());
        for item in rx.iter() {
            match item.and_then(|(k, r)| consume(k, r)) {
                Ok(()) => {}
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        drop(rx);
        worker.join().map_err(|_| Error::Other("the compute thread panicked".into()))?;
        outcome
    })
}

/// What manifest.json says besides the counts: the sweep's identity, for resume and merge.
fn identity(plan: &Plan, chunks: &Chunks, shard: Option<(u64, u64)>) -> serde_json::Value {
    serde_json::json!({
        "fingerprint": plan.fingerprint(),
        "chunk_runs": chunks.size,
        "shard": shard.map(|(i, n)| serde_json::json!({ "index": i, "count": n })),
        "config_text": plan.config_text,
        "default_name": plan.default_name,
    })
}

/// Run `plan` on `backend` and write every result file into `dir` (opened and locked by the
/// caller: see [`crate::output::folder::ResultFolder`], which also decides whether a checkpoint
/// may be resumed). manifest.json is written last and lists the files written, so it is the
/// sweep's commit record.
pub fn run(plan: &Plan, backend: &dyn Backend, dir: &Path, progress: Progress, opts: Options) -> Result<Sweep> {
    let chunks = Chunks::of(plan);
    let order = chunk_sequence(&chunks, opts.shard);
    let analyses = opts.shard.is_none();
    let mut streamed = Streamed::new(plan, dir, analyses)?;
    let with_basins = streamed.clusters.is_some();
    let fresh = Checkpoint { fingerprint: plan.fingerprint(), shard: opts.shard, chunk_runs: chunks.size, chunks_done: 0, bytes: 0 };
    let mut out = match partial::read_checkpoint(dir)? {
        Some(cp) if opts.resume && cp.same_sweep(&fresh) => PartialRuns::reopen(dir, cp)?,
        Some(_) if opts.resume => {
            return Err(Error::Usage(format!(
                "{} holds the checkpoint of another sweep (another config, version or --shard): pass --force to replace it, or --out DIR",
                dir.display()
            )))
        }
        _ => PartialRuns::create(dir, fresh, &files::runs_header(plan, with_basins))?,
    };
    // Chunks already written: read back, in order, for the analyses only.
    let resumed = out.checkpoint.chunks_done.min(order.len() as u64);
    if resumed > 0 {
        let mut reader = out.reader()?;
        for &k in &order[..resumed as usize] {
            let r = files::read_runs(&mut reader, plan, chunks.len(k), "the partial runs.csv")?;
            streamed.observe(&r)?;
            progress(r.len() as u64);
        }
    }
    let compute_seconds = std::sync::Mutex::new(0f64);
    let produce = |k: u64| {
        let t = Instant::now();
        let r = compute_chunk(plan, backend, &chunks, k, progress);
        *compute_seconds.lock().unwrap_or_else(|e| e.into_inner()) += t.elapsed().as_secs_f64();
        r
    };
    stream(&order[resumed as usize..], &produce, &mut |_, r| write_chunk(plan, &mut streamed, &mut out, &r))?;
    let compute_seconds = compute_seconds.into_inner().unwrap_or_else(|e| e.into_inner());
    finish(plan, backend, dir, streamed, out, identity(plan, &chunks, opts.shard), compute_seconds, resumed)
}

/// One chunk, in run order: analysed, then appended to runs.csv with its basin labels.
fn write_chunk(plan: &Plan, streamed: &mut Streamed, out: &mut PartialRuns, r: &Results) -> Result<()> {
    let labels = streamed.observe(r)?;
    let rows = files::runs_rows(plan, r, labels.as_deref()).map_err(|e| Error::io("formatting runs.csv", e))?;
    out.append(&rows)
}

/// The shards of one sweep, checked: every folder is a complete shard of the same sweep (the
/// same fingerprint and count), each index is there exactly once. Returns the sweep's plan,
/// rebuilt from the config text the manifests hold, and the folders in shard order.
pub fn open_shards(dirs: &[std::path::PathBuf]) -> Result<(Plan, Vec<std::path::PathBuf>)> {
    let usage = |m: String| Error::Usage(m);
    let mut found: Vec<(std::path::PathBuf, serde_json::Value)> = Vec::new();
    for d in dirs {
        let path = d.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|_| {
            let why = if d.join(partial::CHECKPOINT).exists() { "it was interrupted: finish it with gdsweep run --resume" } else { "no manifest.json" };
            usage(format!("{} is not a complete shard ({why})", d.display()))
        })?;
        let m: serde_json::Value = serde_json::from_str(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?;
        if m["sweep"]["shard"].is_null() {
            return Err(usage(format!("{} is not a shard (it was not run with --shard i/N)", d.display())));
        }
        found.push((d.clone(), m));
    }
    let first = &found.first().ok_or_else(|| usage("merge needs the shard folders".into()))?.1;
    let (fp, n) = (first["sweep"]["fingerprint"].clone(), first["sweep"]["shard"]["count"].as_u64().unwrap_or(0));
    let mut by_index: Vec<Option<std::path::PathBuf>> = vec![None; n as usize];
    for (d, m) in &found {
        if m["sweep"]["fingerprint"] != fp {
            return Err(usage(format!("{} holds another sweep than {} (their config fingerprints differ)", d.display(), found[0].0.display())));
        }
        let (i, count) = (m["sweep"]["shard"]["index"].as_u64().unwrap_or(u64::MAX), m["sweep"]["shard"]["count"].as_u64().unwrap_or(0));
        if count != n || i >= n {
            return Err(usage(format!("{} is shard {i}/{count}, not one of {n}", d.display())));
        }
        if let Some(other) = &by_index[i as usize] {
            return Err(usage(format!("{} and {} are both shard {i}/{n}: they overlap", other.display(), d.display())));
        }
        by_index[i as usize] = Some(d.clone());
    }
    let missing: Vec<String> = (0..n).filter(|&i| by_index[i as usize].is_none()).map(|i| format!("{i}/{n}")).collect();
    if !missing.is_empty() {
        return Err(usage(format!("shard {} missing: merge needs all {n}", missing.join(", "))));
    }
    let text = first["sweep"]["config_text"].as_str().unwrap_or_default();
    let default_name = first["sweep"]["default_name"].as_str().unwrap_or("sweep");
    let precision = serde_json::from_value(first["precision"].clone()).ok();
    let source = found[0].0.join("manifest.json").display().to_string();
    let plan = crate::config::parse(&source, text, default_name, crate::config::Overrides { precision, backend: None })?;
    if serde_json::json!(plan.fingerprint()) != fp {
        return Err(usage(format!("the shards were made by another gdsweep version (fingerprint {fp}); this one is {}", env!("CARGO_PKG_VERSION"))));
    }
    Ok((plan, by_index.into_iter().flatten().collect()))
}

/// `gdsweep merge`: the shards' runs.csv files read chunk by chunk in run order (chunk k is in
/// shard k mod N), and written into `dir` as the single run would have: the same runs.csv, byte
/// for byte, and the analyses computed on the merged set (the threshold refinement and the
/// trajectories run on `backend`).
pub fn merge(plan: &Plan, backend: &dyn Backend, shards: &[std::path::PathBuf], dir: &Path, progress: Progress) -> Result<Sweep> {
    let chunks = Chunks::of(plan);
    let n = shards.len() as u64;
    let mut streamed = Streamed::new(plan, dir, true)?;
    let fresh = Checkpoint { fingerprint: plan.fingerprint(), shard: None, chunk_runs: chunks.size, chunks_done: 0, bytes: 0 };
    let mut out = PartialRuns::create(dir, fresh, &files::runs_header(plan, streamed.clusters.is_some()))?;
    let readers: Vec<std::sync::Mutex<csv::Reader<std::fs::File>>> = shards
        .iter()
        .map(|d| {
            let path = d.join("runs.csv");
            std::fs::File::open(&path).map(|f| std::sync::Mutex::new(csv::Reader::from_reader(f))).map_err(|e| Error::io(format!("reading {}", path.display()), e))
        })
        .collect::<Result<_>>()?;
    let name = |i: u64| shards[i as usize].join("runs.csv").display().to_string();
    let produce = |k: u64| {
        let mut reader = readers[(k % n) as usize].lock().unwrap_or_else(|e| e.into_inner());
        let r = files::read_runs(&mut reader, plan, chunks.len(k), &name(k % n))?;
        let expected = chunks.range(k).start;
        if r.run.first() != Some(&expected) {
            return Err(Error::Usage(format!("{}: chunk {k} should start at run {expected}, not {:?}", name(k % n), r.run.first())));
        }
        progress(r.len() as u64);
        Ok(r)
    };
    let order = chunk_sequence(&chunks, None);
    stream(&order, &produce, &mut |_, r| write_chunk(plan, &mut streamed, &mut out, &r))?;
    for (i, reader) in readers.into_iter().enumerate() {
        let mut reader = reader.into_inner().unwrap_or_else(|e| e.into_inner());
        if reader.read_byte_record(&mut csv::ByteRecord::new()).unwrap_or(false) {
            return Err(Error::Usage(format!("{} has more rows than shard {i}/{n} of this sweep", name(i as u64))));
        }
    }
    finish(plan, backend, dir, streamed, out, identity(plan, &chunks, None), 0.0, 0)
}

/// Write the analyses of a streamed sweep, runs.csv and, last, the manifest.
#[allow(clippy::too_many_arguments)]
fn finish(
    plan: &Plan,
    backend: &dyn Backend,
    dir: &Path,
    streamed: Streamed,
    out: PartialRuns,
    identity: serde_json::Value,
    compute_seconds: f64,
    resumed_chunks: u64,
) -> Result<Sweep> {
    let mut written: Vec<&str> = vec!["runs.csv"];
    let basins = streamed.clusters.as_ref().map(|c| c.basins(&plan.objective));
    if let Some(b) = &basins {
        files::write_basins_csv(&dir.join("basins.csv"), plan, b, &streamed.groups.rows(plan))?;
        written.push("basins.csv");
    }
    let thresholds = match (&plan.threshold, &streamed.unstable) {
        (Some(spec), Some(u)) => Some(threshold::refine(plan, backend, threshold::coarse_from(plan, u), spec)?),
        _ => None,
    };
    if let Some((m, cells)) = &streamed.map {
        files::write_map_csvs(dir, plan, m, cells)?;
        written.extend(["map.csv", "map_grid.csv"]);
        let png = match m.y {
            Some(_) => plot::map_png(plan, m, cells, basins.as_deref()),
            None => plot::line_png(plan, m, cells, thresholds.as_ref()),
        }
        .map_err(Error::Other)?;
        files::write_bytes(&dir.join("map.png"), &png)?;
        written.push("map.png");
    }
    if let Some(spec) = plan.trajectories.as_ref().filter(|_| identity["shard"].is_null()) {
        let traces = trajectory::trace(plan, backend, spec)?;
        files::write_trajectories_csv(&dir.join("trajectories.csv"), plan, &traces)?;
        written.push("trajectories.csv");
        let png = plot::trajectories_png(plan, &traces).map_err(Error::Other)?;
        files::write_bytes(&dir.join("trajectories.png"), &png)?;
        written.push("trajectories.png");
    }
    if let Some(search) = &thresholds {
        files::write_thresholds_csv(&dir.join("thresholds.csv"), plan, search)?;
        written.push("thresholds.csv");
    }
    out.commit()?;
    let mut manifest = files::manifest_of(plan, &streamed.tally, backend.name(), backend.adapter(), compute_seconds);
    if let Some(search) = &thresholds {
        manifest["threshold"] = serde_json::json!({
            "groups": search.thresholds.len(),
            "rounds": search.rounds,
            "refinement_runs": search.refinement_runs,
            "seconds": search.seconds,
        });
    }
    manifest["sweep"] = identity;
    manifest["resumed_chunks"] = resumed_chunks.into();
    manifest["files"] = serde_json::json!(written);
    files::write_manifest(&dir.join("manifest.json"), &manifest)?;
    partial::finish(dir)?;
    Ok(Sweep { tally: streamed.tally, compute_seconds, basins, thresholds, resumed_chunks })
}

/// What `gdsweep plan` says a sweep will cost besides compute.
pub struct Estimate {
    /// Peak memory of the streamed sweep: two chunks of results and their text, one bit per run
    /// for thresholds, a map's cells where they stay in memory.
    pub memory_bytes: u64,
    /// runs.csv's size, from a formatted sample row.
    pub runs_csv_bytes: u64,
    /// Seconds to format and write runs.csv: formatting timed here on sample rows, writing at
    /// [`Estimate::DISK_BYTES_PER_SECOND`].
    pub write_seconds: f64,
}

impl Estimate {
    /// An assumed disk: a local SSD's sustained write (a network file system may be slower).
    pub const DISK_BYTES_PER_SECOND: f64 = 300e6;

    pub fn of(plan: &Plan) -> Estimate {
        use crate::outcome::Finding;
        let chunks = Chunks::of(plan);
        let d = plan.objective.dim();
        // Sample rows: the last runs of the sweep (the longest ids), with typical values.
        let n = chunks.size.min(plan.total_runs()).min(20_000);
        let mut r = Results::with_capacity(d, n as usize);
        for id in plan.total_runs() - n..plan.total_runs() {
            let x: Vec<f64> = (0..d).map(|j| plan.precision.round(0.123_456_78 + j as f64)).collect();
            let f = Finding { status: crate::outcome::Status::Slow, rate: 0.999_876_543_21, period: 0, steps_left: 12_345.0 };
            r.push(id, f, plan.steps, plan.precision.round(1.234_567_8e-3), plan.precision.round(2.345_678_9e-4), &x);
        }
        let labels = plan.basins.map(|_| vec![Some(3usize); r.len()]);
        let t = Instant::now();
        let text = files::runs_rows(plan, &r, labels.as_deref()).map(|t| t.len() as u64).unwrap_or(0);
        let format_per_row = t.elapsed().as_secs_f64() / n.max(1) as f64;
        let per_row = text as f64 / n.max(1) as f64;
        let runs = plan.total_runs() as f64;
        let map_cells = plan.map.as_ref().map_or(0, |spec| map::build(plan, spec).cells() * 33);
        let memory_bytes = 2 * chunks.size * (Results::bytes_per_run(d) as u64 + per_row as u64)
            + plan.threshold.map_or(0, |_| plan.total_runs() / 8)
            + if map_cells <= MapCells::IN_MEMORY { map_cells } else { 0 };
        Estimate {
            memory_bytes,
            runs_csv_bytes: (runs * per_row) as u64,
            write_seconds: runs * format_per_row + runs * per_row / Self::DISK_BYTES_PER_SECOND,
        }
    }
}
