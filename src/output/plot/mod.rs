//! Pictures: map.png (2-D maps, 1-D line plots) and trajectories.png, drawn with plotters onto
//! an RGB buffer and encoded with png.
//!
//! Axes are drawn in their own scale: log axes (`log` ranges such as lr) in log10 space, with
//! ticks labelled at whole decades (or at every tick when the range spans less than one). Map
//! cells are filled pixel by pixel: a pixel takes the cell whose centre is nearest in the axis'
//! scale, so log-spaced cells are even on a log axis. Text uses DejaVu Sans (a subset compiled
//! into the binary: see DejaVuSans-LICENSE.txt), so pictures do not depend on system fonts.

use crate::analysis::basins::BasinMap;
use crate::analysis::map::{short, Map, MapAxis};
use crate::plan::analyses::Colour;
use crate::outcome::{Results, Status};
use crate::plan::Plan;
use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse (tests draw every kind of picture).
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, include_bytes!("DejaVuSans-subset.ttf"));
    });
}

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing: {e}")
}

/// PNG bytes of an RGB buffer.
pub fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Flat colour areas and thin lines: adaptive filtering and the best deflate keep the
        // pictures small enough to commit.
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
    }
    Ok(out)
}

/// An axis in its drawing scale: log10 of the values on log axes.
#[derive(Clone)]
pub struct Scale {
    pub log: bool,
    /// Cell centres and edges in the drawing scale (edges: one more than centres).
    pub centres: Vec<f64>,
    pub edges: Vec<f64>,
}

impl Scale {
    pub fn of(axis: &MapAxis) -> Scale {
        let log = axis.log && axis.values.iter().all(|&v| v > 0.0);
        let centres: Vec<f64> = axis.values.iter().map(|&v| if log { v.log10() } else { v }).collect();
        let n = centres.len();
        let mut edges = Vec::with_capacity(n + 1);
        let gap = |i: usize| (centres[i + 1] - centres[i]).abs();
        edges.push(centres[0] - 0.5 * if n > 1 { gap(0) } else { 1.0 });
        for i in 0..n.saturating_sub(1) {
            edges.push(0.5 * (centres[i] + centres[i + 1]));
        }
        edges.push(centres[n - 1] + 0.5 * if n > 1 { gap(n - 2) } else { 1.0 });
        Scale { log, centres, edges }
    }

    /// The cell holding drawing-scale coordinate t (axes are stored ascending or descending).
    fn cell(&self, t: f64) -> usize {
        let n = self.centres.len();
        let ascending = self.edges[n] >= self.edges[0];
        let i = self.edges[1..n].partition_point(|&e| if ascending { e <= t } else { e >= t });
        i.min(n - 1)
    }

    fn range(&self) -> std::ops::Range<f64> {
        let (a, b) = (self.edges[0], self.edges[self.edges.len() - 1]);
        a.min(b)..a.max(b)
    }
}

/// A tick label in an axis' own units.
fn tick(t: f64, log: bool, span: f64) -> String {
    if !log {
        return short(t);
    }
    if span >= 1.0 {
        if (t - t.round()).abs() > 1e-9 {
            return String::new();
        }
        return format!("1e{}", t.round() as i32);
    }
    short(10f64.powf(t))
}

/// `s` cut to `n` characters, with an ellipsis where cut.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn desc(name: &str, log: bool) -> String {
    if log {
        format!("{name} (log scale)")
    } else {
        name.to_string()
    }
}

fn lerp(a: (u8, u8, u8), b: (u8, u8, u8), s: f64) -> RGBColor {
    let s = s.clamp(0.0, 1.0);
    let m = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * s).round() as u8;
    RGBColor(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

/// Status colours: converged dark blue (fast) → light blue (slow); diverged dark red (early
/// escape) → light red (late); the other statuses one colour each.
pub fn status_colour(s: Status, steps: u32, max_steps: u32) -> RGBColor {
    let shade = ((1.0 + steps as f64).ln() / (1.0 + max_steps.max(1) as f64).ln()).clamp(0.0, 1.0);
    match s {
        Status::Converged => lerp((8, 48, 130), (160, 200, 245), shade),
        Status::Diverged => lerp((120, 0, 10), (250, 160, 140), shade),
        Status::Diverging => RGBColor(245, 130, 20),
        Status::Slow => RGBColor(90, 190, 170),
        Status::Cycling => RGBColor(140, 80, 190),
        Status::Chaotic => RGBColor(225, 70, 190),
        Status::Stalled => RGBColor(140, 140, 140),
        Status::MaxSteps | Status::Running => RGBColor(235, 210, 60),
    }
}

/// Categorical colours for basins: Tableau 20, reordered so that the first ten are the strong
/// tones (blue and red, the status colours, last among them) and the next ten their light tints.
const BASIN_COLOURS: [RGBColor; 20] = [
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(227, 119, 194),
    RGBColor(140, 86, 75),
    RGBColor(31, 119, 180),
    RGBColor(127, 127, 127),
    RGBColor(214, 39, 40),
    RGBColor(152, 223, 138),
    RGBColor(197, 176, 213),
    RGBColor(255, 187, 120),
    RGBColor(158, 218, 229),
    RGBColor(219, 219, 141),
    RGBColor(247, 182, 210),
    RGBColor(196, 156, 148),
    RGBColor(174, 199, 232),
    RGBColor(199, 199, 199),
    RGBColor(255, 152, 150),
];

pub fn basin_colour(id: usize) -> RGBColor {
    BASIN_COLOURS[id % BASIN_COLOURS.len()]
}

const NOT_CONVERGED: RGBColor = RGBColor(215, 215, 215);
const DIVERGED_DARK: RGBColor = RGBColor(45, 45, 45);

/// Series colours of line plots.
pub fn series_colour(i: usize) -> RGBColor {
    const SERIES: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(188, 189, 34),
        RGBColor(127, 127, 127),
    ];
    SERIES[i % SERIES.len()]
}

/// Viridis, by 9 stops (matplotlib's), linearly interpolated.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } * 8.0;
    let i = (t.floor() as usize).min(7);
    lerp(STOPS[i], STOPS[i + 1], t - i as f64)
}

/// How a map colours its cells.
enum Paint<'a> {
    Status { max_steps: u32 },
    Basin(&'a BasinMap),
    /// A continuous value (scaled to [0, 1] in its own scale) with a colour bar.
    Continuous { lo: f64, hi: f64, log: bool, name: &'static str },
}

fn continuous_value(c: Colour, r: &Results, i: usize) -> f64 {
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

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn swatch(area: &Area, y: i32, colour: RGBColor, text: &str) -> Result<(), String> {
    area.draw(&Rectangle::new([(16, y), (34, y + 14)], colour.filled())).map_err(err)?;
    area.draw(&Rectangle::new([(16, y), (34, y + 14)], BLACK.stroke_width(1))).map_err(err)?;
    area.draw_text(text, &(FONT, 13).into_font().color(&BLACK), (42, y)).map_err(err)
}

/// A horizontal gradient from `f(0)` to `f(1)` with a caption.
fn gradient(area: &Area, y: i32, f: impl Fn(f64) -> RGBColor, left: &str, right: &str) -> Result<(), String> {
    for k in 0..180 {
        let c = f(k as f64 / 179.0);
        area.draw(&Rectangle::new([(16 + k, y), (17 + k, y + 12)], c.filled())).map_err(err)?;
    }
    let style = (FONT, 11).into_font().color(&BLACK);
    area.draw_text(left, &style, (16, y + 15)).map_err(err)?;
    let (tw, _) = area.estimate_text_size(right, &style).map_err(err)?;
    area.draw_text(right, &style, (196 - tw as i32, y + 15)).map_err(err)
}

fn draw_legend(area: &Area, paint: &Paint, r: &Results, map: &Map) -> Result<(), String> {
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

/// A legend label for a traced run: its id, optimizer, lr and start.
fn trace_label(plan: &Plan, t: &crate::analysis::trajectory::Trace) -> String {
    let (bi, local) = plan.locate(t.run).expect("traced runs come from the plan");
    let b = &plan.blocks[bi];
    let start: Vec<String> = t.point(0).iter().map(|&v| short(v)).collect();
    format!("run {}: {} lr={} from ({})", t.run, b.optimizer.name(), short(b.axis_value(local, 0)), start.join(", "))
}

/// trajectories.png: for 2-D objectives the paths over a contour plot of the objective (the
/// frame holds every start and last point, with a margin; paths that leave it are cut);
/// otherwise the loss against the step, one line per run.
pub fn trajectories_png(plan: &Plan, traces: &[crate::analysis::trajectory::Trace]) -> Result<Vec<u8>, String> {
    register_font();
    if plan.objective.dim() != 2 {
        return loss_curves_png(plan, traces);
    }
    let (w, h) = (1040u32, 760u32);
    let legend_w = 340u32;
    // The frame: starts, and points within reach of them.
    let reach = 100.0 * traces.iter().flat_map(|t| t.point(0).iter().map(|v| v.abs())).fold(1f64, f64::max);
    let inside = |p: &[f64]| p.iter().all(|v| v.is_finite() && v.abs() <= reach);
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for t in traces {
        for k in [0, t.steps.len() - 1] {
            let p = t.point(k);
            if inside(p) {
                for j in 0..2 {
                    lo[j] = lo[j].min(p[j]);
                    hi[j] = hi[j].max(p[j]);
                }
            }
        }
    }
    for j in 0..2 {
        if !lo[j].is_finite() {
            (lo[j], hi[j]) = (-1.0, 1.0);
        }
        let pad = ((hi[j] - lo[j]) * 0.15).max(1e-3 * lo[j].abs().max(hi[j].abs()).max(1.0));
        lo[j] -= pad;
        hi[j] += pad;
    }
    let (xr, yr) = (lo[0]..hi[0], lo[1]..hi[1]);
    let title = fit(&format!("{}: paths over {}", plan.name, plan.objective.formula), (w / 11) as usize);
    let vars = &plan.objective.vars;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    // Pass 1: the frame; pass 2 (below): the paths on top of the filled contours.
    let chart_on = |buf: &mut [u8], draw_frame: bool| -> Result<(std::ops::Range<i32>, std::ops::Range<i32>), String> {
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        let (top, body) = root.split_vertically(40);
        let (plot, legend) = body.split_horizontally(w - legend_w);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(xr.clone(), yr.clone())
            .map_err(err)?;
        let range = chart.plotting_area().get_pixel_range();
        if draw_frame {
            top.draw_text(&title, &(FONT, 20).into_font().color(&BLACK), (14, 10)).map_err(err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(&vars[0])
                .y_desc(&vars[1])
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(err)?;
        } else {
            for (k, t) in traces.iter().enumerate() {
                let colour = series_colour(k);
                let pts: Vec<Option<(f64, f64)>> =
                    (0..t.steps.len()).map(|i| t.point(i)).map(|p| inside(p).then(|| (p[0], p[1]))).collect();
                let inframe = |q: &(f64, f64)| xr.contains(&q.0) && yr.contains(&q.1);
                for piece in pts.split(|q| q.is_none_or(|q| !inframe(&q))) {
                    let piece: Vec<(f64, f64)> = piece.iter().flatten().copied().collect();
                    if piece.len() > 1 {
                        chart.draw_series(std::iter::once(PathElement::new(piece, colour.stroke_width(2)))).map_err(err)?;
                    }
                }
                let start = (t.point(0)[0], t.point(0)[1]);
                chart.draw_series(std::iter::once(Circle::new(start, 5, colour.filled()))).map_err(err)?;
                let last = t.point(t.steps.len() - 1);
                if inside(last) && inframe(&(last[0], last[1])) {
                    chart.draw_series(std::iter::once(Circle::new((last[0], last[1]), 5, colour.stroke_width(2)))).map_err(err)?;
                }
                let y = 30 + 22 * k as i32;
                legend.draw(&PathElement::new(vec![(10, y + 7), (34, y + 7)], colour.stroke_width(3))).map_err(err)?;
                legend.draw_text(&fit(&trace_label(plan, t), 40), &(FONT, 12).into_font().color(&BLACK), (40, y)).map_err(err)?;
            }
            let y = 30 + 22 * traces.len() as i32 + 10;
            let style = (FONT, 12).into_font().color(&BLACK);
            legend.draw_text("filled dot: start; ring: last point", &style, (10, y)).map_err(err)?;
            legend.draw_text("background: ln(1 + f − min f), contours", &style, (10, y + 18)).map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(range)
    };
    let (px, py) = chart_on(&mut buf, true)?;
    // Filled contours: ln(1 + f − min f) on the pixel grid, pale viridis, dark lines where the
    // level (one of 16 equal steps) changes between neighbouring pixels.
    let (nw, nh) = ((px.end - px.start) as usize, (py.end - py.start) as usize);
    let mut v = vec![f64::NAN; nw * nh];
    for r in 0..nh {
        let y = yr.end - (r as f64 + 0.5) / nh as f64 * (yr.end - yr.start);
        for c in 0..nw {
            let x = xr.start + (c as f64 + 0.5) / nw as f64 * (xr.end - xr.start);
            v[r * nw + c] = plan.objective.loss_f64(&[x, y]);
        }
    }
    let fmin = v.iter().copied().filter(|f| f.is_finite()).fold(f64::INFINITY, f64::min);
    for f in v.iter_mut() {
        *f = (1.0 + (*f - fmin).max(0.0)).ln();
    }
    let vmax = v.iter().copied().filter(|f| f.is_finite()).fold(0.0, f64::max).max(1e-12);
    let level = |f: f64| if f.is_finite() { ((f / vmax) * 16.0).floor().min(15.0) as i32 } else { 16 };
    for r in 0..nh {
        for c in 0..nw {
            let l = level(v[r * nw + c]);
            let edge = (c + 1 < nw && level(v[r * nw + c + 1]) != l) || (r + 1 < nh && level(v[(r + 1) * nw + c]) != l);
            let RGBColor(cr, cg, cb) = if edge { RGBColor(90, 90, 90) } else { lerp_rgb(viridis(v[r * nw + c] / vmax), WHITE, 0.6) };
            let o = ((py.start as usize + r) * w as usize + px.start as usize + c) * 3;
            buf[o..o + 3].copy_from_slice(&[cr, cg, cb]);
        }
    }
    chart_on(&mut buf, false)?;
    encode_png(&buf, w, h)
}

fn lerp_rgb(a: RGBColor, b: RGBColor, s: f64) -> RGBColor {
    lerp((a.0, a.1, a.2), (b.0, b.1, b.2), s)
}

/// The loss against the step, one line per traced run (objectives that are not 2-D).
fn loss_curves_png(plan: &Plan, traces: &[crate::analysis::trajectory::Trace]) -> Result<Vec<u8>, String> {
    let (w, h) = (1000u32, 600u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let (top, body) = root.split_vertically(40);
        top.draw_text(&fit(&format!("{}: loss along the paths of {}", plan.name, plan.objective.formula), 90), &(FONT, 20).into_font().color(&BLACK), (14, 10))
            .map_err(err)?;
        let vals: Vec<f64> = traces.iter().flat_map(|t| t.loss.iter().copied()).filter(|v| v.is_finite()).collect();
        let positive = !vals.is_empty() && vals.iter().all(|&v| v > 0.0);
        let fy = |v: f64| if positive { v.log10() } else { v };
        let lo = vals.iter().copied().map(fy).fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().map(fy).fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo + 1e-9)) } else { (0.0, 1.0) };
        let pad = (hi - lo) * 0.05;
        let last = traces.iter().flat_map(|t| t.steps.last().copied()).max().unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(&body)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..last, (lo - pad)..(hi + pad))
            .map_err(err)?;
        let span = hi - lo + 2.0 * pad;
        let fyl = |t: &f64| tick(*t, positive, span);
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .y_label_formatter(&fyl)
            .x_desc("step")
            .y_desc(desc("loss", positive))
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(err)?;
        for (k, t) in traces.iter().enumerate() {
            let colour = series_colour(k);
            let pts: Vec<(f64, f64)> =
                t.steps.iter().zip(&t.loss).filter(|(_, l)| l.is_finite() && (!positive || **l > 0.0)).map(|(&s, &l)| (s as f64, fy(l))).collect();
            chart
                .draw_series(std::iter::once(PathElement::new(pts, colour.stroke_width(2))))
                .map_err(err)?
                .label(fit(&trace_label(plan, t), 48))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    encode_png(&buf, w, h)
}
