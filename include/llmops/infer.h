/* infer (L3): turning logits into text — a seeded sampler with llama.cpp's default chain,
 * a generation loop (prompt → decode → sample/decode one token at a time, stop strings,
 * UTF-8-safe streaming), llama-perplexity's chunked perplexity and teacher-forced scoring
 * of continuations. */
#ifndef LLMOPS_INFER_H
#define LLMOPS_INFER_H

#include "llmops/base.h"
#include "llmops/model.h"
#include "llmops/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sampling --------------------------------------------------------------------- */

/* "Pick a random seed" (llama.cpp's LLAMA_DEFAULT_SEED). */
#define LO_SEED_RANDOM 0xFFFFFFFFu

typedef struct lo_logit_bias {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} lo_logit_bias;

/* The chain, in llama.cpp's default order (common_sampler_init):
 *   logit bias → penalties → top-k → top-p → min-p → temperature → draw.
 * temperature ≤ 0 is greedy: the argmax after bias and penalties (ties: lowest id). */
typedef struct lo_sampler_params {
    float temperature;       /* default 0.8; ≤ 0 = greedy */
    int32_t top_k;           /* default 40; ≤ 0 = off */
    float top_p;             /* default 0.95; ≥ 1 = off; 0 keeps only the top token */
    float min_p;             /* default 0.05; ≤ 0 = off; relative to the top probability */
    float repeat_penalty;    /* default 1 = off: logit > 0 ? logit / r : logit * r */
    int32_t repeat_last_n;   /* default 64; window of accepted tokens penalties look at; 0 = off */
    float frequency_penalty; /* default 0: logit -= count × f */
    float presence_penalty;  /* default 0: logit -= p if count > 0 */
    const lo_logit_bias *logit_bias; /* copied by lo_sampler_create */
    int32_t n_logit_bias;
    uint64_t seed;   /* default LO_SEED_RANDOM (seeded from the clock) */
    int32_t n_probs; /* top-n log-probabilities reported per sample (0 = none) */
} lo_sampler_params;

void lo_sampler_params_default(lo_sampler_params *p);

typedef struct lo_token_prob {
    int32_t id;
    float logprob; /* natural log of the probability */
} lo_token_prob;

typedef struct lo_sampler lo_sampler;

/* Every scratch array (n_vocab candidates, bias, history counts) is allocated here once;
 * sampling allocates nothing. */
lo_status lo_sampler_create(const lo_sampler_params *p, int32_t n_vocab, lo_sampler **out);
void lo_sampler_free(lo_sampler *s);
/* Adds bias to one token's logit bias (e.g. -INFINITY for --ignore-eos). */
lo_status lo_sampler_add_bias(lo_sampler *s, int32_t id, float bias);
/* Samples one id from n_vocab logits (not modified). LO_ERR_INVALID for a NaN or +inf
 * logit, or when every token is banned (-inf). Does not accept the token. */
lo_status lo_sampler_sample(lo_sampler *s, const float *logits, int32_t *out_id);
/* Records id in the penalty history (a window of repeat_last_n tokens). */
void lo_sampler_accept(lo_sampler *s, int32_t id);
/* Forgets the history and reseeds the generator with the original seed. */
void lo_sampler_reset(lo_sampler *s);
/* Makes s behave as if just created with p, without allocating (history forgotten, bias
 * replaced, generator reseeded): for a sampler reused request after request. LO_ERR_RANGE
 * when p->repeat_last_n or p->n_probs (capped at n_vocab) exceed the values s was created
 * with; the usual checks of lo_sampler_create otherwise. */
lo_status lo_sampler_reconfigure(lo_sampler *s, const lo_sampler_params *p);
/* Log-probabilities of the last sample, as OpenAI-style logprobs report them: the
 * log-softmax of the model's raw logits (before bias, penalties, truncation and
 * temperature — llama-server's default, post_sampling_probs=false). The top n_probs
 * tokens, most likely first (ties: lowest id); *n gets their number. */
const lo_token_prob *lo_sampler_top_probs(const lo_sampler *s, int32_t *n);
/* The same log-probability for the token that was sampled (NaN when n_probs is 0: the
 * full log-softmax costs a pass of exp over the vocabulary, done only when asked). */
float lo_sampler_last_logprob(const lo_sampler *s);
/* The seed actually used (resolved when LO_SEED_RANDOM was given). */
uint64_t lo_sampler_seed(const lo_sampler *s);

/* ---- generation ------------------------------------------------------------------- */

typedef enum lo_finish_reason {
    LO_FINISH_STOP = 0,   /* an end-of-generation token or a stop string */
    LO_FINISH_LENGTH = 1, /* max tokens reached or the context is full */
    LO_FINISH_ABORT = 2,  /* the callback asked to stop */
} lo_finish_reason;
const char *lo_finish_reason_name(lo_finish_reason r); /* "stop", "length", "abort" */

/* Called once per generated token with the text that became final with it: complete
 * UTF-8 only, and text that could begin a stop string is held back until it cannot. The
 * pieces of all calls concatenate to the result's text (text may be empty). When
 * generation ends with text still held back, one last call passes it with id -1.
 * Return false to stop (finish reason "abort"; text held back at that moment stays in
 * the result's text but is not passed to the callback). */
typedef bool (*lo_token_cb)(void *user, int32_t id, const char *text, size_t len);

typedef struct lo_generate_params {
    int32_t n_predict;            /* max new tokens (default 64; ≥ 0) */
    lo_sampler_params sampling;   /* repeat_last_n -1 = the context size */
    bool ignore_eos;              /* bans end-of-generation tokens (logit -inf) */
    const char *const *stop;      /* stop strings (the text excludes them) */
    int32_t n_stop;
    int32_t n_batch;              /* prompt tokens per decode (default 512; ≤ the context's) */
    int32_t seq;                  /* sequence of the context to use (cleared first) */
    lo_token_cb on_token;         /* may be NULL */
    void *user;
} lo_generate_params;
void lo_generate_params_default(lo_generate_params *p);

typedef struct lo_generate_result {
    lo_finish_reason finish;
    int32_t n_prompt;      /* prompt tokens decoded */
    int32_t n_completion;  /* tokens generated, including the one that completed a stop
                            * string (an ending EOG token is not counted) */
    int32_t *ids;          /* the n_completion ids (lo_malloc'd) */
    char *text;            /* their text, stop string excluded (lo_malloc'd, NUL-terminated) */
    size_t text_len;
    const char *stop_hit;  /* the stop string that ended generation, or NULL */
    uint64_t seed;         /* the sampling seed used (resolved from LO_SEED_RANDOM) */
    double t_prompt_ms;    /* prompt decode */
    double t_gen_ms;       /* sampling + decode of the generated tokens */
    double prompt_tps, gen_tps;
} lo_generate_result;
void lo_generate_result_free(lo_generate_result *r);

/* Decodes the prompt (in chunks of n_batch) into sequence p->seq from position 0, then
 * samples, accepts and decodes one token at a time until an EOG token (unless
 * ignore_eos), a stop string, n_predict tokens or a full context. */
lo_status lo_generate(const lo_model *m, lo_context *c, const int32_t *prompt, int32_t n_prompt,
                      const lo_generate_params *p, lo_generate_result *out);

/* ---- embeddings (embed.c) ---------------------------------------------------------- */

/* tokens → one pooled vector (n_embd floats into out), L2-normalised when normalize (a zero
 * vector stays zero), as llama-server's /v1/embeddings computes it: MEAN averages every
 * token's hidden state, CLS takes the first token's, LAST the last one's. Uses sequence
 * seq of c (cleared before and after). Needs a context made with embeddings = true;
 * 1 ≤ n_ids ≤ n_ctx (and ≤ n_batch for an encoder, whose sequence must be one batch).
 * Decoder models are fed in n_batch chunks with no logits computed. */
lo_status lo_embed(const lo_model *m, lo_context *c, int32_t seq, const int32_t *ids, int32_t n_ids,
                   lo_pooling pooling, bool normalize, float *out);

/* ---- scheduler (sched.c): continuous batching ------------------------------------- */

/* One thread owns a context of n_parallel sequences (slots). Each step decodes ONE batch
 * holding the next token of every generating slot plus prompt chunks of slots still in
 * prefill (so generating slots advance every step while long prompts are prefilled), then
 * samples for every slot whose logits came out. Queued requests take free slots between
 * steps, in submission order. */
typedef struct lo_sched lo_sched;
typedef struct lo_sched_params {
    int32_t n_parallel; /* sequences advancing together (slots; default 4) */
    int32_t n_ctx;      /* positions per slot (0 = model's n_ctx_train capped at 4096) */
    int32_t n_batch;    /* max tokens per forward step (default 512; ≥ n_parallel); prompts are
                         * prefilled in chunks so decoding sequences still advance every step */
    int32_t n_threads;  /* 0 = all cores */
    int32_t max_queue;  /* requests waiting for a slot (default 64); beyond it submit fails LO_ERR_BUSY
                         * (requests a free slot is about to take do not count) */
    bool embeddings;    /* also serve lo_sched_embed (context made with embeddings = true) */
} lo_sched_params;
void lo_sched_params_default(lo_sched_params *p);

typedef enum lo_sched_event_kind { LO_SCHED_TOKEN = 0, LO_SCHED_DONE = 1 } lo_sched_event_kind;
typedef struct lo_sched_event {
    lo_sched_event_kind kind;
    /* TOKEN: one sampled token and the text that became final with it (same rules as
     * lo_token_cb: complete UTF-8, stop-string prefixes held back; may be empty; id -1 for the
     * held-back tail at the end). logprob/top valid when sampling.n_probs > 0. */
    int32_t id;
    const char *text;
    size_t len;
    float logprob;
    const lo_token_prob *top;
    int32_t n_top;
    /* DONE: exactly once per request, always the last call (also after cancel, error, shutdown). */
    lo_status status;        /* LO_OK, or why it failed */
    const char *message;     /* status != LO_OK: the error text (the thread-local error does not cross threads) */
    lo_finish_reason finish; /* stop | length | abort */
    int32_t n_prompt, n_completion;
    double t_queue_ms;       /* submit → slot assigned (whole wait when it never got one) */
    double t_first_token_ms; /* submit → first TOKEN event (0 when there was none) */
    double t_total_ms;       /* submit → DONE */
    int64_t step;            /* the scheduler's forward step that produced the event (0-based;
                              * events between steps carry the count of steps run so far) */
} lo_sched_event;
/* Called on the scheduler thread: copy what you need, never block, never call lo_sched_* from it
 * except lo_sched_cancel. Pointers are valid only during the call. */
typedef void (*lo_sched_cb)(void *user, const lo_sched_event *ev);

typedef struct lo_sched_request {
    const int32_t *prompt;
    int32_t n_prompt;           /* copied at submit; ≥ 1 */
    int32_t n_predict;          /* max new tokens; -1 = until the context is full */
    lo_sampler_params sampling; /* logit_bias copied; repeat_last_n -1 = the context size */
    bool ignore_eos;
    bool json_object;           /* JSON mode: the text is constrained to one JSON object (docs/infer.md) */
    const char *const *stop;
    int32_t n_stop;             /* copied */
    lo_sched_cb cb;             /* required */
    void *user;
} lo_sched_request;

/* Starts one thread that owns the context. LO_ERR_UNSUPPORTED for an encoder model unless
 * p->embeddings (it can only embed). */
lo_status lo_sched_create(const lo_model *m, const lo_sched_params *p, lo_sched **out);
/* Stops taking requests, ends every queued/active one (DONE, finish abort), joins the thread. NULL ok.
 * No other lo_sched_* call on s may be running or start once it is called. */
void lo_sched_free(lo_sched *s);
/* Thread-safe. LO_ERR_BUSY when the queue is full; LO_ERR_RANGE when n_prompt + max(n_predict,0) > n_ctx
 * (message says both numbers); LO_ERR_INVALID for an empty prompt or bad sampling values (also
 * a token outside the vocabulary, n_predict < -1, no callback). *out_id: nonzero, unique. */
lo_status lo_sched_submit(lo_sched *s, const lo_sched_request *r, uint64_t *out_id);
/* Thread-safe, any thread (including a callback). The request leaves within one step: DONE with
 * finish abort. Unknown or finished id: no-op. */
void lo_sched_cancel(lo_sched *s, uint64_t id);
/* Blocks the calling (HTTP) thread until the scheduler thread has run lo_embed between two
 * steps (on a sequence of its own, so no slot is disturbed); out gets n_embd floats.
 * LO_ERR_UNSUPPORTED when the scheduler was made without embeddings. */
lo_status lo_sched_embed(lo_sched *s, const int32_t *ids, int32_t n_ids, lo_pooling pooling, bool normalize, float *out);
typedef struct lo_sched_stats {
    int32_t n_active, n_queued, n_parallel, n_ctx;
    int64_t n_requests;      /* requests that got their DONE */
    int64_t n_prompt_tokens; /* prompt tokens decoded */
    int64_t n_gen_tokens;    /* tokens generated */
    int64_t n_steps;         /* forward steps run */
} lo_sched_stats;
void lo_sched_stats_get(lo_sched *s, lo_sched_stats *out); /* thread-safe */
const lo_model *lo_sched_model(const lo_sched *s);

/* ---- perplexity ------------------------------------------------------------------- */

/* Called after each chunk with its 1-based index and the running perplexity. */
typedef void (*lo_ppl_cb)(void *user, int32_t chunk, double ppl);

typedef struct lo_perplexity_params {
    int32_t n_ctx;     /* window (default 512); needs ≥ 2 × n_ctx tokens of text */
    int32_t n_batch;   /* tokens per decode (default: n_ctx; ≤ the context's n_batch) */
    int32_t n_chunks;  /* at most this many chunks (≤ 0 = all) */
    lo_ppl_cb on_chunk;
    void *user;
} lo_perplexity_params;

typedef struct lo_perplexity_result {
    double ppl;        /* exp(mean NLL) */
    double ppl_err;    /* ppl × standard error of the mean NLL (llama-perplexity's ±) */
    double nll;        /* mean negative log-likelihood */
    int32_t n_chunks;
    int64_t n_scored;  /* tokens scored */
    int64_t n_tokens;  /* tokens of the whole text */
    double *chunk_ppl; /* running ppl after each chunk (lo_malloc'd, n_chunks) */
} lo_perplexity_result;
void lo_perplexity_result_free(lo_perplexity_result *r);

/* llama-perplexity's perplexity(): tokenize with BOS, n_chunks = n_tokens / n_ctx, the
 * first token of each chunk replaced by BOS (when the vocab adds one), each chunk decoded
 * from position 0 of sequence 0, and tokens [n_ctx/2 + 1, n_ctx) scored with the logits
 * of the position before (log-softmax in double). The context needs n_ctx ≥ p->n_ctx. */
lo_status lo_perplexity(const lo_model *m, lo_context *c, const char *text, size_t len,
                        const lo_perplexity_params *p, lo_perplexity_result *out);

/* ---- teacher-forced scoring of continuations (perplexity.c) ------------------------ */

/* One text to score: ids = context then continuation. The continuation tokens
 * ids[n_context .. n_ids) are each scored with the logits of the position before them
 * (log-softmax in double, as lo_perplexity), the context only conditions. */
typedef struct lo_nll_item {
    const int32_t *ids;
    int32_t n_ids;     /* ≤ the context's n_ctx */
    int32_t n_context; /* 1 ≤ n_context < n_ids */
    double nll;        /* out: summed negative log-likelihood of the continuation tokens */
    int32_t n_scored;  /* out: n_ids - n_context */
} lo_nll_item;

/* Scores every item, several at once: each of the context's n_seq sequences holds one
 * item, and each lo_model_decode carries up to n_batch tokens of as many items as fit, the
 * logits computed only where a continuation token is scored. Sequences are cleared before
 * and after use. Results equal scoring the items one by one up to the rounding of batched
 * matrix kernels. LO_ERR_RANGE for an item longer than n_ctx, LO_ERR_INVALID for ids
 * outside the vocabulary or a bad n_context (the message names the item). */
lo_status lo_score_continuations(const lo_model *m, lo_context *c, lo_nll_item *items, int64_t n_items);

#ifdef __cplusplus
}
#endif
#endif
