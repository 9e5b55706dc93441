/* lo_model_gen_random: a tiny custom llama in F32/Q8_0/Q4_K_M loads with lo_model_load
 * with the right hparams and tensor types; the same seed gives the same bytes, another
 * seed other bytes; generating type T equals generating F32 and quantising to T; the
 * weights have the intended scale; named shapes and bad parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "llmops/llmops.h"

static char dir[256];

static bool same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool ok = !lo_read_file(a, &x, &nx) && !lo_read_file(b, &y, &ny) && nx == ny && !memcmp(x, y, nx);
    lo_free(x);
    lo_free(y);
    return ok;
}

static lo_gen_model_params tiny(lo_ftype ft, uint64_t seed) {
    return (lo_gen_model_params){.arch = "llama", .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
                                 .n_ff = 512, .n_vocab = 320, .n_ctx = 128, .ftype = ft, .seed = seed};
}

static uint32_t type_of(const lo_gguf *g, const char *name) {
    int64_t i = lo_gguf_find_tensor(g, name);
    return i < 0 ? 999u : lo_gguf_tensor_at(g, i)->type;
}

static void check_file(const char *path, lo_ftype ft) {
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (!g) return;
    CHECK_INT_EQ(lo_gguf_n_tensors(g), 3 + 9 * 2);
    uint64_t v = 0;
    CHECK(lo_gguf_get_u64(g, "general.file_type", &v) && v == (uint64_t)ft);
    CHECK(lo_gguf_get_u64(g, "llama.rope.dimension_count", &v) && v == 64);
    CHECK(lo_gguf_get_u64(g, "llama.vocab_size", &v) && v == 320);
    const lo_gguf_value *toks = lo_gguf_get_arr(g, "tokenizer.ggml.tokens", LO_GGUF_STRING);
    CHECK(toks && toks->arr.n == 320);
    CHECK_INT_EQ(type_of(g, "output_norm.weight"), LO_DTYPE_F32);
    CHECK_INT_EQ(type_of(g, "blk.1.ffn_norm.weight"), LO_DTYPE_F32);
    if (ft == LO_FTYPE_ALL_F32) {
        CHECK_INT_EQ(type_of(g, "blk.0.attn_q.weight"), LO_DTYPE_F32);
        /* norms are 1; matrices uniform with std 0.02 */
        const lo_gguf_tensor *n = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "blk.0.attn_norm.weight"));
        CHECK(((const float *)n->data)[0] == 1.0f && ((const float *)n->data)[255] == 1.0f);
        const lo_gguf_tensor *q = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "blk.0.ffn_down.weight"));
        const float *x = q->data;
        int64_t cnt = q->ne[0] * q->ne[1];
        double s1 = 0, s2 = 0, mx = 0;
        for (int64_t i = 0; i < cnt; i++) s1 += x[i], s2 += (double)x[i] * x[i], mx = fmax(mx, fabs(x[i]));
        double mean = s1 / (double)cnt, sd = sqrt(s2 / (double)cnt - mean * mean);
        CHECK_MSG(fabs(mean) < 1e-3 && fabs(sd - 0.02) < 1e-3 && mx <= 0.0347, "mean %g sd %g max %g", mean, sd, mx);
    } else if (ft == LO_FTYPE_Q8_0) {
        CHECK_INT_EQ(type_of(g, "blk.0.attn_q.weight"), LO_DTYPE_Q8_0);
        CHECK_INT_EQ(type_of(g, "output.weight"), LO_DTYPE_Q8_0);
        CHECK_INT_EQ(type_of(g, "token_embd.weight"), LO_DTYPE_Q8_0);
    } else if (ft == LO_FTYPE_Q4_K_M) {
        CHECK_INT_EQ(type_of(g, "blk.0.attn_q.weight"), LO_DTYPE_Q4_K);
        CHECK_INT_EQ(type_of(g, "output.weight"), LO_DTYPE_Q6_K);
        CHECK_INT_EQ(type_of(g, "blk.0.attn_v.weight"), LO_DTYPE_Q4_K);
        CHECK_INT_EQ(type_of(g, "blk.1.attn_v.weight"), LO_DTYPE_Q6_K); /* use_more_bits(1, 2) */
        CHECK_INT_EQ(type_of(g, "blk.1.ffn_down.weight"), LO_DTYPE_Q6_K);
        CHECK_INT_EQ(type_of(g, "blk.0.ffn_down.weight"), LO_DTYPE_Q4_K);
    }
    lo_gguf_close(g);
    /* The model loader accepts it with the right hyperparameters. */
    lo_model *m = NULL;
    CHECK_OK(lo_model_load(path, &m));
    if (m) {
        const lo_hparams *hp = lo_model_hparams(m);
        CHECK_STR_EQ(hp->arch, "llama");
        CHECK_INT_EQ(hp->n_embd, 256);
        CHECK_INT_EQ(hp->n_layer, 2);
        CHECK_INT_EQ(hp->n_head, 4);
        CHECK_INT_EQ(hp->n_head_kv, 2);
        CHECK_INT_EQ(hp->n_ff, 512);
        CHECK_INT_EQ(hp->n_vocab, 320);
        CHECK_INT_EQ(hp->n_ctx_train, 128);
        CHECK_INT_EQ(hp->n_rot, 64);
        CHECK(fabsf(hp->norm_eps - 1e-5f) < 1e-9f);
        CHECK(lo_model_weight_bytes_per_token(m) > 0);
        lo_model_free(m);
    }
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/lo_test_genmodel.%d", (int)getpid());
    mkdir(dir, 0700);
    char f32[300], q8[300], q4km[300], q4km2[300], q4km_s2[300], requant[300];
    snprintf(f32, sizeof f32, "%s/f32.gguf", dir);
    snprintf(q8, sizeof q8, "%s/q8.gguf", dir);
    snprintf(q4km, sizeof q4km, "%s/q4km.gguf", dir);
    snprintf(q4km2, sizeof q4km2, "%s/q4km2.gguf", dir);
    snprintf(q4km_s2, sizeof q4km_s2, "%s/q4km_s2.gguf", dir);
    snprintf(requant, sizeof requant, "%s/requant.gguf", dir);

    lo_gen_model_params p = tiny(LO_FTYPE_ALL_F32, 7);
    CHECK_OK(lo_model_gen_random(&p, f32));
    check_file(f32, LO_FTYPE_ALL_F32);
    p = tiny(LO_FTYPE_Q8_0, 7);
    CHECK_OK(lo_model_gen_random(&p, q8));
    check_file(q8, LO_FTYPE_Q8_0);
    p = tiny(LO_FTYPE_Q4_K_M, 7);
    CHECK_OK(lo_model_gen_random(&p, q4km));
    check_file(q4km, LO_FTYPE_Q4_K_M);
    /* Deterministic: the same seed gives the same bytes, another seed other bytes. */
    CHECK_OK(lo_model_gen_random(&p, q4km2));
    CHECK(same_file(q4km, q4km2));
    p.seed = 8;
    CHECK_OK(lo_model_gen_random(&p, q4km_s2));
    CHECK(!same_file(q4km, q4km_s2));
    /* Generating Q4_K_M directly = generating F32 and quantising it (shared type choice). */
    CHECK_OK(lo_model_quantize(f32, requant, LO_FTYPE_Q4_K_M, 2));
    CHECK(same_file(q4km, requant));
    CHECK_OK(lo_model_quantize(f32, requant, LO_FTYPE_Q8_0, 1));
    CHECK(same_file(q8, requant));

    /* A tokenizer copied from a vocab file. */
    char vocab[512], withtok[300];
    check_shared("models/vocab/ggml-vocab-llama-spm.gguf", vocab, sizeof vocab);
    snprintf(withtok, sizeof withtok, "%s/tok.gguf", dir);
    p = tiny(LO_FTYPE_Q4_0, 1);
    p.n_vocab = 0;
    p.tokenizer_path = vocab;
    CHECK_OK(lo_model_gen_random(&p, withtok));
    lo_model *m = NULL;
    CHECK_OK(lo_model_load(withtok, &m));
    if (m) {
        CHECK_INT_EQ(lo_model_hparams(m)->n_vocab, 32000);
        CHECK(lo_model_tokenizer(m) != NULL);
        lo_model_free(m);
    }
    p.n_vocab = 100; /* disagrees with the tokenizer */
    CHECK(lo_model_gen_random(&p, withtok) == LO_ERR_INVALID);

    /* Named shapes. */
    lo_gen_model_params s = {0};
    CHECK(lo_gen_model_shape("tinyllama-1.1b", &s));
    CHECK(s.n_embd == 2048 && s.n_layer == 22 && s.n_head == 32 && s.n_head_kv == 4 && s.n_ff == 5632 &&
          s.n_vocab == 32000 && s.n_ctx == 2048);
    CHECK(lo_gen_model_shape("stories15m", &s));
    CHECK(s.n_embd == 288 && s.n_layer == 6 && s.n_head == 6 && s.n_head_kv == 6 && s.n_ff == 768 && s.n_ctx == 256);
    CHECK(!lo_gen_model_shape("gpt-5", &s));

    /* Bad parameters are refused and leave nothing behind. */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad.gguf", dir);
    p = tiny(LO_FTYPE_Q4_0, 1);
    p.n_head = 3; /* 256 % 3 */
    CHECK(lo_model_gen_random(&p, bad) == LO_ERR_INVALID);
    p = tiny(LO_FTYPE_Q4_0, 1);
    p.n_vocab = 100; /* too small for a byte vocab */
    CHECK(lo_model_gen_random(&p, bad) == LO_ERR_RANGE);
    p = tiny(LO_FTYPE_Q4_0, 1);
    p.arch = "gpt2";
    CHECK(lo_model_gen_random(&p, bad) == LO_ERR_UNSUPPORTED);
    struct stat st;
    CHECK(stat(bad, &st) != 0);

    /* The CLI: gen-model, quantize and bench (text and --json). */
    char cmd[2048], clif[300], cliq[300], outf[300];
    snprintf(clif, sizeof clif, "%s/cli.gguf", dir);
    snprintf(cliq, sizeof cliq, "%s/cliq.gguf", dir);
    snprintf(outf, sizeof outf, "%s/bench.out", dir);
    snprintf(cmd, sizeof cmd,
             "%s gen-model --arch llama --shape custom --dim 256 --layers 2 --heads 4 --kv-heads 2 --ff 512 --vocab 320 "
             "--type F32 --seed 7 %s >/dev/null",
             LO_CLI_PATH, clif);
    CHECK_INT_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s quantize %s %s q4_k >/dev/null", LO_CLI_PATH, clif, cliq);
    CHECK_INT_EQ(system(cmd), 0);
    p = tiny(LO_FTYPE_ALL_F32, 7);
    p.n_ctx = 2048; /* the CLI's default for custom shapes */
    CHECK_OK(lo_model_gen_random(&p, requant));
    CHECK(same_file(clif, requant));
    snprintf(cmd, sizeof cmd, "%s bench -m %s -p 8 -n 4 -t 1 -r 2 --json > %s", LO_CLI_PATH, cliq, outf);
    CHECK_INT_EQ(system(cmd), 0);
    char *txt = NULL;
    size_t len = 0;
    CHECK_OK(lo_read_file(outf, &txt, &len));
    if (txt) {
        char *nl = strchr(txt, '\n');
        json_t *pp = NULL, *tg = NULL;
        if (nl) {
            CHECK_OK(lo_json_parse(txt, (size_t)(nl - txt), &pp));
            CHECK_OK(lo_json_parse(nl + 1, strlen(nl + 1), &tg));
        }
        CHECK(pp && !strcmp(json_string_value(json_object_get(pp, "test")), "pp8"));
        CHECK(tg && !strcmp(json_string_value(json_object_get(tg, "test")), "tg4"));
        CHECK(pp && json_real_value(json_object_get(pp, "avg_ts")) > 0);
        CHECK(tg && json_array_size(json_object_get(tg, "samples_ts")) == 2);
        CHECK(tg && json_integer_value(json_object_get(tg, "weight_bytes_per_token")) > 0);
        CHECK(tg && json_integer_value(json_object_get(tg, "peak_rss_bytes")) > 0);
        json_decref(pp);
        json_decref(tg);
        lo_free(txt);
    }
    snprintf(cmd, sizeof cmd, "%s bench -m %s -p 8 -n 4 -t 1 -r 1 > %s", LO_CLI_PATH, cliq, outf);
    CHECK_INT_EQ(system(cmd), 0);
    CHECK_OK(lo_read_file(outf, &txt, &len));
    CHECK(txt && strstr(txt, "pp8 threads=1: ") && strstr(txt, "tg4 threads=1: ") && strstr(txt, " tokens/s"));
    lo_free(txt);
    snprintf(cmd, sizeof cmd, "%s bench -m %s -x 2>/dev/null", LO_CLI_PATH, cliq);
    CHECK(WEXITSTATUS(system(cmd)) == 2);
    snprintf(cmd, sizeof cmd, "%s gen-model --shape nope --type Q4_0 %s 2>/dev/null", LO_CLI_PATH, clif);
    CHECK(WEXITSTATUS(system(cmd)) == 2);

    const char *files[] = {f32, q8, q4km, q4km2, q4km_s2, requant, withtok, clif, cliq, outf};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) unlink(files[i]);
    rmdir(dir);
    return check_done();
}
