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
    /// The trainability measure in its notebook's colours (`cdf_img` with `Spectral`): the
    /// trained runs' values (−Σv) and the others' (Σ1/v), each sorted, so that a value's rank
    /// on its side sets its shade. Unknown records in their status colours, pale.
    Trainability { trained: Vec<f64>, untrained: Vec<f64>, max_steps: u32 },
}

/// Most values [`trainability_ranks`] sorts: beyond, every k-th cell (ranks to 2⁻²²).
const RANKED_VALUES: u64 = 1 << 22;

/// The sorted trainability values of a map's cells, trained (negative) and not.
fn trainability_ranks(cells: &MapCells, map: &Map) -> Result<(Vec<f64>, Vec<f64>), String> {
    let every = cells.stats.cells.div_ceil(RANKED_VALUES).max(1) as usize;
    let (mut trained, mut untrained) = (Vec::new(), Vec::new());
    let (nx, per_panel) = (map.nx(), map.cells_per_panel());
    let mut seen = 0usize;
    for k in 0..map.panels.len() {
        for row in (0..per_panel).step_by(nx) {
            for cell in cells.read(k, row..row + nx).map_err(|e| e.to_string())? {
                if seen % every == 0 && !cell.trainability.is_nan() {
                    if cell.trainability < 0.0 { trained.push(cell.trainability) } else { untrained.push(cell.trainability) }
                }
                seen += 1;
            }
        }
    }
    trained.sort_by(f64::total_cmp);
    untrained.sort_by(f64::total_cmp);
    Ok((trained, untrained))
}

/// The notebook's `cdf_img` of one value: its rank among the sorted values of its side, spread
/// over [0.25, 1] (trained, the blue half of Spectral) or [−1, −0.25] (not trained, the red
/// half), as a position on the palette.
fn trainability_shade(v: f64, trained: &[f64], untrained: &[f64]) -> f64 {
    let rank = |side: &[f64]| match side.len() {
        0 | 1 => 0.5,
        n => side.partition_point(|&u| u < v) as f64 / (n - 1) as f64,
    };
    // cdf_img's y for v, negated as it returns it; the palette runs from −1 (red) to 1 (blue).
    let y = if v < 0.0 { -1.0 + 0.75 * rank(trained) } else { 0.25 + 0.75 * rank(untrained) };
    (1.0 - y) / 2.0
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
        Colour::Trainability => "trainability (Sohl-Dickstein 2024)",
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
            Paint::Trainability { trained, untrained, max_steps } => match cell.trainability {
                v if v.is_nan() => uncovered_colour(cell.status, *max_steps),
                v => spectral(trainability_shade(v, trained, untrained)),
            },
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
        Colour::Trainability => {
            let (trained, untrained) = trainability_ranks(cells, map)?;
            Paint::Trainability { trained, untrained, max_steps: plan.steps }
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
        Paint::Trainability { trained, untrained, max_steps } => {
            area.draw_text(bar_caption(c), &head, (16, y - 22)).map_err(err)?;
            let small = (FONT, 12).into_font().color(&BLACK);
            let n = |v: &[f64]| format!("{:.1} %", 100.0 * v.len() as f64 / (trained.len() + untrained.len()).max(1) as f64);
            if !trained.is_empty() {
                for (k, line) in ["trained: mean of the last 20 L/L₀ < 1", &format!("{} of the runs; shade: rank of Σ L/L₀", n(trained))].iter().enumerate() {
                    area.draw_text(line, &small, (16, y + 16 * k as i32)).map_err(err)?;
                }
                gradient(area, y + 36, |t| spectral(0.625 + 0.375 * t), "fast", "slow")?;
                y += 72;
            }
            if !untrained.is_empty() {
                for (k, line) in ["not trained", &format!("{} of the runs; shade: rank of Σ L₀/L", n(untrained))].iter().enumerate() {
                    area.draw_text(line, &small, (16, y + 16 * k as i32)).map_err(err)?;
                }
                gradient(area, y + 36, |t| spectral(0.375 - 0.375 * t), "fast blow-up", "slow")?;
                y += 72;
            }
            for s in Status::FINAL {
                if stats.not_finite[s as usize] {
                    swatch(area, y, uncovered_colour(s, *max_steps), &format!("{}: unknown (rule cannot tell)", s.name()))?;
                    y += 22;
                }
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
        Cell { status, steps, evals: steps + 1, loss, rate: f64::NAN, steps_left: f64::NAN, basin: None, sharpness: f64::NAN, edge: f64::NAN, trainability: f64::NAN }
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

    /// The notebook's stretch: a trained run's shade lies in Spectral's blue half, slower
    /// (more negative −Σv) deeper; the others' in the red half, later blow-ups (larger Σ1/v)
    /// deeper; the rank, not the value, sets it.
    #[test]
    fn trainability_shades_follow_the_notebook() {
        let trained = [-300.0, -150.0, -20.0];
        let untrained = [1.0, 2.0, 500.0];
        let shade = |v: f64| trainability_shade(v, &trained, &untrained);
        assert_eq!([shade(-300.0), shade(-150.0), shade(-20.0)], [1.0, 0.8125, 0.625]);
        assert_eq!([shade(1.0), shade(2.0), shade(500.0)], [0.375, 0.1875, 0.0]);
        let (blue, red) = (spectral(shade(-150.0)), spectral(shade(2.0)));
        assert!(blue.2 > blue.0 && red.0 > red.2, "{blue:?} {red:?}");
        let paint = Paint::Trainability { trained: trained.to_vec(), untrained: untrained.to_vec(), max_steps: 10 };
        let unknown = Cell { trainability: f64::NAN, ..cell(Status::LineSearchFailed, 3, 1.0) };
        assert_eq!(paint.colour(Colour::Trainability, &unknown), uncovered_colour(Status::LineSearchFailed, 10));
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
