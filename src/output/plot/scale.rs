//! Axes in their drawing scale (log10 on log axes), tick labels, and text that fits.

use crate::analysis::map::{short, MapAxis};

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
    pub(super) fn cell(&self, t: f64) -> usize {
        let n = self.centres.len();
        let ascending = self.edges[n] >= self.edges[0];
        let i = self.edges[1..n].partition_point(|&e| if ascending { e <= t } else { e >= t });
        i.min(n - 1)
    }

    pub(super) fn range(&self) -> std::ops::Range<f64> {
        let (a, b) = (self.edges[0], self.edges[self.edges.len() - 1]);
        a.min(b)..a.max(b)
    }
}

/// A chart axis in drawing scale (log10 of the values on log axes) whose ticks sit at round
/// values in the axis' own units: whole decades where the range holds two or more (thinned to
/// fit), else 1-2-5 multiples, else round linear steps; on count axes (`integer`: steps) only
/// whole numbers. plotters would place log-space ticks at 10^0.1 = 1.259, 10^0.2 = 1.585….
#[derive(Clone, Debug)]
pub struct TickAxis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub integer: bool,
}

/// The round step (1, 2 or 5 × 10ᵏ) that cuts `span` into at most about `n` pieces.
fn nice_step(span: f64, n: usize) -> f64 {
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|&s| s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag)
}

/// Multiples of `step` in [lo, hi].
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let (a, b) = ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64);
    (a..=b).map(|k| k as f64 * step).collect()
}

impl TickAxis {
    pub fn new(range: std::ops::Range<f64>, log: bool, integer: bool) -> TickAxis {
        TickAxis { lo: range.start, hi: range.end, log, integer }
    }

    fn value(&self, t: f64) -> f64 {
        if self.log {
            10f64.powf(t)
        } else {
            t
        }
    }

    /// Tick positions in drawing scale, at most about `max`; with `light`, the minor ones too.
    pub fn ticks(&self, max: usize, light: bool) -> Vec<f64> {
        let whole = |v: &f64| !self.integer || (v - v.round()).abs() <= 1e-9 * v.abs().max(1.0);
        if !self.log {
            let step = nice_step(self.hi - self.lo, if light { max * 4 } else { max });
            let step = if self.integer { step.max(1.0).round() } else { step };
            return multiples(self.lo, self.hi, step).into_iter().filter(whole).collect();
        }
        let decades: Vec<f64> = multiples(self.lo, self.hi, 1.0);
        if decades.len() >= 2 {
            // Every decade, or every 2nd, 5th, 10th… (multiples of a round step).
            let thin = if decades.len() <= max { 1.0 } else { nice_step(self.hi - self.lo, max).max(1.0) };
            let bold: Vec<f64> = decades.into_iter().filter(|k| (k / thin).fract().abs() < 1e-9).collect();
            if !light || thin > 1.0 {
                return bold;
            }
            let (a, b) = (self.lo.floor() as i32, self.hi.ceil() as i32);
            return (a..=b)
                .flat_map(|k| (1..10).map(move |m| (m as f64 * 10f64.powi(k)).log10()))
                .filter(|t| *t >= self.lo - 1e-12 && *t <= self.hi + 1e-12)
                .collect();
        }
        let (vlo, vhi) = (self.value(self.lo), self.value(self.hi));
        let (a, b) = (self.lo.floor() as i32 - 1, self.hi.ceil() as i32);
        let ones_twos_fives: Vec<f64> = (a..=b)
            .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
            .filter(|v| *v >= vlo * (1.0 - 1e-12) && *v <= vhi * (1.0 + 1e-12))
            .filter(whole)
            .collect();
        if ones_twos_fives.len() >= 3 && !light {
            return ones_twos_fives.into_iter().map(f64::log10).collect();
        }
        let step = nice_step(vhi - vlo, if light { max * 4 } else { max });
        let step = if self.integer { step.max(1.0).round() } else { step };
        multiples(vlo, vhi, step).into_iter().filter(|v| *v > 0.0).filter(whole).map(f64::log10).collect()
    }

    /// The label of the tick at drawing-scale position `t`, in the axis' units.
    pub fn label(&self, t: f64) -> String {
        let v = self.value(t);
        // Decades as 1eK throughout where the axis reaches beyond 1e4 or below 1e-3 (no "1000"
        // next to "1e6"), else plainly.
        let exponents = self.hi > 4.5 || self.lo < -3.5;
        if self.log && (t - t.round()).abs() < 1e-9 && (exponents || !(0.0..=4.0).contains(&t.round())) {
            return format!("1e{}", t.round() as i32);
        }
        if self.integer && v.abs() < 1e5 {
            return format!("{}", v.round());
        }
        short(v)
    }
}

impl plotters::coord::ranged1d::Ranged for TickAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = if self.hi > self.lo { (value - self.lo) / (self.hi - self.lo) } else { 0.5 };
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let light = matches!(hint.weight(), plotters::coord::ranged1d::KeyPointWeight::Any);
        self.ticks(hint.max_num_points().clamp(2, 10), light)
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// `s` broken into lines of at most `n` characters, at spaces where it can be (a title is
/// never cut short).
pub(super) fn wrap(s: &str, n: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > n {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > n {
            let head: String = line.chars().take(n).collect();
            line = line.chars().skip(n).collect();
            lines.push(head);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

pub(super) fn desc(name: &str, log: bool) -> String {
    if log {
        format!("{name} (log scale)")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &TickAxis) -> Vec<String> {
        axis.ticks(6, false).into_iter().map(|t| axis.label(t)).collect()
    }

    #[test]
    fn ticks_sit_at_round_values() {
        // A log axis over less than a decade (a loss whose minimum is 1): no 1.259, 1.585.
        let narrow = TickAxis::new(0.0..1.6f64.log10(), true, false);
        let l = labels(&narrow);
        assert!(l.iter().all(|s| ["1", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6"].contains(&s.as_str())), "{l:?}");
        // Decades over a wide log axis, as 1eK throughout.
        assert_eq!(labels(&TickAxis::new(-6.0..-4.0, true, false)), ["1e-6", "1e-5", "1e-4"]);
        assert_eq!(labels(&TickAxis::new(0.0..8.2, true, true)), ["1e0", "1e2", "1e4", "1e6", "1e8"]);
        // Steps are whole numbers.
        let steps = TickAxis::new(0.0..7.0, false, true);
        assert!(labels(&steps).iter().all(|s| s.parse::<u32>().is_ok()), "{:?}", labels(&steps));
        assert_eq!(labels(&TickAxis::new(0.0..1.0, false, false)), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    }

    #[test]
    fn wrap_never_cuts() {
        let t = "forum: ||A x - b||^2, A = [[-249.69, -4.1511], [-4.1511, -0.20755]], b = [0.0, 10.0]";
        let lines = wrap(t, 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        assert_eq!(lines.join(" "), t);
    }
}
