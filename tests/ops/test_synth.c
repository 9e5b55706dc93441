/* The quickstart's synthetic corpus: the same seed gives the same bytes and another seed
 * other bytes; counts match the files; every line of the Q&A files is a well-formed chat
 * sample; no held-out question is ever a training question; the manual's facts reach the
 * pretraining text; bad parameters are refused. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"

static char *slurp(const char *path, size_t *n) {
    lo_mapped m;
    if (lo_mmap_file(path, &m) != LO_OK) return NULL;
    char *p = malloc(m.bytes + 1);
    if (p) memcpy(p, m.data, m.bytes), p[m.bytes] = 0;
    *n = m.bytes;
    lo_munmap(&m);
    return p;
}

/* Checks every line of a Q&A file; returns the number of lines. train: user + assistant;
 * else user + "reference". Each user question goes into qs (one per line). */
static int check_chat_lines(const char *text, bool train, char qs[][160], int max_q) {
    int n = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        CHECK(e != NULL);
        if (!e) break;
        json_t *o = json_loadb(p, (size_t)(e - p), 0, NULL);
        CHECK(o && json_is_object(o));
        json_t *msgs = json_object_get(o, "messages");
        CHECK_INT_EQ(json_array_size(msgs), train ? 2 : 1);
        CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "user");
        const char *q = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
        CHECK(q && strstr(q, "Lumen 7"));
        if (q && n < max_q) snprintf(qs[n], 160, "%s", q);
        if (train) {
            CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(msgs, 1), "role")), "assistant");
        } else {
            const char *ref = json_string_value(json_object_get(o, "reference"));
            CHECK(ref && strstr(ref, "Lumen 7") && ref[strlen(ref) - 1] == '.');
        }
        json_decref(o);
        n++;
        p = e + 1;
    }
    return n;
}

int main(void) {
    char a[] = "/tmp/lo-synth-a-XXXXXX", b[] = "/tmp/lo-synth-b-XXXXXX", c[] = "/tmp/lo-synth-c-XXXXXX";
    CHECK(mkdtemp(a) && mkdtemp(b) && mkdtemp(c));
    lo_synth_params p = {.seed = 7, .n_stories = 50, .manual_copies = 10};
    lo_synth_files fa, fb, fc;
    CHECK_OK(lo_ops_synth_write(a, &p, &fa));
    CHECK_OK(lo_ops_synth_write(b, &p, &fb));
    p.seed = 8;
    CHECK_OK(lo_ops_synth_write(c, &p, &fc));
    CHECK_INT_EQ(fa.n_stories, 50);
    CHECK_INT_EQ(fa.n_manual, 10);
    CHECK_INT_EQ(fa.n_qa_train, lo_ops_synth_n_facts() * 16);
    CHECK_INT_EQ(fa.n_qa_eval, lo_ops_synth_n_facts() * 2);

    size_t na, nb, nc;
    char *pa = slurp(fa.pretrain_path, &na), *pb = slurp(fb.pretrain_path, &nb), *pc = slurp(fc.pretrain_path, &nc);
    CHECK(pa && pb && pc);
    CHECK(na == nb && !memcmp(pa, pb, na)); /* same seed, same bytes */
    CHECK(na != nc || memcmp(pa, pc, na));  /* another seed, another corpus */
    int docs = 0;
    for (const char *q = pa; (q = strstr(q, "\n\n")); q += 2) docs++;
    CHECK_INT_EQ(docs, 60); /* stories + manual paragraphs, blank-line separated */
    CHECK(strstr(pa, "Once upon a time") != NULL);
    CHECK(strstr(pa, "The Lumen 7 is a desk lamp made by Brightwell.") != NULL);

    size_t nt, ne;
    char *train = slurp(fa.qa_train_path, &nt), *eval = slurp(fa.qa_eval_path, &ne);
    CHECK(train && eval);
    static char tq[1024][160], eq[64][160];
    const int n_train = train ? check_chat_lines(train, true, tq, 1024) : 0;
    const int n_eval = eval ? check_chat_lines(eval, false, eq, 64) : 0;
    CHECK_INT_EQ(n_train, fa.n_qa_train);
    CHECK_INT_EQ(n_eval, fa.n_qa_eval);
    /* held out: no evaluation question is a training question, and the bare held-out
     * phrasing does not appear inside any training question either */
    for (int i = 0; i < n_eval && i < 64; i++)
        for (int j = 0; j < n_train && j < 1024; j++) CHECK_MSG(strcmp(eq[i], tq[j]) != 0, "'%s' is trained on", eq[i]);
    for (int f = 0; f < lo_ops_synth_n_facts(); f++) {
        const char *q, *ans;
        lo_ops_synth_fact(f, &q, &ans);
        CHECK_MSG(strstr(train, q) == NULL, "held-out '%s' is in the training file", q);
        CHECK_MSG(strstr(train, ans) != NULL, "answer '%s' is never trained", ans);
    }

    /* the Q&A files depend on the seed alone, not on the corpus size */
    char d[] = "/tmp/lo-synth-d-XXXXXX";
    CHECK(mkdtemp(d) != NULL);
    lo_synth_params pd = {.seed = 7, .n_stories = 3, .manual_copies = 0};
    lo_synth_files fd;
    CHECK_OK(lo_ops_synth_write(d, &pd, &fd));
    size_t nd;
    char *td = slurp(fd.qa_train_path, &nd);
    CHECK(td && nd == nt && !memcmp(td, train, nt));
    free(td);

    /* refused */
    lo_synth_files fx;
    p.n_stories = 0;
    CHECK(lo_ops_synth_write(a, &p, &fx) == LO_ERR_RANGE);
    p.n_stories = 1;
    CHECK(lo_ops_synth_write("/nonexistent-dir/for/synth", &p, &fx) != LO_OK);
    CHECK(lo_ops_synth_write("", &p, &fx) == LO_ERR_INVALID);

    free(pa), free(pb), free(pc), free(train), free(eval);
    const char *dirs[] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        char path[256];
        const char *names[] = {"pretrain.txt", "product-qa.jsonl", "product-qa-heldout.jsonl"};
        for (int k = 0; k < 3; k++) snprintf(path, sizeof path, "%s/%s", dirs[i], names[k]), unlink(path);
        rmdir(dirs[i]);
    }
    return check_done();
}
