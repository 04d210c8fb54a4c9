// llama.cpp's own quantizer as a fixture maker: what `llama-imatrix` then `llama-quantize IN OUT
// TYPE` do, through the public API, so that only libllama is built (./build.sh models, once per
// machine, into the cache outside the clone).
//
//   quantize IN.gguf OUT.gguf TYPE [CALIBRATION.txt]
//
// TYPE: one of the names in `types` below; TYPE-pure as `llama-quantize --pure` (every tensor of
// the type where its rows allow, no mixture). With CALIBRATION.txt the file is quantized with an
// importance matrix made from that text, as llama-imatrix makes one (llama.cpp refuses IQ3_XXS,
// IQ2_* and IQ1_* without): IN is run over the text in chunks of CHUNK tokens and, for every
// matrix product with a layer's weight, the mean square of each input column is kept.
// Deterministic: llama.cpp's CPU matrix products give each output to one thread, and the sums
// are taken in graph order on one thread.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

enum { CHUNK = 128, MAX_ENTRIES = 1024 };

// The running sums of one weight's input columns.
struct entry {
    char name[GGML_MAX_NAME];
    double * sum;
    long n_cols;
    long count;
};

struct imatrix {
    struct entry entries[MAX_ENTRIES];
    int n;
    float * copy;
    size_t copy_bytes;
};

static struct entry * entry_for(struct imatrix * m, const char * name, long n_cols) {
    for (int i = 0; i < m->n; i++) {
        if (strcmp(m->entries[i].name, name) == 0) {
            return m->entries[i].n_cols == n_cols ? &m->entries[i] : NULL;
        }
    }
    if (m->n == MAX_ENTRIES) {
        return NULL;
    }
    struct entry * e = &m->entries[m->n++];
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->sum = calloc((size_t) n_cols, sizeof(double));
    e->n_cols = n_cols;
    e->count = 0;
    return e->sum ? e : NULL;
}

// ggml's evaluation callback: asked first whether a node is wanted, then given it computed.
// Wanted: products of a layer's 2-D weight with a batch of f32 activations (llama-imatrix also
// skips batches under 16 rows).
static bool collect(struct ggml_tensor * t, bool ask, void * user) {
    struct imatrix * m = user;
    const struct ggml_tensor * w = t->src[0];
    const struct ggml_tensor * x = t->src[1];
    if (ask) {
        return t->op == GGML_OP_MUL_MAT && strncmp(w->name, "blk.", 4) == 0 && w->ne[2] == 1 && w->ne[3] == 1 &&
               x->type == GGML_TYPE_F32 && x->ne[1] >= 16;
    }
    const size_t bytes = ggml_nbytes(x);
    if (bytes > m->copy_bytes) {
        free(m->copy);
        m->copy = malloc(bytes);
        m->copy_bytes = m->copy ? bytes : 0;
    }
    struct entry * e = entry_for(m, w->name, x->ne[0]);
    if (!m->copy || !e) {
        fprintf(stderr, "importance matrix: out of memory or a weight seen with two widths (%s)\n", w->name);
        exit(1);
    }
    ggml_backend_tensor_get(x, m->copy, 0, bytes);
    for (long i3 = 0; i3 < x->ne[3]; i3++) {
        for (long i2 = 0; i2 < x->ne[2]; i2++) {
            for (long row = 0; row < x->ne[1]; row++) {
                const float * v = (const float *) ((const char *) m->copy + row * x->nb[1] + i2 * x->nb[2] + i3 * x->nb[3]);
                for (long j = 0; j < e->n_cols; j++) {
                    e->sum[j] += (double) v[j] * v[j];
                }
                e->count++;
            }
        }
    }
    return true;
}

static bool no_progress(float progress, void * user) {
    (void) progress;
    (void) user;
    return true;
}

static char * read_text(const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char * s = malloc((size_t) n + 1);
    if (s && fread(s, 1, (size_t) n, f) == (size_t) n) {
        s[n] = '\0';
    } else {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

// Runs `path` over the text in whole chunks of CHUNK tokens (each from an empty cache, every
// position an output so that the last layer sees the whole batch) and fills `m`.
static int make_imatrix(const char * path, const char * text_path, struct imatrix * m) {
    char * text = read_text(text_path);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", text_path);
        return 1;
    }
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.progress_callback = no_progress;
    struct llama_model * model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "llama.cpp could not load %s\n", path);
        return 1;
    }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = CHUNK;
    cp.n_batch = CHUNK;
    cp.n_ubatch = CHUNK;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.cb_eval = collect;
    cp.cb_eval_user_data = m;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama.cpp could not create a context\n");
        return 1;
    }
    const int32_t len = (int32_t) strlen(text);
    const int n_tokens = -llama_tokenize(vocab, text, len, NULL, 0, false, true);
    llama_token * tokens = malloc(sizeof(llama_token) * (size_t) n_tokens);
    if (!tokens || llama_tokenize(vocab, text, len, tokens, n_tokens, false, true) != n_tokens) {
        fprintf(stderr, "tokenizing %s failed\n", text_path);
        return 1;
    }
    if (n_tokens < CHUNK) {
        fprintf(stderr, "%s has %d tokens, under one chunk of %d\n", text_path, n_tokens, CHUNK);
        return 1;
    }
    struct llama_batch batch = llama_batch_init(CHUNK, 0, 1);
    for (int start = 0; start + CHUNK <= n_tokens; start += CHUNK) {
        llama_memory_clear(llama_get_memory(ctx), true);
        batch.n_tokens = CHUNK;
        for (int i = 0; i < CHUNK; i++) {
            batch.token[i] = tokens[start + i];
            batch.pos[i] = i;
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = 1;
        }
        if (llama_decode(ctx, batch) != 0) {
            fprintf(stderr, "llama_decode failed at token %d\n", start);
            return 1;
        }
    }
    llama_batch_free(batch);
    free(tokens);
    free(text);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

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
        {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL},
        {"IQ3_XXS", LLAMA_FTYPE_MOSTLY_IQ3_XXS},
        {"IQ2_XS", LLAMA_FTYPE_MOSTLY_IQ2_XS},
        {"IQ1_M", LLAMA_FTYPE_MOSTLY_IQ1_M},
    };
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE [CALIBRATION.txt]\n", argv[0]);
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
    static struct imatrix m;
    struct llama_model_imatrix_data * data = NULL;
    if (argc == 5) {
        if (make_imatrix(argv[1], argv[4], &m) != 0) {
            return 1;
        }
        data = calloc((size_t) m.n + 1, sizeof(*data));
        for (int i = 0; i < m.n; i++) {
            const struct entry * e = &m.entries[i];
            float * mean = malloc(sizeof(float) * (size_t) e->n_cols);
            for (long j = 0; j < e->n_cols; j++) {
                mean[j] = (float) (e->sum[j] / (double) e->count);
            }
            data[i] = (struct llama_model_imatrix_data) {e->name, mean, (size_t) e->n_cols};
        }
        p.imatrix = data;  // ends with a zeroed entry (name NULL)
    }
    const uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
    llama_backend_free();
    if (rc != 0) {
        fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
        return 1;
    }
    return 0;
}
