/* Test scaffolding for the PostgreSQL-backed suites: connects to the server named by
 * LLMOPS_TEST_PG (scripts/pg-test-server.sh starts one; unset = the test is skipped) and
 * hands out fresh stores, each a new schema chosen through the URL's search_path option
 * and dropped by pg_schema_close(), so runs can share one database. Include after
 * check.h. */
#ifndef LO_TEST_PG_SCHEMA_H
#define LO_TEST_PG_SCHEMA_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pg_schema {
    const char *base;   /* LLMOPS_TEST_PG */
    const char *prefix; /* schema names: PREFIX_PID_N */
    PGconn *admin;
    int n;
} pg_schema;

/* Skips the test when LLMOPS_TEST_PG is unset; exits 1 when the server cannot be reached. */
static void pg_schema_connect(pg_schema *c, const char *prefix) {
    const char *base = getenv("LLMOPS_TEST_PG");
    if (!base || !base[0])
        check_skip("LLMOPS_TEST_PG is not set; start a server with URL=$(sh scripts/pg-test-server.sh) "
                   "and export LLMOPS_TEST_PG=$URL");
    c->base = base;
    c->prefix = prefix;
    c->n = 0;
    c->admin = PQconnectdb(base);
    if (PQstatus(c->admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to LLMOPS_TEST_PG=%s: %s", base, PQerrorMessage(c->admin));
        PQfinish(c->admin);
        exit(1);
    }
    PQclear(PQexec(c->admin, "SET client_min_messages = warning"));
}

/* A malloc'd URL of a new, empty schema (the contracts' fresh_url callback). */
static char *pg_schema_fresh(void *p) {
    pg_schema *c = p;
    char schema[64], sql[256];
    snprintf(schema, sizeof schema, "%s_%d_%d", c->prefix, (int)getpid(), ++c->n);
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    PGresult *r = PQexec(c->admin, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c->admin));
    PQclear(r);
    size_t cap = strlen(c->base) + 128;
    char *url = malloc(cap);
    snprintf(url, cap, "%s%coptions=-csearch_path%%3D%s", c->base, strchr(c->base, '?') ? '&' : '?', schema);
    return url;
}

/* Drops every schema pg_schema_fresh made and disconnects. */
static void pg_schema_close(pg_schema *c) {
    for (int i = 1; i <= c->n; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s_%d_%d CASCADE", c->prefix, (int)getpid(), i);
        PQclear(PQexec(c->admin, sql));
    }
    PQfinish(c->admin);
}

#endif
