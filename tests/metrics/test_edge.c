/* Edge cases the shared reference cases do not cover, with expectations worked out from
 * sacreBLEU's and rouge-score's code: empty hypothesis/reference, 13a's HTML entities,
 * "<skipped>", "-\n" and digits by . , -, brevity-penalty ties, Unicode punctuation and
 * symbols in intl, Python whitespace and lower(), blank Lsum lines, ROUGE-L with stems,
 * non-ASCII in the ROUGE tokenizer, exact match. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "llmops/llmops.h"

static void check_tok(lo_bleu_tokenize tk, bool lower, const char *in, const char *want) {
    lo_bleu_opts o;
    lo_bleu_opts_default(&o);
    o.tokenize = tk;
    o.lowercase = lower;
    char *out = NULL;
    CHECK_OK(lo_bleu_tokenize_text(&o, in, &out));
    CHECK_STR_EQ(out, want);
    lo_free(out);
}

static void check_rouge_tokens(const char *in, bool stem, const char *want) {
    char **t = NULL;
    size_t n = 0;
    CHECK_OK(lo_rouge_tokenize(in, stem, &t, &n));
    char buf[512] = "";
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(buf, " ");
        strncat(buf, t[i], sizeof buf - strlen(buf) - 2);
    }
    CHECK_STR_EQ(buf, want);
    lo_free(t);
}

static void test_13a(void) {
    check_tok(LO_BLEU_TOK_13A, false, "&quot;Hi&quot; &amp; &lt;b&gt;", "\" Hi \" & < b >");
    check_tok(LO_BLEU_TOK_13A, false, "&amp;lt;", "<"); /* replacements run one after another */
    check_tok(LO_BLEU_TOK_13A, false, "&apos;ok&apos;", "& apos ; ok & apos ;"); /* not an mteval entity */
    check_tok(LO_BLEU_TOK_13A, false, "pre-\nprocessing and\nmore", "preprocessing and more");
    check_tok(LO_BLEU_TOK_13A, false, "a <skipped> b", "a b");
    check_tok(LO_BLEU_TOK_13A, false, "3.14, 1,000 and 5-6.", "3.14 , 1,000 and 5 - 6 .");
    check_tok(LO_BLEU_TOK_13A, false, "It wasn't (really) $5/day!", "It wasn't ( really ) $ 5 / day !");
    check_tok(LO_BLEU_TOK_13A, false, "end.", "end .");
    check_tok(LO_BLEU_TOK_13A, false, "x-ray 2-3", "x-ray 2 - 3");
    check_tok(LO_BLEU_TOK_13A, false, "", "");
    check_tok(LO_BLEU_TOK_13A, false, "Zürich.", "Zürich ."); /* multi-byte before '.' */
}

static void test_intl_char_none(void) {
    check_tok(LO_BLEU_TOK_INTL, false, "Hello, «world»!", "Hello , « world » !");
    check_tok(LO_BLEU_TOK_INTL, false, "¿Qué? 1,000.5 —dijo", "¿ Qué ? 1,000.5 — dijo");
    check_tok(LO_BLEU_TOK_INTL, false, "in 2019.", "in 2019."); /* mteval-v14's number-dot quirk */
    check_tok(LO_BLEU_TOK_INTL, false, "$5 + €3", "$ 5 + € 3");
    check_tok(LO_BLEU_TOK_INTL, false, "日本語。テスト", "日本語 。 テスト");
    check_tok(LO_BLEU_TOK_CHAR, false, "ab c", "a b c");
    check_tok(LO_BLEU_TOK_CHAR, true, "\xC4\xB0x", "i \xCC\x87 x"); /* İ lowercases to i + U+0307 */
    check_tok(LO_BLEU_TOK_NONE, false, "a\xC2\xA0" "b\xE2\x80\x8B" "c\xE3\x80\x80" "d", "a b\xE2\x80\x8B" "c d");
    check_tok(LO_BLEU_TOK_NONE, true, "ΟΔΟΣ ΣΑ", "οδος σα"); /* final sigma */
    check_tok(LO_BLEU_TOK_NONE, false, "\xFF\xFE abc", "\xFF\xFE abc"); /* bad bytes pass through */
    check_tok(LO_BLEU_TOK_NONE, false, "  trailing \t\n", "trailing");
}

static void test_bleu_edges(void) {
    lo_bleu_opts o;
    lo_bleu_opts_default(&o);
    lo_bleu_score s;
    /* empty hypothesis: no n-grams, score 0, BP 0 */
    const char *h0[] = {""}, *r0[] = {"a b c"};
    const char *const *rs0[] = {r0};
    CHECK_OK(lo_bleu_corpus(&o, h0, 1, rs0, 1, &s));
    CHECK(s.score == 0.0 && s.sys_len == 0 && s.ref_len == 3 && s.bp == 0.0);
    /* empty reference: length 0, no matches, ratio 0 */
    const char *h1[] = {"a b"}, *r1[] = {""};
    const char *const *rs1[] = {r1};
    CHECK_OK(lo_bleu_corpus(&o, h1, 1, rs1, 1, &s));
    CHECK(s.score == 0.0 && s.sys_len == 2 && s.ref_len == 0 && s.ratio == 0.0 && s.bp == 1.0);
    /* ties in the closest reference length go to the shorter one */
    const char *refs[] = {"a b c d f g", "a b c d"};
    CHECK_OK(lo_bleu_sentence(&o, "a b c d e", refs, 2, &s));
    CHECK_INT_EQ(s.ref_len, 4);
    CHECK(s.bp == 1.0);
    const char *refs2[] = {"a b c d", "a b c d f g"};
    CHECK_OK(lo_bleu_sentence(&o, "a b c d e", refs2, 2, &s));
    CHECK_INT_EQ(s.ref_len, 4);
    /* a missing reference (NULL) is skipped and the signature says nrefs:var */
    const char *ha[] = {"a b", "c d"}, *ra[] = {"a b", NULL}, *rb[] = {"a b", "c d"};
    const char *const *rsa[] = {ra, rb};
    CHECK_OK(lo_bleu_corpus(&o, ha, 2, rsa, 2, &s));
    CHECK_INT_EQ(s.n_refs, -1);
    char sig[128];
    lo_bleu_signature(&o, s.n_refs, sig, sizeof sig);
    CHECK_STR_EQ(sig, "nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
    o.smooth = LO_BLEU_SMOOTH_FLOOR;
    o.lowercase = true;
    o.effective_order = true;
    lo_bleu_signature(&o, 1, sig, sizeof sig);
    CHECK_STR_EQ(sig, "nrefs:1|case:lc|eff:yes|tok:13a|smooth:floor[0.10]|version:2.6.0");
    /* a segment with no reference at all is an error, not a crash */
    const char *rn[] = {NULL};
    const char *const *rsn[] = {rn};
    lo_bleu_opts_default(&o);
    CHECK(lo_bleu_corpus(&o, h1, 1, rsn, 1, &s) == LO_ERR_INVALID);
    /* format */
    char buf[256];
    const char *hy[] = {"The dog bit the man."}, *ry[] = {"The dog bit the man."};
    const char *const *rsy[] = {ry};
    CHECK_OK(lo_bleu_corpus(&o, hy, 1, rsy, 1, &s));
    lo_bleu_format(&s, buf, sizeof buf);
    CHECK_STR_EQ(buf, "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6)");
    o.max_ngram_order = 0;
    CHECK(lo_bleu_corpus(&o, hy, 1, rsy, 1, &s) == LO_ERR_RANGE);
}

static void test_chrf(void) {
    lo_chrf_opts o;
    lo_chrf_opts_default(&o);
    lo_chrf_score s;
    const char *r[] = {"The cat sat."};
    CHECK_OK(lo_chrf_sentence(&o, "The cat sat.", r, 1, &s));
    CHECK(fabs(s.score - 100.0) < 1e-9);
    CHECK_OK(lo_chrf_sentence(&o, "", r, 1, &s));
    CHECK(s.score == 0.0);
    /* whitespace is ignored in character n-grams */
    CHECK_OK(lo_chrf_sentence(&o, "Thecat  sat.", r, 1, &s));
    CHECK(fabs(s.score - 100.0) < 1e-9);
    o.word_order = 2;
    CHECK_OK(lo_chrf_sentence(&o, "The cat sat.", r, 1, &s));
    CHECK(fabs(s.score - 100.0) < 1e-9);
    char buf[64];
    lo_chrf_format(&s, buf, sizeof buf);
    CHECK_STR_EQ(buf, "chrF2++ = 100.00");
    /* best reference by F-score */
    const char *r2[] = {"completely different", "The cat sat."};
    CHECK_OK(lo_chrf_sentence(&o, "The cat sat.", r2, 2, &s));
    CHECK(fabs(s.score - 100.0) < 1e-9);
}

/* sacreBLEU's test/test_chrf.py cases (beta 3 corpus chrF with and without eps smoothing,
 * kept whitespace, sentence chrF with eps smoothing), tolerance 1e-4 as there. */
static double chrf1(const char *const *h, const char *const *r, size_t n, int beta, bool eps, bool ws) {
    lo_chrf_opts o;
    lo_chrf_opts_default(&o);
    o.beta = beta;
    o.eps_smoothing = eps;
    o.whitespace = ws;
    lo_chrf_score s;
    const char *const *rs[1] = {r};
    CHECK_OK(lo_chrf_corpus(&o, h, n, rs, 1, &s));
    return s.score;
}

static void test_chrf_sacrebleu(void) {
    static const struct { const char *h[2], *r[2]; size_t n; double eps, eff; } c[] = {
        {{"abcdefg"}, {"hijklmnop"}, 1, 0.0, -1}, {{"a"}, {"b"}, 1, 0.0, -1}, {{""}, {"b"}, 1, 0.0, -1},
        {{""}, {"ref"}, 1, 0.0, -1}, {{""}, {"reference"}, 1, 0.0, 0.0}, {{"aa"}, {"ab"}, 1, 8.3333, 25.0},
        {{"a", "b"}, {"a", "c"}, 2, 8.3333, 50.0}, {{"a"}, {"a"}, 1, 16.6667, 100.0},
        {{"a b c"}, {"a b c"}, 1, 50.0, 100.0}, {{"a b c"}, {"abc"}, 1, 50.0, 100.0}, {{""}, {"c"}, 1, -1, 0.0},
        {{" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
         {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."}, 1, 63.361730, -1},
        {{" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "},
         {"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, 1, 64.1302698, -1},
        {{"Niemand hat die Absicht, eine Mauer zu errichten"}, {"Niemand hat die Absicht, eine Mauer zu errichten"}, 1, 100.0, -1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        if (c[i].eps >= 0) CHECK_MSG(fabs(chrf1(c[i].h, c[i].r, c[i].n, 3, true, false) - c[i].eps) < 1e-4, "eps case %zu", i);
        if (c[i].eff >= 0) CHECK_MSG(fabs(chrf1(c[i].h, c[i].r, c[i].n, 3, false, false) - c[i].eff) < 1e-4, "eff case %zu", i);
    }
    const char *h1[] = {"Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."};
    const char *r1[] = {"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."};
    CHECK(fabs(chrf1(h1, r1, 1, 3, false, true) - 67.3481606) < 1e-4);
    const char *h2[] = {"risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."};
    const char *r2[] = {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."};
    CHECK(fabs(chrf1(h2, r2, 1, 3, false, true) - 65.2414427) < 1e-4);
    static const struct { const char *h, *r; double want; } sl[] = {
        {"Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
         "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", 39.14078509},
        {"Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
         "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.", 31.22557079},
        {"Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
         "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.", 57.15704367},
    };
    for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++) {
        lo_chrf_opts o;
        lo_chrf_opts_default(&o);
        o.eps_smoothing = true;
        lo_chrf_score s;
        CHECK_OK(lo_chrf_sentence(&o, sl[i].h, &sl[i].r, 1, &s));
        CHECK_MSG(fabs(s.score - sl[i].want) < 1e-4, "sentence chrF %zu: %.8f vs %.8f", i, s.score, sl[i].want);
    }
}

static void test_rouge_edges(void) {
    lo_rouge_type lsum = LO_ROUGE_LSUM, l = LO_ROUGE_L, r1 = 1;
    lo_rouge_prf p;
    /* blank lines in Lsum are dropped; whitespace-only lines are empty sentences */
    CHECK_OK(lo_rouge_score("a b\n\nc d", "c d\n\n\na b", &lsum, 1, false, &p));
    CHECK(p.fmeasure == 1.0);
    CHECK_OK(lo_rouge_score("a b\n \nc d\n", "c d\na b", &lsum, 1, false, &p));
    CHECK(p.fmeasure == 1.0);
    CHECK_OK(lo_rouge_score("\n\n", "a", &lsum, 1, false, &p));
    CHECK(p.fmeasure == 0.0);
    /* ROUGE-L with stemming */
    CHECK_OK(lo_rouge_score("the cats were running", "the cat was run", &l, 1, true, &p));
    CHECK(p.precision == 0.75 && p.recall == 0.75);
    CHECK_OK(lo_rouge_score("the cats were running", "the cat was run", &l, 1, false, &p));
    CHECK(p.precision == 0.25);
    /* non-ASCII: only [a-z0-9] survive; İ → "i" + combining dot, Kelvin sign → k */
    check_rouge_tokens("Café Zürich \xC4\xB0stanbul \xE2\x84\xAA" "elvin", false, "caf z rich i stanbul kelvin");
    check_rouge_tokens("naïve résumé 42nd", false, "na ve r sum 42nd");
    check_rouge_tokens("", true, "");
    /* rouge2 on a one-token prediction: no bigrams, precision over max(0,1) */
    lo_rouge_type r2 = 2;
    CHECK_OK(lo_rouge_score("a b", "a", &r2, 1, false, &p));
    CHECK(p.precision == 0.0 && p.recall == 0.0);
    CHECK_OK(lo_rouge_score("a a a", "a a", &r1, 1, false, &p));
    CHECK(p.precision == 1.0 && fabs(p.recall - 2.0 / 3.0) < 1e-15);
    lo_rouge_type bad;
    CHECK(!lo_rouge_parse_type("rouge0", 6, &bad));
    CHECK(!lo_rouge_parse_type("rougeLs", 7, &bad));
}

static void test_exact(void) {
    CHECK(lo_exact_match("a b", "a b"));
    CHECK(!lo_exact_match("a  b", "a b"));
    CHECK(lo_exact_match_norm("a  b", "a b"));
    CHECK(lo_exact_match_norm("The Cat!", "cat"));
    CHECK(lo_exact_match_norm("An apple, a day.", "apple day"));
    CHECK(!lo_exact_match_norm("theme", "me"));
    CHECK(!lo_exact_match_norm("cat", "cats"));
}

/* Hostile input: random bytes (broken UTF-8, NULs cut strings, newlines, entities) must
 * give a result, never a crash or a leak, with every tokenizer and metric. */
static void test_random_bytes(void) {
    static const char *const frag[] = {"&amp;", "-\n", "\n", "<skipped>", "\xC4\xB0", "\xCE\xA3", "\xE2\x80\xA8",
                                       "\xF0\x9F\x98\x80", "\xFF", "\xC3", ".", ",", "5", "-", " ", "ab", "\xC2\xA0"};
    uint64_t x = 88172645463325252ULL;
    char a[200], b[200];
    int ok = 1;
    for (int it = 0; it < 3000; it++) {
        char *bufs[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            size_t n = 0;
            int parts = (int)(x % 12);
            for (int p = 0; p < parts; p++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                const char *f = (x & 3) ? frag[x % (sizeof frag / sizeof *frag)] : NULL;
                char rnd[2] = {(char)(1 + (x >> 8) % 255), 0};
                if (!f) f = rnd;
                size_t l = strlen(f);
                if (n + l < sizeof a) memcpy(bufs[k] + n, f, l), n += l;
            }
            bufs[k][n] = 0;
        }
        lo_bleu_opts o;
        lo_bleu_opts_default(&o);
        o.tokenize = (lo_bleu_tokenize)(it % 4);
        o.lowercase = it & 4;
        o.smooth = (lo_bleu_smooth)((it >> 3) % 4);
        o.effective_order = it & 32;
        lo_bleu_score s;
        const char *r[1] = {b};
        ok &= lo_bleu_sentence(&o, a, r, 1, &s) == LO_OK && s.score >= 0 && s.score <= 100.0000001;
        lo_chrf_opts co;
        lo_chrf_opts_default(&co);
        co.word_order = it % 3;
        co.lowercase = it & 4;
        lo_chrf_score cs;
        ok &= lo_chrf_sentence(&co, a, r, 1, &cs) == LO_OK && cs.score >= 0 && cs.score <= 100.0000001;
        lo_rouge_type t[4] = {1, 2, LO_ROUGE_L, LO_ROUGE_LSUM};
        lo_rouge_prf p[4];
        ok &= lo_rouge_score(b, a, t, 4, it & 1, p) == LO_OK;
        (void)lo_exact_match_norm(a, b);
    }
    CHECK(ok);
}

int main(void) {
    test_random_bytes();
    test_13a();
    test_intl_char_none();
    test_bleu_edges();
    test_chrf();
    test_chrf_sacrebleu();
    test_rouge_edges();
    test_exact();
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
