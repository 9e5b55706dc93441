/* NLTK's PorterStemmer in its default NLTK_EXTENSIONS mode (the mode rouge-score uses):
 * Porter's 1980 steps plus Martin Porter's and NLTK's departures (irregular forms, -ies/-ied
 * on 4-letter words, alli→al first, logi with the l in the stem, fulli, the cvc rule for
 * 2-letter stems). Written from the published rules; operates on lowercase ASCII. */
#include <string.h>

#include "metrics/metrics_internal.h"

typedef struct word {
    char *s;
    int n;
} word;

static bool cons(const char *s, int i) {
    char c = s[i];
    if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') return false;
    if (c == 'y') return i == 0 ? true : !cons(s, i - 1);
    return true;
}

/* m: the number of vowel→consonant transitions in s[0..n). */
static int measure(const char *s, int n) {
    int m = 0;
    bool prev_v = false;
    for (int i = 0; i < n; i++) {
        bool c = cons(s, i);
        if (c && prev_v) m++;
        prev_v = !c;
    }
    return m;
}

static bool has_vowel(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (!cons(s, i)) return true;
    return false;
}

static bool ends_dc(const char *s, int n) { return n >= 2 && s[n - 1] == s[n - 2] && cons(s, n - 1); }

static bool ends_cvc(const char *s, int n) {
    if (n >= 3 && cons(s, n - 3) && !cons(s, n - 2) && cons(s, n - 1) && s[n - 1] != 'w' && s[n - 1] != 'x' &&
        s[n - 1] != 'y')
        return true;
    return n == 2 && !cons(s, 0) && cons(s, 1);
}

static bool ends(const word *w, const char *suf) {
    int k = (int)strlen(suf);
    return w->n >= k && memcmp(w->s + w->n - k, suf, (size_t)k) == 0;
}

static void set_suffix(word *w, int cut, const char *rep) {
    w->n -= cut;
    size_t r = strlen(rep);
    memcpy(w->s + w->n, rep, r);
    w->n += (int)r;
}

enum cond { C_NONE, C_M0, C_M1, C_ION, C_LOGI, C_LL };
typedef struct rule {
    const char *suf, *rep;
    enum cond cond;
} rule;

static bool cond_ok(enum cond c, const word *w, int stem_n) {
    switch (c) {
    case C_NONE: return true;
    case C_M0: return measure(w->s, stem_n) > 0;
    case C_M1: return measure(w->s, stem_n) > 1;
    case C_ION: return measure(w->s, stem_n) > 1 && (w->s[stem_n - 1] == 's' || w->s[stem_n - 1] == 't');
    case C_LOGI: return measure(w->s, w->n - 3) > 0; /* the 'l' stays with the stem */
    case C_LL: return measure(w->s, w->n - 1) > 1;
    }
    return false;
}

/* The first rule whose suffix matches decides: replaced when its condition holds, else the
 * word is left alone. */
static void apply_rules(word *w, const rule *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!ends(w, r[i].suf)) continue;
        int stem_n = w->n - (int)strlen(r[i].suf);
        if (cond_ok(r[i].cond, w, stem_n)) set_suffix(w, w->n - stem_n, r[i].rep);
        return;
    }
}

#define NR(a) (sizeof(a) / sizeof((a)[0]))

static void step1a(word *w) {
    if (ends(w, "ies") && w->n == 4) {
        set_suffix(w, 3, "ie");
        return;
    }
    static const rule r[] = {{"sses", "ss", C_NONE}, {"ies", "i", C_NONE}, {"ss", "ss", C_NONE}, {"s", "", C_NONE}};
    apply_rules(w, r, NR(r));
}

static void step1b(word *w) {
    if (ends(w, "ied")) {
        set_suffix(w, 3, w->n == 4 ? "ie" : "i");
        return;
    }
    if (ends(w, "eed")) {
        if (measure(w->s, w->n - 3) > 0) set_suffix(w, 3, "ee");
        return;
    }
    int cut = 0;
    if (ends(w, "ed") && has_vowel(w->s, w->n - 2)) cut = 2;
    else if (ends(w, "ing") && has_vowel(w->s, w->n - 3)) cut = 3;
    if (!cut) return;
    w->n -= cut;
    if (ends(w, "at")) set_suffix(w, 2, "ate");
    else if (ends(w, "bl")) set_suffix(w, 2, "ble");
    else if (ends(w, "iz")) set_suffix(w, 2, "ize");
    else if (ends_dc(w->s, w->n)) {
        char last = w->s[w->n - 1];
        if (last != 'l' && last != 's' && last != 'z') w->n -= 1;
    } else if (measure(w->s, w->n) == 1 && ends_cvc(w->s, w->n)) {
        w->s[w->n++] = 'e';
    }
}

static void step1c(word *w) {
    if (ends(w, "y") && w->n - 1 > 1 && cons(w->s, w->n - 2)) w->s[w->n - 1] = 'i';
}

static void step2(word *w) {
    if (ends(w, "alli") && measure(w->s, w->n - 4) > 0) {
        set_suffix(w, 4, "al");
        step2(w);
        return;
    }
    static const rule r[] = {
        {"ational", "ate", C_M0}, {"tional", "tion", C_M0}, {"enci", "ence", C_M0}, {"anci", "ance", C_M0},
        {"izer", "ize", C_M0},    {"bli", "ble", C_M0},     {"alli", "al", C_M0},   {"entli", "ent", C_M0},
        {"eli", "e", C_M0},       {"ousli", "ous", C_M0},   {"ization", "ize", C_M0}, {"ation", "ate", C_M0},
        {"ator", "ate", C_M0},    {"alism", "al", C_M0},    {"iveness", "ive", C_M0}, {"fulness", "ful", C_M0},
        {"ousness", "ous", C_M0}, {"aliti", "al", C_M0},    {"iviti", "ive", C_M0}, {"biliti", "ble", C_M0},
        {"fulli", "ful", C_M0},   {"logi", "log", C_LOGI},
    };
    apply_rules(w, r, NR(r));
}

static void step3(word *w) {
    static const rule r[] = {{"icate", "ic", C_M0}, {"ative", "", C_M0}, {"alize", "al", C_M0}, {"iciti", "ic", C_M0},
                             {"ical", "ic", C_M0},  {"ful", "", C_M0},   {"ness", "", C_M0}};
    apply_rules(w, r, NR(r));
}

static void step4(word *w) {
    static const rule r[] = {{"al", "", C_M1},   {"ance", "", C_M1}, {"ence", "", C_M1}, {"er", "", C_M1},
                             {"ic", "", C_M1},   {"able", "", C_M1}, {"ible", "", C_M1}, {"ant", "", C_M1},
                             {"ement", "", C_M1}, {"ment", "", C_M1}, {"ent", "", C_M1}, {"ion", "", C_ION},
                             {"ou", "", C_M1},   {"ism", "", C_M1},  {"ate", "", C_M1},  {"iti", "", C_M1},
                             {"ous", "", C_M1},  {"ive", "", C_M1},  {"ize", "", C_M1}};
    apply_rules(w, r, NR(r));
}

static void step5(word *w) {
    if (ends(w, "e")) {
        int m = measure(w->s, w->n - 1);
        if (m > 1 || (m == 1 && !ends_cvc(w->s, w->n - 1))) w->n -= 1;
    }
    static const rule r[] = {{"ll", "l", C_LL}};
    apply_rules(w, r, NR(r));
}

size_t lo_porter_stem(const char *in, size_t len, char *out, size_t cap) {
    static const char *const irregular[][2] = {
        {"sky", "sky"},         {"skies", "sky"},     {"dying", "die"},       {"lying", "lie"},
        {"tying", "tie"},       {"news", "news"},     {"innings", "inning"},  {"inning", "inning"},
        {"outings", "outing"},  {"outing", "outing"}, {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},       {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
    };
    if (cap == 0) return 0;
    if (len + 3 > cap) len = cap - 3 < cap ? cap - 3 : 0; /* never overrun; callers size cap */
    for (size_t i = 0; i < NR(irregular); i++)
        if (strlen(irregular[i][0]) == len && memcmp(irregular[i][0], in, len) == 0) {
            size_t k = strlen(irregular[i][1]);
            memcpy(out, irregular[i][1], k);
            out[k] = 0;
            return k;
        }
    memcpy(out, in, len);
    out[len] = 0;
    if (len <= 2 || len > 1000000) return len;
    word w = {out, (int)len};
    step1a(&w);
    step1b(&w);
    step1c(&w);
    step2(&w);
    step3(&w);
    step4(&w);
    step5(&w);
    out[w.n] = 0;
    return (size_t)w.n;
}
