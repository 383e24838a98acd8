//! The objective graph as a register tape for the CPU: one instruction per graph node, in the
//! order the WGSL generator emits its `let`s (see `codegen::eval_wgsl`).

use crate::expr::{Func, Node, Objective};

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
    /// The register of each variable, where the objective uses it.
    pub vars: Vec<Option<u32>>,
    pub instrs: Vec<Instr>,
    pub loss: u32,
    pub grad: Vec<u32>,
}

impl Tape {
    pub fn new(obj: &Objective) -> Tape {
        let roots = obj.step_roots();
        let schedule = obj.graph.schedule(&roots);
        let mut reg = vec![u32::MAX; obj.graph.nodes().len()];
        for (r, &id) in schedule.iter().enumerate() {
            reg[id as usize] = r as u32;
        }
        let mut consts = Vec::new();
        let mut vars = vec![None; obj.dim()];
        let mut instrs = Vec::new();
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
                Node::Add(a, b) => Op::Add(r(a), r(b)),
                Node::Sub(a, b) => Op::Sub(r(a), r(b)),
                Node::Mul(a, b) => Op::Mul(r(a), r(b)),
                Node::Div(a, b) => Op::Div(r(a), r(b)),
                Node::Neg(a) => Op::Neg(r(a)),
                Node::Pow(a, b) => Op::Pow(r(a), r(b)),
                Node::Func(f, a) => Op::Func(f, r(a)),
            };
            instrs.push(Instr { out, op });
        }
        Tape {
            n_regs: schedule.len(),
            consts,
            vars,
            instrs,
            loss: reg[obj.loss as usize],
            grad: obj.grad.iter().map(|g| reg[*g as usize]).collect(),
        }
    }
}
