//! `[objective]`: exactly one of expr, builtin, least_squares, quadratic.

use super::raw::RawObjective;
use super::Ctx;
use crate::error::ConfigError;
use crate::problem::catalogue;
use crate::problem::expr::graph::Node;
use crate::problem::expr::Objective;
use crate::problem::real::Precision;
use toml::Spanned;


pub(super) fn objective(cx: &Ctx, raw: &Spanned<RawObjective>) -> Result<Objective, ConfigError> {
    let o = raw.get_ref();
    let given: Vec<&str> = [
        o.expr.as_ref().map(|_| "expr"),
        o.builtin.as_ref().map(|_| "builtin"),
        o.least_squares.as_ref().map(|_| "least_squares"),
        o.quadratic.as_ref().map(|_| "quadratic"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        return Err(cx.err(
            Some(raw.span()),
            "objective",
            format!(
                "give exactly one of expr, builtin, least_squares, quadratic (found {})",
                if given.is_empty() { "none".to_string() } else { given.join(", ") }
            ),
        ));
    }
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
