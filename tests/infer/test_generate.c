/* Generation on stories260K: greedy ids against llama.cpp's golden continuations, stop
 * strings across token boundaries, finish reasons (length, stop, abort, full context),
 * ignore_eos, seeded reproducibility, and streamed pieces that concatenate to the text. */
#include <math.h>

#include "check.h"
#include "infer/infer_internal.h"
#include "llmops/llmops.h"

static lo_model *model;
static lo_context *ctx;

typedef struct stream {
    char buf[8192];
    size_t len;
    int calls, flushes;
    int abort_after; /* > 0: return false on that call */
    bool bad_utf8;   /* a non-final piece ended inside a character */
    size_t live0;    /* live bytes at the first call */
    bool alloc_grew; /* live bytes changed between calls: the loop allocated */
} stream;

static bool on_token(void *user, int32_t id, const char *text, size_t len) {
    stream *s = user;
    s->calls++;
    if (s->calls == 1) s->live0 = lo_alloc_live_bytes();
    else if (lo_alloc_live_bytes() != s->live0) s->alloc_grew = true;
    if (id < 0) s->flushes++;
    else if (lo_utf8_incomplete_tail(text, len) != 0) s->bad_utf8 = true;
    if (s->len + len < sizeof s->buf) {
        memcpy(s->buf + s->len, text, len);
        s->len += len;
        s->buf[s->len] = '\0';
    }
    return !(s->abort_after > 0 && s->calls >= s->abort_after);
}

static lo_generate_params greedy(int32_t n) {
    lo_generate_params p;
    lo_generate_params_default(&p);
    p.n_predict = n;
    p.sampling.temperature = 0;
    return p;
}

static void tokenize(const char *text, lo_tokens *out) {
    out->n = 0;
    CHECK_OK(lo_tokenize(lo_model_tokenizer(model), text, strlen(text), true, true, out));
}

static void test_golden(void) {
    char path[1024];
    json_t *line = NULL;
    char *data = NULL;
    size_t bytes = 0;
    CHECK_OK(lo_read_file(check_shared("models/golden-llamacpp.jsonl", path, sizeof path), &data, &bytes));
    if (!data) return;
    int cases = 0;
    lo_tokens pt = {0};
    for (char *l = data; *l;) {
        char *nl = strchr(l, '\n');
        size_t ll = nl ? (size_t)(nl - l) : strlen(l);
        if (ll == 0) {
            l = nl ? nl + 1 : l + ll;
            continue;
        }
        CHECK_OK(lo_json_parse(l, ll, &line));
        l = nl ? nl + 1 : l + ll;
        if (!line) continue;
        const char *file = json_string_value(json_object_get(line, "file"));
        if (!file || strcmp(file, "stories260K.gguf") != 0) {
            json_decref(line);
            continue;
        }
        const char *prompt = json_string_value(json_object_get(line, "prompt"));
        json_t *pids = json_object_get(line, "prompt_ids"), *gids = json_object_get(line, "gen_ids"),
               *margins = json_object_get(line, "margins");
        tokenize(prompt, &pt);
        CHECK_INT_EQ(pt.n, (int64_t)json_array_size(pids));
        for (size_t i = 0; i < json_array_size(pids) && i < (size_t)pt.n; i++)
            CHECK_INT_EQ(pt.ids[i], json_integer_value(json_array_get(pids, i)));
        int32_t n_gen = (int32_t)json_array_size(gids);
        /* compare up to the first step where llama.cpp's top-2 margin is < 0.02: there a
         * rounding difference may legitimately flip the argmax */
        int32_t n_cmp = n_gen;
        for (int32_t i = 0; i < n_gen; i++)
            if (json_number_value(json_array_get(margins, (size_t)i)) < 0.02) {
                n_cmp = i;
                break;
            }
        for (int pass = 0; pass < 2; pass++) {
            lo_generate_params p = greedy(n_gen);
            p.n_batch = pass == 0 ? 512 : 2; /* the prompt in one decode, or in chunks of 2 */
            lo_generate_result r;
            CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
            CHECK_INT_EQ(r.n_prompt, pt.n);
            int32_t same = 0;
            while (same < n_cmp && same < r.n_completion &&
                   r.ids[same] == json_integer_value(json_array_get(gids, (size_t)same)))
                same++;
            CHECK_MSG(same == n_cmp, "'%s' (n_batch %d): first %d ids match, %d expected", prompt, p.n_batch, same, n_cmp);
            if (n_cmp == n_gen) {
                CHECK_INT_EQ(r.n_completion, n_gen);
                CHECK_INT_EQ(r.finish, LO_FINISH_LENGTH);
                /* the golden text is the concatenated pieces */
                CHECK_STR_EQ(r.text, json_string_value(json_object_get(line, "text")));
            }
            lo_generate_result_free(&r);
        }
        cases++;
        json_decref(line);
    }
    CHECK_INT_EQ(cases, 3);
    lo_tokens_free(&pt);
    lo_free(data);
}

/* The greedy text of "Once upon a time" (48 tokens), for the stop-string cases. */
static void greedy_text(char *out, size_t cap) {
    lo_tokens pt = {0};
    tokenize("Once upon a time", &pt);
    lo_generate_params p = greedy(48);
    lo_generate_result r;
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
    snprintf(out, cap, "%s", r.text ? r.text : "");
    lo_generate_result_free(&r);
    lo_tokens_free(&pt);
}

static void test_stop(void) {
    char full[4096];
    greedy_text(full, sizeof full);
    CHECK(strncmp(full, ", there was a little girl named Lily.", 37) == 0);
    lo_tokens pt = {0};
    tokenize("Once upon a time", &pt);
    /* "e was a li" starts inside "there" and ends inside "little": it spans tokens */
    const char *cases[][3] = {
        {"e was a li", NULL, NULL},
        {"Lily. She", "park", NULL},    /* the earliest of two */
        {"zzz", "red ball", "qqq"},
        {", there", NULL, NULL},        /* at the very start: empty text */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *stops[3];
        int32_t ns = 0;
        for (int j = 0; j < 3; j++)
            if (cases[k][j]) stops[ns++] = cases[k][j];
        size_t cut = strlen(full);
        const char *want_hit = NULL;
        for (int32_t j = 0; j < ns; j++) {
            const char *f = strstr(full, stops[j]);
            if (f && (size_t)(f - full) < cut) cut = (size_t)(f - full), want_hit = stops[j];
        }
        CHECK(want_hit != NULL);
        stream s = {0};
        lo_generate_params p = greedy(48);
        p.stop = stops;
        p.n_stop = ns;
        p.on_token = on_token;
        p.user = &s;
        lo_generate_result r;
        CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
        CHECK_INT_EQ(r.finish, LO_FINISH_STOP);
        CHECK(r.stop_hit == want_hit);
        CHECK_INT_EQ(r.text_len, cut);
        CHECK(r.text && strncmp(r.text, full, cut) == 0 && r.text[cut] == '\0');
        CHECK_STR_EQ(s.buf, r.text); /* nothing of the stop string was streamed */
        CHECK(r.n_completion < 48);
        lo_generate_result_free(&r);
    }
    /* a stop string that never appears changes nothing, and the held-back tail of a
     * partial match ("it,zz" never completes) is released at the end */
    const char *never[] = {"it,zz"};
    stream s = {0};
    lo_generate_params p = greedy(48);
    p.stop = never;
    p.n_stop = 1;
    p.on_token = on_token;
    p.user = &s;
    lo_generate_result r;
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
    CHECK_INT_EQ(r.finish, LO_FINISH_LENGTH);
    CHECK_STR_EQ(r.text, full);
    CHECK_STR_EQ(s.buf, full);
    CHECK_INT_EQ(s.calls, 48); /* the held-back "it," goes out with the last token */
    CHECK_INT_EQ(s.flushes, 0);
    lo_generate_result_free(&r);
    lo_tokens_free(&pt);
}

static void test_finish(void) {
    lo_tokens pt = {0};
    tokenize("Once upon a time", &pt);
    lo_generate_result r;
    /* max tokens */
    lo_generate_params p = greedy(7);
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
    CHECK_INT_EQ(r.finish, LO_FINISH_LENGTH);
    CHECK_INT_EQ(r.n_completion, 7);
    CHECK(r.t_prompt_ms >= 0 && r.t_gen_ms >= 0 && r.gen_tps > 0);
    lo_generate_result_free(&r);
    /* zero tokens */
    p = greedy(0);
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
    CHECK_INT_EQ(r.n_completion, 0);
    CHECK_STR_EQ(r.text, "");
    lo_generate_result_free(&r);
    /* abort from the callback */
    stream s = {.abort_after = 3};
    p = greedy(20);
    p.on_token = on_token;
    p.user = &s;
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
    CHECK_INT_EQ(r.finish, LO_FINISH_ABORT);
    CHECK_INT_EQ(r.n_completion, 3);
    lo_generate_result_free(&r);
    /* EOS pushed to the top: generation stops at once... */
    const int32_t eos = lo_tokenizer_eos(lo_model_tokenizer(model));
    lo_logit_bias push = {eos, 1000.0f};
    p = greedy(10);
    p.sampling.logit_bias = &push;
    p.sampling.n_logit_bias = 1;
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
    CHECK_INT_EQ(r.finish, LO_FINISH_STOP);
    CHECK_INT_EQ(r.n_completion, 0);
    CHECK(r.stop_hit == NULL);
    lo_generate_result_free(&r);
    /* ...unless ignore_eos bans every EOG token */
    p.ignore_eos = true;
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &r));
    CHECK_INT_EQ(r.finish, LO_FINISH_LENGTH);
    CHECK_INT_EQ(r.n_completion, 10);
    for (int32_t i = 0; i < r.n_completion; i++) CHECK(!lo_tokenizer_is_eog(lo_model_tokenizer(model), r.ids[i]));
    lo_generate_result_free(&r);
    /* a full context ends with "length": positions 0..15 hold 5 prompt + 11 generated
     * tokens, and one more is sampled from the last logits */
    lo_context *small = NULL;
    lo_context_params cp = {.n_ctx = 16, .n_seq = 1, .n_batch = 16, .n_threads = 1};
    CHECK_OK(lo_context_create(model, &cp, &small));
    p = greedy(100);
    CHECK_OK(lo_generate(model, small, pt.ids, (int32_t)pt.n, &p, &r));
    CHECK_INT_EQ(r.finish, LO_FINISH_LENGTH);
    CHECK_INT_EQ(r.n_completion, 16 - 5 + 1);
    lo_generate_result_free(&r);
    /* errors: empty prompt, prompt longer than the context, bad ids */
    CHECK_INT_EQ(lo_generate(model, small, pt.ids, 0, &p, &r), LO_ERR_INVALID);
    int32_t big[20] = {1};
    CHECK_INT_EQ(lo_generate(model, small, big, 20, &p, &r), LO_ERR_RANGE);
    int32_t bad[2] = {1, 100000};
    CHECK_INT_EQ(lo_generate(model, ctx, bad, 2, &p, &r), LO_ERR_RANGE);
    CHECK(r.ids == NULL && r.text == NULL);
    lo_context_free(small);
    lo_tokens_free(&pt);
}

static void test_sampled(void) {
    lo_tokens pt = {0};
    tokenize("Once upon a time", &pt);
    lo_generate_result a, b, c;
    lo_generate_params p;
    lo_generate_params_default(&p);
    p.n_predict = 64;
    p.sampling.seed = 7;
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &a));
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &b));
    p.sampling.seed = 8;
    CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &c));
    CHECK_INT_EQ(a.seed, 7);
    CHECK_INT_EQ(a.n_completion, b.n_completion);
    CHECK(a.n_completion == b.n_completion && memcmp(a.ids, b.ids, (size_t)a.n_completion * 4) == 0);
    CHECK_STR_EQ(a.text, b.text);
    CHECK(a.n_completion != c.n_completion || memcmp(a.ids, c.ids, (size_t)a.n_completion * 4) != 0);
    lo_generate_result_free(&a);
    lo_generate_result_free(&b);
    lo_generate_result_free(&c);
    /* hot sampling wanders into byte tokens: whatever comes, the pieces are whole UTF-8
     * characters and concatenate to the text */
    for (uint64_t seed = 1; seed <= 6; seed++) {
        stream s = {0};
        lo_generate_params_default(&p);
        p.n_predict = 200;
        p.sampling.temperature = 3.0f;
        p.sampling.top_k = 0;
        p.sampling.top_p = 1.0f;
        p.sampling.min_p = 0;
        p.sampling.seed = seed;
        p.ignore_eos = true;
        p.on_token = on_token;
        p.user = &s;
        CHECK_OK(lo_generate(model, ctx, pt.ids, (int32_t)pt.n, &p, &a));
        CHECK_INT_EQ(a.n_completion, 200);
        CHECK_INT_EQ(s.calls - s.flushes, 200);
        CHECK(!s.bad_utf8);
        CHECK(!s.alloc_grew);
        CHECK_INT_EQ(s.len, a.text_len);
        CHECK(memcmp(s.buf, a.text, a.text_len) == 0);
        lo_generate_result_free(&a);
    }
    lo_tokens_free(&pt);
}

static void test_helpers(void) {
    CHECK_INT_EQ(lo_utf8_incomplete_tail("abc", 3), 0);
    CHECK_INT_EQ(lo_utf8_incomplete_tail("a\xE2\x82", 3), 2);
    CHECK_INT_EQ(lo_utf8_incomplete_tail("a\xE2\x82\xAC", 4), 0);
    CHECK_INT_EQ(lo_utf8_incomplete_tail("a\xF0\x9F\x98", 4), 3);
    CHECK_INT_EQ(lo_utf8_incomplete_tail("a\xC3", 2), 1);
    CHECK_INT_EQ(lo_utf8_incomplete_tail("\x80\x80", 2), 0); /* stray continuations never complete */
    const char *stops[] = {"</s>", "END"};
    CHECK_INT_EQ(lo_stop_holdback("hello </", 8, stops, 2), 2);
    CHECK_INT_EQ(lo_stop_holdback("hello EN", 8, stops, 2), 2);
    CHECK_INT_EQ(lo_stop_holdback("hello <", 7, stops, 2), 1);
    CHECK_INT_EQ(lo_stop_holdback("hello", 5, stops, 2), 0);
    CHECK_INT_EQ(lo_stop_holdback("<", 1, stops, 2), 1);
    CHECK_STR_EQ(lo_finish_reason_name(LO_FINISH_LENGTH), "length");
    CHECK_STR_EQ(lo_finish_reason_name(LO_FINISH_STOP), "stop");
}

int main(void) {
    char path[1024];
    test_helpers();
    CHECK_OK(lo_model_load(check_shared("models/stories260K.gguf", path, sizeof path), &model));
    if (!model) return check_done();
    lo_context_params cp = {.n_ctx = 256, .n_seq = 1, .n_batch = 512, .n_threads = 2};
    CHECK_OK(lo_context_create(model, &cp, &ctx));
    if (!ctx) return check_done();
    test_golden();
    test_stop();
    test_finish();
    test_sampled();
    lo_context_free(ctx);
    lo_model_free(model);
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
