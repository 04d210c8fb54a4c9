//! `StepBuffer`: the per-step state (`shaders/common/step.wgsl`) that position-dependent
//! kernels read: written by the host once per step, so dispatches are built once.

use crate::gpu::GpuContext;

crate::uniform_struct! {
    /// The `Step` uniform: position of the step's first token, its token count, and a counter
    /// that seeds the sampler's random draw.
    pub struct Step {
        /// Position of the first token of this step.
        pub pos0: u32,
        /// Tokens in this step (1 when decoding).
        pub n_tokens: u32,
        /// Increases every sampled token (the RNG counter).
        pub counter: u32,
        /// Padding to 16 bytes.
        pub _pad: u32,
    }
}

/// The uniform buffer holding [`Step`].
pub struct StepBuffer {
    /// The buffer bound by kernels.
    pub buffer: wgpu::Buffer,
}

impl StepBuffer {
    /// Bytes of the buffer.
    pub const BYTES: u64 = std::mem::size_of::<Step>() as u64;

    /// A zeroed step buffer.
    pub fn new(ctx: &GpuContext) -> Self {
        StepBuffer { buffer: ctx.uniform_buffer(Self::BYTES, "step") }
    }

    /// Sets the state for the next submitted step.
    pub fn write(&self, ctx: &GpuContext, step: Step) {
        ctx.write(&self.buffer, 0, bytemuck::bytes_of(&step));
    }
}
