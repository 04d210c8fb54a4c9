// kv_write: stores this step's keys or values in the cache.
// src (n_tokens, width) act -> cache (cache_len, width) act at slot (step.pos0 + t) % cache_len.
// A sliding-window layer's cache is a ring of cache_len >= window + n_tokens - 1 slots.
#include "common/header.wgsl"
#include "common/step.wgsl"

override WG: u32 = 64u;

struct Params {
    width: u32,
    cache_len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<act>;
@group(0) @binding(1) var<storage, read_write> cache: array<act>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn kv_write(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= step.n_tokens * p.width) {
        return;
    }
    let t = i / p.width;
    let slot = (step.pos0 + t) % p.cache_len;
    cache[slot * p.width + i % p.width] = src[i];
}
