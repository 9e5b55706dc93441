/* The whole public API of libllmops: one include per module, lowest layer first. */
#ifndef LLMOPS_H
#define LLMOPS_H

#include "llmops/base.h"
#include "llmops/tensor.h"
#include "llmops/gguf.h"
#include "llmops/store.h"
#include "llmops/net.h"
#include "llmops/tokenizer.h"
#include "llmops/metrics.h"
#include "llmops/model.h"
#include "llmops/infer.h"
#include "llmops/train.h"
#include "llmops/server.h"
#include "llmops/ops.h"

#define LLMOPS_VERSION "0.1.0"

#endif
