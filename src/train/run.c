/* train: a whole from-scratch run — tokenizer from a GGUF, text data packed and split,
 * model init, the step loop (gradient accumulation over micro-batches, clipping, AdamW),
 * evaluation on the validation windows, reports through a callback, atomic checkpoints
 * and resuming from them, GGUF output. */
#include <math.h>
#include <string.h>

#include "llmops/gguf.h"
#include "train/train_internal.h"

typedef struct run_state {
    lo_gguf *g;
    lo_tokenizer *tok;
    lo_train_data train, val;
    lo_train_model *m;
    lo_trainer *tr;
    lo_train_loader *lt, *lv;
    int32_t *tok_buf, *tgt_buf;
    uint8_t *mask_buf;
} run_state;

static void run_free(run_state *r) {
    lo_train_loader_free(r->lt);
    lo_train_loader_free(r->lv);
    lo_trainer_free(r->tr);
    lo_train_model_free(r->m);
    lo_train_data_free(&r->train);
    lo_train_data_free(&r->val);
    lo_tokenizer_free(r->tok);
    lo_gguf_close(r->g);
    lo_free(r->tok_buf);
    lo_free(r->tgt_buf);
    lo_free(r->mask_buf);
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

/* A checkpoint file: this header, then the trainable weights, first and second AdamW
 * moments (n_params f32 each: the whole model, or only the adapters under LoRA, the frozen
 * base coming from --base again). Everything that decides the next steps is in it or re-derived from it (the
 * loader's order comes from the seed and the epoch). Native byte order: a checkpoint is
 * for resuming on the machine that wrote it. */
#define CKPT_MAGIC "LOTRCKP1"
typedef struct ckpt_header {
    char magic[8];
    uint32_t version, header_bytes;
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx, tied;
    float norm_eps, rope_freq_base;
    int32_t batch, seq, grad_accum, lora_rank; /* lora_rank 0: full training */
    uint64_t seed, data_hash;
    int64_t n_ids, next_step, t_adam, epoch, pos, n_params;
    double first_val_loss;
    float lora_alpha;
    uint32_t lora_targets;
    float lora_dropout;
    uint32_t qlora; /* 1: the adapters were trained on a QLoRA base */
} ckpt_header;

static uint64_t data_hash(const lo_train_data *d) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < d->n_ids; i++) h = (h ^ (uint32_t)d->ids[i]) * 0x100000001b3ull;
    return h;
}

static void ckpt_fill(const run_state *r, const lo_train_run_params *p, int64_t next_step, double first_val,
                      ckpt_header *h) {
    const lo_train_config *c = &r->m->c;
    const lo_train_params *tp = &r->tr->p;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CKPT_MAGIC, 8);
    h->version = 3, h->header_bytes = (uint32_t)sizeof *h;
    h->n_vocab = c->n_vocab, h->n_embd = c->n_embd, h->n_layer = c->n_layer, h->n_head = c->n_head;
    h->n_head_kv = c->n_head_kv, h->n_ff = c->n_ff, h->n_ctx = c->n_ctx, h->tied = c->tied;
    h->norm_eps = c->norm_eps, h->rope_freq_base = c->rope_freq_base;
    h->batch = tp->batch, h->seq = tp->seq, h->grad_accum = tp->grad_accum;
    h->seed = p->seed, h->data_hash = data_hash(&r->train), h->n_ids = r->train.n_ids;
    h->next_step = next_step, h->t_adam = r->tr->t_adam, h->n_params = lo_train_model_n_trainable_params(r->m);
    if (r->m->lora)
        h->lora_rank = r->m->lora->c.rank, h->lora_alpha = r->m->lora->c.alpha, h->lora_targets = r->m->lora->c.targets,
        h->lora_dropout = r->m->lora->c.dropout;
    h->qlora = r->m->qbase != NULL;
    lo_train__loader_state(r->lt, &h->epoch, &h->pos);
    h->first_val_loss = first_val;
}

static lo_status ckpt_write(const run_state *r, const lo_train_run_params *p, int64_t next_step, double first_val) {
    ckpt_header h;
    ckpt_fill(r, p, next_step, first_val, &h);
    lo_atomic_file *f = NULL;
    lo_status s = lo_atomic_open(p->checkpoint_path, &f);
    const lo_train_block b = lo_train__trainable(r->m);
    const size_t bytes = (size_t)b.n * sizeof(float);
    if (!s) s = lo_atomic_write(f, &h, sizeof h);
    if (!s) s = lo_atomic_write(f, b.w, bytes);
    if (!s) s = lo_atomic_write(f, b.m, bytes);
    if (!s) s = lo_atomic_write(f, b.v, bytes);
    if (!s) return lo_atomic_commit(f);
    lo_atomic_abort(f);
    return lo_error_wrap(s, "train: writing checkpoint %s", p->checkpoint_path);
}

/* Reads a checkpoint into the model, optimizer and loader after checking it belongs to
 * this run; *next_step is the step to continue with. */
static lo_status ckpt_read(run_state *r, const lo_train_run_params *p, int64_t *next_step, double *first_val) {
    const char *path = p->resume_path;
    lo_mapped mp = {0};
    lo_status s = lo_mmap_file(path, &mp);
    if (s) return lo_error_wrap(s, "train: resuming");
    ckpt_header h, want;
    const lo_train_block b = lo_train__trainable(r->m);
    const size_t bytes = (size_t)b.n * sizeof(float);
    if (mp.bytes < sizeof h || memcmp(mp.data, CKPT_MAGIC, 8) != 0) {
        lo_munmap(&mp);
        return lo_error(LO_ERR_FORMAT, "give a file written by llmops train as a checkpoint",
                        "train: %s is not a training checkpoint", path);
    }
    memcpy(&h, mp.data, sizeof h);
    ckpt_fill(r, p, h.next_step, h.first_val_loss, &want);
    const char *what = NULL;
    if (h.version != 3 || h.header_bytes != sizeof h)
        what = "format version";
    else if (h.lora_rank != want.lora_rank || h.lora_alpha != want.lora_alpha || h.lora_targets != want.lora_targets ||
             h.lora_dropout != want.lora_dropout || h.qlora != want.qlora)
        what = "method (--method, --lora-rank, --lora-alpha, --lora-targets, --lora-dropout)";
    else if (h.n_vocab != want.n_vocab || h.n_embd != want.n_embd || h.n_layer != want.n_layer ||
             h.n_head != want.n_head || h.n_head_kv != want.n_head_kv || h.n_ff != want.n_ff || h.n_ctx != want.n_ctx ||
             h.tied != want.tied || h.norm_eps != want.norm_eps || h.rope_freq_base != want.rope_freq_base ||
             h.n_params != want.n_params)
        what = "model shape (--dim --layers --heads --kv-heads --ff --ctx --tied, tokenizer)";
    else if (h.batch != want.batch || h.seq != want.seq || h.grad_accum != want.grad_accum)
        what = "--batch, --seq or --grad-accum";
    else if (h.seed != want.seed)
        what = "--seed";
    else if (h.n_ids != want.n_ids || h.data_hash != want.data_hash)
        what = "training data (after the validation split)";
    else if (mp.bytes != sizeof h + 3 * bytes)
        what = "file size (truncated or damaged)";
    else if (h.next_step < 0 || h.t_adam < 0 || h.epoch < 0 || h.pos < 0 ||
             h.pos > lo_train_data_n_windows(&r->train, h.seq))
        what = "step or data position";
    if (what) {
        lo_munmap(&mp);
        return lo_error(LO_ERR_INVALID, "resume with the options and data of the run that wrote the checkpoint",
                        "train: checkpoint %s does not match this run: %s differs", path, what);
    }
    const uint8_t *d = mp.data + sizeof h;
    memcpy(b.w, d, bytes);
    memcpy(b.m, d + bytes, bytes);
    memcpy(b.v, d + 2 * bytes, bytes);
    lo_munmap(&mp);
    r->tr->t_adam = h.t_adam;
    lo_train__loader_restore(r->lt, h.epoch, h.pos);
    *next_step = h.next_step;
    *first_val = h.first_val_loss;
    return LO_OK;
}

/* Mean loss over the validation windows (or the first eval_batches micro-batches). */
static lo_status evaluate(run_state *r, int64_t max_batches, double *loss, int64_t *n_tokens) {
    lo_train_loader_rewind(r->lv);
    lo_trainer_set_dropout(r->tr, false, 0, 0, 0); /* no dropout in evaluation */
    int64_t nb = lo_train_loader_batches_per_epoch(r->lv);
    if (max_batches > 0 && max_batches < nb) nb = max_batches;
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < nb; i++) {
        const int32_t *tk, *tg;
        const uint8_t *mk;
        lo_train_loader_next(r->lv, &tk, &tg, &mk, NULL);
        double s1;
        int64_t c1;
        lo_status s = lo_trainer_forward(r->tr, tk, tg, mk, false, 0, &s1, &c1);
        if (s) return s;
        sum += s1, cnt += c1;
    }
    *loss = cnt ? sum / (double)cnt : NAN;
    *n_tokens = cnt;
    return LO_OK;
}

lo_status lo_train_run(const lo_train_run_params *p, lo_train_result *res) {
    memset(res, 0, sizeof *res);
    if (!p || !p->data_path || !(p->tokenizer_path || p->base_path) || !p->out_path)
        return lo_error(LO_ERR_INVALID, "give --data, --tokenizer (or --base) and --out",
                        "train: data, tokenizer or output missing");
    if (p->base_path && (p->model.n_embd || p->model.n_layer || p->model.n_head || p->model.n_head_kv ||
                         p->model.n_ff || p->model.n_ctx || p->model.n_vocab || p->model.tied))
        return lo_error(LO_ERR_INVALID, "leave the model shape to the base", "train: a model shape given with a base");
    if (p->eval_every < 0 || p->eval_batches < 0 || !(p->epochs >= 0 && p->epochs < 1e6))
        return lo_error(LO_ERR_RANGE, "give --eval-every ≥ 0, --eval-batches ≥ 0, 0 ≤ --epochs < 1e6",
                        "train: eval every %lld, eval batches %lld, epochs %g out of range", (long long)p->eval_every,
                        (long long)p->eval_batches, p->epochs);
    if (p->adapter_path && !p->lora)
        return lo_error(LO_ERR_INVALID, "give --adapter-out with --method lora", "train: an adapter path without LoRA");
    if (p->qlora && (!p->lora || !p->base_path))
        return lo_error(LO_ERR_INVALID, "give QLoRA a LoRA config and a --base",
                        "train: QLoRA without adapters or base");
    run_state r = {0};
    const char *tok_path = p->base_path ? p->base_path : p->tokenizer_path;
    lo_status s = lo_gguf_open(tok_path, &r.g);
    if (!s) s = lo_tokenizer_load(r.g, &r.tok);
    if (s) {
        run_free(&r);
        return lo_error_wrap(s, "train: tokenizer %s", tok_path);
    }
    /* A base gives the model first, so that its shape is checked before the data is read. */
    if (p->base_path &&
        (s = p->qlora ? lo_train_model_load_qlora(p->base_path, &r.m) : lo_train_model_load_gguf(p->base_path, &r.m))) {
        run_free(&r);
        return s;
    }
    lo_train_config mc = r.m ? r.m->c : p->model;
    lo_train_params tp = p->train;
    if (tp.seq == 0) tp.seq = mc.n_ctx < 256 ? mc.n_ctx : 256;
    /* JSONL: a sample must fit one training window (T + 1 tokens). */
    lo_train_data_opts dop = {.split = p->doc_split,
                              .format = p->format,
                              .strict = p->strict,
                              .max_tokens = tp.seq > 0 ? tp.seq + 1 : 0,
                              .chat_template = p->chat_template};
    s = lo_train_data_load_ex(r.tok, p->data_path, &dop, &r.train);
    if (!s) {
        if (p->val_path)
            s = lo_train_data_load_ex(r.tok, p->val_path, &dop, &r.val);
        else
            s = lo_train_data_split(&r.train, p->val_fraction > 0 ? p->val_fraction : 0.1, &r.val);
    }
    res->n_skipped = dop.n_skipped;
    if (!s) {
        const int32_t nv = lo_tokenizer_n_vocab(r.tok);
        if (mc.n_vocab && mc.n_vocab != nv)
            s = lo_error(LO_ERR_INVALID, "leave the vocab size to the tokenizer",
                         "train: vocab %d differs from the tokenizer's %d", mc.n_vocab, nv);
        mc.n_vocab = nv;
    }
    const int32_t B = tp.batch, T = tp.seq, K = tp.grad_accum > 0 ? tp.grad_accum : 1;
    tp.grad_accum = K;
    if (!s && (B < 1 || T < 1))
        s = lo_error(LO_ERR_RANGE, "give --batch ≥ 1 and --seq ≥ 1", "train: batch %d, seq %d", B, T);
    if (!s && lo_train_data_n_windows(&r.train, T) < 1)
        s = lo_error(LO_ERR_INVALID, "give more training text or a smaller --seq",
                     "train: %lld training tokens do not fill one sequence of %d + 1", (long long)r.train.n_ids, T);
    if (!s && lo_train_data_n_windows(&r.val, T) < 1)
        s = lo_error(LO_ERR_INVALID, "give a longer --val file, a larger validation share or a smaller --seq",
                     "train: %lld validation tokens do not fill one sequence of %d + 1", (long long)r.val.n_ids, T);
    if (!s && tp.total_steps <= 0) {
        if (p->epochs <= 0) {
            s = lo_error(LO_ERR_INVALID, "give --steps N or --epochs N", "train: neither steps nor epochs given");
        } else {
            const double per_step = (double)B * K;
            tp.total_steps = (int64_t)ceil(p->epochs * (double)lo_train_data_n_windows(&r.train, T) / per_step);
            if (tp.total_steps < 1) tp.total_steps = 1;
        }
    }
    if (!s && tp.warmup < 0) tp.warmup = (int32_t)(tp.total_steps / 10 < 100 ? tp.total_steps / 10 : 100);
    if (!s && !r.m) s = lo_train_model_init(&mc, p->seed, &r.m);
    if (!s && p->lora) s = lo_train_model_add_lora(r.m, p->lora, p->seed);
    if (!s) s = lo_trainer_create(r.m, &tp, &r.tr);
    if (!s) s = lo_train_loader_create(&r.train, B, T, p->seed, true, &r.lt);
    if (!s) s = lo_train_loader_create(&r.val, B, T, p->seed, false, &r.lv);
    const size_t bt = (size_t)B * (size_t)T * (size_t)K;
    if (!s) {
        r.tok_buf = lo_malloc(bt * sizeof *r.tok_buf);
        r.tgt_buf = lo_malloc(bt * sizeof *r.tgt_buf);
        r.mask_buf = lo_malloc(bt);
        if (!r.tok_buf || !r.tgt_buf || !r.mask_buf) s = LO_ERR_NOMEM;
    }
    if (s) {
        run_free(&r);
        return s;
    }
    res->n_params = lo_train_model_n_params(r.m);
    res->n_trainable = lo_train_model_n_trainable_params(r.m);
    res->train_tokens = r.train.n_ids;
    int64_t start = 0;
    double first_val = NAN;
    if (p->resume_path && (s = ckpt_read(&r, p, &start, &first_val))) goto done;
    if (start > tp.total_steps) {
        s = lo_error(LO_ERR_INVALID, "give --steps at least the checkpoint's step",
                     "train: the checkpoint is at step %lld, past --steps %lld", (long long)start,
                     (long long)tp.total_steps);
        goto done;
    }
    res->start_step = start;
    lo_train_report rep = {.step = start, .total_steps = tp.total_steps};
    double vl = 0;
    int64_t vt = 0;
    if ((s = evaluate(&r, p->eval_batches, &vl, &vt))) goto done;
    if (!p->resume_path) first_val = vl;
    res->first_val_loss = first_val, res->last_val_loss = vl;
    res->val_tokens = vt;
    rep.has_val = true, rep.val_loss = vl, rep.val_ppl = exp(vl);
    if (p->report) p->report(p->report_ud, &rep);
    const double t0 = lo_time_sec();
    double t_eval = 0; /* evaluation time, left out of tokens/s */
    const size_t mb = (size_t)B * (size_t)T;
    for (int64_t step = start; step < tp.total_steps; step++) {
        int64_t epoch = 0, counted = 0;
        for (int32_t k = 0; k < K; k++) {
            const int32_t *tk, *tg;
            const uint8_t *mk;
            lo_train_loader_next(r.lt, &tk, &tg, &mk, &epoch);
            memcpy(r.tok_buf + k * mb, tk, mb * sizeof *tk);
            memcpy(r.tgt_buf + k * mb, tg, mb * sizeof *tg);
            memcpy(r.mask_buf + k * mb, mk, mb);
            for (size_t i = 0; i < mb; i++) counted += mk[i] != 0;
        }
        lo_trainer_zero_grad(r.tr);
        double sum = 0;
        const float scale = counted ? 1.0f / (float)counted : 0.0f;
        for (int32_t k = 0; k < K; k++) {
            double s1;
            int64_t c1;
            lo_trainer_set_dropout(r.tr, true, p->seed, step, k); /* a fresh mask per micro-batch */
            s = lo_trainer_forward(r.tr, r.tok_buf + k * mb, r.tgt_buf + k * mb, r.mask_buf + k * mb, true, scale, &s1,
                                   &c1);
            if (s) goto done;
            sum += s1;
        }
        lo_train_step_info info;
        lo_trainer_step(r.tr, step, &info);
        double el = lo_time_sec() - t0 - t_eval;
        rep = (lo_train_report){.step = step + 1,
                                .total_steps = tp.total_steps,
                                .epoch = epoch,
                                .loss = counted ? sum / (double)counted : NAN,
                                .lr = info.lr,
                                .grad_norm = info.grad_norm,
                                .elapsed_sec = el};
        rep.tokens_per_sec = el > 0 ? (double)(step + 1 - start) * (double)bt / el : 0;
        rep.eta_sec = el / (double)(step + 1 - start) * (double)(tp.total_steps - step - 1);
        res->last_loss = rep.loss;
        if ((p->eval_every > 0 && (step + 1) % p->eval_every == 0) || step + 1 == tp.total_steps) {
            const double te = lo_time_sec();
            if ((s = evaluate(&r, p->eval_batches, &vl, &vt))) goto done;
            t_eval += lo_time_sec() - te;
            rep.has_val = true, rep.val_loss = vl, rep.val_ppl = exp(vl);
            res->last_val_loss = vl;
        }
        if (p->report) p->report(p->report_ud, &rep);
        const bool stop = p->stop && *p->stop;
        if (p->checkpoint_path && step + 1 < tp.total_steps &&
            (stop || (p->checkpoint_every > 0 && (step + 1) % p->checkpoint_every == 0)) &&
            (s = ckpt_write(&r, p, step + 1, first_val)))
            goto done;
        if (stop) {
            res->interrupted = true;
            res->steps = step + 1;
            res->seconds = lo_time_sec() - t0 - t_eval;
            goto done; /* s is LO_OK: an orderly stop */
        }
    }
    res->seconds = lo_time_sec() - t0 - t_eval;
    res->steps = tp.total_steps;
    res->tokens_per_sec = res->seconds > 0 ? (double)(tp.total_steps - start) * (double)bt / res->seconds : 0;
    s = lo_train_model_save_gguf(r.m, p->base_path ? NULL : p->tokenizer_path, p->name, p->out_path);
    if (!s && p->adapter_path) s = lo_train_model_save_lora_gguf(r.m, p->name, p->adapter_path);
done:
    run_free(&r);
    return s;
}
