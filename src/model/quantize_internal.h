/* Internals shared by quantize.c and genmodel.c: llama.cpp's per-tensor type choice for a
 * file type (llama_tensor_get_type), llama-quantize's tensor order, and a streaming GGUF
 * output whose tensor data is produced one tensor at a time (peak memory ≈ one tensor). */
#ifndef LLMOPS_MODEL_QUANTIZE_INTERNAL_H
#define LLMOPS_MODEL_QUANTIZE_INTERNAL_H

#include "llmops/model.h"

/* What the type choice needs to know about the model (llama.cpp reads the same hparams). */
typedef struct lo_qmodel {
    char arch[32];
    int32_t n_layer, n_head, n_head_kv, n_expert;
} lo_qmodel;

/* One tensor as the type choice sees it: name (NUL-terminated), shape, current type. */
typedef struct lo_qtensor {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
} lo_qtensor;

/* The default tensor type of a file type (Q4_K_M → Q4_K ...); false when unknown. */
bool lo_quant__default_type(lo_ftype ftype, uint32_t *out);

/* llama-quantize's order: tensors outside blocks first, then block by block ("blk.N."),
 * each group by name (strcmp). A qsort comparator over `const char *` names. */
int lo_quant__cmp_names(const char *a, const char *b);

/* Chooses the type of every tensor (given in llama-quantize's order, which the layer
 * counters depend on) as llama.cpp does for ftype without an importance matrix: 1-D
 * tensors, norms, routers and positional tables keep their type; the output (or the tied
 * token embedding) gets Q6_K/Q8_0; attn_v/ffn_down/attn_output get more bits in the mixes;
 * rows that do not fill the type's block fall back. *n_fallback counts the fallbacks. */
void lo_quant__choose_types(const lo_qmodel *m, lo_ftype ftype, const lo_qtensor *t, int64_t n, uint32_t *out,
                            int *n_fallback);

/* Produces the bytes of tensor i (rows of its final type) into dst (`bytes` long). */
typedef lo_status (*lo_quant_fill_fn)(void *ctx, int64_t i, void *dst, size_t bytes);

/* Writes w's file to path atomically, but with tensor data streamed: w holds every KV and
 * every tensor (any non-NULL data pointer of the right size, e.g. lo_quant__zeros); the
 * header is laid out by the writer, then fill() produces each tensor in turn into one
 * reused buffer that is written at its offset. On failure path is untouched. */
lo_status lo_quant__write_streamed(lo_gguf_writer *w, const char *path, int64_t n_tensors, lo_quant_fill_fn fill,
                                   void *ctx);

/* A read-only zero buffer of at least `bytes` (calloc'd lazily: untouched pages cost no
 * memory), to stand in for tensor data in the writer; freed by lo_quant__zeros_free. */
const void *lo_quant__zeros(size_t bytes);
void lo_quant__zeros_free(const void *p, size_t bytes);

/* Quantises (or converts) rows on a pool: rows are [n_rows × ne0] taken from src_rows (which
 * returns a pointer to f32 rows r0..r0+n-1, using tmp — n × ne0 floats — if it must
 * convert), written as dst_type rows into dst. */
typedef const float *(*lo_quant_rows_fn)(void *ctx, int64_t r0, int64_t n, float *tmp);
lo_status lo_quant__rows(lo_pool *pool, uint32_t dst_type, int64_t ne0, int64_t n_rows, lo_quant_rows_fn src_rows,
                         void *ctx, void *dst);

#endif
