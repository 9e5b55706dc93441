/* gguf round trip: every .gguf fixture under ../shared/models is read, re-added to a
 * writer in order and written; the output must equal the input byte for byte. Also
 * checks a few parsed facts against models/MANIFEST.md. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "llmops/gguf.h"

static char tmpdir[256];
static int n_files;

static void roundtrip(const char *path) {
    size_t live0 = lo_alloc_live_bytes();
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(path, &g);
    CHECK_MSG(s == LO_OK, "%s: %s", path, lo_error_message());
    if (s) return;
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(lo_gguf_version(g), &w));
    CHECK_OK(lo_gguf_writer_copy_kvs(w, g));
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
        CHECK_OK(lo_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->bytes));
    }
    char out[512];
    snprintf(out, sizeof out, "%s/out.gguf", tmpdir);
    CHECK_OK(lo_gguf_writer_write(w, out));
    lo_gguf_writer_free(w);

    lo_mapped a = {0}, b = {0};
    CHECK_OK(lo_mmap_file(path, &a));
    CHECK_OK(lo_mmap_file(out, &b));
    bool same = a.bytes == b.bytes && memcmp(a.data, b.data, a.bytes) == 0;
    if (!same) {
        size_t k = 0;
        while (k < a.bytes && k < b.bytes && a.data[k] == b.data[k]) k++;
        CHECK_MSG(same, "%s: round trip differs at byte %zu (sizes %zu vs %zu)", path, k, a.bytes, b.bytes);
    } else {
        CHECK(same);
    }
    /* The rewritten file parses to the same summary. */
    lo_gguf *g2 = NULL;
    CHECK_OK(lo_gguf_open(out, &g2));
    if (g2) {
        CHECK_INT_EQ(lo_gguf_n_kv(g2), lo_gguf_n_kv(g));
        CHECK_INT_EQ(lo_gguf_n_tensors(g2), lo_gguf_n_tensors(g));
        CHECK_INT_EQ(lo_gguf_data_offset(g2), lo_gguf_data_offset(g));
        lo_gguf_close(g2);
    }
    lo_munmap(&a);
    lo_munmap(&b);
    unlink(out);
    lo_gguf_close(g);
    CHECK_INT_EQ(lo_alloc_live_bytes(), live0);
    n_files++;
}

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    /* Sorted order keeps failures reproducible. */
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0) {
            size_t len = strlen(names[i]);
            if (S_ISDIR(st.st_mode)) walk(path);
            else if (len > 5 && strcmp(names[i] + len - 5, ".gguf") == 0) roundtrip(path);
        }
        free(names[i]);
    }
    free(names);
}

static void manifest_facts(void) {
    char p[1024];
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(check_shared("models/stories260K.gguf", p, sizeof p), &g));
    if (g) {
        CHECK_INT_EQ(lo_gguf_version(g), 3);
        CHECK_INT_EQ(lo_gguf_n_kv(g), 19);
        CHECK_INT_EQ(lo_gguf_n_tensors(g), 48);
        CHECK_INT_EQ(lo_gguf_data_offset(g), 14176);
        CHECK_INT_EQ(lo_gguf_alignment(g), 32);
        CHECK_INT_EQ(lo_gguf_file_bytes(g), 1185376);
        CHECK(lo_gguf_str_eq(lo_gguf_arch(g), "llama"));
        int64_t i = lo_gguf_find_tensor(g, "token_embd.weight");
        CHECK(i >= 0);
        if (i >= 0) {
            const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
            CHECK_INT_EQ(t->type, LO_DTYPE_F32);
            CHECK_INT_EQ(t->n_dims, 2);
            CHECK_INT_EQ(t->ne[0], 64);
            CHECK_INT_EQ(t->ne[1], 512);
            CHECK_INT_EQ(t->ne[2], 1);
            CHECK_INT_EQ(t->bytes, 64 * 512 * 4);
            /* output.weight is byte-identical to token_embd.weight (tied in llama2.c). */
            int64_t o = lo_gguf_find_tensor(g, "output.weight");
            CHECK(o >= 0 && memcmp(lo_gguf_tensor_at(g, o)->data, t->data, t->bytes) == 0);
        }
        uint64_t u;
        CHECK(lo_gguf_get_u64(g, "llama.block_count", &u) && u == 5);
        CHECK(lo_gguf_get_u64(g, "llama.embedding_length", &u) && u == 64);
        CHECK(lo_gguf_get_u64(g, "llama.feed_forward_length", &u) && u == 172);
        CHECK(lo_gguf_get_u64(g, "tokenizer.ggml.seperator_token_id", &u) && u == 4294967295u);
        double eps;
        CHECK(lo_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", &eps) && eps > 0.99e-5 && eps < 1.01e-5);
        const lo_gguf_value *tok = lo_gguf_get_arr(g, "tokenizer.ggml.tokens", LO_GGUF_STRING);
        CHECK(tok && tok->arr.n == 512);
        if (tok) CHECK(lo_gguf_str_eq(tok->arr.strs[1], "<s>"));
        const lo_gguf_value *types = lo_gguf_get_arr(g, "tokenizer.ggml.token_type", LO_GGUF_TYPE_COUNT);
        CHECK(types && types->arr.n == 512);
        if (types) {
            int n_byte = 0;
            for (uint64_t k = 0; k < types->arr.n; k++) n_byte += lo_gguf_arr_i64(types, k) == 6;
            CHECK_INT_EQ(n_byte, 256);
        }
        CHECK(lo_gguf_get(g, "tokenizer.ggml.pre") == NULL);
        lo_gguf_str str;
        CHECK(!lo_gguf_get_str(g, "llama.block_count", &str)); /* type mismatch */
        CHECK(strstr(lo_error_message(), "llama.block_count") != NULL);
        lo_gguf_close(g);
    }
    g = NULL;
    CHECK_OK(lo_gguf_open(check_shared("models/llama-2-tiny-random.gguf", p, sizeof p), &g));
    if (g) {
        CHECK_INT_EQ(lo_gguf_n_kv(g), 18);
        CHECK_INT_EQ(lo_gguf_n_tensors(g), 12);
        CHECK_INT_EQ(lo_gguf_data_offset(g), 724416);
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "token_embd.weight"));
        CHECK_INT_EQ(t->type, LO_DTYPE_F16);
        CHECK_INT_EQ(t->ne[0], 8);
        CHECK_INT_EQ(t->ne[1], 32000);
        uint64_t ft;
        CHECK(lo_gguf_get_u64(g, "general.file_type", &ft) && ft == 1);
        lo_gguf_close(g);
    }
}

int main(void) {
    char p[1024];
    const char *models = check_shared("models", p, sizeof p);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lo_gguf_rt_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    manifest_facts();
    walk(models);
    fprintf(stderr, "round-tripped %d files\n", n_files);
    CHECK(n_files >= 40);
    rmdir(tmpdir);
    return check_done();
}
