//! A few steps of each optimizer against values computed by hand from PyTorch's documented
//! update rules (torch.optim.SGD with momentum/dampening/nesterov/weight_decay, torch.optim.Adam),
//! on f(x, y) = x² + 3y² from (1, −2), on every backend, in f64 and f32.

mod common;
use common::{backends, plan, run_all};
use gdsweep::outcome::Status;
use gdsweep::plan::Precision;

fn n_steps(optimizer: &str, lr: f64, steps: u32) -> String {
    format!(
        r#"
[objective]
expr = "x^2 + 3*y^2"
[sweep]
lr = {lr}
[sweep.init]
x = 1.0
y = -2.0
[[optimizer]]
{optimizer}
[run]
steps = {steps}
grad_tol_abs = 0
grad_tol_rel = 0
"#
    )
}

fn check(optimizer: &str, lr: f64, want: [f64; 2]) {
    check_steps(optimizer, lr, 3, want)
}

fn check_steps(optimizer: &str, lr: f64, steps: u32, want: [f64; 2]) {
    for p in [Precision::F64, Precision::F32] {
        let tol = if p == Precision::F64 { 1e-12 } else { 1e-5 };
        let plan = plan(&n_steps(optimizer, lr, steps), p);
        for exec in backends(p) {
            let r = run_all(&plan, &exec);
            assert_eq!(r.status[0], Status::MaxSteps);
            assert_eq!(r.steps[0], steps);
            for j in 0..2 {
                let got = r.point(0)[j];
                assert!(
                    (got - want[j]).abs() <= tol * want[j].abs().max(1.0),
                    "{optimizer} on {} in {}: x[{j}] = {got}, PyTorch rule gives {}",
                    exec.name(),
                    p.name(),
                    want[j]
                );
            }
        }
    }
}

#[test]
fn gd_with_weight_decay() {
    check("kind = \"gd\"\nweight_decay = 0.01", 0.1, [0.510082399, -0.127042398]);
}

#[test]
fn momentum_with_dampening_and_weight_decay() {
    check(
        "kind = \"momentum\"\nbeta = 0.9\ndampening = 0.1\nweight_decay = 0.01",
        0.1,
        [0.09499854318999995, 1.6905520576199997],
    );
}

#[test]
fn nesterov() {
    check("kind = \"nesterov\"\nbeta = 0.9", 0.1, [-0.108352, 0.608128]);
}

#[test]
fn adam_with_weight_decay() {
    check("kind = \"adam\"\nweight_decay = 0.05", 0.1, [0.7015862729080208, -1.7006233915339235]);
}

#[test]
fn adamw_decoupled_weight_decay() {
    check("kind = \"adamw\"\nweight_decay = 0.05", 0.1, [0.6882699976166242, -1.6723478816914015]);
}

#[test]
fn rmsprop_defaults() {
    check("kind = \"rmsprop\"", 0.01, [0.7799822732436351, -1.7753494426029548]);
}

#[test]
fn rmsprop_centered_with_momentum_and_weight_decay() {
    check(
        "kind = \"rmsprop\"\nmomentum = 0.5\ncentered = 1\nweight_decay = 0.01",
        0.01,
        [0.6712214426618297, -1.6641709076728821],
    );
}

#[test]
fn adagrad_defaults() {
    check("kind = \"adagrad\"", 0.1, [0.7804561813568098, -1.7758215150100747]);
}

#[test]
fn adagrad_with_lr_decay_initial_accumulator_and_weight_decay() {
    check(
        "kind = \"adagrad\"\nlr_decay = 0.1\ninitial_accumulator_value = 0.5\nweight_decay = 0.02",
        0.1,
        [0.8032880478193446, -1.791443047677392],
    );
}

#[test]
fn gradient_clipping_by_norm() {
    check("kind = \"gd\"\nclip_norm = 1.0", 0.1, [0.9489750571360772, -1.7043745858695505]);
}

#[test]
fn per_coordinate_learning_rates() {
    check("kind = \"gd\"\nlr_scale = [1.0, 0.1]", 0.1, [0.512, -1.661168]);
    check("kind = \"gd\"\nlr_scale = { y = 0.1 }", 0.1, [0.512, -1.661168]);
}

#[test]
fn clipping_scales_and_weight_decay_together() {
    check(
        "kind = \"gd\"\nclip_norm = 5.0\nlr_scale = [2.0, 0.05]\nweight_decay = 0.01",
        0.1,
        [0.5736909302971122, -1.925460971627314],
    );
    check(
        "kind = \"adamw\"\nclip_norm = 3.0\nlr_scale = [1.0, 0.5]\nweight_decay = 0.05",
        0.1,
        [0.6877150233503105, -1.8354024988268405],
    );
}

/// Five GD steps under each learning-rate schedule (torch.optim.lr_scheduler's formulas).
#[test]
fn learning_rate_schedules() {
    let gd = |schedule: &str| format!("kind = \"gd\"\nschedule = {schedule}");
    check_steps(&gd("{ kind = \"exponential\", gamma = 0.8 }"), 0.1, 5, [0.482891019190272, -0.13390336242483192]);
    check_steps(&gd("{ kind = \"step\", step_size = 2, gamma = 0.5 }"), 0.1, 5, [0.4924800000000001, -0.13327999999999995]);
    check_steps(&gd("{ kind = \"cosine\", t_max = 4, eta_min = 0.01 }"), 0.1, 5, [0.5498697679999999, -0.20780880799999993]);
    check_steps(&gd("{ kind = \"cyclic\", max_lr = 0.2, step_size_up = 2 }"), 0.01, 5, [0.359631384, 0.04838593600000005]);
}

/// The convergence test is on the gradient: a tiny learning rate barely moves and must not
/// look converged because its steps are tiny.
#[test]
fn tiny_learning_rates_do_not_look_converged() {
    let src = "[objective]\nexpr = \"(x - 3)^2\"\n[sweep]\nlr = [1e-12, 1e-9, 0.1]\n[run]\nsteps = 200\n";
    for p in [Precision::F32, Precision::F64] {
        let plan = plan(src, p);
        for exec in backends(p) {
            let r = run_all(&plan, &exec);
            let what = format!("{} {}: {:?} {:?}", exec.name(), p.name(), r.status, r.steps_left);
            assert_eq!(r.status[2], Status::Converged, "{what}");
            // Barely moving: slow with a huge number of steps left, or (where f32 cannot
            // resolve the step against x) stalled.
            for i in 0..2 {
                assert!(
                    (r.status[i] == Status::Slow && r.steps_left[i] > 1e6) || r.status[i] == Status::Stalled,
                    "{what}"
                );
            }
        }
    }
}
