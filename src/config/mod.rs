//! Reading a config: first a raw mirror of the TOML (`raw.rs`: serde, unknown keys rejected),
//! then validation into a [`Plan`], one module per TOML table: `run.rs`, `analysis.rs`,
//! `objective.rs`, `sweep.rs` (with `[[optimizer]]`). Every error names the file, the field, the
//! line, and what is allowed; none panics.

mod analysis;
mod objective;
mod raw;
mod run;
mod sweep;

pub use sweep::spaced;

use crate::error::ConfigError;
use crate::plan::{BackendChoice, Plan, Precision};
use analysis::Analyses;
use raw::RawConfig;
use run::RunTable;
use std::ops::Range;
use toml::Spanned;

/// Command-line settings that take precedence over the file's `[run]` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub precision: Option<Precision>,
    pub backend: Option<BackendChoice>,
    pub format: Option<crate::plan::OutputFormat>,
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
    /// A finite number ≥ 0 (or > `min_excl`), else an error naming `field`.
    fn non_negative(&self, s: &Spanned<f64>, field: &str, min_excl: Option<f64>) -> Result<f64, ConfigError> {
        let v = *s.get_ref();
        let ok = v.is_finite() && min_excl.map_or(v >= 0.0, |m| v > m);
        if !ok {
            let allowed = min_excl.map_or("a finite number >= 0".to_string(), |m| format!("a finite number > {m}"));
            return Err(self.err(Some(s.span()), field, format!("{v} is not allowed: use {allowed}")));
        }
        Ok(v)
    }

    /// Refuse a value that is finite in f64 but not once rounded to the run precision (1e39
    /// becomes inf in f32: a kernel literal, an lr axis, a plot range would all break).
    fn representable(&self, v: f64, span: Option<Range<usize>>, field: &str, p: Precision) -> Result<(), ConfigError> {
        if v.is_finite() && !p.round(v).is_finite() {
            return Err(self.err(span, field, format!("{v:e} is not allowed: it rounds to infinity in {} (largest finite value {:e}); use a smaller value or precision = \"f64\"", p.name(), f32::MAX)));
        }
        Ok(())
    }

    /// An integer in lo ..= hi, else an error naming `field` (`why` says what the number is).
    fn int_in(&self, s: &Spanned<i64>, field: &str, lo: i64, hi: i64, why: &str) -> Result<u32, ConfigError> {
        let v = *s.get_ref();
        if v < lo || v > hi {
            return Err(self.err(Some(s.span()), field, format!("{v} is not allowed: use {lo} ..= {hi}{why}")));
        }
        Ok(v as u32)
    }

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
        // A line without its comment (a '#' outside quotes starts one).
        let code = |l: &str| -> String {
            let mut quoted = None;
            let mut out = String::new();
            for c in l.chars() {
                match (c, quoted) {
                    ('#', None) => break,
                    ('"' | '\'', None) => quoted = Some(c),
                    (q, Some(open)) if q == open => quoted = None,
                    _ => {}
                }
                out.push(c);
            }
            out.trim().to_string()
        };
        let table = |l: &str| l.starts_with('[').then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let header = lines[..line_no - 1].iter().rev().map(|l| code(l)).find_map(|l| table(&l));
        // A comment or blank line (where TOML reports a value that ran on) names the key above
        // it in the same table, not itself.
        let line = lines[..line_no]
            .iter()
            .rev()
            .map(|l| code(l))
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        if let Some(t) = table(&line) {
            return Some(t);
        }
        let key = line.split('=').next()?.trim().to_string();
        if key.is_empty() || !line.contains('=') {
            return header;
        }
        Some(match header {
            Some(h) => format!("{h}.{key}"),
            None => key,
        })
    }
}

/// Load and validate a config file.
pub fn load(path: &std::path::Path, ov: Overrides) -> crate::error::Result<Plan> {
    load_with_sets(path, ov, &[])
}

/// Load a config file with `--set KEY=VALUE` settings applied on top (`run.steps=5000`,
/// `optimizer[1].beta=[0.5, 0.9]`, `run.precision=f64`: VALUE is TOML, or else a string), and
/// validate the result like the file itself. An error in a set value names the `--set`; any
/// other error is reported against the file, with its line.
pub fn load_with_sets(path: &std::path::Path, ov: Overrides, sets: &[String]) -> crate::error::Result<Plan> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| crate::error::Error::Usage(format!("cannot read config {}: {e}", path.display())))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep").to_string();
    let file = path.display().to_string();
    if sets.is_empty() {
        return Ok(parse(&file, &src, &stem, ov)?);
    }
    // Errors of the file itself first, with their lines.
    let mut table: toml::Table = match toml::from_str(&src) {
        Ok(t) => t,
        Err(_) => return Ok(parse(&file, &src, &stem, ov)?),
    };
    let mut keys = Vec::new();
    for set in sets {
        let bad = |message: String| ConfigError { file: format!("--set {set}"), line: None, field: "--set".into(), message };
        let (key, value) = set.split_once('=').ok_or_else(|| bad("write KEY=VALUE, e.g. --set run.steps=5000".into()))?;
        let key = key.trim();
        let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t.remove("v").expect("the key just written"),
            Err(_) => toml::Value::String(value.trim().to_string()),
        };
        set_dotted(&mut table, key, value).map_err(|m| ConfigError { field: key.to_string(), ..bad(m) })?;
        keys.push((key.to_string(), set.clone()));
    }
    let text = toml::to_string(&table).map_err(|e| crate::error::Error::Usage(format!("--set: {e}")))?;
    match parse(&file, &text, &stem, ov) {
        Ok(plan) => Ok(plan),
        Err(e) => {
            let touches = |k: &str| e.field == k || e.field.starts_with(&format!("{k}.")) || k.starts_with(&format!("{}.", e.field));
            if let Some((_, set)) = keys.iter().find(|(k, _)| touches(k)) {
                return Err(ConfigError { file: format!("--set {set}"), line: None, ..e }.into());
            }
            parse(&file, &src, &stem, ov)?;
            Err(ConfigError { file: format!("{file} with {}", sets.iter().map(|s| format!("--set {s}")).collect::<Vec<_>>().join(" ")), line: None, ..e }.into())
        }
    }
}

/// Set `a.b[1].c` in a TOML table, creating tables on the way; `[k]` indexes an existing array
/// of tables (`optimizer[1]`).
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("'{key}' is not a dotted key such as run.steps"));
    }
    let mut at = table;
    for (i, part) in parts.iter().enumerate() {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => {
                let k = rest.strip_suffix(']').and_then(|r| r.parse::<usize>().ok()).ok_or_else(|| format!("'{part}': write name[index]"))?;
                (n, Some(k))
            }
            None => (*part, None),
        };
        let last = i + 1 == parts.len();
        if last && index.is_none() {
            at.insert(name.to_string(), value);
            return Ok(());
        }
        let entry = at.entry(name.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let next = match (entry, index) {
            (toml::Value::Array(items), Some(k)) => {
                let n = items.len();
                items.get_mut(k).ok_or_else(|| format!("{name} has {n} entries; [{k}] is not one of them (they count from 0)"))?
            }
            (v, Some(_)) => return Err(format!("{name} is a {}, not a list of tables", v.type_str())),
            (v, None) => v,
        };
        if last {
            *next = value;
            return Ok(());
        }
        at = match next {
            toml::Value::Table(t) => t,
            v => return Err(format!("{} is a {}, not a table", parts[..=i].join("."), v.type_str())),
        };
    }
    Ok(())
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

    let RunTable { precision, backend, mut steps, mut steps_per_dispatch, steps_per_dispatch_set, mut rules, epochs, sampling, layout } = run::run_table(cx, raw.run, ov)?;
    let standardize = sweep::standardize(cx, raw.sweep.as_ref())?;
    let (batch, batch_span) = sweep::batch_axes(cx, raw.sweep.as_ref(), precision)?;
    let (objective, variants, data_axis, data_fans) = match objective::objective(cx, &raw.objective, precision)? {
        objective::Described::Objective(o) => {
            let data_only = [
                ("sweep.standardize", standardize.as_ref().map(|s| s.1.clone())),
                ("sweep.batch_size", batch_span.clone()),
                ("sweep.seed", raw.sweep.as_ref().and_then(|s| s.seed.as_ref()).map(|s| s.span())),
                ("run.sampling", sampling.as_ref().map(|s| s.1.clone())),
                ("run.epochs", epochs.as_ref().map(|e| e.1.clone())),
            ];
            if let Some((field, span)) = data_only.into_iter().find_map(|(f, s)| s.map(|s| (f, s))) {
                return Err(cx.err(Some(span), field, "only used with [objective] data (a model trained on a data table)"));
            }
            (o, Vec::new(), None, None)
        }
        objective::Described::Data(m) => {
            let fans = crate::problem::model::fans(&m.table, &m.spec);
            let values = standardize.as_ref().map_or(vec![false], |(v, _)| v.clone());
            let scaled = m.table.standardized(&m.table.scaling());
            let mut objectives: Vec<crate::problem::expr::Objective> = values
                .iter()
                .map(|&s| {
                    let mut o = crate::problem::model::objective(if s { &scaled } else { &m.table }, &m.spec);
                    if s {
                        o.formula.push_str(", features standardised (z-scores, population std)");
                    }
                    o
                })
                .collect();
            let first = objectives.remove(0);
            (first, objectives, Some(values.iter().map(|&s| if s { 1.0 } else { 0.0 }).collect::<Vec<f64>>()), Some(fans))
        }
    };
    if let (Some((_, span)), true) = (&sampling, batch.is_empty()) {
        return Err(cx.err(Some(span.clone()), "run.sampling", "how mini-batches are drawn: set [sweep] batch_size too"));
    }
    // Epochs: passes over the data, ⌈m/batch_size⌉ steps each (one batch size only).
    if let Some((n, span)) = &epochs {
        let rows = objective.rows.as_ref().map_or(1, |r| r.count()) as u64;
        let batch_sizes = batch.first().map_or(vec![rows as f64], |a| a.values.clone());
        if batch_sizes.len() > 1 {
            return Err(cx.err(Some(span.clone()), "run.epochs", "an epoch is a different number of steps for each batch size: give steps, or one batch_size"));
        }
        let per_epoch = rows.div_ceil((batch_sizes[0] as u64).min(rows));
        steps = u32::try_from(*n as u64 * per_epoch).ok().filter(|&s| s < u32::MAX).ok_or_else(|| cx.err(Some(span.clone()), "run.epochs", format!("{n} epochs of {per_epoch} steps are more than {} steps", u32::MAX - 1)))?;
        if steps_per_dispatch_set.is_none() {
            steps_per_dispatch = 1000.min(steps);
        }
    }
    let Analyses { basins, threshold, map, trainability } = analysis::analyses(cx, raw.analysis.as_ref(), &rules, steps)?;
    rules.trainability = trainability.is_some();
    objective::check_constants(cx, &raw.objective, &objective, precision)?;
    let vars = objective.vars.clone();
    if let (Some(_), false) = (&basins, variants.is_empty()) {
        let span = raw.sweep.as_ref().and_then(|s| s.standardize.as_ref()).map(|s| s.span());
        return Err(cx.err(span, "sweep.standardize", "basins (asked for by [analysis.basins] or a map coloured by basin) need one standardize value: each value has its own parameter space (run one value per sweep)"));
    }
    let data_axes = sweep::DataAxes {
        fans: data_fans,
        standardize: data_axis.as_deref(),
        sampling: (!batch.is_empty()).then(|| sampling.map_or(crate::plan::Sampling::Shuffle, |s| s.0)),
        batch,
    };

    let format = match (ov.format, raw.output.as_ref().and_then(|o| o.format.as_ref())) {
        (Some(f), _) => f,
        (None, None) => crate::plan::OutputFormat::Csv,
        (None, Some(f)) => crate::plan::OutputFormat::from_name(f.get_ref())
            .ok_or_else(|| cx.err(Some(f.span()), "output.format", format!("'{}' is not allowed: use csv or parquet", f.get_ref())))?,
    };
    let parameters = match raw.output.as_ref().and_then(|o| o.parameters.as_ref()) {
        None if vars.len() > crate::plan::PARAMETER_COLUMNS_MAX => crate::plan::ParameterOutput::Npy,
        None => crate::plan::ParameterOutput::Columns,
        Some(f) => crate::plan::ParameterOutput::from_name(f.get_ref())
            .ok_or_else(|| cx.err(Some(f.span()), "output.parameters", format!("'{}' is not allowed: use columns (init_<var> and x_<var> in runs.csv) or npy (parameters.npy)", f.get_ref())))?,
    };
    let mut blocks = sweep::blocks(cx, raw.sweep, raw.optimizer, &vars, precision, data_axes)?;
    for (k, b) in blocks.iter_mut().enumerate() {
        let obj = if b.variant == 0 { &objective } else { &variants[b.variant - 1] };
        b.layout = match &layout {
            None => crate::plan::workgroup::auto(obj, b, precision, steps),
            Some((crate::plan::Layout::Workgroup, span)) => match crate::plan::workgroup::fit(obj, b, precision) {
                Ok(_) => crate::plan::Layout::Workgroup,
                Err(why) => return Err(cx.err(Some(span.clone()), "run.layout", format!("'workgroup' does not fit optimizer {} ('{}'): {why}; use auto or invocation", k + 1, b.optimizer.name()))),
            },
            Some((l, _)) => *l,
        };
    }
    analysis::check_map_axes(cx, raw.analysis.as_ref(), &map, &blocks)?;
    analysis::check_trainability(cx, &trainability, &blocks)?;
    let trajectories = analysis::trajectories(cx, raw.analysis.as_ref(), &blocks, steps)?;
    let sharpness = analysis::sharpness(cx, raw.analysis.as_ref(), &map, &blocks, steps)?;
    let resolved = serde_json::json!({
        "name": name,
        "objective": { "formula": objective.formula, "vars": vars, "rows": objective.rows.as_ref().map(|r| r.count()) },
        "optimizers": blocks.iter().map(|b| serde_json::json!({
            "kind": b.optimizer,
            "schedule": b.schedule,
            "linesearch": b.linesearch,
            "first_run": b.first_run,
            "runs": b.runs,
            "layout": b.layout,
            "axes": b.axes.iter().map(|a| serde_json::json!({
                "name": a.name, "n": a.values.len(), "first": readable(a.values[0], precision),
                "last": readable(a.values[a.values.len() - 1], precision), "log": a.log,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "analysis": { "basins": basins, "threshold": threshold, "map": map, "trajectories": trajectories, "sharpness": sharpness },
        "output": { "format": format, "parameters": parameters },
        "run": { "steps": steps, "steps_per_dispatch": steps_per_dispatch, "precision": precision,
                 "backend": backend, "rules": rules },
    });
    let mut plan = Plan {
        name,
        objective,
        variants,
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
        sharpness,
        resolved,
        source: cx.file.to_string(),
        format,
        parameters,
        config_text: cx.src.to_string(),
        default_name: default_name.to_string(),
        composed: Vec::new(),
    };
    plan.compose_workgroup_objectives();
    // A dispatch holds at most MAX_STEPS_PER_DISPATCH loop iterations (lavapipe's limit): with
    // a data table or a line search, fewer steps than the default 1000.
    let per_step = plan.blocks.iter().map(|b| plan.loop_iterations_per_step(b)).max().unwrap_or(1);
    let most = (MAX_STEPS_PER_DISPATCH as u64 / per_step).max(1) as u32;
    match steps_per_dispatch_set {
        Some(span) if steps_per_dispatch > most => {
            return Err(cx.err(
                Some(span),
                "run.steps_per_dispatch",
                format!("{steps_per_dispatch} is not allowed here: a step makes up to {per_step} loop iterations (evaluations × data rows), and a dispatch may hold {MAX_STEPS_PER_DISPATCH} (lavapipe ends shader loops after 65,535): use 1 ..= {most}"),
            ))
        }
        None if steps_per_dispatch > most => {
            plan.steps_per_dispatch = most;
            plan.resolved["run"]["steps_per_dispatch"] = serde_json::json!(most);
        }
        _ => {}
    }
    Ok(plan)
}

/// The f64 whose shortest decimal is the run-precision value's (an f32 0.1 is 0.10000000149011612
/// as an f64; here it reads 0.1), for the resolved config people read.
fn readable(v: f64, p: Precision) -> f64 {
    match p {
        Precision::F32 => (v as f32).to_string().parse().unwrap_or(v),
        Precision::F64 => v,
    }
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
