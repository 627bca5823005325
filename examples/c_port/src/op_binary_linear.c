/*
 * The binary-weight spiking linear layer (spec/05-binary-linear.md).
 *
 * Inputs: counts c_j in [0, 2^bits - 1] (j < in_features) and signs s_ij in {-1, +1}
 * (out_features x in_features, row-major).  o = 2^(bits-1) for a signed input, else 0.
 *   acc_i         = sum_j (c_j - o) * s_ij                           (normative)
 *   partial_i(t)  = sum_j s_ij * (spikes of c_j in steps 1..t)       (profile)
 * where the IF encoder's train of c_j holds floor(t*c_j/T) spikes after t steps
 * (theorem if.spike_times; see op_if_encode.c), so partial_i(T) - o*sum_j s_ij = acc_i
 * (theorem lin.time_eq_count).
 *
 * Widths: |acc_i| <= in_features * 2^bits <= 2^16 * 2^8 = 2^24 and
 * |partial_i(t)| <= in_features * T <= 2^26; int64_t throughout.
 */
#include <stdint.h>

#include "ops.h"

static const char *const FIELDS[] = {"in_features", "out_features", "bits", "steps",
                                     "signed_input", NULL};

int64_t dot_count(const int64_t *counts, const int64_t *signs, size_t n, int64_t offset) {
    int64_t sum = 0;
    size_t j;
    for (j = 0; j < n; j++) {
        sum += (counts[j] - offset) * signs[j];
    }
    return sum;
}

int op_binary_linear(arena *a, const jv *config, const jv *inputs, result *res) {
    cfgreader c;
    int64_t nin, nout, bits, steps, offset;
    int signed_input;
    ivec counts, signs;
    int64_t *acc, *partial, *cum;
    size_t i, j, t;

    if (cfg_open(&c, config, "binary_linear", FIELDS, FIELDS, res) ||
        cfg_int(&c, "in_features", 1, (int64_t)1 << 16, 0, &nin) ||
        cfg_int(&c, "out_features", 1, (int64_t)1 << 16, 0, &nout) ||
        spike_config(&c, &bits, &steps) || cfg_bool(&c, "signed_input", &signed_input)) {
        return -1;
    }
    if (in_int_list(a, inputs, "counts", &counts, res) ||
        in_int_list(a, inputs, "signs", &signs, res)) {
        return -1;
    }
    if (check_len(&signs, "inputs.signs", (size_t)(nout * nin), "shape", res) ||
        check_len(&counts, "binary_linear: counts", (size_t)nin, "shape", res) ||
        check_elems(&counts, "binary_linear: counts", 0, ((int64_t)1 << bits) - 1, "range",
                    res)) {
        return -1;
    }
    for (i = 0; i < signs.n; i++) {
        if (signs.v[i] != 1 && signs.v[i] != -1) {
            return reject(res, "range", "binary_linear: signs[%lu][%lu]: expected -1 or +1, got %ld",
                          (unsigned long)(i / (size_t)nin), (unsigned long)(i % (size_t)nin),
                          (long)signs.v[i]);
        }
    }
    offset = signed_input ? (int64_t)1 << (bits - 1) : 0;
    acc = (int64_t *)arena_alloc(a, (size_t)nout * sizeof(int64_t));
    partial = (int64_t *)arena_alloc(a, (size_t)nout * (size_t)steps * sizeof(int64_t));
    cum = (int64_t *)arena_alloc(a, (size_t)nin * sizeof(int64_t));
    if (acc == NULL || partial == NULL || cum == NULL) {
        return reject(res, NULL, "out of memory");
    }
    /* Count level. */
    for (i = 0; i < (size_t)nout; i++) {
        acc[i] = dot_count(counts.v, signs.v + i * (size_t)nin, (size_t)nin, offset);
    }
    /* Time level: spikes fired by step t, then the signed sums per output. */
    for (t = 1; t <= (size_t)steps; t++) {
        for (j = 0; j < (size_t)nin; j++) {
            cum[j] = ((int64_t)t * counts.v[j]) / steps;
        }
        for (i = 0; i < (size_t)nout; i++) {
            const int64_t *row = signs.v + i * (size_t)nin;
            int64_t sum = 0;
            for (j = 0; j < (size_t)nin; j++) {
                sum += cum[j] * row[j];
            }
            partial[i * (size_t)steps + (t - 1)] = sum;
        }
    }
    sb_puts(&res->out, "{\"acc\": ");
    sb_int_array(&res->out, acc, (size_t)nout);
    sb_puts(&res->out, ", \"partial\": ");
    sb_int_array(&res->out, partial, (size_t)nout * (size_t)steps);
    sb_putc(&res->out, '}');
    return 0;
}
