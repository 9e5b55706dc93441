/* server: the OpenAI API over loopback against stories260K — every route and response
 * shape, the SSE byte format, each error status, API keys, 8 concurrent streams equal to
 * solo greedy runs, a client hanging up mid-stream (slot freed), >100 hostile requests
 * (the server still answers and library memory returns to its level), and shutdown. */
#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"

#include "server/http_check.h"

/* ---- streaming ---------------------------------------------------------------------------- */

typedef struct stream_acc {
    char *raw;
    size_t len, cap;
    int hang_after_events; /* > 0: hang up after this many "data:" events */
} stream_acc;

static bool on_data(void *user, const char *d, size_t n) {
    stream_acc *a = user;
    if (a->len + n + 1 > a->cap) {
        a->cap = (a->len + n + 1) * 2;
        a->raw = realloc(a->raw, a->cap);
    }
    memcpy(a->raw + a->len, d, n);
    a->len += n;
    a->raw[a->len] = '\0';
    if (a->hang_after_events > 0) {
        int ev = 0;
        for (const char *p = a->raw; (p = strstr(p, "data: ")); p += 6) ev++;
        if (ev >= a->hang_after_events) return false;
    }
    return true;
}

static long stream(const char *path, const char *body, stream_acc *a) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    lo_http_client_req q = {.method = "POST", .url = url, .body = body, .body_len = strlen(body), .timeout_s = 60,
                            .on_data = on_data, .user = a};
    lo_http_client_resp r;
    if (lo_http_fetch(&q, &r) != LO_OK) return -1;
    long st = r.status;
    lo_http_client_resp_free(&r);
    return st;
}

/* Parses an SSE body: every event "data: X\n\n", the last "[DONE]"; concatenates the
 * content deltas; returns the number of events or -1 on a format error. */
static int parse_sse(const char *raw, bool chat, char *text, size_t cap, char *finish, json_t **usage) {
    int n = 0;
    size_t tl = 0;
    text[0] = '\0';
    finish[0] = '\0';
    bool done = false;
    const char *p = raw;
    while (*p) {
        if (strncmp(p, "data: ", 6) != 0 || done) return -1;
        const char *end = strstr(p, "\n\n");
        if (!end) return -1;
        size_t len = (size_t)(end - p - 6);
        if (len == 6 && strncmp(p + 6, "[DONE]", 6) == 0) {
            done = true;
        } else {
            json_error_t e;
            json_t *v = json_loadb(p + 6, len, 0, &e);
            if (!v) return -1;
            const char *obj = jstr(v, "object");
            if (!obj || strcmp(obj, chat ? "chat.completion.chunk" : "text_completion") != 0) {
                json_decref(v);
                return -1;
            }
            json_t *c0 = jget(v, "choices.0");
            if (c0) {
                const char *t = chat ? jstr(c0, "delta.content") : jstr(c0, "text");
                if (t && tl + strlen(t) < cap) {
                    memcpy(text + tl, t, strlen(t) + 1);
                    tl += strlen(t);
                }
                const char *f = jstr(c0, "finish_reason");
                if (f) snprintf(finish, 16, "%s", f);
            } else if (usage && json_is_object(jget(v, "usage"))) {
                *usage = json_incref(jget(v, "usage"));
            }
            json_decref(v);
        }
        n++;
        p = end + 2;
    }
    return done ? n : -1;
}

typedef struct par_arg {
    const char *prompt;
    char text[4096];
    long status;
    int events;
} par_arg;

static void *par_stream(void *arg) {
    par_arg *a = arg;
    char body[512];
    snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":24,\"temperature\":0,\"stream\":true}", a->prompt);
    stream_acc acc = {0};
    a->status = stream("/v1/completions", body, &acc);
    char fin[16];
    a->events = acc.raw ? parse_sse(acc.raw, false, a->text, sizeof a->text, fin, NULL) : -1;
    free(acc.raw);
    return NULL;
}

static int slots_processing(void) {
    res r = call("GET", "/health", NULL, 0, NULL);
    int n = -1;
    json_t *v = jget(r.json, "models.0.slots_processing");
    if (json_is_integer(v)) n = (int)json_integer_value(v);
    res_free(&r);
    return n;
}

int main(void) {
    char path[512];
    check_shared("models/stories260K.gguf", path, sizeof path);
    lo_server_params p;
    lo_server_params_default(&p);
    p.port = 0;
    p.n_parallel = 4;
    p.n_ctx = 256;
    p.n_threads = 1;
    p.max_queue = 8;
    p.max_body_bytes = 64 * 1024;
    lo_server *s = NULL;
    CHECK_OK(lo_server_create(&p, &s));
    CHECK_OK(lo_server_add_model(s, path, "st"));
    CHECK(lo_server_add_model(s, path, "st") == LO_ERR_INVALID); /* duplicate name */
    CHECK_OK(lo_server_start(s));
    snprintf(base, sizeof base, "http://127.0.0.1:%d", lo_server_port(s));

    /* /v1/models */
    res r = call("GET", "/v1/models", NULL, 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(jstr(r.json, "object"), "list");
    CHECK_STR_EQ(jstr(r.json, "data.0.id"), "st");
    CHECK_STR_EQ(jstr(r.json, "data.0.object"), "model");
    CHECK(strncmp(r.hdr_ct, "application/json", 16) == 0);
    res_free(&r);
    r = call("GET", "/v1/models/st", NULL, 0, NULL);
    CHECK_STR_EQ(jstr(r.json, "id"), "st");
    res_free(&r);
    expect_error("models/unknown", call("GET", "/v1/models/nope", NULL, 0, NULL), 404, "model");

    /* /v1/completions: llama.cpp's greedy text for stories260K (golden) */
    r = call("POST", "/v1/completions", "{\"model\":\"st\",\"prompt\":\"Once upon a time\",\"max_tokens\":20,\"temperature\":0}", 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK(jstr(r.json, "id") && strncmp(jstr(r.json, "id"), "cmpl-", 5) == 0);
    CHECK_STR_EQ(jstr(r.json, "object"), "text_completion");
    CHECK_STR_EQ(jstr(r.json, "model"), "st");
    CHECK(json_is_integer(jget(r.json, "created")));
    CHECK_STR_EQ(jstr(r.json, "choices.0.text"), ", there was a little girl named Lily. She loved to play outsid");
    CHECK_STR_EQ(jstr(r.json, "choices.0.finish_reason"), "length");
    CHECK(json_is_null(jget(r.json, "choices.0.logprobs")));
    CHECK_INT_EQ(json_integer_value(jget(r.json, "usage.prompt_tokens")), 5);
    CHECK_INT_EQ(json_integer_value(jget(r.json, "usage.completion_tokens")), 20);
    CHECK_INT_EQ(json_integer_value(jget(r.json, "usage.total_tokens")), 25);
    res_free(&r);
    /* token-id prompt, stop string, legacy logprobs, echo */
    r = call("POST", "/v1/completions", "{\"prompt\":[1,403,407,261,378],\"max_tokens\":20,\"temperature\":0,\"stop\":[\"Lily\"],\"logprobs\":2}", 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(jstr(r.json, "choices.0.text"), ", there was a little girl named ");
    CHECK_STR_EQ(jstr(r.json, "choices.0.finish_reason"), "stop");
    CHECK(json_array_size(jget(r.json, "choices.0.logprobs.tokens")) > 0);
    CHECK(json_array_size(jget(r.json, "choices.0.logprobs.tokens")) == json_array_size(jget(r.json, "choices.0.logprobs.token_logprobs")));
    CHECK(json_object_size(jget(r.json, "choices.0.logprobs.top_logprobs.0")) == 2);
    CHECK(json_integer_value(jget(r.json, "choices.0.logprobs.text_offset.1")) == 1);
    res_free(&r);
    r = call("POST", "/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":3,\"temperature\":0,\"echo\":true}", 0, NULL);
    CHECK(jstr(r.json, "choices.0.text") && strncmp(jstr(r.json, "choices.0.text"), "Once upon a time, there", 23) == 0);
    res_free(&r);
    /* n = 3 and two prompts: 6 choices, indexed */
    r = call("POST", "/v1/completions", "{\"prompt\":[\"Once upon a time\",\"The sky\"],\"n\":3,\"max_tokens\":4,\"temperature\":0}", 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(json_array_size(jget(r.json, "choices")), 6);
    CHECK_INT_EQ(json_integer_value(jget(r.json, "choices.5.index")), 5);
    CHECK_STR_EQ(jstr(r.json, "choices.3.text"), " was very sh"); /* "The sky" greedy: 286 399 262 415 */
    CHECK_INT_EQ(json_integer_value(jget(r.json, "usage.completion_tokens")), 24);
    res_free(&r);

    /* /v1/chat/completions (chatml: the model has no template) */
    r = call("POST", "/v1/chat/completions", "{\"model\":\"st\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_completion_tokens\":8,\"temperature\":0,\"logprobs\":true,\"top_logprobs\":3,\"seed\":5,\"user\":\"u1\",\"response_format\":{\"type\":\"json_object\"}}", 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK(jstr(r.json, "id") && strncmp(jstr(r.json, "id"), "chatcmpl-", 9) == 0);
    CHECK_STR_EQ(jstr(r.json, "object"), "chat.completion");
    CHECK_STR_EQ(jstr(r.json, "choices.0.message.role"), "assistant");
    CHECK(jstr(r.json, "choices.0.message.content") != NULL);
    CHECK_INT_EQ(json_array_size(jget(r.json, "choices.0.logprobs.content")), 8);
    CHECK_INT_EQ(json_array_size(jget(r.json, "choices.0.logprobs.content.0.top_logprobs")), 3);
    CHECK(json_is_array(jget(r.json, "choices.0.logprobs.content.0.bytes")));
    CHECK(json_real_value(jget(r.json, "choices.0.logprobs.content.0.logprob")) <= 0);
    res_free(&r);
    /* JSON mode: response_format json_object constrains decoding to one JSON object. The
     * story model would ramble inside strings until max_tokens, so a bias toward the byte
     * tokens '{' (126) and '}' (128) lets it close the object: content "{}", finish stop */
    r = call("POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":20,\"temperature\":0,\"logit_bias\":{\"126\":100,\"128\":100},\"response_format\":{\"type\":\"json_object\"}}", 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    {
        const char *c = jstr(r.json, "choices.0.message.content");
        json_t *obj = c ? json_loads(c, 0, NULL) : NULL;
        CHECK_MSG(json_is_object(obj), "JSON mode content is not a JSON object: %s", c ? c : "(null)");
        json_decref(obj);
        CHECK_STR_EQ(jstr(r.json, "choices.0.finish_reason"), "stop");
    }
    res_free(&r);
    char chat_text[4096];
    r = call("POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":12,\"temperature\":0}", 0, NULL);
    snprintf(chat_text, sizeof chat_text, "%s", jstr(r.json, "choices.0.message.content") ? jstr(r.json, "choices.0.message.content") : "?");
    CHECK(json_is_null(jget(r.json, "choices.0.logprobs")));
    res_free(&r);

    /* streaming: exact SSE framing, role first, deltas equal the non-streamed text, usage, [DONE] */
    stream_acc acc = {0};
    CHECK_INT_EQ(stream("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":12,\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}", &acc), 200);
    char text[4096], fin[16];
    json_t *usage = NULL;
    int ev = acc.raw ? parse_sse(acc.raw, true, text, sizeof text, fin, &usage) : -1;
    CHECK(ev >= 4);
    CHECK_STR_EQ(text, chat_text);
    CHECK_STR_EQ(fin, "length");
    CHECK(usage && json_integer_value(json_object_get(usage, "completion_tokens")) == 12);
    json_decref(usage);
    CHECK(acc.raw && strstr(acc.raw, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}") != NULL);
    CHECK(acc.raw && strlen(acc.raw) > 14 && strcmp(acc.raw + strlen(acc.raw) - 14, "data: [DONE]\n\n") == 0);
    free(acc.raw);
    acc = (stream_acc){0};
    CHECK_INT_EQ(stream("/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":20,\"temperature\":0,\"stream\":true}", &acc), 200);
    ev = acc.raw ? parse_sse(acc.raw, false, text, sizeof text, fin, NULL) : -1;
    CHECK(ev > 2);
    CHECK_STR_EQ(text, ", there was a little girl named Lily. She loved to play outsid");
    free(acc.raw);

    /* /v1/embeddings: floats (unit length) and base64 of the same floats */
    r = call("POST", "/v1/embeddings", "{\"model\":\"st\",\"input\":[\"hello world\",\"once\"]}", 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(jstr(r.json, "object"), "list");
    CHECK_STR_EQ(jstr(r.json, "data.1.object"), "embedding");
    json_t *emb = jget(r.json, "data.0.embedding");
    CHECK_INT_EQ(json_array_size(emb), 64);
    double norm = 0;
    for (size_t i = 0; i < json_array_size(emb); i++) norm += pow(json_number_value(json_array_get(emb, i)), 2);
    CHECK(fabs(norm - 1.0) < 1e-4);
    double e0 = json_number_value(json_array_get(emb, 0));
    CHECK(json_integer_value(jget(r.json, "usage.prompt_tokens")) > 0);
    res_free(&r);
    r = call("POST", "/v1/embeddings", "{\"input\":\"hello world\",\"encoding_format\":\"base64\"}", 0, NULL);
    const char *b64 = jstr(r.json, "data.0.embedding");
    CHECK(b64 && strlen(b64) == (64 * 4 + 2) / 3 * 4);
    if (b64) { /* decode the first float */
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        unsigned char bytes[6];
        uint32_t x = 0;
        for (int i = 0; i < 8; i++) x = (i % 4 == 0 ? 0 : x << 6) | (uint32_t)(strchr(tbl, b64[i]) - tbl),
                                    (i % 4 == 3) ? (bytes[i / 4 * 3] = (unsigned char)(x >> 16), bytes[i / 4 * 3 + 1] = (unsigned char)(x >> 8), bytes[i / 4 * 3 + 2] = (unsigned char)x) : 0;
        float f;
        memcpy(&f, bytes, 4);
        CHECK(fabs(f - e0) < 1e-6);
    }
    res_free(&r);

    /* /tokenize, /detokenize, /health, /metrics */
    r = call("POST", "/tokenize", "{\"content\":\"Once upon a time\",\"add_special\":true}", 0, NULL);
    CHECK(r.body && strstr(r.body, "[1,403,407,261,378]") != NULL);
    res_free(&r);
    r = call("POST", "/detokenize", "{\"tokens\":[403,407,261,378]}", 0, NULL);
    CHECK_STR_EQ(jstr(r.json, "content"), "Once upon a time");
    res_free(&r);
    r = call("GET", "/health", NULL, 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(jstr(r.json, "status"), "ok");
    CHECK_INT_EQ(json_integer_value(jget(r.json, "models.0.slots_total")), 4);
    res_free(&r);
    r = call("GET", "/metrics", NULL, 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK(r.body && strstr(r.body, "# TYPE llmops_time_to_first_token_seconds histogram"));
    CHECK(r.body && strstr(r.body, "llmops_time_to_first_token_seconds_bucket{model=\"st\",le=\"+Inf\"}"));
    CHECK(r.body && strstr(r.body, "llmops_inter_token_latency_seconds_count{model=\"st\"}"));
    CHECK(r.body && strstr(r.body, "llmops_request_duration_seconds_sum{model=\"st\"}"));
    CHECK(r.body && strstr(r.body, "llmops_queue_time_seconds_bucket{model=\"st\",le=\"0.005\"}"));
    CHECK(r.body && strstr(r.body, "llmops_requests_total{model=\"st\",endpoint=\"completions\"} 5"));
    CHECK(r.body && strstr(r.body, "llmops_slots_total{model=\"st\"} 4"));
    res_free(&r);

    /* errors, each with OpenAI's shape and status */
    expect_error("malformed JSON", call("POST", "/v1/chat/completions", "{\"messages\":[", 0, NULL), 400, NULL);
    expect_error("not an object", call("POST", "/v1/chat/completions", "[1,2]", 0, NULL), 400, NULL);
    expect_error("empty body", call("POST", "/v1/completions", "", 0, NULL), 400, NULL);
    expect_error("missing messages", call("POST", "/v1/chat/completions", "{}", 0, NULL), 400, "messages");
    expect_error("messages wrong type", call("POST", "/v1/chat/completions", "{\"messages\":\"hi\"}", 0, NULL), 400, "messages");
    expect_error("role missing", call("POST", "/v1/chat/completions", "{\"messages\":[{\"content\":\"hi\"}]}", 0, NULL), 400, "messages[0].role");
    expect_error("bad role", call("POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 0, NULL), 400, "messages[0].role");
    expect_error("image part", call("POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", 0, NULL), 400, "messages[0].content");
    expect_error("temperature type", call("POST", "/v1/completions", "{\"prompt\":\"a\",\"temperature\":\"hot\"}", 0, NULL), 400, "temperature");
    expect_error("temperature range", call("POST", "/v1/completions", "{\"prompt\":\"a\",\"temperature\":7}", 0, NULL), 400, "temperature");
    expect_error("negative max_tokens", call("POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":-5}", 0, NULL), 400, "max_tokens");
    expect_error("huge max_tokens", call("POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":99999999999999}", 0, NULL), 400, "max_tokens");
    expect_error("n=1000", call("POST", "/v1/completions", "{\"prompt\":\"a\",\"n\":1000}", 0, NULL), 400, "n");
    expect_error("unknown model", call("POST", "/v1/completions", "{\"model\":\"gpt-9\",\"prompt\":\"a\"}", 0, NULL), 404, "model");
    expect_error("beyond context", call("POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":300}", 0, NULL), 400, "prompt");
    expect_error("bad token id", call("POST", "/v1/completions", "{\"prompt\":[1,99999]}", 0, NULL), 400, "prompt");
    expect_error("logit_bias key", call("POST", "/v1/completions", "{\"prompt\":\"a\",\"logit_bias\":{\"abc\":1}}", 0, NULL), 400, "logit_bias");
    expect_error("tools", call("POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\"}]}", 0, NULL), 400, "tools");
    expect_error("json_schema", call("POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_schema\"}}", 0, NULL), 400, "response_format");
    expect_error("embeddings empty input", call("POST", "/v1/embeddings", "{\"input\":[]}", 0, NULL), 400, "input");
    expect_error("unknown route", call("GET", "/v2/nothing", NULL, 0, NULL), 404, NULL);
    r = call("GET", "/v1/chat/completions", NULL, 0, NULL);
    CHECK_STR_EQ(r.hdr_allow, "POST");
    expect_error("wrong method", r, 405, NULL);
    char *big = malloc(100 * 1024);
    memset(big, ' ', 100 * 1024);
    big[0] = '{';
    big[100 * 1024 - 1] = '}';
    expect_error("body over limit", call("POST", "/v1/completions", big, 100 * 1024, NULL), 413, NULL);
    free(big);

    /* 8 concurrent greedy streams: each equals the same request made alone */
    const char *prompts[8] = {"Once upon a time", "The sky", "Lily", "One day", "Tom had a", "The cat", "She was", "A big dog"};
    par_arg solo[8], par[8];
    for (int i = 0; i < 8; i++) {
        memset(&solo[i], 0, sizeof solo[i]);
        solo[i].prompt = prompts[i];
        par_stream(&solo[i]);
    }
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        memset(&par[i], 0, sizeof par[i]);
        par[i].prompt = prompts[i];
        pthread_create(&th[i], NULL, par_stream, &par[i]);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        CHECK_INT_EQ(par[i].status, 200);
        CHECK(par[i].events > 2);
        CHECK_MSG(strcmp(par[i].text, solo[i].text) == 0, "prompt %d: concurrent '%s' vs solo '%s'", i, par[i].text, solo[i].text);
    }

    /* a client hanging up mid-stream: the slot is free again within moments */
    acc = (stream_acc){.hang_after_events = 3};
    stream("/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":200,\"temperature\":0,\"stream\":true,\"ignore_eos\":true}", &acc);
    free(acc.raw);
    int busy = -1;
    for (int i = 0; i < 100; i++) {
        busy = slots_processing();
        if (busy == 0) break;
        usleep(10 * 1000);
    }
    CHECK_INT_EQ(busy, 0);
    r = call("GET", "/metrics", NULL, 0, NULL);
    CHECK(r.body && strstr(r.body, "llmops_sequences_finished_total{model=\"st\",reason=\"abort\"} 1"));
    res_free(&r);

    /* >100 hostile requests; then the server still answers right and memory is back */
    size_t live0 = lo_alloc_live_bytes();
    static const char *const hostile[] = {
        "{", "}", "nul\x01", "{\"prompt\":}", "{\"prompt\":\"a\",\"prompt\":\"b\"}", "{\"prompt\":1e999}",
        "{\"prompt\":\"a\",\"max_tokens\":1e400}", "{\"prompt\":\"a\",\"n\":-1}", "{\"prompt\":\"a\",\"n\":\"2\"}",
        "{\"prompt\":\"a\",\"stop\":[1,2]}", "{\"prompt\":\"a\",\"stop\":{}}", "{\"prompt\":\"a\",\"seed\":\"x\"}",
        "{\"prompt\":\"a\",\"stream\":\"yes\"}", "{\"prompt\":\"a\",\"stream_options\":5}", "{\"prompt\":\"a\",\"top_p\":-1}",
        "{\"prompt\":\"a\",\"logit_bias\":{\"1\":\"x\"}}", "{\"prompt\":\"a\",\"logit_bias\":{\"1\":1000}}",
        "{\"prompt\":\"a\",\"logprobs\":99}", "{\"prompt\":[[1,2],[\"x\"]]}", "{\"prompt\":[-1]}", "{\"prompt\":{}}",
        "{\"prompt\":null}", "{\"prompt\":\"\\ud800\"}", "{\"prompt\":\"a\\u0000b\"}", "{\"prompt\":\"\xff\xfe\"}",
        "{\"prompt\":\"a\",\"model\":5}", "{\"prompt\":\"a\",\"model\":\"\\\"\"}", "{\"prompt\":\"a\",\"suffix\":\"x\"}",
        "{\"prompt\":\"a\",\"best_of\":5}", "{\"prompt\":\"a\",\"frequency_penalty\":9}", "{\"prompt\":\"a\",\"response_format\":3}",
        "{\"prompt\":\"a\",\"user\":5}", "{\"prompt\":\"a\",\"max_tokens\":0}", "{\"prompt\":\"a\",\"top_k\":-3}",
        "{\"prompt\":[]}", "{\"prompt\":\"a\",\"max_tokens\":2.5}", "true", "null", "\"str\"", "12345",
    };
    int n_hostile = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
            res h = call("POST", "/v1/completions", hostile[i], strlen(hostile[i]), NULL);
            CHECK_MSG(h.status == 400 || h.status == 404, "hostile %zu '%s': %ld", i, hostile[i], h.status);
            CHECK_MSG(h.json && jstr(h.json, "error.message"), "hostile %zu: %.200s", i, h.body ? h.body : "");
            res_free(&h);
            n_hostile++;
        }
        static const char *const chat_hostile[] = {
            "{\"messages\":[]}", "{\"messages\":[1]}", "{\"messages\":[{\"role\":1,\"content\":\"a\"}]}",
            "{\"messages\":[{\"role\":\"user\"}]}", "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":[5]}]}", "{\"messages\":[{\"role\":\"tool\",\"content\":\"a\"}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_logprobs\":50,\"logprobs\":true}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_logprobs\":2}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":1}",
        };
        for (size_t i = 0; i < sizeof chat_hostile / sizeof chat_hostile[0]; i++) {
            res h = call("POST", "/v1/chat/completions", chat_hostile[i], 0, NULL);
            CHECK_MSG(h.status == 400, "chat hostile %zu: %ld %.200s", i, h.status, h.body ? h.body : "");
            res_free(&h);
            n_hostile++;
        }
    }
    /* deep nesting and a NUL byte inside the body */
    char deep[8192];
    size_t dl = 0;
    dl += (size_t)snprintf(deep, sizeof deep, "{\"prompt\":");
    for (int i = 0; i < 3000; i++) deep[dl++] = '[';
    deep[dl] = '\0';
    expect_error("deep nesting", call("POST", "/v1/completions", deep, dl, NULL), 400, NULL);
    expect_error("NUL byte", call("POST", "/v1/completions", "{\"prompt\":\"a\0b\"}", 16, NULL), 400, NULL);
    n_hostile += 2;
    CHECK(n_hostile >= 100);
    usleep(50 * 1000);
    size_t live1 = lo_alloc_live_bytes();
    CHECK_MSG(live1 <= live0 + 4096, "library memory grew from %zu to %zu bytes over the hostile requests", live0, live1);
    r = call("POST", "/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":20,\"temperature\":0}", 0, NULL);
    CHECK_STR_EQ(jstr(r.json, "choices.0.text"), ", there was a little girl named Lily. She loved to play outsid");
    res_free(&r);

    lo_server_shutdown(s, 5);
    lo_server_free(s);

    /* API keys: 401 without or with a wrong key, /health open, the right key works */
    p.api_key = "sk-secret";
    CHECK_OK(lo_server_create(&p, &s));
    CHECK_OK(lo_server_add_model(s, path, NULL)); /* name = file stem */
    CHECK_OK(lo_server_start(s));
    snprintf(base, sizeof base, "http://127.0.0.1:%d", lo_server_port(s));
    expect_error("no key", call("GET", "/v1/models", NULL, 0, NULL), 401, NULL);
    expect_error("wrong key", call("GET", "/v1/models", NULL, 0, "sk-secreT"), 401, NULL);
    expect_error("prefix key", call("GET", "/v1/models", NULL, 0, "sk-secre"), 401, NULL);
    r = call("GET", "/health", NULL, 0, NULL);
    CHECK_INT_EQ(r.status, 200);
    res_free(&r);
    r = call("GET", "/v1/models", NULL, 0, "sk-secret");
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(jstr(r.json, "data.0.id"), "stories260K");
    res_free(&r);
    lo_server_free(s);
    return check_done();
}
