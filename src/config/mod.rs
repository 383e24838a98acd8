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

    let RunTable { precision, backend, steps, steps_per_dispatch, rules } = run::run_table(cx, raw.run, ov)?;
    let Analyses { basins, threshold, map } = analysis::analyses(cx, raw.analysis.as_ref(), &rules, steps)?;
    let objective = objective::objective(cx, &raw.objective)?;
    objective::check_constants(cx, &raw.objective, &objective, precision)?;
    let vars = objective.vars.clone();

    let blocks = sweep::blocks(cx, raw.sweep, raw.optimizer, &vars, precision)?;
    analysis::check_map_axes(cx, raw.analysis.as_ref(), &map, &blocks)?;
    let total_runs: u64 = blocks.iter().map(|b| b.runs).sum();
    let trajectories = analysis::trajectories(cx, raw.analysis.as_ref(), total_runs, steps)?;
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
