// gdsweep's sweep kernel: one invocation per run (or one workgroup per run: see below), up to
// `steps_this_dispatch` optimizer steps per dispatch with the whole state in registers, early
// exit per run.
//
// Its CPU port is src/backend/cpu/sweep.rs (`Lanes::fill` = INIT, `eval`, `settle` = the exit test,
// `update_lanes` = UPDATE, whose statements and their CPU twins live side by side in
// src/method/: knobs.rs, schedule.rs and one file per optimizer): keep the two in step, same
// names, same order of operations.
//
// Placeholders, written {{NAME}} below and filled by src/kernel/mod.rs from the plan (one module per optimizer block):
//   REAL        f32 or f64
//   CONSTANTS   the status codes (outcome::Status), the state and info layout (plan::layout:
//               STRIDE, WIN, SEG, LOSS_START, BOUND, GTOL2, LAST_LOSS, LAST_GN2, STEP, STEP_RES, INFO_*,
//               SEGMENTS) and the outcome rules, all from their Rust definitions
//   IS_FINITE   body of is_finite(v) for this precision
//   MATH        real_exp, real_log, …, sigmoid, softplus (problem::elementary::wgsl)
//   HELPERS     module-scope functions of the block's line search (method/zoom.rs), or nothing;
//               in the workgroup layout its memory and reductions (kernel/workgroup.rs)
//   ENTRY       the entry point's head (kernel::entry): the run index `i`, in the workgroup order of
//               backend::gpu::sweep::Grid, and `lead`, the thread that stores the
//               run's scalars (always true with one invocation per run)
//   DECLARE     `var` for every coordinate x_i and optimizer slot
//   DECODE      lr, hyperparameters and initial point from the run's block-local index, and
//               `noisy` (the run takes mini-batches: never converged here)
//   INIT        x = initial point, optimizer slots = their initial values (step 0)
//   LOAD        x and slots from `state` (later dispatches)
//   EVAL        `let loss`, `let g_i` at x: the objective graph, one `let` per node
//   X_FINITE    every coordinate finite
//   GRAD_NORM2  sum of g_i * g_i
//   X_SAVE      `let xo_i = x_i` before the update; STEP the step's ‖x − xo‖∞; X_INF ‖x‖∞
//   UPDATE      one optimizer step (x and slots from g_i)
//   LS_JUDGE    with a line search: judge the trial point just evaluated (a rejected one is
//               replaced by the next and evaluated on the next pass of the loop: `continue`)
//   LS_START    with a line search: the update's point becomes the first trial
//   STORE       x and slots back to `state`
//   WINDOW_*    the window record's per-coordinate lines (see below)
//
// State of run i: state[i*STRIDE ..], info[INFO_STRIDE*i ..], laid out as src/plan/layout.rs
// says. The host zeroes info before a batch's first dispatch, which is how a run knows to start
// from its initial point.
//
// Two pipelines are made from this file. The main one (the WINDOW{ … }WINDOW blocks cut out)
// runs every run to `pause_at` = the window's first step, or to the end where there is no
// window. The window one (blocks kept) runs the last steps and records, at every point of the
// window, what outcome::classify needs: each segment's largest ‖g‖², whether the loss rose,
// how often the gradient turned against the previous one, and returns to the anchor (an
// earlier point): a return within anchor_tol after `period` steps is a candidate period,
// confirmed by each further return after exactly `period` steps. Runs that end before the
// window never pay for it.
//
// In the workgroup layout (plan::workgroup, kernel/workgroup.rs) x_i, g_i and the slots below
// are the thread's own coordinates, EVAL and the whole-vector quantities (GRAD_NORM2, X_INF,
// …) meet in workgroup memory, and every thread holds the same scalars: every branch is
// uniform over the workgroup, and only `lead` stores the scalars.
//
// The TRAINABILITY{ … }TRAINABILITY blocks are kept in both pipelines where the plan records
// trainability (plan::Rules::trainability), and cut out elsewhere.
//
// SETUP{ … }SETUP, STEP{ … }STEP and FINISH{ … }FINISH mark one run's own code: its setup,
// its step in the loop, its stores. On a CPU driver kernel::several_runs makes of them a
// kernel with several runs per invocation, each run's locals renamed; it finds the early
// `return`s (NO_RUN, NOT_LEAD) and the exit's `break` (EXIT) by their comments. Elsewhere the
// markers are dropped.

alias real = {{REAL}};

const NEVER: u32 = 0xffffffffu;

{{CONSTANTS}}

// Keep in sync with backend::gpu::sweep::Params (tests/shaders.rs checks the offsets).
struct Params {
    run_offset: u32,          // block-local index of this batch's first run
    run_stride: u32,          // index step between consecutive invocations (1 unless sampling)
    run_count: u32,           // runs in this batch
    steps_this_dispatch: u32, // most updates this dispatch makes per run
    max_steps: u32,           // `steps` of the config
    groups_x: u32,            // workgroups per row of a 2-D dispatch
    window_start: u32,        // first step of the classification window
    segment_len: u32,         // steps per window segment; 0: no window
    pause_at: u32,            // main pipeline: stop (still running) at this step
    group_columns: u32,       // the workgroup order (backend::gpu::sweep::Grid): columns
    group_rows: u32,          // and rows
    _pad: u32,
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

// WINDOW{
// The earliest step at which the window record can change without a return to the anchor: a
// segment's end, the candidate period due, or the anchor moving on after MAX_PERIOD steps.
fn next_window_event(anchor_step: u32, period: u32, next_flush: u32) -> u32 {
    let cycle_step = select(anchor_step + period, anchor_step + MAX_PERIOD, period == 0u);
    return min(next_flush, select(cycle_step, NEVER, cycle_step < anchor_step));
}
// }WINDOW

{{HELPERS}}

{{ENTRY}}    // SETUP{
    if (i >= params.run_count) {
        return; // NO_RUN
    }
    let ii = INFO_STRIDE * i;
    var status = info[ii + INFO_STATUS];
    var steps_done = info[ii + INFO_STEPS];
    var evals = info[ii + INFO_EVALS];
    if (status != STATUS_RUNNING) {
        return; // NO_RUN
    }
    let run_local = params.run_offset + i * params.run_stride;
    let base = i * STRIDE;
    // The uniforms the step loop reads, copied once: llvmpipe reloads a uniform at every use,
    // lane by lane (about 60 of W1's 188 instructions per step).
    let p_max_steps = params.max_steps;
    let p_window_start = params.window_start;
    let p_segment_len = params.segment_len;
    let p_steps_this_dispatch = params.steps_this_dispatch;
    let p_pause_at = params.pause_at;
{{DECODE}}
{{DECLARE}}
    var bound: real;
    var gtol2: real;
    var last_loss: real;
    var last_gn2: real;
    // The last step's size and step_tol·‖x‖∞ after it: the relative gradient rule needs the
    // first below the second (none before the first step).
    var last_step: real;
    var step_res: real;
    if (steps_done == 0u) {
{{INIT}}
        evals = 1u;
        last_step = real(1.0);
        step_res = real(-1.0);
    } else {
{{LOAD}}
        bound = state[base + BOUND];
        gtol2 = state[base + GTOL2];
        last_loss = state[base + LAST_LOSS];
        last_step = state[base + STEP];
        step_res = state[base + STEP_RES];
    }
    // WINDOW{
{{WINDOW_DECLARE}}
    var anchor_tol: real;
    var gcur: real;
    var loss_start: real;
    var anchor_step: u32;
    var period: u32;
    var returns: u32;
    var loss_rose: u32;
    var turns: u32;
    var seg: u32;
    var next_flush: u32;
    // The next step at which the record does more than its every-step part (0: the first).
    var next_event = 0u;
    if (steps_done > p_window_start) {
{{WINDOW_LOAD}}
        anchor_tol = state[base + WIN + DIM];
        loss_start = state[base + LOSS_START];
        anchor_step = info[ii + INFO_ANCHOR_STEP];
        period = info[ii + INFO_PERIOD];
        returns = info[ii + INFO_RETURNS];
        loss_rose = info[ii + INFO_LOSS_ROSE];
        turns = info[ii + INFO_TURNS];
        seg = min((steps_done - p_window_start + 1u) / p_segment_len, SEGMENTS - 1u);
        gcur = state[base + SEG + seg];
        next_flush = select(NEVER, p_window_start + (seg + 1u) * p_segment_len - 1u, seg < SEGMENTS - 1u);
        next_event = next_window_event(anchor_step, period, next_flush);
    }
    // }WINDOW
    // TRAINABILITY{
    // The trainability record (outcome::Trainability): L_0 and the sums of v = min(L/L_0, cap).
    var train_loss0: real;
    var train_sum: real;
    var train_inv: real;
    var train_tail: real;
    if (steps_done > 0u) {
        train_loss0 = state[base + TRAIN_AT];
        train_sum = state[base + TRAIN_AT + 1u];
        train_inv = state[base + TRAIN_AT + 2u];
        train_tail = state[base + TRAIN_AT + 3u];
    }
    // }TRAINABILITY
    // }SETUP
    var k = 0u;
    // Set where a line search ends without sufficient decrease (method/linesearch.rs).
    var ls_failed = false;
    loop {
        // STEP{
{{EVAL}}
        let gn2 = {{GRAD_NORM2}};
{{LS_JUDGE}}
        if (steps_done == 0u) {
            bound = BLOWUP * max(abs(loss), real(1.0));
            let gtol = GRAD_TOL_REL * sqrt(gn2);
            gtol2 = gtol * gtol;
        }
        // TRAINABILITY{
        // Each accepted point before `steps` once (a dispatch re-evaluates the previous one's
        // last point first); a non-finite ratio counts as the cap. CPU twin:
        // Lanes::record_trainability.
        if (steps_done == 0u) {
            train_loss0 = loss;
            train_sum = real(0.0);
            train_inv = real(0.0);
            train_tail = real(0.0);
        }
        if ((k > 0u || steps_done == 0u) && steps_done < p_max_steps) {
            let ratio = loss / train_loss0;
            let v = select(TRAIN_CAP, min(ratio, TRAIN_CAP), is_finite(ratio));
            train_sum = train_sum + v;
            train_inv = train_inv + real(1.0) / v;
            if (steps_done + TRAIN_TAIL >= p_max_steps) {
                train_tail = train_tail + v;
            }
        }
        // }TRAINABILITY
        // WINDOW{
        // Record each point once: a dispatch re-evaluates the previous one's last point first.
        // Every point counts its turn, a loss rise and its ‖g‖²; the rest happens only where
        // the point is back near the anchor or at `next_event` (CPU twin: Lanes::record_window_lanes
        // and Lanes::window_event).
        if (k > 0u || steps_done == p_window_start) {
            loss_rose = select(loss_rose, 1u, loss > last_loss);
            turns = turns + select(0u, 1u, {{TURN_DOT}} < real(0.0));
            gcur = max(gcur, gn2);
            let back = {{ANCHOR_DIST}} <= anchor_tol;
            if (back || steps_done >= next_event) {
                var move_anchor = true;
                if (steps_done == p_window_start) {
                    period = 0u;
                    returns = 0u;
                    loss_rose = 0u;
                    turns = 0u;
                    loss_start = loss;
                    gcur = gn2;
                    seg = 0u;
                    next_flush = select(NEVER, p_window_start + p_segment_len - 1u, SEGMENTS > 1u);
                } else {
                    let since = steps_done - anchor_step;
                    let searching = period == 0u;
                    let found = searching && back;
                    let due = !searching && since == period;
                    returns = select(select(returns, select(0u, returns + 1u, back), due), 1u, found);
                    period = select(select(period, select(0u, period, back), due), since, found);
                    move_anchor = found || due || (searching && since >= MAX_PERIOD);
                }
                if (move_anchor) {
{{ANCHOR_SET}}
                    anchor_tol = CYCLE_TOL * {{X_INF}};
                    anchor_step = steps_done;
                }
                if (steps_done == next_flush) {
                    if (lead) {
                        state[base + SEG + seg] = gcur;
                    }
                    gcur = real(0.0);
                    seg = seg + 1u;
                    next_flush = select(NEVER, next_flush + p_segment_len, seg < SEGMENTS - 1u);
                }
                next_event = next_window_event(anchor_step, period, next_flush);
            }
{{GPREV_SET}}
        }
        // }WINDOW
        last_loss = loss;
        last_gn2 = gn2;
        // One exit test per step (each `break` costs SIMD mask bookkeeping on CPU drivers);
        // the status keeps the rules' order: line_search_failed, diverged, converged, max_steps.
        // A dispatch ends at an accepted point only: trials do not count towards
        // steps_this_dispatch (each step makes at most 1 + linesearch_max_steps of them).
        let diverged = !(is_finite(loss) && {{X_FINITE}} && abs(loss) <= bound);
        // At a critical point to the run's precision: the gradient is small in absolute terms,
        // or small against the first one while the steps no longer move x (outcome.rs).
        let converged = !noisy && (gn2 <= GRAD_TOL_ABS2 || (gn2 <= gtol2 && last_step <= step_res));
        let at_max = steps_done >= p_max_steps;
        if (ls_failed || diverged || converged || at_max || k >= p_steps_this_dispatch || steps_done >= p_pause_at) {
            status = select(select(select(select(STATUS_RUNNING, STATUS_MAX_STEPS, at_max), STATUS_CONVERGED, converged), STATUS_DIVERGED, diverged), STATUS_LINE_SEARCH_FAILED, ls_failed);
            break; // EXIT
        }
        // The step is measured only from a point that passes the relative test (the only place
        // the measure is used), so runs pay for it near their end alone.
        let measure = gn2 <= gtol2;
{{X_SAVE}}
{{UPDATE}}
        if (measure) {
            last_step = {{STEP}};
            step_res = STEP_TOL * {{X_INF}};
        } else {
            last_step = real(1.0);
            step_res = real(-1.0);
        }
{{LS_START}}
        steps_done = steps_done + 1u;
        evals = evals + 1u;
        // }STEP
        k = k + 1u;
    }
    // FINISH{
{{STORE}}
    // WINDOW{
{{WINDOW_STORE}}
    // }WINDOW
    if (!lead) {
        return; // NOT_LEAD
    }
    // WINDOW{
    state[base + WIN + DIM] = anchor_tol;
    state[base + SEG + seg] = gcur;
    state[base + LOSS_START] = loss_start;
    info[ii + INFO_ANCHOR_STEP] = anchor_step;
    info[ii + INFO_PERIOD] = period;
    info[ii + INFO_RETURNS] = returns;
    info[ii + INFO_LOSS_ROSE] = loss_rose;
    info[ii + INFO_TURNS] = turns;
    // }WINDOW
    // TRAINABILITY{
    state[base + TRAIN_AT] = train_loss0;
    state[base + TRAIN_AT + 1u] = train_sum;
    state[base + TRAIN_AT + 2u] = train_inv;
    state[base + TRAIN_AT + 3u] = train_tail;
    // }TRAINABILITY
    state[base + BOUND] = bound;
    state[base + GTOL2] = gtol2;
    state[base + LAST_LOSS] = last_loss;
    state[base + LAST_GN2] = last_gn2;
    state[base + STEP] = last_step;
    state[base + STEP_RES] = step_res;
    info[ii + INFO_STATUS] = status;
    info[ii + INFO_STEPS] = steps_done;
    info[ii + INFO_EVALS] = evals;
    // }FINISH
}
