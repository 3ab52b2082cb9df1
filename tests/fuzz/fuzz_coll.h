/* fuzz_coll.h - shared by the collector decoder harnesses (fuzz_csv, fuzz_asterisk,
 * fuzz_freeswitch, fuzz_3gpp_file, fuzz_3gpp_ber): one decoder per configuration, created once,
 * and the properties every decoder's items must have (cdr_coll.h):
 *   - each item's kind is known, its bytes lie within the input, items come in input order with
 *     ci_index 0, 1, 2, ...;
 *   - a rejected item says why; every diagnostic string is terminated;
 *   - a record passes cdr_record_check, and encodes and decodes through the wire format to
 *     itself; every item's record renders as JSON;
 *   - binary (3GPP) items tile the input: each starts where the previous one ended.
 */
#ifndef CDR_FUZZ_COLL_H
#define CDR_FUZZ_COLL_H

#include "cdr_coll.h"
#include "fuzz.h"

typedef struct fuzz_coll_state {
    size_t fc_len;    /* input length */
    size_t fc_n;      /* items so far */
    uint64_t fc_next; /* end of the previous item */
    int fc_tiles;     /* binary format: items are contiguous */
} fuzz_coll_state;

static inline int fuzz_coll_emit(void *arg, const cdr_coll_item *ci)
{
    fuzz_coll_state *st = arg;
    FUZZ_CHECK(ci->ci_kind <= CDR_ITEM_NONBILLABLE);
    FUZZ_CHECK(ci->ci_offset <= st->fc_len && ci->ci_length <= st->fc_len - ci->ci_offset);
    FUZZ_CHECK(ci->ci_index == st->fc_n);
    FUZZ_CHECK(ci->ci_offset >= st->fc_next);
    if (st->fc_tiles && st->fc_n > 0)
        FUZZ_CHECK(ci->ci_offset == st->fc_next);
    st->fc_next = ci->ci_offset + ci->ci_length;
    st->fc_n++;
    fuzz_check_diag(&ci->ci_diag, ci->ci_kind == CDR_ITEM_REJECTED);
    if (fuzz_verbose())
        fprintf(stderr, "item %llu: %s %s\n", (unsigned long long)ci->ci_index,
                ci->ci_kind == CDR_ITEM_RECORD     ? "record"
                : ci->ci_kind == CDR_ITEM_REJECTED ? "rejected:"
                                                   : "non-billable:",
                ci->ci_diag.dg_msg);
    fuzz_check_record_strings(&ci->ci_rec);
    fuzz_render_json(&ci->ci_rec);
    if (ci->ci_kind == CDR_ITEM_RECORD) {
        cdr_diag dg;
        cdr_diag_clear(&dg);
        int rc = cdr_record_check(&ci->ci_rec, &dg);
        if (rc)
            fprintf(stderr, "record item %llu fails cdr_record_check: %s\n",
                    (unsigned long long)ci->ci_index, dg.dg_msg);
        FUZZ_CHECK(rc == 0);
        fuzz_check_wire_round_trip(&ci->ci_rec);
    }
    return 0;
}

/* A decoder of format fmt with the default configuration, or with columns as the FreeSWITCH
 * mapping (NULL: the default template). Created on first use, kept for the process. */
static inline cdr_coll_decoder *fuzz_coll_decoder(int fmt, const char *columns)
{
    cdr_coll_config cc;
    cdr_coll_config_defaults(&cc);
    snprintf(cc.cc_source, sizeof cc.cc_source, "FUZZ-01");
    if (columns)
        snprintf(cc.cc_fs_columns, sizeof cc.cc_fs_columns, "%s", columns);
    cdr_coll_decoder *d = NULL;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_coll_decoder_create(fmt, &cc, &d, &dg) != 0) {
        fprintf(stderr, "fuzz: cannot create the %s decoder: %s\n", cdr_coll_format_name(fmt),
                dg.dg_msg);
        abort();
    }
    return d;
}

/* Decode data with d and check every item. */
static inline void fuzz_coll_run(cdr_coll_decoder *d, const uint8_t *data, size_t size, int tiles)
{
    fuzz_coll_state st = {.fc_len = size, .fc_tiles = tiles};
    int rc = cdr_coll_decode(d, "fuzz.in", data, size, fuzz_coll_emit, &st);
    FUZZ_CHECK(rc == 0);
    if (tiles && st.fc_n > 0)
        FUZZ_CHECK(st.fc_next == size);
}

#endif
