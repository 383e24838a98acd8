use gdsweep::config::{parse, Overrides};
use gdsweep::cpu::{run_block, Selection};
fn main() {
    let src = r#"
[objective]
builtin = "forum_lstsq"
[sweep]
lr = { log = [1e-6, 1e-4], n = 1048576 }
[run]
steps = 1000
"#;
    let plan = parse("x.toml", src, "x", Overrides::default()).unwrap();
    let b = &plan.blocks[0];
    let sel = Selection { offset: 0, stride: 1, count: b.runs };
    let t = std::time::Instant::now();
    let r = run_block(&plan, 0, sel);
    let dt = t.elapsed().as_secs_f64();
    println!("cpu {:?} {:.3}s {:.3e} cfg-steps/s", r.counts(), dt, b.runs as f64 * 1000.0 / dt);
    let gpu = gdsweep::gpu::Gpu::new(false).unwrap();
    println!("{:?}", gpu.adapter);
    let t = std::time::Instant::now();
    let g = gdsweep::gpu::sweep::run_block(&gpu, &plan, 0, sel).unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!("gpu {:?} {:.3}s {:.3e} cfg-steps/s", g.counts(), dt, b.runs as f64 * 1000.0 / dt);
    let t = std::time::Instant::now();
    let g = gdsweep::gpu::sweep::run_block(&gpu, &plan, 0, sel).unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!("gpu {:?} {:.3}s {:.3e} cfg-steps/s", g.counts(), dt, b.runs as f64 * 1000.0 / dt);
    let mism = (0..r.len()).filter(|&i| r.status[i] != g.status[i]).count();
    let mut maxrel: f64 = 0.0;
    for i in 0..r.len() { if r.status[i]==g.status[i] && r.status[i] != gdsweep::outcome::Status::Diverged { maxrel = maxrel.max((r.loss[i]-g.loss[i]).abs()/r.loss[i].abs().max(1e-30)); } }
    println!("status mismatches {mism}, max rel loss diff {maxrel:e}");
}
