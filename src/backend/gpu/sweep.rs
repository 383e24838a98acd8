//! Runs one optimizer block of a plan through shaders/sweep.wgsl, in three parts:
//!
//! - [`Buffers`]: the axis table, state, info, their readback copies, the params and bind
//!   groups, kept on the [`Gpu`] and reused by every block and threshold round whose sizes fit
//!   (grown when one does not);
//! - `phases`: the main pipeline's dispatches up to the classification window and the window
//!   pipeline's for the rest (`ceil(steps / steps_per_dispatch)` each);
//! - `read_back`: one readback per batch, turned into results.
//!
//! Batches of runs go through every phase in one submission.

use super::Gpu;
use crate::kernel::{read_only_table, runs_per_workgroup, sweep_wgsl, sweep_wgsl_runs};
use crate::backend::Progress;
use crate::error::{Error, Result};
use crate::outcome::{finish, Results, RunEnd, Status, TrainSums, Trainability, WindowRecord};
use crate::plan::layout::Info;
use crate::plan::{Plan, Precision, Selection, StateLayout, INFO_STRIDE};

/// Keep in sync with `struct Params` in shaders/sweep.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    pub run_offset: u32,
    pub run_stride: u32,
    pub run_count: u32,
    pub steps_this_dispatch: u32,
    pub max_steps: u32,
    pub groups_x: u32,
    pub window_start: u32,
    pub segment_len: u32,
    pub pause_at: u32,
    pub group_columns: u32,
    pub group_rows: u32,
    pub _pad: u32,
}

/// Most runs per batch, and the device memory one batch's state may take: bounds memory
/// and keeps each submission short, while filling the largest GPUs many times over.
pub const MAX_BATCH: u64 = 1 << 23;
pub const BATCH_STATE_BYTES: u64 = 256 << 20;

/// Columns of the workgroup order (see [`Grid`]): enough that each of llvmpipe's threads, which
/// take contiguous ranges of workgroups, gets some of every part of the run range.
pub const GROUP_COLUMNS: u32 = 64;

/// The workgroups of one batch and the order in which they take runs.
///
/// llvmpipe (lavapipe) hands each of its threads a contiguous range of workgroup ids. Run
/// lengths follow the sweep's axes (a sorted lr axis puts every long run at one end), so with
/// workgroup w taking runs `w·per_group ..` one thread got 81 % of W1's work. Here the
/// `rows × columns` workgroups are read row by row and handed out column by column: workgroup
/// `w = r·columns + c` takes the runs of group `c·rows + r`. A contiguous range of w then
/// holds a slice of every column, i.e. of every part of the run range. Runs within a group
/// stay contiguous (coalesced state access on GPUs), and the order changes nothing in the
/// results: each run's arithmetic is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Workgroup counts (x, y) of the dispatch, 2-D beyond the per-dimension limit.
    pub x: u32,
    pub y: u32,
    pub columns: u32,
    pub rows: u32,
}

impl Grid {
    /// The grid covering `n` runs of `per_group` each; the dispatch may hold up to
    /// `columns − 1` more groups than the runs need (past the last run: they return at once) and,
    /// when 2-D, the rest of its last row (past `rows × columns`: likewise).
    pub fn new(n: u64, per_group: u32, max_per_dim: u32) -> Grid {
        let groups = n.div_ceil(per_group as u64).max(1);
        let columns = groups.min(GROUP_COLUMNS as u64);
        let rows = groups.div_ceil(columns);
        let total = rows * columns;
        let (x, y) = if total <= max_per_dim as u64 { (total, 1) } else { (max_per_dim as u64, total.div_ceil(max_per_dim as u64)) };
        Grid { x: x as u32, y: y as u32, columns: columns as u32, rows: rows as u32 }
    }
}

/// State read back from the device, as f64.
fn reals(bytes: &[u8], p: Precision) -> Vec<f64> {
    match p {
        Precision::F32 => bytemuck::cast_slice::<u8, f32>(bytes).iter().map(|&v| v as f64).collect(),
        Precision::F64 => bytemuck::cast_slice::<u8, f64>(bytes).to_vec(),
    }
}

pub fn run_block(gpu: &Gpu, plan: &Plan, bi: usize, sel: Selection, progress: Progress) -> Result<Results> {
    run_block_inner(gpu, plan, bi, sel, progress, None)
}

/// Each selected run's points (step, evaluations so far, x) read back after every dispatch (the plan's
/// `steps_per_dispatch` sets how often), and the results. For trajectories of a few runs: every
/// dispatch is its own submission.
pub type Paths = Vec<Vec<(u32, u32, Vec<f64>)>>;

pub fn trace_block(gpu: &Gpu, plan: &Plan, bi: usize, sel: Selection) -> Result<(Results, Paths)> {
    let mut paths: Paths = vec![Vec::new(); sel.count as usize];
    let r = run_block_inner(gpu, plan, bi, sel, &|_| {}, Some(&mut paths))?;
    Ok((r, paths))
}

/// The device buffers of a sweep and their two bind groups (one per phase's params), made with
/// the Gpu's one bind group layout so that either pipeline can use either.
pub struct Buffers {
    axis: wgpu::Buffer,
    state: wgpu::Buffer,
    info: wgpu::Buffer,
    state_read: wgpu::Buffer,
    info_read: wgpu::Buffer,
    params: [wgpu::Buffer; 2],
    bind_groups: [wgpu::BindGroup; 2],
}

impl Buffers {
    fn new(gpu: &Gpu, axis_size: u64, state_size: u64, info_size: u64) -> Buffers {
        let dev = &gpu.device;
        use wgpu::BufferUsages as U;
        let mk = |label, size, usage| dev.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false });
        let rw = U::STORAGE | U::COPY_SRC | U::COPY_DST;
        let (axis, state, info) = (mk("axis_values", axis_size, U::STORAGE | U::COPY_DST), mk("state", state_size, rw), mk("info", info_size, rw));
        let read = U::MAP_READ | U::COPY_DST;
        let (state_read, info_read) = (mk("state_read", state_size, read), mk("info_read", info_size, read));
        let params_size = std::mem::size_of::<Params>() as u64;
        let params = [0, 1].map(|_| mk("params", params_size, U::UNIFORM | U::COPY_DST));
        let bind_groups = [0, 1].map(|k| {
            dev.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("sweep"),
                layout: &gpu.bind_group_layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: params[k].as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: axis.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: state.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 3, resource: info.as_entire_binding() },
                ],
            })
        });
        Buffers { axis, state, info, state_read, info_read, params, bind_groups }
    }

    fn fits(&self, axis_size: u64, state_size: u64, info_size: u64) -> bool {
        self.axis.size() >= axis_size && self.state.size() >= state_size && self.info.size() >= info_size
    }
}

/// The Gpu's buffers, grown where these sizes do not fit (each to at least what it was).
fn buffers<'g>(gpu: &'g Gpu, axis_size: u64, state_size: u64, info_size: u64) -> std::sync::MutexGuard<'g, Option<Buffers>> {
    let mut held = gpu.buffers.lock().unwrap_or_else(|e| e.into_inner());
    if !held.as_ref().is_some_and(|b| b.fits(axis_size, state_size, info_size)) {
        let old = held.take();
        let grow = |want: u64, have: Option<u64>| want.max(have.unwrap_or(0));
        let b = Buffers::new(
            gpu,
            grow(axis_size, old.as_ref().map(|b| b.axis.size())),
            grow(state_size, old.as_ref().map(|b| b.state.size())),
            grow(info_size, old.as_ref().map(|b| b.info.size())),
        );
        *held = Some(b);
    }
    held
}

/// One pipeline's share of a batch: its steps, dispatches, and where it pauses.
struct Phase {
    pipeline: wgpu::ComputePipeline,
    /// Which params buffer and bind group it uses (0 main, 1 window).
    slot: usize,
    dispatches: u32,
    pause_at: u32,
    first_step: u32,
    steps: u32,
}

/// The main pipeline for steps [0, window_start) (all steps without a window), then the window
/// pipeline for the rest, recording the classification window; and the runs each invocation
/// takes.
fn phases(gpu: &Gpu, plan: &Plan, bi: usize) -> Result<(Vec<Phase>, u32)> {
    let (window_start, segment_len) = plan.rules.window_of(plan.steps);
    let windowed = segment_len > 0;
    let main = window_start > 0 || !windowed;
    let kinds: Vec<bool> = [(main, false), (windowed, true)].into_iter().filter(|k| k.0).map(|k| k.1).collect();
    // Several runs an invocation where every pipeline of the block can have them, else one.
    let one: Vec<String> = kinds.iter().map(|&w| sweep_wgsl(plan, bi, w)).collect();
    let asked = runs_per_invocation(gpu)?;
    let several = (asked > 1 && one.iter().all(|src| src.len() <= SEVERAL_RUNS_MOST_BYTES)).then(|| kinds.iter().map(|&w| sweep_wgsl_runs(plan, bi, w, asked)).collect::<Option<Vec<String>>>()).flatten();
    let runs = if several.is_some() { asked } else { 1 };
    let sources = several.unwrap_or(one);
    let source = |window: bool| sources[kinds.iter().position(|&w| w == window).expect("a phase of the block")].clone();
    let make = |window: bool| gpu.pipeline(if window { "sweep (window)" } else { "sweep" }, source(window), "sweep");
    let dispatches = |steps: u32| steps.div_ceil(plan.steps_per_dispatch).max(1);
    let mut out = Vec::new();
    if main {
        let steps = if windowed { window_start } else { plan.steps };
        let pause_at = if windowed { window_start } else { u32::MAX };
        out.push(Phase { pipeline: make(false), slot: 0, dispatches: dispatches(steps), pause_at, first_step: 0, steps });
    }
    if windowed {
        let steps = plan.steps - window_start;
        out.push(Phase { pipeline: make(true), slot: 1, dispatches: dispatches(steps), pause_at: u32::MAX, first_step: window_start, steps });
    }
    gpu.check("compiling the sweep shader")?;
    Ok((out, runs))
}

/// Runs per invocation on a CPU driver (lavapipe), whose SIMD lanes are invocations: one run's
/// chain of dependent operations leaves its FMA pipes idle, two fill them (W1 1.33× faster,
/// BENCHMARKS.md, issue 13). `GDSWEEP_RUNS_PER_INVOCATION` (1–4) sets it there; a GPU runs
/// one per thread.
fn runs_per_invocation(gpu: &Gpu) -> Result<u32> {
    if gpu.adapter.device_type != "Cpu" {
        return Ok(1);
    }
    match std::env::var(RUNS_PER_INVOCATION) {
        Err(_) => Ok(2),
        Ok(v) => v.trim().parse().ok().filter(|r| (1..=4).contains(r)).ok_or_else(|| Error::Usage(format!("{RUNS_PER_INVOCATION}={v:?}: allowed are the whole numbers 1 to 4 (runs per invocation on a CPU Vulkan driver)"))),
    }
}

pub const RUNS_PER_INVOCATION: &str = "GDSWEEP_RUNS_PER_INVOCATION";

/// The largest one-run kernel given several runs: llvmpipe's compile time grows with the
/// copies, and a long step has independent work enough of its own.
const SEVERAL_RUNS_MOST_BYTES: usize = 48 * 1024;

fn run_block_inner(gpu: &Gpu, plan: &Plan, bi: usize, sel: Selection, progress: Progress, mut trace: Option<&mut Paths>) -> Result<Results> {
    let block = &plan.blocks[bi];
    let dev = &gpu.device;
    let p = plan.precision;
    let real = p.bytes() as u64;
    let layout = plan.layout(block);
    let (window_start, segment_len) = plan.rules.window_of(plan.steps);
    // lavapipe ends a shader's loops after 65,535 iterations in all, silently: a dispatch whose
    // steps hold more (a data table too large for even one step) would return wrong results.
    let per_dispatch = plan.loop_iterations_per_step(block) * plan.steps_per_dispatch as u64;
    if gpu.adapter.device_type == "Cpu" && per_dispatch > crate::config::MAX_STEPS_PER_DISPATCH as u64 {
        return Err(Error::Usage(format!(
            "{}: a dispatch would make {per_dispatch} loop iterations (evaluations × data rows), more than the {} this CPU Vulkan driver runs before it stops a shader's loops: use --backend cpu",
            gpu.adapter.name,
            crate::config::MAX_STEPS_PER_DISPATCH
        )));
    }
    let (phases, runs) = phases(gpu, plan, bi)?;

    let axis_values = read_only_table(plan.objective_of(block), block);
    let axis_bytes: Vec<u8> = match p {
        Precision::F32 => bytemuck::cast_slice(&axis_values.iter().map(|&v| v as f32).collect::<Vec<_>>()).to_vec(),
        Precision::F64 => bytemuck::cast_slice(&axis_values).to_vec(),
    };
    let per_run = layout.stride() as u64 * real;
    let dim = plan.objective.dim();
    // (info's share of device memory is small next to the state's; the budget counts the state)
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    let info_per_run = 4 * INFO_STRIDE as u64;
    // Both bound buffers must fit one binding each: the state, and info (whose share of a
    // small state's runs is large enough to reach the limit first).
    let batch = sel.count.min(MAX_BATCH).min(limit.min(BATCH_STATE_BYTES) / per_run).min(limit / info_per_run).max(1);
    let held = buffers(gpu, axis_bytes.len() as u64, batch * per_run, batch * info_per_run);
    let bufs = held.as_ref().expect("buffers were just made");
    gpu.queue.write_buffer(&bufs.axis, 0, &axis_bytes);
    gpu.check("creating the sweep buffers")?;

    let mut out = Results::with_capacity(dim, sel.count as usize);
    let per_group = runs_per_workgroup(block.layout) * runs;
    let mut done = 0u64;
    while done < sel.count {
        let n = batch.min(sel.count - done);
        let grid = Grid::new(n, per_group, gpu.limits.max_compute_workgroups_per_dimension);
        let params = Params {
            run_offset: u32::try_from(sel.offset + done * sel.stride).map_err(|_| Error::Other("run index over 2^32".into()))?,
            run_stride: sel.stride as u32,
            run_count: n as u32,
            steps_this_dispatch: plan.steps_per_dispatch,
            max_steps: plan.steps,
            groups_x: grid.x,
            window_start,
            segment_len,
            pause_at: u32::MAX,
            group_columns: grid.columns,
            group_rows: grid.rows,
            _pad: 0,
        };
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("sweep") });
        enc.clear_buffer(&bufs.info, 0, Some(n * info_per_run));
        for ph in &phases {
            gpu.queue.write_buffer(&bufs.params[ph.slot], 0, bytemuck::bytes_of(&Params { pause_at: ph.pause_at, ..params }));
            let Some(paths) = trace.as_deref_mut() else {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("sweep"), timestamp_writes: None });
                pass.set_pipeline(&ph.pipeline);
                pass.set_bind_group(0, &bufs.bind_groups[ph.slot], &[]);
                for _ in 0..ph.dispatches {
                    pass.dispatch_workgroups(grid.x, grid.y, 1);
                }
                continue;
            };
            // Tracing: one submission per dispatch, the state read back after each.
            for d in 0..ph.dispatches {
                {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("trace"), timestamp_writes: None });
                    pass.set_pipeline(&ph.pipeline);
                    pass.set_bind_group(0, &bufs.bind_groups[ph.slot], &[]);
                    pass.dispatch_workgroups(grid.x, grid.y, 1);
                }
                enc.copy_buffer_to_buffer(&bufs.state, 0, &bufs.state_read, 0, n * per_run);
                enc.copy_buffer_to_buffer(&bufs.info, 0, &bufs.info_read, 0, n * info_per_run);
                gpu.queue.submit([std::mem::replace(&mut enc, dev.create_command_encoder(&Default::default())).finish()]);
                let slice = bufs.state_read.slice(0..n * per_run);
                let info_slice = bufs.info_read.slice(0..n * info_per_run);
                slice.map_async(wgpu::MapMode::Read, |_| {});
                info_slice.map_async(wgpu::MapMode::Read, |_| {});
                dev.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the trace: {e}")))?;
                gpu.check("tracing")?;
                {
                    let sv = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the trace back: {e}")))?;
                    let iv = info_slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the trace back: {e}")))?;
                    let info: &[u32] = bytemuck::cast_slice(&iv);
                    let step = ph.first_step + ((d + 1) * plan.steps_per_dispatch).min(ph.steps);
                    for r in 0..n as usize {
                        let at = r * per_run as usize;
                        let evals = info[INFO_STRIDE * r + Info::Evals as usize];
                        paths[done as usize + r].push((step, evals, reals(&sv[at..at + real as usize * dim], p)));
                    }
                }
                bufs.state_read.unmap();
                bufs.info_read.unmap();
            }
        }
        enc.copy_buffer_to_buffer(&bufs.state, 0, &bufs.state_read, 0, n * per_run);
        enc.copy_buffer_to_buffer(&bufs.info, 0, &bufs.info_read, 0, n * info_per_run);
        gpu.queue.submit([enc.finish()]);
        read_back(gpu, bufs, plan, bi, &layout, sel, done, n, &mut out)?;
        done += n;
        progress(n);
    }
    Ok(out)
}

/// Wait for a batch of `n` runs (the `done`-th run of the selection first) and append its
/// results to `out`.
#[allow(clippy::too_many_arguments)]
fn read_back(gpu: &Gpu, bufs: &Buffers, plan: &Plan, bi: usize, layout: &StateLayout, sel: Selection, done: u64, n: u64, out: &mut Results) -> Result<()> {
    let block = &plan.blocks[bi];
    let p = plan.precision;
    let s = layout.stride();
    let per_run = (s * p.bytes()) as u64;
    let info_per_run = 4 * INFO_STRIDE as u64;
    let state_slice = bufs.state_read.slice(0..n * per_run);
    let info_slice = bufs.info_read.slice(0..n * info_per_run);
    state_slice.map_async(wgpu::MapMode::Read, |_| {});
    info_slice.map_async(wgpu::MapMode::Read, |_| {});
    gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the sweep: {e}")))?;
    gpu.check("running the sweep")?;
    {
        let sv = state_slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the state back: {e}")))?;
        let iv = info_slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the state back: {e}")))?;
        let info: &[u32] = bytemuck::cast_slice(&iv);
        let state = reals(&sv, p);
        let windowed = layout.windowed;
        for r in 0..n as usize {
            let st = &state[r * s..(r + 1) * s];
            let inf = &info[INFO_STRIDE * r..INFO_STRIDE * (r + 1)];
            let field = |f: Info| inf[f as usize];
            let run = block.first_run + sel.offset + (done + r as u64) * sel.stride;
            let rec = WindowRecord {
                segment_max: std::array::from_fn(|k| if windowed { st[layout.segments_at() + k] } else { 0.0 }),
                loss_start: if windowed { st[layout.loss_start_at()] } else { 0.0 },
                period: field(Info::Period),
                returns: field(Info::Returns),
                loss_rose: field(Info::LossRose) != 0,
                turns: field(Info::Turns),
            };
            let end = RunEnd {
                loss: st[layout.last_loss_at()],
                gn2: st[layout.last_gn2_at()],
                gtol2: st[layout.gtol2_at()],
                step: st[layout.step_at()],
                step_res: st[layout.step_res_at()],
            };
            let f = finish(Status::from_u32(field(Info::Status)), &rec, &end, &plan.rules, plan.steps, block.linesearch.is_some());
            out.push(run, f, field(Info::Steps), field(Info::Evals), end.loss, end.gn2.sqrt(), &st[..layout.dim]);
            if layout.trained {
                let t = &st[layout.train_at()..layout.train_at() + StateLayout::TRAIN_REALS];
                let sums = TrainSums { loss0: t[0], ratio_sum: t[1], inverse_sum: t[2], tail_sum: t[3] };
                out.train.push(Trainability::complete(Status::from_u32(field(Info::Status)), field(Info::Steps), plan.steps, sums, end.loss));
            }
        }
    }
    bufs.state_read.unmap();
    bufs.info_read.unmap();
    Ok(())
}
