//! `[objective]`: exactly one of expr, builtin, least_squares, quadratic, data (a model trained
//! on a data table: with features, target, model, loss, l2, huber_delta, bias), inputs (the
//! inputs of a fixed model: with parameters, output, model, loss, huber_delta, bias).

use super::raw::RawObjective;
use super::Ctx;
use crate::error::ConfigError;
use crate::problem::catalogue;
use crate::problem::data::{DataError, Table};
use crate::problem::model::{Activation, LossKind, MlpSpec, ModelKind, ModelSpec};
use crate::problem::expr::graph::Node;
use crate::problem::expr::Objective;
use crate::problem::real::Precision;
use toml::Spanned;


/// A model trained on data, as the config states it: the table as read (not standardised) and
/// what is trained on it. The objectives are built from it once the sweep's `standardize` is
/// known ([`crate::problem::model::objective`]).
pub(super) struct DataModel {
    pub table: Table,
    pub spec: ModelSpec,
}

/// What `[objective]` describes: an objective, or a model trained on data.
pub(super) enum Described {
    Objective(Objective),
    Data(DataModel),
}

pub(super) fn objective(cx: &Ctx, raw: &Spanned<RawObjective>, precision: Precision) -> Result<Described, ConfigError> {
    let o = raw.get_ref();
    let given: Vec<&str> = [
        o.expr.as_ref().map(|_| "expr"),
        o.builtin.as_ref().map(|_| "builtin"),
        o.least_squares.as_ref().map(|_| "least_squares"),
        o.quadratic.as_ref().map(|_| "quadratic"),
        o.data.as_ref().map(|_| "data"),
        o.inputs.as_ref().map(|_| "inputs"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        return Err(cx.err(
            Some(raw.span()),
            "objective",
            format!(
                "give exactly one of expr, builtin, least_squares, quadratic, data, inputs (found {})",
                if given.is_empty() { "none".to_string() } else { given.join(", ") }
            ),
        ));
    }
    let input_fields = [("parameters", o.parameters.as_ref().map(|f| f.span())), ("output", o.output.as_ref().map(|f| f.span()))];
    if o.inputs.is_none() {
        if let Some((name, span)) = input_fields.into_iter().find_map(|(n, s)| s.map(|s| (n, s))) {
            return Err(cx.err(Some(span), format!("objective.{name}"), "only used with inputs (optimising the inputs of a fixed model)"));
        }
    }
    if o.data.is_some() {
        return data_model(cx, o, precision).map(Described::Data);
    }
    if o.inputs.is_some() {
        return input_model(cx, o).map(Described::Objective);
    }
    let model_fields = [
        ("features", o.features.as_ref().map(|f| f.span())),
        ("target", o.target.as_ref().map(|f| f.span())),
        ("model", o.model.as_ref().map(|f| f.span())),
        ("loss", o.loss.as_ref().map(|f| f.span())),
        ("l2", o.l2.as_ref().map(|f| f.span())),
        ("huber_delta", o.huber_delta.as_ref().map(|f| f.span())),
        ("bias", o.bias.as_ref().map(|f| f.span())),
    ];
    if let Some((name, span)) = model_fields.into_iter().find_map(|(n, s)| s.map(|s| (n, s))) {
        return Err(cx.err(Some(span), format!("objective.{name}"), "only used with data (a model trained on a data table)"));
    }
    objective_of_kind(cx, raw).map(Described::Objective)
}

fn objective_of_kind(cx: &Ctx, raw: &Spanned<RawObjective>) -> Result<Objective, ConfigError> {
    let o = raw.get_ref();
    let vars = o.vars.as_ref().map(|v| (v.get_ref().clone(), v.span()));
    if let Some((v, span)) = &vars {
        if v.is_empty() {
            return Err(cx.err(Some(span.clone()), "objective.vars", "must name at least one variable"));
        }
        for (i, name) in v.iter().enumerate() {
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok || name == "pi" || crate::problem::expr::Func::from_name(name).is_some() {
                return Err(cx.err(
                    Some(span.clone()),
                    "objective.vars",
                    format!("'{name}' is not allowed as a variable name (letters, digits, '_'; not pi or a function name)"),
                ));
            }
            if v[..i].contains(name) {
                return Err(cx.err(Some(span.clone()), "objective.vars", format!("'{name}' appears twice")));
            }
        }
    }
    if let Some(e) = &o.expr {
        return Objective::from_expr(e.get_ref(), vars.as_ref().map(|v| v.0.as_slice())).map_err(|err| {
            let caret = format!("{}^", " ".repeat(err.column.saturating_sub(1)));
            cx.err(
                Some(e.span()),
                "objective.expr",
                format!("column {} of the expression: {}\n    {}\n    {}", err.column, err.message, e.get_ref(), caret),
            )
        });
    }
    if let Some(b) = &o.builtin {
        if let Some((_, span)) = &vars {
            return Err(cx.err(Some(span.clone()), "objective.vars", "not used with builtin: the catalogue fixes the variables"));
        }
        return catalogue::find(b.get_ref()).map(|e| e.objective()).ok_or_else(|| {
            cx.err(
                Some(b.span()),
                "objective.builtin",
                format!("unknown builtin '{}' (allowed: {}; see `gdsweep objectives`)", b.get_ref(), catalogue::names().join(", ")),
            )
        });
    }
    let names_for = |n: usize, field: &str| -> Result<Vec<String>, ConfigError> {
        match &vars {
            None => Ok(Objective::default_vars(n)),
            Some((v, _)) if v.len() == n => Ok(v.clone()),
            Some((v, span)) => Err(cx.err(
                Some(span.clone()),
                "objective.vars",
                format!("names {} variables but {field} has {n} columns", v.len()),
            )),
        }
    };
    if let Some(ls) = &o.least_squares {
        let ls = ls.get_ref();
        let (rows, cols) = matrix(cx, &ls.a, "objective.least_squares.a", false)?;
        vector(cx, &ls.b, "objective.least_squares.b", rows, "the number of rows of a")?;
        let names = names_for(cols, "objective.least_squares.a")?;
        return Ok(Objective::least_squares(ls.a.get_ref(), ls.b.get_ref(), names));
    }
    let q = o.quadratic.as_ref().expect("one objective kind is set").get_ref();
    let (n, _) = matrix(cx, &q.h, "objective.quadratic.h", true)?;
    // ½xᵀHx has the Hessian (H + Hᵀ)/2: an asymmetric H would mean something else than written.
    let h = q.h.get_ref();
    for i in 0..n {
        for j in i + 1..n {
            if h[i][j] != h[j][i] {
                return Err(cx.err(
                    Some(q.h.span()),
                    "objective.quadratic.h",
                    format!("must be symmetric: h[{i}][{j}] = {} but h[{j}][{i}] = {} (½xᵀhx only sees (h + hᵀ)/2: write that)", h[i][j], h[j][i]),
                ));
            }
        }
    }
    let g = match &q.g {
        Some(g) => {
            vector(cx, g, "objective.quadratic.g", n, "the size of h")?;
            g.get_ref().clone()
        }
        None => vec![0.0; n],
    };
    let names = names_for(n, "objective.quadratic.h")?;
    Ok(Objective::quadratic(q.h.get_ref(), &g, names))
}

/// `[objective] data = …` with its model fields: the table (a CSV file relative to the config's
/// folder, or inline `{ x = [[…]], y = […] }`) and what is trained on it.
fn data_model(cx: &Ctx, o: &RawObjective, precision: Precision) -> Result<DataModel, ConfigError> {
    let data = o.data.as_ref().expect("called with data");
    if let Some(v) = &o.vars {
        return Err(cx.err(Some(v.span()), "objective.vars", "not used with data: the parameters are named w_<feature> and b"));
    }
    let features = o.features.as_ref().map(|f| f.get_ref().clone());
    let table = match data.get_ref() {
        toml::Value::String(path) => {
            let target = o.target.as_ref().ok_or_else(|| {
                cx.err(Some(data.span()), "objective.target", "a data file needs target = \"<column>\": the column the model predicts")
            })?;
            let full = std::path::Path::new(cx.file).parent().unwrap_or(std::path::Path::new("")).join(path);
            let text = std::fs::read_to_string(&full)
                .map_err(|e| cx.err(Some(data.span()), "objective.data", format!("cannot read the data file {}: {e}", full.display())))?;
            let file = full.display().to_string();
            let table = Table::from_csv(&text, features.as_deref(), target.get_ref()).map_err(|e| data_error(cx, &file, e, data, target.span()))?;
            representable(&file, &table, precision)?;
            table
        }
        toml::Value::Table(t) => {
            if let Some(target) = &o.target {
                return Err(cx.err(Some(target.span()), "objective.target", "not used with inline data: the target is y"));
            }
            let field = |name: &str| t.get(name).cloned();
            let bad = |msg: String| cx.err(Some(data.span()), "objective.data", msg);
            if let Some(k) = t.keys().find(|k| !["x", "y"].contains(&k.as_str())) {
                return Err(bad(format!("unknown key '{k}': inline data is {{ x = [[...], ...], y = [...] }}")));
            }
            let x: Vec<Vec<f64>> = field("x")
                .ok_or_else(|| bad("inline data needs x, a list of rows of numbers".into()))?
                .try_into()
                .map_err(|_| bad("x must be a list of rows of numbers, e.g. [[1.0, 2.0], [3.0, 4.0]]".into()))?;
            let y: Vec<f64> = field("y")
                .ok_or_else(|| bad("inline data needs y, a list of numbers (one per row of x)".into()))?
                .try_into()
                .map_err(|_| bad("y must be a list of numbers, one per row of x".into()))?;
            let table = Table::inline(&x, &y, features.as_deref()).map_err(|e| bad(format!("{}: {}", e.field, e.message)))?;
            representable(cx.file, &table, precision).map_err(|e| bad(e.message))?;
            table
        }
        _ => return Err(cx.err(Some(data.span()), "objective.data", "use a CSV file name (\"houses.csv\") or an inline table { x = [[...]], y = [...] }")),
    };
    let spec = model_spec(cx, o)?;
    if spec.loss == LossKind::Bce {
        if let Some(i) = table.y.iter().position(|&y| !(0.0..=1.0).contains(&y)) {
            return Err(cx.err(Some(data.span()), "objective.data", format!("row {} has the target {}: bce needs targets in [0, 1] (class labels 0 and 1)", i + 1, table.y[i])));
        }
    }
    Ok(DataModel { table, spec })
}

/// The model, loss, l2, huber_delta and bias fields of `[objective]`.
fn model_spec(cx: &Ctx, o: &RawObjective) -> Result<ModelSpec, ConfigError> {
    let (model, mlp) = match &o.model {
        None => (ModelKind::Linear, None),
        Some(m) => model_kind(cx, m)?,
    };
    let delta = match &o.huber_delta {
        Some(d) => cx.non_negative(d, "objective.huber_delta", Some(0.0))?,
        None => 1.0,
    };
    let loss = match o.loss.as_ref().map(|l| (l.get_ref().as_str(), l.span())) {
        None => if model == ModelKind::Logistic { LossKind::Bce } else { LossKind::Mse },
        Some(("mse", _)) => LossKind::Mse,
        Some(("mae", _)) => LossKind::Mae,
        Some(("huber", _)) => LossKind::Huber { delta },
        Some(("bce", span)) => {
            if model != ModelKind::Logistic {
                if model == ModelKind::Mlp {
                    return Err(cx.err(Some(span), "objective.loss", "bce needs probabilities: a network's output is not one (use mse, mae or huber)"));
                }
                return Err(cx.err(Some(span), "objective.loss", "bce needs probabilities: use model = \"logistic\" (or mse, mae, huber)"));
            }
            LossKind::Bce
        }
        Some((other, span)) => {
            return Err(cx.err(Some(span), "objective.loss", format!("unknown loss '{other}' (allowed: {})", LossKind::NAMES.join(", "))))
        }
    };
    if let (Some(d), false) = (&o.huber_delta, matches!(loss, LossKind::Huber { .. })) {
        return Err(cx.err(Some(d.span()), "objective.huber_delta", "only used with loss = \"huber\""));
    }
    let l2 = match &o.l2 {
        Some(l) => cx.non_negative(l, "objective.l2", None)?,
        None => 0.0,
    };
    if let (Some(b), Some(_)) = (&o.bias, &mlp) {
        return Err(cx.err(Some(b.span()), "objective.bias", "a network says it in its own table: model = { mlp = { ..., bias = true } }"));
    }
    let bias = o.bias.as_ref().is_none_or(|b| *b.get_ref());
    Ok(ModelSpec { model, loss, l2, bias, mlp })
}

/// `[objective] inputs = ["u", "v"]`: optimise the inputs of a fixed model (`model`, `loss`,
/// `bias` as for data) with the given `parameters` (a list in gdsweep's parameter order, or a
/// row of a parameters.npy a training sweep wrote) towards its `output`: f(u) = loss(model(u),
/// output), the same graph as the model trained on data with the roles swapped
/// ([`crate::problem::model::input_objective`]).
fn input_model(cx: &Ctx, o: &RawObjective) -> Result<Objective, ConfigError> {
    let inputs = o.inputs.as_ref().expect("called with inputs");
    for (name, span) in [("features", o.features.as_ref().map(|f| f.span())), ("target", o.target.as_ref().map(|f| f.span())), ("vars", o.vars.as_ref().map(|f| f.span())), ("l2", o.l2.as_ref().map(|f| f.span()))] {
        if let Some(span) = span {
            return Err(cx.err(Some(span), format!("objective.{name}"), "not used with inputs: the variables are the inputs, the model's parameters are fixed (parameters), the target is output"));
        }
    }
    let names = inputs.get_ref().clone();
    if names.is_empty() || names.iter().any(|n| n.is_empty()) || (1..names.len()).any(|i| names[..i].contains(&names[i])) {
        return Err(cx.err(Some(inputs.span()), "objective.inputs", "name each input once: inputs = [\"u\", \"v\"]"));
    }
    let output = o.output.as_ref().ok_or_else(|| cx.err(Some(inputs.span()), "objective.output", "inputs need output = <number>: the model output to reach"))?;
    let spec = model_spec(cx, o)?;
    if spec.loss == LossKind::Bce && !(0.0..=1.0).contains(output.get_ref()) {
        return Err(cx.err(Some(output.span()), "objective.output", format!("{} is not allowed with bce: use a probability in [0, 1]", output.get_ref())));
    }
    let table = Table::inline(&[vec![0.0; names.len()]], &[*output.get_ref()], Some(&names)).map_err(|e| cx.err(Some(inputs.span()), "objective.inputs", e.message))?;
    let model = crate::problem::model::objective(&table, &spec);
    let raw = o.parameters.as_ref().ok_or_else(|| {
        cx.err(Some(inputs.span()), "objective.parameters", format!("inputs need the model's {} parameters: parameters = [...] ({}, …) or {{ npy = \"parameters.npy\", row = 0 }}", model.dim(), model.vars[..model.dim().min(3)].join(", ")))
    })?;
    let bad = |msg: String| cx.err(Some(raw.span()), "objective.parameters", msg);
    let values: Vec<f64> = match raw.get_ref() {
        toml::Value::Array(_) => raw.get_ref().clone().try_into().map_err(|_| bad("a list of numbers".into()))?,
        toml::Value::Table(t) => {
            if let Some(k) = t.keys().find(|k| !["npy", "row"].contains(&k.as_str())) {
                return Err(bad(format!("unknown key '{k}': use {{ npy = \"parameters.npy\", row = 0 }}")));
            }
            let file = t.get("npy").and_then(|v| v.as_str()).ok_or_else(|| bad("give npy = \"<file>\": a parameters.npy a sweep wrote".into()))?;
            let row = t.get("row").map_or(Some(0), |v| v.as_integer()).filter(|&r| r >= 0).ok_or_else(|| bad("row must be a whole number >= 0 (a run's row of the file)".into()))?;
            let full = std::path::Path::new(cx.file).parent().unwrap_or(std::path::Path::new("")).join(file);
            crate::problem::npy::read_row(&full, row as u64).map_err(|e| bad(format!("{}: {e}", full.display())))?
        }
        _ => return Err(bad("use a list of numbers, or { npy = \"parameters.npy\", row = 0 }".into())),
    };
    if values.len() != model.dim() {
        return Err(bad(format!("{} values, but this model has {} parameters ({}, …)", values.len(), model.dim(), model.vars[..model.dim().min(3)].join(", "))));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(bad(format!("{v} is not allowed: every parameter must be finite")));
    }
    Ok(crate::problem::model::input_objective(&model, &values, names))
}

/// `model = "linear"`, `"logistic"` or `{ mlp = { hidden = [16], activation = "tanh",
/// bias = true, scaling = "standard" } }` (activation: tanh, sigmoid, relu, identity; scaling:
/// standard or mean_field).
fn model_kind(cx: &Ctx, m: &Spanned<toml::Value>) -> Result<(ModelKind, Option<MlpSpec>), ConfigError> {
    let bad = |msg: String| cx.err(Some(m.span()), "objective.model", msg);
    let allowed = "linear, logistic, or { mlp = { hidden = [16], activation = \"tanh\", bias = true, scaling = \"standard\" } }";
    match m.get_ref() {
        toml::Value::String(s) => match s.as_str() {
            "linear" => Ok((ModelKind::Linear, None)),
            "logistic" => Ok((ModelKind::Logistic, None)),
            other => Err(bad(format!("unknown model '{other}' (allowed: {allowed})"))),
        },
        toml::Value::Table(t) => {
            let Some(toml::Value::Table(net)) = t.get("mlp").filter(|_| t.len() == 1) else {
                return Err(bad(format!("a table here is {{ mlp = {{ ... }} }} (allowed: {allowed})")));
            };
            if let Some(k) = net.keys().find(|k| !["hidden", "activation", "bias", "scaling"].contains(&k.as_str())) {
                return Err(bad(format!("unknown key '{k}' of mlp (allowed: hidden, activation, bias, scaling)")));
            }
            let hidden: Vec<i64> = net
                .get("hidden")
                .and_then(|h| h.as_array())
                .and_then(|a| a.iter().map(|v| v.as_integer()).collect())
                .ok_or_else(|| bad("mlp needs hidden = [units, ...], whole numbers, e.g. [16]".into()))?;
            if hidden.is_empty() || hidden.iter().any(|&u| !(1..=4096).contains(&u)) {
                return Err(bad(format!("mlp.hidden = {hidden:?} is not allowed: use one or more layers of 1 ..= 4096 units")));
            }
            let activation = match net.get("activation") {
                None => Activation::Tanh,
                Some(a) => a.as_str().and_then(Activation::from_name).ok_or_else(|| bad(format!("mlp.activation = {a} is not allowed (allowed: {})", Activation::NAMES.join(", "))))?,
            };
            let bias = match net.get("bias") {
                None => true,
                Some(b) => b.as_bool().ok_or_else(|| bad("mlp.bias must be true or false".into()))?,
            };
            let mean_field = match net.get("scaling").map(|s| s.as_str()) {
                None | Some(Some("standard")) => false,
                Some(Some("mean_field")) => true,
                Some(_) => return Err(bad("mlp.scaling must be \"standard\" or \"mean_field\"".into())),
            };
            Ok((ModelKind::Mlp, Some(MlpSpec { hidden: hidden.into_iter().map(|u| u as usize).collect(), activation, bias, mean_field })))
        }
        other => Err(bad(format!("found {}, expected {allowed}", other.type_str()))),
    }
}

/// A data table's error as a config error: the data file's line and column, or, for a table
/// error without a line (a missing column), the config's field.
fn data_error(cx: &Ctx, file: &str, e: DataError, data: &Spanned<toml::Value>, target: std::ops::Range<usize>) -> ConfigError {
    match e.line {
        Some(line) => ConfigError { file: file.to_string(), line: Some(line), field: e.field, message: e.message },
        None => {
            let span = if e.field == "target" { target } else { data.span() };
            cx.err(Some(span), format!("objective.{}", if e.field == "target" || e.field == "features" { e.field.as_str() } else { "data" }), format!("{file}: {}", e.message))
        }
    }
}

/// Every value of a table must be finite at the run precision.
fn representable(file: &str, t: &Table, p: Precision) -> Result<(), ConfigError> {
    if p == Precision::F64 {
        return Ok(());
    }
    let d = t.dim();
    for i in 0..t.rows() {
        for (j, &v) in t.row(i).iter().chain(std::iter::once(&t.y[i])).enumerate() {
            if !(v as f32).is_finite() {
                let column = if j < d { t.features[j].clone() } else { "target".to_string() };
                return Err(ConfigError { file: file.to_string(), line: Some(i + 2), field: column, message: format!("{v:e} rounds to infinity in f32: rescale the column or use precision = \"f64\"") });
            }
        }
    }
    Ok(())
}

/// Every constant of the objective's graph (written ones, and those folded from them: exp(100)
/// is 2.7e43) must be finite at the run precision.
pub(super) fn check_constants(cx: &Ctx, raw: &Spanned<RawObjective>, obj: &Objective, p: Precision) -> Result<(), ConfigError> {
    let o = raw.get_ref();
    let (field, span) = if let Some(e) = &o.expr {
        ("objective.expr", e.span())
    } else if let Some(ls) = &o.least_squares {
        ("objective.least_squares", ls.span())
    } else if let Some(q) = &o.quadratic {
        ("objective.quadratic", q.span())
    } else if let Some(d) = &o.data {
        ("objective", d.span())
    } else {
        ("objective.builtin", raw.span())
    };
    for n in obj.graph.nodes() {
        if let Node::Const(c) = *n {
            cx.representable(c, Some(span.clone()), field, p).map_err(|mut e| {
                e.message = format!("the constant {c:e} (as written or folded from the expression) rounds to infinity in {}: rescale the objective or use precision = \"f64\"", p.name());
                e
            })?;
        }
    }
    Ok(())
}

/// Check a matrix: non-empty, rectangular (square if asked), finite. Returns (rows, cols).
fn matrix(cx: &Ctx, m: &Spanned<Vec<Vec<f64>>>, field: &str, square: bool) -> Result<(usize, usize), ConfigError> {
    let rows = m.get_ref();
    let bad = |msg: String| cx.err(Some(m.span()), field, msg);
    if rows.is_empty() || rows[0].is_empty() {
        return Err(bad("must be a non-empty matrix, e.g. [[1, 0], [0, 1]]".into()));
    }
    let cols = rows[0].len();
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(bad(format!("row {i} has {} entries but row 0 has {cols}: every row needs the same length", r.len())));
    }
    if square && rows.len() != cols {
        return Err(bad(format!("must be square, found {} x {cols}", rows.len())));
    }
    if rows.iter().flatten().any(|v| !v.is_finite()) {
        return Err(bad("entries must be finite numbers".into()));
    }
    Ok((rows.len(), cols))
}

fn vector(cx: &Ctx, v: &Spanned<Vec<f64>>, field: &str, n: usize, what: &str) -> Result<(), ConfigError> {
    if v.get_ref().len() != n {
        return Err(cx.err(Some(v.span()), field, format!("has {} entries but must have {n} ({what})", v.get_ref().len())));
    }
    if v.get_ref().iter().any(|x| !x.is_finite()) {
        return Err(cx.err(Some(v.span()), field, "entries must be finite numbers"));
    }
    Ok(())
}
