/*
 * sorbet-c: a port of the Sorbet integer operators and layers that speaks the JSON-lines
 * backend protocol of spec/11-backend-protocol.md.
 *
 * Reads one request per line on stdin:
 *   {"id": ..., "op": "...", "config": {...}, "inputs": {...}}
 * and answers each with exactly one line on stdout, in order:
 *   {"id": ..., "outputs": {...}}
 *   {"id": ..., "reject": "config|range|shape|mask", "message": "..."}
 *   {"id": ..., "error": "..."}            (the request could not be run)
 * Blank lines are ignored.  End of input ends the program with status 0.
 * No state is kept between requests.
 *
 * `sorbet-c --version` prints the version and the operators it implements.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "ops.h"

#define PORT_VERSION "sorbet-c 0.2.0"

typedef int (*op_fn)(arena *, const jv *, const jv *, result *);

static const struct {
    const char *name;
    op_fn fn;
} OPS[] = {
    {"ptsoftmax", op_ptsoftmax},
    {"bspn", op_bspn},
    {"quantize", op_quantize},
    {"if_encode", op_if_encode},
    {"binary_linear", op_binary_linear},
    {"attention", op_attention},
    {"ffn", op_ffn},
    {"encoder_layer", op_encoder_layer},
    {"model", op_model},
};

/* Read one line (any length) into *buf; returns its length or -1 at end of input. */
static long read_line(char **buf, size_t *cap) {
    size_t n = 0;
    int ch;
    if (*buf == NULL) {
        *cap = 4096;
        *buf = (char *)malloc(*cap);
        if (*buf == NULL) {
            return -2;
        }
    }
    while ((ch = getchar()) != EOF) {
        if (n + 1 >= *cap) {
            size_t ncap = *cap * 2;
            char *d = (char *)realloc(*buf, ncap);
            if (d == NULL) {
                return -2;
            }
            *buf = d;
            *cap = ncap;
        }
        if (ch == '\n') {
            break;
        }
        (*buf)[n++] = (char)ch;
    }
    if (ch == EOF && n == 0) {
        return -1;
    }
    if (n > 0 && (*buf)[n - 1] == '\r') {
        n--;
    }
    (*buf)[n] = '\0';
    return (long)n;
}

static int blank(const char *s, long n) {
    long k;
    for (k = 0; k < n; k++) {
        if (s[k] != ' ' && s[k] != '\t' && s[k] != '\r') {
            return 0;
        }
    }
    return 1;
}

static void answer(sbuf *line, const jv *id, const result *res) {
    sb_reset(line);
    sb_puts(line, "{\"id\": ");
    sb_value(line, id);
    if (res->status == RES_OK) {
        sb_puts(line, ", \"outputs\": ");
        sb_puts(line, res->out.buf != NULL ? res->out.buf : "{}");
    } else if (res->status == RES_REJECT) {
        sb_puts(line, ", \"reject\": ");
        sb_string(line, res->cls, strlen(res->cls));
        sb_puts(line, ", \"message\": ");
        sb_string(line, res->msg, strlen(res->msg));
    } else {
        sb_puts(line, ", \"error\": ");
        sb_string(line, res->msg, strlen(res->msg));
    }
    sb_putc(line, '}');
    if (line->failed) {
        fputs("{\"id\": null, \"error\": \"out of memory writing the answer\"}\n", stdout);
    } else {
        fputs(line->buf, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
}

static void handle(const char *text, size_t len, sbuf *line) {
    arena *a = arena_new();
    result res;
    char err[256];
    const jv *req, *id = NULL, *op;
    size_t k;
    res.status = RES_OK;
    res.cls = NULL;
    res.msg[0] = '\0';
    sb_init(&res.out);
    if (a == NULL) {
        reject(&res, NULL, "out of memory");
        answer(line, NULL, &res);
        return;
    }
    req = json_parse(a, text, len, err, sizeof(err));
    if (req == NULL) {
        reject(&res, NULL, "%s", err);
    } else if (req->type != JV_OBJECT) {
        reject(&res, NULL, "a request must be a JSON object, got %s", json_type_name(req));
    } else {
        id = json_get(req, "id");
        op = json_get(req, "op");
        if (op == NULL || op->type != JV_STRING) {
            reject(&res, NULL, "request: 'op' must be a string, got %s", json_type_name(op));
        } else {
            for (k = 0; k < sizeof(OPS) / sizeof(OPS[0]); k++) {
                if (strcmp(OPS[k].name, op->s) == 0) {
                    break;
                }
            }
            if (k == sizeof(OPS) / sizeof(OPS[0])) {
                reject(&res, NULL, "unsupported op '%.64s'", op->s);
            } else {
                const jv *inputs = json_get(req, "inputs");
                OPS[k].fn(a, json_get(req, "config"), inputs, &res);
                if (res.status == RES_OK && res.out.failed) {
                    reject(&res, NULL, "out of memory writing the outputs");
                }
            }
        }
    }
    answer(line, id, &res);
    sb_free(&res.out);
    arena_free(a);
}

int main(int argc, char **argv) {
    char *buf = NULL;
    size_t cap = 0;
    long n;
    sbuf line;
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        size_t k;
        printf("%s\noperators:", PORT_VERSION);
        for (k = 0; k < sizeof(OPS) / sizeof(OPS[0]); k++) {
            printf(" %s", OPS[k].name);
        }
        printf("\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--version]  (requests on stdin, one JSON object a line)\n",
                argv[0]);
        return 2;
    }
    sb_init(&line);
    while ((n = read_line(&buf, &cap)) >= 0) {
        if (blank(buf, n)) {
            continue;
        }
        handle(buf, (size_t)n, &line);
    }
    sb_free(&line);
    free(buf);
    if (n == -2) {
        fputs("sorbet-c: out of memory reading a request\n", stderr);
        return 1;
    }
    return 0;
}
