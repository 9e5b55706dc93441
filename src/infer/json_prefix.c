/* Incremental JSON prefix validator (json_prefix.h). */
#include "infer/json_prefix.h"

#include <string.h>

enum {
    S_START,      /* before the top-level object */
    S_VALUE,      /* a value must come (after ':' or ',' in an array) */
    S_VALUE_OR_CLOSE, /* after '[' */
    S_KEY_OR_CLOSE,   /* after '{' */
    S_KEY,        /* after ',' in an object */
    S_COLON,      /* after a key */
    S_AFTER,      /* after a value: ',' or the closing bracket */
    S_STR,        /* inside a string */
    S_ESC,        /* after a backslash */
    S_HEX,        /* in \uXXXX, aux digits seen */
    S_UTF8,       /* inside a multi-byte UTF-8 character, aux bytes still needed */
    S_LIT,        /* inside true/false/null, aux bytes matched */
    N_MINUS,      /* after '-' */
    N_ZERO,       /* integer part "0" */
    N_INT,        /* integer digits */
    N_DOT,        /* after '.' */
    N_FRAC,       /* fraction digits */
    N_E,          /* after 'e' / 'E' */
    N_ESIGN,      /* after the exponent's sign */
    N_EXP,        /* exponent digits */
    S_DONE,
};

static const char *const lits[3] = {"true", "false", "null"};

void lo_jsonp_init(lo_jsonp *p) {
    memset(p, 0, sizeof *p);
    p->st = S_START;
}

bool lo_jsonp_complete(const lo_jsonp *p) { return p->st == S_DONE; }

static bool is_ws(unsigned c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_digit(unsigned c) { return c >= '0' && c <= '9'; }
static bool is_hex(unsigned c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool push(lo_jsonp *p, uint8_t c) {
    if (p->depth >= LO_JSONP_MAX_DEPTH) return false;
    p->stack[p->depth++] = c;
    p->st = c == '{' ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
    return true;
}

static void value_done(lo_jsonp *p) { p->st = p->depth == 0 ? S_DONE : S_AFTER; }

static bool close_c(lo_jsonp *p, unsigned c) {
    if (p->depth == 0 || p->stack[p->depth - 1] != (c == '}' ? '{' : '[')) return false;
    p->depth--;
    value_done(p);
    return true;
}

/* The first byte of a value (state S_VALUE / S_VALUE_OR_CLOSE). */
static bool value_start(lo_jsonp *p, unsigned c) {
    switch (c) {
    case '{': case '[': return push(p, (uint8_t)c);
    case '"': p->st = S_STR; p->key = 0; return true;
    case '-': p->st = N_MINUS; return true;
    case '0': p->st = N_ZERO; return true;
    case 't': p->lit = 0; break;
    case 'f': p->lit = 1; break;
    case 'n': p->lit = 2; break;
    default:
        if (c >= '1' && c <= '9') { p->st = N_INT; return true; }
        return false;
    }
    p->st = S_LIT;
    p->aux = 1;
    return true;
}

/* A structural state (between tokens): whitespace (capped) or the next token. */
static bool structural(lo_jsonp *p, unsigned c) {
    if (is_ws(c)) return ++p->ws <= LO_JSONP_MAX_WS;
    p->ws = 0;
    switch (p->st) {
    case S_START:
        return c == '{' && push(p, '{');
    case S_VALUE_OR_CLOSE:
        if (c == ']') return close_c(p, c);
        return value_start(p, c);
    case S_VALUE:
        return value_start(p, c);
    case S_KEY_OR_CLOSE:
        if (c == '}') return close_c(p, c);
        /* fallthrough */
    case S_KEY:
        if (c != '"') return false;
        p->st = S_STR;
        p->key = 1;
        return true;
    case S_COLON:
        if (c != ':') return false;
        p->st = S_VALUE;
        return true;
    case S_AFTER:
        if (c == ',') {
            p->st = p->stack[p->depth - 1] == '{' ? S_KEY : S_VALUE;
            return true;
        }
        if (c == '}' || c == ']') return close_c(p, c);
        return false;
    default:
        return false;
    }
}

/* A number ends at the first byte that cannot continue it; that byte is then structural. */
static bool number_end(lo_jsonp *p, unsigned c) {
    value_done(p); /* a number is never the top-level value, so this is S_AFTER */
    return structural(p, c);
}

static bool feed1(lo_jsonp *p, unsigned c) {
    switch (p->st) {
    case S_STR:
        if (c == '"') {
            p->st = p->key ? S_COLON : S_AFTER;
            if (!p->key) value_done(p);
            return true;
        }
        if (c == '\\') { p->st = S_ESC; return true; }
        if (c < 0x20) return false;
        if (c < 0x80) return true;
        /* UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF */
        p->utf8_lo = 0x80;
        p->utf8_hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) p->aux = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            p->aux = 2;
            if (c == 0xE0) p->utf8_lo = 0xA0;
            if (c == 0xED) p->utf8_hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            p->aux = 3;
            if (c == 0xF0) p->utf8_lo = 0x90;
            if (c == 0xF4) p->utf8_hi = 0x8F;
        } else return false;
        p->st = S_UTF8;
        return true;
    case S_UTF8:
        if (c < p->utf8_lo || c > p->utf8_hi) return false;
        p->utf8_lo = 0x80;
        p->utf8_hi = 0xBF;
        if (--p->aux == 0) p->st = S_STR;
        return true;
    case S_ESC:
        if (c == 'u') { p->st = S_HEX; p->aux = 0; return true; }
        if (!strchr("\"\\/bfnrt", (int)c) || c == 0) return false;
        p->st = S_STR;
        return true;
    case S_HEX:
        if (!is_hex(c)) return false;
        if (++p->aux == 4) p->st = S_STR;
        return true;
    case S_LIT:
        if ((unsigned char)lits[p->lit][p->aux] != c) return false;
        if (lits[p->lit][++p->aux] == '\0') value_done(p);
        return true;
    case N_MINUS:
        if (c == '0') { p->st = N_ZERO; return true; }
        if (c >= '1' && c <= '9') { p->st = N_INT; return true; }
        return false;
    case N_ZERO:
    case N_INT:
        if (p->st == N_INT && is_digit(c)) return true;
        if (c == '.') { p->st = N_DOT; return true; }
        if (c == 'e' || c == 'E') { p->st = N_E; return true; }
        return number_end(p, c);
    case N_DOT:
        if (!is_digit(c)) return false;
        p->st = N_FRAC;
        return true;
    case N_FRAC:
        if (is_digit(c)) return true;
        if (c == 'e' || c == 'E') { p->st = N_E; return true; }
        return number_end(p, c);
    case N_E:
        if (c == '+' || c == '-') { p->st = N_ESIGN; return true; }
        /* fallthrough */
    case N_ESIGN:
        if (!is_digit(c)) return false;
        p->st = N_EXP;
        return true;
    case N_EXP:
        if (is_digit(c)) return true;
        return number_end(p, c);
    case S_DONE:
        return false;
    default:
        return structural(p, c);
    }
}

bool lo_jsonp_feed(lo_jsonp *p, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!feed1(p, (unsigned char)bytes[i])) return false;
    return true;
}
