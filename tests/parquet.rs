//! runs.parquet (`--format parquet`): runs.csv's columns with their types, read back here with
//! the parquet crate and, where Python has pandas or polars, by them; resumed and merged sweeps
//! write the same file as an uninterrupted one.

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::path::Path;
use std::process::{Command, Output};

fn gdsweep(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gdsweep")).args(args).current_dir(dir).env("GDSWEEP_CHECKPOINT_SECONDS", "0").output().expect("gdsweep runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Two optimizers (beta is null for gd), basins (null where a run did not converge), runs that
/// diverge (no rate) and runs classified at `steps`.
const SWEEP: &str = "name = \"p\"\n[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = { log = [1e-2, 1.2], n = 40 }\n[sweep.init]\nx = { lin = [-2.0, 2.0], n = 900 }\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"momentum\"\nbeta = [0.5, 0.9]\n[run]\nsteps = 100\n[analysis.basins]\n";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), SWEEP).unwrap();
    dir
}

fn run(dir: &Path, out: &str, extra: &[&str]) {
    let mut args = vec!["run", "c.toml", "-b", "cpu", "-q", "--out", out];
    args.extend_from_slice(extra);
    let o = gdsweep(&args, dir);
    assert_eq!(o.status.code(), Some(0), "{out}: {}", stderr(&o));
}

/// Every row and column of runs.parquet is the value runs.csv writes (numbers equal as numbers
/// at the run precision, empty cells null), with the declared types.
#[test]
fn parquet_holds_runs_csv_with_types() {
    let dir = setup();
    run(dir.path(), "csv", &[]);
    run(dir.path(), "pq", &["--format", "parquet"]);
    assert!(!dir.path().join("pq/runs.csv").exists() && !dir.path().join("pq/.gdsweep-runs.partial").exists());
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("pq/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["files"][0], "runs.parquet");
    let reader = SerializedFileReader::try_from(dir.path().join("pq/runs.parquet").as_path()).unwrap();
    let meta = reader.metadata();
    let rows = 40 * 900 * 3;
    assert_eq!(meta.file_metadata().num_rows(), rows as i64);
    assert!(meta.num_row_groups() >= 2, "one row group per chunk: {}", meta.num_row_groups());
    let schema = meta.file_metadata().schema_descr();
    let kind = |name: &str| {
        let c = schema.columns().iter().find(|c| c.name() == name).unwrap_or_else(|| panic!("no column {name}"));
        (format!("{:?}", c.physical_type()), c.self_type().is_optional())
    };
    assert_eq!(kind("run"), ("INT64".into(), false));
    assert_eq!(kind("status"), ("BYTE_ARRAY".into(), false));
    assert_eq!(kind("loss"), ("FLOAT".into(), false));
    assert_eq!(kind("beta"), ("FLOAT".into(), true));
    assert_eq!(kind("rate"), ("DOUBLE".into(), true));
    assert_eq!(kind("period"), ("INT32".into(), true));
    assert_eq!(kind("basin"), ("INT64".into(), true));
    let mut csv = csv::Reader::from_path(dir.path().join("csv/runs.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let names: Vec<String> = schema.columns().iter().map(|c| c.name().to_string()).collect();
    assert_eq!(names, header.iter().collect::<Vec<_>>(), "the same columns in the same order");
    let (mut nulls, mut checked) = (0, 0);
    for (row, record) in reader.get_row_iter(None).unwrap().zip(csv.records()) {
        let (row, record) = (row.unwrap(), record.unwrap());
        for ((name, field), text) in row.get_column_iter().zip(record.iter()) {
            let same = match field {
                Field::Null => {
                    nulls += 1;
                    text.is_empty()
                }
                Field::Long(v) => text.parse::<i64>() == Ok(*v),
                Field::Int(v) => text.parse::<i32>() == Ok(*v),
                Field::Float(v) => text.parse::<f32>().is_ok_and(|t| t == *v || (t.is_nan() && v.is_nan())),
                Field::Double(v) => text.parse::<f64>().is_ok_and(|t| t == *v || (t.is_nan() && v.is_nan())),
                Field::Str(s) => s == text,
                other => panic!("{name}: unexpected {other:?}"),
            };
            assert!(same, "{name}: parquet {field:?}, csv '{text}'");
            checked += 1;
        }
    }
    assert_eq!(checked, rows * header.len());
    assert!(nulls > 0, "some cells are null");
    // pandas or polars, where this machine's Python has them.
    let script = "import sys\ntry:\n    import pandas as pd\n    d = pd.read_parquet(sys.argv[1])\n    print(len(d), len(d.columns), d['status'].dtype.kind, d['loss'].dtype, int(d['beta'].isna().sum()))\nexcept ImportError:\n    try:\n        import polars as pl\n        d = pl.read_parquet(sys.argv[1])\n        print(d.height, d.width, 'O', 'float32', d['beta'].null_count())\n    except ImportError:\n        print('none')\n";
    // GDSWEEP_TEST_PYTHON (set by .ci/run, which installs pandas): its Python must read it.
    let required = std::env::var("GDSWEEP_TEST_PYTHON").ok();
    let python = required.clone().unwrap_or_else(|| "python3".into());
    let found = Command::new(&python).arg("-c").arg(script).arg(dir.path().join("pq/runs.parquet")).output();
    if let Some(p) = &required {
        assert!(found.as_ref().is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() != "none"), "GDSWEEP_TEST_PYTHON={p} reads no parquet: {found:?}");
    }
    match found {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() != "none" => {
            let out = String::from_utf8_lossy(&o.stdout);
            let f: Vec<&str> = out.split_whitespace().collect();
            assert_eq!(f[..2], [rows.to_string().as_str(), header.len().to_string().as_str()], "{out}");
            assert_eq!((f[2], f[3]), ("O", "float32"), "status as strings, loss as float32: {out}");
            assert_eq!(f[4], (40 * 900).to_string(), "gd's runs have no beta: {out}");
        }
        Ok(o) => eprintln!("SKIPPED the pandas/polars check: {python} has neither ({})", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => eprintln!("SKIPPED the pandas/polars check: no {python} ({e})"),
    }
}

/// Killed and resumed, or sharded and merged: the same runs.parquet as an uninterrupted run.
#[test]
fn resumed_and_merged_parquet_is_the_same_file() {
    let dir = setup();
    run(dir.path(), "ref", &["--format", "parquet"]);
    let reference = std::fs::read(dir.path().join("ref/runs.parquet")).unwrap();
    // Kill once the first chunks are recorded, then resume.
    let mut child = Command::new(env!("CARGO_BIN_EXE_gdsweep"))
        .args(["run", "c.toml", "-b", "cpu", "-q", "--out", "killed", "--format", "parquet"])
        .env("GDSWEEP_CHECKPOINT_SECONDS", "0")
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    let cp = dir.path().join("killed/.gdsweep-resume.json");
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(&cp).is_ok_and(|t| !t.contains("\"chunks_done\":0")) && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    run(dir.path(), "killed", &["--format", "parquet", "--resume"]);
    assert!(std::fs::read(dir.path().join("killed/runs.parquet")).unwrap() == reference, "resumed runs.parquet differs");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path().join("killed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".gdsweep-") && n != ".gdsweep.lock")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for i in 0..2 {
        run(dir.path(), &format!("s{i}"), &["--shard", &format!("{i}/2")]);
    }
    let o = gdsweep(&["merge", "s0", "s1", "--out", "merged", "-b", "cpu", "-q", "--format", "parquet"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read(dir.path().join("merged/runs.parquet")).unwrap() == reference, "merged runs.parquet differs");
}

#[test]
fn the_format_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), format!("{SWEEP}[output]\nformat = \"xlsx\"\n")).unwrap();
    let o = gdsweep(&["run", "c.toml", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("output.format") && stderr(&o).contains("csv or parquet"), "{}", stderr(&o));
}
