/* `llmops feedback add REQUEST_ID ...` and `feedback export --format sft|preference FILE`:
 * human feedback on logged requests, and the training data made from it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *C = "feedback";

int lo_cmd_feedback(int argc, char **argv) {
    lo_cli_opt o[] = {{"--store", true, NULL, false},   {"--thumbs", true, NULL, false},   {"--rating", true, NULL, false},
                      {"--label", true, NULL, false},   {"--comment", true, NULL, false},  {"--corrected", true, NULL, false},
                      {"--author", true, NULL, false},  {"--format", true, NULL, false}};
    enum { O_STORE, O_THUMBS, O_RATING, O_LABEL, O_COMMENT, O_CORR, O_AUTHOR, O_FORMAT, O_N };
    char *pos[3];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, O_N, pos, 3, &n);
    if (rc) return rc;
    if (n < 1) return lo_cli_usage_error(C, "give a subcommand: add or export");
    lo_store *s = NULL;
    lo_status st;
    if (strcmp(pos[0], "add") == 0) {
        if (n != 2) return lo_cli_usage_error(C, "add takes one request id");
        if (o[O_THUMBS].set == o[O_RATING].set) return lo_cli_usage_error(C, "give exactly one of --thumbs up|down and --rating 1-5");
        if (o[O_FORMAT].set) return lo_cli_usage_error(C, "--format is an option of export");
        lo_ops_feedback f = {.request_id = pos[1], .label = o[O_LABEL].value, .comment = o[O_COMMENT].value,
                             .corrected = o[O_CORR].value, .author = o[O_AUTHOR].value};
        if (o[O_THUMBS].set) {
            f.kind = "thumbs";
            if (strcmp(o[O_THUMBS].value, "up") == 0) f.score = 1;
            else if (strcmp(o[O_THUMBS].value, "down") == 0) f.score = 0;
            else return lo_cli_usage_error(C, "--thumbs '%s': use up or down", o[O_THUMBS].value);
        } else {
            long long v;
            if (!lo_cli_parse_int(o[O_RATING].value, 1, 5, &v)) return lo_cli_usage_error(C, "--rating '%s': use 1 to 5", o[O_RATING].value);
            f.kind = "rating", f.score = (double)v;
        }
        if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
        int64_t id = 0;
        st = lo_ops_feedback_record(s, &f, &id);
        if (!st) printf("feedback %lld recorded on request %s\n", (long long)id, pos[1]);
    } else if (strcmp(pos[0], "export") == 0) {
        if (n != 2) return lo_cli_usage_error(C, "export takes one output FILE");
        if (!o[O_FORMAT].set) return lo_cli_usage_error(C, "export needs --format sft|preference");
        lo_ops_export_format fmt;
        if (strcmp(o[O_FORMAT].value, "sft") == 0) fmt = LO_OPS_EXPORT_SFT;
        else if (strcmp(o[O_FORMAT].value, "preference") == 0) fmt = LO_OPS_EXPORT_PREFERENCE;
        else return lo_cli_usage_error(C, "--format '%s': use sft or preference", o[O_FORMAT].value);
        for (int k = O_THUMBS; k <= O_AUTHOR; k++)
            if (o[k].set) return lo_cli_usage_error(C, "%s is an option of add", o[k].name);
        if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
        int64_t written = 0;
        st = lo_ops_feedback_export(s, fmt, pos[1], &written);
        if (!st) printf("wrote %lld %s examples to %s\n", (long long)written, o[O_FORMAT].value, pos[1]);
    } else {
        return lo_cli_usage_error(C, "unknown subcommand '%s' (add, export)", pos[0]);
    }
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
