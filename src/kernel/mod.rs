//! WGSL generation: fills shaders/sweep.wgsl with the objective graph, the run decode, the state
//! layout (plan::layout) and the optimizer update of one optimizer block (the knobs' and the
//! method's WGSL from src/method/). Needs no GPU; every output is validated with naga.
//!
//! The CPU port (src/backend/cpu/sweep.rs, with the methods' CPU twins) evaluates the same graph
//! schedule and the same update formulas in the same order; names here (`x{j}`, `g{j}`, `gd{j}`, `v{j}`, `m{j}`, `b1t`,
//! `b2t`, `step_size`, `bc2_sqrt`) match the names used there.

use crate::problem::expr::{Func, Graph, Node, NodeId, Objective, Phase};
use crate::method::{linesearch, SlotInit};
use crate::outcome::Status;
use crate::plan::layout::Info;
use crate::plan::{self, Block, Layout, Plan, Precision, Rules, Sampling, StateLayout, INFO_STRIDE, SEGMENTS};
use crate::problem::real::literal;
use std::collections::HashSet;
use std::fmt::Write;

mod workgroup;
use workgroup::Spread;

pub const TEMPLATE: &str = include_str!("../../shaders/sweep.wgsl");
/// Invocations per workgroup in the invocation layout (one run each).
pub const WORKGROUP_SIZE: u32 = 64;

/// Runs per workgroup: WORKGROUP_SIZE with one invocation per run, one in the workgroup layout.
pub fn runs_per_workgroup(layout: Layout) -> u32 {
    match layout {
        Layout::Invocation => WORKGROUP_SIZE,
        Layout::Workgroup => 1,
    }
}

/// The entry point's head for `threads` invocations per workgroup: the run index `i`, taken in
/// the workgroup order of backend::gpu::sweep::Grid, and `lead`, the thread that stores the
/// run's scalars (every invocation with one run each; thread 0 in the workgroup layout).
pub(crate) fn entry(threads: u32, layout: Layout) -> String {
    let (run, lead) = match layout {
        Layout::Invocation => (format!("g * {}u + lid", runs_per_workgroup(layout)), "true"),
        Layout::Workgroup => ("g".to_string(), "lid == 0u"),
    };
    format!(
        "@compute @workgroup_size({threads})\n\
         fn sweep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{\n    \
         let w = wid.x + wid.y * params.groups_x;\n    \
         if (w >= params.group_rows * params.group_columns) {{\n        return;\n    }}\n    \
         let g = (w % params.group_columns) * params.group_rows + w / params.group_columns;\n    \
         let i = {run};\n    \
         let lead = {lead};\n"
    )
}

/// How a graph's leaves and nodes are named in WGSL: node n is `{node}{n}`.
pub(crate) struct Names<'a> {
    pub node: &'a str,
    pub var: &'a dyn Fn(u32) -> String,
    pub data: &'a dyn Fn(u32) -> String,
}

/// The objective's names: `x{j}`, `d{c}`, `t{n}`.
const OBJECTIVE_NAMES: Names<'static> = Names { node: "t", var: &|j| format!("x{j}"), data: &|c| format!("d{c}") };

pub(crate) fn operand(g: &Graph, id: NodeId, p: Precision, names: &Names) -> String {
    match g.node(id) {
        Node::Const(c) => literal(c, p),
        Node::Var(j) => (names.var)(j),
        Node::Data(c) => (names.data)(c),
        _ => format!("{}{id}", names.node),
    }
}

/// One `let` per node of `ids` that is an operation (leaves and means are named, not
/// computed), in order.
pub(crate) fn node_lets(out: &mut String, g: &Graph, ids: impl IntoIterator<Item = NodeId>, p: Precision, names: &Names, indent: &str) {
    for id in ids {
        let o = |c: NodeId| operand(g, c, p, names);
        let rhs = match g.node(id) {
            Node::Const(_) | Node::Var(_) | Node::Data(_) | Node::RowMean(_) => continue,
            Node::Add(a, b) => format!("{} + {}", o(a), o(b)),
            Node::Sub(a, b) => format!("{} - {}", o(a), o(b)),
            Node::Mul(a, b) => format!("{} * {}", o(a), o(b)),
            Node::Div(a, b) => format!("{} / {}", o(a), o(b)),
            Node::Neg(a) => format!("-{}", o(a)),
            Node::Pow(a, b) => format!("real_pow({}, {})", o(a), o(b)),
            Node::Func(f, a) => format!("{}({})", func_name(f), o(a)),
        };
        let _ = writeln!(out, "{indent}let {}{id}: real = {rhs};", names.node);
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

/// `let` statements computing `loss` and `g0..g{d-1}` (and with `hessian` the upper triangle
/// `h{i}_{j}`, i ≤ j) at x0..x{d-1}, one per graph node. Over a data table the nodes come in
/// their phases (see problem::expr::graph): those of the point, then a loop over the table's
/// rows (in `axis_values` from DATA_AT, COLS per row) that reads each row's columns `d{c}`,
/// computes the row's nodes and adds each mean's argument to its sum `acc{k}`, then the means
/// (sum / ROWS) and the nodes after them. The CPU twin is `Lanes::eval`.
pub fn eval_wgsl(obj: &Objective, p: Precision, indent: &str, hessian: bool, sampling: Option<Sampling>) -> String {
    let roots = obj.step_roots(hessian);
    let schedule = obj.graph.schedule(&roots);
    let mut out = String::new();
    let lets = |out: &mut String, phase: Phase, indent: &str| {
        node_lets(out, &obj.graph, schedule.iter().copied().filter(|&id| obj.graph.phase(id) == phase), p, &OBJECTIVE_NAMES, indent);
    };
    let operand = |_: &Objective, id: NodeId, p: Precision| operand(&obj.graph, id, p, &OBJECTIVE_NAMES);
    lets(&mut out, Phase::Point, indent);
    let means: Vec<(NodeId, NodeId)> =
        schedule.iter().filter_map(|&id| if let Node::RowMean(a) = obj.graph.node(id) { Some((id, a)) } else { None }).collect();
    if !means.is_empty() {
        let inner = format!("{indent}    ");
        for k in 0..means.len() {
            let _ = writeln!(out, "{indent}var acc{k}: real = real(0.0);");
        }
        // Which rows: all, in order, or this step's mini-batch (problem::random; the CPU twin is
        // `Lanes::eval`). `batch_count` rows are summed and the means divide by it.
        match sampling {
            None => {
                let _ = writeln!(out, "{indent}let batch_count = ROWS;");
                let _ = writeln!(out, "{indent}for (var slot = 0u; slot < batch_count; slot = slot + 1u) {{");
                let _ = writeln!(out, "{inner}let row = slot;");
            }
            Some(Sampling::Shuffle) => {
                let _ = write!(
                    out,
                    "{indent}var batch_count = ROWS;\n{indent}var batch_first = 0u;\n{indent}var batch_keys = vec4<u32>(0u);\n{indent}let batch_whole = u32(batch_size) >= ROWS;\n\
                     {indent}if (!batch_whole) {{\n{inner}let per_epoch = (ROWS + u32(batch_size) - 1u) / u32(batch_size);\n\
                     {inner}batch_first = (steps_done % per_epoch) * u32(batch_size);\n{inner}batch_count = min(u32(batch_size), ROWS - batch_first);\n\
                     {inner}batch_keys = philox4x32_10(vec4<u32>(steps_done / per_epoch, 0u, 0u, 0u), vec2<u32>(u32(seed), SHUFFLE_STREAM));\n{indent}}}\n\
                     {indent}for (var slot = 0u; slot < batch_count; slot = slot + 1u) {{\n{inner}var row = slot;\n\
                     {inner}if (!batch_whole) {{\n{inner}    row = shuffled_row(batch_first + slot, ROWS, batch_keys);\n{inner}}}\n"
                );
            }
            Some(Sampling::Replacement) => {
                let _ = writeln!(out, "{indent}let batch_count = u32(batch_size);");
                let _ = writeln!(out, "{indent}for (var slot = 0u; slot < batch_count; slot = slot + 1u) {{");
                let _ = writeln!(out, "{inner}let row = replacement_row(u32(seed), steps_done, slot, ROWS);");
            }
        }
        for &id in &schedule {
            if let Node::Data(c) = obj.graph.node(id) {
                let _ = writeln!(out, "{inner}let d{c}: real = axis_values[DATA_AT + row * COLS + {c}u];");
            }
        }
        lets(&mut out, Phase::Row, &inner);
        for (k, &(_, a)) in means.iter().enumerate() {
            let _ = writeln!(out, "{inner}acc{k} = acc{k} + {};", operand(obj, a, p));
        }
        let _ = writeln!(out, "{indent}}}");
        for (k, &(id, _)) in means.iter().enumerate() {
            let _ = writeln!(out, "{indent}let t{id}: real = acc{k} / real(batch_count);");
        }
        lets(&mut out, Phase::Reduced, indent);
    }
    let _ = writeln!(out, "{indent}let loss: real = {};", operand(obj, obj.loss, p));
    for (j, g) in obj.grad.iter().enumerate() {
        let _ = writeln!(out, "{indent}let g{j}: real = {};", operand(obj, *g, p));
    }
    if hessian {
        let d = obj.dim();
        for (h, (i, j)) in obj.hessian_upper().into_iter().zip((0..d).flat_map(|i| (i..d).map(move |j| (i, j)))) {
            let _ = writeln!(out, "{indent}let h{i}_{j}: real = {};", operand(obj, h, p));
        }
    }
    out
}

/// One optimizer step in WGSL: the knobs' prologue, then the method's update (see
/// [`crate::method`]).
fn update_wgsl(knobs: &crate::method::knobs::Knobs, block: &Block, dim: usize, p: Precision) -> String {
    crate::method::knobs::wgsl(knobs, dim, p) + &(block.optimizer.method().wgsl)(dim, block.memory())
}

/// The reals of one block's axis table (all its axes, concatenated, then its seed table of
/// initial points where it has one) and each axis' offset (then the seed table's).
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
    if let Some(t) = &block.init_table {
        offsets.push(values.len());
        values.extend_from_slice(&t.values);
    }
    (values, offsets)
}

/// The reals of `axis_values`, the one read-only table every invocation shares: the block's
/// axis table ([`axis_table`]), then the objective's data rows from DATA_AT on (none without
/// a data table).
pub fn read_only_table(obj: &Objective, block: &Block) -> Vec<f64> {
    let (mut values, _) = axis_table(block);
    if let Some(rows) = &obj.rows {
        values.extend_from_slice(&rows.values);
    }
    values
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

fn decode_wgsl(block: &Block, spread: Option<&Spread>) -> String {
    let noisy = match block.sampling {
        None => "false".to_string(),
        Some(Sampling::Replacement) => "true".to_string(),
        Some(Sampling::Shuffle) => "u32(batch_size) < ROWS".to_string(),
    };
    decode_axes(block, spread) + &format!("    // A mini-batch gradient says nothing of convergence (see engine::mark_noisy_runs).\n    let noisy = {noisy};\n")
}

/// The run's axis values from its block-local index; in the workgroup layout the initial point's
/// coordinates are the thread's own (`init{j}` for local j).
fn decode_axes(block: &Block, spread: Option<&Spread>) -> String {
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
        if let (Some(sp), true) = (spread, k > block.n_hypers()) {
            if k == 1 + block.n_hypers() {
                // The thread's coordinates of the initial point (plan::workgroup::fit: a seed
                // axis, or one initial point, whose init axes lie one after another).
                for j in 0..sp.n() {
                    let at = match &block.init_table {
                        Some(t) if block.axes[t.seed_axis].values.len() > 1 => format!("{}u + d{} * {}u + {}", offsets[block.axes.len()], t.seed_axis, block.n_init(), sp.at(j)),
                        Some(_) => format!("{}u + {}", offsets[block.axes.len()], sp.at(j)),
                        None => format!("{}u + {}", offsets[k], sp.at(j)),
                    };
                    let _ = writeln!(s, "    let init{j}: real = axis_values[{at}];");
                }
            }
            continue;
        }
        match &block.init_table {
            // A seed axis: the seed's row of the table (Block::init_value).
            Some(t) if k > block.n_hypers() => {
                let (dim, j) = (block.n_init(), k - 1 - block.n_hypers());
                let _ = writeln!(s, "    let {}: real = axis_values[{}u + d{} * {dim}u + {j}u];", names[k], offsets[block.axes.len()], t.seed_axis);
            }
            _ => {
                let _ = writeln!(s, "    let {}: real = axis_values[{}u{}];", names[k], offsets[k], digit[k]);
            }
        }
    }
    s
}

/// The complete WGSL module for one optimizer block of a plan: the main pipeline's, or with
/// `window` the window pipeline's (see shaders/sweep.wgsl).
pub fn sweep_wgsl(plan: &Plan, block_index: usize, window: bool) -> String {
    let block = &plan.blocks[block_index];
    let src = kernel_wgsl(plan.objective_of(block), block, plan.precision, &plan.rules, &plan.layout(block), window);
    ["SETUP", "STEP", "FINISH"].iter().fold(src, |src, name| optional_blocks(&src, name, true))
}

/// The block's kernel with `runs` runs per invocation (see [`several_runs`]), where it can have
/// them: the invocation layout, and a step without a `break`, `continue` or `return` of its own
/// (no line search, not Newton's singular stop).
pub fn sweep_wgsl_runs(plan: &Plan, block_index: usize, window: bool, runs: u32) -> Option<String> {
    let block = &plan.blocks[block_index];
    if block.layout != Layout::Invocation || runs < 2 {
        return None;
    }
    several_runs(&kernel_wgsl(plan.objective_of(block), block, plan.precision, &plan.rules, &plan.layout(block), window), runs)
}

/// The kernel `src` (its SETUP, STEP and FINISH regions marked, one run per invocation) with
/// `runs` runs per invocation: invocation i takes runs i·runs … i·runs + runs − 1, each with
/// its own names (every local of the three regions gets `_r<k>`), set up one after the other;
/// one loop steps every run still active, each run's step inside `if (active_r<k>)` with the
/// exit's `break` turned into clearing that flag, and ends when none is; each run that was
/// running stores its state. A run past the batch is never active and stores nothing. The
/// runs' arithmetic is the one-run kernel's, so the results are the same bits; the point is
/// independent chains for a CPU driver, whose SIMD lanes are invocations and whose FMA latency
/// one chain leaves idle (lavapipe: BENCHMARKS.md, issue 13). None where a region holds
/// control flow of its own (a line search's `continue`, Newton's `break`) or a local named
/// like a module function.
pub fn several_runs(src: &str, runs: u32) -> Option<String> {
    let lines: Vec<&str> = src.lines().collect();
    let at = |marker: &str| lines.iter().position(|l| l.trim() == marker);
    let (setup_open, setup_close) = (at("// SETUP{")?, at("// }SETUP")?);
    let (step_open, step_close) = (at("// STEP{")?, at("// }STEP")?);
    let (finish_open, finish_close) = (at("// FINISH{")?, at("// }FINISH")?);
    let text = |from: usize, to: usize| lines[from..to].iter().map(|l| format!("{l}\n")).collect::<String>();
    let (head, gap, between, end) = (text(0, setup_open), text(setup_close + 1, step_open), text(step_close + 1, finish_open), text(finish_close + 1, lines.len()));
    let (setup, step, finish) = (&lines[setup_open + 1..setup_close], &lines[step_open + 1..step_close], &lines[finish_open + 1..finish_close]);
    if !head.contains("let lead = true;") {
        return None;
    }
    // The step's own control flow: the exit's `break` alone.
    let count = |w: &str| step.iter().filter(|l| identifiers(l).contains(&w)).count();
    if count("break") != 1 || count("continue") + count("return") > 0 || !step.iter().any(|l| l.trim() == "break; // EXIT") {
        return None;
    }
    // Every local of the regions, and the run index.
    let mut locals: HashSet<String> = HashSet::from(["i".to_string()]);
    for l in setup.iter().chain(step).chain(finish) {
        let words = identifiers(l);
        for pair in words.windows(2) {
            if pair[0] == "let" || pair[0] == "var" {
                locals.insert(pair[1].to_string());
            }
        }
    }
    // Not renamable: a local named like a module function or like a name the entry point
    // declares outside the regions (but the run index), or whose new names are taken.
    let functions: HashSet<&str> = lines.iter().filter_map(|l| l.trim().strip_prefix("fn ")).filter_map(|l| identifiers(l).first().copied()).collect();
    // (the entry point's own: module functions have their own scopes)
    let entry_head = head.find("@compute").map_or(head.as_str(), |at| &head[at..]);
    let outside: HashSet<&str> = [entry_head, &gap, &between, &end]
        .iter()
        .flat_map(|t| t.lines())
        .flat_map(|l| identifiers(l).windows(2).filter(|p| p[0] == "let" || p[0] == "var").map(|p| p[1]).collect::<Vec<_>>())
        .collect();
    let taken: HashSet<&str> = lines.iter().flat_map(|l| identifiers(l)).collect();
    let fresh = |n: &str| (0..runs).all(|r| !taken.contains(format!("{n}_r{r}").as_str()));
    if locals.iter().any(|n| functions.contains(n.as_str()) || (n != "i" && outside.contains(n.as_str())) || !fresh(n)) || !["active", "was"].iter().all(|n| fresh(n)) {
        return None;
    }
    let mut out = head;
    for r in 0..runs {
        let _ = writeln!(out, "    let i_r{r} = min(i * {runs}u + {r}u, params.run_count - 1u);\n    var active_r{r} = i * {runs}u + {r}u < params.run_count;");
        let mut k = 0;
        while k < setup.len() {
            // `if (c) { return; // NO_RUN }`: the run is not active.
            if k + 2 < setup.len() && setup[k + 1].trim() == "return; // NO_RUN" && setup[k + 2].trim() == "}" {
                let cond = setup[k].trim().strip_prefix("if ").and_then(|c| c.strip_suffix(" {"))?;
                let _ = writeln!(out, "    active_r{r} = active_r{r} && !{};", renamed(cond, &locals, r));
                k += 3;
                continue;
            }
            let _ = writeln!(out, "{}", renamed(setup[k], &locals, r));
            k += 1;
        }
        let _ = writeln!(out, "    let was_r{r} = active_r{r};");
    }
    out += &gap;
    for r in 0..runs {
        let _ = writeln!(out, "        if (active_r{r}) {{");
        let mut k = 0;
        while k < step.len() {
            if step[k].trim() == "break; // EXIT" {
                let indent = &step[k][..step[k].len() - step[k].trim_start().len()];
                let _ = writeln!(out, "{indent}active_r{r} = false;\n{}}} else {{", &indent[4.min(indent.len())..]);
                k += 2;
                continue;
            }
            let _ = writeln!(out, "{}", renamed(step[k], &locals, r));
            k += 1;
        }
        out += "        }\n        }\n";
    }
    let _ = writeln!(out, "        if ({}) {{\n            break;\n        }}", (0..runs).map(|r| format!("!active_r{r}")).collect::<Vec<_>>().join(" && "));
    out += &between;
    for r in 0..runs {
        let _ = writeln!(out, "    if (was_r{r}) {{");
        let mut k = 0;
        while k < finish.len() {
            // (every invocation is its runs' lead)
            if k + 2 < finish.len() && finish[k + 1].trim() == "return; // NOT_LEAD" {
                k += 3;
                continue;
            }
            let _ = writeln!(out, "{}", renamed(finish[k], &locals, r));
            k += 1;
        }
        out += "    }\n";
    }
    out += &end;
    Some(out)
}

/// A line of WGSL cut into its pieces, in order: (whether the piece is an identifier, the
/// piece). Numbers, such as `1e-5` or `0u`, are one piece each and no identifier.
fn pieces(line: &str) -> Vec<(bool, &str)> {
    let bytes = line.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut k = 0;
    while k < bytes.len() {
        let (start, c) = (k, bytes[k]);
        let identifier = c.is_ascii_alphabetic() || c == b'_';
        if identifier || c.is_ascii_digit() {
            while k < bytes.len() && (word(bytes[k]) || (!identifier && bytes[k] == b'.')) {
                k += 1;
            }
        } else {
            k += line[k..].chars().next().map_or(1, char::len_utf8);
        }
        out.push((identifier, &line[start..k]));
    }
    out
}

/// The identifiers of a line of WGSL, in order, its comment left out.
fn identifiers(line: &str) -> Vec<&str> {
    pieces(line.split("//").next().unwrap_or("")).into_iter().filter(|p| p.0).map(|p| p.1).collect()
}

/// `line` with every identifier of `locals` not after a `.` (a member) suffixed `_r<run>`.
fn renamed(line: &str, locals: &HashSet<String>, run: u32) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    for (identifier, piece) in pieces(line) {
        let member = out.trim_end().ends_with('.');
        out.push_str(piece);
        if identifier && !member && locals.contains(piece) {
            let _ = write!(out, "_r{run}");
        }
    }
    out
}

/// The template with its `// NAME{` … `// }NAME` blocks kept (markers dropped) or cut out.
fn optional_blocks(template: &str, name: &str, keep: bool) -> String {
    let (open, close) = (format!("// {name}{{"), format!("// }}{name}"));
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for line in template.lines() {
        match line.trim() {
            l if l == open => inside = true,
            l if l == close => inside = false,
            _ if !inside || keep => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

pub fn kernel_wgsl(obj: &Objective, block: &Block, p: Precision, rules: &Rules, layout: &StateLayout, window: bool) -> String {
    let dim = obj.dim();
    let ind = "        ";
    let mut constants = String::new();
    // The layout (plan::layout) and the status codes (outcome::Status), from their one definition.
    for s in [Status::Running, Status::Converged, Status::Diverged, Status::MaxSteps, Status::LineSearchFailed] {
        let _ = writeln!(constants, "const STATUS_{}: u32 = {}u;", s.name().to_uppercase(), s as u32);
    }
    for r in crate::method::StopReason::ALL {
        let _ = writeln!(constants, "const {}: u32 = {}u;", r.wgsl_name(), Status::from(r) as u32);
    }
    let _ = writeln!(constants, "const SEGMENTS: u32 = {SEGMENTS}u;");
    let _ = writeln!(constants, "const STRIDE: u32 = {}u;", layout.stride());
    let _ = writeln!(constants, "const DIM: u32 = {dim}u;");
    let _ = writeln!(constants, "const WIN: u32 = {}u;", layout.window_at());
    let _ = writeln!(constants, "const SEG: u32 = {}u;", layout.segments_at());
    let _ = writeln!(constants, "const LOSS_START: u32 = {}u;", layout.loss_start_at());
    let _ = writeln!(constants, "const BOUND: u32 = {}u;", layout.bound_at());
    let _ = writeln!(constants, "const GTOL2: u32 = {}u;", layout.gtol2_at());
    let _ = writeln!(constants, "const LAST_LOSS: u32 = {}u;", layout.last_loss_at());
    let _ = writeln!(constants, "const LAST_GN2: u32 = {}u;", layout.last_gn2_at());
    let _ = writeln!(constants, "const STEP: u32 = {}u;", layout.step_at());
    let _ = writeln!(constants, "const STEP_RES: u32 = {}u;", layout.step_res_at());
    let _ = writeln!(constants, "const INFO_STRIDE: u32 = {INFO_STRIDE}u;");
    if layout.trained {
        let _ = writeln!(constants, "const TRAIN_AT: u32 = {}u;", layout.train_at());
        let _ = writeln!(constants, "const TRAIN_TAIL: u32 = {}u;", crate::outcome::TRAIN_TAIL);
        let _ = writeln!(constants, "const TRAIN_CAP: real = {};", literal(crate::outcome::TRAIN_CAP, p));
    }
    // The data table, where the objective reads one (see `eval_wgsl`).
    if let Some(rows) = &obj.rows {
        let _ = writeln!(constants, "const DATA_AT: u32 = {}u;", axis_table(block).0.len());
        let _ = writeln!(constants, "const COLS: u32 = {}u;", rows.cols);
        let _ = writeln!(constants, "const ROWS: u32 = {}u;", rows.count());
    }
    for f in Info::ALL {
        let _ = writeln!(constants, "const {}: u32 = {}u;", f.wgsl_name(), f as usize);
    }
    let _ = writeln!(constants, "const GRAD_TOL_ABS2: real = {};", literal(rules.grad_tol_abs * rules.grad_tol_abs, p));
    let _ = writeln!(constants, "const STEP_TOL: real = {};", literal(rules.step_tol, p));
    let _ = writeln!(constants, "const GRAD_TOL_REL: real = {};", literal(rules.grad_tol_rel, p));
    let _ = writeln!(constants, "const BLOWUP: real = {};", literal(rules.blowup, p));
    let _ = writeln!(constants, "const MAX_PERIOD: u32 = {}u;", rules.max_period);
    let _ = writeln!(constants, "const CYCLE_TOL: real = {};", literal(rules.cycle_tol, p));
    let _ = writeln!(constants, "const LS_ROUNDING: real = {};", literal(rules.loss_rounding(), p));
    let is_finite = match p {
        Precision::F32 => "return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;",
        // 64-bit values have no 32-bit bitcast in WGSL: |v| <= MAX is false for NaN and ±inf.
        Precision::F64 => "return abs(v) <= f64(1.7976931348623157e308);",
    };
    // The workgroup layout (plan::workgroup): each thread holds its unit's n local coordinates.
    let fit = (block.layout == Layout::Workgroup).then(|| plan::workgroup::fit(obj, block, p).expect("the config checked that the block fits the workgroup layout"));
    let spread = fit.as_ref().map(|fit| Spread { fit });
    let spread = spread.as_ref();
    // This thread's coordinates: n of them, coordinate j at `at(j)` among a run's
    // per-coordinate reals; `guard(j)`: stored by the lead thread alone (the shared output bias).
    let n = spread.map_or(dim, Spread::n);
    let at = |j: usize| spread.map_or(format!("{j}u"), |s| s.at(j));
    let store_line = |lead_only: bool, line: String| if lead_only { format!("    if (lead) {{\n    {line}\n    }}\n") } else { line + "\n" };
    let guard = |j: usize, line: String| store_line(spread.is_some_and(|s| s.shared(j)), line);
    let mut declare = String::new();
    let mut init = String::new();
    let mut load = String::new();
    let mut store = String::new();
    for j in 0..n {
        let _ = writeln!(declare, "    var x{j}: real;");
        let _ = writeln!(init, "{ind}x{j} = init{j};");
        let _ = writeln!(load, "{ind}x{j} = state[base + {}];", at(j));
        store += &guard(j, format!("    state[base + {}] = x{j};", at(j)));
    }
    let mut cursor = layout.slots_at();
    for slot in StateLayout::kinds(block) {
        let value = match slot.init {
            SlotInit::Value(v) => literal(v, p),
            SlotInit::Hyper(h) => h.to_string(),
            SlotInit::Lr => "lr".to_string(),
        };
        for k in slot.entries(block.memory()) {
            let per_coordinate: Vec<(String, String, bool)> = if slot.per_coordinate {
                (0..n).map(|j| (slot.entry_name(k, j), format!("{cursor}u + {}", at(j)), spread.is_some_and(|s| s.shared(j)))).collect()
            } else {
                vec![(slot.entry_name(k, 0), format!("{cursor}u"), spread.is_some())]
            };
            cursor += if slot.per_coordinate { dim } else { 1 };
            for (name, at, lead_only) in per_coordinate {
                let _ = writeln!(declare, "    var {name}: real;");
                let _ = writeln!(init, "{ind}{name} = {value};");
                let _ = writeln!(load, "{ind}{name} = state[base + {at}];");
                store += &store_line(lead_only, format!("    state[base + {at}] = {name};"));
            }
        }
    }
    debug_assert_eq!(cursor, layout.slots_at() + layout.slots.len());
    // The window record: anchor a{j} at WIN + j, previous gradient gp{j} at WIN + DIM + 1 + j.
    let lines = |f: &dyn Fn(usize) -> String| (0..n).map(|j| f(j) + "\n").collect::<String>();
    let win_declare = lines(&|j| format!("    var a{j}: real;\n    var gp{j}: real;"));
    let win_load = lines(&|j| format!("        a{j} = state[base + WIN + {}];\n        gp{j} = state[base + WIN + DIM + 1u + {}];", at(j), at(j)));
    let win_store: String = (0..n).map(|j| guard(j, format!("    state[base + WIN + {}] = a{j};\n    state[base + WIN + DIM + 1u + {}] = gp{j};", at(j), at(j)))).collect();
    let anchor_set = lines(&|j| format!("                a{j} = x{j};"));
    let gprev_set = lines(&|j| format!("            gp{j} = g{j};"));
    // Whole-vector quantities: over this thread's coordinates, then (workgroup) over the threads.
    let nest_max = |terms: Vec<String>| {
        let local = balanced_max(&terms);
        match spread {
            Some(s) => s.max(local),
            None => local,
        }
    };
    let sum = |term: &dyn Fn(usize) -> String| spread.map_or_else(|| (0..n).map(term).collect::<Vec<_>>().join(" + "), |s| s.sum(term));
    let anchor_dist = nest_max((0..n).map(|j| format!("abs(x{j} - a{j})")).collect());
    let x_inf = nest_max((0..n).map(|j| format!("abs(x{j})")).collect());
    let turn_dot = sum(&|j| format!("g{j} * gp{j}"));
    let x_save = lines(&|j| format!("{ind}let xo{j} = x{j};"));
    let unit = block.optimizer.method().unit_step;
    let step = nest_max((0..n).map(|j| if unit { format!("abs(x{j} - xo{j}) / lr") } else { format!("abs(x{j} - xo{j})") }).collect());
    let local_finite = (0..n).map(|j| format!("is_finite(x{j})")).collect::<Vec<_>>().join(" && ");
    let x_finite = match spread {
        Some(s) => s.all(local_finite),
        None => local_finite,
    };
    let gn2 = sum(&|j| format!("g{j} * g{j}"));
    let (ls_judge, ls_start) = match block.linesearch {
        // (plan::workgroup::fit keeps line searches in the invocation layout)
        Some(kind) => {
            let from_lsx = |j: usize| if unit { format!("abs(x{j} - lsx{j}) / lr") } else { format!("abs(x{j} - lsx{j})") };
            let step_from_lsx = nest_max((0..dim).map(from_lsx).collect());
            let parts = linesearch::WgslParts { dim, x_finite: &x_finite, step_from_lsx: &step_from_lsx, x_inf: &x_inf };
            (linesearch::wgsl_judge(kind, &parts), linesearch::wgsl_start(kind, dim, block.optimizer.method().direction))
        }
        None => (String::new(), String::new()),
    };
    let (entry, eval, update, helpers) = match spread {
        None => (
            entry(WORKGROUP_SIZE, Layout::Invocation),
            eval_wgsl(obj, p, ind, block.optimizer.method().hessian, block.sampling),
            update_wgsl(&block.knobs(), block, dim, p),
            String::new(),
        ),
        Some(s) => {
            // Each local coordinate's learning-rate scale is its unit's (the same in every unit: fit).
            let mut knobs = block.knobs();
            if let Some(scales) = &mut knobs.lr_scale {
                *scales = (0..n).map(|j| scales[s.fit.split.global(0, j)].clone()).collect();
            }
            (s.entry(), s.eval(p, ind), update_wgsl(&knobs, block, n, p), s.module_scope(p))
        }
    };
    optional_blocks(&optional_blocks(TEMPLATE, "WINDOW", window), "TRAINABILITY", layout.trained)
        .replace("{{REAL}}", p.name())
        .replace("{{ENTRY}}", &entry)
        .replace("{{CONSTANTS}}", &constants)
        .replace("{{IS_FINITE}}", is_finite)
        .replace("{{HELPERS}}", &(helpers + &block.linesearch.map_or(String::new(), |kind| linesearch::wgsl_helpers(kind, p)) + if block.sampling.is_some() { crate::problem::random::WGSL } else { "" }))
        .replace("{{MATH}}", &crate::problem::elementary::wgsl(p == Precision::F64))
        .replace("{{DECODE}}", &decode_wgsl(block, spread))
        .replace("{{DECLARE}}", &declare)
        .replace("{{INIT}}", &init)
        .replace("{{LOAD}}", &load)
        .replace("{{EVAL}}", &eval)
        .replace("{{X_FINITE}}", &x_finite)
        .replace("{{GRAD_NORM2}}", &gn2)
        .replace("{{X_SAVE}}\n", &x_save)
        .replace("{{STEP}}", &step)
        .replace("{{UPDATE}}", &update)
        .replace("{{LS_JUDGE}}\n", &ls_judge)
        .replace("{{LS_START}}\n", &ls_start)
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

/// max over `terms` as a balanced tree of `max` calls: the same value in any grouping (max is
/// exact), nested only log₂(n) deep, where a chain of n would pass naga's parser recursion limit
/// for a network's hundreds of coordinates.
fn balanced_max(terms: &[String]) -> String {
    match terms.len() {
        0 => String::new(),
        1 => terms[0].clone(),
        n => format!("max({}, {})", balanced_max(&terms[..n / 2]), balanced_max(&terms[n / 2..])),
    }
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
