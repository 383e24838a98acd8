//! map.png of a 2-D map: panels of cells, a legend or a colour bar.

use super::colour::*;
use super::scale::*;
use super::{encode_png, err, register_font, Area, FONT};
use crate::analysis::basins::BasinMap;
use crate::analysis::map::Map;
use crate::outcome::{Results, Status};
use crate::plan::analyses::Colour;
use crate::plan::Plan;
use plotters::prelude::*;

/// How a map colours its cells.
pub(super) enum Paint<'a> {
    Status { max_steps: u32 },
    /// Basins, with each basin's colour (see [`basin_colours`]).
    Basin(&'a BasinMap, Vec<RGBColor>),
    /// A continuous value (scaled to [0, 1] in its own scale) with a colour bar, for the runs
    /// it means the same thing for (see [`continuous_value`]); the others in their status
    /// colours, diverged runs of a steps map on their own escape-step scale.
    Continuous { lo: f64, hi: f64, log: bool, max_steps: u32 },
}

/// The value a continuous map shows for row i, where it applies (NaN elsewhere): `steps` of
/// converged runs (steps to converge; an escape step is another quantity), the final `loss`
/// of stable runs, the measured `rate` of runs classified at `steps`.
pub(super) fn continuous_value(c: Colour, r: &Results, i: usize) -> f64 {
    match c {
        Colour::Steps if r.status[i] == Status::Converged => r.steps[i] as f64,
        Colour::Loss if !r.status[i].is_unstable() => r.loss[i],
        Colour::Rate => r.rate[i],
        _ => f64::NAN,
    }
}

/// What a continuous map's colour bar is: the value and the runs it covers.
fn bar_caption(c: Colour) -> &'static str {
    match c {
        Colour::Steps => "steps to converge (converged runs)",
        Colour::Loss => "final loss (stable runs)",
        _ => "rate: per-step factor of |g| (classified runs)",
    }
}

impl Paint<'_> {
    fn colour(&self, c: Colour, r: &Results, i: usize) -> RGBColor {
        match self {
            Paint::Status { max_steps } => status_colour(r.status[i], r.steps[i], *max_steps),
            Paint::Basin(b, colours) => match b.label[i] {
                Some(id) => colours[id],
                None if r.status[i] == Status::Diverged => DIVERGED_DARK,
                None => NOT_CONVERGED,
            },
            Paint::Continuous { lo, hi, log, max_steps, .. } => {
                let v = continuous_value(c, r, i);
                if !v.is_finite() || (*log && v <= 0.0) {
                    return status_colour(r.status[i], if c == Colour::Steps { r.steps[i] } else { max_steps / 8 }, *max_steps);
                }
                let f = |v: f64| if *log { v.log10() } else { v };
                viridis(if hi > lo { (f(v) - f(*lo)) / (f(*hi) - f(*lo)) } else { 0.5 })
            }
        }
    }
}

/// map.png of a 2-D map: one panel per combination of the other axes, a legend or colour bar.
pub fn map_png(plan: &Plan, map: &Map, r: &Results, basins: Option<&BasinMap>) -> Result<Vec<u8>, String> {
    register_font();
    let y_axis = map.y.as_ref().ok_or("map_png needs a 2-D map")?;
    let (sx, sy) = (Scale::of(&map.x), Scale::of(y_axis));
    let c = map.spec.color;
    let paint = match c {
        Colour::Status => Paint::Status { max_steps: plan.steps },
        Colour::Basin => {
            let b = basins.ok_or("basin colours need basins")?;
            Paint::Basin(b, basin_colours(map, b))
        }
        Colour::Steps | Colour::Loss | Colour::Rate => {
            let vals: Vec<f64> = map.panels.iter().flat_map(|p| p.cells.iter().map(|&i| continuous_value(c, r, i))).filter(|v| v.is_finite()).collect();
            let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let log = c != Colour::Rate && lo > 0.0 && hi / lo > 100.0;
            Paint::Continuous { lo, hi, log, max_steps: plan.steps }
        }
    };
    let n = map.panels.len();
    let cols = n.clamp(1, 4);
    let rows = n.div_ceil(cols);
    let (pw, ph, legend_w) = (400u32, 380u32, 300u32);
    let heading = wrap(&format!("{}: {} by {}", plan.name, plan.objective.formula, c.name()), ((cols as u32 * pw + legend_w) / 11) as usize);
    let title_h = 20 + 26 * heading.len() as u32;
    // The legend decides the height where it is longer than the panels (measured by drawing
    // it once on a scratch area).
    let legend_h = {
        let mut scratch = vec![255u8; (legend_w * 4000 * 3) as usize];
        let area = BitMapBackend::with_buffer(&mut scratch, (legend_w, 4000)).into_drawing_area();
        draw_legend(&area, &paint, r, map)? as u32 + 16
    };
    let (w, h) = (cols as u32 * pw + legend_w, title_h + (rows as u32 * ph).max(legend_h));
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut fills: Vec<(std::ops::Range<i32>, std::ops::Range<i32>, usize)> = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let (title, body) = root.split_vertically(title_h);
        for (k, line) in heading.iter().enumerate() {
            title.draw_text(line, &(FONT, 20).into_font().color(&BLACK), (14, 12 + 26 * k as i32)).map_err(err)?;
        }
        let (plots, legend) = body.split_horizontally(cols as u32 * pw);
        let (plots, _) = plots.split_vertically(rows as u32 * ph);
        for (k, (area, panel)) in plots.split_evenly((rows, cols)).iter().zip(&map.panels).enumerate() {
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.label, (FONT, 15))
                .margin(10)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(TickAxis::new(sx.range(), sx.log, false), TickAxis::new(sy.range(), sy.log, false))
                .map_err(err)?;
            let (ax, ay) = (TickAxis::new(sx.range(), sx.log, false), TickAxis::new(sy.range(), sy.log, false));
            let (fx, fy) = (|t: &f64| ax.label(*t), |t: &f64| ay.label(*t));
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(7)
                .y_labels(7)
                .x_label_formatter(&fx)
                .y_label_formatter(&fy)
                .x_desc(desc(&map.x.name, sx.log))
                .y_desc(desc(&y_axis.name, sy.log))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(err)?;
            let (xr, yr) = chart.plotting_area().get_pixel_range();
            fills.push((xr, yr, k));
        }
        draw_legend(&legend, &paint, r, map)?;
        root.present().map_err(err)?;
    }
    // Fill each panel's plotting area with its cells.
    let nx = sx.centres.len();
    for (xr, yr, k) in fills {
        let panel = &map.panels[k];
        let (xa, ya) = (sx.range(), sy.range());
        let (pw, ph) = ((xr.end - xr.start).max(1) as f64, (yr.end - yr.start).max(1) as f64);
        let ix: Vec<usize> = (0..xr.end - xr.start).map(|j| sx.cell(xa.start + (j as f64 + 0.5) / pw * (xa.end - xa.start))).collect();
        for (row, py) in (yr.start..yr.end).enumerate() {
            let iy = sy.cell(ya.end - (row as f64 + 0.5) / ph * (ya.end - ya.start));
            for (col, px) in (xr.start..xr.end).enumerate() {
                let i = panel.cells[iy * nx + ix[col]];
                let RGBColor(cr, cg, cb) = paint.colour(c, r, i);
                let o = ((py as u32 * w + px as u32) * 3) as usize;
                buf[o..o + 3].copy_from_slice(&[cr, cg, cb]);
            }
        }
    }
    encode_png(&buf, w, h)
}


pub(super) fn swatch(area: &Area, y: i32, colour: RGBColor, text: &str) -> Result<(), String> {
    area.draw(&Rectangle::new([(16, y), (34, y + 14)], colour.filled())).map_err(err)?;
    area.draw(&Rectangle::new([(16, y), (34, y + 14)], BLACK.stroke_width(1))).map_err(err)?;
    area.draw_text(text, &(FONT, 13).into_font().color(&BLACK), (42, y)).map_err(err)
}

/// A horizontal gradient from `f(0)` to `f(1)` with a caption.
pub(super) fn gradient(area: &Area, y: i32, f: impl Fn(f64) -> RGBColor, left: &str, right: &str) -> Result<(), String> {
    for k in 0..180 {
        let c = f(k as f64 / 179.0);
        area.draw(&Rectangle::new([(16 + k, y), (17 + k, y + 12)], c.filled())).map_err(err)?;
    }
    let style = (FONT, 11).into_font().color(&BLACK);
    area.draw_text(left, &style, (16, y + 15)).map_err(err)?;
    let (tw, _) = area.estimate_text_size(right, &style).map_err(err)?;
    area.draw_text(right, &style, (196 - tw as i32, y + 15)).map_err(err)
}

/// Each basin's colour on this map: the basins ranked by their share of the map's cells get
/// the 20 categorical colours in turn; beyond 20 basins, the 19 largest keep theirs and the
/// rest share [`OTHER_BASINS`], one legend entry for all of them, so that no basin with a
/// visible share goes without an entry or shares a colour with another listed one.
pub fn basin_colours(map: &Map, b: &BasinMap) -> Vec<RGBColor> {
    let ranked = basins_by_share(map, b);
    let own = if ranked.len() > BASIN_COLOURS.len() { BASIN_COLOURS.len() - 1 } else { ranked.len() };
    let mut colours = vec![OTHER_BASINS; b.basins.len()];
    for (rank, &(id, _)) in ranked.iter().enumerate().take(own) {
        colours[id] = BASIN_COLOURS[rank];
    }
    colours
}

/// The basins on the map with their cell counts, largest first (ties: lower id first).
fn basins_by_share(map: &Map, b: &BasinMap) -> Vec<(usize, usize)> {
    let mut count = vec![0usize; b.basins.len()];
    for p in &map.panels {
        for &i in &p.cells {
            if let Some(id) = b.label[i] {
                count[id] += 1;
            }
        }
    }
    let mut ranked: Vec<(usize, usize)> = count.into_iter().enumerate().filter(|&(_, n)| n > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// Draw the legend; returns the y below its last entry.
pub(super) fn draw_legend(area: &Area, paint: &Paint, r: &Results, map: &Map) -> Result<i32, String> {
    let c = map.spec.color;
    let head = (FONT, 14).into_font().color(&BLACK);
    let mut y = 50;
    let seen = |s: Status| map.panels.iter().any(|p| p.cells.iter().any(|&i| r.status[i] == s));
    match paint {
        Paint::Status { max_steps } => {
            area.draw_text("status", &head, (16, y - 22)).map_err(err)?;
            for s in Status::FINAL {
                if seen(s) {
                    swatch(area, y, status_colour(s, max_steps / 8, *max_steps), s.name())?;
                    y += 22;
                }
            }
            y += 16;
            let m = *max_steps;
            let steps_at = |t: f64| ((1.0 + m as f64).powf(t) - 1.0).round() as u32;
            if seen(Status::Converged) {
                area.draw_text("converged: steps taken", &(FONT, 12).into_font().color(&BLACK), (16, y)).map_err(err)?;
                gradient(area, y + 18, |t| status_colour(Status::Converged, steps_at(t), m), "0", &m.to_string())?;
                y += 52;
            }
            if seen(Status::Diverged) {
                area.draw_text("diverged: escape step", &(FONT, 12).into_font().color(&BLACK), (16, y)).map_err(err)?;
                gradient(area, y + 18, |t| status_colour(Status::Diverged, steps_at(t), m), "0", &m.to_string())?;
                y += 52;
            }
        }
        Paint::Basin(b, colours) => {
            area.draw_text("basin (final point), by share", &head, (16, y - 22)).map_err(err)?;
            let ranked = basins_by_share(map, b);
            let cells: usize = map.panels.iter().map(|p| p.cells.len()).sum();
            let mut others = (0usize, 0usize);
            for &(id, n) in &ranked {
                if colours[id] == OTHER_BASINS {
                    others = (others.0 + 1, others.1.max(n));
                    continue;
                }
                let basin = &b.basins[id];
                let at: Vec<String> = basin.centre.iter().map(|v| format!("{v:.3}")).collect();
                let share = 100.0 * n as f64 / cells.max(1) as f64;
                swatch(area, y, colours[id], &format!("{id}: ({}) {}, {share:.1} %", at.join(", "), basin.kind))?;
                y += 22;
            }
            if others.0 > 0 {
                let most = 100.0 * others.1 as f64 / cells.max(1) as f64;
                swatch(area, y, OTHER_BASINS, &format!("{} more basins, each ≤ {most:.1} % (basins.csv)", others.0))?;
                y += 22;
            }
            if seen(Status::Diverged) {
                swatch(area, y, DIVERGED_DARK, "diverged")?;
                y += 22;
            }
            if map.panels.iter().any(|p| p.cells.iter().any(|&i| b.label[i].is_none() && r.status[i] != Status::Diverged)) {
                swatch(area, y, NOT_CONVERGED, "did not converge")?;
                y += 22;
            }
        }
        Paint::Continuous { lo, hi, log, max_steps } => {
            for (k, line) in wrap(bar_caption(c), 34).iter().enumerate() {
                area.draw_text(line, &head, (16, y - 22 + 17 * k as i32)).map_err(err)?;
            }
            y += 17 * (wrap(bar_caption(c), 34).len() as i32 - 1);
            // A vertical colour bar, high at the top, ticked at round values of its own scale.
            let (top, height) = (y, 240);
            for k in 0..height {
                let t = 1.0 - k as f64 / (height - 1) as f64;
                area.draw(&Rectangle::new([(16, top + k), (40, top + k + 1)], viridis(t).filled())).map_err(err)?;
            }
            area.draw(&Rectangle::new([(16, top), (40, top + height)], BLACK.stroke_width(1))).map_err(err)?;
            let f = |v: f64| if *log { v.log10() } else { v };
            let (a, b) = (f(*lo), f(*hi));
            let bar = TickAxis::new(a..b, *log, c == Colour::Steps);
            let ticks = if b > a { bar.ticks(6, false) } else { vec![a] };
            for t in ticks {
                let frac = if b > a { (t - a) / (b - a) } else { 0.5 };
                let py = top + ((1.0 - frac) * (height - 1) as f64).round() as i32;
                area.draw(&PathElement::new(vec![(40, py), (46, py)], BLACK)).map_err(err)?;
                area.draw_text(&bar.label(t), &(FONT, 12).into_font().color(&BLACK), (50, py - 6)).map_err(err)?;
            }
            if *log {
                area.draw_text("(log scale)", &(FONT, 11).into_font().color(&BLACK), (16, top + height + 6)).map_err(err)?;
            }
            y = top + height + 30;
            // The runs the bar does not cover, by what happened to them.
            let uncovered = |s: Status| {
                map.panels.iter().any(|p| {
                    p.cells.iter().any(|&i| {
                        let v = continuous_value(c, r, i);
                        r.status[i] == s && (!v.is_finite() || (*log && v <= 0.0))
                    })
                })
            };
            let m = *max_steps;
            for s in Status::FINAL {
                if !uncovered(s) {
                    continue;
                }
                if c == Colour::Steps && s == Status::Diverged {
                    let steps_at = |t: f64| ((1.0 + m as f64).powf(t) - 1.0).round() as u32;
                    area.draw_text("diverged: escape step", &(FONT, 12).into_font().color(&BLACK), (16, y)).map_err(err)?;
                    gradient(area, y + 18, |t| status_colour(Status::Diverged, steps_at(t), m), "0", &m.to_string())?;
                    y += 52;
                } else {
                    let what = match (c, s) {
                        (Colour::Rate, Status::Converged | Status::Diverged) => format!("{} (no rate)", s.name()),
                        (Colour::Rate, _) => format!("{} (rate not finite)", s.name()),
                        (Colour::Loss, Status::Diverged | Status::Diverging) => s.name().to_string(),
                        _ => format!("{} ({})", s.name(), if c == Colour::Steps { "did not converge" } else { "value not finite" }),
                    };
                    swatch(area, y, status_colour(s, m / 8, m), &what)?;
                    y += 22;
                }
            }
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::basins::Basin;
    use crate::analysis::map::{MapAxis, Panel};
    use crate::outcome::Finding;
    use crate::plan::analyses::MapSpec;

    fn one_panel(n: usize, color: Colour) -> Map {
        let axis = MapAxis { name: "lr".into(), values: (0..n).map(|i| i as f64).collect(), log: false };
        Map { spec: MapSpec { x: "lr".into(), y: Some("init_x".into()), color }, x: axis.clone(), y: Some(axis), panels: vec![Panel { block: 0, label: "gd".into(), cells: (0..n).collect() }] }
    }

    /// A steps map paints converged runs by steps taken, diverged ones on their own escape-step
    /// scale and the others in their status colours: never one colour for two meanings.
    #[test]
    fn steps_colours_keep_their_meanings_apart() {
        let mut r = Results::with_capacity(1, 3);
        r.push(0, Finding::plain(Status::Converged), 10, 0.0, 0.0, &[0.0]);
        r.push(1, Finding::plain(Status::Diverged), 10, f64::INFINITY, 0.0, &[0.0]);
        r.push(2, Finding::plain(Status::Slow), 1000, 1.0, 0.0, &[0.0]);
        let paint = Paint::Continuous { lo: 10.0, hi: 10.0, log: false, max_steps: 1000 };
        let c: Vec<RGBColor> = (0..3).map(|i| paint.colour(Colour::Steps, &r, i)).collect();
        assert_eq!(c[0], viridis(0.5));
        assert_eq!(c[1], status_colour(Status::Diverged, 10, 1000));
        assert_eq!(c[2], status_colour(Status::Slow, 125, 1000));
        assert!(c[0] != c[1] && c[1] != c[2]);
        // A rate map has no rate for converged or diverged runs: their status colours.
        let paint = Paint::Continuous { lo: 0.9, hi: 1.0, log: false, max_steps: 1000 };
        assert_eq!(paint.colour(Colour::Rate, &r, 1), status_colour(Status::Diverged, 125, 1000));
    }

    /// Basins ranked by share get the categorical colours; beyond 20, the smallest share one.
    #[test]
    fn the_largest_basins_get_their_own_colours() {
        let n_basins = 25;
        // Basin b covers 30 − b cells: basin 0 the most.
        let label: Vec<Option<usize>> = (0..n_basins).flat_map(|b| std::iter::repeat_n(Some(b), 30 - b)).collect();
        let map = one_panel(label.len(), Colour::Basin);
        let basin = |id| Basin { id, centre: vec![0.0], loss: 0.0, kind: "minimum", eigenvalues: vec![1.0], gd_threshold: None, count: 1 };
        let bm = BasinMap { basins: (0..n_basins).map(basin).collect(), label };
        let colours = basin_colours(&map, &bm);
        for b in 0..19 {
            assert_eq!(colours[b], BASIN_COLOURS[b], "basin {b}");
        }
        assert!(colours[19..].iter().all(|&c| c == OTHER_BASINS));
    }
}
