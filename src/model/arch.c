/* model: the architecture table — per architecture, the GGUF tensor names of its weights
 * (with the shape each must have and whether it is required) and the flags of its forward
 * pass — and the binding of a file's tensors to lo_layer / lo_weights views (zero copy). */
#include "model/model_internal.h"

#include <stdio.h>
#include <string.h>

#define LW(f) offsetof(lo_weights, f)
#define LL(f) offsetof(lo_layer, f)

/* ---- tensor lists ----------------------------------------------------------------- */

/* Global tensors shared by the llama family (output falls back to token_embd when absent). */
static const lo_tensor_spec g_global_rms[] = {
    {"token_embd.weight", LW(token_embd), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_VOCAB},
    {"output_norm.weight", LW(output_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"output.weight", LW(output), 0, LO_T_MAT, LO_REQ_OPTIONAL, LO_D_EMBD, LO_D_VOCAB},
    {NULL, 0, 0, 0, 0, 0, 0},
};

static const lo_tensor_spec g_global_ln[] = {
    {"token_embd.weight", LW(token_embd), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_VOCAB},
    {"output_norm.weight", LW(output_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"output_norm.bias", LW(output_norm_b), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"output.weight", LW(output), 0, LO_T_MAT, LO_REQ_OPTIONAL, LO_D_EMBD, LO_D_VOCAB},
    {NULL, 0, 0, 0, 0, 0, 0},
};

/* llama / mistral (and Mixtral-style MoE under the llama name): RMSNorm, SwiGLU, optional
 * biases (some conversions carry them). */
static const lo_tensor_spec g_layer_llama[] = {
    {"blk.%d.attn_norm.weight", LL(attn_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.attn_q.weight", LL(wq), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_Q},
    {"blk.%d.attn_k.weight", LL(wk), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_KV},
    {"blk.%d.attn_v.weight", LL(wv), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_KV},
    {"blk.%d.attn_output.weight", LL(wo), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_Q, LO_D_EMBD},
    {"blk.%d.attn_q.bias", LL(bq), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_Q, LO_D_NONE},
    {"blk.%d.attn_k.bias", LL(bk), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_KV, LO_D_NONE},
    {"blk.%d.attn_v.bias", LL(bv), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_KV, LO_D_NONE},
    {"blk.%d.attn_output.bias", LL(bo), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.ffn_norm.weight", LL(ffn_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.ffn_gate.weight", LL(ffn_gate), 0, LO_T_MAT, LO_REQ_DENSE, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_up.weight", LL(ffn_up), 0, LO_T_MAT, LO_REQ_DENSE, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_down.weight", LL(ffn_down), 0, LO_T_MAT, LO_REQ_DENSE, LO_D_FF, LO_D_EMBD},
    {"blk.%d.ffn_gate_inp.weight", LL(ffn_gate_inp), 0, LO_T_MAT, LO_REQ_MOE, LO_D_EMBD, LO_D_EXPERT},
    {"blk.%d.ffn_gate_exps.weight", LL(gate_exps), LL(gate_exps_stride), LO_T_EXPERTS, LO_REQ_MOE, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_up_exps.weight", LL(up_exps), LL(up_exps_stride), LO_T_EXPERTS, LO_REQ_MOE, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_down_exps.weight", LL(down_exps), LL(down_exps_stride), LO_T_EXPERTS, LO_REQ_MOE, LO_D_FF, LO_D_EMBD},
    {NULL, 0, 0, 0, 0, 0, 0},
};

/* qwen2: llama with q/k/v biases (required) and NEOX RoPE. */
static const lo_tensor_spec g_layer_qwen2[] = {
    {"blk.%d.attn_norm.weight", LL(attn_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.attn_q.weight", LL(wq), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_Q},
    {"blk.%d.attn_k.weight", LL(wk), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_KV},
    {"blk.%d.attn_v.weight", LL(wv), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_KV},
    {"blk.%d.attn_output.weight", LL(wo), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_Q, LO_D_EMBD},
    {"blk.%d.attn_q.bias", LL(bq), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_Q, LO_D_NONE},
    {"blk.%d.attn_k.bias", LL(bk), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_KV, LO_D_NONE},
    {"blk.%d.attn_v.bias", LL(bv), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_KV, LO_D_NONE},
    {"blk.%d.ffn_norm.weight", LL(ffn_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.ffn_gate.weight", LL(ffn_gate), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_up.weight", LL(ffn_up), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_down.weight", LL(ffn_down), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_FF, LO_D_EMBD},
    {NULL, 0, 0, 0, 0, 0, 0},
};

/* falcon: LayerNorm with bias, fused QKV, parallel attention + GELU MLP, NEOX RoPE. */
static const lo_tensor_spec g_layer_falcon[] = {
    {"blk.%d.attn_norm.weight", LL(attn_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.attn_norm.bias", LL(attn_norm_b), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.attn_qkv.weight", LL(wqkv), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_QKV},
    {"blk.%d.attn_output.weight", LL(wo), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_Q, LO_D_EMBD},
    {"blk.%d.ffn_up.weight", LL(ffn_up), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_down.weight", LL(ffn_down), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_FF, LO_D_EMBD},
    {NULL, 0, 0, 0, 0, 0, 0},
};

/* bert: learned positions and token types, LayerNorm on the input embedding, post-norm
 * blocks (attention → add → LayerNorm, GELU MLP → add → LayerNorm), no output head. */
static const lo_tensor_spec g_global_bert[] = {
    {"token_embd.weight", LW(token_embd), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_VOCAB},
    {"token_types.weight", LW(type_embd), 0, LO_T_MAT, LO_REQ_OPTIONAL, LO_D_EMBD, LO_D_TTYPES},
    {"position_embd.weight", LW(pos_embd), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_CTX},
    {"token_embd_norm.weight", LW(tok_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"token_embd_norm.bias", LW(tok_norm_b), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {NULL, 0, 0, 0, 0, 0, 0},
};

static const lo_tensor_spec g_layer_bert[] = {
    {"blk.%d.attn_q.weight", LL(wq), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_Q},
    {"blk.%d.attn_k.weight", LL(wk), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_KV},
    {"blk.%d.attn_v.weight", LL(wv), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_KV},
    {"blk.%d.attn_q.bias", LL(bq), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_Q, LO_D_NONE},
    {"blk.%d.attn_k.bias", LL(bk), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_KV, LO_D_NONE},
    {"blk.%d.attn_v.bias", LL(bv), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_KV, LO_D_NONE},
    {"blk.%d.attn_output.weight", LL(wo), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_Q, LO_D_EMBD},
    {"blk.%d.attn_output.bias", LL(bo), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.attn_output_norm.weight", LL(attn_out_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.attn_output_norm.bias", LL(attn_out_norm_b), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.ffn_up.weight", LL(ffn_up), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_FF},
    {"blk.%d.ffn_up.bias", LL(ffn_up_b), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_FF, LO_D_NONE},
    {"blk.%d.ffn_down.weight", LL(ffn_down), 0, LO_T_MAT, LO_REQ_ALWAYS, LO_D_FF, LO_D_EMBD},
    {"blk.%d.ffn_down.bias", LL(ffn_down_b), 0, LO_T_VEC, LO_REQ_OPTIONAL, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.layer_output_norm.weight", LL(layer_out_norm), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {"blk.%d.layer_output_norm.bias", LL(layer_out_norm_b), 0, LO_T_VEC, LO_REQ_ALWAYS, LO_D_EMBD, LO_D_NONE},
    {NULL, 0, 0, 0, 0, 0, 0},
};

/* ---- the table -------------------------------------------------------------------- */

static const lo_arch g_archs[] = {
    {"llama", LO_ROPE_NORM, LO_NORM_RMS, LO_FFN_SWIGLU, false, true, g_global_rms, g_layer_llama, false},
    {"mistral", LO_ROPE_NORM, LO_NORM_RMS, LO_FFN_SWIGLU, false, true, g_global_rms, g_layer_llama, false},
    {"qwen2", LO_ROPE_NEOX, LO_NORM_RMS, LO_FFN_SWIGLU, false, true, g_global_rms, g_layer_qwen2, false},
    {"falcon", LO_ROPE_NEOX, LO_NORM_LAYER, LO_FFN_GELU, true, true, g_global_ln, g_layer_falcon, false},
    {"bert", LO_ROPE_NORM, LO_NORM_LAYER, LO_FFN_GELU, false, true, g_global_bert, g_layer_bert, true},
};

const lo_arch *lo_arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (strlen(g_archs[i].name) == len && memcmp(g_archs[i].name, name, len) == 0) return &g_archs[i];
    return NULL;
}

/* ---- binding ---------------------------------------------------------------------- */

static int64_t dim_value(const lo_hparams *hp, lo_dim d) {
    switch (d) {
    case LO_D_NONE: return 1;
    case LO_D_EMBD: return hp->n_embd;
    case LO_D_Q: return (int64_t)hp->n_head * hp->head_dim;
    case LO_D_KV: return (int64_t)hp->n_head_kv * hp->head_dim;
    case LO_D_QKV: return (int64_t)(hp->n_head + 2 * hp->n_head_kv) * hp->head_dim;
    case LO_D_FF: return hp->n_ff;
    case LO_D_VOCAB: return hp->n_vocab;
    case LO_D_EXPERT: return hp->n_expert;
    case LO_D_CTX: return hp->n_ctx_train;
    case LO_D_TTYPES: return hp->n_token_types;
    }
    return -1;
}

static bool req_applies(lo_treq r, const lo_hparams *hp) {
    switch (r) {
    case LO_REQ_ALWAYS: return true;
    case LO_REQ_OPTIONAL: return false;
    case LO_REQ_DENSE: return hp->n_expert == 0;
    case LO_REQ_MOE: return hp->n_expert > 0;
    }
    return false;
}

static lo_status bind_one(lo_model *m, const lo_tensor_spec *s, const char *name, void *base) {
    const lo_hparams *hp = &m->hp;
    int64_t ti = lo_gguf_find_tensor(m->gguf, name);
    if (ti < 0) {
        if (req_applies(s->req, hp))
            return lo_error(LO_ERR_NOT_FOUND, "the file is incomplete or not of its stated architecture",
                            "tensor '%s' is missing (required by architecture '%s')", name, hp->arch);
        return LO_OK;
    }
    /* An expert tensor in a dense model (or the reverse) is not used. */
    if ((s->req == LO_REQ_MOE && hp->n_expert == 0) || (s->req == LO_REQ_DENSE && hp->n_expert > 0)) return LO_OK;
    const lo_gguf_tensor *t = lo_gguf_tensor_at(m->gguf, ti);
    int64_t e0 = dim_value(hp, s->d0), e1 = dim_value(hp, s->d1), e2 = s->kind == LO_T_EXPERTS ? hp->n_expert : 1;
    if (t->ne[0] != e0 || t->ne[1] != e1 || t->ne[2] != e2 || t->ne[3] != 1)
        return lo_error(LO_ERR_FORMAT, NULL,
                        "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, 1] from the hparams",
                        name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                        (long long)e0, (long long)e1, (long long)e2);
    if (s->kind == LO_T_VEC) {
        if (t->type != LO_DTYPE_F32)
            return lo_error(LO_ERR_UNSUPPORTED, NULL, "tensor '%s' has type %s; norm weights and biases must be F32",
                            name, lo_dtype_get(t->type) ? lo_dtype_get(t->type)->name : "?");
        if (((uintptr_t)t->data & 3) != 0) return lo_error(LO_ERR_FORMAT, NULL, "tensor '%s' is misaligned", name);
        *(const float **)((char *)base + s->offset) = t->data;
        return LO_OK;
    }
    if (!lo_dtype_has_kernels(t->type) || t->type == LO_DTYPE_Q8_1 || t->type == LO_DTYPE_Q8_K)
        return lo_error(LO_ERR_UNSUPPORTED, "convert the model to a supported type (F32, F16, BF16, Q4_0..Q8_0, Q2_K..Q6_K)",
                        "tensor '%s' has type %s, which has no kernels here", name,
                        lo_dtype_get(t->type) && lo_dtype_get(t->type)->name ? lo_dtype_get(t->type)->name : "?");
    size_t rb = 0;
    if (!lo_dtype_row_bytes(t->type, t->ne[0], &rb))
        return lo_error(LO_ERR_FORMAT, NULL, "tensor '%s': row of %lld is not a multiple of the %s block", name,
                        (long long)t->ne[0], lo_dtype_get(t->type)->name);
    lo_matrix *mx = (lo_matrix *)((char *)base + s->offset);
    mx->type = t->type;
    mx->ne0 = t->ne[0];
    mx->ne1 = t->ne[1];
    mx->row_bytes = rb;
    mx->data = t->data;
    if (s->kind == LO_T_EXPERTS) *(size_t *)((char *)base + s->stride_off) = rb * (size_t)t->ne[1];
    return LO_OK;
}

lo_status lo_arch_bind(lo_model *m) {
    const lo_arch *a = m->arch;
    for (const lo_tensor_spec *s = a->global; s->name; s++) {
        lo_status st = bind_one(m, s, s->name, &m->w);
        if (st) return st;
    }
    if (!m->w.output.data && !a->encoder) {
        m->w.output = m->w.token_embd;
        m->w.tied = true;
    }
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        for (const lo_tensor_spec *s = a->layer; s->name; s++) {
            char name[128];
            snprintf(name, sizeof name, s->name, (int)il);
            lo_status st = bind_one(m, s, name, &m->layers[il]);
            if (st) return st;
        }
    }
    return LO_OK;
}
