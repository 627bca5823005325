/*
 * PTsoftmax over one row (spec/02-ptsoftmax.md).
 *
 * Unmasked entries i of the row x (signed score_width bits, score_frac fractional):
 *   s_i = ceil(x_i / 2^score_frac)
 *   d_i = max_j s_j - s_i                         (>= 0)
 *   e_i = 2^(F - d_i) if d_i <= F else 0          (F = partition_frac)
 *   Z   = sum_i e_i;  with 2^k <= Z < 2^(k+1):
 *         K = k if Z - 2^k < 2^(k+1) - Z else k + 1   (nearest power, ties up)
 *   p_i = floor(e_i * 2^out_frac / 2^K)
 * Masked entries output 0 and take no part in the maximum or in Z; an all-masked
 * row outputs zeros with Z = 0 and K reported as -1.
 *
 * Widths (all int64_t / uint64_t): |x_i| <= 2^47, so s_i and d_i < 2^49;
 * e_i <= 2^30; Z <= max_len * 2^F <= 2^16 * 2^30 = 2^46; e_i * 2^out_frac <= 2^60.
 */
#include <stdint.h>

#include "ops.h"

static const char *const FIELDS[] = {"max_len", "score_width", "score_frac", "partition_frac",
                                     "out_frac", NULL};

void ptsm_row(const ptsm_cfg *c, const int64_t *x, const unsigned char *live, size_t n,
              int64_t *s, uint64_t *e, int64_t *out, uint64_t *partition, int *k_out) {
    size_t i;
    int any = 0, k;
    int64_t top = 0;
    uint64_t z = 0, lo;
    /* Step 1: ceil(x / 2^f) = -floor(-x / 2^f). */
    for (i = 0; i < n; i++) {
        s[i] = -floor_div_pow2(-x[i], c->score_frac);
        if (live[i] && (!any || s[i] > top)) {
            top = s[i];
            any = 1;
        }
    }
    if (!any) { /* every entry masked: zeros, Z = 0, K reported as -1 */
        for (i = 0; i < n; i++) {
            out[i] = 0;
        }
        *partition = 0;
        *k_out = -1;
        return;
    }
    /* Steps 2-3: terms with F fractional bits; terms below 2^-F are dropped. */
    for (i = 0; i < n; i++) {
        int64_t d = top - s[i];
        e[i] = (live[i] && d <= c->partition_frac) ? (uint64_t)1 << (c->partition_frac - d) : 0u;
        z += e[i];
    }
    /* Step 4: nearest power of two to Z in linear distance, ties up. */
    k = 0;
    while ((z >> k) > 1u) {
        k++;
    }
    lo = (uint64_t)1 << k;
    if (!(z - lo < 2u * lo - z)) {
        k++;
    }
    /* Step 5: p_i = floor(e_i * 2^out_frac / 2^K). */
    for (i = 0; i < n; i++) {
        out[i] = (int64_t)((e[i] << c->out_frac) >> k);
    }
    *partition = z;
    *k_out = k;
}

int op_ptsoftmax(arena *a, const jv *config, const jv *inputs, result *res) {
    cfgreader c;
    int64_t max_len, score_width, score_frac, pfrac, out_frac;
    ivec scores;
    const jv *mask_v;
    unsigned char *live;
    int64_t *s, *out;
    uint64_t *e;
    size_t n, i;
    uint64_t z = 0;
    int big_k = -1;
    ptsm_cfg pc;

    /* Parameters (spec/02, "Parameters"). */
    if (cfg_open(&c, config, "ptsoftmax", FIELDS, FIELDS, res) ||
        cfg_int(&c, "max_len", 1, (int64_t)1 << 16, 0, &max_len) ||
        cfg_int(&c, "score_width", 2, 48, 0, &score_width) ||
        cfg_int(&c, "score_frac", 0, score_width - 1, 0, &score_frac) ||
        cfg_int(&c, "partition_frac", 0, 30, 0, &pfrac) ||
        cfg_int(&c, "out_frac", 0, 30, 0, &out_frac)) {
        return -1;
    }
    if (in_int_list(a, inputs, "scores", &scores, res)) {
        return -1;
    }
    n = scores.n;
    live = (unsigned char *)arena_alloc(a, n + 1);
    if (live == NULL) {
        return reject(res, NULL, "out of memory");
    }
    /* The mask: absent or null means every entry takes part; entries must be 0 or 1. */
    mask_v = json_get(inputs, "mask");
    if (mask_v != NULL && mask_v->type != JV_NULL) {
        if (mask_v->type != JV_ARRAY) {
            return reject(res, "mask", "inputs.mask: expected a list of 0/1, got %s",
                          json_type_name(mask_v));
        }
        for (i = 0; i < mask_v->n; i++) {
            int64_t m;
            if (!json_array_is_int(mask_v, i, &m) || (m != 0 && m != 1)) {
                return reject(res, "mask", "inputs.mask[%lu]: expected 0 or 1", (unsigned long)i);
            }
        }
    }
    if (n < 1 || n > (size_t)max_len) {
        return reject(res, "shape", "ptsoftmax: scores: row length %lu is outside [1, max_len=%ld]",
                      (unsigned long)n, (long)max_len);
    }
    if (check_elems(&scores, "ptsoftmax: scores", signed_min((int)score_width),
                    signed_max((int)score_width), "range", res)) {
        return -1;
    }
    if (mask_v != NULL && mask_v->type != JV_NULL) {
        if (mask_v->n != n) {
            return reject(res, "mask", "ptsoftmax: mask: expected length %lu, got %lu",
                          (unsigned long)n, (unsigned long)mask_v->n);
        }
        for (i = 0; i < n; i++) {
            int64_t m = 0;
            json_array_is_int(mask_v, i, &m);
            live[i] = (unsigned char)(m == 1);
        }
    } else {
        for (i = 0; i < n; i++) {
            live[i] = 1;
        }
    }

    s = (int64_t *)arena_alloc(a, n * sizeof(int64_t));
    e = (uint64_t *)arena_alloc(a, n * sizeof(uint64_t));
    out = (int64_t *)arena_alloc(a, n * sizeof(int64_t));
    if (s == NULL || e == NULL || out == NULL) {
        return reject(res, NULL, "out of memory");
    }
    pc.score_frac = (int)score_frac;
    pc.partition_frac = (int)pfrac;
    pc.out_frac = (int)out_frac;
    ptsm_row(&pc, scores.v, live, n, s, e, out, &z, &big_k);
    sb_puts(&res->out, "{\"out\": ");
    sb_int_array(&res->out, out, n);
    sb_puts(&res->out, ", \"partition\": ");
    sb_int(&res->out, (int64_t)z);
    sb_puts(&res->out, ", \"k\": ");
    sb_int(&res->out, big_k);
    sb_putc(&res->out, '}');
    return 0;
}
