//! The workgroup layout (`[run] layout`, plan::workgroup): one workgroup per run for a network
//! with one hidden layer, thread o holding hidden unit o. Its kernels validate for every
//! method it serves; on lavapipe it agrees with the CPU's mirror of it and with the invocation
//! layout; `auto` takes it where its cost model says it is faster; and the configs it cannot
//! serve say why.
mod common;

use common::{dump_both, gpu, plan, run_all};
use gdsweep::analysis::verify::compare;
use gdsweep::backend::cpu::Cpu;
use gdsweep::config::{parse, Overrides};
use gdsweep::method::OptimizerKind;
use gdsweep::outcome::Status;
use gdsweep::plan::{Layout, Precision};

/// A table of 12 rows and `d` features, y a smooth function of them.
fn table(d: usize) -> String {
    let rows: Vec<(String, String)> = (0..12)
        .map(|i| {
            let x: Vec<f64> = (0..d).map(|j| ((i * d + j) as f64 * 0.37).sin() * 1.5).collect();
            let y = x.iter().enumerate().map(|(j, v)| v * (0.8 - 0.3 * j as f64)).sum::<f64>().tanh() + 0.1 * (i % 3) as f64;
            (format!("[{}]", x.iter().map(|v| format!("{v:.4}")).collect::<Vec<_>>().join(", ")), format!("{y:.4}"))
        })
        .collect();
    let (x, y): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
    format!("data = {{ x = [{}], y = [{}] }}", x.join(", "), y.join(", "))
}

/// A d → h → 1 tanh network (biases, l2 = 0.01) trained by `kind`, with `extra` lines in its
/// [[optimizer]] table and `layout` in [run].
fn network(d: usize, h: usize, kind: OptimizerKind, extra: &str, layout: &str) -> String {
    let lr = if kind.method().unit_step { "{ lin = [0.25, 1.0], n = 3 }" } else { "{ log = [1e-3, 3.0], n = 8 }" };
    format!(
        "[objective]\n{}\nmodel = {{ mlp = {{ hidden = [{h}], activation = \"tanh\" }} }}\nl2 = 0.01\n[sweep]\nlr = {lr}\n[sweep.init]\nscheme = \"xavier_normal\"\nseed = [1, 2]\n[[optimizer]]\nkind = \"{}\"\n{extra}\n[run]\nsteps = 150\nlayout = \"{layout}\"\n",
        table(d),
        kind.name()
    )
}

fn coordinatewise() -> impl Iterator<Item = OptimizerKind> {
    OptimizerKind::ALL.into_iter().filter(|k| k.method().coordinatewise)
}

/// Every coordinatewise method, with and without its knobs, in both precisions and with and
/// without the window and the trainability record, makes a workgroup kernel naga accepts.
#[test]
fn every_workgroup_kernel_validates() {
    let knobs = ["", "clip_norm = 1.0\nweight_decay = 0.01\nschedule = { kind = \"cosine\", t_max = 100 }\nlr_scale = { l1 = 0.5, l2 = 2.0 }"];
    for kind in coordinatewise() {
        for extra in knobs {
            for p in [Precision::F32, Precision::F64] {
                for (h, trained) in [(4, false), (16, true)] {
                    let mut src = network(3, h, kind, extra, "workgroup");
                    if trained {
                        src += "[analysis.trainability]\n";
                    }
                    let plan = plan(&src, p);
                    assert_eq!(plan.blocks[0].layout, Layout::Workgroup);
                    for window in [false, true] {
                        let wgsl = gdsweep::kernel::sweep_wgsl(&plan, 0, window);
                        assert!(wgsl.contains("workgroupBarrier()"));
                        if let Err(e) = gdsweep::kernel::validate_wgsl(&wgsl, p == Precision::F64) {
                            panic!("{} / {extra:?} / {} / h {h} / window {window}: {e}\n{wgsl}", kind.name(), p.name());
                        }
                    }
                }
            }
        }
    }
}

/// On lavapipe, each coordinatewise method in the workgroup layout agrees with the CPU (which
/// evaluates UnitSplit::composed, the kernel's order of operations) by the verify rules, and
/// with the invocation layout's kernel: the same statuses and the same points to rounding.
fn agreement(p: Precision) {
    let Some(g) = gpu(p == Precision::F64) else { return };
    let tol = if p == Precision::F64 { 1e-9 } else { 1e-3 };
    let cases: Vec<(usize, usize, OptimizerKind, &str)> = match p {
        Precision::F32 => coordinatewise()
            .map(|k| (2, 4, k, ""))
            .chain([(3, 16, OptimizerKind::Adam, "clip_norm = 1.0\nschedule = { kind = \"cosine\", t_max = 100 }"), (3, 16, OptimizerKind::Gd, "lr_scale = { l1 = 0.5, l2 = 2.0 }")])
            .collect(),
        Precision::F64 => vec![(2, 4, OptimizerKind::Gd, ""), (3, 16, OptimizerKind::Adam, "weight_decay = 0.01")],
    };
    for (d, h, kind, extra) in cases {
        let what = format!("{d} -> {h} -> 1 / {} {extra:?} / {}", kind.name(), p.name());
        let wg = plan(&network(d, h, kind, extra, "workgroup"), p);
        let inv = plan(&network(d, h, kind, extra, "invocation"), p);
        assert_eq!((wg.blocks[0].layout, inv.blocks[0].layout), (Layout::Workgroup, Layout::Invocation));
        let (rg, rc) = (run_all(&wg, g.as_ref()), run_all(&wg, &Cpu));
        let v = compare(&wg, &rg, &rc);
        if v.agreement < 0.99 || v.max_point_difference > tol {
            let dir = dump_both(&wg, &what, &rg, &rc);
            panic!("{what}: agreement {:.4}, point difference {:e}, examples {:?} (both in {})", v.agreement, v.max_point_difference, v.examples, dir.display());
        }
        assert!(!rg.status.contains(&Status::Running), "{what}: a GPU run was left running");
        assert!(rg.status.iter().any(|s| *s != Status::Diverged), "{what}: every run diverged, which tests little");
        let ri = run_all(&inv, g.as_ref());
        assert_eq!(rg.status, ri.status, "{what}: the two layouts' statuses");
        for (r, (a, b)) in rg.x.chunks(wg.objective.dim()).zip(ri.x.chunks(inv.objective.dim())).enumerate() {
            for (u, w) in a.iter().zip(b) {
                assert!(!(u - w).abs().gt(&(tol * w.abs().max(1.0))), "{what}: run {r}: the layouts end at {a:?} and {b:?}");
            }
        }
    }
}

#[test]
fn the_workgroup_layout_agrees_with_the_cpu_and_the_invocation_layout_f32() {
    agreement(Precision::F32);
}

#[test]
fn the_workgroup_layout_agrees_with_the_cpu_and_the_invocation_layout_f64() {
    agreement(Precision::F64);
}

/// `auto` takes the workgroup layout where the invocation kernel's compile would outweigh the
/// workgroup's slower steps (plan::workgroup's cost model): a wide network on a small grid, not
/// a narrow one nor a large grid, and never where the layout does not fit. The resolved config
/// says which.
#[test]
fn auto_takes_the_workgroup_for_small_sweeps_of_wide_networks() {
    let layout = |src: String| plan(&src, Precision::F32).blocks[0].layout;
    assert_eq!(layout(network(2, 32, OptimizerKind::Adam, "", "auto")), Layout::Workgroup);
    assert_eq!(layout(network(2, 4, OptimizerKind::Adam, "", "auto")), Layout::Invocation);
    assert_eq!(layout(network(2, 32, OptimizerKind::Adam, "", "auto").replace("n = 8 }", "n = 100000 }")), Layout::Invocation);
    assert_eq!(layout(network(2, 32, OptimizerKind::Lbfgs, "", "auto")), Layout::Invocation);
    let p = plan(&network(2, 32, OptimizerKind::Gd, "", "auto"), Precision::F32);
    assert_eq!(p.resolved["optimizers"][0]["layout"], "workgroup", "{}", p.resolved);
}

fn error(src: &str) -> String {
    match parse("net.toml", src, "net", Overrides::default()) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e.to_string(),
    }
}

/// What the workgroup layout cannot serve is an error naming the file, the line of `layout`
/// and why, never a silent fallback.
#[test]
fn layouts_that_cannot_be_taken_say_why() {
    let e = error(&network(2, 4, OptimizerKind::Gd, "", "threads"));
    assert!(e.contains("net.toml") && e.contains("run.layout") && e.contains("use auto, invocation or workgroup"), "{e}");
    let e = error(&network(2, 4, OptimizerKind::Lbfgs, "", "workgroup"));
    assert!(e.contains("net.toml:") && e.contains("'workgroup' does not fit") && e.contains("lbfgs"), "{e}");
    let e = error(&network(2, 4, OptimizerKind::Gd, "linesearch = \"backtracking\"", "workgroup"));
    assert!(e.contains("line search"), "{e}");
    let linear = format!("[objective]\n{}\n[sweep]\nlr = 0.1\n[run]\nlayout = \"workgroup\"\n", table(2));
    let e = error(&linear);
    assert!(e.contains("networks"), "{e}");
    let deep = network(2, 4, OptimizerKind::Gd, "", "workgroup").replace("hidden = [4]", "hidden = [4, 4]");
    assert!(error(&deep).contains("one hidden layer"));
    let wide = network(2, 300, OptimizerKind::Gd, "", "workgroup");
    assert!(error(&wide).contains("at most 256 hidden units"));
    let inits = network(2, 4, OptimizerKind::Gd, "", "workgroup").replace("seed = [1, 2]", "seed = 1\n\"l1.w[0][0]\" = [0.1, 0.2]");
    assert!(error(&inits).contains("initial points"), "{}", error(&inits));
}
