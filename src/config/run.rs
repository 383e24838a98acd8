//! `[run]`: steps, precision, backend, dispatch size and the outcome rules.

use super::raw::RawRun;
use super::{Ctx, Overrides, MAX_STEPS_PER_DISPATCH};
use crate::error::ConfigError;
use crate::plan::{BackendChoice, Precision, Rules};

/// `[run]`, validated (with the command line's overrides).
pub(super) struct RunTable {
    pub precision: Precision,
    pub backend: BackendChoice,
    pub steps: u32,
    pub steps_per_dispatch: u32,
    /// Where `steps_per_dispatch` was set (None: the default).
    pub steps_per_dispatch_set: Option<std::ops::Range<usize>>,
    pub rules: Rules,
    /// `epochs` (steps as passes over the data), where set.
    pub epochs: Option<(u32, std::ops::Range<usize>)>,
    /// `sampling`, where set.
    pub sampling: Option<(crate::plan::Sampling, std::ops::Range<usize>)>,
    /// `layout`: None for auto (plan::workgroup::auto), else the layout asked for and where.
    pub layout: Option<(crate::plan::Layout, std::ops::Range<usize>)>,
}

pub(super) fn run_table(cx: &Ctx, raw: Option<RawRun>, ov: Overrides) -> Result<RunTable, ConfigError> {
    let run = raw.unwrap_or(RawRun {
        steps: None,
        precision: None,
        backend: None,
        grad_tol_abs: None,
        grad_tol_rel: None,
        step_tol: None,
        blowup: None,
        steps_per_dispatch: None,
        window: None,
        max_period: None,
        cycle_tol: None,
        sampling: None,
        epochs: None,
        layout: None,
    });
    let precision = match (ov.precision, &run.precision) {
        (Some(p), _) => p,
        (None, None) => Precision::F32,
        (None, Some(p)) => match p.get_ref().as_str() {
            "f32" => Precision::F32,
            "f64" => Precision::F64,
            other => {
                return Err(cx.err(Some(p.span()), "run.precision", format!("'{other}' is not allowed: use f32 or f64")))
            }
        },
    };
    let backend = match (ov.backend, &run.backend) {
        (Some(b), _) => b,
        (None, None) => BackendChoice::Auto,
        (None, Some(b)) => BackendChoice::from_name(b.get_ref()).ok_or_else(|| {
            cx.err(Some(b.span()), "run.backend", format!("'{}' is not allowed: use auto, gpu, cpu or cpu-ref", b.get_ref()))
        })?,
    };
    let steps = match &run.steps {
        None => 1000,
        Some(s) => {
            let v = *s.get_ref();
            if v < 1 || v > u32::MAX as i64 - 1 {
                return Err(cx.err(Some(s.span()), "run.steps", format!("{v} is not allowed: use 1 ..= {}", u32::MAX - 1)));
            }
            v as u32
        }
    };
    let steps_per_dispatch = match &run.steps_per_dispatch {
        None => 1000.min(steps).max(1),
        Some(s) => {
            let v = *s.get_ref();
            if v < 1 || v > MAX_STEPS_PER_DISPATCH as i64 {
                return Err(cx.err(
                    Some(s.span()),
                    "run.steps_per_dispatch",
                    format!("{v} is not allowed: use 1 ..= {MAX_STEPS_PER_DISPATCH} (lavapipe ends shader loops after 65,535 iterations)"),
                ));
            }
            v as u32
        }
    };
    let mut rules = Rules::defaults(precision);
    if let Some(s) = &run.grad_tol_abs {
        rules.grad_tol_abs = cx.non_negative(s, "run.grad_tol_abs", None)?;
    }
    if let Some(s) = &run.grad_tol_rel {
        rules.grad_tol_rel = cx.non_negative(s, "run.grad_tol_rel", None)?;
    }
    if let Some(s) = &run.step_tol {
        rules.step_tol = cx.non_negative(s, "run.step_tol", None)?;
    }
    if let Some(s) = &run.blowup {
        rules.blowup = cx.non_negative(s, "run.blowup", Some(1.0))?;
    }
    if let Some(s) = &run.cycle_tol {
        rules.cycle_tol = cx.non_negative(s, "run.cycle_tol", None)?;
    }
    if let Some(s) = &run.window {
        rules.window = cx.int_in(s, "run.window", 0, 1 << 30, " (0: no classification; else at least 8, 8 segments of ≥ 1 step)")?;
        if (1..8).contains(&rules.window) {
            return Err(cx.err(Some(s.span()), "run.window", format!("{} is not allowed: use 0 (no classification) or 8 ..= {}", rules.window, 1 << 30)));
        }
    }
    for (s, field) in [
        (&run.grad_tol_abs, "run.grad_tol_abs"),
        (&run.grad_tol_rel, "run.grad_tol_rel"),
        (&run.step_tol, "run.step_tol"),
        (&run.blowup, "run.blowup"),
        (&run.cycle_tol, "run.cycle_tol"),
    ] {
        if let Some(s) = s {
            cx.representable(*s.get_ref(), Some(s.span()), field, precision)?;
        }
    }
    // The kernel compares ‖g‖² with grad_tol_abs².
    if let Some(s) = &run.grad_tol_abs {
        cx.representable(rules.grad_tol_abs * rules.grad_tol_abs, Some(s.span()), "run.grad_tol_abs", precision).map_err(|mut e| {
            e.message = format!("{:e} is not allowed: its square rounds to infinity in {}; use a value below 1e19", rules.grad_tol_abs, precision.name());
            e
        })?;
    }
    if let Some(s) = &run.max_period {
        rules.max_period = cx.int_in(s, "run.max_period", 1, 1 << 20, "")?;
    }
    let steps_per_dispatch_set = run.steps_per_dispatch.as_ref().map(|s| s.span());
    let steps_set = run.steps.as_ref().map(|s| s.span());
    let epochs = match &run.epochs {
        None => None,
        Some(e) => Some((cx.int_in(e, "run.epochs", 1, u32::MAX as i64 - 1, " (passes over the data)")?, e.span())),
    };
    if let (Some(s), Some(_)) = (&steps_set, &epochs) {
        return Err(cx.err(Some(s.clone()), "run.steps", "give steps or epochs, not both"));
    }
    let sampling = match &run.sampling {
        None => None,
        Some(s) => Some((
            crate::plan::Sampling::from_name(s.get_ref())
                .ok_or_else(|| cx.err(Some(s.span()), "run.sampling", format!("'{}' is not allowed: use shuffle or replacement", s.get_ref())))?,
            s.span(),
        )),
    };
    let layout = match &run.layout {
        None => None,
        Some(l) => match l.get_ref().as_str() {
            "auto" => None,
            "invocation" => Some((crate::plan::Layout::Invocation, l.span())),
            "workgroup" => Some((crate::plan::Layout::Workgroup, l.span())),
            other => return Err(cx.err(Some(l.span()), "run.layout", format!("'{other}' is not allowed: use auto, invocation or workgroup"))),
        },
    };
    Ok(RunTable { precision, backend, steps, steps_per_dispatch, steps_per_dispatch_set, rules, epochs, sampling, layout })
}
