/* coll_items.h - test support: gather a decoder's items in order (included by the collector
 * tests; not a test of its own). */
#ifndef CDR_TEST_COLL_ITEMS_H
#define CDR_TEST_COLL_ITEMS_H

#include <criterion/criterion.h>
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

#endif
