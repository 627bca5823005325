/*
 * The encoder layer and the head (spec/06-layers.md, spec/08-model.md).
 *
 * Notation of spec/06: requant(x; M, B, s, lo, hi) = clamp(round_half_even((x*M + B) /
 * 2^s), lo, hi); o = 2^(b-1); a signed count c stands for c - o.
 *
 * Widths (spec/06, "Widths"; every quantity below is held in int64_t, and none comes
 * near 2^63 for any configuration model_config admits):
 *   x*M + B of a requantization   |x| < 2^31 (formats h, r, u; |ctx| < 2^29; probs
 *                                 <= 2^30; |acc| < 2^24), M < 2^24, |B| <= 2^39:
 *                                 below 2^56 (theorem quant.no_overflow)
 *   acc of a linear layer         fan-in <= 2^16 terms of magnitude <= 2^8: below 2^24
 *                                 (theorem lin.acc_width)
 *   S, scores x = S * score_mult  |S| <= D o^2 <= 2^28; |x| < 2^(score_width-1) <= 2^47,
 *                                 checked by model_config
 *   ctx                           |ctx| <= n (2^b - 1) o < 2^14 * 2^8 * 2^7 = 2^29
 *   context offset W V            |W V| <= 2^(pw-1) - (2^31 (2^mb - 1) + 2^(bw-1)), the
 *                                 headroom of o's quantizer, checked per layer (op_layers.c);
 *                                 with it ctx*M + B + W V stays inside the product width pw
 *                                 <= 57 (theorem quant.context_offset)
 *   a + h before saturation       |a|, |h| < 2^31: below 2^32
 *   logits                        |sum| <= H (2^(h_width-1) - 1) 2^(cls_width-1) + 2^39
 *                                 < 2^14 * 2^31 * 2^15 + 2^39 < 2^61 (spec/08)
 * Only BSPN needs more than 64 bits, inside bspn_token (see op_bspn.c).
 */
#include <string.h>

#include "layers.h"

const char *const TRACE_NAMES[T_COUNT] = {
    "cin_q",    "cin_k", "cin_v",    "acc_q",    "acc_k",  "acc_v", "c_q",   "c_k",   "c_v",
    "scores",   "probs", "prob_offset", "c_prob", "ctx", "ctx_offset", "cin_o", "acc_o", "a_o",
    "r1",       "h1",
    "cin_ffn1", "acc_ffn1", "u",     "cin_ffn2", "acc_ffn2", "a_ffn2", "r2", "h2"};

size_t trace_len(const model_cfg *m, size_t n, int which) {
    switch (which) {
    case T_SCORES:
    case T_PROBS:
    case T_C_PROB:
        return (size_t)m->heads * n * n;
    case T_ACC_FFN1:
    case T_U:
    case T_CIN_FFN2:
        return n * (size_t)m->ffn;
    case T_PROB_OFFSET:
        return 1;
    case T_CTX_OFFSET:
        return (size_t)m->hidden;
    default:
        return n * (size_t)m->hidden;
    }
}

int trace_alloc(arena *a, const model_cfg *m, size_t n, layer_trace *tr) {
    int w;
    for (w = 0; w < T_COUNT; w++) {
        tr->t[w] = (int64_t *)arena_alloc(a, (trace_len(m, n, w) + 1) * sizeof(int64_t));
        if (tr->t[w] == NULL) {
            return -1;
        }
    }
    tr->kexp = (int64_t *)arena_alloc(a, ((size_t)m->hidden + 1) * sizeof(int64_t));
    return tr->kexp == NULL ? -1 : 0;
}

/* A linear layer P with fan-in nin and fan-out nout on n rows x (spec/06, "Binary linear
 * layer with its quantizers"):
 *   cin[t][j] = requant(x[t][j]; M_in, B_in[j] + E[j], s_in, q_min, q_max) - q_min
 *   acc[t][i] = sum_j (cin[t][j] - o') s_ij           (o' = o signed, 0 unsigned)
 *   out[t][i] = requant(acc[t][i]; M_out, B_out[i], s_out, lo, hi)
 * with [q_min, q_max] = [-o, o - 1] for a signed input, [0, 2^b - 1] for an unsigned one;
 * E = extra (the context offset of spec/06 step 6) or 0 when extra is NULL. */
static void linear_layer(const model_cfg *m, const int64_t *x, size_t n, size_t nin, size_t nout,
                         const lin_params *lp, int signed_in, int64_t lo, int64_t hi,
                         const int64_t *extra, int64_t *cin, int64_t *acc, int64_t *out) {
    const int64_t q_min = signed_in ? -m->o : 0;
    const int64_t q_max = signed_in ? m->o - 1 : m->cmax;
    const int64_t off = signed_in ? m->o : 0;
    size_t t, i, j;
    for (t = 0; t < n; t++) {
        const int64_t *xr = x + t * nin;
        int64_t *cr = cin + t * nin;
        for (j = 0; j < nin; j++) {
            int64_t b = lp->in_bias.v[j] + (extra != NULL ? extra[j] : 0);
            cr[j] = requant(xr[j], lp->in_mult, b, (int)lp->in_shift, q_min, q_max) - q_min;
        }
        for (i = 0; i < nout; i++) {
            int64_t s = dot_count(cr, lp->signs.v + i * nin, nin, off);
            acc[t * nout + i] = s;
            out[t * nout + i] =
                requant(s, lp->out_mult, lp->out_bias.v[i], (int)lp->out_shift, lo, hi);
        }
    }
}

/* round(log2 x) for x >= 1, decided exactly: k = floor(log2 x), then k + 1 iff
 * x^2 >= 2^(2k+1) (spec/01, "Nearest power of two, log domain"; no tie for an integer).
 * x < 2^31 (a probability), so x^2 fits. */
static int log_nearest_exp(int64_t x) {
    int k = 0;
    while (((int64_t)1 << (k + 1)) <= x) {
        k++;
    }
    return x * x >= ((int64_t)1 << (2 * k + 1)) ? k + 1 : k;
}

/* W = round_half_even(2^k * P / 2^s) with P = prob_mult * o.in_mult < 2^48 (spec/06, step 6):
 * P rounded by a shift of s - k, or shifted left by k - s (W below 2^56 by validation). */
static int64_t offset_weight(int64_t prod, int k, int64_t s) {
    if (s >= k) {
        return requant(prod, 1, 0, (int)(s - k), INT64_MIN, INT64_MAX);
    }
    return prod << (k - s);
}

/* r = saturate_r(a + h): the sum clamped to format r (spec/06, step 7). */
static void residual(const model_cfg *m, const int64_t *a, const int64_t *h, size_t len,
                     int64_t *r) {
    const int64_t lo = signed_min((int)m->r_width), hi = signed_max((int)m->r_width);
    size_t i;
    for (i = 0; i < len; i++) {
        int64_t v = a[i] + h[i];
        r[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}

/* BSPN of every token (spec/03). */
static int bspn_rows(const model_cfg *m, const int64_t *r, size_t n, const bspn_params *bp,
                     int64_t *out, int64_t *kexp, result *res) {
    size_t t, H = (size_t)m->hidden;
    for (t = 0; t < n; t++) {
        if (bspn_token(&m->bspn, r + t * H, bp->sign.v, bp->exp.v, bp->bias.v, out + t * H, kexp,
                       res)) {
            return -1;
        }
    }
    return 0;
}

int attention_block(arena *a, const model_cfg *m, const int64_t *h, const unsigned char *mask,
                    size_t n, const layer_params *lp, layer_trace *tr, result *res) {
    const size_t H = (size_t)m->hidden, D = (size_t)m->head_dim, heads = (size_t)m->heads;
    const int64_t o = m->o;
    const lin_params *qkv[3];
    int64_t *s_scr, *qv, pm;
    uint64_t *e_scr;
    size_t p, hd, t, u, d;
    int pm_k;
    qkv[0] = &lp->q;
    qkv[1] = &lp->k;
    qkv[2] = &lp->v;
    s_scr = (int64_t *)arena_alloc(a, (n + 1) * sizeof(int64_t));
    e_scr = (uint64_t *)arena_alloc(a, (n + 1) * sizeof(uint64_t));
    qv = (int64_t *)arena_alloc(a, (n * H + 1) * sizeof(int64_t));
    if (s_scr == NULL || e_scr == NULL || qv == NULL) {
        return reject(res, NULL, "out of memory");
    }
    /* Step 1: Q, K, V and their second quantization to signed counts c = q + o. */
    for (p = 0; p < 3; p++) {
        linear_layer(m, h, n, H, H, qkv[p], 1, -o, o - 1, NULL, tr->t[T_CIN_Q + p],
                     tr->t[T_ACC_Q + p], qv);
        for (t = 0; t < n * H; t++) {
            tr->t[T_C_Q + p][t] = qv[t] + o;
        }
    }
    /* Steps 2-3 per head m and query row t: scores, PTsoftmax with the mask. */
    for (hd = 0; hd < heads; hd++) {
        for (t = 0; t < n; t++) {
            const size_t row = (hd * n + t) * n;
            const int64_t *cq = tr->t[T_C_Q] + t * H + hd * D;
            uint64_t z;
            int k;
            for (u = 0; u < n; u++) {
                const int64_t *ck = tr->t[T_C_K] + u * H + hd * D;
                int64_t sum = 0;
                for (d = 0; d < D; d++) {
                    sum += (cq[d] - o) * (ck[d] - o);
                }
                tr->t[T_SCORES][row + u] = sum * lp->score_mult;
            }
            ptsm_row(&m->ptsm, tr->t[T_SCORES] + row, mask, n, s_scr, e_scr,
                     tr->t[T_PROBS] + row, &z, &k);
        }
    }
    /* Step 4: the layer's smallest probability P_min, pm = 2^round(log2 P_min) (0 when
     * P_min = 0), and the unsigned counts of p - pm. */
    {
        const size_t all = heads * n * n;
        int64_t p_min = tr->t[T_PROBS][0];
        for (u = 1; u < all; u++) {
            if (tr->t[T_PROBS][u] < p_min) {
                p_min = tr->t[T_PROBS][u];
            }
        }
        pm_k = p_min == 0 ? -1 : log_nearest_exp(p_min);
        pm = pm_k < 0 ? 0 : (int64_t)1 << pm_k;
        tr->t[T_PROB_OFFSET][0] = pm;
        for (u = 0; u < all; u++) {
            tr->t[T_C_PROB][u] = requant(tr->t[T_PROBS][u], lp->prob_mult, -pm * lp->prob_mult,
                                         (int)lp->prob_shift, 0, m->cmax);
        }
    }
    /* Step 5: context ctx[t][d] = sum_u c_prob[m][t][u] (c_v[u][d] - o), d in head m. */
    for (hd = 0; hd < heads; hd++) {
        for (t = 0; t < n; t++) {
            const int64_t *w = tr->t[T_C_PROB] + (hd * n + t) * n;
            for (d = hd * D; d < (hd + 1) * D; d++) {
                int64_t sum = 0;
                for (u = 0; u < n; u++) {
                    sum += w[u] * (tr->t[T_C_V][u * H + d] - o);
                }
                tr->t[T_CTX][t * H + d] = sum;
            }
        }
    }
    /* Step 6: the context offset E[d] = W V[d], V[d] = sum_u (c_v[u][d] - o), joins o's
     * input bias; output projection into format r; step 7: residual and BSPN_1. */
    {
        const int64_t w = pm_k < 0 ? 0 : offset_weight(lp->prob_mult * lp->o.in_mult, pm_k,
                                                       lp->prob_shift);
        for (d = 0; d < H; d++) {
            int64_t v = 0;
            for (u = 0; u < n; u++) {
                v += tr->t[T_C_V][u * H + d] - o;
            }
            tr->t[T_CTX_OFFSET][d] = w * v;
        }
    }
    linear_layer(m, tr->t[T_CTX], n, H, H, &lp->o, 1, signed_min((int)m->r_width),
                 signed_max((int)m->r_width), tr->t[T_CTX_OFFSET], tr->t[T_CIN_O],
                 tr->t[T_ACC_O], tr->t[T_A_O]);
    residual(m, tr->t[T_A_O], h, n * H, tr->t[T_R1]);
    return bspn_rows(m, tr->t[T_R1], n, &lp->bspn1, tr->t[T_H1], tr->kexp, res);
}

int ffn_block(const model_cfg *m, const int64_t *h1, size_t n, const layer_params *lp,
              layer_trace *tr, result *res) {
    const size_t H = (size_t)m->hidden, FF = (size_t)m->ffn;
    /* Step 8: ffn1 with signed input, ReLU as the clamp at 0 into format u; ffn2 with
     * unsigned input into format r. */
    linear_layer(m, h1, n, H, FF, &lp->ffn1, 1, 0, signed_max((int)m->u_width), NULL,
                 tr->t[T_CIN_FFN1], tr->t[T_ACC_FFN1], tr->t[T_U]);
    linear_layer(m, tr->t[T_U], n, FF, H, &lp->ffn2, 0, signed_min((int)m->r_width),
                 signed_max((int)m->r_width), NULL, tr->t[T_CIN_FFN2], tr->t[T_ACC_FFN2],
                 tr->t[T_A_FFN2]);
    /* Step 9: residual and BSPN_2. */
    residual(m, tr->t[T_A_FFN2], h1, n * H, tr->t[T_R2]);
    return bspn_rows(m, tr->t[T_R2], n, &lp->bspn2, tr->t[T_H2], tr->kexp, res);
}

void pooler(const model_cfg *m, const int64_t *h0_row, const lin_params *lp, int64_t *cin,
            int64_t *acc, int64_t *pooled) {
    const size_t H = (size_t)m->hidden;
    linear_layer(m, h0_row, 1, H, H, lp, 1, 0, signed_max((int)m->h_width), NULL, cin, acc,
                 pooled);
}

void classifier(const model_cfg *m, const int64_t *pooled, const int64_t *weight,
                const int64_t *bias, int64_t *logits) {
    const size_t H = (size_t)m->hidden;
    size_t k, i;
    for (k = 0; k < (size_t)m->num_labels; k++) {
        int64_t sum = bias[k];
        for (i = 0; i < H; i++) {
            sum += pooled[i] * weight[k * H + i];
        }
        logits[k] = sum;
    }
}
