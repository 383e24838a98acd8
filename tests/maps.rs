//! `[analysis.map]`: runs laid out on the map's axes, map.csv / map_grid.csv, and pictures whose
//! pixels show the data, on every backend.
mod common;

use gdsweep::backend::Backend;
use common::{decode_png as decode, plan, run_all};
use gdsweep::analysis::basins;
use gdsweep::analysis::map::{build, MapCells};
use gdsweep::plan::analyses::Colour;
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;
use gdsweep::output::plot::{line_png, map_png, status_colour};

const HIMMELBLAU: &str = r#"
[objective]
builtin = "himmelblau"
[sweep]
lr = 0.01
[sweep.init]
x = { lin = [-5.0, 5.0], n = 48 }
y = { lin = [-5.0, 5.0], n = 40 }
[[optimizer]]
kind = "gd"
[[optimizer]]
kind = "adam"
lr = 0.1
[run]
steps = 3000
[analysis.map]
x = "init_x"
y = "init_y"
color = "basin"
"#;

fn basin_map_cells_are_the_right_runs_and_the_picture_shows_them(exec: &dyn Backend, _p: Precision) {
    let p = plan(HIMMELBLAU, Precision::F32);
    let spec = p.map.clone().unwrap();
    assert_eq!(spec.color, Colour::Basin);
    assert!(p.basins.is_some(), "basin colours turn basins on");
    let r = run_all(&p, exec);
    let bm = basins::find(&p.objective, &r, p.basins.unwrap().tolerance);
    let m = build(&p, &spec);
    let cells = MapCells::of_results(&p, &m, &r, &gdsweep::analysis::Derived { basins: Some(bm.label.clone()), sharpness: None });
    assert_eq!((m.panels.len(), m.x.values.len(), m.y.as_ref().unwrap().values.len()), (2, 48, 40));
    assert_eq!((m.panels[0].label.as_str(), m.panels[1].label.as_str()), ("gd", "adam"));
    // Every cell holds the run started at its (x, y), in its panel's block.
    for (k, panel) in m.panels.iter().enumerate() {
        assert_eq!(panel.block, k);
        let shown = cells.panel(k).unwrap();
        for (c, cell) in shown.iter().enumerate() {
            let id = m.run_of(&p, k, c);
            assert_eq!(m.place(&p, id), Some((k, c)), "run {id} is placed in the cell that shows it");
            let (bi, local) = p.locate(id).unwrap();
            let b = &p.blocks[bi];
            assert_eq!(bi, k);
            let (x0, y0) = (b.axis_value(local, b.axes.len() - 2), b.axis_value(local, b.axes.len() - 1));
            assert_eq!((x0, y0), (m.x.values[c % 48], m.y.as_ref().unwrap().values[c / 48]));
            let i = id as usize;
            assert_eq!((cell.status, cell.steps, cell.basin), (r.status[i], r.steps[i], bm.label[i]));
        }
    }
    // The picture: each basin's share of the coloured pixels is its share of the cells.
    let png_bytes = map_png(&p, &m, &cells, Some(&bm.basins)).unwrap();
    let (px, w, h) = decode(&png_bytes);
    assert!(w >= 800 && h >= 300, "{w}x{h}");
    let palette: Vec<[u8; 3]> = gdsweep::output::plot::basin_colours(&cells.stats, bm.basins.len()).iter().map(|c| [c.0, c.1, c.2]).collect();
    assert_eq!(bm.basins.iter().filter(|b| b.kind == "minimum").count(), 4, "{}", exec.name());
    let n_cells = m.cells() as f64;
    let pixels_of = |c: [u8; 3]| px.iter().filter(|&&q| q == c).count();
    let coloured: usize = palette.iter().map(|&c| pixels_of(c)).sum();
    assert!(coloured > 100_000, "{coloured} basin-coloured pixels");
    for (id, &c) in palette.iter().enumerate() {
        let share_cells = bm.label.iter().filter(|&&l| l == Some(id)).count() as f64 / n_cells;
        let share_px = pixels_of(c) as f64 / coloured as f64;
        assert!((share_cells - share_px).abs() < 0.03, "{}: basin {id}: {share_cells:.3} of cells, {share_px:.3} of pixels", exec.name());
    }
}
per_backend!(basin_map_cells_are_the_right_runs_and_the_picture_shows_them, [f32]);

#[test]
fn status_map_over_lr_and_start_and_line_plots() {
    let p = plan(
        r#"
[objective]
builtin = "double_well"
[sweep]
lr = { log = [1e-3, 0.3], n = 60 }
[sweep.init]
x = { lin = [-3.0, 3.0], n = 50 }
[run]
steps = 1000
[analysis.map]
x = "lr"
y = "init_x"
"#,
        Precision::F32,
    );
    let spec = p.map.clone().unwrap();
    assert_eq!(spec.color, Colour::Status);
    let r = run_all(&p, &gdsweep::backend::cpu::Cpu);
    let m = build(&p, &spec);
    assert!(m.x.log && !m.y.as_ref().unwrap().log);
    let (px, _, _) = decode(&map_png(&p, &m, &MapCells::of_results(&p, &m, &r, &Default::default()), None).unwrap());
    // Fast and slow convergence and early escapes are all there, in their shades.
    let has = |s: Status, steps: u32| px.contains(&{
        let c = status_colour(s, steps, 1000);
        [c.0, c.1, c.2]
    });
    for i in 0..r.len() {
        if matches!(r.status[i], Status::Converged | Status::Diverged) {
            assert!(has(r.status[i], r.steps[i]), "{:?} after {} steps is not in the picture", r.status[i], r.steps[i]);
        }
    }
    // 1-D: lr alone, one series per start.
    let p1 = plan(
        "[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = { log = [1e-3, 0.3], n = 80 }\n[sweep.init]\nx = [-2.0, 0.5, 2.5]\n[run]\nsteps = 1000\n[analysis.map]\nx = \"lr\"\ncolor = \"steps\"\n",
        Precision::F64,
    );
    let r1 = run_all(&p1, &gdsweep::backend::cpu::Cpu);
    let m1 = build(&p1, p1.map.as_ref().unwrap());
    assert_eq!(m1.panels.iter().map(|q| q.label.as_str()).collect::<Vec<_>>(), ["init_x=-2", "init_x=0.5", "init_x=2.5"]);
    let (px, w, h) = decode(&line_png(&p1, &m1, &MapCells::of_results(&p1, &m1, &r1, &Default::default()), None).unwrap());
    assert!(w == 1000 && h >= 760, "{w}x{h}");
    for k in 0..3 {
        let c = gdsweep::output::plot::series_colour(k);
        assert!(px.iter().filter(|&&q| q == [c.0, c.1, c.2]).count() > 200, "series {k} is drawn");
    }
}

#[test]
fn continuous_colours_follow_the_values() {
    // lr × beta for momentum on a quadratic, coloured by steps: fewer steps → darker viridis.
    let p = plan(
        r#"
[objective]
quadratic = { h = [[1.0, 0.0], [0.0, 10.0]] }
[sweep]
lr = { log = [1e-3, 0.19], n = 30 }
[sweep.init]
x = 1.0
y = 1.0
[[optimizer]]
kind = "momentum"
beta = { lin = [0.0, 0.9], n = 10 }
[run]
steps = 3000
[analysis.map]
x = "lr"
y = "beta"
color = "steps"
"#,
        Precision::F64,
    );
    let r = run_all(&p, &gdsweep::backend::cpu::Cpu);
    let m = build(&p, p.map.as_ref().unwrap());
    assert_eq!(m.panels.len(), 1);
    let cells = MapCells::of_results(&p, &m, &r, &Default::default());
    let (px, _, _) = decode(&map_png(&p, &m, &cells, None).unwrap());
    let fastest = cells.panel(0).unwrap().iter().map(|c| c.steps).min().unwrap();
    let slowest = cells.panel(0).unwrap().iter().map(|c| c.steps).max().unwrap();
    assert!(fastest < 100 && slowest > 1000, "{fastest} .. {slowest}");
    let (lo, hi) = (gdsweep::output::plot::viridis(0.0), gdsweep::output::plot::viridis(1.0));
    assert!(px.contains(&[lo.0, lo.1, lo.2]) && px.contains(&[hi.0, hi.1, hi.2]));
}

#[test]
fn panels_of_two_tables_of_one_kind_say_what_differs() {
    let p = plan(
        "[objective]\nexpr = \"x^2 + 1e6*y^2\"\n[sweep]\nlr = { log = [1e-8, 1e-1], n = 8 }\n[[optimizer]]\nkind = \"gd\"\n[[optimizer]]\nkind = \"adam\"\n[[optimizer]]\nkind = \"gd\"\nlr_scale = [1e6, 1.0]\n[analysis.map]\nx = \"lr\"\n",
        Precision::F32,
    );
    let m = build(&p, p.map.as_ref().unwrap());
    let labels: Vec<&str> = m.panels.iter().map(|q| q.label.as_str()).collect();
    assert_eq!(labels, ["gd", "adam", "gd lr_scale_x=1e6 lr_scale_y=1"]);
}

/// With `[analysis.threshold]`, a 1-D map over lr draws each series' threshold as a vertical
/// line through both panels, in the series' colour.
#[test]
fn one_d_maps_draw_the_thresholds() {
    let p = plan(
        "[objective]\nbuiltin = \"forum_lstsq\"\n[sweep]\nlr = { log = [1e-6, 1e-4], n = 200 }\n[run]\nsteps = 2000\n[analysis.threshold]\n[analysis.map]\nx = \"lr\"\n",
        Precision::F64,
    );
    let cpu = gdsweep::backend::cpu::Cpu;
    let r = run_all(&p, &cpu);
    let search = gdsweep::analysis::threshold::search(&p, &cpu, &r, p.threshold.as_ref().unwrap()).unwrap();
    assert!(search.thresholds[0].lr_theory.is_some());
    let m = build(&p, p.map.as_ref().unwrap());
    let cells = MapCells::of_results(&p, &m, &r, &Default::default());
    let c = gdsweep::output::plot::series_colour(0);
    let tallest_column = |png: Vec<u8>| {
        let (px, w, _) = decode(&png);
        (0..w as usize).map(|x| px.iter().skip(x).step_by(w as usize).filter(|&&q| q == [c.0, c.1, c.2]).count()).max().unwrap()
    };
    let with = tallest_column(line_png(&p, &m, &cells, Some(&search)).unwrap());
    let without = tallest_column(line_png(&p, &m, &cells, None).unwrap());
    assert!(with > 500 && without < 300, "threshold line: {with} pixels tall, {without} without");
}
