/* train: the optimizer — learning-rate schedules with linear warmup, clipping by global
 * gradient norm, and AdamW (Loshchilov & Hutter: decay decoupled from the adaptive step,
 * bias-corrected moments), element-wise over the trainable block split across the pool. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "train/train_internal.h"

static const char *const sched_names[] = {"constant", "linear", "cosine"};

int lo_lr_schedule_from_name(const char *name) {
    for (int i = 0; name && i < 3; i++)
        if (!strcasecmp(name, sched_names[i])) return i;
    return -1;
}

const char *lo_lr_schedule_name(lo_lr_schedule s) {
    return (int)s >= 0 && (int)s < 3 ? sched_names[s] : "?";
}

/* Warmup: lr·(step+1)/warmup for step < warmup. Then progress p ∈ [0, 1] over the rest:
 * constant lr; linear lr → min_lr; cosine min_lr + (lr − min_lr)·(1 + cos πp)/2. */
float lo_train_lr(const lo_train_params *p, int64_t step) {
    if (step < p->warmup) return p->lr * (float)(step + 1) / (float)p->warmup;
    const int64_t span = p->total_steps - p->warmup;
    double pr = span > 1 ? (double)(step - p->warmup) / (double)(span - 1) : 1.0;
    if (pr > 1) pr = 1;
    if (pr < 0) pr = 0;
    switch (p->schedule) {
    case LO_SCHED_LINEAR:
        return (float)(p->lr + (p->min_lr - p->lr) * pr);
    case LO_SCHED_COSINE:
        return (float)(p->min_lr + (p->lr - p->min_lr) * 0.5 * (1.0 + cos(3.141592653589793 * pr)));
    default:
        return p->lr;
    }
}

/* The step runs on the pool: the gradient's sum of squares in fixed chunks of
 * LO_TRAIN_ADAM_CHUNK elements (each chunk's double sum in element order, the chunks added
 * in order: the norm does not depend on the thread count), then AdamW element-wise over
 * contiguous ranges per thread. */
typedef struct adam_job {
    lo_trainer *t;
    lo_train_block m;
    bool update;
    float clip, lr, c1, c2;
} adam_job;

static double chunk_sumsq(const float *g, int64_t n) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    return ss;
}

static void adam_job_fn(void *arg, int ith, int nth) {
    const adam_job *j = arg;
    const lo_train_block *m = &j->m;
    const int64_t nc = (m->n + LO_TRAIN_ADAM_CHUNK - 1) / LO_TRAIN_ADAM_CHUNK;
    if (!j->update) {
        for (int64_t c = nc * ith / nth; c < nc * (ith + 1) / nth; c++) {
            const int64_t a = c * LO_TRAIN_ADAM_CHUNK,
                          b = a + LO_TRAIN_ADAM_CHUNK < m->n ? a + LO_TRAIN_ADAM_CHUNK : m->n;
            j->t->adam_part[c] = chunk_sumsq(m->g + a, b - a);
        }
        return;
    }
    const lo_train_params *p = &j->t->p;
    const float b1 = p->beta1, b2 = p->beta2, eps = p->adam_eps, clip = j->clip, lr = j->lr, c1 = j->c1, c2 = j->c2;
    const int64_t r0 = m->n * ith / nth, r1 = m->n * (ith + 1) / nth;
    for (int32_t k = 0; k < m->n_t; k++) {
        const lo_train_tdesc *d = &m->t[k];
        const int64_t lo = d->offset > r0 ? d->offset : r0, hi0 = d->offset + d->ne[0] * d->ne[1];
        const int64_t hi = hi0 < r1 ? hi0 : r1;
        if (hi <= lo) continue;
        float *w = m->w + lo, *g = m->g + lo, *mm = m->m + lo, *vv = m->v + lo;
        const float wd = d->decay ? p->weight_decay : 0.0f;
        for (int64_t i = 0; i < hi - lo; i++) {
            const float gi = g[i] * clip;
            mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
            vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
            const float mh = mm[i] * c1, vh = vv[i] * c2;
            w[i] -= lr * (mh / (sqrtf(vh) + eps) + wd * w[i]);
        }
    }
}

void lo_trainer_step(lo_trainer *t, int64_t step, lo_train_step_info *info) {
    const lo_train_block m = lo_train__trainable(t->m); /* the adapters only, under LoRA */
    const lo_train_params *p = &t->p;
    const int64_t nc = (m.n + LO_TRAIN_ADAM_CHUNK - 1) / LO_TRAIN_ADAM_CHUNK;
    adam_job j = {.t = t, .m = m};
    double ss = 0;
    if (nc <= t->adam_parts) {
        lo_pool_run(t->pool, adam_job_fn, &j);
        for (int64_t c = 0; c < nc; c++) ss += t->adam_part[c];
    } else /* a block grown after lo_trainer_create: the same chunks, serially */
        for (int64_t a = 0; a < m.n; a += LO_TRAIN_ADAM_CHUNK)
            ss += chunk_sumsq(m.g + a, m.n - a < LO_TRAIN_ADAM_CHUNK ? m.n - a : LO_TRAIN_ADAM_CHUNK);
    const double norm = sqrt(ss);
    j.clip = p->grad_clip > 0 && norm > p->grad_clip ? (float)(p->grad_clip / norm) : 1.0f;
    j.lr = lo_train_lr(p, step);
    t->t_adam++;
    j.c1 = 1.0f / (1.0f - powf(p->beta1, (float)t->t_adam)), j.c2 = 1.0f / (1.0f - powf(p->beta2, (float)t->t_adam));
    j.update = true;
    lo_pool_run(t->pool, adam_job_fn, &j);
    if (info) info->lr = j.lr, info->grad_norm = norm;
}
