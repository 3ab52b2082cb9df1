/* coll_items.h - test support: gather a decoder's items in order (included by the collector
 * tests; not a test of its own). */
#ifndef CDR_TEST_COLL_ITEMS_H
#define CDR_TEST_COLL_ITEMS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_coll.h"

typedef struct items {
    cdr_coll_item *it_v;
    size_t it_n, it_cap;
    size_t it_kind[3]; /* per cdr_coll_kind */
} items;

/* A cdr_coll_emit_fn that appends every item to the items at arg. */
static inline int collect(void *arg, const cdr_coll_item *ci)
{
    items *its = arg;
    if (its->it_n == its->it_cap) {
        its->it_cap = its->it_cap ? its->it_cap * 2 : 64;
        its->it_v = realloc(its->it_v, its->it_cap * sizeof *its->it_v);
        cr_assert_not_null(its->it_v);
    }
    its->it_v[its->it_n++] = *ci;
    cr_assert_lt(ci->ci_kind, 3);
    its->it_kind[ci->ci_kind]++;
    return 0;
}

static inline void items_free(items *its)
{
    free(its->it_v);
    memset(its, 0, sizeof *its);
}

/* The whole file at path, NUL-terminated (*len excludes the NUL), or NULL if it cannot be
 * opened. The caller frees. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Compare a rendering (out, outlen; freed here) with the golden file gpath of fixture `file`;
 * with CDR_UPDATE_GOLDEN set in the environment, rewrite the golden file first. */
static inline void golden_compare(char *out, size_t outlen, const char *gpath, const char *file)
{
    if (getenv("CDR_UPDATE_GOLDEN")) {
        FILE *g = fopen(gpath, "wb");
        cr_assert_not_null(g);
        fwrite(out, 1, outlen, g);
        fclose(g);
    }
    size_t glen;
    char *want = slurp(gpath, &glen);
    cr_assert_not_null(want, "missing golden file %s", gpath);
    cr_assert(glen == outlen && memcmp(out, want, glen) == 0, "%s differs from its golden file",
              file);
    free(want);
    free(out);
}

#endif
