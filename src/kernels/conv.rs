//! `short_conv`: the causal short convolution of LFM2's conv layers (gated) and of Qwen3.5's
//! delta nets (through SiLU), with its past inputs kept by position in a ring (see
//! `shaders/short_conv.wgsl`).

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, StepBuffer, WG, grid, shaders};

/// Taps a convolution may have (LFM2's have 3).
pub const MAX_CONV_TAPS: u32 = 16;

/// The sizes of one conv layer's convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Channels D.
    pub d: u32,
    /// Taps per channel (the kernel's length).
    pub taps: u32,
    /// Positions the ring holds: at least `taps`; a step may start up to `ring_len - taps`
    /// positions before the last one run.
    pub ring_len: u32,
}

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        d: u32,
        taps: u32,
        ring_len: u32,
        _pad: u32,
    }
}

/// The buffers of one layer's convolution.
pub struct ConvBuffers<'a> {
    /// The gates b and c (T, D) act of LFM2's conv layers (the input projection's first and
    /// second parts: of the convolution's input, of its output); None for a convolution
    /// through SiLU (Qwen3.5).
    pub gates: Option<[&'a wgpu::Buffer; 2]>,
    /// (T, D) act: its third part, the input.
    pub x: &'a wgpu::Buffer,
    /// (D, taps) f32 kernel.
    pub kernel: &'a wgpu::Buffer,
    /// (ring_len, D) f32 past inputs by position.
    pub ring: &'a wgpu::Buffer,
    /// (T, D) act output.
    pub y: &'a wgpu::Buffer,
}

impl Kernels {
    /// `y = c * conv(b * x)`, or without gates `y = silu(conv(x))`, over the step's tokens
    /// (positions and count from `step`), one dispatch whatever the step's length.
    pub fn short_conv(
        &mut self,
        ctx: &GpuContext,
        shape: &ConvShape,
        bufs: &ConvBuffers<'_>,
        step: &StepBuffer,
    ) -> Result<Dispatch, KernelError> {
        if !(1..=MAX_CONV_TAPS).contains(&shape.taps) || shape.ring_len < shape.taps {
            return Err(KernelError::Shape {
                kernel: "short_conv",
                why: format!("{} taps (1 to {MAX_CONV_TAPS}) over a ring of {}", shape.taps, shape.ring_len),
            });
        }
        let defines: &[&str] = if bufs.gates.is_none() { &["SILU"] } else { &[] };
        let pipeline = self.pipeline(ctx, &shaders::SHORT_CONV, defines, &[("WG", WG)])?;
        let params = Params { d: shape.d, taps: shape.taps, ring_len: shape.ring_len, ..Default::default() };
        let slot = self.uniforms.push(ctx, &params)?;
        let mut bindings = vec![
            (2, bufs.x.as_entire_binding()),
            (3, bufs.kernel.as_entire_binding()),
            (4, bufs.ring.as_entire_binding()),
            (5, bufs.y.as_entire_binding()),
            (6, self.uniforms.binding(slot)),
            (7, step.buffer.as_entire_binding()),
        ];
        if let Some([b, c]) = bufs.gates {
            bindings.extend([(0, b.as_entire_binding()), (1, c.as_entire_binding())]);
        }
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, grid(shape.d.div_ceil(WG))))
    }
}

/// CPU reference of [`Kernels::short_conv`]: the whole sequence from position 0 at once, no
/// ring (as llama.cpp's `ssm_conv` over a zero initial state): x (T, D), kernel (D, taps), the
/// gates b, c (T, D) or None for the SiLU form.
pub fn short_conv_ref(taps: usize, gates: Option<(&[f32], &[f32])>, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    let d = kernel.len() / taps;
    let v: Vec<f32> = match gates {
        Some((b, _)) => b.iter().zip(x).map(|(b, x)| b * x).collect(),
        None => x.to_vec(),
    };
    let n = v.len() / d;
    let mut y = vec![0.0; n * d];
    for pos in 0..n {
        for ch in 0..d {
            // Oldest input first; inputs before position 0 are zero.
            let mut acc = 0.0f32;
            for j in 0..taps {
                let back = taps - 1 - j;
                if back <= pos {
                    acc += v[(pos - back) * d + ch] * kernel[ch * taps + j];
                }
            }
            y[pos * d + ch] = match gates {
                Some((_, c)) => c[pos * d + ch] * acc,
                None => acc / (1.0 + (-acc).exp()),
            };
        }
    }
    y
}
