/*
 * The model-level operators on the wire: "attention", "ffn", "encoder_layer" and
 * "model" (spec/06-layers.md, spec/08-model.md, "Operators of the vectors").
 *
 * Inputs: h (flat n x hidden; n = len(h) / hidden), mask (n values 0/1), and per
 * linear layer P the fields P.signs (flat out x in, +1/-1), P.in_mult, P.in_shift,
 * P.in_bias, P.out_mult, P.out_shift, P.out_bias; score_mult, prob_mult, prob_shift;
 * bspn1.weight_sign, bspn1.weight_exp, bspn1.bias and the same for bspn2.  The model
 * operator prefixes each layer's fields with "layer.{i}." and adds pooler.*,
 * cls_weight (flat num_labels x hidden) and cls_bias.
 *
 * Outputs: the normative tensor (h1, h2, or hidden, pooled and logits) and every
 * trace tensor of spec/08, "Trace" the operator declares as a profile output, flat.
 *
 * Order of checks (the rejection class is that of the first defect found):
 *   1. the configuration (config);
 *   2. decoding, in this order: h (missing or not a list: shape; a non-integer
 *      element: range; a length that is not a multiple of hidden: shape), mask
 *      (missing: shape; not a list, or an entry other than 0 or 1: mask), then the
 *      parameters layer by layer, q k v o ffn1 ffn2 (each: signs, with a length
 *      other than out x in a shape fault and an entry other than +-1 a range fault;
 *      in_mult, in_shift, in_bias, out_mult, out_shift, out_bias), score_mult,
 *      prob_mult, prob_shift, bspn1, bspn2; then pooler, cls_weight, cls_bias.  A
 *      missing field is a shape fault, a scalar that is not an integer a range fault;
 *   3. the sequence: 1 <= n <= max_seq (shape), every h in format h (range); the
 *      mask's length n (mask);
 *   4. the parameters against the configuration, layer by layer (attention part,
 *      then feed-forward part), then the head: a multiplier outside
 *      [1, 2^multiplier_bits - 1] or a shift outside [0, 62] is a config fault (they
 *      are configuration constants of the layer), a bias or BSPN vector of the wrong
 *      length a shape fault, an entry outside its format a range fault.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "layers.h"

#define NAME_MAX_LEN 96

typedef struct {
    unsigned char *live;
    size_t n;
} maskv;

enum { PART_ATT = 1, PART_FFN = 2, PART_ALL = 3 };

/* dst = a b c (field and key names are short: at most "layer.63.ffn2.weight_sign"). */
static const char *join3(char *dst, const char *a, const char *b, const char *c) {
    const char *parts[3];
    size_t k, len = 0;
    parts[0] = a;
    parts[1] = b;
    parts[2] = c;
    for (k = 0; k < 3; k++) {
        size_t m = strlen(parts[k]);
        if (len + m >= NAME_MAX_LEN) {
            m = NAME_MAX_LEN - 1 - len;
        }
        memcpy(dst + len, parts[k], m);
        len += m;
    }
    dst[len] = '\0';
    return dst;
}

/* ------------------------------------------------------------ decoding */

static int dec_int(const jv *in, const char *p, const char *name, int64_t *out, result *res) {
    char b[NAME_MAX_LEN];
    return in_int(in, join3(b, p, name, ""), out, res);
}

static int dec_list(arena *a, const jv *in, const char *p, const char *name, ivec *out,
                    result *res) {
    char b[NAME_MAX_LEN];
    return in_int_list(a, in, join3(b, p, name, ""), out, res);
}

static int dec_linear(arena *a, const jv *in, const char *p, const char *lname, size_t nin,
                      size_t nout, lin_params *lp, result *res) {
    char base[NAME_MAX_LEN];
    size_t k;
    join3(base, p, lname, ".");
    if (dec_list(a, in, base, "signs", &lp->signs, res)) {
        return -1;
    }
    if (lp->signs.n != nin * nout) {
        return reject(res, "shape", "inputs.%ssigns: expected %lu x %lu = %lu entries, got %lu",
                      base, (unsigned long)nout, (unsigned long)nin,
                      (unsigned long)(nin * nout), (unsigned long)lp->signs.n);
    }
    for (k = 0; k < lp->signs.n; k++) {
        if (lp->signs.v[k] != 1 && lp->signs.v[k] != -1) {
            return reject(res, "range", "inputs.%ssigns[%lu]: expected -1 or +1, got %" PRId64,
                          base, (unsigned long)k, lp->signs.v[k]);
        }
    }
    return dec_int(in, base, "in_mult", &lp->in_mult, res) ||
                   dec_int(in, base, "in_shift", &lp->in_shift, res) ||
                   dec_list(a, in, base, "in_bias", &lp->in_bias, res) ||
                   dec_int(in, base, "out_mult", &lp->out_mult, res) ||
                   dec_int(in, base, "out_shift", &lp->out_shift, res) ||
                   dec_list(a, in, base, "out_bias", &lp->out_bias, res)
               ? -1
               : 0;
}

static int dec_bspn(arena *a, const jv *in, const char *p, const char *bname, bspn_params *bp,
                    result *res) {
    char base[NAME_MAX_LEN];
    join3(base, p, bname, ".");
    return dec_list(a, in, base, "weight_sign", &bp->sign, res) ||
                   dec_list(a, in, base, "weight_exp", &bp->exp, res) ||
                   dec_list(a, in, base, "bias", &bp->bias, res)
               ? -1
               : 0;
}

static int dec_layer(arena *a, const jv *in, const char *p, const model_cfg *m, int part,
                     layer_params *lp, result *res) {
    const size_t H = (size_t)m->hidden, FF = (size_t)m->ffn;
    memset(lp, 0, sizeof(*lp));
    if ((part & PART_ATT) &&
        (dec_linear(a, in, p, "q", H, H, &lp->q, res) ||
         dec_linear(a, in, p, "k", H, H, &lp->k, res) ||
         dec_linear(a, in, p, "v", H, H, &lp->v, res) ||
         dec_linear(a, in, p, "o", H, H, &lp->o, res))) {
        return -1;
    }
    if ((part & PART_FFN) && (dec_linear(a, in, p, "ffn1", H, FF, &lp->ffn1, res) ||
                              dec_linear(a, in, p, "ffn2", FF, H, &lp->ffn2, res))) {
        return -1;
    }
    if ((part & PART_ATT) && (dec_int(in, p, "score_mult", &lp->score_mult, res) ||
                              dec_int(in, p, "prob_mult", &lp->prob_mult, res) ||
                              dec_int(in, p, "prob_shift", &lp->prob_shift, res) ||
                              dec_bspn(a, in, p, "bspn1", &lp->bspn1, res))) {
        return -1;
    }
    if ((part & PART_FFN) && dec_bspn(a, in, p, "bspn2", &lp->bspn2, res)) {
        return -1;
    }
    return 0;
}

/* h: a list of integers whose length is a multiple of hidden. */
static int dec_hidden(arena *a, const jv *in, const model_cfg *m, ivec *h, result *res) {
    if (in_int_list(a, in, "h", h, res)) {
        return -1;
    }
    if (h->n % (size_t)m->hidden != 0) {
        return reject(res, "shape", "inputs.h: length %lu is not a multiple of hidden=%" PRId64,
                      (unsigned long)h->n, m->hidden);
    }
    return 0;
}

static int dec_mask(arena *a, const jv *in, maskv *mk, result *res) {
    const jv *v = json_get(in, "mask");
    size_t k;
    if (v == NULL) {
        return reject(res, "shape", "inputs: missing field 'mask'");
    }
    if (v->type != JV_ARRAY) {
        return reject(res, "mask", "inputs.mask: expected a list of 0/1, got %s",
                      json_type_name(v));
    }
    mk->n = v->n;
    mk->live = (unsigned char *)arena_alloc(a, v->n + 1);
    if (mk->live == NULL) {
        return reject(res, NULL, "out of memory");
    }
    for (k = 0; k < v->n; k++) {
        int64_t x;
        if (!json_array_is_int(v, k, &x) || (x != 0 && x != 1)) {
            return reject(res, "mask", "inputs.mask[%lu]: expected 0 or 1", (unsigned long)k);
        }
        mk->live[k] = (unsigned char)x;
    }
    return 0;
}

/* ------------------------------------------------------------ validation */

static int check_seq(const model_cfg *m, const ivec *h, const char *name, result *res) {
    const size_t n = h->n / (size_t)m->hidden;
    if (n < 1 || n > (size_t)m->max_seq) {
        return reject(res, "shape", "%s: sequence length %lu is outside [1, max_seq=%" PRId64 "]",
                      name, (unsigned long)n, m->max_seq);
    }
    return check_elems(h, name, signed_min((int)m->h_width), signed_max((int)m->h_width),
                       "range", res);
}

static int check_mask_len(const maskv *mk, size_t n, const char *name, result *res) {
    if (mk->n != n) {
        return reject(res, "mask", "%s: expected length %lu (the sequence length), got %lu", name,
                      (unsigned long)n, (unsigned long)mk->n);
    }
    return 0;
}

/* A configuration constant of a layer in [lo, hi]: config fault otherwise. */
static int check_const(int64_t v, const char *where, const char *name, int64_t lo, int64_t hi,
                       result *res) {
    if (v < lo || v > hi) {
        return reject(res, "config",
                      "%s.%s: %" PRId64 " is outside the valid range [%" PRId64 ", %" PRId64 "]",
                      where, name, v, lo, hi);
    }
    return 0;
}

static int val_linear(const model_cfg *m, const lin_params *lp, const char *where,
                      const char *lname, size_t nin, size_t nout, result *res) {
    char w[NAME_MAX_LEN], b1[NAME_MAX_LEN], b2[NAME_MAX_LEN];
    const int64_t mmax = ((int64_t)1 << m->multiplier_bits) - 1;
    const int bw = (int)m->bias_width;
    join3(w, where, ".", lname);
    join3(b1, w, ".in_bias", "");
    join3(b2, w, ".out_bias", "");
    return check_const(lp->in_mult, w, "in_mult", 1, mmax, res) ||
                   check_const(lp->out_mult, w, "out_mult", 1, mmax, res) ||
                   check_const(lp->in_shift, w, "in_shift", 0, 62, res) ||
                   check_const(lp->out_shift, w, "out_shift", 0, 62, res) ||
                   check_len(&lp->in_bias, b1, nin, "shape", res) ||
                   check_len(&lp->out_bias, b2, nout, "shape", res) ||
                   check_elems(&lp->in_bias, b1, signed_min(bw), signed_max(bw), "range", res) ||
                   check_elems(&lp->out_bias, b2, signed_min(bw), signed_max(bw), "range", res)
               ? -1
               : 0;
}

static int val_bspn(const model_cfg *m, const bspn_params *bp, const char *where,
                    const char *bname, result *res) {
    char w[NAME_MAX_LEN], s[NAME_MAX_LEN], e[NAME_MAX_LEN], b[NAME_MAX_LEN];
    const size_t H = (size_t)m->hidden;
    const int bw = (int)m->bspn_bias_width;
    join3(w, where, ".", bname);
    join3(s, w, ".weight_sign", "");
    join3(e, w, ".weight_exp", "");
    join3(b, w, ".bias", "");
    return check_len(&bp->sign, s, H, "shape", res) || check_len(&bp->exp, e, H, "shape", res) ||
                   check_len(&bp->bias, b, H, "shape", res) ||
                   check_elems(&bp->sign, s, -1, 1, "range", res) ||
                   check_elems(&bp->exp, e, m->bspn_wexp_min, m->bspn_wexp_max, "range", res) ||
                   check_elems(&bp->bias, b, signed_min(bw), signed_max(bw), "range", res)
               ? -1
               : 0;
}

/* The headroom of o's input quantizer (spec/06, "Widths"; theorem quant.context_offset):
 * 2^(pw-1) - L, with L = 2^31 (2^multiplier_bits - 1) + 2^(bias_width-1) the largest
 * |x*M + B| of a 32-bit input and pw = bit_length(L) + 1 its product width. L < 2^56. */
static int64_t ctx_offset_limit(const model_cfg *m) {
    const int64_t lin = ((int64_t)1 << 31) * (((int64_t)1 << m->multiplier_bits) - 1) +
                        ((int64_t)1 << (m->bias_width - 1));
    int len = 0;
    while (((int64_t)1 << len) <= lin) {
        len++;
    }
    return ((int64_t)1 << len) - lin;
}

/* The context offset's bound (spec/06, "Widths"): W_max * max_seq * o <= the headroom, with
 * W_max the largest W = round_half_even(2^k * prob_mult * o.in_mult / 2^prob_shift) over
 * 0 <= k <= prob_frac (every pm of step 4; pm = 0 gives W = 0); config otherwise.
 * Decided without overflow: P = prob_mult * o.in_mult < 2^48, and a left shift is taken
 * only when its result stays at most the headroom (below 2^56). */
static int val_ctx_offset(const model_cfg *m, const layer_params *lp, const char *where,
                          result *res) {
    const int64_t limit = ctx_offset_limit(m), prod = lp->prob_mult * lp->o.in_mult;
    const int64_t per = m->max_seq * m->o, s = lp->prob_shift;
    int64_t k;
    for (k = 0; k <= m->prob_frac; k++) {
        int64_t w;
        if (k <= s) {
            w = requant(prod, 1, 0, (int)(s - k), INT64_MIN, INT64_MAX);
        } else if (prod > (limit >> (k - s))) {
            w = limit + 1;
        } else {
            w = prod << (k - s);
        }
        if (w > limit / per) {
            return reject(res, "config",
                          "%s.prob_shift: the context offset W * V can exceed the headroom "
                          "%lld of o's input quantizer", where, (long long)limit);
        }
    }
    return 0;
}

static int val_attention(const model_cfg *m, const layer_params *lp, const char *where,
                         result *res) {
    const size_t H = (size_t)m->hidden;
    const int64_t mmax = ((int64_t)1 << m->multiplier_bits) - 1;
    return val_linear(m, &lp->q, where, "q", H, H, res) ||
                   val_linear(m, &lp->k, where, "k", H, H, res) ||
                   val_linear(m, &lp->v, where, "v", H, H, res) ||
                   val_linear(m, &lp->o, where, "o", H, H, res) ||
                   check_const(lp->score_mult, where, "score_mult", 1, mmax, res) ||
                   check_const(lp->prob_mult, where, "prob_mult", 1, mmax, res) ||
                   check_const(lp->prob_shift, where, "prob_shift", 0, 62, res) ||
                   val_ctx_offset(m, lp, where, res) ||
                   val_bspn(m, &lp->bspn1, where, "bspn1", res)
               ? -1
               : 0;
}

static int val_ffn(const model_cfg *m, const layer_params *lp, const char *where, result *res) {
    const size_t H = (size_t)m->hidden, FF = (size_t)m->ffn;
    return val_linear(m, &lp->ffn1, where, "ffn1", H, FF, res) ||
                   val_linear(m, &lp->ffn2, where, "ffn2", FF, H, res) ||
                   val_bspn(m, &lp->bspn2, where, "bspn2", res)
               ? -1
               : 0;
}

/* ------------------------------------------------------------ outputs */

static void put(sbuf *b, const char *prefix, const char *name, const int64_t *v, size_t n) {
    char key[NAME_MAX_LEN];
    join3(key, prefix, name, "");
    sb_puts(b, b->len == 0 ? "{" : ", ");
    sb_string(b, key, strlen(key));
    sb_puts(b, ": ");
    sb_int_array(b, v, n);
}

/* Trace tensors first .. last (inclusive) of one layer, keys prefixed. */
static void put_trace(sbuf *b, const char *prefix, const model_cfg *m, size_t n,
                      const layer_trace *tr, int first, int last) {
    int w;
    for (w = first; w <= last; w++) {
        put(b, prefix, TRACE_NAMES[w], tr->t[w], trace_len(m, n, w));
    }
}

/* ------------------------------------------------------------ operators */

int op_attention(arena *a, const jv *config, const jv *inputs, result *res) {
    model_cfg m;
    ivec h;
    maskv mk;
    layer_params lp;
    layer_trace tr;
    size_t n;
    if (model_config(config, "attention", &m, res) || dec_hidden(a, inputs, &m, &h, res) ||
        dec_mask(a, inputs, &mk, res) || dec_layer(a, inputs, "", &m, PART_ATT, &lp, res)) {
        return -1;
    }
    n = h.n / (size_t)m.hidden;
    if (check_seq(&m, &h, "attention: h", res) || check_mask_len(&mk, n, "attention: mask", res) ||
        val_attention(&m, &lp, "layer", res)) {
        return -1;
    }
    if (trace_alloc(a, &m, n, &tr)) {
        return reject(res, NULL, "out of memory");
    }
    if (attention_block(a, &m, h.v, mk.live, n, &lp, &tr, res)) {
        return -1;
    }
    put(&res->out, "", "h1", tr.t[T_H1], n * (size_t)m.hidden);
    put_trace(&res->out, "", &m, n, &tr, T_CIN_Q, T_R1);
    sb_putc(&res->out, '}');
    return 0;
}

int op_ffn(arena *a, const jv *config, const jv *inputs, result *res) {
    model_cfg m;
    ivec h;
    layer_params lp;
    layer_trace tr;
    size_t n;
    if (model_config(config, "ffn", &m, res) || dec_hidden(a, inputs, &m, &h, res) ||
        dec_layer(a, inputs, "", &m, PART_FFN, &lp, res)) {
        return -1;
    }
    n = h.n / (size_t)m.hidden;
    if (check_seq(&m, &h, "ffn: h1", res) || val_ffn(&m, &lp, "layer", res)) {
        return -1;
    }
    if (trace_alloc(a, &m, n, &tr)) {
        return reject(res, NULL, "out of memory");
    }
    if (ffn_block(&m, h.v, n, &lp, &tr, res)) {
        return -1;
    }
    put(&res->out, "", "h2", tr.t[T_H2], n * (size_t)m.hidden);
    put_trace(&res->out, "", &m, n, &tr, T_CIN_FFN1, T_R2);
    sb_putc(&res->out, '}');
    return 0;
}

int op_encoder_layer(arena *a, const jv *config, const jv *inputs, result *res) {
    model_cfg m;
    ivec h;
    maskv mk;
    layer_params lp;
    layer_trace tr;
    size_t n;
    if (model_config(config, "encoder_layer", &m, res) || dec_hidden(a, inputs, &m, &h, res) ||
        dec_mask(a, inputs, &mk, res) || dec_layer(a, inputs, "", &m, PART_ALL, &lp, res)) {
        return -1;
    }
    n = h.n / (size_t)m.hidden;
    if (check_seq(&m, &h, "attention: h", res) || check_mask_len(&mk, n, "attention: mask", res) ||
        val_attention(&m, &lp, "layer", res) || val_ffn(&m, &lp, "layer", res)) {
        return -1;
    }
    if (trace_alloc(a, &m, n, &tr)) {
        return reject(res, NULL, "out of memory");
    }
    if (attention_block(a, &m, h.v, mk.live, n, &lp, &tr, res) ||
        ffn_block(&m, tr.t[T_H1], n, &lp, &tr, res)) {
        return -1;
    }
    put(&res->out, "", "h2", tr.t[T_H2], n * (size_t)m.hidden);
    put_trace(&res->out, "", &m, n, &tr, T_CIN_Q, T_R2);
    sb_putc(&res->out, '}');
    return 0;
}

int op_model(arena *a, const jv *config, const jv *inputs, result *res) {
    model_cfg m;
    ivec h, cls_w, cls_b;
    maskv mk;
    layer_params *lps;
    layer_trace *trs;
    lin_params pool;
    int64_t *pcin, *pacc, *pooled, *logits;
    const int64_t *x;
    char p[NAME_MAX_LEN];
    size_t n, H, L, i;
    if (model_config(config, "model", &m, res) || dec_hidden(a, inputs, &m, &h, res) ||
        dec_mask(a, inputs, &mk, res)) {
        return -1;
    }
    H = (size_t)m.hidden;
    L = (size_t)m.layers;
    lps = (layer_params *)arena_alloc(a, L * sizeof(layer_params));
    trs = (layer_trace *)arena_alloc(a, L * sizeof(layer_trace));
    if (lps == NULL || trs == NULL) {
        return reject(res, NULL, "out of memory");
    }
    for (i = 0; i < L; i++) {
        snprintf(p, sizeof(p), "layer.%lu.", (unsigned long)i);
        if (dec_layer(a, inputs, p, &m, PART_ALL, &lps[i], res)) {
            return -1;
        }
    }
    if (dec_linear(a, inputs, "", "pooler", H, H, &pool, res) ||
        in_int_list(a, inputs, "cls_weight", &cls_w, res) ||
        in_int_list(a, inputs, "cls_bias", &cls_b, res)) {
        return -1;
    }
    n = h.n / H;
    if (check_seq(&m, &h, "h0", res) || check_mask_len(&mk, n, "mask", res)) {
        return -1;
    }
    for (i = 0; i < L; i++) {
        snprintf(p, sizeof(p), "layer.%lu", (unsigned long)i);
        if (val_attention(&m, &lps[i], p, res) || val_ffn(&m, &lps[i], p, res)) {
            return -1;
        }
    }
    if (val_linear(&m, &pool, "head", "pooler", H, H, res) ||
        check_len(&cls_w, "head.cls_weight", (size_t)m.num_labels * H, "shape", res) ||
        check_elems(&cls_w, "head.cls_weight", signed_min((int)m.cls_width),
                    signed_max((int)m.cls_width), "range", res) ||
        check_len(&cls_b, "head.cls_bias", (size_t)m.num_labels, "shape", res) ||
        check_elems(&cls_b, "head.cls_bias", signed_min((int)m.bias_width),
                    signed_max((int)m.bias_width), "range", res)) {
        return -1;
    }
    /* The stack (spec/08, "Stack"), then the pooler on token 0 and the classifier. */
    x = h.v;
    for (i = 0; i < L; i++) {
        if (trace_alloc(a, &m, n, &trs[i])) {
            return reject(res, NULL, "out of memory");
        }
        if (attention_block(a, &m, x, mk.live, n, &lps[i], &trs[i], res) ||
            ffn_block(&m, trs[i].t[T_H1], n, &lps[i], &trs[i], res)) {
            return -1;
        }
        x = trs[i].t[T_H2];
    }
    pcin = (int64_t *)arena_alloc(a, H * sizeof(int64_t));
    pacc = (int64_t *)arena_alloc(a, H * sizeof(int64_t));
    pooled = (int64_t *)arena_alloc(a, H * sizeof(int64_t));
    logits = (int64_t *)arena_alloc(a, (size_t)m.num_labels * sizeof(int64_t));
    if (pcin == NULL || pacc == NULL || pooled == NULL || logits == NULL) {
        return reject(res, NULL, "out of memory");
    }
    pooler(&m, x, &pool, pcin, pacc, pooled);
    classifier(&m, pooled, cls_w.v, cls_b.v, logits);
    put(&res->out, "", "hidden", x, n * H);
    put(&res->out, "", "pooled", pooled, H);
    put(&res->out, "", "logits", logits, (size_t)m.num_labels);
    for (i = 0; i < L; i++) {
        snprintf(p, sizeof(p), "layer.%lu.", (unsigned long)i);
        put_trace(&res->out, p, &m, n, &trs[i], 0, T_COUNT - 1);
    }
    put(&res->out, "", "pooler.cin", pcin, H);
    put(&res->out, "", "pooler.acc", pacc, H);
    sb_putc(&res->out, '}');
    return 0;
}
