/* GLUE: uBPF's CMake generates ubpf_config.h; these are its default values. */
#ifndef UBPF_CONFIG_H
#define UBPF_CONFIG_H
#ifndef UBPF_MAX_INSTS
#define UBPF_MAX_INSTS 65536
#endif
#ifndef UBPF_MAX_CALL_DEPTH
#define UBPF_MAX_CALL_DEPTH 8
#endif
#ifndef UBPF_EBPF_STACK_SIZE
#define UBPF_EBPF_STACK_SIZE (UBPF_MAX_CALL_DEPTH * 512)
#endif
#ifndef UBPF_EBPF_LOCAL_FUNCTION_STACK_SIZE
#define UBPF_EBPF_LOCAL_FUNCTION_STACK_SIZE 256
#endif
/* Older ebpf.h files lack JA32, which newer ubpf_vm.c files use. */
#ifndef EBPF_OP_JA32
#define EBPF_OP_JA32 (EBPF_CLS_JMP32 | EBPF_MODE_JA)
#endif
#endif
