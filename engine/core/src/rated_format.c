/* rated_format.c - rated records as CSV lines and JSON objects (docs/rated-format.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cdr_rate.h"

const char cdr_rated_csv_header[] =
    "source,origin_id,msisdn,service,direction,start,status,plan,version,zone,cycle,units,"
    "bundle,bundle_units,overflow_units,free_units,charge,currency,parts,charge_class,flags";

/* Exact decimal with six fractional digits. */
static const char *money6(cdr_money v, char *buf, size_t n)
{
    return cdr_money_format(v, 6, CDR_ROUND_HALF_UP, buf, n);
}

typedef struct outbuf {
    char *ob_p;
    size_t ob_left;
    int ob_over;
} outbuf;

static void ob_printf(outbuf *ob, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void ob_printf(outbuf *ob, const char *fmt, ...)
{
    if (ob->ob_over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ob->ob_p, ob->ob_left, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= ob->ob_left) {
        ob->ob_over = 1;
        return;
    }
    ob->ob_p += n;
    ob->ob_left -= (size_t)n;
}

/* The record's flags by name, ';'-separated in bit order ("" when none): "suspended", "warned"
 * (credit control), "late" (its cycle was closed: billed in rr_cycle, a later one), "reversal"
 * and "correction" (a correction set's pair, cdr_rerate.h). */
static const char *flag_names(const cdr_rated *rr, char *buf, size_t n)
{
    static const char *const name[] = {"suspended", "warned", "late", "reversal", "correction"};
    size_t k = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < sizeof name / sizeof name[0]; i++)
        if (rr->rr_flags & (1u << i) && k < n)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? ";" : "", name[i]);
    return buf;
}

/* Names come from the plan version pl; without it (a record read back whose plan is not at
 * hand) from the plan id alone, with zone, bundle and bands written as "#index" when byindex is
 * set, else as the empty string / "?" (the historical rendering of a NULL plan). */
typedef struct names {
    const cdr_plan *nm_pl;
    const char *nm_plan_id;
    int nm_byindex;
} names;

static const char *index_name(int i, char *buf, size_t n)
{
    snprintf(buf, n, "#%d", i);
    return buf;
}

static const char *zone_name(const names *nm, const cdr_rated *rr, char *buf, size_t n)
{
    const cdr_plan *pl = nm->nm_pl;
    if (pl)
        return rr->rr_zone >= 0 && rr->rr_zone < pl->pl_nzones ? pl->pl_zones[rr->rr_zone].zo_name
                                                               : "";
    return nm->nm_byindex && rr->rr_zone >= 0 ? index_name(rr->rr_zone, buf, n) : "";
}

static const char *band_name(const names *nm, unsigned b, char *buf, size_t n)
{
    const cdr_plan *pl = nm->nm_pl;
    if (pl)
        return b < pl->pl_nbands ? pl->pl_band_names[b] : "?";
    return nm->nm_byindex ? index_name((int)b, buf, n) : "?";
}

static const char *bundle_name(const names *nm, const cdr_rated *rr, char *buf, size_t n)
{
    const cdr_plan *pl = nm->nm_pl;
    if (pl)
        return rr->rr_bundle >= 0 && rr->rr_bundle < pl->pl_nbundles
                   ? pl->pl_bundles[rr->rr_bundle].bu_name
                   : "";
    return nm->nm_byindex && rr->rr_bundle >= 0 ? index_name(rr->rr_bundle, buf, n) : "";
}

static const char *plan_name(const names *nm)
{
    return nm->nm_pl ? nm->nm_pl->pl_id : nm->nm_plan_id ? nm->nm_plan_id : "";
}

/* The record's currency; a record without one (rated wire version 1) takes that of the plan
 * version that rated it when it is at hand, else "". */
static const char *currency_name(const names *nm, const cdr_rated *rr)
{
    if (rr->rr_currency[0])
        return rr->rr_currency;
    return nm->nm_pl ? nm->nm_pl->pl_currency : "";
}

/* The record's charge class; a rated record without one (rated wire version 1-3) takes the class
 * derived from the plan version that rated it when it is at hand, else "". */
static const char *class_name(const names *nm, const cdr_record *cr, const cdr_rated *rr)
{
    int cls = rr->rr_class;
    if (cls == CDR_CLASS_NONE && nm->nm_pl)
        cls = cdr_plan_charge_class(nm->nm_pl, cr, rr);
    return cls == CDR_CLASS_NONE ? "" : cdr_charge_class_name(cls);
}

static int format_csv(const cdr_record *cr, const cdr_rated *rr, const names *nm, char *buf,
                      size_t bufsize)
{
    outbuf ob = {buf, bufsize, 0};
    char ts[32], m[32], nb[16], bb[16];
    cdr_time_format(cr->cr_start, cr->cr_utc_offset, 0, ts, sizeof ts);
    int rated = rr->rr_reason == CDR_REASON_NONE;
    ob_printf(&ob, "%s,%s,%s,%s,%s,%s,%s,", cr->cr_source, cr->cr_origin_id, cr->cr_msisdn,
              cdr_service_name(cr->cr_service) ? cdr_service_name(cr->cr_service) : "?",
              cdr_direction_name(cr->cr_direction) ? cdr_direction_name(cr->cr_direction) : "?", ts,
              cdr_reason_name(rr->rr_reason));
    if (!rated) {
        ob_printf(&ob, ",,,,,,,,,,,,,\n"); /* the 13 rating fields and flags, empty */
    } else {
        ob_printf(&ob,
                  "%s,%" PRIu32 ",%s,%" PRIu32 ",%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64
                  ",%s,%s,",
                  plan_name(nm), rr->rr_plan_version, zone_name(nm, rr, nb, sizeof nb),
                  rr->rr_cycle, rr->rr_units, bundle_name(nm, rr, bb, sizeof bb),
                  rr->rr_bundle_units, rr->rr_overflow_units, rr->rr_free_units,
                  money6(rr->rr_charge, m, sizeof m), currency_name(nm, rr));
        for (unsigned i = 0; i < rr->rr_nparts; i++)
            ob_printf(&ob, "%s%s:%" PRIu64 ":%s", i ? ";" : "",
                      band_name(nm, rr->rr_parts[i].rp_band, nb, sizeof nb),
                      rr->rr_parts[i].rp_units, money6(rr->rr_parts[i].rp_charge, m, sizeof m));
        char fb[48];
        ob_printf(&ob, ",%s,%s\n", class_name(nm, cr, rr), flag_names(rr, fb, sizeof fb));
    }
    return ob.ob_over ? -1 : (int)(ob.ob_p - buf);
}

static int format_json(const cdr_record *cr, const cdr_rated *rr, const names *nm, char *buf,
                       size_t bufsize)
{
    outbuf ob = {buf, bufsize, 0};
    char ts[32], m[32], nb[16], bb[16];
    cdr_time_format(cr->cr_start, cr->cr_utc_offset, 0, ts, sizeof ts);
    ob_printf(&ob,
              "{\"source\":\"%s\",\"origin_id\":\"%s\",\"msisdn\":\"%s\",\"service\":\"%s\","
              "\"direction\":\"%s\",\"start\":\"%s\",\"status\":\"%s\"",
              cr->cr_source, cr->cr_origin_id, cr->cr_msisdn,
              cdr_service_name(cr->cr_service) ? cdr_service_name(cr->cr_service) : "?",
              cdr_direction_name(cr->cr_direction) ? cdr_direction_name(cr->cr_direction) : "?", ts,
              cdr_reason_name(rr->rr_reason));
    if (rr->rr_reason != CDR_REASON_NONE) {
        ob_printf(&ob, ",\"reason\":\"%s\"}\n", cdr_reason_message(rr->rr_reason));
    } else {
        ob_printf(&ob,
                  ",\"plan\":\"%s\",\"version\":%" PRIu32 ",\"zone\":\"%s\",\"cycle\":%" PRIu32
                  ",\"units\":%" PRIu64 ",\"bundle\":\"%s\",\"bundle_units\":%" PRIu64
                  ",\"overflow_units\":%" PRIu64 ",\"free_units\":%" PRIu64
                  ",\"charge\":\"%s\",\"charge_micro\":%" PRId64 ",\"currency\":\"%s\",\"parts\":[",
                  plan_name(nm), rr->rr_plan_version, zone_name(nm, rr, nb, sizeof nb),
                  rr->rr_cycle, rr->rr_units, bundle_name(nm, rr, bb, sizeof bb),
                  rr->rr_bundle_units, rr->rr_overflow_units, rr->rr_free_units,
                  money6(rr->rr_charge, m, sizeof m), rr->rr_charge, currency_name(nm, rr));
        for (unsigned i = 0; i < rr->rr_nparts; i++)
            ob_printf(&ob, "%s{\"band\":\"%s\",\"units\":%" PRIu64 ",\"charge_micro\":%" PRId64 "}",
                      i ? "," : "", band_name(nm, rr->rr_parts[i].rp_band, nb, sizeof nb),
                      rr->rr_parts[i].rp_units, rr->rr_parts[i].rp_charge);
        char fb[48];
        ob_printf(&ob, "],\"charge_class\":\"%s\",\"flags\":\"%s\"", class_name(nm, cr, rr),
                  flag_names(rr, fb, sizeof fb));
        /* only on a flagged record: the fields of the others stay as they were */
        if (rr->rr_flags & (CDR_RATED_FLAG_SUSPENDED | CDR_RATED_FLAG_WARNED))
            ob_printf(&ob, ",\"line_status\":\"%s\"}\n",
                      (rr->rr_flags & CDR_RATED_FLAG_SUSPENDED) ? "suspended" : "warned");
        else
            ob_printf(&ob, "}\n");
    }
    return ob.ob_over ? -1 : (int)(ob.ob_p - buf);
}

int cdr_rated_format_csv(const cdr_record *cr, const cdr_rated *rr, const cdr_plan *pl, char *buf,
                         size_t bufsize)
{
    const names nm = {pl, NULL, 0};
    return format_csv(cr, rr, &nm, buf, bufsize);
}

int cdr_rated_format_json(const cdr_record *cr, const cdr_rated *rr, const cdr_plan *pl, char *buf,
                          size_t bufsize)
{
    const names nm = {pl, NULL, 0};
    return format_json(cr, rr, &nm, buf, bufsize);
}

int cdr_rated_format_csv_id(const cdr_record *cr, const cdr_rated *rr, const char *plan_id,
                            const cdr_plan *pl, char *buf, size_t bufsize)
{
    const names nm = {pl, plan_id, 1};
    return format_csv(cr, rr, &nm, buf, bufsize);
}

int cdr_rated_format_json_id(const cdr_record *cr, const cdr_rated *rr, const char *plan_id,
                             const cdr_plan *pl, char *buf, size_t bufsize)
{
    const names nm = {pl, plan_id, 1};
    return format_json(cr, rr, &nm, buf, bufsize);
}
