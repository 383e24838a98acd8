//! Every generated shader — every catalogue objective × optimizer × precision — parses and
//! validates with naga. Needs no GPU.

use gdsweep::problem::catalogue::CATALOGUE;
use gdsweep::kernel::{kernel_wgsl, validate_wgsl};
use gdsweep::method::OptimizerKind;
use gdsweep::plan::{Axis, Block, Layout, Precision, Rules, StateLayout};

fn block(kind: OptimizerKind, dim: usize, weight_decay: f64) -> Block {
    let mut axes = vec![Axis { name: "lr".into(), values: vec![1e-3, 1e-2], log: false }];
    for h in kind.hypers() {
        let v = if h.name == "weight_decay" { weight_decay } else { h.default };
        axes.push(Axis { name: h.name.into(), values: vec![v], log: false });
    }
    for j in 0..dim {
        axes.push(Axis { name: format!("init_{j}"), values: vec![-1.0, 0.5, 2.0], log: false });
    }
    let runs = axes.iter().map(|a| a.values.len() as u64).product();
    Block { optimizer: kind, axes, n_hypers: kind.hypers().len(), schedule: None, linesearch: None, first_run: 0, runs, lr_table: None, variant: 0, sampling: None, scale_of: None, init_table: None, layout: Layout::Invocation }
}

#[test]
fn every_generated_shader_validates() {
    let mut count = 0;
    for entry in CATALOGUE {
        let obj = entry.objective();
        for kind in OptimizerKind::ALL {
            for p in [Precision::F32, Precision::F64] {
                for wd in [0.0, 1e-2] {
                    let b = block(kind, obj.dim(), wd);
                    // (With weight decay, also the trainability record.)
                    let layout = StateLayout::new(&b, obj.dim(), true, wd > 0.0);
                    for window in [false, true] {
                        let src = kernel_wgsl(&obj, &b, p, &Rules::defaults(p), &layout, window);
                        if let Err(e) = validate_wgsl(&src, p == Precision::F64) {
                            panic!("{} / {} / {} / window {window}: {e}\n{src}", entry.name, kind.name(), p.name());
                        }
                        count += 1;
                    }
                }
            }
        }
    }
    assert_eq!(count, CATALOGUE.len() * OptimizerKind::ALL.len() * 2 * 2 * 2);
}

/// `gpu::sweep::Params` and `struct Params` of shaders/sweep.wgsl, as naga reads it, have the
/// same members at the same offsets and the same size.
#[test]
fn params_layout_matches_the_shader() {
    use gdsweep::backend::gpu::sweep::Params;
    use std::mem::{offset_of, size_of};
    let entry = &CATALOGUE[0];
    let obj = entry.objective();
    let b = block(OptimizerKind::Gd, obj.dim(), 0.0);
    let src = kernel_wgsl(&obj, &b, Precision::F32, &Rules::defaults(Precision::F32), &StateLayout::new(&b, obj.dim(), true, false), true);
    let module = validate_wgsl(&src, false).unwrap();
    let (members, span) = module
        .types
        .iter()
        .find_map(|(_, t)| match (&t.name, &t.inner) {
            (Some(n), naga::TypeInner::Struct { members, span }) if n == "Params" => Some((members.clone(), *span)),
            _ => None,
        })
        .expect("the shader declares struct Params");
    let host = [
        ("run_offset", offset_of!(Params, run_offset)),
        ("run_stride", offset_of!(Params, run_stride)),
        ("run_count", offset_of!(Params, run_count)),
        ("steps_this_dispatch", offset_of!(Params, steps_this_dispatch)),
        ("max_steps", offset_of!(Params, max_steps)),
        ("groups_x", offset_of!(Params, groups_x)),
        ("window_start", offset_of!(Params, window_start)),
        ("segment_len", offset_of!(Params, segment_len)),
        ("pause_at", offset_of!(Params, pause_at)),
        ("group_columns", offset_of!(Params, group_columns)),
        ("group_rows", offset_of!(Params, group_rows)),
        ("_pad", offset_of!(Params, _pad)),
    ];
    assert_eq!(members.len(), host.len());
    for (m, (name, offset)) in members.iter().zip(host) {
        assert_eq!(m.name.as_deref(), Some(name));
        assert_eq!(m.offset as usize, offset, "offset of {name}");
    }
    assert_eq!(span as usize, size_of::<Params>());
}

/// The shader's layout and status constants, as naga reads them from the generated WGSL, are
/// the Rust definitions (plan::layout, outcome::Status): the template hard-codes none of them.
#[test]
fn layout_and_status_constants_are_the_rust_ones() {
    use gdsweep::outcome::Status;
    use gdsweep::plan::layout::Info;
    use gdsweep::plan::{INFO_STRIDE, SEGMENTS};
    let obj = CATALOGUE.iter().find(|e| e.name == "himmelblau").unwrap().objective();
    for kind in [OptimizerKind::Gd, OptimizerKind::Adam] {
        let b = block(kind, obj.dim(), 0.0);
        let layout = StateLayout::new(&b, obj.dim(), true, false);
        let src = kernel_wgsl(&obj, &b, Precision::F32, &Rules::defaults(Precision::F32), &layout, true);
        let module = validate_wgsl(&src, false).unwrap();
        let value = |name: &str| -> u32 {
            let (_, c) = module.constants.iter().find(|(_, c)| c.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no const {name}"));
            match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                ref e => panic!("{name} = {e:?}"),
            }
        };
        let want: Vec<(String, usize)> = [
            ("STRIDE", layout.stride()),
            ("WIN", layout.window_at()),
            ("SEG", layout.segments_at()),
            ("LOSS_START", layout.loss_start_at()),
            ("BOUND", layout.bound_at()),
            ("GTOL2", layout.gtol2_at()),
            ("LAST_LOSS", layout.last_loss_at()),
            ("LAST_GN2", layout.last_gn2_at()),
            ("STEP", layout.step_at()),
            ("STEP_RES", layout.step_res_at()),
            ("INFO_STRIDE", INFO_STRIDE),
            ("SEGMENTS", SEGMENTS as usize),
            ("STATUS_RUNNING", Status::Running as usize),
            ("STATUS_CONVERGED", Status::Converged as usize),
            ("STATUS_DIVERGED", Status::Diverged as usize),
            ("STATUS_MAX_STEPS", Status::MaxSteps as usize),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .chain(Info::ALL.map(|f| (f.wgsl_name().to_string(), f as usize)))
        .collect();
        for (name, v) in want {
            assert_eq!(value(&name) as usize, v, "{name} for {}", kind.name());
        }
        // The state's parts tile it: x, slots, record, 6 bookkeeping reals.
        assert_eq!(layout.window_at(), obj.dim() + layout.slots.len());
        assert_eq!(layout.loss_start_at() + 1 + 6, layout.stride());
    }
    // Indices into state and info go through the named constants only.
    let template = gdsweep::kernel::TEMPLATE;
    for bad in ["info[ii + 1u]", "info[ii]", "STRIDE - ", "const SEGMENTS", "const STATUS_"] {
        assert!(!template.contains(bad), "shaders/sweep.wgsl hard-codes `{bad}`: use the injected layout constants");
    }
}

/// Each method's slots, as the layout lays them out: per-coordinate ones once per coordinate,
/// then the schedule's lr_now.
#[test]
fn slots_are_laid_out_by_name() {
    let b = block(OptimizerKind::Adam, 2, 0.0);
    let names: Vec<String> = StateLayout::new(&b, 2, false, false).slots.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["m0", "m1", "v0", "v1", "b1t", "b2t"]);
    let mut b = block(OptimizerKind::Momentum, 2, 0.0);
    b.schedule = Some(gdsweep::method::ScheduleKind::Exponential);
    let layout = StateLayout::new(&b, 2, true, false);
    let names: Vec<&str> = layout.slots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["v0", "v1", "lr_now"]);
    assert_eq!(layout.stride(), 2 + 3 + (2 * 2 + 1 + 8 + 1) + 6);
}
