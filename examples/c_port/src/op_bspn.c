/*
 * BSPN, bit shifting PowerNorm, inference form (spec/03-bspn.md).
 *
 * One token x of `channels` signed in_width-bit integers with in_frac fractional bits,
 * in groups of G = group_size channels; eps = 2^-eps_exp.  Per group:
 *   S = sum |x_i|,   A = S*2^eps_exp + G*2^in_frac
 *       (mean|x| + eps = A / (G * 2^(in_frac + eps_exp)), no division needed)
 *   j = min { j >= 0 : G*2^j >= A },   divisor 2^k with k = j - in_frac - eps_exp
 *       (k = ceil(log2(mean|x| + eps)), theorem bspn.divisor_exact)
 * Per channel, with weight sign_i * 2^wexp_i and bias beta_i (bias_frac fractional bits),
 * the exact value y_i * 2^P of y_i = w_i * x_i / 2^k + beta_i is the integer
 *   N_i = sign_i*x_i*2^(P + wexp_i + eps_exp - j) + beta_i*2^(P - bias_frac)
 * with P = max(bias_frac, j_max - weight_exp_min - eps_exp, 0) and
 * j_max = max(in_width - 1 + eps_exp, in_frac) + 1 (theorem bspn.exact_width: both
 * shifts are >= 0).  Output: 0 if N_i = 0; else r = round(log2|N_i|) - P + out_frac
 * (nearest power in the log domain), 0 if r < 0, r capped at out_width - 2, and the
 * output integer sign(N_i) * 2^r (out_frac fractional bits).
 *
 * Widths.  S <= G * 2^31 <= 2^47.  A <= 2^47 * 2^40 + 2^16 * 2^31 < 2^88 and
 * G*2^j <= 2^16 * 2^72 = 2^88: 128-bit unsigned (wide.h).  For N_i: x_i != 0 implies
 * |x_i| * 2^eps_exp <= S*2^eps_exp < A <= G*2^j, so |x_i| * 2^(eps_exp - j) < G and the
 * first term is below G * 2^(P + wexp_i) <= 2^16 * 2^(64 + 32) = 2^112 (P <= 64 because
 * j_max - eps_exp <= 32 and weight_exp_min >= -32); the second is below
 * 2^31 * 2^(P - bias_frac) <= 2^95; so |N_i| < 2^113, held as sign and 128-bit magnitude.
 * Every shift and sum checks for overflow and answers "error" rather than wrap; none
 * can happen for a configuration the spec admits.
 *
 * round(log2 M) for M >= 1 with 2^q <= M < 2^(q+1): q + 1 iff M > sqrt(2) * 2^q, and
 * since sqrt(2) * 2^q is irrational this is M > floor(sqrt(2) * 2^q) =
 * floor(SQRT2_127 / 2^(127 - q)), where SQRT2_127 = floor(sqrt(2) * 2^127) =
 * isqrt(2^255) is the 128-bit constant below (its digits are checked against an exact
 * integer square root by tests/test_c_port.py).
 */
#include <stdint.h>

#include "ops.h"
#include "wide.h"

/* floor(sqrt(2) * 2^127) = isqrt(2^255) */
#define SQRT2_127_HI UINT64_C(0xb504f333f9de6484)
#define SQRT2_127_LO UINT64_C(0x597d89b3754abe9f)

static const char *const FIELDS[] = {"channels",       "group_size",     "in_width", "in_frac",
                                     "eps_exp",        "weight_exp_min", "weight_exp_max",
                                     "bias_width",     "bias_frac",      "out_width",
                                     "out_frac",       NULL};

/* round(log2 m) for m >= 1, exactly. */
static int log2_round(u128 m) {
    u128 sqrt2;
    int q = u128_bit_length(m) - 1;
    sqrt2.hi = SQRT2_127_HI;
    sqrt2.lo = SQRT2_127_LO;
    return u128_cmp(m, u128_shr(sqrt2, (unsigned)(127 - q))) > 0 ? q + 1 : q;
}

static uint64_t mag64(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

int bspn_token(const bspn_cfg *bc, const int64_t *x, const int64_t *wsign, const int64_t *wexp,
               const int64_t *bias, int64_t *out, int64_t *kexp, result *res) {
    const int64_t channels = bc->channels, gsize = bc->group_size, in_width = bc->in_width,
                  in_frac = bc->in_frac, eps_exp = bc->eps_exp, wmin = bc->weight_exp_min,
                  bias_frac = bc->bias_frac, out_width = bc->out_width,
                  out_frac = bc->out_frac;
    int64_t j_max, p, groups, g;

    j_max = (in_width - 1 + eps_exp > in_frac ? in_width - 1 + eps_exp : in_frac) + 1;
    p = j_max - wmin - eps_exp;
    if (p < bias_frac) {
        p = bias_frac;
    }
    if (p < 0) {
        p = 0;
    }
    groups = channels / gsize;

    for (g = 0; g < groups; g++) {
        const int64_t lo = g * gsize;
        uint64_t s = 0;
        u128 big_a, gpow;
        int ovf = 0;
        int64_t i, j = -1, jj;
        /* Steps 1-2: the divisor exponent, decided on integers. */
        for (i = lo; i < lo + gsize; i++) {
            s += mag64(x[i]);
        }
        big_a = u128_add(u128_shl(u128_of(s), (unsigned)eps_exp, &ovf),
                         u128_shl(u128_of((uint64_t)gsize), (unsigned)in_frac, &ovf), &ovf);
        for (jj = 0; jj <= j_max && j < 0; jj++) {
            gpow = u128_shl(u128_of((uint64_t)gsize), (unsigned)jj, &ovf);
            if (u128_cmp(gpow, big_a) >= 0) {
                j = jj;
            }
        }
        if (ovf || j < 0) {
            return reject(res, NULL, "bspn: group %ld: divisor search left its proven range",
                          (long)g);
        }
        kexp[g] = j - in_frac - eps_exp;
        /* Steps 3-4 per channel. */
        for (i = lo; i < lo + gsize; i++) {
            u128 m1 = u128_of(0), m2 = u128_of(0), m;
            int neg1 = 0, neg2 = 0, neg, r;
            int64_t s2 = p - bias_frac;
            if (wsign[i] != 0 && x[i] != 0) {
                int64_t s1 = p + wexp[i] + eps_exp - j;
                if (s1 < 0) {
                    return reject(res, NULL, "bspn: channel %ld: negative shift %ld", (long)i,
                                  (long)s1);
                }
                m1 = u128_shl(u128_of(mag64(x[i])), (unsigned)s1, &ovf);
                neg1 = (x[i] < 0) != (wsign[i] < 0);
            }
            if (bias[i] != 0) {
                m2 = u128_shl(u128_of(mag64(bias[i])), (unsigned)s2, &ovf);
                neg2 = bias[i] < 0;
            }
            if (neg1 == neg2) {
                m = u128_add(m1, m2, &ovf);
                neg = neg1;
            } else if (u128_cmp(m1, m2) >= 0) {
                m = u128_sub(m1, m2);
                neg = neg1;
            } else {
                m = u128_sub(m2, m1);
                neg = neg2;
            }
            if (ovf) {
                return reject(res, NULL, "bspn: channel %ld: exact value exceeds 128 bits",
                              (long)i);
            }
            if (u128_is_zero(m)) {
                out[i] = 0;
                continue;
            }
            r = log2_round(m) - (int)p + (int)out_frac;
            if (r < 0) {
                out[i] = 0;
                continue;
            }
            if (r > out_width - 2) {
                r = (int)out_width - 2;
            }
            out[i] = neg ? -((int64_t)1 << r) : ((int64_t)1 << r);
        }
    }
    return 0;
}

int op_bspn(arena *a, const jv *config, const jv *inputs, result *res) {
    cfgreader c;
    int64_t channels, gsize, in_width, in_frac, eps_exp, wmin, wmax, bias_width, bias_frac,
        out_width, out_frac;
    bspn_cfg bc;
    ivec wsign, wexp, bias, x;
    int64_t *out, *kexp;

    /* Parameters (spec/03, "Parameters"). */
    if (cfg_open(&c, config, "bspn", FIELDS, FIELDS, res) ||
        cfg_int(&c, "channels", 1, (int64_t)1 << 16, 0, &channels) ||
        cfg_int(&c, "group_size", 1, channels, 0, &gsize)) {
        return -1;
    }
    if (channels % gsize != 0) {
        return reject(res, "config", "bspn: config.group_size: %ld does not divide channels=%ld",
                      (long)gsize, (long)channels);
    }
    if (cfg_int(&c, "in_width", 2, 32, 0, &in_width) ||
        cfg_int(&c, "in_frac", 0, 31, 0, &in_frac) ||
        cfg_int(&c, "eps_exp", 0, 40, 0, &eps_exp) ||
        cfg_int(&c, "weight_exp_min", -32, 32, 0, &wmin) ||
        cfg_int(&c, "weight_exp_max", wmin, 32, 0, &wmax) ||
        cfg_int(&c, "bias_width", 2, 32, 0, &bias_width) ||
        cfg_int(&c, "bias_frac", 0, 31, 0, &bias_frac) ||
        cfg_int(&c, "out_width", 2, 32, 0, &out_width) ||
        cfg_int(&c, "out_frac", 0, out_width - 2, 0, &out_frac)) {
        return -1;
    }
    /* Inputs, then their lengths and ranges. */
    if (in_int_list(a, inputs, "weight_sign", &wsign, res) ||
        in_int_list(a, inputs, "weight_exp", &wexp, res) ||
        in_int_list(a, inputs, "bias", &bias, res) || in_int_list(a, inputs, "x", &x, res)) {
        return -1;
    }
    if (check_len(&x, "bspn: x", (size_t)channels, "shape", res) ||
        check_elems(&x, "bspn: x", signed_min((int)in_width), signed_max((int)in_width), "range",
                    res) ||
        check_len(&wsign, "bspn: weight_sign", (size_t)channels, "shape", res) ||
        check_len(&wexp, "bspn: weight_exp", (size_t)channels, "shape", res) ||
        check_len(&bias, "bspn: bias", (size_t)channels, "shape", res) ||
        check_elems(&wsign, "bspn: weight_sign", -1, 1, "range", res) ||
        check_elems(&wexp, "bspn: weight_exp", wmin, wmax, "range", res) ||
        check_elems(&bias, "bspn: bias", signed_min((int)bias_width), signed_max((int)bias_width),
                    "range", res)) {
        return -1;
    }

    out = (int64_t *)arena_alloc(a, (size_t)channels * sizeof(int64_t));
    kexp = (int64_t *)arena_alloc(a, (size_t)(channels / gsize) * sizeof(int64_t));
    if (out == NULL || kexp == NULL) {
        return reject(res, NULL, "out of memory");
    }
    bc.channels = channels;
    bc.group_size = gsize;
    bc.in_width = in_width;
    bc.in_frac = in_frac;
    bc.eps_exp = eps_exp;
    bc.weight_exp_min = wmin;
    bc.weight_exp_max = wmax;
    bc.bias_width = bias_width;
    bc.bias_frac = bias_frac;
    bc.out_width = out_width;
    bc.out_frac = out_frac;
    if (bspn_token(&bc, x.v, wsign.v, wexp.v, bias.v, out, kexp, res)) {
        return -1;
    }
    sb_puts(&res->out, "{\"out\": ");
    sb_int_array(&res->out, out, (size_t)channels);
    sb_puts(&res->out, ", \"divisor_exp\": ");
    sb_int_array(&res->out, kexp, (size_t)(channels / gsize));
    sb_putc(&res->out, '}');
    return 0;
}
