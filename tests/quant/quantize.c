// llama.cpp's own quantizer as a fixture maker: what `llama-quantize IN OUT TYPE` does, through
// the public API (llama_model_quantize, default parameters: no importance matrix), so that only
// libllama is built (./build.sh models, once per machine, into the cache outside the clone).
//
//   quantize IN.gguf OUT.gguf TYPE      TYPE: Q5_K_M, Q5_1, BF16 or IQ4_XS
#include <stdio.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * user) {
    (void) user;
    if (level >= GGML_LOG_LEVEL_ERROR) {
        fputs(text, stderr);
    }
}

int main(int argc, char ** argv) {
    static const struct {
        const char * name;
        enum llama_ftype ftype;
    } types[] = {
        {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M},
        {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
        {"BF16", LLAMA_FTYPE_MOSTLY_BF16},
        {"IQ4_XS", LLAMA_FTYPE_MOSTLY_IQ4_XS},
    };
    if (argc != 4) {
        fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE\n", argv[0]);
        return 2;
    }
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    int found = 0;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(argv[3], types[i].name) == 0) {
            p.ftype = types[i].ftype;
            found = 1;
        }
    }
    if (!found) {
        fprintf(stderr, "unknown type %s\n", argv[3]);
        return 2;
    }
    p.nthread = 2;
    llama_log_set(quiet, NULL);
    llama_backend_init();
    const uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
    llama_backend_free();
    if (rc != 0) {
        fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
        return 1;
    }
    return 0;
}
