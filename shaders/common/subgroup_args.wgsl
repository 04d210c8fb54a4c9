// Entry-point parameters for the subgroup reductions of common/reduce.wgsl: include inside the
// parameter list of every entry point that reduces, then common/subgroup_init.wgsl in its body.
#ifdef SUBGROUPS
    @builtin(subgroup_size) sgs: u32,
    @builtin(subgroup_invocation_id) sgl: u32,
#endif
