/* Test fixture: writes a llama.cpp-format LoRA adapter GGUF for a loaded model (random,
 * seeded A and B on the named projections of every layer), and reads whole files. */
#ifndef LLMOPS_TESTS_LORA_FIXTURE_H
#define LLMOPS_TESTS_LORA_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmops/llmops.h"

static float lora_fixture_rand(uint32_t *s) { /* uniform in [-1, 1) */
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* For each layer and each target ("attn_q", "ffn_down", ...; skipped where the model has
 * no such tensor): A {in, rank} F32 with values U(-1, 1)/sqrt(in), B {rank, out} in b_type
 * (F32, F16 or BF16) with values U(-b_amp, b_amp). Returns 0 on success. */
static int lora_fixture_write(const lo_model *m, const char *path, const char *const *targets, int n_targets, int rank,
                              float alpha, uint32_t b_type, float b_amp, uint32_t seed) {
    const lo_gguf *g = lo_model_gguf(m);
    const lo_hparams *hp = lo_model_hparams(m);
    lo_gguf_writer *w = NULL;
    if (lo_gguf_writer_create(3, &w)) return -1;
    lo_gguf_writer_set_str(w, "general.architecture", hp->arch);
    lo_gguf_writer_set_str(w, "general.type", "adapter");
    lo_gguf_writer_set_str(w, "adapter.type", "lora");
    lo_gguf_writer_set_f32(w, "adapter.lora.alpha", alpha);
    void *bufs[512];
    int n_bufs = 0, rc = 0;
    for (int il = 0; il < hp->n_layer && !rc; il++)
        for (int k = 0; k < n_targets && !rc; k++) {
            char name[128], na[140], nb[140];
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, targets[k]);
            int64_t ti = lo_gguf_find_tensor(g, name);
            if (ti < 0) continue;
            const lo_gguf_tensor *t = lo_gguf_tensor_at(g, ti);
            const int64_t in = t->ne[0], out = t->ne[1];
            float *a = malloc(sizeof(float) * (size_t)(in * rank));
            uint16_t *bh = malloc(sizeof(uint16_t) * (size_t)(rank * out));
            float *bf = malloc(sizeof(float) * (size_t)(rank * out));
            if (!a || !bh || !bf || n_bufs + 3 > 512) {
                free(a), free(bh), free(bf);
                rc = -1;
                break;
            }
            bufs[n_bufs++] = a, bufs[n_bufs++] = bh, bufs[n_bufs++] = bf;
            for (int64_t i = 0; i < in * rank; i++) a[i] = lora_fixture_rand(&seed) / sqrtf((float)in);
            for (int64_t i = 0; i < rank * out; i++) {
                bf[i] = b_amp * lora_fixture_rand(&seed);
                bh[i] = b_type == LO_DTYPE_F16 ? lo_f32_to_f16(bf[i]) : lo_f32_to_bf16(bf[i]);
            }
            snprintf(na, sizeof na, "%s.lora_a", name);
            snprintf(nb, sizeof nb, "%s.lora_b", name);
            const int64_t nea[2] = {in, rank}, neb[2] = {rank, out};
            rc |=
                lo_gguf_writer_add_tensor(w, na, LO_DTYPE_F32, 2, nea, a, sizeof(float) * (size_t)(in * rank)) != LO_OK;
            if (b_type == LO_DTYPE_F32)
                rc |= lo_gguf_writer_add_tensor(w, nb, LO_DTYPE_F32, 2, neb, bf,
                                                sizeof(float) * (size_t)(rank * out)) != LO_OK;
            else
                rc |= lo_gguf_writer_add_tensor(w, nb, b_type, 2, neb, bh, sizeof(uint16_t) * (size_t)(rank * out)) !=
                      LO_OK;
        }
    if (!rc) rc = lo_gguf_writer_write(w, path) != LO_OK;
    lo_gguf_writer_free(w);
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    return rc;
}

#endif
