/* Counted allocation: every block carries a 16-byte header (size, offset back to the
 * malloc'd start, magic, log2 alignment) so lo_free handles plain and aligned blocks
 * alike, and live/peak byte counters (atomic) can enforce an optional hard limit. */
#include "llmops/base.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Sits immediately before the pointer handed out. 16 bytes keeps malloc's 16-byte
 * alignment for plain blocks. */
typedef struct lo_alloc_hdr {
    uint64_t size;   /* bytes requested by the caller (counted) */
    uint32_t offset; /* user pointer - malloc'd pointer */
    uint16_t magic;
    uint8_t align_log2; /* 0 for plain blocks */
    uint8_t pad_;
} lo_alloc_hdr;
_Static_assert(sizeof(lo_alloc_hdr) == 16, "allocation header must be 16 bytes");

#define LO_ALLOC_MAGIC 0xA11Cu
#define LO_ALLOC_HDR 16u
#define LO_ALLOC_MAX_ALIGN ((size_t)1 << 30)

static atomic_size_t live_bytes;
static atomic_size_t peak_bytes;
static atomic_size_t limit_bytes;

static bool reserve(size_t n) {
    size_t now = atomic_fetch_add(&live_bytes, n) + n;
    size_t lim = atomic_load(&limit_bytes);
    if (lim && (now > lim || now < n)) {
        atomic_fetch_sub(&live_bytes, n);
        lo_error(LO_ERR_NOMEM, "raise the memory limit or use a smaller model/batch",
                 "out of memory: allocating %zu bytes would exceed the limit of %zu bytes "
                 "(%zu live)",
                 n, lim, now - n);
        return false;
    }
    size_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {
    }
    return true;
}

static void release(size_t n) {
    atomic_fetch_sub(&live_bytes, n);
}

static void *oom(size_t n) {
    lo_error(LO_ERR_NOMEM, NULL, "out of memory: allocating %zu bytes failed", n);
    return NULL;
}

static lo_alloc_hdr *hdr_of(void *p) {
    lo_alloc_hdr *h = (lo_alloc_hdr *)((uint8_t *)p - LO_ALLOC_HDR);
    LO_ASSERT(h->magic == LO_ALLOC_MAGIC); /* not from lo_malloc, or freed twice */
    return h;
}

void *lo_malloc(size_t bytes) {
    size_t total;
    if (bytes == 0) bytes = 1; /* a valid, unique pointer */
    if (lo_add_overflow(bytes, LO_ALLOC_HDR, &total)) return oom(bytes);
    if (!reserve(bytes)) return NULL;
    uint8_t *raw = malloc(total);
    if (!raw) {
        release(bytes);
        return oom(bytes);
    }
    lo_alloc_hdr *h = (lo_alloc_hdr *)raw;
    h->size = bytes;
    h->offset = LO_ALLOC_HDR;
    h->magic = LO_ALLOC_MAGIC;
    h->align_log2 = 0;
    h->pad_ = 0;
    return raw + LO_ALLOC_HDR;
}

void *lo_calloc(size_t n, size_t size) {
    size_t bytes;
    if (lo_mul_overflow(n, size, &bytes)) {
        lo_error(LO_ERR_NOMEM, NULL, "out of memory: %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = lo_malloc(bytes);
    if (p) memset(p, 0, bytes ? bytes : 1);
    return p;
}

void *lo_malloc_aligned(size_t bytes, size_t align) {
    if (align < 16) align = 16;
    if ((align & (align - 1)) != 0 || align > LO_ALLOC_MAX_ALIGN) {
        lo_error(LO_ERR_INVALID, NULL, "alignment %zu is not a power of two up to 2^30", align);
        return NULL;
    }
    if (bytes == 0) bytes = 1;
    size_t total;
    if (lo_add_overflow(bytes, align, &total) || lo_add_overflow(total, LO_ALLOC_HDR, &total)) return oom(bytes);
    if (!reserve(bytes)) return NULL;
    uint8_t *raw = malloc(total);
    if (!raw) {
        release(bytes);
        return oom(bytes);
    }
    uintptr_t u = ((uintptr_t)raw + LO_ALLOC_HDR + align - 1) & ~(uintptr_t)(align - 1);
    uint8_t *p = (uint8_t *)u;
    lo_alloc_hdr *h = (lo_alloc_hdr *)(p - LO_ALLOC_HDR);
    h->size = bytes;
    h->offset = (uint32_t)(p - raw);
    h->magic = LO_ALLOC_MAGIC;
    h->align_log2 = (uint8_t)__builtin_ctzll((unsigned long long)align);
    h->pad_ = 0;
    return p;
}

void lo_free(void *p) {
    if (!p) return;
    lo_alloc_hdr *h = hdr_of(p);
    size_t size = (size_t)h->size;
    uint8_t *raw = (uint8_t *)p - h->offset;
    h->magic = 0;
    release(size);
    free(raw);
}

void *lo_realloc(void *p, size_t bytes) {
    if (!p) return lo_malloc(bytes);
    if (bytes == 0) bytes = 1;
    lo_alloc_hdr *h = hdr_of(p);
    size_t old = (size_t)h->size;
    if (h->align_log2 != 0) {
        /* Aligned blocks keep their alignment: allocate anew and copy. */
        void *q = lo_malloc_aligned(bytes, (size_t)1 << h->align_log2);
        if (!q) return NULL;
        memcpy(q, p, old < bytes ? old : bytes);
        lo_free(p);
        return q;
    }
    size_t total;
    if (lo_add_overflow(bytes, LO_ALLOC_HDR, &total)) return oom(bytes);
    if (bytes > old && !reserve(bytes - old)) return NULL;
    uint8_t *raw = realloc((uint8_t *)p - LO_ALLOC_HDR, total);
    if (!raw) {
        if (bytes > old) release(bytes - old);
        return oom(bytes);
    }
    if (bytes < old) release(old - bytes);
    h = (lo_alloc_hdr *)raw;
    h->size = bytes;
    return raw + LO_ALLOC_HDR;
}

char *lo_strdup(const char *s) {
    if (!s) return NULL;
    return lo_strndup(s, strlen(s));
}

char *lo_strndup(const char *s, size_t n) {
    if (!s) return NULL;
    size_t len = strnlen(s, n), total;
    if (lo_add_overflow(len, 1, &total)) return oom(len);
    char *d = lo_malloc(total);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void lo_alloc_set_limit(size_t bytes) {
    atomic_store(&limit_bytes, bytes);
}
size_t lo_alloc_live_bytes(void) {
    return atomic_load(&live_bytes);
}
size_t lo_alloc_peak_bytes(void) {
    return atomic_load(&peak_bytes);
}
