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

/// A tick label in an axis' own units.
pub(super) fn tick(t: f64, log: bool, span: f64) -> String {
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
pub(super) fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

pub(super) fn desc(name: &str, log: bool) -> String {
    if log {
        format!("{name} (log scale)")
    } else {
        name.to_string()
    }
}
