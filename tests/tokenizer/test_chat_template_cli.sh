# `llmops chat-template` end to end: the family detected from GGUF fixtures' stored
# templates, the exact prompt bytes (compared with cmp, trailing newlines included),
# --json-messages from a file and stdin, --template/--template-file, --ids, and errors.
# Usage: sh test_chat_template_cli.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
if [ ! -d "$SHARED/models/vocab" ]; then
    echo "SKIP: $SHARED/models (test fixtures) is not there" >&2
    exit 77
fi
PHI3="$SHARED/models/vocab/ggml-vocab-phi-3.gguf"
DBRX="$SHARED/models/vocab/ggml-vocab-dbrx.gguf"
STORIES="$SHARED/models/stories260K.gguf"
tmp=${TMPDIR:-/tmp}/lo_chat_cli_$$
fails=0
check() { # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: expected [$2], got [$3]" >&2
        fails=$((fails + 1))
    fi
}
check_bytes() { # check_bytes NAME EXPECTED_FILE ACTUAL_FILE
    if cmp -s "$2" "$3"; then
        echo "ok: $1"
    else
        echo "FAIL: $1: bytes differ" >&2
        od -c "$3" | head -20 >&2
        fails=$((fails + 1))
    fi
}
contains() { # contains NAME FILE TEXT
    if grep -qF -- "$3" "$2"; then
        echo "ok: $1"
    else
        echo "FAIL: $1: [$3] not in: $(cat "$2")" >&2
        fails=$((fails + 1))
    fi
}

# Families from the templates stored in the fixtures; a model without one gets chatml.
check "phi-3 family" "phi3" "$("$LLMOPS" chat-template -m "$PHI3" --family)"
check "dbrx family" "chatml" "$("$LLMOPS" chat-template -m "$DBRX" --family)"
check "no template -> chatml" "chatml" "$("$LLMOPS" chat-template -m "$STORIES" --family)"

# The sample conversation through Phi-3's template, byte for byte (ends in a newline).
printf '<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n' >"$tmp.want"
"$LLMOPS" chat-template -m "$PHI3" >"$tmp.got"
check_bytes "phi-3 sample prompt" "$tmp.want" "$tmp.got"
printf '<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n' >"$tmp.want"
"$LLMOPS" chat-template -m "$PHI3" --no-assistant >"$tmp.got"
check_bytes "--no-assistant" "$tmp.want" "$tmp.got"

# Messages from a file (a bare array) and from stdin (an OpenAI request body).
cat >"$tmp.json" <<'EOF'
[{"role": "system", "content": "Be brief."},
 {"role": "user", "content": "Say \"hi\"\nplease"}]
EOF
printf '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSay "hi"\nplease<|im_end|>\n<|im_start|>assistant\n' >"$tmp.want"
"$LLMOPS" chat-template -m "$DBRX" --json-messages "$tmp.json" >"$tmp.got"
check_bytes "--json-messages FILE (dbrx: chatml)" "$tmp.want" "$tmp.got"
printf '{"model": "x", "messages": [{"role": "user", "content": "  2+2?  "}], "temperature": 0}' |
    "$LLMOPS" chat-template --template llama3 --json-messages - >"$tmp.got"
printf '<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n' >"$tmp.want"
check_bytes "--json-messages - (OpenAI body, llama3 trims)" "$tmp.want" "$tmp.got"
printf '[]' | "$LLMOPS" chat-template --template chatml --json-messages - >"$tmp.got"
printf '<|im_start|>assistant\n' >"$tmp.want"
check_bytes "empty conversation" "$tmp.want" "$tmp.got"

# --template overrides the model's own template; llama2 has no assistant opening.
printf '[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]' >"$tmp.want"
"$LLMOPS" chat-template -m "$PHI3" --template llama2 >"$tmp.got"
check_bytes "--template llama2" "$tmp.want" "$tmp.got"
check "--template mistral-v7 family" "mistral-v7" "$("$LLMOPS" chat-template --template mistral-v7 --family)"

# --template-file: a Jinja source (Gemma's) is detected like a stored one.
cat >"$tmp.jinja" <<'EOF'
{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}
EOF
check "--template-file gemma" "gemma" "$("$LLMOPS" chat-template --template-file "$tmp.jinja" --family)"

# --ids: the prompt as the server tokenizes it; turn markers are single control tokens.
ids=$("$LLMOPS" chat-template -m "$PHI3" --ids)
check "--ids" "1 32006 887 526 263 8444 20255 32007 32010 15043 32007 32001 6324 727 32007 32010 11644 526 366 32007 32001" "$ids"

# Errors: library failures exit 1 with the reason, bad usage exits 2.
"$LLMOPS" chat-template --template nope >/dev/null 2>"$tmp.err"
check "unknown template exit" 1 $?
contains "unknown template lists names" "$tmp.err" "known templates: chatml, llama2"
printf '%s' '{% for m in messages %}{{ m.content }}{% endfor %}' >"$tmp.jinja"
"$LLMOPS" chat-template --template-file "$tmp.jinja" >/dev/null 2>"$tmp.err"
check "unrecognised template exit" 1 $?
contains "unrecognised template hint" "$tmp.err" "--chat-template"
printf '[{"role": "robot", "content": "x"}]' | "$LLMOPS" chat-template --template chatml --json-messages - >/dev/null 2>"$tmp.err"
check "bad role exit" 1 $?
contains "bad role named" "$tmp.err" "message 0 has the unknown role 'robot'"
printf '[{"role": "user"}]' | "$LLMOPS" chat-template --template chatml --json-messages - >/dev/null 2>"$tmp.err"
check "missing content exit" 1 $?
contains "missing content named" "$tmp.err" "message 0"
printf '[{"role": "user", "content": ' | "$LLMOPS" chat-template --template chatml --json-messages - >/dev/null 2>"$tmp.err"
check "bad JSON exit" 1 $?
printf '{"prompt": "x"}' | "$LLMOPS" chat-template --template chatml --json-messages - >/dev/null 2>"$tmp.err"
check "no messages exit" 1 $?
contains "no messages reason" "$tmp.err" "not a list of messages"
"$LLMOPS" chat-template -m "$tmp.missing.gguf" >/dev/null 2>&1
check "missing model exit" 1 $?
"$LLMOPS" chat-template >/dev/null 2>&1
check "no model exit" 2 $?
"$LLMOPS" chat-template -m "$PHI3" --bogus >/dev/null 2>&1
check "unknown option exit" 2 $?
"$LLMOPS" chat-template --template chatml --ids >/dev/null 2>&1
check "--ids without -m exit" 2 $?
"$LLMOPS" help chat-template >"$tmp.got" 2>&1
check "help exit" 0 $?
contains "help text" "$tmp.got" "--json-messages"
rm -f "$tmp.want" "$tmp.got" "$tmp.json" "$tmp.jinja" "$tmp.err"

if [ "$fails" -ne 0 ]; then
    echo "$fails checks failed" >&2
    exit 1
fi
echo "all chat-template CLI checks passed"
