/* Entry point of the `llmops` binary: dispatches argv[1] through the command table,
 * which is also the source of `llmops --help` and `llmops help COMMAND`. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const lo_cli_command commands[] = {
    {"quickstart", "[--dir DIR] [--port P] [--minutes N] [--fresh] [--no-serve] [--threads T]",
     "the whole loop on generated data: datasets, tokenizer, pretraining, LoRA, eval, registry, canary, server, feedback",
     "  --dir DIR       where everything goes (default llmops-data): DIR/llmops.db (the store),\n"
     "                  DIR/data (the generated corpus), DIR/models (GGUFs), DIR/eval (predictions)\n"
     "  --port P        the server's port (default 8080; 0 = any free port)\n"
     "  --minutes N     the training budget (default 3: about two minutes of pretraining on 2 cores,\n"
     "                  the whole run under 5; 1 = a smaller model and corpus)\n"
     "  --fresh         retrain and re-evaluate even what a previous run made from the same inputs\n"
     "  --no-serve      send the requests through a temporary server, stop it and exit (scripts, tests)\n"
     "  --threads T     compute threads (default: all cores)\n"
     "Steps (each echoed as the llmops command that does it): 1 writes a procedural story corpus\n"
     "with a fictional product's manual mixed in and Q&A chats about the product, adds them as\n"
     "datasets; 2 trains a byte-level BPE tokenizer and pretrains a small llama from scratch;\n"
     "3 fine-tunes it with LoRA on the Q&A; 4 evaluates both on held-out questions (ROUGE-L, BLEU,\n"
     "exact match, perplexity); 5 shows the lineage and promotes the fine-tune past a\n"
     "rougeL>=baseline gate; 6 deploys it with 90%/10% against the base; 7 serves\n"
     "the deployment, sends questions, records thumbs up/down feedback with corrections and prints\n"
     "what to do next. A re-run reuses the models made from the same data, tokenizer and settings\n"
     "(tagged in the registry) and the evaluations of the same versions.\n",
     lo_cmd_quickstart},
    {"inspect", "FILE.gguf [--json]",
     "show a GGUF file's architecture, hyperparameters, tokenizer and tensors",
     "  --json        one JSON object instead of text (every KV and tensor)\n", lo_cmd_inspect},
    {"tokenize", "-m FILE.gguf [--no-bos] [--special] [-f FILE | TEXT]",
     "print the token ids of a text, space-separated on one line",
     "  -m FILE.gguf  the model or vocab file whose tokenizer to use\n"
     "  --no-bos      do not add BOS/EOS (or CLS/SEP) even when the file asks for them\n"
     "  --special     parse the text of special tokens (e.g. <s>) as those tokens\n"
     "  -f FILE       read the text from FILE (as bytes, no newline stripped)\n",
     lo_cmd_tokenize},
    {"detokenize", "-m FILE.gguf [--special] IDS...",
     "print the text of token ids (as separate arguments or one space-separated string)",
     "  -m FILE.gguf  the model or vocab file whose tokenizer to use\n"
     "  --special     render control tokens' text (e.g. <s>) instead of dropping it\n",
     lo_cmd_detokenize},
    {"tokenizer", "train --vocab N CORPUS OUT.gguf [--min-frequency F] [--special TOKEN ...]",
     "learn a byte-level BPE vocabulary (GPT-2 style) from a text file into a tokenizer-only GGUF",
     "  --vocab N            the vocabulary size: 256 byte tokens + merges + special tokens\n"
     "  --min-frequency F    never merge a pair seen fewer than F times (default 2); the vocab is\n"
     "                       then smaller than N, and a note says so\n"
     "  --special TOKEN ...  more special (control) tokens after <|endoftext|>, which is always\n"
     "                       there and is BOS and EOS; takes every argument up to the next\n"
     "                       option, so give it after CORPUS and OUT.gguf\n"
     "The words come from the \"gpt-2\" pre-tokenizer regex, as encoding uses them; ties between\n"
     "equally frequent pairs go to the lexicographically smaller one. The output is written\n"
     "atomically and is the same bytes for the same input.\n",
     lo_cmd_tokenizer},
    {"chat-template", "-m FILE.gguf [--template NAME | --template-file FILE] [--json-messages FILE|-] [--no-assistant] [--family] [--ids]",
     "print the prompt a chat conversation becomes for a model (llama.cpp's built-in templates)",
     "  -m FILE.gguf       the model; its tokenizer.chat_template picks the family (none: chatml)\n"
     "  --template NAME    use this family instead, by llama.cpp's --chat-template name: chatml, llama2,\n"
     "                     llama2-sys, llama2-sys-bos, llama2-sys-strip, llama3, llama4, mistral-v1,\n"
     "                     mistral-v3, mistral-v3-tekken, mistral-v7, mistral-v7-tekken, phi3, phi4,\n"
     "                     zephyr, gemma, deepseek, deepseek2, deepseek3, deepseek-ocr, falcon3, monarch,\n"
     "                     orion, openchat, vicuna, vicuna-orca, command-r, chatglm3, chatglm4, glmedge,\n"
     "                     minicpm, exaone3, exaone4, exaone-moe, rwkv-world, granite, granite-4.0,\n"
     "                     granite-4.1, gigachat, megrez, yandex, bailing, bailing-think, bailing2,\n"
     "                     smolvlm, dots1, hunyuan-moe, hunyuan-dense, hunyuan-vl, gpt-oss, kimi-k2,\n"
     "                     seed_oss, grok-2, pangu-embedded, solar-open (-m is then optional)\n"
     "  --template-file F  detect the family from a Jinja template in file F\n"
     "  --json-messages F  the conversation: [{\"role\": ..., \"content\": ...}, ...] or an OpenAI\n"
     "                     request body {\"messages\": [...]}; F = - reads stdin (default: a sample\n"
     "                     system/user/assistant/user conversation)\n"
     "  --no-assistant     do not append the assistant turn's opening\n"
     "  --family           print only the family name\n"
     "  --ids              print the prompt's token ids (BOS as the vocab says, special tokens parsed)\n"
     "The prompt is printed exactly, without an added newline; it does not include the BOS the\n"
     "tokenizer adds.\n",
     lo_cmd_chat_template},
    {"generate", "-m FILE -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S] [--threads T] [--ctx N] [--ignore-eos] [--ids] [--lora FILE[:SCALE]]...",
     "continue a prompt with a model, streaming the text to stdout",
     "  -m FILE        GGUF model\n"
     "  -p PROMPT      prompt text (BOS added and special tokens parsed, as llama.cpp does)\n"
     "  -n N           tokens to generate (default 64)\n"
     "  --temp T       temperature; 0 = greedy (default 0.8)\n"
     "  --top-k K      keep the K most likely tokens (default 40; 0 = off)\n"
     "  --top-p P      nucleus sampling (default 0.95; 1 = off)\n"
     "  --min-p P      drop tokens below P × the top probability (default 0.05; 0 = off)\n"
     "  --repeat-penalty R, --repeat-last-n N, --frequency-penalty F, --presence-penalty P\n"
     "  --seed S       sampling seed (default 0xFFFFFFFF = random); same seed, same output\n"
     "  --stop TEXT    stop when TEXT appears (repeatable)\n"
     "  --threads T    threads (default: all cores)\n"
     "  --ctx N        context size (default: the model's, at most 4096)\n"
     "  --ignore-eos   keep generating past end-of-generation tokens\n"
     "  --ids          print PROMPT_IDS, GEN_IDS and TEXT lines instead of streaming\n" LO_CLI_MODEL_OPTS_HELP,
     lo_cmd_generate},
    {"perplexity", "-m FILE -f TEXT [--ctx N] [--threads T] [--lora FILE[:SCALE]]...",
     "perplexity of a text, chunked as llama-perplexity does",
     "  -m FILE        GGUF model\n"
     "  -f TEXT        the text file\n"
     "  --ctx N        window size (default 512); the second half of each window is scored\n"
     "  --threads T    threads (default: all cores)\n" LO_CLI_MODEL_OPTS_HELP,
     lo_cmd_perplexity},
    {"logits", "-m FILE --ids \"ID ID ...\" [--top K | --full] [--threads T] [--lora FILE[:SCALE]]...",
     "raw next-token logits for every position of a prompt, one JSON line each",
     "  -m FILE        GGUF model\n"
     "  --ids IDS      the prompt as token ids (space-separated, one argument)\n"
     "  --top K        print the K largest logits per position (default 5)\n"
     "  --full         print every logit\n"
     "  --threads T    threads (default: all cores)\n" LO_CLI_MODEL_OPTS_HELP,
     lo_cmd_logits},
    {"embed", "-m FILE [--pooling mean|cls|last] [--no-normalize] [--ctx N] [--threads T] [-f FILE | TEXT...]",
     "embeddings of texts (any model; bert-family encoders too), one JSON array a line",
     "  -m FILE        GGUF model (bert encoder or any decoder)\n"
     "  TEXT...        one input per argument (special tokens parsed, BOS/CLS added as the vocab says)\n"
     "  -f FILE        one input per line of FILE instead\n"
     "  --pooling P    mean, cls or last (default: the model's pooling_type; decoders: last)\n"
     "  --no-normalize print the pooled vector as is (default: L2-normalised, as /v1/embeddings)\n"
     "  --ctx N        context size (default: the longest input)\n"
     "  --threads T    threads (default: all cores)\n",
     lo_cmd_embed},
    {"quantize", "IN.gguf OUT.gguf TYPE",
     "quantize a model: Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K(_S/_M/_L) Q4_K(_S/_M) Q5_K(_S/_M) Q6_K F16 BF16",
     "  TYPE           the target type, or a llama.cpp mix such as Q4_K_M\n", lo_cmd_quantize},
    {"gen-model", "--arch llama --shape tinyllama-1.1b|stories15m|custom [--dim --layers --heads --kv-heads --ff --vocab --experts --experts-used --sliding-window] --type T [--tokenizer FILE.gguf] [--seed S] OUT.gguf",
     "write a random-weight model of a real shape (for benchmarks and tests)",
     "  --shape NAME   tinyllama-1.1b, stories15m or custom (then give the dims)\n"
     "  --type T       weight type, as for quantize (e.g. Q4_0, Q8_0, Q4_K_M, F16)\n"
     "  --tokenizer F  copy the tokenizer from this GGUF (default: a byte-level vocab)\n"
     "  --experts N    Mixtral-style MoE with N experts of --ff each (router + *_exps tensors)\n"
     "  --experts-used K  experts per token (default 2)\n"
     "  --sliding-window W  write llama.attention.sliding_window = W\n",
     lo_cmd_gen_model},
    {"train", "--data FILE [--val FILE | --val-split PCT] --out OUT.gguf (--base BASE.gguf | --tokenizer TOK.gguf [--arch llama] --dim D --layers L --heads H [--kv-heads K] [--ff F] [--ctx N] [--tied]) (--steps N | --epochs N) [--batch B] [--seq T] [--lr LR] [--min-lr LR] [--warmup N] [--schedule cosine|linear|constant] [--grad-clip C] [--grad-accum K] [--weight-decay W] [--seed S] [--threads N] [--eval-every N] [--eval-batches N] [--docs blank|line] [--format text|jsonl] [--strict] [--chat-template NAME] [--store URL [--register NAME] [--dataset NAME]] [--checkpoint FILE] [--checkpoint-every N] [--resume FILE] [--log FILE] [--name NAME] [--method full|lora|qlora [--lora-rank R] [--lora-alpha A] [--lora-targets LIST] [--lora-dropout P] [--adapter-out FILE]]",
     "train a llama model from scratch, or fine-tune a llama GGUF, on a text or JSONL file and write it as a GGUF",
     "  --data FILE    UTF-8 text; documents separated by blank lines (--docs line: one per line),\n"
     "                 packed into --seq windows with EOS after each document (BOS before, if the\n"
     "                 tokenizer adds one)\n"
     "  --format text|jsonl  the data's format (default: JSONL when the first non-blank line\n"
     "                 starts with '{'). JSONL lines: {\"messages\":[{\"role\":\"system|user|assistant\",\n"
     "                 \"content\":...}]} rendered with the chat template (loss on the assistant\n"
     "                 messages only) or {\"prompt\":...,\"completion\":...} (loss on the completion);\n"
     "                 each sample [BOS] tokens EOS must fit --seq + 1 tokens; samples are packed\n"
     "                 like documents, the loss masked to those tokens\n"
     "  --chat-template NAME  chat family for JSONL messages (default: the tokenizer's\n"
     "                 tokenizer.chat_template, chatml without one)\n"
     "  --strict       a bad JSONL line (invalid JSON, unknown role, missing field, too long)\n"
     "                 fails the run; without it the line is reported as file:line and skipped\n"
     "  --val FILE     validation text (default: the last --val-split percent of the documents, 10)\n"
     "  --base F       fine-tune this llama GGUF (F32, F16 or BF16 tensors; a quantised base takes\n"
     "                 --method qlora): its shape, weights and tokenizer; the output keeps its metadata.\n"
     "                 Not combined with --tokenizer or the shape options; --seq defaults to\n"
     "                 its context, at most 256\n"
     "  --tokenizer F  a GGUF holding the tokenizer; its tokenizer.* keys go into the output\n"
     "  --dim --layers --heads --kv-heads --ff --ctx  the shape (kv-heads default heads, ff 8/3·dim\n"
     "                 rounded up to 32, ctx 256); --tied shares token_embd with the output head\n"
     "  --steps N | --epochs N  optimizer steps, or passes over the training windows\n"
     "  --batch B --seq T --grad-accum K  B sequences of T tokens per micro-batch, K per step\n"
     "                 (defaults 8, --ctx, 1)\n"
     "  --lr --min-lr --warmup --schedule  AdamW peak lr (1e-3), final lr (lr/10), linear warmup\n"
     "                 steps (a tenth of the run, at most 100), cosine|linear|constant (cosine)\n"
     "  --grad-clip C  clip the global gradient norm (1.0; 0 = off)\n"
     "  --weight-decay W  decoupled weight decay on matrices and embeddings (0.1)\n"
     "  --seed S --threads N  same seed and threads give the same loss curve (42, all cores)\n"
     "  --eval-every N --eval-batches N  validation every N steps (100; 0 = only at start and\n"
     "                 end) over N micro-batches (20; 0 = all)\n"
     "  --checkpoint F --checkpoint-every N  atomic checkpoints to F (default OUT.ckpt) every N\n"
     "                 steps (0 = never) and at Ctrl-C, which then stops the run\n"
     "  --resume F     continue a checkpoint (same data and shape options): the losses that\n"
     "                 follow are those of the uninterrupted run\n"
     "  --log F        write each report as a JSON line: step, total_steps, epoch, loss, lr,\n"
     "                 grad_norm, tokens_per_sec, elapsed_sec, and val_loss at evaluations\n"
     "  --name NAME    general.name of the output (default llmops-trained, or the base's)\n"
     "  --method full  train all weights (from scratch or of --base; the default)\n"
     "  --method lora  freeze --base and train low-rank adapters W + (alpha/rank)·B·A; --out gets\n"
     "                 the merged weights. --lora-rank R (8), --lora-alpha A (16), --lora-targets\n"
     "                 from q,k,v,o,gate,up,down (q,v), --lora-dropout P (0; 0 ≤ P < 1: dropout on\n"
     "                 the adapters' input, scaled 1/(1-P), a fresh mask per micro-batch from --seed,\n"
     "                 none in validation or the merged output)\n"
     "  --method qlora LoRA on a quantised --base (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K, F16/BF16/F32\n"
     "                 too): the base stays in its types, mmapped, each matrix dequantised in row\n"
     "                 chunks as it is used; the same LoRA options. --out gets the base with the\n"
     "                 adapters merged and re-quantised to each tensor's type (lossy; the adapter\n"
     "                 file is the exact result), other tensors byte for byte\n"
     "  --adapter-out F  with --method lora or qlora, also write the adapter alone as a llama.cpp\n"
     "                 LoRA GGUF (llama.cpp: -m BASE --lora F)\n"
     "  --store URL    record the run (default $LLMOPS_STORE; without either nothing is recorded):\n"
     "                 a run of kind train with the options as params, --data as a version of\n"
     "                 dataset --dataset NAME (default the file's base name), the base's model\n"
     "                 version when --base's bytes are registered, train_loss and val_loss at\n"
     "                 each evaluation, the output (and --adapter-out) as artifacts\n"
     "  --register NAME  with a store, register the output as the next version of model NAME\n"
     "                 with the run and the base as its lineage\n"
     "  Data parallel: mpirun -np W llmops train ... trains one model on W processes (or machines)\n"
     "                 with the global batch of one process: --grad-accum K must be a multiple of\n"
     "                 W, rank r computing micro-batches r, r+W, ...; gradients are summed, so each\n"
     "                 step's loss equals the single process's (within f32 rounding). Rank 0 alone\n"
     "                 prints, writes --log, checkpoints, the outputs and the --store record. Stop\n"
     "                 with SIGINT to any rank or `kill -USR1 <mpirun pid>` (mpirun turns Ctrl-C into\n"
     "                 SIGTERM/SIGKILL): checkpoint, then --resume under any W dividing K\n",
     lo_cmd_train},
    {"lora", "merge BASE.gguf ADAPTER.gguf OUT.gguf [--scale S]",
     "merge a llama.cpp LoRA adapter GGUF into its llama base, writing an F32 GGUF",
     "  BASE.gguf      the llama base (F32, F16 or BF16 weights; quantised bases are refused)\n"
     "  ADAPTER.gguf   a LoRA adapter in llama.cpp's format (general.type adapter, adapter.type lora,\n"
     "                 adapter.lora.alpha, \"<tensor>.lora_a\" {in, r} and \".lora_b\" {r, out} on\n"
     "                 attn_q/k/v/output and ffn_gate/up/down; llmops train --adapter-out writes one)\n"
     "  OUT.gguf       written atomically: every tensor of the base in F32, each adapted W replaced\n"
     "                 by W + S·(alpha/r)·B·A, every key of the base kept (general.file_type 0)\n"
     "  --scale S      multiplies the adapter (default 1, as llama.cpp's --lora)\n",
     lo_cmd_lora},
    {"bench", "-m FILE [-p 128] [-n 64] [-t 2] [-r 5] [--json] [--lora FILE[:SCALE]]...",
     "prompt processing (ppN) and generation (tgN) speed in tokens/s",
     "  -p N           prompt tokens (default 128; 0 = skip)\n"
     "  -n N           generated tokens (default 64; 0 = skip)\n"
     "  -t N           threads (default 2)\n"
     "  -r N           repetitions; the median is printed (default 5)\n"
     "  --json         one JSON object per line\n" LO_CLI_MODEL_OPTS_HELP,
     lo_cmd_bench},
    {"metric", "bleu|chrf|rouge --hyp FILE --ref FILE [--ref FILE...] [options] [--json]",
     "score hypotheses against references: BLEU and chrF as sacreBLEU, ROUGE as rouge-score",
     "  --hyp FILE         hypotheses, one segment a line\n"
     "  --ref FILE         references aligned line by line; repeat for more reference streams\n"
     "  --json             JSON at full precision (BLEU/chrF: one object; ROUGE: one per line)\n"
     " bleu:\n"
     "  --tokenize T       13a (default), intl, char, none\n"
     "  --lowercase        lowercase before tokenizing\n"
     "  --smooth M         exp (default), floor, add-k, none\n"
     "  --smooth-value V   value for floor (default 0.1) and add-k (default 1)\n"
     "  --effective-order  stop at the first n-gram order with no n-grams\n"
     "  --max-ngram N      highest n-gram order (default 4)\n"
     "  --sentence         score each line on its own (sentence BLEU/chrF)\n"
     " chrf:\n"
     "  --char-order N (6)  --word-order N (0; 2 = chrF++)  --beta B (2)  --whitespace  --lowercase  --sentence\n"
     " rouge:\n"
     "  --types LIST       comma-separated rouge1..rouge9, rougeL, rougeLsum (default rouge1,rouge2,rougeL)\n"
     "  --stem             Porter-stem tokens longer than 3 characters, as rouge-score's use_stemmer\n",
     lo_cmd_metric},
    {"datasets", "add NAME FILE | ls [NAME] | show NAME[@V] | diff NAME V1 V2 [--stat]  [--store URL]",
     "dataset versions (sha256 of the content), their format and rows, and diffs",
     "  add NAME FILE      add FILE as a version of NAME (jsonl/csv/text detected, rows counted)\n"
     "  ls [NAME]          versions, newest first\n"
     "  show NAME[@V]      one version (V: the sha256 or a prefix of >= 4 hex; default newest)\n"
     "  diff NAME V1 V2    rows added (+) and removed (-) from V1 to V2, then the counts\n"
     "  --stat             diff: print only the counts\n"
     "  --store URL        sqlite:PATH or postgres://... (default $LLMOPS_STORE, else sqlite:./llmops-data/llmops.db)\n",
     lo_cmd_datasets},
    {"runs", "create --kind K [--params JSON] [--dataset REF] [--model REF] | log RUN NAME VALUE [--step N] | artifact RUN FILE | end RUN [--status S] | ls [--kind K] | show RUN | compare RUN RUN",
     "training and evaluation runs: parameters, inputs, metric series, artifacts",
     "  create             start a run (status running); prints its id\n"
     "  log RUN NAME VAL   one metric point (--step N, default 0)\n"
     "  artifact RUN FILE  record a file (sha256, bytes) produced by the run\n"
     "  end RUN            finish it: --status succeeded (default), failed or canceled\n"
     "  ls, show, compare  list runs; one run with metrics and artifacts; last values of two runs side by side\n"
     "  --store URL        as for datasets\n",
     lo_cmd_runs},
    {"models", "register NAME FILE [--run R] [--base NAME@V] | ls [NAME] | show REF | alias NAME@V ALIAS | promote NAME@V ALIAS [--require GATE]... | tag REF K[=V] | untag REF K | tags REF | eval REF JSON",
     "the model registry: GGUF versions with sha256, metadata, lineage, aliases and tags",
     "  register NAME FILE the next version of NAME (same bytes again: the existing version)\n"
     "  --run R, --base REF  the producing run and the base model version\n"
     "  REF                NAME (newest), NAME@VERSION or NAME@ALIAS\n"
     "  alias NAME@V ALIAS point ALIAS (e.g. production, staging) at that version\n"
     "  promote NAME@V ALIAS  move ALIAS to NAME@V only if every --require gate holds (exit 1\n"
     "                     naming the failing gates otherwise)\n"
     "  --require GATE     METRIC OP VALUE, e.g. \"rougeL>=baseline\", \"perplexity<=1.05*baseline\",\n"
     "                     \"exact>=0.5\"; OP >= <= > < ==; baseline = the version holding ALIAS now,\n"
     "                     compared on the newest eval of NAME@V that has a baseline eval on the same\n"
     "                     dataset version with the same settings (see `llmops eval`); repeatable\n"
     "  eval REF JSON      record an evaluation summary object\n"
     "  --store URL        as for datasets\n",
     lo_cmd_models},
    {"eval", "(-m MODEL | --deployment NAME) --data EVAL.jsonl [--metrics LIST] [--baseline MODEL@V] [--max-tokens N] [--temp T] [--seed S] [--stop TEXT]... [--json]",
     "evaluate a model on a JSONL set: generate, score, record a run, compare with a baseline",
     "  -m MODEL           a registered version NAME[@V|@ALIAS], or a GGUF path (with '/' or .gguf)\n"
     "  --deployment NAME  evaluate the deployment's primary arm (the canary is not evaluated)\n"
     "  --data FILE        one JSON object a line: \"prompt\" or \"messages\" (chat template), and\n"
     "                     \"reference\", \"references\" (array) or \"completion\"\n"
     "  --metrics LIST     bleu,chrf,rouge,exact,perplexity (default: all; also rouge1, rouge2, rougeL,\n"
     "                     rougeLsum, exact_norm); perplexity alone generates nothing\n"
     "  --baseline REF     evaluate REF on the same data (or reuse its recorded eval with the same\n"
     "                     settings) and print model, baseline, delta and the better direction\n"
     "  --no-reuse         evaluate the baseline again even when a recorded eval matches\n"
     "  --max-tokens N     tokens per answer (default 64)   --temp T  0 = greedy (default)\n"
     "  --seed S           sample i uses seed S+i (default 42)\n"
     "  --stop TEXT        end an answer at TEXT (\\n = newline; repeatable, at most 16)\n"
     "  --parallel N       answers generated together (default 4)   --ctx N   --threads N\n"
     "  --rouge-stem       Porter-stem tokens for ROUGE (rouge-score's use_stemmer)\n"
     "  --chat-template N  template family for \"messages\" lines (default: the model's)\n"
     "  --data-name NAME   dataset name to record the file under (default: the file's stem)\n"
     "  --out-dir DIR      where eval-run-ID.jsonl (per-sample predictions) goes (default: evals/\n"
     "                     beside a SQLite store's file, else llmops-data/evals)\n"
     "  --json             one JSON object with the run, scores and baseline scores\n"
     "  --store URL        as for datasets\n",
     lo_cmd_eval},
    {"deploy", "NAME MODEL@V [--canary MODEL@V:P%] [--sticky] | promote NAME | rollback NAME | show NAME | ls",
     "deployments: route a name to model versions, canary splits, promote and roll back",
     "  NAME MODEL@V       serve NAME from MODEL@V (a new revision)\n"
     "  --canary REF:P%    send P percent (0 < P < 100) to another version\n"
     "  --sticky           a request's user always reaches the same version\n"
     "  promote NAME       the canary takes all traffic\n"
     "  rollback NAME      return to the previous revision (repeat to go further back)\n"
     "  --store URL        as for datasets\n",
     lo_cmd_deploy},
    {"deployments", "ls | show NAME | stats NAME [--since DATE] [--json]",
     "deployments and per-arm figures from the request log, to compare a canary with the primary",
     "  ls                 every deployment with its current arms and weights\n"
     "  show NAME          one deployment (as `deploy show`)\n"
     "  stats NAME         per model version: weight now, requests, errors, tokens, cost,\n"
     "                     TTFT and latency p50/p99 (ms, nearest rank), tokens/s\n"
     "  --since DATE       only requests from then on: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z or Unix ms\n"
     "  --json             stats as one JSON object (unknown figures are null)\n"
     "  --store URL        as for datasets\n",
     lo_cmd_deployments},
    {"costs", "[--by model|deployment|key] [--since DATE] | price MODEL (--input X --output Y | --usd-per-hour H --input-tps T --output-tps T) | prices | record MODEL --prompt-tokens N --completion-tokens N [--deployment D] [--key K] [--id ID] [--status S] [--ttft-ms MS] [--latency-ms MS]",
     "cost totals of the request log, and the prices they come from",
     "  --by G             group by model (default), deployment or key\n"
     "  --since DATE       YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z (UTC) or Unix ms\n"
     "  price MODEL        set $ per million input/output tokens; for local models derive them\n"
     "                     from the machine's $/hour and measured tokens/s (llmops bench)\n"
     "  record MODEL       log a request served elsewhere (MODEL: NAME@V or an upstream name)\n"
     "  --ttft-ms, --latency-ms  its timings, when known (they feed `deployments stats`)\n"
     "  --store URL        as for datasets\n",
     lo_cmd_costs},
    {"feedback", "add REQUEST_ID (--thumbs up|down | --rating 1-5) [--label L] [--comment C] [--corrected TEXT] [--author A] | export --format sft|preference FILE",
     "feedback on logged requests, and its export as fine-tuning data",
     "  add ID             record feedback on the request with that id\n"
     "  export FILE        JSONL: sft = OpenAI chat fine-tuning lines {\"messages\": [...]} from\n"
     "                     approved or corrected answers; preference = {\"prompt\", \"chosen\",\n"
     "                     \"rejected\"} pairs from corrections and up/down votes on one prompt\n"
     "  --store URL        as for datasets\n",
     lo_cmd_feedback},
    {"keys", "create NAME [--role admin|inference] [--budget USD] [--rate-limit RPM] | ls | revoke ID|NAME",
     "API keys: stored salted and hashed, with a role, a budget and a rate limit",
     "  create NAME        prints the secret once (stdout); role defaults to inference\n"
     "  --budget USD       spend limit in dollars (0 = none); --rate-limit RPM per minute (0 = none)\n"
     "  ls                 keys with their spend; revoke ID|NAME disables one\n"
     "  --store URL        as for datasets\n",
     lo_cmd_keys},
    {"serve", "-m FILE[:NAME] [--lora FILE[:SCALE]]... [-m ...] [--store URL [--deployment NAME ...]] [--host H] [--port P] [--parallel N] [--ctx N] [--threads T] [--api-key KEY | --api-key-file F] [--max-queue N] [--chat-template NAME] [--max-body BYTES]",
     "serve models over an OpenAI-compatible HTTP API (chat, completions, embeddings, SSE, /metrics)",
     "  -m FILE[:NAME]      a GGUF model, served as NAME (default: the file stem); repeatable\n"
     "  --lora FILE[:SCALE] a llama.cpp-format LoRA adapter applied to the -m model before it at\n"
     "                      SCALE (default 1; the text after the last ':' is the scale when it is\n"
     "                      a number); repeatable, applied in order; the base file is not changed\n"
     "  --host H            bind address (default 127.0.0.1; 0.0.0.0 for every interface)\n"
     "  --port P            TCP port (default 8080; 0 = any free port, printed on start)\n"
     "  --parallel N        sequences decoded together per model (default 4)\n"
     "  --ctx N             context positions per sequence (default: the model's, at most 4096)\n"
     "  --threads T         compute threads per model (default: all cores)\n"
     "  --http-threads N    HTTP polling threads (default 2)\n"
     "  --max-queue N       requests waiting for a slot before 429 (default 64)\n"
     "  --api-key KEY       require 'Authorization: Bearer KEY' (all routes but /health)\n"
     "  --api-key-file F    the same, the key read from file F\n"
     "  --chat-template N   chat template family (chatml, llama2, llama3, mistral-v7, ...) instead of\n"
     "                      the one detected from the model's tokenizer.chat_template\n"
     "  --max-body BYTES    largest request body (default 8388608); larger ones get 413\n"
     "  --drain-timeout S   on SIGTERM/SIGINT, wait at most S seconds for requests (default 30)\n"
     "  --no-embeddings     do not serve /v1/embeddings\n"
     " with a store (--store URL or $LLMOPS_STORE; without either no store is opened):\n"
     "  --store URL         sqlite:PATH or postgres://...: serve its deployments by name (canary\n"
     "                      routing, sticky by 'user'), check its API keys (role, budget, rate\n"
     "                      limit), log every request, take feedback and answer /api/...\n"
     "  --deployment NAME   serve only this deployment (repeatable; default: all of them)\n"
     "  --log-content       keep messages and completions in the request log\n"
     "  --no-redact         do not redact e-mails, phone and card numbers in logged content\n"
     "  --log-flush-ms MS   longest a finished request waits to be written (default 200)\n"
     " routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,\n"
     "         GET /health, POST /tokenize, POST /detokenize, GET /metrics (Prometheus); with a\n"
     "         store also POST /v1/feedback and GET /api/... (admin keys)\n"
     " prints 'listening on http://HOST:PORT' to stderr when ready\n",
     lo_cmd_serve},
    {"help", "[COMMAND]", "show the commands, or one command's options", "", cmd_help},
    {"version", "", "print the version", "", cmd_version},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void print_overview(FILE *f) {
    fprintf(f, "llmops %s — a self-hosted LLMOps system\n\nusage: llmops COMMAND [ARGS]\n\ncommands:\n",
            LLMOPS_VERSION);
    for (int i = 0; i < n_commands; i++) fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options: --log-level debug|info|warn|error|off (default warn)\n"
               "`llmops help COMMAND` shows a command's options.\n");
}

static const lo_cli_command *find_command(const char *name) {
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void print_command_help(FILE *f, const lo_cli_command *c) {
    fprintf(f, "usage: llmops %s %s\n\n%s\n", c->name, c->usage, c->summary);
    if (c->help && c->help[0]) fprintf(f, "\noptions:\n%s", c->help);
}

static int cmd_help(int argc, char **argv) {
    if (argc < 2) {
        print_overview(stdout);
        return LO_EXIT_OK;
    }
    const lo_cli_command *c = find_command(argv[1]);
    if (!c) return lo_cli_usage_error("help", "unknown command '%s'", argv[1]);
    print_command_help(stdout, c);
    return LO_EXIT_OK;
}

static int cmd_version(int argc, char **argv) {
    (void)argc, (void)argv;
    printf("llmops %s\n", LLMOPS_VERSION);
    return LO_EXIT_OK;
}

int lo_cli_fail(const char *cmd, lo_status s) {
    const char *msg = lo_error_message();
    fprintf(stderr, "llmops %s: %s\n", cmd, msg[0] ? msg : lo_status_name(s));
    const char *hint = lo_error_hint();
    if (hint[0]) fprintf(stderr, "  hint: %s\n", hint);
    return LO_EXIT_FAIL;
}

int lo_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "llmops %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  see `llmops help %s`\n", cmd);
    return LO_EXIT_USAGE;
}

bool lo_cli_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    lo_log_set_level(LO_LOG_WARN);
    /* Global options come before the command. */
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_overview(stdout);
            return LO_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            return cmd_version(0, NULL);
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            lo_log_level lv;
            if (!lo_log_parse_level(argv[i + 1], &lv))
                return lo_cli_usage_error("help", "--log-level takes debug|info|warn|error|off, not '%s'", argv[i + 1]);
            lo_log_set_level(lv);
            i += 2;
        } else {
            fprintf(stderr, "llmops: unknown global option '%s'\n", argv[i]);
            print_overview(stderr);
            return LO_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_overview(stderr);
        return LO_EXIT_USAGE;
    }
    const lo_cli_command *c = find_command(argv[i]);
    if (!c) {
        fprintf(stderr, "llmops: unknown command '%s'\n\n", argv[i]);
        print_overview(stderr);
        return LO_EXIT_USAGE;
    }
    /* `llmops CMD --help` anywhere in the command's own arguments. */
    for (int j = i + 1; j < argc; j++)
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            print_command_help(stdout, c);
            return LO_EXIT_OK;
        }
    return c->run(argc - i, argv + i);
}
