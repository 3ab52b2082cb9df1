/* plan_compile.c - the tariff-plan compiler: one YAML document (docs/tariff-plans.md) -> cdr_plan.
 *
 * The document is loaded with libyaml's document API, which keeps the start mark of every node, so
 * every diagnostic names file:line:column (1-based) of the offending key or value. Validation runs
 * in a fixed order (identity, time zone, services, networks, zones, holidays, bands, rates,
 * bundles) so that the first error reported for a file does not depend on the order of its keys.
 * Nothing here uses floating point: amounts go through cdr_money_parse from their text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cdr_rules.h"
#include "plan_int.h"

const char *const cdr_plan_daytype_names[CDR_DAYTYPES] = {"mon", "tue", "wed", "thu",
                                                          "fri", "sat", "sun", "holiday"};

static const char *const zone_kind_names[CDR_ZONE_KIND_COUNT] = {"normal", "onnet", "free",
                                                                 "premium", "roaming"};

/* Top-level keys, in the order they are validated. */
enum {
    K_PLAN,
    K_VERSION,
    K_DESCRIPTION,
    K_TIMEZONE,
    K_EFFECTIVE_FROM,
    K_CURRENCY,
    K_MONTHLY_FEE,
    K_SERVICES,
    K_HOME_NETWORKS,
    K_ZONES,
    K_HOME_ZONE,
    K_DEFAULT_ZONE,
    K_HOLIDAYS,
    K_BANDS,
    K_RATES,
    K_BUNDLES,
    K_COUNT
};
static const char *const top_keys[K_COUNT] = {
    "plan",        "version",  "description",   "timezone", "effective_from", "currency",
    "monthly_fee", "services", "home_networks", "zones",    "home_zone",      "default_zone",
    "holidays",    "bands",    "rates",         "bundles"};
static const unsigned char top_required[K_COUNT] = {
    [K_PLAN] = 1,     [K_VERSION] = 1, [K_TIMEZONE] = 1, [K_EFFECTIVE_FROM] = 1, [K_CURRENCY] = 1,
    [K_SERVICES] = 1, [K_ZONES] = 1,   [K_BANDS] = 1,    [K_RATES] = 1};

enum { Z_NAME, Z_KIND, Z_PREFIXES, Z_NUMBERS, Z_NETWORKS, Z_CHARGE_CLASS, Z_DESCRIPTION, Z_COUNT };
static const char *const zone_keys[Z_COUNT] = {"name",     "kind",         "prefixes",   "numbers",
                                               "networks", "charge_class", "description"};

enum { B_NAME, B_DAYS, B_FROM, B_TO, B_COUNT };
static const char *const band_keys[B_COUNT] = {"name", "days", "from", "to"};

enum {
    R_SERVICE,
    R_DIRECTION,
    R_ZONE,
    R_ZONES,
    R_BAND,
    R_BANDS,
    R_CONNECT_FEE,
    R_PRICE,
    R_PER,
    R_INCREMENTS,
    R_TIERS,
    R_MIN_CHARGE,
    R_MAX_CHARGE,
    R_ROUNDING,
    R_ROUND_TO,
    R_CHARGE_CLASS,
    R_DESCRIPTION,
    R_COUNT
};
static const char *const rate_keys[R_COUNT] = {
    "service",     "direction", "zone",     "zones",        "band",       "bands",
    "connect_fee", "price",     "per",      "increments",   "tiers",      "min_charge",
    "max_charge",  "rounding",  "round_to", "charge_class", "description"};

enum { T_FROM, T_PRICE, T_COUNT };
static const char *const tier_keys[T_COUNT] = {"from", "price"};

enum { U_NAME, U_SERVICE, U_ZONE, U_ZONES, U_UNITS, U_POOL, U_DESCRIPTION, U_COUNT };
static const char *const bundle_keys[U_COUNT] = {"name",  "service", "zone",       "zones",
                                                 "units", "pool",    "description"};

/* The compilation context: the document, the plan being built and bookkeeping that only the
 * compiler needs (where each trie slot, zone, network and rate cell was defined, so that a
 * duplicate can name both positions). */
typedef struct plan_cc {
    const char *cc_file;
    cdr_diag *cc_dg;
    yaml_document_t *cc_doc;
    cdr_plan *cc_pl;
    yaml_node_t *cc_root;
    yaml_node_t *cc_key[K_COUNT];
    yaml_node_t *cc_val[K_COUNT];
    unsigned cc_services; /* mask of offered services */
    uint32_t cc_trie_cap;
    int32_t *cc_zsrc; /* per trie node: id of the YAML node that set tn_zone */
    int32_t *cc_esrc; /* per trie node: id of the YAML node that set tn_exact */
    int32_t cc_zone_src[CDR_PLAN_MAX_ZONES];
    int32_t cc_home_src[CDR_PLAN_MAX_HOME];
    uint32_t cc_roam_cap;
    int32_t *cc_roam_src; /* per pl_roam entry: id of its YAML node */
} plan_cc;

/* ---- diagnostics and node access ------------------------------------------------------------ */

static int cc_err(plan_cc *cc, int code, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record an error at node `at` (NULL: no position) and return code. */
static int cc_err(plan_cc *cc, int code, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[sizeof cc->cc_dg->dg_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const int line = at ? (int)at->start_mark.line + 1 : 0;
    const int col = at ? (int)at->start_mark.column + 1 : 0;
    return cdr_diag_set(cc->cc_dg, code, cc->cc_file, line, col, "%s", msg);
}

static yaml_node_t *cc_node(const plan_cc *cc, int id)
{
    return yaml_document_get_node(cc->cc_doc, id);
}

static int32_t cc_id(const plan_cc *cc, const yaml_node_t *n)
{
    return (int32_t)(n - cc->cc_doc->nodes.start) + 1;
}

/* "line L, column C" of node id into buf. */
static const char *cc_where(const plan_cc *cc, int32_t id, char *buf, size_t bufsize)
{
    const yaml_node_t *n = cc_node(cc, id);
    if (!n)
        snprintf(buf, bufsize, "an earlier line");
    else
        snprintf(buf, bufsize, "line %d, column %d", (int)n->start_mark.line + 1,
                 (int)n->start_mark.column + 1);
    return buf;
}

static const char *cc_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "a single value";
    }
}

static const char *cc_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* 1 when n is a plain scalar that YAML reads as null (empty, ~, null). */
static int cc_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = cc_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* n must be a non-null scalar without NUL bytes; *s is its text. */
static int cc_scalar(plan_cc *cc, const yaml_node_t *n, const char *what, const char **s)
{
    if (n->type != YAML_SCALAR_NODE)
        return cc_err(cc, CDR_FORMAT, n, "%s must be a single value, not %s", what, cc_kind(n));
    if (cc_is_null(n))
        return cc_err(cc, CDR_FORMAT, n, "%s has no value", what);
    if (strlen(cc_text(n)) != n->data.scalar.length)
        return cc_err(cc, CDR_FORMAT, n, "%s contains a NUL byte", what);
    *s = cc_text(n);
    return 0;
}

/* Check that n is a mapping whose keys are all in names[0..nnames), each at most once; store the
 * key and value nodes by index (NULL when absent). what names the mapping in messages. */
static int cc_map(plan_cc *cc, const yaml_node_t *n, const char *what, const char *const *names,
                  int nnames, yaml_node_t **keys, yaml_node_t **vals)
{
    for (int i = 0; i < nnames; i++)
        keys[i] = vals[i] = NULL;
    if (n->type != YAML_MAPPING_NODE)
        return cc_err(cc, CDR_FORMAT, n, "%s must be a mapping (key: value pairs), not %s", what,
                      cc_kind(n));
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cc_node(cc, p->key);
        yaml_node_t *v = cc_node(cc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return cc_err(cc, CDR_FORMAT, k, "keys of %s must be names, not %s", what, cc_kind(k));
        int i = 0;
        while (i < nnames && strcmp(names[i], cc_text(k)) != 0)
            i++;
        if (i == nnames) {
            char list[256];
            size_t off = 0;
            list[0] = '\0';
            for (int j = 0; j < nnames && off < sizeof list; j++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", j ? ", " : "",
                                        names[j]);
            return cc_err(cc, CDR_FORMAT, k, "unknown key '%.64s' in %s (expected one of: %s)",
                          cc_text(k), what, list);
        }
        if (keys[i]) {
            char at[64];
            return cc_err(cc, CDR_FORMAT, k, "duplicate key '%s' in %s (first at %s)", names[i],
                          what, cc_where(cc, cc_id(cc, keys[i]), at, sizeof at));
        }
        keys[i] = k;
        vals[i] = v;
    }
    return 0;
}

/* A list, or (when allow_scalar) a single value standing for a list of one. */
typedef struct cc_list {
    yaml_node_t *li_one;
    const yaml_node_item_t *li_items;
    size_t li_n;
} cc_list;

static int cc_seq(plan_cc *cc, yaml_node_t *n, const char *what, int allow_scalar, cc_list *li)
{
    memset(li, 0, sizeof *li);
    if (n->type == YAML_SEQUENCE_NODE) {
        li->li_items = n->data.sequence.items.start;
        li->li_n = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        return 0;
    }
    if (allow_scalar && n->type == YAML_SCALAR_NODE && !cc_is_null(n)) {
        li->li_one = n;
        li->li_n = 1;
        return 0;
    }
    return cc_err(cc, CDR_FORMAT, n, "%s must be a list, not %s", what, cc_kind(n));
}

static yaml_node_t *cc_at(const plan_cc *cc, const cc_list *li, size_t i)
{
    return li->li_one ? li->li_one : cc_node(cc, li->li_items[i]);
}

/* A name: 1..31 of [A-Za-z0-9_.-], starting with a letter or digit. */
static int cc_name(plan_cc *cc, const yaml_node_t *n, const char *what, char out[CDR_NAME_MAX])
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    const size_t len = strlen(s);
    if (len >= CDR_NAME_MAX)
        return cc_err(cc, CDR_RANGE, n, "%s '%.40s...' is longer than %d characters", what, s,
                      CDR_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        const char c = s[i];
        const int alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
            return cc_err(cc, CDR_FORMAT, n,
                          "%s '%s' may hold only letters, digits, '-', '_' and '.', starting "
                          "with a letter or digit",
                          what, s);
    }
    memcpy(out, s, len + 1);
    return 0;
}

/* An unsigned decimal integer in [min, max]. */
static int cc_uint(plan_cc *cc, const yaml_node_t *n, const char *what, uint64_t min, uint64_t max,
                   uint64_t *out)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    uint64_t v = 0;
    int big = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            big = 1;
        else
            v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s || *p)
        return cc_err(cc, CDR_FORMAT, n, "%s '%s' is not a whole number", what, s);
    if (big || v < min || v > max)
        return cc_err(cc, CDR_RANGE, n, "%s %s is out of range (%llu..%llu)", what, s,
                      (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

/* A non-negative amount of money, parsed from its text. */
static int cc_money(plan_cc *cc, const yaml_node_t *n, const char *what, cdr_money *out)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    rc = cdr_money_parse(s, out);
    if (rc == CDR_RANGE)
        return cc_err(cc, CDR_RANGE, n, "%s '%s' has more than six decimals or is too large", what,
                      s);
    if (rc)
        return cc_err(cc, CDR_FORMAT, n, "%s '%s' is not a decimal amount (such as 0.15)", what, s);
    if (*out < 0)
        return cc_err(cc, CDR_RANGE, n, "%s %s must not be negative", what, s);
    return 0;
}

static int cc_bool(plan_cc *cc, const yaml_node_t *n, const char *what, int *out)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    if (!strcmp(s, "true"))
        *out = 1;
    else if (!strcmp(s, "false"))
        *out = 0;
    else
        return cc_err(cc, CDR_FORMAT, n, "%s must be true or false, not '%s'", what, s);
    return 0;
}

/* charge_class of a zone or a rate: one of the classes a plan may declare
 * (CDR_CLASS_PLAN_FIRST..LAST); the others are named with the reason they are not declared. */
static int cc_charge_class(plan_cc *cc, const yaml_node_t *n, uint8_t *out)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, "charge_class", &s);
    if (rc)
        return rc;
    const int c = cdr_charge_class_parse(s);
    if (c >= CDR_CLASS_PLAN_FIRST && c <= CDR_CLASS_PLAN_LAST) {
        *out = (uint8_t)c;
        return 0;
    }
    char allowed[128];
    size_t off = 0;
    for (int k = CDR_CLASS_PLAN_FIRST; k <= CDR_CLASS_PLAN_LAST && off < sizeof allowed; k++)
        off += (size_t)snprintf(allowed + off, sizeof allowed - off, "%s%s",
                                k == CDR_CLASS_PLAN_FIRST ? "" : ", ", cdr_charge_class_name(k));
    const char *why = c < 0                 ? "is not a charge class"
                      : c == CDR_CLASS_NONE ? "is not declared: leave the key out instead"
                      : c == CDR_CLASS_FREE ? "is not declared: an event is free when its zone is "
                                              "free or its rate charges nothing"
                                            : "comes from the bill run, not from a plan";
    return cc_err(cc, CDR_FORMAT, n, "charge_class '%.32s' %s (allowed: %s)", s, why, allowed);
}

/* ---- quantities with units ------------------------------------------------------------------ */

/* The unit suffixes of each service (docs/tariff-plans.md, "Units"). Data units are binary:
 * 1 KB = 1024 bytes, as in the customer directory. sms and mms are counts: "100sms" or "100". */
typedef struct unit_suffix {
    const char *us_name;
    uint64_t us_mult;
} unit_suffix;

static const unit_suffix time_units[] = {{"s", 1}, {"min", 60}, {"h", 3600}, {NULL, 0}};
static const unit_suffix data_units[] = {{"B", 1},           {"KB", 1ull << 10}, {"MB", 1ull << 20},
                                         {"GB", 1ull << 30}, {"TB", 1ull << 40}, {NULL, 0}};
static const unit_suffix sms_units[] = {{"sms", 1}, {NULL, 0}};
static const unit_suffix mms_units[] = {{"mms", 1}, {NULL, 0}};

static const unit_suffix *svc_units(int svc)
{
    switch (svc) {
    case CDR_SVC_VOICE:
    case CDR_SVC_VIDEO:
        return time_units;
    case CDR_SVC_DATA:
        return data_units;
    case CDR_SVC_SMS:
        return sms_units;
    case CDR_SVC_MMS:
        return mms_units;
    default:
        return NULL;
    }
}

/* 1 for services whose quantities are counts (a bare number is always a count of messages). */
static int svc_counts(int svc)
{
    return svc == CDR_SVC_SMS || svc == CDR_SVC_MMS;
}

static const char *svc_base_name(int svc)
{
    return svc == CDR_SVC_DATA ? "bytes" : svc_counts(svc) ? "messages" : "seconds";
}

/* Which units service svc takes; bare_ok adds what a number without a unit means. */
static const char *svc_unit_hint(int svc, int bare_ok)
{
    switch (svc) {
    case CDR_SVC_VOICE:
    case CDR_SVC_VIDEO:
        return bare_ok ? "use s, min or h, or plain seconds" : "use s, min or h";
    case CDR_SVC_DATA:
        return bare_ok ? "use B, KB, MB, GB or TB, where 1 KB = 1024 bytes, or plain bytes"
                       : "use B, KB, MB, GB or TB, where 1 KB = 1024 bytes";
    case CDR_SVC_SMS:
        return "use sms, or a plain count of messages";
    default:
        return "use mms, or a plain count of messages";
    }
}

/* 1 when s[0..len) is a number without a unit: digits, optionally '.' and digits. */
static int qty_bare(const char *s, size_t len)
{
    size_t i = 0, dots = 0;
    while (i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !dots++)))
        i++;
    return len > 0 && i == len && s[0] != '.' && s[len - 1] != '.';
}

/* Parse s[0..len) as a decimal number (digits, optionally '.' and 1-6 digits) followed by an
 * optional unit of service svc, into base units. A fraction must come out as a whole number of
 * base units (1.5GB is fine, 1.5s is not). No floating point. */
static int cc_qty_text(plan_cc *cc, const yaml_node_t *n, const char *what, const char *s,
                       size_t len, int svc, int bare_ok, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0, frac = 0, scale = 1;
    int big = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            big = 1;
        else
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    const size_t nint = i;
    size_t nfrac = 0;
    if (nint > 0 && i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++)
            if (nfrac < 6) {
                frac = frac * 10 + (uint64_t)(s[i] - '0');
                scale *= 10;
            }
    }
    if (nint == 0 || (nint < len && s[nint] == '.' && nfrac == 0))
        return cc_err(cc, CDR_FORMAT, n, "%s '%.*s' is not a quantity (a number with %s unit; %s)",
                      what, (int)len, s, bare_ok ? "an optional" : "a",
                      svc_unit_hint(svc, bare_ok));
    if (nfrac > 6)
        return cc_err(cc, CDR_RANGE, n, "%s '%.*s' has more than six decimals", what, (int)len, s);
    uint64_t mult = 1;
    if (i < len) {
        const unit_suffix *us = svc_units(svc);
        const size_t slen = len - i;
        while (us && us->us_name &&
               !(strlen(us->us_name) == slen && memcmp(us->us_name, s + i, slen) == 0))
            us++;
        if (s[i] == ' ' || s[i] == '\t')
            return cc_err(cc, CDR_FORMAT, n,
                          "%s '%.*s': write the unit right after the number, without a blank "
                          "(such as %.*s%.*s)",
                          what, (int)len, s, (int)i, s, (int)(slen - 1), s + i + 1);
        if (!us || !us->us_name)
            return cc_err(cc, CDR_FORMAT, n, "%s '%.*s': unit '%.*s' does not apply to %s (%s)",
                          what, (int)len, s, (int)slen, s + i, cdr_service_name(svc),
                          svc_unit_hint(svc, bare_ok));
        mult = us->us_mult;
    }
    if (big || v > UINT64_MAX / mult)
        return cc_err(cc, CDR_RANGE, n, "%s '%.*s' is too large", what, (int)len, s);
    /* frac < 10^6 and mult <= 2^40: the product fits in 64 bits. */
    const uint64_t part = frac * mult;
    if (part % scale != 0)
        return cc_err(cc, CDR_RANGE, n, "%s '%.*s' is not a whole number of %s", what, (int)len, s,
                      svc_base_name(svc));
    if (v * mult > UINT64_MAX - part / scale)
        return cc_err(cc, CDR_RANGE, n, "%s '%.*s' is too large", what, (int)len, s);
    *out = v * mult + part / scale;
    return 0;
}

const char *cdr_plan_units_format(int svc, uint64_t units, char *buf, size_t bufsize)
{
    const unit_suffix *us = svc_units(svc);
    const unit_suffix *best = NULL;
    for (; us && us->us_name; us++)
        if (units % us->us_mult == 0 && (!best || us->us_mult > best->us_mult) &&
            us->us_mult != 3600) /* time in minutes, as tariffs quote it: 300min, not 5h */
            best = us;
    if (!best) {
        snprintf(buf, bufsize, "%llu", (unsigned long long)units);
        return buf;
    }
    /* the largest unit that divides: 90 -> "90s", 30000 -> "500min", 10737418240 -> "10GB" */
    if (units == 0)
        best = svc_units(svc);
    snprintf(buf, bufsize, "%llu%s", (unsigned long long)(units / best->us_mult), best->us_name);
    return buf;
}

const char *cdr_plan_zone_kind_name(int kind)
{
    return kind >= 0 && kind < CDR_ZONE_KIND_COUNT ? zone_kind_names[kind] : "?";
}

const char *cdr_plan_daytype_name(int daytype)
{
    return daytype >= 0 && daytype < CDR_DAYTYPES ? cdr_plan_daytype_names[daytype] : "?";
}

static int cc_qty(plan_cc *cc, const yaml_node_t *n, const char *what, int svc, int bare_ok,
                  uint64_t min, uint64_t *out)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (!rc)
        rc = cc_qty_text(cc, n, what, s, strlen(s), svc, bare_ok, out);
    if (!rc && *out < min)
        return cc_err(cc, CDR_RANGE, n, "%s must be at least %llu base unit%s, not '%s'", what,
                      (unsigned long long)min, min == 1 ? "" : "s", s);
    return rc;
}

/* ---- the digit trie ------------------------------------------------------------------------- */

static int cc_trie_node(plan_cc *cc, int32_t *out)
{
    cdr_plan *pl = cc->cc_pl;
    if (pl->pl_ntrie == cc->cc_trie_cap) {
        if (cc->cc_trie_cap >= (uint32_t)INT32_MAX / 2)
            return CDR_LIMIT;
        const uint32_t ncap = cc->cc_trie_cap * 2;
        cdr_trie_node *nt = realloc(pl->pl_trie, ncap * sizeof *nt);
        if (!nt)
            return CDR_ENOMEM;
        pl->pl_trie = nt;
        int32_t *nz = realloc(cc->cc_zsrc, ncap * sizeof *nz);
        if (!nz)
            return CDR_ENOMEM;
        cc->cc_zsrc = nz;
        int32_t *ne = realloc(cc->cc_esrc, ncap * sizeof *ne);
        if (!ne)
            return CDR_ENOMEM;
        cc->cc_esrc = ne;
        cc->cc_trie_cap = ncap;
    }
    const uint32_t i = pl->pl_ntrie++;
    memset(pl->pl_trie[i].tn_child, 0, sizeof pl->pl_trie[i].tn_child);
    pl->pl_trie[i].tn_zone = CDR_NO_ZONE;
    pl->pl_trie[i].tn_exact = CDR_NO_ZONE;
    cc->cc_zsrc[i] = cc->cc_esrc[i] = 0;
    *out = (int32_t)i;
    return 0;
}

/* Insert a destination prefix (exact = 0) or an exact number (exact = 1) for zone z. The trie
 * itself detects a prefix (or number) given twice, in one zone or in two. */
static int cc_trie_add(plan_cc *cc, const yaml_node_t *n, const char *digits, int z, int exact)
{
    int32_t at = 0;
    for (const char *p = digits; *p; p++) {
        const int d = *p - '0';
        int32_t nx = cc->cc_pl->pl_trie[at].tn_child[d];
        if (nx == 0) {
            const int rc = cc_trie_node(cc, &nx);
            if (rc)
                return cc_err(cc, rc, n, "too many destination prefixes");
            cc->cc_pl->pl_trie[at].tn_child[d] = nx;
        }
        at = nx;
    }
    cdr_trie_node *tn = &cc->cc_pl->pl_trie[at];
    int16_t *slot = exact ? &tn->tn_exact : &tn->tn_zone;
    int32_t *src = exact ? &cc->cc_esrc[at] : &cc->cc_zsrc[at];
    if (*slot != CDR_NO_ZONE) {
        char where[64];
        cc_where(cc, *src, where, sizeof where);
        const char *what = exact ? "number" : "prefix";
        if (*slot == z)
            return cc_err(cc, CDR_FORMAT, n, "%s '%s' is listed twice in zone '%s' (first at %s)",
                          what, digits, cc->cc_pl->pl_zones[z].zo_name, where);
        return cc_err(cc, CDR_FORMAT, n, "%s '%s' is in two zones: '%s' (at %s) and '%s'", what,
                      digits, cc->cc_pl->pl_zones[*slot].zo_name, where,
                      cc->cc_pl->pl_zones[z].zo_name);
    }
    *slot = (int16_t)z;
    *src = cc_id(cc, n);
    return 0;
}

/* A destination: 1..23 decimal digits (E.164 without '+', or a short code). */
static int cc_digits(plan_cc *cc, const yaml_node_t *n, const char *what, const char **out)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return cc_err(cc, CDR_FORMAT, n,
                          "%s '%s' must be decimal digits only (E.164 without '+')", what, s);
    if (len >= CDR_NUMBER_MAX)
        return cc_err(cc, CDR_RANGE, n, "%s '%s' is longer than %d digits", what, s,
                      CDR_NUMBER_MAX - 1);
    *out = s;
    return 0;
}

/* ---- networks ------------------------------------------------------------------------------- */

/* "MCC-MNC" (3 digits, 2 or 3 digits) or "MCC-*". */
static int cc_network(plan_cc *cc, const yaml_node_t *n, const char *what, cdr_network *nw)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    const size_t len = strlen(s);
    int ok = len >= 5 && len <= 7 && s[3] == '-';
    for (int i = 0; ok && i < 3; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    int mnc = -1;
    if (ok && len == 5 && s[4] == '*') {
        mnc = -1;
    } else if (ok && len >= 6) {
        mnc = 0;
        for (size_t i = 4; ok && i < len; i++) {
            ok = s[i] >= '0' && s[i] <= '9';
            mnc = mnc * 10 + (s[i] - '0');
        }
    } else {
        ok = 0;
    }
    if (!ok)
        return cc_err(cc, CDR_FORMAT, n,
                      "%s '%s' is not a network: write MCC-MNC such as \"460-00\", or \"460-*\" "
                      "for every network of a country",
                      what, s);
    const int mcc = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (mcc == 0)
        return cc_err(cc, CDR_RANGE, n, "%s '%s': MCC 000 is not a network", what, s);
    nw->nw_mcc = (uint16_t)mcc;
    nw->nw_mnc = (int16_t)mnc;
    nw->nw_zone = CDR_NO_ZONE;
    return 0;
}

static void cc_network_text(const cdr_network *nw, char *buf, size_t bufsize)
{
    if (nw->nw_mnc < 0)
        snprintf(buf, bufsize, "%03u-*", nw->nw_mcc);
    else
        snprintf(buf, bufsize, "%03u-%02d", nw->nw_mcc, nw->nw_mnc);
}

static int network_cmp(const cdr_network *a, const cdr_network *b)
{
    if (a->nw_mcc != b->nw_mcc)
        return a->nw_mcc < b->nw_mcc ? -1 : 1;
    if (a->nw_mnc != b->nw_mnc)
        return a->nw_mnc < b->nw_mnc ? -1 : 1;
    return 0;
}

/* ---- sections ------------------------------------------------------------------------------- */

static int cc_identity(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    int rc = cc_name(cc, cc->cc_val[K_PLAN], "plan", pl->pl_id);
    uint64_t v = 0;
    if (!rc)
        rc = cc_uint(cc, cc->cc_val[K_VERSION], "version", 1, UINT32_MAX, &v);
    if (rc)
        return rc;
    pl->pl_version = (uint32_t)v;
    if (cc->cc_val[K_DESCRIPTION]) {
        const char *s = NULL;
        rc = cc_scalar(cc, cc->cc_val[K_DESCRIPTION], "description", &s);
        if (rc)
            return rc;
    }

    const char *tz;
    rc = cc_scalar(cc, cc->cc_val[K_TIMEZONE], "timezone", &tz);
    if (rc)
        return rc;
    rc = cdr_tz_load(tz, &pl->pl_tz);
    if (rc == CDR_NOTFOUND)
        return cc_err(cc, CDR_NOTFOUND, cc->cc_val[K_TIMEZONE],
                      "unknown time zone '%.64s' (an IANA name such as Asia/Shanghai)", tz);
    if (rc)
        return cc_err(cc, rc, cc->cc_val[K_TIMEZONE], "cannot load time zone '%.64s': %s", tz,
                      cdr_strerror(rc));

    /* effective_from: full ISO 8601 with offset, or a local date / date-time in the plan's zone. */
    const yaml_node_t *en = cc->cc_val[K_EFFECTIVE_FROM];
    const char *s = NULL;
    rc = cc_scalar(cc, en, "effective_from", &s);
    if (rc)
        return rc;
    const size_t len = strlen(s);
    int32_t off;
    if (len == 20 || len == 25) {
        rc = cdr_time_parse_iso(s, len, &pl->pl_effective_from, &off);
    } else if (len == 10 || len == 19) {
        char full[32];
        snprintf(full, sizeof full, "%s%sZ", s, len == 10 ? "T00:00:00" : "");
        cdr_time local;
        rc = cdr_time_parse_iso(full, strlen(full), &local, &off);
        if (!rc) {
            /* The UTC instant whose local time is `local` (the later offset in a DST gap). */
            int32_t o = cdr_tz_offset(&pl->pl_tz, local, NULL);
            o = cdr_tz_offset(&pl->pl_tz, local - o, NULL);
            pl->pl_effective_from = local - o;
        }
    } else {
        rc = CDR_PARSE;
    }
    if (rc == CDR_RANGE)
        return cc_err(cc, CDR_RANGE, en, "effective_from '%s' is not a real date and time", s);
    if (rc)
        return cc_err(cc, CDR_FORMAT, en,
                      "effective_from '%s' is not an ISO 8601 time (2026-01-01T00:00:00+08:00, "
                      "2026-01-01T00:00:00 or 2026-01-01)",
                      s);

    rc = cc_scalar(cc, cc->cc_val[K_CURRENCY], "currency", &s);
    if (rc)
        return rc;
    if (strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' ||
        s[2] > 'Z')
        return cc_err(cc, CDR_FORMAT, cc->cc_val[K_CURRENCY],
                      "currency '%s' is not an ISO 4217 code (three capital letters, such as CNY)",
                      s);
    memcpy(pl->pl_currency, s, 4);

    if (cc->cc_val[K_MONTHLY_FEE]) {
        rc = cc_money(cc, cc->cc_val[K_MONTHLY_FEE], "monthly_fee", &pl->pl_monthly_fee);
        if (rc)
            return rc;
    }
    return 0;
}

static int cc_services(plan_cc *cc)
{
    cc_list li;
    int rc = cc_seq(cc, cc->cc_val[K_SERVICES], "services", 0, &li);
    if (rc)
        return rc;
    if (li.li_n == 0)
        return cc_err(cc, CDR_FORMAT, cc->cc_val[K_SERVICES], "services lists no service");
    for (size_t i = 0; i < li.li_n; i++) {
        const yaml_node_t *n = cc_at(cc, &li, i);
        const char *s = NULL;
        rc = cc_scalar(cc, n, "service", &s);
        if (rc)
            return rc;
        const int svc = cdr_service_parse(s, strlen(s));
        if (svc < 0)
            return cc_err(cc, CDR_FORMAT, n,
                          "unknown service '%.32s' (voice, sms, mms, data or video)", s);
        if (cc->cc_services & (1u << svc))
            return cc_err(cc, CDR_FORMAT, n, "service '%s' is listed twice", s);
        cc->cc_services |= 1u << svc;
    }
    return 0;
}

static int cc_home_networks(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    if (!cc->cc_val[K_HOME_NETWORKS])
        return 0;
    cc_list li;
    int rc = cc_seq(cc, cc->cc_val[K_HOME_NETWORKS], "home_networks", 0, &li);
    if (rc)
        return rc;
    for (size_t i = 0; i < li.li_n; i++) {
        const yaml_node_t *n = cc_at(cc, &li, i);
        if (pl->pl_nhome == CDR_PLAN_MAX_HOME)
            return cc_err(cc, CDR_LIMIT, n, "too many home networks (at most %d)",
                          CDR_PLAN_MAX_HOME);
        cdr_network nw;
        rc = cc_network(cc, n, "home network", &nw);
        if (rc)
            return rc;
        for (uint16_t j = 0; j < pl->pl_nhome; j++)
            if (network_cmp(&pl->pl_home[j], &nw) == 0) {
                char at[64];
                return cc_err(cc, CDR_FORMAT, n, "home network '%s' is listed twice (first at %s)",
                              cc_text(n), cc_where(cc, cc->cc_home_src[j], at, sizeof at));
            }
        /* Insertion keeps pl_home sorted by (mcc, mnc). */
        uint16_t k = pl->pl_nhome;
        while (k > 0 && network_cmp(&pl->pl_home[k - 1], &nw) > 0) {
            pl->pl_home[k] = pl->pl_home[k - 1];
            cc->cc_home_src[k] = cc->cc_home_src[k - 1];
            k--;
        }
        pl->pl_home[k] = nw;
        cc->cc_home_src[k] = cc_id(cc, n);
        pl->pl_nhome++;
    }
    return 0;
}

static int cc_zone_find(const cdr_plan *pl, const char *name)
{
    for (int z = 0; z < pl->pl_nzones; z++)
        if (!strcmp(pl->pl_zones[z].zo_name, name))
            return z;
    return -1;
}

typedef struct roam_sort {
    cdr_network rs_nw;
    int32_t rs_src;
    uint32_t rs_order;
} roam_sort;

static int roam_sort_cmp(const void *a, const void *b)
{
    const roam_sort *x = a, *y = b;
    const int c = network_cmp(&x->rs_nw, &y->rs_nw);
    if (c)
        return c;
    return x->rs_order < y->rs_order ? -1 : x->rs_order > y->rs_order;
}

static int cc_add_roam(plan_cc *cc, const yaml_node_t *n, int z)
{
    cdr_plan *pl = cc->cc_pl;
    cdr_network nw;
    int rc = cc_network(cc, n, "network", &nw);
    if (rc)
        return rc;
    for (uint16_t h = 0; h < pl->pl_nhome; h++)
        if (pl->pl_home[h].nw_mcc == nw.nw_mcc &&
            (pl->pl_home[h].nw_mnc == -1 || pl->pl_home[h].nw_mnc == nw.nw_mnc)) {
            char at[64];
            return cc_err(cc, CDR_FORMAT, n,
                          "network '%s' of roaming zone '%s' is a home network (home_networks, "
                          "%s)",
                          cc_text(n), pl->pl_zones[z].zo_name,
                          cc_where(cc, cc->cc_home_src[h], at, sizeof at));
        }
    if (pl->pl_nroam == cc->cc_roam_cap) {
        const uint32_t ncap = cc->cc_roam_cap ? cc->cc_roam_cap * 2 : 16;
        cdr_network *nr = realloc(pl->pl_roam, ncap * sizeof *nr);
        if (!nr)
            return cc_err(cc, CDR_ENOMEM, n, "out of memory");
        pl->pl_roam = nr;
        int32_t *ns = realloc(cc->cc_roam_src, ncap * sizeof *ns);
        if (!ns)
            return cc_err(cc, CDR_ENOMEM, n, "out of memory");
        cc->cc_roam_src = ns;
        cc->cc_roam_cap = ncap;
    }
    nw.nw_zone = (int16_t)z;
    pl->pl_roam[pl->pl_nroam] = nw;
    cc->cc_roam_src[pl->pl_nroam] = cc_id(cc, n);
    pl->pl_nroam++;
    return 0;
}

/* Sort pl_roam by (mcc, mnc) (MCC-wide entries first) and refuse a network given twice. */
static int cc_roam_finish(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    if (pl->pl_nroam == 0)
        return 0;
    roam_sort *rs = malloc(pl->pl_nroam * sizeof *rs);
    if (!rs)
        return cc_err(cc, CDR_ENOMEM, NULL, "out of memory");
    for (uint32_t i = 0; i < pl->pl_nroam; i++) {
        rs[i].rs_nw = pl->pl_roam[i];
        rs[i].rs_src = cc->cc_roam_src[i];
        rs[i].rs_order = i;
    }
    qsort(rs, pl->pl_nroam, sizeof *rs, roam_sort_cmp);
    int rc = 0;
    for (uint32_t i = 0; i < pl->pl_nroam; i++) {
        if (i > 0 && network_cmp(&rs[i - 1].rs_nw, &rs[i].rs_nw) == 0) {
            char nwt[16], at[64];
            cc_network_text(&rs[i].rs_nw, nwt, sizeof nwt);
            rc = cc_err(cc, CDR_FORMAT, cc_node(cc, rs[i].rs_src),
                        "network '%s' is in roaming zone '%s' and again in '%s' (first at %s)", nwt,
                        pl->pl_zones[rs[i - 1].rs_nw.nw_zone].zo_name,
                        pl->pl_zones[rs[i].rs_nw.nw_zone].zo_name,
                        cc_where(cc, rs[i - 1].rs_src, at, sizeof at));
            break;
        }
        pl->pl_roam[i] = rs[i].rs_nw;
    }
    free(rs);
    return rc;
}

static int cc_zones(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    cc_list li;
    int rc = cc_seq(cc, cc->cc_val[K_ZONES], "zones", 0, &li);
    if (rc)
        return rc;
    if (li.li_n == 0)
        return cc_err(cc, CDR_FORMAT, cc->cc_val[K_ZONES], "zones lists no zone");
    for (size_t i = 0; i < li.li_n; i++) {
        yaml_node_t *zn = cc_at(cc, &li, i);
        if (i == CDR_PLAN_MAX_ZONES)
            return cc_err(cc, CDR_LIMIT, zn, "too many zones (at most %d)", CDR_PLAN_MAX_ZONES);
        yaml_node_t *k[Z_COUNT], *v[Z_COUNT];
        rc = cc_map(cc, zn, "zone", zone_keys, Z_COUNT, k, v);
        if (rc)
            return rc;
        if (!v[Z_NAME])
            return cc_err(cc, CDR_FORMAT, zn, "zone: missing required key 'name'");
        const int z = (int)i;
        cdr_zone *zo = &pl->pl_zones[z];
        rc = cc_name(cc, v[Z_NAME], "zone name", zo->zo_name);
        if (rc)
            return rc;
        for (int j = 0; j < z; j++)
            if (!strcmp(pl->pl_zones[j].zo_name, zo->zo_name)) {
                char at[64];
                return cc_err(cc, CDR_FORMAT, v[Z_NAME],
                              "zone name '%s' is used twice (first at %s)", zo->zo_name,
                              cc_where(cc, cc->cc_zone_src[j], at, sizeof at));
            }
        cc->cc_zone_src[z] = cc_id(cc, v[Z_NAME]);
        pl->pl_nzones = (uint16_t)(z + 1);
        zo->zo_kind = CDR_ZONE_NORMAL;
        if (v[Z_KIND]) {
            const char *s = NULL;
            rc = cc_scalar(cc, v[Z_KIND], "zone kind", &s);
            if (rc)
                return rc;
            int kind = 0;
            while (kind < CDR_ZONE_KIND_COUNT && strcmp(zone_kind_names[kind], s) != 0)
                kind++;
            if (kind == CDR_ZONE_KIND_COUNT)
                return cc_err(cc, CDR_FORMAT, v[Z_KIND],
                              "unknown zone kind '%.32s' (normal, onnet, free, premium or "
                              "roaming)",
                              s);
            zo->zo_kind = (uint8_t)kind;
        }
        if (v[Z_CHARGE_CLASS]) {
            rc = cc_charge_class(cc, v[Z_CHARGE_CLASS], &zo->zo_class);
            if (rc)
                return rc;
            if (zo->zo_kind == CDR_ZONE_FREE)
                return cc_err(cc, CDR_FORMAT, v[Z_CHARGE_CLASS],
                              "zone '%s' is of kind free: its events are of class free, it takes "
                              "no charge_class",
                              zo->zo_name);
        }
        if (v[Z_DESCRIPTION]) {
            const char *s = NULL;
            rc = cc_scalar(cc, v[Z_DESCRIPTION], "description", &s);
            if (rc)
                return rc;
        }
        const int roaming = zo->zo_kind == CDR_ZONE_ROAMING;
        if (roaming && (k[Z_PREFIXES] || k[Z_NUMBERS]))
            return cc_err(cc, CDR_FORMAT, k[Z_PREFIXES] ? k[Z_PREFIXES] : k[Z_NUMBERS],
                          "roaming zone '%s' is chosen by the visited network: it takes "
                          "networks, not %s",
                          zo->zo_name, k[Z_PREFIXES] ? "prefixes" : "numbers");
        if (!roaming && k[Z_NETWORKS])
            return cc_err(cc, CDR_FORMAT, k[Z_NETWORKS],
                          "only a zone of kind roaming takes networks ('%s' is %s)", zo->zo_name,
                          zone_kind_names[zo->zo_kind]);
        if (roaming && !k[Z_NETWORKS])
            return cc_err(cc, CDR_FORMAT, zn, "roaming zone '%s' needs networks", zo->zo_name);

        for (int pass = 0; pass < 2; pass++) {
            yaml_node_t *ln = v[pass == 0 ? Z_PREFIXES : Z_NUMBERS];
            if (!ln)
                continue;
            cc_list dl;
            rc = cc_seq(cc, ln, pass == 0 ? "prefixes" : "numbers", 0, &dl);
            for (size_t j = 0; !rc && j < dl.li_n; j++) {
                const yaml_node_t *dn = cc_at(cc, &dl, j);
                const char *digits = "";
                rc = cc_digits(cc, dn, pass == 0 ? "prefix" : "number", &digits);
                if (!rc && !*digits)
                    rc = cc_err(cc, CDR_FORMAT, dn, "empty %s", pass == 0 ? "prefix" : "number");
                if (!rc)
                    rc = cc_trie_add(cc, dn, digits, z, pass);
            }
            if (rc)
                return rc;
        }
        if (roaming) {
            cc_list nl;
            rc = cc_seq(cc, v[Z_NETWORKS], "networks", 0, &nl);
            if (!rc && nl.li_n == 0)
                rc = cc_err(cc, CDR_FORMAT, v[Z_NETWORKS], "roaming zone '%s' lists no network",
                            zo->zo_name);
            for (size_t j = 0; !rc && j < nl.li_n; j++)
                rc = cc_add_roam(cc, cc_at(cc, &nl, j), z);
            if (rc)
                return rc;
        }
    }
    return cc_roam_finish(cc);
}

/* home_zone / default_zone: an existing zone that is not a roaming zone. */
static int cc_zone_ref(plan_cc *cc, int key, int16_t *out)
{
    *out = CDR_NO_ZONE;
    const yaml_node_t *n = cc->cc_val[key];
    if (!n)
        return 0;
    const char *s = NULL;
    int rc = cc_scalar(cc, n, top_keys[key], &s);
    if (rc)
        return rc;
    const int z = cc_zone_find(cc->cc_pl, s);
    if (z < 0)
        return cc_err(cc, CDR_FORMAT, n, "%s: unknown zone '%.32s'", top_keys[key], s);
    if (cc->cc_pl->pl_zones[z].zo_kind == CDR_ZONE_ROAMING)
        return cc_err(cc, CDR_FORMAT, n, "%s: '%s' is a roaming zone", top_keys[key], s);
    *out = (int16_t)z;
    return 0;
}

static int int_cmp(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static int cc_holidays(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    if (!cc->cc_val[K_HOLIDAYS])
        return 0;
    cc_list li;
    int rc = cc_seq(cc, cc->cc_val[K_HOLIDAYS], "holidays", 0, &li);
    if (rc || li.li_n == 0)
        return rc;
    pl->pl_holidays = malloc(li.li_n * sizeof *pl->pl_holidays);
    int32_t *src = malloc(li.li_n * sizeof *src);
    if (!pl->pl_holidays || !src) {
        free(src);
        return cc_err(cc, CDR_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; !rc && i < li.li_n; i++) {
        const yaml_node_t *n = cc_at(cc, &li, i);
        const char *s = NULL;
        rc = cc_scalar(cc, n, "holiday", &s);
        if (rc)
            break;
        int ok = strlen(s) == 10 && s[4] == '-' && s[7] == '-';
        int y = 0, m = 0, d = 0;
        for (int j = 0; ok && j < 10; j++) {
            if (j == 4 || j == 7)
                continue;
            ok = s[j] >= '0' && s[j] <= '9';
            const int dig = s[j] - '0';
            if (j < 4)
                y = y * 10 + dig;
            else if (j < 7)
                m = m * 10 + dig;
            else
                d = d * 10 + dig;
        }
        if (!ok) {
            rc = cc_err(cc, CDR_FORMAT, n, "holiday '%s' is not a date (YYYY-MM-DD)", s);
            break;
        }
        if (!cdr_date_valid(y, (unsigned)m, (unsigned)d)) {
            rc = cc_err(cc, CDR_RANGE, n, "holiday '%s' is not a real date", s);
            break;
        }
        const int32_t ymd = y * 10000 + m * 100 + d;
        for (uint32_t j = 0; j < pl->pl_nholidays; j++)
            if (pl->pl_holidays[j] == ymd) {
                char at[64];
                rc = cc_err(cc, CDR_FORMAT, n, "holiday %s is listed twice (first at %s)", s,
                            cc_where(cc, src[j], at, sizeof at));
                break;
            }
        if (rc)
            break;
        src[pl->pl_nholidays] = cc_id(cc, n);
        pl->pl_holidays[pl->pl_nholidays++] = ymd;
    }
    free(src);
    if (!rc)
        qsort(pl->pl_holidays, pl->pl_nholidays, sizeof *pl->pl_holidays, int_cmp);
    return rc;
}

/* "HH:MM" or "H:MM" into minutes of the day; allow_24 admits "24:00". */
static int cc_hhmm(plan_cc *cc, const yaml_node_t *n, const char *what, int allow_24, int *minute)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    const size_t len = strlen(s);
    const size_t hl = len - 3;
    int ok = (len == 4 || len == 5) && s[hl] == ':';
    int h = 0, m = 0;
    for (size_t i = 0; ok && i < len; i++) {
        if (i == hl)
            continue;
        ok = s[i] >= '0' && s[i] <= '9';
        if (i < hl)
            h = h * 10 + (s[i] - '0');
        else
            m = m * 10 + (s[i] - '0');
    }
    if (!ok)
        return cc_err(cc, CDR_FORMAT, n, "%s '%s' is not a time of day (HH:MM)", what, s);
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
        return cc_err(cc, CDR_RANGE, n, "%s '%s' is not a time of day (00:00..%s)", what, s,
                      allow_24 ? "24:00" : "23:59");
    *minute = h * 60 + m;
    return 0;
}

static int cc_bands(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    cc_list li;
    int rc = cc_seq(cc, cc->cc_val[K_BANDS], "bands", 0, &li);
    if (rc)
        return rc;
    if (li.li_n == 0)
        return cc_err(cc, CDR_FORMAT, cc->cc_val[K_BANDS], "bands lists no band");
    memset(pl->pl_band_of, 0xFF, sizeof pl->pl_band_of);
    for (size_t i = 0; i < li.li_n; i++) {
        yaml_node_t *bn = cc_at(cc, &li, i);
        yaml_node_t *k[B_COUNT], *v[B_COUNT];
        rc = cc_map(cc, bn, "band", band_keys, B_COUNT, k, v);
        if (rc)
            return rc;
        if (!v[B_NAME] || !v[B_DAYS])
            return cc_err(cc, CDR_FORMAT, bn, "band: missing required key '%s'",
                          v[B_NAME] ? "days" : "name");
        /* An entry naming an existing band adds time to that band. */
        char name[CDR_NAME_MAX];
        rc = cc_name(cc, v[B_NAME], "band name", name);
        if (rc)
            return rc;
        int b = 0;
        while (b < pl->pl_nbands && strcmp(pl->pl_band_names[b], name) != 0)
            b++;
        if (b == pl->pl_nbands) {
            if (b == CDR_PLAN_MAX_BANDS)
                return cc_err(cc, CDR_LIMIT, v[B_NAME], "too many bands (at most %d)",
                              CDR_PLAN_MAX_BANDS);
            memcpy(pl->pl_band_names[b], name, sizeof name);
            pl->pl_nbands = (uint8_t)(b + 1);
        }

        cc_list dl;
        rc = cc_seq(cc, v[B_DAYS], "days", 1, &dl);
        if (rc)
            return rc;
        if (dl.li_n == 0)
            return cc_err(cc, CDR_FORMAT, v[B_DAYS], "band '%s' lists no day", name);
        unsigned days = 0;
        for (size_t j = 0; j < dl.li_n; j++) {
            const yaml_node_t *dn = cc_at(cc, &dl, j);
            const char *s = NULL;
            rc = cc_scalar(cc, dn, "day", &s);
            if (rc)
                return rc;
            unsigned add = 0;
            for (int d = 0; d < CDR_DAYTYPES; d++)
                if (!strcmp(s, cdr_plan_daytype_names[d]))
                    add = 1u << d;
            if (!strcmp(s, "weekdays"))
                add = 0x1F;
            else if (!strcmp(s, "weekend"))
                add = 0x60;
            else if (!strcmp(s, "*"))
                add = 0xFF;
            if (!add)
                return cc_err(cc, CDR_FORMAT, dn,
                              "unknown day '%.32s' (mon, tue, wed, thu, fri, sat, sun, holiday, "
                              "weekdays, weekend or \"*\")",
                              s);
            if (days & add)
                return cc_err(cc, CDR_FORMAT, dn, "day '%s' repeats a day of band '%s'", s, name);
            days |= add;
        }
        int from = 0, to = CDR_MINUTES_PER_DAY;
        if (v[B_FROM] && (rc = cc_hhmm(cc, v[B_FROM], "from", 0, &from)))
            return rc;
        if (v[B_TO] && (rc = cc_hhmm(cc, v[B_TO], "to", 1, &to)))
            return rc;
        if (to == 0)
            to = CDR_MINUTES_PER_DAY;
        if (from == to)
            return cc_err(cc, CDR_FORMAT, v[B_TO],
                          "band '%s' covers no time (from equals to; a whole day is 00:00 to "
                          "24:00)",
                          name);
        for (int d = 0; d < CDR_DAYTYPES; d++) {
            if (!(days & (1u << d)))
                continue;
            for (int m = 0; m < CDR_MINUTES_PER_DAY; m++) {
                const int in = from < to ? (m >= from && m < to) : (m >= from || m < to);
                if (!in)
                    continue;
                const uint8_t old = pl->pl_band_of[d][m];
                if (old == b)
                    return cc_err(cc, CDR_FORMAT, bn, "band '%s' covers %s %02d:%02d twice", name,
                                  cdr_plan_daytype_names[d], m / 60, m % 60);
                if (old != 0xFF)
                    return cc_err(
                        cc, CDR_FORMAT, bn, "band '%s' overlaps band '%s' on %s at %02d:%02d", name,
                        pl->pl_band_names[old], cdr_plan_daytype_names[d], m / 60, m % 60);
                pl->pl_band_of[d][m] = (uint8_t)b;
            }
        }
    }
    for (int d = 0; d < CDR_DAYTYPES; d++)
        for (int m = 0; m < CDR_MINUTES_PER_DAY; m++) {
            if (pl->pl_band_of[d][m] != 0xFF)
                continue;
            int e = m;
            while (e < CDR_MINUTES_PER_DAY && pl->pl_band_of[d][e] == 0xFF)
                e++;
            return cc_err(cc, CDR_FORMAT, cc->cc_key[K_BANDS],
                          "bands leave %s %02d:%02d-%02d:%02d uncovered (every day, and holiday, "
                          "needs a band at every minute)",
                          cdr_plan_daytype_names[d], m / 60, m % 60, e / 60, e % 60);
        }
    cdr_plan_fill_band_until(pl);
    return 0;
}

void cdr_plan_fill_band_until(cdr_plan *pl)
{
    for (int d = 0; d < CDR_DAYTYPES; d++) {
        uint16_t until = CDR_MINUTES_PER_DAY;
        for (int m = CDR_MINUTES_PER_DAY - 1; m >= 0; m--) {
            if (m == CDR_MINUTES_PER_DAY - 1 || pl->pl_band_of[d][m] != pl->pl_band_of[d][m + 1])
                until = (uint16_t)(m + 1);
            pl->pl_band_until[d][m] = until;
        }
    }
}

/* A set of zones for a rate or bundle: zone names, or "*" for every zone that is not free. */
static int cc_zone_set(plan_cc *cc, yaml_node_t *n, const char *what, uint64_t *mask, int *wild)
{
    const cdr_plan *pl = cc->cc_pl;
    cc_list li;
    int rc = cc_seq(cc, n, what, 1, &li);
    if (rc)
        return rc;
    if (li.li_n == 0)
        return cc_err(cc, CDR_FORMAT, n, "%s lists no zone", what);
    *mask = 0;
    *wild = 0;
    for (size_t i = 0; i < li.li_n; i++) {
        const yaml_node_t *zn = cc_at(cc, &li, i);
        const char *s = NULL;
        rc = cc_scalar(cc, zn, "zone", &s);
        if (rc)
            return rc;
        if (!strcmp(s, "*")) {
            if (li.li_n > 1)
                return cc_err(cc, CDR_FORMAT, zn, "\"*\" stands for every zone: list no other");
            *wild = 1;
            for (int z = 0; z < pl->pl_nzones; z++)
                if (pl->pl_zones[z].zo_kind != CDR_ZONE_FREE)
                    *mask |= 1ull << z;
            continue;
        }
        const int z = cc_zone_find(pl, s);
        if (z < 0)
            return cc_err(cc, CDR_FORMAT, zn, "unknown zone '%.32s'", s);
        if (pl->pl_zones[z].zo_kind == CDR_ZONE_FREE)
            return cc_err(cc, CDR_FORMAT, zn,
                          "zone '%s' is of kind free: it is charged nothing and takes no %s", s,
                          what[0] == 'b' ? "bundle" : "rate");
        if (*mask & (1ull << z))
            return cc_err(cc, CDR_FORMAT, zn, "zone '%s' is listed twice", s);
        *mask |= 1ull << z;
    }
    return 0;
}

/* The parsed selector of one rate entry, before it is spread over the rate cells. */
typedef struct rate_sel {
    yaml_node_t *rs_node;
    int rs_service;
    unsigned rs_dirs;  /* bit per direction */
    uint64_t rs_zones; /* bit per zone */
    uint32_t rs_bands; /* bit per band */
    int rs_spec;       /* 2 * (zones named) + (bands named) */
} rate_sel;

static int cc_band_set(plan_cc *cc, yaml_node_t *n, uint32_t *mask, int *wild)
{
    const cdr_plan *pl = cc->cc_pl;
    cc_list li;
    int rc = cc_seq(cc, n, "bands", 1, &li);
    if (rc)
        return rc;
    if (li.li_n == 0)
        return cc_err(cc, CDR_FORMAT, n, "bands lists no band");
    *mask = 0;
    *wild = 0;
    for (size_t i = 0; i < li.li_n; i++) {
        const yaml_node_t *bn = cc_at(cc, &li, i);
        const char *s = NULL;
        rc = cc_scalar(cc, bn, "band", &s);
        if (rc)
            return rc;
        if (!strcmp(s, "*")) {
            if (li.li_n > 1)
                return cc_err(cc, CDR_FORMAT, bn, "\"*\" stands for every band: list no other");
            *wild = 1;
            *mask = (1u << pl->pl_nbands) - 1;
            continue;
        }
        int b = 0;
        while (b < pl->pl_nbands && strcmp(pl->pl_band_names[b], s) != 0)
            b++;
        if (b == pl->pl_nbands)
            return cc_err(cc, CDR_FORMAT, bn, "unknown band '%.32s'", s);
        if (*mask & (1u << b))
            return cc_err(cc, CDR_FORMAT, bn, "band '%s' is listed twice", s);
        *mask |= 1u << b;
    }
    return 0;
}

/* One entry of rates: its selector into sel and its terms into ra. */
static int cc_rate(plan_cc *cc, yaml_node_t *rn, rate_sel *sel, cdr_rate *ra)
{
    yaml_node_t *k[R_COUNT], *v[R_COUNT];
    int rc = cc_map(cc, rn, "rate", rate_keys, R_COUNT, k, v);
    if (rc)
        return rc;
    if (!v[R_SERVICE])
        return cc_err(cc, CDR_FORMAT, rn, "rate: missing required key 'service'");
    if (!v[R_ZONE] && !v[R_ZONES])
        return cc_err(cc, CDR_FORMAT, rn, "rate: missing required key 'zones' (or 'zone')");
    if (!v[R_PRICE])
        return cc_err(cc, CDR_FORMAT, rn, "rate: missing required key 'price'");
    if (v[R_ZONE] && v[R_ZONES])
        return cc_err(cc, CDR_FORMAT, k[R_ZONE], "rate: give either 'zone' or 'zones', not both");
    if (v[R_BAND] && v[R_BANDS])
        return cc_err(cc, CDR_FORMAT, k[R_BAND], "rate: give either 'band' or 'bands', not both");
    memset(sel, 0, sizeof *sel);
    memset(ra, 0, sizeof *ra);
    sel->rs_node = rn;

    const char *s = NULL;
    if ((rc = cc_scalar(cc, v[R_SERVICE], "service", &s)))
        return rc;
    const int svc = cdr_service_parse(s, strlen(s));
    if (svc < 0)
        return cc_err(cc, CDR_FORMAT, v[R_SERVICE],
                      "unknown service '%.32s' (voice, sms, mms, data or video)", s);
    if (!(cc->cc_services & (1u << svc)))
        return cc_err(cc, CDR_FORMAT, v[R_SERVICE],
                      "service '%s' is not offered by this plan (see services)", s);
    sel->rs_service = svc;

    sel->rs_dirs = 1u << CDR_DIR_MO;
    if (v[R_DIRECTION]) {
        if ((rc = cc_scalar(cc, v[R_DIRECTION], "direction", &s)))
            return rc;
        const int dir = cdr_direction_parse(s, strlen(s));
        if (dir >= 0)
            sel->rs_dirs = 1u << dir;
        else if (!strcmp(s, "both"))
            sel->rs_dirs = (1u << CDR_DIR_COUNT) - 1;
        else
            return cc_err(cc, CDR_FORMAT, v[R_DIRECTION],
                          "unknown direction '%.32s' (mo, mt or both)", s);
    }
    int wild;
    rc = cc_zone_set(cc, v[R_ZONE] ? v[R_ZONE] : v[R_ZONES], "zones", &sel->rs_zones, &wild);
    if (rc)
        return rc;
    sel->rs_spec = wild ? 0 : 2;
    if (v[R_BAND] || v[R_BANDS]) {
        rc = cc_band_set(cc, v[R_BAND] ? v[R_BAND] : v[R_BANDS], &sel->rs_bands, &wild);
        if (rc)
            return rc;
        sel->rs_spec += !wild;
    } else {
        sel->rs_bands = (1u << cc->cc_pl->pl_nbands) - 1;
    }

    if (v[R_CONNECT_FEE] &&
        (rc = cc_money(cc, v[R_CONNECT_FEE], "connect_fee", &ra->ra_connect_fee)))
        return rc;
    ra->ra_ntiers = 1;
    if ((rc = cc_money(cc, v[R_PRICE], "price", &ra->ra_tiers[0].ti_price)))
        return rc;
    ra->ra_unit = svc == CDR_SVC_DATA ? 1048576 : (svc_counts(svc) ? 1 : 60);
    if (v[R_PER] && (rc = cc_qty(cc, v[R_PER], "per", svc, 1, 1, &ra->ra_unit)))
        return rc;
    ra->ra_first = ra->ra_next = 1;
    if (v[R_INCREMENTS]) {
        if ((rc = cc_scalar(cc, v[R_INCREMENTS], "increments", &s)))
            return rc;
        const char *slash = strchr(s, '/');
        const size_t flen = slash ? (size_t)(slash - s) : strlen(s);
        rc = cc_qty_text(cc, v[R_INCREMENTS], "increments", s, flen, svc, 1, &ra->ra_first);
        if (!rc && slash)
            rc = cc_qty_text(cc, v[R_INCREMENTS], "increments", slash + 1, strlen(slash + 1), svc,
                             1, &ra->ra_next);
        else if (!rc)
            ra->ra_next = ra->ra_first;
        if (rc)
            return rc;
        if (ra->ra_first == 0 || ra->ra_next == 0)
            return cc_err(cc, CDR_RANGE, v[R_INCREMENTS],
                          "increments '%s': the first and next increments must be at least 1", s);
    }
    if (v[R_TIERS]) {
        cc_list tl;
        if ((rc = cc_seq(cc, v[R_TIERS], "tiers", 0, &tl)))
            return rc;
        for (size_t i = 0; i < tl.li_n; i++) {
            yaml_node_t *tn = cc_at(cc, &tl, i);
            if (ra->ra_ntiers == CDR_PLAN_MAX_TIERS)
                return cc_err(cc, CDR_LIMIT, tn,
                              "too many tiers (at most %d besides the rate's own price)",
                              CDR_PLAN_MAX_TIERS - 1);
            yaml_node_t *tk[T_COUNT], *tv[T_COUNT];
            if ((rc = cc_map(cc, tn, "tier", tier_keys, T_COUNT, tk, tv)))
                return rc;
            if (!tv[T_FROM] || !tv[T_PRICE])
                return cc_err(cc, CDR_FORMAT, tn, "tier: missing required key '%s'",
                              tv[T_FROM] ? "price" : "from");
            cdr_tier *ti = &ra->ra_tiers[ra->ra_ntiers];
            if ((rc = cc_qty(cc, tv[T_FROM], "tier from", svc, 1, 1, &ti->ti_from)))
                return rc;
            const cdr_tier *prev = &ra->ra_tiers[ra->ra_ntiers - 1];
            if (ti->ti_from <= prev->ti_from)
                return cc_err(cc, CDR_FORMAT, tv[T_FROM],
                              "tiers must ascend: from %llu does not follow %llu",
                              (unsigned long long)ti->ti_from, (unsigned long long)prev->ti_from);
            if ((rc = cc_money(cc, tv[T_PRICE], "tier price", &ti->ti_price)))
                return rc;
            ra->ra_ntiers++;
        }
    }
    ra->ra_min_charge = ra->ra_max_charge = -1;
    if (v[R_MIN_CHARGE] && (rc = cc_money(cc, v[R_MIN_CHARGE], "min_charge", &ra->ra_min_charge)))
        return rc;
    if (v[R_MAX_CHARGE] && (rc = cc_money(cc, v[R_MAX_CHARGE], "max_charge", &ra->ra_max_charge)))
        return rc;
    if (ra->ra_min_charge >= 0 && ra->ra_max_charge >= 0 && ra->ra_max_charge < ra->ra_min_charge)
        return cc_err(cc, CDR_RANGE, v[R_MAX_CHARGE], "max_charge is below min_charge");
    ra->ra_rounding = CDR_ROUND_HALF_UP;
    if (v[R_ROUNDING]) {
        if ((rc = cc_scalar(cc, v[R_ROUNDING], "rounding", &s)))
            return rc;
        cdr_rounding r;
        if (cdr_rounding_parse(s, &r) != 0)
            return cc_err(cc, CDR_FORMAT, v[R_ROUNDING],
                          "unknown rounding '%.32s' (half-up, half-even, up or down)", s);
        ra->ra_rounding = (uint8_t)r;
    }
    ra->ra_round_to = 1;
    if (v[R_ROUND_TO]) {
        if ((rc = cc_money(cc, v[R_ROUND_TO], "round_to", &ra->ra_round_to)))
            return rc;
        if (ra->ra_round_to == 0)
            return cc_err(cc, CDR_RANGE, v[R_ROUND_TO],
                          "round_to must be positive (0.000001 leaves micro-units)");
    }
    /* The event charge is rounded last (docs/rating.md, section 6): a minimum or maximum that is
     * not a whole number of quanta could be rounded past, so refuse it. */
    for (int i = 0; i < 2; i++) {
        const cdr_money m = i == 0 ? ra->ra_min_charge : ra->ra_max_charge;
        const int key = i == 0 ? R_MIN_CHARGE : R_MAX_CHARGE;
        if (m > 0 && m % ra->ra_round_to != 0)
            return cc_err(cc, CDR_RANGE, v[key],
                          "%s %s is not a whole multiple of round_to (the event charge is "
                          "rounded last and could pass it)",
                          rate_keys[key], cc_text(v[key]));
    }
    if (v[R_CHARGE_CLASS] && (rc = cc_charge_class(cc, v[R_CHARGE_CLASS], &ra->ra_class)))
        return rc;
    if (v[R_DESCRIPTION] && (rc = cc_scalar(cc, v[R_DESCRIPTION], "description", &s)))
        return rc;
    return 0;
}

static int cc_rates(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    cc_list li;
    int rc = cc_seq(cc, cc->cc_val[K_RATES], "rates", 0, &li);
    if (rc)
        return rc;
    if (li.li_n >= CDR_NO_RATE)
        return cc_err(cc, CDR_LIMIT, cc->cc_val[K_RATES], "too many rates (at most %u)",
                      CDR_NO_RATE - 1);
    const size_t ncells = (size_t)CDR_SVC_COUNT * CDR_DIR_COUNT * pl->pl_nzones * pl->pl_nbands;
    pl->pl_rate_ix = malloc(ncells * sizeof *pl->pl_rate_ix);
    pl->pl_rates = calloc(li.li_n ? li.li_n : 1, sizeof *pl->pl_rates);
    rate_sel *sel = calloc(li.li_n ? li.li_n : 1, sizeof *sel);
    int8_t *spec = malloc(ncells);
    if (!pl->pl_rate_ix || !pl->pl_rates || !sel || !spec) {
        free(sel);
        free(spec);
        return cc_err(cc, CDR_ENOMEM, NULL, "out of memory");
    }
    for (size_t c = 0; c < ncells; c++) {
        pl->pl_rate_ix[c] = CDR_NO_RATE;
        spec[c] = -1;
    }
    for (size_t i = 0; !rc && i < li.li_n; i++) {
        rc = cc_rate(cc, cc_at(cc, &li, i), &sel[i], &pl->pl_rates[i]);
        pl->pl_nrates = (uint32_t)(i + 1);
    }
    /* Spread the entries over the cells, the most specific first: an entry that names its zones
     * and bands wins over one that says "*" for either; equal specificity on one cell is an
     * error, whatever the order of the entries in the file. */
    for (int sp = 3; !rc && sp >= 0; sp--)
        for (size_t i = 0; !rc && i < li.li_n; i++) {
            const rate_sel *rs = &sel[i];
            if (rs->rs_spec != sp)
                continue;
            for (int d = 0; !rc && d < CDR_DIR_COUNT; d++)
                for (int z = 0; !rc && z < pl->pl_nzones; z++)
                    for (int b = 0; !rc && b < pl->pl_nbands; b++) {
                        if (!(rs->rs_dirs & (1u << d)) || !(rs->rs_zones & (1ull << z)) ||
                            !(rs->rs_bands & (1u << b)))
                            continue;
                        const size_t c =
                            (((size_t)rs->rs_service * CDR_DIR_COUNT + (size_t)d) * pl->pl_nzones +
                             (size_t)z) *
                                pl->pl_nbands +
                            (size_t)b;
                        if (spec[c] > sp)
                            continue;
                        if (spec[c] == sp) {
                            char at[64];
                            rc = cc_err(
                                cc, CDR_FORMAT, rs->rs_node,
                                "rate for %s %s in zone '%s', band '%s' is defined twice (also "
                                "at %s)",
                                cdr_service_name(rs->rs_service), cdr_direction_name(d),
                                pl->pl_zones[z].zo_name, pl->pl_band_names[b],
                                cc_where(cc, cc_id(cc, sel[pl->pl_rate_ix[c]].rs_node), at,
                                         sizeof at));
                            break;
                        }
                        spec[c] = (int8_t)sp;
                        pl->pl_rate_ix[c] = (uint16_t)i;
                    }
        }
    free(sel);
    free(spec);
    if (rc)
        return rc;
    /* Every offered service needs an MO rate in every zone that is not free, in every band. */
    for (int s = 0; s < CDR_SVC_COUNT; s++) {
        if (!(cc->cc_services & (1u << s)))
            continue;
        for (int z = 0; z < pl->pl_nzones; z++) {
            if (pl->pl_zones[z].zo_kind == CDR_ZONE_FREE)
                continue;
            for (int b = 0; b < pl->pl_nbands; b++) {
                const size_t c =
                    (((size_t)s * CDR_DIR_COUNT + CDR_DIR_MO) * pl->pl_nzones + (size_t)z) *
                        pl->pl_nbands +
                    (size_t)b;
                if (pl->pl_rate_ix[c] == CDR_NO_RATE)
                    return cc_err(cc, CDR_FORMAT, cc->cc_key[K_RATES],
                                  "no mo rate for %s in zone '%s', band '%s' (every offered "
                                  "service needs an mo rate in every zone that is not free)",
                                  cdr_service_name(s), pl->pl_zones[z].zo_name,
                                  pl->pl_band_names[b]);
            }
        }
    }
    return 0;
}

static int cc_bundles(plan_cc *cc)
{
    cdr_plan *pl = cc->cc_pl;
    if (!cc->cc_val[K_BUNDLES])
        return 0;
    cc_list li;
    int rc = cc_seq(cc, cc->cc_val[K_BUNDLES], "bundles", 0, &li);
    if (rc)
        return rc;
    for (size_t i = 0; i < li.li_n; i++) {
        yaml_node_t *un = cc_at(cc, &li, i);
        if (i == CDR_PLAN_MAX_BUNDLES)
            return cc_err(cc, CDR_LIMIT, un, "too many bundles (at most %d)", CDR_PLAN_MAX_BUNDLES);
        yaml_node_t *k[U_COUNT], *v[U_COUNT];
        if ((rc = cc_map(cc, un, "bundle", bundle_keys, U_COUNT, k, v)))
            return rc;
        const char *missing = !v[U_NAME]                  ? "name"
                              : !v[U_SERVICE]             ? "service"
                              : !v[U_ZONE] && !v[U_ZONES] ? "zones' (or 'zone"
                                                          : NULL;
        if (missing)
            return cc_err(cc, CDR_FORMAT, un, "bundle: missing required key '%s'", missing);
        if (v[U_ZONE] && v[U_ZONES])
            return cc_err(cc, CDR_FORMAT, k[U_ZONE],
                          "bundle: give either 'zone' or 'zones', not both");
        cdr_bundle *bu = &pl->pl_bundles[i];
        if ((rc = cc_name(cc, v[U_NAME], "bundle name", bu->bu_name)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(pl->pl_bundles[j].bu_name, bu->bu_name))
                return cc_err(cc, CDR_FORMAT, v[U_NAME], "bundle name '%s' is used twice",
                              bu->bu_name);
        pl->pl_nbundles = (uint8_t)(i + 1);
        const char *s = NULL;
        if ((rc = cc_scalar(cc, v[U_SERVICE], "service", &s)))
            return rc;
        const int svc = cdr_service_parse(s, strlen(s));
        if (svc < 0)
            return cc_err(cc, CDR_FORMAT, v[U_SERVICE],
                          "unknown service '%.32s' (voice, sms, mms, data or video)", s);
        if (!(cc->cc_services & (1u << svc)))
            return cc_err(cc, CDR_FORMAT, v[U_SERVICE],
                          "service '%s' is not offered by this plan (see services)", s);
        bu->bu_service = (uint8_t)svc;
        int wild;
        if ((rc = cc_zone_set(cc, v[U_ZONE] ? v[U_ZONE] : v[U_ZONES], "bundle zones", &bu->bu_zones,
                              &wild)))
            return rc;
        int pool = 0;
        if (v[U_POOL] && (rc = cc_bool(cc, v[U_POOL], "pool", &pool)))
            return rc;
        bu->bu_pool = (uint8_t)pool;
        if (pool && k[U_UNITS])
            return cc_err(cc, CDR_FORMAT, k[U_UNITS],
                          "bundle '%s' is a pool: its size comes from the directory, so it takes "
                          "no units",
                          bu->bu_name);
        if (!pool && !v[U_UNITS])
            return cc_err(cc, CDR_FORMAT, un, "bundle: missing required key 'units'");
        if (pool)
            continue;
        /* A bare number is ambiguous for time and volume (500 seconds or 500 minutes?): the unit
         * is required there. Messages are counts, so "100" stays valid for sms and mms. */
        if ((rc = cc_scalar(cc, v[U_UNITS], "units", &s)))
            return rc;
        if (!svc_counts(svc) && qty_bare(s, strlen(s)))
            return cc_err(cc, CDR_FORMAT, v[U_UNITS],
                          "bundle '%s': units '%s' has no unit: bundle units for %s need one, "
                          "such as %s%s or %s%s (%s)",
                          bu->bu_name, s, cdr_service_name(svc), s,
                          svc == CDR_SVC_DATA ? "GB" : "min", s, svc == CDR_SVC_DATA ? "MB" : "s",
                          svc == CDR_SVC_DATA ? "B, KB, MB, GB, TB; 1 GB = 1024 MB" : "s, min, h");
        if ((rc = cc_qty(cc, v[U_UNITS], "units", svc, svc_counts(svc), 1, &bu->bu_units)))
            return rc;
    }
    return 0;
}

/* ---- driver --------------------------------------------------------------------------------- */

static int cc_compile(plan_cc *cc)
{
    int rc = cc_map(cc, cc->cc_root, "a plan", top_keys, K_COUNT, cc->cc_key, cc->cc_val);
    if (rc)
        return rc;
    for (int i = 0; i < K_COUNT; i++)
        if (top_required[i] && !cc->cc_val[i])
            return cc_err(cc, CDR_FORMAT, cc->cc_root, "missing required key '%s'", top_keys[i]);
    cdr_plan *pl = cc->cc_pl;
    cc->cc_trie_cap = 64;
    pl->pl_trie = malloc(cc->cc_trie_cap * sizeof *pl->pl_trie);
    cc->cc_zsrc = malloc(cc->cc_trie_cap * sizeof *cc->cc_zsrc);
    cc->cc_esrc = malloc(cc->cc_trie_cap * sizeof *cc->cc_esrc);
    if (!pl->pl_trie || !cc->cc_zsrc || !cc->cc_esrc)
        return cc_err(cc, CDR_ENOMEM, NULL, "out of memory");
    int32_t root;
    cc_trie_node(cc, &root);
    pl->pl_home_zone = pl->pl_default_zone = CDR_NO_ZONE;

    if ((rc = cc_identity(cc)) || (rc = cc_services(cc)) || (rc = cc_home_networks(cc)) ||
        (rc = cc_zones(cc)) || (rc = cc_zone_ref(cc, K_HOME_ZONE, &pl->pl_home_zone)) ||
        (rc = cc_zone_ref(cc, K_DEFAULT_ZONE, &pl->pl_default_zone)))
        return rc;
    if ((cc->cc_services & (1u << CDR_SVC_DATA)) && pl->pl_home_zone == CDR_NO_ZONE)
        return cc_err(cc, CDR_FORMAT, cc->cc_root,
                      "missing required key 'home_zone' (the plan offers data)");
    if ((rc = cc_holidays(cc)) || (rc = cc_bands(cc)) || (rc = cc_rates(cc)) ||
        (rc = cc_bundles(cc)))
        return rc;
    /* Give back the slack of the growing arrays. */
    cdr_trie_node *nt = realloc(pl->pl_trie, pl->pl_ntrie * sizeof *nt);
    if (nt)
        pl->pl_trie = nt;
    return 0;
}

/* Line and column (1-based) of byte offset off in text. */
static void text_position(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* The byte at 0-based (line, column) of text, columns counted in characters as libyaml does;
 * 0 when the position is past the end. */
static unsigned char text_char_at(const char *text, size_t len, size_t line, size_t col)
{
    size_t i = 0;
    for (size_t l = 0; l < line && i < len; i++)
        if (text[i] == '\n')
            l++;
    for (size_t c = 0; c < col && i < len; c++) {
        i++;
        while (i < len && ((unsigned char)text[i] & 0xC0) == 0x80)
            i++; /* continuation bytes of a UTF-8 character */
    }
    return i < len ? (unsigned char)text[i] : 0;
}

/* libyaml's errors in plain language: what to change in the file. Returns NULL when there is no
 * better advice than libyaml's own text. *use_context is set when the context mark (where the
 * offending construct starts, e.g. the '*') is the better position to report. */
static const char *yaml_advice(const yaml_parser_t *yp, const char *text, size_t len,
                               int *use_context)
{
    const char *pr = yp->problem ? yp->problem : "";
    const char *cx = yp->context ? yp->context : "";
    const unsigned char at =
        text_char_at(text, len, yp->problem_mark.line, yp->problem_mark.column);
    *use_context = 0;
    if (yp->error == YAML_READER_ERROR)
        return "the file is not plain UTF-8 text: save it as UTF-8, without control characters";
    if (!strcmp(cx, "while scanning an alias") || !strcmp(pr, "found undefined alias")) {
        *use_context = yp->context != NULL;
        return "quote values that start with * (write '*' or \"*\"); an unquoted * starts a YAML "
               "alias, which names an anchor (&name) defined earlier";
    }
    if (!strcmp(cx, "while scanning an anchor")) {
        *use_context = 1;
        return "quote values that start with & (write \"&...\"); an unquoted & starts a YAML "
               "anchor";
    }
    if (strstr(pr, "tab character") || at == '\t')
        return "YAML does not allow tabs for indentation: indent with spaces";
    if (!strcmp(pr, "found character that cannot start any token")) {
        if (at == '@' || at == '`')
            return "quote values that start with @ or ` (write \"@...\"): YAML reserves these "
                   "characters";
        if (at == '%')
            return "quote values that start with % (write \"%...\")";
        return "quote this value (write it in \"double\" or 'single' quotes)";
    }
    if (!strcmp(pr, "mapping values are not allowed in this context"))
        return "a ':' followed by a blank inside an unquoted value, or a key indented under a "
               "value: quote the value (write \"a: b\"), or align the key with the keys above it";
    if (!strcmp(pr, "could not find expected ':'")) {
        *use_context = 1;
        return "this line is neither 'key: value' nor a list entry: add the ': ' after the key, "
               "or quote a value that continues over several lines";
    }
    if (!strcmp(pr, "did not find expected key")) {
        if (at == '-')
            return "a '- ' list entry where a key was expected: indent the list under its key, "
                   "or align it with the entries above it";
        return "check the indentation: the keys of one mapping must start in the same column; "
               "or text follows a closing quote, ']' or '}' on the same line (quote the whole "
               "value)";
    }
    if (!strcmp(pr, "did not find expected '-' indicator"))
        return "check the indentation: every entry of a list starts with '- ' in the same column";
    if (!strcmp(pr, "did not find expected ',' or ']'"))
        return "a [ list ] is not closed: add the ']', or the ',' between two items";
    if (!strcmp(pr, "did not find expected ',' or '}'"))
        return "a { mapping } is not closed: add the '}', or the ',' between two entries";
    if (!strcmp(pr, "did not find expected node content"))
        return "an empty item in a [ ] or { } list (two commas in a row?), or an item that needs "
               "quotes";
    if (!strcmp(cx, "while scanning a quoted scalar") && strstr(pr, "end of stream")) {
        *use_context = 1;
        return "this quoted value is not closed: add the closing quote";
    }
    if (!strcmp(pr, "found unknown escape character"))
        return "a backslash inside \"double quotes\" starts an escape: use 'single quotes', or "
               "write \\\\ for a backslash";
    if (!strcmp(pr, "block sequence entries are not allowed in this context"))
        return "a '- ' list entry where a value was expected: start the list on the next line, "
               "indented under its key";
    if (!strcmp(cx, "while scanning a block scalar"))
        return "quote values that start with | or > (write \"|...\")";
    return NULL;
}

static int yaml_failure(const yaml_parser_t *yp, const char *text, size_t len, const char *name,
                        cdr_diag *dg)
{
    if (yp->error == YAML_MEMORY_ERROR)
        return cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory while parsing YAML");
    int use_context = 0;
    const char *advice = yaml_advice(yp, text ? text : "", text ? len : 0, &use_context);
    int line, col;
    if (yp->error == YAML_READER_ERROR) {
        text_position(text, len, yp->problem_offset, &line, &col);
    } else if (use_context) {
        line = (int)yp->context_mark.line + 1;
        col = (int)yp->context_mark.column + 1;
    } else {
        line = (int)yp->problem_mark.line + 1;
        col = (int)yp->problem_mark.column + 1;
    }
    const char *pr = yp->problem ? yp->problem : "error";
    if (!advice)
        return cdr_diag_set(dg, CDR_PARSE, name, line, col, "YAML syntax: %s%s%s", pr,
                            yp->context ? " " : "", yp->context ? yp->context : "");
    /* Name where the construct started when it is not the reported position. */
    char from[64] = "";
    if (yp->context && (int)yp->context_mark.line + 1 != line)
        snprintf(from, sizeof from, " at line %d, column %d", (int)yp->context_mark.line + 1,
                 (int)yp->context_mark.column + 1);
    return cdr_diag_set(dg, CDR_PARSE, name, line, col, "YAML syntax: %s (libyaml: %s%s%s%s)",
                        advice, yp->context ? yp->context : "", from, yp->context ? ": " : "", pr);
}

int cdr_plan_compile_text(const char *text, size_t len, const char *name, cdr_plan **out,
                          cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!out)
        return cdr_diag_set(dg, CDR_EINVAL, name, 0, 0, "no output pointer");
    *out = NULL;
    if (!text && len)
        return cdr_diag_set(dg, CDR_EINVAL, name, 0, 0, "no text");
    if (!name)
        name = "<plan>";

    yaml_parser_t yp;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&yp))
        return cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory");
    yaml_parser_set_input_string(&yp, (const unsigned char *)(text ? text : ""), len);
    if (!yaml_parser_load(&yp, &doc)) {
        const int rc = yaml_failure(&yp, text, len, name, dg);
        yaml_parser_delete(&yp);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = cdr_diag_set(dg, CDR_FORMAT, name, 1, 1, "empty plan file");
    } else {
        /* A plan file holds one document. */
        yaml_document_t next;
        if (!yaml_parser_load(&yp, &next)) {
            rc = yaml_failure(&yp, text, len, name, dg);
        } else {
            const yaml_node_t *nr = yaml_document_get_root_node(&next);
            if (nr)
                rc = cdr_diag_set(dg, CDR_FORMAT, name, (int)nr->start_mark.line + 1,
                                  (int)nr->start_mark.column + 1,
                                  "a second YAML document: a plan file holds one plan");
            yaml_document_delete(&next);
        }
    }
    cdr_plan *pl = NULL;
    if (!rc) {
        pl = calloc(1, sizeof *pl);
        if (!pl)
            rc = cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory");
    }
    if (!rc) {
        plan_cc cc;
        memset(&cc, 0, sizeof cc);
        cc.cc_file = name;
        cc.cc_dg = dg;
        cc.cc_doc = &doc;
        cc.cc_pl = pl;
        cc.cc_root = root;
        rc = cc_compile(&cc);
        free(cc.cc_zsrc);
        free(cc.cc_esrc);
        free(cc.cc_roam_src);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    if (rc) {
        cdr_plan_free(pl);
        return rc;
    }
    *out = pl;
    return 0;
}

int cdr_plan_compile_file(const char *path, cdr_plan **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!out || !path)
        return cdr_diag_set(dg, CDR_EINVAL, path, 0, 0, "no path or output pointer");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                rc = cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
                break;
            }
            buf = nb;
        }
        const size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot read: %s", strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!rc)
        rc = cdr_plan_compile_text(buf, len, path, out, dg);
    free(buf);
    return rc;
}

void cdr_plan_free(cdr_plan *pl)
{
    if (!pl)
        return;
    cdr_tz_free(&pl->pl_tz);
    free(pl->pl_trie);
    free(pl->pl_roam);
    free(pl->pl_holidays);
    free(pl->pl_rates);
    free(pl->pl_rate_ix);
    free(pl);
}
