//! Pictures: map.png (2-D maps, 1-D line plots), trajectories.png and sharpness.png, drawn with plotters onto
//! an RGB buffer and encoded with png.
//!
//! Axes are drawn in their own scale: log axes (`log` ranges such as lr) in log10 space, with
//! ticks labelled at whole decades (or at every tick when the range spans less than one). Map
//! cells are filled pixel by pixel: a pixel takes the cell whose centre is nearest in the axis'
//! scale, so log-spaced cells are even on a log axis. Text uses DejaVu Sans (a subset compiled
//! into the binary: see DejaVuSans-LICENSE.txt), so pictures do not depend on system fonts.

mod colour;
mod line;
mod map;
mod scale;
mod trajectories;

pub use colour::{series_colour, status_colour, viridis};
pub use line::line_png;
pub use map::{basin_colours, map_png};
pub use scale::Scale;
pub use trajectories::{sharpness_png, trajectories_png};

use plotters::prelude::*;
use plotters::style::FontStyle;

pub(crate) const FONT: &str = "sans-serif";

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

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// The series legend of a line chart, as every line chart draws it: upper right, boxed, on a
/// nearly opaque white.
fn draw_series_legend<'a, X, Y>(chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>) -> Result<(), String>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)
}
