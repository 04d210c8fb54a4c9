//! `UniformArena`: kernel parameters packed into shared uniform buffers, each at an offset
//! aligned to the device's `minUniformBufferOffsetAlignment`. Parameters are written once when
//! a dispatch is built (at load), never per token. Equal parameters share one slot, so
//! rebuilding a step (a prefill chunk of a length seen before) allocates nothing new.

use std::collections::HashMap;

use super::GpuContext;

/// Bytes per arena buffer; another buffer is chained when one fills up.
const ARENA_BYTES: u64 = 256 << 10;

/// Uniform buffers holding many small parameter structs.
pub struct UniformArena {
    buffers: Vec<wgpu::Buffer>,
    used: u64,
    align: u64,
    /// Slots by their bytes (written once, never changed, so sharing is safe).
    slots: HashMap<Vec<u8>, UniformSlot>,
}

/// Where one parameter struct lives.
#[derive(Clone, Copy, Debug)]
pub struct UniformSlot {
    buffer: usize,
    /// Byte offset in its buffer.
    pub offset: u64,
    /// Size in bytes (a multiple of 16, as uniform structs are).
    pub size: u64,
}

impl UniformArena {
    /// An empty arena.
    pub fn new(ctx: &GpuContext) -> Self {
        let align = u64::from(ctx.limits.min_uniform_buffer_offset_alignment);
        UniformArena { buffers: Vec::new(), used: ARENA_BYTES, align, slots: HashMap::new() }
    }

    /// Stores `value` (uploading it now, unless an equal value is stored) and returns its slot.
    pub fn push<T: bytemuck::Pod>(&mut self, ctx: &GpuContext, value: &T) -> UniformSlot {
        let mut bytes = bytemuck::bytes_of(value).to_vec();
        bytes.resize(bytes.len().next_multiple_of(16), 0);
        if let Some(slot) = self.slots.get(&bytes) {
            return *slot;
        }
        let size = bytes.len() as u64;
        let mut offset = self.used.next_multiple_of(self.align);
        if offset + size > ARENA_BYTES {
            self.buffers.push(ctx.uniform_buffer(ARENA_BYTES, "uniforms"));
            offset = 0;
        }
        let buffer = self.buffers.len() - 1;
        ctx.write(&self.buffers[buffer], offset, &bytes);
        self.used = offset + size;
        let slot = UniformSlot { buffer, offset, size };
        self.slots.insert(bytes, slot);
        slot
    }

    /// The binding of a slot.
    pub fn binding(&self, slot: UniformSlot) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffers[slot.buffer],
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
