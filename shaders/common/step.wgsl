// Per-step state written by the host once per step: the position of the step's first token
// and the number of tokens in it. Kernels that depend on positions bind it.
struct Step {
    pos0: u32,
    n_tokens: u32,
    counter: u32,
    _pad: u32,
}
