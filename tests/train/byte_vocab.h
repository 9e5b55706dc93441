/* Test fixture for the train suites: a throwaway llama file whose only use is its
 * byte-level SPM vocabulary (259 tokens: 3 specials + 256 bytes), written by gen-model.
 * Include after check.h and llmops/model.h. */
#ifndef LO_TEST_TRAIN_BYTE_VOCAB_H
#define LO_TEST_TRAIN_BYTE_VOCAB_H

static void write_byte_vocab(const char *path) {
    lo_gen_model_params gp = {.arch = "llama",
                              .n_embd = 8,
                              .n_layer = 1,
                              .n_head = 1,
                              .n_head_kv = 1,
                              .n_ff = 8,
                              .n_vocab = 259,
                              .n_ctx = 16,
                              .ftype = LO_FTYPE_ALL_F32,
                              .seed = 1};
    CHECK_OK(lo_model_gen_random(&gp, path));
}

#endif
