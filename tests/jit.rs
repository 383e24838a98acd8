//! The compiled CPU kernel (backend::cpu::jit) against the tape interpreter it replaces: the
//! same results bit for bit on every catalogue objective × optimizer (with and without a line
//! search) × precision, on the compiled step loop with every knob it compiles in, on
//! objectives over a data table, and on an expression that uses every built-in function and
//! `^`. Then what the manifest and `verify` say of it.

mod common;
use common::plan;
use gdsweep::backend::cpu::{Cpu, CpuRef};
use gdsweep::backend::cpu::jit::Jit;
use gdsweep::backend::cpu::sweep::Kernel;
use gdsweep::backend::cpu::tape::Tape;
use gdsweep::backend::Backend;
use gdsweep::engine::execute;
use gdsweep::method::OptimizerKind;
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;
use gdsweep::problem::catalogue::CATALOGUE;
use gdsweep::problem::real::Func;

/// Both backends' results as text: equal text is equal bits (Debug prints every float's
/// shortest round trip; NaNs where a rate is not measured compare equal as text).
fn same_on_both(src: &str, precision: Precision, what: &str) {
    let p = plan(src, precision);
    let sel = p.selections(None);
    let compiled = execute(&p, &Cpu, &sel).unwrap_or_else(|e| panic!("{what}: {e}")).results;
    let reference = execute(&p, &CpuRef, &sel).unwrap_or_else(|e| panic!("{what}: {e}")).results;
    assert!(format!("{compiled:?}") == format!("{reference:?}"), "{what}: the compiled kernel's results differ from the interpreter's");
}

fn catalogue_sweep(name: &str, kind: OptimizerKind, linesearch: bool) -> String {
    let two = gdsweep::problem::catalogue::find(name).unwrap().vars.len() > 1;
    format!(
        "[objective]\nbuiltin = \"{name}\"\n[sweep]\nlr = {lr}\n[sweep.init]\nx = {{ lin = [-2.3, 2.1], n = 5 }}\n{y}\n[[optimizer]]\nkind = \"{kind}\"\n{ls}\n[run]\nsteps = 300\n",
        kind = kind.name(),
        lr = if kind.method().unit_step { "{ lin = [0.25, 1.0], n = 3 }" } else { "{ log = [1e-4, 0.3], n = 5 }" },
        y = if two { "y = { lin = [-1.7, 2.9], n = 4 }" } else { "" },
        ls = if linesearch { "linesearch = \"backtracking\"" } else { "" },
    )
}

#[test]
fn compiled_kernel_matches_the_interpreter_on_the_catalogue() {
    let searched = [OptimizerKind::Gd, OptimizerKind::Momentum, OptimizerKind::Adam];
    let cases: Vec<(OptimizerKind, bool)> = OptimizerKind::ALL.map(|k| (k, false)).into_iter().chain(searched.map(|k| (k, true))).collect();
    for precision in [Precision::F32, Precision::F64] {
        for entry in CATALOGUE {
            for &(kind, linesearch) in &cases {
                let what = format!("{} / {}{} / {}", entry.name, kind.name(), if linesearch { " + backtracking" } else { "" }, precision.name());
                same_on_both(&catalogue_sweep(entry.name, kind, linesearch), precision, &what);
            }
        }
    }
}

/// The compiled step loop with the knobs it takes (clipping, L2 and decoupled weight decay,
/// per-coordinate lr, schedules, both line searches with their parameters as axes, none) and
/// without them, with and without the outcome window (all steps in the loop), on a valley
/// whose runs converge, stall, diverge, cycle and fail their searches: every method, both
/// precisions.
#[test]
fn compiled_step_loop_matches_the_interpreter_with_every_knob() {
    let knobs = [
        "",
        "clip_norm = [0.5, 50.0]",
        "weight_decay = [0.0, 0.01]",
        "lr_scale = { y = [1.0, 0.25] }",
        "clip_norm = 2.0\nweight_decay = 0.003\nlr_scale = { x = [1.0, 3.0] }",
        // every schedule, the running ones with lr_now after the method's slots
        "schedule = { kind = \"exponential\", gamma = [0.99, 0.995] }",
        "schedule = { kind = \"step\", step_size = [1, 7], gamma = 0.5 }\nlr_scale = { y = [1.0, 0.5] }",
        "schedule = { kind = \"cosine\", t_max = [50, 300], eta_min = 1e-5 }",
        "schedule = { kind = \"cyclic\", max_lr = 0.03, step_size_up = [20, 75] }\nweight_decay = 0.001",
        // the searches: rejected trials mid-loop, failed searches (few shrinks), zoom's phases
        "linesearch = { kind = \"backtracking\", c = [1e-4, 0.3], max_steps = [2, 30] }",
        "linesearch = { kind = \"zoom\", curvature = [0.1, 0.9], max_steps = [3, 20] }\nclip_norm = 5.0",
        "linesearch = \"none\"\nweight_decay = 0.01",
        "linesearch = \"backtracking\"\nschedule = { kind = \"exponential\", gamma = 0.999 }\nlr_scale = { y = [1.0, 0.5] }",
    ];
    let compiled: Vec<OptimizerKind> = OptimizerKind::ALL.into_iter().filter(|k| k.method().compiled.is_some()).collect();
    assert_eq!(compiled.len(), OptimizerKind::ALL.len(), "every method");
    // The methods' own switches and rates, where the update branches on them.
    let own = |kind: OptimizerKind| match kind {
        OptimizerKind::Rmsprop => "momentum = [0.0, 0.5]\ncentered = [0.0, 1.0]",
        OptimizerKind::Momentum => "dampening = [0.0, 0.3]",
        OptimizerKind::Adagrad => "lr_decay = [0.0, 0.01]\ninitial_accumulator_value = [0.0, 0.1]",
        OptimizerKind::Lbfgs => "memory_size = [1, 4]\nscale_init = [0, 1]",
        OptimizerKind::Cg => "restart_every = [0, 3]\nrestart_orthogonality = [0.1, 1e30]",
        OptimizerKind::Newton => "regularize = [0, 1]",
        _ => "",
    };
    // (the methods whose lr damps a curvature-scaled step take it near 1; the whole-vector
    // methods, whose own switches multiply the runs, fewer starts)
    let rates = |kind: OptimizerKind| if kind.method().unit_step { "{ lin = [0.1, 1.0], n = 4 }" } else { "{ log = [1e-4, 0.02], n = 9 }" };
    let starts = |kind: OptimizerKind| if kind.method().coordinatewise { "x = { lin = [-2, 2], n = 5 }\ny = { lin = [-1, 3], n = 4 }" } else { "x = { lin = [-2, 2], n = 3 }\ny = { lin = [-1, 3], n = 3 }" };
    for precision in [Precision::F32, Precision::F64] {
        for &kind in &compiled {
            // (the knobs' code is the same for every method: the methods that take the whole
            // vector, slow to run on the reference, take the combined knobs and the searches)
            let chosen = knobs.iter().enumerate().filter(|&(i, k)| kind.method().coordinatewise || i == 0 || i == 4 || k.starts_with("linesearch"));
            for knob in chosen.map(|(_, k)| format!("{k}\n{}", own(kind))) {
                for window in ["", "window = 0\n"] {
                    let src = format!(
                        "[objective]\nbuiltin = \"rosenbrock\"\n[sweep]\nlr = {}\n[sweep.init]\n{}\n[[optimizer]]\nkind = \"{}\"\n{knob}\n[run]\nsteps = 400\n{window}",
                        rates(kind),
                        starts(kind),
                        kind.name()
                    );
                    let what = format!("rosenbrock / {} {knob} {window}/ {}", kind.name(), precision.name());
                    let p = plan(&src, precision);
                    assert!(Cpu.kernel(&p).unwrap().contains("step loop"), "{what}: the step loop is compiled");
                    same_on_both(&src, precision, &what);
                }
            }
        }
    }
}

/// The window loop's cycle search (returns to the anchor, candidate periods, the anchor moving
/// on) against the interpreter's, with GD on a double well whose runs settle, cycle with
/// periods 2, 4, … (lr past 1, where the minima's curvature 2 gives lr·2 > 2) and turn
/// chaotic, and on x² at a learning rate so small that no step moves x (period 1, stalled).
/// The statuses are asserted to occur, so that the search's paths are run.
#[test]
fn compiled_window_loop_matches_the_interpreter_on_cycles() {
    for precision in [Precision::F32, Precision::F64] {
        // (x², lr ≤ 1e-18 from |x| ≈ 1000: every step is below x's rounding, in f64 too)
        // (the short double well: the window catches runs still settling onto their cycles,
        // and a looser cycle_tol makes the tolerance each moved anchor takes decide returns)
        let cases = [
            ("double well", "x^4/4 - x^2/2", "{ lin = [0.5, 1.7], n = 48 }", "{ lin = [0.2, 1.6], n = 32 }", ""),
            ("x² at tiny lr", "x^2", "{ log = [1e-20, 1e-18], n = 8 }", "{ lin = [500, 1500], n = 32 }", ""),
            ("double well, short", "x^4/4 - x^2/2", "{ lin = [0.9, 1.7], n = 48 }", "{ lin = [0.2, 1.6], n = 32 }", "cycle_tol = 0.01\n"),
        ];
        for (name, expr, lr, init, more) in cases {
            let steps = if name.ends_with("short") { 200 } else { 3000 };
            let src = format!("[objective]\nexpr = \"{expr}\"\n[sweep]\nlr = {lr}\n[sweep.init]\nx = {init}\n[run]\nsteps = {steps}\n{more}");
            let what = format!("{name} / {}", precision.name());
            same_on_both(&src, precision, &what);
            let p = plan(&src, precision);
            assert!(Cpu.kernel(&p).unwrap().contains("step loop"), "{what}: the step loop is compiled");
            let results = execute(&p, &Cpu, &p.selections(None)).unwrap().results;
            let seen = |s: Status| results.status.iter().any(|&t| t == s);
            let expected: &[Status] = match name {
                "double well" => &[Status::Converged, Status::Cycling, Status::Chaotic],
                "x² at tiny lr" => &[Status::Stalled],
                _ => &[],
            };
            for &s in expected {
                assert!(seen(s), "{what}: some run is {s:?}; statuses {:?}", results.status.iter().fold(std::collections::BTreeMap::new(), |mut m, s| { *m.entry(format!("{s:?}")).or_insert(0) += 1; m }));
            }
        }
    }
}

/// Every built-in function and `^` (non-integer and negative bases included: NaNs must match
/// too), through the calls out to the interpreter's scalar code.
#[test]
fn compiled_kernel_matches_the_interpreter_on_every_function() {
    let terms: Vec<String> = Func::USER.iter().map(|(name, _)| format!("0.1 * {name}(0.7 * x - 0.3 * y)")).collect();
    let expr = format!("{} + x^2 + (y^2 + 1)^1.5 + 0.01 * (x - y)^3 + abs(y)^0.5", terms.join(" + "));
    for precision in [Precision::F32, Precision::F64] {
        for kind in [OptimizerKind::Gd, OptimizerKind::Adam, OptimizerKind::Newton] {
            let src = format!(
                "[objective]\nexpr = \"{expr}\"\n[sweep]\nlr = {{ log = [1e-3, 0.5], n = 4 }}\n[sweep.init]\nx = {{ lin = [-2, 2], n = 7 }}\ny = {{ lin = [-1.5, 2.5], n = 6 }}\n[[optimizer]]\nkind = \"{}\"\n[run]\nsteps = 200\n",
                kind.name()
            );
            same_on_both(&src, precision, &format!("every function / {} / {}", kind.name(), precision.name()));
        }
    }
}

/// The built-in functions compiled inline (problem::elementary's description as vector code;
/// sqrt, |x| and sign as IEEE operations) give the interpreter's `Real::func` bit for bit
/// (any NaN for a NaN) at the edges of their pieces: zeros, subnormals, infinities and NaN,
/// log's m near √2, tanh's 0.55 and 22, exp's overflow and underflow, the ends of the f32
/// range, large arguments of sin and cos, and on a dense grid; f32 and f64.
#[test]
fn compiled_functions_match_the_interpreter_at_their_edges() {
    let edges = [
        0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-45, 1e-38, 1e-8, 0.5, 0.549999, 0.55, 0.550001, 0.7071067811865476, 1.0,
        1.4142135623730950, 1.4142135623730951, 2.0, 3.0, 21.999, 22.0, 22.001, 30.0, 88.7, 89.0, 100.0, 709.78, 709.79, 710.0, 745.1, 745.3,
        1e6, 3.4e9, 1e15, 1e20, 3.4e38, 1e300, f64::MAX, f64::INFINITY, f64::NAN,
    ];
    let mut values: Vec<f64> = edges.iter().flat_map(|&v| [v, -v]).collect();
    values.extend((0..4001).map(|i| -800.0 + 0.4 * i as f64));
    for (name, f) in Func::USER {
        let tape = Tape::new(&gdsweep::problem::expr::Objective::from_expr(&format!("{name}(x)"), None).expect("an expression"), false);
        check_function::<f32>(&tape, name, f, &values);
        check_function::<f64>(&tape, name, f, &values);
    }
}

fn check_function<F: gdsweep::problem::real::Real>(tape: &Tape, name: &str, f: Func, values: &[f64]) {
    use gdsweep::method::lanes::LANES;
    let jit = Jit::new::<F>(tape, true, None).unwrap_or_else(|e| panic!("{name}: {}", e.0));
    for chunk in values.chunks(LANES) {
        let mut regs = vec![[F::default(); LANES]; tape.n_regs];
        for &(r, c) in &tape.consts {
            regs[r as usize] = [F::from_f64(c); LANES];
        }
        for (i, &v) in chunk.iter().enumerate() {
            regs[tape.vars[0] as usize][i] = F::from_f64(v);
        }
        jit.run(gdsweep::problem::expr::Phase::Point, &mut regs);
        for (i, &v) in chunk.iter().enumerate() {
            let (got, want) = (regs[tape.loss as usize][i], F::func(f, F::from_f64(v)));
            let same = bytemuck::bytes_of(&got) == bytemuck::bytes_of(&want) || (got != got && want != want);
            assert!(same, "{name}({v:e}) at {}-byte reals: compiled {got:?}, interpreter {want:?}", std::mem::size_of::<F>());
        }
    }
}

/// Objectives over a data table: the step loop with the rows in it (the point's list, the body
/// on each row, the means, the list after them), with the trainability record, and with
/// mini-batches (each lane's rows gathered, shuffled and with replacement, batches of several
/// sizes that do not divide the table); models and losses of several kinds, first-order
/// methods and L-BFGS with its search.
#[test]
fn compiled_kernel_matches_the_interpreter_on_data_models() {
    let x: Vec<String> = (0..9).map(|i| format!("[{:.3}, {:.3}]", 0.4 * i as f64 - 1.3, ((i * 7) % 5) as f64 * 0.6 - 1.1)).collect();
    let y: Vec<String> = (0..9).map(|i| format!("{:.3}", 1.5 * i as f64 - 0.7 * ((i * 3) % 4) as f64)).collect();
    let labels: Vec<&str> = (0..9).map(|i| if (i * 5) % 3 == 0 { "1.0" } else { "0.0" }).collect();
    let data = |y: &[String]| format!("data = {{ x = [{}], y = [{}] }}", x.join(", "), y.join(", "));
    let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    let cases = [
        (data(&y), "model = \"linear\"\nloss = \"huber\"\nl2 = 0.01", "[sweep.init]\nw_x_1 = { lin = [-1.0, 1.0], n = 3 }\nb = [0.0, 0.5]\n", ""),
        (data(&labels), "model = \"logistic\"\nloss = \"bce\"", "", ""),
        (data(&y), "model = { mlp = { hidden = [3], activation = \"tanh\" } }\nloss = \"mse\"", "[sweep.init]\nscheme = \"xavier_normal\"\nseed = 3\n", ""),
        (data(&y), "model = { mlp = { hidden = [3], activation = \"tanh\" } }\nloss = \"mse\"", "[sweep.init]\nscheme = \"xavier_normal\"\nseed = 3\n", "batch_size = 4\nseed = { lin = [0, 3], n = 4 }\n"),
        (data(&y), "model = \"linear\"\nloss = \"mse\"", "", "batch_size = [2, 5, 20]\nseed = [0, 1]\n"),
        (data(&labels), "model = \"logistic\"\nloss = \"bce\"", "", "batch_size = [3, 4]\nseed = [0, 1]\n"),
    ];
    for precision in [Precision::F32, Precision::F64] {
        for (data, model, init, batch) in &cases {
            for kind in [OptimizerKind::Gd, OptimizerKind::Adam, OptimizerKind::Lbfgs] {
                // (the trainability record sums full-batch losses only; mini-batches are drawn
                // shuffled, and with replacement)
                let more: &[&str] = if batch.is_empty() { &["", "[analysis.trainability]\n"] } else { &["", "sampling = \"replacement\"\n"] };
                for more in more {
                    let src = format!("[objective]\n{data}\n{model}\n[sweep]\nlr = {{ log = [1e-3, 0.5], n = 6 }}\n{batch}{init}[[optimizer]]\nkind = \"{}\"\n[run]\nsteps = 200\n{more}", kind.name());
                    let what = format!("{model} {batch}{more}/ {} / {}", kind.name(), precision.name());
                    let kernel = Cpu.kernel(&plan(&src, precision)).unwrap();
                    assert!(kernel.contains("step loop"), "{what}: {kernel}");
                    same_on_both(&src, precision, &what);
                }
            }
        }
    }
}

/// Long objectives (past `jit::LONG_OBJECTIVE`) are compiled another way: one vector per group
/// and per pass, no constants held in registers, long-lived values kept in the register file
/// (`Tape::long_lived`). A sum of 30 sine and exponential terms, and a network of 30 tanh
/// units over a data table (full and mini-batches), with and without the window: bit for bit
/// the interpreter's.
#[test]
fn long_objectives_match_the_interpreter() {
    let terms: Vec<String> = (1..=30).map(|i| if i % 3 == 0 { format!("exp(-0.0{i}*(x - {i}*y)^2)") } else { format!("sin({i}*x + {}*y)*{}", i % 7 + 1, 1 + i % 3) }).collect();
    let sum = format!("[objective]\nexpr = \"{}\"\n[sweep]\nlr = {{ log = [1e-5, 1e-2], n = 3 }}\n[sweep.init]\nx = {{ lin = [-1.0, 1.0], n = 3 }}\ny = {{ lin = [-1.0, 1.0], n = 3 }}\n", terms.join(" + "));
    let x: Vec<String> = (0..7).map(|i| format!("[{:.3}, {:.3}]", 0.3 * i as f64 - 1.0, ((i * 5) % 3) as f64 * 0.5 - 0.4)).collect();
    let y: Vec<String> = (0..7).map(|i| format!("{:.3}", 0.8 * i as f64 - 2.0)).collect();
    let network = format!("[objective]\ndata = {{ x = [{}], y = [{}] }}\nmodel = {{ mlp = {{ hidden = [30], activation = \"tanh\" }} }}\nloss = \"mse\"\n[sweep]\nlr = {{ log = [1e-3, 0.3], n = 4 }}\n[sweep.init]\nscheme = \"xavier_normal\"\nseed = 2\n", x.join(", "), y.join(", "));
    let batched = network.replace("[sweep]\n", "[sweep]\nbatch_size = 3\nseed = [0, 1]\n");
    for (name, head) in [("30 terms", &sum), ("30 tanh units", &network), ("30 tanh units, mini-batches", &batched)] {
        let tape = Tape::new(&plan(&format!("{head}[run]\nsteps = 10\n"), Precision::F64).objective, false);
        assert!(tape.operations() > gdsweep::backend::cpu::jit::LONG_OBJECTIVE && !tape.long_lived().is_empty(), "{name}: {} operations", tape.operations());
        for precision in [Precision::F32, Precision::F64] {
            for kind in [OptimizerKind::Gd, OptimizerKind::Adam, OptimizerKind::Lbfgs] {
                for window in ["window = 0", "window = 32"] {
                    let src = format!("{head}[[optimizer]]\nkind = \"{}\"\n[run]\nsteps = 100\n{window}\n", kind.name());
                    same_on_both(&src, precision, &format!("{name} / {} / {window} / {}", kind.name(), precision.name()));
                }
            }
        }
    }
}

/// A large method state is compiled another way: past `jit::LAZY_SLOTS` reals per run its
/// slots stay in memory until the update reads them, past `jit::SINGLE_PASS_SLOTS` the code
/// is register-allocated in one pass. L-BFGS (with and without a search) on six coordinates
/// (the first) and on a network of 41 weights (both): bit for bit the interpreter's.
#[test]
fn large_method_states_match_the_interpreter() {
    use gdsweep::backend::cpu::jit::{LAZY_SLOTS, SINGLE_PASS_SLOTS};
    let six = "[objective]\nexpr = \"(a - 1)^2 + 3*(b - a^2)^2 + (c + b)^2 + 0.5*(d - c)^2 + (e*f - 1)^2 + 0.1*(a + f)^2\"\n[sweep]\nlr = { lin = [0.3, 1.0], n = 3 }\n[sweep.init]\na = { lin = [-1.0, 1.0], n = 3 }\nb = 0.5\nc = -0.2\nd = 0.1\ne = { lin = [0.5, 2.0], n = 3 }\nf = 1.0\n".to_string();
    let x: Vec<String> = (0..7).map(|i| format!("[{:.3}, {:.3}]", 0.3 * i as f64 - 1.0, ((i * 5) % 3) as f64 * 0.5 - 0.4)).collect();
    let y: Vec<String> = (0..7).map(|i| format!("{:.3}", 0.8 * i as f64 - 2.0)).collect();
    let network = format!("[objective]\ndata = {{ x = [{}], y = [{}] }}\nmodel = {{ mlp = {{ hidden = [10], activation = \"tanh\" }} }}\nloss = \"mse\"\n[sweep]\nlr = {{ lin = [0.3, 1.0], n = 3 }}\n[sweep.init]\nscheme = \"xavier_normal\"\nseed = {{ lin = [1, 3], n = 3 }}\n", x.join(", "), y.join(", "));
    for (name, head, single_pass) in [("six coordinates", &six, false), ("41 weights", &network, true)] {
        for search in ["", "linesearch = \"backtracking\"\n"] {
            let src = format!("{head}[[optimizer]]\nkind = \"lbfgs\"\n{search}[run]\nsteps = 120\nwindow = 32\n");
            let p = plan(&src, Precision::F64);
            let tape = Tape::new(p.step_objective(&p.blocks[0]), false);
            let spec = Kernel::<f64>::new(&tape, p.step_objective(&p.blocks[0]), &p.blocks[0], p.steps, &p.rules).step_loop().unwrap();
            assert!(spec.method_slots > LAZY_SLOTS && (spec.method_slots > SINGLE_PASS_SLOTS) == single_pass, "{name}: {} reals", spec.method_slots);
            for precision in [Precision::F32, Precision::F64] {
                same_on_both(&src, precision, &format!("{name} / lbfgs {search}/ {}", precision.name()));
            }
        }
    }
}

/// A run of mini-batches is noisy: the gradient rules of `converged` never end it, with the
/// compiled loop as with the interpreter. An exact fit, where every batch's gradient vanishes at
/// the minimum: the runs of 2 rows go to `steps`, the full batches (5 rows) converge early.
#[test]
fn noisy_runs_are_not_converged_by_their_batches() {
    let src = "[objective]\ndata = { x = [[0.0], [1.0], [2.0], [3.0], [4.0]], y = [1.0, 3.0, 5.0, 7.0, 9.0] }\nmodel = \"linear\"\nloss = \"mse\"\n[sweep]\nlr = [0.05, 0.1]\nbatch_size = [2, 5]\nseed = 1\n[run]\nsteps = 2000\n";
    for precision in [Precision::F32, Precision::F64] {
        same_on_both(src, precision, &format!("exact fit / {}", precision.name()));
        let p = plan(src, precision);
        let r = execute(&p, &Cpu, &p.selections(None)).unwrap().results;
        // runs: lr × batch_size, batch_size fastest
        assert_eq!(r.steps.iter().map(|&s| s == 2000).collect::<Vec<_>>(), [true, false, true, false], "{}: steps {:?}", precision.name(), r.steps);
    }
}

/// Every catalogue objective compiles, in both precisions, with and without its Hessian, and
/// with the step loops (main pool and window) of every method, with each line search and
/// none, and every knob: the specification the sweep builds for such a block.
#[test]
fn every_catalogue_tape_compiles() {
    for entry in CATALOGUE {
        let obj = entry.objective();
        for hessian in [false, true] {
            let tape = Tape::new(&obj, hessian);
            Jit::new::<f32>(&tape, true, None).unwrap_or_else(|e| panic!("{} f32: {}", entry.name, e.0));
            Jit::new::<f64>(&tape, true, None).unwrap_or_else(|e| panic!("{} f64: {}", entry.name, e.0));
        }
        for kind in OptimizerKind::ALL {
            for search in gdsweep::app::bench::SEARCHES {
                let p = plan(&gdsweep::app::bench::kernel_case(entry, kind, search), Precision::F32);
                let block = &p.blocks[0];
                let obj = p.step_objective(block);
                let tape = Tape::new(obj, kind.method().hessian);
                let what = format!("{} / {} / {search}", entry.name, kind.name());
                let f32_spec = Kernel::<f32>::new(&tape, obj, block, p.steps, &p.rules).step_loop().unwrap_or_else(|why| panic!("{what}: steps in Rust ({why})"));
                assert!(f32_spec.window.is_some() && f32_spec.linesearch.is_some() == (search != "none"), "{what}: {f32_spec:?}");
                let jit = Jit::new::<f32>(&tape, false, Some(&f32_spec)).unwrap_or_else(|e| panic!("{what} f32: {}", e.0));
                assert!(jit.has_step_loop() && jit.has_window_loop() && !jit.has_lists());
                let f64_spec = Kernel::<f64>::new(&tape, obj, block, p.steps, &p.rules).step_loop().unwrap_or_else(|why| panic!("{what}: steps in Rust ({why})"));
                Jit::new::<f64>(&tape, true, Some(&f64_spec)).unwrap_or_else(|e| panic!("{what} f64: {}", e.0));
            }
        }
    }
}

/// What the manifest says of the CPU kernel: the step loop and the objective compiled; the
/// objective interpreted where its tape is too short to gain (the forum matrix: 5
/// instructions); the steps in Rust and why; the reference; per block where they differ.
#[test]
fn backends_say_how_their_kernel_ran() {
    assert_eq!((Cpu.name(), CpuRef.name()), ("cpu", "cpu-ref"));
    let bowl = plan("[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.01\n", Precision::F32);
    assert_eq!(Cpu.kernel(&bowl).as_deref(), Some("compiled (Cranelift): step loop and objective"));
    assert_eq!(CpuRef.kernel(&bowl).as_deref(), Some("tape interpreter (the reference)"));
    let forum = plan("[objective]\nbuiltin = \"forum_lstsq\"\n[sweep]\nlr = 1e-5\n", Precision::F32);
    assert_eq!(Cpu.kernel(&forum).as_deref(), Some("compiled (Cranelift): step loop; the objective elsewhere on the tape interpreter (5 instructions per point, faster interpreted (fewer than 8))"));
    // Newton's tape has the Hessian too: long enough to compile.
    let mixed = plan("[objective]\nexpr = \"x^4\"\n[sweep]\nlr = 0.5\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"newton\"\n", Precision::F64);
    assert_eq!(
        Cpu.kernel(&mixed).as_deref(),
        Some("block 0: compiled (Cranelift): step loop; the objective elsewhere on the tape interpreter (5 instructions per point, faster interpreted (fewer than 8)); block 1: compiled (Cranelift): step loop and objective")
    );
    let searched = plan("[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.01\n[[optimizer]]\nkind = \"lbfgs\"\n[[optimizer]]\nkind = \"gd\"\nschedule = { kind = \"exponential\", gamma = 0.99 }\nlinesearch = \"backtracking\"\n", Precision::F32);
    assert_eq!(Cpu.kernel(&searched).as_deref(), Some("compiled (Cranelift): step loop and objective"));
    // Mini-batches over a data table: the step loop, its objective (7 instructions) interpreted.
    let batched = plan("[objective]\ndata = { x = [[1.0], [2.0], [3.0]], y = [1.0, 2.0, 2.5] }\nmodel = \"linear\"\nloss = \"mse\"\n[sweep]\nlr = 0.1\nbatch_size = 2\n", Precision::F32);
    assert_eq!(Cpu.kernel(&batched).as_deref(), Some("compiled (Cranelift): step loop; the objective elsewhere on the tape interpreter (7 instructions per point, faster interpreted (fewer than 8))"));
}
