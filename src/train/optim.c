/* train: the optimizer — learning-rate schedules with linear warmup, clipping by global
 * gradient norm, and AdamW (Loshchilov & Hutter: decay decoupled from the adaptive step,
 * bias-corrected moments), applied tensor by tensor in table order. */
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

void lo_trainer_step(lo_trainer *t, int64_t step, lo_train_step_info *info) {
    const lo_train_block m = lo_train__trainable(t->m); /* the adapters only, under LoRA */
    const lo_train_params *p = &t->p;
    double ss = 0;
    for (int64_t i = 0; i < m.n; i++) ss += (double)m.g[i] * m.g[i];
    const double norm = sqrt(ss);
    const float clip = p->grad_clip > 0 && norm > p->grad_clip ? (float)(p->grad_clip / norm) : 1.0f;
    const float lr = lo_train_lr(p, step);
    t->t_adam++;
    const float b1 = p->beta1, b2 = p->beta2, eps = p->adam_eps;
    const float c1 = 1.0f / (1.0f - powf(b1, (float)t->t_adam)), c2 = 1.0f / (1.0f - powf(b2, (float)t->t_adam));
    for (int32_t k = 0; k < m.n_t; k++) {
        const lo_train_tdesc *d = &m.t[k];
        const int64_t n = d->ne[0] * d->ne[1];
        float *w = m.w + d->offset, *g = m.g + d->offset, *mm = m.m + d->offset, *vv = m.v + d->offset;
        const float wd = d->decay ? p->weight_decay : 0.0f;
        for (int64_t i = 0; i < n; i++) {
            const float gi = g[i] * clip;
            mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
            vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
            const float mh = mm[i] * c1, vh = vv[i] * c2;
            w[i] -= lr * (mh / (sqrtf(vh) + eps) + wd * w[i]);
        }
    }
    if (info) info->lr = lr, info->grad_norm = norm;
}
