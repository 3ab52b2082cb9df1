/* decoder.c - format dispatch, configuration defaults, shared helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_int.h"

static const coll_format_ops *const formats[CDR_FMT_COUNT] = {&coll_csv_ops, &coll_asterisk_ops,
                                                              &coll_freeswitch_ops, &coll_3gpp_ops};

const char *cdr_coll_format_name(int fmt)
{
    return (fmt >= 0 && fmt < CDR_FMT_COUNT) ? formats[fmt]->fo_name : NULL;
}

int cdr_coll_format_parse(const char *s)
{
    for (int i = 0; i < CDR_FMT_COUNT; i++)
        if (!strcmp(s, formats[i]->fo_name))
            return i;
    return -1;
}

void cdr_coll_config_defaults(cdr_coll_config *cc)
{
    memset(cc, 0, sizeof *cc);
    snprintf(cc->cc_source, sizeof cc->cc_source, "element");
    snprintf(cc->cc_timezone, sizeof cc->cc_timezone, "Asia/Shanghai");
    snprintf(cc->cc_numbering.nu_country_code, sizeof cc->cc_numbering.nu_country_code, "86");
    snprintf(cc->cc_numbering.nu_trunk_prefix, sizeof cc->cc_numbering.nu_trunk_prefix, "0");
    snprintf(cc->cc_numbering.nu_intl_prefix, sizeof cc->cc_numbering.nu_intl_prefix, "00");
    cc->cc_numbering.nu_min_national = 7;
    cc->cc_max_duration = 86400;
}

int cdr_coll_decoder_create(int fmt, const cdr_coll_config *cc, cdr_coll_decoder **out,
                            cdr_diag *dg)
{
    *out = NULL;
    if (fmt < 0 || fmt >= CDR_FMT_COUNT || !cc)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "unknown input format");
    cdr_coll_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    d->cd_ops = formats[fmt];
    d->cd_cfg = *cc;
    int rc = cdr_tz_load(cc->cc_timezone, &d->cd_tz);
    if (rc) {
        free(d);
        return cdr_diag_set(dg, rc, NULL, 0, 0, "unknown time zone '%s'", cc->cc_timezone);
    }
    if (d->cd_ops->fo_init && (rc = d->cd_ops->fo_init(d, dg)) != 0) {
        cdr_tz_free(&d->cd_tz);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void cdr_coll_decoder_destroy(cdr_coll_decoder *d)
{
    if (!d)
        return;
    if (d->cd_ops->fo_fini)
        d->cd_ops->fo_fini(d);
    cdr_tz_free(&d->cd_tz);
    free(d);
}

int cdr_coll_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                    cdr_coll_emit_fn emit, void *arg)
{
    return d->cd_ops->fo_decode(d, name, buf, len, emit, arg);
}

void coll_local_to_utc(const cdr_coll_decoder *d, int64_t local_secs, cdr_time *utc,
                       int32_t *offset)
{
    /* The offsets in force a day before and a day after; each gives a candidate instant that is
     * valid when the offset in force at it is the one used. Both valid (a DST fold): the earlier
     * instant. Neither (a DST gap): the earlier offset. */
    int32_t oa = cdr_tz_offset(&d->cd_tz, local_secs - 86400, NULL);
    int32_t ob = cdr_tz_offset(&d->cd_tz, local_secs + 86400, NULL);
    cdr_time ua = local_secs - oa, ub = local_secs - ob;
    int va = cdr_tz_offset(&d->cd_tz, ua, NULL) == oa;
    int vb = cdr_tz_offset(&d->cd_tz, ub, NULL) == ob;
    if (vb && (!va || ub < ua)) {
        *utc = ub;
        *offset = ob;
    } else {
        *utc = ua;
        *offset = oa;
    }
}

void coll_hash_identity(cdr_record *cr, const void *key, size_t keylen)
{
    /* FNV-1a 64, twice with different seeds: 128 bits as 32 hex digits. */
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x84222325cbf29ce4ULL;
    const unsigned char *p = key;
    for (size_t i = 0; i < keylen; i++) {
        h1 = (h1 ^ p[i]) * 1099511628211ULL;
        h2 = (h2 ^ p[i]) * 0x100000001b3ULL ^ (h2 >> 29);
    }
    snprintf(cr->cr_origin_id, sizeof cr->cr_origin_id, "h%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2);
}

void cdr_coll_stats_json(const cdr_coll_stats *cs, FILE *f)
{
    fprintf(f,
            "{\"read\":%llu,\"published\":%llu,\"rejected\":%llu,\"duplicate\":%llu,"
            "\"nonbillable\":%llu}",
            (unsigned long long)cs->cs_read, (unsigned long long)cs->cs_published,
            (unsigned long long)cs->cs_rejected, (unsigned long long)cs->cs_duplicate,
            (unsigned long long)cs->cs_nonbillable);
}
