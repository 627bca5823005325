/* JSON reader and writer; see json.h for the number model. */
#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */

#define ARENA_BLOCK ((size_t)1 << 16)
#define MAX_DEPTH 64

typedef struct block {
    struct block *next;
    size_t used;
    size_t cap;
    /* payload follows, aligned for any type */
} block;

struct arena {
    block *head;
};

static size_t align_up(size_t n) {
    size_t a = sizeof(long double) > sizeof(void *) ? sizeof(long double) : sizeof(void *);
    if (a < 16) {
        a = 16;
    }
    return (n + a - 1) / a * a;
}

arena *arena_new(void) {
    arena *a = (arena *)malloc(sizeof(arena));
    if (a != NULL) {
        a->head = NULL;
    }
    return a;
}

void *arena_alloc(arena *a, size_t size) {
    size_t header = align_up(sizeof(block));
    size_t need = align_up(size == 0 ? 1 : size);
    block *b = a->head;
    if (need > SIZE_MAX / 2) {
        return NULL;
    }
    if (b == NULL || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        b = (block *)malloc(header + cap);
        if (b == NULL) {
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    {
        void *p = (char *)b + header + b->used;
        b->used += need;
        return p;
    }
}

void arena_free(arena *a) {
    block *b;
    if (a == NULL) {
        return;
    }
    b = a->head;
    while (b != NULL) {
        block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

/* ---------------------------------------------------------------- reader */

typedef struct {
    arena *a;
    const char *p;
    const char *start;
    const char *end;
    char *err;
    size_t errlen;
    int depth;
} reader;

static int fail(reader *r, const char *what) {
    if (r->err != NULL && r->errlen > 0 && r->err[0] == '\0') {
        snprintf(r->err, r->errlen, "malformed JSON at byte %lu: %s",
                 (unsigned long)(r->p - r->start), what);
    }
    return -1;
}

static void skip_ws(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        r->p++;
    }
}

/* After an array element or object member: ',' continues (0), the closing
   character ends the container (1), anything else is malformed (-1). */
static int next_or_close(reader *r, char close, const char *what) {
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        return 0;
    }
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 1;
    }
    return fail(r, what);
}

static int parse_value(reader *r, jv *out);

static int literal(reader *r, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) {
        return fail(r, "invalid literal");
    }
    r->p += n;
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(reader *r, jv *out) {
    const char *begin = r->p;
    int negative = 0;
    int is_float = 0;
    uint64_t mag = 0;
    int overflow = 0;
    if (r->p < r->end && *r->p == '-') {
        negative = 1;
        r->p++;
    }
    if (r->p >= r->end || !is_digit(*r->p)) {
        return fail(r, "expected a digit");
    }
    if (*r->p == '0') {
        r->p++;
        if (r->p < r->end && is_digit(*r->p)) {
            return fail(r, "leading zero in a number");
        }
    } else {
        while (r->p < r->end && is_digit(*r->p)) {
            unsigned d = (unsigned)(*r->p - '0');
            if (mag > (UINT64_MAX - d) / 10u) {
                overflow = 1;
            } else {
                mag = mag * 10u + d;
            }
            r->p++;
        }
    }
    if (r->p < r->end && *r->p == '.') {
        is_float = 1;
        r->p++;
        if (r->p >= r->end || !is_digit(*r->p)) {
            return fail(r, "expected a digit after '.'");
        }
        while (r->p < r->end && is_digit(*r->p)) {
            r->p++;
        }
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        is_float = 1;
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) {
            r->p++;
        }
        if (r->p >= r->end || !is_digit(*r->p)) {
            return fail(r, "expected a digit in the exponent");
        }
        while (r->p < r->end && is_digit(*r->p)) {
            r->p++;
        }
    }
    if (is_float) {
        size_t n = (size_t)(r->p - begin);
        out->type = JV_FLOAT;
        out->s = (char *)arena_alloc(r->a, n + 1);
        if (out->s == NULL) {
            return fail(r, "out of memory");
        }
        memcpy(out->s, begin, n);
        out->s[n] = '\0';
        out->n = n;
        return 0;
    }
    out->type = JV_INT;
    /* Saturate outside int64_t: see json.h. */
    if (negative) {
        if (overflow || mag > (uint64_t)INT64_MAX + 1u) {
            out->i = INT64_MIN;
        } else if (mag == (uint64_t)INT64_MAX + 1u) {
            out->i = INT64_MIN;
        } else {
            out->i = -(int64_t)mag;
        }
    } else {
        out->i = (overflow || mag > (uint64_t)INT64_MAX) ? INT64_MAX : (int64_t)mag;
    }
    return 0;
}

static int hex4(reader *r, unsigned *value) {
    unsigned v = 0;
    int k;
    if (r->end - r->p < 4) {
        return fail(r, "truncated \\u escape");
    }
    for (k = 0; k < 4; k++) {
        char c = r->p[k];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return fail(r, "invalid \\u escape");
        }
    }
    r->p += 4;
    *value = v;
    return 0;
}

static size_t put_utf8(char *dst, unsigned cp) {
    if (cp < 0x80u) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800u) {
        dst[0] = (char)(0xC0u | (cp >> 6));
        dst[1] = (char)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp < 0x10000u) {
        dst[0] = (char)(0xE0u | (cp >> 12));
        dst[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        dst[2] = (char)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    dst[0] = (char)(0xF0u | (cp >> 18));
    dst[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
    dst[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
    dst[3] = (char)(0x80u | (cp & 0x3Fu));
    return 4;
}

/* A string: the decoded bytes are never longer than the escaped text. */
static int parse_string(reader *r, char **s, size_t *len) {
    const char *scan;
    char *dst;
    size_t n = 0;
    if (r->p >= r->end || *r->p != '"') {
        return fail(r, "expected a string");
    }
    r->p++;
    scan = r->p;
    while (scan < r->end && *scan != '"') {
        if (*scan == '\\' && r->end - scan < 2) {
            break;
        }
        scan += (*scan == '\\') ? 2 : 1;
    }
    if (scan >= r->end) {
        return fail(r, "unterminated string");
    }
    dst = (char *)arena_alloc(r->a, (size_t)(scan - r->p) + 1);
    if (dst == NULL) {
        return fail(r, "out of memory");
    }
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20u) {
            return fail(r, "control character in a string");
        }
        if (c != '\\') {
            dst[n++] = (char)c;
            r->p++;
            continue;
        }
        r->p++;
        if (r->p >= r->end) {
            return fail(r, "unterminated escape");
        }
        c = (unsigned char)*r->p++;
        switch (c) {
        case '"': dst[n++] = '"'; break;
        case '\\': dst[n++] = '\\'; break;
        case '/': dst[n++] = '/'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(r, &cp) != 0) {
                return -1;
            }
            if (cp >= 0xD800u && cp <= 0xDBFFu && r->end - r->p >= 6 && r->p[0] == '\\' &&
                r->p[1] == 'u') {
                unsigned lo;
                const char *save = r->p;
                r->p += 2;
                if (hex4(r, &lo) != 0) {
                    return -1;
                }
                if (lo >= 0xDC00u && lo <= 0xDFFFu) {
                    cp = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
                } else {
                    r->p = save;
                }
            }
            /* 6 escaped bytes always cover the at most 4 bytes written */
            n += put_utf8(dst + n, cp);
            break;
        }
        default:
            return fail(r, "invalid escape");
        }
    }
    r->p++; /* closing quote */
    dst[n] = '\0';
    *s = dst;
    *len = n;
    return 0;
}

/* Growable temporary vectors used while an array or object is read. */
typedef struct {
    void *data;
    size_t n;
    size_t cap;
    size_t elem;
} tmpvec;

static int tv_push(tmpvec *v, const void *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap == 0 ? 16 : v->cap * 2;
        void *d;
        if (cap > SIZE_MAX / v->elem) {
            return -1;
        }
        d = realloc(v->data, cap * v->elem);
        if (d == NULL) {
            return -1;
        }
        v->data = d;
        v->cap = cap;
    }
    memcpy((char *)v->data + v->n * v->elem, x, v->elem);
    v->n++;
    return 0;
}

static void *tv_copy(arena *a, const tmpvec *v) {
    void *d = arena_alloc(a, v->n * v->elem);
    if (d != NULL && v->n > 0) {
        memcpy(d, v->data, v->n * v->elem);
    }
    return d;
}

static int parse_array(reader *r, jv *out) {
    tmpvec ints = {NULL, 0, 0, sizeof(int64_t)};
    tmpvec items = {NULL, 0, 0, sizeof(jv)};
    int generic = 0;
    int rc = -1;
    int sep;
    r->p++; /* '[' */
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        rc = 0;
        goto done;
    }
    for (;;) {
        jv item;
        memset(&item, 0, sizeof(item));
        skip_ws(r);
        if (parse_value(r, &item) != 0) {
            goto done;
        }
        if (!generic && item.type != JV_INT) {
            /* switch to the generic form: convert the integers read so far */
            size_t k;
            generic = 1;
            for (k = 0; k < ints.n; k++) {
                jv iv;
                memset(&iv, 0, sizeof(iv));
                iv.type = JV_INT;
                iv.i = ((int64_t *)ints.data)[k];
                if (tv_push(&items, &iv) != 0) {
                    fail(r, "out of memory");
                    goto done;
                }
            }
        }
        if (generic ? tv_push(&items, &item) : tv_push(&ints, &item.i)) {
            fail(r, "out of memory");
            goto done;
        }
        sep = next_or_close(r, ']', "expected ',' or ']' in an array");
        if (sep == 0) {
            continue;
        }
        if (sep == 1) {
            rc = 0;
        }
        break;
    }
done:
    if (rc == 0) {
        out->type = JV_ARRAY;
        if (generic) {
            out->n = items.n;
            out->items = (jv *)tv_copy(r->a, &items);
            if (out->items == NULL) {
                rc = fail(r, "out of memory");
            }
        } else {
            out->n = ints.n;
            out->ints = (int64_t *)tv_copy(r->a, &ints);
            if (out->ints == NULL) {
                rc = fail(r, "out of memory");
            }
        }
    }
    free(ints.data);
    free(items.data);
    return rc;
}

static int parse_object(reader *r, jv *out) {
    tmpvec keys = {NULL, 0, 0, sizeof(char *)};
    tmpvec vals = {NULL, 0, 0, sizeof(jv)};
    int rc = -1;
    int sep;
    r->p++; /* '{' */
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        rc = 0;
        goto done;
    }
    for (;;) {
        char *key;
        size_t klen;
        jv val;
        memset(&val, 0, sizeof(val));
        skip_ws(r);
        if (parse_string(r, &key, &klen) != 0) {
            goto done;
        }
        skip_ws(r);
        if (r->p >= r->end || *r->p != ':') {
            fail(r, "expected ':' after an object key");
            goto done;
        }
        r->p++;
        skip_ws(r);
        if (parse_value(r, &val) != 0) {
            goto done;
        }
        if (tv_push(&keys, &key) != 0 || tv_push(&vals, &val) != 0) {
            fail(r, "out of memory");
            goto done;
        }
        sep = next_or_close(r, '}', "expected ',' or '}' in an object");
        if (sep == 0) {
            continue;
        }
        if (sep == 1) {
            rc = 0;
        }
        break;
    }
done:
    if (rc == 0) {
        out->type = JV_OBJECT;
        out->n = keys.n;
        out->keys = (char **)tv_copy(r->a, &keys);
        out->items = (jv *)tv_copy(r->a, &vals);
        if (out->keys == NULL || out->items == NULL) {
            rc = fail(r, "out of memory");
        }
    }
    free(keys.data);
    free(vals.data);
    return rc;
}

static int parse_value(reader *r, jv *out) {
    int rc;
    skip_ws(r);
    if (r->p >= r->end) {
        return fail(r, "unexpected end of input");
    }
    if (++r->depth > MAX_DEPTH) {
        return fail(r, "nesting too deep");
    }
    switch (*r->p) {
    case '{': rc = parse_object(r, out); break;
    case '[': rc = parse_array(r, out); break;
    case '"':
        out->type = JV_STRING;
        rc = parse_string(r, &out->s, &out->n);
        break;
    case 't':
        out->type = JV_BOOL;
        out->i = 1;
        rc = literal(r, "true");
        break;
    case 'f':
        out->type = JV_BOOL;
        out->i = 0;
        rc = literal(r, "false");
        break;
    case 'n':
        out->type = JV_NULL;
        rc = literal(r, "null");
        break;
    default: rc = parse_number(r, out); break;
    }
    r->depth--;
    return rc;
}

jv *json_parse(arena *a, const char *text, size_t len, char *err, size_t errlen) {
    reader r;
    jv *v = (jv *)arena_alloc(a, sizeof(jv));
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    r.a = a;
    r.p = text;
    r.start = text;
    r.end = text + len;
    r.err = err;
    r.errlen = errlen;
    r.depth = 0;
    if (v == NULL) {
        fail(&r, "out of memory");
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    if (parse_value(&r, v) != 0) {
        return NULL;
    }
    skip_ws(&r);
    if (r.p != r.end) {
        fail(&r, "trailing characters after the value");
        return NULL;
    }
    return v;
}

const jv *json_get(const jv *obj, const char *key) {
    size_t k;
    if (obj == NULL || obj->type != JV_OBJECT) {
        return NULL;
    }
    for (k = obj->n; k > 0; k--) {
        if (strcmp(obj->keys[k - 1], key) == 0) {
            return &obj->items[k - 1];
        }
    }
    return NULL;
}

int json_array_is_int(const jv *arr, size_t i, int64_t *value) {
    if (arr->ints != NULL) {
        *value = arr->ints[i];
        return 1;
    }
    if (arr->items[i].type == JV_INT) {
        *value = arr->items[i].i;
        return 1;
    }
    return 0;
}

const char *json_type_name(const jv *v) {
    if (v == NULL) {
        return "nothing";
    }
    switch (v->type) {
    case JV_NULL: return "null";
    case JV_BOOL: return "a boolean";
    case JV_INT: return "an integer";
    case JV_FLOAT: return "a non-integer number";
    case JV_STRING: return "a string";
    case JV_ARRAY: return "an array";
    case JV_OBJECT: return "an object";
    }
    return "?";
}

/* ---------------------------------------------------------------- writer */

void sb_init(sbuf *b) {
    b->buf = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void sb_free(sbuf *b) {
    free(b->buf);
    sb_init(b);
}

void sb_reset(sbuf *b) {
    b->len = 0;
    b->failed = 0;
    if (b->buf != NULL) {
        b->buf[0] = '\0';
    }
}

static int sb_reserve(sbuf *b, size_t extra) {
    if (b->failed) {
        return -1;
    }
    if (b->len + extra + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        char *d;
        while (cap < b->len + extra + 1) {
            cap *= 2;
        }
        d = (char *)realloc(b->buf, cap);
        if (d == NULL) {
            b->failed = 1;
            return -1;
        }
        b->buf = d;
        b->cap = cap;
    }
    return 0;
}

void sb_putc(sbuf *b, char c) {
    if (sb_reserve(b, 1) == 0) {
        b->buf[b->len++] = c;
        b->buf[b->len] = '\0';
    }
}

void sb_puts(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (sb_reserve(b, n) == 0) {
        memcpy(b->buf + b->len, s, n);
        b->len += n;
        b->buf[b->len] = '\0';
    }
}

void sb_int(sbuf *b, int64_t v) {
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%" PRId64, v);
    sb_puts(b, tmp);
}

void sb_string(sbuf *b, const char *s, size_t n) {
    size_t k;
    sb_putc(b, '"');
    for (k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"') {
            sb_puts(b, "\\\"");
        } else if (c == '\\') {
            sb_puts(b, "\\\\");
        } else if (c == '\n') {
            sb_puts(b, "\\n");
        } else if (c == '\r') {
            sb_puts(b, "\\r");
        } else if (c == '\t') {
            sb_puts(b, "\\t");
        } else if (c < 0x20u) {
            char tmp[8];
            snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned)c);
            sb_puts(b, tmp);
        } else {
            sb_putc(b, (char)c);
        }
    }
    sb_putc(b, '"');
}

void sb_int_array(sbuf *b, const int64_t *v, size_t n) {
    size_t k;
    sb_putc(b, '[');
    for (k = 0; k < n; k++) {
        if (k > 0) {
            sb_puts(b, ", ");
        }
        sb_int(b, v[k]);
    }
    sb_putc(b, ']');
}

void sb_value(sbuf *b, const jv *v) {
    if (v == NULL) {
        sb_puts(b, "null");
        return;
    }
    switch (v->type) {
    case JV_STRING: sb_string(b, v->s, v->n); break;
    case JV_INT: sb_int(b, v->i); break;
    case JV_FLOAT: sb_puts(b, v->s); break;
    case JV_BOOL: sb_puts(b, v->i ? "true" : "false"); break;
    default: sb_puts(b, "null"); break;
    }
}
