/* Bump-pointer arena over one counted block sized up front; reset rewinds it, and
 * peak_bytes records the high-water mark so callers can size the next one. */
#include "llmops/base.h"

#include <string.h>

lo_status lo_arena_init(lo_arena *a, size_t cap_bytes) {
    LO_ASSERT(a);
    memset(a, 0, sizeof *a);
    /* 64-byte aligned base so SIMD-friendly alignments inside hold absolutely. */
    a->base = lo_malloc_aligned(cap_bytes ? cap_bytes : 1, 64);
    if (!a->base) return lo_error_wrap(LO_ERR_NOMEM, "creating a %zu-byte arena", cap_bytes);
    a->cap_bytes = cap_bytes;
    return LO_OK;
}

void *lo_arena_alloc(lo_arena *a, size_t bytes, size_t align) {
    LO_ASSERT(a);
    if (align == 0) align = 1;
    LO_ASSERT((align & (align - 1)) == 0);
    uintptr_t base = (uintptr_t)a->base;
    uintptr_t cur, aligned;
    size_t off, end;
    if (lo_add_overflow((size_t)base, a->used_bytes, &cur) || lo_add_overflow(cur, align - 1, &aligned)) goto full;
    aligned &= ~(uintptr_t)(align - 1);
    off = aligned - base;
    if (lo_add_overflow(off, bytes, &end) || end > a->cap_bytes) goto full;
    a->used_bytes = end;
    if (end > a->peak_bytes) a->peak_bytes = end;
    return a->base + off;
full:
    lo_error(LO_ERR_NOMEM, "the arena was sized too small; this is a sizing bug or the input is larger than planned",
             "arena full: %zu bytes (align %zu) requested, %zu of %zu used", bytes, align, a->used_bytes, a->cap_bytes);
    return NULL;
}

void lo_arena_reset(lo_arena *a) {
    LO_ASSERT(a);
    a->used_bytes = 0;
}

void lo_arena_free(lo_arena *a) {
    if (!a) return;
    lo_free(a->base);
    memset(a, 0, sizeof *a);
}
