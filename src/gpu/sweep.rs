//! Runs one optimizer block of a plan through shaders/sweep.wgsl: the pipeline and buffers are
//! made once per block, then batches of runs go through `ceil(steps / steps_per_dispatch)`
//! dispatches each, in one submission, and come back through one readback.

use super::Gpu;
use crate::codegen::{axis_table, sweep_wgsl, WORKGROUP_SIZE};
use crate::cpu::Selection;
use crate::engine::Progress;
use crate::error::{Error, Result};
use crate::outcome::{Results, Status};
use crate::plan::{Plan, Precision};
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
    pub _pad0: u32,
    pub _pad1: u32,
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

pub fn run_block(gpu: &Gpu, plan: &Plan, bi: usize, sel: Selection, progress: Progress) -> Result<Results> {
    let block = &plan.blocks[bi];
    let dev = &gpu.device;
    let p = plan.precision;
    let real = p.bytes() as u64;
    let stride = plan.state_stride(block) as u64;
    let src = sweep_wgsl(plan, bi);
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("sweep"),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("sweep"),
        layout: None,
        module: &module,
        entry_point: Some("sweep"),
        compilation_options: Default::default(),
        cache: None,
    });
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
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    let batch = sel.count.min(MAX_BATCH).min(limit.min(BATCH_STATE_BYTES) / per_run).max(1);
    let state_size = batch * per_run;
    let info_size = batch * 8;
    let usage_rw = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let mk = |label, size, usage| dev.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false });
    let state_buf = mk("state", state_size, usage_rw);
    let info_buf = mk("info", info_size, usage_rw);
    let params_buf = mk("params", std::mem::size_of::<Params>() as u64, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST);
    let read_usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    let state_read = mk("state_read", state_size, read_usage);
    let info_read = mk("info_read", info_size, read_usage);
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
    gpu.check("creating the sweep buffers")?;

    let dim = plan.objective.dim();
    let mut out = Results::with_capacity(dim, sel.count as usize);
    let dispatches = plan.steps.div_ceil(plan.steps_per_dispatch).max(1);
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
            _pad0: 0,
            _pad1: 0,
        };
        gpu.queue.write_buffer(&params_buf, 0, bytemuck::bytes_of(&params));
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("sweep") });
        enc.clear_buffer(&info_buf, 0, None);
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("sweep"), timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            for _ in 0..dispatches {
                pass.dispatch_workgroups(gx, gy, 1);
            }
        }
        enc.copy_buffer_to_buffer(&state_buf, 0, &state_read, 0, n * per_run);
        enc.copy_buffer_to_buffer(&info_buf, 0, &info_read, 0, n * 8);
        gpu.queue.submit([enc.finish()]);
        let state_slice = state_read.slice(0..n * per_run);
        let info_slice = info_read.slice(0..n * 8);
        state_slice.map_async(wgpu::MapMode::Read, |_| {});
        info_slice.map_async(wgpu::MapMode::Read, |_| {});
        dev.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the sweep: {e}")))?;
        gpu.check("running the sweep")?;
        {
            let sv = state_slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the state back: {e}")))?;
            let iv = info_slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the state back: {e}")))?;
            let info: &[u32] = bytemuck::cast_slice(&iv);
            let state: Vec<f64> = match p {
                Precision::F32 => bytemuck::cast_slice::<u8, f32>(&sv).iter().map(|&v| v as f64).collect(),
                Precision::F64 => bytemuck::cast_slice::<u8, f64>(&sv).to_vec(),
            };
            let s = stride as usize;
            for r in 0..n as usize {
                let st = &state[r * s..(r + 1) * s];
                let run = block.first_run + sel.offset + (done + r as u64) * sel.stride;
                out.push(run, Status::from_u32(info[2 * r]), info[2 * r + 1], st[s - 2], st[s - 1].sqrt(), &st[..dim]);
            }
        }
        state_read.unmap();
        info_read.unmap();
        done += n;
        progress(n);
    }
    Ok(out)
}
