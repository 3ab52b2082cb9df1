/* dec_csv.c - the project's own CSV layout (docs/cdr-csv.md) as a collector input.
 *
 * Each line is parsed by the engine's cdr_csv_parse; a voice or video record of zero seconds is
 * non-billable; the numbers, already E.164, are checked as international numbers (at most 15
 * digits); the rest is validated against the configuration (window, maximum duration).
 * cr_source comes from the record itself, not from the configuration. */
#include <stdio.h>
#include <string.h>

#include "coll_text.h"

enum { CSV_MSISDN = 4, CSV_OTHER = 6, CSV_DURATION = 8 };

/* 1-based column of the 0-based field k of a line of the layout (fields hold no quotes). */
static int csv_col(const char *line, size_t len, int k)
{
    size_t i = 0;
    for (; k > 0 && i < len; i++)
        if (line[i] == ',')
            k--;
    return (int)i + 1;
}

/* Column of the field validation complained about. */
static int vfield_col(coll_vfield vf)
{
    switch (vf) {
    case COLL_VF_SOURCE:
        return 0;
    case COLL_VF_ORIGIN:
        return 1;
    case COLL_VF_SERVICE:
        return 2;
    case COLL_VF_DIRECTION:
        return 3;
    case COLL_VF_MSISDN:
        return CSV_MSISDN;
    case COLL_VF_IMSI:
        return 5;
    case COLL_VF_OTHER:
        return CSV_OTHER;
    case COLL_VF_START:
        return 7;
    case COLL_VF_DURATION:
    default:
        return CSV_DURATION;
    }
}

static void csv_line(cdr_coll_decoder *d, const char *name, const char *line, size_t len,
                     cdr_coll_item *ci, void *ctx)
{
    (void)ctx;
    cdr_record *cr = &ci->ci_rec;
    if (cdr_csv_parse(line, len, cr, &ci->ci_diag) != 0) {
        memset(cr, 0, sizeof *cr); /* the parser may stop before clearing it */
        coll_place(ci, name, 0);
        return;
    }
    if (cr->cr_duration == 0 &&
        (cr->cr_service == CDR_SVC_VOICE || cr->cr_service == CDR_SVC_VIDEO)) {
        COLL_NONBILLABLE(ci, name, csv_col(line, len, CSV_DURATION), "zero billable seconds");
        return;
    }
    /* The layout carries E.164 digits: normalised as international numbers they stay as they
     * are, so the check is all that is needed (at most 15 digits). */
    const cdr_coll_config *cc = &d->cd_cfg;
    char num[CDR_NUMBER_MAX];
    size_t bad = 0;
    size_t n = strlen(cr->cr_msisdn);
    int e = coll_number(&cc->cc_numbering, cr->cr_msisdn, n, 1, num, sizeof num, &bad);
    if (e) {
        coll_reject_number(ci, name, csv_col(line, len, CSV_MSISDN), "msisdn", cr->cr_msisdn, n, e,
                           bad);
        return;
    }
    if (cr->cr_other[0]) {
        n = strlen(cr->cr_other);
        e = coll_number(&cc->cc_numbering, cr->cr_other, n, 1, num, sizeof num, &bad);
        if (e) {
            coll_reject_number(ci, name, csv_col(line, len, CSV_OTHER), "other", cr->cr_other, n, e,
                               bad);
            return;
        }
    }
    coll_vfield vf;
    if (coll_validate(cc, cr, &ci->ci_diag, &vf) != 0)
        coll_place(ci, name, csv_col(line, len, vfield_col(vf)));
}

static int csv_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                      cdr_coll_emit_fn emit, void *arg)
{
    return coll_text_decode(d, name, buf, len, cdr_csv_header, csv_line, NULL, emit, arg);
}

const coll_format_ops coll_csv_ops = {
    .fo_name = "csv",
    .fo_init = NULL,
    .fo_fini = NULL,
    .fo_decode = csv_decode,
};
