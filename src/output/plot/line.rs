//! map.png of a 1-D map: steps to converge and final loss against the map's axis, with the
//! learning-rate thresholds where `[analysis.threshold]` found them.

use super::colour::*;
use super::scale::*;
use super::{draw_series_legend, encode_png, err, register_font, FONT};
use crate::analysis::map::{short, Cell, Map, MapCells};
use crate::analysis::threshold::Search;
use crate::outcome::Status;
use crate::plan::Plan;
use plotters::prelude::*;

/// Stroke width of series k of n: the first drawn widest, so a later series that coincides
/// with it (momentum and Nesterov on the forum matrix) runs inside it and both stay visible.
fn width(k: usize, n: usize) -> u32 {
    (2 + n.saturating_sub(1) - k.min(n.saturating_sub(1))).min(6) as u32
}

/// A dashed vertical line at x from y0 to y1 (drawing scale), in `colour`.
fn dashes(x: f64, y0: f64, y1: f64, colour: RGBColor) -> Vec<PathElement<(f64, f64)>> {
    let colour = RGBColor(colour.0 / 3, colour.1 / 3, colour.2 / 3);
    let n = 40;
    (0..n).step_by(2).map(|k| {
        let (a, b) = (y0 + (y1 - y0) * k as f64 / n as f64, y0 + (y1 - y0) * (k + 1) as f64 / n as f64);
        PathElement::new(vec![(x, a), (x, b)], colour.stroke_width(1))
    }).collect()
}

/// map.png of a 1-D map, one line per series against the map's axis: steps to converge
/// (converged: taken; slow: taken + the steps left where the estimate can be trusted, see
/// outcome::judge_steps_left) with the escape step of diverged runs as crosses, and the final
/// loss of stable runs. With thresholds over lr, each series' measured threshold is a solid
/// vertical line in its colour and the theory's a dark dashed one over it, both in the legend.
pub fn line_png(plan: &Plan, map: &Map, cells: &MapCells, thresholds: Option<&Search>) -> Result<Vec<u8>, String> {
    register_font();
    let sx = Scale::of(&map.x);
    let ax = TickAxis::new(sx.range(), sx.log, false);
    let n = map.panels.len();
    let cells_of: Vec<Vec<Cell>> = (0..n).map(|k| cells.panel(k)).collect::<crate::error::Result<_>>().map_err(|e| e.to_string())?;
    // Each series' threshold: the group whose runs the series' first cell starts (x = lr).
    let threshold_of = |k: usize| {
        let p = &map.panels[k];
        let search = thresholds.filter(|_| map.x.name == "lr")?;
        search.thresholds.iter().find(|t| t.block == p.block && t.rest == p.base)
    };
    let heading = wrap(&format!("{}: {}", plan.name, plan.objective.formula), 88);
    let title_h = 16 + 26 * heading.len() as u32 + 20;
    let (w, h) = (1000u32, 740 + title_h);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let (title, body) = root.split_vertically(title_h);
        for (k, line) in heading.iter().enumerate() {
            title.draw_text(line, &(FONT, 20).into_font().color(&BLACK), (14, 8 + 26 * k as i32)).map_err(err)?;
        }
        title
            .draw_text(
                "top: steps to converge (slow runs: steps + the trusted estimate of steps left; ×: escape step of diverged runs); bottom: final loss of stable runs",
                &(FONT, 12).into_font().color(&RGBColor(70, 70, 70)),
                (14, title_h as i32 - 22),
            )
            .map_err(err)?;
        let (top, bottom) = body.split_vertically((h - title_h) / 2);
        let fx = |t: &f64| ax.label(*t);
        type Pick = fn(&Cell) -> Option<f64>;
        let steps_line: Pick = |c| match c.status {
            Status::Converged => Some(c.steps as f64),
            Status::Slow if c.steps_left.is_finite() => Some(c.steps as f64 + c.steps_left),
            _ => None,
        };
        let steps_cross: Pick = |c| (c.status == Status::Diverged).then_some(c.steps as f64);
        let loss_line: Pick = |c| (!c.status.is_unstable() && c.loss.is_finite()).then_some(c.loss);
        let loss_cross: Pick = |_| None;
        for (upper, area, ylabel, line, cross) in
            [(true, &top, "steps", steps_line, steps_cross), (false, &bottom, "final loss", loss_line, loss_cross)]
        {
            let vals: Vec<f64> =
                cells_of.iter().flat_map(|s| s.iter().flat_map(|c| [line(c), cross(c)])).flatten().collect();
            let positive = vals.iter().all(|&v| v > 0.0);
            let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ylog = positive && lo.is_finite() && hi / lo > 30.0;
            let fy = |v: f64| if ylog { v.log10() } else { v };
            let (ylo, yhi) = if lo.is_finite() { (fy(lo), fy(hi)) } else { (0.0, 1.0) };
            let pad = ((yhi - ylo) * 0.05).max(if ylog { 0.1 } else { 1e-12_f64.max(yhi.abs() * 0.05) });
            let yr = (ylo - pad)..(yhi + pad);
            let ay = TickAxis::new(yr.clone(), ylog, upper);
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(ax.clone(), ay.clone())
                .map_err(err)?;
            let fyl = |t: &f64| ay.label(*t);
            chart
                .configure_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .x_labels(8)
                .y_labels(6)
                .x_label_formatter(&fx)
                .y_label_formatter(&fyl)
                .x_desc(desc(&map.x.name, sx.log))
                .y_desc(desc(ylabel, ylog))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(err)?;
            for (k, p) in map.panels.iter().enumerate() {
                let colour = series_colour(k);
                let stroke = width(k, n);
                // One line per run of consecutive plotted cells: gaps stay gaps.
                let pts: Vec<Option<(f64, f64)>> =
                    cells_of[k].iter().enumerate().map(|(ix, c)| line(c).map(|v| (sx.centres[ix], fy(v)))).collect();
                let pieces: Vec<Vec<(f64, f64)>> =
                    pts.split(Option::is_none).map(|s| s.iter().flatten().copied().collect::<Vec<_>>()).filter(|s| !s.is_empty()).collect();
                let series = chart
                    .draw_series(pieces.into_iter().map(|piece| PathElement::new(piece, colour.stroke_width(stroke))))
                    .map_err(err)?;
                if upper {
                    series.label(&p.label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(stroke.min(5))));
                }
                let crosses: Vec<(f64, f64)> =
                    cells_of[k].iter().enumerate().filter_map(|(ix, c)| cross(c).map(|v| (sx.centres[ix], fy(v)))).collect();
                chart.draw_series(crosses.iter().map(|&c| Cross::new(c, 3 + stroke as i32, colour.stroke_width(1)))).map_err(err)?;
                if let Some(t) = threshold_of(k) {
                    let at = |v: f64| if sx.log { v.log10() } else { v };
                    if let (Some(s), Some(u)) = (t.lr_stable, t.lr_unstable) {
                        let x = at(0.5 * (s + u));
                        let solid = chart.draw_series(std::iter::once(PathElement::new(vec![(x, yr.start), (x, yr.end)], colour.stroke_width(2)))).map_err(err)?;
                        if upper {
                            solid.label(format!("{} threshold {}", p.label, short(0.5 * (s + u)))).legend(move |(x, y)| {
                                PathElement::new(vec![(x + 9, y - 6), (x + 9, y + 6)], colour.stroke_width(2))
                            });
                        }
                    }
                    if let Some(th) = t.lr_theory {
                        let dashed = chart.draw_series(dashes(at(th), yr.start, yr.end, colour)).map_err(err)?;
                        if upper {
                            let dark = RGBColor(colour.0 / 3, colour.1 / 3, colour.2 / 3);
                            dashed.label(format!("{} theory {}", p.label, short(th))).legend(move |(x, y)| {
                                EmptyElement::at((x + 9, y)) + PathElement::new(vec![(0, -6), (0, -2)], dark.stroke_width(1)) + PathElement::new(vec![(0, 1), (0, 5)], dark.stroke_width(1))
                            });
                        }
                    }
                }
            }
            if upper {
                if cells_of.iter().any(|s| s.iter().any(|c| cross(c).is_some())) {
                    chart
                        .draw_series(std::iter::empty::<Cross<(f64, f64), i32>>())
                        .map_err(err)?
                        .label("× diverged: escape step")
                        .legend(|(x, y)| Cross::new((x + 9, y), 4, BLACK.stroke_width(1)));
                }
                draw_series_legend(&mut chart)?;
            }
        }
        root.present().map_err(err)?;
    }
    encode_png(&buf, w, h)
}
