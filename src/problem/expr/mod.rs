//! Objectives as expressions: parsing, the expression graph, symbolic gradient and Hessian.
//!
//! One representation serves every objective kind: `expr`, the built-in catalogue,
//! `least_squares` (f = Σᵢ(Σⱼ aᵢⱼxⱼ − bᵢ)²) and `quadratic` (f = ½xᵀHx + gᵀx) all become an
//! [`Objective`]: a [`Graph`] with the loss, its exact gradient and its Hessian as nodes. The
//! GPU code generator and the CPU tape both read that graph, so the two backends compute the
//! same formulas in the same order.
//!
//! A later objective that sums over a data table (regression on a CSV) fits the same mould:
//! its loss is a sum of per-row subgraphs whose constants come from the table.

pub mod graph;
pub mod parse;

pub use graph::{Func, Graph, Node, NodeId, Phase, Rows};
use parse::{Ast, BinOp};
use crate::problem::linalg::{point_kind, solve, symmetric_eigen, symmetric_eigenvalues};

/// An error in an expression, with the 1-based column where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl ExprError {
    pub fn new(column: usize, message: impl Into<String>) -> Self {
        Self { column, message: message.into() }
    }
}

/// A differentiable objective: loss, gradient and Hessian as nodes of one graph.
#[derive(Debug, Clone)]
pub struct Objective {
    pub vars: Vec<String>,
    pub graph: Graph,
    pub loss: NodeId,
    pub grad: Vec<NodeId>,
    /// Full symmetric matrix of nodes (`hessian[i][j]` and `hessian[j][i]` are the same node).
    pub hessian: Vec<Vec<NodeId>>,
    /// Human-readable formula, as the user wrote it or as the catalogue states it.
    pub formula: String,
    /// The data table the graph's [`Node::Data`] leaves read, for a model trained on data.
    pub rows: Option<std::sync::Arc<Rows>>,
    /// The model trained on `rows`, where the objective is one (see problem::model).
    pub model: Option<crate::problem::model::ModelSpec>,
}

const CONSTANTS: [(&str, f64); 1] = [("pi", std::f64::consts::PI)];

fn names_in(ast: &Ast, out: &mut Vec<String>) {
    match ast {
        Ast::Num(_) => {}
        Ast::Var(n, _) => {
            if !CONSTANTS.iter().any(|(c, _)| c == n) && !out.contains(n) {
                out.push(n.clone());
            }
        }
        Ast::Neg(a) | Ast::Call(_, _, a) => names_in(a, out),
        Ast::Bin(_, a, b) => {
            names_in(a, out);
            names_in(b, out);
        }
    }
}

fn lower(g: &mut Graph, ast: &Ast, vars: &[String]) -> Result<NodeId, ExprError> {
    Ok(match ast {
        Ast::Num(v) => g.constant(*v),
        Ast::Var(name, col) => {
            if let Some(i) = vars.iter().position(|v| v == name) {
                g.var(i as u32)
            } else if let Some((_, c)) = CONSTANTS.iter().find(|(c, _)| c == name) {
                g.constant(*c)
            } else if Func::from_name(name).is_some() {
                return Err(ExprError::new(*col, format!("'{name}' is a function: write {name}(...)")));
            } else {
                return Err(ExprError::new(
                    *col,
                    format!("unknown variable '{name}' (variables: {}; constants: pi)", vars.join(", ")),
                ));
            }
        }
        Ast::Neg(a) => {
            let a = lower(g, a, vars)?;
            g.neg(a)
        }
        Ast::Bin(op, a, b) => {
            let (a, b) = (lower(g, a, vars)?, lower(g, b, vars)?);
            match op {
                BinOp::Add => g.add(a, b),
                BinOp::Sub => g.sub(a, b),
                BinOp::Mul => g.mul(a, b),
                BinOp::Div => g.div(a, b),
                BinOp::Pow => g.pow(a, b),
            }
        }
        Ast::Call(name, col, a) => {
            let f = Func::from_name(name).ok_or_else(|| {
                let allowed: Vec<&str> = Func::USER.iter().map(|(n, _)| *n).collect();
                ExprError::new(*col, format!("unknown function '{name}' (allowed: {})", allowed.join(", ")))
            })?;
            let a = lower(g, a, vars)?;
            g.func(f, a)
        }
    })
}

/// The most variables whose symbolic Hessian is built: beyond, a network's n² second
/// derivatives would outweigh everything else, and what reads the Hessian says it cannot tell
/// (no sharpness, critical points `unknown`, no Newton).
pub const HESSIAN_MAX_DIM: usize = 32;

/// How much (relative) a Hessian eigenvalue may change over the Newton step for the point's
/// kind to be trusted (see [`Objective::critical_point`]).
pub const NEWTON_EIGEN_CHANGE: f64 = 0.1;

/// A Hessian eigenvalue no larger than FLAT_SLOPE·‖∇f‖/max(1, ‖x‖∞) counts as flat: a run that
/// stopped a distance δ across a valley of minima sees its flat eigenvalues moved by about
/// δ times the third derivatives, and its gradient is about δ times the curved eigenvalues
/// (½(1 − xy)²: flat eigenvalue ≈ 2(1 − xy)/(x² + y²), ‖∇f‖ = |1 − xy|·‖x‖).
pub const FLAT_SLOPE: f64 = 10.0;

/// The most of the gradient that may point along the flat directions at a point of a valley of
/// minima (across the valley the gradient is the curvature times the offset; along it, 0).
pub const FLAT_GRADIENT_SHARE: f64 = 1e-3;

/// How far (relative to max(1, ‖x‖∞)) a valley's floor is probed along each flat direction.
pub const FLAT_PROBE: f64 = 1e-3;

impl Objective {
    /// Parse `src`. `vars` fixes the variable order; without it, names are taken in order of
    /// first appearance.
    pub fn from_expr(src: &str, vars: Option<&[String]>) -> Result<Objective, ExprError> {
        let ast = parse::parse(src)?;
        let vars: Vec<String> = match vars {
            Some(v) => v.to_vec(),
            None => {
                let mut v = Vec::new();
                names_in(&ast, &mut v);
                v
            }
        };
        if vars.is_empty() {
            return Err(ExprError::new(1, "the expression has no variables"));
        }
        let mut g = Graph::new();
        let loss = lower(&mut g, &ast, &vars)?;
        Ok(Self::with_derivatives(g, loss, vars, src.to_string()))
    }

    /// Default variable names for an n-dimensional matrix objective: x, y, z, w, then x1..xn.
    pub fn default_vars(n: usize) -> Vec<String> {
        if n <= 4 {
            ["x", "y", "z", "w"][..n].iter().map(|s| s.to_string()).collect()
        } else {
            (1..=n).map(|i| format!("x{i}")).collect()
        }
    }

    /// f(x) = ||Ax − b||² = Σᵢ (Σⱼ aᵢⱼ xⱼ − bᵢ)². Shapes must already be checked.
    pub fn least_squares(a: &[Vec<f64>], b: &[f64], vars: Vec<String>) -> Objective {
        let mut g = Graph::new();
        let mut loss = g.constant(0.0);
        for (row, &bi) in a.iter().zip(b) {
            let mut r = g.constant(0.0);
            for (j, &aij) in row.iter().enumerate() {
                let (c, x) = (g.constant(aij), g.var(j as u32));
                let t = g.mul(c, x);
                r = g.add(r, t);
            }
            let bc = g.constant(bi);
            r = g.sub(r, bc);
            let sq = g.mul(r, r);
            loss = g.add(loss, sq);
        }
        let formula = format!("||A x - b||^2, A = {a:?}, b = {b:?}");
        Self::with_derivatives(g, loss, vars, formula)
    }

    /// f(x) = ½ xᵀHx + gᵀx. Shapes must already be checked.
    pub fn quadratic(h: &[Vec<f64>], lin: &[f64], vars: Vec<String>) -> Objective {
        let mut g = Graph::new();
        let mut loss = g.constant(0.0);
        for (i, row) in h.iter().enumerate() {
            for (j, &hij) in row.iter().enumerate() {
                let (c, xi, xj) = (g.constant(0.5 * hij), g.var(i as u32), g.var(j as u32));
                let xx = g.mul(xi, xj);
                let t = g.mul(c, xx);
                loss = g.add(loss, t);
            }
        }
        for (i, &gi) in lin.iter().enumerate() {
            let (c, x) = (g.constant(gi), g.var(i as u32));
            let t = g.mul(c, x);
            loss = g.add(loss, t);
        }
        let formula = format!("0.5 x^T H x + g^T x, H = {h:?}, g = {lin:?}");
        Self::with_derivatives(g, loss, vars, formula)
    }

    /// The objective `loss` of `graph` with its symbolic gradient and Hessian; `rows` is the
    /// data table where the graph reads one.
    pub fn with_derivatives(mut graph: Graph, loss: NodeId, vars: Vec<String>, formula: String) -> Objective {
        let n = vars.len();
        let grad: Vec<NodeId> = (0..n).map(|i| graph.derivative(loss, i as u32)).collect();
        if n > HESSIAN_MAX_DIM {
            return Objective { vars, graph, loss, grad, hessian: Vec::new(), formula, rows: None, model: None };
        }
        let mut hessian = vec![vec![0; n]; n];
        for i in 0..n {
            for j in i..n {
                let h = graph.derivative(grad[i], j as u32);
                hessian[i][j] = h;
                hessian[j][i] = h;
            }
        }
        Objective { vars, graph, loss, grad, hessian, formula, rows: None, model: None }
    }

    pub fn dim(&self) -> usize {
        self.vars.len()
    }

    /// Whether the symbolic Hessian exists (at most [`HESSIAN_MAX_DIM`] variables).
    pub fn has_hessian(&self) -> bool {
        self.hessian.len() == self.dim()
    }

    /// The given nodes at x in f64, over the data table where there is one.
    pub fn eval_f64(&self, roots: &[NodeId], x: &[f64]) -> Vec<f64> {
        self.graph.eval_rows_f64(roots, x, self.rows.as_deref())
    }

    pub fn loss_f64(&self, x: &[f64]) -> f64 {
        self.eval_f64(&[self.loss], x)[0]
    }

    pub fn grad_f64(&self, x: &[f64]) -> Vec<f64> {
        self.eval_f64(&self.grad, x)
    }

    pub fn hessian_f64(&self, x: &[f64]) -> Vec<Vec<f64>> {
        if !self.has_hessian() {
            return Vec::new();
        }
        let upper = self.eval_f64(&self.hessian_upper(), x);
        let d = self.dim();
        let mut h = vec![vec![0.0; d]; d];
        let mut k = 0;
        for i in 0..d {
            for j in i..d {
                h[i][j] = upper[k];
                h[j][i] = upper[k];
                k += 1;
            }
        }
        h
    }

    /// What the point x is (see [`point_kind`]), with the Hessian's eigenvalues there
    /// (ascending), all in f64. A kind is given only where the Hessian H can be trusted to
    /// describe the critical point the run was heading for: H at x and at the Newton point
    /// x − H⁻¹∇f(x) must have eigenvalues of the same signs, each within
    /// [`NEWTON_EIGEN_CHANGE`] of its value at x. Otherwise x is `not_critical`: the
    /// gradient is not small against how fast H changes (a degenerate critical point further
    /// on, as for x³ or x⁴ at their converged points, or none at all, as for softplus).
    ///
    /// A Hessian with flat directions (eigenvalues of about 0, or no larger than the gradient
    /// could leave there: [`FLAT_SLOPE`]·‖∇f‖/max(1, ‖x‖∞)) is judged on its curved directions
    /// alone: x is `valley` (a point of a valley of minima, as ½(1 − xy)²'s xy = 1) where every
    /// curved eigenvalue is positive, the gradient lies in the curved directions (its flat part
    /// at most [`FLAT_GRADIENT_SHARE`] of it: along a valley floor the loss does not change)
    /// the Newton step within them keeps those eigenvalues as above, and the loss does not fall
    /// along any flat direction from there ([`FLAT_PROBE`] either way); else `degenerate`.
    pub fn critical_point(&self, x: &[f64]) -> (&'static str, Vec<f64>) {
        if !self.has_hessian() {
            return ("unknown", Vec::new());
        }
        let h = self.hessian_f64(x);
        let (ev, vectors) = symmetric_eigen(h.clone());
        let g = self.grad_f64(x);
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let scale = x.iter().fold(1f64, |m, v| m.max(v.abs()));
        let flat = FLAT_SLOPE * norm(&g) / scale;
        let kind = point_kind(&ev);
        if kind == "degenerate" || ev.iter().any(|l| l.abs() <= flat) {
            return (self.valley(x, &g, &ev, &vectors, flat), ev);
        }
        let Some(d) = solve(h, g) else { return ("degenerate", ev) };
        let newton: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a - b).collect();
        let ev2 = symmetric_eigenvalues(self.hessian_f64(&newton));
        let holds = ev.iter().zip(&ev2).all(|(a, b)| a.signum() == b.signum() && (a - b).abs() <= NEWTON_EIGEN_CHANGE * a.abs());
        (if holds { kind } else { "not_critical" }, ev)
    }

    /// `valley` or `degenerate` (see [`Self::critical_point`]): `ev`, `vectors` are the Hessian's
    /// at x, `flat` the eigenvalue below which a direction counts as flat.
    fn valley(&self, x: &[f64], g: &[f64], ev: &[f64], vectors: &[Vec<f64>], flat: f64) -> &'static str {
        let top = ev.iter().fold(0f64, |m, v| m.max(v.abs()));
        let flat = flat.max(1e-8 * top.max(1.0));
        let curved: Vec<usize> = (0..ev.len()).filter(|&i| ev[i].abs() > flat).collect();
        if curved.is_empty() || curved.iter().any(|&i| ev[i] < 0.0) {
            return "degenerate";
        }
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let along: Vec<f64> = curved.iter().map(|&i| dot(&vectors[i], g)).collect();
        let g2 = dot(g, g);
        let curved2: f64 = along.iter().map(|a| a * a).sum();
        if (g2 - curved2).max(0.0).sqrt() > FLAT_GRADIENT_SHARE * g2.sqrt() {
            return "degenerate";
        }
        let mut newton = x.to_vec();
        for (k, &i) in curved.iter().enumerate() {
            for (n, v) in newton.iter_mut().zip(&vectors[i]) {
                *n -= along[k] / ev[i] * v;
            }
        }
        let after = symmetric_eigenvalues(self.hessian_f64(&newton));
        // Curved eigenvalues are the top ones (all positive), in the same ascending order.
        let kept = curved.iter().all(|&i| (after[i] - ev[i]).abs() <= NEWTON_EIGEN_CHANGE * ev[i]);
        // Along a valley floor the loss does not fall either way (higher-order terms can lower
        // it along a flat direction: x² + y³ at y → 0⁺, which is no minimum).
        let f0 = self.loss_f64(&newton);
        let t = FLAT_PROBE * x.iter().fold(1f64, |m, v| m.max(v.abs()));
        let holds = (0..ev.len()).filter(|i| !curved.contains(i)).all(|i| {
            [t, -t].iter().all(|&s| {
                let probe: Vec<f64> = newton.iter().zip(&vectors[i]).map(|(n, v)| n + s * v).collect();
                self.loss_f64(&probe) >= f0 - 1e-12 * f0.abs().max(1e-300)
            })
        });
        if kept && holds { "valley" } else { "degenerate" }
    }

    /// The Hessian, where it is the same everywhere (quadratics, least squares, a linear model
    /// with the squared error): every entry of the symbolic Hessian folded to a constant, or,
    /// over a data table, a mean that does not read the variables.
    pub fn constant_hessian(&self) -> Option<Vec<Vec<f64>>> {
        if !self.has_hessian() {
            return None;
        }
        if self.rows.is_some() {
            let constant = self.hessian_upper().iter().all(|&h| !self.graph.reads_vars(h));
            return constant.then(|| self.hessian_f64(&vec![0.0; self.dim()]));
        }
        self.hessian.iter().map(|row| row.iter().map(|&h| self.graph.as_const(h)).collect()).collect()
    }

    /// The roots the sweep kernels evaluate every step: loss first, then the gradient.
    /// The nodes one step evaluates: the loss and the gradient, and with `hessian` the
    /// Hessian's upper triangle (row by row, i ≤ j: [`Objective::hessian_upper`]).
    pub fn step_roots(&self, hessian: bool) -> Vec<NodeId> {
        let h = if hessian { self.hessian_upper() } else { Vec::new() };
        std::iter::once(self.loss).chain(self.grad.iter().copied()).chain(h).collect()
    }

    /// The Hessian's upper triangle, row by row (h₀₀, h₀₁, …, h₁₁, …): the nodes the kernels
    /// name `h{i}_{j}`, i ≤ j.
    pub fn hessian_upper(&self) -> Vec<NodeId> {
        if !self.has_hessian() {
            return Vec::new();
        }
        let d = self.dim();
        (0..d).flat_map(|i| (i..d).map(move |j| (i, j))).map(|(i, j)| self.hessian[i][j]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Objective {
        Objective::from_expr(s, None).unwrap()
    }

    #[test]
    fn valleys_of_minima_are_told_from_plateaus_and_saddles() {
        // ½(1 − xy)² a little off its valley (as a converged f32 or f64 run stops), on both
        // sides: the flat eigenvalue is ±2(1 − xy)/(x² + y²) there.
        let v = obj("0.5*(1 - x*y)^2");
        for r in [1e-4, -1e-4, 1e-9, -1e-9] {
            let (x, y) = (2.0, (1.0 - r) / 2.0);
            assert_eq!(v.critical_point(&[x, y]).0, "valley", "1 − xy = {r}");
        }
        // Its saddle at the origin, and a point away from the valley.
        assert_eq!(v.critical_point(&[1e-9, -1e-9]).0, "saddle");
        assert_ne!(v.critical_point(&[2.0, 0.3]).0, "valley");
        // x² + y³ near 0: no minimum, whether the gradient runs along y (y = 1e-6) or not
        // (y = 1e-9: 6y is flat, and y³ falls towards y < 0).
        assert_ne!(obj("x^2 + y^3").critical_point(&[1e-12, 1e-6]).0, "valley");
        assert_eq!(obj("x^2 + y^3").critical_point(&[1e-12, 1e-9]).0, "degenerate");
        // x² + y⁴ there is a minimum with a flat direction: the floor rises both ways.
        assert_eq!(obj("x^2 + y^4").critical_point(&[1e-12, 1e-9]).0, "valley");
        // A saturated sigmoid's plateau and x³'s flat approach stay what they were.
        assert_ne!(obj("0.5*(sigmoid(x) - 0.8)^2").critical_point(&[25.0]).0, "valley");
        assert_eq!(obj("x^3").critical_point(&[1e-3]).0, "not_critical");
    }

    #[test]
    fn precedence_and_associativity() {
        let o = obj("-x^2 + 2^3^2 * x / 4 - (x - 1)");
        let x = 1.5;
        let want = -(x * x) + 512.0 * x / 4.0 - (x - 1.0);
        assert!((o.loss_f64(&[x]) - want).abs() < 1e-12);
    }

    #[test]
    fn numbers_and_pi() {
        let o = obj("1e-3*x + .5 + 2.5E+1 + pi");
        assert!((o.loss_f64(&[2.0]) - (0.002 + 0.5 + 25.0 + std::f64::consts::PI)).abs() < 1e-12);
    }

    #[test]
    fn integer_powers_are_multiplications() {
        let o = obj("x^4");
        assert!(!o.graph.nodes().iter().any(|n| matches!(n, Node::Pow(..))));
        assert_eq!(o.grad_f64(&[2.0]), vec![32.0]);
        assert_eq!(o.hessian_f64(&[2.0]), vec![vec![48.0]]);
    }

    #[test]
    fn errors_have_columns() {
        let e = Objective::from_expr("x + * y", None).unwrap_err();
        assert_eq!(e.column, 5);
        let e = Objective::from_expr("x + foo(y)", None).unwrap_err();
        assert_eq!(e.column, 5);
        assert!(e.message.contains("unknown function 'foo'"));
        let vars = vec!["x".to_string()];
        let e = Objective::from_expr("x + y", Some(&vars)).unwrap_err();
        assert_eq!(e.column, 5);
        assert!(e.message.contains("unknown variable 'y'"));
        let e = Objective::from_expr("(x + 1", None).unwrap_err();
        assert!(e.message.contains("expected ')'"), "{e}");
        let e = Objective::from_expr("x $ 2", None).unwrap_err();
        assert_eq!(e.column, 3);
    }

    #[test]
    fn shared_subexpressions_exist_once() {
        let o = obj("sin(x*y) + cos(x*y)");
        let muls = o.graph.nodes().iter().filter(|n| matches!(n, Node::Mul(a, b) if *a == 0 || *b == 0)).count();
        assert!(muls >= 1);
        let xy: Vec<_> = o.graph.nodes().iter().filter(|n| matches!(n, Node::Mul(0, 1) | Node::Mul(1, 0))).collect();
        assert_eq!(xy.len(), 1);
    }

    #[test]
    fn least_squares_gradient() {
        let a = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        let o = Objective::least_squares(&a, &[1.0, 1.0], Objective::default_vars(2));
        // g = 2 Aᵀ(Ax − b) at x = (1, 1): r = (2, 6), g = 2(1·2 + 3·6, 2·2 + 4·6) = (40, 56)
        assert_eq!(o.grad_f64(&[1.0, 1.0]), vec![40.0, 56.0]);
        assert_eq!(o.hessian_f64(&[0.0, 0.0]), vec![vec![20.0, 28.0], vec![28.0, 40.0]]);
    }
}
