//! trajectories.png: paths over filled contours (2-D objectives), loss curves otherwise.

use super::colour::*;
use super::scale::*;
use super::{draw_series_legend, encode_png, err, register_font, FONT};
use crate::analysis::map::short;
use crate::plan::Plan;
use plotters::prelude::*;

/// A legend label for a traced run: its id, optimizer, lr and start.
pub(super) fn trace_label(plan: &Plan, t: &crate::analysis::trajectory::Trace) -> String {
    let (bi, local) = plan.locate(t.run).expect("traced runs come from the plan");
    let b = &plan.blocks[bi];
    let start: Vec<String> = t.point(0).iter().map(|&v| short(v)).collect();
    // A searched run says so: "gd lr=0.1" alone would claim a fixed step.
    let search = b.linesearch.map_or(String::new(), |k| format!(" + {}", k.name()));
    format!("run {}: {}{search} lr={} from ({})", t.run, b.optimizer.name(), short(b.axis_value(local, 0)), start.join(", "))
}

/// trajectories.png: for 2-D objectives the paths over a contour plot of the objective (the
/// frame holds every start and last point, with a margin; paths that leave it are cut) above
/// the loss against the evaluations (log-log: the fair count, line-search trials included);
/// otherwise the loss against the step, one line per run.
pub fn trajectories_png(plan: &Plan, traces: &[crate::analysis::trajectory::Trace]) -> Result<Vec<u8>, String> {
    register_font();
    if plan.objective.dim() != 2 {
        return loss_curves_png(plan, traces);
    }
    let (w, h) = (1040u32, 760u32);
    // Below the paths: the loss against the evaluations.
    let (curves_h, total_h) = (420u32, 760u32 + 420);
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
    let title = wrap(&format!("{}: paths over {}", plan.name, plan.objective.formula), (w / 11) as usize);
    let title_h = 14 + 26 * title.len() as u32;
    let vars = &plan.objective.vars;
    let mut buf = vec![255u8; (w * total_h * 3) as usize];
    let curves: Vec<Curve> = traces
        .iter()
        .map(|t| Curve { label: trace_label(plan, t), at: t.evals.iter().map(|&e| e as f64).collect(), values: &t.loss, level: None })
        .collect();
    // Pass 1: the frame and the loss curves; pass 2 (below): the paths on top of the filled contours.
    let chart_on = |buf: &mut [u8], draw_frame: bool| -> Result<(std::ops::Range<i32>, std::ops::Range<i32>), String> {
        let whole = BitMapBackend::with_buffer(buf, (w, total_h)).into_drawing_area();
        let (root, lower) = whole.split_vertically(h);
        if draw_frame {
            let (caption, plot) = lower.split_vertically(30);
            caption.draw_text("loss against evaluations of the loss and gradient (line-search trials included)", &(FONT, 15).into_font().color(&BLACK), (14, 8)).map_err(err)?;
            let (plot, _) = plot.split_vertically(curves_h - 30);
            draw_curves(&plot, "evaluations", true, "loss", true, &curves)?;
        }
        let (top, body) = root.split_vertically(title_h);
        let (plot, legend) = body.split_horizontally(w - legend_w);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(xr.clone(), yr.clone())
            .map_err(err)?;
        let range = chart.plotting_area().get_pixel_range();
        if draw_frame {
            for (k, line) in title.iter().enumerate() {
                top.draw_text(line, &(FONT, 20).into_font().color(&BLACK), (14, 10 + 26 * k as i32)).map_err(err)?;
            }
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
                // Two lines per run (id, optimizer, lr; then the start), never cut.
                let y = 30 + 36 * k as i32;
                legend.draw(&PathElement::new(vec![(10, y + 7), (34, y + 7)], colour.stroke_width(3))).map_err(err)?;
                for (line, text) in wrap(&trace_label(plan, t), 40).iter().enumerate() {
                    legend.draw_text(text, &(FONT, 12).into_font().color(&BLACK), (40, y + 15 * line as i32)).map_err(err)?;
                }
            }
            let y = 30 + 36 * traces.len() as i32 + 10;
            let style = (FONT, 12).into_font().color(&BLACK);
            legend.draw_text("filled dot: start; ring: last point", &style, (10, y)).map_err(err)?;
            let first = traces.first().map(|t| plan.objective_of_run(t.run) as *const _);
            let mixed = traces.iter().any(|t| Some(plan.objective_of_run(t.run) as *const _) != first);
            let whose = if mixed { " of the first path's objective" } else { "" };
            legend.draw_text(&format!("background: ln(1 + f − min f){whose}, contours"), &style, (10, y + 18)).map_err(err)?;
        }
        whole.present().map_err(err)?;
        Ok(range)
    };
    let (px, py) = chart_on(&mut buf, true)?;
    // Filled contours: ln(1 + f − min f) on the pixel grid, pale viridis, dark lines where the
    // level (one of 16 equal steps) changes between neighbouring pixels.
    let (nw, nh) = ((px.end - px.start) as usize, (py.end - py.start) as usize);
    let mut v = vec![f64::NAN; nw * nh];
    // The first path's objective (with a data axis, each `standardize` value has its own; the
    // legend then says whose the background is).
    let background = traces.first().map_or(&plan.objective, |t| plan.objective_of_run(t.run));
    for r in 0..nh {
        let y = yr.end - (r as f64 + 0.5) / nh as f64 * (yr.end - yr.start);
        for c in 0..nw {
            let x = xr.start + (c as f64 + 0.5) / nw as f64 * (xr.end - xr.start);
            v[r * nw + c] = background.loss_f64(&[x, y]);
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
    encode_png(&buf, w, total_h)
}

/// One line of a picture against the step or the evaluations: its label, its x values (steps
/// or evaluations) and values, and a level drawn dashed in the same colour (a run's edge of
/// stability).
pub(super) struct Curve<'a> {
    pub label: String,
    pub at: Vec<f64>,
    pub values: &'a [f64],
    pub level: Option<f64>,
}

impl<'a> Curve<'a> {
    /// A traced run's `values` against its steps.
    fn by_step(plan: &Plan, t: &crate::analysis::trajectory::Trace, values: &'a [f64]) -> Curve<'a> {
        Curve { label: trace_label(plan, t), at: t.steps.iter().map(|&s| s as f64).collect(), values, level: None }
    }
}

/// The loss against the step, one line per traced run (objectives that are not 2-D).
pub(super) fn loss_curves_png(plan: &Plan, traces: &[crate::analysis::trajectory::Trace]) -> Result<Vec<u8>, String> {
    let curves: Vec<Curve> = traces.iter().map(|t| Curve::by_step(plan, t, &t.loss)).collect();
    curves_png(&format!("{}: loss along the paths of {}", plan.name, plan.objective.formula), &[], |area| draw_curves(area, "step", false, "loss", true, &curves))
}

/// A 1000 × 600 picture: the title and `notes` above what `draw` puts in the rest.
fn curves_png(title: &str, notes: &[&str], draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>) -> Result<Vec<u8>, String> {
    register_font();
    let (w, h) = (1000u32, 600u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let title = wrap(title, 90);
        let (top, body) = root.split_vertically(14 + 26 * title.len() as u32 + 20 * notes.len() as u32);
        for (k, line) in title.iter().enumerate() {
            top.draw_text(line, &(FONT, 20).into_font().color(&BLACK), (14, 10 + 26 * k as i32)).map_err(err)?;
        }
        for (k, note) in notes.iter().enumerate() {
            top.draw_text(note, &(FONT, 14).into_font().color(&BLACK), (14, 10 + 26 * title.len() as i32 + 20 * k as i32)).map_err(err)?;
        }
        draw(&body)?;
        root.present().map_err(err)?;
    }
    encode_png(&buf, w, h)
}

/// Values against x, one line per curve, on `area`: log scales where asked and some value is
/// positive, each curve's level dashed in its colour, a legend of the labels.
fn draw_curves(area: &DrawingArea<BitMapBackend, plotters::coord::Shift>, x_name: &str, log_x: bool, y_name: &str, log_y: bool, curves: &[Curve]) -> Result<(), String> {
    // A scale: log10 where asked and some value is positive (the others are left out: a loss
    // of exactly 0 has no place on it); its range, padded.
    let scale = |vals: Vec<f64>, log: bool, pad: f64| {
        let vals: Vec<f64> = vals.into_iter().filter(|v| v.is_finite()).collect();
        let log = log && vals.iter().any(|&v| v > 0.0);
        let vals: Vec<f64> = vals.into_iter().filter(|&v| !log || v > 0.0).collect();
        let f = move |v: f64| if log { v.log10() } else { v };
        let lo = vals.iter().copied().map(f).fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().map(f).fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo + 1e-9)) } else { (0.0, 1.0) };
        let p = (hi - lo) * pad;
        (log, f, (lo - p)..(hi + p))
    };
    let (lx, fx, xr) = scale(curves.iter().flat_map(|c| c.at.iter().copied()).collect(), log_x, 0.0);
    let xr = if lx { xr } else { 0f64.min(xr.start)..xr.end };
    let (ly, fy, yr) = scale(curves.iter().flat_map(|c| c.values.iter().copied()).chain(curves.iter().filter_map(|c| c.level)).collect(), log_y, 0.05);
    let integer_x = !lx && curves.iter().all(|c| c.at.iter().all(|v| v.fract() == 0.0));
    let (ax, ay) = (TickAxis::new(xr.clone(), lx, integer_x), TickAxis::new(yr.clone(), ly, false));
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(TickAxis::new(xr.clone(), lx, integer_x), TickAxis::new(yr, ly, false))
        .map_err(err)?;
    let (fxl, fyl) = (|t: &f64| ax.label(*t), |t: &f64| ay.label(*t));
    chart
        .configure_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .x_label_formatter(&fxl)
        .y_label_formatter(&fyl)
        .x_desc(desc(x_name, lx))
        .y_desc(desc(y_name, ly))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let fine = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    for (k, c) in curves.iter().enumerate() {
        let colour = series_colour(k);
        if let Some(level) = c.level.filter(|&v| fine(v, ly)) {
            let ends = [(xr.start, fy(level)), (xr.end, fy(level))];
            chart.draw_series(std::iter::once(plotters::element::DashedPathElement::new(ends, 8, 6, colour.stroke_width(1)))).map_err(err)?;
        }
        let pts: Vec<(f64, f64)> = c.at.iter().zip(c.values).filter(|(a, v)| fine(**a, lx) && fine(**v, ly)).map(|(&a, &v)| (fx(a), fy(v))).collect();
        chart
            .draw_series(std::iter::once(PathElement::new(pts, colour.stroke_width(2))))
            .map_err(err)?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    draw_series_legend(&mut chart)
}

/// sharpness.png: the sharpness λ_max along each traced run, with its edge of stability
/// (2/lr for GD) dashed in the run's colour.
pub fn sharpness_png(plan: &Plan, traces: &[crate::analysis::sharpness::SharpnessTrace]) -> Result<Vec<u8>, String> {
    let curves: Vec<Curve> = traces
        .iter()
        .map(|t| Curve { level: t.edge.is_finite().then_some(t.edge), ..Curve::by_step(plan, &t.trace, &t.sharpness) })
        .collect();
    let title = format!("{}: sharpness λ_max of the Hessian along the paths of {}", plan.name, plan.objective.formula);
    curves_png(&title, &["dashed: the run's edge of stability (2/lr for GD)"], |area| draw_curves(area, "step", false, "sharpness λ_max", false, &curves))
}
