//! Sweeps stream through chunks (app::pipeline): a kill -9 at any moment loses at most the chunk
//! in flight and `--resume` finishes with the files of an uninterrupted run, byte for byte;
//! `--shard i/N` slices a sweep for a job array and `merge` joins the slices back into the
//! folder one run would have written. The job-array scripts in docs/cluster/ are run here too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// gdsweep, checkpointing after every chunk (the default, every second, would let these small
/// sweeps finish between two checkpoints).
fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gdsweep"));
    c.env("GDSWEEP_CHECKPOINT_SECONDS", "0");
    c
}

fn gdsweep(args: &[&str], dir: &Path) -> Output {
    command().args(args).current_dir(dir).output().expect("gdsweep runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// 14 chunks of 2^14 runs (the last shorter) with basins, a map over the starts, thresholds and
/// every run's final sharpness: every analysis that needs the whole sweep.
const SWEEP: &str = r#"
name = "w"
[objective]
builtin = "double_well"
[sweep]
lr = { log = [1e-2, 1.5], n = 40 }
[sweep.init]
x = { lin = [-2.0, 2.0], n = 5700 }
[run]
steps = 60
[analysis.basins]
[analysis.threshold]
max_rounds = 2
points = 8
[analysis.map]
x = "init_x"
y = "lr"
color = "basin"
[analysis.sharpness]
sample = 2
every = 5
"#;

const COMPARED: [&str; 9] = ["runs.csv", "parameters.npy", "basins.csv", "thresholds.csv", "map.csv", "map_grid.csv", "map.png", "trajectories.csv", "sharpness.csv"];

fn setup() -> tempfile::TempDir {
    setup_with(SWEEP)
}

fn setup_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    dir
}

/// Every result file of `b` is byte for byte that of `a` (those that exist in `a`).
fn same_files(a: &Path, b: &Path) {
    let mut compared = 0;
    for f in COMPARED {
        let Ok(x) = std::fs::read(a.join(f)) else { continue };
        let y = std::fs::read(b.join(f)).unwrap_or_else(|_| panic!("{f} is missing in {}", b.display()));
        assert!(x == y, "{f} differs between {} and {}", a.display(), b.display());
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} files compared");
}

/// The reference: one uninterrupted run.
fn reference(dir: &Path) -> PathBuf {
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "ref"], dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("ref/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["sweep"]["chunk_runs"], 16384);
    assert_eq!(m["runs"], 40 * 5700);
    dir.join("ref")
}

/// Kill -9 at random moments, again and again, resuming each time: every finished folder is
/// the uninterrupted run's, byte for byte. Trials repeat until 40 kills have landed, at moments
/// spread over the whole process (chunks, the analyses, the renames and the manifest).
/// (xorshift from a fixed seed: the same moments on one machine, other moments of the sweep on a
/// faster or slower one.)
#[test]
fn resume_after_kill_9_is_byte_identical() {
    let dir = setup();
    let reference = reference(dir.path());
    kill_and_resume(dir.path(), &reference, 40);
}

/// The same with the final points in parameters.npy (`[output] parameters = "npy"`): it is cut
/// back and resumed with runs.csv, and the basins a resume rebuilds come from it.
#[test]
fn parameters_npy_resumes_and_merges_byte_identical() {
    let dir = setup_with(&format!("{SWEEP}[output]\nparameters = \"npy\"\n"));
    let reference = reference(dir.path());
    let npy = std::fs::read(reference.join("parameters.npy")).unwrap();
    assert_eq!(npy.len(), 128 + 40 * 5700 * 4, "header and one f32 per run");
    let header = std::fs::read_to_string(reference.join("runs.csv")).unwrap().lines().next().unwrap().to_string();
    assert!(!header.contains("x_x") && header.contains("init_x"), "the swept start stays a column: {header}");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reference.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["parameters"]["names"], serde_json::json!(["x"]));
    kill_and_resume(dir.path(), &reference, 8);
    for i in 0..2 {
        let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", &format!("s{i}"), "--shard", &format!("{i}/2")], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = gdsweep(&["merge", "--out", "merged", "-b", "cpu", "-q", "s0", "s1"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    same_files(&reference, &dir.path().join("merged"));
    if let Ok(python) = std::env::var("GDSWEEP_TEST_PYTHON") {
        let code = "import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype)";
        let o = Command::new(python).args(["-c", code]).arg(reference.join("parameters.npy")).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "(228000, 1) float32", "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// A sweep killed before its first checkpoint leaves its partial files behind, parameters.npy's
/// too: without --force the folder is refused as an interrupted sweep (exit 2), with it both
/// are replaced and the run finishes (it failed with "File exists" on the parameters' file).
#[test]
fn force_replaces_the_partial_files_of_a_killed_sweep() {
    let dir = setup_with("[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = { log = [1e-2, 1.5], n = 4 }\n[sweep.init]\nx = { lin = [-2.0, 2.0], n = 5 }\n[run]\nsteps = 60\n[output]\nparameters = \"npy\"\n");
    for left in [&[".gdsweep-parameters.partial"][..], &[".gdsweep-runs.partial", ".gdsweep-parameters.partial"]] {
        let out = dir.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir(&out).unwrap();
        for name in left {
            std::fs::write(out.join(name), "cut short").unwrap();
        }
        let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out"], dir.path());
        assert_eq!(o.status.code(), Some(2), "{left:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--force"), "{left:?}: {}", stderr(&o));
        let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out", "--force"], dir.path());
        assert_eq!(o.status.code(), Some(0), "{left:?}: {}", stderr(&o));
        assert!(out.join("runs.csv").exists() && out.join("parameters.npy").exists() && !out.join(".gdsweep-parameters.partial").exists(), "{left:?}");
    }
}

/// Kill -9 a `--resume` run of `dir`'s c.toml at random moments until `kills` have landed,
/// resuming each time: every finished folder is `reference`, byte for byte.
fn kill_and_resume(dir: &Path, reference: &Path, kill_target: u32) {
    // How long a whole run takes, kept up to date: the machine's speed changes while other
    // tests run beside this one, and a stale figure would make most kills land after the end.
    let t = std::time::Instant::now();
    gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "timing"], dir);
    let mut full_ms = (t.elapsed().as_millis() as u64).max(20);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut kills, mut trials, mut resumed_chunks) = (0, 0, 0u64);
    let out = dir.join("out");
    while kills < kill_target {
        assert!(trials < 200, "{kills} kills in {trials} trials");
        trials += 1;
        let _ = std::fs::remove_dir_all(&out);
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 100, "trial {trials} never finished");
            let start = std::time::Instant::now();
            let mut child = command()
                .args(["run", "c.toml", "-b", "cpu", "-q", "--out", "out", "--resume"])
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = std::time::Duration::from_millis(rand() % full_ms);
            while start.elapsed() < deadline && child.try_wait().unwrap().is_none() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            } else if attempts == 1 {
                // A whole run finished before its kill: that is how long a run takes now.
                full_ms = (start.elapsed().as_millis() as u64).max(20);
            }
            let o = child.wait_with_output().unwrap();
            assert!(!matches!(o.status.code(), Some(1 | 2)), "trial {trials}, attempt {attempts}: {}", stderr(&o));
            if o.status.success() {
                break;
            }
        }
        let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
        resumed_chunks += m["resumed_chunks"].as_u64().unwrap_or(0);
        same_files(reference, &out);
        assert!(!out.join(".gdsweep-runs.partial").exists() && !out.join(".gdsweep-resume.json").exists() && !out.join(".gdsweep-parameters.partial").exists());
    }
    assert!(resumed_chunks > 0, "no chunk was ever resumed");
    eprintln!("{kills} kills in {trials} trials; {resumed_chunks} chunks found complete by the finishing resumes");
    // Resuming a complete folder changes nothing.
    let before = std::fs::read(out.join("manifest.json")).unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "--out", "out", "--resume"], dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to resume"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), before);
}

/// A checkpoint is only resumed by its own sweep; an interrupted folder says how to go on.
#[test]
fn a_checkpoint_belongs_to_one_sweep() {
    let dir = setup();
    let mut child = command()
        .args(["run", "c.toml", "-b", "cpu", "-q", "--out", "out"])
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    // Wait for the first chunk, then kill.
    let cp = dir.path().join("out/.gdsweep-resume.json");
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(&cp).is_ok_and(|t| !t.contains("\"chunks_done\":0")) && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out", "--resume", "--set", "run.steps=61"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("another sweep"), "{}", stderr(&o));
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out", "--resume", "--shard", "0/2"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A planted symlink at the partial file's name is refused, not written through.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::remove_file(dir.path().join("out/.gdsweep-runs.partial")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("out/.gdsweep-runs.partial")).unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out", "--resume"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    // --force starts again and finishes clean.
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out", "--force"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}

/// Shards 0..3 of 4, merged, are the single run: every file byte for byte. Two run through the
/// Slurm array script's task, two as the Kubernetes Indexed Job's pods run it.
#[test]
fn four_shards_merged_equal_one_run() {
    let dir = setup();
    let reference = reference(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cluster/shard.sh");
    for i in 0..4u32 {
        let mut cmd = Command::new("bash");
        cmd.arg(&script).args(["c.toml", "shards"]).current_dir(dir.path()).env("GDSWEEP", env!("CARGO_BIN_EXE_gdsweep"));
        cmd.env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX").env("GDSWEEP_BACKEND", "cpu");
        if i < 2 {
            cmd.env("SLURM_ARRAY_TASK_ID", i.to_string()).env("SLURM_ARRAY_TASK_COUNT", "4");
        } else {
            cmd.env("JOB_COMPLETION_INDEX", i.to_string()).env("SHARDS", "4");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "shard {i}: {}", stderr(&o));
    }
    let shard_dirs: Vec<String> = (0..4).map(|i| format!("shards/shard-{i}")).collect();
    // A shard holds a quarter of the runs, interleaved by chunk.
    let rows = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap().lines().count() - 1;
    assert_eq!((0..4).map(|i| rows(&format!("shards/shard-{i}/runs.csv"))).sum::<usize>(), 40 * 5700);
    assert!(!dir.path().join("shards/shard-0/basins.csv").exists(), "the analyses are merge's");
    // Missing, overlapping, other sweep: refused (exit 2), nothing written.
    let mut args = vec!["merge", "--out", "merged", "-b", "cpu", "-q"];
    let bad = |extra: &[&str], why: &str| {
        let mut a = args.clone();
        a.extend_from_slice(extra);
        let o = gdsweep(&a, dir.path());
        assert_eq!(o.status.code(), Some(2), "{why}: {}", stderr(&o));
        assert!(!dir.path().join("merged/manifest.json").exists(), "{why}");
        stderr(&o)
    };
    assert!(bad(&[&shard_dirs[0], &shard_dirs[1], &shard_dirs[2]], "missing").contains("shard 3/4 missing"));
    assert!(bad(&[&shard_dirs[0], &shard_dirs[1], &shard_dirs[2], &shard_dirs[2]], "overlap").contains("overlap"));
    assert!(bad(&["ref", &shard_dirs[1]], "not a shard").contains("not a shard"));
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "other", "--shard", "3/4", "--set", "run.steps=61"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(bad(&[&shard_dirs[0], &shard_dirs[1], &shard_dirs[2], "other"], "other sweep").contains("another sweep"));
    args.extend(shard_dirs.iter().map(String::as_str));
    let o = gdsweep(&args, dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    same_files(&reference, &dir.path().join("merged"));
}

/// The Slurm script and the Kubernetes Job run the same task script with the same arguments.
#[test]
fn the_cluster_examples_run_the_task_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cluster");
    let sbatch = std::fs::read_to_string(root.join("sweep.sbatch")).unwrap();
    let job = std::fs::read_to_string(root.join("indexed-job.yaml")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=0-3") && sbatch.contains("#SBATCH --requeue") && sbatch.contains("docs/cluster/shard.sh"));
    assert!(job.contains("completionMode: Indexed") && job.contains("completions: 4") && job.contains("docs/cluster/shard.sh"));
    assert!(job.contains("name: SHARDS") && job.contains("value: \"4\""));
}

/// A full disk (here: a file-size limit, so writes fail with EFBIG as they would with ENOSPC)
/// stops the sweep with exit 1 and a message, leaves the folder resumable, and `--resume` with
/// room again finishes with the uninterrupted run's files.
#[test]
fn a_full_disk_stops_the_sweep_and_resume_finishes_it() {
    use std::os::unix::process::CommandExt;
    let dir = setup();
    let reference = reference(dir.path());
    let runs_csv = std::fs::metadata(reference.join("runs.csv")).unwrap().len();
    let limit = runs_csv / 3;
    let mut cmd = command();
    cmd.args(["run", "c.toml", "-b", "cpu", "-q", "--out", "out"]).current_dir(dir.path());
    // SAFETY: pre_exec runs in the child between fork and exec; it only calls the async-signal
    // safe setrlimit and signal.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(".gdsweep-runs.partial") && stderr(&o).contains("too large"), "{}", stderr(&o));
    let out = dir.path().join("out");
    assert!(!out.join("manifest.json").exists() && !out.join("runs.csv").exists());
    let cp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(".gdsweep-resume.json")).unwrap()).unwrap();
    assert!(cp["chunks_done"].as_u64().unwrap() > 0 && cp["bytes"].as_u64().unwrap() <= limit, "{cp}");
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out"], dir.path());
    assert_eq!(o.status.code(), Some(2), "an interrupted folder is not overwritten: {}", stderr(&o));
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--out", "out", "--resume"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    same_files(&reference, &out);
}
