/* String → int64 hash map: open addressing with linear probing over a power-of-two
 * table (grown at 0.7 load); keys are byte strings (NULs allowed) copied into one pool.
 * Sized for tokenizer vocabularies (150k+ keys). */
#include "llmops/base.h"

#include <string.h>

typedef struct lo_strmap_slot {
    uint64_t hash;  /* 0 = empty; stored hashes have the top bit set */
    size_t key_off; /* into pool */
    size_t key_len;
    int64_t value;
} lo_strmap_slot;

struct lo_strmap {
    lo_strmap_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    char *pool;
    size_t pool_len, pool_cap;
};

/* FNV-1a over the bytes, then a murmur3 finaliser so the low bits (the slot index) mix. */
static uint64_t hash_key(const char *key, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    const uint8_t *p = (const uint8_t *)key;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h | (1ull << 63);
}

static lo_status alloc_slots(lo_strmap *m, size_t cap) {
    lo_strmap_slot *s = lo_calloc(cap, sizeof *s);
    if (!s) return lo_error_wrap(LO_ERR_NOMEM, "growing a string map to %zu slots", cap);
    m->slots = s;
    m->cap = cap;
    return LO_OK;
}

static size_t cap_for(size_t n) {
    size_t want = n + n / 2 + 1; /* n / cap ≤ ~0.67 */
    size_t cap = 16;
    while (cap < want && cap < ((size_t)1 << 62)) cap <<= 1;
    return cap;
}

lo_status lo_strmap_create(size_t expected, lo_strmap **out) {
    LO_ASSERT(out);
    *out = NULL;
    if (expected > ((size_t)1 << 40))
        return lo_error(LO_ERR_RANGE, NULL, "string map of %zu keys is too large", expected);
    lo_strmap *m = lo_calloc(1, sizeof *m);
    if (!m) return lo_error_wrap(LO_ERR_NOMEM, "creating a string map");
    lo_status s = alloc_slots(m, cap_for(expected));
    if (s != LO_OK) {
        lo_free(m);
        return s;
    }
    *out = m;
    return LO_OK;
}

void lo_strmap_free(lo_strmap *m) {
    if (!m) return;
    lo_free(m->slots);
    lo_free(m->pool);
    lo_free(m);
}

static lo_strmap_slot *find(const lo_strmap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        lo_strmap_slot *s = &m->slots[i];
        if (s->hash == 0) return s;
        if (s->hash == h && s->key_len == len && (len == 0 || memcmp(m->pool + s->key_off, key, len) == 0)) return s;
    }
}

static lo_status grow(lo_strmap *m) {
    lo_strmap_slot *old = m->slots;
    size_t old_cap = m->cap;
    if (old_cap > ((size_t)1 << 60)) return lo_error(LO_ERR_NOMEM, NULL, "string map is too large");
    lo_status s = alloc_slots(m, old_cap * 2);
    if (s != LO_OK) {
        m->slots = old;
        m->cap = old_cap;
        return s;
    }
    size_t mask = m->cap - 1;
    for (size_t j = 0; j < old_cap; j++) {
        if (!old[j].hash) continue;
        size_t i = (size_t)old[j].hash & mask;
        while (m->slots[i].hash) i = (i + 1) & mask;
        m->slots[i] = old[j];
    }
    lo_free(old);
    return LO_OK;
}

lo_status lo_strmap_put(lo_strmap *m, const char *key, size_t key_len, int64_t value) {
    LO_ASSERT(m && (key || key_len == 0));
    uint64_t h = hash_key(key, key_len);
    lo_strmap_slot *s = find(m, key, key_len, h);
    if (s->hash) {
        s->value = value;
        return LO_OK;
    }
    if ((m->count + 1) * 10 > m->cap * 7) {
        lo_status st = grow(m);
        if (st != LO_OK) return st;
        s = find(m, key, key_len, h);
    }
    size_t need;
    if (lo_add_overflow(m->pool_len, key_len, &need))
        return lo_error(LO_ERR_NOMEM, NULL, "string map key pool overflow");
    if (need > m->pool_cap) {
        size_t ncap = m->pool_cap ? m->pool_cap : 4096;
        while (ncap < need) {
            if (lo_mul_overflow(ncap, 2, &ncap)) return lo_error(LO_ERR_NOMEM, NULL, "string map key pool overflow");
        }
        char *np = lo_realloc(m->pool, ncap);
        if (!np) return lo_error_wrap(LO_ERR_NOMEM, "growing a string map's key pool");
        m->pool = np;
        m->pool_cap = ncap;
    }
    if (key_len) memcpy(m->pool + m->pool_len, key, key_len);
    s->hash = h;
    s->key_off = m->pool_len;
    s->key_len = key_len;
    s->value = value;
    m->pool_len = need;
    m->count++;
    return LO_OK;
}

bool lo_strmap_get(const lo_strmap *m, const char *key, size_t key_len, int64_t *value) {
    if (!m || (!key && key_len)) return false;
    const lo_strmap_slot *s = find(m, key, key_len, hash_key(key, key_len));
    if (!s->hash) return false;
    if (value) *value = s->value;
    return true;
}

size_t lo_strmap_count(const lo_strmap *m) {
    return m ? m->count : 0;
}
