//! The command line (README "Command line"): one short function per command; `main` only
//! calls [`main_exit_code`]. What `gdsweep run` does is the library's [`pipeline::run`].

use crate::analysis::verify;
use crate::app::{bench, pipeline};
use crate::backend::{self, cpu::Cpu, Backend};
use crate::config::{load_with_sets, Overrides};
use crate::engine::execute;
use crate::error::Result;
use crate::output::files;
use crate::output::folder::ResultFolder;
use crate::plan::{BackendChoice, Plan, Precision};
use crate::problem::catalogue::CATALOGUE;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` that returns an error instead of panicking when stdout is gone (`gdsweep plan … |
/// head -1` closes the pipe early): [`main_exit_code`] ends such a run quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(|e| crate::error::Error::io("writing to stdout", e))?
    }};
}

#[derive(Parser)]
#[command(name = "gdsweep", version, about = "Gradient descent over huge grids of configurations, on the GPU (WGSL) and the CPU")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The config file and the settings that change it.
#[derive(Args)]
struct ConfigArgs {
    /// The sweep's config file (TOML).
    config: PathBuf,
    /// Change one setting of the config, validated like the file: KEY is a dotted path
    /// (run.steps, sweep.lr, optimizer[1].beta), VALUE is TOML (5000, [0.1, 0.2],
    /// { log = [1e-3, 1], n = 8 }) or else a string (f64); repeatable [default: none].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

impl ConfigArgs {
    fn load(&self, ov: Overrides) -> Result<Plan> {
        load_with_sets(&self.config, ov, &self.sets)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Auto,
    Gpu,
    // (plain comments: doc comments would turn --help's lists of values into long help)
    // The CPU, its objective compiled to native code.
    Cpu,
    // The CPU on the tape interpreter: the reference the compiled kernel is checked against.
    CpuRef,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Parquet,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    F32,
    F64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every configuration of a sweep and write runs.csv and manifest.json.
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// Output folder [default: results/<name>/].
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Where the runs run [default: the config's run.backend, else auto].
        #[arg(short, long, value_enum)]
        backend: Option<BackendArg>,
        /// Number precision [default: the config's run.precision, else f32].
        #[arg(long, value_enum)]
        precision: Option<PrecisionArg>,
        /// Replace results that already exist (the files of the previous sweep).
        #[arg(short, long)]
        force: bool,
        /// If another gdsweep is writing the output folder, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        /// Continue an interrupted sweep from its last complete chunk (a complete folder of the
        /// same sweep is left as it is; an empty one starts the sweep).
        #[arg(long)]
        resume: bool,
        /// Run only shard I of N (chunks k with k mod N = I), for a job array; `gdsweep merge`
        /// joins the shards' folders [default: the whole sweep].
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// How runs are written: runs.csv or runs.parquet [default: the config's output.format, else csv].
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Compute on several devices at once, each taking chunks from one queue: `all` (every
        /// hardware GPU, then the CPU), or a list of cpu, cpu-ref, gpu, gpu:N [default: one backend, as
        /// --backend chooses].
        #[arg(long, value_name = "SPEC", conflicts_with = "backend")]
        devices: Option<String>,
        /// No progress bar and no summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Join the folders of `run --shard i/N` into the folder one run would have written.
    Merge {
        /// The shard folders (every shard of one sweep, in any order).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output folder [default: results/<name>/].
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Where the threshold refinement and trajectories run [default: the config's run.backend, else auto].
        #[arg(short, long, value_enum)]
        backend: Option<BackendArg>,
        /// How runs are written: runs.csv or runs.parquet [default: the config's output.format, else csv].
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Replace results that already exist (the files of the previous sweep).
        #[arg(short, long)]
        force: bool,
        /// If another gdsweep is writing the output folder, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        /// No progress bar and no summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run the same configurations on two backends (the GPU and the CPU unless told) and compare them.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        /// The two backends to compare: gpu,cpu (the default), cpu,cpu-ref (the compiled CPU
        /// kernel against the tape interpreter), gpu,cpu-ref…
        #[arg(long, value_enum, value_delimiter = ',', default_value = "gpu,cpu")]
        backends: Vec<BackendArg>,
        /// Compare about N evenly spread runs instead of all [default: all].
        #[arg(long)]
        sample: Option<u64>,
        /// Number precision [default: the config's run.precision, else f32].
        #[arg(long, value_enum)]
        precision: Option<PrecisionArg>,
        /// Folder for differences.csv and verify.json [default: results/<name>-verify/].
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Replace a previous verify's files.
        #[arg(short, long)]
        force: bool,
        /// If another gdsweep is writing the output folder, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
    },
    /// Show what a config would run: counts, memory, estimated time, resolved config.
    Plan {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Write a commented starter config to edit.
    Init {
        /// Where to write it.
        #[arg(default_value = "sweep.toml")]
        path: PathBuf,
        /// Replace a file that already exists.
        #[arg(short, long)]
        force: bool,
    },
    /// List the GPU adapters wgpu finds.
    Devices,
    /// List the built-in objectives with their formulas and known minima.
    Objectives,
    /// Throughput on the standard workloads W1 and W2, per backend.
    Bench {
        /// Learning rates in W1.
        #[arg(long, default_value_t = 1 << 20)]
        n: u64,
        /// Side of W2's grid of starts.
        #[arg(long, default_value_t = 1024)]
        side: u64,
        /// Steps of every run.
        #[arg(long, default_value_t = 1000)]
        steps: u32,
        /// Which backends [default: every one available: the GPU if an adapter exists, and the CPU].
        #[arg(short, long, value_enum)]
        backend: Option<BackendArg>,
        /// The peers' script (../shared/peers/lstsq_sweep.py), timed on W1 in the same run [default: no peers].
        #[arg(long)]
        peers: Option<PathBuf>,
        /// Python with numpy (and jax, numba) for the peers.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Which peers to run.
        #[arg(long, default_value = "numpy,jax,jax_batched,numba")]
        peer_list: String,
        /// Runs of each measurement; the best is reported.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// The model workloads W3 (linear regression) and W4 (a 272-parameter network) instead
        /// of W1 and W2, with their JAX peers (src/app/bench_models.py) where --peers is given.
        #[arg(long)]
        models: bool,
        /// Runs of W3 (a multiple of 256; the size is 65536).
        #[arg(long, default_value_t = 65536)]
        w3_runs: u64,
        /// Side of W4's grid of per-layer learning rates (the size is 256).
        #[arg(long, default_value_t = 256)]
        w4_side: u64,
        /// Time the CPU kernel's compilation instead: every catalogue objective × method × line
        /// search (none, backtracking, zoom) × precision, with clipping, weight decay and
        /// lr_scale compiled in.
        #[arg(long, conflicts_with = "models")]
        compile: bool,
    },
}

fn overrides(backend: Option<BackendArg>, precision: Option<PrecisionArg>) -> Overrides {
    Overrides {
        format: None,
        backend: backend.map(|b| match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
            BackendArg::CpuRef => BackendChoice::CpuRef,
        }),
        precision: precision.map(|p| match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        }),
    }
}

/// Parse the arguments, run, and map errors to exit codes (2: bad input, 1: failure).
pub fn main_exit_code() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        // The reader of stdout went away (`| head`): nothing is lost, end quietly.
        Err(crate::error::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gdsweep: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Run { config, out, backend, precision, force, wait, resume, shard, format, devices, quiet } => {
            let ov = Overrides { format: format.map(format_of), ..overrides(backend, precision) };
            run_sweep(config.load(ov)?, out, force, wait, pipeline::Options { shard, resume }, devices.as_deref(), quiet)
        }
        Cmd::Merge { shards, out, backend, format, force, wait, quiet } => merge(&shards, out, backend, format, force, wait, quiet),
        Cmd::Verify { config, backends, sample, precision, out, force, wait } => verify(config.load(overrides(None, precision))?, &backends, sample, out, force, wait),
        Cmd::Plan { config } => {
            print_plan(&config.load(Overrides::default())?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Init { path, force } => init(&path, force),
        Cmd::Devices => devices(),
        Cmd::Objectives => objectives(),
        Cmd::Bench { compile: true, .. } => bench_compile(),
        Cmd::Bench { n, side, steps, backend, peers, python, peer_list, repeat, models, w3_runs, w4_side, .. } => {
            bench(n, side, steps, overrides(backend, None).backend, peers, &python, &peer_list, repeat, models.then_some((w3_runs, w4_side)))
        }
    }
}

fn format_of(f: FormatArg) -> crate::plan::OutputFormat {
    match f {
        FormatArg::Csv => crate::plan::OutputFormat::Csv,
        FormatArg::Parquet => crate::plan::OutputFormat::Parquet,
    }
}

/// `--shard I/N`: 0 ≤ I < N.
fn parse_shard(s: &str) -> std::result::Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("write I/N, e.g. 0/4 (shard I of N, counted from 0)")?;
    let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| format!("'{i}' is not a shard index"))?, n.trim().parse().map_err(|_| format!("'{n}' is not a shard count"))?);
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: the index counts from 0 and must be below the count"));
    }
    Ok((i, n))
}

/// The progress bar of a sweep of `runs` runs (hidden with `quiet`).
fn progress_bar(runs: u64, quiet: bool) -> indicatif::ProgressBar {
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(runs) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} runs ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// `gdsweep run`: the pipeline (app::pipeline) with a progress bar and a summary.
fn run_sweep(plan: Plan, out: Option<PathBuf>, force: bool, wait: bool, opts: pipeline::Options, devices: Option<&str>, quiet: bool) -> Result<ExitCode> {
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&plan.name));
    // Held until the sweep's manifest is written: one sweep per folder at a time.
    let folder = ResultFolder::lock(&dir, wait)?;
    if opts.resume && !force {
        // Complete (its manifest written; a checkpoint left by a kill just after is stale).
        if folder.complete_sweep() == Some((plan.fingerprint(), opts.shard)) {
            crate::output::partial::finish(&dir)?;
            if !quiet {
                eprintln!("gdsweep: {} already holds this sweep, complete: nothing to resume", dir.display());
            }
            return Ok(ExitCode::SUCCESS);
        }
        if !folder.has_checkpoint() {
            folder.clear(false)?;
        }
    } else {
        folder.clear(force)?;
    }
    let backends: Vec<Box<dyn Backend>> = match devices {
        Some(spec) => backend::open_devices(spec, plan.precision)?,
        None => {
            let (b, why) = backend::open_for(&plan)?;
            if !quiet {
                eprintln!("gdsweep: {} x {} on {} ({}; {why})", plural(plan.total_runs(), "run"), plural(plan.steps as u64, "step"), b.name(), b.device());
            }
            vec![b]
        }
    };
    if devices.is_some() && !quiet {
        let list: Vec<String> = backends.iter().map(|b| format!("{} ({})", b.name(), b.device())).collect();
        eprintln!("gdsweep: {} x {} on {}", plural(plan.total_runs(), "run"), plural(plan.steps as u64, "step"), list.join(" and "));
    }
    if let (Some((i, n)), false) = (opts.shard, quiet) {
        eprintln!("gdsweep: shard {i}/{n}");
    }
    let runs = match opts.shard {
        Some((i, n)) => {
            let chunks = crate::engine::Chunks::of(&plan);
            pipeline::chunk_sequence(&chunks, Some((i, n))).iter().map(|&k| chunks.len(k)).sum()
        }
        None => plan.total_runs(),
    };
    let bar = progress_bar(runs, quiet);
    let refs: Vec<&dyn Backend> = backends.iter().map(|b| b.as_ref()).collect();
    let sweep = pipeline::run(&plan, &refs, &dir, &|n| bar.inc(n), opts);
    bar.finish_and_clear();
    summary(&plan, &sweep?, &dir, quiet)
}

/// `gdsweep merge`: the shards checked and joined (app::pipeline::merge).
fn merge(shards: &[PathBuf], out: Option<PathBuf>, backend: Option<BackendArg>, format: Option<FormatArg>, force: bool, wait: bool, quiet: bool) -> Result<ExitCode> {
    let (mut plan, ordered) = pipeline::open_shards(shards)?;
    if let Some(b) = overrides(backend, None).backend {
        plan.backend = b;
    }
    if let Some(f) = format {
        plan.format = format_of(f);
    }
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&plan.name));
    if ordered.iter().any(|d| d.canonicalize().ok() == dir.canonicalize().ok()) {
        return Err(crate::error::Error::Usage(format!("{} is one of the shards: merge into another folder (--out DIR)", dir.display())));
    }
    let _folder = ResultFolder::open(&dir, force, wait)?;
    let (backend, _) = backend::open_for(&plan)?;
    if !quiet {
        eprintln!("gdsweep: merging {} shards of {} ({} runs) into {}", ordered.len(), plan.name, plan.total_runs(), dir.display());
    }
    let bar = progress_bar(plan.total_runs(), quiet);
    let sweep = pipeline::merge(&plan, backend.as_ref(), &ordered, &dir, &|n| bar.inc(n));
    bar.finish_and_clear();
    summary(&plan, &sweep?, &dir, quiet)
}

/// What a finished sweep prints: basins, thresholds, counts.
fn summary(plan: &Plan, sweep: &pipeline::Sweep, dir: &std::path::Path, quiet: bool) -> Result<ExitCode> {
    if quiet {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(basins) = &sweep.basins {
        let shown: Vec<String> = basins
            .iter()
            .take(6)
            .map(|b| {
                let at: Vec<String> = b.centre.iter().map(|v| format!("{v:.4}")).collect();
                format!("{} at ({}), {} runs", b.kind, at.join(", "), b.count)
            })
            .collect();
        let more = if basins.len() > 6 { "; … (see basins.csv)" } else { "" };
        outln!("{}: {}{more}", plural(basins.len() as u64, "basin"), shown.join("; "));
    }
    if let Some(search) = &sweep.thresholds {
        print_thresholds(plan, search)?;
    }
    let counts: Vec<String> = sweep.tally.counts().iter().map(|(s, n)| format!("{} {n}", s.name())).collect();
    let resumed = if sweep.resumed_chunks > 0 { format!(" ({} found complete)", plural(sweep.resumed_chunks, "chunk")) } else { String::new() };
    let rate = sweep.tally.runs as f64 * plan.steps as f64 / sweep.compute_seconds.max(1e-9);
    outln!(
        "{}: {} in {:.3} s ({:.3e} config-steps/s){resumed}; wrote {}",
        plan.name,
        counts.join(", "),
        sweep.compute_seconds,
        rate,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `gdsweep verify`: the same selection on the GPU and the CPU, compared (analysis::verify).
fn verify(plan: Plan, backends: &[BackendArg], sample: Option<u64>, out: Option<PathBuf>, force: bool, wait: bool) -> Result<ExitCode> {
    let choice = |b: BackendArg| overrides(Some(b), None).backend.expect("a backend was given");
    let [first, second] = backends else {
        return Err(crate::error::Error::Usage(format!("--backends names {} backends: name two, as gpu,cpu or cpu,cpu-ref", backends.len())));
    };
    if matches!(first, BackendArg::Auto) || matches!(second, BackendArg::Auto) {
        return Err(crate::error::Error::Usage("--backends: name each backend (gpu, cpu, cpu-ref), not auto".into()));
    }
    // verify compares the two backends' results side by side, in memory (unlike `run`, which
    // streams): refuse what cannot fit before computing, and say how to sample.
    let compared: u64 = plan.selections(sample).iter().map(|s| s.count).sum();
    let need = 2 * compared * crate::outcome::Results::bytes_per_run(plan.objective.dim()) as u64;
    let avail = crate::config::available_memory_bytes();
    if need > avail / 2 {
        return Err(crate::error::Error::Usage(format!(
            "verify holds both backends' results of {compared} runs in memory ({:.1} GiB), more than half of the {:.1} GiB available: compare a sample (--sample N)",
            need as f64 / (1u64 << 30) as f64,
            avail as f64 / (1u64 << 30) as f64
        )));
    }
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(format!("{}-verify", plan.name)));
    let _folder = ResultFolder::open(&dir, force, wait)?;
    let (a, b) = (backend::open(choice(*first), plan.precision, &plan.source)?, backend::open(choice(*second), plan.precision, &plan.source)?);
    if a.name() == b.name() {
        return Err(crate::error::Error::Usage(format!("--backends names {} twice: name two different backends", a.name())));
    }
    let sel = plan.selections(sample);
    let g = execute(&plan, a.as_ref(), &sel)?;
    let c = execute(&plan, b.as_ref(), &sel)?;
    let v = verify::compare(&plan, &g.results, &c.results);
    outln!("verify {} on {} ({}) vs {} ({}) ({})", plan.name, a.name(), a.device(), b.name(), b.device(), plan.precision.name());
    outln!("  compared runs:        {}", v.compared);
    outln!("  boundary runs:        {} (excluded; {} of them agree)", v.boundary, v.boundary_agreeing);
    outln!("  rounding chaos:       {} (excluded: chaotic on one backend, another status on the other)", v.rounding_chaos);
    if v.judged() == 0 {
        outln!("  status agreement:     none judged: all {} compared runs were boundary runs or rounding chaos", v.compared);
    } else {
        let what = if plan.rules.trainability { "status and trained agree" } else { "agree" };
        outln!("  status agreement:     {:.4} % ({} {what}, {} differ)", 100.0 * v.agreement, v.agreeing, v.disagreeing);
    }
    outln!("  converged on both:    {}", v.converged_on_both);
    outln!("  max loss difference:  {:.3e} (relative to max(1, |loss|))", v.max_loss_difference);
    outln!("  max point difference: {:.3e} (relative to max(1, |x|), inf-norm)", v.max_point_difference);
    for (run, gs, cs) in &v.examples {
        outln!("  differs: run {run}: {} {gs}, {} {cs}", a.name(), b.name());
    }
    files::write_differences_csv(&dir.join("differences.csv"), &plan, (&g.results, &c.results), (a.name(), b.name()), &v.differences)?;
    let backends = serde_json::json!([{ "backend": a.name(), "device": a.device(), "kernel": a.kernel(&plan) }, { "backend": b.name(), "device": b.device(), "kernel": b.kernel(&plan) }]);
    files::write_manifest(&dir.join("verify.json"), &serde_json::json!({ "config_file": plan.source, "device": a.device(), "backends": backends, "precision": plan.precision, "verdict": v, "passed": v.passed(), "files": ["differences.csv"] }))?;
    outln!("  wrote the {} runs whose status differs to {}", v.differences.len(), dir.join("differences.csv").display());
    let verdict = if v.passed() { "PASS" } else { "FAIL" };
    outln!("  {verdict} (bar {:.1} %{})", 100.0 * verify::AGREEMENT_BAR, if v.judged() == 0 { "; nothing was judged" } else { "" });
    Ok(if v.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The config `gdsweep init` writes: a small sweep that runs in seconds, every table commented.
pub const STARTER: &str = include_str!("starter.toml");

/// `gdsweep init`: the starter config, never over an existing file without --force.
fn init(path: &std::path::Path, force: bool) -> Result<ExitCode> {
    use crate::error::Error;
    if path.exists() && !force {
        return Err(Error::Usage(format!("{} already exists: pass --force to overwrite it, or give another path", path.display())));
    }
    std::fs::write(path, STARTER).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    eprintln!("gdsweep: wrote {}; see what it runs with `gdsweep plan {0}`, run it with `gdsweep run {0}`", path.display());
    Ok(ExitCode::SUCCESS)
}

/// `gdsweep devices`: every adapter wgpu finds, then the CPU backend.
fn devices() -> Result<ExitCode> {
    backend::gpu::check_backend_env()?;
    let list = backend::gpu::list_adapters();
    if list.is_empty() {
        outln!("no GPU adapter found (install lavapipe for a software one: apt-get install mesa-vulkan-drivers); the CPU backend is always available");
    }
    for (a, compute) in list {
        outln!(
            "{} | backend {} | type {} | driver {} {} | f64 {} | compute {}",
            a.name,
            a.backend,
            a.device_type,
            a.driver,
            a.driver_info,
            if a.shader_f64 { "yes" } else { "no" },
            if compute { "yes" } else { "no" }
        );
    }
    outln!("cpu | {}", backend::cpu::name());
    Ok(ExitCode::SUCCESS)
}

/// `gdsweep objectives`: the built-in catalogue.
fn objectives() -> Result<ExitCode> {
    for e in CATALOGUE {
        outln!("{} ({})", e.name, e.vars.join(", "));
        outln!("    f = {}", e.expr);
        outln!("    {}", e.about);
        for (p, v) in e.minima {
            outln!("    minimum at {p:?}, f = {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `gdsweep bench`: W1, W1c, W2 on each backend (app::bench), then the peers on W1.
#[allow(clippy::too_many_arguments)]
/// `bench --compile`: the compile times, their spread and the slowest.
fn bench_compile() -> Result<ExitCode> {
    let times = bench::compile_times()?;
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].0;
    outln!("| compiled (catalogue objective × method × search × precision) | min ms | median ms | max ms |");
    outln!("|---|---|---|---|");
    outln!("| {} | {:.1} | {:.1} | {:.1} |", times.len(), at(0.0), at(0.5), at(1.0));
    outln!();
    outln!("| slowest | ms |");
    outln!("|---|---|");
    for (ms, what) in times.iter().rev().take(5) {
        outln!("| {what} | {ms:.1} |");
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(
    n: u64,
    side: u64,
    steps: u32,
    choice: Option<BackendChoice>,
    peers: Option<PathBuf>,
    python: &str,
    peer_list: &str,
    repeat: u32,
    models: Option<(u64, u64)>,
) -> Result<ExitCode> {
    // Each backend opened once (W1 and W2 are f32: no f64 needed).
    let open = |choice| backend::open(choice, Precision::F32, "bench");
    let cpu = || Box::new(Cpu) as Box<dyn Backend>;
    let backends = match choice {
        Some(BackendChoice::Auto) | None => match open(BackendChoice::Gpu) {
            Ok(g) => vec![g, cpu()],
            Err(_) => vec![cpu()],
        },
        Some(BackendChoice::Gpu) => vec![open(BackendChoice::Gpu)?],
        Some(BackendChoice::Cpu) => vec![cpu()],
        Some(BackendChoice::CpuRef) => vec![Box::new(crate::backend::cpu::CpuRef) as Box<dyn Backend>],
    };
    outln!("| workload | backend | device | seconds | config-steps/s |");
    outln!("|---|---|---|---|---|");
    if let Some((w3_runs, w4_side)) = models {
        let rows = bench::run_models(w3_runs, w4_side, &backends, repeat)?;
        for r in &rows {
            outln!("| {} | {} | {} | {:.3} | {:.3e} |", r.workload, r.backend, r.device, r.seconds, r.config_steps_per_s);
        }
        if peers.is_some() {
            for (workload, size, steps) in [("W3", w3_runs, 1000), ("W4", w4_side, 200)] {
                let Some(p) = bench::run_model_peer(python, workload, size, steps, repeat)? else { continue };
                outln!("| {workload} | peer {} | {} | {:.3} | {:.3e} |", p.peer, backend::cpu::name(), p.seconds, p.config_steps_per_s);
                for r in rows.iter().filter(|r| r.workload == workload) {
                    outln!("| {workload} ratio | {} / {} | | | {:.3}x |", r.backend, p.peer, r.config_steps_per_s / p.config_steps_per_s);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = bench::run(n, side, steps, &backends, repeat)?;
    for r in &rows {
        outln!("| {} | {} | {} | {:.3} | {:.3e} |", r.workload, r.backend, r.device, r.seconds, r.config_steps_per_s);
    }
    if let Some(script) = peers {
        let peer_rows = bench::run_peers(python, &script, n, steps, peer_list, repeat)?;
        for p in &peer_rows {
            outln!("| W1 | peer {} | {} | {:.3} | {:.3e} |", p.peer, backend::cpu::name(), p.seconds, p.config_steps_per_s);
        }
        outln!();
        outln!("| W1 ratio (gdsweep / peer) | {} |", peer_rows.iter().map(|p| p.peer.as_str()).collect::<Vec<_>>().join(" | "));
        outln!("|---|{}", "---|".repeat(peer_rows.len()));
        for r in rows.iter().filter(|r| r.workload == "W1") {
            let ratios: Vec<String> = peer_rows.iter().map(|p| format!("{:.2}x", r.config_steps_per_s / p.config_steps_per_s)).collect();
            outln!("| {} | {} |", r.backend, ratios.join(" | "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The first few thresholds, one line each, with theory where it exists.
fn print_thresholds(plan: &Plan, search: &crate::analysis::threshold::Search) -> Result<()> {
    const SHOWN: usize = 8;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.8e}"));
    outln!(
        "thresholds: {}, {}, {}, {:.3} s",
        plural(search.thresholds.len() as u64, "group"),
        plural(search.rounds as u64, "refinement round"),
        plural(search.refinement_runs, "run"),
        search.seconds
    );
    for t in search.thresholds.iter().take(SHOWN) {
        let block = &plan.blocks[t.block];
        let others: Vec<String> = block.axes[1..]
            .iter()
            .enumerate()
            .filter(|(_, a)| a.values.len() > 1)
            .map(|(k, a)| format!("{}={}", a.name, block.axis_value(t.rest, 1 + k)))
            .collect();
        let theory = t.lr_theory.map_or(String::new(), |v| format!(", theory {v:.8e}"));
        outln!(
            "  {}[{}] {}: lr_stable {}, lr_unstable {} (rel width {}, {}, {}){theory}",
            block.optimizer.name(),
            t.block,
            others.join(" "),
            opt(t.lr_stable),
            opt(t.lr_unstable),
            t.rel_width().map_or("-".into(), |w| format!("{w:.1e}")),
            plural(t.crossings as u64, "crossing"),
            t.stop.name()
        );
    }
    if search.thresholds.len() > SHOWN {
        outln!("  … (see thresholds.csv)");
    }
    Ok(())
}

fn print_plan(plan: &Plan) -> Result<()> {
    let runs = plan.total_runs();
    outln!("{}: {}, up to {} each, {}", plan.name, plural(runs, "run"), plural(plan.steps as u64, "step"), plan.precision.name());
    outln!("objective: {} (variables: {})", plan.objective.formula, plan.objective.vars.join(", "));
    for (i, b) in plan.blocks.iter().enumerate() {
        outln!("optimizer[{i}] {}: runs {}..{} ({})", b.optimizer.name(), b.first_run, b.first_run + b.runs, plural(b.runs, "run"));
        for a in &b.axes {
            let n = a.values.len();
            let spacing = if n > 1 { if a.log { " (log)" } else { "" } } else { "" };
            let (first, last) = (files::number(a.values[0], plan.precision), files::number(a.values[n - 1], plan.precision));
            let range = if n > 1 { format!("{first} .. {last}{spacing}") } else { first };
            outln!("    {:<14} {:>16}, {range}", a.name, plural(n as u64, "value"));
        }
    }
    let cost = pipeline::Estimate::of(plan);
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let chunks = crate::engine::Chunks::of(plan);
    outln!(
        "memory: about {:.0} MiB (results stream to disk in {} of {} runs)",
        mib(cost.memory_bytes),
        plural(chunks.count(), "chunk"),
        chunks.size
    );
    outln!("runs.csv: about {:.1} MiB", mib(cost.runs_csv_bytes));
    outln!(
        "shader: {} operations per step; compiling it takes about {:.1} s on a software adapter (lavapipe; hardware drivers are faster, the CPU backend needs no compile)",
        plan.step_ops(),
        backend::gpu::compile_seconds_estimate(plan.step_ops())
    );
    let disk = pipeline::Estimate::DISK_BYTES_PER_SECOND / 1e6;
    match plan.cpu_seconds_bound() {
        Some(compute) => outln!(
            "estimated time at most: {:.1} s on a 2-core CPU: {compute:.1} s of compute (much less where runs end early, line searches accept early, or on a GPU) and {:.1} s to write runs.csv (formatting timed here, disk at {disk:.0} MB/s), overlapped",
            compute.max(cost.write_seconds),
            cost.write_seconds,
        ),
        None => outln!(
            "estimated time: no bound for newton, lbfgs, cg or a zoom search (their updates and searches cost many evaluations' worth a step: BENCHMARKS.md measures them); writing runs.csv takes about {:.1} s (disk at {disk:.0} MB/s)",
            cost.write_seconds,
        ),
    }
    outln!("resolved config:\n{}", serde_json::to_string_pretty(&plan.resolved).unwrap_or_default());
    Ok(())
}

/// `n` and the noun, singular for 1: "1 group", "4 groups".
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
