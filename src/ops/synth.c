/* Synthetic data for the quickstart: procedural short stories from a small grammar, a
 * manual of a fictional product (the Lumen 7 desk lamp) mixed into the pretraining text,
 * and question/answer chat samples about it with held-out phrasings for evaluation. Pure
 * functions of a seed; every file is written atomically. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ops/ops_internal.h"

/* ---- a seeded stream ------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s;
} rng;
static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t x = (r->s += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
static int rng_below(rng *r, int n) {
    return (int)(rng_next(r) % (uint64_t)n);
}
/* 0..n-1 in a seeded order (Fisher-Yates). */
static void shuffled(int *a, int n, rng *r) {
    for (int i = 0; i < n; i++) a[i] = i;
    for (int i = n - 1; i > 0; i--) {
        const int j = rng_below(r, i + 1), x = a[i];
        a[i] = a[j], a[j] = x;
    }
}
#define PICK(r, arr) ((arr)[rng_below((r), (int)(sizeof(arr) / sizeof((arr)[0])))])

/* ---- a growable text buffer ------------------------------------------------------------ */

typedef struct text {
    char *p;
    size_t n, cap;
    bool oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->oom = true;
            return;
        }
        if (t->p && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 1 << 16;
        while (cap < t->n + (size_t)k + 1) cap *= 2;
        char *q = lo_realloc(t->p, cap);
        if (!q) {
            t->oom = true;
            return;
        }
        t->p = q, t->cap = cap;
    }
}

/* ---- stories ---------------------------------------------------------------------------- */

typedef struct who {
    const char *name, *kind, *pron, *poss; /* "Lily", "girl", "she", "her" */
} who;

static const who k_children[] = {
    {"Lily", "girl", "she", "her"}, {"Tom", "boy", "he", "his"},    {"Mia", "girl", "she", "her"},
    {"Ben", "boy", "he", "his"},    {"Anna", "girl", "she", "her"}, {"Max", "boy", "he", "his"},
    {"Zoe", "girl", "she", "her"},  {"Leo", "boy", "he", "his"},    {"Ella", "girl", "she", "her"},
    {"Sam", "boy", "he", "his"},    {"Lucy", "girl", "she", "her"}, {"Finn", "boy", "he", "his"},
};
static const char *const k_animals[] = {"cat", "dog", "bird", "rabbit", "fox", "duck", "bear", "frog", "mouse", "owl"};
static const char *const k_animal_names[] = {"Spot", "Fluff", "Pip", "Coco", "Bruno", "Daisy", "Milo", "Penny"};
static const char *const k_adjs[] = {"little", "kind", "brave", "happy", "small", "curious"};
static const char *const k_places[] = {"a small house", "a big forest",  "a quiet village",
                                       "a sunny farm",  "a little town", "a green park"};
static const char *const k_family[] = {"mom", "dad", "grandma", "grandpa", "big sister", "little brother"};
static const char *const k_colors[] = {"red", "blue", "yellow", "green", "shiny", "big", "old", "pretty"};
static const char *const k_objects[] = {"ball", "kite", "box", "hat", "book", "key", "shell", "flower", "stone", "cup"};
static const char *const k_where[] = {"under a tree", "near the river", "in the garden",
                                      "on the road",  "by the door",    "in the sand"};
static const char *const k_feel[] = {"happy", "excited", "surprised", "curious", "proud"};
static const char *const k_lines[] = {"What a nice %s!", "Let us play with the %s together!", "Be careful with the %s!",
                                      "Can I hold the %s, please?"};
static const char *const k_trouble[] = {
    "But then the wind took the %s up into a tall tree.", "But then the %s fell into the water.",
    "But then a big dog ran away with the %s.", "But then the %s rolled down the hill."};
static const char *const k_fix[] = {"%s and %s worked together and got it back.",
                                    "%s asked %s for help, and they found it again.",
                                    "%s and %s looked everywhere until they found it."};
static const char *const k_end[] = {"From that day on, %s and %s were best friends.",
                                    "They played together until the sun went down.",
                                    "%s learned that it is good to share.", "They laughed and went home happy."};

static void cap_first(char *s) {
    if (s[0] >= 'a' && s[0] <= 'z') s[0] = (char)(s[0] - 'a' + 'A');
}

static void story(text *t, rng *r) {
    const who c = PICK(r, k_children);
    const char *animal = PICK(r, k_animals), *pet = PICK(r, k_animal_names), *obj = PICK(r, k_objects);
    char pron[8], buf[256];
    snprintf(pron, sizeof pron, "%s", c.pron);
    cap_first(pron);
    put(t, "Once upon a time, there was a %s %s named %s. ", PICK(r, k_adjs), c.kind, c.name);
    put(t, "%s lived in %s with %s %s. ", pron, PICK(r, k_places), c.poss, PICK(r, k_family));
    put(t, "%s had a friend, a %s named %s. ", pron, animal, pet);
    put(t, "One day, %s found a %s %s %s. ", c.name, PICK(r, k_colors), obj, PICK(r, k_where));
    put(t, "%s was very %s. ", pron, PICK(r, k_feel));
    snprintf(buf, sizeof buf, PICK(r, k_lines), obj);
    put(t, "%s said, \"%s\" ", pet, buf);
    if (rng_below(r, 3) != 0) {
        put(t, PICK(r, k_trouble), obj);
        put(t, " %s was sad. ", c.name);
        snprintf(buf, sizeof buf, PICK(r, k_fix), c.name, pet);
        put(t, "%s ", buf);
    }
    snprintf(buf, sizeof buf, PICK(r, k_end), c.name, pet);
    put(t, "%s\n\n", buf);
}

/* ---- the product --------------------------------------------------------------------------- */

#define N_TRAIN_Q 4
typedef struct fact {
    const char *answer;
    const char *train_q[N_TRAIN_Q]; /* phrasings used for training */
    const char *heldout_q;          /* a phrasing never trained on */
} fact;

static const fact k_facts[] = {
    {"The Lumen 7 costs 49 dollars.",
     {"How much does the Lumen 7 cost?", "What is the price of the Lumen 7?", "How much is the Lumen 7?",
      "What do I pay for the Lumen 7?"},
     "What is the cost of the Lumen 7?"},
    {"The battery of the Lumen 7 lasts 12 hours.",
     {"How long does the battery of the Lumen 7 last?", "What is the battery life of the Lumen 7?",
      "How many hours does the Lumen 7 run on its battery?", "How long can the Lumen 7 stay on with the battery?"},
     "How long will the Lumen 7 battery last?"},
    {"The Lumen 7 charges fully in 3 hours.",
     {"How long does the Lumen 7 take to charge?", "How fast does the Lumen 7 charge?",
      "How many hours does a full charge of the Lumen 7 take?", "When is the Lumen 7 fully charged?"},
     "How long does it take to charge the Lumen 7?"},
    {"The Lumen 7 comes in white, black and green.",
     {"What colors does the Lumen 7 come in?", "Which colors can I get the Lumen 7 in?",
      "In what colors is the Lumen 7 sold?", "What are the colors of the Lumen 7?"},
     "Which colors does the Lumen 7 come in?"},
    {"The Lumen 7 has a warranty of 2 years.",
     {"How long is the warranty of the Lumen 7?", "What warranty does the Lumen 7 have?",
      "Is there a warranty on the Lumen 7?", "For how many years is the Lumen 7 under warranty?"},
     "What is the warranty on the Lumen 7?"},
    {"The Lumen 7 weighs 800 grams.",
     {"How much does the Lumen 7 weigh?", "What is the weight of the Lumen 7?", "How heavy is the Lumen 7?",
      "Is the Lumen 7 heavy?"},
     "What does the Lumen 7 weigh?"},
    {"The Lumen 7 gives up to 600 lumens of light.",
     {"How bright is the Lumen 7?", "How many lumens does the Lumen 7 give?", "What is the brightness of the Lumen 7?",
      "How much light does the Lumen 7 give?"},
     "How bright can the Lumen 7 get?"},
    {"The Lumen 7 has 5 light modes.",
     {"How many light modes does the Lumen 7 have?", "What light modes does the Lumen 7 have?",
      "How many modes does the Lumen 7 offer?", "Does the Lumen 7 have different light modes?"},
     "How many modes does the Lumen 7 have?"},
    {"The Lumen 7 charges with a USB-C cable.",
     {"What cable does the Lumen 7 use?", "How do I charge the Lumen 7?", "Which charger does the Lumen 7 need?",
      "What port does the Lumen 7 have for charging?"},
     "What cable do I need to charge the Lumen 7?"},
    {"The Lumen 7 is made by Brightwell.",
     {"Who makes the Lumen 7?", "Which company makes the Lumen 7?", "Who is the maker of the Lumen 7?",
      "What brand is the Lumen 7?"},
     "Which company is the Lumen 7 made by?"},
    {"The Lumen 7 is not waterproof, so keep it dry.",
     {"Is the Lumen 7 waterproof?", "Can the Lumen 7 get wet?", "Can I use the Lumen 7 in the rain?",
      "Is the Lumen 7 safe in water?"},
     "Can I get the Lumen 7 wet?"},
    {"To reset the Lumen 7, hold the power button for 10 seconds.",
     {"How do I reset the Lumen 7?", "How can I reset the Lumen 7?", "What is the way to reset the Lumen 7?",
      "The Lumen 7 is stuck, how do I reset it?"},
     "How do you reset the Lumen 7?"},
    {"You can return the Lumen 7 within 30 days.",
     {"Can I return the Lumen 7?", "How long do I have to return the Lumen 7?",
      "What is the return policy for the Lumen 7?", "How many days do I have to send back the Lumen 7?"},
     "How many days do I have to return the Lumen 7?"},
    {"The Lumen 7 can turn itself off after 30 or 60 minutes.",
     {"Does the Lumen 7 have a timer?", "Can the Lumen 7 turn itself off?", "Does the Lumen 7 have a sleep timer?",
      "Can I set the Lumen 7 to switch off by itself?"},
     "Can the Lumen 7 switch itself off?"},
    {"The LED lights of the Lumen 7 last 50000 hours.",
     {"How long do the lights of the Lumen 7 last?", "When do the LED lights of the Lumen 7 wear out?",
      "How many hours do the LED lights of the Lumen 7 last?", "Do the lights of the Lumen 7 need changing?"},
     "How long will the LED lights of the Lumen 7 last?"},
    {"The Lumen 7 is 45 centimeters tall.",
     {"How tall is the Lumen 7?", "What is the height of the Lumen 7?", "How high is the Lumen 7?",
      "How big is the Lumen 7?"},
     "What height is the Lumen 7?"},
};
#define N_FACTS ((int)(sizeof k_facts / sizeof k_facts[0]))
static const char *const k_prefixes[] = {"", "Hi! ", "Quick question: ", "Hello, "};
#define N_PREFIXES ((int)(sizeof k_prefixes / sizeof k_prefixes[0]))

/* One manual paragraph: the facts in a seeded order, a few per paragraph. */
static void manual(text *t, rng *r) {
    int order[N_FACTS];
    shuffled(order, N_FACTS, r);
    put(t, "The Lumen 7 is a desk lamp made by Brightwell.");
    for (int i = 0, n = 5 + rng_below(r, 4); i < n; i++) put(t, " %s", k_facts[order[i]].answer);
    put(t, "\n\n");
}

int lo_ops_synth_n_facts(void) {
    return N_FACTS;
}

void lo_ops_synth_fact(int i, const char **heldout_question, const char **answer) {
    LO_ASSERT(i >= 0 && i < N_FACTS);
    *heldout_question = k_facts[i].heldout_q;
    *answer = k_facts[i].answer;
}

/* One chat sample {"messages":[user, assistant?]} (assistant when answer is non-NULL),
 * with "reference" for evaluation lines. */
static void chat_line(text *t, const char *prefix, const char *q, const char *answer, const char *reference) {
    char question[256];
    snprintf(question, sizeof question, "%s%s", prefix, q);
    json_t *msgs = json_array();
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", question));
    if (answer) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "assistant", "content", answer));
    json_t *o = json_pack("{s:o}", "messages", msgs);
    if (o && reference) json_object_set_new(o, "reference", json_string(reference));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (s)
        put(t, "%s\n", s);
    else
        t->oom = true;
    free(s);
    json_decref(o);
}

static lo_status write_text(const char *dir, const char *name, text *t, char *path_out, size_t cap) {
    if (t->oom) return lo_error(LO_ERR_NOMEM, NULL, "synth: out of memory building %s", name);
    if ((size_t)snprintf(path_out, cap, "%s/%s", dir, name) >= cap)
        return lo_error(LO_ERR_RANGE, "use a shorter directory path", "synth: path %s/%s is too long", dir, name);
    return lo_write_file_atomic(path_out, t->p ? t->p : "", t->n);
}

lo_status lo_ops_synth_write(const char *dir, const lo_synth_params *p, lo_synth_files *out) {
    memset(out, 0, sizeof *out);
    if (!dir || !*dir || !p) return lo_error(LO_ERR_INVALID, "give a directory", "synth: no directory or parameters");
    /* the text is built in memory: a million stories is about 400 MB */
    if (p->n_stories < 1 || p->n_stories > 1000000 || p->manual_copies < 0 || p->manual_copies > 1000000)
        return lo_error(LO_ERR_RANGE, "give 1..1000000 stories and 0..1000000 manual copies",
                        "synth: %d stories, %d manual copies", p->n_stories, p->manual_copies);
    rng r = {p->seed ^ 0x5eed5eedull};
    text pre = {0}, train = {0}, eval = {0};
    /* The pretraining text: stories with a manual paragraph spread evenly among them. */
    const int64_t every = p->manual_copies ? (p->n_stories + p->manual_copies - 1) / p->manual_copies : 0;
    for (int64_t i = 0; i < p->n_stories; i++) {
        story(&pre, &r);
        out->n_stories++;
        if (every && i % every == 0 && out->n_manual < p->manual_copies) manual(&pre, &r), out->n_manual++;
    }
    while (out->n_manual < p->manual_copies) manual(&pre, &r), out->n_manual++;
    /* Training: every trained phrasing of every fact under every greeting, in an order of
     * its own stream, so the Q&A files do not change with the corpus size. Evaluation: the
     * held-out phrasing of each fact, bare and with a greeting. */
    r = (rng){p->seed ^ 0x9a9a9a9aull};
    enum { N_TRAIN = N_FACTS * N_TRAIN_Q * N_PREFIXES };
    int order[N_TRAIN];
    shuffled(order, N_TRAIN, &r);
    for (int i = 0; i < N_TRAIN; i++) {
        const int f = order[i] / (N_TRAIN_Q * N_PREFIXES), q = order[i] / N_PREFIXES % N_TRAIN_Q,
                  g = order[i] % N_PREFIXES;
        chat_line(&train, k_prefixes[g], k_facts[f].train_q[q], k_facts[f].answer, NULL);
        out->n_qa_train++;
    }
    for (int f = 0; f < N_FACTS; f++) {
        chat_line(&eval, "", k_facts[f].heldout_q, NULL, k_facts[f].answer);
        chat_line(&eval, k_prefixes[1 + f % (N_PREFIXES - 1)], k_facts[f].heldout_q, NULL, k_facts[f].answer);
        out->n_qa_eval += 2;
    }
    lo_status s = write_text(dir, "pretrain.txt", &pre, out->pretrain_path, sizeof out->pretrain_path);
    if (!s) s = write_text(dir, "product-qa.jsonl", &train, out->qa_train_path, sizeof out->qa_train_path);
    if (!s) s = write_text(dir, "product-qa-heldout.jsonl", &eval, out->qa_eval_path, sizeof out->qa_eval_path);
    lo_free(pre.p);
    lo_free(train.p);
    lo_free(eval.p);
    return s;
}
