// llama.cpp as the oracle for hearth's architecture fixtures: loads a GGUF with llama.cpp (CPU),
// tokenizes a prompt as llama.cpp does (BOS as the vocabulary asks), decodes greedily and prints
// one JSON object: the prompt's ids, the greedy ids, and at every step llama.cpp's top-k logits
// (the distribution the greedy id was picked from) with the margin between its best two.
//
// Built against llama.h only (the public API) by ./build.sh arch-references; its output is
// committed as tests/arch/reference/*.json, so the test suite never builds llama.cpp.
//
//   oracle MODEL N_CTX N_GEN TOP_K PROMPT [PARSE_SPECIAL]
//
// PARSE_SPECIAL 1 tokenizes special tokens written in the prompt (<|im_start|>) as themselves.
//
// The KV cache is F32 and flash attention off, so that llama.cpp's own rounding is only what
// its matrix products do (and, for quantized weights, its 8-bit activations).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * user) {
    (void) user;
    if (level >= GGML_LOG_LEVEL_ERROR) {
        fputs(text, stderr);
    }
}

static bool no_progress(float progress, void * user) {
    (void) progress;
    (void) user;
    return true;
}

static void json_string(const char * s) {
    putchar('"');
    for (const unsigned char * p = (const unsigned char *) s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p);
        } else if (*p < 0x20) {
            printf("\\u%04x", *p);
        } else {
            putchar(*p);
        }
    }
    putchar('"');
}

// The k largest logits (ties: lower id first), as (id, logit) pairs in descending order.
static void top_k(const float * logits, int n_vocab, int k, int * ids) {
    for (int j = 0; j < k; j++) {
        ids[j] = -1;
    }
    for (int i = 0; i < n_vocab; i++) {
        int at = k;
        while (at > 0 && (ids[at - 1] < 0 || logits[i] > logits[ids[at - 1]])) {
            at--;
        }
        if (at < k) {
            memmove(ids + at + 1, ids + at, (size_t) (k - at - 1) * sizeof(int));
            ids[at] = i;
        }
    }
}

int main(int argc, char ** argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: %s MODEL N_CTX N_GEN TOP_K PROMPT [PARSE_SPECIAL]\n", argv[0]);
        return 2;
    }
    const char * path = argv[1];
    const int n_ctx = atoi(argv[2]);
    const int n_gen = atoi(argv[3]);
    const int k = atoi(argv[4]);
    const char * prompt = argv[5];
    const bool special = argc == 7 && atoi(argv[6]) != 0;

    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.progress_callback = no_progress;
    struct llama_model * model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "llama.cpp could not load %s\n", path);
        return 1;
    }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n_ctx;
    cp.n_batch = (uint32_t) n_ctx;
    cp.n_ubatch = (uint32_t) n_ctx;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama.cpp could not create a context\n");
        return 1;
    }

    int n_prompt = -llama_tokenize(vocab, prompt, (int32_t) strlen(prompt), NULL, 0, true, special);
    llama_token * tokens = malloc(sizeof(llama_token) * (size_t) (n_prompt + n_gen));
    if (llama_tokenize(vocab, prompt, (int32_t) strlen(prompt), tokens, n_prompt, true, special) < 0) {
        fprintf(stderr, "tokenizing failed\n");
        return 1;
    }

    printf("{\"prompt\": ");
    json_string(prompt);
    printf(", \"n_ctx\": %d, \"add_bos\": %s, \"parse_special\": %s, \"prompt_ids\": [", n_ctx,
           llama_vocab_get_add_bos(vocab) ? "true" : "false", special ? "true" : "false");
    for (int i = 0; i < n_prompt; i++) {
        printf("%s%d", i ? ", " : "", tokens[i]);
    }
    printf("], \"steps\": [");

    int * ids = malloc(sizeof(int) * (size_t) k);
    struct llama_batch batch = llama_batch_get_one(tokens, n_prompt);
    int n_done = 0;
    for (int s = 0; s < n_gen; s++) {
        if (llama_decode(ctx, batch) != 0) {
            fprintf(stderr, "llama_decode failed at step %d\n", s);
            return 1;
        }
        n_done += batch.n_tokens;
        const float * logits = llama_get_logits_ith(ctx, -1);
        top_k(logits, n_vocab, k, ids);
        printf("%s{\"id\": %d, \"margin\": %.6g, \"top\": [", s ? ", " : "", ids[0], logits[ids[0]] - logits[ids[1]]);
        for (int j = 0; j < k; j++) {
            printf("%s[%d, %.7g]", j ? ", " : "", ids[j], logits[ids[j]]);
        }
        printf("]}");
        tokens[n_done] = ids[0];
        batch = llama_batch_get_one(tokens + n_done, 1);
    }
    printf("], \"greedy_ids\": [");
    for (int s = 0; s < n_gen; s++) {
        printf("%s%d", s ? ", " : "", tokens[n_prompt + s]);
    }
    printf("]}\n");

    free(ids);
    free(tokens);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
