/* fraud.c - the fraud rules file (docs/fraud-rules.md) -> cdr_fraud_rules, its blob and its place
 * in the store.
 *
 * The document is loaded with libyaml's document API, as the plan compiler does
 * (rating-rules/src/plan_compile.c), so that every diagnostic names file:line:column (1-based) of
 * the offending key or value, and the same YAML mistakes get the same plain-language advice. The
 * whole file is refused on the first error. Nothing here uses floating point: quantities and
 * durations are parsed from their text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cdr_fraud.h"

static const char *const kind_names[CDR_FRAUD_KIND_COUNT] = {"units", "countries"};

const char *cdr_fraud_kind_name(int kind)
{
    return kind >= 0 && kind < CDR_FRAUD_KIND_COUNT ? kind_names[kind] : "?";
}

enum { K_RULES, K_DESCRIPTION, K_COUNT };
static const char *const top_keys[K_COUNT] = {"rules", "description"};

/* The keys of each kind of rule. */
enum {
    U_NAME,
    U_KIND,
    U_SERVICE,
    U_DIRECTION,
    U_ZONE_KIND,
    U_ZONE,
    U_ZONES,
    U_WINDOW,
    U_THRESHOLD,
    U_DESCRIPTION,
    U_COUNT
};
static const char *const units_keys[U_COUNT] = {"name",      "kind",       "service", "direction",
                                                "zone_kind", "zone",       "zones",   "window",
                                                "threshold", "description"};

enum { C_NAME, C_KIND, C_WITHIN, C_HOME, C_DESCRIPTION, C_COUNT };
static const char *const countries_keys[C_COUNT] = {"name", "kind", "within", "home",
                                                    "description"};

#define FRAUD_KEYS_MAX U_COUNT

typedef struct fraud_cc {
    const char *cc_file;
    cdr_diag *cc_dg;
    yaml_document_t *cc_doc;
    cdr_fraud_rules *cc_frs;
    yaml_node_t *cc_name_node[CDR_FRAUD_MAX_RULES]; /* where each rule's name was given */
} fraud_cc;

/* ---- diagnostics and node access ------------------------------------------------------------ */

static int cc_err(fraud_cc *cc, int code, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record an error at node `at` (NULL: no position) and return code. */
static int cc_err(fraud_cc *cc, int code, const yaml_node_t *at, const char *fmt, ...)
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

static yaml_node_t *cc_node(const fraud_cc *cc, int id)
{
    return yaml_document_get_node(cc->cc_doc, id);
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
static int cc_scalar(fraud_cc *cc, const yaml_node_t *n, const char *what, const char **s)
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
 * value nodes by index (NULL when absent). what names the mapping in messages. */
static int cc_map(fraud_cc *cc, const yaml_node_t *n, const char *what, const char *const *names,
                  int nnames, yaml_node_t **vals)
{
    yaml_node_t *keys[FRAUD_KEYS_MAX];
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
        if (keys[i])
            return cc_err(cc, CDR_FORMAT, k,
                          "duplicate key '%s' in %s (first at line %d, column %d)", names[i], what,
                          (int)keys[i]->start_mark.line + 1, (int)keys[i]->start_mark.column + 1);
        keys[i] = k;
        vals[i] = v;
    }
    return 0;
}

/* A name: 1..31 of [A-Za-z0-9_.-], starting with a letter or digit (the plan language's names). */
static int cc_name(fraud_cc *cc, const yaml_node_t *n, const char *what, char out[CDR_NAME_MAX])
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

/* ---- quantities and durations --------------------------------------------------------------- */

/* Unit suffixes: those of the plan language (docs/tariff-plans.md, "Units"), data units binary,
 * and for durations also d (a day). */
typedef struct unit_suffix {
    const char *us_name;
    uint64_t us_mult;
} unit_suffix;

static const unit_suffix time_units[] = {{"s", 1}, {"min", 60}, {"h", 3600}, {NULL, 0}};
static const unit_suffix span_units[] = {
    {"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}, {NULL, 0}};
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
    default:
        return mms_units;
    }
}

static const char *svc_unit_hint(int svc)
{
    switch (svc) {
    case CDR_SVC_VOICE:
    case CDR_SVC_VIDEO:
        return "such as 300min, 90s or 2h";
    case CDR_SVC_DATA:
        return "such as 500MB or 1.5GB, where 1 KB = 1024 bytes";
    default:
        return "a count of messages, such as 30";
    }
}

/* s as digits, optionally '.' and 1..6 digits, then a suffix of us (or none when bare_ok), into
 * base units; a fraction must give a whole number of base units. 0, or -1 when malformed (no
 * number, unknown or missing unit, not whole), -2 when beyond 64 bits. */
static int qty_parse(const char *s, const unit_suffix *us, int bare_ok, uint64_t *out)
{
    const size_t len = strlen(s);
    size_t i = 0;
    uint64_t v = 0, frac = 0, scale = 1;
    int big = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            big = 1;
        else
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0)
        return -1;
    if (i < len && s[i] == '.') {
        size_t nfrac = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
            if (nfrac >= 6)
                return -1;
            frac = frac * 10 + (uint64_t)(s[i] - '0');
            scale *= 10;
        }
        if (nfrac == 0)
            return -1;
    }
    uint64_t mult = 1;
    if (i < len) {
        while (us->us_name && strcmp(us->us_name, s + i) != 0)
            us++;
        if (!us->us_name)
            return -1;
        mult = us->us_mult;
    } else if (!bare_ok) {
        return -1;
    }
    if (big || v > UINT64_MAX / mult)
        return -2;
    const uint64_t part = frac * mult; /* frac < 10^6, mult <= 2^40: fits */
    if (part % scale != 0)
        return -1;
    if (v * mult > UINT64_MAX - part / scale)
        return -2;
    *out = v * mult + part / scale;
    return 0;
}

/* A duration (window, within): a number and s, min, h or d, 1 s .. 31 days. */
static int cc_span(fraud_cc *cc, const yaml_node_t *n, const char *what, uint32_t *out)
{
    const char *s = NULL;
    int rc = cc_scalar(cc, n, what, &s);
    if (rc)
        return rc;
    uint64_t v = 0;
    const size_t len = strlen(s);
    if (len >= 2 && s[len - 1] == 'm' && s[len - 2] >= '0' && s[len - 2] <= '9')
        return cc_err(cc, CDR_FORMAT, n,
                      "%s '%s': write minutes as min (such as %.*smin); m is not a unit", what, s,
                      (int)(len - 1), s);
    rc = qty_parse(s, span_units, 0, &v);
    if (rc == -1)
        return cc_err(cc, CDR_FORMAT, n,
                      "%s must be a duration like 1h or 90s (a number and s, min, h or d), not "
                      "'%s'",
                      what, s);
    if (rc == -2 || v > CDR_FRAUD_MAX_SPAN)
        return cc_err(cc, CDR_RANGE, n, "%s '%s' is longer than 31 days", what, s);
    if (v == 0)
        return cc_err(cc, CDR_RANGE, n, "%s must be at least 1s, not '%s'", what, s);
    *out = (uint32_t)v;
    return 0;
}

/* ---- rules ---------------------------------------------------------------------------------- */

static int cc_units_rule(fraud_cc *cc, const yaml_node_t *rn, yaml_node_t **v, cdr_fraud_rule *fr)
{
    static const char *const need[] = {
        [U_SERVICE] = "service", [U_WINDOW] = "window", [U_THRESHOLD] = "threshold"};
    const int req[] = {U_SERVICE, U_WINDOW, U_THRESHOLD};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!v[req[i]])
            return cc_err(cc, CDR_FORMAT, rn, "rule '%s' has no %s", fr->fr_name, need[req[i]]);
    const char *s = NULL;
    int rc = cc_scalar(cc, v[U_SERVICE], "service", &s);
    if (rc)
        return rc;
    const int svc = cdr_service_parse(s, strlen(s));
    if (svc < 0)
        return cc_err(cc, CDR_FORMAT, v[U_SERVICE],
                      "unknown service '%s' (expected voice, sms, mms, data or video)", s);
    fr->fr_service = (uint8_t)svc;

    fr->fr_directions = 1u << CDR_DIR_MO;
    if (v[U_DIRECTION]) {
        if ((rc = cc_scalar(cc, v[U_DIRECTION], "direction", &s)))
            return rc;
        if (!strcmp(s, "any"))
            fr->fr_directions = (1u << CDR_DIR_MO) | (1u << CDR_DIR_MT);
        else if (cdr_direction_parse(s, strlen(s)) >= 0)
            fr->fr_directions = (uint8_t)(1u << cdr_direction_parse(s, strlen(s)));
        else
            return cc_err(cc, CDR_FORMAT, v[U_DIRECTION],
                          "unknown direction '%s' (expected mo, mt or any)", s);
    }

    fr->fr_zone_kinds = (1u << CDR_ZONE_KIND_COUNT) - 1;
    if (v[U_ZONE_KIND]) {
        yaml_node_t *zn = v[U_ZONE_KIND];
        const yaml_node_item_t *items = NULL;
        size_t nitems = 1;
        if (zn->type == YAML_SEQUENCE_NODE) {
            items = zn->data.sequence.items.start;
            nitems = (size_t)(zn->data.sequence.items.top - items);
            if (nitems == 0)
                return cc_err(cc, CDR_FORMAT, zn, "zone_kind is an empty list");
        }
        unsigned mask = 0;
        for (size_t i = 0; i < nitems; i++) {
            const yaml_node_t *kn = items ? cc_node(cc, items[i]) : zn;
            if ((rc = cc_scalar(cc, kn, "zone_kind", &s)))
                return rc;
            int k = 0;
            while (k < CDR_ZONE_KIND_COUNT && strcmp(s, cdr_plan_zone_kind_name(k)) != 0)
                k++;
            if (!strcmp(s, "any"))
                mask |= (1u << CDR_ZONE_KIND_COUNT) - 1;
            else if (k < CDR_ZONE_KIND_COUNT)
                mask |= 1u << k;
            else
                return cc_err(cc, CDR_FORMAT, kn,
                              "unknown zone kind '%s' (expected any, normal, onnet, free, "
                              "premium or roaming; to count a zone of the plans such as "
                              "international, write zone: international)",
                              s);
        }
        fr->fr_zone_kinds = (uint8_t)mask;
    }

    if (v[U_ZONE] && v[U_ZONES])
        return cc_err(cc, CDR_FORMAT, v[U_ZONES], "give zone or zones, not both");
    if (v[U_ZONE]) {
        if ((rc = cc_name(cc, v[U_ZONE], "zone", fr->fr_zones[0])))
            return rc;
        fr->fr_nzones = 1;
    } else if (v[U_ZONES]) {
        yaml_node_t *ln = v[U_ZONES];
        if (ln->type != YAML_SEQUENCE_NODE)
            return cc_err(cc, CDR_FORMAT, ln, "zones must be a list, not %s", cc_kind(ln));
        const yaml_node_item_t *items = ln->data.sequence.items.start;
        const size_t nitems = (size_t)(ln->data.sequence.items.top - items);
        if (nitems == 0)
            return cc_err(cc, CDR_FORMAT, ln, "zones is an empty list");
        if (nitems > CDR_FRAUD_MAX_ZONES)
            return cc_err(cc, CDR_LIMIT, ln, "more than %d zones in one rule", CDR_FRAUD_MAX_ZONES);
        for (size_t i = 0; i < nitems; i++) {
            const yaml_node_t *zn = cc_node(cc, items[i]);
            if ((rc = cc_name(cc, zn, "zone", fr->fr_zones[i])))
                return rc;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(fr->fr_zones[j], fr->fr_zones[i]))
                    return cc_err(cc, CDR_FORMAT, zn, "zone '%s' is listed twice", fr->fr_zones[i]);
        }
        fr->fr_nzones = (uint8_t)nitems;
    }

    if ((rc = cc_span(cc, v[U_WINDOW], "window", &fr->fr_window)))
        return rc;
    fr->fr_width = (fr->fr_window + CDR_FRAUD_BUCKETS - 1) / CDR_FRAUD_BUCKETS;
    fr->fr_nbuckets = (fr->fr_window + fr->fr_width - 1) / fr->fr_width;

    const yaml_node_t *tn = v[U_THRESHOLD];
    if ((rc = cc_scalar(cc, tn, "threshold", &s)))
        return rc;
    const int bare_ok = svc == CDR_SVC_SMS || svc == CDR_SVC_MMS;
    if (s[0] == '-')
        return cc_err(cc, CDR_RANGE, tn, "threshold must be greater than 0, not '%s'", s);
    rc = qty_parse(s, svc_units(svc), bare_ok, &fr->fr_threshold);
    if (rc == -2)
        return cc_err(cc, CDR_RANGE, tn, "threshold '%s' is too large", s);
    if (rc)
        return cc_err(cc, CDR_FORMAT, tn, "threshold '%s' is not a quantity of %s (%s)", s,
                      cdr_service_name(svc), svc_unit_hint(svc));
    if (fr->fr_threshold == 0)
        return cc_err(cc, CDR_RANGE, tn, "threshold must be greater than 0, not '%s'", s);
    return 0;
}

static int cc_countries_rule(fraud_cc *cc, const yaml_node_t *rn, yaml_node_t **v,
                             cdr_fraud_rule *fr)
{
    if (!v[C_WITHIN])
        return cc_err(cc, CDR_FORMAT, rn, "rule '%s' has no within", fr->fr_name);
    int rc = cc_span(cc, v[C_WITHIN], "within", &fr->fr_window);
    if (rc)
        return rc;
    if (v[C_HOME]) {
        const char *s = NULL;
        if ((rc = cc_scalar(cc, v[C_HOME], "home", &s)))
            return rc;
        const int ok = strlen(s) == 3 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' &&
                       s[2] >= '0' && s[2] <= '9' && strcmp(s, "000") != 0;
        if (!ok)
            return cc_err(cc, CDR_FORMAT, v[C_HOME],
                          "home must be the 3-digit MCC of the home country, such as \"460\", not "
                          "'%s'",
                          s);
        fr->fr_home_mcc = (uint16_t)atoi(s);
    }
    return 0;
}

static int cc_rule(fraud_cc *cc, yaml_node_t *rn, uint32_t index)
{
    cdr_fraud_rule *fr = &cc->cc_frs->frs_rules[index];
    memset(fr, 0, sizeof *fr);
    fr->fr_index = (uint8_t)index;
    if (rn->type != YAML_MAPPING_NODE)
        return cc_err(cc, CDR_FORMAT, rn, "a rule must be a mapping (key: value pairs), not %s",
                      cc_kind(rn));
    /* The kind decides which keys the rule may have. */
    yaml_node_t *kn = NULL;
    for (const yaml_node_pair_t *p = rn->data.mapping.pairs.start; p < rn->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = cc_node(cc, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(cc_text(k), "kind")) {
            kn = cc_node(cc, p->value);
            break;
        }
    }
    if (!kn)
        return cc_err(cc, CDR_FORMAT, rn,
                      "rule has no kind (write kind: units or kind: countries)");
    const char *s = NULL;
    int rc = cc_scalar(cc, kn, "kind", &s);
    if (rc)
        return rc;
    int kind = 0;
    while (kind < CDR_FRAUD_KIND_COUNT && strcmp(s, kind_names[kind]) != 0)
        kind++;
    if (kind == CDR_FRAUD_KIND_COUNT)
        return cc_err(cc, CDR_FORMAT, kn, "unknown kind '%s' (expected units or countries)", s);
    fr->fr_kind = (uint8_t)kind;

    yaml_node_t *v[FRAUD_KEYS_MAX];
    const int name_key = kind == CDR_FRAUD_UNITS ? U_NAME : C_NAME;
    rc = kind == CDR_FRAUD_UNITS ? cc_map(cc, rn, "a units rule", units_keys, U_COUNT, v)
                                 : cc_map(cc, rn, "a countries rule", countries_keys, C_COUNT, v);
    if (rc)
        return rc;
    if (!v[name_key])
        return cc_err(cc, CDR_FORMAT, rn, "rule has no name");
    if ((rc = cc_name(cc, v[name_key], "rule name", fr->fr_name)))
        return rc;
    for (uint32_t i = 0; i < index; i++)
        if (!strcmp(cc->cc_frs->frs_rules[i].fr_name, fr->fr_name))
            return cc_err(cc, CDR_FORMAT, v[name_key],
                          "duplicate rule name '%s' (first at line %d, column %d)", fr->fr_name,
                          (int)cc->cc_name_node[i]->start_mark.line + 1,
                          (int)cc->cc_name_node[i]->start_mark.column + 1);
    cc->cc_name_node[index] = v[name_key];
    return kind == CDR_FRAUD_UNITS ? cc_units_rule(cc, rn, v, fr)
                                   : cc_countries_rule(cc, rn, v, fr);
}

static int cc_compile(fraud_cc *cc, yaml_node_t *root)
{
    yaml_node_t *v[K_COUNT];
    int rc = cc_map(cc, root, "the fraud rules file", top_keys, K_COUNT, v);
    if (rc)
        return rc;
    if (!v[K_RULES])
        return cc_err(cc, CDR_FORMAT, root, "the file has no rules (write rules: and a list)");
    yaml_node_t *ln = v[K_RULES];
    if (ln->type != YAML_SEQUENCE_NODE)
        return cc_err(cc, CDR_FORMAT, ln, "rules must be a list, not %s", cc_kind(ln));
    const yaml_node_item_t *items = ln->data.sequence.items.start;
    const size_t n = (size_t)(ln->data.sequence.items.top - items);
    if (n > CDR_FRAUD_MAX_RULES)
        return cc_err(cc, CDR_LIMIT, cc_node(cc, items[CDR_FRAUD_MAX_RULES]), "more than %d rules",
                      CDR_FRAUD_MAX_RULES);
    for (size_t i = 0; i < n; i++)
        if ((rc = cc_rule(cc, cc_node(cc, items[i]), (uint32_t)i)))
            return rc;
    cc->cc_frs->frs_nrules = (uint32_t)n;
    return 0;
}

/* ---- YAML syntax errors --------------------------------------------------------------------- */

/* The byte at 0-based (line, column) of text, columns counted in characters as libyaml does. */
static unsigned char text_char_at(const char *text, size_t len, size_t line, size_t col)
{
    size_t i = 0;
    for (size_t l = 0; l < line && i < len; i++)
        if (text[i] == '\n')
            l++;
    for (size_t c = 0; c < col && i < len; c++) {
        i++;
        while (i < len && ((unsigned char)text[i] & 0xC0) == 0x80)
            i++;
    }
    return i < len ? (unsigned char)text[i] : 0;
}

/* The most frequent YAML mistakes in plain words, as the plan compiler explains them; NULL when
 * libyaml's own text is the best there is. */
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
               "alias";
    }
    if (strstr(pr, "tab character") || at == '\t')
        return "YAML does not allow tabs for indentation: indent with spaces";
    if (!strcmp(pr, "mapping values are not allowed in this context"))
        return "a ':' followed by a blank inside an unquoted value, or a key indented under a "
               "value: quote the value (write \"a: b\"), or align the key with the keys above it";
    if (!strcmp(pr, "could not find expected ':'")) {
        *use_context = 1;
        return "this line is neither 'key: value' nor a list entry: add the ': ' after the key";
    }
    if (!strcmp(pr, "did not find expected key"))
        return "check the indentation: the keys of one mapping must start in the same column";
    if (!strcmp(pr, "did not find expected ',' or ']'"))
        return "a [ list ] is not closed: add the ']', or the ',' between two items";
    if (!strcmp(pr, "did not find expected ',' or '}'"))
        return "a { mapping } is not closed: add the '}', or the ',' between two entries";
    return NULL;
}

static int yaml_failure(const yaml_parser_t *yp, const char *text, size_t len, const char *name,
                        cdr_diag *dg)
{
    if (yp->error == YAML_MEMORY_ERROR)
        return cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory while parsing YAML");
    int use_context = 0;
    const char *advice = yaml_advice(yp, text, len, &use_context);
    int line, col;
    if (yp->error == YAML_READER_ERROR) {
        line = 1;
        col = 1;
        for (size_t i = 0; i < yp->problem_offset && i < len; i++) {
            col = text[i] == '\n' ? 1 : col + 1;
            line += text[i] == '\n';
        }
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
    return cdr_diag_set(dg, CDR_PARSE, name, line, col, "YAML syntax: %s (libyaml: %s%s%s)", advice,
                        yp->context ? yp->context : "", yp->context ? ": " : "", pr);
}

/* ---- entry points --------------------------------------------------------------------------- */

int cdr_fraud_parse_buf(const char *name, const char *buf, size_t len, cdr_fraud_rules **out,
                        cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!name)
        name = "<fraud rules>";
    if (!out)
        return cdr_diag_set(dg, CDR_EINVAL, name, 0, 0, "no output pointer");
    *out = NULL;
    if (!buf && len)
        return cdr_diag_set(dg, CDR_EINVAL, name, 0, 0, "no text");
    if (!buf)
        buf = "";

    yaml_parser_t yp;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&yp))
        return cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory");
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&yp, &doc)) {
        const int rc = yaml_failure(&yp, buf, len, name, dg);
        yaml_parser_delete(&yp);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = cdr_diag_set(dg, CDR_FORMAT, name, 1, 1,
                          "empty fraud rules file (write rules: and a list of rules)");
    } else {
        yaml_document_t next; /* one document per file */
        if (!yaml_parser_load(&yp, &next)) {
            rc = yaml_failure(&yp, buf, len, name, dg);
        } else {
            const yaml_node_t *nr = yaml_document_get_root_node(&next);
            if (nr)
                rc = cdr_diag_set(dg, CDR_FORMAT, name, (int)nr->start_mark.line + 1,
                                  (int)nr->start_mark.column + 1,
                                  "a second YAML document: a fraud rules file holds one");
            yaml_document_delete(&next);
        }
    }
    cdr_fraud_rules *frs = NULL;
    if (!rc && !(frs = calloc(1, sizeof *frs)))
        rc = cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory");
    if (!rc) {
        fraud_cc cc;
        memset(&cc, 0, sizeof cc);
        cc.cc_file = name;
        cc.cc_dg = dg;
        cc.cc_doc = &doc;
        cc.cc_frs = frs;
        rc = cc_compile(&cc, root);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    if (rc) {
        free(frs);
        return rc;
    }
    *out = frs;
    return 0;
}

int cdr_fraud_parse_file(const char *path, cdr_fraud_rules **out, cdr_diag *dg)
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
        if (cap - len < 16384) {
            cap = cap ? cap * 2 : 16384;
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
        rc = cdr_fraud_parse_buf(path, buf, len, out, dg);
    free(buf);
    return rc;
}

void cdr_fraud_rules_free(cdr_fraud_rules *frs)
{
    free(frs);
}

/* ---- the blob ------------------------------------------------------------------------------- */

#define BLOB_VERSION 1
#define BLOB_HEADER  8
#define BLOB_RULE    (CDR_NAME_MAX + 28 + CDR_FRAUD_MAX_ZONES * CDR_NAME_MAX)

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        *p++ = (uint8_t)v;
    return p;
}

static uint64_t get_le(const uint8_t **pp, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)(*pp)[i] << (8 * i);
    *pp += n;
    return v;
}

size_t cdr_fraud_rules_blob(const cdr_fraud_rules *frs, uint8_t *buf)
{
    uint8_t *p = buf;
    memcpy(p, "CDRF", 4);
    p = put_le(p + 4, BLOB_VERSION, 2);
    p = put_le(p, frs->frs_nrules, 2);
    for (uint32_t i = 0; i < frs->frs_nrules && i < CDR_FRAUD_MAX_RULES; i++) {
        const cdr_fraud_rule *fr = &frs->frs_rules[i];
        /* names are written NUL-padded, whatever follows the NUL in memory */
        memset(p, 0, BLOB_RULE);
        memcpy(p, fr->fr_name, strnlen(fr->fr_name, CDR_NAME_MAX - 1));
        p += CDR_NAME_MAX;
        *p++ = fr->fr_index;
        *p++ = fr->fr_kind;
        *p++ = fr->fr_service;
        *p++ = fr->fr_directions;
        *p++ = fr->fr_zone_kinds;
        *p++ = fr->fr_nzones;
        p = put_le(p, fr->fr_home_mcc, 2);
        p = put_le(p, fr->fr_window, 4);
        p = put_le(p, fr->fr_width, 4);
        p = put_le(p, fr->fr_nbuckets, 4);
        p = put_le(p, fr->fr_threshold, 8);
        for (int z = 0; z < CDR_FRAUD_MAX_ZONES; z++, p += CDR_NAME_MAX)
            if (z < fr->fr_nzones)
                memcpy(p, fr->fr_zones[z], strnlen(fr->fr_zones[z], CDR_NAME_MAX - 1));
    }
    return (size_t)(p - buf);
}

/* A NUL-padded name field of the blob: non-empty, NUL-terminated within its field. */
static int blob_name(const uint8_t *p, char out[CDR_NAME_MAX])
{
    if (!p[0] || memchr(p, 0, CDR_NAME_MAX) == NULL)
        return -1;
    memcpy(out, p, CDR_NAME_MAX);
    return 0;
}

int cdr_fraud_rules_from_blob(const void *blob, size_t len, cdr_fraud_rules *out, cdr_diag *dg)
{
    const uint8_t *p = blob;
    if (!blob || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no blob or output");
    if (len < BLOB_HEADER || memcmp(p, "CDRF", 4) != 0)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "not a fraud rules blob");
    p += 4;
    const uint64_t version = get_le(&p, 2);
    if (version != BLOB_VERSION)
        return cdr_diag_set(dg, CDR_VERSION, NULL, 0, 0,
                            "fraud rules blob version %u (this cdrate reads version %d)",
                            (unsigned)version, BLOB_VERSION);
    const uint64_t n = get_le(&p, 2);
    if (n > CDR_FRAUD_MAX_RULES || len != BLOB_HEADER + n * BLOB_RULE)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                            "fraud rules blob of %zu bytes does not hold %u rules", len,
                            (unsigned)n);
    memset(out, 0, sizeof *out);
    out->frs_nrules = (uint32_t)n;
    for (uint32_t i = 0; i < n; i++) {
        cdr_fraud_rule *fr = &out->frs_rules[i];
        int bad = blob_name(p, fr->fr_name);
        p += CDR_NAME_MAX;
        fr->fr_index = *p++;
        fr->fr_kind = *p++;
        fr->fr_service = *p++;
        fr->fr_directions = *p++;
        fr->fr_zone_kinds = *p++;
        fr->fr_nzones = *p++;
        fr->fr_home_mcc = (uint16_t)get_le(&p, 2);
        fr->fr_window = (uint32_t)get_le(&p, 4);
        fr->fr_width = (uint32_t)get_le(&p, 4);
        fr->fr_nbuckets = (uint32_t)get_le(&p, 4);
        fr->fr_threshold = get_le(&p, 8);
        for (int z = 0; z < CDR_FRAUD_MAX_ZONES; z++, p += CDR_NAME_MAX)
            if (z < fr->fr_nzones && blob_name(p, fr->fr_zones[z]))
                bad = 1;
        bad |= fr->fr_index != i || fr->fr_kind >= CDR_FRAUD_KIND_COUNT || fr->fr_window == 0 ||
               fr->fr_window > CDR_FRAUD_MAX_SPAN || fr->fr_home_mcc > 999;
        if (fr->fr_kind == CDR_FRAUD_UNITS)
            bad |= fr->fr_service >= CDR_SVC_COUNT || fr->fr_directions == 0 ||
                   fr->fr_directions >= 1u << CDR_DIR_COUNT || fr->fr_zone_kinds == 0 ||
                   fr->fr_zone_kinds >= 1u << CDR_ZONE_KIND_COUNT ||
                   fr->fr_nzones > CDR_FRAUD_MAX_ZONES || fr->fr_threshold == 0 ||
                   fr->fr_width != (fr->fr_window + CDR_FRAUD_BUCKETS - 1) / CDR_FRAUD_BUCKETS ||
                   fr->fr_nbuckets != (fr->fr_window + fr->fr_width - 1) / fr->fr_width;
        if (bad)
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                                "fraud rules blob: rule %u is malformed", (unsigned)i);
    }
    return 0;
}

/* ---- the store ------------------------------------------------------------------------------ */

static const char store_key[] = "rules";

int cdr_fraud_store_put(cdr_store *st, const cdr_fraud_rules *frs, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !frs || frs->frs_nrules > CDR_FRAUD_MAX_RULES)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store or no valid rules");
    uint8_t *blob = malloc(CDR_FRAUD_BLOB_MAX);
    if (!blob)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    MDB_val k = {sizeof store_key - 1, (void *)store_key};
    MDB_val v = {cdr_fraud_rules_blob(frs, blob), blob};
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, 0, &txn), "begin write", dg);
    if (!rc) {
        rc = cdr_store_dbi(txn, CDR_DB_FRAUD_RULES, MDB_CREATE, &dbi, dg);
        if (!rc)
            rc = cdr_store_err(mdb_put(txn, dbi, &k, &v, 0), "write fraud rules", dg);
        if (!rc)
            rc = cdr_store_err(mdb_txn_commit(txn), "commit fraud rules", dg);
        else
            mdb_txn_abort(txn);
    }
    free(blob);
    return rc;
}

int cdr_fraud_store_get(cdr_store *st, cdr_fraud_rules *out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store or output");
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn), "begin read", dg);
    if (rc)
        return rc;
    rc = cdr_store_dbi(txn, CDR_DB_FRAUD_RULES, 0, &dbi, dg);
    MDB_val k = {sizeof store_key - 1, (void *)store_key}, v;
    if (!rc) {
        const int mrc = mdb_get(txn, dbi, &k, &v);
        rc = mrc == MDB_NOTFOUND ? CDR_NOTFOUND : cdr_store_err(mrc, "read fraud rules", dg);
    }
    if (rc == CDR_NOTFOUND)
        rc = cdr_diag_set(dg, CDR_NOTFOUND, st->st_path, 0, 0,
                          "no fraud rules in the store (cdrate fraud compile stores them)");
    if (!rc) {
        rc = cdr_fraud_rules_from_blob(v.mv_data, v.mv_size, out, dg);
        if (rc && dg)
            snprintf(dg->dg_file, sizeof dg->dg_file, "%.*s", (int)sizeof dg->dg_file - 1,
                     st->st_path);
    }
    mdb_txn_abort(txn);
    return rc;
}

int cdr_fraud_store_load(cdr_store *st, cdr_fraud_rules **out, cdr_diag *dg)
{
    *out = NULL;
    cdr_fraud_rules *frs = malloc(sizeof *frs);
    if (!frs)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    int rc = cdr_fraud_store_get(st, frs, dg);
    if (rc == 0 && frs->frs_nrules) {
        *out = frs;
        return 0;
    }
    free(frs);
    if (rc == CDR_NOTFOUND || rc == 0) {
        cdr_diag_clear(dg);
        return 0;
    }
    return rc;
}
