//! map.png of a 2-D map: panels of cells, a legend or a colour bar.

use super::colour::*;
use super::scale::*;
use super::{encode_png, err, register_font, Area, FONT};
use crate::analysis::basins::Basin;
use crate::analysis::map::{Cell, CellStats, Map, MapCells};
use crate::outcome::Status;
use crate::plan::analyses::Colour;
use crate::plan::Plan;
use plotters::prelude::*;

/// How a map colours its cells.
pub(super) enum Paint<'a> {
    Status { max_steps: u32 },
    /// Basins, with each basin's colour (see [`basin_colours`]).
    Basin(&'a [Basin], Vec<RGBColor>),
    /// A continuous value (scaled to [0, 1] in its own scale) with a colour bar, for the runs
    /// it means the same thing for (see [`Cell::continuous_value`]); the others in their status
    /// colours, diverged runs of a steps map on their own escape-step scale.
    Continuous { lo: f64, hi: f64, log: bool, max_steps: u32 },
}

/// A run a continuous map's value does not cover: its status colour, pale, so that no such
/// cell reads as a value of the bar (slow's teal is viridis' middle).
fn uncovered_colour(s: Status, max_steps: u32) -> RGBColor {
    lerp_rgb(status_colour(s, max_steps / 8, max_steps), WHITE, 0.55)
}

/// What a continuous map's colour bar is: the value and the runs it covers.
fn bar_caption(c: Colour) -> &'static str {
    match c {
        Colour::Steps => "steps to converge (converged runs)",
        Colour::Evals => "evaluations to converge (converged runs)",
        Colour::Loss => "final loss (stable runs)",
        Colour::Sharpness => "final sharpness λ_max (converged runs)",
        Colour::EdgeRatio => "final sharpness ÷ edge of stability (2/lr for GD; converged runs)",
        _ => "rate: per-step factor of |g| (classified runs)",
    }
}

impl Paint<'_> {
    fn colour(&self, c: Colour, cell: &Cell) -> RGBColor {
        match self {
            Paint::Status { max_steps } => status_colour(cell.status, cell.steps, *max_steps),
            Paint::Basin(_, colours) => match cell.basin {
                Some(id) => colours[id],
                None if cell.status == Status::Diverged => DIVERGED_DARK,
                None => NOT_CONVERGED,
            },
            Paint::Continuous { lo, hi, log, max_steps, .. } => {
                let v = cell.continuous_value(c);
                if !v.is_finite() || (*log && v <= 0.0) {
                    if c == Colour::Steps && cell.status == Status::Diverged {
                        return status_colour(cell.status, cell.steps, *max_steps);
                    }
                    return uncovered_colour(cell.status, *max_steps);
                }
                let f = |v: f64| if *log { v.log10() } else { v };
                viridis(if hi > lo { (f(v) - f(*lo)) / (f(*hi) - f(*lo)) } else { 0.5 })
            }
        }
    }
}

/// map.png of a 2-D map: one panel per combination of the other axes, a legend or colour bar.
pub fn map_png(plan: &Plan, map: &Map, cells: &MapCells, basins: Option<&[Basin]>) -> Result<Vec<u8>, String> {
    register_font();
    let y_axis = map.y.as_ref().ok_or("map_png needs a 2-D map")?;
    let (sx, sy) = (Scale::of(&map.x), Scale::of(y_axis));
    let c = map.spec.color;
    let paint = match c {
        Colour::Status => Paint::Status { max_steps: plan.steps },
        Colour::Basin => {
            let b = basins.ok_or("basin colours need basins")?;
            Paint::Basin(b, basin_colours(&cells.stats, b.len()))
        }
        Colour::Steps | Colour::Evals | Colour::Loss | Colour::Rate | Colour::Sharpness | Colour::EdgeRatio => {
            let (lo, hi) = (cells.stats.lo, cells.stats.hi);
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let log = !matches!(c, Colour::Rate | Colour::EdgeRatio) && lo > 0.0 && hi / lo > 100.0;
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
        draw_legend(&area, &paint, &cells.stats, map)? as u32 + 16
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
        draw_legend(&legend, &paint, &cells.stats, map)?;
        root.present().map_err(err)?;
    }
    // Fill each panel's plotting area with its cells, reading each row of cells a pixel row
    // shows once.
    let nx = sx.centres.len();
    for (xr, yr, k) in fills {
        let (xa, ya) = (sx.range(), sy.range());
        let (pw, ph) = ((xr.end - xr.start).max(1) as f64, (yr.end - yr.start).max(1) as f64);
        let ix: Vec<usize> = (0..xr.end - xr.start).map(|j| sx.cell(xa.start + (j as f64 + 0.5) / pw * (xa.end - xa.start))).collect();
        let mut row_cells: (usize, Vec<Cell>) = (usize::MAX, Vec::new());
        for (row, py) in (yr.start..yr.end).enumerate() {
            let iy = sy.cell(ya.end - (row as f64 + 0.5) / ph * (ya.end - ya.start));
            if row_cells.0 != iy {
                row_cells = (iy, cells.read(k, iy * nx..(iy + 1) * nx).map_err(|e| e.to_string())?);
            }
            for (col, px) in (xr.start..xr.end).enumerate() {
                let RGBColor(cr, cg, cb) = paint.colour(c, &row_cells.1[ix[col]]);
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
pub fn basin_colours(stats: &CellStats, basins: usize) -> Vec<RGBColor> {
    let ranked = basins_by_share(stats);
    let own = if ranked.len() > BASIN_COLOURS.len() { BASIN_COLOURS.len() - 1 } else { ranked.len() };
    let mut colours = vec![OTHER_BASINS; basins];
    for (rank, &(id, _)) in ranked.iter().enumerate().take(own) {
        colours[id] = BASIN_COLOURS[rank];
    }
    colours
}

/// The basins on the map with their cell counts, largest first (ties: lower id first).
fn basins_by_share(stats: &CellStats) -> Vec<(usize, u64)> {
    let mut ranked: Vec<(usize, u64)> = stats.by_basin.iter().copied().enumerate().filter(|&(_, n)| n > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// Draw the legend; returns the y below its last entry.
pub(super) fn draw_legend(area: &Area, paint: &Paint, stats: &CellStats, map: &Map) -> Result<i32, String> {
    let c = map.spec.color;
    let head = (FONT, 14).into_font().color(&BLACK);
    let mut y = 50;
    let seen = |s: Status| stats.seen(s);
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
            let ranked = basins_by_share(stats);
            let cells = stats.cells;
            let mut others = (0usize, 0u64);
            for &(id, n) in &ranked {
                if colours[id] == OTHER_BASINS {
                    others = (others.0 + 1, others.1.max(n));
                    continue;
                }
                let basin = &b[id];
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
            if stats.unlabelled_not_diverged {
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
            let bar = TickAxis::new(a..b, *log, matches!(c, Colour::Steps | Colour::Evals));
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
            let uncovered = |s: Status| stats.not_finite[s as usize] || (*log && stats.not_positive[s as usize]);
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
                        _ => format!("{} ({})", s.name(), if matches!(c, Colour::Steps | Colour::Evals) { "did not converge" } else { "value not finite" }),
                    };
                    swatch(area, y, uncovered_colour(s, m), &what)?;
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

    fn cell(status: Status, steps: u32, loss: f64) -> Cell {
        Cell { status, steps, evals: steps + 1, loss, rate: f64::NAN, steps_left: f64::NAN, basin: None, sharpness: f64::NAN, edge: f64::NAN }
    }

    /// A steps map paints converged runs by steps taken, diverged ones on their own escape-step
    /// scale and the others in their status colours: never one colour for two meanings.
    #[test]
    fn steps_colours_keep_their_meanings_apart() {
        let cells = [cell(Status::Converged, 10, 0.0), cell(Status::Diverged, 10, f64::INFINITY), cell(Status::Slow, 1000, 1.0)];
        let paint = Paint::Continuous { lo: 10.0, hi: 10.0, log: false, max_steps: 1000 };
        let c: Vec<RGBColor> = cells.iter().map(|x| paint.colour(Colour::Steps, x)).collect();
        assert_eq!(c[0], viridis(0.5));
        assert_eq!(c[1], status_colour(Status::Diverged, 10, 1000));
        assert_eq!(c[2], uncovered_colour(Status::Slow, 1000));
        assert!(c[0] != c[1] && c[1] != c[2]);
        // A rate map has no rate for converged or diverged runs: their status colours.
        let paint = Paint::Continuous { lo: 0.9, hi: 1.0, log: false, max_steps: 1000 };
        assert_eq!(paint.colour(Colour::Rate, &cells[1]), uncovered_colour(Status::Diverged, 1000));
    }

    /// Basins ranked by share get the categorical colours; beyond 20, the smallest share one.
    #[test]
    fn the_largest_basins_get_their_own_colours() {
        let n_basins = 25;
        // Basin b covers 30 − b cells: basin 0 the most.
        let by_basin: Vec<u64> = (0..n_basins).map(|b| 30 - b as u64).collect();
        let stats = CellStats {
            cells: by_basin.iter().sum(),
            by_status: [0; Status::FINAL.len() + 1],
            by_basin,
            unlabelled_not_diverged: false,
            lo: 0.0,
            hi: 1.0,
            not_finite: [false; Status::FINAL.len() + 1],
            not_positive: [false; Status::FINAL.len() + 1],
        };
        let colours = basin_colours(&stats, n_basins);
        for b in 0..19 {
            assert_eq!(colours[b], BASIN_COLOURS[b], "basin {b}");
        }
        assert!(colours[19..].iter().all(|&c| c == OTHER_BASINS));
    }
}
