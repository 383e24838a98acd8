//! Result folders hold one sweep, never a mix of two (output::folder): locked, checked before
//! compute, written through exclusive temporary files, replaced whole with --force, and an
//! interrupted sweep is reported as incomplete.

use std::path::Path;
use std::process::{Command, Output};

fn gdsweep(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gdsweep")).args(args).current_dir(dir).output().expect("gdsweep runs")
}

const SMALL: &str = "name = \"s\"\n[objective]\nexpr = \"x^2\"\n[sweep]\nlr = [0.1, 0.2]\n[run]\nsteps = 50\n";
const WITH_ANALYSES: &str =
    "name = \"s\"\n[objective]\nexpr = \"x^2\"\n[sweep]\nlr = [0.1, 0.2]\n[sweep.init]\nx = [1.0, 2.0]\n[run]\nsteps = 50\n[analysis.basins]\n[analysis.map]\nx = \"lr\"\ny = \"init_x\"\n";

fn setup(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A second writer is refused (exit 2, naming the holder) while the folder is locked, and
/// with --wait it runs once the lock is released.
#[test]
fn a_locked_folder_refuses_or_waits() {
    let dir = setup(SMALL);
    let out = dir.path().join("results/s");
    std::fs::create_dir_all(&out).unwrap();
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(out.join(".gdsweep.lock")).unwrap();
    lock.lock().unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is being written by") && stderr(&o).contains("--wait"), "{}", stderr(&o));
    assert!(!out.join("runs.csv").exists());
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        drop(lock);
    });
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--wait"], dir.path());
    release.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("waiting for"), "{}", stderr(&o));
    assert!(out.join("manifest.json").exists());
}

/// Temporary files are created exclusively under random names: symlinks planted at the old
/// predictable names do not redirect writes, and leftovers are removed.
#[test]
fn planted_symlinks_are_not_followed() {
    let dir = setup(SMALL);
    let out = dir.path().join("results/s");
    std::fs::create_dir_all(&out).unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("runs.partial")).unwrap();
    std::fs::write(out.join(".gdsweep-tmp-leftover"), "half a file").unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert!(!names.iter().any(|n| n.ends_with(".partial") || n.starts_with(".gdsweep-tmp-")), "{names:?}");
}

/// --force replaces the previous sweep whole: files the new sweep does not write go too, and
/// the manifest lists exactly the files of its sweep.
#[test]
fn force_leaves_nothing_of_the_previous_sweep() {
    let dir = setup(WITH_ANALYSES);
    let out = dir.path().join("results/s");
    assert_eq!(gdsweep(&["run", "c.toml", "-b", "cpu", "-q"], dir.path()).status.code(), Some(0));
    for f in ["basins.csv", "map.png", "map.csv"] {
        assert!(out.join(f).exists(), "{f}");
    }
    std::fs::write(dir.path().join("c.toml"), SMALL).unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "--force"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in ["basins.csv", "map.png", "map.csv", "map_grid.csv"] {
        assert!(!out.join(f).exists(), "{f} of the previous sweep is left");
    }
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"], serde_json::json!(["runs.csv"]));
}

/// Result files without a manifest are an interrupted sweep: reported as incomplete (exit 2),
/// replaced with --force.
#[test]
fn an_interrupted_sweep_is_reported_incomplete() {
    let dir = setup(SMALL);
    let out = dir.path().join("results/s");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("runs.csv"), "run,optimizer\n0,gd\n").unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("incomplete sweep"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("runs.csv")).unwrap(), "run,optimizer\n0,gd\n", "kept as it was");
    assert_eq!(gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "-f"], dir.path()).status.code(), Some(0));
}

/// An output folder that cannot be written is bad input, found before any run.
#[test]
fn an_unwritable_out_is_refused_first() {
    let dir = setup(SMALL);
    std::fs::write(dir.path().join("a_file"), "").unwrap();
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-o", "a_file/sub"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot create a_file/sub") && !stderr(&o).contains("runs x"), "refused before computing: {}", stderr(&o));
}

/// A run killed (SIGKILL) at any moment while it replaces a sweep with --force leaves either
/// the new sweep complete, or a folder that reads as incomplete: never the old manifest over
/// new files, never old analyses beside a new manifest.
#[test]
fn a_kill_during_force_never_leaves_a_mix() {
    let dir = setup(WITH_ANALYSES);
    let out = dir.path().join("results/s");
    let big = "name = \"s\"\n[objective]\nexpr = \"x^4 - 5*x^2 + 3*x\"\n[sweep]\nlr = { log = [1e-3, 0.3], n = 400 }\n[sweep.init]\nx = { lin = [-3.0, 3.0], n = 500 }\n[run]\nsteps = 3000\n";
    for delay_ms in [0u64, 30, 100, 250, 600, 1500] {
        std::fs::write(dir.path().join("c.toml"), WITH_ANALYSES).unwrap();
        let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q", "-f"], dir.path());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(out.join("basins.csv").exists());
        std::fs::write(dir.path().join("c.toml"), big).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gdsweep"))
            .args(["run", "c.toml", "-b", "cpu", "-q", "-f"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let manifest = std::fs::read_to_string(out.join("manifest.json")).ok();
        match manifest {
            Some(text) => {
                let m: serde_json::Value = serde_json::from_str(&text).expect("a manifest is whole or absent");
                let files = m["files"].as_array().unwrap().clone();
                let old = files.iter().any(|f| f == "basins.csv");
                if old {
                    // Killed before it touched anything: the old sweep, whole.
                    for f in &files {
                        assert!(out.join(f.as_str().unwrap()).exists(), "after {delay_ms} ms: {f} listed but gone");
                    }
                } else {
                    assert_eq!(files, vec![serde_json::json!("runs.csv")], "after {delay_ms} ms");
                    assert!(!out.join("basins.csv").exists() && !out.join("map.png").exists(), "after {delay_ms} ms: a mix");
                }
            }
            None => {
                // Killed after the old sweep was cleared: what is left (if anything) reads as
                // an incomplete sweep and is refused without --force.
                let left = ["runs.csv", "basins.csv", "map.csv", "map_grid.csv", "map.png"].iter().any(|f| out.join(f).exists());
                if left {
                    std::fs::write(dir.path().join("c.toml"), SMALL).unwrap();
                    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q"], dir.path());
                    assert_eq!(o.status.code(), Some(2), "after {delay_ms} ms: {}", stderr(&o));
                    assert!(stderr(&o).contains("incomplete sweep"), "after {delay_ms} ms: {}", stderr(&o));
                }
            }
        }
    }
}

/// Result files get the permissions of any file the user creates (0666 less the umask), not a
/// temporary file's 0600: people share result folders.
#[test]
fn result_files_are_as_readable_as_any_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = setup(WITH_ANALYSES);
    let o = gdsweep(&["run", "c.toml", "-b", "cpu", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    let want = std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
    for f in ["runs.csv", "manifest.json", "basins.csv", "map.csv", "map.png"] {
        let mode = std::fs::metadata(dir.path().join("results/s").join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, want, "{f}: {mode:o}, a plain file: {want:o}");
    }
}
