//! Every generated shader — every catalogue objective × optimizer × precision — parses and
//! validates with naga. Needs no GPU.

use gdsweep::problem::catalogue::CATALOGUE;
use gdsweep::kernel::{kernel_wgsl, validate_wgsl};
use gdsweep::method::OptimizerKind;
use gdsweep::plan::{Axis, Block, Precision, Rules};

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
    Block { optimizer: kind, axes, n_hypers: kind.hypers().len(), schedule: None, first_run: 0, runs, lr_table: None }
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
                    let stride = obj.dim()
                        + gdsweep::kernel::slot_names(&b, obj.dim()).len()
                        + gdsweep::plan::window_reals(obj.dim())
                        + 4;
                    for window in [false, true] {
                        let src = kernel_wgsl(&obj, &b, p, &Rules::defaults(p), stride, window);
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
    let src = kernel_wgsl(&obj, &b, Precision::F32, &Rules::defaults(Precision::F32), obj.dim() + 4, true);
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
        ("row_pitch", offset_of!(Params, row_pitch)),
        ("window_start", offset_of!(Params, window_start)),
        ("segment_len", offset_of!(Params, segment_len)),
        ("pause_at", offset_of!(Params, pause_at)),
        ("_pad0", offset_of!(Params, _pad0)),
        ("_pad1", offset_of!(Params, _pad1)),
        ("_pad2", offset_of!(Params, _pad2)),
    ];
    assert_eq!(members.len(), host.len());
    for (m, (name, offset)) in members.iter().zip(host) {
        assert_eq!(m.name.as_deref(), Some(name));
        assert_eq!(m.offset as usize, offset, "offset of {name}");
    }
    assert_eq!(span as usize, size_of::<Params>());
}
