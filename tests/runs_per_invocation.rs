//! Several runs per invocation on a CPU Vulkan driver (`kernel::several_runs`, lavapipe): the
//! kernel that steps two or three runs in one loop gives the one-run kernel's results bit for
//! bit, with the window, a schedule and the knobs, a data table with the trainability record,
//! mini-batches, f32 and f64, and a batch of an odd number of runs (the last invocation's
//! second run does not exist). Blocks whose step has control flow of its own (a line search,
//! Newton) keep one run per invocation. One test in this binary: it sets the process's
//! environment (`GDSWEEP_RUNS_PER_INVOCATION`).

mod common;
use common::{plan, run_all};
use gdsweep::kernel::{sweep_wgsl_runs, validate_wgsl};
use gdsweep::plan::Precision;

#[test]
fn several_runs_per_invocation_give_the_one_run_bits() {
    let data = "data = { x = [[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [3.0, 0.25], [4.0, 2.0]], y = [1.0, 3.5, 4.0, 7.5, 10.0] }";
    let cases: Vec<(&str, String, Precision, bool)> = vec![
        ("forum matrix, gd, no window", "[objective]\nbuiltin = \"forum_lstsq\"\n[sweep]\nlr = { log = [1e-6, 1e-4], n = 333 }\n[run]\nsteps = 500\nwindow = 0\n".into(), Precision::F32, true),
        ("himmelblau, adam, window, 81 runs", "[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.05\n[sweep.init]\nx = { lin = [-5, 5], n = 9 }\ny = { lin = [-5, 5], n = 9 }\n[[optimizer]]\nkind = \"adam\"\n[run]\nsteps = 400\n".into(), Precision::F32, true),
        ("rosenbrock, momentum, cosine schedule, clipping, weight decay, f64", "[objective]\nbuiltin = \"rosenbrock\"\n[sweep]\nlr = { log = [1e-4, 1e-2], n = 5 }\n[sweep.init]\nx = { lin = [-2, 2], n = 7 }\ny = 1.5\n[[optimizer]]\nkind = \"momentum\"\nclip_norm = 10.0\nweight_decay = 0.01\nschedule = { kind = \"cosine\", t_max = 300 }\n[run]\nsteps = 600\n".into(), Precision::F64, true),
        ("linear model, trainability record", format!("[objective]\n{data}\nmodel = \"linear\"\nloss = \"mse\"\n[sweep]\nlr = {{ log = [1e-3, 0.3], n = 9 }}\n[run]\nsteps = 300\n[analysis.trainability]\n"), Precision::F32, true),
        ("linear model, mini-batches", format!("[objective]\n{data}\nmodel = \"linear\"\nloss = \"mse\"\n[sweep]\nlr = {{ log = [1e-3, 0.1], n = 5 }}\nbatch_size = 2\nseed = [0, 1, 2]\n[run]\nsteps = 200\n"), Precision::F32, true),
        ("rosenbrock, gd + backtracking", "[objective]\nbuiltin = \"rosenbrock\"\n[sweep]\nlr = { log = [1e-3, 1], n = 5 }\n[sweep.init]\nx = { lin = [-2, 2], n = 5 }\ny = 1.0\n[[optimizer]]\nkind = \"gd\"\nlinesearch = \"backtracking\"\n[run]\nsteps = 300\n".into(), Precision::F32, false),
        ("himmelblau, newton", "[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 1.0\n[sweep.init]\nx = { lin = [-5, 5], n = 5 }\ny = { lin = [-5, 5], n = 5 }\n[[optimizer]]\nkind = \"newton\"\n[run]\nsteps = 100\n".into(), Precision::F64, false),
    ];
    for (what, src, precision, several) in &cases {
        let p = plan(src, *precision);
        for window in [false, true] {
            for runs in [2, 3] {
                let made = sweep_wgsl_runs(&p, 0, window, runs);
                assert_eq!(made.is_some(), *several, "{what}: {runs} runs per invocation");
                if let Some(src) = made {
                    validate_wgsl(&src, true).unwrap_or_else(|e| panic!("{what}, {runs} runs, window {window}: {e}"));
                }
            }
        }
        let Some(gpu) = common::gpu(*precision == Precision::F64) else { continue };
        let results: Vec<String> = [1, 2, 3]
            .iter()
            .map(|runs| {
                std::env::set_var("GDSWEEP_RUNS_PER_INVOCATION", runs.to_string());
                format!("{:?}", run_all(&p, gpu.as_ref()))
            })
            .collect();
        std::env::remove_var("GDSWEEP_RUNS_PER_INVOCATION");
        assert!(results[1] == results[0] && results[2] == results[0], "{what}: results differ with several runs per invocation");
    }
    // A value out of range is refused, not ignored (on a CPU driver, where it counts).
    let p = plan(&cases[0].1, Precision::F32);
    if let Some(gpu) = common::gpu(false).filter(|g| g.adapter().is_some_and(|a| a.device_type == "Cpu")) {
        std::env::set_var("GDSWEEP_RUNS_PER_INVOCATION", "9");
        let e = gdsweep::engine::execute(&p, gpu.as_ref(), &p.selections(None)).err().expect("9 runs per invocation is refused");
        std::env::remove_var("GDSWEEP_RUNS_PER_INVOCATION");
        assert!(matches!(e, gdsweep::error::Error::Usage(_)) && e.to_string().contains("1 to 4"), "{e}");
    }
}
