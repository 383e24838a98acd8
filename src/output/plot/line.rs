//! map.png of a 1-D map: steps to converge and final loss against the map's axis.

use super::colour::*;
use super::scale::*;
use super::{encode_png, err, register_font, FONT};
use crate::analysis::map::Map;
use crate::outcome::{Results, Status};
use crate::plan::Plan;
use plotters::prelude::*;

/// map.png of a 1-D map, one line per series against the map's axis: steps to converge
/// (converged: taken; slow: taken + estimated steps left) with the escape step of diverged runs
/// as crosses, and the final loss of stable runs.
pub fn line_png(plan: &Plan, map: &Map, r: &Results) -> Result<Vec<u8>, String> {
    register_font();
    let sx = Scale::of(&map.x);
    let (w, h) = (1000u32, 760u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let (title, body) = root.split_vertically(40);
        title
            .draw_text(&format!("{}: {}", plan.name, plan.objective.formula), &(FONT, 20).into_font().color(&BLACK), (14, 10))
            .map_err(err)?;
        let (top, bottom) = body.split_vertically((h - 40) / 2);
        let xspan = sx.range().end - sx.range().start;
        let fx = |t: &f64| tick(*t, sx.log, xspan);
        // (chart area, y label, value of row i, is it plotted as a line point, as a cross)
        type Pick = fn(&Results, usize) -> Option<f64>;
        // Converged: the steps taken; slow: those plus the estimated steps left (from the rate).
        let steps_line: Pick = |r, i| match r.status[i] {
            Status::Converged => Some(r.steps[i] as f64),
            Status::Slow if r.steps_left[i].is_finite() => Some(r.steps[i] as f64 + r.steps_left[i]),
            _ => None,
        };
        let steps_cross: Pick = |r, i| (r.status[i] == Status::Diverged).then(|| r.steps[i] as f64);
        let loss_line: Pick = |r, i| (!r.status[i].is_unstable() && r.loss[i].is_finite()).then(|| r.loss[i]);
        let loss_cross: Pick = |_, _| None;
        for (upper, area, ylabel, line, cross) in [
            (true, &top, "steps to converge (slow: estimated); ×: escape step", steps_line, steps_cross),
            (false, &bottom, "final loss (stable runs)", loss_line, loss_cross),
        ] {
            let vals: Vec<f64> =
                map.panels.iter().flat_map(|p| p.cells.iter().flat_map(|&i| [line(r, i), cross(r, i)])).flatten().collect();
            let positive = vals.iter().all(|&v| v > 0.0);
            let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ylog = positive && lo.is_finite() && hi / lo > 30.0;
            let fy = |v: f64| if ylog { v.log10() } else { v };
            let (ylo, yhi) = if lo.is_finite() { (fy(lo), fy(hi)) } else { (0.0, 1.0) };
            let pad = ((yhi - ylo) * 0.05).max(if ylog { 0.1 } else { 1e-12_f64.max(yhi.abs() * 0.05) });
            let yr = (ylo - pad)..(yhi + pad);
            let yspan = yr.end - yr.start;
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(sx.range(), yr)
                .map_err(err)?;
            let fyl = |t: &f64| tick(*t, ylog, yspan);
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
                // One line per run of consecutive plotted cells: gaps stay gaps.
                let pts: Vec<Option<(f64, f64)>> =
                    p.cells.iter().enumerate().map(|(ix, &i)| line(r, i).map(|v| (sx.centres[ix], fy(v)))).collect();
                let pieces: Vec<Vec<(f64, f64)>> =
                    pts.split(Option::is_none).map(|s| s.iter().flatten().copied().collect::<Vec<_>>()).filter(|s| !s.is_empty()).collect();
                let series = chart
                    .draw_series(pieces.into_iter().map(|piece| PathElement::new(piece, colour.stroke_width(2))))
                    .map_err(err)?;
                if upper {
                    series.label(&p.label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
                }
                let crosses: Vec<(f64, f64)> =
                    p.cells.iter().enumerate().filter_map(|(ix, &i)| cross(r, i).map(|v| (sx.centres[ix], fy(v)))).collect();
                chart.draw_series(crosses.iter().map(|&c| Cross::new(c, 4, colour.stroke_width(1)))).map_err(err)?;
            }
            if upper {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font((FONT, 13))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    encode_png(&buf, w, h)
}
