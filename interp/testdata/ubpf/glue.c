/* glue.c: the JIT is not built; these stand in for ubpf_jit_x86_64.c's entry points
 * that ubpf_create() stores (never called by the interpreter). Without
 * ubpf_instruction_valid.c (build.sh compiles it when the checkout has it), its
 * load-time field filter is replaced by "valid": it is not on the execution path,
 * and the benchmark programs are valid. Part of simfs, not of uBPF. */
#include "ubpf_int.h"

struct ubpf_jit_result
ubpf_translate_x86_64(struct ubpf_vm* vm, uint8_t* buffer, size_t* size, enum JitMode jit_mode)
{
    struct ubpf_jit_result r = {0};
    (void)vm; (void)buffer; (void)size;
    r.compile_result = UBPF_JIT_COMPILE_FAILURE;
    r.jit_mode = jit_mode;
    return r;
}
bool
ubpf_jit_update_dispatcher_x86_64(
    struct ubpf_vm* vm, external_function_dispatcher_t new_dispatcher, uint8_t* buffer, size_t size, uint32_t offset)
{
    (void)vm; (void)new_dispatcher; (void)buffer; (void)size; (void)offset;
    return false;
}
bool
ubpf_jit_update_helper_x86_64(
    struct ubpf_vm* vm, extended_external_helper_t new_helper, unsigned int idx, uint8_t* buffer, size_t size,
    uint32_t offset)
{
    (void)vm; (void)new_helper; (void)idx; (void)buffer; (void)size; (void)offset;
    return false;
}
#ifndef UBPF_HAVE_VALIDATOR
bool
ubpf_is_valid_instruction(const struct ebpf_inst inst, char** errmsg)
{
    (void)inst; (void)errmsg;
    return true;
}
#endif
