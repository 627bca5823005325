/*
 * The layers of the Sorbet encoder (spec/06-layers.md) and the model's head
 * (spec/08-model.md), computed on plain arrays from the operator kernels of ops.h:
 * requant (every requantization), dot_count (every binary linear accumulation),
 * ptsm_row (PTsoftmax) and bspn_token (BSPN).
 *
 * Tensors are flat int64_t arrays, row-major, one row per token.  Every
 * intermediate of spec/08, "Trace" is kept (a port's debugging aid, and the
 * profile outputs of the model-level operators).
 */
#ifndef SORBET_LAYERS_H
#define SORBET_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "ops.h"

/* The model configuration (spec/06 and spec/08, "Parameters"), with derived values. */
typedef struct {
    int64_t layers, hidden, heads, ffn, vocab, max_positions, type_vocab, max_seq, num_labels,
        bits, steps, h_width, h_frac, r_width, u_width, u_frac, bspn_group, eps_exp,
        bspn_wexp_min, bspn_wexp_max, bspn_bias_width, bspn_bias_frac, score_width, score_frac,
        partition_frac, prob_frac, multiplier_bits, bias_width, cls_width, cls_frac;
    int64_t head_dim; /* D = hidden / heads */
    int64_t o;        /* 2^(bits-1) */
    int64_t cmax;     /* 2^bits - 1 */
    bspn_cfg bspn;    /* BSPN from format r to format h over hidden channels */
    ptsm_cfg ptsm;    /* PTsoftmax of the score format to prob_frac */
} model_cfg;

/* Read and validate the configuration object; any defect is a `config` rejection. */
int model_config(const jv *config, const char *op, model_cfg *m, result *res);

/* One binary linear layer with its quantizers (spec/06, "Binary linear layer with its
 * quantizers").  signs: out x in, each +1 or -1. */
typedef struct {
    ivec signs, in_bias, out_bias;
    int64_t in_mult, in_shift, out_mult, out_shift;
} lin_params;

typedef struct {
    ivec sign, exp, bias;
} bspn_params;

typedef struct {
    lin_params q, k, v, o, ffn1, ffn2;
    int64_t score_mult, prob_mult, prob_shift;
    bspn_params bspn1, bspn2;
} layer_params;

/* The per-layer trace tensors of spec/08, "Trace", in computation order. */
enum {
    T_CIN_Q, T_CIN_K, T_CIN_V, T_ACC_Q, T_ACC_K, T_ACC_V, T_C_Q, T_C_K, T_C_V,
    T_SCORES, T_PROBS, T_PROB_OFFSET, T_C_PROB, T_CTX, T_CTX_OFFSET, T_CIN_O, T_ACC_O, T_A_O,
    T_R1, T_H1,
    T_CIN_FFN1, T_ACC_FFN1, T_U, T_CIN_FFN2, T_ACC_FFN2, T_A_FFN2, T_R2, T_H2,
    T_COUNT
};
extern const char *const TRACE_NAMES[T_COUNT];

typedef struct {
    int64_t *t[T_COUNT];
    int64_t *kexp; /* scratch: BSPN divisor exponents of one token (not traced) */
} layer_trace;

/* Number of entries of trace tensor `which` for n tokens. */
size_t trace_len(const model_cfg *m, size_t n, int which);
/* Allocate every tensor of a layer trace (0 on success). */
int trace_alloc(arena *a, const model_cfg *m, size_t n, layer_trace *tr);

/* Spiking self-attention, output projection, residual and BSPN_1 (spec/06, steps 1-7):
 * from h (n x hidden, format h) and mask (n entries, 1 = real token) fill the trace
 * tensors T_CIN_Q .. T_H1. */
int attention_block(arena *a, const model_cfg *m, const int64_t *h, const unsigned char *mask,
                    size_t n, const layer_params *lp, layer_trace *tr, result *res);
/* Feed-forward, residual and BSPN_2 (spec/06, steps 8-9): from h1 fill T_CIN_FFN1 .. T_H2. */
int ffn_block(const model_cfg *m, const int64_t *h1, size_t n, const layer_params *lp,
              layer_trace *tr, result *res);

/* Pooler on token 0 (spec/08, "Pooler"): cin, acc, pooled, each `hidden` entries. */
void pooler(const model_cfg *m, const int64_t *h0_row, const lin_params *lp, int64_t *cin,
            int64_t *acc, int64_t *pooled);
/* Integer classifier (spec/08, "Classifier"): logits[num_labels]. */
void classifier(const model_cfg *m, const int64_t *pooled, const int64_t *weight,
                const int64_t *bias, int64_t *logits);

#endif
