//! Run outcomes and the results of a sweep.
//!
//! Every run ends with one [`Status`]. The rules (see [`crate::plan::Rules`]) are checked at
//! every evaluated point x_k, k = 0, 1, …, in this order:
//! 1. `diverged` — the loss or a coordinate is not finite, or |loss| > blowup·max(|loss₀|, 1);
//! 2. `converged` — ‖∇f(x_k)‖₂ ≤ max(grad_tol_abs, grad_tol_rel·‖∇f(x₀)‖₂);
//! 3. `max_steps` — k = steps.
//!
//! Otherwise the optimizer takes step k+1. `steps` in the results is k: the number of updates
//! made (for `diverged`, the escape step). Since the test is on the gradient, a tiny learning
//! rate never looks converged just because its steps are tiny.

use serde::Serialize;

/// Keep in sync with the STATUS_* constants in shaders/sweep.wgsl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum Status {
    Running = 0,
    Converged = 1,
    Diverged = 2,
    MaxSteps = 3,
}

impl Status {
    pub const FINAL: [Status; 3] = [Status::Converged, Status::Diverged, Status::MaxSteps];

    pub fn from_u32(v: u32) -> Status {
        match v {
            1 => Status::Converged,
            2 => Status::Diverged,
            3 => Status::MaxSteps,
            _ => Status::Running,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Converged => "converged",
            Status::Diverged => "diverged",
            Status::MaxSteps => "max_steps",
        }
    }
}

/// Results of a contiguous range of runs, as columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    pub dim: usize,
    /// Run ids (see `plan`): contiguous for a whole sweep, strided when sampling.
    pub run: Vec<u64>,
    pub status: Vec<Status>,
    pub steps: Vec<u32>,
    pub loss: Vec<f64>,
    pub grad_norm: Vec<f64>,
    /// Final points, `dim` values per run.
    pub x: Vec<f64>,
}

impl Results {
    /// Host memory one run's row takes (id, status, steps, loss, grad_norm, final point).
    pub fn bytes_per_run(dim: usize) -> usize {
        8 + std::mem::size_of::<Status>() + 4 + 8 + 8 + 8 * dim
    }

    pub fn with_capacity(dim: usize, n: usize) -> Self {
        Results {
            dim,
            run: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            steps: Vec::with_capacity(n),
            loss: Vec::with_capacity(n),
            grad_norm: Vec::with_capacity(n),
            x: Vec::with_capacity(n * dim),
        }
    }

    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    pub fn push(&mut self, run: u64, status: Status, steps: u32, loss: f64, grad_norm: f64, x: &[f64]) {
        self.run.push(run);
        self.status.push(status);
        self.steps.push(steps);
        self.loss.push(loss);
        self.grad_norm.push(grad_norm);
        self.x.extend_from_slice(x);
    }

    pub fn point(&self, i: usize) -> &[f64] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// Append the rows of `other`.
    pub fn append(&mut self, other: Results) {
        self.run.extend(other.run);
        self.status.extend(other.status);
        self.steps.extend(other.steps);
        self.loss.extend(other.loss);
        self.grad_norm.extend(other.grad_norm);
        self.x.extend(other.x);
    }

    pub fn counts(&self) -> [(Status, u64); 3] {
        let mut c = [0u64; 4];
        for s in &self.status {
            c[*s as usize] += 1;
        }
        Status::FINAL.map(|s| (s, c[s as usize]))
    }
}
