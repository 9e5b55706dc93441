/* train: QLoRA bases — a llama GGUF whose weight matrices stay in their stored (quantised)
 * type inside the file's mapping while adapters train on top, and writing the result as
 * the base with the adapters merged and each merged tensor re-quantised to its own type. */
#include <cblas.h>
#include <string.h>

#include "llmops/gguf.h"
#include "llmops/tensor.h"
#include "train/train_internal.h"

bool lo_train_model_is_quantized(const lo_train_model *m) {
    return m && m->qbase;
}

const lo_train_qmat *lo_train__qmat(const lo_train_model *m, int64_t l, int k) {
    const lo_train_qlayer *y = &m->Q.layers[l];
    const lo_train_qmat *const p[LO_LORA_N_TARGETS] = {&y->wq,     &y->wk,   &y->wv,    &y->wo,
                                                       &y->w_gate, &y->w_up, &y->w_down};
    return p[k];
}

/* The stored-matrix slot of table tensor i (in the order lo_train__model_create lays them out). */
static lo_train_qmat *qslot(lo_train_model *m, int32_t i) {
    if (i == 0) return &m->Q.tok_embd;
    const int32_t L = m->c.n_layer;
    if (i <= 9 * L) {
        lo_train_qlayer *y = &m->Q.layers[(i - 1) / 9];
        lo_train_qmat *const p[9] = {NULL, &y->wq, &y->wk, &y->wv, &y->wo, NULL, &y->w_gate, &y->w_up, &y->w_down};
        return p[(i - 1) % 9];
    }
    return i == 9 * L + 2 ? &m->Q.output : NULL; /* 9L + 1 is output_norm */
}

lo_status lo_train_model_load_qlora(const char *path, lo_train_model **out) {
    *out = NULL;
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (s) return lo_error_wrap(s, "qlora: base model %s", path);
    lo_train_config c;
    lo_train_model *m = NULL;
    s = lo_train__base_config(g, path, &c);
    if (!s) s = lo_train__model_create(&c, 0, false, true, &m);
    if (s) {
        lo_gguf_close(g);
        return lo_error_wrap(s, "qlora: base model %s", path);
    }
    m->qbase = g; /* the model owns the mapping from here on */
    if (!(m->Q.layers = lo_calloc((size_t)c.n_layer, sizeof *m->Q.layers))) s = LO_ERR_NOMEM;
    for (int32_t i = 0; !s && i < m->n_t; i++) {
        const lo_train_tdesc *d = &m->t[i];
        const int64_t k = lo_gguf_find_tensor(g, d->name);
        if (k < 0) {
            s = lo_error(LO_ERR_FORMAT, "give --base a complete llama GGUF", "qlora: %s has no tensor %s", path,
                         d->name);
            break;
        }
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(g, k);
        if (gt->ne[0] != d->ne[0] || gt->ne[1] != d->ne[1] || gt->n_dims > 2) {
            s = lo_error(LO_ERR_FORMAT, "give --base a consistent llama GGUF",
                         "qlora: %s: tensor %s is {%lld, %lld}, the hyper-parameters give {%lld, %lld}", path, d->name,
                         (long long)gt->ne[0], (long long)gt->ne[1], (long long)d->ne[0], (long long)d->ne[1]);
            break;
        }
        const lo_dtype_traits *tr = lo_dtype_get(gt->type);
        size_t row_bytes = 0;
        if (!lo_dtype_has_kernels(gt->type) || gt->type == LO_DTYPE_Q8_1 || gt->type == LO_DTYPE_Q8_K) {
            s = lo_error(LO_ERR_UNSUPPORTED,
                         "QLoRA reads Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16 and F32 tensors: "
                         "re-quantise the base from its F16/F32 original (llmops quantize IN OUT Q4_K_M)",
                         "qlora: %s: tensor %s is %s, which the trainer cannot dequantise", path, d->name,
                         tr && tr->name ? tr->name : "of an unknown type");
            break;
        }
        if (!lo_dtype_row_bytes(gt->type, d->ne[0], &row_bytes)) {
            s = lo_error(LO_ERR_UNSUPPORTED, "give a base whose rows hold whole quant blocks",
                         "qlora: %s: tensor %s has rows of %lld elements, not whole %s blocks", path, d->name,
                         (long long)d->ne[0], tr->name);
            break;
        }
        if (gt->bytes != row_bytes * (size_t)d->ne[1]) {
            s = lo_error(LO_ERR_FORMAT, "give --base an intact GGUF", "qlora: %s: tensor %s has %zu bytes", path,
                         d->name, gt->bytes);
            break;
        }
        if (d->offset >= 0) { /* a norm gain: f32 */
            lo_dequantize_row(gt->type, gt->data, m->w + d->offset, d->ne[0] * d->ne[1]);
            continue;
        }
        lo_train_qmat *q = qslot(m, i);
        LO_ASSERT(q);
        *q = (lo_train_qmat){
            .type = gt->type, .ne0 = d->ne[0], .ne1 = d->ne[1], .row_bytes = row_bytes, .data = gt->data};
    }
    if (!s && m->c.tied) m->Q.output = m->Q.tok_embd;
    if (!s && !(m->base_path = lo_strdup(path))) s = LO_ERR_NOMEM;
    if (s) {
        lo_train_model_free(m);
        return s;
    }
    *out = m;
    return LO_OK;
}

/* ---- output: the base with the adapters merged, re-quantised ----------------------------- */

/* W' = W + scale·B·A for one stored matrix into dst (its own type and size), in row chunks
 * of buf (floats floats). */
static void merge_matrix(const lo_train_qmat *q, const float *A, const float *B, int r, float scale, float *buf,
                         int64_t floats, uint8_t *dst) {
    const int64_t rows = lo_train__qchunk_rows(q, floats), K = q->ne0;
    for (int64_t r0 = 0; r0 < q->ne1; r0 += rows) {
        const int64_t nr = q->ne1 - r0 < rows ? q->ne1 - r0 : rows;
        lo_dequantize_row(q->type, q->data + (size_t)r0 * q->row_bytes, buf, nr * K);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)K, r, scale, B + r0 * r, r, A, (int)K,
                    1.0f, buf, (int)K);
        lo_quantize_row(q->type, buf, dst + (size_t)r0 * q->row_bytes, nr * K);
    }
}

lo_status lo_train__qlora_save(const lo_train_model *m, const char *name, const char *out_path) {
    const lo_train_lora *a = m->lora;
    const lo_gguf *g = m->qbase;
    LO_ASSERT(g);
    if (!out_path) return lo_error(LO_ERR_INVALID, "give --out", "qlora: no output path");
    const int64_t L = m->c.n_layer, n_tensors = lo_gguf_n_tensors(g);
    /* Per tensor of the file: the merged bytes, when an adapter sits on it. */
    uint8_t **merged = lo_calloc((size_t)n_tensors, sizeof *merged);
    size_t total = 0;
    int64_t max_rows_floats = 0;
    for (int64_t l = 0; a && l < L; l++)
        for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
            if (!a->a[l * LO_LORA_N_TARGETS + k]) continue;
            const lo_train_qmat *q = lo_train__qmat(m, l, k);
            total += q->row_bytes * (size_t)q->ne1;
            const int64_t f = lo_train__qchunk_rows(q, LO_TRAIN_QCHUNK_FLOATS) * q->ne0;
            if (f > max_rows_floats) max_rows_floats = f;
        }
    uint8_t *block = total ? lo_malloc(total) : NULL;
    float *buf = max_rows_floats ? lo_malloc((size_t)max_rows_floats * sizeof(float)) : NULL;
    lo_status s = !merged || (total && (!block || !buf))
                      ? lo_error(LO_ERR_NOMEM, "free some memory", "qlora: no memory to merge the adapters")
                      : LO_OK;
    size_t off = 0;
    for (int64_t l = 0; !s && a && l < L; l++)
        for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
            const size_t sl = (size_t)(l * LO_LORA_N_TARGETS + k);
            if (!a->a[sl]) continue;
            const lo_train_qmat *q = lo_train__qmat(m, l, k);
            /* the table tensor of this slot: layer l's block starts at 1 + 9l; q,k,v,o at
             * +1..+4, gate, up, down at +6..+8 */
            const int32_t ti = (int32_t)(1 + 9 * l + (k < 4 ? k + 1 : k + 2));
            const int64_t gi = lo_gguf_find_tensor(g, m->t[ti].name);
            LO_ASSERT(gi >= 0 && !merged[gi]);
            merged[gi] = block + off;
            merge_matrix(q, a->a[sl], a->b[sl], a->c.rank, a->scale, buf, LO_TRAIN_QCHUNK_FLOATS, merged[gi]);
            off += q->row_bytes * (size_t)q->ne1;
        }
    lo_gguf_writer *w = NULL;
    if (!s) s = lo_gguf_writer_create(3, &w);
    if (!s) s = lo_gguf_writer_copy_kvs(w, g);
    if (!s && name && *name) s = lo_gguf_writer_set_str(w, "general.name", name);
    for (int64_t i = 0; !s && i < n_tensors; i++) {
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(g, i);
        char *nm = lo_strndup(gt->name.data, gt->name.len);
        if (!nm) {
            s = LO_ERR_NOMEM;
            break;
        }
        s = lo_gguf_writer_add_tensor(w, nm, gt->type, gt->n_dims, gt->ne, merged[i] ? merged[i] : gt->data, gt->bytes);
        lo_free(nm);
    }
    if (!s) s = lo_gguf_writer_write(w, out_path);
    lo_gguf_writer_free(w);
    lo_free(buf);
    lo_free(block);
    lo_free(merged);
    if (s) return lo_error_wrap(s, "qlora: writing %s", out_path);
    return LO_OK;
}
