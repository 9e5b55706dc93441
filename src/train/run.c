/* train: a whole from-scratch run — tokenizer from a GGUF, text data packed and split,
 * model init, the step loop (gradient accumulation over micro-batches, clipping, AdamW),
 * evaluation on the validation windows, reports through a callback, atomic checkpoints
 * and resuming from them, GGUF output; under mpirun the same run data-parallel (each rank
 * computes its share of the step's micro-batches, the gradients are summed). */
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

/* Mean loss over the validation windows (or the first eval_batches micro-batches). Under
 * MPI rank r evaluates batches r, r + W, ... and the sums are added up (collective). */
static lo_status evaluate(run_state *r, int64_t max_batches, double *loss, int64_t *n_tokens) {
    const int W = lo_train_dist_size(), R = lo_train_dist_rank();
    lo_train_loader_rewind(r->lv);
    lo_trainer_set_dropout(r->tr, false, 0, 0, 0); /* no dropout in evaluation */
    int64_t nb = lo_train_loader_batches_per_epoch(r->lv);
    if (max_batches > 0 && max_batches < nb) nb = max_batches;
    double sum = 0;
    int64_t cnt = 0;
    lo_status s = LO_OK;
    for (int64_t i = 0; i < nb; i++) {
        const int32_t *tk, *tg;
        const uint8_t *mk;
        lo_train_loader_next(r->lv, &tk, &tg, &mk, NULL);
        if (i % W != R) continue; /* another rank's batch */
        double s1;
        int64_t c1;
        if ((s = lo_trainer_forward(r->tr, tk, tg, mk, false, 0, &s1, &c1))) break;
        sum += s1, cnt += c1;
    }
    if (W > 1) {
        double a[3] = {sum, (double)cnt, s ? 1 : 0}; /* counts stay exact in a double below 2^53 */
        lo_train__dist_sum_f64(a, 3);
        if (a[2] > 0) return lo_train_dist_agree(s);
        sum = a[0], cnt = (int64_t)a[1];
    } else if (s) {
        return s;
    }
    *loss = cnt ? sum / (double)cnt : NAN;
    *n_tokens = cnt;
    return LO_OK;
}

/* ---- data parallelism ------------------------------------------------------------------------ */

/* Under MPI, after every rank has built its run: the data must be rank 0's (same token
 * streams), and every weight starts as rank 0's (the seeded init, a base, adapters). */
static lo_status dist_start(run_state *r) {
    uint64_t mine[4] = {(uint64_t)r->train.n_ids, data_hash(&r->train), (uint64_t)r->val.n_ids, data_hash(&r->val)};
    uint64_t root[4];
    memcpy(root, mine, sizeof root);
    lo_train__dist_bcast(root, sizeof root, 0);
    lo_status s = LO_OK;
    if (memcmp(mine, root, sizeof mine) != 0)
        s = lo_error(LO_ERR_INVALID, "give every rank the same --data and --val files",
                     "train: rank %d's %s tokens differ from rank 0's", lo_train_dist_rank(),
                     mine[0] != root[0] || mine[1] != root[1] ? "training" : "validation");
    if ((s = lo_train_dist_agree(s))) return s;
    lo_train__dist_bcast(r->m->w, (size_t)r->m->n_params * sizeof(float), 0);
    if (r->m->lora) lo_train__dist_bcast(r->m->lora->w, (size_t)r->m->lora->n_params * sizeof(float), 0);
    return LO_OK;
}

/* --resume under MPI: rank 0 reads and checks the checkpoint and sends its state (trainable
 * weights, moments, AdamW's step count, the loader's position) to the others (collective). */
static lo_status dist_resume(run_state *r, const lo_train_run_params *p, int64_t *next_step, double *first_val) {
    lo_status s = lo_train_dist_rank() == 0 ? ckpt_read(r, p, next_step, first_val) : LO_OK;
    if ((s = lo_train_dist_agree(s))) return s;
    int64_t st[4] = {*next_step, r->tr->t_adam, 0, 0};
    lo_train__loader_state(r->lt, &st[2], &st[3]);
    lo_train__dist_bcast(st, sizeof st, 0);
    lo_train__dist_bcast(first_val, sizeof *first_val, 0);
    const lo_train_block b = lo_train__trainable(r->m);
    const size_t bytes = (size_t)b.n * sizeof(float);
    lo_train__dist_bcast(b.w, bytes, 0);
    lo_train__dist_bcast(b.m, bytes, 0);
    lo_train__dist_bcast(b.v, bytes, 0);
    *next_step = st[0];
    r->tr->t_adam = st[1];
    lo_train__loader_restore(r->lt, st[2], st[3]);
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
    /* Data parallel: the step's K micro-batches are the single process's, rank r computing
     * micro-batches r, r + W, ...; so K must be a multiple of the world size W. */
    const int W = lo_train_dist_size(), R = lo_train_dist_rank();
    if ((p->train.grad_accum > 0 ? p->train.grad_accum : 1) % W != 0)
        return lo_error(LO_ERR_INVALID, "give --grad-accum a multiple of the number of processes (mpirun -np)",
                        "train: --grad-accum %d is not divisible by the %d processes",
                        p->train.grad_accum > 0 ? p->train.grad_accum : 1, W);
    run_state r = {0};
    const char *tok_path = p->base_path ? p->base_path : p->tokenizer_path;
    lo_status s = lo_gguf_open(tok_path, &r.g);
    if (!s) s = lo_tokenizer_load(r.g, &r.tok);
    /* Until the setup is agreed below, a failure returns through one agreement, which the
     * ranks that did not fail meet at that point. */
    if (s) {
        run_free(&r);
        return lo_train_dist_agree(lo_error_wrap(s, "train: tokenizer %s", tok_path));
    }
    /* A base gives the model first, so that its shape is checked before the data is read. */
    if (p->base_path &&
        (s = p->qlora ? lo_train_model_load_qlora(p->base_path, &r.m) : lo_train_model_load_gguf(p->base_path, &r.m))) {
        run_free(&r);
        return lo_train_dist_agree(s);
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
    const size_t bt = (size_t)B * (size_t)T * (size_t)K; /* tokens per step, all ranks */
    const int32_t KL = K / W;                            /* this rank's micro-batches per step */
    if (!s) {
        const size_t btl = (size_t)B * (size_t)T * (size_t)KL;
        r.tok_buf = lo_malloc(btl * sizeof *r.tok_buf);
        r.tgt_buf = lo_malloc(btl * sizeof *r.tgt_buf);
        r.mask_buf = lo_malloc(btl);
        if (!r.tok_buf || !r.tgt_buf || !r.mask_buf) s = LO_ERR_NOMEM;
    }
    s = lo_train_dist_agree(s);
    if (!s && W > 1) s = dist_start(&r); /* every rank gets here with the same s */
    if (s) {
        run_free(&r);
        return s;
    }
    res->n_params = lo_train_model_n_params(r.m);
    res->n_trainable = lo_train_model_n_trainable_params(r.m);
    res->train_tokens = r.train.n_ids;
    int64_t start = 0;
    double first_val = NAN;
    if (p->resume_path && (s = W > 1 ? dist_resume(&r, p, &start, &first_val) : ckpt_read(&r, p, &start, &first_val)))
        goto done;
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
    if (p->report && R == 0) p->report(p->report_ud, &rep);
    const double t0 = lo_time_sec();
    double t_eval = 0; /* evaluation time, left out of tokens/s */
    const size_t mb = (size_t)B * (size_t)T;
    for (int64_t step = start; step < tp.total_steps; step++) {
        int64_t epoch = 0, counted = 0;
        /* Every rank draws all K micro-batches (the same sequence as one process) and counts
         * their tokens, so grad_scale is the single process's; it keeps its own. */
        for (int32_t k = 0; k < K; k++) {
            const int32_t *tk, *tg;
            const uint8_t *mk;
            lo_train_loader_next(r.lt, &tk, &tg, &mk, &epoch);
            for (size_t i = 0; i < mb; i++) counted += mk[i] != 0;
            if (k % W != R) continue;
            const size_t o = (size_t)(k / W) * mb;
            memcpy(r.tok_buf + o, tk, mb * sizeof *tk);
            memcpy(r.tgt_buf + o, tg, mb * sizeof *tg);
            memcpy(r.mask_buf + o, mk, mb);
        }
        lo_trainer_zero_grad(r.tr);
        double sum = 0;
        const float scale = counted ? 1.0f / (float)counted : 0.0f;
        for (int32_t k = 0; k < KL; k++) {
            double s1;
            int64_t c1;
            /* a fresh mask per micro-batch, by its index in the global step (rank R computes
             * micro-batches R, R + W, ...), so every process count draws the same masks */
            lo_trainer_set_dropout(r.tr, true, p->seed, step, k * W + R);
            s = lo_trainer_forward(r.tr, r.tok_buf + k * mb, r.tgt_buf + k * mb, r.mask_buf + k * mb, true, scale, &s1,
                                   &c1);
            if (s) break;
            sum += s1;
        }
        if (W > 1) { /* the step's loss and gradient are the sums over the ranks */
            double a[2] = {sum, s ? 1 : 0};
            lo_train__dist_sum_f64(a, 2);
            if (a[1] > 0) {
                s = lo_train_dist_agree(s);
                goto done;
            }
            sum = a[0];
            const lo_train_block g = lo_train__trainable(r.m);
            lo_train__dist_sum_f32(g.g, g.n);
        } else if (s) {
            goto done;
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
        if (p->report && R == 0) p->report(p->report_ud, &rep);
        bool stop = p->stop && *p->stop;
        if (W > 1) { /* a stop on any rank stops every rank after this step */
            int64_t f = stop;
            lo_train__dist_sum_i64(&f, 1);
            stop = f > 0;
        }
        if (p->checkpoint_path && step + 1 < tp.total_steps &&
            (stop || (p->checkpoint_every > 0 && (step + 1) % p->checkpoint_every == 0)) &&
            (s = lo_train_dist_agree(R == 0 ? ckpt_write(&r, p, step + 1, first_val) : LO_OK)))
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
    if (R == 0) { /* rank 0 writes the outputs */
        s = lo_train_model_save_gguf(r.m, p->base_path ? NULL : p->tokenizer_path, p->name, p->out_path);
        if (!s && p->adapter_path) s = lo_train_model_save_lora_gguf(r.m, p->name, p->adapter_path);
    }
    s = lo_train_dist_agree(s);
done:
    run_free(&r);
    return s;
}
