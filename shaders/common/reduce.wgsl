// Workgroup-wide reductions of one f32 per invocation, for workgroups of WG invocations
// (WG a power of two, at most 256). With SUBGROUPS, subgroupAdd/Max do most of the work and
// only one value per subgroup goes through workgroup memory; without, a shared-memory tree.
// Every invocation of the workgroup must call these in uniform control flow. ONE_SUBGROUP:
// the workgroup is exactly one subgroup (WG = the adapter's only subgroup size), and a
// reduction is one subgroup operation: no workgroup memory, no barrier (CPU adapters run
// workgroups with barriers as coroutines and pay for it per workgroup).

var<private> sg_size: u32 = 1u;
var<private> sg_lane: u32 = 0u;

#ifdef ONE_SUBGROUP
fn reduce_sum(v: f32, lid: u32) -> f32 {
    return subgroupAdd(v);
}

fn reduce_max(v: f32, lid: u32) -> f32 {
    return subgroupMax(v);
}
#else
var<workgroup> red_buf: array<f32, 256>;

fn reduce_sum(v: f32, lid: u32) -> f32 {
    workgroupBarrier();
#ifdef SUBGROUPS
    let s = subgroupAdd(v);
    if (sg_lane == 0u) {
        red_buf[lid / sg_size] = s;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var i = 0u; i < (WG + sg_size - 1u) / sg_size; i++) {
        total += red_buf[i];
    }
    return total;
#else
    red_buf[lid] = v;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            red_buf[lid] += red_buf[lid + s];
        }
    }
    workgroupBarrier();
    return red_buf[0];
#endif
}

fn reduce_max(v: f32, lid: u32) -> f32 {
    workgroupBarrier();
#ifdef SUBGROUPS
    let s = subgroupMax(v);
    if (sg_lane == 0u) {
        red_buf[lid / sg_size] = s;
    }
    workgroupBarrier();
    var m = red_buf[0];
    for (var i = 1u; i < (WG + sg_size - 1u) / sg_size; i++) {
        m = max(m, red_buf[i]);
    }
    return m;
#else
    red_buf[lid] = v;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            red_buf[lid] = max(red_buf[lid], red_buf[lid + s]);
        }
    }
    workgroupBarrier();
    return red_buf[0];
#endif
}
#endif
