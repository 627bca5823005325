/*
 * A port skeleton speaking the JSON-lines protocol (spec/11-backend-protocol.md).
 *
 * Build: sh examples/skeleton_c/build.sh
 * Run:   sorbet-ref check --backend exec:examples/skeleton_c/build/port
 *
 * Every request line gets exactly one answer line, flushed:
 *   {"id": "<id>", "error": "not implemented: <op>"}
 * which the runner reports as `error` for that vector only.  To implement an
 * operator, parse the request's "config" and "inputs" (examples/c_port/src/json.c
 * is a complete reader) and print {"id": ..., "outputs": {...}} or
 * {"id": ..., "reject": "<class>", "message": "..."}; docs/wire.md lists every
 * operator's fields.  Standard output carries answers only; logs go to stderr.
 * C99, no dependencies; lines of any length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy the JSON string value of "key" in line into out (at most n - 1 bytes); 0 if absent. */
static int string_field(const char *line, const char *key, char *out, size_t n) {
    char pattern[64];
    const char *p, *q;
    size_t len;
    sprintf(pattern, "\"%s\"", key);
    p = strstr(line, pattern);
    if (p == NULL) return 0;
    p += strlen(pattern);
    while (*p == ' ' || *p == ':') p++;
    if (*p != '"') return 0;
    q = strchr(++p, '"');
    if (q == NULL) return 0;
    len = (size_t)(q - p) < n - 1 ? (size_t)(q - p) : n - 1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

/* Read one line of any length into *buf (grown as needed); 0 at end of input. */
static int read_line(char **buf, size_t *cap) {
    size_t len = 0;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (len + 1 >= *cap) {
            char *grown = (char *)realloc(*buf, *cap * 2);
            if (grown == NULL) return 0;
            *buf = grown;
            *cap *= 2;
        }
        (*buf)[len++] = (char)c;
    }
    (*buf)[len] = '\0';
    return c != EOF || len > 0;
}

int main(void) {
    size_t cap = 4096;
    char *line = (char *)malloc(cap);
    char id[256], op[64];
    if (line == NULL) return 1;
    while (read_line(&line, &cap)) {
        if (!string_field(line, "id", id, sizeof id)) strcpy(id, "");
        if (!string_field(line, "op", op, sizeof op)) strcpy(op, "?");
        /* ids and operator names are [a-z0-9_-], so they need no escaping */
        printf("{\"id\": \"%s\", \"error\": \"not implemented: %s\"}\n", id, op);
        fflush(stdout);
    }
    free(line);
    return 0;
}
