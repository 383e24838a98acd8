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
use crate::analysis::{sharpness, trajectory, Derived, Extra};
use crate::backend::{Backend, Progress};
use crate::engine::{compute_chunk, Chunks};
use crate::error::{Error, Result};
use crate::outcome::{Results, Tally};
use crate::output::parquet::RunsParquet;
use crate::output::partial::{self, Checkpoint, PartialRuns};
use crate::plan::OutputFormat;
use crate::output::{files, plot};
use crate::plan::Plan;
use std::path::Path;
use std::time::Instant;

/// What one sweep produced, besides its files.
pub struct Sweep {
    pub tally: Tally,
    /// Seconds from the first chunk to the last one written (compute, overlapped with the
    /// analyses and writing; for `merge`, reading).
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

/// The analyses that see every run, fed chunk by chunk in run order, and runs.parquet where
/// the sweep writes it.
struct Streamed<'a> {
    plan: &'a Plan,
    /// False for a shard: runs only (see [`Streamed::new`]).
    analyses: bool,
    parquet: Option<RunsParquet>,
    tally: Tally,
    clusters: Option<Clusters>,
    /// runs.csv's extra columns.
    extra: Extra,
    groups: GroupCounts,
    unstable: Option<UnstableRuns>,
    map: Option<(Map, MapCells)>,
}

impl<'a> Streamed<'a> {
    /// `analyses`: false for a shard (runs only, in runs.csv: what `merge` reads).
    fn new(plan: &'a Plan, dir: &Path, analyses: bool) -> Result<Streamed<'a>> {
        let map = match plan.map.as_ref().filter(|_| analyses) {
            Some(spec) => {
                let m = map::build(plan, spec);
                let cells = MapCells::new(&m, dir)?;
                Some((m, cells))
            }
            None => None,
        };
        let parquet = (analyses && plan.format == OutputFormat::Parquet).then(|| RunsParquet::create(dir, plan, Extra::of(plan, analyses))).transpose()?;
        Ok(Streamed {
            plan,
            analyses,
            parquet,
            tally: Tally::default(),
            clusters: plan.basins.filter(|_| analyses).map(Clusters::new),
            extra: Extra::of(plan, analyses),
            groups: GroupCounts::default(),
            unstable: plan.threshold.filter(|_| analyses).map(|_| UnstableRuns::new(plan.total_runs())),
            map,
        })
    }

    /// Take in one chunk; what the analyses add to its runs (basins, final sharpness).
    fn observe(&mut self, r: &Results) -> Result<Derived> {
        self.tally.add(r);
        let derived = Derived {
            basins: self.clusters.as_mut().map(|c| c.observe(&self.plan.objective, r)),
            sharpness: self.extra.sharpness.then(|| sharpness::finals(self.plan, r)),
        };
        if let Some(l) = &derived.basins {
            self.groups.observe(self.plan, r, l);
        }
        if let Some(u) = &mut self.unstable {
            u.observe(r);
        }
        if let Some((m, cells)) = &mut self.map {
            cells.observe(self.plan, m, r, &derived)?;
        }
        if let Some(p) = &mut self.parquet {
            p.write(self.plan, r, &derived)?;
        }
        Ok(derived)
    }
}

/// Workers take chunks (positions in `order`) from one queue, `produce` them, and `consume`
/// takes them on this thread in order, while the workers go on: compute overlaps analysis and
/// writing, a fast worker takes more chunks than a slow one, and at most `2 × workers` chunks
/// wait. A worker whose `produce` fails puts its chunk back and stops; the others take it over
/// (a device lost or out of memory costs its chunk's time, not the sweep). The sweep fails only
/// when every worker has. Returns the failures the sweep survived: (worker, error).
fn stream(
    workers: usize,
    order: &[u64],
    produce: &(dyn Fn(usize, u64) -> Result<Results> + Sync),
    consume: &mut dyn FnMut(u64, Results) -> Result<()>,
) -> Result<Vec<(usize, Error)>> {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::{Condvar, Mutex};
    struct Queue {
        next: usize,
        requeued: BTreeSet<usize>,
        consumed: usize,
        stop: bool,
    }
    let window = 2 * workers.max(1);
    let queue = Mutex::new(Queue { next: 0, requeued: BTreeSet::new(), consumed: 0, stop: false });
    let changed = Condvar::new();
    let failures: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
    let outcome = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Results)>();
        for w in 0..workers {
            let tx = tx.clone();
            let (queue, changed, failures) = (&queue, &changed, &failures);
            s.spawn(move || loop {
                let pos = {
                    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        if q.stop || q.consumed >= order.len() {
                            return;
                        }
                        if let Some(p) = q.requeued.pop_first() {
                            break p;
                        }
                        if q.next < order.len() && q.next < q.consumed + window {
                            q.next += 1;
                            break q.next - 1;
                        }
                        q = changed.wait(q).unwrap_or_else(|e| e.into_inner());
                    }
                };
                match produce(w, order[pos]) {
                    Ok(r) => {
                        if tx.send((pos, r)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        queue.lock().unwrap_or_else(|e| e.into_inner()).requeued.insert(pos);
                        failures.lock().unwrap_or_else(|e| e.into_inner()).push((w, e));
                        changed.notify_all();
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting: BTreeMap<usize, Results> = BTreeMap::new();
        let mut next = 0;
        let mut outcome = Ok(());
        'receive: for (pos, r) in rx.iter() {
            waiting.insert(pos, r);
            while let Some(r) = waiting.remove(&next) {
                if let Err(e) = consume(order[next], r) {
                    outcome = Err(e);
                    break 'receive;
                }
                next += 1;
                queue.lock().unwrap_or_else(|e| e.into_inner()).consumed = next;
                changed.notify_all();
            }
        }
        queue.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        changed.notify_all();
        drop(rx);
        outcome.map(|()| next)
    });
    let consumed = outcome?;
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if consumed < order.len() {
        // Every worker failed: the first failure is the sweep's.
        return Err(if failures.is_empty() { Error::Other("the workers stopped before the sweep was done".into()) } else { failures.remove(0).1 });
    }
    Ok(failures)
}

/// What each device did in a sweep (manifest.json's `devices`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DeviceReport {
    pub backend: String,
    pub device: String,
    pub chunks: u64,
    pub runs: u64,
    /// Seconds spent computing its chunks.
    pub seconds: f64,
    /// Why it stopped, where it failed (its chunks went to the others).
    pub failed: Option<String>,
    /// How the kernel ran, where the backend has a choice (`Backend::kernel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// `GDSWEEP_FAIL_DEVICE=BACKEND:K`: the device of that backend (`cpu`, `gpu`) fails at its K-th
/// chunk as a lost device would: how the tests check that the others take its chunks over.
fn injected_failure() -> Option<(String, u64)> {
    let v = std::env::var("GDSWEEP_FAIL_DEVICE").ok()?;
    let (name, k) = v.split_once(':')?;
    Some((name.to_string(), k.parse().ok()?))
}

/// What manifest.json says besides the counts: the sweep's identity, for resume and merge.
fn identity(plan: &Plan, fingerprint: &str, chunks: &Chunks, shard: Option<(u64, u64)>) -> serde_json::Value {
    serde_json::json!({
        "fingerprint": fingerprint,
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
pub fn run(plan: &Plan, devices: &[&dyn Backend], dir: &Path, progress: Progress, opts: Options) -> Result<Sweep> {
    let chunks = Chunks::of(plan);
    let order = chunk_sequence(&chunks, opts.shard);
    let analyses = opts.shard.is_none();
    // The folder is locked by this process: a temporary file in it is an interrupted writer's.
    crate::output::folder::remove_temporaries(dir)?;
    let mut streamed = Streamed::new(plan, dir, analyses)?;
    let fingerprint = plan.fingerprint();
    let fresh = Checkpoint { fingerprint: fingerprint.clone(), shard: opts.shard, chunk_runs: chunks.size, chunks_done: 0, bytes: 0, point_bytes: 0 };
    let header = files::runs_header(plan, streamed.extra);
    let points_header = points_header(plan, order.iter().map(|&k| chunks.len(k)).sum());
    let mut out = match partial::read_checkpoint(dir)? {
        Some(cp) if opts.resume && cp.same_sweep(&fresh) => PartialRuns::reopen(dir, cp, &header, points_header.as_deref())?,
        Some(_) if opts.resume => {
            return Err(Error::Usage(format!(
                "{} holds the checkpoint of another sweep (another config, version or --shard): pass --force to replace it, or --out DIR",
                dir.display()
            )))
        }
        _ => PartialRuns::create(dir, fresh, &header, points_header.as_deref())?,
    };
    // Chunks already written: read back, in order, for the analyses only.
    let resumed = out.checkpoint.chunks_done.min(order.len() as u64);
    if resumed > 0 {
        let mut reader = out.reader()?;
        let mut points = out.points_reader()?;
        for &k in &order[..resumed as usize] {
            let r = files::read_runs(&mut reader, plan, chunks.len(k), "the partial runs.csv", points.as_mut().map(|p| p as &mut dyn std::io::Read))?;
            streamed.observe(&r)?;
            progress(r.len() as u64);
        }
    }
    let reports: Vec<std::sync::Mutex<DeviceReport>> = devices
        .iter()
        .map(|d| std::sync::Mutex::new(DeviceReport { backend: d.name().into(), device: d.device(), ..Default::default() }))
        .collect();
    let inject = injected_failure();
    let produce = |w: usize, k: u64| {
        let report = reports[w].lock().unwrap_or_else(|e| e.into_inner());
        if inject.as_ref().is_some_and(|(name, at)| *name == report.backend && *at == report.chunks) {
            return Err(Error::Gpu(format!("{} failed at its chunk {} (GDSWEEP_FAIL_DEVICE)", report.device, report.chunks)));
        }
        drop(report);
        let t = Instant::now();
        let r = compute_chunk(plan, devices[w], &chunks, k, progress)?;
        let mut report = reports[w].lock().unwrap_or_else(|e| e.into_inner());
        report.chunks += 1;
        report.runs += r.len() as u64;
        report.seconds += t.elapsed().as_secs_f64();
        Ok(r)
    };
    let t = Instant::now();
    let failures = stream(devices.len(), &order[resumed as usize..], &produce, &mut |_, r| write_chunk(plan, &mut streamed, &mut out, &r))?;
    let seconds = t.elapsed().as_secs_f64();
    let mut reports: Vec<DeviceReport> = reports.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
    for (report, device) in reports.iter_mut().zip(devices) {
        report.kernel = device.kernel(plan);
    }
    for (w, e) in failures {
        eprintln!("gdsweep: warning: {} stopped ({e}); the other devices took its chunks over", reports[w].device);
        reports[w].failed = Some(e.to_string());
    }
    // Several devices: every backend that took part ("gpu+cpu").
    let backend_name = reports.iter().map(|r| r.backend.as_str()).collect::<Vec<_>>().join("+");
    let mut identity = identity(plan, &fingerprint, &chunks, opts.shard);
    identity["devices"] = serde_json::json!(reports);
    finish(plan, devices[0], &backend_name, dir, streamed, out, identity, seconds, resumed)
}

/// One chunk, in run order: analysed, then appended to runs.csv with its basin labels (and its
/// final points to parameters.npy, where they go there).
fn write_chunk(plan: &Plan, streamed: &mut Streamed, out: &mut PartialRuns, r: &Results) -> Result<()> {
    let derived = streamed.observe(r)?;
    let rows = files::runs_rows(plan, r, &derived).map_err(|e| Error::io("formatting runs.csv", e))?;
    let points = if plan.point_columns() { Vec::new() } else { crate::problem::npy::rows(&r.x, plan.precision) };
    out.append(&rows, &points)
}

/// parameters.npy's header for a folder of `runs` runs, where the final points go there.
fn points_header(plan: &Plan, runs: u64) -> Option<Vec<u8>> {
    (!plan.point_columns()).then(|| crate::problem::npy::header(runs, plan.objective.dim(), plan.precision))
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
    let plan = crate::config::parse(&source, text, default_name, crate::config::Overrides { precision, ..Default::default() })?;
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
    let fingerprint = plan.fingerprint();
    let fresh = Checkpoint { fingerprint: fingerprint.clone(), shard: None, chunk_runs: chunks.size, chunks_done: 0, bytes: 0, point_bytes: 0 };
    let mut out = PartialRuns::create(dir, fresh, &files::runs_header(plan, streamed.extra), points_header(plan, plan.total_runs()).as_deref())?;
    let readers: Vec<std::sync::Mutex<csv::Reader<std::fs::File>>> = shards
        .iter()
        .map(|d| {
            let path = d.join("runs.csv");
            std::fs::File::open(&path).map(|f| std::sync::Mutex::new(csv::Reader::from_reader(f))).map_err(|e| Error::io(format!("reading {}", path.display()), e))
        })
        .collect::<Result<_>>()?;
    // Their parameters.npy, positioned at the first row, where the final points are there.
    let points: Vec<std::sync::Mutex<Option<std::io::BufReader<std::fs::File>>>> = shards
        .iter()
        .map(|d| {
            if plan.point_columns() {
                return Ok(std::sync::Mutex::new(None));
            }
            let path = d.join("parameters.npy");
            let io = |e| Error::io(format!("reading {}", path.display()), e);
            let mut r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).map_err(io)?);
            crate::problem::npy::skip_header(&mut r).map_err(io)?;
            Ok(std::sync::Mutex::new(Some(r)))
        })
        .collect::<Result<_>>()?;
    let name = |i: u64| shards[i as usize].join("runs.csv").display().to_string();
    let produce = |_: usize, k: u64| {
        let mut reader = readers[(k % n) as usize].lock().unwrap_or_else(|e| e.into_inner());
        let mut points = points[(k % n) as usize].lock().unwrap_or_else(|e| e.into_inner());
        let r = files::read_runs(&mut reader, plan, chunks.len(k), &name(k % n), points.as_mut().map(|p| p as &mut dyn std::io::Read))?;
        let expected = chunks.range(k).start;
        if r.run.first() != Some(&expected) {
            return Err(Error::Usage(format!("{}: chunk {k} should start at run {expected}, not {:?}", name(k % n), r.run.first())));
        }
        progress(r.len() as u64);
        Ok(r)
    };
    let order = chunk_sequence(&chunks, None);
    let t = Instant::now();
    stream(1, &order, &produce, &mut |_, r| write_chunk(plan, &mut streamed, &mut out, &r))?;
    let seconds = t.elapsed().as_secs_f64();
    for (i, reader) in readers.into_iter().enumerate() {
        let mut reader = reader.into_inner().unwrap_or_else(|e| e.into_inner());
        if reader.read_byte_record(&mut csv::ByteRecord::new()).unwrap_or(false) {
            return Err(Error::Usage(format!("{} has more rows than shard {i}/{n} of this sweep", name(i as u64))));
        }
    }
    finish(plan, backend, backend.name(), dir, streamed, out, identity(plan, &fingerprint, &chunks, None), seconds, 0)
}

/// Write the analyses of a streamed sweep, runs.csv and, last, the manifest.
#[allow(clippy::too_many_arguments)]
fn finish(
    plan: &Plan,
    backend: &dyn Backend,
    backend_name: &str,
    dir: &Path,
    mut streamed: Streamed,
    out: PartialRuns,
    identity: serde_json::Value,
    compute_seconds: f64,
    resumed_chunks: u64,
) -> Result<Sweep> {
    let parquet = streamed.parquet.is_some();
    let mut written: Vec<&str> = vec![if parquet { "runs.parquet" } else { "runs.csv" }];
    if !plan.point_columns() {
        written.push("parameters.npy");
    }
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
    if let Some(spec) = plan.trajectories.as_ref().filter(|_| streamed.analyses) {
        let traces = trajectory::trace(plan, backend, spec)?;
        files::write_trajectories_csv(&dir.join("trajectories.csv"), plan, &traces)?;
        written.push("trajectories.csv");
        let png = plot::trajectories_png(plan, &traces).map_err(Error::Other)?;
        files::write_bytes(&dir.join("trajectories.png"), &png)?;
        written.push("trajectories.png");
    }
    if let Some(spec) = plan.sharpness.as_ref().and_then(|s| s.trace.as_ref()).filter(|_| streamed.analyses) {
        let traces = sharpness::trace(plan, backend, spec)?;
        files::write_sharpness_csv(&dir.join("sharpness.csv"), plan, &traces)?;
        written.push("sharpness.csv");
        let png = plot::sharpness_png(plan, &traces).map_err(Error::Other)?;
        files::write_bytes(&dir.join("sharpness.png"), &png)?;
        written.push("sharpness.png");
    }
    if let Some(search) = &thresholds {
        files::write_thresholds_csv(&dir.join("thresholds.csv"), plan, search)?;
        written.push("thresholds.csv");
    }
    // runs.parquet replaces the CSV record (removed with the checkpoint, after the manifest);
    // runs.csv is the record itself, renamed into place.
    match streamed.parquet.take() {
        Some(p) => {
            p.finish(&dir.join("runs.parquet"))?;
            out.commit_points()?;
        }
        None => out.commit()?,
    }
    let mut manifest = files::manifest_of(plan, &streamed.tally, backend_name, backend.adapter(), compute_seconds);
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
    if !plan.point_columns() {
        manifest["parameters"] = serde_json::json!({ "file": "parameters.npy", "names": plan.objective.vars });
    }
    files::write_manifest(&dir.join("manifest.json"), &manifest)?;
    partial::finish(dir)?;
    Ok(Sweep { tally: streamed.tally, compute_seconds, basins, thresholds, resumed_chunks })
}

/// What `gdsweep plan` says a sweep will cost besides compute.
pub struct Estimate {
    /// Peak memory of the streamed sweep: four chunks of results and two of text, one bit per
    /// run for thresholds, a map's cells where they stay in memory (measured on a 10⁸-run sweep
    /// with a map and basins: 307 MiB).
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
            r.push(id, f, plan.steps, plan.steps + 1, plan.precision.round(1.234_567_8e-3), plan.precision.round(2.345_678_9e-4), &x);
        }
        let t = Instant::now();
        let derived = Derived {
            basins: plan.basins.map(|_| vec![Some(3usize); r.len()]),
            sharpness: plan.sharpness.as_ref().map(|_| sharpness::finals(plan, &r)),
        };
        let text = files::runs_rows(plan, &r, &derived).map(|t| t.len() as u64).unwrap_or(0);
        let format_per_row = t.elapsed().as_secs_f64() / n.max(1) as f64;
        let per_row = text as f64 / n.max(1) as f64;
        let runs = plan.total_runs() as f64;
        let map_cells = plan.map.as_ref().map_or(0, |spec| map::build(plan, spec).cells() * map::Cell::BYTES as u64);
        // In flight at once (one device): the chunk computing, two waiting, the one being
        // written; its text twice (the formatted pieces and the joined rows).
        let memory_bytes = 4 * chunks.size * Results::bytes_per_run(d) as u64
            + 2 * chunks.size * per_row as u64
            + plan.threshold.map_or(0, |_| plan.total_runs() / 8)
            + if map_cells <= MapCells::IN_MEMORY { map_cells } else { 0 };
        Estimate {
            memory_bytes,
            runs_csv_bytes: (runs * per_row) as u64,
            write_seconds: runs * format_per_row + runs * per_row / Self::DISK_BYTES_PER_SECOND,
        }
    }
}
