//! Maps (`[analysis.map]`): the runs laid out over one or two axes, coloured by an outcome.
//!
//! - `x` (and optionally `y`) name axes: `lr`, a hyperparameter (`beta`, `lr_scale_y`, …) or
//!   `init_<var>`. Every optimizer block that has them contributes; every combination of a
//!   block's other axes is one *panel* (2-D: small multiples side by side) or one *series*
//!   (1-D: one line each). The axes must have the same values in every block that has them.
//! - `color`: `status` (default; converged in blues shaded by steps, diverged in reds shaded
//!   by escape step, the other statuses in their own colours — the escape-time colouring of the
//!   trainability-boundary pictures), `basin` (turns on `[analysis.basins]` with its default
//!   tolerance where the config has no such table), `steps`, `loss`, `rate`.
//!
//! Files: `map.csv` (tidy: one row per run on the map), `map_grid.csv` (2-D: per panel, one
//! row per y value and one column per x value; 1-D: one row per x value and one column per
//! series), `map.png` (see [`crate::output::plot`]).

use crate::outcome::Results;
use crate::plan::analyses::{axis_pos, MapSpec};
use crate::plan::Plan;

/// One axis of the map: its name, values and spacing.
#[derive(Debug, Clone)]
pub struct MapAxis {
    pub name: String,
    pub values: Vec<f64>,
    pub log: bool,
}

/// One panel (2-D) or series (1-D): a block and a fixed value of each of its other axes.
#[derive(Debug, Clone)]
pub struct Panel {
    pub block: usize,
    pub label: String,
    /// Result row of each cell, y-major: `cells[iy * nx + ix]` (1-D: `cells[ix]`).
    pub cells: Vec<usize>,
}

pub struct Map {
    pub spec: MapSpec,
    pub x: MapAxis,
    pub y: Option<MapAxis>,
    pub panels: Vec<Panel>,
}

/// Lay the results out on the map. `r` holds every run of the plan (in any order).
pub fn build(plan: &Plan, spec: &MapSpec, r: &Results) -> Map {
    // A full sweep's results are in run order (row = id); otherwise look rows up.
    let identity = r.len() as u64 == plan.total_runs() && r.run.iter().enumerate().all(|(i, &id)| id == i as u64);
    let lookup: std::collections::HashMap<u64, usize> =
        if identity { Default::default() } else { r.run.iter().enumerate().map(|(i, &id)| (id, i)).collect() };
    let row_of = |id: u64| if identity { id as usize } else { lookup[&id] };
    let names: Vec<&str> = std::iter::once(spec.x.as_str()).chain(spec.y.as_deref()).collect();
    let mut map_axes: Vec<Option<MapAxis>> = vec![None, None];
    let mut panels = Vec::new();
    let many_blocks = plan.blocks.iter().filter(|b| names.iter().all(|n| axis_pos(b, n).is_some())).count() > 1;
    for (bi, block) in plan.blocks.iter().enumerate() {
        let Some(pos) = names.iter().map(|n| axis_pos(block, n)).collect::<Option<Vec<usize>>>() else { continue };
        for (k, &p) in pos.iter().enumerate() {
            let a = &block.axes[p];
            map_axes[k].get_or_insert_with(|| MapAxis { name: a.name.clone(), values: a.values.clone(), log: a.log });
        }
        let others: Vec<usize> = (0..block.axes.len()).filter(|k| !pos.contains(k)).collect();
        let combos: usize = others.iter().map(|&k| block.axes[k].values.len()).product();
        // Row-major strides of the block's axes (last axis fastest).
        let mut stride = vec![1u64; block.axes.len()];
        for k in (0..block.axes.len().saturating_sub(1)).rev() {
            stride[k] = stride[k + 1] * block.axes[k + 1].values.len() as u64;
        }
        for c in 0..combos {
            // Digits of the other axes for combination c (last of them fastest).
            let mut rem = c;
            let mut base = 0u64;
            let mut label: Vec<String> = Vec::new();
            for &k in others.iter().rev() {
                let n = block.axes[k].values.len();
                let d = rem % n;
                rem /= n;
                base += d as u64 * stride[k];
                if n > 1 {
                    label.push(format!("{}={}", block.axes[k].name, short(block.axes[k].values[d])));
                }
            }
            label.reverse();
            if many_blocks || label.is_empty() {
                label.insert(0, block.optimizer.name().to_string());
            }
            let nx = block.axes[pos[0]].values.len();
            let ny = pos.get(1).map_or(1, |&p| block.axes[p].values.len());
            let mut cells = Vec::with_capacity(nx * ny);
            for iy in 0..ny {
                for ix in 0..nx {
                    let local = base + ix as u64 * stride[pos[0]] + pos.get(1).map_or(0, |&p| iy as u64 * stride[p]);
                    cells.push(row_of(block.first_run + local));
                }
            }
            panels.push(Panel { block: bi, label: label.join(" "), cells });
        }
    }
    disambiguate(plan, &mut panels);
    let mut it = map_axes.into_iter();
    Map { spec: spec.clone(), x: it.next().flatten().expect("checked: some block has the axes"), y: it.next().flatten(), panels }
}

/// Panels of different blocks with the same label (two `gd` tables, say) get the fixed
/// hyperparameter values that tell their blocks apart (`gd lr_scale_x=1e6 lr_scale_y=1`).
fn disambiguate(plan: &Plan, panels: &mut [Panel]) {
    let fixed = |bi: usize| -> Vec<String> {
        let b = &plan.blocks[bi];
        b.axes[1..1 + b.n_hypers()].iter().filter(|a| a.values.len() == 1).map(|a| format!("{}={}", a.name, short(a.values[0]))).collect()
    };
    let keys: Vec<(String, usize)> = panels.iter().map(|p| (p.label.clone(), p.block)).collect();
    for (k, p) in panels.iter_mut().enumerate() {
        let twins: Vec<usize> = (0..keys.len()).filter(|&j| keys[j].0 == keys[k].0 && keys[j].1 != keys[k].1).map(|j| keys[j].1).collect();
        if twins.is_empty() {
            continue;
        }
        let theirs: Vec<Vec<String>> = twins.iter().map(|&b| fixed(b)).collect();
        let extra: Vec<String> = fixed(p.block).into_iter().filter(|f| !theirs.iter().all(|t| t.contains(f))).collect();
        if !extra.is_empty() {
            p.label = format!("{} {}", p.label, extra.join(" "));
        }
    }
}

/// A value for labels: up to 4 significant digits.
pub fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{v:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
        format!("{m}e{e}")
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_labels() {
        assert_eq!(short(0.9), "0.9");
        assert_eq!(short(-2.5), "-2.5");
        assert_eq!(short(1.6030886e-5), "1.603e-5");
        assert_eq!(short(1234.6), "1235");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(100000.0), "1e5");
    }
}
