//! `newton`: damped Newton with the symbolic Hessian, x ← x − lr·p with (H + τI)p = g (H and g
//! with the L2 weight decay: H + weight_decay·I), and by default the backtracking line search
//! (method::linesearch) over lr·p. Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006,
//! §3.4 (Newton's method with Hessian modification) and Algorithm 3.3 (Cholesky with added
//! multiple of the identity).
//!
//! The system is factored as LDLᵀ (no pivoting, unrolled: d ≤ [`MAX_DIM`]), which is Cholesky's
//! factorisation without its square roots: H is positive definite iff every pivot D_i > 0.
//!
//! - `regularize = 1` (default): τ = 0 if every diagonal entry is positive, else
//!   β − min_i H_ii; while some pivot of H + τI is not positive, τ ← max(2τ, β), with
//!   β = 10⁻³·max(1, max_i |H_ii|) (Algorithm 3.3's β = 10⁻³, scaled by the diagonal so that it
//!   means the same at any scale of f). At most 64 tries; where none gives a positive
//!   definite matrix (a non-finite Hessian) the run ends `hessian_singular`.
//! - `regularize = 0`: pure Newton, τ = 0 always: p solves Hp = g with any signs of the
//!   pivots, so the step goes to the nearest critical point of the quadratic model — a
//!   minimum, a saddle or a maximum (Himmelblau's saddles and maximum are fixed points of it).
//!   A zero or non-finite pivot ends the run `hessian_singular` at x. With `linesearch =
//!   "none"` too, lr·p is taken as it is.
//!
//! On a quadratic with positive definite H, lr = 1 reaches the minimum in one step.

//!
//! Lint note: index loops mirror the shader's unrolled statements.
#![allow(clippy::needless_range_loop)]

use super::lanes::{CpuStep, LANES};
use super::{Hyper, LineSearchKind, Method, StopReason, WeightDecay, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

/// Most variables Newton takes (its factorisation is unrolled into the kernel: d² terms).
pub const MAX_DIM: usize = 16;
/// Tries of τ before the regularised factorisation gives up.
const TRIES: u32 = 64;
const BETA_REL: f64 = 1e-3;

const REGULARIZE: Hyper = Hyper { default: 1.0, max_open: false, switch: true, ..Hyper::rate("regularize", 1.0) };
const H_REGULARIZE: usize = 0;
const H_WEIGHT_DECAY: usize = 1;

pub const METHOD: Method = Method {
    name: "newton",
    aliases: &[],
    hypers: &[REGULARIZE, WEIGHT_DECAY],
    slots: &[],
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: None,
    hessian: true,
    may_stop: true,
    default_linesearch: Some(LineSearchKind::Backtracking),
    direction: None,
    unit_step: true,
    linesearch_defaults: &[],
    coordinatewise: false,
    compiled: None,
};

/// a{i}_{j}: the Hessian entry (symmetric, i ≤ j stored) plus weight decay on the diagonal.
fn a(i: usize, j: usize) -> String {
    let (lo, hi) = (i.min(j), i.max(j));
    if i == j {
        format!("(h{i}_{i} + weight_decay)")
    } else {
        format!("h{lo}_{hi}")
    }
}

fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    let diag: Vec<String> = (0..dim).map(|i| a(i, i)).collect();
    let nest = |f: &str, terms: &[String]| terms.iter().cloned().reduce(|x, y| format!("{f}({x}, {y})")).unwrap_or_default();
    emit!(s, "{IND}let nt_min_diag: real = {};", nest("min", &diag));
    let abs_diag: Vec<String> = diag.iter().map(|t| format!("abs{t}")).collect();
    emit!(s, "{IND}let nt_beta: real = real({BETA_REL:?}) * max(real(1.0), {});", nest("max", &abs_diag));
    emit!(s, "{IND}var nt_tau: real = select(real(0.0), nt_beta - nt_min_diag, regularize != real(0.0) && nt_min_diag <= real(0.0));");
    for j in 0..dim {
        emit!(s, "{IND}var nd{j}: real;");
        for i in j + 1..dim {
            emit!(s, "{IND}var nl{i}_{j}: real;");
        }
    }
    emit!(s, "{IND}var nt_ok = false;");
    emit!(s, "{IND}for (var nt_try = 0u; nt_try < {TRIES}u; nt_try = nt_try + 1u) {{");
    for j in 0..dim {
        let mut dj = format!("{} + nt_tau", a(j, j));
        for k in 0..j {
            dj = format!("{dj} - nl{j}_{k} * nl{j}_{k} * nd{k}");
        }
        emit!(s, "{IND}    nd{j} = {dj};");
        for i in j + 1..dim {
            let mut lij = a(i, j);
            for k in 0..j {
                lij = format!("{lij} - nl{i}_{k} * nl{j}_{k} * nd{k}");
            }
            emit!(s, "{IND}    nl{i}_{j} = ({lij}) / nd{j};");
        }
    }
    let pd = (0..dim).map(|j| format!("nd{j} > real(0.0) && is_finite(nd{j})")).collect::<Vec<_>>().join(" && ");
    let nonzero = (0..dim).map(|j| format!("nd{j} != real(0.0) && is_finite(nd{j})")).collect::<Vec<_>>().join(" && ");
    emit!(s, "{IND}    if (regularize == real(0.0)) {{");
    emit!(s, "{IND}        nt_ok = {nonzero};");
    emit!(s, "{IND}        break;");
    emit!(s, "{IND}    }}");
    emit!(s, "{IND}    if ({pd}) {{");
    emit!(s, "{IND}        nt_ok = true;");
    emit!(s, "{IND}        break;");
    emit!(s, "{IND}    }}");
    emit!(s, "{IND}    nt_tau = max(real(2.0) * nt_tau, nt_beta);");
    emit!(s, "{IND}}}");
    emit!(s, "{IND}if (!nt_ok) {{");
    emit!(s, "{IND}    status = {};", StopReason::HessianSingular.wgsl_name());
    emit!(s, "{IND}    break;");
    emit!(s, "{IND}}}");
    // L z = gd, w = z / D, Lᵀ p = w.
    for i in 0..dim {
        let mut z = format!("gd{i}");
        for k in 0..i {
            z = format!("{z} - nl{i}_{k} * nz{k}");
        }
        emit!(s, "{IND}let nz{i}: real = {z};");
    }
    for i in (0..dim).rev() {
        let mut p = format!("nz{i} / nd{i}");
        for k in i + 1..dim {
            p = format!("{p} - nl{k}_{i} * np{k}");
        }
        emit!(s, "{IND}let np{i}: real = {p};");
    }
    for j in 0..dim {
        emit!(s, "{IND}x{j} = x{j} - lr{j} * np{j};");
    }
    s
}

/// CPU twin of [`wgsl`], lane by lane (the factorisation branches per run, as the shader's
/// invocations do).
#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    let d = s.dim;
    let zero = F::default();
    let (one, two, beta_rel) = (F::from_f64(1.0), F::from_f64(2.0), F::from_f64(BETA_REL));
    let hidx = |i: usize, j: usize| {
        let (lo, hi) = (i.min(j), i.max(j));
        // Row lo of the upper triangle starts after the rows above it: lo·d − lo(lo−1)/2.
        s.hess[lo * d - lo * lo.saturating_sub(1) / 2 + hi - lo]
    };
    for i in 0..LANES {
        if MASKED && s.hold[i] {
            continue;
        }
        let regularize = s.hyper[H_REGULARIZE][i] != zero;
        let wd = s.hyper[H_WEIGHT_DECAY][i];
        let a = |r: usize, c: usize| {
            let h = s.regs[hidx(r, c) as usize][i];
            if r == c {
                h + wd
            } else {
                h
            }
        };
        let mut min_diag = a(0, 0);
        let mut max_abs = a(0, 0).abs();
        for j in 1..d {
            min_diag = min_diag.min(a(j, j));
            max_abs = max_abs.max(a(j, j).abs());
        }
        let beta = beta_rel * one.max(max_abs);
        let mut tau = if regularize && min_diag <= zero { beta - min_diag } else { zero };
        let mut nd = [zero; MAX_DIM];
        let mut nl = [[zero; MAX_DIM]; MAX_DIM];
        let mut ok = false;
        for _ in 0..TRIES {
            for j in 0..d {
                let mut dj = a(j, j) + tau;
                for k in 0..j {
                    dj = dj - nl[j][k] * nl[j][k] * nd[k];
                }
                nd[j] = dj;
                for r in j + 1..d {
                    let mut l = a(r, j);
                    for k in 0..j {
                        l = l - nl[r][k] * nl[j][k] * nd[k];
                    }
                    nl[r][j] = l / nd[j];
                }
            }
            if !regularize {
                ok = nd[..d].iter().all(|&v| v != zero && v.is_finite());
                break;
            }
            if nd[..d].iter().all(|&v| v > zero && v.is_finite()) {
                ok = true;
                break;
            }
            tau = (two * tau).max(beta);
        }
        if !ok {
            s.stop[i] = StopReason::HessianSingular as u32;
            continue;
        }
        let mut nz = [zero; MAX_DIM];
        for r in 0..d {
            let mut z = s.gd[r][i];
            for k in 0..r {
                z = z - nl[r][k] * nz[k];
            }
            nz[r] = z;
        }
        let mut np = [zero; MAX_DIM];
        for r in (0..d).rev() {
            let mut p = nz[r] / nd[r];
            for k in r + 1..d {
                p = p - nl[k][r] * np[k];
            }
            np[r] = p;
        }
        for j in 0..d {
            let x = &mut s.regs[s.vars[j] as usize][i];
            *x = *x - s.lrj[j][i] * np[j];
        }
    }
}
