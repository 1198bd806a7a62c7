/* ubpf-driver: times the uBPF interpreter (ubpf_exec) on one program.
 *
 *   ubpf-driver [-n RUNS | -t SECONDS] [-insns N] [-mem FILE] PROGRAM.hex
 *
 * PROGRAM.hex: space-separated bytecode bytes (shared/bench format).
 * -mem FILE:   raw bytes passed as the context (r1 = buffer, r2 = its length);
 *              copied back to its initial contents before every run, because
 *              programs may rewrite it (the copy is inside the timed loop, as
 *              in simfs's BenchmarkPrograms).
 * -n RUNS:     run exactly RUNS times (after one untimed check run);
 *              otherwise double the count until a batch takes >= -t seconds (default 1).
 * -insns N:    executed instructions per run, to print ns per instruction.
 *
 * Output (one line):  r0=0x... runs=N ns_per_run=X ns_per_insn=Y
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ubpf.h"

static uint8_t*
read_file(const char* path, size_t* len)
{
    FILE* f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t* buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static uint8_t*
parse_hex(const char* text, size_t text_len, size_t* out_len)
{
    uint8_t* out = malloc(text_len / 2 + 1);
    size_t n = 0;
    int half = -1;
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            if (half >= 0) {
                fprintf(stderr, "odd hex digit count\n");
                exit(2);
            }
            continue;
        } else {
            fprintf(stderr, "bad hex character %c\n", c);
            exit(2);
        }
        if (half < 0)
            half = v;
        else {
            out[n++] = (uint8_t)(half << 4 | v);
            half = -1;
        }
    }
    if (half >= 0) {
        fprintf(stderr, "odd hex digit count\n");
        exit(2);
    }
    *out_len = n;
    return out;
}

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const struct ubpf_vm* g_vm;
static uint8_t *g_mem, *g_pristine;
static size_t g_mem_len;

static uint64_t
run_batch(uint64_t runs, double* elapsed_ns)
{
    uint64_t r0 = 0;
    double t0 = now_ns();
    for (uint64_t i = 0; i < runs; i++) {
        if (g_mem)
            memcpy(g_mem, g_pristine, g_mem_len);
        if (ubpf_exec(g_vm, g_mem, g_mem_len, &r0) != 0) {
            fprintf(stderr, "ubpf_exec failed\n");
            exit(1);
        }
    }
    *elapsed_ns = now_ns() - t0;
    return r0;
}

int
main(int argc, char** argv)
{
    uint64_t runs = 0;
    double target_s = 1.0;
    double insns = 0;
    const char* mem_path = NULL;
    const char* prog_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            runs = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            target_s = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "-insns") && i + 1 < argc)
            insns = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "-mem") && i + 1 < argc)
            mem_path = argv[++i];
        else if (argv[i][0] != '-' && !prog_path)
            prog_path = argv[i];
        else {
            fprintf(stderr, "usage: %s [-n RUNS | -t SECONDS] [-insns N] [-mem FILE] PROGRAM.hex\n", argv[0]);
            return 2;
        }
    }
    if (!prog_path) {
        fprintf(stderr, "usage: %s [-n RUNS | -t SECONDS] [-insns N] [-mem FILE] PROGRAM.hex\n", argv[0]);
        return 2;
    }

    size_t text_len, code_len;
    char* text = (char*)read_file(prog_path, &text_len);
    uint8_t* code = parse_hex(text, text_len, &code_len);

    if (mem_path) {
        g_pristine = read_file(mem_path, &g_mem_len);
        g_mem = malloc(g_mem_len ? g_mem_len : 1);
        memcpy(g_mem, g_pristine, g_mem_len);
    }

    struct ubpf_vm* vm = ubpf_create();
    if (!vm) {
        fprintf(stderr, "ubpf_create failed\n");
        return 1;
    }
    char* errmsg = NULL;
    if (ubpf_load(vm, code, (uint32_t)code_len, &errmsg) != 0) {
        fprintf(stderr, "ubpf_load: %s\n", errmsg ? errmsg : "?");
        return 1;
    }
    g_vm = vm;

    double elapsed;
    uint64_t r0 = run_batch(1, &elapsed); /* check run, untimed */
    if (runs == 0) {
        runs = 1;
        for (;;) {
            run_batch(runs, &elapsed);
            if (elapsed >= target_s * 1e9 || runs >= (1ull << 40))
                break;
            /* Grow like testing.B: predict from the last batch, at most 100x. */
            double want = target_s * 1e9 * 1.2 / (elapsed > 0 ? elapsed / (double)runs : 1);
            uint64_t next = (uint64_t)want;
            if (next > runs * 100)
                next = runs * 100;
            if (next <= runs)
                next = runs + 1;
            runs = next;
        }
    }
    uint64_t r0b = run_batch(runs, &elapsed);
    if (r0b != r0) {
        fprintf(stderr, "r0 differs between runs: %#llx vs %#llx\n", (unsigned long long)r0, (unsigned long long)r0b);
        return 1;
    }
    double per_run = elapsed / (double)runs;
    printf(
        "r0=0x%llx runs=%llu ns_per_run=%.3f ns_per_insn=%.4f\n",
        (unsigned long long)r0,
        (unsigned long long)runs,
        per_run,
        insns > 0 ? per_run / insns : 0.0);
    ubpf_destroy(vm);
    return 0;
}
