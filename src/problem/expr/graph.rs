//! The expression graph: a hash-consed DAG in which every distinct subexpression exists once.
//!
//! Node ids are topological (children are created before parents), so evaluating nodes in id
//! order computes every shared subexpression exactly once. Both backends evaluate the graph in
//! that order: the WGSL generator emits one `let` per node, the CPU tape one instruction per node.
//!
//! Integer powers are lowered to multiplications when built (x^4 = (x·x)·(x·x)), so both
//! backends compute them with the same roundings; real powers stay `pow`.
//!
//! ## Sums over a data table
//! A model trained on data has the loss (1/m)·Σᵢ ℓ(x, rowᵢ). Its graph reads the current row's
//! columns as [`Node::Data`] leaves and averages a per-row subexpression over the rows with
//! [`Node::RowMean`]; the derivative of a mean is the mean of the derivatives, so the gradient
//! and Hessian are means too, and every node falls in one of three [`Phase`]s: it depends on x
//! alone (computed once per point), on the row (computed once per row, inside the loop), or on a
//! mean (computed after the loop). Both backends evaluate the phases in that order, the rows in
//! table order, each mean as a running sum divided by the row count.
//!
//! Lint note: simplifications test constants with explicit `==` guards rather than float
//! literal patterns, which read as structural matches but are comparisons.
#![allow(clippy::redundant_guards)]

use std::collections::HashMap;

pub type NodeId = u32;

pub use crate::problem::real::Func;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    Const(f64),
    Var(u32),
    Add(NodeId, NodeId),
    Sub(NodeId, NodeId),
    Mul(NodeId, NodeId),
    Div(NodeId, NodeId),
    Neg(NodeId),
    /// Real power a^b (integer powers never reach here: they are multiplications).
    Pow(NodeId, NodeId),
    Func(Func, NodeId),
    /// Column `c` of the current row of the data table.
    Data(u32),
    /// The mean over the table's rows (or a mini-batch's) of a per-row subexpression.
    RowMean(NodeId),
}

/// When a node can be computed (see the module docs): from x alone, per row of the data, or
/// after the rows' means. A node's phase is the latest of its children's; `Data` is `Row` and
/// `RowMean` is `Reduced`. No node reads both a row and a mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Point,
    Row,
    Reduced,
}

/// A data table as the kernels read it: row-major reals, `cols` per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub values: Vec<f64>,
    pub cols: usize,
}

impl Rows {
    pub fn count(&self) -> usize {
        self.values.len() / self.cols.max(1)
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Var(u32),
    Add(NodeId, NodeId),
    Sub(NodeId, NodeId),
    Mul(NodeId, NodeId),
    Div(NodeId, NodeId),
    Neg(NodeId),
    Pow(NodeId, NodeId),
    Func(Func, NodeId),
    Data(u32),
    RowMean(NodeId),
}

impl Node {
    fn key(&self) -> Key {
        match *self {
            Node::Const(c) => Key::Const(c.to_bits()),
            Node::Var(v) => Key::Var(v),
            Node::Add(a, b) => Key::Add(a, b),
            Node::Sub(a, b) => Key::Sub(a, b),
            Node::Mul(a, b) => Key::Mul(a, b),
            Node::Div(a, b) => Key::Div(a, b),
            Node::Neg(a) => Key::Neg(a),
            Node::Pow(a, b) => Key::Pow(a, b),
            Node::Func(f, a) => Key::Func(f, a),
            Node::Data(c) => Key::Data(c),
            Node::RowMean(a) => Key::RowMean(a),
        }
    }

    /// The children of this node, in order.
    pub fn children(&self) -> impl Iterator<Item = NodeId> {
        let (a, b) = match *self {
            Node::Const(_) | Node::Var(_) | Node::Data(_) => (None, None),
            Node::Neg(a) | Node::Func(_, a) | Node::RowMean(a) => (Some(a), None),
            Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) | Node::Pow(a, b) => {
                (Some(a), Some(b))
            }
        };
        a.into_iter().chain(b)
    }
}

/// A hash-consed expression DAG over `n_vars` variables.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Key, NodeId>,
    phase: Vec<Phase>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The nodes in words, in order: two graphs with the same fingerprint compute the same
    /// functions (the index is derived from the nodes, and a HashMap's order is not stable).
    pub fn fingerprint(&self) -> String {
        format!("{:?}", self.nodes)
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> Node {
        self.nodes[id as usize]
    }

    fn intern(&mut self, n: Node) -> NodeId {
        let key = n.key();
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = self.nodes.len() as NodeId;
        let phase = match n {
            Node::Data(_) => Phase::Row,
            Node::RowMean(a) => {
                assert_eq!(self.phase(a), Phase::Row, "a row mean averages a per-row expression");
                Phase::Reduced
            }
            _ => {
                let p = n.children().map(|c| self.phase(c)).max().unwrap_or(Phase::Point);
                assert!(
                    !(n.children().any(|c| self.phase(c) == Phase::Row) && p == Phase::Reduced),
                    "a node reads both a row and a mean over the rows"
                );
                p
            }
        };
        self.nodes.push(n);
        self.phase.push(phase);
        self.index.insert(key, id);
        id
    }

    /// When node `id` can be computed (see [`Phase`]).
    pub fn phase(&self, id: NodeId) -> Phase {
        self.phase[id as usize]
    }

    /// Whether the graph reads a data table.
    pub fn has_rows(&self) -> bool {
        self.phase.iter().any(|&p| p != Phase::Point)
    }

    /// Column `c` of the current row.
    pub fn data(&mut self, c: u32) -> NodeId {
        self.intern(Node::Data(c))
    }

    /// The mean over the rows of `a`; an `a` that does not read the row is its own mean.
    pub fn row_mean(&mut self, a: NodeId) -> NodeId {
        match self.phase(a) {
            Phase::Point => a,
            _ => self.intern(Node::RowMean(a)),
        }
    }

    /// Whether node `id` depends on the variables (a Hessian entry that does not is the same
    /// at every point).
    pub fn reads_vars(&self, id: NodeId) -> bool {
        self.schedule(&[id]).iter().any(|&n| matches!(self.node(n), Node::Var(_)))
    }

    pub fn constant(&mut self, c: f64) -> NodeId {
        // -0.0 and 0.0 behave the same in every simplification below; keep one.
        let c = if c == 0.0 { 0.0 } else { c };
        self.intern(Node::Const(c))
    }

    pub fn var(&mut self, i: u32) -> NodeId {
        self.intern(Node::Var(i))
    }

    pub fn as_const(&self, id: NodeId) -> Option<f64> {
        match self.node(id) {
            Node::Const(c) => Some(c),
            _ => None,
        }
    }

    fn is_const(&self, id: NodeId, v: f64) -> bool {
        self.as_const(id) == Some(v)
    }

    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        match (self.as_const(a), self.as_const(b)) {
            (Some(x), Some(y)) => return self.constant(x + y),
            (Some(x), None) if x == 0.0 => return b,
            (None, Some(y)) if y == 0.0 => return a,
            _ => {}
        }
        if a == b {
            let two = self.constant(2.0);
            return self.mul(two, a);
        }
        if let Node::Neg(nb) = self.node(b) {
            return self.sub(a, nb);
        }
        if let Node::Neg(na) = self.node(a) {
            return self.sub(b, na);
        }
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        self.intern(Node::Add(a, b))
    }

    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        match (self.as_const(a), self.as_const(b)) {
            (Some(x), Some(y)) => return self.constant(x - y),
            (Some(x), None) if x == 0.0 => return self.neg(b),
            (None, Some(y)) if y == 0.0 => return a,
            _ => {}
        }
        if a == b {
            return self.constant(0.0);
        }
        if let Node::Neg(nb) = self.node(b) {
            return self.add(a, nb);
        }
        self.intern(Node::Sub(a, b))
    }

    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        // Constants first, so c1·(c2·u) folds to (c1·c2)·u.
        let (a, b) = if self.as_const(b).is_some() && self.as_const(a).is_none() { (b, a) } else { (a, b) };
        match (self.as_const(a), self.as_const(b)) {
            (Some(x), Some(y)) => return self.constant(x * y),
            (Some(x), None) if x == 0.0 => return a,
            (Some(x), None) if x == 1.0 => return b,
            (Some(x), None) if x == -1.0 => return self.neg(b),
            (Some(x), None) => {
                if let Node::Mul(c, u) = self.node(b) {
                    if let Some(y) = self.as_const(c) {
                        let k = self.constant(x * y);
                        return self.mul(k, u);
                    }
                }
                if let Node::Neg(u) = self.node(b) {
                    let k = self.constant(-x);
                    return self.mul(k, u);
                }
                return self.intern(Node::Mul(a, b));
            }
            _ => {}
        }
        if let Node::Neg(na) = self.node(a) {
            let m = self.mul(na, b);
            return self.neg(m);
        }
        if let Node::Neg(nb) = self.node(b) {
            let m = self.mul(a, nb);
            return self.neg(m);
        }
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        self.intern(Node::Mul(a, b))
    }

    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        match (self.as_const(a), self.as_const(b)) {
            (Some(x), Some(y)) if y != 0.0 => return self.constant(x / y),
            (Some(x), _) if x == 0.0 => return a,
            (None, Some(y)) if y == 1.0 => return a,
            (None, Some(y)) if y == -1.0 => return self.neg(a),
            _ => {}
        }
        if a == b {
            return self.constant(1.0);
        }
        self.intern(Node::Div(a, b))
    }

    pub fn neg(&mut self, a: NodeId) -> NodeId {
        match self.node(a) {
            Node::Const(c) => self.constant(-c),
            Node::Neg(u) => u,
            Node::Sub(x, y) => self.sub(y, x),
            _ => self.intern(Node::Neg(a)),
        }
    }

    pub fn func(&mut self, f: Func, a: NodeId) -> NodeId {
        if let Some(c) = self.as_const(a) {
            return self.constant(f.eval_f64(c));
        }
        // log(1 + exp(u)) is softplus(u), whose form stays accurate where exp(u) is below the
        // precision of 1 (in f32, log(1 + exp(-20)) is 0; softplus(-20) is 2.06e-9).
        if f == Func::Log {
            if let Node::Add(p, q) = self.node(a) {
                let e = match (self.as_const(p), self.as_const(q)) {
                    (Some(c), None) if c == 1.0 => Some(q),
                    (None, Some(c)) if c == 1.0 => Some(p),
                    _ => None,
                };
                if let Some(Node::Func(Func::Exp, u)) = e.map(|e| self.node(e)) {
                    return self.func(Func::Softplus, u);
                }
            }
        }
        self.intern(Node::Func(f, a))
    }

    /// a^n for an integer n, as multiplications (binary powering, high bit first).
    pub fn powi(&mut self, a: NodeId, n: i64) -> NodeId {
        if n < 0 {
            let one = self.constant(1.0);
            let p = self.powi(a, -n);
            return self.div(one, p);
        }
        if n == 0 {
            return self.constant(1.0);
        }
        if let Some(c) = self.as_const(a) {
            return self.constant(c.powi(n as i32));
        }
        let mut acc = a;
        for bit in (0..(63 - n.leading_zeros())).rev() {
            acc = self.mul(acc, acc);
            if n & (1 << bit) != 0 {
                acc = self.mul(acc, a);
            }
        }
        acc
    }

    /// a^b: integer constant exponents (|b| ≤ 64) become multiplications, others `pow`.
    pub fn pow(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if let Some(e) = self.as_const(b) {
            if e.fract() == 0.0 && e.abs() <= 64.0 {
                return self.powi(a, e as i64);
            }
            if e == 0.5 {
                return self.func(Func::Sqrt, a);
            }
        }
        if let (Some(x), Some(y)) = (self.as_const(a), self.as_const(b)) {
            return self.constant(x.powf(y));
        }
        self.intern(Node::Pow(a, b))
    }

    /// d(root)/d(var), built in this graph (memoised per call).
    pub fn derivative(&mut self, root: NodeId, var: u32) -> NodeId {
        let mut memo: HashMap<NodeId, NodeId> = HashMap::new();
        self.diff(root, var, &mut memo)
    }

    fn diff(&mut self, id: NodeId, var: u32, memo: &mut HashMap<NodeId, NodeId>) -> NodeId {
        if let Some(&d) = memo.get(&id) {
            return d;
        }
        let d = match self.node(id) {
            Node::Const(_) | Node::Data(_) => self.constant(0.0),
            Node::Var(v) => self.constant(if v == var { 1.0 } else { 0.0 }),
            Node::RowMean(a) => {
                let da = self.diff(a, var, memo);
                self.row_mean(da)
            }
            Node::Add(a, b) => {
                let (da, db) = (self.diff(a, var, memo), self.diff(b, var, memo));
                self.add(da, db)
            }
            Node::Sub(a, b) => {
                let (da, db) = (self.diff(a, var, memo), self.diff(b, var, memo));
                self.sub(da, db)
            }
            Node::Mul(a, b) => {
                let (da, db) = (self.diff(a, var, memo), self.diff(b, var, memo));
                let l = self.mul(da, b);
                let r = self.mul(a, db);
                self.add(l, r)
            }
            Node::Div(a, b) => {
                // (a/b)' = a'/b - (a/b)·b'/b
                let (da, db) = (self.diff(a, var, memo), self.diff(b, var, memo));
                let l = self.div(da, b);
                let q = self.mul(id, db);
                let r = self.div(q, b);
                self.sub(l, r)
            }
            Node::Neg(a) => {
                let da = self.diff(a, var, memo);
                self.neg(da)
            }
            Node::Pow(a, b) => {
                let (da, db) = (self.diff(a, var, memo), self.diff(b, var, memo));
                if let Some(e) = self.as_const(b) {
                    // (a^e)' = e·a^(e-1)·a'
                    let em1 = self.constant(e - 1.0);
                    let p = self.pow(a, em1);
                    let k = self.constant(e);
                    let kp = self.mul(k, p);
                    self.mul(kp, da)
                } else {
                    // (a^b)' = a^b·(b'·log a + b·a'/a)
                    let ln = self.func(Func::Log, a);
                    let t1 = self.mul(db, ln);
                    let ba = self.mul(b, da);
                    let t2 = self.div(ba, a);
                    let s = self.add(t1, t2);
                    self.mul(id, s)
                }
            }
            Node::Func(f, a) => {
                let da = self.diff(a, var, memo);
                if self.is_const(da, 0.0) {
                    da
                } else {
                    let outer = self.func_derivative(f, id, a);
                    self.mul(outer, da)
                }
            }
        };
        memo.insert(id, d);
        d
    }

    /// f'(a) for the node `fa = f(a)`, reusing `fa` where the derivative is written with it.
    fn func_derivative(&mut self, f: Func, fa: NodeId, a: NodeId) -> NodeId {
        let one = self.constant(1.0);
        match f {
            Func::Sin => self.func(Func::Cos, a),
            Func::Cos => {
                let s = self.func(Func::Sin, a);
                self.neg(s)
            }
            Func::Tan => {
                let t2 = self.mul(fa, fa);
                self.add(one, t2)
            }
            Func::Exp => fa,
            Func::Log => self.div(one, a),
            Func::Sqrt => {
                let two = self.constant(2.0);
                let d = self.mul(two, fa);
                self.div(one, d)
            }
            Func::Abs => self.func(Func::Sign, a),
            Func::Tanh => {
                let t2 = self.mul(fa, fa);
                self.sub(one, t2)
            }
            // σ'(a) = σ(a)·σ(−a): both factors accurate where 1 − σ(a) would cancel (a ≫ 0).
            Func::Sigmoid => {
                let na = self.neg(a);
                let c = self.func(Func::Sigmoid, na);
                self.mul(fa, c)
            }
            Func::Softplus => self.func(Func::Sigmoid, a),
            Func::Sign => self.constant(0.0),
        }
    }

    /// Evaluate the given roots at `x` in f64 (every node in id order, each once). Panics on a
    /// graph that reads a data table: use [`Graph::eval_rows_f64`].
    pub fn eval_f64(&self, roots: &[NodeId], x: &[f64]) -> Vec<f64> {
        self.eval_rows_f64(roots, x, None)
    }

    /// Evaluate the given roots at `x` in f64 over the data table `rows`: the phases in order
    /// (see the module docs), each node once per point or once per row.
    pub fn eval_rows_f64(&self, roots: &[NodeId], x: &[f64], rows: Option<&Rows>) -> Vec<f64> {
        let max = roots.iter().copied().max().map_or(0, |m| m as usize + 1);
        let mut v = vec![0.0f64; max];
        let mut sums: Vec<(usize, usize)> = Vec::new();
        let step = |v: &mut Vec<f64>, i: usize, n: &Node, row: Option<&[f64]>| v[i] = eval_node(n, v, i, x, row);
        for (i, n) in self.nodes[..max].iter().enumerate() {
            if self.phase[i] == Phase::Point {
                step(&mut v, i, n, None);
            } else if let Node::RowMean(a) = *n {
                sums.push((i, a as usize));
            }
        }
        if !sums.is_empty() {
            let rows = rows.expect("the objective reads a data table");
            let mut acc = vec![0.0f64; sums.len()];
            for r in 0..rows.count() {
                for (i, n) in self.nodes[..max].iter().enumerate() {
                    if self.phase[i] == Phase::Row {
                        step(&mut v, i, n, Some(rows.row(r)));
                    }
                }
                for (a, &(_, arg)) in acc.iter_mut().zip(&sums) {
                    *a += v[arg];
                }
            }
            for (a, &(i, _)) in acc.iter().zip(&sums) {
                v[i] = a / rows.count() as f64;
            }
            for (i, n) in self.nodes[..max].iter().enumerate() {
                if self.phase[i] == Phase::Reduced && !matches!(n, Node::RowMean(_)) {
                    step(&mut v, i, n, None);
                }
            }
        }
        roots.iter().map(|&r| v[r as usize]).collect()
    }

    /// Evaluate the given roots at `x` for one row of data: every node in id order, each once,
    /// as one row's share of a sum over the table (a graph with a mean over the rows is refused).
    pub fn eval_at_row_f64(&self, roots: &[NodeId], x: &[f64], row: &[f64]) -> Vec<f64> {
        let max = roots.iter().copied().max().map_or(0, |m| m as usize + 1);
        let mut v = vec![0.0f64; max];
        for (i, n) in self.nodes[..max].iter().enumerate() {
            assert!(!matches!(n, Node::RowMean(_)), "a per-row graph has no mean over the rows");
            v[i] = eval_node(n, &v, i, x, Some(row));
        }
        roots.iter().map(|&r| v[r as usize]).collect()
    }

    /// `root`'s expression rebuilt in a new graph with every leaf replaced: `Var(j)` by
    /// `var(j)`, `Data(c)` by `data(c)` (each a node of the new graph, made by the callbacks),
    /// and a mean over the rows by its argument (a table of one row). The builders fold what
    /// becomes constant.
    pub fn substitute(&self, root: NodeId, var: impl Fn(&mut Graph, u32) -> NodeId, data: impl Fn(&mut Graph, u32) -> NodeId) -> (Graph, NodeId) {
        let mut g = Graph::new();
        let r = g.import(self, &[root], var, data, false)[0];
        (g, r)
    }

    /// `roots` of `src` rebuilt in this graph, node by node with this graph's builders, every
    /// leaf replaced as in [`Graph::substitute`]; a mean over the rows stays a mean with
    /// `keep_means`, else becomes its argument. A graph built by the same builders comes out
    /// with the same operations, so it computes the same values in every precision.
    pub fn import(&mut self, src: &Graph, roots: &[NodeId], var: impl Fn(&mut Graph, u32) -> NodeId, data: impl Fn(&mut Graph, u32) -> NodeId, keep_means: bool) -> Vec<NodeId> {
        let mut map: HashMap<NodeId, NodeId> = HashMap::new();
        for id in src.schedule(roots) {
            let m = |c: NodeId| map[&c];
            let new = match src.node(id) {
                Node::Const(c) => self.constant(c),
                Node::Var(j) => var(self, j),
                Node::Data(c) => data(self, c),
                Node::RowMean(a) if keep_means => self.row_mean(m(a)),
                Node::RowMean(a) => m(a),
                Node::Add(a, b) => self.add(m(a), m(b)),
                Node::Sub(a, b) => self.sub(m(a), m(b)),
                Node::Mul(a, b) => self.mul(m(a), m(b)),
                Node::Div(a, b) => self.div(m(a), m(b)),
                Node::Neg(a) => self.neg(m(a)),
                Node::Pow(a, b) => self.pow(m(a), m(b)),
                Node::Func(f, a) => self.func(f, m(a)),
            };
            map.insert(id, new);
        }
        roots.iter().map(|r| map[r]).collect()
    }

    /// The nodes reachable from `roots`, in id (topological) order.
    pub fn schedule(&self, roots: &[NodeId]) -> Vec<NodeId> {
        let mut live = vec![false; self.nodes.len()];
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut live[id as usize], true) {
                continue;
            }
            stack.extend(self.node(id).children());
        }
        (0..self.nodes.len() as NodeId).filter(|&i| live[i as usize]).collect()
    }
}

/// One node's value in f64 from its children's in `v` (a mean over the rows keeps `v[i]`, set
/// by the caller), the variables `x` and the row being read.
fn eval_node(n: &Node, v: &[f64], i: usize, x: &[f64], row: Option<&[f64]>) -> f64 {
    match *n {
        Node::Const(c) => c,
        Node::Var(k) => x[k as usize],
        Node::Add(a, b) => v[a as usize] + v[b as usize],
        Node::Sub(a, b) => v[a as usize] - v[b as usize],
        Node::Mul(a, b) => v[a as usize] * v[b as usize],
        Node::Div(a, b) => v[a as usize] / v[b as usize],
        Node::Neg(a) => -v[a as usize],
        Node::Pow(a, b) => v[a as usize].powf(v[b as usize]),
        Node::Func(f, a) => f.eval_f64(v[a as usize]),
        Node::Data(c) => row.expect("a row is being read")[c as usize],
        Node::RowMean(_) => v[i],
    }
}
