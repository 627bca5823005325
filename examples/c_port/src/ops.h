/*
 * The operators of the Sorbet integer specification and the checks they share.
 *
 * Each operator reads its configuration object (every field of the named
 * configuration, validated against the ranges of its spec section) and its inputs
 * from a parsed request, and either writes its outputs as a JSON object into
 * result.out or rejects the request with one of the classes of
 * spec/11-backend-protocol.md: "config", "range", "shape", "mask".
 *
 * Order of checks (spec/01-formats.md, "Errors": a port need only reject; this one
 * also reports the defect the reference reports first):
 *   1. the configuration (unknown, missing or out-of-range fields: config);
 *   2. each input field in the operator's argument order: missing or not the
 *      expected JSON kind (shape; mask for a PTsoftmax mask), an element that is not
 *      an integer (range);
 *   3. the operator's own checks, a tensor's length before its elements.
 */
#ifndef SORBET_OPS_H
#define SORBET_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef enum { RES_OK = 0, RES_REJECT = 1, RES_ERROR = 2 } res_status;

typedef struct {
    res_status status;
    const char *cls; /* rejection class when RES_REJECT */
    char msg[512];
    sbuf out; /* the outputs object when RES_OK */
} result;

/* Record a rejection (class cls) or an internal error (cls NULL); returns -1. */
int reject(result *res, const char *cls, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------ configuration */

typedef struct {
    const jv *obj;
    const char *op;
    result *res;
} cfgreader;

/* The config must be an object with only the names in `fields` (NULL-terminated)
 * and every name of `required` (NULL-terminated). */
int cfg_open(cfgreader *c, const jv *config, const char *op, const char *const *fields,
             const char *const *required, result *res);
/* An integer field in [lo, hi]; if absent (an optional field) *out = dflt. */
int cfg_int(cfgreader *c, const char *name, int64_t lo, int64_t hi, int64_t dflt, int64_t *out);
/* A boolean field: JSON true or false only (an integer is a config fault). */
int cfg_bool(cfgreader *c, const char *name, int *out);

/* ------------------------------------------------------------ inputs */

typedef struct {
    const int64_t *v; /* points into the request or into `store` */
    size_t n;
} ivec;

/* A list of integers: missing or not a list -> shape; a non-integer element -> range. */
int in_int_list(arena *a, const jv *inputs, const char *name, ivec *out, result *res);
/* One integer: missing -> shape; not an integer -> range. */
int in_int(const jv *inputs, const char *name, int64_t *out, result *res);
/* Every element in [lo, hi], else `cls` naming the first bad index. */
int check_elems(const ivec *v, const char *name, int64_t lo, int64_t hi, const char *cls,
                result *res);
int check_len(const ivec *v, const char *name, size_t expected, const char *cls, result *res);

/* Range of a signed format of `width` bits: [-2^(width-1), 2^(width-1) - 1]. */
int64_t signed_min(int width);
int64_t signed_max(int width);

/* floor(v / 2^s) for 0 <= s <= 62, written without shifting a negative value. */
int64_t floor_div_pow2(int64_t v, int s);

/* The IF encoder's parameters (bits, steps), shared by if_encode and binary_linear. */
int spike_config(cfgreader *c, int64_t *bits, int64_t *steps);

/* ------------------------------------------------------------ kernels
 * The computations of the operators on plain arrays, without JSON: each operator
 * below and the model-level layers (layers.c) call these, so no operator's
 * algorithm exists twice in the port.  Callers validate the arguments first. */

/* requant(x; M, B, s, lo, hi) = clamp(round_half_even((x*M + B) / 2^s), lo, hi)
 * (spec/04, "Quantizer"; spec/06, "Requantization"); |x*M + B| < 2^62, 0 <= s <= 62. */
int64_t requant(int64_t x, int64_t mult, int64_t bias, int shift, int64_t lo, int64_t hi);

/* acc = sum_j (counts[j] - offset) * signs[j] over n inputs (spec/05, count level). */
int64_t dot_count(const int64_t *counts, const int64_t *signs, size_t n, int64_t offset);

typedef struct {
    int score_frac, partition_frac, out_frac;
} ptsm_cfg;

/* PTsoftmax of one row of n scores (spec/02); live[i] = 0 masks entry i.  s and e are
 * scratch arrays of n entries; writes out[0..n-1], the partition Z and K (-1 when every
 * entry is masked). */
void ptsm_row(const ptsm_cfg *c, const int64_t *x, const unsigned char *live, size_t n,
              int64_t *s, uint64_t *e, int64_t *out, uint64_t *partition, int *k_out);

typedef struct {
    int64_t channels, group_size, in_width, in_frac, eps_exp, weight_exp_min, weight_exp_max,
        bias_width, bias_frac, out_width, out_frac;
} bspn_cfg;

/* BSPN of one token of `channels` values (spec/03): out[channels], kexp[channels /
 * group_size].  Returns -1 (an internal error in res) only if a proven width were
 * exceeded, which no valid configuration allows. */
int bspn_token(const bspn_cfg *bc, const int64_t *x, const int64_t *wsign, const int64_t *wexp,
               const int64_t *bias, int64_t *out, int64_t *kexp, result *res);

/* ------------------------------------------------------------ operators */

int op_ptsoftmax(arena *a, const jv *config, const jv *inputs, result *res);
int op_bspn(arena *a, const jv *config, const jv *inputs, result *res);
int op_quantize(arena *a, const jv *config, const jv *inputs, result *res);
int op_if_encode(arena *a, const jv *config, const jv *inputs, result *res);
int op_binary_linear(arena *a, const jv *config, const jv *inputs, result *res);
/* The model-level operators of spec/06 and spec/08 (op_layers.c). */
int op_attention(arena *a, const jv *config, const jv *inputs, result *res);
int op_ffn(arena *a, const jv *config, const jv *inputs, result *res);
int op_encoder_layer(arena *a, const jv *config, const jv *inputs, result *res);
int op_model(arena *a, const jv *config, const jv *inputs, result *res);

#endif
