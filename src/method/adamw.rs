//! `adamw` (torch.optim.AdamW; Loshchilov & Hutter, "Decoupled Weight Decay Regularization",
//! ICLR 2019): x ← x·(1 − lr·weight_decay) first (decoupled: g carries no L2 term; see
//! [`super::knobs`]), then the [`super::adam`] step. PyTorch's default weight decay is 1e-2.

use super::adam::{BETA1, BETA2, SLOTS};
use super::lanes::CpuStep;
use super::{Hyper, Method, WeightDecay, EPS, WEIGHT_DECAY};
use crate::problem::real::Real;

const ADAMW_WEIGHT_DECAY: Hyper = Hyper { default: 1e-2, ..WEIGHT_DECAY };

pub const METHOD: Method = Method {
    name: "adamw",
    aliases: &[],
    hypers: &[BETA1, BETA2, EPS, ADAMW_WEIGHT_DECAY],
    slots: SLOTS,
    weight_decay: WeightDecay::Decoupled,
    wgsl: super::adam::wgsl,
    stability: None,
    compiled: Some(super::adam::compiled),
    ..super::FIRST_ORDER
};

#[inline(always)]
pub fn cpu_update<F: Real, const MASKED: bool>(s: CpuStep<'_, F>) {
    super::adam::cpu_update::<F, MASKED>(s)
}
