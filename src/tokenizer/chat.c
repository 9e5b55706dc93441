/* Chat templates: llama.cpp's built-in families (llama-chat.cpp) — which family a GGUF's
 * tokenizer.chat_template Jinja source is (substring rules, in llama.cpp's order) and the
 * prompt text each family renders for a list of messages. No Jinja is interpreted. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tokenizer_internal.h"

/* ---- names ------------------------------------------------------------------------ */

/* Names as llama.cpp's LLM_CHAT_TEMPLATES map spells them (plus "dots1", which llama.cpp
 * detects but does not name). Indexed by lo_chat_template. */
static const char *const chat_names[LO_CHAT_TEMPLATE_COUNT] = {
    [LO_CHAT_CHATML] = "chatml",
    [LO_CHAT_LLAMA2] = "llama2",
    [LO_CHAT_LLAMA2_SYS] = "llama2-sys",
    [LO_CHAT_LLAMA3] = "llama3",
    [LO_CHAT_MISTRAL_V1] = "mistral-v1",
    [LO_CHAT_MISTRAL_V3] = "mistral-v3",
    [LO_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [LO_CHAT_MISTRAL_V7] = "mistral-v7",
    [LO_CHAT_ZEPHYR] = "zephyr",
    [LO_CHAT_PHI3] = "phi3",
    [LO_CHAT_GEMMA] = "gemma",
    [LO_CHAT_DEEPSEEK] = "deepseek",
    [LO_CHAT_DEEPSEEK2] = "deepseek2",
    [LO_CHAT_DEEPSEEK3] = "deepseek3",
    [LO_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
    [LO_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [LO_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
    [LO_CHAT_PHI4] = "phi4",
    [LO_CHAT_FALCON3] = "falcon3",
    [LO_CHAT_MONARCH] = "monarch",
    [LO_CHAT_ORION] = "orion",
    [LO_CHAT_OPENCHAT] = "openchat",
    [LO_CHAT_VICUNA] = "vicuna",
    [LO_CHAT_VICUNA_ORCA] = "vicuna-orca",
    [LO_CHAT_DEEPSEEK_OCR] = "deepseek-ocr",
    [LO_CHAT_COMMAND_R] = "command-r",
    [LO_CHAT_CHATGLM3] = "chatglm3",
    [LO_CHAT_CHATGLM4] = "chatglm4",
    [LO_CHAT_GLMEDGE] = "glmedge",
    [LO_CHAT_MINICPM] = "minicpm",
    [LO_CHAT_EXAONE3] = "exaone3",
    [LO_CHAT_EXAONE4] = "exaone4",
    [LO_CHAT_EXAONE_MOE] = "exaone-moe",
    [LO_CHAT_RWKV_WORLD] = "rwkv-world",
    [LO_CHAT_GRANITE3] = "granite",
    [LO_CHAT_GRANITE4_0] = "granite-4.0",
    [LO_CHAT_GRANITE4_1] = "granite-4.1",
    [LO_CHAT_GIGACHAT] = "gigachat",
    [LO_CHAT_MEGREZ] = "megrez",
    [LO_CHAT_YANDEX] = "yandex",
    [LO_CHAT_BAILING] = "bailing",
    [LO_CHAT_BAILING_THINK] = "bailing-think",
    [LO_CHAT_BAILING2] = "bailing2",
    [LO_CHAT_LLAMA4] = "llama4",
    [LO_CHAT_SMOLVLM] = "smolvlm",
    [LO_CHAT_DOTS1] = "dots1",
    [LO_CHAT_HUNYUAN_MOE] = "hunyuan-moe",
    [LO_CHAT_GPT_OSS] = "gpt-oss",
    [LO_CHAT_HUNYUAN_DENSE] = "hunyuan-dense",
    [LO_CHAT_HUNYUAN_VL] = "hunyuan-vl",
    [LO_CHAT_KIMI_K2] = "kimi-k2",
    [LO_CHAT_SEED_OSS] = "seed_oss",
    [LO_CHAT_GROK2] = "grok-2",
    [LO_CHAT_PANGU_EMBED] = "pangu-embedded",
    [LO_CHAT_SOLAR_OPEN] = "solar-open",
};

const char *lo_chat_template_name(lo_chat_template t) {
    if ((int)t < 0 || (int)t >= LO_CHAT_TEMPLATE_COUNT) return "unknown";
    return chat_names[t];
}

static bool name_lookup(const char *name, lo_chat_template *out) {
    for (int i = 0; i < LO_CHAT_TEMPLATE_COUNT; i++)
        if (strcmp(name, chat_names[i]) == 0) {
            *out = (lo_chat_template)i;
            return true;
        }
    return false;
}

lo_status lo_chat_template_by_name(const char *name, lo_chat_template *out) {
    if (!name || !out) return lo_error(LO_ERR_INVALID, NULL, "lo_chat_template_by_name: NULL argument");
    if (name_lookup(name, out)) return LO_OK;
    /* The message lists every name (~600 bytes; the message buffer holds 1024). */
    char list[800];
    size_t n = 0;
    list[0] = '\0';
    for (int i = 0; i < LO_CHAT_TEMPLATE_COUNT && n < sizeof list; i++) {
        int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", chat_names[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
    return lo_error(LO_ERR_NOT_FOUND, "pick one of the listed names (llama.cpp's --chat-template names)",
                    "unknown chat template '%.64s'; known templates: %s", name, list);
}

const char *lo_tokenizer_chat_template(const lo_tokenizer *t) { return t ? t->chat_template : NULL; }

/* ---- detection -------------------------------------------------------------------- */

/* llm_chat_detect_template's rules, in its order (the first match wins; later rules rely
 * on earlier ones having failed, e.g. zephyr only after phi3/falcon3/glmedge). */
lo_status lo_chat_template_detect(const char *src, lo_chat_template *out) {
    if (!out) return lo_error(LO_ERR_INVALID, NULL, "lo_chat_template_detect: NULL output");
    if (!src || !*src) {
        *out = LO_CHAT_CHATML; /* what llama.cpp uses for a model without a template */
        return LO_OK;
    }
    if (name_lookup(src, out)) return LO_OK;
#define HAS(x) (strstr(src, (x)) != NULL)
    lo_chat_template t;
    if (HAS("<|im_start|>")) {
        t = HAS("<|im_sep|>") ? LO_CHAT_PHI4 : HAS("<end_of_utterance>") ? LO_CHAT_SMOLVLM : LO_CHAT_CHATML;
    } else if (strncmp(src, "mistral", 7) == 0 || HAS("[INST]")) {
        if (HAS("[SYSTEM_PROMPT]")) t = LO_CHAT_MISTRAL_V7;
        else if (HAS("' [INST] ' + system_message") || HAS("[AVAILABLE_TOOLS]")) {
            /* Mistral's official v1 / v3 / v3-tekken templates */
            if (HAS(" [INST]")) t = LO_CHAT_MISTRAL_V1;
            else if (HAS("\"[INST]\"")) t = LO_CHAT_MISTRAL_V3_TEKKEN;
            else t = LO_CHAT_MISTRAL_V3;
        } else if (HAS("content.strip()")) t = LO_CHAT_LLAMA2_SYS_STRIP;
        else if (HAS("bos_token + '[INST]")) t = LO_CHAT_LLAMA2_SYS_BOS;
        else if (HAS("<<SYS>>")) t = LO_CHAT_LLAMA2_SYS;
        else t = LO_CHAT_LLAMA2;
    } else if (HAS("<|assistant|>") && HAS("<|end|>")) t = LO_CHAT_PHI3;
    else if (HAS("[gMASK]<sop>")) t = LO_CHAT_CHATGLM4;
    else if (HAS("<|assistant|>") && HAS("<|user|>")) {
        if (HAS("<|tool_declare|>")) t = LO_CHAT_EXAONE_MOE;
        else t = HAS("</s>") ? LO_CHAT_FALCON3 : LO_CHAT_GLMEDGE;
    } else if (HAS("<|{{ item['role'] }}|>") && HAS("<|begin_of_image|>")) t = LO_CHAT_GLMEDGE;
    else if (HAS("<|user|>") && HAS("<|endoftext|>")) t = LO_CHAT_ZEPHYR;
    else if (HAS("bos_token + message['role']")) t = LO_CHAT_MONARCH;
    else if (HAS("<start_of_turn>")) t = LO_CHAT_GEMMA;
    else if (HAS("'\\n\\nAssistant: ' + eos_token")) t = LO_CHAT_ORION;
    else if (HAS("GPT4 Correct ")) t = LO_CHAT_OPENCHAT;
    else if (HAS("USER: ") && HAS("ASSISTANT: ")) t = HAS("SYSTEM: ") ? LO_CHAT_VICUNA_ORCA : LO_CHAT_VICUNA;
    else if (HAS("### Instruction:") && HAS("<|EOT|>")) t = LO_CHAT_DEEPSEEK;
    else if (HAS("<|START_OF_TURN_TOKEN|>") && HAS("<|USER_TOKEN|>")) t = LO_CHAT_COMMAND_R;
    else if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>")) t = LO_CHAT_LLAMA3;
    else if (HAS("[gMASK]sop")) t = LO_CHAT_CHATGLM3;
    else if (HAS("<用户>")) t = LO_CHAT_MINICPM;
    else if (HAS("'Assistant: ' + message['content'] + eos_token")) t = LO_CHAT_DEEPSEEK2;
    else if (HAS("<｜Assistant｜>") && HAS("<｜User｜>") && HAS("<｜end▁of▁sentence｜>")) t = LO_CHAT_DEEPSEEK3;
    else if (HAS("[|system|]") && HAS("[|assistant|]") && HAS("[|endofturn|]"))
        t = HAS("[|tool|]") ? LO_CHAT_EXAONE4 : LO_CHAT_EXAONE3;
    else if (HAS("rwkv-world") || HAS("{{- 'User: ' + message['content']|trim + '\\n\\n' -}}")) t = LO_CHAT_RWKV_WORLD;
    else if (HAS("<|start_of_role|>")) {
        if (HAS("<tool_call>") || HAS("<tools>"))
            t = HAS("g4_default_system_message") ? LO_CHAT_GRANITE4_0 : LO_CHAT_GRANITE4_1;
        else t = LO_CHAT_GRANITE3;
    } else if (HAS("message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"))
        t = LO_CHAT_GIGACHAT;
    else if (HAS("<|role_start|>")) t = LO_CHAT_MEGREZ;
    else if (HAS(" Ассистент:")) t = LO_CHAT_YANDEX;
    else if (HAS("<role>ASSISTANT</role>") && HAS("'HUMAN'")) t = LO_CHAT_BAILING;
    else if (HAS("<role>ASSISTANT</role>") && HAS("\"HUMAN\"") && HAS("<think>")) t = LO_CHAT_BAILING_THINK;
    else if (HAS("<role>ASSISTANT</role>") && HAS("<role>HUMAN</role>") && HAS("<|role_end|>")) t = LO_CHAT_BAILING2;
    else if (HAS("<|header_start|>") && HAS("<|header_end|>")) t = LO_CHAT_LLAMA4;
    else if (HAS("<|endofuserprompt|>")) t = LO_CHAT_DOTS1;
    else if (HAS("<|extra_0|>") && HAS("<|extra_4|>")) t = LO_CHAT_HUNYUAN_MOE;
    else if (HAS("<|start|>") && HAS("<|channel|>")) t = LO_CHAT_GPT_OSS;
    else if (HAS("<｜hy_Assistant｜>") && HAS("<｜hy_begin▁of▁sentence｜>")) t = LO_CHAT_HUNYUAN_VL;
    else if (HAS("<｜hy_Assistant｜>") && HAS("<｜hy_place▁holder▁no▁3｜>")) t = LO_CHAT_HUNYUAN_DENSE;
    else if (HAS("<|im_assistant|>assistant<|im_middle|>")) t = LO_CHAT_KIMI_K2;
    else if (HAS("<seed:bos>")) t = LO_CHAT_SEED_OSS;
    else if (HAS("'Assistant: '  + message['content'] + '<|separator|>")) t = LO_CHAT_GROK2;
    else if (HAS("[unused9]系统：[unused10]")) t = LO_CHAT_PANGU_EMBED;
    else if (HAS("<|begin|>") && HAS("<|end|>") && HAS("<|content|>")) t = LO_CHAT_SOLAR_OPEN;
    else {
        char head[61]; /* the start of the source on one line, for the message */
        size_t k = 0;
        for (; k < sizeof head - 1 && src[k]; k++) head[k] = (unsigned char)src[k] < 0x20 ? ' ' : src[k];
        head[k] = '\0';
        return lo_error(LO_ERR_UNSUPPORTED,
                        "name the family with --chat-template NAME (e.g. chatml, llama2, llama3, mistral-v7, phi3, gemma); "
                        "`llmops help chat-template` lists them",
                        "the model's chat template (%zu bytes, starting \"%s\") matches none of the built-in families",
                        strlen(src), head);
    }
#undef HAS
    *out = t;
    return LO_OK;
}

/* ---- rendering -------------------------------------------------------------------- */

/* Output buffer sized up front from the message lengths; grows only if the estimate of
 * the per-message markup (≤ 128 bytes) is ever exceeded. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->cap - b->n <= n) { /* keep one byte for the NUL */
        size_t need, cap = b->cap < 64 ? 64 : b->cap;
        if (lo_add_overflow(b->n, n, &need) || lo_add_overflow(need, 1, &need)) {
            b->oom = true;
            return;
        }
        while (cap < need) {
            if (lo_mul_overflow(cap, 2, &cap)) {
                cap = need;
                break;
            }
        }
        char *q = lo_realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Appends s without leading/trailing C-locale whitespace (llama.cpp's trim, isspace). */
static void sb_put_trim(sbuf *b, const char *s) {
    size_t start = 0, end = strlen(s);
    while (start < end && isspace((unsigned char)s[start])) start++;
    while (end > start && isspace((unsigned char)s[end - 1])) end--;
    sb_put(b, s + start, end - start);
}

/* Appends the role with ASCII letters upper-cased (llama.cpp's std::toupper per byte). */
static void sb_put_upper(sbuf *b, const char *s) {
    for (; *s; s++) {
        char c = (char)toupper((unsigned char)*s);
        sb_put(b, &c, 1);
    }
}

static bool is_role(const char *role, const char *name) { return strcmp(role, name) == 0; }

/* Roles beyond system/user/assistant that a family renders specially in llama.cpp. */
static bool extra_role_ok(lo_chat_template t, const char *role) {
    switch (t) {
    case LO_CHAT_EXAONE4:
    case LO_CHAT_EXAONE_MOE:
    case LO_CHAT_KIMI_K2:
        return is_role(role, "tool");
    case LO_CHAT_PANGU_EMBED:
        return is_role(role, "tool") || is_role(role, "function");
    case LO_CHAT_GRANITE3:
    case LO_CHAT_GRANITE4_0:
    case LO_CHAT_GRANITE4_1:
        return is_role(role, "assistant_tool_call") || is_role(role, "tool_response");
    default:
        return false;
    }
}

static const char *extra_roles_text(lo_chat_template t) {
    switch (t) {
    case LO_CHAT_EXAONE4:
    case LO_CHAT_EXAONE_MOE:
    case LO_CHAT_KIMI_K2:
        return ", tool";
    case LO_CHAT_PANGU_EMBED:
        return ", tool, function";
    case LO_CHAT_GRANITE3:
    case LO_CHAT_GRANITE4_0:
    case LO_CHAT_GRANITE4_1:
        return ", assistant_tool_call, tool_response";
    default:
        return "";
    }
}

static lo_status check_messages(lo_chat_template t, const lo_chat_message *msgs, int32_t n, size_t *total) {
    size_t sum = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *role = msgs[i].role, *content = msgs[i].content;
        if (!role)
            return lo_error(LO_ERR_INVALID, "give every message a role (system, user or assistant)",
                            "chat message %d has no role", (int)i);
        if (!content)
            return lo_error(LO_ERR_INVALID, "give every message a content string (it may be empty)",
                            "chat message %d (role '%.40s') has no content", (int)i, role);
        if (!is_role(role, "system") && !is_role(role, "user") && !is_role(role, "assistant") && !extra_role_ok(t, role)) {
            char hint[160];
            snprintf(hint, sizeof hint, "the %s template takes the roles system, user, assistant%s", chat_names[t],
                     extra_roles_text(t));
            return lo_error(LO_ERR_INVALID, hint, "chat message %d has the unknown role '%.40s'", (int)i, role);
        }
        size_t add = strlen(content) + strlen(role) + 128;
        if (lo_add_overflow(sum, add, &sum))
            return lo_error(LO_ERR_RANGE, NULL, "chat messages are too large to render");
    }
    *total = sum;
    return LO_OK;
}

/* The families, each written after llm_chat_apply_template's branch for it. */
static void render(lo_chat_template t, const lo_chat_message *m, int32_t n, bool add_ass, sbuf *b) {
    switch (t) {
    case LO_CHAT_CHATML:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|im_start|>"), sb_puts(b, m[i].role), sb_puts(b, "\n");
            sb_puts(b, m[i].content), sb_puts(b, "<|im_end|>\n");
        }
        if (add_ass) sb_puts(b, "<|im_start|>assistant\n");
        break;
    case LO_CHAT_MISTRAL_V7:
    case LO_CHAT_MISTRAL_V7_TEKKEN: {
        const char *sp = t == LO_CHAT_MISTRAL_V7 ? " " : "";
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) sb_puts(b, "[SYSTEM_PROMPT]"), sb_puts(b, sp), sb_puts(b, c), sb_puts(b, "[/SYSTEM_PROMPT]");
            else if (is_role(role, "user")) sb_puts(b, "[INST]"), sb_puts(b, sp), sb_puts(b, c), sb_puts(b, "[/INST]");
            else sb_puts(b, sp), sb_puts(b, c), sb_puts(b, "</s>");
        }
        break;
    }
    case LO_CHAT_MISTRAL_V1:
    case LO_CHAT_MISTRAL_V3:
    case LO_CHAT_MISTRAL_V3_TEKKEN: {
        const char *lead = t == LO_CHAT_MISTRAL_V1 ? " " : "";
        const char *trail = t == LO_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
        bool inside = false;
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (!inside) {
                sb_puts(b, lead), sb_puts(b, "[INST]"), sb_puts(b, trail);
                inside = true;
            }
            if (is_role(role, "system")) sb_puts(b, c), sb_puts(b, "\n\n");
            else if (is_role(role, "user")) sb_puts(b, c), sb_puts(b, lead), sb_puts(b, "[/INST]");
            else {
                sb_puts(b, trail);
                if (t == LO_CHAT_MISTRAL_V3) sb_put_trim(b, c);
                else sb_puts(b, c);
                sb_puts(b, "</s>");
                inside = false;
            }
        }
        break;
    }
    case LO_CHAT_LLAMA2:
    case LO_CHAT_LLAMA2_SYS:
    case LO_CHAT_LLAMA2_SYS_BOS:
    case LO_CHAT_LLAMA2_SYS_STRIP: {
        bool sys = t != LO_CHAT_LLAMA2, bos_inside = t == LO_CHAT_LLAMA2_SYS_BOS, strip = t == LO_CHAT_LLAMA2_SYS_STRIP;
        bool inside = true; /* the first "[INST] " goes out without a BOS */
        sb_puts(b, "[INST] ");
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (!inside) {
                inside = true;
                sb_puts(b, bos_inside ? "<s>[INST] " : "[INST] ");
            }
            if (is_role(role, "system")) {
                /* without <<SYS>> support the system text still leads the first turn */
                if (sys) sb_puts(b, "<<SYS>>\n");
                if (strip) sb_put_trim(b, c);
                else sb_puts(b, c);
                sb_puts(b, sys ? "\n<</SYS>>\n\n" : "\n");
            } else {
                if (strip) sb_put_trim(b, c);
                else sb_puts(b, c);
                if (is_role(role, "user")) sb_puts(b, " [/INST]");
                else {
                    sb_puts(b, "</s>");
                    inside = false;
                }
            }
        }
        break;
    }
    case LO_CHAT_PHI3:
        for (int32_t i = 0; i < n; i++)
            sb_puts(b, "<|"), sb_puts(b, m[i].role), sb_puts(b, "|>\n"), sb_puts(b, m[i].content), sb_puts(b, "<|end|>\n");
        if (add_ass) sb_puts(b, "<|assistant|>\n");
        break;
    case LO_CHAT_PHI4:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|im_start|>"), sb_puts(b, m[i].role), sb_puts(b, "<|im_sep|>");
            sb_puts(b, m[i].content), sb_puts(b, "<|im_end|>");
        }
        if (add_ass) sb_puts(b, "<|im_start|>assistant<|im_sep|>");
        break;
    case LO_CHAT_FALCON3:
        for (int32_t i = 0; i < n; i++)
            sb_puts(b, "<|"), sb_puts(b, m[i].role), sb_puts(b, "|>\n"), sb_puts(b, m[i].content), sb_puts(b, "\n");
        if (add_ass) sb_puts(b, "<|assistant|>\n");
        break;
    case LO_CHAT_ZEPHYR:
        for (int32_t i = 0; i < n; i++)
            sb_puts(b, "<|"), sb_puts(b, m[i].role), sb_puts(b, "|>\n"), sb_puts(b, m[i].content), sb_puts(b, "<|endoftext|>\n");
        if (add_ass) sb_puts(b, "<|assistant|>\n");
        break;
    case LO_CHAT_MONARCH:
        for (int32_t i = 0; i < n; i++) {
            if (i > 0) sb_puts(b, "<s>"); /* the first message's BOS is the tokenizer's */
            sb_puts(b, m[i].role), sb_puts(b, "\n"), sb_puts(b, m[i].content), sb_puts(b, "</s>\n");
        }
        if (add_ass) sb_puts(b, "<s>assistant\n");
        break;
    case LO_CHAT_GEMMA: {
        /* No system role: system texts (trimmed, concatenated) lead the next user turn. */
        sbuf sys = {0};
        for (int32_t i = 0; i < n && !b->oom; i++) {
            const char *role = m[i].role;
            if (is_role(role, "system")) {
                if (!sys.p) {
                    sys.cap = strlen(m[i].content) + 1;
                    sys.p = lo_malloc(sys.cap);
                    if (!sys.p) {
                        b->oom = true;
                        break;
                    }
                }
                sb_put_trim(&sys, m[i].content);
                if (sys.oom) b->oom = true;
                continue;
            }
            bool model = is_role(role, "assistant");
            sb_puts(b, "<start_of_turn>"), sb_puts(b, model ? "model" : role), sb_puts(b, "\n");
            if (sys.n > 0 && !model) {
                sb_put(b, sys.p, sys.n), sb_puts(b, "\n\n");
                sys.n = 0;
            }
            sb_put_trim(b, m[i].content), sb_puts(b, "<end_of_turn>\n");
        }
        lo_free(sys.p);
        if (add_ass) sb_puts(b, "<start_of_turn>model\n");
        break;
    }
    case LO_CHAT_ORION: {
        /* No system role: system texts (as given, concatenated) lead the next user turn. */
        sbuf sys = {0};
        for (int32_t i = 0; i < n && !b->oom; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) {
                if (!sys.p) {
                    sys.cap = strlen(c) + 1;
                    sys.p = lo_malloc(sys.cap);
                    if (!sys.p) {
                        b->oom = true;
                        break;
                    }
                }
                sb_puts(&sys, c);
                if (sys.oom) b->oom = true;
            } else if (is_role(role, "user")) {
                sb_puts(b, "Human: ");
                if (sys.n > 0) {
                    sb_put(b, sys.p, sys.n), sb_puts(b, "\n\n");
                    sys.n = 0;
                }
                sb_puts(b, c), sb_puts(b, "\n\nAssistant: </s>");
            } else {
                sb_puts(b, c), sb_puts(b, "</s>");
            }
        }
        lo_free(sys.p);
        break;
    }
    case LO_CHAT_OPENCHAT:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role;
            if (is_role(role, "system")) sb_puts(b, m[i].content), sb_puts(b, "<|end_of_turn|>");
            else {
                char first = (char)toupper((unsigned char)role[0]);
                sb_puts(b, "GPT4 Correct "), sb_put(b, &first, 1), sb_puts(b, role + 1), sb_puts(b, ": ");
                sb_puts(b, m[i].content), sb_puts(b, "<|end_of_turn|>");
            }
        }
        if (add_ass) sb_puts(b, "GPT4 Correct Assistant:");
        break;
    case LO_CHAT_VICUNA:
    case LO_CHAT_VICUNA_ORCA:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) {
                if (t == LO_CHAT_VICUNA_ORCA) sb_puts(b, "SYSTEM: "), sb_puts(b, c), sb_puts(b, "\n");
                else sb_puts(b, c), sb_puts(b, "\n\n");
            } else if (is_role(role, "user")) sb_puts(b, "USER: "), sb_puts(b, c), sb_puts(b, "\n");
            else sb_puts(b, "ASSISTANT: "), sb_puts(b, c), sb_puts(b, "</s>\n");
        }
        if (add_ass) sb_puts(b, "ASSISTANT:");
        break;
    case LO_CHAT_DEEPSEEK:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) sb_puts(b, c);
            else if (is_role(role, "user")) sb_puts(b, "### Instruction:\n"), sb_puts(b, c), sb_puts(b, "\n");
            else sb_puts(b, "### Response:\n"), sb_puts(b, c), sb_puts(b, "\n<|EOT|>\n");
        }
        if (add_ass) sb_puts(b, "### Response:\n");
        break;
    case LO_CHAT_COMMAND_R:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role;
            sb_puts(b, "<|START_OF_TURN_TOKEN|>");
            sb_puts(b, is_role(role, "system") ? "<|SYSTEM_TOKEN|>" : is_role(role, "user") ? "<|USER_TOKEN|>" : "<|CHATBOT_TOKEN|>");
            sb_put_trim(b, m[i].content), sb_puts(b, "<|END_OF_TURN_TOKEN|>");
        }
        if (add_ass) sb_puts(b, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        break;
    case LO_CHAT_LLAMA3:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|start_header_id|>"), sb_puts(b, m[i].role), sb_puts(b, "<|end_header_id|>\n\n");
            sb_put_trim(b, m[i].content), sb_puts(b, "<|eot_id|>");
        }
        if (add_ass) sb_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case LO_CHAT_CHATGLM3:
        sb_puts(b, "[gMASK]sop");
        for (int32_t i = 0; i < n; i++) sb_puts(b, "<|"), sb_puts(b, m[i].role), sb_puts(b, "|>\n "), sb_puts(b, m[i].content);
        if (add_ass) sb_puts(b, "<|assistant|>");
        break;
    case LO_CHAT_CHATGLM4:
        sb_puts(b, "[gMASK]<sop>");
        for (int32_t i = 0; i < n; i++) sb_puts(b, "<|"), sb_puts(b, m[i].role), sb_puts(b, "|>\n"), sb_puts(b, m[i].content);
        if (add_ass) sb_puts(b, "<|assistant|>\n");
        break;
    case LO_CHAT_GLMEDGE:
        for (int32_t i = 0; i < n; i++) sb_puts(b, "<|"), sb_puts(b, m[i].role), sb_puts(b, "|>\n"), sb_puts(b, m[i].content);
        if (add_ass) sb_puts(b, "<|assistant|>");
        break;
    case LO_CHAT_MINICPM:
        for (int32_t i = 0; i < n; i++) {
            if (is_role(m[i].role, "user")) sb_puts(b, "<用户>"), sb_put_trim(b, m[i].content), sb_puts(b, "<AI>");
            else sb_put_trim(b, m[i].content);
        }
        break;
    case LO_CHAT_DEEPSEEK2:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) sb_puts(b, c), sb_puts(b, "\n\n");
            else if (is_role(role, "user")) sb_puts(b, "User: "), sb_puts(b, c), sb_puts(b, "\n\n");
            else sb_puts(b, "Assistant: "), sb_puts(b, c), sb_puts(b, "<｜end▁of▁sentence｜>");
        }
        if (add_ass) sb_puts(b, "Assistant:");
        break;
    case LO_CHAT_DEEPSEEK3:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) sb_puts(b, c), sb_puts(b, "\n\n");
            else if (is_role(role, "user")) sb_puts(b, "<｜User｜>"), sb_puts(b, c);
            else sb_puts(b, "<｜Assistant｜>"), sb_puts(b, c), sb_puts(b, "<｜end▁of▁sentence｜>");
        }
        if (add_ass) sb_puts(b, "<｜Assistant｜>");
        break;
    case LO_CHAT_DEEPSEEK_OCR:
        for (int32_t i = 0; i < n; i++) sb_puts(b, m[i].content);
        break;
    case LO_CHAT_EXAONE3:
    case LO_CHAT_EXAONE4:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role;
            if (is_role(role, "user")) sb_puts(b, "[|user|]"), sb_put_trim(b, m[i].content), sb_puts(b, "\n");
            else {
                sb_puts(b, is_role(role, "system") ? "[|system|]" : is_role(role, "assistant") ? "[|assistant|]" : "[|tool|]");
                sb_put_trim(b, m[i].content), sb_puts(b, "[|endofturn|]\n");
            }
        }
        if (add_ass) sb_puts(b, "[|assistant|]");
        break;
    case LO_CHAT_EXAONE_MOE:
        for (int32_t i = 0; i < n; i++)
            sb_puts(b, "<|"), sb_puts(b, m[i].role), sb_puts(b, "|>\n"), sb_put_trim(b, m[i].content), sb_puts(b, "<|endofturn|>\n");
        if (add_ass) sb_puts(b, "<|assistant|>\n");
        break;
    case LO_CHAT_RWKV_WORLD:
        /* "\n\n" is the end-of-turn; the assistant prefix follows a final user message. */
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role;
            sb_puts(b, is_role(role, "system") ? "System: " : is_role(role, "user") ? "User: " : "Assistant: ");
            sb_put_trim(b, m[i].content), sb_puts(b, "\n\n");
            if (is_role(role, "user") && i == n - 1) sb_puts(b, "Assistant:");
        }
        break;
    case LO_CHAT_GRANITE3:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|start_of_role|>"), sb_puts(b, m[i].role), sb_puts(b, "<|end_of_role|>");
            if (is_role(m[i].role, "assistant_tool_call")) sb_puts(b, "<|tool_call|>");
            sb_puts(b, m[i].content), sb_puts(b, "<|end_of_text|>\n");
        }
        if (add_ass) sb_puts(b, "<|start_of_role|>assistant<|end_of_role|>");
        break;
    case LO_CHAT_GRANITE4_0:
    case LO_CHAT_GRANITE4_1:
        for (int32_t i = 0; i < n; i++) {
            if (is_role(m[i].role, "assistant_tool_call")) sb_puts(b, "<|start_of_role|>assistant<|end_of_role|><|tool_call|>");
            else sb_puts(b, "<|start_of_role|>"), sb_puts(b, m[i].role), sb_puts(b, "<|end_of_role|>");
            sb_puts(b, m[i].content), sb_puts(b, "<|end_of_text|>\n");
        }
        if (add_ass) sb_puts(b, "<|start_of_role|>assistant<|end_of_role|>");
        break;
    case LO_CHAT_GIGACHAT: {
        /* Only a leading system message is used; a later one is dropped, as in llama.cpp. */
        bool has_sys = n > 0 && is_role(m[0].role, "system");
        sb_puts(b, "<s>");
        if (has_sys) sb_puts(b, m[0].content), sb_puts(b, "<|message_sep|>");
        for (int32_t i = has_sys ? 1 : 0; i < n; i++) {
            if (is_role(m[i].role, "user")) {
                sb_puts(b, "user<|role_sep|>"), sb_puts(b, m[i].content);
                sb_puts(b, "<|message_sep|>available functions<|role_sep|>[]<|message_sep|>");
            } else if (is_role(m[i].role, "assistant")) {
                sb_puts(b, "assistant<|role_sep|>"), sb_puts(b, m[i].content), sb_puts(b, "<|message_sep|>");
            }
        }
        if (add_ass) sb_puts(b, "assistant<|role_sep|>");
        break;
    }
    case LO_CHAT_MEGREZ:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|role_start|>"), sb_puts(b, m[i].role), sb_puts(b, "<|role_end|>");
            sb_puts(b, m[i].content), sb_puts(b, "<|turn_end|>");
        }
        if (add_ass) sb_puts(b, "<|role_start|>assistant<|role_end|>");
        break;
    case LO_CHAT_YANDEX:
        /* "\n\n" is the end-of-turn; system messages are dropped, as in llama.cpp. */
        for (int32_t i = 0; i < n; i++) {
            if (is_role(m[i].role, "user")) sb_puts(b, " Пользователь: "), sb_puts(b, m[i].content), sb_puts(b, "\n\n");
            else if (is_role(m[i].role, "assistant")) sb_puts(b, " Ассистент: "), sb_puts(b, m[i].content), sb_puts(b, "\n\n");
        }
        if (add_ass) sb_puts(b, " Ассистент:[SEP]");
        break;
    case LO_CHAT_BAILING:
    case LO_CHAT_BAILING_THINK:
    case LO_CHAT_BAILING2: {
        if (t == LO_CHAT_BAILING2 && !(n > 0 && is_role(m[0].role, "system")))
            sb_puts(b, "<role>SYSTEM</role>detailed thinking off<|role_end|>");
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<role>");
            if (is_role(m[i].role, "user")) sb_puts(b, "HUMAN");
            else sb_put_upper(b, m[i].role);
            sb_puts(b, "</role>"), sb_puts(b, m[i].content);
            if (t == LO_CHAT_BAILING2) sb_puts(b, "<|role_end|>");
        }
        if (add_ass) {
            sb_puts(b, "<role>ASSISTANT</role>");
            if (t == LO_CHAT_BAILING_THINK) sb_puts(b, "<think>");
        }
        break;
    }
    case LO_CHAT_LLAMA4:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|header_start|>"), sb_puts(b, m[i].role), sb_puts(b, "<|header_end|>\n\n");
            sb_put_trim(b, m[i].content), sb_puts(b, "<|eot|>");
        }
        if (add_ass) sb_puts(b, "<|header_start|>assistant<|header_end|>\n\n");
        break;
    case LO_CHAT_SMOLVLM:
        sb_puts(b, "<|im_start|>"); /* SmolVLM's BOS text; the rest is not chatml */
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) sb_puts(b, c), sb_puts(b, "\n\n");
            else if (is_role(role, "user")) sb_puts(b, "User: "), sb_puts(b, c), sb_puts(b, "<end_of_utterance>\n");
            else sb_puts(b, "Assistant: "), sb_puts(b, c), sb_puts(b, "<end_of_utterance>\n");
        }
        if (add_ass) sb_puts(b, "Assistant:");
        break;
    case LO_CHAT_DOTS1:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) sb_puts(b, "<|system|>"), sb_puts(b, c), sb_puts(b, "<|endofsystem|>");
            else if (is_role(role, "user")) sb_puts(b, "<|userprompt|>"), sb_puts(b, c), sb_puts(b, "<|endofuserprompt|>");
            else sb_puts(b, "<|response|>"), sb_puts(b, c), sb_puts(b, "<|endofresponse|>");
        }
        if (add_ass) sb_puts(b, "<|response|>");
        break;
    case LO_CHAT_HUNYUAN_MOE:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (is_role(role, "system")) sb_puts(b, "<|startoftext|>"), sb_puts(b, c), sb_puts(b, "<|extra_4|>");
            else if (is_role(role, "assistant")) sb_puts(b, c), sb_puts(b, "<|eos|>");
            else sb_puts(b, "<|startoftext|>"), sb_puts(b, c), sb_puts(b, "<|extra_0|>");
        }
        break;
    case LO_CHAT_GPT_OSS:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|start|>"), sb_puts(b, m[i].role), sb_puts(b, "<|message|>"), sb_puts(b, m[i].content);
            sb_puts(b, is_role(m[i].role, "assistant") ? "<|return|>" : "<|end|>");
        }
        if (add_ass) sb_puts(b, "<|start|>assistant");
        break;
    case LO_CHAT_HUNYUAN_DENSE:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (i == 0 && is_role(role, "system")) sb_puts(b, c), sb_puts(b, "<｜hy_place▁holder▁no▁3｜>");
            if (is_role(role, "assistant")) sb_puts(b, "<｜hy_Assistant｜>"), sb_puts(b, c), sb_puts(b, "<｜hy_place▁holder▁no▁2｜>");
            else if (is_role(role, "user")) sb_puts(b, "<｜hy_User｜>"), sb_puts(b, c), sb_puts(b, "<｜hy_Assistant｜>");
        }
        break;
    case LO_CHAT_HUNYUAN_VL:
        sb_puts(b, "<｜hy_begin▁of▁sentence｜>");
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role, *c = m[i].content;
            if (i == 0 && is_role(role, "system")) sb_puts(b, c), sb_puts(b, "<｜hy_place▁holder▁no▁3｜>");
            else if (is_role(role, "user")) sb_puts(b, c), sb_puts(b, "<｜hy_User｜>");
            else if (is_role(role, "assistant")) sb_puts(b, c), sb_puts(b, "<｜hy_Assistant｜>");
        }
        break;
    case LO_CHAT_KIMI_K2:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role;
            if (is_role(role, "system")) sb_puts(b, "<|im_system|>system<|im_middle|>");
            else if (is_role(role, "user")) sb_puts(b, "<|im_user|>user<|im_middle|>");
            else if (is_role(role, "assistant")) sb_puts(b, "<|im_assistant|>assistant<|im_middle|>");
            else sb_puts(b, "<|im_system|>tool<|im_middle|>");
            sb_puts(b, m[i].content), sb_puts(b, "<|im_end|>");
        }
        if (add_ass) sb_puts(b, "<|im_assistant|>assistant<|im_middle|>");
        break;
    case LO_CHAT_SEED_OSS:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<seed:bos>"), sb_puts(b, m[i].role), sb_puts(b, "\n");
            if (is_role(m[i].role, "assistant")) sb_put_trim(b, m[i].content);
            else sb_puts(b, m[i].content);
            sb_puts(b, "<seed:eos>");
        }
        if (add_ass) sb_puts(b, "<seed:bos>assistant\n");
        break;
    case LO_CHAT_GROK2:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role;
            if (is_role(role, "assistant")) sb_puts(b, "Assistant: "), sb_puts(b, m[i].content);
            else sb_puts(b, is_role(role, "system") ? "System: " : "Human: "), sb_put_trim(b, m[i].content);
            sb_puts(b, "<|separator|>\n\n");
        }
        if (add_ass) sb_puts(b, "Assistant:");
        break;
    case LO_CHAT_PANGU_EMBED:
        for (int32_t i = 0; i < n; i++) {
            const char *role = m[i].role;
            if (i == 0 && !is_role(role, "system")) sb_puts(b, "[unused9]系统：[unused10]");
            sb_puts(b, is_role(role, "system")      ? "[unused9]系统："
                       : is_role(role, "user")      ? "[unused9]用户："
                       : is_role(role, "assistant") ? "[unused9]助手："
                       : is_role(role, "tool")      ? "[unused9]工具："
                                                    : "[unused9]方法：");
            sb_puts(b, m[i].content), sb_puts(b, "[unused10]");
        }
        if (add_ass) sb_puts(b, "[unused9]助手：");
        break;
    case LO_CHAT_SOLAR_OPEN:
        for (int32_t i = 0; i < n; i++) {
            sb_puts(b, "<|begin|>"), sb_puts(b, m[i].role), sb_puts(b, "<|content|>");
            sb_puts(b, m[i].content), sb_puts(b, "<|end|>");
        }
        if (add_ass) sb_puts(b, "<|begin|>assistant");
        break;
    case LO_CHAT_TEMPLATE_COUNT:
        break;
    }
}

lo_status lo_chat_render(lo_chat_template t, const lo_chat_message *msgs, int32_t n_msgs, bool add_assistant, char **out,
                         size_t *out_len) {
    if (!out) return lo_error(LO_ERR_INVALID, NULL, "lo_chat_render: NULL output");
    *out = NULL;
    if (out_len) *out_len = 0;
    if ((int)t < 0 || (int)t >= LO_CHAT_TEMPLATE_COUNT)
        return lo_error(LO_ERR_INVALID, NULL, "lo_chat_render: %d is not a chat template", (int)t);
    if (n_msgs < 0) return lo_error(LO_ERR_INVALID, NULL, "lo_chat_render: negative message count %d", (int)n_msgs);
    if (n_msgs > 0 && !msgs) return lo_error(LO_ERR_INVALID, NULL, "lo_chat_render: %d messages but no array", (int)n_msgs);
    size_t total = 0;
    lo_status s = check_messages(t, msgs, n_msgs, &total);
    if (s) return s;
    sbuf b = {0};
    if (lo_add_overflow(total, 256, &b.cap)) return lo_error(LO_ERR_RANGE, NULL, "chat messages are too large to render");
    b.p = lo_malloc(b.cap);
    if (!b.p) return lo_error(LO_ERR_NOMEM, NULL, "out of memory rendering %d chat messages", (int)n_msgs);
    render(t, msgs, n_msgs, add_assistant, &b);
    if (b.oom) {
        lo_free(b.p);
        return lo_error(LO_ERR_NOMEM, NULL, "out of memory rendering %d chat messages", (int)n_msgs);
    }
    b.p[b.n] = '\0';
    *out = b.p;
    if (out_len) *out_len = b.n;
    return LO_OK;
}
