/* Model quantisation as llama-quantize does it (no importance matrix): the same per-tensor
 * type choice for each file type and mix, ggml's reference quantisers (lo_quantize_row),
 * the same KV edits and tensor order, so that the output is byte-identical to
 * llama-quantize's. Tensors are streamed: peak memory is about one output tensor. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/quantize_internal.h"

/* ---- file type names ------------------------------------------------------------------ */

static const struct {
    const char *name;
    lo_ftype ftype;
} ftype_names[] = {
    {"F32", LO_FTYPE_ALL_F32},   {"F16", LO_FTYPE_F16},       {"BF16", LO_FTYPE_BF16},
    {"Q4_0", LO_FTYPE_Q4_0},     {"Q4_1", LO_FTYPE_Q4_1},     {"Q5_0", LO_FTYPE_Q5_0},
    {"Q5_1", LO_FTYPE_Q5_1},     {"Q8_0", LO_FTYPE_Q8_0},     {"Q2_K", LO_FTYPE_Q2_K},
    {"Q3_K_S", LO_FTYPE_Q3_K_S}, {"Q3_K_M", LO_FTYPE_Q3_K_M}, {"Q3_K_L", LO_FTYPE_Q3_K_L},
    {"Q4_K_S", LO_FTYPE_Q4_K_S}, {"Q4_K_M", LO_FTYPE_Q4_K_M}, {"Q5_K_S", LO_FTYPE_Q5_K_S},
    {"Q5_K_M", LO_FTYPE_Q5_K_M}, {"Q6_K", LO_FTYPE_Q6_K},
};
#define N_FTYPE_NAMES ((int)(sizeof ftype_names / sizeof ftype_names[0]))

int lo_ftype_from_name(const char *name) {
    if (!name) return -1;
    /* llama-quantize's aliases: the bare K-quant names mean the _M mix. */
    if (!strcasecmp(name, "Q3_K")) return LO_FTYPE_Q3_K_M;
    if (!strcasecmp(name, "Q4_K")) return LO_FTYPE_Q4_K_M;
    if (!strcasecmp(name, "Q5_K")) return LO_FTYPE_Q5_K_M;
    for (int i = 0; i < N_FTYPE_NAMES; i++)
        if (!strcasecmp(name, ftype_names[i].name)) return (int)ftype_names[i].ftype;
    return -1;
}

const char *lo_ftype_name(lo_ftype t) {
    for (int i = 0; i < N_FTYPE_NAMES; i++)
        if (ftype_names[i].ftype == t) return ftype_names[i].name;
    return "unknown";
}

bool lo_quant__default_type(lo_ftype ftype, uint32_t *out) {
    uint32_t t;
    switch (ftype) {
    case LO_FTYPE_ALL_F32: t = LO_DTYPE_F32; break;
    case LO_FTYPE_F16: t = LO_DTYPE_F16; break;
    case LO_FTYPE_BF16: t = LO_DTYPE_BF16; break;
    case LO_FTYPE_Q4_0: t = LO_DTYPE_Q4_0; break;
    case LO_FTYPE_Q4_1: t = LO_DTYPE_Q4_1; break;
    case LO_FTYPE_Q5_0: t = LO_DTYPE_Q5_0; break;
    case LO_FTYPE_Q5_1: t = LO_DTYPE_Q5_1; break;
    case LO_FTYPE_Q8_0: t = LO_DTYPE_Q8_0; break;
    case LO_FTYPE_Q2_K: t = LO_DTYPE_Q2_K; break;
    case LO_FTYPE_Q3_K_S: case LO_FTYPE_Q3_K_M: case LO_FTYPE_Q3_K_L: t = LO_DTYPE_Q3_K; break;
    case LO_FTYPE_Q4_K_S: case LO_FTYPE_Q4_K_M: t = LO_DTYPE_Q4_K; break;
    case LO_FTYPE_Q5_K_S: case LO_FTYPE_Q5_K_M: t = LO_DTYPE_Q5_K; break;
    case LO_FTYPE_Q6_K: t = LO_DTYPE_Q6_K; break;
    default: return false;
    }
    *out = t;
    return true;
}

/* ---- tensor order ---------------------------------------------------------------------- */

static int name_layer(const char *s) {
    int layer = -1;
    if (sscanf(s, "blk.%d.", &layer) != 1) layer = -1;
    return layer;
}

int lo_quant__cmp_names(const char *a, const char *b) {
    int la = name_layer(a), lb = name_layer(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

/* ---- type choice (llama.cpp's llama_tensor_get_type) -------------------------------------- */

static bool has(const char *name, const char *part) { return strstr(name, part) != NULL; }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* llama.cpp quantises only 2-D/3-D "*weight" tensors that are not norms, MoE routers,
 * positional tables or a few small per-arch tensors. */
static bool allows_quantization(const lo_qtensor *t) {
    int n_dims = 1;
    for (int d = 3; d >= 1; d--)
        if (t->ne[d] > 1) {
            n_dims = d + 1;
            break;
        }
    if (n_dims < 2) return false;
    const char *n = t->name;
    if (!ends_with(n, "weight")) return false;
    if (has(n, "_norm.weight")) return false;
    if (has(n, "ffn_gate_inp.weight")) return false;
    if (has(n, "altup") || has(n, "laurel") || has(n, "per_layer_model_proj")) return false;
    if (!strcmp(n, "position_embd.weight") || !strcmp(n, "token_types.weight")) return false;
    if (has(n, "ssm_conv1d") || has(n, "shortconv.conv.weight")) return false;
    if (has(n, "time_mix_first.weight") || has(n, "time_mix_w0.weight") || has(n, "time_mix_w1.weight") ||
        has(n, "time_mix_w2.weight") || has(n, "time_mix_v0.weight") || has(n, "time_mix_v1.weight") ||
        has(n, "time_mix_v2.weight") || has(n, "time_mix_a0.weight") || has(n, "time_mix_a1.weight") ||
        has(n, "time_mix_a2.weight") || has(n, "time_mix_g1.weight") || has(n, "time_mix_g2.weight") ||
        has(n, "time_mix_decay_w1.weight") || has(n, "time_mix_decay_w2.weight") ||
        has(n, "time_mix_lerp_fused.weight"))
        return false;
    if (has(n, "attn_rel_b.weight")) return false;
    return true;
}

static bool is_quantized(uint32_t type) {
    const lo_dtype_traits *tr = lo_dtype_get(type);
    return tr && tr->quantized;
}

static int64_t blck(uint32_t type) {
    const lo_dtype_traits *tr = lo_dtype_get(type);
    return tr ? tr->block_elems : 1;
}

static bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

typedef struct qstate {
    const lo_qmodel *m;
    bool falcon, is_70b, has_output;
    int n_attention_wv, i_attention_wv, n_ffn_down, i_ffn_down, n_ffn_gate, i_ffn_gate, n_ffn_up, i_ffn_up;
    int n_fallback;
} qstate;

/* The layer of a per-layer tensor: the running counter, except in MoE models where
 * llama.cpp parses it from the name (experts need not be consecutive). */
static int layer_of(const qstate *qs, int counter, const char *name) {
    if (qs->m->n_expert > 1) {
        int l = name_layer(name);
        return l >= 0 ? l : counter;
    }
    return counter;
}

static uint32_t get_type_mix(qstate *qs, uint32_t new_type, const lo_qtensor *t, lo_ftype ftype) {
    const char *name = t->name;
    const lo_qmodel *m = qs->m;
    const int n_gqa = m->n_head_kv > 0 ? m->n_head / m->n_head_kv : 1;
    if (!strcmp(name, "output.weight") || (!qs->has_output && !strcmp(name, "token_embd.weight"))) {
        /* The output projection (or the tied embedding that serves as it) gets more bits. */
        if (qs->falcon || t->ne[0] % blck(new_type) != 0) new_type = LO_DTYPE_Q8_0;
        else if (new_type != LO_DTYPE_Q8_0) new_type = LO_DTYPE_Q6_K;
    } else if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight")) {
        /* unchanged for the supported (non-IQ) file types */
    } else if (has(name, "attn_v.weight")) {
        if (ftype == LO_FTYPE_Q2_K) new_type = n_gqa >= 4 ? LO_DTYPE_Q4_K : LO_DTYPE_Q3_K;
        else if (ftype == LO_FTYPE_Q3_K_M) new_type = qs->i_attention_wv < 2 ? LO_DTYPE_Q5_K : LO_DTYPE_Q4_K;
        else if (ftype == LO_FTYPE_Q3_K_L) new_type = LO_DTYPE_Q5_K;
        else if ((ftype == LO_FTYPE_Q4_K_M || ftype == LO_FTYPE_Q5_K_M) &&
                 use_more_bits(qs->i_attention_wv, qs->n_attention_wv))
            new_type = LO_DTYPE_Q6_K;
        else if (ftype == LO_FTYPE_Q4_K_S && qs->i_attention_wv < 4) new_type = LO_DTYPE_Q5_K;
        if (qs->is_70b && (new_type == LO_DTYPE_Q3_K || new_type == LO_DTYPE_Q4_K)) new_type = LO_DTYPE_Q5_K;
        if (m->n_expert == 8) new_type = LO_DTYPE_Q8_0;
        ++qs->i_attention_wv;
    } else if (has(name, "attn_k.weight")) {
        if (m->n_expert == 8) new_type = LO_DTYPE_Q8_0;
    } else if (has(name, "ffn_down")) {
        int i_layer = layer_of(qs, qs->i_ffn_down, name), n_layer = qs->n_ffn_down;
        if (ftype == LO_FTYPE_Q2_K) new_type = LO_DTYPE_Q3_K;
        else if (ftype == LO_FTYPE_Q3_K_M)
            new_type = i_layer < n_layer / 16                              ? LO_DTYPE_Q5_K
                       : !qs->falcon || use_more_bits(i_layer, n_layer) ? LO_DTYPE_Q4_K
                                                                          : LO_DTYPE_Q3_K;
        else if (ftype == LO_FTYPE_Q3_K_L) new_type = qs->falcon ? LO_DTYPE_Q4_K : LO_DTYPE_Q5_K;
        else if (ftype == LO_FTYPE_Q4_K_M) {
            if (qs->falcon)
                new_type = i_layer < n_layer / 16 ? LO_DTYPE_Q6_K
                           : use_more_bits(i_layer, n_layer) ? LO_DTYPE_Q5_K
                                                             : LO_DTYPE_Q4_K;
            else if (use_more_bits(i_layer, n_layer))
                new_type = LO_DTYPE_Q6_K;
        } else if (ftype == LO_FTYPE_Q5_K_M && use_more_bits(i_layer, n_layer))
            new_type = LO_DTYPE_Q6_K;
        else if (ftype == LO_FTYPE_Q4_K_S && !qs->falcon && i_layer < n_layer / 8)
            new_type = LO_DTYPE_Q5_K;
        ++qs->i_ffn_down;
    } else if (has(name, "attn_output.weight")) {
        if (!qs->falcon) {
            if (m->n_expert == 8) {
                if (ftype == LO_FTYPE_Q2_K || ftype == LO_FTYPE_Q3_K_S || ftype == LO_FTYPE_Q3_K_M ||
                    ftype == LO_FTYPE_Q4_K_S || ftype == LO_FTYPE_Q4_K_M)
                    new_type = LO_DTYPE_Q5_K;
            } else {
                if (ftype == LO_FTYPE_Q2_K) new_type = LO_DTYPE_Q3_K;
                else if (ftype == LO_FTYPE_Q3_K_M) new_type = LO_DTYPE_Q4_K;
                else if (ftype == LO_FTYPE_Q3_K_L) new_type = LO_DTYPE_Q5_K;
            }
        } else if (ftype == LO_FTYPE_Q3_K_L) {
            new_type = LO_DTYPE_Q4_K;
        }
    } else if (has(name, "attn_qkv.weight")) {
        if (ftype == LO_FTYPE_Q3_K_M || ftype == LO_FTYPE_Q3_K_L) new_type = LO_DTYPE_Q4_K;
        else if (ftype == LO_FTYPE_Q4_K_M) new_type = LO_DTYPE_Q5_K;
        else if (ftype == LO_FTYPE_Q5_K_M) new_type = LO_DTYPE_Q6_K;
    } else if (has(name, "ffn_gate")) {
        ++qs->i_ffn_gate;
    } else if (has(name, "ffn_up")) {
        ++qs->i_ffn_up;
    }
    return new_type;
}

/* Rows that do not fill whole blocks: K-quants fall back to a 32-wide type as llama.cpp
 * does (Q2_K/Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0); anything still not
 * fitting (or a 32-wide type on a row that is not a multiple of 32) becomes F16, which is
 * what llama-quantize wrote for stories260K's 172-wide ffn_down in Q8_0/Q4_0/Q4_K_M. */
static uint32_t fallback(qstate *qs, const lo_qtensor *t, uint32_t type) {
    int64_t ncols = t->ne[0];
    if (ncols % blck(type) == 0) return type;
    qs->n_fallback++;
    uint32_t r;
    switch (type) {
    case LO_DTYPE_Q2_K: case LO_DTYPE_Q3_K: r = LO_DTYPE_Q4_0; break;
    case LO_DTYPE_Q4_K: r = LO_DTYPE_Q5_0; break;
    case LO_DTYPE_Q5_K: r = LO_DTYPE_Q5_1; break;
    case LO_DTYPE_Q6_K: r = LO_DTYPE_Q8_0; break;
    default: r = LO_DTYPE_F16; break;
    }
    if (ncols % blck(r) != 0) r = LO_DTYPE_F16;
    LO_DEBUG("quantize: %s: row length %lld does not fill %s blocks; falling back to %s", t->name,
            (long long)ncols, lo_dtype_get(type)->name, lo_dtype_get(r)->name);
    return r;
}

void lo_quant__choose_types(const lo_qmodel *m, lo_ftype ftype, const lo_qtensor *t, int64_t n, uint32_t *out,
                            int *n_fallback) {
    qstate qs = {.m = m};
    qs.falcon = !strcmp(m->arch, "falcon");
    qs.is_70b = !strcmp(m->arch, "llama") && m->n_layer == 80 && m->n_head != m->n_head_kv;
    for (int64_t i = 0; i < n; i++) {
        if (has(t[i].name, "attn_v.weight") || has(t[i].name, "attn_qkv.weight") || has(t[i].name, "attn_kv_b.weight"))
            qs.n_attention_wv++;
        else if (!strcmp(t[i].name, "output.weight"))
            qs.has_output = true;
    }
    qs.n_ffn_down = qs.n_ffn_gate = qs.n_ffn_up = m->n_layer;
    uint32_t dflt = LO_DTYPE_F32;
    lo_quant__default_type(ftype, &dflt);
    for (int64_t i = 0; i < n; i++) {
        if (!allows_quantization(&t[i])) {
            out[i] = t[i].type;
            continue;
        }
        uint32_t nt = dflt;
        if (is_quantized(dflt)) {
            nt = get_type_mix(&qs, nt, &t[i], ftype);
            nt = fallback(&qs, &t[i], nt);
        }
        out[i] = nt;
    }
    if (n_fallback) *n_fallback = qs.n_fallback;
}

/* ---- parallel row quantisation --------------------------------------------------------- */

typedef struct rows_job {
    uint32_t dst_type;
    int64_t ne0, n_rows, chunk;
    size_t dst_row_bytes;
    lo_quant_rows_fn src_rows;
    void *ctx;
    uint8_t *dst;
    float **tmp; /* per thread: chunk × ne0 floats */
    atomic_llong next;
} rows_job;

static void rows_worker(void *arg, int ith, int nth) {
    (void)nth;
    rows_job *j = arg;
    for (;;) {
        int64_t r0 = atomic_fetch_add(&j->next, j->chunk);
        if (r0 >= j->n_rows) break;
        int64_t n = j->n_rows - r0 < j->chunk ? j->n_rows - r0 : j->chunk;
        const float *src = j->src_rows(j->ctx, r0, n, j->tmp[ith]);
        lo_quantize_row(j->dst_type, src, j->dst + (size_t)r0 * j->dst_row_bytes, n * j->ne0);
    }
}

lo_status lo_quant__rows(lo_pool *pool, uint32_t dst_type, int64_t ne0, int64_t n_rows, lo_quant_rows_fn src_rows,
                         void *ctx, void *dst) {
    size_t row_bytes;
    if (!lo_dtype_row_bytes(dst_type, ne0, &row_bytes))
        return lo_error(LO_ERR_INVALID, NULL, "quantize: row of %lld is not a whole number of %s blocks",
                        (long long)ne0, lo_dtype_get(dst_type) ? lo_dtype_get(dst_type)->name : "?");
    if (n_rows <= 0) return LO_OK;
    int nth = lo_pool_n_threads(pool);
    /* Chunks of ≥ 16 Ki elements, as llama-quantize; row-independent quantisers make the
     * bytes independent of the split. */
    int64_t chunk = ne0 >= 16384 ? 1 : (16384 + ne0 - 1) / ne0;
    rows_job j = {.dst_type = dst_type, .ne0 = ne0, .n_rows = n_rows, .chunk = chunk, .dst_row_bytes = row_bytes,
                  .src_rows = src_rows, .ctx = ctx, .dst = dst};
    atomic_init(&j.next, 0);
    j.tmp = lo_calloc((size_t)nth, sizeof *j.tmp);
    if (!j.tmp) return LO_ERR_NOMEM;
    lo_status s = LO_OK;
    for (int i = 0; i < nth && !s; i++) {
        size_t nb;
        if (lo_mul_overflow((size_t)chunk * sizeof(float), (size_t)ne0, &nb)) s = LO_ERR_NOMEM;
        else if (!(j.tmp[i] = lo_malloc(nb))) s = LO_ERR_NOMEM;
    }
    if (!s) lo_pool_run(pool, rows_worker, &j);
    for (int i = 0; i < nth; i++) lo_free(j.tmp[i]);
    lo_free(j.tmp);
    return s;
}

/* ---- streamed output ------------------------------------------------------------------- */

/* Zero stand-ins for tensor data: a PROT_READ anonymous mapping reads as zeros and never
 * commits memory, so even a multi-GB stand-in costs nothing. The size is kept in front. */
const void *lo_quant__zeros(size_t bytes) {
    size_t total = bytes + 64;
    void *p = mmap(NULL, total, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        lo_error(LO_ERR_NOMEM, NULL, "quantize: cannot map %zu zero bytes", total);
        return NULL;
    }
    return p;
}

void lo_quant__zeros_free(const void *p, size_t bytes) {
    if (p) munmap((void *)p, bytes + 64);
}

static lo_status fsync_dir_of(const char *path) {
    char *dir = lo_strdup(path);
    if (!dir) return LO_ERR_NOMEM;
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    lo_free(dir);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return LO_OK;
}

lo_status lo_quant__write_streamed(lo_gguf_writer *w, const char *path, int64_t n_tensors, lo_quant_fill_fn fill,
                                   void *ctx) {
    size_t cap = strlen(path) + 48;
    char *tmp = lo_malloc(cap);
    if (!tmp) return LO_ERR_NOMEM;
    static atomic_uint counter;
    snprintf(tmp, cap, "%s.partial.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    /* 1. The writer lays out header and (zero) data. */
    lo_status s = lo_gguf_writer_write(w, tmp);
    if (s) {
        lo_free(tmp);
        return s;
    }
    /* 2. Its own reader tells where each tensor's bytes are. */
    lo_gguf *g = NULL;
    uint8_t *buf = NULL;
    int fd = -1;
    s = lo_gguf_open(tmp, &g);
    if (!s && lo_gguf_n_tensors(g) != n_tensors)
        s = lo_error(LO_ERR_INTERNAL, NULL, "quantize: wrote %lld tensors, expected %lld",
                     (long long)lo_gguf_n_tensors(g), (long long)n_tensors);
    size_t max_bytes = 0;
    for (int64_t i = 0; !s && i < n_tensors; i++)
        if (lo_gguf_tensor_at(g, i)->bytes > max_bytes) max_bytes = lo_gguf_tensor_at(g, i)->bytes;
    if (!s && !(buf = lo_malloc(max_bytes ? max_bytes : 1))) s = LO_ERR_NOMEM;
    if (!s && (fd = open(tmp, O_WRONLY | O_CLOEXEC)) < 0)
        s = lo_error(LO_ERR_IO, NULL, "quantize: cannot reopen %s: %s", tmp, strerror(errno));
    /* 3. Each tensor is produced and written in place. */
    for (int64_t i = 0; !s && i < n_tensors; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        if (!t->bytes) continue;
        s = fill(ctx, i, buf, t->bytes);
        off_t off = (off_t)(lo_gguf_data_offset(g) + t->offset);
        for (size_t done = 0; !s && done < t->bytes;) {
            ssize_t k = pwrite(fd, buf + done, t->bytes - done, off + (off_t)done);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) s = lo_error(LO_ERR_IO, "check free disk space", "quantize: writing %s: %s", tmp, strerror(errno));
            else done += (size_t)k;
        }
    }
    lo_free(buf);
    lo_gguf_close(g);
    if (fd >= 0) {
        if (!s && fsync(fd) != 0) s = lo_error(LO_ERR_IO, NULL, "quantize: fsync %s: %s", tmp, strerror(errno));
        close(fd);
    }
    if (!s && rename(tmp, path) != 0)
        s = lo_error(LO_ERR_IO, NULL, "quantize: rename %s to %s: %s", tmp, path, strerror(errno));
    if (s) unlink(tmp);
    else fsync_dir_of(path);
    lo_free(tmp);
    return s;
}

/* ---- lo_model_quantize ----------------------------------------------------------------- */

typedef struct qin {
    const lo_gguf *g;
    int64_t *order;     /* output index → input tensor index */
    uint32_t *types;    /* output index → type */
    lo_pool *pool;
} qin;

typedef struct src_ctx {
    const lo_gguf_tensor *t;
    size_t row_bytes;
} src_ctx;

static const float *src_rows(void *arg, int64_t r0, int64_t n, float *tmp) {
    src_ctx *c = arg;
    const uint8_t *p = (const uint8_t *)c->t->data + (size_t)r0 * c->row_bytes;
    if (c->t->type == LO_DTYPE_F32) return (const float *)p;
    lo_dequantize_row(c->t->type, p, tmp, n * c->t->ne[0]);
    return tmp;
}

static lo_status fill_quantized(void *arg, int64_t i, void *dst, size_t bytes) {
    qin *q = arg;
    const lo_gguf_tensor *t = lo_gguf_tensor_at(q->g, q->order[i]);
    uint32_t type = q->types[i];
    if (type == t->type) {
        LO_ASSERT(bytes == t->bytes);
        memcpy(dst, t->data, bytes);
        return LO_OK;
    }
    src_ctx c = {.t = t};
    if (!lo_dtype_row_bytes(t->type, t->ne[0], &c.row_bytes))
        return lo_error(LO_ERR_FORMAT, NULL, "quantize: a tensor's row of %lld is not whole %s blocks",
                        (long long)t->ne[0], lo_dtype_get(t->type) ? lo_dtype_get(t->type)->name : "?");
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    lo_status s = lo_quant__rows(q->pool, type, t->ne[0], rows, src_rows, &c, dst);
    /* Drop the input's pages once read (as llama-quantize unmaps each weight), so the
     * resident set stays about one tensor, not the whole mapped input. */
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0) {
        uintptr_t a = ((uintptr_t)t->data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        uintptr_t b = ((uintptr_t)t->data + t->bytes) & ~((uintptr_t)page - 1);
        if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
    }
    return s;
}

static int64_t hparam_i(const lo_gguf *g, const char *arch, const char *suffix, int64_t dflt) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const lo_gguf_value *v = lo_gguf_get(g, key);
    if (!v) return dflt;
    if (v->type == LO_GGUF_ARRAY) /* per-layer values: llama.cpp's layer-0 value */
        return v->arr.n > 0 && v->arr.elem_type != LO_GGUF_STRING && v->arr.elem_type != LO_GGUF_ARRAY
                   ? lo_gguf_arr_i64(v, 0)
                   : dflt;
    int64_t x;
    return lo_gguf_get_i64(g, key, &x) ? x : dflt;
}

typedef struct name_ix {
    char *name;
    int64_t ix;
} name_ix;
static int cmp_name_ix(const void *a, const void *b) {
    return lo_quant__cmp_names(((const name_ix *)a)->name, ((const name_ix *)b)->name);
}

lo_status lo_model_quantize(const char *in_path, const char *out_path, lo_ftype ftype, int n_threads) {
    uint32_t dflt;
    size_t max_bytes = 0;
    if (!lo_quant__default_type(ftype, &dflt))
        return lo_error(LO_ERR_INVALID, "use one of Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S/M/L Q4_K_S/M Q5_K_S/M Q6_K F16 BF16 F32",
                        "quantize: unknown file type %d", (int)ftype);
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(in_path, &g);
    if (s) return lo_error_wrap(s, "quantize %s", in_path);
    int64_t n = lo_gguf_n_tensors(g);
    lo_gguf_writer *w = NULL;
    lo_pool *pool = NULL;
    name_ix *ni = lo_calloc((size_t)(n ? n : 1), sizeof *ni);
    lo_qtensor *qt = lo_calloc((size_t)(n ? n : 1), sizeof *qt);
    uint32_t *types = lo_calloc((size_t)(n ? n : 1), sizeof *types);
    int64_t *order = lo_calloc((size_t)(n ? n : 1), sizeof *order);
    const void *zeros = NULL;
    if (!ni || !qt || !types || !order) {
        s = LO_ERR_NOMEM;
        goto done;
    }
    /* Model facts for the type choice, read as llama.cpp reads them. */
    lo_qmodel m = {0};
    lo_gguf_str arch = lo_gguf_arch(g);
    if (arch.len == 0 || arch.len >= sizeof m.arch) {
        s = lo_error(LO_ERR_FORMAT, NULL, "quantize %s: no valid general.architecture", in_path);
        goto done;
    }
    memcpy(m.arch, arch.data, arch.len);
    m.n_layer = (int32_t)hparam_i(g, m.arch, "block_count", 0);
    m.n_head = (int32_t)hparam_i(g, m.arch, "attention.head_count", 0);
    m.n_head_kv = (int32_t)hparam_i(g, m.arch, "attention.head_count_kv", m.n_head);
    m.n_expert = (int32_t)hparam_i(g, m.arch, "expert_count", 0);
    /* llama-quantize's tensor order. */
    for (int64_t i = 0; i < n; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        ni[i].name = lo_strndup(t->name.data, t->name.len);
        ni[i].ix = i;
        if (!ni[i].name) {
            s = LO_ERR_NOMEM;
            goto done;
        }
        if (strlen(ni[i].name) != t->name.len) {
            s = lo_error(LO_ERR_FORMAT, NULL, "quantize %s: tensor %lld has a NUL byte in its name", in_path, (long long)i);
            goto done;
        }
    }
    qsort(ni, (size_t)n, sizeof *ni, cmp_name_ix);
    for (int64_t i = 0; i < n; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, ni[i].ix);
        order[i] = ni[i].ix;
        qt[i] = (lo_qtensor){.name = ni[i].name, .n_dims = t->n_dims, .type = t->type};
        memcpy(qt[i].ne, t->ne, sizeof qt[i].ne);
    }
    int n_fallback = 0;
    lo_quant__choose_types(&m, ftype, qt, n, types, &n_fallback);
    if (n_fallback) LO_WARN("quantize: %d of %lld tensors needed a fallback type (row length)", n_fallback, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, order[i]);
        if (types[i] == t->type) continue;
        if (!lo_dtype_has_kernels(t->type)) {
            s = lo_error(LO_ERR_UNSUPPORTED, NULL, "quantize %s: tensor '%s' has type %s, which cannot be converted",
                         in_path, qt[i].name, lo_dtype_get(t->type) ? lo_dtype_get(t->type)->name : "?");
            goto done;
        }
        if (is_quantized(t->type)) {
            s = lo_error(LO_ERR_UNSUPPORTED,
                         "quantize from the F32/F16/BF16 original; requantising loses accuracy twice (llama-quantize "
                         "also refuses unless --allow-requantize)",
                         "quantize %s: tensor '%s' is already quantised (%s)", in_path, qt[i].name,
                         lo_dtype_get(t->type)->name);
            goto done;
        }
        if (!lo_dtype_has_kernels(types[i])) {
            s = lo_error(LO_ERR_UNSUPPORTED, NULL, "quantize: no quantiser for %s", lo_dtype_get(types[i])->name);
            goto done;
        }
    }
    /* Header: every KV in order, then quantization_version and file_type moved to the end
     * (ggml's gguf_set_val_* removes a key and appends it), split keys dropped. */
    if ((s = lo_gguf_writer_create(3, &w))) goto done;
    if ((s = lo_gguf_writer_copy_kvs(w, g))) goto done;
    lo_gguf_writer_remove(w, "general.quantization_version");
    lo_gguf_writer_remove(w, "general.file_type");
    if ((s = lo_gguf_writer_set_u32(w, "general.quantization_version", 2))) goto done;
    if ((s = lo_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype))) goto done;
    lo_gguf_writer_remove(w, "split.no");
    lo_gguf_writer_remove(w, "split.count");
    lo_gguf_writer_remove(w, "split.tensors.count");
    for (int64_t i = 0; i < n; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, order[i]);
        size_t rb, bytes;
        if (!lo_dtype_row_bytes(types[i], t->ne[0], &rb) || lo_mul_overflow(rb, (size_t)(t->ne[1] * t->ne[2] * t->ne[3]), &bytes)) {
            s = lo_error(LO_ERR_INTERNAL, NULL, "quantize: '%s' does not fit %s", qt[i].name, lo_dtype_get(types[i])->name);
            goto done;
        }
        if (bytes > max_bytes) max_bytes = bytes;
    }
    if (!(zeros = lo_quant__zeros(max_bytes))) {
        s = LO_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, order[i]);
        size_t rb;
        lo_dtype_row_bytes(types[i], t->ne[0], &rb);
        size_t bytes = rb * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        if ((s = lo_gguf_writer_add_tensor(w, qt[i].name, types[i], t->n_dims, t->ne, zeros, bytes))) goto done;
    }
    if ((s = lo_pool_create(n_threads > 0 ? n_threads : lo_cpu_count(), &pool))) goto done;
    qin q = {.g = g, .order = order, .types = types, .pool = pool};
    s = lo_quant__write_streamed(w, out_path, n, fill_quantized, &q);
    if (s) lo_error_wrap(s, "quantize %s -> %s", in_path, out_path);
done:
    lo_quant__zeros_free(zeros, max_bytes);
    lo_pool_free(pool);
    lo_gguf_writer_free(w);
    for (int64_t i = 0; ni && i < n; i++) lo_free(ni[i].name);
    lo_free(ni);
    lo_free(qt);
    lo_free(types);
    lo_free(order);
    lo_gguf_close(g);
    return s;
}
