//! `GpuContext`: one adapter, device and queue, with the adapter's real limits and the
//! optional features hearth uses (`shader-f16`, subgroups). Same code natively and on the web.

use crate::error_code::ErrorCode;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Why no usable GPU device could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GpuError {
    /// No adapter at all (no WebGPU in this browser, or no Vulkan/Metal/DX12 driver).
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    /// The adapter exists but refused to create a device.
    #[error("the GPU adapter refused to create a device: {0}")]
    DeviceRequest(String),
    /// The device was lost or an operation on it failed.
    #[error("the GPU device was lost ({0}): load the model again")]
    Lost(String),
    /// An optional feature the caller asked for is missing.
    #[error("this GPU has no {0}: load with f16 'auto' or false to use the f32 kernels")]
    MissingFeature(&'static str),
    /// A limit of the adapter is below what hearth needs.
    #[error("the GPU adapter's {limit} is {have}, hearth needs at least {need}")]
    LimitTooSmall {
        /// The limit's WebGPU name.
        limit: &'static str,
        /// The adapter's value.
        have: u64,
        /// hearth's minimum.
        need: u64,
    },
    /// One buffer would exceed a limit of the device.
    #[error(
        "{what} needs a GPU buffer of {} MiB but this GPU's {limit} is {} MiB: use a shorter context or a smaller model",
        mib(*.bytes),
        mib(*.max)
    )]
    BufferTooLarge {
        /// What the buffer is for.
        what: String,
        /// Its size.
        bytes: u64,
        /// The limit's WebGPU name.
        limit: &'static str,
        /// The limit.
        max: u64,
    },
    /// The device ran out of memory.
    #[error("the GPU ran out of memory ({0}): use a smaller model or a shorter context")]
    OutOfMemory(String),
    /// WebGPU rejected an operation: a bug in hearth, or a limit it did not check.
    #[error("the GPU rejected an operation: {0}")]
    Validation(String),
}

fn mib(bytes: u64) -> String {
    let m = bytes as f64 / f64::from(1u32 << 20);
    if m >= 10.0 { format!("{m:.0}") } else { format!("{m:.2}") }
}

impl GpuError {
    /// Its class: no WebGPU, adapter limits, out of memory or device lost.
    pub fn code(&self) -> ErrorCode {
        match self {
            GpuError::NoAdapter(_) => ErrorCode::NoWebgpu,
            GpuError::DeviceRequest(_)
            | GpuError::LimitTooSmall { .. }
            | GpuError::BufferTooLarge { .. }
            | GpuError::MissingFeature(_) => ErrorCode::AdapterLimits,
            GpuError::OutOfMemory(_) => ErrorCode::OutOfMemory,
            GpuError::Lost(_) | GpuError::Validation(_) => ErrorCode::DeviceLost,
        }
    }
}

/// Lower limits than the adapter's, to run as a smaller device would (tests, and users who
/// want to leave room for other work). Names follow WebGPU's.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitCaps {
    /// Caps maxStorageBufferBindingSize (weights are paged under it).
    pub max_storage_buffer_binding_size: Option<u64>,
    /// Caps maxBufferSize.
    pub max_buffer_size: Option<u64>,
    /// The most GPU memory a model may take in all (WebGPU does not tell how much a GPU
    /// has; a user who knows sets it, and a model planned over it is refused before loading).
    pub memory_budget: Option<u64>,
}

/// The least hearth runs on: WebGPU's defaults for what kernels bind at once.
const MIN_STORAGE_BINDING: u64 = 64 << 20;
const MIN_STORAGE_BUFFERS_PER_STAGE: u32 = 8;
const MIN_INVOCATIONS: u32 = 256;

/// What the adapter is and what it allows, for logs, `hearth bench` and the web page.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterReport {
    /// Adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Backend: Vulkan, Metal, Dx12, BrowserWebGpu, Gl.
    pub backend: String,
    /// Device type: DiscreteGpu, IntegratedGpu, Cpu, …
    pub device_type: String,
    /// Driver and its details, where the platform reports them.
    pub driver: String,
    /// Whether `shader-f16` was enabled.
    pub shader_f16: bool,
    /// Whether subgroup operations were enabled.
    pub subgroups: bool,
    /// Smallest and largest subgroup size the adapter reports (0 when unknown).
    pub subgroup_size: (u32, u32),
    /// maxStorageBufferBindingSize.
    pub max_storage_binding: u64,
    /// maxBufferSize.
    pub max_buffer_size: u64,
    /// maxStorageBuffersPerShaderStage.
    pub max_storage_buffers_per_stage: u32,
    /// maxComputeWorkgroupStorageSize.
    pub max_workgroup_storage: u32,
    /// maxComputeInvocationsPerWorkgroup.
    pub max_invocations: u32,
    /// maxComputeWorkgroupsPerDimension.
    pub max_workgroups_per_dim: u32,
}

/// An open GPU device with the adapter's full limits.
#[derive(Debug)]
pub struct GpuContext {
    /// The adapter the device came from.
    pub adapter: wgpu::Adapter,
    /// The device; its limits are the adapter's, not WebGPU's defaults.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The enabled features.
    pub features: wgpu::Features,
    /// The granted limits.
    pub limits: wgpu::Limits,
    /// The most bytes one weight buffer may hold: the binding limit, or less for tests that
    /// exercise paging (see [`GpuContext::limit_weight_pages`]).
    pub weight_page_bytes: u64,
    /// The most GPU memory a model may take, when the user set it ([`LimitCaps::memory_budget`]).
    pub memory_budget: Option<u64>,
    /// Bytes allocated through [`GpuContext::buffer`].
    pub(super) allocated: std::sync::atomic::AtomicU64,
    /// The first error the device reported outside an error scope, or its loss.
    failure: Arc<Mutex<Option<GpuError>>>,
}

impl GpuContext {
    /// Opens the default adapter (high-performance preference) and a device with all of its
    /// limits and with `shader-f16` and subgroups when it has them.
    pub async fn new() -> Result<GpuContext, GpuError> {
        Self::with_caps(&LimitCaps::default()).await
    }

    /// Opens the default adapter with its limits lowered to `caps`.
    pub async fn with_caps(caps: &LimitCaps) -> Result<GpuContext, GpuError> {
        Self::from_adapter(default_adapter().await?, caps).await
    }

    /// Describes the default adapter with its limits lowered to `caps`, without opening a
    /// device: what `inspect` checks a model against. An adapter below hearth's minimum
    /// limits is an error, as it is for [`GpuContext::with_caps`].
    pub async fn probe(caps: &LimitCaps) -> Result<AdapterReport, GpuError> {
        let adapter = default_adapter().await?;
        let (features, limits) = usable(&adapter, caps)?;
        Ok(AdapterReport::new(&adapter, features, &limits))
    }

    /// Opens a device on `adapter`, with its limits lowered to `caps`.
    pub async fn from_adapter(adapter: wgpu::Adapter, caps: &LimitCaps) -> Result<GpuContext, GpuError> {
        let (features, limits) = usable(&adapter, caps)?;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("hearth"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::DeviceRequest(e.to_string()))?;
        let weight_page_bytes = weight_page_bytes(limits.max_storage_buffer_binding_size, limits.max_buffer_size);
        // Errors outside an error scope and the device's loss are kept, not printed or panicked
        // on (wgpu's default natively), and come back from the next step as a typed error.
        let failure: Arc<Mutex<Option<GpuError>>> = Arc::default();
        let slot = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let error = match e {
                wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory("while running".into()),
                other => GpuError::Validation(other.to_string()),
            };
            keep_first(&slot, error);
        }));
        let slot = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            keep_first(&slot, GpuError::Lost(format!("{reason:?}: {message}")));
        });
        Ok(GpuContext {
            adapter,
            device,
            queue,
            features,
            limits,
            weight_page_bytes,
            memory_budget: caps.memory_budget,
            allocated: Default::default(),
            failure,
        })
    }

    /// The error the device reported since it was opened (the first one), if any: once a step
    /// failed or the device was lost, every later call reports it.
    pub fn failure(&self) -> Result<(), GpuError> {
        match &*self.failure.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Checks that a storage buffer of `bytes` for `what` fits the device's limits.
    pub fn check_storage(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let too_large = |limit, max| GpuError::BufferTooLarge { what: what.to_owned(), bytes, limit, max };
        if bytes > self.limits.max_buffer_size {
            return Err(too_large("maxBufferSize", self.limits.max_buffer_size));
        }
        if bytes > self.limits.max_storage_buffer_binding_size {
            return Err(too_large("maxStorageBufferBindingSize", self.limits.max_storage_buffer_binding_size));
        }
        Ok(())
    }

    /// Destroys the device, as a driver reset or a lost GPU process would: for tests of what
    /// follows a device loss.
    pub fn lose_device(&self) {
        self.device.destroy();
    }

    /// Pages weights at `bytes` instead of the binding limit (to test paging on any adapter).
    pub fn limit_weight_pages(&mut self, bytes: u64) {
        self.weight_page_bytes = bytes.min(self.limits.max_storage_buffer_binding_size);
    }

    /// Disables optional features, to run the fallback kernels on an adapter that has them.
    pub fn disable_features(&mut self, features: wgpu::Features) {
        self.features.remove(features);
    }

    /// Whether kernels may use f16 arithmetic.
    pub fn has_f16(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_F16)
    }

    /// Whether kernels may use subgroup operations.
    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    /// A description of the adapter and the limits in force.
    pub fn report(&self) -> AdapterReport {
        AdapterReport::new(&self.adapter, self.features, &self.limits)
    }
}

/// The largest weight page a device with these limits binds: every page is one storage
/// binding of one buffer.
pub fn weight_page_bytes(max_storage_binding: u64, max_buffer_size: u64) -> u64 {
    max_storage_binding.min(max_buffer_size)
}

impl AdapterReport {
    /// Whether this is a CPU adapter (lavapipe, SwiftShader), for which the kernels take their
    /// CPU shapes.
    pub fn is_cpu(&self) -> bool {
        self.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }

    /// [`weight_page_bytes`] of this adapter.
    pub fn weight_page_bytes(&self) -> u64 {
        weight_page_bytes(self.max_storage_binding, self.max_buffer_size)
    }

    fn new(adapter: &wgpu::Adapter, features: wgpu::Features, l: &wgpu::Limits) -> Self {
        let info = adapter.get_info();
        AdapterReport {
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_owned(),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            subgroup_size: (info.subgroup_min_size, info.subgroup_max_size),
            max_storage_binding: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_storage_buffers_per_stage: l.max_storage_buffers_per_shader_stage,
            max_workgroup_storage: l.max_compute_workgroup_storage_size,
            max_invocations: l.max_compute_invocations_per_workgroup,
            max_workgroups_per_dim: l.max_compute_workgroups_per_dimension,
        }
    }
}

async fn default_adapter() -> Result<wgpu::Adapter, GpuError> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::NoAdapter(e.to_string()))
}

/// The features hearth uses and the adapter's limits lowered to `caps`, checked against the
/// least hearth runs on.
fn usable(adapter: &wgpu::Adapter, caps: &LimitCaps) -> Result<(wgpu::Features, wgpu::Limits), GpuError> {
    let mut limits = adapter.limits();
    if let Some(c) = caps.max_storage_buffer_binding_size {
        limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(c);
    }
    if let Some(c) = caps.max_buffer_size {
        limits.max_buffer_size = limits.max_buffer_size.min(c);
    }
    check_min("maxStorageBufferBindingSize", limits.max_storage_buffer_binding_size, MIN_STORAGE_BINDING)?;
    check_min(
        "maxStorageBuffersPerShaderStage",
        limits.max_storage_buffers_per_shader_stage.into(),
        MIN_STORAGE_BUFFERS_PER_STAGE.into(),
    )?;
    check_min(
        "maxComputeInvocationsPerWorkgroup",
        limits.max_compute_invocations_per_workgroup.into(),
        MIN_INVOCATIONS.into(),
    )?;
    Ok((adapter.features() & (wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP), limits))
}

fn check_min(limit: &'static str, have: u64, need: u64) -> Result<(), GpuError> {
    if have < need {
        return Err(GpuError::LimitTooSmall { limit, have, need });
    }
    Ok(())
}

fn keep_first(slot: &Mutex<Option<GpuError>>, error: GpuError) {
    let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
    if s.is_none() {
        *s = Some(error);
    }
}
