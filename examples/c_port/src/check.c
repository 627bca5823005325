/* Shared validation of configurations and inputs; see ops.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

int reject(result *res, const char *cls, const char *fmt, ...) {
    va_list ap;
    res->status = cls == NULL ? RES_ERROR : RES_REJECT;
    res->cls = cls;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static int in_list(const char *const *names, const char *name) {
    for (; *names != NULL; names++) {
        if (strcmp(*names, name) == 0) {
            return 1;
        }
    }
    return 0;
}

int cfg_open(cfgreader *c, const jv *config, const char *op, const char *const *fields,
             const char *const *required, result *res) {
    size_t k;
    c->obj = config;
    c->op = op;
    c->res = res;
    if (config == NULL || config->type != JV_OBJECT) {
        return reject(res, "config", "%s: config: expected an object, got %s", op,
                      json_type_name(config));
    }
    for (k = 0; k < config->n; k++) {
        if (!in_list(fields, config->keys[k])) {
            return reject(res, "config", "%s: config: unknown field '%.64s'", op,
                          config->keys[k]);
        }
    }
    for (; *required != NULL; required++) {
        if (json_get(config, *required) == NULL) {
            return reject(res, "config", "%s: config: missing field '%s'", op, *required);
        }
    }
    return 0;
}

int cfg_int(cfgreader *c, const char *name, int64_t lo, int64_t hi, int64_t dflt, int64_t *out) {
    const jv *v = json_get(c->obj, name);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (v->type != JV_INT) {
        return reject(c->res, "config", "%s: config.%s: expected an integer, got %s", c->op, name,
                      json_type_name(v));
    }
    if (v->i < lo || v->i > hi) {
        return reject(c->res, "config",
                      "%s: config.%s: %" PRId64 " is outside the valid range [%" PRId64
                      ", %" PRId64 "]",
                      c->op, name, v->i, lo, hi);
    }
    *out = v->i;
    return 0;
}

int cfg_bool(cfgreader *c, const char *name, int *out) {
    const jv *v = json_get(c->obj, name);
    if (v != NULL && v->type == JV_BOOL) {
        *out = (int)v->i;
        return 0;
    }
    return reject(c->res, "config", "%s: config.%s: expected true or false, got %s", c->op, name,
                  json_type_name(v));
}

int in_int_list(arena *a, const jv *inputs, const char *name, ivec *out, result *res) {
    const jv *v = json_get(inputs, name);
    size_t k;
    int64_t *store;
    if (v == NULL) {
        return reject(res, "shape", "inputs: missing field '%s'", name);
    }
    if (v->type != JV_ARRAY) {
        return reject(res, "shape", "inputs.%s: expected a list of integers, got %s", name,
                      json_type_name(v));
    }
    out->n = v->n;
    if (v->ints != NULL) {
        out->v = v->ints;
        return 0;
    }
    store = (int64_t *)arena_alloc(a, v->n * sizeof(int64_t));
    if (store == NULL) {
        return reject(res, NULL, "out of memory");
    }
    for (k = 0; k < v->n; k++) {
        if (!json_array_is_int(v, k, &store[k])) {
            return reject(res, "range", "inputs.%s[%lu]: expected an integer, got %s", name,
                          (unsigned long)k, json_type_name(&v->items[k]));
        }
    }
    out->v = store;
    return 0;
}

int in_int(const jv *inputs, const char *name, int64_t *out, result *res) {
    const jv *v = json_get(inputs, name);
    if (v == NULL) {
        return reject(res, "shape", "inputs: missing field '%s'", name);
    }
    if (v->type != JV_INT) {
        return reject(res, "range", "inputs.%s: expected an integer, got %s", name,
                      json_type_name(v));
    }
    *out = v->i;
    return 0;
}

int check_elems(const ivec *v, const char *name, int64_t lo, int64_t hi, const char *cls,
                result *res) {
    size_t k;
    for (k = 0; k < v->n; k++) {
        if (v->v[k] < lo || v->v[k] > hi) {
            return reject(res, cls,
                          "%s[%lu]: %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", name,
                          (unsigned long)k, v->v[k], lo, hi);
        }
    }
    return 0;
}

int check_len(const ivec *v, const char *name, size_t expected, const char *cls, result *res) {
    if (v->n != expected) {
        return reject(res, cls, "%s: expected length %lu, got %lu", name,
                      (unsigned long)expected, (unsigned long)v->n);
    }
    return 0;
}

int64_t signed_min(int width) { return -(int64_t)((uint64_t)1 << (width - 1)); }

int64_t signed_max(int width) { return (int64_t)(((uint64_t)1 << (width - 1)) - 1u); }

int64_t floor_div_pow2(int64_t v, int s) {
    if (s == 0) {
        return v;
    }
    if (v >= 0) {
        return v >> s;
    }
    /* v < 0: floor(v / 2^s) = -ceil(-v / 2^s) = -((-v - 1) / 2^s) - 1, all non-negative
     * shifts.  -v is safe: callers pass |v| < 2^62. */
    return -((-v - 1) >> s) - 1;
}
