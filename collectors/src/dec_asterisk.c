/* dec_asterisk.c - Asterisk cdr_csv (Master.csv) as a collector input (docs/collectors.md,
 * "Asterisk").
 *
 * A line has the 16 columns accountcode .. amaflags, then (cdr.conf loguniqueid, loguserfield,
 * newcdrcolumns) uniqueid, userfield, peeraccount, linkedid, sequence: 16 to 21 columns, taken
 * by position. Strings are double-quoted with "" for a quote, integers bare (quoted ones are
 * accepted too), times "YYYY-MM-DD HH:MM:SS" in the element's zone, an empty answer time for an
 * unanswered call.
 *
 * An ANSWERED call with billsec > 0 is a voice MO record: msisdn = src, other = dst (both
 * normalised), start = answer, duration = billsec, source = the configured element, origin id =
 * uniqueid, or a hash of (src, dst, start, channel, dstchannel) without one. Other dispositions
 * and zero billsec are non-billable. */
#include <string.h>

#include "coll_text.h"

enum {
    AST_ACCOUNTCODE = 0,
    AST_SRC,
    AST_DST,
    AST_DCONTEXT,
    AST_CLID,
    AST_CHANNEL,
    AST_DSTCHANNEL,
    AST_LASTAPP,
    AST_LASTDATA,
    AST_START,
    AST_ANSWER,
    AST_END,
    AST_DURATION,
    AST_BILLSEC,
    AST_DISPOSITION,
    AST_AMAFLAGS,
    AST_UNIQUEID, /* loguniqueid=yes */
    AST_USERFIELD,
    AST_PEERACCOUNT, /* newcdrcolumns=yes */
    AST_LINKEDID,
    AST_SEQUENCE,
    AST_MAX_COLS
};
#define AST_MIN_COLS 16

/* Dispositions and the Q.850 cause recorded for each (cdr_csv carries no cause of its own). */
static const struct {
    const char *name;
    uint16_t cause;
} dispositions[] = {
    {"ANSWERED", 16}, {"NO ANSWER", 19}, {"BUSY", 17}, {"FAILED", 41}, {"CONGESTION", 34},
};
enum { DISP_ANSWERED = 0 };

typedef struct ast_ctx {
    coll_tzcache ac_tz;
} ast_ctx;

/* The origin id: uniqueid when the line has a non-empty one, else the hash of the key fields. */
static void ast_identity(cdr_record *cr, const coll_field *f, int nf)
{
    if (nf > AST_UNIQUEID && f[AST_UNIQUEID].fl_len > 0) {
        coll_origin_id(cr, f[AST_UNIQUEID].fl_p, f[AST_UNIQUEID].fl_len);
        return;
    }
    static const int key[] = {AST_SRC, AST_DST, AST_START, AST_CHANNEL, AST_DSTCHANNEL};
    char buf[COLL_LINE_MAX + 8];
    size_t n = 0;
    for (size_t k = 0; k < sizeof key / sizeof key[0]; k++) {
        const coll_field *fl = &f[key[k]];
        memcpy(buf + n, fl->fl_p, fl->fl_len);
        n += fl->fl_len;
        buf[n++] = '\x1f'; /* unit separator: ("a", "bc") and ("ab", "c") differ */
    }
    coll_hash_identity(cr, buf, n);
}

static void ast_line(cdr_coll_decoder *d, const char *name, const char *line, size_t len,
                     cdr_coll_item *ci, void *ctx)
{
    ast_ctx *ac = ctx;
    cdr_record *cr = &ci->ci_rec;
    memset(cr, 0, sizeof *cr);
    coll_field f[AST_MAX_COLS];
    int col = 0;
    const char *msg = NULL;
    const int nf = coll_split(line, len, f, AST_MAX_COLS, &col, &msg);
    if (nf < 0) {
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s", msg);
        return;
    }
    if (nf > AST_MAX_COLS) {
        COLL_REJECT(ci, name, CDR_FORMAT, col, "more than %d columns", AST_MAX_COLS);
        return;
    }
    if (nf < AST_MIN_COLS) {
        COLL_REJECT(ci, name, CDR_FORMAT, (int)len + 1, "%d columns, expected %d to %d", nf,
                    AST_MIN_COLS, AST_MAX_COLS);
        return;
    }

    /* well-formedness of what is used: times, integers, disposition */
    int64_t lstart, lanswer = 0, lend;
    int rc;
    if ((rc = coll_parse_local(f[AST_START].fl_p, f[AST_START].fl_len, &lstart)) != 0) {
        coll_reject_time(ci, name, (int)f[AST_START].fl_col, "start", rc);
        return;
    }
    const int answered = f[AST_ANSWER].fl_len > 0;
    if (answered &&
        (rc = coll_parse_local(f[AST_ANSWER].fl_p, f[AST_ANSWER].fl_len, &lanswer)) != 0) {
        coll_reject_time(ci, name, (int)f[AST_ANSWER].fl_col, "answer", rc);
        return;
    }
    if ((rc = coll_parse_local(f[AST_END].fl_p, f[AST_END].fl_len, &lend)) != 0) {
        coll_reject_time(ci, name, (int)f[AST_END].fl_col, "end", rc);
        return;
    }
    uint64_t duration, billsec;
    if ((rc = coll_parse_uint(f[AST_DURATION].fl_p, f[AST_DURATION].fl_len, UINT32_MAX,
                              &duration)) != 0) {
        coll_reject_uint(ci, name, (int)f[AST_DURATION].fl_col, "duration", rc, UINT32_MAX);
        return;
    }
    if ((rc = coll_parse_uint(f[AST_BILLSEC].fl_p, f[AST_BILLSEC].fl_len, UINT32_MAX, &billsec)) !=
        0) {
        coll_reject_uint(ci, name, (int)f[AST_BILLSEC].fl_col, "billsec", rc, UINT32_MAX);
        return;
    }
    const coll_field *disp = &f[AST_DISPOSITION];
    size_t di = 0;
    while (di < sizeof dispositions / sizeof dispositions[0] &&
           !coll_field_is(disp, dispositions[di].name))
        di++;
    if (di == sizeof dispositions / sizeof dispositions[0]) {
        COLL_REJECT(ci, name, CDR_FORMAT, (int)disp->fl_col, "unknown disposition '%.*s'",
                    (int)(disp->fl_len > 32 ? 32 : disp->fl_len), disp->fl_p);
        return;
    }

    /* the record as far as the line gives it */
    const cdr_coll_config *cc = &d->cd_cfg;
    memcpy(cr->cr_source, cc->cc_source, sizeof cr->cr_source);
    cr->cr_source[sizeof cr->cr_source - 1] = '\0';
    ast_identity(cr, f, nf);
    cr->cr_service = CDR_SVC_VOICE;
    cr->cr_direction = CDR_DIR_MO;
    cr->cr_cause = dispositions[di].cause;
    coll_local_utc(d, &ac->ac_tz, answered ? lanswer : lstart, &cr->cr_start, &cr->cr_utc_offset);

    /* billable? */
    const int quiet = di != DISP_ANSWERED || billsec == 0;
    if (quiet) {
        coll_field_number(d, name, &f[AST_SRC], "src", cr->cr_msisdn, ci, 1);
        coll_field_number(d, name, &f[AST_DST], "dst", cr->cr_other, ci, 1);
        if (di != DISP_ANSWERED)
            COLL_NONBILLABLE(ci, name, (int)disp->fl_col, "disposition %s", dispositions[di].name);
        else
            COLL_NONBILLABLE(ci, name, (int)f[AST_BILLSEC].fl_col, "zero billable seconds");
        return;
    }
    if (!answered) {
        COLL_REJECT(ci, name, CDR_FORMAT, (int)f[AST_ANSWER].fl_col,
                    "ANSWERED call without an answer time");
        return;
    }
    cr->cr_duration = (uint32_t)billsec;
    if (coll_field_number(d, name, &f[AST_SRC], "src", cr->cr_msisdn, ci, 0) ||
        coll_field_number(d, name, &f[AST_DST], "dst", cr->cr_other, ci, 0))
        return;
    coll_vfield vf;
    if (coll_validate(cc, cr, &ci->ci_diag, &vf) == 0)
        return;
    int vcol = (int)f[AST_UNIQUEID < nf ? AST_UNIQUEID : AST_START].fl_col;
    switch (vf) {
    case COLL_VF_MSISDN:
        vcol = (int)f[AST_SRC].fl_col;
        break;
    case COLL_VF_OTHER:
        vcol = (int)f[AST_DST].fl_col;
        break;
    case COLL_VF_START:
        vcol = (int)f[AST_ANSWER].fl_col;
        break;
    case COLL_VF_DURATION:
        vcol = (int)f[AST_BILLSEC].fl_col;
        break;
    default: /* source (configuration), origin id: the uniqueid or the key's start */
        break;
    }
    coll_place(ci, name, vcol);
}

static int ast_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                      cdr_coll_emit_fn emit, void *arg)
{
    ast_ctx ac;
    memset(&ac, 0, sizeof ac);
    return coll_text_decode(d, name, buf, len, NULL, ast_line, &ac, emit, arg);
}

/* The element's id goes into every record: an empty one would make every record invalid. */
static int ast_init(cdr_coll_decoder *d, cdr_diag *dg)
{
    if (!d->cd_cfg.cc_source[0])
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "asterisk input needs the network element id (source)");
    return 0;
}

const coll_format_ops coll_asterisk_ops = {
    .fo_name = "asterisk",
    .fo_init = ast_init,
    .fo_fini = NULL,
    .fo_decode = ast_decode,
};
