//! A few steps of each optimizer against values computed by hand from PyTorch's documented
//! update rules (torch.optim.SGD with momentum/dampening/nesterov/weight_decay, torch.optim.Adam),
//! on f(x, y) = x² + 3y² from (1, −2), on every backend, in f64 and f32.

mod common;
use common::{assert_close, plan, run_all};
use gdsweep::backend::Backend;
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

fn check(b: &dyn Backend, p: Precision, optimizer: &str, lr: f64, want: [f64; 2]) {
    check_steps(b, p, optimizer, lr, 3, want)
}

fn check_steps(b: &dyn Backend, p: Precision, optimizer: &str, lr: f64, steps: u32, want: [f64; 2]) {
    let tol = if p == Precision::F64 { 1e-12 } else { 1e-5 };
    let r = run_all(&plan(&n_steps(optimizer, lr, steps), p), b);
    assert_eq!(r.status[0], Status::MaxSteps);
    assert_eq!(r.steps[0], steps);
    assert_close(r.point(0), &want, tol, &format!("{optimizer} on {} in {} against the PyTorch rule", b.name(), p.name()));
}

fn gd_with_weight_decay(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"gd\"\nweight_decay = 0.01", 0.1, [0.510082399, -0.127042398]);
}
per_backend!(gd_with_weight_decay, [f32, f64]);

fn momentum_with_dampening_and_weight_decay(b: &dyn Backend, p: Precision) {
    check(b, p, 
        "kind = \"momentum\"\nbeta = 0.9\ndampening = 0.1\nweight_decay = 0.01",
        0.1,
        [0.09499854318999995, 1.6905520576199997],
    );
}
per_backend!(momentum_with_dampening_and_weight_decay, [f32, f64]);

fn nesterov(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"nesterov\"\nbeta = 0.9", 0.1, [-0.108352, 0.608128]);
}
per_backend!(nesterov, [f32, f64]);

fn adam_with_weight_decay(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"adam\"\nweight_decay = 0.05", 0.1, [0.7015862729080208, -1.7006233915339235]);
}
per_backend!(adam_with_weight_decay, [f32, f64]);

fn adamw_decoupled_weight_decay(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"adamw\"\nweight_decay = 0.05", 0.1, [0.6882699976166242, -1.6723478816914015]);
}
per_backend!(adamw_decoupled_weight_decay, [f32, f64]);

fn rmsprop_defaults(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"rmsprop\"", 0.01, [0.7799822732436351, -1.7753494426029548]);
}
per_backend!(rmsprop_defaults, [f32, f64]);

fn rmsprop_centered_with_momentum_and_weight_decay(b: &dyn Backend, p: Precision) {
    check(b, p, 
        "kind = \"rmsprop\"\nmomentum = 0.5\ncentered = 1\nweight_decay = 0.01",
        0.01,
        [0.6712214426618297, -1.6641709076728821],
    );
}
per_backend!(rmsprop_centered_with_momentum_and_weight_decay, [f32, f64]);

fn adagrad_defaults(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"adagrad\"", 0.1, [0.7804561813568098, -1.7758215150100747]);
}
per_backend!(adagrad_defaults, [f32, f64]);

fn adagrad_with_lr_decay_initial_accumulator_and_weight_decay(b: &dyn Backend, p: Precision) {
    check(b, p, 
        "kind = \"adagrad\"\nlr_decay = 0.1\ninitial_accumulator_value = 0.5\nweight_decay = 0.02",
        0.1,
        [0.8032880478193446, -1.791443047677392],
    );
}
per_backend!(adagrad_with_lr_decay_initial_accumulator_and_weight_decay, [f32, f64]);

fn gradient_clipping_by_norm(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"gd\"\nclip_norm = 1.0", 0.1, [0.9489750571360772, -1.7043745858695505]);
}
per_backend!(gradient_clipping_by_norm, [f32, f64]);

fn per_coordinate_learning_rates(b: &dyn Backend, p: Precision) {
    check(b, p, "kind = \"gd\"\nlr_scale = [1.0, 0.1]", 0.1, [0.512, -1.661168]);
    check(b, p, "kind = \"gd\"\nlr_scale = { y = 0.1 }", 0.1, [0.512, -1.661168]);
}
per_backend!(per_coordinate_learning_rates, [f32, f64]);

fn clipping_scales_and_weight_decay_together(b: &dyn Backend, p: Precision) {
    check(b, p, 
        "kind = \"gd\"\nclip_norm = 5.0\nlr_scale = [2.0, 0.05]\nweight_decay = 0.01",
        0.1,
        [0.5736909302971122, -1.925460971627314],
    );
    check(b, p, 
        "kind = \"adamw\"\nclip_norm = 3.0\nlr_scale = [1.0, 0.5]\nweight_decay = 0.05",
        0.1,
        [0.6877150233503105, -1.8354024988268405],
    );
}
per_backend!(clipping_scales_and_weight_decay_together, [f32, f64]);

/// Five GD steps under each learning-rate schedule (torch.optim.lr_scheduler's formulas).
fn learning_rate_schedules(b: &dyn Backend, p: Precision) {
    let gd = |schedule: &str| format!("kind = \"gd\"\nschedule = {schedule}");
    check_steps(b, p, &gd("{ kind = \"exponential\", gamma = 0.8 }"), 0.1, 5, [0.482891019190272, -0.13390336242483192]);
    check_steps(b, p, &gd("{ kind = \"step\", step_size = 2, gamma = 0.5 }"), 0.1, 5, [0.4924800000000001, -0.13327999999999995]);
    check_steps(b, p, &gd("{ kind = \"cosine\", t_max = 4, eta_min = 0.01 }"), 0.1, 5, [0.5498697679999999, -0.20780880799999993]);
    check_steps(b, p, &gd("{ kind = \"cyclic\", max_lr = 0.2, step_size_up = 2 }"), 0.01, 5, [0.359631384, 0.04838593600000005]);
}
per_backend!(learning_rate_schedules, [f32, f64]);

/// The convergence test is on the gradient: a tiny learning rate barely moves and must not
/// look converged because its steps are tiny.
fn tiny_learning_rates_do_not_look_converged(exec: &dyn Backend, p: Precision) {
    let src = "[objective]\nexpr = \"(x - 3)^2\"\n[sweep]\nlr = [1e-12, 1e-9, 0.1]\n[run]\nsteps = 200\n";
    let r = run_all(&plan(src, p), exec);
    let what = format!("{} {}: {:?} {:?}", exec.name(), p.name(), r.status, r.steps_left);
    assert_eq!(r.status[2], Status::Converged, "{what}");
    // Barely moving: slow with a huge number of steps left, or (where f32 cannot
    // resolve the step against x) stalled.
    for i in 0..2 {
        assert!((r.status[i] == Status::Slow && r.steps_left[i] > 1e6) || r.status[i] == Status::Stalled, "{what}");
    }
}
per_backend!(tiny_learning_rates_do_not_look_converged, [f32, f64]);
