//! Shared test helpers: one test body for every backend ([`per_backend!`], after cubecl's
//! testgen), GPU access that never skips silently in CI, and one tolerance assert.
#![allow(dead_code)]

use gdsweep::config::{parse, Overrides};
use gdsweep::backend::{self, cpu::Cpu, Backend};
use gdsweep::engine::execute;
use gdsweep::plan::BackendChoice;
use gdsweep::outcome::Results;
use gdsweep::plan::{Plan, Precision};

/// A GPU device, or None with the reason printed. Where `CI` is set, no adapter is a failure:
/// CI installs lavapipe, so a missing adapter means the GPU path went untested.
pub fn gpu(f64: bool) -> Option<Box<dyn Backend>> {
    let precision = if f64 { Precision::F64 } else { Precision::F32 };
    match backend::open(BackendChoice::Gpu, precision, "test.toml") {
        Ok(g) => Some(g),
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but the GPU test found no usable adapter: {e}");
            }
            eprintln!("SKIPPED GPU part of this test: {e}");
            None
        }
    }
}

pub fn plan(src: &str, precision: Precision) -> Plan {
    parse("test.toml", src, "test", Overrides { precision: Some(precision), ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn run_all(plan: &Plan, backend: &dyn Backend) -> Results {
    execute(plan, backend, &plan.selections(None)).unwrap_or_else(|e| panic!("{e}")).results
}

/// Every backend available here: the CPU always, the GPU where an adapter exists (in CI: must).
pub fn backends(precision: Precision) -> Vec<Box<dyn Backend>> {
    let mut v: Vec<Box<dyn Backend>> = vec![Box::new(Cpu)];
    if let Some(g) = gpu(precision == Precision::F64) {
        v.push(g);
    }
    v
}

/// Write both backends' results next to the build when they disagree, so a failure can be
/// read row by row: target/agreement-failures/<label>-{gpu,cpu}.csv. Returns the folder.
pub fn dump_both(plan: &Plan, label: &str, gpu: &Results, cpu: &Results) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/agreement-failures");
    let _ = std::fs::create_dir_all(&dir);
    let safe: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    for (name, r) in [("gpu", gpu), ("cpu", cpu)] {
        let _ = gdsweep::output::files::write_runs_csv(&dir.join(format!("{safe}-{name}.csv")), plan, r);
    }
    dir
}

/// Decoded RGB pixels of a PNG gdsweep drew, and its size.
pub fn decode_png(png_bytes: &[u8]) -> (Vec<[u8; 3]>, u32, u32) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = buf[..info.buffer_size()].chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
    (px, info.width, info.height)
}

/// One test body, run on every backend and precision by name (cubecl's testgen):
///
/// ```ignore
/// fn gd_steps(backend: &dyn Backend, precision: Precision) { … }
/// per_backend!(gd_steps, [f32, f64]);
/// ```
///
/// makes the tests `gd_steps::cpu::f32`, `gd_steps::cpu::f64`, `gd_steps::gpu::f32` and
/// `gd_steps::gpu::f64`. A GPU test without a usable adapter prints SKIPPED with the reason, and
/// fails where `CI` is set (see [`gpu`]).
// `crate::` on purpose: the bodies and `common` are the calling test crate's own items.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! per_backend {
    ($name:ident, [$($p:ident),+ $(,)?]) => {
        mod $name {
            mod cpu {
                $(
                    #[test]
                    fn $p() {
                        crate::$name(&gdsweep::backend::cpu::Cpu, crate::common::precision(stringify!($p)));
                    }
                )+
            }
            mod gpu {
                $(
                    #[test]
                    fn $p() {
                        let p = crate::common::precision(stringify!($p));
                        if let Some(g) = crate::common::gpu(p == gdsweep::plan::Precision::F64) {
                            crate::$name(g.as_ref(), p);
                        }
                    }
                )+
            }
        }
    };
}

/// `f32` or `f64` as a [`Precision`].
pub fn precision(name: &str) -> Precision {
    match name {
        "f32" => Precision::F32,
        "f64" => Precision::F64,
        _ => panic!("precision {name}: use f32 or f64"),
    }
}

/// Whether `actual` is within `rel_tol`·max(1, |expected|) of `expected`; NaN equals NaN and
/// same-signed infinities are equal (cubecl's tolerance rule).
pub fn close(actual: f64, expected: f64, rel_tol: f64) -> bool {
    if actual.is_nan() || expected.is_nan() {
        return actual.is_nan() && expected.is_nan();
    }
    if actual.is_infinite() || expected.is_infinite() {
        return actual == expected;
    }
    (actual - expected).abs() <= rel_tol * expected.abs().max(1.0)
}

/// [`close`] element by element; a mismatch names `what`, the index, actual and expected.
#[track_caller]
pub fn assert_close(actual: &[f64], expected: &[f64], rel_tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: {} values, expected {}", actual.len(), expected.len());
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(close(a, e, rel_tol), "{what}: index {i}: actual {a:e}, expected {e:e} (tolerance {rel_tol:e} relative to max(1, |expected|))");
    }
}
