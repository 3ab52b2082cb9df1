/* dec_freeswitch.c - FreeSWITCH mod_cdr_csv as a collector input (docs/collectors.md,
 * "FreeSWITCH").
 *
 * The columns are the variables of the template: by default caller_id_name, caller_id_number,
 * destination_number, context, start_stamp, answer_stamp, end_stamp, duration, billsec,
 * hangup_cause, uuid, bleg_uuid, accountcode (and read_codec, write_codec, which the stock
 * cdr_csv.conf.xml appends), or the names in cc_fs_columns. Values may be double-quoted ("" for
 * a quote) or bare. Times are "YYYY-MM-DD HH:MM:SS" in the element's zone (*_stamp) or UTC
 * seconds (*_epoch).
 *
 * A call with billsec > 0 ended by a billing cause (NORMAL_CLEARING, NORMAL_UNSPECIFIED,
 * ALLOTTED_TIMEOUT) is a voice MO record: msisdn = caller_id_number, other =
 * destination_number (both normalised), start = answer time, duration = billsec, origin id =
 * uuid, source = the configured element. Any other cause, or zero billsec, is non-billable. */
#include <stdlib.h>
#include <string.h>

#include "coll_text.h"

/* The variables the decoder reads. */
enum {
    FV_CID_NUMBER = 0,
    FV_DEST,
    FV_START_STAMP,
    FV_ANSWER_STAMP,
    FV_END_STAMP,
    FV_START_EPOCH,
    FV_ANSWER_EPOCH,
    FV_END_EPOCH,
    FV_DURATION,
    FV_BILLSEC,
    FV_CAUSE,
    FV_UUID,
    FV_COUNT
};
static const char *const fv_names[FV_COUNT] = {
    "caller_id_number", "destination_number", "start_stamp",
    "answer_stamp",     "end_stamp",          "start_epoch",
    "answer_epoch",     "end_epoch",          "duration",
    "billsec",          "hangup_cause",       "uuid"};

#define FS_MAX_COLS 256

static const char fs_default_columns[] =
    "caller_id_name,caller_id_number,destination_number,context,start_stamp,answer_stamp,"
    "end_stamp,duration,billsec,hangup_cause,uuid,bleg_uuid,accountcode";

typedef struct fs_map {
    int fm_col[FV_COUNT]; /* 0-based column of each variable, -1 when absent */
    int fm_ncols;         /* columns of the template */
    int fm_ncols_alt;     /* another accepted count (15 for the default template), or 0 */
} fs_map;

typedef struct fs_ctx {
    const fs_map *fc_map;
    coll_tzcache fc_tz;
} fs_ctx;

/* FreeSWITCH's hangup causes (switch_types.h) and their Q.850 / FreeSWITCH values; the first
 * three bill. The most frequent come first: the look-up is linear. */
static const struct {
    const char *name;
    uint16_t value;
} fs_causes[] = {
    {"NORMAL_CLEARING", 16},
    {"NORMAL_UNSPECIFIED", 31},
    {"ALLOTTED_TIMEOUT", 602},
    /* non-billing */
    {"ORIGINATOR_CANCEL", 487},
    {"NO_ANSWER", 19},
    {"USER_BUSY", 17},
    {"NO_USER_RESPONSE", 18},
    {"CALL_REJECTED", 21},
    {"UNALLOCATED_NUMBER", 1},
    {"NORMAL_TEMPORARY_FAILURE", 41},
    {"NORMAL_CIRCUIT_CONGESTION", 34},
    {"SUBSCRIBER_ABSENT", 20},
    {"USER_NOT_REGISTERED", 606},
    {"DESTINATION_OUT_OF_ORDER", 27},
    {"RECOVERY_ON_TIMER_EXPIRE", 102},
    {"MEDIA_TIMEOUT", 604},
    {"PROGRESS_TIMEOUT", 607},
    {"LOSE_RACE", 502},
    {"PICKED_OFF", 605},
    {"BLIND_TRANSFER", 600},
    {"ATTENDED_TRANSFER", 601},
    {"MANAGER_REQUEST", 503},
    {"UNSPECIFIED", 0},
    {"NO_ROUTE_TRANSIT_NET", 2},
    {"NO_ROUTE_DESTINATION", 3},
    {"CHANNEL_UNACCEPTABLE", 6},
    {"CALL_AWARDED_DELIVERED", 7},
    {"NUMBER_CHANGED", 22},
    {"REDIRECTION_TO_NEW_DESTINATION", 23},
    {"EXCHANGE_ROUTING_ERROR", 25},
    {"INVALID_NUMBER_FORMAT", 28},
    {"FACILITY_REJECTED", 29},
    {"RESPONSE_TO_STATUS_ENQUIRY", 30},
    {"NETWORK_OUT_OF_ORDER", 38},
    {"SWITCH_CONGESTION", 42},
    {"ACCESS_INFO_DISCARDED", 43},
    {"REQUESTED_CHAN_UNAVAIL", 44},
    {"PRE_EMPTED", 45},
    {"FACILITY_NOT_SUBSCRIBED", 50},
    {"OUTGOING_CALL_BARRED", 52},
    {"INCOMING_CALL_BARRED", 54},
    {"BEARERCAPABILITY_NOTAUTH", 57},
    {"BEARERCAPABILITY_NOTAVAIL", 58},
    {"SERVICE_UNAVAILABLE", 63},
    {"BEARERCAPABILITY_NOTIMPL", 65},
    {"CHAN_NOT_IMPLEMENTED", 66},
    {"FACILITY_NOT_IMPLEMENTED", 69},
    {"SERVICE_NOT_IMPLEMENTED", 79},
    {"INVALID_CALL_REFERENCE", 81},
    {"INCOMPATIBLE_DESTINATION", 88},
    {"INVALID_MSG_UNSPECIFIED", 95},
    {"MANDATORY_IE_MISSING", 96},
    {"MESSAGE_TYPE_NONEXIST", 97},
    {"WRONG_MESSAGE", 98},
    {"IE_NONEXIST", 99},
    {"INVALID_IE_CONTENTS", 100},
    {"WRONG_CALL_STATE", 101},
    {"MANDATORY_IE_LENGTH_ERROR", 103},
    {"PROTOCOL_ERROR", 111},
    {"INTERWORKING", 127},
    {"SUCCESS", 142},
    {"CRASH", 700},
    {"SYSTEM_SHUTDOWN", 701},
    {"USER_CHALLENGE", 603},
    {"GATEWAY_DOWN", 609},
    {"INVALID_GATEWAY", 608},
    {"INVALID_URL", 610},
    {"INVALID_PROFILE", 611},
    {"NO_PICKUP", 612},
    {"SRTP_READ_ERROR", 613},
    {"BOWOUT", 614},
    {"BUSY_EVERYWHERE", 615},
    {"DECLINE", 616},
    {"DOES_NOT_EXIST_ANYWHERE", 617},
    {"NOT_ACCEPTABLE", 618},
    {"UNWANTED", 619},
    {"NO_IDENTITY", 620},
    {"BAD_IDENTITY_INFO", 621},
    {"UNSUPPORTED_CERTIFICATE", 622},
    {"INVALID_IDENTITY", 623},
    {"STALE_DATE", 624},
};
#define FS_BILLING_CAUSES 3

/* ---- the column mapping ---------------------------------------------------------------------- */

/* Parse "name,name,..." (each name optionally written ${name}, blanks around it ignored) into
 * fm. Returns 0 or CDR_EINVAL with the reason in dg. */
static int fs_map_parse(const char *spec, fs_map *fm, cdr_diag *dg)
{
    for (int v = 0; v < FV_COUNT; v++)
        fm->fm_col[v] = -1;
    fm->fm_ncols = 0;
    fm->fm_ncols_alt = 0;
    const char *p = spec;
    for (int col = 0;; col++) {
        const char *e = strchr(p, ',');
        const char *end = e ? e : p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b - a >= 3 && a[0] == '$' && a[1] == '{' && b[-1] == '}') {
            a += 2;
            b--;
        }
        if (a == b)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, col + 1,
                                "FreeSWITCH column mapping: column %d has no variable name",
                                col + 1);
        if (col == FS_MAX_COLS)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, col + 1,
                                "FreeSWITCH column mapping: more than %d columns", FS_MAX_COLS);
        for (int v = 0; v < FV_COUNT; v++) {
            if ((size_t)(b - a) != strlen(fv_names[v]) || memcmp(a, fv_names[v], b - a) != 0)
                continue;
            if (fm->fm_col[v] >= 0)
                return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, col + 1,
                                    "FreeSWITCH column mapping names %s twice (columns %d and %d)",
                                    fv_names[v], fm->fm_col[v] + 1, col + 1);
            fm->fm_col[v] = col;
        }
        fm->fm_ncols = col + 1;
        if (!e)
            break;
        p = e + 1;
    }
    static const int needed[] = {FV_CID_NUMBER, FV_DEST, FV_BILLSEC, FV_CAUSE, FV_UUID};
    for (size_t k = 0; k < sizeof needed / sizeof needed[0]; k++)
        if (fm->fm_col[needed[k]] < 0)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "FreeSWITCH column mapping lacks %s (needed: caller_id_number, "
                                "destination_number, answer_stamp or answer_epoch, billsec, "
                                "hangup_cause, uuid)",
                                fv_names[needed[k]]);
    if (fm->fm_col[FV_ANSWER_STAMP] < 0 && fm->fm_col[FV_ANSWER_EPOCH] < 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "FreeSWITCH column mapping lacks answer_stamp or answer_epoch "
                            "(needed: caller_id_number, destination_number, answer_stamp or "
                            "answer_epoch, billsec, hangup_cause, uuid)");
    return 0;
}

static int fs_init(cdr_coll_decoder *d, cdr_diag *dg)
{
    if (!d->cd_cfg.cc_source[0])
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "freeswitch input needs the network element id (source)");
    fs_map *fm = malloc(sizeof *fm);
    if (!fm)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    const char *spec = d->cd_cfg.cc_fs_columns;
    /* cc_fs_columns is a fixed array: insist on its terminator */
    const int custom = spec[0] != '\0';
    int rc = 0;
    if (custom && memchr(spec, '\0', sizeof d->cd_cfg.cc_fs_columns) == NULL)
        rc = cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "FreeSWITCH column mapping not terminated");
    else
        rc = fs_map_parse(custom ? spec : fs_default_columns, fm, dg);
    if (rc) {
        free(fm);
        return rc;
    }
    if (!custom)
        fm->fm_ncols_alt = fm->fm_ncols + 2; /* + read_codec, write_codec */
    d->cd_state = fm;
    return 0;
}

static void fs_fini(cdr_coll_decoder *d)
{
    free(d->cd_state);
    d->cd_state = NULL;
}

/* ---- decoding -------------------------------------------------------------------------------- */

/* A time column: the stamp (local) or epoch (UTC) variant, whichever the template has (the
 * epoch when both). Returns 1 for a time, 0 for an absent or empty column, -1 after rejecting
 * ci. */
static int fs_time(const cdr_coll_decoder *d, fs_ctx *fc, const coll_field *f, int stamp_v,
                   int epoch_v, const char *name, cdr_coll_item *ci, cdr_time *utc, int32_t *off)
{
    const fs_map *fm = fc->fc_map;
    if (fm->fm_col[epoch_v] >= 0) {
        const coll_field *fl = &f[fm->fm_col[epoch_v]];
        uint64_t v;
        if (fl->fl_len == 0 || (fl->fl_len == 1 && fl->fl_p[0] == '0'))
            return 0; /* FreeSWITCH writes 0 for "never" */
        const int rc = coll_parse_uint(fl->fl_p, fl->fl_len, INT64_MAX / 2, &v);
        if (rc) {
            coll_reject_uint(ci, name, (int)fl->fl_col, fv_names[epoch_v], rc, INT64_MAX / 2);
            return -1;
        }
        *utc = (cdr_time)v;
        *off = cdr_tz_offset(&d->cd_tz, *utc, NULL);
        return 1;
    }
    if (fm->fm_col[stamp_v] < 0)
        return 0;
    const coll_field *fl = &f[fm->fm_col[stamp_v]];
    if (fl->fl_len == 0)
        return 0;
    int64_t local;
    const int rc = coll_parse_local(fl->fl_p, fl->fl_len, &local);
    if (rc) {
        coll_reject_time(ci, name, (int)fl->fl_col, fv_names[stamp_v], rc);
        return -1;
    }
    coll_local_utc(d, &fc->fc_tz, local, utc, off);
    return 1;
}

/* Column (1-based) of the time variable, stamp or epoch, that fs_time reads. */
static int fs_time_col(const fs_map *fm, const coll_field *f, int stamp_v, int epoch_v)
{
    const int c = fm->fm_col[epoch_v] >= 0 ? fm->fm_col[epoch_v] : fm->fm_col[stamp_v];
    return c >= 0 ? (int)f[c].fl_col : 0;
}

/* 1 when s is a plausible cause name: upper-case letters, digits and '_'. */
static int cause_name(const coll_field *fl)
{
    if (fl->fl_len == 0 || fl->fl_len > 64)
        return 0;
    for (uint32_t i = 0; i < fl->fl_len; i++) {
        const char c = fl->fl_p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static void fs_line(cdr_coll_decoder *d, const char *name, const char *line, size_t len,
                    cdr_coll_item *ci, void *ctx)
{
    fs_ctx *fc = ctx;
    const fs_map *fm = fc->fc_map;
    cdr_record *cr = &ci->ci_rec;
    memset(cr, 0, sizeof *cr);
    coll_field f[FS_MAX_COLS + 2];
    const int maxc = fm->fm_ncols_alt > fm->fm_ncols ? fm->fm_ncols_alt : fm->fm_ncols;
    int col = 0;
    const char *msg = NULL;
    const int nf = coll_split(line, len, f, maxc, &col, &msg);
    if (nf < 0) {
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s", msg);
        return;
    }
    if (nf != fm->fm_ncols && nf != fm->fm_ncols_alt) {
        if (nf > maxc)
            COLL_REJECT(ci, name, CDR_FORMAT, col, "more than %d columns", maxc);
        else if (fm->fm_ncols_alt)
            COLL_REJECT(ci, name, CDR_FORMAT,
                        nf < fm->fm_ncols ? (int)len + 1 : (int)f[nf - 1].fl_col,
                        "%d columns, expected %d or %d", nf, fm->fm_ncols, fm->fm_ncols_alt);
        else
            COLL_REJECT(ci, name, CDR_FORMAT, (int)len + 1, "%d columns, expected %d", nf,
                        fm->fm_ncols);
        return;
    }

    /* well-formedness of what is used */
    cdr_time start = 0, answer = 0, end = 0;
    int32_t soff = 0, aoff = 0, eoff = 0;
    const int has_start =
        fs_time(d, fc, f, FV_START_STAMP, FV_START_EPOCH, name, ci, &start, &soff);
    if (has_start < 0)
        return;
    const int answered =
        fs_time(d, fc, f, FV_ANSWER_STAMP, FV_ANSWER_EPOCH, name, ci, &answer, &aoff);
    if (answered < 0 || fs_time(d, fc, f, FV_END_STAMP, FV_END_EPOCH, name, ci, &end, &eoff) < 0)
        return;
    uint64_t billsec, duration;
    int rc;
    if (fm->fm_col[FV_DURATION] >= 0) {
        const coll_field *fl = &f[fm->fm_col[FV_DURATION]];
        if ((rc = coll_parse_uint(fl->fl_p, fl->fl_len, UINT32_MAX, &duration)) != 0) {
            coll_reject_uint(ci, name, (int)fl->fl_col, "duration", rc, UINT32_MAX);
            return;
        }
    }
    const coll_field *fbill = &f[fm->fm_col[FV_BILLSEC]];
    if ((rc = coll_parse_uint(fbill->fl_p, fbill->fl_len, UINT32_MAX, &billsec)) != 0) {
        coll_reject_uint(ci, name, (int)fbill->fl_col, "billsec", rc, UINT32_MAX);
        return;
    }
    const coll_field *fcause = &f[fm->fm_col[FV_CAUSE]];
    if (!cause_name(fcause)) {
        if (fcause->fl_len == 0)
            COLL_REJECT(ci, name, CDR_FORMAT, (int)fcause->fl_col, "hangup_cause is empty");
        else
            COLL_REJECT(ci, name, CDR_FORMAT, (int)fcause->fl_col,
                        "hangup_cause '%.*s' is not a cause name",
                        (int)(fcause->fl_len > 32 ? 32 : fcause->fl_len), fcause->fl_p);
        return;
    }
    const coll_field *fuuid = &f[fm->fm_col[FV_UUID]];
    if (fuuid->fl_len == 0) {
        COLL_REJECT(ci, name, CDR_FORMAT, (int)fuuid->fl_col, "uuid is empty");
        return;
    }

    /* the record as far as the line gives it */
    const cdr_coll_config *cc = &d->cd_cfg;
    memcpy(cr->cr_source, cc->cc_source, sizeof cr->cr_source);
    cr->cr_source[sizeof cr->cr_source - 1] = '\0';
    coll_origin_id(cr, fuuid->fl_p, fuuid->fl_len);
    cr->cr_service = CDR_SVC_VOICE;
    cr->cr_direction = CDR_DIR_MO;
    size_t ci_cause = 0;
    const size_t ncauses = sizeof fs_causes / sizeof fs_causes[0];
    while (ci_cause < ncauses && !coll_field_is(fcause, fs_causes[ci_cause].name))
        ci_cause++;
    cr->cr_cause = ci_cause < ncauses ? fs_causes[ci_cause].value : 0;
    if (answered) {
        cr->cr_start = answer;
        cr->cr_utc_offset = aoff;
    } else if (has_start) {
        cr->cr_start = start;
        cr->cr_utc_offset = soff;
    }
    const coll_field *fsrc = &f[fm->fm_col[FV_CID_NUMBER]];
    const coll_field *fdst = &f[fm->fm_col[FV_DEST]];

    /* billable? */
    if (ci_cause >= FS_BILLING_CAUSES || billsec == 0) {
        coll_field_number(d, name, fsrc, "caller_id_number", cr->cr_msisdn, ci, 1);
        coll_field_number(d, name, fdst, "destination_number", cr->cr_other, ci, 1);
        if (ci_cause >= FS_BILLING_CAUSES)
            COLL_NONBILLABLE(ci, name, (int)fcause->fl_col, "hangup cause %.*s",
                             (int)fcause->fl_len, fcause->fl_p);
        else
            COLL_NONBILLABLE(ci, name, (int)fbill->fl_col, "zero billable seconds");
        return;
    }
    if (!answered) {
        COLL_REJECT(ci, name, CDR_FORMAT, fs_time_col(fm, f, FV_ANSWER_STAMP, FV_ANSWER_EPOCH),
                    "billsec %llu but no answer time", (unsigned long long)billsec);
        return;
    }
    cr->cr_duration = (uint32_t)billsec;
    if (coll_field_number(d, name, fsrc, "caller_id_number", cr->cr_msisdn, ci, 0) ||
        coll_field_number(d, name, fdst, "destination_number", cr->cr_other, ci, 0))
        return;
    coll_vfield vf;
    if (coll_validate(cc, cr, &ci->ci_diag, &vf) == 0)
        return;
    int vcol = (int)fuuid->fl_col;
    switch (vf) {
    case COLL_VF_MSISDN:
        vcol = (int)fsrc->fl_col;
        break;
    case COLL_VF_OTHER:
        vcol = (int)fdst->fl_col;
        break;
    case COLL_VF_START:
        vcol = fs_time_col(fm, f, FV_ANSWER_STAMP, FV_ANSWER_EPOCH);
        break;
    case COLL_VF_DURATION:
        vcol = (int)fbill->fl_col;
        break;
    default: /* source (configuration), origin id */
        break;
    }
    coll_place(ci, name, vcol);
}

static int fs_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                     cdr_coll_emit_fn emit, void *arg)
{
    fs_ctx fc;
    memset(&fc, 0, sizeof fc);
    fc.fc_map = d->cd_state;
    return coll_text_decode(d, name, buf, len, NULL, fs_line, &fc, emit, arg);
}

const coll_format_ops coll_freeswitch_ops = {
    .fo_name = "freeswitch",
    .fo_init = fs_init,
    .fo_fini = fs_fini,
    .fo_decode = fs_decode,
};
