/* gguf internals shared by the reader and the writer: element sizes of the value types,
 * UTF-8 validation of keys and names, and quoting of hostile bytes for messages. */
#ifndef LLMOPS_GGUF_INTERNAL_H
#define LLMOPS_GGUF_INTERNAL_H

#include "llmops/gguf.h"

/* Nested arrays deeper than this are rejected (no real file nests more than 2). */
#define LO_GGUF_MAX_DEPTH 8
/* ggml's GGML_MAX_NAME is 64 including the NUL, so llama.cpp cannot load longer names. */
#define LO_GGUF_MAX_NAME 63

/* Bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
size_t lo_gguf__type_size(uint32_t t);
/* Smallest number of bytes one element of type t can occupy in a file (string: its
 * u64 length; array: elem type + count); 0 for unknown types. */
size_t lo_gguf__min_elem_bytes(uint32_t t);
/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool lo_gguf__utf8_valid(const char *s, size_t n);
/* Valid as a key or tensor name: non-empty, UTF-8, no NUL byte. */
bool lo_gguf__name_valid(const char *s, size_t n);
/* Writes a printable, quoted-safe, possibly truncated ("...") rendering of n bytes into
 * out (cap ≥ 8); returns out. */
const char *lo_gguf__quote(char *out, size_t cap, const char *s, size_t n);

#endif
