//! `rmsprop` (torch.optim.RMSprop; Hinton, Coursera lecture 6e, 2012): s ← αs + (1−α)g²;
//! centered: a ← αa + (1−α)g, d = √(s − a²) + ε, else d = √s + ε; with momentum μ > 0:
//! b ← μb + g/d, x ← x − lr·b, else x ← x − lr·(g/d).

use super::lanes::{keep, Build, CompiledStep, CpuStep, LANES};
use super::{Hyper, Method, Slot, SlotInit, WeightDecay, EPS, IND, WEIGHT_DECAY};
use crate::problem::real::Real;

const ALPHA: Hyper = Hyper::rate("alpha", 0.99);
const MOMENTUM: Hyper = Hyper::rate("momentum", 0.0);
const CENTERED: Hyper = Hyper { max_open: false, switch: true, ..Hyper::rate("centered", 0.0) };
const H_ALPHA: usize = 0;
const H_EPS: usize = 1;
const H_MOMENTUM: usize = 2;
const H_CENTERED: usize = 3;
const SLOTS: &[Slot] = &[
    Slot::per_coordinate("sq", SlotInit::Value(0.0)),
    Slot::per_coordinate("ga", SlotInit::Value(0.0)),
    Slot::per_coordinate("buf", SlotInit::Value(0.0)),
];
const SQ: usize = 0;
const GA: usize = 1;
const BUF: usize = 2;

pub const METHOD: Method = Method {
    name: "rmsprop",
    aliases: &[],
    hypers: &[ALPHA, EPS, MOMENTUM, CENTERED, WEIGHT_DECAY],
    slots: SLOTS,
    weight_decay: WeightDecay::L2,
    wgsl,
    stability: None,
    compiled: Some(compiled),
    ..super::FIRST_ORDER
};

fn wgsl(dim: usize, _memory: usize) -> String {
    let mut s = String::new();
    for j in 0..dim {
        emit!(s, "{IND}sq{j} = alpha * sq{j} + (real(1.0) - alpha) * gd{j} * gd{j};");
        emit!(s, "{IND}ga{j} = alpha * ga{j} + (real(1.0) - alpha) * gd{j};");
        emit!(s, "{IND}let avg{j}: real = select(sqrt(sq{j}), sqrt(sq{j} - ga{j} * ga{j}), centered != real(0.0)) + eps;");
        emit!(s, "{IND}buf{j} = momentum * buf{j} + gd{j} / avg{j};");
        emit!(s, "{IND}x{j} = select(x{j} - lr{j} * (gd{j} / avg{j}), x{j} - lr{j} * buf{j}, momentum > real(0.0));");
    }
    s
}

#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    // A local copy: read through the struct, LLVM cannot tell it from the lanes being written.
    let hold = *s.hold;
    let one = F::from_f64(1.0);
    let zero = F::default();
    let (alpha, eps, momentum, centered) = (s.hyper[H_ALPHA], s.hyper[H_EPS], s.hyper[H_MOMENTUM], s.hyper[H_CENTERED]);
    let (ga0, buf0) = (s.slot(SLOTS, GA, 0), s.slot(SLOTS, BUF, 0));
    let sq0 = s.slot(SLOTS, SQ, 0);
    for j in 0..s.dim {
        // Local copies: indexing through the slices inside the lane loop defeats vectorization.
        let (lr_j, gd_j) = (&s.lrj[j], &s.gd[j]);
        let (sqs, rest) = s.slots.split_at_mut(ga0);
        let (gas, bufs) = rest.split_at_mut(buf0 - ga0);
        let (sq, ga, buf) = (&mut sqs[sq0 + j], &mut gas[j], &mut bufs[j]);
        let x = &mut s.regs[s.vars[j] as usize];
        for i in 0..LANES {
            let g = gd_j[i];
            let nsq = alpha[i] * sq[i] + (one - alpha[i]) * g * g;
            let nga = alpha[i] * ga[i] + (one - alpha[i]) * g;
            let avg = if centered[i] != zero { (nsq - nga * nga).sqrt() } else { nsq.sqrt() } + eps[i];
            let nbuf = momentum[i] * buf[i] + g / avg;
            let nx = if momentum[i] > zero { x[i] - lr_j[i] * nbuf } else { x[i] - lr_j[i] * (g / avg) };
            sq[i] = keep::<_, MASKED>(hold[i], sq[i], nsq);
            ga[i] = keep::<_, MASKED>(hold[i], ga[i], nga);
            buf[i] = keep::<_, MASKED>(hold[i], buf[i], nbuf);
            x[i] = keep::<_, MASKED>(hold[i], x[i], nx);
        }
    }
}

/// The compiled update (see `Method::compiled`), in the twin's order per coordinate: sq, ga,
/// the (centered) average, buf, and x by the plain or the momentum rule.
fn compiled(b: &mut dyn Build, s: CompiledStep<'_>) {
    let one = b.constant(1.0);
    let (alpha, eps, momentum, centered) = (b.hyper(H_ALPHA), b.hyper(H_EPS), b.hyper(H_MOMENTUM), b.hyper(H_CENTERED));
    let rest = b.sub(one, alpha);
    for j in 0..s.dim {
        let (sq, ga, buf) = (j, s.dim + j, 2 * s.dim + j);
        let g = s.gd[j];
        let (asq, rg) = (b.mul(alpha, s.slots[sq]), b.mul(rest, g));
        let rgg = b.mul(rg, g);
        s.slots[sq] = b.add(asq, rgg);
        let aga = b.mul(alpha, s.slots[ga]);
        s.slots[ga] = b.add(aga, rg);
        let ga2 = b.mul(s.slots[ga], s.slots[ga]);
        let var = b.sub(s.slots[sq], ga2);
        let (centered_root, root) = (b.sqrt(var), b.sqrt(s.slots[sq]));
        let root = b.select_nonzero(centered, centered_root, root);
        let avg = b.add(root, eps);
        let ratio = b.div(g, avg);
        let mbuf = b.mul(momentum, s.slots[buf]);
        s.slots[buf] = b.add(mbuf, ratio);
        let (with_momentum, plain) = (b.mul(s.lrj[j], s.slots[buf]), b.mul(s.lrj[j], ratio));
        let (with_momentum, plain) = (b.sub(s.x[j], with_momentum), b.sub(s.x[j], plain));
        s.x[j] = b.select_positive(momentum, with_momentum, plain);
    }
}
