/* `llmops serve`: the OpenAI-compatible server for one or more models — and with a store
 * (--store or LLMOPS_STORE) its deployments, keys and request log — until SIGTERM or
 * SIGINT, which drain in-flight requests (bounded), write the request log and exit 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_MODELS 16
#define MAX_DEPLOYMENTS 64

static char *read_key_file(const char *path) {
    char *data = NULL;
    size_t n = 0;
    if (lo_read_file(path, &data, &n) != LO_OK) return NULL;
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ')) data[--n] = '\0';
    return data;
}

int lo_cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    lo_server_params p;
    lo_server_params_default(&p);
    char *specs[MAX_MODELS];
    lo_cli_model_opts mopts[MAX_MODELS]; /* each -m's --lora (those after it) */
    int n_models = 0;
    const char *deployments[MAX_DEPLOYMENTS];
    int n_deployments = 0;
    const char *store_flag = NULL;
    char *key_from_file = NULL;
    double drain_s = 30;
    long long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                                         \
    do {                                                                                   \
        if (!val) return lo_cli_usage_error(cmd, "%s needs a value", a);                  \
        i++;                                                                               \
    } while (0)
        if (strcmp(a, "--lora") == 0) {
            if (n_models == 0) {
                lo_free(key_from_file);
                return lo_cli_usage_error(cmd, "--lora applies to the -m model before it: give -m FILE first");
            }
            if (lo_cli_model_opt(cmd, argc, argv, &i, &mopts[n_models - 1]) < 0) {
                lo_free(key_from_file);
                return LO_EXIT_USAGE;
            }
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            NEED_VAL();
            if (n_models == MAX_MODELS) return lo_cli_usage_error(cmd, "at most %d models", MAX_MODELS);
            memset(&mopts[n_models], 0, sizeof mopts[n_models]);
            specs[n_models++] = (char *)val;
        } else if (strcmp(a, "--host") == 0) {
            NEED_VAL();
            p.host = val;
        } else if (strcmp(a, "--port") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 0, 65535, &v)) return lo_cli_usage_error(cmd, "--port takes 0..65535, not '%s'", val);
            p.port = (int)v;
        } else if (strcmp(a, "--parallel") == 0 || strcmp(a, "-np") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 1, 256, &v)) return lo_cli_usage_error(cmd, "--parallel takes 1..256, not '%s'", val);
            p.n_parallel = (int32_t)v;
        } else if (strcmp(a, "--ctx") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 8, 1 << 20, &v)) return lo_cli_usage_error(cmd, "--ctx takes 8..1048576, not '%s'", val);
            p.n_ctx = (int32_t)v;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 0, 1024, &v)) return lo_cli_usage_error(cmd, "--threads takes 0..1024, not '%s'", val);
            p.n_threads = (int32_t)v;
        } else if (strcmp(a, "--http-threads") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 1, 64, &v)) return lo_cli_usage_error(cmd, "--http-threads takes 1..64, not '%s'", val);
            p.http_threads = (int)v;
        } else if (strcmp(a, "--max-queue") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 1, 1000000, &v)) return lo_cli_usage_error(cmd, "--max-queue takes 1..1000000, not '%s'", val);
            p.max_queue = (int32_t)v;
        } else if (strcmp(a, "--max-body") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 1024, (long long)1 << 32, &v))
                return lo_cli_usage_error(cmd, "--max-body takes 1024..4294967296 bytes, not '%s'", val);
            p.max_body_bytes = (size_t)v;
        } else if (strcmp(a, "--drain-timeout") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 0, 3600, &v)) return lo_cli_usage_error(cmd, "--drain-timeout takes 0..3600 seconds, not '%s'", val);
            drain_s = (double)v;
        } else if (strcmp(a, "--api-key") == 0) {
            NEED_VAL();
            if (!val[0]) return lo_cli_usage_error(cmd, "--api-key is empty");
            p.api_key = val;
        } else if (strcmp(a, "--api-key-file") == 0) {
            NEED_VAL();
            lo_free(key_from_file);
            key_from_file = read_key_file(val);
            if (!key_from_file || !key_from_file[0]) {
                lo_free(key_from_file);
                return lo_cli_usage_error(cmd, "cannot read an API key from '%s'", val);
            }
            p.api_key = key_from_file;
        } else if (strcmp(a, "--chat-template") == 0) {
            NEED_VAL();
            p.chat_template = val;
        } else if (strcmp(a, "--no-embeddings") == 0) {
            p.embeddings = false;
        } else if (strcmp(a, "--store") == 0) {
            NEED_VAL();
            if (!val[0]) return lo_cli_usage_error(cmd, "--store is empty");
            store_flag = val;
        } else if (strcmp(a, "--deployment") == 0) {
            NEED_VAL();
            if (n_deployments == MAX_DEPLOYMENTS) return lo_cli_usage_error(cmd, "at most %d --deployment", MAX_DEPLOYMENTS);
            deployments[n_deployments++] = val;
        } else if (strcmp(a, "--log-content") == 0) {
            p.log_content = true;
        } else if (strcmp(a, "--no-redact") == 0) {
            p.redact = false;
        } else if (strcmp(a, "--log-flush-ms") == 0) {
            NEED_VAL();
            if (!lo_cli_parse_int(val, 1, 60000, &v)) return lo_cli_usage_error(cmd, "--log-flush-ms takes 1..60000, not '%s'", val);
            p.log_flush_ms = (int)v;
        } else {
            lo_free(key_from_file);
            return lo_cli_usage_error(cmd, "unknown option '%s'", a);
        }
#undef NEED_VAL
    }
    /* a store only when asked for: plain `serve -m FILE` touches none */
    const char *env_store = getenv("LLMOPS_STORE");
    if (store_flag) p.store_url = store_flag;
    else if (env_store && env_store[0]) p.store_url = env_store;
    if (!p.store_url && (n_deployments > 0 || p.log_content || !p.redact)) {
        lo_free(key_from_file);
        return lo_cli_usage_error(cmd, "--deployment, --log-content and --no-redact need a store: give --store URL or set LLMOPS_STORE");
    }
    if (n_models == 0 && !p.store_url) {
        lo_free(key_from_file);
        return lo_cli_usage_error(cmd, "give a model with -m FILE.gguf[:NAME], or a store with deployments (--store URL)");
    }
    /* Block the signals in every thread (created below inherit the mask); this thread
     * waits for them with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    lo_server *s = NULL;
    lo_status st = lo_server_create(&p, &s);
    if (st != LO_OK) {
        lo_free(key_from_file);
        return lo_cli_fail(cmd, st);
    }
    for (int i = 0; i < n_models; i++) {
        /* FILE[:NAME] — the last ':' after the last '/' splits off a name */
        char *spec = specs[i];
        char *slash = strrchr(spec, '/');
        char *colon = strrchr(slash ? slash : spec, ':');
        char path[4096];
        const char *name = NULL;
        if (colon) {
            size_t n = (size_t)(colon - spec);
            if (n >= sizeof path) n = sizeof path - 1;
            memcpy(path, spec, n);
            path[n] = '\0';
            name = colon + 1;
        } else {
            snprintf(path, sizeof path, "%s", spec);
        }
        st = lo_server_add_model_lora(s, path, name, mopts[i].lora, mopts[i].n_lora);
        if (st != LO_OK) {
            int rc = lo_cli_fail(cmd, st);
            lo_server_free(s);
            lo_free(key_from_file);
            return rc;
        }
    }
    if (p.store_url) {
        /* every deployment, or the ones named */
        for (int i = 0; i < (n_deployments ? n_deployments : 1) && st == LO_OK; i++)
            st = lo_server_add_deployment(s, n_deployments ? deployments[i] : NULL);
        if (st != LO_OK) {
            int rc = lo_cli_fail(cmd, st);
            lo_server_free(s);
            lo_free(key_from_file);
            return rc;
        }
    }
    st = lo_server_start(s);
    if (st != LO_OK) {
        int rc = lo_cli_fail(cmd, st);
        lo_server_free(s);
        lo_free(key_from_file);
        return rc;
    }
    fprintf(stderr, "listening on http://%s:%d\n", p.host, lo_server_port(s));
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "llmops serve: %s: finishing in-flight requests (at most %.0f s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", drain_s);
    lo_server_shutdown(s, drain_s);
    lo_server_free(s);
    lo_free(key_from_file);
    fprintf(stderr, "llmops serve: stopped\n");
    return LO_EXIT_OK;
}
