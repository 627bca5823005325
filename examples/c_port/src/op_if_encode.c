/*
 * The integrate-and-fire encoder (spec/04-quantizer-spikes.md, "IF encoder").
 *
 * Count c in [0, 2^bits - 1], T steps, threshold T, membrane V_0 = 0; step t = 1..T:
 * V <- V + c; fire if V >= T; on a spike V <- V - T.
 *
 * Because c <= T (the configuration requires T >= 2^bits - 1), the membrane stays in
 * [0, T) after each step and at most one spike falls in a step, so after t steps
 * exactly floor(t*c/T) spikes have fired and V_t = t*c - T*floor(t*c/T) (theorems
 * if.count, if.membrane, if.spike_times).  This port computes that closed form, an
 * independent route to the same bits as the step-by-step neuron.
 * Widths: t*c <= 1024 * 255 < 2^18.
 */
#include <stdint.h>

#include "ops.h"

static const char *const FIELDS[] = {"bits", "steps", NULL};

int spike_config(cfgreader *c, int64_t *bits, int64_t *steps) {
    if (cfg_int(c, "bits", 1, 8, 0, bits) || cfg_int(c, "steps", 1, 1024, 0, steps)) {
        return -1;
    }
    if (*steps < ((int64_t)1 << *bits) - 1) {
        return reject(c->res, "config",
                      "%s: config.steps: T=%ld is below the largest count %ld; the encoder fires "
                      "at most once a step, so T >= 2^bits - 1",
                      c->op, (long)*steps, (long)(((int64_t)1 << *bits) - 1));
    }
    return 0;
}

int op_if_encode(arena *a, const jv *config, const jv *inputs, result *res) {
    cfgreader c;
    int64_t bits, steps, count, t;
    int64_t *spikes, *membrane;

    if (cfg_open(&c, config, "if_encode", FIELDS, FIELDS, res) ||
        spike_config(&c, &bits, &steps)) {
        return -1;
    }
    if (in_int(inputs, "count", &count, res)) {
        return -1;
    }
    if (count < 0 || count > ((int64_t)1 << bits) - 1) {
        return reject(res, "range", "if_encode: count %ld is outside [0, %ld]", (long)count,
                      (long)(((int64_t)1 << bits) - 1));
    }
    spikes = (int64_t *)arena_alloc(a, (size_t)steps * sizeof(int64_t));
    membrane = (int64_t *)arena_alloc(a, (size_t)steps * sizeof(int64_t));
    if (spikes == NULL || membrane == NULL) {
        return reject(res, NULL, "out of memory");
    }
    for (t = 1; t <= steps; t++) {
        int64_t fired = (t * count) / steps;           /* spikes after step t */
        int64_t before = ((t - 1) * count) / steps;    /* spikes after step t - 1 */
        spikes[t - 1] = fired - before;
        membrane[t - 1] = t * count - steps * fired;
    }
    sb_puts(&res->out, "{\"spikes\": ");
    sb_int_array(&res->out, spikes, (size_t)steps);
    sb_puts(&res->out, ", \"membrane\": ");
    sb_int_array(&res->out, membrane, (size_t)steps);
    sb_putc(&res->out, '}');
    return 0;
}
