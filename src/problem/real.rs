//! The scalar type of the CPU path: f32 or f64, with the operations the kernel uses, and the
//! built-in functions (`Real::func`, most of them from problem::elementary).

use serde::Serialize;
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The built-in functions of expressions (`sin(x)`, `softplus(x)`…): their names here, their
/// formulas in [`Real::func`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    Sin,
    Cos,
    Tan,
    Exp,
    Log,
    Sqrt,
    Abs,
    Tanh,
    Sigmoid,
    Softplus,
    Sign,
}

impl Func {
    pub const USER: [(&'static str, Func); 11] = [
        ("sin", Func::Sin),
        ("cos", Func::Cos),
        ("tan", Func::Tan),
        ("exp", Func::Exp),
        ("log", Func::Log),
        ("sqrt", Func::Sqrt),
        ("abs", Func::Abs),
        ("tanh", Func::Tanh),
        ("sigmoid", Func::Sigmoid),
        ("softplus", Func::Softplus),
        ("sign", Func::Sign),
    ];

    pub fn from_name(name: &str) -> Option<Func> {
        Self::USER.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        Self::USER.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// The function at f64 (the formulas are `Real::func`'s, shared with the CPU backend).
    pub fn eval_f64(self, x: f64) -> f64 {
        <f64 as Real>::func(self, x)
    }
}

/// The precision a sweep runs in (`[run] precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
    /// The unit roundoff u = 2⁻ᵖ (half an ulp of 1): 2⁻²⁴ for f32, 2⁻⁵³ for f64.
    pub fn unit_roundoff(self) -> f64 {
        match self {
            Precision::F32 => f32::EPSILON as f64 / 2.0,
            Precision::F64 => f64::EPSILON / 2.0,
        }
    }
    /// Round an f64 to this precision (the value the run really uses).
    pub fn round(self, v: f64) -> f64 {
        match self {
            Precision::F32 => v as f32 as f64,
            Precision::F64 => v,
        }
    }
}

/// A literal of the run precision, exact for that precision.
pub fn literal(v: f64, p: Precision) -> String {
    match p {
        Precision::F32 => format!("f32({:?})", v as f32),
        Precision::F64 => format!("f64({v:?})"),
    }
}

pub trait Real:
    Copy
    + bytemuck::Pod
    + Default
    + Send
    + Sync
    + PartialOrd
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    /// The largest finite value.
    const MAX: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn floor(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn is_finite(self) -> bool;
    /// The built-in functions: sqrt, |x| and sign here, the others by problem::elementary
    /// (at f64 the description the shader and the compiled CPU kernel are generated from).
    fn func(f: Func, v: Self) -> Self;
}

macro_rules! real_impl {
    ($t:ty, $elementary:path) => {
        impl Real for $t {
            const MAX: Self = <$t>::MAX;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn func(f: Func, v: Self) -> Self {
                if let Some(y) = $elementary(f, v) {
                    return y;
                }
                match f {
                    Func::Sqrt => v.sqrt(),
                    Func::Abs => v.abs(),
                    Func::Sign => {
                        if v > 0.0 {
                            1.0
                        } else if v < 0.0 {
                            -1.0
                        } else {
                            0.0
                        }
                    }
                    _ => unreachable!("problem::elementary has {f:?}"),
                }
            }
        }
    };
}

real_impl!(f32, super::elementary::value_f32);
real_impl!(f64, super::elementary::value_f64);
