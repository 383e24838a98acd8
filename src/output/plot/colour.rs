//! Colours: outcome statuses (escape-time shading), basins, series, viridis.

use crate::outcome::Status;
use plotters::prelude::*;

pub(super) fn lerp(a: (u8, u8, u8), b: (u8, u8, u8), s: f64) -> RGBColor {
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
        Status::Escaping => RGBColor(150, 200, 60),
        Status::LineSearchFailed => RGBColor(120, 80, 40),
        Status::HessianSingular => RGBColor(60, 60, 60),
        Status::MaxSteps | Status::Running => RGBColor(235, 210, 60),
    }
}

/// Categorical colours for basins: Tableau 20, reordered so that the first ten are the strong
/// tones (blue and red, the status colours, last among them) and the next ten their light tints.
pub(super) const BASIN_COLOURS: [RGBColor; 20] = [
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


pub(super) const NOT_CONVERGED: RGBColor = RGBColor(215, 215, 215);
/// The basins beyond the 19 largest of a map (see map::basin_colours).
pub(super) const OTHER_BASINS: RGBColor = RGBColor(250, 240, 205);
pub(super) const DIVERGED_DARK: RGBColor = RGBColor(45, 45, 45);

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
    along(&STOPS, if t.is_nan() { 0.0 } else { t })
}

/// The colour at t ∈ [0, 1] of evenly spaced `stops`, linearly interpolated.
fn along(stops: &[(u8, u8, u8)], t: f64) -> RGBColor {
    let n = stops.len() - 1;
    let t = t.clamp(0.0, 1.0) * n as f64;
    let i = (t.floor() as usize).min(n - 1);
    lerp(stops[i], stops[i + 1], t - i as f64)
}

pub(super) fn lerp_rgb(a: RGBColor, b: RGBColor, s: f64) -> RGBColor {
    lerp((a.0, a.1, a.2), (b.0, b.1, b.2), s)
}

/// ColorBrewer's Spectral (11 classes, as matplotlib's `Spectral`), linearly interpolated:
/// dark red at 0, pale yellow at ½, violet blue at 1 — the trainability pictures' palette.
pub fn spectral(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 11] = [
        (0x9e, 0x01, 0x42),
        (0xd5, 0x3e, 0x4f),
        (0xf4, 0x6d, 0x43),
        (0xfd, 0xae, 0x61),
        (0xfe, 0xe0, 0x8b),
        (0xff, 0xff, 0xbf),
        (0xe6, 0xf5, 0x98),
        (0xab, 0xdd, 0xa4),
        (0x66, 0xc2, 0xa5),
        (0x32, 0x88, 0xbd),
        (0x5e, 0x4f, 0xa2),
    ];
    along(&STOPS, if t.is_nan() { 0.5 } else { t })
}
