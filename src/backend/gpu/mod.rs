//! The GPU backend on wgpu: adapter choice, device, and the sweep kernel (see `sweep`).
//!
//! Adapter choice follows wgpu's conventions: `WGPU_BACKEND` (vulkan, metal, dx12, gl) limits
//! the backends, `WGPU_ADAPTER_NAME` picks the first adapter whose name contains it
//! (case-insensitive); otherwise the best by type: discrete, integrated, virtual, then CPU
//! (lavapipe). The adapter used is recorded in manifest.json.

pub mod sweep;

use crate::backend::{AdapterSummary, Backend, Path, Progress};
use crate::error::{Error, Result};
use crate::outcome::Results;
use crate::plan::{Plan, Selection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Set to treat every adapter as lacking SHADER_F64 (to test that path, or to keep f64 off a
/// driver whose doubles are suspect).
pub const DISABLE_F64: &str = "GDSWEEP_DISABLE_F64";

impl AdapterSummary {
    pub(crate) fn of(a: &wgpu::Adapter) -> Self {
        let info = a.get_info();
        AdapterSummary {
            name: info.name,
            backend: format!("{:?}", info.backend).to_lowercase(),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver,
            driver_info: info.driver_info,
            shader_f64: a.features().contains(wgpu::Features::SHADER_F64) && std::env::var_os(DISABLE_F64).is_none(),
        }
    }
}

/// Mesa's window-system probing prints "XDG_RUNTIME_DIR is invalid or not set" for every
/// adapter probe where the variable is unset (headless machines, containers, CI). Before wgpu
/// probes anything, such a process gets a private runtime dir: `gdsweep-runtime-<uid>` in the
/// temporary directory, created with mode 0700, reused only if it is this user's, not a
/// symlink and 0700.
fn private_runtime_dir() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
            return;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
            let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else { return };
            let dir = std::env::temp_dir().join(format!("gdsweep-runtime-{me}"));
            let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
            let ours = std::fs::symlink_metadata(&dir)
                .is_ok_and(|m| m.is_dir() && m.uid() == me && m.permissions().mode() & 0o777 == 0o700);
            if ours {
                // Once, before any wgpu or driver thread exists that could read the environment.
                std::env::set_var("XDG_RUNTIME_DIR", &dir);
            }
        }
    });
}

/// A `WGPU_BACKEND` naming no wgpu backend is bad input, named (wgpu would only log it and
/// find no adapter).
pub fn check_backend_env() -> Result<()> {
    let Ok(value) = std::env::var("WGPU_BACKEND") else { return Ok(()) };
    let known = ["vulkan", "vk", "dx12", "d3d12", "metal", "mtl", "opengl", "gles", "gl", "webgpu", "noop"];
    let unknown: Vec<&str> = value.split(',').map(str::trim).filter(|b| !known.contains(&b.to_lowercase().as_str())).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "WGPU_BACKEND={value}: '{}' is no wgpu backend (use vulkan, metal, dx12 or gl, comma-separated)",
        unknown.join("', '")
    )))
}

fn instance() -> wgpu::Instance {
    private_runtime_dir();
    // Vulkan, Metal and DX12 unless WGPU_BACKEND says otherwise: probing GL without a display
    // only prints noise, and its compute support is the weakest.
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = wgpu::Backends::PRIMARY.with_env();
    wgpu::Instance::new(desc)
}

fn compute_capable(a: &wgpu::Adapter) -> bool {
    a.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
}

fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Every adapter wgpu finds (compute-capable or not), for `gdsweep devices`.
pub fn list_adapters() -> Vec<(AdapterSummary, bool)> {
    let inst = instance();
    let adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::PRIMARY.with_env()));
    adapters.iter().map(|a| (AdapterSummary::of(a), compute_capable(a))).collect()
}

/// Seconds lavapipe takes to compile the sweep shader of a step graph of `ops` operations, the
/// first time (Mesa caches compiled shaders): a·ops^b fitted to tests/scripts/compile_time.sh on
/// 2 cores (2026-12-01: 1105 ops 0.33 s, 2206 0.68 s, 4407 2.0 s, 8810 5.4 s, 17616 22.5 s).
/// Shader compilers are superlinear in the size of one function (register allocation,
/// scheduling); the CPU backend's tape takes milliseconds at any size.
pub fn compile_seconds_estimate(ops: usize) -> f64 {
    COMPILE_A * (ops as f64).powf(COMPILE_B)
}

const COMPILE_A: f64 = 1.65e-6;
const COMPILE_B: f64 = 1.68;

/// A device ready for sweeps, created once and passed to every sweep.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    errors: Arc<Mutex<Vec<String>>>,
    /// Compute pipelines by their WGSL source: blocks with the same shape (the threshold
    /// search's refinement blocks, round after round) compile once.
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
    /// The one bind group layout of shaders/sweep.wgsl (params, axis_values, state, info),
    /// shared by every pipeline, so bind groups outlive a block.
    pub(crate) bind_group_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    /// The sweep's buffers and bind groups, reused while they fit (see `sweep::Buffers`).
    pub(crate) buffers: Mutex<Option<sweep::Buffers>>,
}

impl Gpu {
    /// Pick an adapter and open a device. `need_f64` asks for SHADER_F64.
    pub fn new(need_f64: bool) -> Result<Gpu> {
        let adapter = Self::adapters()?.remove(0);
        Self::open(adapter, need_f64)
    }

    /// Every compute-capable adapter (those `WGPU_ADAPTER_NAME` names, where it is set), the
    /// preferred first: discrete, integrated, virtual, CPU.
    pub fn adapters() -> Result<Vec<wgpu::Adapter>> {
        let inst = instance();
        let mut adapters: Vec<wgpu::Adapter> = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::PRIMARY.with_env()))
            .into_iter()
            .filter(compute_capable)
            .collect();
        if adapters.is_empty() {
            return Err(Error::Gpu(
                "no GPU adapter found (on a machine without a GPU, install lavapipe: apt-get install mesa-vulkan-drivers)"
                    .into(),
            ));
        }
        if let Ok(want) = std::env::var("WGPU_ADAPTER_NAME") {
            let w = want.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&w));
            if adapters.is_empty() {
                return Err(Error::Gpu(format!("no adapter's name contains WGPU_ADAPTER_NAME={want} (see `gdsweep devices`)")));
            }
        }
        adapters.sort_by_key(|a| type_rank(a.get_info().device_type));
        Ok(adapters)
    }

    /// Open a device on `adapter`.
    pub fn open(adapter: wgpu::Adapter, need_f64: bool) -> Result<Gpu> {
        let summary = AdapterSummary::of(&adapter);
        if need_f64 && !summary.shader_f64 {
            return Err(Error::Gpu(format!("adapter '{}' has no SHADER_F64", summary.name)));
        }
        let features = if need_f64 { wgpu::Features::SHADER_F64 } else { wgpu::Features::empty() };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gdsweep"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("cannot open a device on '{}': {e}", summary.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only }, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("sweep"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: None },
                    count: None,
                },
                storage(1, true),
                storage(2, false),
                storage(3, false),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("sweep"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        Ok(Gpu {
            device,
            queue,
            adapter: summary,
            limits,
            errors,
            pipelines: Mutex::new(HashMap::new()),
            bind_group_layout,
            pipeline_layout,
            buffers: Mutex::new(None),
        })
    }

    /// The compute pipeline of a WGSL module with entry point `entry`, compiled on first use.
    pub fn pipeline(&self, label: &str, source: String, entry: &str) -> wgpu::ComputePipeline {
        let mut cache = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(source)
            .or_insert_with_key(|src| {
                let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(src.as_str().into()),
                });
                self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: Some(&self.pipeline_layout),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .clone()
    }

    /// Report any error the device raised since the last check.
    pub fn check(&self, what: &str) -> Result<()> {
        let mut v = self.errors.lock().map_err(|_| Error::Gpu("error sink poisoned".into()))?;
        if v.is_empty() {
            return Ok(());
        }
        let msg = v.join("\n");
        v.clear();
        Err(Error::Gpu(format!("{what}: {msg}")))
    }
}

impl Backend for Gpu {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn adapter(&self) -> Option<&AdapterSummary> {
        Some(&self.adapter)
    }

    fn device(&self) -> String {
        self.adapter.name.clone()
    }

    fn run_block(&self, plan: &Plan, block: usize, sel: Selection, progress: Progress) -> Result<Results> {
        sweep::run_block(self, plan, block, sel, progress)
    }

    /// The state read back after every dispatch; the initial point is the block's, the last
    /// point the run's result.
    fn trace_first_run(&self, plan: &Plan, block: usize) -> Result<Path> {
        let one = Selection { offset: 0, stride: 1, count: 1 };
        let (r, paths) = sweep::trace_block(self, plan, block, one)?;
        let b = &plan.blocks[block];
        let dim = plan.objective.dim();
        // The start: one evaluation made.
        let mut path = Path { steps: vec![0], evals: vec![1], x: (0..dim).map(|j| b.axes[1 + b.n_hypers() + j].values[0]).collect() };
        for (s, evals, p) in paths.into_iter().next().unwrap_or_default() {
            if s < r.steps[0] {
                path.steps.push(s);
                path.evals.push(evals);
                path.x.extend(p);
            }
        }
        if r.steps[0] > 0 {
            path.steps.push(r.steps[0]);
            path.evals.push(r.evals[0]);
            path.x.extend_from_slice(r.point(0));
        }
        Ok(path)
    }
}
