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

use super::lanes::{cpu_from_compiled, Build, Cmp, CompiledStep, CpuStep, Val};
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
    compiled: Some(compiled),
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

/// CPU twin of [`wgsl`]: its description ([`compiled`]) on every lane.
#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    cpu_from_compiled::<F, MASKED>(compiled, &[], s)
}

/// The LDLᵀ factorisation of H + weight_decay·I + τI (the shader's loop body): the pivots
/// `nd` and the multipliers `nl[r][j]` (r > j), in [`wgsl`]'s order of operations.
fn factor(b: &mut dyn Build, a: &dyn Fn(usize, usize) -> Val, d: usize, tau: Val) -> (Vec<Val>, Vec<Vec<Val>>) {
    let mut nd: Vec<Val> = Vec::with_capacity(d);
    let mut nl: Vec<Vec<Val>> = vec![Vec::with_capacity(d); d];
    for j in 0..d {
        let mut dj = b.add(a(j, j), tau);
        for k in 0..j {
            let t = b.mul(nl[j][k], nl[j][k]);
            let t = b.mul(t, nd[k]);
            dj = b.sub(dj, t);
        }
        nd.push(dj);
        for r in j + 1..d {
            let mut l = a(r, j);
            for k in 0..j {
                let t = b.mul(nl[r][k], nl[j][k]);
                let t = b.mul(t, nd[k]);
                l = b.sub(l, t);
            }
            let l = b.div(l, nd[j]);
            nl[r].push(l);
        }
    }
    (nd, nl)
}

/// The update as the compiled kernel and the CPU twin run it, in [`wgsl`]'s order of
/// operations. The shader's loop over τ is a [`Build::repeat`] that carries τ and whether the
/// factorisation succeeded; the pivots and multipliers of the last round are those of the
/// factorisation at the τ it ends with, computed once more after it.
fn compiled(b: &mut dyn Build, st: CompiledStep<'_>) {
    let d = st.dim;
    let hess = st.hess;
    let (zero, one) = (b.constant(0.0), b.constant(1.0));
    let regularize = b.hyper(H_REGULARIZE);
    let regularize = b.cmp(Cmp::Ne, regularize, zero);
    let wd = b.hyper(H_WEIGHT_DECAY);
    // Row lo of the upper triangle starts after the rows above it: lo·d − lo(lo−1)/2.
    let hidx = |i: usize, j: usize| {
        let (lo, hi) = (i.min(j), i.max(j));
        lo * d - lo * lo.saturating_sub(1) / 2 + hi - lo
    };
    let diag: Vec<Val> = (0..d).map(|j| b.add(hess[hidx(j, j)], wd)).collect();
    let a = |r: usize, c: usize| if r == c { diag[r] } else { hess[hidx(r, c)] };
    let mut min_diag = diag[0];
    let mut max_abs = b.abs(diag[0]);
    for &dj in &diag[1..] {
        min_diag = b.min(min_diag, dj);
        let m = b.abs(dj);
        max_abs = b.max(max_abs, m);
    }
    let beta_rel = b.constant(BETA_REL);
    let scale = b.max(one, max_abs);
    let beta = b.mul(beta_rel, scale);
    let indefinite = b.cmp(Cmp::Le, min_diag, zero);
    let shift = b.and(regularize, indefinite);
    let lift = b.sub(beta, min_diag);
    let tau = b.select(shift, lift, zero);
    let two = b.constant(2.0);
    let pure = b.not(regularize);
    let mut carried = [tau, zero];
    b.repeat(TRIES, &mut carried, &mut |b, c| {
        let (nd, _) = factor(b, &a, d, c[0]);
        let zero = b.constant(0.0);
        let (mut positive, mut nonzero) = (Vec::with_capacity(d), Vec::with_capacity(d));
        for &v in &nd {
            let finite = b.finite(v);
            let gt = b.cmp(Cmp::Gt, v, zero);
            positive.push(b.and(gt, finite));
            let ne = b.cmp(Cmp::Ne, v, zero);
            nonzero.push(b.and(ne, finite));
        }
        let (pd, nonsingular) = (b.all(&positive), b.all(&nonzero));
        let (regularized, plain) = (b.and(regularize, pd), b.and(pure, nonsingular));
        let ok = b.or(regularized, plain);
        let done = b.or(pure, pd);
        let one = b.constant(1.0);
        c[1] = b.select(ok, one, zero);
        let doubled = b.mul(two, c[0]);
        let next = b.max(doubled, beta);
        c[0] = b.select(done, c[0], next);
        done
    });
    let [tau, ok] = carried;
    let (nd, nl) = factor(b, &a, d, tau);
    let failed = b.cmp(Cmp::Eq, ok, zero);
    // L z = gd, w = z / D, Lᵀ p = w.
    let mut nz: Vec<Val> = Vec::with_capacity(d);
    for r in 0..d {
        let mut z = st.gd[r];
        for k in 0..r {
            let t = b.mul(nl[r][k], nz[k]);
            z = b.sub(z, t);
        }
        nz.push(z);
    }
    let mut np: Vec<Val> = vec![zero; d];
    for r in (0..d).rev() {
        let mut p = b.div(nz[r], nd[r]);
        for k in r + 1..d {
            let t = b.mul(nl[k][r], np[k]);
            p = b.sub(p, t);
        }
        np[r] = p;
    }
    for j in 0..d {
        let step = b.mul(st.lrj[j], np[j]);
        let moved = b.sub(st.x[j], step);
        st.x[j] = b.select(failed, st.x[j], moved);
    }
    *st.stop = Some((StopReason::HessianSingular, failed));
}
