// gdsweep's sweep kernel: one invocation per run, up to `steps_this_dispatch` optimizer steps per
// dispatch with the whole state in registers, early exit per run.
//
// Its CPU port is src/cpu/sweep.rs (`Lanes::fill` = INIT, `eval`, `settle` = the exit test, `update`): keep the two in step,
// same names, same order of operations.
//
// Placeholders, written {{NAME}} below and filled by src/codegen.rs from the plan (one module per optimizer block):
//   REAL        f32 or f64
//   CONSTANTS   STRIDE (reals of state per run) and the outcome rules
//   IS_FINITE   body of is_finite(v) for this precision
//   MATH        real_exp, real_log, … (shaders/math_f32.wgsl or math_f64.wgsl)
//   DECLARE     `var` for every coordinate x_i and optimizer slot
//   DECODE      lr, hyperparameters and initial point from the run's block-local index
//   INIT        x = initial point, optimizer slots = their initial values (step 0)
//   LOAD        x and slots from `state` (later dispatches)
//   EVAL        `let loss`, `let g_i` at x: the objective graph, one `let` per node
//   X_FINITE    every coordinate finite
//   GRAD_NORM2  sum of g_i * g_i
//   UPDATE      one optimizer step (x and slots from g_i)
//   STORE       x and slots back to `state`
//
// State of run i: state[i*STRIDE ..]: x (DIM), slots, bound, gtol2, last loss, last grad norm².
// info[2i] = status, info[2i+1] = steps taken. The host zeroes info before a batch's first
// dispatch, which is how a run knows to start from its initial point.

alias real = {{REAL}};

const STATUS_RUNNING: u32 = 0u;
const STATUS_CONVERGED: u32 = 1u;
const STATUS_DIVERGED: u32 = 2u;
const STATUS_MAX_STEPS: u32 = 3u;

{{CONSTANTS}}

// Keep in sync with gpu::sweep::Params.
struct Params {
    run_offset: u32,          // block-local index of this batch's first run
    run_stride: u32,          // index step between consecutive invocations (1 unless sampling)
    run_count: u32,           // runs in this batch
    steps_this_dispatch: u32, // most updates this dispatch makes per run
    max_steps: u32,           // `steps` of the config
    row_pitch: u32,           // invocations per row of a 2-D dispatch
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> axis_values: array<real>;
@group(0) @binding(2) var<storage, read_write> state: array<real>;
@group(0) @binding(3) var<storage, read_write> info: array<u32>;

// Non-finite test on the exponent bits: comparisons alone can miss infinities on some drivers.
fn is_finite(v: real) -> bool {
    {{IS_FINITE}}
}

{{MATH}}

fn sigmoid(v: real) -> real {
    return real(1.0) / (real(1.0) + real_exp(-v));
}

fn softplus(v: real) -> real {
    return max(v, real(0.0)) + real_log(real(1.0) + real_exp(-abs(v)));
}

@compute @workgroup_size({{WORKGROUP_SIZE}})
fn sweep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_pitch;
    if (i >= params.run_count) {
        return;
    }
    var status = info[2u * i];
    var steps_done = info[2u * i + 1u];
    if (status != STATUS_RUNNING) {
        return;
    }
    let run_local = params.run_offset + i * params.run_stride;
    let base = i * STRIDE;
{{DECODE}}
{{DECLARE}}
    var bound: real;
    var gtol2: real;
    var last_loss: real;
    var last_gn2: real;
    if (steps_done == 0u) {
{{INIT}}
    } else {
{{LOAD}}
        bound = state[base + STRIDE - 4u];
        gtol2 = state[base + STRIDE - 3u];
    }
    var k = 0u;
    loop {
{{EVAL}}
        let gn2 = {{GRAD_NORM2}};
        if (steps_done == 0u) {
            bound = BLOWUP * max(abs(loss), real(1.0));
            let gtol = max(GRAD_TOL_ABS, GRAD_TOL_REL * sqrt(gn2));
            gtol2 = gtol * gtol;
        }
        last_loss = loss;
        last_gn2 = gn2;
        // One exit test per step (each `break` costs SIMD mask bookkeeping on CPU drivers);
        // the status keeps the rules' order: diverged, converged, max_steps.
        let diverged = !(is_finite(loss) && {{X_FINITE}} && abs(loss) <= bound);
        let converged = gn2 <= gtol2;
        let at_max = steps_done >= params.max_steps;
        if (diverged || converged || at_max || k >= params.steps_this_dispatch) {
            status = select(select(select(STATUS_RUNNING, STATUS_MAX_STEPS, at_max), STATUS_CONVERGED, converged), STATUS_DIVERGED, diverged);
            break;
        }
{{UPDATE}}
        steps_done = steps_done + 1u;
        k = k + 1u;
    }
{{STORE}}
    state[base + STRIDE - 4u] = bound;
    state[base + STRIDE - 3u] = gtol2;
    state[base + STRIDE - 2u] = last_loss;
    state[base + STRIDE - 1u] = last_gn2;
    info[2u * i] = status;
    info[2u * i + 1u] = steps_done;
}
