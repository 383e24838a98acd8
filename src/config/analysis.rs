//! `[analysis.basins]`, `[analysis.threshold]`, `[analysis.map]`, `[analysis.trajectories]`,
//! `[analysis.sharpness]`, `[analysis.trainability]`.

use super::raw::{RawAnalysis, RawTrajectories};
use super::{Ctx, MAX_STEPS_PER_DISPATCH};
use crate::error::ConfigError;
use crate::plan::analyses::{check_map, sample, BasinSpec, Colour, MapSpec, SharpnessSpec, ThresholdSpec, TrajectorySpec, DEFAULT_BASIN_TOLERANCE};
use crate::plan::analyses::{DEFAULT_TRAJECTORY_POINTS, DEFAULT_TRAJECTORY_SAMPLE, MAX_TRAJECTORIES};
use crate::plan::{Block, Rules};
use toml::Spanned;

/// The analyses that need only the `[run]` table: basins (tolerance), threshold and map specs.
pub(super) struct Analyses {
    pub basins: Option<BasinSpec>,
    pub threshold: Option<ThresholdSpec>,
    pub map: Option<MapSpec>,
    /// Record trainability ([`Rules::trainability`]), and where it was asked for.
    pub trainability: Option<Option<std::ops::Range<usize>>>,
}

pub(super) fn analyses(cx: &Ctx, raw: Option<&RawAnalysis>, rules: &Rules, steps: u32) -> Result<Analyses, ConfigError> {
    let basins = match raw.and_then(|a| a.basins.as_ref()) {
        None => None,
        Some(b) => Some(BasinSpec {
            tolerance: match &b.tolerance {
                None => DEFAULT_BASIN_TOLERANCE,
                Some(t) => cx.non_negative(t, "analysis.basins.tolerance", Some(0.0))?,
            },
            critical_points: b.critical_points.unwrap_or(false),
        }),
    };
    let threshold = match raw.and_then(|a| a.threshold.as_ref()) {
        None => None,
        Some(t) => {
            let mut spec = ThresholdSpec::default();
            if let Some(v) = &t.get_ref().rel_tol {
                spec.rel_tol = cx.non_negative(v, "analysis.threshold.rel_tol", Some(0.0))?;
                if spec.rel_tol >= 1.0 {
                    return Err(cx.err(Some(v.span()), "analysis.threshold.rel_tol", format!("{} is not allowed: use a number in (0, 1)", spec.rel_tol)));
                }
            }
            if let Some(v) = &t.get_ref().points {
                spec.points = cx.int_in(v, "analysis.threshold.points", 1, 1 << 20, " (learning rates per bracket and round)")?;
            }
            if let Some(v) = &t.get_ref().max_rounds {
                spec.max_rounds = cx.int_in(v, "analysis.threshold.max_rounds", 0, 1000, " (0: the coarse grid only)")?;
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
    let map_raw = raw.and_then(|a| a.map.as_ref());
    let map = match map_raw {
        None => None,
        Some(m) => {
            let color = match &m.get_ref().color {
                None => Colour::Status,
                Some(c) => Colour::from_name(c.get_ref()).ok_or_else(|| {
                    cx.err(Some(c.span()), "analysis.map.color", format!("'{}' is not allowed: use one of {}", c.get_ref(), Colour::NAMES))
                })?,
            };
            Some(MapSpec { x: m.get_ref().x.get_ref().clone(), y: m.get_ref().y.as_ref().map(|y| y.get_ref().clone()), color })
        }
    };
    // Basin colours need basins: the default tolerance unless [analysis.basins] sets one.
    let basins = match (basins, &map) {
        (None, Some(m)) if m.color == Colour::Basin => Some(BasinSpec::minima(DEFAULT_BASIN_TOLERANCE)),
        (b, _) => b,
    };
    // The trainability record: asked for, or needed by the map's colour.
    let trainability = match raw.and_then(|a| a.trainability.as_ref()) {
        Some(t) => Some(Some(t.span())),
        None => map_raw.filter(|_| map.as_ref().is_some_and(|m| m.color == Colour::Trainability)).map(|m| m.get_ref().color.as_ref().map(|c| c.span())),
    };
    Ok(Analyses { basins, threshold, map, trainability })
}

/// A run of mini-batches evaluates its loss on its batch: the notebook's losses are the whole
/// table's, so the trainability record refuses such blocks.
pub(super) fn check_trainability(cx: &Ctx, asked: &Option<Option<std::ops::Range<usize>>>, blocks: &[Block]) -> Result<(), ConfigError> {
    if let Some(span) = asked {
        if blocks.iter().any(|b| b.sampling.is_some()) {
            return Err(cx.err(
                span.clone(),
                "analysis.trainability",
                "the trainability record sums the losses of full-batch steps (Sohl-Dickstein 2024), and a run of mini-batches evaluates its loss on its batch only: drop [sweep] batch_size, or the trainability record",
            ));
        }
    }
    Ok(())
}

/// Check the map's axes against the optimizer blocks.
pub(super) fn check_map_axes(cx: &Ctx, raw: Option<&RawAnalysis>, map: &Option<MapSpec>, blocks: &[Block]) -> Result<(), ConfigError> {
    let map_raw = raw.and_then(|a| a.map.as_ref());
    if let (Some(spec), Some(m)) = (&map, map_raw) {
        check_map(spec, blocks).map_err(|(field, message)| {
            let span = match field.as_str() {
                "y" => m.get_ref().y.as_ref().map(|y| y.span()),
                _ => Some(m.get_ref().x.span()),
            };
            cx.err(span, format!("analysis.map.{field}"), message)
        })?;
    }
    Ok(())
}

/// `[analysis.trajectories]`: which runs (of `total_runs`), recorded every how many steps.
pub(super) fn trajectories(cx: &Ctx, raw: Option<&RawAnalysis>, blocks: &[Block], steps: u32) -> Result<Option<TrajectorySpec>, ConfigError> {
    match raw.and_then(|a| a.trajectories.as_ref()) {
        None => Ok(None),
        Some(t) => traced_runs(cx, t, "analysis.trajectories", 1, blocks, steps),
    }
}

/// `[analysis.sharpness]` (on, without traces, where the map is coloured by sharpness).
pub(super) fn sharpness(cx: &Ctx, raw: Option<&RawAnalysis>, map: &Option<MapSpec>, blocks: &[Block], steps: u32) -> Result<Option<SharpnessSpec>, ConfigError> {
    Ok(match raw.and_then(|a| a.sharpness.as_ref()) {
        Some(t) => Some(SharpnessSpec { trace: traced_runs(cx, t, "analysis.sharpness", 0, blocks, steps)? }),
        None if map.as_ref().is_some_and(|m| matches!(m.color, Colour::Sharpness | Colour::EdgeRatio)) => Some(SharpnessSpec { trace: None }),
        None => None,
    })
}

/// The runs a table of `runs` (ids) or `sample` (how many, at least `min_sample`; 0: none)
/// names, recorded `every` so many steps.
fn traced_runs(cx: &Ctx, t: &Spanned<RawTrajectories>, table: &str, min_sample: i64, blocks: &[Block], steps: u32) -> Result<Option<TrajectorySpec>, ConfigError> {
    let total_runs: u64 = blocks.iter().map(|b| b.runs).sum();
    let t_ref = t.get_ref();
    let runs = match (&t_ref.runs, &t_ref.sample) {
        (Some(_), Some(s)) => return Err(cx.err(Some(s.span()), format!("{table}.sample"), "give either runs (ids) or sample (how many), not both")),
        (Some(r), None) => {
            let ids = r.get_ref();
            if ids.is_empty() || ids.len() > MAX_TRAJECTORIES {
                return Err(cx.err(Some(r.span()), format!("{table}.runs"), format!("{} ids: give 1 ..= {MAX_TRAJECTORIES}", ids.len())));
            }
            if let Some(bad) = ids.iter().find(|&&id| id < 0 || id as u64 >= total_runs) {
                return Err(cx.err(
                    Some(r.span()),
                    format!("{table}.runs"),
                    format!("run {bad} does not exist: ids are 0 ..= {} (see runs.csv or `gdsweep plan`)", total_runs - 1),
                ));
            }
            ids.iter().map(|&id| id as u64).collect()
        }
        (None, s) => {
            let what = if min_sample == 0 { " (0: no traces)" } else { "" };
            let n = match s {
                Some(s) => cx.int_in(s, &format!("{table}.sample"), min_sample, MAX_TRAJECTORIES as i64, what)? as u64,
                None => DEFAULT_TRAJECTORY_SAMPLE,
            };
            if n == 0 {
                return Ok(None);
            }
            sample(blocks, n)
        }
    };
    let every = match &t_ref.every {
        Some(e) => cx.int_in(e, &format!("{table}.every"), 1, MAX_STEPS_PER_DISPATCH as i64, " (steps between recorded points)")?,
        None => steps.div_ceil(DEFAULT_TRAJECTORY_POINTS).max(1),
    };
    Ok(Some(TrajectorySpec { runs, every }))
}
