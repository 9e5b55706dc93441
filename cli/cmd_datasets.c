/* `llmops datasets add|ls|show|diff`: dataset versions (sha256 of the content) with their
 * format, row count and source, and row-level diffs between two versions. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *C = "datasets";

static void print_row(void *ctx, const lo_ops_dataset *d) {
    (void)ctx;
    char t[32];
    printf("%-24s %-12.12s %-5s %10lld %12lld  %s\n", d->name, d->version, d->format, (long long)d->n_rows,
           (long long)d->bytes, lo_cli_fmt_time(d->created_at, t));
}

static void print_diff(void *ctx, char sign, const char *row, size_t len) {
    if (*(bool *)ctx) printf("%c%.*s\n", sign, (int)len, row);
}

int lo_cmd_datasets(int argc, char **argv) {
    lo_cli_opt opts[] = {{"--store", true, NULL, false}, {"--stat", false, NULL, false}};
    char *pos[4];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, opts, 2, pos, 4, &n);
    if (rc) return rc;
    if (n < 1) return lo_cli_usage_error(C, "give a subcommand: add, ls, show or diff");
    const char *sub = pos[0];
    int want = strcmp(sub, "add") == 0 ? 3 : strcmp(sub, "ls") == 0 ? -1 : strcmp(sub, "show") == 0 ? 2 : strcmp(sub, "diff") == 0 ? 4 : 0;
    if (!want) return lo_cli_usage_error(C, "unknown subcommand '%s' (add, ls, show, diff)", sub);
    if (want > 0 && n != want) return lo_cli_usage_error(C, "%s takes %d argument%s", sub, want - 1, want == 2 ? "" : "s");
    if (want < 0 && n > 2) return lo_cli_usage_error(C, "ls takes at most a dataset name");
    if (opts[1].set && strcmp(sub, "diff") != 0) return lo_cli_usage_error(C, "--stat is an option of diff");
    lo_store *s = NULL;
    if ((rc = lo_cli_open_store(C, opts[0].value, &s))) return rc;
    lo_status st = LO_OK;
    lo_ops_dataset d;
    if (strcmp(sub, "add") == 0) {
        bool existed = false;
        st = lo_ops_dataset_add(s, pos[1], pos[2], &d, &existed);
        if (!st)
            printf("%s dataset %s@%s: %s, %lld rows, %lld bytes\n", existed ? "unchanged" : "added", d.name, d.version, d.format,
                   (long long)d.n_rows, (long long)d.bytes);
    } else if (strcmp(sub, "ls") == 0) {
        printf("%-24s %-12s %-5s %10s %12s  %s\n", "NAME", "VERSION", "FMT", "ROWS", "BYTES", "CREATED");
        st = lo_ops_dataset_list(s, n == 2 ? pos[1] : NULL, print_row, NULL);
    } else if (strcmp(sub, "show") == 0) {
        st = lo_ops_dataset_get(s, pos[1], &d);
        char t[32];
        if (!st)
            printf("name: %s\nversion: %s\nformat: %s\nrows: %lld\nbytes: %lld\nsource: %s\ncreated: %s\n", d.name, d.version,
                   d.format, (long long)d.n_rows, (long long)d.bytes, d.source_path, lo_cli_fmt_time(d.created_at, t));
    } else {
        bool rows = !opts[1].set;
        int64_t add = 0, rem = 0;
        st = lo_ops_dataset_diff(s, pos[1], pos[2], pos[3], print_diff, &rows, &add, &rem);
        if (!st) printf("%lld added, %lld removed\n", (long long)add, (long long)rem);
    }
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
