//! Every device at once (`run --devices`): chunks from one queue on the GPU (lavapipe here) and
//! the CPU together, merged by run id; results that agree with either backend alone by verify's
//! rules; a device that fails hands its chunks to the others, and the manifest says so.
mod common;

use gdsweep::analysis::verify;
use gdsweep::plan::Precision;
use std::path::Path;
use std::process::{Command, Output};

fn gdsweep(args: &[&str], dir: &Path, fail: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gdsweep"));
    c.args(args).current_dir(dir);
    if let Some(f) = fail {
        c.env("GDSWEEP_FAIL_DEVICE", f);
    }
    c.output().expect("gdsweep runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// 12 chunks of the double well over lr × start.
const SWEEP: &str = "name = \"d\"\n[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = { log = [1e-2, 1.2], n = 12 }\n[sweep.init]\nx = { lin = [-2.0, 2.0], n = 16384 }\n[run]\nsteps = 200\n";

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

fn results(dir: &Path, plan: &gdsweep::plan::Plan) -> gdsweep::outcome::Results {
    let mut reader = csv::Reader::from_path(dir.join("runs.csv")).unwrap();
    gdsweep::output::files::read_runs(&mut reader, plan, plan.total_runs(), "runs.csv", None).unwrap()
}

#[test]
fn the_gpu_and_the_cpu_together_agree_with_each_alone() {
    if common::gpu(false).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), SWEEP).unwrap();
    let plan = common::plan(SWEEP, Precision::F32);
    for (out, args) in [("both", vec!["--devices", "gpu,cpu"]), ("cpu", vec!["-b", "cpu"]), ("gpu", vec!["-b", "gpu"])] {
        let mut a = vec!["run", "c.toml", "-q", "--out", out];
        a.extend(args);
        let o = gdsweep(&a, dir.path(), None);
        assert_eq!(o.status.code(), Some(0), "{out}: {}", stderr(&o));
    }
    let m = manifest(&dir.path().join("both"));
    let devices = m["sweep"]["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{m}");
    assert_eq!(m["backend"], "gpu+cpu");
    let chunks: Vec<u64> = devices.iter().map(|d| d["chunks"].as_u64().unwrap()).collect();
    assert!(chunks.iter().all(|&c| c > 0) && chunks.iter().sum::<u64>() == 12, "each device took chunks: {chunks:?}");
    let both = results(&dir.path().join("both"), &plan);
    assert_eq!(both.run, (0..plan.total_runs()).collect::<Vec<u64>>(), "merged by run id, in order");
    for alone in ["cpu", "gpu"] {
        let v = verify::compare(&plan, &both, &results(&dir.path().join(alone), &plan));
        assert!(v.passed(), "together vs {alone} alone: {:.4} % agree", 100.0 * v.agreement);
    }
}

/// A device lost at its second chunk: the CPU takes the rest over, the sweep finishes with
/// every run, and the manifest records the failure. The only device failing fails the sweep
/// (exit 1), leaving a folder that --resume finishes.
#[test]
fn a_failed_device_hands_its_chunks_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), SWEEP).unwrap();
    let plan = common::plan(SWEEP, Precision::F32);
    if common::gpu(false).is_some() {
        let o = gdsweep(&["run", "c.toml", "-q", "--out", "lost", "--devices", "gpu,cpu"], dir.path(), Some("gpu:1"));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains("took its chunks over"), "{}", stderr(&o));
        let m = manifest(&dir.path().join("lost"));
        let gpu = &m["sweep"]["devices"][0];
        assert_eq!((gpu["backend"].as_str(), gpu["chunks"].as_u64()), (Some("gpu"), Some(1)), "{m}");
        assert!(gpu["failed"].as_str().unwrap().contains("GDSWEEP_FAIL_DEVICE"), "{m}");
        assert_eq!(m["sweep"]["devices"][1]["chunks"], 11);
        assert_eq!(results(&dir.path().join("lost"), &plan).len() as u64, plan.total_runs());
    }
    let o = gdsweep(&["run", "c.toml", "-q", "--out", "alone", "--devices", "cpu"], dir.path(), Some("cpu:3"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("GDSWEEP_FAIL_DEVICE"), "{}", stderr(&o));
    assert!(!dir.path().join("alone/manifest.json").exists());
    let o = gdsweep(&["run", "c.toml", "-q", "--out", "alone", "--devices", "cpu", "--resume"], dir.path(), None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = gdsweep(&["run", "c.toml", "-q", "--out", "ref", "-b", "cpu"], dir.path(), None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read(dir.path().join("alone/runs.csv")).unwrap() == std::fs::read(dir.path().join("ref/runs.csv")).unwrap());
}

#[test]
fn device_lists_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), SWEEP).unwrap();
    for (spec, says) in [("tpu", "not a device"), ("cpu,cpu", "named twice"), ("gpu:99", "not one of them"), ("gpu:x", "gpu:N")] {
        let o = gdsweep(&["run", "c.toml", "-q", "--devices", spec], dir.path(), None);
        let err = stderr(&o);
        if err.contains("no GPU adapter") && std::env::var_os("CI").is_none() {
            continue;
        }
        assert_eq!(o.status.code(), Some(2), "{spec}: {err}");
        assert!(err.contains(says), "{spec}: {err}");
    }
    let o = gdsweep(&["run", "c.toml", "-q", "--devices", "cpu", "-b", "cpu"], dir.path(), None);
    assert_eq!(o.status.code(), Some(2), "--devices and --backend conflict");
}
