//! Dispatches and the recorder that encodes a whole step into one command encoder.

use std::sync::Arc;

use super::{GpuContext, Pipeline};

/// One kernel launch, fully described: pipeline, bound resources, workgroup counts.
/// Built once (at load for a model's decode step) and recorded as often as needed.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Its bind group 0.
    pub bind_group: wgpu::BindGroup,
    /// Workgroups in x, y, z.
    pub workgroups: [u32; 3],
}

impl Dispatch {
    /// Binds `resources` to bindings 0, 1, 2, … of the pipeline's group 0.
    pub fn new(
        ctx: &GpuContext,
        pipeline: Arc<Pipeline>,
        resources: &[wgpu::BindingResource<'_>],
        workgroups: [u32; 3],
    ) -> Self {
        let numbered: Vec<(u32, wgpu::BindingResource<'_>)> =
            resources.iter().enumerate().map(|(i, r)| (i as u32, r.clone())).collect();
        Self::with_bindings(ctx, pipeline, &numbered, workgroups)
    }

    /// Binds each `(binding, resource)` of the pipeline's group 0 (for entry points that use
    /// only some of their file's bindings).
    pub fn with_bindings(
        ctx: &GpuContext,
        pipeline: Arc<Pipeline>,
        resources: &[(u32, wgpu::BindingResource<'_>)],
        workgroups: [u32; 3],
    ) -> Self {
        let entries: Vec<wgpu::BindGroupEntry<'_>> =
            resources.iter().map(|(i, r)| wgpu::BindGroupEntry { binding: *i, resource: r.clone() }).collect();
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(pipeline.key.shader),
            layout: &pipeline.layout,
            entries: &entries,
        });
        Dispatch { pipeline, bind_group, workgroups }
    }
}

/// Encodes dispatches into one command encoder; `submit` sends them in one `queue.submit`.
pub struct Recorder {
    encoder: wgpu::CommandEncoder,
}

impl Recorder {
    /// A new, empty recording.
    pub fn new(ctx: &GpuContext) -> Self {
        Recorder { encoder: ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") }) }
    }

    /// Records `dispatches` in order in one compute pass (each sees the previous one's writes).
    pub fn record(&mut self, dispatches: &[Dispatch]) {
        let mut pass =
            self.encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        for d in dispatches {
            pass.set_pipeline(&d.pipeline.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            let [x, y, z] = d.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
    }

    /// The encoder, for copies between dispatches.
    pub fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        &mut self.encoder
    }

    /// Submits everything recorded; the index lets a read-back wait for just this submit.
    pub fn submit(self, ctx: &GpuContext) -> wgpu::SubmissionIndex {
        ctx.queue.submit([self.encoder.finish()])
    }
}
