//! Basins of attraction (`[analysis.basins]`) on both backends.

mod common;
use gdsweep::backend::Backend;
use common::{plan, run_all};
use gdsweep::analysis::basins::{find, group_counts};
use gdsweep::problem::catalogue;
use gdsweep::plan::Precision;

/// Himmelblau has four minima: GD from a grid of starts finds all four, at their known places.
fn himmelblau_four_minima_at_known_locations(exec: &dyn Backend, p: Precision) {
    let src = "[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 0.005\n[sweep.init]\nx = { lin = [-5, 5], n = 48 }\ny = { lin = [-5, 5], n = 48 }\n[run]\nsteps = 5000\n[analysis.basins]\n";
    let known = catalogue::find("himmelblau").unwrap().minima;
    let plan = plan(src, p);
    let r = run_all(&plan, exec);
    let map = find(&plan.objective, &r, plan.basins.unwrap().tolerance);
    let minima: Vec<_> = map.basins.iter().filter(|b| b.kind == "minimum").collect();
    assert_eq!(minima.len(), 4, "{} {}: {:?}", exec.name(), p.name(), map.basins);
    for (point, _) in known {
        assert!(
            minima.iter().any(|b| b.centre.iter().zip(point.iter()).all(|(a, c)| (a - c).abs() < 1e-2)),
            "{} {}: no basin at {point:?}",
            exec.name(),
            p.name()
        );
    }
    for b in &minima {
        assert!(b.eigenvalues.iter().all(|&v| v > 0.0) && b.loss.abs() < 1e-4);
        assert!(b.gd_threshold.unwrap() > 0.005, "lr 0.005 is below every minimum's 2/λ_max");
    }
}
per_backend!(himmelblau_four_minima_at_known_locations, [f32, f64]);

/// x⁴ − 5x² + 3x at lr 0.05 from 401 starts in [−3, 3]: runs end at −1.7139 or 1.4018, starts near
/// the local maximum 0.3122 go to their own side, far starts jump across, and the counts equal
/// an independent f64 computation.
fn double_well_counts_match_an_independent_computation(exec: &dyn Backend, _p: Precision) {
    let src = "[objective]\nbuiltin = \"double_well\"\n[sweep]\nlr = 0.05\n[sweep.init]\nx = { lin = [-3, 3], n = 401 }\n[run]\nsteps = 2000\n[analysis.basins]\n";
    // Independent: plain f64 GD with the derivative written by hand.
    let (mut left, mut right) = (0u64, 0u64);
    let mut side_of = Vec::new();
    for i in 0..401 {
        let mut x = -3.0 + 6.0 * i as f64 / 400.0;
        for _ in 0..2000 {
            x -= 0.05 * (4.0 * x * x * x - 10.0 * x + 3.0);
        }
        let side = if (x + 1.7139).abs() < 1e-3 { left += 1; Some(0) } else if (x - 1.4018).abs() < 1e-3 { right += 1; Some(1) } else { None };
        side_of.push(side);
    }
    assert_eq!(left + right, 401, "every start converges at lr 0.05");
    let plan = plan(src, Precision::F64);
    let r = run_all(&plan, exec);
    let map = find(&plan.objective, &r, plan.basins.unwrap().tolerance);
    assert_eq!(map.basins.len(), 2, "{:?}", map.basins);
    let at = |c: f64| map.basins.iter().position(|b| (b.centre[0] - c).abs() < 1e-3).expect("basin found");
    let (l, rt) = (at(-1.7139), at(1.4018));
    assert_eq!((map.basins[l].count, map.basins[rt].count), (left, right), "{}", exec.name());
    let label = |x0: f64| map.label[((x0 + 3.0) / 6.0 * 400.0).round() as usize];
    assert_eq!(label(0.30), Some(l), "just left of the maximum 0.3122 stays left");
    assert_eq!(label(0.33), Some(rt), "just right stays right");
    assert_eq!(label(-3.0), Some(rt), "from −3, lr·f′ = −3.75 jumps across");
    for (i, s) in side_of.iter().enumerate() {
        assert_eq!(map.label[i], s.map(|k| if k == 0 { l } else { rt }), "start {i} on {}", exec.name());
    }
    let rows = group_counts(&plan, &r, &map);
    let h: f64 = rows[0].entropy;
    let (pl, pr) = (left as f64 / 401.0, right as f64 / 401.0);
    assert!((h - (-(pl * pl.ln() + pr * pr.ln()))).abs() < 1e-12);
}
per_backend!(double_well_counts_match_an_independent_computation, [f64]);

/// Pure Newton goes to Himmelblau's saddles and maximum too: with `critical_points = true`
/// those stalled runs are clustered, each basin labelled by its kind; without, only minima.
fn pure_newton_basins_take_in_saddles_and_the_maximum(exec: &dyn Backend, p: Precision) {
    let src = "[objective]\nbuiltin = \"himmelblau\"\n[sweep]\nlr = 1.0\n[sweep.init]\nx = { lin = [-5, 5], n = 40 }\ny = { lin = [-5, 5], n = 40 }\n[[optimizer]]\nkind = \"newton\"\nregularize = 0\nlinesearch = \"none\"\n[run]\nsteps = 200\n[analysis.basins]\ncritical_points = true\n";
    let plan = plan(src, p);
    let spec = plan.basins.unwrap();
    assert!(spec.critical_points);
    let r = run_all(&plan, exec);
    let all = gdsweep::analysis::basins::find_with(&plan.objective, &r, spec);
    let count = |k: &str| all.basins.iter().filter(|b| b.kind == k).count();
    assert_eq!((count("minimum"), count("saddle"), count("maximum")), (4, 4, 1), "{} {}: {:?}", exec.name(), p.name(), all.basins);
    let max = all.basins.iter().find(|b| b.kind == "maximum").unwrap();
    assert!((max.centre[0] + 0.270845).abs() < 1e-3 && (max.centre[1] + 0.923039).abs() < 1e-3, "{:?}", max.centre);
    // The saddles' runs are stalled, and labelled; minima only leaves them out.
    for (i, l) in all.label.iter().enumerate() {
        if let Some(b) = l {
            let want = if all.basins[*b].kind == "minimum" { gdsweep::outcome::Status::Converged } else { gdsweep::outcome::Status::Stalled };
            assert_eq!(r.status[i], want);
        }
    }
    let minima = find(&plan.objective, &r, spec.tolerance);
    assert!(minima.basins.iter().all(|b| b.kind == "minimum") && minima.basins.len() == 4);
}
per_backend!(pure_newton_basins_take_in_saddles_and_the_maximum, [f32, f64]);
