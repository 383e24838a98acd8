//! The workgroup layout's WGSL (plan::workgroup): one workgroup per run, thread o holding hidden
//! unit o's local coordinates (problem::model::UnitSplit) in registers. It fills the same
//! template as one invocation per run; what differs is here:
//! - where a local coordinate lives in the run's state ([`Spread::at`]; the state's layout is
//!   the invocation layout's, parameter by parameter);
//! - the evaluation: rows in chunks of CHUNK, each thread adding its unit's term of each row to
//!   workgroup memory, one thread per row then adding the terms in unit order and evaluating the
//!   row's loss and its derivatives by the output sum and the output bias, each thread then
//!   adding its coordinates' products over the rows;
//! - the whole-vector quantities (‖g‖², ‖x‖∞, the step, the window's distances and turns):
//!   reductions over workgroup memory that every thread computes the same way, sums in parameter
//!   order, so that every thread takes the same branch at every step and the barriers stay in
//!   dynamically uniform control flow.
//!
//! The CPU backend mirrors it by evaluating `UnitSplit::composed`, built node for node from the
//! same graphs in the same order.

use super::{node_lets, operand, Names};
use crate::plan::workgroup::{Fit, Layout};
use crate::plan::Precision;
use crate::problem::expr::{Graph, Node, NodeId, Phase};
use crate::problem::real::literal;
use std::fmt::Write;

/// How a run's parameters are spread over its workgroup's threads.
pub(super) struct Spread<'a> {
    pub fit: &'a Fit,
}

impl Spread<'_> {
    /// Local coordinates per thread.
    pub fn n(&self) -> usize {
        self.fit.split.local_dim()
    }

    /// The index of this thread's local coordinate j among a run's per-coordinate reals (its
    /// parameter index, UnitSplit::global): `j·UNITS + lid`, or `j·UNITS` for the output bias
    /// that every unit shares.
    pub fn at(&self, j: usize) -> String {
        let h = self.fit.split.units;
        if self.fit.split.shared(j) {
            format!("{}u", j * h)
        } else {
            format!("{}u + lid", j * h)
        }
    }

    pub fn shared(&self, j: usize) -> bool {
        self.fit.split.shared(j)
    }

    /// `@workgroup_size`, the entry point's builtins, the run index and `lead` (the thread that
    /// stores the run's scalars: every thread holds the same).
    pub fn entry(&self) -> String {
        super::entry(self.fit.split.units as u32, Layout::Workgroup)
    }

    /// Module scope: the sizes, the workgroup memory and the reductions.
    pub fn module_scope(&self, p: Precision) -> String {
        let (h, l, c) = (self.fit.split.units, self.n(), self.fit.chunk);
        let zero = literal(0.0, p);
        let one = literal(1.0, p);
        let stores: String = (0..l).map(|j| format!("    wg_vec[{}u + lid] = v[{j}];\n", j * h)).collect();
        format!(
            "const UNITS: u32 = {h}u;\nconst CHUNK: u32 = {c}u;\n\
             // Reductions (one real per local coordinate and thread), each chunk row's unit terms,\n\
             // and per chunk row its loss, ∂ℓ/∂S and ∂ℓ/∂b.\n\
             var<workgroup> wg_vec: array<real, {}>;\nvar<workgroup> wg_term: array<real, {}>;\nvar<workgroup> wg_row: array<real, {}>;\n\n\
             // Σ of v over the run's coordinates in parameter order, left to right (the CPU's order):\n\
             // local coordinate j of thread o is parameter j·UNITS + o (plan::workgroup).\n\
             fn wg_sum_coordinates(v: array<real, {l}>, lid: u32) -> real {{\n{stores}    workgroupBarrier();\n    var s = wg_vec[0];\n    for (var k = 1u; k < DIM; k = k + 1u) {{\n        s = s + wg_vec[k];\n    }}\n    workgroupBarrier();\n    return s;\n}}\n\n\
             // Σ of v over the threads, in thread order.\n\
             fn wg_sum_units(v: real, lid: u32) -> real {{\n    wg_vec[lid] = v;\n    workgroupBarrier();\n    var s = wg_vec[0];\n    for (var o = 1u; o < UNITS; o = o + 1u) {{\n        s = s + wg_vec[o];\n    }}\n    workgroupBarrier();\n    return s;\n}}\n\n\
             // The largest v over the threads.\n\
             fn wg_max(v: real, lid: u32) -> real {{\n    wg_vec[lid] = v;\n    workgroupBarrier();\n    var m = wg_vec[0];\n    for (var o = 1u; o < UNITS; o = o + 1u) {{\n        m = max(m, wg_vec[o]);\n    }}\n    workgroupBarrier();\n    return m;\n}}\n\n\
             // Whether v holds on every thread.\n\
             fn wg_all(v: bool, lid: u32) -> bool {{\n    return wg_max(select({one}, {zero}, v), lid) == {zero};\n}}\n",
            l * h,
            c * h,
            3 * c
        )
    }

    /// `let loss` and `let g{j}` for this thread's local coordinates (see the module's
    /// documentation); the CPU twin is `UnitSplit::composed`.
    pub fn eval(&self, p: Precision, ind: &str) -> String {
        let s = &self.fit.split;
        let (l, d) = (self.n(), s.features);
        let own = l - usize::from(s.bias);
        let unit = &s.unit;
        let unit_names = Names { node: "wu", var: &|j| format!("x{j}"), data: &|c| format!("d{c}") };
        let bias_var = format!("x{}", l - 1);
        let head_names = Names { node: "wh", var: &|j| if j == 0 { "hs".to_string() } else { bias_var.clone() }, data: &|_| "hy".to_string() };
        let mut all_roots = vec![s.term];
        all_roots.extend(&s.term_grad);
        if let Some((pen, pg)) = &s.penalty {
            all_roots.push(*pen);
            all_roots.extend(pg);
        }
        let in_phase = |g: &Graph, roots: &[NodeId], phase: Phase| -> Vec<NodeId> { g.schedule(roots).into_iter().filter(|&n| g.phase(n) == phase).collect() };
        let data_lets = |out: &mut String, roots: &[NodeId], indent: &str| {
            for n in unit.schedule(roots) {
                if let Node::Data(c) = unit.node(n) {
                    let _ = writeln!(out, "{indent}let d{c}: real = axis_values[DATA_AT + row * COLS + {c}u];");
                }
            }
        };
        let u = |n: NodeId| operand(unit, n, p, &unit_names);
        let (i1, i2) = (format!("{ind}    "), format!("{ind}        "));
        let mut out = String::new();
        node_lets(&mut out, unit, in_phase(unit, &all_roots, Phase::Point), p, &unit_names, ind);
        for j in 0..own {
            let _ = writeln!(out, "{ind}var acc{j}: real = real(0.0);");
        }
        let _ = writeln!(out, "{ind}var loss_sum: real = real(0.0);\n{ind}var db_sum: real = real(0.0);");
        let _ = writeln!(out, "{ind}for (var r0 = 0u; r0 < ROWS; r0 = r0 + CHUNK) {{\n{i1}let n = min(CHUNK, ROWS - r0);");
        // Each thread: its unit's term of each row of the chunk.
        let _ = writeln!(out, "{i1}for (var c = 0u; c < n; c = c + 1u) {{\n{i2}let row = r0 + c;");
        data_lets(&mut out, &[s.term], &i2);
        node_lets(&mut out, unit, in_phase(unit, &[s.term], Phase::Row), p, &unit_names, &i2);
        let _ = writeln!(out, "{i2}wg_term[c * UNITS + lid] = {};\n{i1}}}\n{i1}workgroupBarrier();", u(s.term));
        // Thread t: row t's output sum, in unit order, and the row's loss and derivatives.
        let head = &s.head;
        let h = |n: NodeId| operand(head, n, p, &head_names);
        let _ = writeln!(out, "{i1}if (lid < n) {{\n{i2}let row = r0 + lid;\n{i2}var hs = wg_term[lid * UNITS];");
        let _ = writeln!(out, "{i2}for (var o = 1u; o < UNITS; o = o + 1u) {{\n{i2}    hs = hs + wg_term[lid * UNITS + o];\n{i2}}}");
        let _ = writeln!(out, "{i2}let hy: real = axis_values[DATA_AT + row * COLS + {d}u];");
        node_lets(&mut out, head, head.schedule(&[s.row_loss, s.row_loss_ds, s.row_loss_db]), p, &head_names, &i2);
        let _ = writeln!(out, "{i2}wg_row[lid] = {};\n{i2}wg_row[CHUNK + lid] = {};", h(s.row_loss), h(s.row_loss_ds));
        if s.bias {
            let _ = writeln!(out, "{i2}wg_row[2u * CHUNK + lid] = {};", h(s.row_loss_db));
        }
        let _ = writeln!(out, "{i1}}}\n{i1}workgroupBarrier();");
        // Each thread: its coordinates' products over the chunk's rows, and (the same in every
        // thread) the sums of the rows' losses and output-bias derivatives.
        let _ = writeln!(out, "{i1}for (var c = 0u; c < n; c = c + 1u) {{\n{i2}let row = r0 + c;");
        data_lets(&mut out, &s.term_grad, &i2);
        node_lets(&mut out, unit, in_phase(unit, &s.term_grad, Phase::Row), p, &unit_names, &i2);
        let _ = writeln!(out, "{i2}let ds = wg_row[CHUNK + c];");
        for (j, &tg) in s.term_grad.iter().enumerate() {
            let _ = writeln!(out, "{i2}acc{j} = acc{j} + ds * {};", u(tg));
        }
        let _ = writeln!(out, "{i2}loss_sum = loss_sum + wg_row[c];");
        if s.bias {
            let _ = writeln!(out, "{i2}db_sum = db_sum + wg_row[2u * CHUNK + c];");
        }
        let _ = writeln!(out, "{i1}}}\n{i1}workgroupBarrier();\n{ind}}}");
        let penalty = match &s.penalty {
            Some((pen, _)) => format!(" + {} * wg_sum_units({}, lid)", literal(s.l2, p), u(*pen)),
            None => String::new(),
        };
        let _ = writeln!(out, "{ind}let loss: real = loss_sum / real(ROWS){penalty};");
        for j in 0..own {
            let pg = match &s.penalty {
                Some((_, pg)) if unit.as_const(pg[j]) != Some(0.0) => format!(" + {}", u(pg[j])),
                _ => String::new(),
            };
            let _ = writeln!(out, "{ind}let g{j}: real = acc{j} / real(ROWS){pg};");
        }
        if s.bias {
            let _ = writeln!(out, "{ind}let g{}: real = db_sum / real(ROWS);", l - 1);
        }
        out
    }

    /// Σ over the run's coordinates of `term(j)` (parameter order), as a WGSL expression.
    pub fn sum(&self, term: &dyn Fn(usize) -> String) -> String {
        let terms: Vec<String> = (0..self.n()).map(term).collect();
        format!("wg_sum_coordinates(array<real, {}>({}), lid)", self.n(), terms.join(", "))
    }

    /// The largest `term(j)` over the run's coordinates, given this thread's largest.
    pub fn max(&self, local: String) -> String {
        format!("wg_max({local}, lid)")
    }

    /// Whether every thread's `local` holds.
    pub fn all(&self, local: String) -> String {
        format!("wg_all({local}, lid)")
    }
}
