/* train: the step's element-wise kernels (vmath.c) on every ISA this CPU runs — the vector
 * exp within 2 ulp of expf over [−104, 89] (subnormals, 0 and inf included) and on
 * every tail length; exp-sum, max and the SiLU forward/backward against scalar references. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "llmops/tensor.h"
#include "train/train_internal.h"

static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4), memcpy(&ib, &b, 4);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

enum { NX = 200000 };
static float xs[NX + 64], ys[NX + 64], zs[NX + 64];

static void check_isa(lo_isa isa) {
    const char *nm = lo_isa_name(isa);
    /* exp over the whole range, dense near 0 where softmax lives */
    for (int i = 0; i < NX; i++) xs[i] = -104.0f + 193.0f * (float)i / (NX - 1);
    for (int i = 0; i < 64; i++) xs[NX + i] = (float)(i - 32) * 1e-3f;
    lo_train__vexp(ys, xs, NX + 64);
    int64_t worst = 0;
    float at = 0;
    for (int i = 0; i < NX + 64; i++) {
        const int64_t u = ulps(ys[i], expf(xs[i]));
        if (u > worst) worst = u, at = xs[i];
    }
    CHECK_MSG(worst <= 2, "%s: exp is %lld ulp from expf at %.9g", nm, (long long)worst, at);
    float big[3] = {90.0f, -200.0f, -INFINITY}, out[3];
    lo_train__vexp(out, big, 3);
    CHECK_MSG(isinf(out[0]) && out[1] == 0 && out[2] == 0, "%s: exp(90) %g exp(-200) %g exp(-inf) %g", nm, out[0],
              out[1], out[2]);
    /* every tail length: max, exp-sum, silu */
    for (int n = 0; n <= 40; n++) {
        float z[48], ref[48];
        double want = 0;
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) z[i] = sinf((float)(i * 7 + n)) * 20.0f, mx = z[i] > mx ? z[i] : mx;
        CHECK_MSG(lo_train__vmax(z, n) == mx, "%s: max of %d", nm, n);
        for (int i = 0; i < n; i++) want += (ref[i] = expf(z[i] - mx));
        z[n] = 12345.0f; /* past the end: untouched */
        const double got = lo_train__vexp_sum(z, n, mx);
        CHECK_MSG(fabs(got - want) <= 1e-6 * (want + 1e-30), "%s: exp-sum of %d: %.9g vs %.9g", nm, n, got, want);
        for (int i = 0; i < n; i++) CHECK_MSG(ulps(z[i], ref[i]) <= 2, "%s: exp-sum element %d of %d", nm, i, n);
        CHECK(z[n] == 12345.0f);
    }
    for (int i = 0; i < 1000; i++) xs[i] = -95.0f + 190.0f * (float)i / 999, zs[i] = cosf((float)i);
    lo_train__silu_fwd(ys, xs, zs, 1000);
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        const double x = xs[i], sg = 1.0 / (1.0 + exp(-x)), h = x * sg * zs[i];
        bad += fabs(ys[i] - h) > 1e-6 * fabs(h) + 1e-30;
    }
    CHECK_MSG(bad == 0, "%s: silu forward: %d of 1000 off", nm, bad);
    static float dg[1000], du[1000], dh[1000];
    for (int i = 0; i < 1000; i++) dh[i] = sinf((float)i * 0.37f);
    lo_train__silu_bwd(dg, du, dh, xs, zs, 1000);
    bad = 0;
    for (int i = 0; i < 1000; i++) {
        const double x = xs[i], sg = 1.0 / (1.0 + exp(-x));
        const double wu = dh[i] * x * sg, wg = dh[i] * zs[i] * sg * (1.0 + x * (1.0 - sg));
        bad += fabs(du[i] - wu) > 1e-5 * fabs(wu) + 1e-30 || fabs(dg[i] - wg) > 1e-5 * fabs(wg) + 1e-30;
    }
    CHECK_MSG(bad == 0, "%s: silu backward: %d of 1000 off", nm, bad);
}

int main(void) {
    const lo_isa best = lo_isa_best();
    int ran = 0;
    for (int isa = LO_ISA_SCALAR; isa <= LO_ISA_AVX512; isa++) {
        if (isa > (int)best || !lo_isa_set((lo_isa)isa)) continue;
        CHECK_INT_EQ(lo_isa_current(), isa);
        check_isa((lo_isa)isa);
        ran++;
    }
    lo_isa_set(best);
    CHECK(ran >= 1);
    return check_done();
}
