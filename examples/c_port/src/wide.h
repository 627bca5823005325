/*
 * Unsigned 128-bit integers from two uint64_t halves, in portable C99.
 *
 * BSPN's exact value N_i = sign_i*x_i*2^(P+wexp_i+eps_exp-j) + beta_i*2^(P-bias_frac)
 * (spec/03-bspn.md) needs more than 64 bits for the configurations the spec admits:
 * |N_i| < 2^113 (see bspn.c for the bound), and the partition sum of step 1,
 * A = S*2^eps_exp + G*2^in_frac, reaches 2^88.  These few operations are all BSPN
 * needs; every one checks its precondition and reports instead of wrapping.
 */
#ifndef SORBET_WIDE_H
#define SORBET_WIDE_H

#include <stdint.h>

typedef struct {
    uint64_t hi;
    uint64_t lo;
} u128;

u128 u128_of(uint64_t v);
/* a + b; *overflow is set when the sum needs 129 bits. */
u128 u128_add(u128 a, u128 b, int *overflow);
/* a - b for a >= b. */
u128 u128_sub(u128 a, u128 b);
/* a * 2^s; *overflow is set when a bit would leave the 128 bits (or s >= 128, a != 0). */
u128 u128_shl(u128 a, unsigned s, int *overflow);
/* floor(a / 2^s) for s < 128. */
u128 u128_shr(u128 a, unsigned s);
/* -1, 0 or 1 as a <, ==, > b. */
int u128_cmp(u128 a, u128 b);
int u128_is_zero(u128 a);
/* Number of significant bits: floor(log2 a) + 1 for a > 0, 0 for a = 0. */
int u128_bit_length(u128 a);

#endif
