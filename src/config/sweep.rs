//! `[sweep]` and `[[optimizer]]`: the axes (numbers, lists, lin/log ranges) and the optimizer
//! tables with their hyperparameters, knobs and schedules.

use super::raw::{RawOptimizer, RawSweep};
use super::{Ctx, MAX_RUNS_PER_BLOCK};
use crate::error::ConfigError;
use crate::method::{KnobParam, LineSearchKind, OptimizerKind, ScheduleKind, CLIP_NORM, LR_SCALE};
use crate::plan::{Axis, Block, Precision};
use toml::{Spanned, Value};

/// Most points of one axis: 2²⁷ values are a 1 GiB table.
pub const MAX_AXIS_POINTS: u64 = 1 << 27;

/// The optimizer blocks: one per `[[optimizer]]` table (plain GD without one), each the
/// product of its lr, hyperparameter and initial-point axes, with consecutive run ids.
/// `[sweep] standardize`: false, true or a list of them (each value once). None where not set.
pub(super) fn standardize(cx: &Ctx, sweep: Option<&RawSweep>) -> Result<Option<(Vec<bool>, std::ops::Range<usize>)>, ConfigError> {
    let Some(v) = sweep.and_then(|s| s.standardize.as_ref()) else { return Ok(None) };
    let bad = || cx.err(Some(v.span()), "sweep.standardize", "use true, false or [false, true] (each value once)");
    let values: Vec<bool> = match v.get_ref() {
        Value::Boolean(b) => vec![*b],
        Value::Array(a) => a.iter().map(|x| x.as_bool().ok_or_else(bad)).collect::<Result<_, _>>()?,
        _ => return Err(bad()),
    };
    if values.is_empty() || (values.len() == 2 && values[0] == values[1]) || values.len() > 2 {
        return Err(bad());
    }
    Ok(Some((values, v.span())))
}

/// The sweep's axes over the data, for a model trained on data.
#[derive(Default)]
pub(super) struct DataAxes<'a> {
    /// `standardize`'s values as 0 and 1: one objective, and one block per table, each.
    pub standardize: Option<&'a [f64]>,
    /// The `batch_size` and `seed` axes, hyperparameters of every block, and how batches are
    /// drawn (None: full batch).
    pub batch: Vec<Axis>,
    pub sampling: Option<crate::plan::Sampling>,
    /// Each parameter's (fan-in, fan-out, is a bias), for seeded inits.
    pub fans: Option<Vec<(usize, usize, bool)>>,
}

/// Seeded initial points: the seeds (an axis `init_seed`, one value or many) and each seed's
/// point.
struct Seeded {
    seeds: Axis,
    points: Vec<Vec<f64>>,
}

/// `[sweep.init] scheme = "normal" | "xavier_normal" | "he_normal"`, `scale` and `seed` (one
/// seed, or an axis of them): seeded initial points, parameter j drawn as scale·σ_j·N(0, 1)
/// ([`crate::problem::random::normal`] of (seed, j)), σ_j = 1 (normal), √(2/(fan_in + fan_out))
/// (Glorot & Bengio 2010) or √(2/fan_in) (He et al. 2015); biases start at 0. None without a
/// scheme.
fn seeded_init(cx: &Ctx, init: &mut std::collections::BTreeMap<String, Spanned<Value>>, fans: Option<&[(usize, usize, bool)]>, p: Precision) -> Result<Option<Seeded>, ConfigError> {
    let (scheme, scale, seed) = (init.remove("scheme"), init.remove("scale"), init.remove("seed"));
    let Some(scheme) = scheme else {
        if let Some((k, v)) = [("scale", &scale), ("seed", &seed)].into_iter().find_map(|(k, v)| v.as_ref().map(|v| (k, v))) {
            return Err(cx.err(Some(v.span()), format!("sweep.init.{k}"), "only used with scheme (normal, xavier_normal, he_normal)"));
        }
        return Ok(None);
    };
    let Some(fans) = fans else {
        return Err(cx.err(Some(scheme.span()), "sweep.init.scheme", "seeded inits are for models trained on data ([objective] data)"));
    };
    let std = |fan_in: usize, fan_out: usize| -> Option<f64> {
        match scheme.get_ref().as_str() {
            Some("normal") => Some(1.0),
            Some("xavier_normal") => Some((2.0 / (fan_in + fan_out) as f64).sqrt()),
            Some("he_normal") => Some((2.0 / fan_in as f64).sqrt()),
            _ => None,
        }
    };
    if std(1, 1).is_none() {
        return Err(cx.err(Some(scheme.span()), "sweep.init.scheme", "use normal, xavier_normal or he_normal"));
    }
    let scale = match &scale {
        None => 1.0,
        Some(s) => s.get_ref().as_float().or(s.get_ref().as_integer().map(|i| i as f64)).filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| cx.err(Some(s.span()), "sweep.init.scale", "use a finite number >= 0"))?,
    };
    let seeds = match &seed {
        None => Axis { name: INIT_SEED.into(), values: vec![0.0], log: false },
        Some(s) => Axis { name: INIT_SEED.into(), ..axis(cx, s, "sweep.init.seed", p, AxisKind::Hyper(crate::method::Hyper { name: "seed", default: 0.0, min: 0.0, max: MAX_SEED, max_open: false, min_open: false, switch: false, whole: true }))? },
    };
    let point = |seed: u32| fans.iter().enumerate().map(|(j, &(fi, fo, bias))| if bias { 0.0 } else { p.round(scale * std(fi, fo).unwrap_or(1.0) * crate::problem::random::normal(seed, j as u32)) }).collect();
    let points = seeds.values.iter().map(|&s| point(s as u32)).collect();
    Ok(Some(Seeded { seeds, points }))
}

/// The hyperparameter axis of the init seeds, where `[sweep.init] seed` has several values.
pub const INIT_SEED: &str = "init_seed";

/// The largest seed: seeds are whole numbers a run decodes from a real, exactly in f32.
pub const MAX_SEED: f64 = 16_777_215.0;

/// `[sweep] batch_size` and `seed`: the mini-batch axes (empty where batch_size is not set).
/// Returns the axes and the span of whichever was given, for messages.
pub(super) fn batch_axes(cx: &Ctx, sweep: Option<&RawSweep>, p: Precision) -> Result<(Vec<Axis>, Option<std::ops::Range<usize>>), ConfigError> {
    use crate::method::Hyper;
    let Some(sweep) = sweep else { return Ok((Vec::new(), None)) };
    let batch = Hyper::count("batch_size", 1.0, MAX_SEED);
    let seed = Hyper { name: "seed", default: 0.0, min: 0.0, max: MAX_SEED, max_open: false, min_open: false, switch: false, whole: true };
    match (&sweep.batch_size, &sweep.seed) {
        (None, None) => Ok((Vec::new(), None)),
        (None, Some(s)) => Err(cx.err(Some(s.span()), "sweep.seed", "seeds order the mini-batches: set batch_size too")),
        (Some(b), s) => {
            let mut axes = vec![axis(cx, b, "sweep.batch_size", p, AxisKind::Hyper(batch))?];
            axes.push(match s {
                Some(s) => axis(cx, s, "sweep.seed", p, AxisKind::Hyper(seed))?,
                None => Axis { name: "seed".into(), values: vec![0.0], log: false },
            });
            Ok((axes, Some(b.span())))
        }
    }
}

/// The blocks of the sweep: one per `[[optimizer]]` table (GD without one), and with a data
/// axis (`standardize`, one objective per value) one per table and value, the value a
/// one-valued hyperparameter axis after the table's own and the batch axes.
pub(super) fn blocks(cx: &Ctx, sweep: Option<RawSweep>, tables: Option<Vec<RawOptimizer>>, vars: &[String], precision: Precision, data: DataAxes) -> Result<Vec<Block>, ConfigError> {
    // Axes shared by every optimizer block.
    let sweep = sweep.unwrap_or(RawSweep { lr: None, standardize: None, batch_size: None, seed: None, init: None });
    let shared_lr = match &sweep.lr {
        Some(v) => Some(axis(cx, v, "sweep.lr", precision, AxisKind::Lr)?),
        None => None,
    };
    let mut init_map = sweep.init.unwrap_or_default();
    let seeded = seeded_init(cx, &mut init_map, data.fans.as_deref(), precision)?;
    // With several seeds, each seed's point is a row of the blocks' init table and the seeds
    // a hyperparameter axis; explicit entries then fix their parameter for every seed.
    let seed_axis = seeded.as_ref().filter(|s| s.seeds.values.len() > 1).map(|s| s.seeds.clone());
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
    let mut seed_points = seeded.map(|s| s.points);
    for (j, var) in vars.iter().enumerate() {
        let name = format!("init_{var}");
        init_axes.push(match init_map.get(var) {
            Some(v) => {
                let a = Axis { name, ..axis(cx, v, &format!("sweep.init.{var}"), precision, AxisKind::Init)? };
                if let (Some(points), Some(seeds)) = (seed_points.as_mut(), &seed_axis) {
                    if a.values.len() > 1 {
                        return Err(cx.err(Some(v.span()), format!("sweep.init.{var}"), format!("with {} seeds (sweep.init.seed), a parameter's explicit start is one value (each seed's point is drawn whole)", seeds.values.len())));
                    }
                    points.iter_mut().for_each(|p| p[j] = a.values[0]);
                }
                a
            }
            None => Axis { name, values: vec![seed_points.as_ref().map_or(0.0, |p| p[0][j])], log: false },
        });
    }
    let seed_table: Option<Vec<f64>> = seed_axis.as_ref().and_then(|_| seed_points.map(|p| p.concat()));

    let tables = tables.unwrap_or_default();
    let mut blocks = Vec::new();
    let mut first_run: u64 = 0;
    let default_gd = tables.is_empty();
    let n_blocks = if default_gd { 1 } else { tables.len() };
    for bi in 0..n_blocks {
        let Table { kind, lr: own_lr, axes: hyper_axes, schedule, linesearch, scale_of } = if default_gd {
            let h = OptimizerKind::Gd.hypers().iter().map(|h| Axis { name: h.name.into(), values: vec![h.default], log: false });
            Table { kind: OptimizerKind::Gd, lr: None, axes: h.collect(), schedule: None, linesearch: None, scale_of: None }
        } else {
            optimizer_table(cx, &tables[bi], bi, vars, precision)?
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
        axes.extend(data.batch.iter().cloned());
        axes.extend(seed_axis.iter().cloned());
        let init_table = seed_table.as_ref().map(|values| crate::plan::InitTable { seed_axis: axes.len() - 1, values: values.clone() });
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
        let block = Block { optimizer: kind, axes, n_hypers, schedule, linesearch, first_run, runs, lr_table: None, variant: 0, sampling: data.sampling, scale_of, init_table, layout: crate::plan::Layout::Invocation };
        match data.standardize.map(|v| ("standardize", v)) {
            None => {
                blocks.push(block);
                first_run += runs;
            }
            Some((name, values)) => {
                for (k, &v) in values.iter().enumerate() {
                    let mut b = block.clone();
                    b.axes.insert(1 + n_hypers, Axis { name: name.to_string(), values: vec![v], log: false });
                    b.n_hypers += 1;
                    b.variant = k;
                    b.first_run = first_run;
                    blocks.push(b);
                    first_run += runs;
                }
            }
        }
    }
    Ok(blocks)
}

#[derive(Clone, Copy)]
pub(super) enum AxisKind {
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
pub(super) fn axis(cx: &Ctx, v: &Spanned<Value>, field: &str, p: Precision, kind: AxisKind) -> Result<Axis, ConfigError> {
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
            // The axis' values are a table in memory (and on the device): refuse before
            // allocating it.
            if n > MAX_AXIS_POINTS {
                return Err(bad(format!("n = {n} points: an axis may have at most {MAX_AXIS_POINTS} (its values are a table in memory)")));
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
            if !(hi - lo).is_finite() {
                return Err(bad(format!("the range {which} = [{lo:e}, {hi:e}] is wider than f64 can hold (hi − lo overflows): narrow it")));
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
    for &x in &values {
        cx.representable(x, span.clone(), field, p)?;
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

/// What one `[[optimizer]]` table sets: the method, its own lr axis, its hyperparameter axes
/// (the method's, then the knobs'), its schedule and line search.
pub(super) struct Table {
    kind: OptimizerKind,
    lr: Option<Axis>,
    axes: Vec<Axis>,
    schedule: Option<ScheduleKind>,
    linesearch: Option<LineSearchKind>,
    scale_of: Option<Vec<usize>>,
}

pub(super) fn optimizer_table(
    cx: &Ctx,
    t: &RawOptimizer,
    index: usize,
    vars: &[String],
    p: Precision,
) -> Result<Table, ConfigError> {
    let prefix = format!("optimizer[{index}]");
    let map = t.get_ref();
    let allowed_kinds: Vec<String> = OptimizerKind::ALL
        .iter()
        .map(|k| k.method().aliases.iter().fold(k.name().to_string(), |s, a| format!("{s} (or {a})")))
        .collect();
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
        let knob = ["kind", "lr", "clip_norm", "lr_scale", "schedule", "linesearch"].contains(&k.as_str());
        if !knob && !hypers.iter().any(|h| h.name == k) {
            let names: Vec<&str> = hypers.iter().map(|h| h.name).collect();
            return Err(cx.err(
                Some(v.span()),
                format!("{prefix}.{k}"),
                format!(
                    "'{k}' is not a hyperparameter of {} (allowed: lr, {}, clip_norm, lr_scale, schedule, linesearch)",
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
    let mut scale_of = None;
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
        let (scale_axes, map) = lr_scale(cx, v, &format!("{prefix}.lr_scale"), vars, p)?;
        axes.extend(scale_axes);
        scale_of = map;
    }
    let schedule = match map.get("schedule") {
        Some(v) => {
            let kinds: Vec<_> = ScheduleKind::ALL.iter().map(|&k| (k, k.name(), k.params())).collect();
            let (sk, sa) = kinded(cx, v, &format!("{prefix}.schedule"), p, "schedule", "{ kind = \"cosine\", t_max = 1000 }", &kinds, None, &|q| q.hyper.default)?;
            axes.extend(sa);
            Some(sk)
        }
        None => None,
    };
    // A parameter's default: the method's own where it sets one, else the search's.
    let search_default = |q: &KnobParam| {
        let own = kind.method().linesearch_defaults.iter().find(|(name, _)| *name == q.hyper.name);
        own.map_or(q.hyper.default, |&(_, v)| v)
    };
    let linesearch = match map.get("linesearch") {
        Some(v) if v.get_ref().as_str() == Some("none") => None,
        None => match kind.method().default_linesearch {
            Some(lk) => {
                axes.extend(lk.params().iter().map(|q| Axis { name: format!("linesearch_{}", q.hyper.name), values: vec![p.round(search_default(q))], log: false }));
                Some(lk)
            }
            None => None,
        },
        Some(v) => {
            let field = format!("{prefix}.linesearch");
            let kinds: Vec<_> = LineSearchKind::ALL.iter().map(|&k| (k, k.name(), k.params())).collect();
            let example = "{ kind = \"backtracking\", c = 1e-4, shrink = 0.5, max_steps = 30 }";
            let (lk, la) = kinded(cx, v, &field, p, "linesearch", example, &kinds, Some("none"), &search_default)?;
            axes.extend(la);
            Some(lk)
        }
    };
    if kind.method().hessian && vars.len() > crate::method::newton::MAX_DIM {
        return Err(cx.err(
            Some(t.span()),
            format!("{prefix}.kind"),
            format!("{} factors the Hessian in the kernel: at most {} variables (this objective has {})", kind.name(), crate::method::newton::MAX_DIM, vars.len()),
        ));
    }
    Ok(Table { kind, lr, axes, schedule, linesearch, scale_of })
}

/// A knob given by kind with parameters, each of which may be an axis (`<knob>_<param>`):
/// `schedule = { kind = "cosine", t_max = 1000, eta_min = 0 }`, `linesearch = "backtracking"`
/// (a kind alone, where no parameter is required). `kinds` are the knob's kinds with their
/// names and parameters; `example` shows the table form.
/// `off` names the value that turns the knob off, where it has one (the caller handles it).
#[allow(clippy::too_many_arguments)]
fn kinded<K: Copy>(
    cx: &Ctx,
    v: &Spanned<Value>,
    field: &str,
    p: Precision,
    knob: &str,
    example: &str,
    kinds: &[(K, &str, &'static [KnobParam])],
    off: Option<&str>,
    default: &dyn Fn(&KnobParam) -> f64,
) -> Result<(K, Vec<Axis>), ConfigError> {
    let names: Vec<&str> = kinds.iter().map(|k| k.1).chain(off).collect();
    let empty = toml::value::Table::new();
    let (name, t) = match v.get_ref() {
        Value::String(name) => (Some(name.as_str()), &empty),
        Value::Table(t) => (t.get("kind").and_then(|k| k.as_str()), t),
        _ => {
            return Err(cx.err(Some(v.span()), field, format!("expected a table like {example} or a kind (kinds: {})", names.join(", "))))
        }
    };
    let Some(name) = name else {
        return Err(cx.err(Some(v.span()), format!("{field}.kind"), format!("a {knob} needs kind (allowed: {})", names.join(", "))));
    };
    let Some(&(kind, _, params)) = kinds.iter().find(|k| k.1 == name) else {
        return Err(cx.err(Some(v.span()), format!("{field}.kind"), format!("unknown {knob} '{name}' (allowed: {})", names.join(", "))));
    };
    for k in t.keys() {
        if k != "kind" && !params.iter().any(|q| q.hyper.name == k) {
            let allowed: Vec<&str> = params.iter().map(|q| q.hyper.name).collect();
            return Err(cx.err(
                Some(v.span()),
                format!("{field}.{k}"),
                format!("'{k}' is not a parameter of the {name} {knob} (allowed: {})", allowed.join(", ")),
            ));
        }
    }
    let mut axes = Vec::new();
    for q in params {
        let param = q.hyper.name;
        let a = match t.get(param) {
            Some(item) => {
                let one = Spanned::new(v.span(), item.clone());
                let a = axis(cx, &one, &format!("{field}.{param}"), p, AxisKind::Hyper(q.hyper))?;
                if q.hyper.whole && a.values.iter().any(|x| x.fract() != 0.0) {
                    return Err(cx.err(Some(v.span()), format!("{field}.{param}"), format!("{param} counts steps: use whole numbers >= 1")));
                }
                a
            }
            None if q.required => return Err(cx.err(Some(v.span()), format!("{field}.{param}"), format!("the {name} {knob} needs {param}"))),
            None => Axis { name: String::new(), values: vec![p.round(default(q))], log: false },
        };
        axes.push(Axis { name: format!("{knob}_{param}"), ..a });
    }
    Ok((kind, axes))
}

/// `lr_scale = [s_1, …, s_n]` (one factor per variable, in variable order) or
/// `lr_scale = { y = [1, 10, 100] }` (an axis per variable named; the others keep 1), or per
/// layer, `lr_scale = { l1 = [...], l2 = [...] }`: one axis per group of the variables named
/// `<group>.…` (a network's layers), the groups not named keeping 1. Returns the axes and, per
/// group, each coordinate's axis.
fn lr_scale(cx: &Ctx, v: &Spanned<Value>, field: &str, vars: &[String], p: Precision) -> Result<(Vec<Axis>, Option<Vec<usize>>), ConfigError> {
    let kind = AxisKind::Hyper(LR_SCALE);
    let group = |var: &str| var.split_once('.').map(|(g, _)| g.to_string());
    let mut groups: Vec<String> = Vec::new();
    for g in vars.iter().filter_map(|v| group(v)) {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    if let (Value::Table(t), false) = (v.get_ref(), groups.is_empty()) {
        if let Some(k) = t.keys().find(|k| !groups.contains(k)) {
            return Err(cx.err(Some(v.span()), format!("{field}.{k}"), format!("'{k}' is not a layer of the network (layers: {})", groups.join(", "))));
        }
        let axes = groups
            .iter()
            .map(|g| match t.get(g) {
                Some(item) => {
                    let a = axis(cx, &Spanned::new(v.span(), item.clone()), &format!("{field}.{g}"), p, kind)?;
                    Ok(Axis { name: format!("lr_scale_{g}"), ..a })
                }
                None => Ok(Axis { name: format!("lr_scale_{g}"), values: vec![1.0], log: false }),
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let map = vars.iter().map(|v| group(v).and_then(|g| groups.iter().position(|x| *x == g)).unwrap_or(0)).collect();
        return Ok((axes, Some(map)));
    }
    if !groups.is_empty() {
        return Err(cx.err(Some(v.span()), field, format!("a network's learning rates are per layer: lr_scale = {{ {} = [...] }} (layers: {})", groups[0], groups.join(", "))));
    }
    lr_scale_per_variable(cx, v, field, vars, p).map(|a| (a, None))
}

fn lr_scale_per_variable(cx: &Ctx, v: &Spanned<Value>, field: &str, vars: &[String], p: Precision) -> Result<Vec<Axis>, ConfigError> {
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
