/* An incremental validator of JSON text prefixes (RFC 8259) for JSON mode: the text must
 * be one object; runs of whitespace between tokens are capped at LO_JSONP_MAX_WS bytes
 * (so a constrained model cannot loop on blanks) and nesting at LO_JSONP_MAX_DEPTH.
 * The state is a fixed-size value: copy it to try bytes without committing them. */
#ifndef LLMOPS_INFER_JSON_PREFIX_H
#define LLMOPS_INFER_JSON_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LO_JSONP_MAX_DEPTH 32
#define LO_JSONP_MAX_WS 2

typedef struct lo_jsonp {
    uint8_t stack[LO_JSONP_MAX_DEPTH]; /* '{' or '[' per open container */
    uint8_t depth;
    uint8_t st;   /* parser state */
    uint8_t ws;   /* consecutive whitespace bytes */
    uint8_t aux;  /* \u hex digits seen / literal position / UTF-8 bytes still needed */
    uint8_t lit;  /* literal being matched (0 true, 1 false, 2 null) */
    uint8_t key;  /* the string being read is an object key */
    uint8_t utf8_lo, utf8_hi; /* allowed range of the next UTF-8 continuation byte */
} lo_jsonp;

void lo_jsonp_init(lo_jsonp *p);
/* Feeds n bytes; false (state then unspecified) when they cannot continue a valid prefix. */
bool lo_jsonp_feed(lo_jsonp *p, const char *bytes, size_t n);
/* A whole top-level object has been closed (no byte may follow). */
bool lo_jsonp_complete(const lo_jsonp *p);

#endif
