//! Runs one optimizer block of a plan through shaders/sweep.wgsl: the pipelines and buffers are
//! made once per block, then batches of runs go through the main pipeline's dispatches up to
//! the classification window and the window pipeline's for the rest (`ceil(steps /
//! steps_per_dispatch)` each), in one submission, and come back through one readback.

use super::Gpu;
use crate::kernel::{axis_table, sweep_wgsl, WORKGROUP_SIZE};
use crate::backend::Progress;
use crate::error::{Error, Result};
use crate::outcome::{finish, Results, Status, WindowRecord};
use crate::plan::layout::Info;
use crate::plan::{Plan, Precision, Selection, INFO_STRIDE};
use wgpu::util::DeviceExt;

/// Keep in sync with `struct Params` in shaders/sweep.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    pub run_offset: u32,
    pub run_stride: u32,
    pub run_count: u32,
    pub steps_this_dispatch: u32,
    pub max_steps: u32,
    pub row_pitch: u32,
    pub window_start: u32,
    pub segment_len: u32,
    pub pause_at: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Most runs per batch, and the device memory one batch's state may take: bounds memory
/// and keeps each submission short, while filling the largest GPUs many times over.
pub const MAX_BATCH: u64 = 1 << 23;
pub const BATCH_STATE_BYTES: u64 = 256 << 20;

/// Workgroup counts (x, y) covering `n` invocations, 2-D beyond the per-dimension limit.
pub fn dispatch_size(n: u64, max_per_dim: u32) -> (u32, u32) {
    let groups = n.div_ceil(WORKGROUP_SIZE as u64).max(1);
    if groups <= max_per_dim as u64 {
        (groups as u32, 1)
    } else {
        let x = max_per_dim as u64;
        (x as u32, groups.div_ceil(x) as u32)
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

/// Each selected run's points (step, x) read back after every dispatch (the plan's
/// `steps_per_dispatch` sets how often), and the results. For trajectories of a few runs: every
/// dispatch is its own submission.
pub type Paths = Vec<Vec<(u32, Vec<f64>)>>;

pub fn trace_block(gpu: &Gpu, plan: &Plan, bi: usize, sel: Selection) -> Result<(Results, Paths)> {
    let mut paths: Paths = vec![Vec::new(); sel.count as usize];
    let r = run_block_inner(gpu, plan, bi, sel, &|_| {}, Some(&mut paths))?;
    Ok((r, paths))
}

fn run_block_inner(gpu: &Gpu, plan: &Plan, bi: usize, sel: Selection, progress: Progress, mut trace: Option<&mut Paths>) -> Result<Results> {
    let block = &plan.blocks[bi];
    let dev = &gpu.device;
    let p = plan.precision;
    let real = p.bytes() as u64;
    let layout = plan.layout(block);
    let stride = layout.stride() as u64;
    let (window_start, segment_len) = plan.rules.window_of(plan.steps);
    let windowed = segment_len > 0;
    let make_pipeline = |window: bool| gpu.pipeline(if window { "sweep (window)" } else { "sweep" }, sweep_wgsl(plan, bi, window), "sweep");
    // Main: steps [0, window_start). Window: the rest, recording the classification window.
    let main_pipeline = (window_start > 0 || !windowed).then(|| make_pipeline(false));
    let window_pipeline = windowed.then(|| make_pipeline(true));
    gpu.check("compiling the sweep shader")?;

    let (axis_values, _) = axis_table(block);
    let axis_bytes: Vec<u8> = match p {
        Precision::F32 => bytemuck::cast_slice(&axis_values.iter().map(|&v| v as f32).collect::<Vec<_>>()).to_vec(),
        Precision::F64 => bytemuck::cast_slice(&axis_values).to_vec(),
    };
    let axis_buf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("axis_values"),
        contents: &axis_bytes,
        usage: wgpu::BufferUsages::STORAGE,
    });

    let per_run = stride * real;
    let dim = plan.objective.dim();
    // (info's share of device memory is small next to the state's; the budget counts the state)
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    let batch = sel.count.min(MAX_BATCH).min(limit.min(BATCH_STATE_BYTES) / per_run).max(1);
    let state_size = batch * per_run;
    let info_bytes_per_run = 4 * INFO_STRIDE as u64;
    let info_size = batch * info_bytes_per_run;
    let usage_rw = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let mk = |label, size, usage| dev.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false });
    let state_buf = mk("state", state_size, usage_rw);
    let info_buf = mk("info", info_size, usage_rw);
    let read_usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    let state_read = mk("state_read", state_size, read_usage);
    let info_read = mk("info_read", info_size, read_usage);
    let params_size = std::mem::size_of::<Params>() as u64;
    let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
    // One params buffer and bind group per phase: (pipeline, params, bind group, dispatches).
    let phase = |pipeline: &wgpu::ComputePipeline, steps: u32| {
        let params_buf = mk("params", params_size, uniform);
        let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("sweep"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params_buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: axis_buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: state_buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: info_buf.as_entire_binding() },
            ],
        });
        (pipeline.clone(), params_buf, bind_group, steps.div_ceil(plan.steps_per_dispatch).max(1))
    };
    let main_steps = if windowed { window_start } else { plan.steps };
    // (phase, pause_at, first step, steps in the phase)
    let phases: Vec<_> = main_pipeline
        .iter()
        .map(|p| (phase(p, main_steps), if windowed { window_start } else { u32::MAX }, 0, main_steps))
        .chain(window_pipeline.iter().map(|p| (phase(p, plan.steps - window_start), u32::MAX, window_start, plan.steps - window_start)))
        .collect();
    gpu.check("creating the sweep buffers")?;

    let mut out = Results::with_capacity(dim, sel.count as usize);
    let mut done = 0u64;
    while done < sel.count {
        let n = batch.min(sel.count - done);
        let (gx, gy) = dispatch_size(n, gpu.limits.max_compute_workgroups_per_dimension);
        let params = Params {
            run_offset: u32::try_from(sel.offset + done * sel.stride).map_err(|_| Error::Other("run index over 2^32".into()))?,
            run_stride: sel.stride as u32,
            run_count: n as u32,
            steps_this_dispatch: plan.steps_per_dispatch,
            max_steps: plan.steps,
            row_pitch: gx * WORKGROUP_SIZE,
            window_start,
            segment_len,
            pause_at: u32::MAX,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("sweep") });
        enc.clear_buffer(&info_buf, 0, None);
        for ((pipeline, params_buf, bind_group, dispatches), pause_at, first_step, phase_steps) in &phases {
            gpu.queue.write_buffer(params_buf, 0, bytemuck::bytes_of(&Params { pause_at: *pause_at, ..params }));
            let Some(paths) = trace.as_deref_mut() else {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("sweep"), timestamp_writes: None });
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, bind_group, &[]);
                for _ in 0..*dispatches {
                    pass.dispatch_workgroups(gx, gy, 1);
                }
                continue;
            };
            // Tracing: one submission per dispatch, the state read back after each.
            for d in 0..*dispatches {
                {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("trace"), timestamp_writes: None });
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, bind_group, &[]);
                    pass.dispatch_workgroups(gx, gy, 1);
                }
                enc.copy_buffer_to_buffer(&state_buf, 0, &state_read, 0, n * per_run);
                gpu.queue.submit([std::mem::replace(&mut enc, dev.create_command_encoder(&Default::default())).finish()]);
                let slice = state_read.slice(0..n * per_run);
                slice.map_async(wgpu::MapMode::Read, |_| {});
                dev.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the trace: {e}")))?;
                gpu.check("tracing")?;
                {
                    let sv = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the trace back: {e}")))?;
                    let step = first_step + ((d + 1) * plan.steps_per_dispatch).min(*phase_steps);
                    for r in 0..n as usize {
                        let at = r * per_run as usize;
                        paths[done as usize + r].push((step, reals(&sv[at..at + real as usize * dim], p)));
                    }
                }
                state_read.unmap();
            }
        }
        enc.copy_buffer_to_buffer(&state_buf, 0, &state_read, 0, n * per_run);
        enc.copy_buffer_to_buffer(&info_buf, 0, &info_read, 0, n * info_bytes_per_run);
        gpu.queue.submit([enc.finish()]);
        let state_slice = state_read.slice(0..n * per_run);
        let info_slice = info_read.slice(0..n * info_bytes_per_run);
        state_slice.map_async(wgpu::MapMode::Read, |_| {});
        info_slice.map_async(wgpu::MapMode::Read, |_| {});
        dev.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the sweep: {e}")))?;
        gpu.check("running the sweep")?;
        {
            let sv = state_slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the state back: {e}")))?;
            let iv = info_slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the state back: {e}")))?;
            let info: &[u32] = bytemuck::cast_slice(&iv);
            let state = reals(&sv, p);
            let s = stride as usize;
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
                let (last_loss, last_gn2) = (st[layout.last_loss_at()], st[layout.last_gn2_at()]);
                let f = finish(Status::from_u32(field(Info::Status)), &rec, last_loss, last_gn2, st[layout.gtol2_at()], &plan.rules, plan.steps);
                out.push(run, f, field(Info::Steps), last_loss, last_gn2.sqrt(), &st[..dim]);
            }
        }
        state_read.unmap();
        info_read.unmap();
        done += n;
        progress(n);
    }
    Ok(out)
}
