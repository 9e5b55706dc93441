/* Regex pre-tokenization for byte-level BPE: the pattern lists selected by
 * tokenizer.ggml.pre (the same lists llama.cpp uses, which come from each model's HF
 * tokenizer.json), compiled once with PCRE2 (UTF + UCP, JIT when available), and the
 * split that applies them in sequence, keeping both matches and the gaps between them. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretok.h"

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#define LO_PRETOK_MAX 6

struct lo_pretok {
    int n;
    pcre2_code *code[LO_PRETOK_MAX];
    const char *src[LO_PRETOK_MAX];
    bool jit[LO_PRETOK_MAX];
};

/* ---- the pattern sets -------------------------------------------------------------- */

/* Shared alternations. Case-insensitive contractions are spelled out ('[sS]) as llama.cpp
 * does, so that PCRE2's Unicode case folding (ſ, K) cannot widen them. */
#define RX_CONTR "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3                                                                                                      \
    RX_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                                                            \
             "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                                       \
    RX_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK ideographs 一-龥, U+0800-一, Hangul 가-퟿ (deepseek) */
#define RX_CJK_DS "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* 一-龥, hiragana, katakana */
#define RX_CJK_KANA "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+"
#define RX_DS3_MAIN "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
#define RX_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"
/* Upper-then-lower letter runs written with lookaheads (tekken / gpt-4o style). */
#define RX_CASED_WORDS(L, SUFFIX)                                                                                      \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[" L "])([^a-z]))*((?=[" L "])([^A-Z]))+" SUFFIX "|[^\\r\\n\\p{L}\\p{N}]?((?=[" L       \
    "])([^a-z]))+((?=[" L "])([^A-Z]))*" SUFFIX
#define RX_CASED_CLASSES(SUFFIX)                                                                                       \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" SUFFIX                 \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" SUFFIX

/* deepseek-llm's letter class: the Unicode cased letters (L&) of its tokenizer.json,
 * written as code points. */
#define RX_DS_LETTERS                                                                                                  \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"                                \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"                             \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"                                      \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"                        \
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"                                     \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"                                     \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"                             \
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"                            \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"                                     \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"                             \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}"                             \
    "\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"                                       \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}"                                      \
    "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"                                     \
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"                                     \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"                                 \
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"                             \
    "\\x{1E900}-\\x{1E943}]+"

typedef struct pre_set {
    const char *rx[LO_PRETOK_MAX]; /* unused entries NULL */
} pre_set;

enum {
    S_DEFAULT,
    S_GPT2,
    S_LLAMA3,
    S_JAIS2,
    S_DEEPSEEK_LLM,
    S_DEEPSEEK3,
    S_SPARK2_5,
    S_YOUTU,
    S_DEEPSEEK_CODER,
    S_FALCON,
    S_STARCODER,
    S_QWEN2,
    S_QWEN35,
    S_PORO,
    S_VIKING,
    S_TEKKEN,
    S_CHAMELEON,
    S_GPT4O,
    S_GRANITE_EMB,
    S_TINY_AYA,
    S_SUPERBPE,
    S_BAILINGMOE,
    S_SEED_CODER,
    S_UFAKZEKA,
    S_LAGUNA,
    S_EXAONE_MOE,
    S_MINICPM5,
    S_COUNT
};

static const pre_set k_sets[S_COUNT] = {
    [S_DEFAULT] = {{"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    [S_GPT2] = {{RX_GPT2}},
    [S_LLAMA3] = {{RX_LLAMA3}},
    [S_JAIS2] = {{RX_CONTR
                  "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
                  "|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)"
                  "|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"}},
    [S_DEEPSEEK_LLM] = {{"[\\r\\n]", RX_DS_LETTERS,
                         "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                         "\\s+$", RX_CJK_DS, "\\p{N}+"}},
    [S_DEEPSEEK3] = {{"\\p{N}{1,3}", RX_CJK_KANA,
                      RX_DS3_MAIN "| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_SPARK2_5] = {{"\\p{N}{1,3}", RX_CJK_KANA, RX_DS3_MAIN "| ?[\\p{P}\\p{S}]+|[\\r\\n]|\\s+(?!\\S)|\\s+", "\\p{N}"}},
    [S_YOUTU] = {{"[\\x{AC00}-\\x{D7A3}\\x{3131}-\\x{318E}]+"
                  "|[\\x{FF01}\\x{2026}\\x{201C}\\x{201D}\\x{2018}\\x{2019}\\x{2014}\\x{FF1A}\\x{FF1B}\\x{FF0C}"
                  "\\x{3001}-\\x{303F}\\x{FE30}-\\x{FE4F}]+|[\\x{3105}-\\x{312F}]+|" RX_CJK_KANA,
                  RX_CASED_CLASSES(RX_CONTR
                                   "?") "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_DEEPSEEK_CODER] = {{"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK_DS, "\\p{N}"}},
    [S_FALCON] = {{"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    [S_STARCODER] = {{"\\p{N}", RX_GPT2}},
    [S_QWEN2] = {{RX_QWEN2}},
    [S_QWEN35] = {{RX_CONTR "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*"
                            "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_PORO] = {{RX_PORO}},
    [S_VIKING] = {{RX_PORO, "\\p{N}"}},
    [S_TEKKEN] = {{RX_CASED_WORDS("\\p{L}",
                                  "") "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_CHAMELEON] = {{"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
                      "[\\p{P}!-/:-@\\[-`{-~]", RX_GPT2}},
    [S_GPT4O] = {{RX_CASED_WORDS("\\p{L}", RX_CONTR
                                 "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_GRANITE_EMB] = {{RX_CASED_WORDS(
        "\\p{L}\\p{M}", RX_CONTR "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_TINY_AYA] = {{"\\d{1,3}(?=(?:\\d{3})*\\b)",
                     RX_CASED_CLASSES(
                         RX_CONTR "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_SUPERBPE] = {{"\\p{N}+", "(?=(\\d{3})+(?!\\d))"}},
    [S_BAILINGMOE] = {{"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                       "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
    [S_SEED_CODER] = {{RX_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+"
                                "|\\s+(?!\\S)|\\s+"}},
    [S_UFAKZEKA] =
        {{"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [S_LAGUNA] = {{"[^\\n]+|[\\n]+", RX_QWEN2}},
    [S_EXAONE_MOE] = {{RX_CONTR "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}"
                                "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
    [S_MINICPM5] = {{"\\p{N}{1,3}", RX_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                                             "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
};

typedef struct pre_name {
    const char *name;
    int set;
    bool ignore_merges;
} pre_name;

/* tokenizer.ggml.pre values as llama.cpp names them (llama-vocab.cpp). Types that need
 * hand-written splitters (kimi-k2, afmoe) or no byte-level encoding (gemma4, sarvam-moe,
 * whitespace) are not here and load as unsupported. */
static const pre_name k_names[] = {
    {"default", S_DEFAULT, false},
    {"llama3", S_LLAMA3, true},
    {"llama-v3", S_LLAMA3, true},
    {"llama-bpe", S_LLAMA3, true},
    {"falcon3", S_LLAMA3, true},
    {"falcon-h1", S_LLAMA3, true},
    {"pixtral", S_LLAMA3, true},
    {"midm-2.0", S_LLAMA3, true},
    {"lfm2", S_LLAMA3, true},
    {"jina-v5-nano", S_LLAMA3, true},
    {"dbrx", S_LLAMA3, false},
    {"smaug-bpe", S_LLAMA3, false},
    {"glm4", S_LLAMA3, false},
    {"chatglm-bpe", S_LLAMA3, false},
    {"jais-2", S_JAIS2, false},
    {"deepseek-llm", S_DEEPSEEK_LLM, false},
    {"deepseek-coder", S_DEEPSEEK_CODER, false},
    {"deepseek-v3", S_DEEPSEEK3, false},
    {"hunyuan-dense", S_DEEPSEEK3, false},
    {"joyai-llm", S_DEEPSEEK3, false},
    {"hy_v4", S_DEEPSEEK3, false},
    {"spark2_5", S_SPARK2_5, false},
    {"youtu", S_YOUTU, true},
    {"falcon", S_FALCON, false},
    {"starcoder", S_STARCODER, false},
    {"refact", S_STARCODER, false},
    {"command-r", S_STARCODER, false},
    {"smollm", S_STARCODER, false},
    {"codeshell", S_STARCODER, false},
    {"exaone", S_STARCODER, false},
    {"minerva-7b", S_STARCODER, false},
    {"mellum2", S_STARCODER, false},
    {"gpt-2", S_GPT2, false},
    {"phi-2", S_GPT2, false},
    {"jina-es", S_GPT2, false},
    {"jina-de", S_GPT2, false},
    {"gigachat", S_GPT2, false},
    {"jina-v1-en", S_GPT2, false},
    {"jina-v2-es", S_GPT2, false},
    {"jina-v2-de", S_GPT2, false},
    {"jina-v2-code", S_GPT2, false},
    {"roberta-bpe", S_GPT2, false},
    {"a.x-4.0", S_GPT2, false},
    {"mellum", S_GPT2, false},
    {"modern-bert", S_GPT2, false},
    {"mpt", S_GPT2, false},
    {"olmo", S_GPT2, false},
    {"jais", S_GPT2, false},
    {"trillion", S_GPT2, false},
    {"granite-docling", S_GPT2, false},
    {"exaone4", S_GPT2, false},
    {"qwen2", S_QWEN2, false},
    {"deepseek-r1-qwen", S_QWEN2, false},
    {"kormo", S_QWEN2, false},
    {"f2llmv2", S_QWEN2, false},
    {"stablelm2", S_QWEN2, false},
    {"megrez", S_QWEN2, false},
    {"hunyuan", S_QWEN2, false},
    {"solar-open", S_QWEN2, false},
    {"grok-2", S_QWEN2, false},
    {"qwen35", S_QWEN35, false},
    {"poro-chat", S_PORO, false},
    {"bloom", S_PORO, false},
    {"gpt3-finnish", S_PORO, false},
    {"viking", S_VIKING, false},
    {"tekken", S_TEKKEN, true},
    {"chameleon", S_CHAMELEON, false},
    {"gpt-4o", S_GPT4O, false},
    {"llama4", S_GPT4O, false},
    {"kanana2", S_GPT4O, false},
    {"talkie", S_GPT4O, false},
    {"minimax-m2", S_GPT4O, false},
    {"granite-embed-multi-97m", S_GRANITE_EMB, true},
    {"tiny_aya", S_TINY_AYA, false},
    {"cohere2moe", S_TINY_AYA, false},
    {"superbpe", S_SUPERBPE, false},
    {"bailingmoe", S_BAILINGMOE, false},
    {"bailingmoe2", S_BAILINGMOE, false},
    {"llada-moe", S_BAILINGMOE, false},
    {"seed-coder", S_SEED_CODER, false},
    {"ufakzeka", S_UFAKZEKA, false},
    {"laguna", S_LAGUNA, false},
    {"exaone-moe", S_EXAONE_MOE, false},
    {"minicpm5", S_MINICPM5, true},
};
#define N_NAMES (sizeof k_names / sizeof k_names[0])

/* ---- PCRE2 plumbing ---------------------------------------------------------------- */

static void *pc_malloc(size_t n, void *ctx) {
    (void)ctx;
    return lo_malloc(n);
}
static void pc_free(void *p, void *ctx) {
    (void)ctx;
    lo_free(p);
}
static pcre2_general_context *general_ctx(void) {
    return pcre2_general_context_create(pc_malloc, pc_free, NULL);
}

lo_status lo_pretok_create(const char *name, lo_pretok **out, bool *ignore_merges) {
    *out = NULL;
    if (ignore_merges) *ignore_merges = false;
    const pre_name *pn = NULL;
    for (size_t i = 0; name && i < N_NAMES; i++)
        if (strcmp(k_names[i].name, name) == 0) pn = &k_names[i];
    if (!pn)
        return lo_error(LO_ERR_UNSUPPORTED,
                        "supported tokenizer.ggml.pre values: default, gpt-2, llama3 (llama-bpe), dbrx, "
                        "deepseek-llm, deepseek-coder, deepseek-v3, falcon, starcoder, refact, mpt, qwen2, "
                        "qwen35, command-r, tekken, gpt-4o, chatglm-bpe, bloom, viking, chameleon, smollm, ... "
                        "(full list in src/tokenizer/pretok.c)",
                        "unknown BPE pre-tokenizer type '%s'", name ? name : "(null)");
    lo_pretok *p = lo_calloc(1, sizeof *p);
    if (!p) return LO_ERR_NOMEM;
    pcre2_general_context *gc = general_ctx();
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    if (!cc) {
        pcre2_general_context_free(gc);
        lo_free(p);
        return lo_error(LO_ERR_NOMEM, NULL, "pcre2: cannot create a compile context");
    }
    const pre_set *set = &k_sets[pn->set];
    lo_status st = LO_OK;
    for (int i = 0; i < LO_PRETOK_MAX && set->rx[i]; i++) {
        int err = 0;
        PCRE2_SIZE erroff = 0;
        pcre2_code *code =
            pcre2_compile((PCRE2_SPTR)set->rx[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &erroff, cc);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            st = lo_error(LO_ERR_INTERNAL, NULL, "pre-tokenizer '%s': regex %d does not compile at %zu: %s", name, i,
                          (size_t)erroff, (const char *)msg);
            break;
        }
        p->code[i] = code;
        p->src[i] = set->rx[i];
        /* JIT is an optimisation only: when it is unavailable the interpreter runs. */
        p->jit[i] = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
        p->n = i + 1;
    }
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(gc);
    if (st != LO_OK) {
        lo_pretok_free(p);
        return st;
    }
    if (ignore_merges) *ignore_merges = pn->ignore_merges;
    *out = p;
    return LO_OK;
}

void lo_pretok_free(lo_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->code[i]);
    lo_free(p);
}

int lo_pretok_n_regex(const lo_pretok *p) {
    return p ? p->n : 0;
}
const char *lo_pretok_regex(const lo_pretok *p, int i) {
    return p && i >= 0 && i < p->n ? p->src[i] : NULL;
}

void lo_pretok_scratch_free(lo_pretok_scratch *s) {
    if (!s) return;
    lo_free(s->mtext);
    lo_free(s->a);
    lo_free(s->b);
    pcre2_match_data_free(s->match_data);
    pcre2_match_context_free(s->match_ctx);
    pcre2_jit_stack_free(s->jit_stack);
    memset(s, 0, sizeof *s);
}

/* ---- UTF-8 ------------------------------------------------------------------------- */

size_t lo_utf8_valid_len(const uint8_t *p, size_t n) {
    if (n == 0) return 0;
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0; /* continuation byte or overlong 2-byte lead */
    if (c < 0xE0) return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Length of the character starting at a lead byte of (valid) UTF-8. */
static size_t utf8_lead_len(uint8_t c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* ---- split ------------------------------------------------------------------------- */

static lo_status grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return LO_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return lo_error(LO_ERR_NOMEM, NULL, "pre-tokenizer: text too large");
        nc *= 2;
    }
    void *nb = lo_realloc(*buf, nc * elem);
    if (!nb) return LO_ERR_NOMEM;
    *buf = nb;
    *cap = nc;
    return LO_OK;
}

static inline lo_status push_span(lo_pretok_span **v, size_t *n, size_t *cap, size_t start, size_t end) {
    if (*n == *cap) {
        lo_status st = grow((void **)v, cap, *n + 1, sizeof **v);
        if (st != LO_OK) return st;
    }
    (*v)[*n].start = start;
    (*v)[*n].end = end;
    (*n)++;
    return LO_OK;
}

static lo_status ensure_match_state(lo_pretok_scratch *s) {
    if (s->match_data) return LO_OK;
    pcre2_general_context *gc = general_ctx();
    if (!gc) return lo_error(LO_ERR_NOMEM, NULL, "pcre2: cannot create a general context");
    s->match_data = pcre2_match_data_create(1, gc);
    s->match_ctx = pcre2_match_context_create(gc);
    /* 32 KiB growing to 8 MiB: enough for the lookahead-heavy patterns on long pieces;
     * a match that still runs out falls back to the interpreter. */
    s->jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, gc);
    pcre2_general_context_free(gc);
    if (!s->match_data || !s->match_ctx) {
        pcre2_match_data_free(s->match_data);
        pcre2_match_context_free(s->match_ctx);
        pcre2_jit_stack_free(s->jit_stack);
        s->match_data = s->match_ctx = s->jit_stack = NULL;
        return lo_error(LO_ERR_NOMEM, NULL, "pcre2: cannot create match data");
    }
    if (s->jit_stack) pcre2_jit_stack_assign(s->match_ctx, NULL, s->jit_stack);
    return LO_OK;
}

/* Splits subject[0, n) with one regex, appending spans (offset by base) to out. Zero-length
 * matches act as split points; after one, the next match must be non-empty at the same
 * place or start one character later (the std::regex_iterator / pcre2demo rule). */
static lo_status split_one(const lo_pretok *p, int ri, lo_pretok_scratch *s, const char *subject, size_t n, size_t base,
                           lo_pretok_span **out, size_t *n_out, size_t *cap_out) {
    pcre2_match_data *md = s->match_data;
    size_t pos = 0, gap = 0;
    uint32_t opts = 0;
    lo_status st;
    while (pos <= n) {
        uint32_t o = opts | PCRE2_NO_UTF_CHECK;
        int rc = pcre2_match(p->code[ri], (PCRE2_SPTR)subject, n, pos, o, md, s->match_ctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(p->code[ri], (PCRE2_SPTR)subject, n, pos, o | PCRE2_NO_JIT, md, s->match_ctx);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (opts == 0 || pos >= n) break;
            pos += utf8_lead_len((uint8_t)subject[pos]);
            opts = 0;
            continue;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return lo_error(LO_ERR_INTERNAL, "the input may be pathological for this pre-tokenizer; split it",
                            "pre-tokenizer regex %d failed on a %zu-byte piece: %s", ri, n, (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > me || me > n || ms < pos) { /* \K games; none of our patterns do this */
            return lo_error(LO_ERR_INTERNAL, NULL, "pre-tokenizer regex %d returned a bad match", ri);
        }
        if (ms > gap && (st = push_span(out, n_out, cap_out, base + gap, base + ms)) != LO_OK) return st;
        if (me > ms && (st = push_span(out, n_out, cap_out, base + ms, base + me)) != LO_OK) return st;
        gap = me;
        pos = me;
        opts = me == ms ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
    }
    if (gap < n && (st = push_span(out, n_out, cap_out, base + gap, base + n)) != LO_OK) return st;
    return LO_OK;
}

lo_status lo_pretok_split(const lo_pretok *p, const char *text, size_t len, lo_pretok_scratch *s,
                          const lo_pretok_span **spans, size_t *n_spans) {
    *spans = NULL;
    *n_spans = 0;
    if (len == 0) return LO_OK;
    lo_status st = ensure_match_state(s);
    if (st != LO_OK) return st;

    /* Matching text: the input itself when it is valid UTF-8, else a copy with U+FFFD
     * (EF BF BD) in place of each invalid byte. */
    const uint8_t *u = (const uint8_t *)text;
    size_t n_invalid = 0;
    for (size_t i = 0; i < len;) {
        size_t l = lo_utf8_valid_len(u + i, len - i);
        if (l == 0) {
            n_invalid++;
            l = 1;
        }
        i += l;
    }
    const char *mtext = text;
    size_t mlen = len;
    if (n_invalid) {
        if (n_invalid > (SIZE_MAX - len) / 2) return lo_error(LO_ERR_RANGE, NULL, "text too large");
        mlen = len + 2 * n_invalid;
        if ((st = grow((void **)&s->mtext, &s->mtext_cap, mlen, 1)) != LO_OK) return st;
        size_t o = 0;
        for (size_t i = 0; i < len;) {
            size_t l = lo_utf8_valid_len(u + i, len - i);
            if (l == 0) {
                memcpy(s->mtext + o, "\xEF\xBF\xBD", 3);
                o += 3;
                i += 1;
            } else {
                memcpy(s->mtext + o, text + i, l);
                o += l;
                i += l;
            }
        }
        mtext = s->mtext;
    }

    size_t na = 0, nb = 0;
    if ((st = push_span(&s->a, &na, &s->a_cap, 0, mlen)) != LO_OK) return st;
    for (int ri = 0; ri < p->n; ri++) {
        nb = 0;
        for (size_t k = 0; k < na; k++) {
            lo_pretok_span sp = s->a[k];
            st = split_one(p, ri, s, mtext + sp.start, sp.end - sp.start, sp.start, &s->b, &nb, &s->b_cap);
            if (st != LO_OK) return st;
        }
        lo_pretok_span *t = s->a;
        s->a = s->b;
        s->b = t;
        size_t tc = s->a_cap;
        s->a_cap = s->b_cap;
        s->b_cap = tc;
        na = nb;
    }

    if (n_invalid) {
        /* Spans partition mtext in order; walk both texts in step to map the ends back. */
        size_t opos = 0, mpos = 0;
        for (size_t k = 0; k < na; k++) {
            size_t mend = s->a[k].end;
            s->a[k].start = opos;
            while (mpos < mend && opos < len) {
                size_t l = lo_utf8_valid_len(u + opos, len - opos);
                if (l == 0) {
                    mpos += 3;
                    opos += 1;
                } else {
                    mpos += l;
                    opos += l;
                }
            }
            s->a[k].end = opos;
        }
    }
    *spans = s->a;
    *n_spans = na;
    return LO_OK;
}
