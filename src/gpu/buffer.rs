//! Buffers: creation with memory accounting, uploads, and reading results back.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{GpuContext, GpuError};

/// See [`GpuContext::process_allocated_bytes`].
static PROCESS_ALLOCATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Bytes a buffer asked for with `size` takes: at least 4, a multiple of 4 (as wgpu requires
/// for copies and bindings). The memory plan counts buffers with it.
pub fn buffer_bytes(size: u64) -> u64 {
    size.max(4).next_multiple_of(4)
}

impl GpuContext {
    /// A storage buffer of `size` bytes (rounded up to 4) that can be copied to and from.
    pub fn storage_buffer(&self, size: u64, label: &str) -> wgpu::Buffer {
        self.buffer(
            size,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            label,
        )
    }

    /// A uniform buffer of `size` bytes.
    pub fn uniform_buffer(&self, size: u64, label: &str) -> wgpu::Buffer {
        self.buffer(size, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST, label)
    }

    /// A buffer with explicit usages; every allocation is counted in [`GpuContext::allocated_bytes`].
    pub fn buffer(&self, size: u64, usage: wgpu::BufferUsages, label: &str) -> wgpu::Buffer {
        let size = buffer_bytes(size);
        self.allocated.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        PROCESS_ALLOCATED.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `bytes` (padded to a multiple of 4).
    pub fn upload(&self, bytes: &[u8], label: &str) -> wgpu::Buffer {
        let buffer = self.storage_buffer(bytes.len() as u64, label);
        self.write(&buffer, 0, bytes);
        buffer
    }

    /// Writes `bytes` at `offset` (both padded to 4 as wgpu requires).
    pub fn write(&self, buffer: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        if bytes.len().is_multiple_of(4) {
            self.queue.write_buffer(buffer, offset, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            self.queue.write_buffer(buffer, offset, &padded);
        }
    }

    /// Bytes of GPU buffers created through every context of this process so far: a load
    /// refused before this moves allocated nothing (what tests of hostile models assert).
    pub fn process_allocated_bytes() -> u64 {
        PROCESS_ALLOCATED.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Frees a buffer made by [`GpuContext::buffer`] before the context ends (a transient one:
    /// a read-back copy, evaluation logits), so that [`GpuContext::allocated_bytes`] stays the
    /// memory held.
    pub fn release(&self, buffer: wgpu::Buffer) {
        let size = buffer.size();
        buffer.destroy();
        self.allocated.fetch_sub(size, std::sync::atomic::Ordering::Relaxed);
    }

    /// Bytes of GPU memory held through this context: every buffer made and not released.
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Copies `size` bytes at `offset` of `buffer` back to the CPU, waiting for all work
    /// submitted before.
    pub async fn read_back(&self, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>, GpuError> {
        let padded = size.next_multiple_of(4);
        let staging = self.buffer(padded, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, "read_back");
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, padded);
        self.queue.submit([encoder.finish()]);
        let mapped = self.map_read(&staging).await;
        let bytes = mapped.map(|()| staging.slice(..).get_mapped_range().map(|v| v[..size as usize].to_vec()));
        if bytes.is_ok() {
            staging.unmap();
        }
        self.release(staging);
        self.failure()?;
        bytes?.map_err(|e| GpuError::Lost(e.to_string()))
    }

    /// Waits until the GPU has finished all submitted work and buffer writes: back-pressure
    /// for streaming uploads (so written data never piles up in staging memory), and a point
    /// where a long prefill yields to the event loop in the browser.
    pub async fn idle(&self) -> Result<(), GpuError> {
        self.queue.submit([]);
        let (tx, rx) = oneshot();
        self.queue.on_submitted_work_done(move || tx.send(()));
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Lost(e.to_string()))?;
        rx.await;
        self.failure()
    }

    /// Starts capturing the errors of a span of work (the allocations and uploads of a load),
    /// which [`ErrorCapture::finish`] returns as a typed error instead of letting them reach
    /// the uncaptured-error handler.
    pub fn capture_errors(&self) -> ErrorCapture {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        ErrorCapture { oom, validation }
    }

    /// Maps a MAP_READ buffer, polling the device natively; on the web the browser drives it.
    pub async fn map_read(&self, buffer: &wgpu::Buffer) -> Result<(), GpuError> {
        self.map_read_after(buffer, None).await
    }

    /// [`GpuContext::map_read`] of a buffer last written by submission `index` (None: by any
    /// submission so far), natively waiting for that submission and no later one.
    pub async fn map_read_after(
        &self,
        buffer: &wgpu::Buffer,
        index: Option<wgpu::SubmissionIndex>,
    ) -> Result<(), GpuError> {
        let (tx, rx) = oneshot();
        buffer.slice(..).map_async(wgpu::MapMode::Read, move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::Wait { submission_index: index, timeout: None })
            .map_err(|e| GpuError::Lost(e.to_string()))?;
        #[cfg(target_arch = "wasm32")]
        let _ = index;
        // A failed map usually means a lost device: report the loss's own reason if known.
        rx.await.map_err(|e| self.failure().err().unwrap_or_else(|| GpuError::Lost(e.to_string())))
    }
}

/// Error scopes around a span of work; see [`GpuContext::capture_errors`].
#[must_use = "finish() reports what went wrong"]
pub struct ErrorCapture {
    oom: wgpu::ErrorScopeGuard,
    validation: wgpu::ErrorScopeGuard,
}

impl ErrorCapture {
    /// Ends the capture: the first out-of-memory or validation error of the span, if any.
    pub async fn finish(self) -> Result<(), GpuError> {
        // Scopes pop in reverse order of their pushing.
        let validation = self.validation.pop().await;
        let oom = self.oom.pop().await;
        match (oom, validation) {
            (Some(e), _) => Err(GpuError::OutOfMemory(e.to_string())),
            (None, Some(e)) => Err(GpuError::Validation(e.to_string())),
            (None, None) => Ok(()),
        }
    }
}

/// A one-value channel whose receiving end is a future (works the same natively and in wasm).
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new((None, None)));
    (Sender(slot.clone()), Receiver(slot))
}

type Slot<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;

struct Sender<T>(Slot<T>);
struct Receiver<T>(Slot<T>);

impl<T> Sender<T> {
    fn send(self, value: T) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = Some(value);
        if let Some(w) = s.1.take() {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match s.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A persistent MAP_READ buffer for small per-step results (the sampled token id), so reading
/// back creates no buffer per step.
pub struct Readback {
    staging: wgpu::Buffer,
}

impl Readback {
    /// A read-back buffer of `size` bytes.
    pub fn new(ctx: &GpuContext, size: u64) -> Self {
        Readback { staging: ctx.buffer(size, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, "readback") }
    }

    /// Encodes a copy of `src[offset..offset + size]` into the read-back buffer.
    pub fn copy_from(&self, encoder: &mut wgpu::CommandEncoder, src: &wgpu::Buffer, offset: u64) {
        encoder.copy_buffer_to_buffer(src, offset, &self.staging, 0, self.staging.size());
    }

    /// Waits for the submitted copy and returns the bytes.
    pub async fn read(&self, ctx: &GpuContext) -> Result<Vec<u8>, GpuError> {
        self.read_after(ctx, None).await
    }

    /// [`Readback::read`] of a copy made by submission `index`, waiting for that submission
    /// only (natively; browsers map a buffer once the work that used it is done): work
    /// submitted after it keeps the GPU busy meanwhile.
    pub async fn read_after(
        &self,
        ctx: &GpuContext,
        index: Option<wgpu::SubmissionIndex>,
    ) -> Result<Vec<u8>, GpuError> {
        ctx.map_read_after(&self.staging, index).await?;
        let bytes = self.staging.slice(..).get_mapped_range().map(|v| v.to_vec());
        self.staging.unmap();
        ctx.failure()?;
        bytes.map_err(|e| GpuError::Lost(e.to_string()))
    }
}
