/* train (L3): training llama-architecture models in f32 (from scratch, or fine-tuning a
 * GGUF base: all weights, LoRA adapters with dropout, or QLoRA adapters on a quantised
 * base) — parameters and their
 * gradients, the forward and hand-written backward pass over a batch of sequences,
 * cross-entropy with a per-token mask, AdamW with warmup + constant/linear/cosine
 * schedules, clipping by global norm, a packed data loader (plain text; JSONL chat or
 * prompt/completion with loss masks) and GGUF output. */
#ifndef LLMOPS_TRAIN_H
#define LLMOPS_TRAIN_H

#include <signal.h>

#include "llmops/base.h"
#include "llmops/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the model being trained (model.c) -------------------------------------------- */

/* A llama model: RMSNorm, RoPE (adjacent pairs, as llama's GGUF layout), GQA causal
 * attention, SwiGLU FFN, output head tied to the token embeddings or separate. */
typedef struct lo_train_config {
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float norm_eps;       /* 0 = 1e-5 */
    float rope_freq_base; /* 0 = 10000 */
    bool tied;            /* output.weight is token_embd.weight */
} lo_train_config;

typedef struct lo_train_model lo_train_model;

/* Validates the config and allocates parameters, gradients and AdamW moments (one block
 * each); weights get a seeded init: matrices N(0, 0.02), the two residual projections
 * (attn_output, ffn_down) N(0, 0.02/√(2·n_layer)), norm gains 1. */
lo_status lo_train_model_init(const lo_train_config *c, uint64_t seed, lo_train_model **out);
void lo_train_model_free(lo_train_model *m);
const lo_train_config *lo_train_model_config(const lo_train_model *m);
int64_t lo_train_model_n_params(const lo_train_model *m);

/* One parameter tensor, with GGUF's name and dims (ne[0] fastest: a matrix is ne[1] rows
 * of ne[0]), its weights and its gradient (both n floats; g is NULL for a base frozen
 * under LoRA). */
typedef struct lo_train_tensor {
    const char *name;
    int n_dims;
    int64_t ne[2];
    int64_t n;
    float *w, *g;
} lo_train_tensor;
int32_t lo_train_model_n_tensors(const lo_train_model *m);
lo_train_tensor lo_train_model_tensor(const lo_train_model *m, int32_t i);

/* A model whose config and weights come from a llama GGUF (a base to fine-tune): dim,
 * layers, heads, kv heads, ff, context, rope freq base, norm eps, vocab and tied/untied
 * from its keys and tensors; F32, F16 and BF16 tensors become f32. Quantised tensors, and
 * what the forward does not implement (partial RoPE, RoPE scaling, experts, another
 * architecture), are refused with LO_ERR_UNSUPPORTED. */
lo_status lo_train_model_load_gguf(const char *path, lo_train_model **out);

/* QLoRA: the same llama GGUF base, but its weight matrices stay in their stored type (any
 * type the tensor module dequantises — Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16,
 * F32) inside the file's mapping, which the model keeps open: no f32 copy. Norm gains
 * become f32. The trainer dequantises each matrix on the fly in row chunks into a scratch
 * sized at its creation (token embeddings: only the rows looked up). Only adapters can be
 * trained on it: call lo_train_model_add_lora before lo_trainer_create.
 * lo_train_model_tensor gives w = NULL for its matrices. A tensor of another type (the IQ
 * types, ...) or whose rows do not hold whole blocks is refused with LO_ERR_UNSUPPORTED. */
lo_status lo_train_model_load_qlora(const char *path, lo_train_model **out);
/* True for a model from lo_train_model_load_qlora. */
bool lo_train_model_is_quantized(const lo_train_model *m);

/* LoRA (lora.c): trainable low-rank adapters on chosen projections of every layer, the
 * base frozen. For a projection y = x·Wᵀ (W [out][in]) the adapter adds
 * (alpha/rank)·(x·Aᵀ)·Bᵀ with A [rank][in] drawn Kaiming-uniform U(−1/√in, 1/√in) (PEFT's
 * default) and B [out][rank] zero, so training starts from the base. */
enum {
    LO_LORA_Q = 1 << 0,
    LO_LORA_K = 1 << 1,
    LO_LORA_V = 1 << 2,
    LO_LORA_O = 1 << 3,
    LO_LORA_GATE = 1 << 4,
    LO_LORA_UP = 1 << 5,
    LO_LORA_DOWN = 1 << 6,
    LO_LORA_ALL = (1 << 7) - 1,
    LO_LORA_N_TARGETS = 7
};
typedef struct lo_lora_config {
    int32_t rank;     /* 1 .. min(in, out) of every target */
    float alpha;      /* scale = alpha / rank */
    uint32_t targets; /* LO_LORA_* bits, non-zero */
    float dropout;    /* 0 ≤ p < 1: PEFT's lora_dropout on the adapter's input, y = x·Wᵀ +
                       * scale·(drop(x)·Aᵀ)·Bᵀ with drop(x) = x·mask/(1 − p); only while the
                       * trainer's dropout is on (lo_trainer_set_dropout), never in merges */
} lo_lora_config;
/* "q,k,v,o,gate,up,down" (any non-empty subset, comma-separated) → LO_LORA_* bits; false
 * on an unknown or repeated name. */
bool lo_lora_targets_parse(const char *list, uint32_t *out);
/* Adds adapters to m and freezes the base: its gradients and moments are freed, only the
 * adapters are trained (lo_train_model_trainable). Once per model. */
lo_status lo_train_model_add_lora(lo_train_model *m, const lo_lora_config *c, uint64_t seed);
/* The trainable tensors: the model's own (lo_train_model_tensor) without adapters, else
 * the adapters, named "<base tensor>.lora_a" ({in, rank}) and ".lora_b" ({rank, out}) as
 * llama.cpp names them. */
int32_t lo_train_model_n_trainable(const lo_train_model *m);
lo_train_tensor lo_train_model_trainable(const lo_train_model *m, int32_t i);
int64_t lo_train_model_n_trainable_params(const lo_train_model *m);
/* Writes the adapters as llama.cpp's LoRA adapter GGUF (atomically): general.architecture
 * llama, general.type "adapter", adapter.type "lora", adapter.lora.alpha, general.name when
 * given, and per adapter F32 tensors "<base tensor>.lora_a" {in, rank} and ".lora_b"
 * {rank, out} (llama.cpp applies scale alpha / rank). */
lo_status lo_train_model_save_lora_gguf(const lo_train_model *m, const char *name, const char *out_path);
/* Merges a llama.cpp LoRA adapter GGUF into a llama base and writes the result
 * (`llmops lora merge`): the base is read as lo_train_model_load_gguf reads it (F32, F16,
 * BF16; quantised bases refused), the adapter must have general.type "adapter",
 * adapter.type "lora", 0 < adapter.lora.alpha < 1e6, only "<base tensor>.lora_a" {in, r} /
 * ".lora_b" {r, out} pairs (F32, F16 or BF16) on attn_q/k/v/output and ffn_gate/up/down of
 * the base's layers, one rank r throughout. Each named W becomes W + scale·(alpha/r)·B·A
 * (the trainer's merge); the output, written atomically as lo_train_model_save_gguf
 * writes a model loaded from a base, holds every tensor in F32 (general.file_type 0) and
 * every key of the base. A base with tensors outside the llama table is refused. */
lo_status lo_train_lora_merge_gguf(const char *base_path, const char *adapter_path, float scale, const char *out_path);

/* Writes a llama GGUF (F32 weights, every llama.* key llama.cpp reads, the tokenizer.*
 * metadata copied from tokenizer_path) atomically (temp + rename). A model loaded from a
 * base keeps every key of the base (tokenizer_path may then be NULL); general.name is
 * replaced only when name is given, general.file_type becomes 0 (F32). A QLoRA model
 * (lo_train_model_load_qlora) is written as its base: every key and every tensor of the
 * base file in its order and type, the tensors with adapters merged (W + scale·B·A on the
 * dequantised rows) and re-quantised to their own type with the tensor module's quantiser
 * (lossy: the adapter file is the exact result), the others byte for byte. */
lo_status lo_train_model_save_gguf(const lo_train_model *m, const char *tokenizer_path, const char *name,
                                   const char *out_path);

/* ---- the trainer: activations, forward/backward, optimizer (core.c, optim.c) ------- */

typedef enum lo_lr_schedule { LO_SCHED_CONSTANT = 0, LO_SCHED_LINEAR = 1, LO_SCHED_COSINE = 2 } lo_lr_schedule;
/* "constant" | "linear" | "cosine" → the value; -1 when unknown. */
int lo_lr_schedule_from_name(const char *name);
const char *lo_lr_schedule_name(lo_lr_schedule s);

typedef struct lo_train_params {
    int32_t batch;      /* sequences per micro-batch (B) */
    int32_t seq;        /* tokens per sequence (T ≤ n_ctx) */
    int32_t grad_accum; /* micro-batches per optimizer step (≥ 1) */
    int32_t n_threads;  /* 0 = all cores */
    int64_t total_steps;
    float lr, min_lr; /* peak and final learning rate */
    int32_t warmup;   /* steps of linear warmup from lr/warmup to lr */
    lo_lr_schedule schedule;
    float beta1, beta2, adam_eps, weight_decay; /* 0 = 0.9, 0.95, 1e-8; weight_decay as given */
    float grad_clip;                            /* clip the global gradient norm to this (≤ 0 = off) */
    int64_t qchunk_floats;                      /* QLoRA: the dequantisation scratch in floats (0 = 2 Mi, 8 MiB): a
                                                 * stored matrix is dequantised this many floats' worth of whole rows
                                                 * at a time (one row at least) for its products */
} lo_train_params;

typedef struct lo_trainer lo_trainer;
/* Allocates every activation and scratch buffer for B×T tokens once, and the threads. */
lo_status lo_trainer_create(lo_train_model *m, const lo_train_params *p, lo_trainer **out);
void lo_trainer_free(lo_trainer *t);

/* The BLAS doing the products and the CPU core it chose ("OpenBLAS 0.3.21 core SkylakeX"),
 * for benchmark logs. */
const char *lo_train_blas_info(void);

/* The learning rate of optimizer step `step` (0-based) under the params' schedule. */
float lo_train_lr(const lo_train_params *p, int64_t step);

/* Sets every gradient to zero. */
void lo_trainer_zero_grad(lo_trainer *t);
/* LoRA dropout (lo_lora_config.dropout > 0) for the forwards that follow: on, a mask drawn
 * from (seed, step, micro) — fresh per micro-batch, the same in a micro-batch's forward and
 * backward and when the run is resumed; off (the default, and for evaluation) the adapters
 * see their input unchanged. */
void lo_trainer_set_dropout(lo_trainer *t, bool on, uint64_t seed, int64_t step, int32_t micro);
/* One micro-batch: tokens, targets and mask are B×T (row b is sequence b, at positions
 * 0..T-1). Returns in *loss_sum the sum over masked tokens (mask[i] != 0) of
 * -log p(target | prefix), in double, and in *n_counted their number. With backward, adds
 * grad_scale · ∂(loss_sum)/∂θ to the gradients (grad_scale = 1 / tokens counted over the
 * whole optimizer step gives the mean). Targets are checked against n_vocab. */
lo_status lo_trainer_forward(lo_trainer *t, const int32_t *tokens, const int32_t *targets, const uint8_t *mask,
                             bool backward, float grad_scale, double *loss_sum, int64_t *n_counted);
/* Clips the gradients by global norm, applies AdamW with the learning rate of `step`
 * (0-based optimizer step) and leaves the gradients as they were (call zero_grad next). */
typedef struct lo_train_step_info {
    float lr;
    double grad_norm; /* before clipping */
} lo_train_step_info;
void lo_trainer_step(lo_trainer *t, int64_t step, lo_train_step_info *info);

/* ---- data: plain text or JSONL samples packed into sequences (data.c) -------------- */

typedef enum lo_doc_split { LO_DOCS_BLANK_LINE = 0, LO_DOCS_LINE = 1 } lo_doc_split;

/* A token stream: each document as [BOS if the tokenizer adds one] tokens EOS, the
 * documents concatenated in file order. Training windows are T+1 tokens starting every T
 * tokens (inputs = the first T, targets = the last T). */
typedef struct lo_train_data {
    int32_t *ids;
    int64_t n_ids;
    int64_t n_docs;
    int64_t *doc_start; /* n_docs + 1 offsets into ids */
    uint8_t *loss;      /* NULL: every target counts (text); else n_ids flags, loss[j] != 0
                         * when predicting ids[j] counts (JSONL: assistant / completion
                         * tokens and the EOS after them) */
} lo_train_data;

/* The data file's format: AUTO looks at the first non-blank line (JSONL when it starts
 * with '{'). JSONL lines are {"messages":[{"role","content"}...]} (OpenAI's fine-tuning
 * chat format, rendered with a chat template) or {"prompt","completion"}. */
typedef enum lo_data_format { LO_DATA_AUTO = 0, LO_DATA_TEXT = 1, LO_DATA_JSONL = 2 } lo_data_format;
typedef struct lo_train_data_opts {
    lo_doc_split split; /* text only */
    lo_data_format format;
    bool strict;               /* a bad JSONL line fails the load instead of being reported and skipped */
    int32_t max_tokens;        /* JSONL: a sample longer than this many tokens is bad (0 = no limit) */
    const char *chat_template; /* a family name (lo_chat_template_by_name); NULL: the
                                * tokenizer's tokenizer.chat_template, chatml without one */
    int64_t n_skipped;         /* out: bad JSONL lines skipped */
} lo_train_data_opts;

/* Reads and tokenizes a UTF-8 text file (documents separated by blank lines, or one per
 * line). A NUL byte or invalid UTF-8 is rejected with its line number. */
lo_status lo_train_data_load(const lo_tokenizer *tok, const char *path, lo_doc_split split, lo_train_data *out);
/* The same for text, and JSONL: each sample is [BOS if the tokenizer adds one] tokens EOS,
 * packed like text documents, with loss flags only on the assistant messages' content and
 * end (chat: the template's assistant header is not counted) or on the completion, and on
 * the EOS after a final assistant message / completion. A bad line (invalid JSON, unknown
 * role, missing field, sample over max_tokens) is logged as a warning naming file:line and
 * skipped (counted in opts->n_skipped), or with strict fails the load naming it. */
lo_status lo_train_data_load_ex(const lo_tokenizer *tok, const char *path, lo_train_data_opts *opts,
                                lo_train_data *out);
/* Moves the last `fraction` of the documents (at least one) of d into val. */
lo_status lo_train_data_split(lo_train_data *d, double fraction, lo_train_data *val);
void lo_train_data_free(lo_train_data *d);
/* Number of whole T+1 windows. */
int64_t lo_train_data_n_windows(const lo_train_data *d, int32_t seq);

/* Hands out micro-batches of B windows. shuffle: a seeded permutation of the windows,
 * reshuffled each epoch, batches running on across epoch ends. Without shuffle (for
 * validation): windows in order, ceil(windows / B) batches per epoch, rows past the last
 * window masked out. Everything is allocated at creation. */
typedef struct lo_train_loader lo_train_loader;
lo_status lo_train_loader_create(const lo_train_data *d, int32_t batch, int32_t seq, uint64_t seed, bool shuffle,
                                 lo_train_loader **out);
void lo_train_loader_free(lo_train_loader *l);
/* Fills the loader's B×T tokens/targets/mask buffers (returned through the pointers);
 * *epoch is the 0-based epoch the batch belongs to. */
void lo_train_loader_next(lo_train_loader *l, const int32_t **tokens, const int32_t **targets, const uint8_t **mask,
                          int64_t *epoch);
void lo_train_loader_rewind(lo_train_loader *l);
int64_t lo_train_loader_batches_per_epoch(const lo_train_loader *l);

/* ---- data parallelism under mpirun (dist.c) ---------------------------------------- */

/* Joins the MPI job when OpenMPI's mpirun started this process with more than one rank
 * (OMPI_COMM_WORLD_SIZE > 1; MPI_Init unless the program already initialised MPI);
 * otherwise no MPI function is called: the process is rank 0 of 1 and lo_train_run and
 * the lo_train_dist_* calls never touch MPI.
 * Idempotent. Under MPI lo_train_run is collective: every rank runs it with the same
 * parameters (see lo_train_run). */
lo_status lo_train_dist_init(void);
int lo_train_dist_rank(void); /* 0 without MPI */
int lo_train_dist_size(void); /* 1 without MPI */
/* Collective (every rank calls it at the same point): LO_OK when s is LO_OK on every rank;
 * else this rank's own failure, or the status, message and hint of the lowest failing rank
 * ("rank R of W: ..."). Returns s without MPI. For a caller's own step that may fail on
 * one rank (rank 0 opening a store) before or after lo_train_run, so that no rank waits
 * on one that gave up. */
lo_status lo_train_dist_agree(lo_status s);
/* Leaves the MPI job when lo_train_dist_init joined it (every rank, after its last
 * collective; a program may register it with atexit). No-op otherwise. */
void lo_train_dist_finalize(void);

/* ---- a whole from-scratch run (run.c) ------------------------------------------------ */

/* What the run reports after each optimizer step (and each evaluation). */
typedef struct lo_train_report {
    int64_t step, total_steps; /* step is 1-based: steps done */
    int64_t epoch;
    double loss; /* mean training loss of this step's tokens */
    float lr;
    double grad_norm;
    double tokens_per_sec; /* training tokens (all positions) per second so far,
                            * evaluations left out */
    double elapsed_sec, eta_sec;
    bool has_val; /* an evaluation ran at this step (step 0: before training) */
    double val_loss, val_ppl;
} lo_train_report;
typedef void (*lo_train_report_fn)(void *ud, const lo_train_report *r);

typedef struct lo_train_run_params {
    const char *data_path, *val_path; /* val_path NULL: the last val_fraction of the documents */
    double val_fraction;              /* 0 = 0.1 */
    lo_doc_split doc_split;
    lo_data_format format;      /* AUTO: from the first non-blank line */
    bool strict;                /* bad JSONL lines fail the run instead of being skipped */
    const char *chat_template;  /* JSONL chat: a family name; NULL: the tokenizer's, else chatml */
    const char *tokenizer_path; /* a GGUF with tokenizer.* metadata (NULL with base_path) */
    const char *base_path;      /* fine-tune this llama GGUF (lo_train_model_load_gguf): its
                                 * config, weights, tokenizer and metadata; model is then
                                 * ignored except that it must be zero */
    const char *out_path;       /* the llama GGUF written at the end */
    const char *name;           /* general.name (NULL: "llmops-trained") */
    lo_train_config model;      /* n_vocab 0 = the tokenizer's */
    const lo_lora_config *lora; /* non-NULL: LoRA (lo_train_model_add_lora, seeded with seed);
                                 * out_path gets the merged weights; dropout > 0: a mask per
                                 * micro-batch from (seed, step, micro-batch), none in evaluation */
    bool qlora;                 /* with lora and base_path: QLoRA (lo_train_model_load_qlora),
                                 * out_path gets the base re-quantised with the adapters merged */
    const char *adapter_path;   /* with lora: also the adapter alone (lo_train_model_save_lora_gguf) */
    lo_train_params train;      /* seq 0: the model's context, at most 256;
                                 * total_steps 0 with epochs > 0: from the data;
                                 * warmup < 0: a tenth of the steps, at most 100 */
    double epochs;
    uint64_t seed;
    int64_t eval_every;   /* 0 = only before and after */
    int64_t eval_batches; /* validation micro-batches per evaluation (0 = all) */
    lo_train_report_fn report;
    void *report_ud;
    /* Checkpoints (written atomically): every checkpoint_every steps (0 = never), at the
     * end, and when *stop becomes non-zero (a SIGINT handler sets it; the run then
     * returns LO_OK with interrupted set). resume_path continues a checkpoint: the model
     * shape, batch, seq, grad-accum, seed and data must match it; the steps that follow
     * give the losses the uninterrupted run gives. */
    const char *checkpoint_path;
    int64_t checkpoint_every;
    const char *resume_path;
    volatile sig_atomic_t *stop;
} lo_train_run_params;

typedef struct lo_train_result {
    int64_t steps, n_params, train_tokens, val_tokens;
    int64_t n_trainable; /* n_params, or the adapters' under LoRA */
    double first_val_loss, last_val_loss, last_loss, tokens_per_sec, seconds;
    int64_t start_step; /* > 0 when resumed */
    int64_t n_skipped;  /* bad JSONL lines skipped (training and validation files) */
    bool interrupted;   /* *stop was set: a checkpoint was written, no GGUF */
} lo_train_result;

/* Tokenizes the data, builds the model and the trainer, trains for the given steps or
 * epochs with evaluations, and writes out_path. Allocation happens before the first
 * step; the step loop allocates nothing. Under MPI (lo_train_dist_init joined a job of W
 * ranks) every rank calls it with the same parameters: train.grad_accum (K, the global
 * micro-batches per step) must be a multiple of W, rank r computes micro-batches r, r+W,
 * ... of the single process's sequence, gradients and losses are summed over the ranks,
 * the weights start as rank 0's (its data must match), validation batches are shared
 * out; rank 0 alone calls report, reads resume_path and writes the checkpoints and the
 * outputs; *stop on any rank stops all after the same step; a failure on any rank is
 * returned on every rank (lo_train_dist_agree). */
lo_status lo_train_run(const lo_train_run_params *p, lo_train_result *res);

#ifdef __cplusplus
}
#endif
#endif
