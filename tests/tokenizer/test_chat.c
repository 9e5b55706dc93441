/* Chat templates: every llama.cpp family detected from a real model's Jinja source and
 * rendered exactly as llama_chat_apply_template renders llama.cpp's test conversation
 * (with and without the assistant prefix); names; errors; edge cases; and the templates
 * stored in the GGUF fixtures under ../shared/models. */
#include <dirent.h>
#include <sys/stat.h>

#include "check.h"
#include "llmops/llmops.h"

#include "chat_template_cases.h"

/* llama.cpp's test conversation (tests/test-chat-template.cpp). */
static const lo_chat_message conversation[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};
#define N_CONV 6

/* What add_assistant appends, per family (llm_chat_apply_template's add_ass branches). */
static const char *assistant_prefix(lo_chat_template t) {
    switch (t) {
    case LO_CHAT_CHATML: return "<|im_start|>assistant\n";
    case LO_CHAT_LLAMA3: return "<|start_header_id|>assistant<|end_header_id|>\n\n";
    case LO_CHAT_ZEPHYR:
    case LO_CHAT_PHI3:
    case LO_CHAT_FALCON3:
    case LO_CHAT_EXAONE_MOE: return "<|assistant|>\n";
    case LO_CHAT_GEMMA: return "<start_of_turn>model\n";
    case LO_CHAT_DEEPSEEK: return "### Response:\n";
    case LO_CHAT_DEEPSEEK2:
    case LO_CHAT_SMOLVLM:
    case LO_CHAT_GROK2: return "Assistant:";
    case LO_CHAT_DEEPSEEK3: return "<｜Assistant｜>";
    case LO_CHAT_PHI4: return "<|im_start|>assistant<|im_sep|>";
    case LO_CHAT_MONARCH: return "<s>assistant\n";
    case LO_CHAT_OPENCHAT: return "GPT4 Correct Assistant:";
    case LO_CHAT_VICUNA:
    case LO_CHAT_VICUNA_ORCA: return "ASSISTANT:";
    case LO_CHAT_COMMAND_R: return "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>";
    case LO_CHAT_CHATGLM3:
    case LO_CHAT_GLMEDGE: return "<|assistant|>";
    case LO_CHAT_CHATGLM4: return "<|assistant|>\n";
    case LO_CHAT_EXAONE3:
    case LO_CHAT_EXAONE4: return "[|assistant|]";
    case LO_CHAT_GRANITE3:
    case LO_CHAT_GRANITE4_0:
    case LO_CHAT_GRANITE4_1: return "<|start_of_role|>assistant<|end_of_role|>";
    case LO_CHAT_GIGACHAT: return "assistant<|role_sep|>";
    case LO_CHAT_MEGREZ: return "<|role_start|>assistant<|role_end|>";
    case LO_CHAT_YANDEX: return " Ассистент:[SEP]";
    case LO_CHAT_BAILING:
    case LO_CHAT_BAILING2: return "<role>ASSISTANT</role>";
    case LO_CHAT_BAILING_THINK: return "<role>ASSISTANT</role><think>";
    case LO_CHAT_LLAMA4: return "<|header_start|>assistant<|header_end|>\n\n";
    case LO_CHAT_DOTS1: return "<|response|>";
    case LO_CHAT_GPT_OSS: return "<|start|>assistant";
    case LO_CHAT_KIMI_K2: return "<|im_assistant|>assistant<|im_middle|>";
    case LO_CHAT_SEED_OSS: return "<seed:bos>assistant\n";
    case LO_CHAT_PANGU_EMBED: return "[unused9]助手：";
    case LO_CHAT_SOLAR_OPEN: return "<|begin|>assistant";
    default: return ""; /* llama2*, mistral*, orion, minicpm, rwkv-world, hunyuan*, deepseek-ocr */
    }
}

/* Families whose expected prompt for the conversation is not in llama.cpp's test file:
 * worked out from llm_chat_apply_template's branch for each. `tmpl` is the source whose
 * detection is checked: a real model template where one reaches the family under
 * llama.cpp's rules, else a source carrying exactly the substrings the rule looks for. */
typedef struct hand_case {
    lo_chat_template family;
    const char *what;
    const char *tmpl;
    const char *expected;
} hand_case;

static const hand_case hand_cases[] = {
    {LO_CHAT_LLAMA2_SYS, "Llama-2-7b-chat template from a model-serving config",
     "{% for message in messages %}{% if message['role'] == 'system' %}{{ '[INST] <<SYS>>\\n' + message['content'] + "
     "'\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif "
     "message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' }}{% endif %}{% endfor %}",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am "
     "an assistant   </s>[INST] Another question [/INST]"},
    {LO_CHAT_LLAMA2_SYS_STRIP, "meta-llama/Llama-2-13b-chat-hf",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] "
     "%}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
     "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
     "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
     "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] "
     "%}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
     "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]I am an "
     "assistant</s>[INST] Another question [/INST]"},
    {LO_CHAT_ZEPHYR, "zephyr rule: <|user|> and <|endoftext|> without <|assistant|>",
     "{{ '<|' + message['role'] + '|>\\n' }}{% if message['role'] == 'user' %}<|user|>{% endif %}<|endoftext|>",
     "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi "
     "there<|endoftext|>\n<|user|>\nWho are you<|endoftext|>\n<|assistant|>\n   I am an assistant   <|endoftext|>\n"
     "<|user|>\nAnother question<|endoftext|>\n<|assistant|>\n"},
    {LO_CHAT_DEEPSEEK3, "deepseek-ai/DeepSeek-R1-Distill-Llama-8B (jinja_cases)", NULL,
     "You are a helpful assistant\n\n<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>Who are you"
     "<｜Assistant｜>   I am an assistant   <｜end▁of▁sentence｜><｜User｜>Another question<｜Assistant｜>"},
    {LO_CHAT_FALCON3, "falcon3 rule: <|assistant|>, <|user|> and </s>",
     "{% for m in messages %}<|user|><|assistant|>{{ m['content'] }}</s>{% endfor %}",
     "<|system|>\nYou are a helpful assistant\n<|user|>\nHello\n<|assistant|>\nHi there\n<|user|>\nWho are you\n"
     "<|assistant|>\n   I am an assistant   \n<|user|>\nAnother question\n<|assistant|>\n"},
    {LO_CHAT_MISTRAL_V7_TEKKEN, "by name only (no rule reaches it)", "mistral-v7-tekken",
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]   I am "
     "an assistant   </s>[INST]Another question[/INST]"},
    {LO_CHAT_LLAMA4, "llama4 rule", "<|header_start|>{{ role }}<|header_end|>",
     "<|header_start|>system<|header_end|>\n\nYou are a helpful assistant<|eot|><|header_start|>user<|header_end|>\n\nHello"
     "<|eot|><|header_start|>assistant<|header_end|>\n\nHi there<|eot|><|header_start|>user<|header_end|>\n\nWho are you"
     "<|eot|><|header_start|>assistant<|header_end|>\n\nI am an assistant<|eot|><|header_start|>user<|header_end|>\n\n"
     "Another question<|eot|><|header_start|>assistant<|header_end|>\n\n"},
    {LO_CHAT_SMOLVLM, "smolvlm rule", "<|im_start|>{{ 'User:' }}<end_of_utterance>",
     "<|im_start|>You are a helpful assistant\n\nUser: Hello<end_of_utterance>\nAssistant: Hi there<end_of_utterance>\nUser: "
     "Who are you<end_of_utterance>\nAssistant:    I am an assistant   <end_of_utterance>\nUser: Another question"
     "<end_of_utterance>\nAssistant:"},
    {LO_CHAT_DOTS1, "dots1 rule", "<|userprompt|>{{ content }}<|endofuserprompt|>",
     "<|system|>You are a helpful assistant<|endofsystem|><|userprompt|>Hello<|endofuserprompt|><|response|>Hi there"
     "<|endofresponse|><|userprompt|>Who are you<|endofuserprompt|><|response|>   I am an assistant   <|endofresponse|>"
     "<|userprompt|>Another question<|endofuserprompt|><|response|>"},
    {LO_CHAT_HUNYUAN_MOE, "hunyuan-moe rule", "<|startoftext|>{{ c }}<|extra_4|>{{ u }}<|extra_0|>",
     "<|startoftext|>You are a helpful assistant<|extra_4|><|startoftext|>Hello<|extra_0|>Hi there<|eos|><|startoftext|>Who "
     "are you<|extra_0|>   I am an assistant   <|eos|><|startoftext|>Another question<|extra_0|>"},
    {LO_CHAT_GPT_OSS, "openai/gpt-oss-120b (jinja_cases)", NULL,
     "<|start|>system<|message|>You are a helpful assistant<|end|><|start|>user<|message|>Hello<|end|><|start|>assistant"
     "<|message|>Hi there<|return|><|start|>user<|message|>Who are you<|end|><|start|>assistant<|message|>   I am an "
     "assistant   <|return|><|start|>user<|message|>Another question<|end|><|start|>assistant"},
    {LO_CHAT_HUNYUAN_DENSE, "hunyuan-dense rule", "<｜hy_Assistant｜>{{ x }}<｜hy_place▁holder▁no▁3｜>",
     "You are a helpful assistant<｜hy_place▁holder▁no▁3｜><｜hy_User｜>Hello<｜hy_Assistant｜><｜hy_Assistant｜>Hi there"
     "<｜hy_place▁holder▁no▁2｜><｜hy_User｜>Who are you<｜hy_Assistant｜><｜hy_Assistant｜>   I am an assistant   "
     "<｜hy_place▁holder▁no▁2｜><｜hy_User｜>Another question<｜hy_Assistant｜>"},
    {LO_CHAT_HUNYUAN_VL, "hunyuan-vl rule", "<｜hy_begin▁of▁sentence｜>{{ x }}<｜hy_Assistant｜>",
     "<｜hy_begin▁of▁sentence｜>You are a helpful assistant<｜hy_place▁holder▁no▁3｜>Hello<｜hy_User｜>Hi there"
     "<｜hy_Assistant｜>Who are you<｜hy_User｜>   I am an assistant   <｜hy_Assistant｜>Another question<｜hy_User｜>"},
    {LO_CHAT_KIMI_K2, "moonshotai/Kimi-K2 (jinja_cases)", NULL,
     "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|><|im_user|>user<|im_middle|>Hello<|im_end|>"
     "<|im_assistant|>assistant<|im_middle|>Hi there<|im_end|><|im_user|>user<|im_middle|>Who are you<|im_end|>"
     "<|im_assistant|>assistant<|im_middle|>   I am an assistant   <|im_end|><|im_user|>user<|im_middle|>Another question"
     "<|im_end|><|im_assistant|>assistant<|im_middle|>"},
    {LO_CHAT_GROK2, "grok-2 rule", "{{ 'Assistant: '  + message['content'] + '<|separator|>\\n\\n' }}",
     "System: You are a helpful assistant<|separator|>\n\nHuman: Hello<|separator|>\n\nAssistant: Hi there<|separator|>\n\n"
     "Human: Who are you<|separator|>\n\nAssistant:    I am an assistant   <|separator|>\n\nHuman: Another question"
     "<|separator|>\n\nAssistant:"},
    {LO_CHAT_PANGU_EMBED, "pangu-embedded rule", "{{ '[unused9]系统：[unused10]' }}",
     "[unused9]系统：You are a helpful assistant[unused10][unused9]用户：Hello[unused10][unused9]助手：Hi there[unused10]"
     "[unused9]用户：Who are you[unused10][unused9]助手：   I am an assistant   [unused10][unused9]用户：Another question"
     "[unused10][unused9]助手："},
    {LO_CHAT_SOLAR_OPEN, "upstage/Solar-Open-100B (jinja_cases)", NULL,
     "<|begin|>system<|content|>You are a helpful assistant<|end|><|begin|>user<|content|>Hello<|end|><|begin|>assistant"
     "<|content|>Hi there<|end|><|begin|>user<|content|>Who are you<|end|><|begin|>assistant<|content|>   I am an "
     "assistant   <|end|><|begin|>user<|content|>Another question<|end|><|begin|>assistant"},
    {LO_CHAT_EXAONE3, "exaone3 rule", "[|system|]{{ s }}[|endofturn|][|assistant|]",
     "[|system|]You are a helpful assistant[|endofturn|]\n[|user|]Hello\n[|assistant|]Hi there[|endofturn|]\n[|user|]Who "
     "are you\n[|assistant|]I am an assistant[|endofturn|]\n[|user|]Another question\n[|assistant|]"},
    {LO_CHAT_EXAONE4, "exaone4 rule", "[|system|]{{ s }}[|endofturn|][|assistant|][|tool|]",
     "[|system|]You are a helpful assistant[|endofturn|]\n[|user|]Hello\n[|assistant|]Hi there[|endofturn|]\n[|user|]Who "
     "are you\n[|assistant|]I am an assistant[|endofturn|]\n[|user|]Another question\n[|assistant|]"},
    {LO_CHAT_EXAONE_MOE, "exaone-moe rule", "<|user|>{{ u }}<|assistant|><|tool_declare|>",
     "<|system|>\nYou are a helpful assistant<|endofturn|>\n<|user|>\nHello<|endofturn|>\n<|assistant|>\nHi there"
     "<|endofturn|>\n<|user|>\nWho are you<|endofturn|>\n<|assistant|>\nI am an assistant<|endofturn|>\n<|user|>\nAnother "
     "question<|endofturn|>\n<|assistant|>\n"},
    {LO_CHAT_BAILING_THINK, "bailing-think rule", "<role>ASSISTANT</role>{{ \"HUMAN\" }}<think>",
     "<role>SYSTEM</role>You are a helpful assistant<role>HUMAN</role>Hello<role>ASSISTANT</role>Hi there<role>HUMAN</role>"
     "Who are you<role>ASSISTANT</role>   I am an assistant   <role>HUMAN</role>Another question<role>ASSISTANT</role>"
     "<think>"},
    {LO_CHAT_BAILING2, "inclusionai/ling-3.0-flash (jinja_cases)", NULL,
     "<role>SYSTEM</role>You are a helpful assistant<|role_end|><role>HUMAN</role>Hello<|role_end|><role>ASSISTANT</role>"
     "Hi there<|role_end|><role>HUMAN</role>Who are you<|role_end|><role>ASSISTANT</role>   I am an assistant   "
     "<|role_end|><role>HUMAN</role>Another question<|role_end|><role>ASSISTANT</role>"},
    {LO_CHAT_DEEPSEEK_OCR, "by name only (no rule reaches it)", "deepseek-ocr",
     "You are a helpful assistantHelloHi thereWho are you   I am an assistant   Another question"},
    {LO_CHAT_RWKV_WORLD, "llama.cpp's rwkv-world template (jinja_cases)", NULL,
     "System: You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there\n\nUser: Who are you\n\nAssistant: I am an "
     "assistant\n\nUser: Another question\n\nAssistant:"},
};

static char *render(lo_chat_template t, const lo_chat_message *m, int32_t n, bool add_ass) {
    char *out = NULL;
    size_t len = 0;
    lo_status s = lo_chat_render(t, m, n, add_ass, &out, &len);
    if (s) {
        fprintf(stderr, "render %s failed: %s\n", lo_chat_template_name(t), lo_error_message());
        return NULL;
    }
    CHECK_INT_EQ(len, strlen(out));
    return out;
}

/* add_assistant=false must give the same prompt without the family's assistant prefix. */
static void check_both_ways(lo_chat_template t, const lo_chat_message *m, int32_t n, const char *expected, const char *what) {
    char *with = render(t, m, n, true), *without = render(t, m, n, false);
    CHECK_MSG(with && strcmp(with, expected) == 0, "%s (%s): add_assistant=true\n got:      [%s]\n expected: [%s]", what,
              lo_chat_template_name(t), with ? with : "(null)", expected);
    const char *pre = assistant_prefix(t);
    size_t le = strlen(expected), lp = strlen(pre);
    bool ok = without && le >= lp && strcmp(expected + le - lp, pre) == 0 && strlen(without) == le - lp &&
              memcmp(without, expected, le - lp) == 0;
    CHECK_MSG(ok, "%s (%s): add_assistant=false got [%s]", what, lo_chat_template_name(t), without ? without : "(null)");
    lo_free(with);
    lo_free(without);
}

static void test_llamacpp_cases(void) {
    int n = (int)(sizeof llamacpp_cases / sizeof *llamacpp_cases);
    for (int i = 0; i < n; i++) {
        const chat_case *c = &llamacpp_cases[i];
        lo_chat_template t = LO_CHAT_TEMPLATE_COUNT;
        lo_status s = lo_chat_template_detect(c->tmpl, &t);
        CHECK_MSG(s == LO_OK && t == c->family, "%s: detected %s, want %s", c->name, s ? "(error)" : lo_chat_template_name(t),
                  lo_chat_template_name(c->family));
        lo_chat_message msgs[N_CONV + 3];
        memcpy(msgs, conversation, sizeof conversation);
        for (int k = 0; k < c->n_extra; k++) msgs[N_CONV + k] = (lo_chat_message){c->extra[k][0], c->extra[k][1]};
        check_both_ways(c->family, msgs, N_CONV + c->n_extra, c->expected, c->name);
    }
    CHECK(n >= 36);
}

static const char *jinja_source(const char *file_part) {
    for (size_t i = 0; i < sizeof jinja_cases / sizeof *jinja_cases; i++)
        if (strstr(jinja_cases[i].file, file_part)) return jinja_cases[i].tmpl;
    return NULL;
}

static void test_real_jinja_templates(void) {
    for (size_t i = 0; i < sizeof jinja_cases / sizeof *jinja_cases; i++) {
        lo_chat_template t = LO_CHAT_TEMPLATE_COUNT;
        lo_status s = lo_chat_template_detect(jinja_cases[i].tmpl, &t);
        CHECK_MSG(s == LO_OK && t == jinja_cases[i].family, "%s: detected %s, want %s", jinja_cases[i].file,
                  s ? "(error)" : lo_chat_template_name(t), lo_chat_template_name(jinja_cases[i].family));
    }
}

static void test_hand_cases(void) {
    static const struct {
        lo_chat_template family;
        const char *file;
    } real[] = {{LO_CHAT_DEEPSEEK3, "R1-Distill-Llama"}, {LO_CHAT_GPT_OSS, "gpt-oss"}, {LO_CHAT_KIMI_K2, "moonshotai-Kimi"},
                {LO_CHAT_SOLAR_OPEN, "Solar-Open"},      {LO_CHAT_BAILING2, "ling-3.0"},  {LO_CHAT_RWKV_WORLD, "rwkv-world"}};
    for (size_t i = 0; i < sizeof hand_cases / sizeof *hand_cases; i++) {
        const hand_case *c = &hand_cases[i];
        const char *src = c->tmpl;
        for (size_t k = 0; !src && k < sizeof real / sizeof *real; k++)
            if (real[k].family == c->family) src = jinja_source(real[k].file);
        CHECK_MSG(src != NULL, "%s: no template source", c->what);
        lo_chat_template t = LO_CHAT_TEMPLATE_COUNT;
        lo_status s = lo_chat_template_detect(src, &t);
        CHECK_MSG(s == LO_OK && t == c->family, "%s: detected %s, want %s", c->what, s ? "(error)" : lo_chat_template_name(t),
                  lo_chat_template_name(c->family));
        check_both_ways(c->family, conversation, N_CONV, c->expected, c->what);
    }
}

/* Every family has at least one rendering test above: llama.cpp's or a hand case. */
static void test_every_family_covered(void) {
    bool seen[LO_CHAT_TEMPLATE_COUNT] = {0};
    for (size_t i = 0; i < sizeof llamacpp_cases / sizeof *llamacpp_cases; i++) seen[llamacpp_cases[i].family] = true;
    for (size_t i = 0; i < sizeof hand_cases / sizeof *hand_cases; i++) seen[hand_cases[i].family] = true;
    for (int t = 0; t < LO_CHAT_TEMPLATE_COUNT; t++)
        CHECK_MSG(seen[t], "family %s has no rendering test", lo_chat_template_name((lo_chat_template)t));
}

/* The real zephyr-7b-beta / TinyLlama-Chat template has <|user|> and <|assistant|> but no
 * literal </s> (it uses eos_token): llama.cpp's rules put it in glmedge, not zephyr. */
static void test_zephyr_beta_follows_llamacpp(void) {
    const char *zephyr_beta =
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] "
        "== 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and "
        "add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
    lo_chat_template t;
    CHECK_OK(lo_chat_template_detect(zephyr_beta, &t));
    CHECK_STR_EQ(lo_chat_template_name(t), "glmedge");
}

static void test_names(void) {
    for (int i = 0; i < LO_CHAT_TEMPLATE_COUNT; i++) {
        lo_chat_template t = (lo_chat_template)i, u = LO_CHAT_TEMPLATE_COUNT, v = LO_CHAT_TEMPLATE_COUNT;
        const char *name = lo_chat_template_name(t);
        CHECK(name && *name && strcmp(name, "unknown") != 0);
        CHECK_OK(lo_chat_template_by_name(name, &u));
        CHECK_INT_EQ(u, t);
        /* a source that is exactly a name selects that family, as in llama.cpp */
        CHECK_OK(lo_chat_template_detect(name, &v));
        CHECK_INT_EQ(v, t);
    }
    static const char *const llamacpp_names[] = {"chatml", "llama2", "llama2-sys", "llama2-sys-bos", "llama2-sys-strip",
                                                 "mistral-v1", "mistral-v3", "mistral-v3-tekken", "mistral-v7",
                                                 "mistral-v7-tekken", "phi3", "phi4", "falcon3", "zephyr", "monarch", "gemma",
                                                 "orion", "openchat", "vicuna", "vicuna-orca", "deepseek", "deepseek2",
                                                 "deepseek3", "deepseek-ocr", "command-r", "llama3", "chatglm3", "chatglm4",
                                                 "glmedge", "minicpm", "exaone3", "exaone4", "exaone-moe", "rwkv-world",
                                                 "granite", "granite-4.0", "granite-4.1", "gigachat", "megrez", "yandex",
                                                 "bailing", "bailing-think", "bailing2", "llama4", "smolvlm", "hunyuan-moe",
                                                 "gpt-oss", "hunyuan-dense", "hunyuan-vl", "kimi-k2", "seed_oss", "grok-2",
                                                 "pangu-embedded", "solar-open"};
    for (size_t i = 0; i < sizeof llamacpp_names / sizeof *llamacpp_names; i++) {
        lo_chat_template t;
        CHECK_MSG(lo_chat_template_by_name(llamacpp_names[i], &t) == LO_OK, "llama.cpp name %s", llamacpp_names[i]);
    }
    CHECK_STR_EQ(lo_chat_template_name(LO_CHAT_LLAMA3), "llama3");
    CHECK_STR_EQ(lo_chat_template_name((lo_chat_template)-1), "unknown");
    CHECK_STR_EQ(lo_chat_template_name(LO_CHAT_TEMPLATE_COUNT), "unknown");

    lo_chat_template t;
    CHECK_INT_EQ(lo_chat_template_by_name("llama-9", &t), LO_ERR_NOT_FOUND);
    CHECK(strstr(lo_error_message(), "'llama-9'") != NULL);
    CHECK(strstr(lo_error_message(), "chatml") != NULL);
    CHECK(strstr(lo_error_message(), "solar-open") != NULL); /* the whole list fits */
    CHECK_INT_EQ(lo_chat_template_by_name("ChatML", &t), LO_ERR_NOT_FOUND); /* names are exact */
}

static void test_detect_defaults_and_errors(void) {
    lo_chat_template t = LO_CHAT_LLAMA3;
    CHECK_OK(lo_chat_template_detect(NULL, &t));
    CHECK_INT_EQ(t, LO_CHAT_CHATML);
    t = LO_CHAT_LLAMA3;
    CHECK_OK(lo_chat_template_detect("", &t));
    CHECK_INT_EQ(t, LO_CHAT_CHATML);

    const char *unknown = "{% for m in messages %}\n{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
    CHECK_INT_EQ(lo_chat_template_detect(unknown, &t), LO_ERR_UNSUPPORTED);
    CHECK(strstr(lo_error_hint(), "--chat-template") != NULL);
    CHECK(strstr(lo_error_message(), "{% for m in messages %}") != NULL);
    CHECK(strchr(lo_error_message(), '\n') == NULL); /* the snippet is put on one line */
    CHECK_INT_EQ(lo_chat_template_detect("INVALID TEMPLATE", &t), LO_ERR_UNSUPPORTED);

    /* rules are case-sensitive substrings, as in llama.cpp */
    CHECK_INT_EQ(lo_chat_template_detect("[inst]", &t), LO_ERR_UNSUPPORTED);
    CHECK_OK(lo_chat_template_detect("mistral", &t)); /* a source starting with "mistral" */
    CHECK_INT_EQ(t, LO_CHAT_LLAMA2);
}

static void test_bad_messages(void) {
    char *out = (char *)1;
    size_t len = 7;
    lo_chat_message bad[] = {{"system", "s"}, {"user", "u"}, {"robot", "beep"}};
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_CHATML, bad, 3, true, &out, &len), LO_ERR_INVALID);
    CHECK(out == NULL);
    CHECK_INT_EQ(len, 0);
    CHECK(strstr(lo_error_message(), "message 2") != NULL);
    CHECK(strstr(lo_error_message(), "'robot'") != NULL);
    CHECK(strstr(lo_error_hint(), "system, user, assistant") != NULL);

    /* "tool" is a role only where llama.cpp renders it */
    lo_chat_message tool[] = {{"user", "q"}, {"tool", "42"}};
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_LLAMA3, tool, 2, false, &out, &len), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "message 1") != NULL && strstr(lo_error_message(), "'tool'") != NULL);
    CHECK_OK(lo_chat_render(LO_CHAT_KIMI_K2, tool, 2, false, &out, &len));
    CHECK_STR_EQ(out, "<|im_user|>user<|im_middle|>q<|im_end|><|im_system|>tool<|im_middle|>42<|im_end|>");
    lo_free(out);
    CHECK_OK(lo_chat_render(LO_CHAT_PANGU_EMBED, tool, 2, true, &out, &len));
    CHECK_STR_EQ(out, "[unused9]系统：[unused10][unused9]用户：q[unused10][unused9]工具：42[unused10][unused9]助手：");
    lo_free(out);
    CHECK_OK(lo_chat_render(LO_CHAT_EXAONE4, tool, 2, true, &out, &len));
    CHECK_STR_EQ(out, "[|user|]q\n[|tool|]42[|endofturn|]\n[|assistant|]");
    lo_free(out);

    lo_chat_message no_role[] = {{"user", "x"}, {NULL, "y"}};
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_CHATML, no_role, 2, true, &out, &len), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "message 1") != NULL);
    lo_chat_message no_content[] = {{"user", NULL}};
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_CHATML, no_content, 1, true, &out, &len), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "message 0") != NULL);
    /* roles are exact: "User" is not "user" */
    lo_chat_message caps[] = {{"User", "x"}};
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_CHATML, caps, 1, true, &out, &len), LO_ERR_INVALID);

    CHECK_INT_EQ(lo_chat_render(LO_CHAT_CHATML, conversation, -1, true, &out, &len), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_CHATML, NULL, 2, true, &out, &len), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_TEMPLATE_COUNT, conversation, N_CONV, true, &out, &len), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_chat_render((lo_chat_template)-3, conversation, N_CONV, true, &out, &len), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_chat_render(LO_CHAT_CHATML, conversation, N_CONV, true, NULL, &len), LO_ERR_INVALID);
}

static void expect_render(lo_chat_template t, const lo_chat_message *m, int32_t n, bool add, const char *want) {
    char *got = render(t, m, n, add);
    CHECK_MSG(got && strcmp(got, want) == 0, "%s n=%d add=%d: got [%s] want [%s]", lo_chat_template_name(t), (int)n, (int)add,
              got ? got : "(null)", want);
    lo_free(got);
}

static void test_empty_and_edge_conversations(void) {
    expect_render(LO_CHAT_CHATML, NULL, 0, true, "<|im_start|>assistant\n");
    expect_render(LO_CHAT_CHATML, NULL, 0, false, "");
    expect_render(LO_CHAT_LLAMA2, NULL, 0, true, "[INST] ");
    expect_render(LO_CHAT_CHATGLM3, NULL, 0, false, "[gMASK]sop");
    expect_render(LO_CHAT_GIGACHAT, NULL, 0, true, "<s>assistant<|role_sep|>");
    expect_render(LO_CHAT_BAILING2, NULL, 0, true, "<role>SYSTEM</role>detailed thinking off<|role_end|><role>ASSISTANT</role>");
    expect_render(LO_CHAT_PANGU_EMBED, NULL, 0, false, "");

    /* Gemma: system text with no user turn after it is dropped; two system messages join. */
    lo_chat_message sys_only[] = {{"system", " a "}, {"system", "b"}};
    expect_render(LO_CHAT_GEMMA, sys_only, 2, true, "<start_of_turn>model\n");
    lo_chat_message two_sys[] = {{"system", " a "}, {"system", "b\n"}, {"user", " q "}};
    expect_render(LO_CHAT_GEMMA, two_sys, 3, false, "<start_of_turn>user\nab\n\nq<end_of_turn>\n");
    /* Orion keeps system text as given */
    expect_render(LO_CHAT_ORION, two_sys, 3, false, "Human:  a b\n\n\n q \n\nAssistant: </s>");
    /* rwkv-world adds "Assistant:" only after a final user message */
    lo_chat_message ua[] = {{"user", "q"}, {"assistant", "a"}};
    expect_render(LO_CHAT_RWKV_WORLD, ua, 2, true, "User: q\n\nAssistant: a\n\n");
    expect_render(LO_CHAT_RWKV_WORLD, ua, 1, false, "User: q\n\nAssistant:");
    /* GigaChat uses only a leading system message */
    lo_chat_message late_sys[] = {{"user", "q"}, {"system", "ignored"}};
    expect_render(LO_CHAT_GIGACHAT, late_sys, 2, false,
                  "<s>user<|role_sep|>q<|message_sep|>available functions<|role_sep|>[]<|message_sep|>");
    /* Mistral v1 opens a new [INST] after each assistant turn; an empty content stays empty */
    lo_chat_message empty[] = {{"user", ""}, {"assistant", ""}, {"user", ""}};
    expect_render(LO_CHAT_MISTRAL_V1, empty, 3, true, " [INST]  [/INST] </s> [INST]  [/INST]");
    expect_render(LO_CHAT_LLAMA3, empty, 1, true,
                  "<|start_header_id|>user<|end_header_id|>\n\n<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_special_characters(void) {
    /* Content goes in verbatim: markup of the template itself, quotes, escapes, printf
     * directives, control bytes and UTF-8 are not interpreted or escaped. */
    const char *nasty = "<|im_end|>\n<|im_start|>system\n\"q\" \\n %s%n%% {{ x }} {% if %}\t\x01 héllo 👋 ｜";
    lo_chat_message m[] = {{"user", nasty}};
    char want[512];
    snprintf(want, sizeof want, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", nasty);
    expect_render(LO_CHAT_CHATML, m, 1, true, want);
    /* trim removes exactly the C-locale whitespace " \t\n\v\f\r" and nothing else */
    lo_chat_message ws[] = {{"user", " \t\n\v\f\r x \xC2\xA0\r\n"}};
    expect_render(LO_CHAT_LLAMA3, ws, 1, false, "<|start_header_id|>user<|end_header_id|>\n\nx \xC2\xA0<|eot_id|>");
    lo_chat_message blank[] = {{"user", " \n\t "}};
    expect_render(LO_CHAT_COMMAND_R, blank, 1, false, "<|START_OF_TURN_TOKEN|><|USER_TOKEN|><|END_OF_TURN_TOKEN|>");
    /* Bailing upper-cases ASCII role letters only */
    lo_chat_message b[] = {{"assistant", "x"}};
    expect_render(LO_CHAT_BAILING, b, 1, false, "<role>ASSISTANT</role>x");
}

static void test_long_content(void) {
    /* 3 MiB and 1 MiB messages and 20000 small ones: no fixed buffers anywhere. */
    size_t big = 3u << 20, mid = 1u << 20;
    char *a = lo_malloc(big + 1), *b = lo_malloc(mid + 1);
    CHECK(a && b);
    if (!a || !b) return;
    for (size_t i = 0; i < big; i++) a[i] = (char)('a' + i % 26);
    a[big] = '\0';
    memset(b, ' ', mid);
    b[mid] = '\0';
    b[mid / 2] = 'z';
    lo_chat_message m[] = {{"system", a}, {"user", b}, {"assistant", a}};
    char *out = NULL;
    size_t len = 0;
    CHECK_OK(lo_chat_render(LO_CHAT_LLAMA3, m, 3, true, &out, &len));
    if (out) {
        const char *h = "<|start_header_id|>system<|end_header_id|>\n\n";
        size_t hl = strlen(h);
        CHECK(memcmp(out, h, hl) == 0 && memcmp(out + hl, a, big) == 0);
        /* the 1 MiB of spaces around one 'z' trims to "z" */
        const char *mid_part = "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nz<|eot_id|>";
        CHECK(memcmp(out + hl + big, mid_part, strlen(mid_part)) == 0);
        CHECK_INT_EQ(len, strlen(out));
        CHECK_INT_EQ(len, 2 * big + strlen(h) + strlen(mid_part) +
                              strlen("<|start_header_id|>assistant<|end_header_id|>\n\n<|eot_id|>") +
                              strlen("<|start_header_id|>assistant<|end_header_id|>\n\n"));
    }
    lo_free(out);

    int32_t n = 20000;
    lo_chat_message *many = lo_malloc(sizeof *many * (size_t)n);
    CHECK(many != NULL);
    if (many) {
        for (int32_t i = 0; i < n; i++) many[i] = (lo_chat_message){i % 2 ? "assistant" : "user", "hi"};
        CHECK_OK(lo_chat_render(LO_CHAT_MISTRAL_V7, many, n, true, &out, &len));
        /* "[INST] hi[/INST]" + " hi</s>" per pair */
        CHECK_INT_EQ(len, (size_t)(n / 2) * (strlen("[INST] hi[/INST]") + strlen(" hi</s>")));
        lo_free(out);
        /* Gemma's system buffer grows across many system messages */
        for (int32_t i = 0; i < n - 1; i++) many[i] = (lo_chat_message){"system", "ab"};
        many[n - 1] = (lo_chat_message){"user", "q"};
        CHECK_OK(lo_chat_render(LO_CHAT_GEMMA, many, n, false, &out, &len));
        CHECK_INT_EQ(len, strlen("<start_of_turn>user\n") + 2 * (size_t)(n - 1) + strlen("\n\nq<end_of_turn>\n"));
        lo_free(out);
        lo_free(many);
    }
    lo_free(a);
    lo_free(b);
}

/* Expected family of every GGUF fixture that stores tokenizer.chat_template. */
static const struct {
    const char *file;
    lo_chat_template family;
} gguf_templates[] = {
    {"ggml-vocab-phi-3.gguf", LO_CHAT_PHI3}, /* Phi-3-mini's template */
    {"ggml-vocab-dbrx.gguf", LO_CHAT_CHATML}, /* DBRX Instruct: <|im_start|> turns */
};

static int n_with_template;

static void check_gguf(const char *path, const char *base) {
    lo_gguf *g = NULL;
    if (lo_gguf_open(path, &g)) return; /* not every fixture is a readable GGUF; the gguf tests cover that */
    bool has_key = lo_gguf_get(g, "tokenizer.chat_template") != NULL;
    lo_tokenizer *tok = NULL;
    lo_status s = lo_tokenizer_load(g, &tok);
    lo_gguf_close(g);
    if (s) {
        CHECK_MSG(!has_key, "%s has a chat template but its tokenizer does not load: %s", base, lo_error_message());
        return;
    }
    const char *src = lo_tokenizer_chat_template(tok);
    CHECK_MSG((src != NULL) == has_key, "%s: template kept %d, key present %d", base, src != NULL, has_key);
    if (src) {
        n_with_template++;
        lo_chat_template t = LO_CHAT_TEMPLATE_COUNT;
        lo_status ds = lo_chat_template_detect(src, &t);
        bool known = false;
        for (size_t i = 0; i < sizeof gguf_templates / sizeof *gguf_templates; i++)
            if (strcmp(base, gguf_templates[i].file) == 0) {
                known = true;
                CHECK_MSG(ds == LO_OK && t == gguf_templates[i].family, "%s: detected %s, want %s", base,
                          ds ? "(error)" : lo_chat_template_name(t), lo_chat_template_name(gguf_templates[i].family));
            }
        CHECK_MSG(known, "%s stores a chat template (detected %s) but the test does not know its family", base,
                  ds ? "(error)" : lo_chat_template_name(t));
    }
    lo_tokenizer_free(tok);
}

static void scan_dir(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d || depth > 4) {
        if (d) closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        size_t l = strlen(e->d_name);
        if (S_ISDIR(st.st_mode)) scan_dir(path, depth + 1);
        else if (l > 5 && strcmp(e->d_name + l - 5, ".gguf") == 0) check_gguf(path, e->d_name);
    }
    closedir(d);
}

static void test_gguf_fixtures(void) {
    char dir[1024];
    check_shared("models", dir, sizeof dir);
    scan_dir(dir, 0);
    CHECK_INT_EQ(n_with_template, (int)(sizeof gguf_templates / sizeof *gguf_templates));

    /* Render Phi-3's conversation and tokenize it with special tokens on: the turn markers
     * become single control tokens of the vocabulary. */
    char path[1024];
    check_shared("models/vocab/ggml-vocab-phi-3.gguf", path, sizeof path);
    lo_gguf *g = NULL;
    lo_tokenizer *tok = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (g) CHECK_OK(lo_tokenizer_load(g, &tok));
    lo_gguf_close(g);
    if (!tok) return;
    lo_chat_template t;
    CHECK_OK(lo_chat_template_detect(lo_tokenizer_chat_template(tok), &t));
    char *prompt = NULL;
    size_t len = 0;
    CHECK_OK(lo_chat_render(t, conversation, N_CONV, true, &prompt, &len));
    lo_tokens ids = {0};
    if (prompt) CHECK_OK(lo_tokenize(tok, prompt, len, true, true, &ids));
    int32_t user = lo_tokenizer_find(tok, "<|user|>", 8), end = lo_tokenizer_find(tok, "<|end|>", 7),
            assistant = lo_tokenizer_find(tok, "<|assistant|>", 13);
    CHECK(user >= 0 && end >= 0 && assistant >= 0);
    int n_user = 0, n_end = 0, n_assistant = 0;
    for (int64_t i = 0; i < ids.n; i++) {
        n_user += ids.ids[i] == user;
        n_end += ids.ids[i] == end;
        n_assistant += ids.ids[i] == assistant;
    }
    CHECK_INT_EQ(n_user, 3);
    CHECK_INT_EQ(n_end, 6);
    CHECK_INT_EQ(n_assistant, 3);
    CHECK(ids.n > 0 && (ids.ids[0] == lo_tokenizer_bos(tok)) == lo_tokenizer_add_bos(tok));
    lo_tokens_free(&ids);
    lo_free(prompt);

    /* a file without a template has none */
    check_shared("models/vocab/ggml-vocab-gpt-2.gguf", path, sizeof path);
    g = NULL;
    lo_tokenizer *t2 = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (g) CHECK_OK(lo_tokenizer_load(g, &t2));
    lo_gguf_close(g);
    if (t2) CHECK(lo_tokenizer_chat_template(t2) == NULL);
    lo_tokenizer_free(t2);
    lo_tokenizer_free(tok);
    CHECK(lo_tokenizer_chat_template(NULL) == NULL);
}

int main(void) {
    test_llamacpp_cases();
    test_real_jinja_templates();
    test_hand_cases();
    test_every_family_covered();
    test_zephyr_beta_follows_llamacpp();
    test_names();
    test_detect_defaults_and_errors();
    test_bad_messages();
    test_empty_and_edge_conversations();
    test_special_characters();
    test_long_content();
    test_gguf_fixtures();
    return check_done();
}
