// llama.cpp's own quantizer as a fixture maker: what `llama-quantize IN OUT TYPE` does, through
// the public API (llama_model_quantize, default parameters: no importance matrix), so that only
// libllama is built (./build.sh models, once per machine, into the cache outside the clone).
//
//   quantize IN.gguf OUT.gguf TYPE      TYPE: Q5_K_M, Q5_1, BF16, IQ4_XS, Q3_K_M, Q2_K or IQ3_M;
//                                       TYPE-pure as `llama-quantize --pure` (every tensor of
//                                       the type where its rows allow, no mixture)
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
        {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
        {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},
        {"IQ3_M", LLAMA_FTYPE_MOSTLY_IQ3_M},
    };
    if (argc != 4) {
        fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE\n", argv[0]);
        return 2;
    }
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    char name[32];
    snprintf(name, sizeof(name), "%s", argv[3]);
    char * suffix = strstr(name, "-pure");
    if (suffix != NULL && suffix[5] == '\0') {
        p.pure = 1;
        *suffix = '\0';
    }
    int found = 0;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(name, types[i].name) == 0) {
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
