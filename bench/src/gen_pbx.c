/* gen_pbx.c - synthetic PBX CDR files: Asterisk cdr_csv (Master.csv) and FreeSWITCH mod_cdr_csv
 * (default template), from voice records.
 *
 * Each record becomes one answered call: answered at cr_start after a few seconds of ringing,
 * billsec = cr_duration, times written in the record's own UTC offset, numbers in the national
 * format of a Chinese element (what docs/collectors.md's numbering rules turn back into the
 * record's E.164 digits), uniqueid / uuid = cr_origin_id. Decoding the output with source =
 * the records' element and a zone whose offset matches gives the records back. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cdr_bench.h"

/* Callers' names: commas, quotes (Asterisk only: FreeSWITCH does not escape them) and UTF-8. */
static const char *const names[] = {
    "Chen, Jing",
    "Wang Fang",
    "\xe7\x8e\x8b\xe8\x8a\xb3", /* 王芳 */
    "Li Wei",
    "O'Brien",
    "M\xc3\xbcller, Hans", /* Müller */
    "Zhang Min",
    "\xe5\xbc\xa0\xe4\xbc\x9f", /* 张伟 */
};
#define NNAMES (sizeof names / sizeof names[0])

/* E.164 digits -> the number as a Chinese element shows it: short codes (< 7 digits) as they
 * are, mobile 86 1xxxxxxxxxx as 11 digits, other 86 numbers with the trunk prefix 0, foreign ones
 * with the international prefix 00. Returns the length written (out: CDR_NUMBER_MAX + 2). */
static size_t national(const char *e164, char *out)
{
    const size_t n = strlen(e164);
    if (n < 7) {
        memcpy(out, e164, n + 1);
        return n;
    }
    if (e164[0] == '8' && e164[1] == '6') {
        if (n == 13 && e164[2] == '1') {
            memcpy(out, e164 + 2, n - 1);
            return n - 2;
        }
        out[0] = '0';
        memcpy(out + 1, e164 + 2, n - 1);
        return n - 1;
    }
    out[0] = out[1] = '0';
    memcpy(out + 2, e164, n + 1);
    return n + 2;
}

/* "YYYY-MM-DD HH:MM:SS" of instant t at offset off. buf: 20 bytes. */
static void local_stamp(cdr_time t, int32_t off, char *buf)
{
    char iso[32];
    cdr_time_format(t, off, 0, iso, sizeof iso);
    memcpy(buf, iso, 19);
    buf[10] = ' ';
    buf[19] = '\0';
}

/* 1 when the record can be written: a voice call whose origin id needs no quoting. */
static int writable(const cdr_record *cr)
{
    if (cr->cr_service != CDR_SVC_VOICE || !cr->cr_origin_id[0] || !cr->cr_msisdn[0] ||
        !cr->cr_other[0])
        return 0;
    for (const char *p = cr->cr_origin_id; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == ',' || *p == '"' ||
            *p == '\\')
            return 0;
    return 1;
}

/* A small deterministic hash of the record, for ring time, names and channel ids. */
static uint32_t mix(const cdr_record *cr)
{
    uint64_t h = (uint64_t)cr->cr_start * 0x9e3779b97f4a7c15ULL;
    for (const char *p = cr->cr_origin_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    return (uint32_t)(h >> 32);
}

/* Write name as the content of a quoted Asterisk field ("" for a quote). */
static size_t ast_quote(const char *s, char *out)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == '"')
            out[n++] = '"';
        out[n++] = *s;
    }
    return n;
}

static int check_all(const cdr_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!writable(&recs[i]))
            return CDR_EINVAL;
    return 0;
}

int cdr_gen_format_asterisk(const cdr_record *recs, size_t n, cdr_buf *out)
{
    int rc = check_all(recs, n);
    for (size_t i = 0; i < n && !rc; i++) {
        const cdr_record *cr = &recs[i];
        const uint32_t h = mix(cr);
        const uint32_t ring = h % 20 + 1;
        char src[CDR_NUMBER_MAX + 2], dst[CDR_NUMBER_MAX + 2];
        national(cr->cr_msisdn, src);
        national(cr->cr_other, dst);
        char ts[20], ta[20], te[20];
        local_stamp(cr->cr_start - ring, cr->cr_utc_offset, ts);
        local_stamp(cr->cr_start, cr->cr_utc_offset, ta);
        local_stamp(cr->cr_start + cr->cr_duration, cr->cr_utc_offset, te);
        char name[64];
        name[ast_quote(names[h % NNAMES], name)] = '\0';
        char line[512];
        /* accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start,
         * answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield */
        const int len = snprintf(
            line, sizeof line,
            "\"\",\"%s\",\"%s\",\"from-internal\",\"\"\"%s\"\" <%s>\",\"SIP/%s-%08x\","
            "\"SIP/trunk-%08x\",\"Dial\",\"SIP/trunk/%s,60,tT\",\"%s\",\"%s\",\"%s\",%" PRIu32
            ",%" PRIu32 ",\"ANSWERED\",\"DOCUMENTATION\",\"%s\",\"\"\n",
            src, dst, name, src, src, h, h ^ 0x5a5a5a5au, dst, ts, ta, te, cr->cr_duration + ring,
            cr->cr_duration, cr->cr_origin_id);
        rc = (len > 0 && (size_t)len < sizeof line) ? cdr_buf_put(out, line, (size_t)len)
                                                    : CDR_EINVAL;
    }
    return rc;
}

int cdr_gen_format_freeswitch(const cdr_record *recs, size_t n, cdr_buf *out)
{
    int rc = check_all(recs, n);
    for (size_t i = 0; i < n && !rc; i++) {
        const cdr_record *cr = &recs[i];
        const uint32_t h = mix(cr);
        const uint32_t ring = h % 20 + 1;
        char src[CDR_NUMBER_MAX + 2], dst[CDR_NUMBER_MAX + 2];
        national(cr->cr_msisdn, src);
        national(cr->cr_other, dst);
        char ts[20], ta[20], te[20];
        local_stamp(cr->cr_start - ring, cr->cr_utc_offset, ts);
        local_stamp(cr->cr_start, cr->cr_utc_offset, ta);
        local_stamp(cr->cr_start + cr->cr_duration, cr->cr_utc_offset, te);
        const char *name = names[h % NNAMES];
        if (strchr(name, '"'))
            name = "Anonymous";
        char line[512];
        /* caller_id_name, caller_id_number, destination_number, context, start_stamp,
         * answer_stamp, end_stamp, duration, billsec, hangup_cause, uuid, bleg_uuid,
         * accountcode */
        const int len = snprintf(line, sizeof line,
                                 "\"%s\",\"%s\",\"%s\",\"default\",\"%s\",\"%s\",\"%s\",\"%" PRIu32
                                 "\",\"%" PRIu32 "\",\"NORMAL_CLEARING\",\"%s\",\"\",\"%u\"\n",
                                 name, src, dst, ts, ta, te, cr->cr_duration + ring,
                                 cr->cr_duration, cr->cr_origin_id, h % 100);
        rc = (len > 0 && (size_t)len < sizeof line) ? cdr_buf_put(out, line, (size_t)len)
                                                    : CDR_EINVAL;
    }
    return rc;
}
