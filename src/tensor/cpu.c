/* tensor: CPU feature detection (CPUID + XGETBV) and the process-wide choice of kernel ISA
 * used by lo_vec_dot/lo_matmul; LLMOPS_ISA=scalar|avx2|avx512 forces a lower ISA. */
#include "llmops/tensor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LO_X86 1
#else
#define LO_X86 0
#endif

static lo_cpu_features g_features;
static lo_isa g_best = LO_ISA_SCALAR;
static _Atomic int g_current = LO_ISA_SCALAR;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#if LO_X86
/* XCR0: which register states the OS saves on context switch. Inline asm so this file
 * needs no -mxsave. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void detect(lo_cpu_features *f) {
    memset(f, 0, sizeof *f);
#if LO_X86
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    uint64_t xcr0 = read_xcr0();
    bool os_ymm = (xcr0 & 0x6) == 0x6;    /* SSE + AVX state */
    bool os_zmm = (xcr0 & 0xe6) == 0xe6;  /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!os_ymm) return;
    f->fma = fma;
    f->f16c = f16c;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return;
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    f->avx2 = (b >> 5) & 1;
    if (os_zmm) {
        f->avx512f = (b >> 16) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
    }
    unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    if (a >= 1) __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    f->avxvnni = (a1 >> 4) & 1;
    if (os_zmm) f->avx512bf16 = (a1 >> 5) & 1;
#endif
}

static lo_isa best_of(const lo_cpu_features *f) {
#if LO_X86
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx2 && f->fma && f->f16c) return LO_ISA_AVX512;
    if (f->avx2 && f->fma && f->f16c) return LO_ISA_AVX2;
#else
    (void)f;
#endif
    return LO_ISA_SCALAR;
}

static void init_once(void) {
    detect(&g_features);
    g_best = best_of(&g_features);
    lo_isa cur = g_best;
    const char *env = getenv("LLMOPS_ISA");
    if (env && *env) {
        lo_isa want = cur;
        if (!strcmp(env, "scalar")) want = LO_ISA_SCALAR;
        else if (!strcmp(env, "avx2")) want = LO_ISA_AVX2;
        else if (!strcmp(env, "avx512")) want = LO_ISA_AVX512;
        /* Only ever lowers: forcing an ISA the CPU lacks would fault. */
        if (want < cur) cur = want;
    }
    atomic_store(&g_current, (int)cur);
}

const lo_cpu_features *lo_cpu_get_features(void) {
    pthread_once(&g_once, init_once);
    return &g_features;
}

lo_isa lo_isa_best(void) {
    pthread_once(&g_once, init_once);
    return g_best;
}

const char *lo_isa_name(lo_isa isa) {
    switch (isa) {
    case LO_ISA_SCALAR: return "scalar";
    case LO_ISA_AVX2: return "avx2";
    case LO_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

bool lo_isa_set(lo_isa isa) {
    pthread_once(&g_once, init_once);
    if ((int)isa < LO_ISA_SCALAR || isa > g_best) return false;
    atomic_store(&g_current, (int)isa);
    return true;
}

lo_isa lo_isa_current(void) {
    pthread_once(&g_once, init_once);
    return (lo_isa)atomic_load_explicit(&g_current, memory_order_relaxed);
}
