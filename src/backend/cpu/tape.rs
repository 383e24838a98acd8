//! The objective graph as a register tape for the CPU: one instruction per graph node, in the
//! order the WGSL generator emits its `let`s (see `kernel::eval_wgsl`).
//!
//! An objective over a data table has three instruction lists, one per [`Phase`] (see
//! `problem::expr::graph`): `instrs` once per point, `body` once per row with the row's columns
//! in the `data` registers, then the rows' means (`means`: a running sum over the rows divided
//! by their count, as the shader's loop) and `post` once after them.

use crate::problem::expr::{Func, Node, Objective, Phase, Rows};

#[derive(Debug, Clone, Copy)]
pub enum Op {
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    Neg(u32),
    Pow(u32, u32),
    Func(Func, u32),
    /// Binary operations with one constant operand, kept as a scalar (saves a vector load;
    /// same values, since the constant is the same number either way).
    AddC(u32, f64),
    SubC(u32, f64),
    CSub(f64, u32),
    MulC(u32, f64),
    DivC(u32, f64),
    CDiv(f64, u32),
    /// Superinstructions: single-use products folded into the sum that consumes them, so the
    /// product is never stored and reloaded. Each performs the same IEEE operations in the same
    /// tree shape as the nodes it replaces (a − b·k is a + b·(−k) exactly), so results are
    /// bit-identical to the unfused tape.
    /// a·ka + b·kb
    Lin2(u32, f64, u32, f64),
    /// (a·ka + b·kb) + c
    Lin2C(u32, f64, u32, f64, f64),
    /// a·ka + b
    MulCAdd(u32, f64, u32),
    /// a·b + c·d
    MulAdd2(u32, u32, u32, u32),
}

#[derive(Debug, Clone, Copy)]
pub struct Instr {
    pub out: u32,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub struct Tape {
    pub n_regs: usize,
    /// Registers holding constants, filled once.
    pub consts: Vec<(u32, f64)>,
    /// The register of each variable. It holds the coordinate itself (the CPU keeps x there);
    /// variables the objective does not read get registers past the schedule's.
    pub vars: Vec<u32>,
    /// Instructions that read x alone (all of them, without a data table).
    pub instrs: Vec<Instr>,
    /// Instructions evaluated once per row, after the row's columns are in the `data` registers.
    pub body: Vec<Instr>,
    /// (register, column) of every data column the body reads.
    pub data: Vec<(u32, u32)>,
    /// (register of the mean, register of the per-row value it averages).
    pub means: Vec<(u32, u32)>,
    /// Instructions that read the means, after the rows.
    pub post: Vec<Instr>,
    pub loss: u32,
    pub grad: Vec<u32>,
    /// The Hessian's upper triangle (see `Objective::hessian_upper`), where the tape has it.
    pub hess: Vec<u32>,
}

impl Tape {
    /// The tape of one step: loss and gradient, and with `hessian` the Hessian too.
    pub fn new(obj: &Objective, hessian: bool) -> Tape {
        Self::build(obj, true, hessian)
    }

    fn build(obj: &Objective, fuse: bool, hessian: bool) -> Tape {
        let roots = obj.step_roots(hessian);
        let schedule = obj.graph.schedule(&roots);
        let mut reg = vec![u32::MAX; obj.graph.nodes().len()];
        for (r, &id) in schedule.iter().enumerate() {
            reg[id as usize] = r as u32;
        }
        let mut consts = Vec::new();
        let mut vars = vec![None; obj.dim()];
        let (mut instrs, mut body, mut post) = (Vec::new(), Vec::new(), Vec::new());
        let (mut data, mut means) = (Vec::new(), Vec::new());
        for &id in &schedule {
            let out = reg[id as usize];
            let r = |c: u32| reg[c as usize];
            let k = |c: u32| obj.graph.as_const(c);
            let op = match obj.graph.node(id) {
                Node::Add(a, b) if k(a).is_some() => Op::AddC(r(b), k(a).unwrap_or_default()),
                Node::Add(a, b) if k(b).is_some() => Op::AddC(r(a), k(b).unwrap_or_default()),
                Node::Mul(a, b) if k(a).is_some() => Op::MulC(r(b), k(a).unwrap_or_default()),
                Node::Mul(a, b) if k(b).is_some() => Op::MulC(r(a), k(b).unwrap_or_default()),
                Node::Sub(a, b) if k(b).is_some() => Op::SubC(r(a), k(b).unwrap_or_default()),
                Node::Sub(a, b) if k(a).is_some() => Op::CSub(k(a).unwrap_or_default(), r(b)),
                Node::Div(a, b) if k(b).is_some() => Op::DivC(r(a), k(b).unwrap_or_default()),
                Node::Div(a, b) if k(a).is_some() => Op::CDiv(k(a).unwrap_or_default(), r(b)),
                Node::Const(c) => {
                    consts.push((out, c));
                    continue;
                }
                Node::Var(j) => {
                    vars[j as usize] = Some(out);
                    continue;
                }
                Node::Data(c) => {
                    data.push((out, c));
                    continue;
                }
                Node::RowMean(a) => {
                    means.push((out, r(a)));
                    continue;
                }
                Node::Add(a, b) => Op::Add(r(a), r(b)),
                Node::Sub(a, b) => Op::Sub(r(a), r(b)),
                Node::Mul(a, b) => Op::Mul(r(a), r(b)),
                Node::Div(a, b) => Op::Div(r(a), r(b)),
                Node::Neg(a) => Op::Neg(r(a)),
                Node::Pow(a, b) => Op::Pow(r(a), r(b)),
                Node::Func(f, a) => Op::Func(f, r(a)),
            };
            let list = match obj.graph.phase(id) {
                Phase::Point => &mut instrs,
                Phase::Row => &mut body,
                Phase::Reduced => &mut post,
            };
            list.push(Instr { out, op });
        }
        let mut n_regs = schedule.len();
        let vars = vars
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    n_regs += 1;
                    (n_regs - 1) as u32
                })
            })
            .collect();
        let mut tape = Tape {
            n_regs,
            consts,
            vars,
            instrs,
            body,
            data,
            means,
            post,
            loss: reg[obj.loss as usize],
            grad: obj.grad.iter().map(|g| reg[*g as usize]).collect(),
            hess: if hessian { obj.hessian_upper().iter().map(|h| reg[*h as usize]).collect() } else { Vec::new() },
        };
        if fuse {
            tape.fuse();
        }
        tape
    }

    /// The instructions of one phase: `instrs`, `body` or `post`.
    pub fn list(&self, phase: Phase) -> &[Instr] {
        match phase {
            Phase::Point => &self.instrs,
            Phase::Row => &self.body,
            Phase::Reduced => &self.post,
        }
    }

    /// The tape without superinstructions (tests check that fusion changes no bit).
    pub fn unfused(obj: &Objective) -> Tape {
        Self::build(obj, false, false)
    }

    /// Peephole pass: fold single-use products into the additions that consume them, within
    /// each phase's list (a product of another phase is computed in another loop).
    fn fuse(&mut self) {
        let mut uses = vec![0u32; self.n_regs];
        // Roots and the means' per-row values are read by the kernel: never fold them away.
        let read = self.means.iter().map(|m| m.1);
        for r in std::iter::once(self.loss).chain(self.grad.iter().copied()).chain(self.hess.iter().copied()).chain(read) {
            uses[r as usize] += 2;
        }
        for ins in self.instrs.iter().chain(&self.body).chain(&self.post) {
            for r in ins.op.inputs() {
                uses[r as usize] += 1;
            }
        }
        let n = self.n_regs;
        for list in [&mut self.instrs, &mut self.body, &mut self.post] {
            *list = fuse_list(list, &uses, n);
        }
    }

    /// Evaluate loss and gradient at one point in f64, over the data table where the tape reads
    /// one (tests).
    pub fn eval_f64(&self, x: &[f64], rows: Option<&Rows>) -> (f64, Vec<f64>) {
        let mut v = vec![0.0f64; self.n_regs];
        for &(r, c) in &self.consts {
            v[r as usize] = c;
        }
        for (j, r) in self.vars.iter().enumerate() {
            v[*r as usize] = x[j];
        }
        let rows = rows.filter(|_| !self.means.is_empty());
        exec_f64(&self.instrs, &mut v);
        if let Some(rows) = rows {
            let mut acc = vec![0.0f64; self.means.len()];
            for r in 0..rows.count() {
                for &(reg, c) in &self.data {
                    v[reg as usize] = rows.row(r)[c as usize];
                }
                exec_f64(&self.body, &mut v);
                for (a, &(_, arg)) in acc.iter_mut().zip(&self.means) {
                    *a += v[arg as usize];
                }
            }
            for (a, &(out, _)) in acc.iter().zip(&self.means) {
                v[out as usize] = a / rows.count() as f64;
            }
            exec_f64(&self.post, &mut v);
        }
        (v[self.loss as usize], self.grad.iter().map(|r| v[*r as usize]).collect())
    }
}

/// [`Tape::fuse`] on one list of instructions, with every register's use count.
fn fuse_list(instrs: &[Instr], uses: &[u32], n_regs: usize) -> Vec<Instr> {
    let mut def: Vec<Option<Op>> = vec![None; n_regs];
    for ins in instrs {
        def[ins.out as usize] = Some(ins.op);
    }
    let single = |r: u32| uses[r as usize] == 1;
    let mut dead = vec![false; n_regs];
    let mut out = Vec::with_capacity(instrs.len());
    for ins in instrs {
        let mulc = |r: u32| match def[r as usize] {
            Some(Op::MulC(a, k)) if single(r) => Some((a, k)),
            _ => None,
        };
        let mul = |r: u32| match def[r as usize] {
            Some(Op::Mul(a, b)) if single(r) => Some((a, b)),
            _ => None,
        };
        let fused = match ins.op {
            Op::Add(x, y) | Op::Sub(x, y) => {
                let sign = if matches!(ins.op, Op::Sub(..)) { -1.0 } else { 1.0 };
                match (mulc(x), mulc(y), mul(x), mul(y)) {
                    (Some((a, ka)), Some((b, kb)), _, _) => {
                        dead[x as usize] = true;
                        dead[y as usize] = true;
                        Op::Lin2(a, ka, b, sign * kb)
                    }
                    (_, _, Some((a, b)), Some((c, d))) if sign > 0.0 => {
                        dead[x as usize] = true;
                        dead[y as usize] = true;
                        Op::MulAdd2(a, b, c, d)
                    }
                    (Some((a, ka)), None, _, _) if sign > 0.0 => {
                        dead[x as usize] = true;
                        Op::MulCAdd(a, ka, y)
                    }
                    (None, Some((b, kb)), _, _) => {
                        dead[y as usize] = true;
                        Op::MulCAdd(b, sign * kb, x)
                    }
                    _ => ins.op,
                }
            }
            Op::AddC(x, c) | Op::SubC(x, c) => {
                let c = if matches!(ins.op, Op::SubC(..)) { -c } else { c };
                match def[x as usize] {
                    Some(Op::Lin2(a, ka, b, kb)) if single(x) => {
                        dead[x as usize] = true;
                        Op::Lin2C(a, ka, b, kb, c)
                    }
                    _ => ins.op,
                }
            }
            op => op,
        };
        def[ins.out as usize] = Some(fused);
        out.push(Instr { out: ins.out, op: fused });
    }
    out.retain(|ins| !dead[ins.out as usize]);
    out
}

/// Run `instrs` on f64 registers (tests).
fn exec_f64(instrs: &[Instr], v: &mut [f64]) {
    for ins in instrs {
        let g = |r: u32| v[r as usize];
        v[ins.out as usize] = match ins.op {
            Op::Add(a, b) => g(a) + g(b),
            Op::Sub(a, b) => g(a) - g(b),
            Op::Mul(a, b) => g(a) * g(b),
            Op::Div(a, b) => g(a) / g(b),
            Op::Neg(a) => -g(a),
            Op::Pow(a, b) => g(a).powf(g(b)),
            Op::Func(f, a) => f.eval_f64(g(a)),
            Op::AddC(a, c) => g(a) + c,
            Op::SubC(a, c) => g(a) - c,
            Op::CSub(c, a) => c - g(a),
            Op::MulC(a, c) => g(a) * c,
            Op::DivC(a, c) => g(a) / c,
            Op::CDiv(c, a) => c / g(a),
            Op::Lin2(a, ka, b, kb) => g(a) * ka + g(b) * kb,
            Op::Lin2C(a, ka, b, kb, c) => (g(a) * ka + g(b) * kb) + c,
            Op::MulCAdd(a, ka, b) => g(a) * ka + g(b),
            Op::MulAdd2(a, b, c, d) => g(a) * g(b) + g(c) * g(d),
        };
    }
}

/// Operations (weighted: see [`Op::weight`]) a register's value may stay live across before
/// the compiled code keeps it in the register file instead (see [`Tape::long_lived`]).
const LONG_LIVED: usize = 256;

impl Tape {
    /// The vector operations of one evaluation, about: [`Op::weight`] summed over the lists.
    pub fn operations(&self) -> usize {
        self.instrs.iter().chain(&self.body).chain(&self.post).map(|i| i.op.weight()).sum()
    }

    /// The registers whose values live across more than [`LONG_LIVED`] operations (the
    /// variables from the start): the compiled code stores them where they are made and loads
    /// them at each use. Kept as SSA values, hundreds of them (a sum of 200 `sin(i·x + j·y)·k`,
    /// whose gradient reads each argument again) made regalloc2 take seconds, superlinear in
    /// their number (7.3 s at 200 terms, 42 s at 400); they would have been spilled anyway.
    pub fn long_lived(&self) -> std::collections::HashSet<u32> {
        let (mut made, mut last) = (vec![None; self.n_regs], vec![0usize; self.n_regs]);
        for &r in &self.vars {
            made[r as usize] = Some(0);
        }
        let mut at = 0;
        for list in [&self.instrs, &self.body, &self.post] {
            for ins in list {
                at += ins.op.weight();
                for r in ins.op.inputs() {
                    last[r as usize] = at;
                }
                made[ins.out as usize] = Some(at);
            }
        }
        // The kernel reads its roots after all of them.
        for r in std::iter::once(self.loss).chain(self.grad.iter().copied()).chain(self.hess.iter().copied()) {
            last[r as usize] = at + 1;
        }
        // (the per-row values of the means stay values: the kernel's row loops sum them)
        let summed: Vec<u32> = self.means.iter().map(|m| m.1).collect();
        (0..self.n_regs as u32).filter(|r| made[*r as usize].is_some_and(|m| last[*r as usize] > m + LONG_LIVED) && !summed.contains(r)).collect()
    }
}

impl Op {
    /// About how many vector operations the compiled code makes of this one: an elementary
    /// function expands to about 40 (problem::elementary's description), `^` to a call.
    pub fn weight(&self) -> usize {
        match self {
            Op::Func(Func::Sqrt | Func::Abs, _) => 1,
            Op::Func(..) => 40,
            Op::Pow(..) => 20,
            _ => 1,
        }
    }

    /// The registers this operation reads.
    pub fn inputs(&self) -> Vec<u32> {
        match *self {
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Pow(a, b) => vec![a, b],
            Op::Neg(a) | Op::Func(_, a) | Op::AddC(a, _) | Op::SubC(a, _) | Op::MulC(a, _) | Op::DivC(a, _) => vec![a],
            Op::CSub(_, a) | Op::CDiv(_, a) => vec![a],
            Op::Lin2(a, _, b, _) | Op::Lin2C(a, _, b, _, _) | Op::MulCAdd(a, _, b) => vec![a, b],
            Op::MulAdd2(a, b, c, d) => vec![a, b, c, d],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::catalogue::CATALOGUE;

    #[test]
    fn fusion_is_bit_identical_and_shortens_least_squares() {
        let points = [[0.3, -1.7], [2.5, 0.25], [-3.1, 4.4], [1e-3, 7.0]];
        for e in CATALOGUE {
            let o = e.objective();
            let (f, u) = (Tape::new(&o, false), Tape::unfused(&o));
            assert!(f.instrs.len() <= u.instrs.len());
            for p in points {
                let x = &p[..o.dim()];
                let (a, b) = (f.eval_f64(x, None), u.eval_f64(x, None));
                assert_eq!(a.0.to_bits(), b.0.to_bits(), "{}: loss at {x:?}", e.name);
                for (ga, gb) in a.1.iter().zip(&b.1) {
                    assert_eq!(ga.to_bits(), gb.to_bits(), "{}: gradient at {x:?}", e.name);
                }
            }
        }
        let forum = crate::problem::catalogue::find("forum_lstsq").unwrap().objective();
        assert_eq!(Tape::new(&forum, false).instrs.len(), 5, "{:?}", Tape::new(&forum, false).instrs);
    }

    /// Over a data table, the tape's three phases give the graph's values, fused or not, bit
    /// for bit (the rows in order, each mean a running sum divided by the count).
    #[test]
    fn a_data_objective_loops_over_its_rows() {
        use crate::problem::data::Table;
        use crate::problem::model::{objective, LossKind, ModelKind, ModelSpec};
        let t = Table::inline(&[vec![1.0, -2.0], vec![2.5, 0.5], vec![-1.0, 3.0]], &[1.0, 0.0, 1.0], None).unwrap();
        for (model, loss) in [(ModelKind::Linear, LossKind::Huber { delta: 1.0 }), (ModelKind::Logistic, LossKind::Bce)] {
            let o = objective(&t, &ModelSpec { model, loss, l2: 0.1, bias: true, mlp: None });
            let (f, u) = (Tape::new(&o, false), Tape::unfused(&o));
            assert!(!f.body.is_empty() && f.means.len() == 1 + o.dim() && !f.post.is_empty());
            let x = [0.3, -0.7, 0.2];
            let (want_loss, want_grad) = (o.loss_f64(&x), o.grad_f64(&x));
            for tape in [&f, &u] {
                let (loss, grad) = tape.eval_f64(&x, o.rows.as_deref());
                assert_eq!(loss.to_bits(), want_loss.to_bits());
                for (a, b) in grad.iter().zip(&want_grad) {
                    assert_eq!(a.to_bits(), b.to_bits());
                }
            }
        }
    }
}
