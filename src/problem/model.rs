//! Models trained on a data table: the objective (1/m)·Σᵢ ℓ(model(xᵢ; θ), yᵢ) + l2·‖w‖² as an
//! expression graph whose per-row part reads the row's columns (see `problem::expr::graph`,
//! "Sums over a data table"). The parameters θ are the variables, with readable names: `w_<feature>`
//! for each feature's weight, then `b` for the bias.
//!
//! Models, for a row x with features x_1 … x_d and z = w_1·x_1 + … + w_d·x_d + b (summed left to
//! right, the bias last):
//! - `linear`: the prediction is z;
//! - `logistic`: the prediction is σ(z), the probability of the class 1.
//!
//! Losses, with r = prediction − y:
//! - `mse`: r²;
//! - `mae`: |r|;
//! - `huber` (δ = `huber_delta`, 1 by default, as PyTorch's `HuberLoss`): ½r² where |r| ≤ δ and
//!   δ(|r| − ½δ) beyond, written ½r² − ½·max(|r| − δ, 0)² so that one formula holds everywhere;
//! - `bce` (logistic only): −y·log σ(z) − (1 − y)·log(1 − σ(z)), computed as softplus(z) − y·z,
//!   which stays finite where σ(z) rounds to 0 or 1.
//!
//! The L2 penalty l2·Σⱼ wⱼ² is on the weights, not the bias (as scikit-learn's `Ridge`).

use crate::problem::data::Table;
use crate::problem::expr::{Func, Graph, NodeId, Objective, Rows};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Linear,
    Logistic,
    /// A multilayer perceptron ([`MlpSpec`]).
    Mlp,
}

/// The hidden units' nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Sigmoid,
    Relu,
    Identity,
}

impl Activation {
    pub const NAMES: [&'static str; 4] = ["tanh", "sigmoid", "relu", "identity"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "tanh" => Some(Self::Tanh),
            "sigmoid" => Some(Self::Sigmoid),
            "relu" => Some(Self::Relu),
            "identity" => Some(Self::Identity),
            _ => None,
        }
    }
}

/// A multilayer perceptron: `hidden` units per hidden layer, one output.
///
/// - `standard`: z = x·W + b per layer, a = act(z), the output the last z;
/// - `mean_field` (Sohl-Dickstein, "The boundary of neural network trainability is fractal",
///   2024, as its notebook's `net`): z = x·W/√fan_in (+ b), a = tanh(√2·z) (relu: √2·relu(z);
///   sigmoid: σ(z); identity: z), the output the last z divided by √fan_in once more.
///
/// The parameters, layer by layer (l1 the first): the weights `l<L>.w[i][o]` from input i to
/// unit o, then, with `bias`, `l<L>.b[o]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MlpSpec {
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub bias: bool,
    pub mean_field: bool,
}

impl ModelKind {
    pub const NAMES: [&'static str; 3] = ["linear", "logistic", "{ mlp = { hidden = [...] } }"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "linear" => Some(Self::Linear),
            "logistic" => Some(Self::Logistic),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    Mse,
    Mae,
    Huber { delta: f64 },
    Bce,
}

impl LossKind {
    pub const NAMES: [&'static str; 4] = ["mse", "mae", "huber", "bce"];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Mse => "mse",
            Self::Mae => "mae",
            Self::Huber { .. } => "huber",
            Self::Bce => "bce",
        }
    }
}

/// What is trained: the model, the loss, the L2 penalty and whether the model has a bias (for
/// a network: `mlp`, whose own `bias` then says).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSpec {
    pub model: ModelKind,
    pub loss: LossKind,
    pub l2: f64,
    pub bias: bool,
    pub mlp: Option<MlpSpec>,
}

/// Each parameter's fan-in and fan-out, and whether it is a bias (seeded inits scale by them).
pub fn fans(table: &Table, spec: &ModelSpec) -> Vec<(usize, usize, bool)> {
    let d = table.dim();
    match &spec.mlp {
        None => (0..d).map(|_| (d, 1, false)).chain(spec.bias.then_some((d, 1, true))).collect(),
        Some(m) => {
            let mut out = Vec::new();
            for (n_in, n_out) in layer_sizes(d, m) {
                out.extend((0..n_in * n_out).map(|_| (n_in, n_out, false)));
                if m.bias {
                    out.extend((0..n_out).map(|_| (n_in, n_out, true)));
                }
            }
            out
        }
    }
}

/// (inputs, outputs) of each layer of a network on d features.
fn layer_sizes(d: usize, m: &MlpSpec) -> Vec<(usize, usize)> {
    let widths: Vec<usize> = std::iter::once(d).chain(m.hidden.iter().copied()).chain(std::iter::once(1)).collect();
    widths.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The parameters' names of a network (see [`MlpSpec`]).
fn mlp_names(d: usize, m: &MlpSpec) -> Vec<String> {
    let mut names = Vec::new();
    for (l, (n_in, n_out)) in layer_sizes(d, m).into_iter().enumerate() {
        for i in 0..n_in {
            for o in 0..n_out {
                names.push(format!("l{}.w[{i}][{o}]", l + 1));
            }
        }
        if m.bias {
            names.extend((0..n_out).map(|o| format!("l{}.b[{o}]", l + 1)));
        }
    }
    names
}

/// The network's output for the row's features `x` (data columns 0..d), its weights' ids (for
/// the L2 penalty) appended to `weights`.
fn mlp_output(g: &mut Graph, d: usize, m: &MlpSpec, weights: &mut Vec<NodeId>) -> NodeId {
    let mut a: Vec<NodeId> = (0..d).map(|j| g.data(j as u32)).collect();
    let mut var = 0u32;
    let layers = layer_sizes(d, m);
    let mut out = 0;
    for (l, &(n_in, n_out)) in layers.iter().enumerate() {
        let first_w = var;
        var += (n_in * n_out) as u32;
        let first_b = var;
        if m.bias {
            var += n_out as u32;
        }
        let mut z = Vec::with_capacity(n_out);
        for o in 0..n_out {
            let w: Vec<NodeId> = (0..n_in).map(|i| g.var(first_w + (i * n_out + o) as u32)).collect();
            weights.extend_from_slice(&w);
            let sum = weighted_sum(g, &a, &w);
            let b = m.bias.then(|| g.var(first_b + o as u32));
            z.push(pre_activation(g, m, n_in, sum, b));
        }
        if l + 1 == layers.len() {
            out = output_of(g, m, n_in, z[0]);
        } else {
            a = z.into_iter().map(|zo| activate(g, m, zo)).collect();
        }
    }
    out
}

/// a_1·w_1 + … + a_n·w_n, added left to right.
fn weighted_sum(g: &mut Graph, a: &[NodeId], w: &[NodeId]) -> NodeId {
    sum_in_order(g, a.len(), |g, i| g.mul(a[i], w[i])).expect("a layer has inputs")
}

/// term(0) + term(1) + … + term(n − 1), added left to right, each term made just before it is
/// added; None for n = 0.
fn sum_in_order(g: &mut Graph, n: usize, mut term: impl FnMut(&mut Graph, usize) -> NodeId) -> Option<NodeId> {
    let mut sum: Option<NodeId> = None;
    for k in 0..n {
        let t = term(g, k);
        sum = Some(match sum {
            Some(s) => g.add(s, t),
            None => t,
        });
    }
    sum
}

/// w_1² + … + w_n², added left to right: the L2 penalty's sum.
fn sum_of_squares(g: &mut Graph, w: &[NodeId]) -> Option<NodeId> {
    sum_in_order(g, w.len(), |g, k| g.mul(w[k], w[k]))
}

/// A unit's pre-activation from its weighted sum over `n_in` inputs: scaled by 1/√n_in in the
/// mean-field form, then the bias added.
fn pre_activation(g: &mut Graph, m: &MlpSpec, n_in: usize, sum: NodeId, bias: Option<NodeId>) -> NodeId {
    let mut zo = sum;
    if m.mean_field {
        let inv_sqrt = g.constant(1.0 / (n_in as f64).sqrt());
        zo = g.mul(inv_sqrt, zo);
    }
    match bias {
        Some(b) => g.add(zo, b),
        None => zo,
    }
}

/// The network's output from the last layer's pre-activation over `n_in` inputs (divided by
/// √n_in once more in the mean-field form).
fn output_of(g: &mut Graph, m: &MlpSpec, n_in: usize, z: NodeId) -> NodeId {
    if m.mean_field {
        let inv_sqrt = g.constant(1.0 / (n_in as f64).sqrt());
        g.mul(inv_sqrt, z)
    } else {
        z
    }
}

/// A network with one hidden layer split by hidden unit, for a kernel that spreads the units
/// of one run over the threads of a workgroup: thread o holds the unit's own parameters and
/// computes its term of the output sum, the threads meet once per row for the output and the
/// row's loss, and each then adds its own gradient. Written with the same functions as
/// [`mlp_output`] and [`row_loss`], so that the parts compose to the full objective's loss and
/// gradient (the tests check it); their derivatives come from the same symbolic differentiation.
///
/// With d features and H hidden units, unit o's local coordinates are, in order: its input
/// weights `l1.w[i][o]` (i < d), its bias `l1.b[o]` (with biases), its output weight
/// `l2.w[o][0]`, then the output bias `l2.b[0]` (with biases; the same in every unit, and
/// counted once). Local coordinate j of unit o is the network's parameter [`UnitSplit::global`].
#[derive(Debug, Clone)]
pub struct UnitSplit {
    pub features: usize,
    pub units: usize,
    /// Whether the network has biases (then the last local coordinate is the shared `l2.b[0]`).
    pub bias: bool,
    /// The unit's graph: variables its local coordinates but the shared bias, data the row's
    /// features (columns 0..d).
    pub unit: Graph,
    /// The unit's term of the output's sum: a_o·w_o, and its derivative by each of the unit's
    /// own coordinates.
    pub term: NodeId,
    pub term_grad: Vec<NodeId>,
    /// The unit's share of the L2 penalty's sum (its weights squared, added in order) and the
    /// penalty's gradient by each own coordinate, l2·∂(share); None without a penalty.
    pub penalty: Option<(NodeId, Vec<NodeId>)>,
    /// The row's graph: variable 0 the output's sum S over the units, variable 1 the output
    /// bias, data the row's target (column d).
    pub head: Graph,
    /// The row's loss ℓ(output(S, b), y) and its derivatives by S and by the output bias.
    pub row_loss: NodeId,
    pub row_loss_ds: NodeId,
    pub row_loss_db: NodeId,
    pub l2: f64,
}

impl UnitSplit {
    /// The split of `spec` on d features, where it is a network with one hidden layer.
    pub fn new(d: usize, spec: &ModelSpec) -> Option<UnitSplit> {
        let m = spec.mlp.as_ref().filter(|m| m.hidden.len() == 1)?;
        let h = m.hidden[0];
        let mut unit = Graph::new();
        let x: Vec<NodeId> = (0..d).map(|j| unit.data(j as u32)).collect();
        let w: Vec<NodeId> = (0..d).map(|i| unit.var(i as u32)).collect();
        let b = m.bias.then(|| unit.var(d as u32));
        let sum = weighted_sum(&mut unit, &x, &w);
        let pre = pre_activation(&mut unit, m, d, sum, b);
        let a = activate(&mut unit, m, pre);
        let own = d + usize::from(m.bias) + 1;
        let w_out = unit.var(own as u32 - 1);
        let term = unit.mul(a, w_out);
        let term_grad = (0..own as u32).map(|j| unit.derivative(term, j)).collect();
        let penalty = (spec.l2 != 0.0).then(|| {
            let own_weights: Vec<NodeId> = w.iter().copied().chain(std::iter::once(w_out)).collect();
            let p = sum_of_squares(&mut unit, &own_weights).expect("a unit has weights");
            let l2 = unit.constant(spec.l2);
            let grads = (0..own as u32)
                .map(|j| {
                    let dp = unit.derivative(p, j);
                    unit.mul(l2, dp)
                })
                .collect();
            (p, grads)
        });
        let mut head = Graph::new();
        let s = head.var(0);
        let b_out = m.bias.then(|| head.var(1));
        let z = pre_activation(&mut head, m, h, s, b_out);
        let out = output_of(&mut head, m, h, z);
        let y = head.data(d as u32);
        let row_loss = self::row_loss(&mut head, spec, out, y);
        let (row_loss_ds, row_loss_db) = (head.derivative(row_loss, 0), head.derivative(row_loss, 1));
        Some(UnitSplit { features: d, units: h, bias: m.bias, unit, term, term_grad, penalty, head, row_loss, row_loss_ds, row_loss_db, l2: spec.l2 })
    }

    /// Local coordinates per unit (the shared output bias included).
    pub fn local_dim(&self) -> usize {
        self.features + 1 + 2 * usize::from(self.bias)
    }

    /// Whether local coordinate j is the output bias, the same in every unit.
    pub fn shared(&self, j: usize) -> bool {
        self.bias && j + 1 == self.local_dim()
    }

    /// The network's parameter index of unit o's local coordinate j: parameters come layer by
    /// layer, weights `[i][o]` row-major then biases (see [`MlpSpec`]), so it is j·H + o, and
    /// j·H for the shared output bias, the last.
    pub fn global(&self, o: usize, j: usize) -> usize {
        j * self.units + if self.shared(j) { 0 } else { o }
    }

    /// The network's objective `net` composed from the parts, one graph for the whole
    /// parameter vector that computes what the workgroup kernel computes, operation for
    /// operation, so that the CPU backend's tape mirrors that kernel (kernel::workgroup): per
    /// row the units' terms added in unit order, the row's loss ℓ and its derivatives ∂ℓ/∂S and
    /// ∂ℓ/∂b by the head; each coordinate's gradient the mean over the rows of ∂ℓ/∂S times the
    /// unit's ∂term, plus the penalty's; the loss the mean of ℓ plus l2 times the units' shares
    /// of the penalty, added in unit order. The same function as `net` up to rounding (the
    /// tests check it); no symbolic Hessian (the layout serves first-order methods only).
    pub fn composed(&self, net: &Objective) -> Objective {
        let (h, l) = (self.units, self.local_dim());
        let own = l - usize::from(self.bias);
        let mut roots = vec![self.term];
        roots.extend(&self.term_grad);
        if let Some((p, pg)) = &self.penalty {
            roots.push(*p);
            roots.extend(pg);
        }
        let mut g = Graph::new();
        let units: Vec<Vec<NodeId>> = (0..h).map(|o| g.import(&self.unit, &roots, |g, j| g.var(self.global(o, j as usize) as u32), |g, c| g.data(c), false)).collect();
        let s = sum_in_order(&mut g, h, |_, o| units[o][0]).expect("a network has units");
        let b_out = g.var(self.global(0, l - 1) as u32);
        let head = g.import(&self.head, &[self.row_loss, self.row_loss_ds, self.row_loss_db], |_, j| if j == 0 { s } else { b_out }, |g, c| g.data(c), false);
        let mut loss = g.row_mean(head[0]);
        let mut grad = vec![0; net.dim()];
        for (o, unit) in units.iter().enumerate() {
            for j in 0..own {
                let per_row = g.mul(head[1], unit[1 + j]);
                let mut gj = g.row_mean(per_row);
                if self.penalty.is_some() {
                    gj = g.add(gj, unit[2 + own + j]);
                }
                grad[self.global(o, j)] = gj;
            }
        }
        if self.bias {
            grad[self.global(0, l - 1)] = g.row_mean(head[2]);
        }
        if self.penalty.is_some() {
            let total = sum_in_order(&mut g, h, |_, o| units[o][1 + own]).expect("a network has units");
            let l2 = g.constant(self.l2);
            let p = g.mul(l2, total);
            loss = g.add(loss, p);
        }
        Objective { vars: net.vars.clone(), graph: g, loss, grad, hessian: Vec::new(), formula: net.formula.clone(), rows: net.rows.clone(), model: net.model.clone() }
    }
}

/// The hidden unit's activation of its pre-activation z (see [`MlpSpec`]).
fn activate(g: &mut Graph, m: &MlpSpec, zo: NodeId) -> NodeId {
    let gain = g.constant(if m.mean_field { std::f64::consts::SQRT_2 } else { 1.0 });
    match m.activation {
        Activation::Tanh => {
            let s = g.mul(gain, zo);
            g.func(Func::Tanh, s)
        }
        Activation::Sigmoid => g.func(Func::Sigmoid, zo),
        Activation::Relu => {
            // relu(z) = (z + |z|)/2
            let az = g.func(Func::Abs, zo);
            let s = g.add(zo, az);
            let half = g.constant(0.5);
            let r = g.mul(half, s);
            g.mul(gain, r)
        }
        Activation::Identity => zo,
    }
}

/// A parameter name for a feature: `w_<feature>`, with every character that cannot be in a
/// name replaced by `_`.
pub fn weight_name(feature: &str) -> String {
    let clean: String = feature.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("w_{clean}")
}

/// The parameters' names: one weight per feature, then the bias (where there is one).
pub fn parameter_names(table: &Table, bias: bool) -> Vec<String> {
    let mut names: Vec<String> = table.features.iter().map(|f| weight_name(f)).collect();
    if bias {
        names.push("b".to_string());
    }
    names
}

/// The training objective of `spec` on `table`. The table is stored row by row as the kernels
/// read it: the features, then the target (column d).
pub fn objective(table: &Table, spec: &ModelSpec) -> Objective {
    let d = table.dim();
    let mut g = Graph::new();
    let mut weights = Vec::new();
    let (vars, z) = match &spec.mlp {
        Some(m) => (mlp_names(d, m), mlp_output(&mut g, d, m, &mut weights)),
        None => {
            let z = linear_output(&mut g, d, spec.bias);
            weights = (0..d).map(|j| g.var(j as u32)).collect();
            (parameter_names(table, spec.bias), z)
        }
    };
    finish(g, z, vars, weights, table, spec)
}

/// z = w_1·x_1 + … + w_d·x_d (+ b)
fn linear_output(g: &mut Graph, d: usize, bias: bool) -> NodeId {
    // z = w_1·x_1 + … + w_d·x_d (+ b)
    let mut z = sum_in_order(g, d, |g, j| {
        let (w, x) = (g.var(j as u32), g.data(j as u32));
        g.mul(w, x)
    })
    .expect("a table has at least one feature");
    if bias {
        let b = g.var(d as u32);
        z = g.add(z, b);
    }
    z
}

/// The loss of one row: the model's output z against the row's target y (see the module's
/// documentation).
fn row_loss(g: &mut Graph, spec: &ModelSpec, z: NodeId, y: NodeId) -> NodeId {
    let pred = match spec.model {
        ModelKind::Linear | ModelKind::Mlp => z,
        ModelKind::Logistic => g.func(Func::Sigmoid, z),
    };
    match spec.loss {
        LossKind::Bce => {
            let sp = g.func(Func::Softplus, z);
            let yz = g.mul(y, z);
            g.sub(sp, yz)
        }
        loss => {
            let r = g.sub(pred, y);
            match loss {
                LossKind::Mse => g.mul(r, r),
                LossKind::Mae => g.func(Func::Abs, r),
                LossKind::Huber { delta } => {
                    // ½r² − ½m², m = max(|r| − δ, 0) = ((|r| − δ) + ||r| − δ|)/2
                    let a = g.func(Func::Abs, r);
                    let dc = g.constant(delta);
                    let over = g.sub(a, dc);
                    let over_abs = g.func(Func::Abs, over);
                    let twice_m = g.add(over, over_abs);
                    let half = g.constant(0.5);
                    let m = g.mul(half, twice_m);
                    let (r2, m2) = (g.mul(r, r), g.mul(m, m));
                    let diff = g.sub(r2, m2);
                    g.mul(half, diff)
                }
                LossKind::Bce => unreachable!("handled above"),
            }
        }
    }
}

/// The loss of the model's output z over the rows, with the penalty on `weights`.
fn finish(mut g: Graph, z: NodeId, vars: Vec<String>, weights: Vec<NodeId>, table: &Table, spec: &ModelSpec) -> Objective {
    let d = table.dim();
    let y = g.data(d as u32);
    let per_row = row_loss(&mut g, spec, z, y);
    let mut loss = g.row_mean(per_row);
    if spec.l2 != 0.0 {
        let penalty = sum_of_squares(&mut g, &weights);
        let l2 = g.constant(spec.l2);
        let p = g.mul(l2, penalty.expect("at least one weight"));
        loss = g.add(loss, p);
    }
    let prediction = match (&spec.model, &spec.mlp) {
        (ModelKind::Mlp, Some(m)) => format!(
            "{}{:?} → 1, {:?}{}{}",
            d,
            m.hidden,
            m.activation,
            if m.mean_field { ", mean-field" } else { "" },
            if m.bias { ", biases" } else { "" }
        )
        .to_lowercase(),
        (ModelKind::Logistic, _) => "sigmoid(x·w + b)".to_string(),
        _ => "x·w + b".to_string(),
    };
    let formula = format!(
        "{} model, {} loss over {} rows ({prediction}; features {}{})",
        match spec.model {
            ModelKind::Linear => "linear",
            ModelKind::Logistic => "logistic",
            ModelKind::Mlp => "mlp",
        },
        spec.loss.name(),
        table.rows(),
        table.features.join(", "),
        if spec.l2 != 0.0 { format!("; + {}·‖w‖²", spec.l2) } else { String::new() },
    );
    let mut obj = Objective::with_derivatives(g, loss, vars, formula);
    let mut values = Vec::with_capacity(table.rows() * (d + 1));
    for i in 0..table.rows() {
        values.extend_from_slice(table.row(i));
        values.push(table.y[i]);
    }
    obj.rows = Some(Arc::new(Rows { values, cols: d + 1 }));
    obj.model = Some(spec.clone());
    obj
}

/// Input optimisation: the objective of `model` (a model's objective on a table of one row,
/// its inputs and the output to reach) with its parameters fixed at `parameters` and its inputs
/// as the variables `inputs`: f(u) = loss(model(u; parameters), output). The same graph with
/// the roles of the leaves swapped (parameter j → the constant parameters[j], column c < d →
/// input c, the target column → the output), so its derivatives (and a Hessian: inputs are
/// few) come from the same symbolic differentiation.
pub fn input_objective(model: &Objective, parameters: &[f64], inputs: Vec<String>) -> Objective {
    let rows = model.rows.as_ref().expect("a model's objective has its table");
    let d = inputs.len();
    let output = rows.values[d];
    let (g, loss) = model.graph.substitute(model.loss, |g, j| g.constant(parameters[j as usize]), |g, c| if (c as usize) < d { g.var(c) } else { g.constant(output) });
    let spec = model.model.as_ref().expect("a model's objective has its spec");
    let kind = match spec.model {
        ModelKind::Linear => "linear".to_string(),
        ModelKind::Logistic => "logistic".to_string(),
        ModelKind::Mlp => format!("mlp {:?}", spec.mlp.as_ref().map_or(Vec::new(), |m| m.hidden.clone())),
    };
    let formula = format!("{} loss of a fixed {kind} model's output at ({}) against {output} ({} parameters fixed)", spec.loss.name(), inputs.join(", "), parameters.len());
    Objective::with_derivatives(g, loss, inputs, formula)
}

/// Whether the parameters x prove that `obj` has no minimum: a logistic model without an L2
/// penalty on targets that are all 0 or 1, and x classifies every row strictly right
/// (z > 0 where y = 1, z < 0 where y = 0). Then x scaled by any t > 1 lowers every row's loss,
/// so the infimum is approached as ‖x‖ → ∞ and never reached (the data are linearly separable,
/// x is the witness; Soudry et al., "The implicit bias of gradient descent on separable data",
/// JMLR 2018, for where GD goes instead). Without a bias the scaling argument is the same.
pub fn separates(obj: &Objective, x: &[f64]) -> bool {
    let (Some(spec), Some(rows)) = (&obj.model, &obj.rows) else { return false };
    if spec.model != ModelKind::Logistic || spec.l2 != 0.0 || !x.iter().all(|v| v.is_finite()) {
        return false;
    }
    let d = rows.cols - 1;
    (0..rows.count()).all(|i| {
        let row = rows.row(i);
        let z = (0..d).map(|j| x[j] * row[j]).sum::<f64>() + if spec.bias { x[d] } else { 0.0 };
        (row[d] == 1.0 && z > 0.0) || (row[d] == 0.0 && z < 0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forum_table() -> Table {
        // The forum's regression: a bias column and one feature (here the bias is the model's).
        Table::inline(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]], &[2.0, 3.8, 5.9, 7.8], Some(&["x".to_string()])).unwrap()
    }

    #[test]
    fn linear_mse_is_the_mean_squared_residual_with_the_known_hessian() {
        let t = forum_table();
        let spec = ModelSpec { model: ModelKind::Linear, loss: LossKind::Mse, l2: 0.0, bias: true, mlp: None };
        let o = objective(&t, &spec);
        assert_eq!(o.vars, ["w_x", "b"]);
        let (w, b) = (1.5, 0.2);
        let want: f64 = (0..4).map(|i| (w * t.row(i)[0] + b - t.y[i]).powi(2)).sum::<f64>() / 4.0;
        assert!((o.loss_f64(&[w, b]) - want).abs() < 1e-12);
        let gw: f64 = (0..4).map(|i| 2.0 * (w * t.row(i)[0] + b - t.y[i]) * t.row(i)[0]).sum::<f64>() / 4.0;
        assert!((o.grad_f64(&[w, b])[0] - gw).abs() < 1e-12);
        let h = o.constant_hessian().expect("a linear model's squared error has a constant Hessian");
        let want_h = t.mse_hessian(true);
        for i in 0..2 {
            for j in 0..2 {
                assert!((h[i][j] - want_h[i][j]).abs() < 1e-12, "{h:?} vs {want_h:?}");
            }
        }
    }

    #[test]
    fn losses_match_their_definitions() {
        let t = forum_table();
        let at = [0.5, -0.3];
        let r: Vec<f64> = (0..4).map(|i| at[0] * t.row(i)[0] + at[1] - t.y[i]).collect();
        let mean = |f: &dyn Fn(f64) -> f64| r.iter().map(|&v| f(v)).sum::<f64>() / 4.0;
        let spec = |loss| ModelSpec { model: ModelKind::Linear, loss, l2: 0.0, bias: true, mlp: None };
        let mae = objective(&t, &spec(LossKind::Mae));
        assert!((mae.loss_f64(&at) - mean(&|v| v.abs())).abs() < 1e-12);
        let huber = objective(&t, &spec(LossKind::Huber { delta: 2.0 }));
        let h = |v: f64| if v.abs() <= 2.0 { 0.5 * v * v } else { 2.0 * (v.abs() - 1.0) };
        assert!((huber.loss_f64(&at) - mean(&h)).abs() < 1e-12);
        // Huber's gradient is the clipped residual: δ·sign(r) beyond δ.
        let dh = |v: f64, x: f64| if v.abs() <= 2.0 { v * x } else { 2.0 * v.signum() * x };
        let gw = (0..4).map(|i| dh(r[i], t.row(i)[0])).sum::<f64>() / 4.0;
        assert!((huber.grad_f64(&at)[0] - gw).abs() < 1e-12);
        // Logistic with cross-entropy, against its textbook form, and its gradient mean((σ(z) − y)x).
        let labels = Table::inline(&[vec![-1.0], vec![0.5], vec![2.0]], &[0.0, 1.0, 1.0], None).unwrap();
        let bce = objective(&labels, &ModelSpec { model: ModelKind::Logistic, loss: LossKind::Bce, l2: 0.1, bias: true, mlp: None });
        assert_eq!(bce.vars, ["w_x_1", "b"]);
        let s = |z: f64| 1.0 / (1.0 + (-z).exp());
        let z: Vec<f64> = (0..3).map(|i| at[0] * labels.row(i)[0] + at[1]).collect();
        let want = (0..3).map(|i| -(labels.y[i] * s(z[i]).ln() + (1.0 - labels.y[i]) * (1.0 - s(z[i])).ln())).sum::<f64>() / 3.0 + 0.1 * at[0] * at[0];
        assert!((bce.loss_f64(&at) - want).abs() < 1e-12);
        let gb = (0..3).map(|i| s(z[i]) - labels.y[i]).sum::<f64>() / 3.0;
        assert!((bce.grad_f64(&at)[1] - gb).abs() < 1e-12, "the bias has no penalty");
        assert!(bce.constant_hessian().is_none());
    }

    /// The mean-field network is the fractal notebook's `net`: z = x·W/√n, a = tanh(√2·z), the
    /// output (a·W₂/√n)/√n; its gradient matches central differences, as does a standard
    /// relu network's with biases.
    #[test]
    fn networks_compute_their_formulas_and_gradients() {
        let t = Table::inline(&[vec![0.5, -1.0], vec![1.5, 0.2], vec![-0.7, 0.9]], &[0.3, 1.2, -0.5], None).unwrap();
        let mf = MlpSpec { hidden: vec![2], activation: Activation::Tanh, bias: false, mean_field: true };
        let spec = ModelSpec { model: ModelKind::Mlp, loss: LossKind::Mse, l2: 0.0, bias: false, mlp: Some(mf) };
        let o = objective(&t, &spec);
        assert_eq!(o.vars, ["l1.w[0][0]", "l1.w[0][1]", "l1.w[1][0]", "l1.w[1][1]", "l2.w[0][0]", "l2.w[1][0]"]);
        let theta = [0.3, -0.8, 1.1, 0.4, -0.6, 0.9];
        let net = |x: &[f64]| {
            let n = 2f64.sqrt();
            let a: Vec<f64> = (0..2).map(|o| ((x[0] * theta[o] + x[1] * theta[2 + o]) / n * 2f64.sqrt()).tanh()).collect();
            (a[0] * theta[4] + a[1] * theta[5]) / n / n
        };
        let want = (0..3).map(|i| (net(t.row(i)) - t.y[i]).powi(2)).sum::<f64>() / 3.0;
        assert!((o.loss_f64(&theta) - want).abs() < 1e-14, "{} vs {want}", o.loss_f64(&theta));
        let relu = MlpSpec { hidden: vec![3, 2], activation: Activation::Relu, bias: true, mean_field: false };
        let r = objective(&t, &ModelSpec { model: ModelKind::Mlp, loss: LossKind::Huber { delta: 0.5 }, l2: 0.01, bias: true, mlp: Some(relu) });
        assert_eq!(r.dim(), 2 * 3 + 3 + 3 * 2 + 2 + 2 + 1);
        for (o, x) in [(&o, theta.to_vec()), (&r, (0..r.dim()).map(|j| ((j * 7 % 11) as f64 - 5.0) / 7.0).collect())] {
            let g = o.grad_f64(&x);
            for j in 0..x.len() {
                let h = 1e-6;
                let (mut a, mut b) = (x.clone(), x.clone());
                a[j] += h;
                b[j] -= h;
                let fd = (o.loss_f64(&a) - o.loss_f64(&b)) / (2.0 * h);
                assert!((g[j] - fd).abs() < 1e-6 * (1.0 + fd.abs()), "{}: d/d{} = {} vs {fd}", o.formula, o.vars[j], g[j]);
            }
        }
        // No symbolic Hessian past HESSIAN_MAX_DIM: what reads it says it cannot tell.
        let wide = MlpSpec { hidden: vec![16], activation: Activation::Tanh, bias: false, mean_field: true };
        let w = objective(&t, &ModelSpec { model: ModelKind::Mlp, loss: LossKind::Mse, l2: 0.0, bias: false, mlp: Some(wide) });
        assert!(!w.has_hessian() && w.critical_point(&vec![0.1; w.dim()]).0 == "unknown" && w.constant_hessian().is_none());
    }

    /// The split by hidden unit composes to the full network's loss and gradient, for each
    /// activation and loss, with and without biases and a penalty; its local coordinates name
    /// the parameters they say; deeper networks have no split.
    #[test]
    fn the_unit_split_composes_to_the_network() {
        let t = Table::inline(&[vec![0.5, -1.0, 0.3], vec![1.5, 0.2, -0.4], vec![-0.7, 0.9, 1.1], vec![0.1, 0.1, -2.0]], &[0.3, 1.0, 0.0, 1.0], None).unwrap();
        let nets = [
            (Activation::Tanh, false, true, LossKind::Mse, 0.0),
            (Activation::Relu, true, false, LossKind::Huber { delta: 0.5 }, 0.01),
            (Activation::Sigmoid, true, true, LossKind::Bce, 0.1),
            (Activation::Identity, false, false, LossKind::Mae, 0.0),
        ];
        for (activation, bias, mean_field, loss, l2) in nets {
            let m = MlpSpec { hidden: vec![5], activation, bias, mean_field };
            let spec = ModelSpec { model: ModelKind::Mlp, loss, l2, bias, mlp: Some(m) };
            let o = objective(&t, &spec);
            let split = UnitSplit::new(t.dim(), &spec).expect("one hidden layer");
            let theta: Vec<f64> = (0..o.dim()).map(|j| ((j * 7 % 13) as f64 - 6.0) / 5.0).collect();
            let c = split.composed(&o);
            let (loss, grad) = (c.loss_f64(&theta), c.grad_f64(&theta));
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * (1.0 + b.abs());
            assert!(close(loss, o.loss_f64(&theta)), "{}: {loss} vs {}", o.formula, o.loss_f64(&theta));
            assert_eq!((c.vars.len(), c.grad.len(), c.has_hessian()), (o.dim(), o.dim(), false));
            for (j, (a, b)) in grad.iter().zip(o.grad_f64(&theta)).enumerate() {
                assert!(close(*a, b), "{}: d/d{} = {a} vs {b}", o.formula, o.vars[j]);
            }
            let mut named = vec![0; o.dim()];
            for u in 0..5 {
                for j in 0..split.local_dim() {
                    let want = match (j, bias) {
                        (j, _) if j < 3 => format!("l1.w[{j}][{u}]"),
                        (3, true) => format!("l1.b[{u}]"),
                        (3, false) | (4, true) => format!("l2.w[{u}][0]"),
                        _ => "l2.b[0]".to_string(),
                    };
                    assert_eq!(o.vars[split.global(u, j)], want);
                    named[split.global(u, j)] += 1;
                }
            }
            // Every parameter is some unit's coordinate; the shared bias is in every unit.
            assert!(named.iter().enumerate().all(|(k, &n)| n == if bias && k + 1 == o.dim() { 5 } else { 1 }), "{named:?}");
        }
        let deep = ModelSpec { model: ModelKind::Mlp, loss: LossKind::Mse, l2: 0.0, bias: false, mlp: Some(MlpSpec { hidden: vec![3, 2], activation: Activation::Tanh, bias: false, mean_field: false }) };
        assert!(UnitSplit::new(3, &deep).is_none());
    }
}
