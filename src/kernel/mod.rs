//! WGSL generation: fills shaders/sweep.wgsl with the objective graph, the run decode and the
//! optimizer update of one optimizer block. Needs no GPU; every output is validated with naga.
//!
//! The CPU port (src/cpu/sweep.rs) evaluates the same graph schedule and the same update
//! formulas in the same order; names here (`x{j}`, `g{j}`, `gd{j}`, `v{j}`, `m{j}`, `b1t`,
//! `b2t`, `step_size`, `bc2_sqrt`) match the names used there.

use crate::problem::expr::{Func, Node, NodeId, Objective};
use crate::method::{OptimizerKind, ScheduleKind};
use crate::plan::{Block, Plan, Precision, Rules};
use std::fmt::Write;

pub const TEMPLATE: &str = include_str!("../../shaders/sweep.wgsl");
pub const MATH_F32: &str = include_str!("../../shaders/math_f32.wgsl");
pub const MATH_F64: &str = include_str!("../../shaders/math_f64.wgsl");
pub const WORKGROUP_SIZE: u32 = 64;

/// A literal of the run precision, exact for that precision.
pub fn literal(v: f64, p: Precision) -> String {
    match p {
        Precision::F32 => format!("f32({:?})", v as f32),
        Precision::F64 => format!("f64({v:?})"),
    }
}

fn operand(obj: &Objective, id: NodeId, p: Precision) -> String {
    match obj.graph.node(id) {
        Node::Const(c) => literal(c, p),
        Node::Var(j) => format!("x{j}"),
        _ => format!("t{id}"),
    }
}

fn func_name(f: Func) -> &'static str {
    match f {
        Func::Sin => "real_sin",
        Func::Cos => "real_cos",
        Func::Tan => "real_tan",
        Func::Exp => "real_exp",
        Func::Log => "real_log",
        Func::Sqrt => "sqrt",
        Func::Abs => "abs",
        Func::Tanh => "real_tanh",
        Func::Sigmoid => "sigmoid",
        Func::Softplus => "softplus",
        Func::Sign => "sign",
    }
}

/// `let` statements computing `loss` and `g0..g{d-1}` at x0..x{d-1}, one per graph node.
pub fn eval_wgsl(obj: &Objective, p: Precision, indent: &str) -> String {
    let roots = obj.step_roots();
    let mut out = String::new();
    for id in obj.graph.schedule(&roots) {
        let o = |c: NodeId| operand(obj, c, p);
        let rhs = match obj.graph.node(id) {
            Node::Const(_) | Node::Var(_) => continue,
            Node::Add(a, b) => format!("{} + {}", o(a), o(b)),
            Node::Sub(a, b) => format!("{} - {}", o(a), o(b)),
            Node::Mul(a, b) => format!("{} * {}", o(a), o(b)),
            Node::Div(a, b) => format!("{} / {}", o(a), o(b)),
            Node::Neg(a) => format!("-{}", o(a)),
            Node::Pow(a, b) => format!("real_pow({}, {})", o(a), o(b)),
            Node::Func(f, a) => format!("{}({})", func_name(f), o(a)),
        };
        let _ = writeln!(out, "{indent}let t{id}: real = {rhs};");
    }
    let _ = writeln!(out, "{indent}let loss: real = {};", operand(obj, obj.loss, p));
    for (j, g) in obj.grad.iter().enumerate() {
        let _ = writeln!(out, "{indent}let g{j}: real = {};", operand(obj, *g, p));
    }
    out
}

/// Names of the optimizer's state slots, in their order in `state` after x.
pub fn slot_names(block: &Block, dim: usize) -> Vec<String> {
    let per = |s: &'static str| (0..dim).map(move |j| format!("{s}{j}"));
    let mut names: Vec<String> = match block.optimizer {
        OptimizerKind::Gd => vec![],
        OptimizerKind::Momentum | OptimizerKind::Nesterov => per("v").collect(),
        OptimizerKind::Adam | OptimizerKind::Adamw => {
            per("m").chain(per("v")).chain(["b1t".to_string(), "b2t".to_string()]).collect()
        }
        OptimizerKind::Rmsprop => per("sq").chain(per("ga")).chain(per("buf")).collect(),
        OptimizerKind::Adagrad => per("sum").collect(),
    };
    if block.schedule.is_some_and(|k| k.running()) {
        names.push("lr_now".into());
    }
    names
}

/// The initial value of a state slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotInit {
    Value(f64),
    /// The run's value of this hyperparameter.
    Hyper(&'static str),
    /// The run's learning rate.
    Lr,
}

/// Adam's running products β₁ᵗ, β₂ᵗ start at 1, Adagrad's sums at initial_accumulator_value,
/// everything else at 0.
pub fn slot_init(name: &str) -> SlotInit {
    if name == "b1t" || name == "b2t" {
        SlotInit::Value(1.0)
    } else if name.starts_with("sum") {
        SlotInit::Hyper("initial_accumulator_value")
    } else if name == "lr_now" {
        SlotInit::Lr
    } else {
        SlotInit::Value(0.0)
    }
}

/// Whether the block's weight decay is the single value 0, so the update can leave it out.
pub fn no_weight_decay(block: &Block) -> bool {
    block.axes.iter().find(|a| a.name == "weight_decay").is_none_or(|a| a.values == [0.0])
}

/// Whether the block clips the gradient (its table sets clip_norm).
pub fn clips(block: &Block) -> bool {
    block.hyper_index("clip_norm").is_some()
}

/// The block's per-coordinate lr factor axes (`lr_scale_<var>`), if its table sets lr_scale.
pub fn lr_scales(block: &Block) -> Option<Vec<String>> {
    let names: Vec<String> = block.hyper_names().filter(|n| n.starts_with("lr_scale_")).map(String::from).collect();
    (!names.is_empty()).then_some(names)
}

fn update_wgsl(block: &Block, dim: usize, p: Precision) -> String {
    let kind = block.optimizer;
    let weight_decay = !no_weight_decay(block);
    let mut s = String::new();
    let ind = "        ";
    let l2 = weight_decay && !kind.decoupled_weight_decay();
    let clip = clips(block);
    let scales = lr_scales(block);
    // The learning rate of this step, `lr_t` (see optim::ScheduleKind).
    match block.schedule {
        None => {
            let _ = writeln!(s, "{ind}let lr_t: real = lr;");
        }
        Some(ScheduleKind::Exponential) => {
            let _ = writeln!(s, "{ind}let lr_t: real = lr_now;");
            let _ = writeln!(s, "{ind}lr_now = lr_now * schedule_gamma;");
        }
        Some(ScheduleKind::Step) => {
            let _ = writeln!(s, "{ind}let lr_t: real = lr_now;");
            let _ = writeln!(
                s,
                "{ind}if ((steps_done + 1u) % u32(schedule_step_size) == 0u) {{ lr_now = lr_now * schedule_gamma; }}"
            );
        }
        Some(ScheduleKind::Cosine) => {
            let _ = writeln!(
                s,
                "{ind}let lr_t: real = schedule_eta_min + (lr - schedule_eta_min) * (real(1.0) + real_cos({} * real(steps_done) / schedule_t_max)) / real(2.0);",
                literal(std::f64::consts::PI, p)
            );
        }
        Some(ScheduleKind::Cyclic) => {
            let _ = writeln!(s, "{ind}let total_size: real = real(2.0) * schedule_step_size_up;");
            let _ = writeln!(s, "{ind}let cycle: real = floor(real(1.0) + real(steps_done) / total_size);");
            let _ = writeln!(s, "{ind}let cycle_x: real = real(1.0) + real(steps_done) / total_size - cycle;");
            let _ = writeln!(
                s,
                "{ind}let scale_factor: real = select((cycle_x - real(1.0)) / (real(0.5) - real(1.0)), cycle_x / real(0.5), cycle_x <= real(0.5));"
            );
            let _ = writeln!(s, "{ind}let lr_t: real = lr + (schedule_max_lr - lr) * scale_factor;");
        }
    }
    if clip {
        // torch.nn.utils.clip_grad_norm_: the coefficient multiplies g whether or not it is < 1.
        let _ = writeln!(s, "{ind}let clip_coef: real = min(clip_norm / (sqrt(gn2) + real(1e-6)), real(1.0));");
    }
    for j in 0..dim {
        let g = if clip { format!("g{j} * clip_coef") } else { format!("g{j}") };
        if l2 {
            let _ = writeln!(s, "{ind}let gd{j}: real = {g} + weight_decay * x{j};");
        } else {
            let _ = writeln!(s, "{ind}let gd{j}: real = {g};");
        }
        match &scales {
            Some(names) => {
                let _ = writeln!(s, "{ind}let lr{j}: real = lr_t * {};", names[j]);
            }
            None => {
                let _ = writeln!(s, "{ind}let lr{j}: real = lr_t;");
            }
        }
        if weight_decay && kind.decoupled_weight_decay() {
            let _ = writeln!(s, "{ind}x{j} = x{j} * (real(1.0) - lr{j} * weight_decay);");
        }
    }
    if matches!(kind, OptimizerKind::Adam | OptimizerKind::Adamw) {
        let _ = writeln!(s, "{ind}b1t = b1t * beta1;");
        let _ = writeln!(s, "{ind}b2t = b2t * beta2;");
        let _ = writeln!(s, "{ind}let bc2_sqrt: real = sqrt(real(1.0) - b2t);");
    }
    for j in 0..dim {
        match kind {
            OptimizerKind::Gd => {
                let _ = writeln!(s, "{ind}x{j} = x{j} - lr{j} * gd{j};");
            }
            OptimizerKind::Momentum => {
                let _ = writeln!(
                    s,
                    "{ind}if (steps_done == 0u) {{ v{j} = gd{j}; }} else {{ v{j} = beta * v{j} + (real(1.0) - dampening) * gd{j}; }}"
                );
                let _ = writeln!(s, "{ind}x{j} = x{j} - lr{j} * v{j};");
            }
            OptimizerKind::Nesterov => {
                let _ = writeln!(s, "{ind}if (steps_done == 0u) {{ v{j} = gd{j}; }} else {{ v{j} = beta * v{j} + gd{j}; }}");
                let _ = writeln!(s, "{ind}x{j} = x{j} - lr{j} * (gd{j} + beta * v{j});");
            }
            OptimizerKind::Rmsprop => {
                let _ = writeln!(s, "{ind}sq{j} = alpha * sq{j} + (real(1.0) - alpha) * gd{j} * gd{j};");
                let _ = writeln!(s, "{ind}ga{j} = alpha * ga{j} + (real(1.0) - alpha) * gd{j};");
                let _ = writeln!(
                    s,
                    "{ind}let avg{j}: real = select(sqrt(sq{j}), sqrt(sq{j} - ga{j} * ga{j}), centered != real(0.0)) + eps;"
                );
                let _ = writeln!(s, "{ind}buf{j} = momentum * buf{j} + gd{j} / avg{j};");
                let _ = writeln!(
                    s,
                    "{ind}x{j} = select(x{j} - lr{j} * (gd{j} / avg{j}), x{j} - lr{j} * buf{j}, momentum > real(0.0));"
                );
            }
            OptimizerKind::Adagrad => {
                let _ = writeln!(s, "{ind}let clr{j}: real = lr{j} / (real(1.0) + real(steps_done) * lr_decay);");
                let _ = writeln!(s, "{ind}sum{j} = sum{j} + gd{j} * gd{j};");
                let _ = writeln!(s, "{ind}x{j} = x{j} - clr{j} * (gd{j} / (sqrt(sum{j}) + eps));");
            }
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                let _ = writeln!(s, "{ind}m{j} = beta1 * m{j} + (real(1.0) - beta1) * gd{j};");
                let _ = writeln!(s, "{ind}v{j} = beta2 * v{j} + (real(1.0) - beta2) * gd{j} * gd{j};");
                let _ = writeln!(s, "{ind}let step_size{j}: real = lr{j} / (real(1.0) - b1t);");
                let _ = writeln!(s, "{ind}x{j} = x{j} - step_size{j} * (m{j} / (sqrt(v{j}) / bc2_sqrt + eps));");
            }
        }
    }
    s
}

/// The reals of one block's axis table (all its axes, concatenated) and each axis' offset.
pub fn axis_table(block: &Block) -> (Vec<f64>, Vec<usize>) {
    let mut values = Vec::new();
    let mut offsets = Vec::new();
    for (k, a) in block.axes.iter().enumerate() {
        offsets.push(values.len());
        match (&block.lr_table, k) {
            (Some(table), 0) => values.extend_from_slice(table),
            _ => values.extend_from_slice(&a.values),
        }
    }
    (values, offsets)
}

/// The decoded names of a block's axes in WGSL: lr, hyperparameters, init_<j>.
fn axis_idents(block: &Block) -> Vec<String> {
    let h = block.n_hypers();
    (0..block.axes.len())
        .map(|k| {
            if k == 0 {
                "lr".to_string()
            } else if k <= h {
                block.axes[k].name.clone()
            } else {
                format!("init{}", k - 1 - h)
            }
        })
        .collect()
}

fn decode_wgsl(block: &Block) -> String {
    let (_, offsets) = axis_table(block);
    let names = axis_idents(block);
    let mut s = String::from("    var rem = run_local;\n");
    let mut digit = vec![String::new(); block.axes.len()];
    for k in (0..block.axes.len()).rev() {
        let n = block.axes[k].values.len();
        if n > 1 {
            let _ = writeln!(s, "    let d{k} = rem % {n}u;\n    rem = rem / {n}u;");
            digit[k] = format!(" + d{k}");
        }
    }
    for k in 0..block.axes.len() {
        if k == 0 && block.lr_table.is_some() {
            // Each combination of the other axes has its own K learning rates (Block::lr_table).
            let n = block.axes[0].values.len() as u64;
            let inner = block.runs / n;
            let _ = writeln!(s, "    let lr: real = axis_values[{}u + (run_local % {inner}u) * {n}u{}];", offsets[0], digit[0]);
            continue;
        }
        let _ = writeln!(s, "    let {}: real = axis_values[{}u{}];", names[k], offsets[k], digit[k]);
    }
    s
}

/// The complete WGSL module for one optimizer block of a plan: the main pipeline's, or with
/// `window` the window pipeline's (see shaders/sweep.wgsl).
pub fn sweep_wgsl(plan: &Plan, block_index: usize, window: bool) -> String {
    let block = &plan.blocks[block_index];
    kernel_wgsl(&plan.objective, block, plan.precision, &plan.rules, plan.state_stride(block), window)
}

/// The template with its `// WINDOW{` … `// }WINDOW` blocks kept (markers dropped) or cut out.
fn window_blocks(template: &str, keep: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for line in template.lines() {
        match line.trim() {
            "// WINDOW{" => inside = true,
            "// }WINDOW" => inside = false,
            _ if !inside || keep => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

pub fn kernel_wgsl(obj: &Objective, block: &Block, p: Precision, rules: &Rules, stride: usize, window: bool) -> String {
    let dim = obj.dim();
    let slots = slot_names(block, dim);
    let ind = "        ";
    let mut constants = format!("const STRIDE: u32 = {stride}u;\n");
    let _ = writeln!(constants, "const GRAD_TOL_ABS: real = {};", literal(rules.grad_tol_abs, p));
    let _ = writeln!(constants, "const GRAD_TOL_REL: real = {};", literal(rules.grad_tol_rel, p));
    let _ = writeln!(constants, "const BLOWUP: real = {};", literal(rules.blowup, p));
    let _ = writeln!(constants, "const DIM: u32 = {dim}u;");
    let _ = writeln!(constants, "const WIN: u32 = {}u;", dim + slots.len());
    let _ = writeln!(constants, "const SEG: u32 = {}u;", dim + slots.len() + 2 * dim + 1);
    let _ = writeln!(constants, "const INFO_STRIDE: u32 = {}u;", crate::plan::INFO_STRIDE);
    let _ = writeln!(constants, "const MAX_PERIOD: u32 = {}u;", rules.max_period);
    let _ = writeln!(constants, "const CYCLE_TOL: real = {};", literal(rules.cycle_tol, p));
    let is_finite = match p {
        Precision::F32 => "return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;",
        // 64-bit values have no 32-bit bitcast in WGSL: |v| <= MAX is false for NaN and ±inf.
        Precision::F64 => "return abs(v) <= f64(1.7976931348623157e308);",
    };
    let mut declare = String::new();
    let mut init = String::new();
    let mut load = String::new();
    let mut store = String::new();
    for j in 0..dim {
        let _ = writeln!(declare, "    var x{j}: real;");
        let _ = writeln!(init, "{ind}x{j} = init{j};");
        let _ = writeln!(load, "{ind}x{j} = state[base + {j}u];");
        let _ = writeln!(store, "    state[base + {j}u] = x{j};");
    }
    for (k, name) in slots.iter().enumerate() {
        let at = dim + k;
        let _ = writeln!(declare, "    var {name}: real;");
        let value = match slot_init(name) {
            SlotInit::Value(v) => literal(v, p),
            SlotInit::Hyper(h) => h.to_string(),
            SlotInit::Lr => "lr".to_string(),
        };
        let _ = writeln!(init, "{ind}{name} = {value};");
        let _ = writeln!(load, "{ind}{name} = state[base + {at}u];");
        let _ = writeln!(store, "    state[base + {at}u] = {name};");
    }
    // The window record: anchor a{j} at WIN + j, previous gradient gp{j} at WIN + DIM + 1 + j.
    let nest_max = |terms: Vec<String>| terms.into_iter().reduce(|a, b| format!("max({a}, {b})")).unwrap_or_default();
    let lines = |f: &dyn Fn(usize) -> String| (0..dim).map(|j| f(j) + "\n").collect::<String>();
    let win_declare = lines(&|j| format!("    var a{j}: real;\n    var gp{j}: real;"));
    let win_load = lines(&|j| {
        format!("        a{j} = state[base + WIN + {j}u];\n        gp{j} = state[base + WIN + DIM + {}u];", 1 + j)
    });
    let win_store =
        lines(&|j| format!("    state[base + WIN + {j}u] = a{j};\n    state[base + WIN + DIM + {}u] = gp{j};", 1 + j));
    let anchor_set = lines(&|j| format!("                a{j} = x{j};"));
    let gprev_set = lines(&|j| format!("            gp{j} = g{j};"));
    let anchor_dist = nest_max((0..dim).map(|j| format!("abs(x{j} - a{j})")).collect());
    let x_inf = nest_max((0..dim).map(|j| format!("abs(x{j})")).collect());
    let turn_dot = (0..dim).map(|j| format!("g{j} * gp{j}")).collect::<Vec<_>>().join(" + ");
    let x_finite = (0..dim).map(|j| format!("is_finite(x{j})")).collect::<Vec<_>>().join(" && ");
    let gn2 = (0..dim).map(|j| format!("g{j} * g{j}")).collect::<Vec<_>>().join(" + ");
    window_blocks(TEMPLATE, window)
        .replace("{{REAL}}", p.name())
        .replace("{{WORKGROUP_SIZE}}", &WORKGROUP_SIZE.to_string())
        .replace("{{CONSTANTS}}", &constants)
        .replace("{{IS_FINITE}}", is_finite)
        .replace("{{MATH}}", match p {
            Precision::F32 => MATH_F32,
            Precision::F64 => MATH_F64,
        })
        .replace("{{DECODE}}", &decode_wgsl(block))
        .replace("{{DECLARE}}", &declare)
        .replace("{{INIT}}", &init)
        .replace("{{LOAD}}", &load)
        .replace("{{EVAL}}", &eval_wgsl(obj, p, ind))
        .replace("{{X_FINITE}}", &x_finite)
        .replace("{{GRAD_NORM2}}", &gn2)
        .replace("{{UPDATE}}", &update_wgsl(block, dim, p))
        .replace("{{STORE}}", &store)
        .replace("{{WINDOW_DECLARE}}\n", &win_declare)
        .replace("{{WINDOW_LOAD}}\n", &win_load)
        .replace("{{WINDOW_STORE}}\n", &win_store)
        .replace("{{ANCHOR_SET}}\n", &anchor_set)
        .replace("{{GPREV_SET}}\n", &gprev_set)
        .replace("{{ANCHOR_DIST}}", &anchor_dist)
        .replace("{{X_INF}}", &x_inf)
        .replace("{{TURN_DOT}}", &format!("({turn_dot})"))
}

/// Parse and validate WGSL with naga, with f64 allowed where asked: what a GPU driver would
/// reject, found without a GPU.
pub fn validate_wgsl(src: &str, f64_ok: bool) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    let mut caps = naga::valid::Capabilities::empty();
    if f64_ok {
        caps |= naga::valid::Capabilities::FLOAT64;
    }
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string(src))?;
    Ok(module)
}
