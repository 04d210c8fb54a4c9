//! `UniformArena`: kernel parameters packed into one uniform buffer of fixed size, each at an
//! offset aligned to the device's `minUniformBufferOffsetAlignment`. Parameters are written
//! once when a dispatch is built, never per token. Equal parameters share one slot, so
//! rebuilding a step (a prefill chunk of a length seen before) takes no new space.
//!
//! The buffer's size is fixed so that a model's GPU memory is what its plan says, for as long
//! as it runs: what a load builds is kept for good (sealed), and what is built later (prefill
//! lists of new lengths, a request's sampler) goes after it, until the space is full; then the
//! owner recycles that part and rebuilds what it still uses.

use std::collections::HashMap;

use super::GpuContext;

/// The arena has no room for another parameter struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the kernel parameters fill their {} KiB uniform buffer", UniformArena::BYTES >> 10)]
pub struct UniformsFull;

/// Uniform buffer space holding many small parameter structs.
pub struct UniformArena {
    buffer: Option<wgpu::Buffer>,
    used: u64,
    align: u64,
    /// Bytes kept when the arena is recycled (what was stored before [`UniformArena::seal`]).
    sealed: u64,
    /// Slots by their bytes (written once, never changed while their slot is live).
    slots: HashMap<Vec<u8>, UniformSlot>,
}

/// Where one parameter struct lives.
#[derive(Clone, Copy, Debug)]
pub struct UniformSlot {
    /// Byte offset in the arena's buffer.
    pub offset: u64,
    /// Size in bytes (a multiple of 16, as uniform structs are).
    pub size: u64,
}

impl UniformArena {
    /// Bytes of the arena's buffer: a load's steps take a few KiB (their parameters repeat
    /// from layer to layer), so this holds dozens of steps of new lengths before recycling.
    pub const BYTES: u64 = 256 << 10;

    /// An empty arena; its buffer is made by the first push.
    pub fn new(ctx: &GpuContext) -> Self {
        let align = u64::from(ctx.limits.min_uniform_buffer_offset_alignment);
        UniformArena { buffer: None, used: 0, align, sealed: 0, slots: HashMap::new() }
    }

    /// Stores `value` (uploading it now, unless an equal value is stored) and returns its slot.
    pub fn push<T: bytemuck::Pod>(&mut self, ctx: &GpuContext, value: &T) -> Result<UniformSlot, UniformsFull> {
        let mut bytes = bytemuck::bytes_of(value).to_vec();
        bytes.resize(bytes.len().next_multiple_of(16), 0);
        if let Some(slot) = self.slots.get(&bytes) {
            return Ok(*slot);
        }
        let size = bytes.len() as u64;
        let offset = self.used.next_multiple_of(self.align);
        if offset + size > Self::BYTES {
            return Err(UniformsFull);
        }
        let buffer = self.buffer.get_or_insert_with(|| ctx.uniform_buffer(Self::BYTES, "uniforms"));
        ctx.write(buffer, offset, &bytes);
        self.used = offset + size;
        let slot = UniformSlot { offset, size };
        self.slots.insert(bytes, slot);
        Ok(slot)
    }

    /// Keeps everything stored so far through every [`UniformArena::recycle`].
    pub fn seal(&mut self) {
        self.sealed = self.used;
    }

    /// Frees the space stored after [`UniformArena::seal`]: every dispatch built since then
    /// must be dropped or rebuilt before it is submitted again (work already submitted is
    /// safe: later writes reach the buffer in queue order).
    pub fn recycle(&mut self) {
        let sealed = self.sealed;
        self.slots.retain(|_, s| s.offset < sealed);
        self.used = sealed;
    }

    /// Bytes in use.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The binding of a slot.
    pub fn binding(&self, slot: UniformSlot) -> wgpu::BindingResource<'_> {
        let buffer = self.buffer.as_ref().expect("a slot exists only once the buffer does");
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer,
            offset: slot.offset,
            size: wgpu::BufferSize::new(slot.size),
        })
    }
}

/// A WGSL scalar type a uniform field can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniformScalar {
    /// `u32`
    U32,
    /// `i32`
    I32,
    /// `f32`
    F32,
}

/// The Rust types that are WGSL scalars in a uniform struct.
pub trait UniformScalarType {
    /// Its WGSL scalar.
    const SCALAR: UniformScalar;
}

impl UniformScalarType for u32 {
    const SCALAR: UniformScalar = UniformScalar::U32;
}

impl UniformScalarType for i32 {
    const SCALAR: UniformScalar = UniformScalar::I32;
}

impl UniformScalarType for f32 {
    const SCALAR: UniformScalar = UniformScalar::F32;
}

/// One field of a uniform struct as Rust lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniformField {
    /// The field's name (the WGSL member has the same).
    pub name: &'static str,
    /// Its scalar type.
    pub ty: UniformScalar,
    /// Its byte offset.
    pub offset: u32,
}

/// A `#[repr(C)]` struct a kernel writes into a uniform buffer and a WGSL struct mirrors:
/// its fields as Rust lays them out, which the contract test (tests/contract.rs) compares with
/// the WGSL struct through naga's reflection.
pub trait Uniform: bytemuck::Pod {
    /// The fields in order.
    const FIELDS: &'static [UniformField];
}

/// Declares a uniform struct (`#[repr(C)]`, `Pod`) of scalar fields and its [`Uniform`] field
/// list, from one definition, so the list is the struct.
#[macro_export]
macro_rules! uniform_struct {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $crate::gpu::Uniform for $name {
            const FIELDS: &'static [$crate::gpu::UniformField] = &[
                $($crate::gpu::UniformField {
                    name: stringify!($field),
                    ty: <$ty as $crate::gpu::UniformScalarType>::SCALAR,
                    offset: std::mem::offset_of!($name, $field) as u32,
                }),*
            ];
        }
    };
}
