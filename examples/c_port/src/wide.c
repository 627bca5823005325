/* Unsigned 128-bit arithmetic on two uint64_t halves; see wide.h. */
#include "wide.h"

u128 u128_of(uint64_t v) {
    u128 r;
    r.hi = 0;
    r.lo = v;
    return r;
}

u128 u128_add(u128 a, u128 b, int *overflow) {
    u128 r;
    uint64_t carry;
    r.lo = a.lo + b.lo;
    carry = r.lo < a.lo ? 1u : 0u;
    r.hi = a.hi + b.hi;
    if (r.hi < a.hi || (r.hi == UINT64_MAX && carry != 0u)) {
        *overflow = 1;
    }
    r.hi += carry;
    return r;
}

u128 u128_sub(u128 a, u128 b) {
    u128 r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo ? 1u : 0u);
    return r;
}

int u128_bit_length(u128 a) {
    int n = 0;
    uint64_t w;
    if (a.hi != 0u) {
        n = 64;
        w = a.hi;
    } else {
        w = a.lo;
    }
    while (w != 0u) {
        n++;
        w >>= 1;
    }
    return n;
}

u128 u128_shl(u128 a, unsigned s, int *overflow) {
    u128 r;
    if (u128_is_zero(a)) {
        return a;
    }
    if (s >= 128u || (unsigned)u128_bit_length(a) + s > 128u) {
        *overflow = 1;
        return u128_of(0);
    }
    if (s == 0u) {
        return a;
    }
    if (s >= 64u) {
        r.hi = a.lo << (s - 64u);
        r.lo = 0;
    } else {
        r.hi = (a.hi << s) | (a.lo >> (64u - s));
        r.lo = a.lo << s;
    }
    return r;
}

u128 u128_shr(u128 a, unsigned s) {
    u128 r;
    if (s == 0u) {
        return a;
    }
    if (s >= 128u) {
        return u128_of(0);
    }
    if (s >= 64u) {
        r.lo = a.hi >> (s - 64u);
        r.hi = 0;
    } else {
        r.lo = (a.lo >> s) | (a.hi << (64u - s));
        r.hi = a.hi >> s;
    }
    return r;
}

int u128_cmp(u128 a, u128 b) {
    if (a.hi != b.hi) {
        return a.hi < b.hi ? -1 : 1;
    }
    if (a.lo != b.lo) {
        return a.lo < b.lo ? -1 : 1;
    }
    return 0;
}

int u128_is_zero(u128 a) { return a.hi == 0u && a.lo == 0u; }
