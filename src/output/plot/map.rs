//! map.png of a 2-D map: panels of cells, a legend or a colour bar.

use super::colour::*;
use super::scale::*;
use super::{encode_png, err, register_font, Area, FONT};
use crate::analysis::basins::BasinMap;
use crate::analysis::map::{short, Map};
use crate::outcome::{Results, Status};
use crate::plan::analyses::Colour;
use crate::plan::Plan;
use plotters::prelude::*;

/// How a map colours its cells.
pub(super) enum Paint<'a> {
    Status { max_steps: u32 },
    Basin(&'a BasinMap),
    /// A continuous value (scaled to [0, 1] in its own scale) with a colour bar.
    Continuous { lo: f64, hi: f64, log: bool, name: &'static str },
}

pub(super) fn continuous_value(c: Colour, r: &Results, i: usize) -> f64 {
    match c {
        Colour::Steps => r.steps[i] as f64,
        Colour::Loss => r.loss[i],
        Colour::Rate => r.rate[i],
        Colour::Status | Colour::Basin => f64::NAN,
    }
}

impl Paint<'_> {
    fn colour(&self, c: Colour, r: &Results, i: usize) -> RGBColor {
        match self {
            Paint::Status { max_steps } => status_colour(r.status[i], r.steps[i], *max_steps),
            Paint::Basin(b) => match b.label[i] {
                Some(id) => basin_colour(id),
                None if r.status[i] == Status::Diverged => DIVERGED_DARK,
                None => NOT_CONVERGED,
            },
            Paint::Continuous { lo, hi, log, .. } => {
                let v = continuous_value(c, r, i);
                if !v.is_finite() || (*log && v <= 0.0) {
                    return NOT_CONVERGED;
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
        Colour::Basin => Paint::Basin(basins.ok_or("basin colours need basins")?),
        Colour::Steps | Colour::Loss | Colour::Rate => {
            let vals: Vec<f64> = map.panels.iter().flat_map(|p| p.cells.iter().map(|&i| continuous_value(c, r, i))).filter(|v| v.is_finite()).collect();
            let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let log = c != Colour::Rate && lo > 0.0 && hi / lo > 100.0;
            Paint::Continuous { lo, hi, log, name: c.name() }
        }
    };
    let n = map.panels.len();
    let cols = n.clamp(1, 4);
    let rows = n.div_ceil(cols);
    let (pw, ph, legend_w, title_h) = (400u32, 380u32, 260u32, 46u32);
    let (w, h) = (cols as u32 * pw + legend_w, title_h + rows as u32 * ph);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut fills: Vec<(std::ops::Range<i32>, std::ops::Range<i32>, usize)> = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let (title, body) = root.split_vertically(title_h);
        title
            .draw_text(&fit(&format!("{}: {} by {}", plan.name, plan.objective.formula, c.name()), w as usize / 11), &(FONT, 20).into_font().color(&BLACK), (14, 12))
            .map_err(err)?;
        let (plots, legend) = body.split_horizontally(cols as u32 * pw);
        for (k, (area, panel)) in plots.split_evenly((rows, cols)).iter().zip(&map.panels).enumerate() {
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.label, (FONT, 15))
                .margin(10)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(sx.range(), sy.range())
                .map_err(err)?;
            let (xspan, yspan) = (sx.range().end - sx.range().start, sy.range().end - sy.range().start);
            let (fx, fy) = (|t: &f64| tick(*t, sx.log, xspan), |t: &f64| tick(*t, sy.log, yspan));
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

pub(super) fn draw_legend(area: &Area, paint: &Paint, r: &Results, map: &Map) -> Result<(), String> {
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
            }
        }
        Paint::Basin(b) => {
            area.draw_text("basin (final point)", &head, (16, y - 22)).map_err(err)?;
            let used: Vec<usize> = {
                let mut u: Vec<usize> = map.panels.iter().flat_map(|p| p.cells.iter().filter_map(|&i| b.label[i])).collect();
                u.sort_unstable();
                u.dedup();
                u
            };
            // As many entries as fit above the two status swatches.
            let fit = ((area.dim_in_pixel().1 as i32 - y - 70) / 22).max(1) as usize;
            let shown = if used.len() > fit { fit - 1 } else { fit };
            for &id in used.iter().take(shown) {
                let basin = &b.basins[id];
                let at: Vec<String> = basin.centre.iter().map(|v| format!("{v:.3}")).collect();
                swatch(area, y, basin_colour(id), &format!("{id}: ({}) {}", at.join(", "), basin.kind))?;
                y += 22;
            }
            if used.len() > shown {
                area.draw_text(&format!("… {} more (basins.csv)", used.len() - shown), &(FONT, 12).into_font().color(&BLACK), (16, y)).map_err(err)?;
                y += 22;
            }
            if seen(Status::Diverged) {
                swatch(area, y, DIVERGED_DARK, "diverged")?;
                y += 22;
            }
            if map.panels.iter().any(|p| p.cells.iter().any(|&i| b.label[i].is_none() && r.status[i] != Status::Diverged)) {
                swatch(area, y, NOT_CONVERGED, "did not converge")?;
            }
        }
        Paint::Continuous { lo, hi, log, name } => {
            area.draw_text(&format!("{name}{}", if *log { " (log scale)" } else { "" }), &head, (16, y - 22)).map_err(err)?;
            // A vertical colour bar with five labelled ticks, high at the top.
            let (top, height) = (y, 280);
            for k in 0..height {
                let t = 1.0 - k as f64 / (height - 1) as f64;
                area.draw(&Rectangle::new([(16, top + k), (40, top + k + 1)], viridis(t).filled())).map_err(err)?;
            }
            area.draw(&Rectangle::new([(16, top), (40, top + height)], BLACK.stroke_width(1))).map_err(err)?;
            let f = |v: f64| if *log { v.log10() } else { v };
            for q in 0..5 {
                let t = q as f64 / 4.0;
                let v = if *log { 10f64.powf(f(*lo) + t * (f(*hi) - f(*lo))) } else { lo + t * (hi - lo) };
                let py = top + ((1.0 - t) * (height - 1) as f64) as i32;
                area.draw(&PathElement::new(vec![(40, py), (46, py)], BLACK)).map_err(err)?;
                let label = if c == Colour::Steps { format!("{}", v.round()) } else { short(v) };
                area.draw_text(&label, &(FONT, 12).into_font().color(&BLACK), (50, py - 6)).map_err(err)?;
            }
            let missing = map.panels.iter().any(|p| {
                p.cells.iter().any(|&i| {
                    let v = continuous_value(c, r, i);
                    !v.is_finite() || (*log && v <= 0.0)
                })
            });
            if missing {
                swatch(area, top + height + 16, NOT_CONVERGED, &format!("no {name} (n/a or not finite)"))?;
            }
        }
    }
    Ok(())
}
