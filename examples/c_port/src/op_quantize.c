/*
 * Quantizer: integers to spike counts (spec/04-quantizer-spikes.md, "Quantizer").
 *
 *   q_i = clamp(round_half_even((x_i * M + bias) / 2^shift), q_min, q_max)
 *   c_i = q_i - q_min
 * with [q_min, q_max] = [-2^(bits-1), 2^(bits-1) - 1] (signed) or [0, 2^bits - 1].
 *
 * Widths: |x_i| <= 2^31 and M < 2^24 give |x_i * M| < 2^55, |bias| <= 2^39, so
 * |x_i * M + bias| < 2^56 fits int64_t (theorem quant.no_overflow bounds it by the
 * configuration's product width, at most 57 bits signed).  shift <= 62 keeps 2^shift in
 * int64_t.
 */
#include <stdint.h>

#include "ops.h"

static const char *const FIELDS[] = {"bits", "signed", "in_width", "multiplier_bits",
                                     "bias_width", NULL};
static const char *const REQUIRED[] = {"bits", "signed", "in_width", NULL};

/* round_half_even(v / 2^s) for 0 <= s <= 62, |v| < 2^62. */
static int64_t round_half_even_pow2(int64_t v, int s) {
    int64_t q, r, half;
    if (s == 0) {
        return v;
    }
    q = floor_div_pow2(v, s);
    r = v - q * ((int64_t)1 << s); /* 0 <= r < 2^s */
    half = (int64_t)1 << (s - 1);
    if (r > half || (r == half && (q % 2 != 0))) {
        q += 1;
    }
    return q;
}

int64_t requant(int64_t x, int64_t mult, int64_t bias, int shift, int64_t lo, int64_t hi) {
    int64_t q = round_half_even_pow2(x * mult + bias, shift);
    return q < lo ? lo : (q > hi ? hi : q);
}

int op_quantize(arena *a, const jv *config, const jv *inputs, result *res) {
    cfgreader c;
    int64_t bits, in_width, mbits, bias_width, mult, shift, bias, q_min, q_max;
    int is_signed;
    ivec x;
    int64_t *counts;
    size_t i;

    if (cfg_open(&c, config, "quantize", FIELDS, REQUIRED, res) ||
        cfg_int(&c, "bits", 1, 8, 0, &bits) || cfg_bool(&c, "signed", &is_signed) ||
        cfg_int(&c, "in_width", 2, 32, 0, &in_width) ||
        cfg_int(&c, "multiplier_bits", 1, 24, 16, &mbits) ||
        cfg_int(&c, "bias_width", 2, 40, 32, &bias_width)) {
        return -1;
    }
    if (in_int(inputs, "multiplier", &mult, res) || in_int(inputs, "shift", &shift, res) ||
        in_int(inputs, "bias", &bias, res) || in_int_list(a, inputs, "x", &x, res)) {
        return -1;
    }
    /* Per-call constants outside their declared ranges are range faults (spec/01, "Errors"). */
    if (mult < 1 || mult > ((int64_t)1 << mbits) - 1) {
        return reject(res, "range", "quantize: multiplier %ld is outside [1, %ld]", (long)mult,
                      (long)(((int64_t)1 << mbits) - 1));
    }
    if (shift < 0 || shift > 62) {
        return reject(res, "range", "quantize: shift %ld is outside [0, 62]", (long)shift);
    }
    if (bias < signed_min((int)bias_width) || bias > signed_max((int)bias_width)) {
        return reject(res, "range", "quantize: bias %ld is outside the signed %ld-bit format",
                      (long)bias, (long)bias_width);
    }
    if (check_elems(&x, "quantize: x", signed_min((int)in_width), signed_max((int)in_width),
                    "range", res)) {
        return -1;
    }
    q_min = is_signed ? -((int64_t)1 << (bits - 1)) : 0;
    q_max = is_signed ? ((int64_t)1 << (bits - 1)) - 1 : ((int64_t)1 << bits) - 1;
    counts = (int64_t *)arena_alloc(a, (x.n + 1) * sizeof(int64_t));
    if (counts == NULL) {
        return reject(res, NULL, "out of memory");
    }
    for (i = 0; i < x.n; i++) {
        counts[i] = requant(x.v[i], mult, bias, (int)shift, q_min, q_max) - q_min;
    }
    sb_puts(&res->out, "{\"counts\": ");
    sb_int_array(&res->out, counts, x.n);
    sb_putc(&res->out, '}');
    return 0;
}
