//! Reading a config: first a raw mirror of the TOML (serde, unknown keys rejected), then
//! validation into a [`Plan`]. Every error names the file, the field, the line, and what is
//! allowed; none panics.

use crate::problem::catalogue;
use crate::error::ConfigError;
use crate::problem::expr::Objective;
use crate::method::{OptimizerKind, ScheduleKind, CLIP_NORM, LR_SCALE};
use crate::plan::{Axis, BackendChoice, Block, Plan, Precision, Rules};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::{Spanned, Value};

/// An `[[optimizer]]` table: kind, lr and hyperparameters, checked against the kind later.
type RawOptimizer = Spanned<BTreeMap<String, Spanned<Value>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Option<Spanned<String>>,
    objective: Spanned<RawObjective>,
    sweep: Option<RawSweep>,
    optimizer: Option<Vec<RawOptimizer>>,
    run: Option<RawRun>,
    analysis: Option<RawAnalysis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalysis {
    basins: Option<RawBasins>,
    threshold: Option<Spanned<RawThreshold>>,
    map: Option<Spanned<RawMap>>,
    trajectories: Option<Spanned<RawTrajectories>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrajectories {
    runs: Option<Spanned<Vec<i64>>>,
    sample: Option<Spanned<i64>>,
    every: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    x: Spanned<String>,
    y: Option<Spanned<String>>,
    color: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    rel_tol: Option<Spanned<f64>>,
    points: Option<Spanned<i64>>,
    max_rounds: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasins {
    tolerance: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjective {
    expr: Option<Spanned<String>>,
    vars: Option<Spanned<Vec<String>>>,
    builtin: Option<Spanned<String>>,
    least_squares: Option<Spanned<RawLeastSquares>>,
    quadratic: Option<Spanned<RawQuadratic>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLeastSquares {
    a: Spanned<Vec<Vec<f64>>>,
    b: Spanned<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuadratic {
    h: Spanned<Vec<Vec<f64>>>,
    g: Option<Spanned<Vec<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    lr: Option<Spanned<Value>>,
    init: Option<BTreeMap<String, Spanned<Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    steps: Option<Spanned<i64>>,
    precision: Option<Spanned<String>>,
    backend: Option<Spanned<String>>,
    grad_tol_abs: Option<Spanned<f64>>,
    grad_tol_rel: Option<Spanned<f64>>,
    blowup: Option<Spanned<f64>>,
    steps_per_dispatch: Option<Spanned<i64>>,
    window: Option<Spanned<i64>>,
    max_period: Option<Spanned<i64>>,
    cycle_tol: Option<Spanned<f64>>,
}

/// Command-line settings that take precedence over the file's `[run]` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub precision: Option<Precision>,
    pub backend: Option<BackendChoice>,
}

/// Most steps one dispatch runs: lavapipe silently ends shader loops after 65,535 iterations.
pub const MAX_STEPS_PER_DISPATCH: u32 = 60_000;
/// Runs of one optimizer block are indexed with 32-bit integers on the device.
pub const MAX_RUNS_PER_BLOCK: u64 = u32::MAX as u64;

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.src[..offset.min(self.src.len())].matches('\n').count() + 1
    }

    fn err(&self, span: Option<Range<usize>>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: span.map(|s| self.line_of(s.start)),
            field: field.into(),
            message: message.into(),
        }
    }

    /// The dotted field at a byte offset: the enclosing `[table]` header plus the key on that line.
    fn field_at(&self, offset: usize) -> Option<String> {
        let line_no = self.line_of(offset);
        let lines: Vec<&str> = self.src.lines().collect();
        let line = lines.get(line_no - 1)?.trim();
        let header = lines[..line_no - 1]
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        if line.starts_with('[') {
            return Some(line.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        }
        let key = line.split('=').next()?.trim();
        if key.is_empty() || line.find('=').is_none() {
            return header;
        }
        Some(match header {
            Some(h) => format!("{h}.{key}"),
            None => key.to_string(),
        })
    }
}

/// Load and validate a config file.
pub fn load(path: &std::path::Path, ov: Overrides) -> crate::error::Result<Plan> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| crate::error::Error::Usage(format!("cannot read config {}: {e}", path.display())))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep").to_string();
    Ok(parse(&path.display().to_string(), &src, &stem, ov)?)
}

/// Parse and validate config text. `file` is only used in messages; `default_name` names the
/// sweep when the config has no `name`.
pub fn parse(file: &str, src: &str, default_name: &str, ov: Overrides) -> Result<Plan, ConfigError> {
    let cx = Ctx { file, src };
    let raw: RawConfig = toml::from_str(src).map_err(|e| {
        let span = e.span();
        let msg = e.message().trim().to_string();
        let field = span
            .as_ref()
            .and_then(|s| cx.field_at(s.start))
            .or_else(|| msg.split('`').nth(1).map(str::to_string))
            .unwrap_or_else(|| "(file)".into());
        cx.err(span, field, msg)
    })?;
    validate(&cx, raw, default_name, ov)
}

fn validate(cx: &Ctx, raw: RawConfig, default_name: &str, ov: Overrides) -> Result<Plan, ConfigError> {
    let name = match &raw.name {
        Some(n) => {
            let v = n.get_ref();
            if v.is_empty() || v.contains(['/', '\\']) || v == "." || v == ".." {
                return Err(cx.err(Some(n.span()), "name", "must be a plain, non-empty file name (no '/')"));
            }
            v.clone()
        }
        None => default_name.to_string(),
    };

    let run = raw.run.unwrap_or(RawRun {
        steps: None,
        precision: None,
        backend: None,
        grad_tol_abs: None,
        grad_tol_rel: None,
        blowup: None,
        steps_per_dispatch: None,
        window: None,
        max_period: None,
        cycle_tol: None,
    });
    let precision = match (ov.precision, &run.precision) {
        (Some(p), _) => p,
        (None, None) => Precision::F32,
        (None, Some(p)) => match p.get_ref().as_str() {
            "f32" => Precision::F32,
            "f64" => Precision::F64,
            other => {
                return Err(cx.err(Some(p.span()), "run.precision", format!("'{other}' is not allowed: use f32 or f64")))
            }
        },
    };
    let backend = match (ov.backend, &run.backend) {
        (Some(b), _) => b,
        (None, None) => BackendChoice::Auto,
        (None, Some(b)) => BackendChoice::from_name(b.get_ref()).ok_or_else(|| {
            cx.err(Some(b.span()), "run.backend", format!("'{}' is not allowed: use auto, gpu or cpu", b.get_ref()))
        })?,
    };
    let steps = match &run.steps {
        None => 1000,
        Some(s) => {
            let v = *s.get_ref();
            if v < 1 || v > u32::MAX as i64 - 1 {
                return Err(cx.err(Some(s.span()), "run.steps", format!("{v} is not allowed: use 1 ..= {}", u32::MAX - 1)));
            }
            v as u32
        }
    };
    let steps_per_dispatch = match &run.steps_per_dispatch {
        None => 1000.min(steps).max(1),
        Some(s) => {
            let v = *s.get_ref();
            if v < 1 || v > MAX_STEPS_PER_DISPATCH as i64 {
                return Err(cx.err(
                    Some(s.span()),
                    "run.steps_per_dispatch",
                    format!("{v} is not allowed: use 1 ..= {MAX_STEPS_PER_DISPATCH} (lavapipe ends shader loops after 65,535 iterations)"),
                ));
            }
            v as u32
        }
    };
    let mut rules = Rules::defaults(precision);
    let nonneg = |s: &Spanned<f64>, field: &str, min_excl: Option<f64>| -> Result<f64, ConfigError> {
        let v = *s.get_ref();
        let ok = v.is_finite() && min_excl.map_or(v >= 0.0, |m| v > m);
        if !ok {
            let allowed = min_excl.map_or("a finite number >= 0".to_string(), |m| format!("a finite number > {m}"));
            return Err(cx.err(Some(s.span()), field, format!("{v} is not allowed: use {allowed}")));
        }
        Ok(v)
    };
    if let Some(s) = &run.grad_tol_abs {
        rules.grad_tol_abs = nonneg(s, "run.grad_tol_abs", None)?;
    }
    if let Some(s) = &run.grad_tol_rel {
        rules.grad_tol_rel = nonneg(s, "run.grad_tol_rel", None)?;
    }
    if let Some(s) = &run.blowup {
        rules.blowup = nonneg(s, "run.blowup", Some(1.0))?;
    }
    if let Some(s) = &run.cycle_tol {
        rules.cycle_tol = nonneg(s, "run.cycle_tol", None)?;
    }
    let int_in = |s: &Spanned<i64>, field: &str, lo: i64, hi: i64, why: &str| -> Result<u32, ConfigError> {
        let v = *s.get_ref();
        if v < lo || v > hi {
            return Err(cx.err(Some(s.span()), field, format!("{v} is not allowed: use {lo} ..= {hi}{why}")));
        }
        Ok(v as u32)
    };
    if let Some(s) = &run.window {
        rules.window = int_in(s, "run.window", 0, 1 << 30, " (0: no classification; else at least 8, 8 segments of ≥ 1 step)")?;
        if (1..8).contains(&rules.window) {
            return Err(cx.err(Some(s.span()), "run.window", format!("{} is not allowed: use 0 (no classification) or 8 ..= {}", rules.window, 1 << 30)));
        }
    }
    if let Some(s) = &run.max_period {
        rules.max_period = int_in(s, "run.max_period", 1, 1 << 20, "")?;
    }

    let basins = match raw.analysis.as_ref().and_then(|a| a.basins.as_ref()) {
        None => None,
        Some(b) => Some(match &b.tolerance {
            None => crate::plan::analyses::DEFAULT_BASIN_TOLERANCE,
            Some(t) => nonneg(t, "analysis.basins.tolerance", Some(0.0))?,
        }),
    };
    let threshold = match raw.analysis.as_ref().and_then(|a| a.threshold.as_ref()) {
        None => None,
        Some(t) => {
            let mut spec = crate::plan::analyses::ThresholdSpec::default();
            if let Some(v) = &t.get_ref().rel_tol {
                spec.rel_tol = nonneg(v, "analysis.threshold.rel_tol", Some(0.0))?;
                if spec.rel_tol >= 1.0 {
                    return Err(cx.err(Some(v.span()), "analysis.threshold.rel_tol", format!("{} is not allowed: use a number in (0, 1)", spec.rel_tol)));
                }
            }
            if let Some(v) = &t.get_ref().points {
                spec.points = int_in(v, "analysis.threshold.points", 1, 1 << 20, " (learning rates per bracket and round)")?;
            }
            if let Some(v) = &t.get_ref().max_rounds {
                spec.max_rounds = int_in(v, "analysis.threshold.max_rounds", 0, 1000, " (0: the coarse grid only)")?;
            }
            if rules.window_of(steps).1 == 0 {
                return Err(cx.err(
                    Some(t.span()),
                    "analysis.threshold",
                    format!(
                        "needs runs that reach `steps` to be classified (diverging vs bounded), but run.window = {} with steps = {}: set run.window ≥ 8 and steps ≥ 8",
                        rules.window, steps
                    ),
                ));
            }
            Some(spec)
        }
    };
    let map_raw = raw.analysis.as_ref().and_then(|a| a.map.as_ref());
    let map = match map_raw {
        None => None,
        Some(m) => {
            let color = match &m.get_ref().color {
                None => crate::plan::analyses::Colour::Status,
                Some(c) => crate::plan::analyses::Colour::from_name(c.get_ref()).ok_or_else(|| {
                    cx.err(Some(c.span()), "analysis.map.color", format!("'{}' is not allowed: use one of {}", c.get_ref(), crate::plan::analyses::Colour::NAMES))
                })?,
            };
            Some(crate::plan::analyses::MapSpec { x: m.get_ref().x.get_ref().clone(), y: m.get_ref().y.as_ref().map(|y| y.get_ref().clone()), color })
        }
    };
    // Basin colours need basins: the default tolerance unless [analysis.basins] sets one.
    let basins = match (basins, &map) {
        (None, Some(m)) if m.color == crate::plan::analyses::Colour::Basin => Some(crate::plan::analyses::DEFAULT_BASIN_TOLERANCE),
        (b, _) => b,
    };
    let objective = objective(cx, &raw.objective)?;
    let vars = objective.vars.clone();

    // Axes shared by every optimizer block.
    let sweep = raw.sweep.unwrap_or(RawSweep { lr: None, init: None });
    let shared_lr = match &sweep.lr {
        Some(v) => Some(axis(cx, v, "sweep.lr", precision, AxisKind::Lr)?),
        None => None,
    };
    let init_map = sweep.init.unwrap_or_default();
    for (k, v) in &init_map {
        if !vars.contains(k) {
            return Err(cx.err(
                Some(v.span()),
                format!("sweep.init.{k}"),
                format!("'{k}' is not a variable of the objective (variables: {})", vars.join(", ")),
            ));
        }
    }
    let mut init_axes = Vec::new();
    for var in &vars {
        let name = format!("init_{var}");
        init_axes.push(match init_map.get(var) {
            Some(v) => Axis { name, ..axis(cx, v, &format!("sweep.init.{var}"), precision, AxisKind::Init)? },
            None => Axis { name, values: vec![0.0], log: false },
        });
    }

    let tables = raw.optimizer.unwrap_or_default();
    let mut blocks = Vec::new();
    let mut first_run: u64 = 0;
    let default_gd = tables.is_empty();
    let n_blocks = if default_gd { 1 } else { tables.len() };
    for bi in 0..n_blocks {
        let (kind, own_lr, hyper_axes, schedule) = if default_gd {
            let h = OptimizerKind::Gd.hypers().iter().map(|h| Axis { name: h.name.into(), values: vec![h.default], log: false });
            (OptimizerKind::Gd, None, h.collect(), None)
        } else {
            optimizer_table(cx, &tables[bi], bi, &vars, precision)?
        };
        let lr = match (own_lr, &shared_lr) {
            (Some(a), _) => a,
            (None, Some(a)) => a.clone(),
            (None, None) => {
                return Err(cx.err(
                    if default_gd { None } else { Some(tables[bi].span()) },
                    "sweep.lr",
                    "no learning rates: set sweep.lr (a number, a list, or { log = [lo, hi], n = N } / { lin = [lo, hi], n = N }) or lr in this [[optimizer]] table",
                ))
            }
        };
        let mut axes = vec![lr];
        axes.extend(hyper_axes);
        axes.extend(init_axes.iter().cloned());
        let runs = axes.iter().try_fold(1u64, |acc, a| acc.checked_mul(a.values.len() as u64));
        let field = if default_gd { "sweep".to_string() } else { format!("optimizer[{bi}]") };
        let span = if default_gd { None } else { Some(tables[bi].span()) };
        let runs = match runs {
            Some(r) if r <= MAX_RUNS_PER_BLOCK => r,
            _ => {
                let approx: f64 = axes.iter().map(|a| a.values.len() as f64).product();
                return Err(cx.err(
                    span,
                    field,
                    format!(
                        "this optimizer's grid has {approx:.3e} runs; one [[optimizer]] table may have at most {MAX_RUNS_PER_BLOCK} (split the sweep into several tables or configs)"
                    ),
                ));
            }
        };
        let n_hypers = axes.len() - 1 - init_axes.len();
        blocks.push(Block { optimizer: kind, axes, n_hypers, schedule, first_run, runs, lr_table: None });
        first_run += runs;
    }

    if let (Some(spec), Some(m)) = (&map, map_raw) {
        crate::plan::analyses::check_map(spec, &blocks).map_err(|(field, message)| {
            let span = match field.as_str() {
                "y" => m.get_ref().y.as_ref().map(|y| y.span()),
                _ => Some(m.get_ref().x.span()),
            };
            cx.err(span, format!("analysis.map.{field}"), message)
        })?;
    }
    let total_runs: u64 = blocks.iter().map(|b| b.runs).sum();
    let trajectories = match raw.analysis.as_ref().and_then(|a| a.trajectories.as_ref()) {
        None => None,
        Some(t) => {
            use crate::plan::analyses::{sample, TrajectorySpec as Spec, DEFAULT_TRAJECTORY_POINTS as DEFAULT_POINTS, DEFAULT_TRAJECTORY_SAMPLE as DEFAULT_SAMPLE, MAX_TRAJECTORIES as MAX_RUNS};
            let t_ref = t.get_ref();
            let runs = match (&t_ref.runs, &t_ref.sample) {
                (Some(_), Some(s)) => {
                    return Err(cx.err(Some(s.span()), "analysis.trajectories.sample", "give either runs (ids) or sample (how many), not both"))
                }
                (Some(r), None) => {
                    let ids = r.get_ref();
                    if ids.is_empty() || ids.len() > MAX_RUNS {
                        return Err(cx.err(Some(r.span()), "analysis.trajectories.runs", format!("{} ids: give 1 ..= {MAX_RUNS}", ids.len())));
                    }
                    if let Some(bad) = ids.iter().find(|&&id| id < 0 || id as u64 >= total_runs) {
                        return Err(cx.err(
                            Some(r.span()),
                            "analysis.trajectories.runs",
                            format!("run {bad} does not exist: ids are 0 ..= {} (see runs.csv or `gdsweep plan`)", total_runs - 1),
                        ));
                    }
                    ids.iter().map(|&id| id as u64).collect()
                }
                (None, s) => {
                    let n = match s {
                        Some(s) => int_in(s, "analysis.trajectories.sample", 1, MAX_RUNS as i64, "")? as u64,
                        None => DEFAULT_SAMPLE,
                    };
                    sample(total_runs, n)
                }
            };
            let every = match &t_ref.every {
                Some(e) => int_in(e, "analysis.trajectories.every", 1, MAX_STEPS_PER_DISPATCH as i64, " (steps between recorded points)")?,
                None => steps.div_ceil(DEFAULT_POINTS).max(1),
            };
            Some(Spec { runs, every })
        }
    };
    let resolved = serde_json::json!({
        "name": name,
        "objective": { "formula": objective.formula, "vars": vars },
        "optimizers": blocks.iter().map(|b| serde_json::json!({
            "kind": b.optimizer,
            "schedule": b.schedule,
            "first_run": b.first_run,
            "runs": b.runs,
            "axes": b.axes.iter().map(|a| serde_json::json!({
                "name": a.name, "n": a.values.len(), "first": a.values[0],
                "last": a.values[a.values.len() - 1], "log": a.log,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "analysis": { "basins": basins.map(|t| serde_json::json!({ "tolerance": t })), "threshold": threshold, "map": map, "trajectories": trajectories },
        "run": { "steps": steps, "steps_per_dispatch": steps_per_dispatch, "precision": precision,
                 "backend": backend, "rules": rules },
    });
    let plan = Plan {
        name,
        objective,
        blocks,
        steps,
        steps_per_dispatch,
        precision,
        backend,
        rules,
        basins,
        threshold,
        map,
        trajectories,
        resolved,
        source: cx.file.to_string(),
    };
    let need = crate::outcome::Results::bytes_of(&plan);
    let avail = available_memory_bytes();
    if need > avail / 2 {
        return Err(cx.err(
            None,
            "sweep",
            format!(
                "the grid has {} runs; their results take {:.1} GiB, more than half of the {:.1} GiB of memory available: use fewer points (n) or split the sweep",
                plan.total_runs(),
                need as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64
            ),
        ));
    }
    Ok(plan)
}

/// MemAvailable from /proc/meminfo; 8 GiB where that cannot be read.
pub fn available_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30)
}

fn objective(cx: &Ctx, raw: &Spanned<RawObjective>) -> Result<Objective, ConfigError> {
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

#[derive(Clone, Copy)]
enum AxisKind {
    Lr,
    Init,
    Hyper(crate::method::Hyper),
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Read one axis: a number, a list of numbers, or `{ log|lin = [lo, hi], n = N }`.
fn axis(cx: &Ctx, v: &Spanned<Value>, field: &str, p: Precision, kind: AxisKind) -> Result<Axis, ConfigError> {
    let span = Some(v.span());
    let bad = |msg: String| cx.err(span.clone(), field, msg);
    const FORMS: &str = "a number, a list of numbers, { log = [lo, hi], n = N } or { lin = [lo, hi], n = N }";
    let (values, log) = match v.get_ref() {
        Value::Integer(_) | Value::Float(_) => (vec![number(v.get_ref()).unwrap_or(0.0)], false),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(bad(format!("an empty list has no values: use {FORMS}")));
            }
            let vals: Option<Vec<f64>> = items.iter().map(number).collect();
            (vals.ok_or_else(|| bad(format!("every entry of the list must be a number (use {FORMS})")))?, false)
        }
        Value::Table(t) => {
            for k in t.keys() {
                if !["log", "lin", "n"].contains(&k.as_str()) {
                    return Err(bad(format!("unknown key '{k}' in a range (allowed: log, lin, n)")));
                }
            }
            let n = match t.get("n") {
                Some(Value::Integer(n)) if *n >= 1 => *n as u64,
                Some(Value::Integer(n)) => return Err(bad(format!("n = {n} is not allowed: a range needs n >= 1 points"))),
                Some(_) => return Err(bad("n must be an integer >= 1".into())),
                None => return Err(bad("a range needs n, the number of points".into())),
            };
            if n > MAX_RUNS_PER_BLOCK {
                return Err(bad(format!("n = {n} is more than {MAX_RUNS_PER_BLOCK} points")));
            }
            // Every point is at least one run: refuse before allocating what cannot fit.
            let need = n * crate::outcome::Results::bytes_per_run(1) as u64;
            let avail = available_memory_bytes();
            if need > avail / 2 {
                return Err(bad(format!(
                    "n = {n} points make at least {n} runs, whose results take {:.1} GiB, more than half of the {:.1} GiB of memory available: use a smaller n or split the sweep",
                    need as f64 / (1u64 << 30) as f64,
                    avail as f64 / (1u64 << 30) as f64
                )));
            }
            let (is_log, ends) = match (t.get("log"), t.get("lin")) {
                (Some(e), None) => (true, e),
                (None, Some(e)) => (false, e),
                _ => return Err(bad("a range needs exactly one of log = [lo, hi] or lin = [lo, hi]".into())),
            };
            let which = if is_log { "log" } else { "lin" };
            let pair: Option<Vec<f64>> = ends.as_array().map(|a| a.iter().map(number).collect()).unwrap_or(None);
            let (lo, hi) = match pair.as_deref() {
                Some([lo, hi]) => (*lo, *hi),
                _ => return Err(bad(format!("{which} must be a pair of numbers [lo, hi]"))),
            };
            if !lo.is_finite() || !hi.is_finite() {
                return Err(bad(format!("{which} endpoints must be finite")));
            }
            if lo > hi {
                return Err(bad(format!("the range {which} = [{lo}, {hi}] is reversed: write [{hi}, {lo}]")));
            }
            if lo == hi && n > 1 {
                return Err(bad(format!("the range {which} = [{lo}, {hi}] is empty but asks for n = {n} points")));
            }
            if is_log && lo <= 0.0 {
                return Err(bad(format!("a log range needs positive endpoints, found [{lo}, {hi}]: use lin, or a lower bound > 0")));
            }
            (spaced(lo, hi, n as usize, is_log), is_log)
        }
        other => return Err(bad(format!("found {}, expected {FORMS}", other.type_str()))),
    };
    if let Some(x) = values.iter().find(|x| !x.is_finite()) {
        return Err(bad(format!("{x} is not allowed: values must be finite")));
    }
    match kind {
        AxisKind::Lr => {
            if let Some(x) = values.iter().find(|x| **x < 0.0) {
                return Err(bad(format!("learning rate {x} is not allowed: use values >= 0")));
            }
        }
        AxisKind::Hyper(h) => {
            if let Some(x) = values.iter().find(|x| !h.allows(**x)) {
                return Err(bad(format!("{} = {x} is not allowed: use values in {}", h.name, h.range_text())));
            }
        }
        AxisKind::Init => {}
    }
    let name = field.rsplit('.').next().unwrap_or(field).to_string();
    Ok(Axis { name, values: values.into_iter().map(|x| p.round(x)).collect(), log })
}

/// n points from lo to hi inclusive, evenly spaced in value or (log) in log10, as numpy's
/// linspace/logspace compute them: start + i·step, with the last point exactly hi.
pub fn spaced(lo: f64, hi: f64, n: usize, log: bool) -> Vec<f64> {
    if n == 1 {
        return vec![lo];
    }
    let (a, b) = if log { (lo.log10(), hi.log10()) } else { (lo, hi) };
    let step = (b - a) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            if i == n - 1 {
                return hi;
            }
            let t = a + i as f64 * step;
            if log {
                if i == 0 {
                    lo
                } else {
                    10f64.powf(t)
                }
            } else {
                t
            }
        })
        .collect()
}

type OptimizerAxes = (OptimizerKind, Option<Axis>, Vec<Axis>, Option<ScheduleKind>);

fn optimizer_table(
    cx: &Ctx,
    t: &RawOptimizer,
    index: usize,
    vars: &[String],
    p: Precision,
) -> Result<OptimizerAxes, ConfigError> {
    let prefix = format!("optimizer[{index}]");
    let map = t.get_ref();
    let allowed_kinds: Vec<&str> = OptimizerKind::ALL.iter().map(|k| k.name()).collect();
    let kind = match map.get("kind") {
        Some(k) => match k.get_ref().as_str() {
            Some(s) => OptimizerKind::from_name(s).ok_or_else(|| {
                cx.err(
                    Some(k.span()),
                    format!("{prefix}.kind"),
                    format!("unknown optimizer '{s}' (allowed: {})", allowed_kinds.join(", ")),
                )
            })?,
            None => return Err(cx.err(Some(k.span()), format!("{prefix}.kind"), "must be a string")),
        },
        None => {
            return Err(cx.err(
                Some(t.span()),
                format!("{prefix}.kind"),
                format!("every [[optimizer]] table needs kind (allowed: {})", allowed_kinds.join(", ")),
            ))
        }
    };
    let hypers = kind.hypers();
    for (k, v) in map {
        let knob = k == "kind" || k == "lr" || k == "clip_norm" || k == "lr_scale" || k == "schedule";
        if !knob && !hypers.iter().any(|h| h.name == k) {
            let names: Vec<&str> = hypers.iter().map(|h| h.name).collect();
            return Err(cx.err(
                Some(v.span()),
                format!("{prefix}.{k}"),
                format!(
                    "'{k}' is not a hyperparameter of {} (allowed: lr, {}, clip_norm, lr_scale, schedule)",
                    kind.name(),
                    names.join(", ")
                ),
            ));
        }
    }
    let lr = match map.get("lr") {
        Some(v) => Some(axis(cx, v, &format!("{prefix}.lr"), p, AxisKind::Lr)?),
        None => None,
    };
    let mut axes = Vec::new();
    for h in hypers {
        axes.push(match map.get(h.name) {
            Some(v) => axis(cx, v, &format!("{prefix}.{}", h.name), p, AxisKind::Hyper(*h))?,
            None => Axis { name: h.name.to_string(), values: vec![p.round(h.default)], log: false },
        });
    }
    if let Some(v) = map.get("clip_norm") {
        axes.push(axis(cx, v, &format!("{prefix}.clip_norm"), p, AxisKind::Hyper(CLIP_NORM))?);
    }
    if let Some(v) = map.get("lr_scale") {
        axes.extend(lr_scale(cx, v, &format!("{prefix}.lr_scale"), vars, p)?);
    }
    let schedule = match map.get("schedule") {
        Some(v) => {
            let (sk, sa) = schedule(cx, v, &format!("{prefix}.schedule"), p)?;
            axes.extend(sa);
            Some(sk)
        }
        None => None,
    };
    Ok((kind, lr, axes, schedule))
}

/// `schedule = { kind = "cosine", t_max = 1000, eta_min = 0 }`; parameters may be axes.
fn schedule(cx: &Ctx, v: &Spanned<Value>, field: &str, p: Precision) -> Result<(ScheduleKind, Vec<Axis>), ConfigError> {
    let kinds: Vec<&str> = ScheduleKind::ALL.iter().map(|k| k.name()).collect();
    let Value::Table(t) = v.get_ref() else {
        return Err(cx.err(
            Some(v.span()),
            field,
            format!("expected a table like {{ kind = \"cosine\", t_max = 1000 }} (kinds: {})", kinds.join(", ")),
        ));
    };
    let kind = match t.get("kind").and_then(|k| k.as_str()) {
        Some(name) => ScheduleKind::from_name(name).ok_or_else(|| {
            cx.err(Some(v.span()), format!("{field}.kind"), format!("unknown schedule '{name}' (allowed: {})", kinds.join(", ")))
        })?,
        None => {
            return Err(cx.err(Some(v.span()), format!("{field}.kind"), format!("a schedule needs kind (allowed: {})", kinds.join(", "))))
        }
    };
    let params = kind.params();
    for k in t.keys() {
        if k != "kind" && !params.iter().any(|q| q.hyper.name == k) {
            let names: Vec<&str> = params.iter().map(|q| q.hyper.name).collect();
            return Err(cx.err(
                Some(v.span()),
                format!("{field}.{k}"),
                format!("'{k}' is not a parameter of the {} schedule (allowed: {})", kind.name(), names.join(", ")),
            ));
        }
    }
    let mut axes = Vec::new();
    for q in params {
        let name = q.hyper.name;
        let a = match t.get(name) {
            Some(item) => {
                let one = Spanned::new(v.span(), item.clone());
                let a = axis(cx, &one, &format!("{field}.{name}"), p, AxisKind::Hyper(q.hyper))?;
                if q.whole && a.values.iter().any(|x| x.fract() != 0.0) {
                    return Err(cx.err(Some(v.span()), format!("{field}.{name}"), format!("{name} counts steps: use whole numbers >= 1")));
                }
                a
            }
            None if q.required => {
                return Err(cx.err(Some(v.span()), format!("{field}.{name}"), format!("the {} schedule needs {name}", kind.name())))
            }
            None => Axis { name: String::new(), values: vec![p.round(q.hyper.default)], log: false },
        };
        axes.push(Axis { name: format!("schedule_{name}"), ..a });
    }
    Ok((kind, axes))
}

/// `lr_scale = [s_1, …, s_n]` (one factor per variable, in variable order) or
/// `lr_scale = { y = [1, 10, 100] }` (an axis per variable named; the others keep 1).
fn lr_scale(cx: &Ctx, v: &Spanned<Value>, field: &str, vars: &[String], p: Precision) -> Result<Vec<Axis>, ConfigError> {
    let kind = AxisKind::Hyper(LR_SCALE);
    let named = |var: &String, values: Vec<f64>| Axis { name: format!("lr_scale_{var}"), values, log: false };
    match v.get_ref() {
        Value::Array(items) => {
            if items.len() != vars.len() {
                return Err(cx.err(
                    Some(v.span()),
                    field,
                    format!(
                        "has {} factors but the objective has {} variables ({}): give one per variable, or a table {{ {} = [...] }} to sweep one",
                        items.len(),
                        vars.len(),
                        vars.join(", "),
                        vars[0]
                    ),
                ));
            }
            vars.iter()
                .zip(items)
                .map(|(var, item)| {
                    let one = Spanned::new(v.span(), item.clone());
                    let a = axis(cx, &one, field, p, kind)?;
                    Ok(named(var, a.values))
                })
                .collect()
        }
        Value::Table(t) => {
            for k in t.keys() {
                if !vars.contains(k) {
                    return Err(cx.err(
                        Some(v.span()),
                        format!("{field}.{k}"),
                        format!("'{k}' is not a variable of the objective (variables: {})", vars.join(", ")),
                    ));
                }
            }
            vars.iter()
                .map(|var| match t.get(var) {
                    Some(item) => {
                        let one = Spanned::new(v.span(), item.clone());
                        let a = axis(cx, &one, &format!("{field}.{var}"), p, kind)?;
                        Ok(Axis { name: format!("lr_scale_{var}"), ..a })
                    }
                    None => Ok(named(var, vec![1.0])),
                })
                .collect()
        }
        other => Err(cx.err(
            Some(v.span()),
            field,
            format!("found {}, expected a list with one factor per variable or a table {{ var = axis }}", other.type_str()),
        )),
    }
}
