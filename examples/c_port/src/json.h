/*
 * A small JSON reader and writer for the backend protocol (spec/11-backend-protocol.md).
 *
 * The reader accepts any JSON text (RFC 8259): objects, arrays, strings, numbers,
 * true, false and null, so that a request with a value of the wrong type can be
 * rejected with the right class instead of failing to parse.  Numbers are kept in
 * three kinds:
 *   - an integer (no fraction, no exponent) that fits int64_t: JV_INT;
 *   - an integer outside int64_t: JV_INT saturated to INT64_MIN / INT64_MAX.  No
 *     declared format or parameter range of the spec reaches 2^62, so a saturated
 *     value always fails the range check that follows, exactly as the unbounded
 *     integer would;
 *   - anything with a fraction or an exponent: JV_FLOAT (never an integer; its value
 *     is not needed).
 * Arrays whose elements are all JV_INT are stored compactly as an int64_t vector.
 *
 * Every allocation of one request comes from an arena freed in one call.
 */
#ifndef SORBET_JSON_H
#define SORBET_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct arena arena;

arena *arena_new(void);
void *arena_alloc(arena *a, size_t size);
void arena_free(arena *a);

typedef enum {
    JV_NULL,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STRING,
    JV_ARRAY,
    JV_OBJECT
} jv_type;

typedef struct jv jv;
struct jv {
    jv_type type;
    int64_t i;     /* JV_INT value; JV_BOOL 0/1 */
    size_t n;      /* string length, array length or number of object members */
    char *s;       /* JV_STRING: bytes (UTF-8), NUL-terminated */
    int64_t *ints; /* JV_ARRAY when every element is JV_INT, else NULL */
    jv *items;     /* JV_ARRAY (generic form) or JV_OBJECT member values */
    char **keys;   /* JV_OBJECT member names */
};

/* Parse one JSON text of `len` bytes.  Returns NULL on malformed input and writes
 * a description (with the byte offset) into err. */
jv *json_parse(arena *a, const char *text, size_t len, char *err, size_t errlen);

/* The member `key` of an object (the last one if repeated), or NULL. */
const jv *json_get(const jv *obj, const char *key);

/* Element i of an array as a value of type JV_INT or the generic element. */
int json_array_is_int(const jv *arr, size_t i, int64_t *value);

const char *json_type_name(const jv *v);

/* A growable output buffer. */
typedef struct {
    char *buf;
    size_t len;
    size_t cap;
    int failed; /* set when an allocation failed */
} sbuf;

void sb_init(sbuf *b);
void sb_free(sbuf *b);
void sb_reset(sbuf *b);
void sb_puts(sbuf *b, const char *s);
void sb_putc(sbuf *b, char c);
void sb_int(sbuf *b, int64_t v);
void sb_string(sbuf *b, const char *s, size_t n); /* quoted and escaped */
void sb_int_array(sbuf *b, const int64_t *v, size_t n);
/* Writes the JSON form of a scalar value (used to echo a request's id). */
void sb_value(sbuf *b, const jv *v);

#endif
