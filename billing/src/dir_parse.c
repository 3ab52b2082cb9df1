/* dir_parse.c - the directory file: streaming parser and validator (format: docs/directory.md).
 *
 * One record per line: the kind, then `key=value` fields. Each kind is described once, by a field
 * table (dir_kinds below) that drives parsing, required-field checks and defaults; the tables and
 * docs/directory.md must agree. Checks that need only the record itself (syntax, values, duplicate
 * ids, MSISDNs and IMSIs) run as the line is read and stop at the first error. References may
 * point forward, so they are resolved after the whole file was read; then the error reported is
 * the one earliest in the file (by line, then column).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dir_int.h"

#define DIR_LINE_MAX       8192  /* bytes per line, without the line end */
#define DIR_MAX_FIELDS     32    /* fields per line */
#define DIR_PROGRESS_EVERY 16384 /* lines between progress reports */
#define DIR_TERM_DAYS_MAX  3650  /* payment term */

/* ---- field tables ---------------------------------------------------------------------------- */

enum dir_ftype {
    FT_ID,       /* the record's own id: 1 .. CDR_DIR_ID_MAX */
    FT_REF,      /* the id of another record */
    FT_TEXT,     /* free text (quote it when it has spaces), < CDR_DIR_TEXT_MAX bytes */
    FT_NAME,     /* a token [A-Za-z0-9._@-], < CDR_NAME_MAX bytes */
    FT_MONEY,    /* decimal amount >= 0, at most 6 decimals */
    FT_TIME,     /* YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SS(Z|+HH:MM) */
    FT_BOOL,     /* yes | no */
    FT_DAYS,     /* 0 .. DIR_TERM_DAYS_MAX */
    FT_WARN,     /* none | ascending list of percentages 1..100 */
    FT_MSISDN,   /* 1..15 digits */
    FT_IMSI,     /* 6..15 digits */
    FT_STATUS,   /* active | suspended | terminated */
    FT_PARTY,    /* person | company */
    FT_QTY,      /* a pool or cap quantity of service fd_arg, with a unit */
    FT_CURRENCY, /* ISO 4217: three capital letters */
    FT_PERCENT,  /* 0 .. 100, at most two decimals, stored in basis points */
    FT_CLASSES,  /* all | list of charge classes */
    FT_SCOPE,    /* a payment rule's scope (fd_arg) and target id */
};

#define FD_REQ  1  /* required */
#define FD_POS0 2  /* remember the column in dp_col[0] (checked after reading) */
#define FD_POS1 4  /* ... in dp_col[1] */
#define FD_POS2 8  /* ... in dp_col[2] */
#define FD_POS3 16 /* ... in dp_col[3] */

typedef struct dir_field {
    const char *fd_key;
    uint8_t fd_type;
    uint8_t fd_flags;
    int8_t fd_arg;
    uint16_t fd_off;
    uint16_t fd_size;
} dir_field;

#define F(key, type, flags, arg, st, member)                                                       \
    {                                                                                              \
        key, type, flags, arg, offsetof(st, member), sizeof(((st *)0)->member)                     \
    }

static const dir_field fields_credit_class[] = {
    F("id", FT_NAME, FD_REQ, 0, cdr_dir_credit_class, cc_id),
    F("name", FT_TEXT, 0, 0, cdr_dir_credit_class, cc_name),
    F("limit", FT_MONEY, FD_REQ, 0, cdr_dir_credit_class, cc_limit),
    F("term_days", FT_DAYS, FD_REQ, 0, cdr_dir_credit_class, cc_term_days),
    F("roaming_without_deposit", FT_BOOL, 0, 0, cdr_dir_credit_class, cc_roaming_no_deposit),
    F("warn", FT_WARN, 0, 0, cdr_dir_credit_class, cc_warn_pct),
};

static const dir_field fields_customer[] = {
    F("id", FT_ID, FD_REQ, 0, cdr_dir_customer, cu_id),
    F("type", FT_PARTY, FD_REQ, 0, cdr_dir_customer, cu_party),
    F("name", FT_TEXT, FD_REQ, 0, cdr_dir_customer, cu_name),
    F("credit_class", FT_NAME, FD_REQ | FD_POS0, 0, cdr_dir_customer, cu_credit_class),
    F("manager", FT_NAME, 0, 0, cdr_dir_customer, cu_manager),
    F("email", FT_TEXT, 0, 0, cdr_dir_customer, cu_email),
};

static const dir_field fields_account[] = {
    F("id", FT_ID, FD_REQ, 0, cdr_dir_account, ac_id),
    F("customer", FT_REF, FD_REQ | FD_POS0, 0, cdr_dir_account, ac_customer),
    F("name", FT_TEXT, 0, 0, cdr_dir_account, ac_name),
    F("credit_class", FT_NAME, FD_POS1, 0, cdr_dir_account, ac_credit_class),
    F("currency", FT_CURRENCY, 0, 0, cdr_dir_account, ac_currency),
};

static const dir_field fields_enterprise[] = {
    F("id", FT_ID, FD_REQ, 0, cdr_dir_enterprise, en_id),
    F("customer", FT_REF, FD_REQ | FD_POS0, 0, cdr_dir_enterprise, en_customer),
    F("account", FT_REF, FD_REQ | FD_POS1, 0, cdr_dir_enterprise, en_account),
    F("name", FT_TEXT, 0, 0, cdr_dir_enterprise, en_name),
    F("account_manager", FT_NAME, 0, 0, cdr_dir_enterprise, en_manager[CDR_DIR_ACCOUNT_MANAGER]),
    F("billing_manager", FT_NAME, 0, 0, cdr_dir_enterprise, en_manager[CDR_DIR_BILLING_MANAGER]),
    F("service_manager", FT_NAME, 0, 0, cdr_dir_enterprise, en_manager[CDR_DIR_SERVICE_MANAGER]),
    F("technical_manager", FT_NAME, 0, 0, cdr_dir_enterprise,
      en_manager[CDR_DIR_TECHNICAL_MANAGER]),
};

#define POOL(svc, key) F(key, FT_QTY, 0, svc, cdr_dir_product, pd_pool[svc])
#define CAP(svc, key)  F(key, FT_QTY, 0, svc, cdr_dir_product, pd_member_cap[svc])
static const dir_field fields_product[] = {
    F("id", FT_ID, FD_REQ, 0, cdr_dir_product, pd_id),
    F("enterprise", FT_REF, FD_REQ | FD_POS0, 0, cdr_dir_product, pd_enterprise),
    F("name", FT_TEXT, 0, 0, cdr_dir_product, pd_name),
    POOL(CDR_SVC_VOICE, "pool_voice"),
    POOL(CDR_SVC_SMS, "pool_sms"),
    POOL(CDR_SVC_MMS, "pool_mms"),
    POOL(CDR_SVC_DATA, "pool_data"),
    POOL(CDR_SVC_VIDEO, "pool_video"),
    CAP(CDR_SVC_VOICE, "cap_voice"),
    CAP(CDR_SVC_SMS, "cap_sms"),
    CAP(CDR_SVC_MMS, "cap_mms"),
    CAP(CDR_SVC_DATA, "cap_data"),
    CAP(CDR_SVC_VIDEO, "cap_video"),
    F("cug", FT_BOOL, 0, 0, cdr_dir_product, pd_cug),
    F("discount", FT_PERCENT, 0, 0, cdr_dir_product, pd_discount_bp),
    F("cug_discount", FT_PERCENT, 0, 0, cdr_dir_product, pd_cug_bp),
};
#define PRODUCT_POOL0 3 /* index of pool_voice; the caps follow the pools */

static const dir_field fields_subscriber[] = {
    F("id", FT_ID, FD_REQ, 0, cdr_dir_subscriber, sb_id),
    F("account", FT_REF, FD_REQ | FD_POS0, 0, cdr_dir_subscriber, sb_account),
    F("msisdn", FT_MSISDN, FD_REQ, 0, cdr_dir_subscriber, sb_msisdn),
    F("imsi", FT_IMSI, 0, 0, cdr_dir_subscriber, sb_imsi),
    F("plan", FT_NAME, FD_REQ | FD_POS1, 0, cdr_dir_subscriber, sb_plan),
    F("status", FT_STATUS, 0, 0, cdr_dir_subscriber, sb_status),
    F("active_from", FT_TIME, FD_REQ, 0, cdr_dir_subscriber, sb_active_from),
    F("active_to", FT_TIME, 0, 0, cdr_dir_subscriber, sb_active_to),
};

static const dir_field fields_membership[] = {
    F("subscriber", FT_REF, FD_REQ | FD_POS0, 0, cdr_dir_membership, ms_subscriber),
    F("product", FT_REF, FD_REQ | FD_POS1, 0, cdr_dir_membership, ms_product),
    F("from", FT_TIME, 0, 0, cdr_dir_membership, ms_from),
    F("to", FT_TIME, 0, 0, cdr_dir_membership, ms_to),
};

static const dir_field fields_plan_change[] = {
    F("subscriber", FT_REF, FD_REQ | FD_POS0, 0, cdr_dir_plan_change, pc_subscriber),
    F("plan", FT_NAME, FD_REQ | FD_POS1, 0, cdr_dir_plan_change, pc_plan),
    F("previous", FT_NAME, FD_REQ | FD_POS2, 0, cdr_dir_plan_change, pc_previous),
    F("from", FT_TIME, FD_REQ | FD_POS3, 0, cdr_dir_plan_change, pc_from),
};

static const dir_field fields_payment_rule[] = {
    F("id", FT_ID, FD_REQ, 0, cdr_dir_payment_rule, pr_id),
    F("enterprise", FT_SCOPE, FD_POS0, CDR_DIR_SCOPE_ENTERPRISE, cdr_dir_payment_rule, pr_target),
    F("product", FT_SCOPE, FD_POS0, CDR_DIR_SCOPE_PRODUCT, cdr_dir_payment_rule, pr_target),
    F("subscriber", FT_SCOPE, FD_POS0, CDR_DIR_SCOPE_SUBSCRIBER, cdr_dir_payment_rule, pr_target),
    F("classes", FT_CLASSES, FD_REQ | FD_POS1, 0, cdr_dir_payment_rule, pr_classes),
    F("cap", FT_MONEY, 0, 0, cdr_dir_payment_rule, pr_cap),
};

typedef struct dir_parser dir_parser;

typedef struct dir_kind_def {
    const char *kd_name;
    int kd_kind;
    const dir_field *kd_fields;
    size_t kd_nfields;
    int (*kd_finish)(dir_parser *ps, size_t ix);
} dir_kind_def;

struct dir_parser {
    cdr_dir *ps_dir;
    const char *ps_path;
    cdr_diag *ps_dg;
    uint32_t ps_line;
    int ps_version;                   /* 0 until the directory line was read */
    uint32_t ps_kind_col;             /* column of the current record's kind */
    const dir_kind_def *ps_kd;        /* the current record's kind */
    uint32_t ps_seen[DIR_MAX_FIELDS]; /* column of each field of ps_kd given, 0 = absent */
};

typedef struct dir_tok {
    char *tk_key;
    char *tk_val; /* NUL-terminated, unquoted and unescaped in place */
    size_t tk_vlen;
    uint32_t tk_col; /* column of the key */
} dir_tok;

/* ---- errors ---------------------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int perr(dir_parser *ps, int code, uint32_t col,
                                                      const char *fmt, ...)
{
    char msg[sizeof ps->ps_dg->dg_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cdr_diag_set(ps->ps_dg, code, ps->ps_path, (int)ps->ps_line, (int)col, "%s", msg);
}

/* a == b, cheaply rejecting most mismatches on the first byte (the parser's lookups are hot). */
static int same(const char *a, const char *b)
{
    return a[0] == b[0] && strcmp(a, b) == 0;
}

/* The column of the current record's field `key`, 0 when it was not given. */
static uint32_t seen_col(const dir_parser *ps, const char *key)
{
    for (size_t f = 0; f < ps->ps_kd->kd_nfields; f++)
        if (same(ps->ps_kd->kd_fields[f].fd_key, key))
            return ps->ps_seen[f];
    return 0;
}

/* ---- value parsers --------------------------------------------------------------------------- */

/* Decimal digits only. 0, CDR_PARSE (empty, not a digit) or CDR_RANGE (over UINT64_MAX). */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0)
        return CDR_PARSE;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CDR_PARSE;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CDR_RANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int parse_id(dir_parser *ps, const dir_tok *tk, uint64_t *out)
{
    int rc = parse_u64(tk->tk_val, tk->tk_vlen, out);
    if (rc == CDR_PARSE)
        return perr(ps, rc, tk->tk_col, "field '%s': '%s' is not a number", tk->tk_key, tk->tk_val);
    if (rc || *out == 0 || *out > CDR_DIR_ID_MAX)
        return perr(ps, CDR_RANGE, tk->tk_col, "field '%s': id %s is out of range (1 .. %lld)",
                    tk->tk_key, tk->tk_val, (long long)CDR_DIR_ID_MAX);
    return 0;
}

static int parse_time(dir_parser *ps, const dir_tok *tk, cdr_time *out)
{
    const char *s = tk->tk_val;
    int rc;
    if (tk->tk_vlen == 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) &&
        s[7] == '-' && all_digits(s + 8, 2)) {
        int64_t y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
        unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
        if (!cdr_date_valid(y, m, d))
            return perr(ps, CDR_RANGE, tk->tk_col, "field '%s': no such date '%s'", tk->tk_key, s);
        *out = cdr_days_from_civil(y, m, d) * 86400;
        return 0;
    }
    int32_t offset;
    rc = tk->tk_vlen > 10 ? cdr_time_parse_iso(s, tk->tk_vlen, out, &offset) : CDR_PARSE;
    if (rc == CDR_RANGE)
        return perr(ps, rc, tk->tk_col, "field '%s': no such date or time '%s'", tk->tk_key, s);
    if (rc)
        return perr(ps, CDR_PARSE, tk->tk_col,
                    "field '%s': '%s' is not a date (YYYY-MM-DD) or time "
                    "(YYYY-MM-DDTHH:MM:SS with Z or +HH:MM)",
                    tk->tk_key, s);
    return 0;
}

static int parse_money(dir_parser *ps, const dir_tok *tk, cdr_money *out)
{
    int rc = cdr_money_parse(tk->tk_val, out);
    if (rc == CDR_RANGE)
        return perr(ps, rc, tk->tk_col,
                    "field '%s': '%s' has more than six decimals or is too large", tk->tk_key,
                    tk->tk_val);
    if (rc)
        return perr(ps, CDR_PARSE, tk->tk_col, "field '%s': '%s' is not a decimal amount",
                    tk->tk_key, tk->tk_val);
    if (*out < 0)
        return perr(ps, CDR_RANGE, tk->tk_col, "field '%s': %s is negative", tk->tk_key,
                    tk->tk_val);
    return 0;
}

/* Units of pool and cap quantities, per service (base units: seconds, messages, bytes). */
typedef struct dir_unit {
    const char *un_name;
    uint64_t un_mult;
} dir_unit;

static const dir_unit units_time[] = {{"s", 1}, {"min", 60}, {"h", 3600}, {NULL, 0}};
static const dir_unit units_count[] = {{"", 1}, {NULL, 0}};
static const dir_unit units_bytes[] = {{"B", 1},           {"KB", 1ULL << 10}, {"MB", 1ULL << 20},
                                       {"GB", 1ULL << 30}, {"TB", 1ULL << 40}, {NULL, 0}};

static const dir_unit *service_units(int svc, const char **help)
{
    switch (svc) {
    case CDR_SVC_VOICE:
    case CDR_SVC_VIDEO:
        *help = "digits and one of s, min, h";
        return units_time;
    case CDR_SVC_DATA:
        *help = "digits and one of B, KB, MB, GB, TB";
        return units_bytes;
    default:
        *help = "a count of messages";
        return units_count;
    }
}

static int parse_qty(dir_parser *ps, const dir_tok *tk, int svc, uint64_t *out)
{
    const char *help;
    const dir_unit *un = service_units(svc, &help);
    size_t nd = 0;
    while (nd < tk->tk_vlen && tk->tk_val[nd] >= '0' && tk->tk_val[nd] <= '9')
        nd++;
    const char *suffix = tk->tk_val + nd;
    for (; un->un_name; un++)
        if (strcmp(un->un_name, suffix) == 0)
            break;
    uint64_t v = 0;
    int rc = un->un_name ? parse_u64(tk->tk_val, nd, &v) : CDR_PARSE;
    if (rc == CDR_PARSE)
        return perr(ps, rc, tk->tk_col, "field '%s': '%s' is not a quantity (%s)", tk->tk_key,
                    tk->tk_val, help);
    if (rc || v > UINT64_MAX / un->un_mult)
        return perr(ps, CDR_RANGE, tk->tk_col, "field '%s': '%s' is too large", tk->tk_key,
                    tk->tk_val);
    if (v == 0)
        return perr(ps, CDR_RANGE, tk->tk_col,
                    "field '%s': must be greater than 0 (leave it out for none)", tk->tk_key);
    *out = v * un->un_mult;
    return 0;
}

static int parse_warn(dir_parser *ps, const dir_tok *tk, cdr_dir_credit_class *cc)
{
    cc->cc_nwarn = 0;
    if (strcmp(tk->tk_val, "none") == 0)
        return 0;
    const char *p = tk->tk_val, *end = tk->tk_val + tk->tk_vlen;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        uint64_t v;
        int rc = parse_u64(p, (size_t)(e - p), &v);
        if (rc == CDR_PARSE)
            return perr(ps, rc, tk->tk_col,
                        "field 'warn': '%s' is not 'none' or a list of percentages like 80,95",
                        tk->tk_val);
        if (rc || v < 1 || v > 100)
            return perr(ps, CDR_RANGE, tk->tk_col,
                        "field 'warn': thresholds are percentages from 1 to 100");
        if (cc->cc_nwarn == CDR_DIR_MAX_WARN)
            return perr(ps, CDR_RANGE, tk->tk_col, "field 'warn': more than %d thresholds",
                        CDR_DIR_MAX_WARN);
        if (cc->cc_nwarn && v <= cc->cc_warn_pct[cc->cc_nwarn - 1])
            return perr(ps, CDR_RANGE, tk->tk_col,
                        "field 'warn': thresholds must be strictly ascending");
        cc->cc_warn_pct[cc->cc_nwarn++] = (uint8_t)v;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* The payment-rule classes of directory files written before the charge classes of issue 11, and
 * what replaced them: named in the error, so that an old file is mended without guessing. */
static const struct {
    const char *oc_old, *oc_new;
} old_classes[] = {
    {"monthly_fee", "recurring_fee"},
    {"voice_domestic", "basic_voice"},
    {"voice_international", "basic_voice"},
    {"sms", "sms_mms"},
    {"mms", "sms_mms"},
    {"video", "basic_voice"},
    {"other", "value_added, one_off or adjustment"},
};

static int parse_classes(dir_parser *ps, const dir_tok *tk, uint32_t *out)
{
    *out = 0;
    if (strcmp(tk->tk_val, "all") == 0) {
        *out = CDR_DIR_CLASSES_ALL;
        return 0;
    }
    const char *p = tk->tk_val, *end = tk->tk_val + tk->tk_vlen;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const size_t len = (size_t)(e - p);
        int c = cdr_dir_charge_parse(p, len);
        if (c < 0) {
            for (size_t k = 0; k < sizeof old_classes / sizeof old_classes[0]; k++)
                if (strlen(old_classes[k].oc_old) == len && !memcmp(old_classes[k].oc_old, p, len))
                    return perr(ps, CDR_FORMAT, tk->tk_col,
                                "field 'classes': '%s' is no longer a charge class: use %s "
                                "(docs/directory.md, payment_rule)",
                                old_classes[k].oc_old, old_classes[k].oc_new);
            char list[256] = "";
            for (int k = CDR_CLASS_NONE + 1; k < CDR_CLASS_COUNT; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s, ",
                         cdr_dir_charge_name(k));
            return perr(ps, CDR_FORMAT, tk->tk_col,
                        "field 'classes': unknown charge class '%.*s' (one of %sor all)", (int)len,
                        p, list);
        }
        if (*out & (1u << c))
            return perr(ps, CDR_FORMAT, tk->tk_col, "field 'classes': '%s' listed twice",
                        cdr_dir_charge_name(c));
        *out |= 1u << c;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '@';
}

/* Parse one field's value into the record. */
static int set_field(dir_parser *ps, const dir_field *fd, const dir_tok *tk, void *rec)
{
    char *dst = (char *)rec + fd->fd_off;
    const char *v = tk->tk_val;
    const char *key = tk->tk_key;
    uint32_t col = tk->tk_col;
    uint64_t u = 0;
    int rc;

    if (tk->tk_vlen == 0)
        return perr(ps, CDR_FORMAT, col, "field '%s' is empty", key);
    switch (fd->fd_type) {
    case FT_ID:
    case FT_REF:
        if ((rc = parse_id(ps, tk, &u)) != 0)
            return rc;
        memcpy(dst, &u, sizeof u);
        return 0;
    case FT_SCOPE: {
        cdr_dir_payment_rule *pr = rec;
        if (pr->pr_scope)
            return perr(ps, CDR_FORMAT, col,
                        "field '%s': a payment rule has exactly one of enterprise=, product=, "
                        "subscriber=",
                        key);
        if ((rc = parse_id(ps, tk, &pr->pr_target)) != 0)
            return rc;
        pr->pr_scope = (uint8_t)fd->fd_arg;
        return 0;
    }
    case FT_TEXT:
        for (size_t i = 0; i < tk->tk_vlen; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                return perr(ps, CDR_FORMAT, col, "field '%s': control character in text", key);
        if (tk->tk_vlen >= fd->fd_size)
            return perr(ps, CDR_RANGE, col, "field '%s': longer than %u bytes", key,
                        (unsigned)fd->fd_size - 1);
        memcpy(dst, v, tk->tk_vlen + 1);
        return 0;
    case FT_NAME:
        for (size_t i = 0; i < tk->tk_vlen; i++)
            if (!name_char((unsigned char)v[i]))
                return perr(ps, CDR_FORMAT, col,
                            "field '%s': '%s' may only contain letters, digits and . _ - @", key,
                            v);
        if (tk->tk_vlen >= fd->fd_size)
            return perr(ps, CDR_RANGE, col, "field '%s': longer than %u bytes", key,
                        (unsigned)fd->fd_size - 1);
        memcpy(dst, v, tk->tk_vlen + 1);
        return 0;
    case FT_MONEY: {
        cdr_money m;
        if ((rc = parse_money(ps, tk, &m)) != 0)
            return rc;
        memcpy(dst, &m, sizeof m);
        return 0;
    }
    case FT_TIME: {
        cdr_time t;
        if ((rc = parse_time(ps, tk, &t)) != 0)
            return rc;
        memcpy(dst, &t, sizeof t);
        return 0;
    }
    case FT_BOOL:
        if (strcmp(v, "yes") && strcmp(v, "no"))
            return perr(ps, CDR_FORMAT, col, "field '%s': '%s' is not yes or no", key, v);
        *(uint8_t *)dst = v[0] == 'y';
        return 0;
    case FT_DAYS: {
        rc = parse_u64(v, tk->tk_vlen, &u);
        if (rc == CDR_PARSE)
            return perr(ps, rc, col, "field '%s': '%s' is not a number", key, v);
        if (rc || u > DIR_TERM_DAYS_MAX)
            return perr(ps, CDR_RANGE, col, "field '%s': %s is out of range (0 .. %d)", key, v,
                        DIR_TERM_DAYS_MAX);
        uint32_t d = (uint32_t)u;
        memcpy(dst, &d, sizeof d);
        return 0;
    }
    case FT_WARN:
        return parse_warn(ps, tk, rec);
    case FT_CURRENCY:
        if (tk->tk_vlen != 3 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z' ||
            v[2] < 'A' || v[2] > 'Z')
            return perr(ps, CDR_FORMAT, col,
                        "field '%s': '%s' is not an ISO 4217 code (three capital letters, e.g. "
                        "CNY)",
                        key, v);
        memcpy(dst, v, 4);
        return 0;
    case FT_MSISDN:
        if (!all_digits(v, tk->tk_vlen))
            return perr(ps, CDR_FORMAT, col,
                        "field 'msisdn': '%s' is not E.164 digits (no '+', spaces or dashes)", v);
        if (tk->tk_vlen > 15)
            return perr(ps, CDR_RANGE, col,
                        "field 'msisdn': '%s' has %zu digits (E.164 allows at most 15)", v,
                        tk->tk_vlen);
        memcpy(dst, v, tk->tk_vlen + 1);
        return 0;
    case FT_IMSI:
        if (!all_digits(v, tk->tk_vlen))
            return perr(ps, CDR_FORMAT, col, "field 'imsi': '%s' is not digits", v);
        if (tk->tk_vlen < 6 || tk->tk_vlen > 15)
            return perr(ps, CDR_RANGE, col, "field 'imsi': '%s' has %zu digits (6 .. 15)", v,
                        tk->tk_vlen);
        memcpy(dst, v, tk->tk_vlen + 1);
        return 0;
    case FT_STATUS:
        for (int s = CDR_DIR_ACTIVE; s <= CDR_DIR_TERMINATED; s++)
            if (strcmp(v, cdr_dir_status_name(s)) == 0) {
                *(uint8_t *)dst = (uint8_t)s;
                return 0;
            }
        return perr(ps, CDR_FORMAT, col,
                    "field 'status': '%s' is not one of active, suspended, terminated", v);
    case FT_PARTY:
        if (strcmp(v, "person") == 0)
            *(uint8_t *)dst = CDR_DIR_PERSON;
        else if (strcmp(v, "company") == 0)
            *(uint8_t *)dst = CDR_DIR_COMPANY;
        else
            return perr(ps, CDR_FORMAT, col, "field 'type': '%s' is not person or company", v);
        return 0;
    case FT_QTY:
        if ((rc = parse_qty(ps, tk, fd->fd_arg, &u)) != 0)
            return rc;
        memcpy(dst, &u, sizeof u);
        return 0;
    case FT_PERCENT: {
        cdr_money m;
        rc = cdr_money_parse(v, &m);
        if (rc == CDR_PARSE)
            return perr(ps, rc, col, "field '%s': '%s' is not a percentage", key, v);
        if (rc || m < 0 || m > 100 * CDR_MICRO || m % 10000 != 0)
            return perr(ps, CDR_RANGE, col,
                        "field '%s': %s is not a percentage from 0 to 100 with at most two "
                        "decimals",
                        key, v);
        uint16_t bp = (uint16_t)(m / 10000);
        memcpy(dst, &bp, sizeof bp);
        return 0;
    }
    case FT_CLASSES:
        return parse_classes(ps, tk, (uint32_t *)(void *)dst);
    }
    return perr(ps, CDR_EINVAL, col, "internal: field type %d", fd->fd_type);
}

/* ---- per-kind checks, run when a record's line is complete ------------------------------------
 */

static int first_line(const dir_parser *ps, int kind, size_t ix1)
{
    return (int)ps->ps_dir->dr_pos[kind][ix1 - 1].dp_line;
}

/* Index a numeric id; a duplicate is CDR_EXISTS at the id field. */
static int index_id(dir_parser *ps, int kind, size_t ix)
{
    uint64_t id = dir_id_at(ps->ps_dir, kind, ix);
    size_t prev = dir_add_id(ps->ps_dir, kind, ix);
    if (prev == SIZE_MAX)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    if (prev)
        return perr(ps, CDR_EXISTS, seen_col(ps, "id"),
                    "duplicate %s id %llu (first defined on line %d)", cdr_dir_kind_name(kind),
                    (unsigned long long)id, first_line(ps, kind, prev));
    return 0;
}

static int finish_credit_class(dir_parser *ps, size_t ix)
{
    cdr_dir *dir = ps->ps_dir;
    cdr_dir_credit_class *cc = DIR_AT(dir, CDR_DIR_CREDIT_CLASS, cdr_dir_credit_class, ix);
    if (!seen_col(ps, "warn")) {
        cc->cc_nwarn = 2;
        cc->cc_warn_pct[0] = 80;
        cc->cc_warn_pct[1] = 95;
    }
    size_t prev = dir_strmap_put(&dir->dr_cc_names, &dir->dr_vec[CDR_DIR_CREDIT_CLASS], 0, ix);
    if (prev == SIZE_MAX)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    if (prev)
        return perr(ps, CDR_EXISTS, seen_col(ps, "id"),
                    "duplicate credit_class id '%s' (first defined on line %d)", cc->cc_id,
                    first_line(ps, CDR_DIR_CREDIT_CLASS, prev));
    return 0;
}

static int finish_customer(dir_parser *ps, size_t ix)
{
    const cdr_dir_customer *cu = DIR_AT(ps->ps_dir, CDR_DIR_CUSTOMER, cdr_dir_customer, ix);
    uint32_t mcol = seen_col(ps, "manager");
    if (cu->cu_party == CDR_DIR_COMPANY && !mcol)
        return perr(ps, CDR_FORMAT, ps->ps_kind_col,
                    "customer: a company needs 'manager' (the account manager's login)");
    if (cu->cu_party == CDR_DIR_PERSON && mcol)
        return perr(ps, CDR_FORMAT, mcol,
                    "field 'manager': only company customers have an account manager");
    return index_id(ps, CDR_DIR_CUSTOMER, ix);
}

static int finish_account(dir_parser *ps, size_t ix)
{
    return index_id(ps, CDR_DIR_ACCOUNT, ix);
}

static int finish_enterprise(dir_parser *ps, size_t ix)
{
    return index_id(ps, CDR_DIR_ENTERPRISE, ix);
}

static int finish_product(dir_parser *ps, size_t ix)
{
    cdr_dir_product *pd = DIR_AT(ps->ps_dir, CDR_DIR_PRODUCT, cdr_dir_product, ix);
    dir_pos *pos = &ps->ps_dir->dr_pos[CDR_DIR_PRODUCT][ix];
    for (int s = 0; s < CDR_SVC_COUNT; s++) {
        const dir_field *pool = &fields_product[PRODUCT_POOL0 + s];
        const dir_field *cap = &fields_product[PRODUCT_POOL0 + CDR_SVC_COUNT + s];
        uint32_t pcol = ps->ps_seen[PRODUCT_POOL0 + s];
        uint32_t ccol = ps->ps_seen[PRODUCT_POOL0 + CDR_SVC_COUNT + s];
        if (pcol && (!pos->dp_col[1] || pcol < pos->dp_col[1]))
            pos->dp_col[1] = pcol;
        if (ccol && !pd->pd_pool[s])
            return perr(ps, CDR_FORMAT, ccol, "field '%s' without '%s': a member cap limits a pool",
                        cap->fd_key, pool->fd_key);
        if (ccol && pd->pd_member_cap[s] > pd->pd_pool[s])
            return perr(ps, CDR_RANGE, ccol, "field '%s' is larger than '%s'", cap->fd_key,
                        pool->fd_key);
    }
    const uint32_t cugcol = seen_col(ps, "cug_discount");
    if (cugcol && !pd->pd_cug)
        return perr(ps, CDR_FORMAT, cugcol,
                    "field 'cug_discount' without 'cug=yes': it prices calls within a closed "
                    "user group");
    if (pd->pd_cug && !cugcol)
        pd->pd_cug_bp = 10000; /* calls and messages between members are free */
    return index_id(ps, CDR_DIR_PRODUCT, ix);
}

static int finish_subscriber(dir_parser *ps, size_t ix)
{
    cdr_dir *dir = ps->ps_dir;
    cdr_dir_subscriber *sb = DIR_AT(dir, CDR_DIR_SUBSCRIBER, cdr_dir_subscriber, ix);
    if (!sb->sb_status)
        sb->sb_status = CDR_DIR_ACTIVE;
    uint32_t tcol = seen_col(ps, "active_to");
    if (!tcol) {
        if (sb->sb_status == CDR_DIR_TERMINATED)
            return perr(ps, CDR_FORMAT, seen_col(ps, "status"),
                        "field 'status': a terminated subscriber needs active_to (the "
                        "termination time)");
        sb->sb_active_to = INT64_MAX;
    } else if (sb->sb_active_to <= sb->sb_active_from) {
        return perr(ps, CDR_RANGE, tcol, "field 'active_to': not after active_from");
    }
    int rc = index_id(ps, CDR_DIR_SUBSCRIBER, ix);
    if (rc)
        return rc;
    const dir_vec *dv = &dir->dr_vec[CDR_DIR_SUBSCRIBER];
    size_t prev = dir_strmap_put(&dir->dr_msisdns, dv, offsetof(cdr_dir_subscriber, sb_msisdn), ix);
    if (prev == SIZE_MAX)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    if (prev)
        return perr(ps, CDR_EXISTS, seen_col(ps, "msisdn"),
                    "duplicate msisdn %s (subscriber %llu, line %d)", sb->sb_msisdn,
                    (unsigned long long)dir_id_at(dir, CDR_DIR_SUBSCRIBER, prev - 1),
                    first_line(ps, CDR_DIR_SUBSCRIBER, prev));
    if (!sb->sb_imsi[0])
        return 0;
    prev = dir_strmap_put(&dir->dr_imsis, dv, offsetof(cdr_dir_subscriber, sb_imsi), ix);
    if (prev == SIZE_MAX)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    if (prev)
        return perr(ps, CDR_EXISTS, seen_col(ps, "imsi"),
                    "duplicate imsi %s (subscriber %llu, line %d)", sb->sb_imsi,
                    (unsigned long long)dir_id_at(dir, CDR_DIR_SUBSCRIBER, prev - 1),
                    first_line(ps, CDR_DIR_SUBSCRIBER, prev));
    return 0;
}

static int finish_membership(dir_parser *ps, size_t ix)
{
    cdr_dir_membership *ms = DIR_AT(ps->ps_dir, CDR_DIR_MEMBERSHIP, cdr_dir_membership, ix);
    const uint32_t fcol = seen_col(ps, "from"), tcol = seen_col(ps, "to");
    if (!fcol)
        ms->ms_from = INT64_MIN;
    if (!tcol)
        ms->ms_to = INT64_MAX;
    else if (ms->ms_to <= ms->ms_from)
        return perr(ps, CDR_RANGE, tcol, "field 'to': not after from");
    /* A second membership of the same subscriber is reported after reading (it needs the
     * products' enterprises); only the first one is indexed. */
    if (dir_add_id(ps->ps_dir, CDR_DIR_MEMBERSHIP, ix) == SIZE_MAX)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    return 0;
}

static int finish_payment_rule(dir_parser *ps, size_t ix)
{
    cdr_dir_payment_rule *pr = DIR_AT(ps->ps_dir, CDR_DIR_PAYMENT_RULE, cdr_dir_payment_rule, ix);
    if (!pr->pr_scope)
        return perr(ps, CDR_FORMAT, ps->ps_kind_col,
                    "payment_rule: needs one of enterprise=, product= or subscriber=");
    if (!seen_col(ps, "cap"))
        pr->pr_cap = CDR_DIR_NO_CAP;
    return index_id(ps, CDR_DIR_PAYMENT_RULE, ix);
}

static int finish_plan_change(dir_parser *ps, size_t ix)
{
    const cdr_dir_plan_change *pc =
        DIR_AT(ps->ps_dir, CDR_DIR_PLAN_CHANGE, cdr_dir_plan_change, ix);
    if (strcmp(pc->pc_plan, pc->pc_previous) == 0)
        return perr(ps, CDR_FORMAT, seen_col(ps, "previous"),
                    "field 'previous': '%s' is also the new plan; a plan change names two plans",
                    pc->pc_previous);
    return 0;
}

#define KIND(name, kind, fields, finish)                                                           \
    {                                                                                              \
        name, kind, fields, sizeof fields / sizeof fields[0], finish                               \
    }
static const dir_kind_def dir_kinds[] = {
    KIND("credit_class", CDR_DIR_CREDIT_CLASS, fields_credit_class, finish_credit_class),
    KIND("customer", CDR_DIR_CUSTOMER, fields_customer, finish_customer),
    KIND("account", CDR_DIR_ACCOUNT, fields_account, finish_account),
    KIND("enterprise", CDR_DIR_ENTERPRISE, fields_enterprise, finish_enterprise),
    KIND("product", CDR_DIR_PRODUCT, fields_product, finish_product),
    KIND("subscriber", CDR_DIR_SUBSCRIBER, fields_subscriber, finish_subscriber),
    KIND("membership", CDR_DIR_MEMBERSHIP, fields_membership, finish_membership),
    KIND("payment_rule", CDR_DIR_PAYMENT_RULE, fields_payment_rule, finish_payment_rule),
    KIND("plan_change", CDR_DIR_PLAN_CHANGE, fields_plan_change, finish_plan_change),
};
#define DIR_NKINDS (sizeof dir_kinds / sizeof dir_kinds[0])

/* ---- lines ----------------------------------------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Split s[0..len) (NUL-terminated) into the kind and fields, in place. *kind is NULL for a blank
 * or comment line. */
static int tokenize(dir_parser *ps, char *s, size_t len, char **kind, dir_tok *toks, size_t *ntok)
{
    *kind = NULL;
    *ntok = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return perr(ps, CDR_PARSE, (uint32_t)i + 1, "control character 0x%02x in line",
                        (unsigned char)s[i]);
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    if (i == len || s[i] == '#')
        return 0;
    *kind = s + i;
    ps->ps_kind_col = (uint32_t)i + 1;
    while (i < len && !is_space(s[i]))
        i++;
    s[i++] = '\0'; /* s[len] is already the NUL */
    for (;;) {
        while (i < len && is_space(s[i]))
            i++;
        if (i >= len || s[i] == '#')
            return 0;
        uint32_t col = (uint32_t)i + 1;
        if (*ntok == DIR_MAX_FIELDS)
            return perr(ps, CDR_LIMIT, col, "more than %d fields in one line", DIR_MAX_FIELDS);
        size_t k = i;
        while (i < len && key_char(s[i]))
            i++;
        if (i == k || i == len || s[i] != '=') {
            size_t e = i;
            while (e < len && !is_space(s[e]))
                e++;
            return perr(ps, CDR_PARSE, col, "expected key=value, found '%.*s'",
                        (int)(e - k > 40 ? 40 : e - k), s + k);
        }
        dir_tok *tk = &toks[(*ntok)++];
        tk->tk_key = s + k;
        tk->tk_col = col;
        s[i++] = '\0';
        if (i < len && s[i] == '"') {
            size_t out = i++;
            tk->tk_val = s + out;
            for (;;) {
                if (i >= len)
                    return perr(ps, CDR_PARSE, col, "field '%s': unterminated quoted value",
                                tk->tk_key);
                if (s[i] == '"')
                    break;
                if (s[i] == '\\') {
                    if (i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\')) {
                        s[out++] = s[i + 1];
                        i += 2;
                        continue;
                    }
                    return perr(ps, CDR_PARSE, (uint32_t)i + 1,
                                "field '%s': only \\\" and \\\\ may be escaped", tk->tk_key);
                }
                s[out++] = s[i++];
            }
            tk->tk_vlen = (size_t)(s + out - tk->tk_val);
            s[out] = '\0';
            i++; /* past the closing quote */
            if (i < len && !is_space(s[i]))
                return perr(ps, CDR_PARSE, (uint32_t)i + 1,
                            "field '%s': expected a space after the closing quote", tk->tk_key);
        } else {
            tk->tk_val = s + i;
            while (i < len && !is_space(s[i])) {
                if (s[i] == '"')
                    return perr(ps, CDR_PARSE, (uint32_t)i + 1,
                                "field '%s': quote inside an unquoted value", tk->tk_key);
                i++;
            }
            tk->tk_vlen = (size_t)(s + i - tk->tk_val);
        }
        s[i++] = '\0';
    }
}

static int parse_directory_line(dir_parser *ps, const dir_tok *toks, size_t ntok)
{
    if (ps->ps_version)
        return perr(ps, CDR_FORMAT, ps->ps_kind_col, "a second 'directory' line");
    for (size_t t = 0; t < ntok; t++) {
        const dir_tok *tk = &toks[t];
        if (strcmp(tk->tk_key, "version") != 0)
            return perr(ps, CDR_FORMAT, tk->tk_col, "unknown field '%s' in the directory line",
                        tk->tk_key);
        uint64_t v;
        int rc = parse_u64(tk->tk_val, tk->tk_vlen, &v);
        if (rc == CDR_PARSE)
            return perr(ps, rc, tk->tk_col, "field 'version': '%s' is not a number", tk->tk_val);
        if (rc || v != CDR_DIR_VERSION)
            return perr(ps, CDR_VERSION, tk->tk_col,
                        "directory format version %s is not supported (this build reads "
                        "version %d)",
                        tk->tk_val, CDR_DIR_VERSION);
        ps->ps_version = (int)v;
    }
    if (!ps->ps_version)
        return perr(ps, CDR_FORMAT, ps->ps_kind_col, "directory: missing 'version'");
    return 0;
}

static int parse_line(dir_parser *ps, char *s, size_t len)
{
    char *kind;
    dir_tok toks[DIR_MAX_FIELDS];
    size_t ntok;
    int rc = tokenize(ps, s, len, &kind, toks, &ntok);
    if (rc || !kind)
        return rc;
    if (same(kind, "directory"))
        return parse_directory_line(ps, toks, ntok);
    if (!ps->ps_version)
        return perr(ps, CDR_FORMAT, ps->ps_kind_col,
                    "expected 'directory version=%d' as the first record, found '%s'",
                    CDR_DIR_VERSION, kind);
    const dir_kind_def *kd = NULL;
    for (size_t k = 0; k < DIR_NKINDS && !kd; k++)
        if (same(dir_kinds[k].kd_name, kind))
            kd = &dir_kinds[k];
    if (!kd)
        return perr(ps, CDR_FORMAT, ps->ps_kind_col,
                    "unknown record kind '%s' (one of credit_class, customer, account, "
                    "enterprise, product, subscriber, membership, payment_rule, plan_change)",
                    kind);
    ps->ps_kd = kd;
    long ix = dir_append(ps->ps_dir, kd->kd_kind, 1);
    if (ix < 0)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    void *rec = (char *)ps->ps_dir->dr_vec[kd->kd_kind].dv_base +
                (size_t)ix * ps->ps_dir->dr_vec[kd->kd_kind].dv_size;
    dir_pos *pos = &ps->ps_dir->dr_pos[kd->kd_kind][ix];
    pos->dp_line = ps->ps_line;
    memset(ps->ps_seen, 0, sizeof ps->ps_seen);
    size_t next = 0; /* fields usually come in table order: try the one after the last first */
    for (size_t t = 0; t < ntok; t++) {
        const dir_tok *tk = &toks[t];
        size_t f = next;
        if (f >= kd->kd_nfields || !same(kd->kd_fields[f].fd_key, tk->tk_key))
            for (f = 0; f < kd->kd_nfields && !same(kd->kd_fields[f].fd_key, tk->tk_key); f++)
                ;
        next = f + 1;
        if (f == kd->kd_nfields)
            return perr(ps, CDR_FORMAT, tk->tk_col, "unknown field '%s' in a %s record", tk->tk_key,
                        kd->kd_name);
        if (ps->ps_seen[f])
            return perr(ps, CDR_FORMAT, tk->tk_col, "field '%s' given twice (first in column %u)",
                        tk->tk_key, ps->ps_seen[f]);
        ps->ps_seen[f] = tk->tk_col;
        const dir_field *fd = &kd->kd_fields[f];
        if ((rc = set_field(ps, fd, tk, rec)) != 0)
            return rc;
        if (fd->fd_flags & FD_POS0)
            pos->dp_col[0] = tk->tk_col;
        if (fd->fd_flags & FD_POS1)
            pos->dp_col[1] = tk->tk_col;
        if (fd->fd_flags & FD_POS2)
            pos->dp_col[2] = tk->tk_col;
        if (fd->fd_flags & FD_POS3)
            pos->dp_col[3] = tk->tk_col;
    }
    for (size_t f = 0; f < kd->kd_nfields; f++)
        if ((kd->kd_fields[f].fd_flags & FD_REQ) && !ps->ps_seen[f])
            return perr(ps, CDR_FORMAT, ps->ps_kind_col, "%s: missing required field '%s'",
                        kd->kd_name, kd->kd_fields[f].fd_key);
    return kd->kd_finish(ps, (size_t)ix);
}

/* ---- references, checked after the whole file was read ----------------------------------------
 */

typedef struct dir_best {
    int bs_code;
    uint32_t bs_line;
    uint32_t bs_col;
    char bs_msg[sizeof((cdr_diag *)0)->dg_msg];
} dir_best;

/* Keep the error earliest in the file. */
__attribute__((format(printf, 5, 6))) static void best(dir_best *bs, int code, const dir_pos *pos,
                                                       int colix, const char *fmt, ...)
{
    uint32_t line = pos->dp_line, col = pos->dp_col[colix];
    if (bs->bs_code && (line > bs->bs_line || (line == bs->bs_line && col >= bs->bs_col)))
        return;
    bs->bs_code = code;
    bs->bs_line = line;
    bs->bs_col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bs->bs_msg, sizeof bs->bs_msg, fmt, ap);
    va_end(ap);
}

#define ULL(x) ((unsigned long long)(x))

/* dir_find_id, trying first the element after the previous hit of the same kind: references
 * in a file usually ascend with the records that hold them (account i -> customer i). */
static size_t find_id(cdr_dir *dir, int kind, uint64_t id)
{
    size_t h = dir->dr_hint[kind];
    if (!dir->dr_hashed[kind] && h < dir->dr_vec[kind].dv_n && dir_id_at(dir, kind, h) == id &&
        (h == 0 || dir_id_at(dir, kind, h - 1) != id))
        return ++dir->dr_hint[kind];
    size_t ix1 = dir_find_id(dir, kind, id);
    if (ix1)
        dir->dr_hint[kind] = ix1;
    return ix1;
}

static void resolve_customers(cdr_dir *dir, dir_best *bs)
{
    const dir_vec *cv = &dir->dr_vec[CDR_DIR_CREDIT_CLASS];
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_CUSTOMER].dv_n; i++) {
        const cdr_dir_customer *cu = DIR_AT(dir, CDR_DIR_CUSTOMER, cdr_dir_customer, i);
        if (!dir_strmap_find(&dir->dr_cc_names, cv, 0, cu->cu_credit_class))
            best(bs, CDR_NOTFOUND, &dir->dr_pos[CDR_DIR_CUSTOMER][i], 0,
                 "customer %llu: unknown credit class '%s'", ULL(cu->cu_id), cu->cu_credit_class);
    }
}

static void resolve_accounts(cdr_dir *dir, dir_best *bs)
{
    const dir_vec *cv = &dir->dr_vec[CDR_DIR_CREDIT_CLASS];
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_ACCOUNT].dv_n; i++) {
        cdr_dir_account *ac = DIR_AT(dir, CDR_DIR_ACCOUNT, cdr_dir_account, i);
        const dir_pos *pos = &dir->dr_pos[CDR_DIR_ACCOUNT][i];
        size_t cu1 = find_id(dir, CDR_DIR_CUSTOMER, ac->ac_customer);
        if (!cu1) {
            best(bs, CDR_NOTFOUND, pos, 0, "account %llu: unknown customer %llu", ULL(ac->ac_id),
                 ULL(ac->ac_customer));
            continue;
        }
        const cdr_dir_customer *cu = DIR_AT(dir, CDR_DIR_CUSTOMER, cdr_dir_customer, cu1 - 1);
        ac->ac_party = cu->cu_party;
        if (!ac->ac_credit_class[0])
            memcpy(ac->ac_credit_class, cu->cu_credit_class, sizeof ac->ac_credit_class);
        else if (!dir_strmap_find(&dir->dr_cc_names, cv, 0, ac->ac_credit_class))
            best(bs, CDR_NOTFOUND, pos, 1, "account %llu: unknown credit class '%s'",
                 ULL(ac->ac_id), ac->ac_credit_class);
    }
}

static void resolve_enterprises(cdr_dir *dir, dir_best *bs)
{
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_ENTERPRISE].dv_n; i++) {
        cdr_dir_enterprise *en = DIR_AT(dir, CDR_DIR_ENTERPRISE, cdr_dir_enterprise, i);
        const dir_pos *pos = &dir->dr_pos[CDR_DIR_ENTERPRISE][i];
        size_t cu1 = find_id(dir, CDR_DIR_CUSTOMER, en->en_customer);
        size_t ac1 = find_id(dir, CDR_DIR_ACCOUNT, en->en_account);
        const cdr_dir_customer *cu =
            cu1 ? DIR_AT(dir, CDR_DIR_CUSTOMER, cdr_dir_customer, cu1 - 1) : NULL;
        if (!cu)
            best(bs, CDR_NOTFOUND, pos, 0, "enterprise %llu: unknown customer %llu", ULL(en->en_id),
                 ULL(en->en_customer));
        else if (cu->cu_party != CDR_DIR_COMPANY)
            best(bs, CDR_FORMAT, pos, 0,
                 "enterprise %llu: customer %llu is a person; an enterprise needs a company",
                 ULL(en->en_id), ULL(en->en_customer));
        if (cu && !en->en_name[0])
            memcpy(en->en_name, cu->cu_name, sizeof en->en_name);
        char *am = en->en_manager[CDR_DIR_ACCOUNT_MANAGER];
        if (cu && !am[0]) /* the account manager: by default the company customer's manager= */
            memcpy(am, cu->cu_manager, sizeof en->en_manager[0]);
        if (!ac1) {
            best(bs, CDR_NOTFOUND, pos, 1, "enterprise %llu: unknown account %llu", ULL(en->en_id),
                 ULL(en->en_account));
            continue;
        }
        const cdr_dir_account *ac = DIR_AT(dir, CDR_DIR_ACCOUNT, cdr_dir_account, ac1 - 1);
        if (ac->ac_customer != en->en_customer)
            best(bs, CDR_FORMAT, pos, 1,
                 "enterprise %llu: account %llu belongs to customer %llu, not to the "
                 "enterprise's customer %llu",
                 ULL(en->en_id), ULL(ac->ac_id), ULL(ac->ac_customer), ULL(en->en_customer));
    }
}

static int has_pool(const cdr_dir_product *pd)
{
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        if (pd->pd_pool[s])
            return 1;
    return 0;
}

static int resolve_products(cdr_dir *dir, dir_best *bs)
{
    /* The rating core keeps one pool counter per enterprise and service: at most one pooled
     * product per enterprise. pooled[e] = index + 1 of enterprise e's pooled product. */
    uint32_t *pooled = calloc(dir->dr_vec[CDR_DIR_ENTERPRISE].dv_n + 1, sizeof *pooled);
    if (!pooled)
        return CDR_ENOMEM;
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_PRODUCT].dv_n; i++) {
        const cdr_dir_product *pd = DIR_AT(dir, CDR_DIR_PRODUCT, cdr_dir_product, i);
        const dir_pos *pos = &dir->dr_pos[CDR_DIR_PRODUCT][i];
        size_t en1 = find_id(dir, CDR_DIR_ENTERPRISE, pd->pd_enterprise);
        if (!en1) {
            best(bs, CDR_NOTFOUND, pos, 0, "product %llu: unknown enterprise %llu", ULL(pd->pd_id),
                 ULL(pd->pd_enterprise));
            continue;
        }
        if (!has_pool(pd))
            continue;
        if (pooled[en1 - 1]) {
            size_t p = pooled[en1 - 1] - 1;
            best(bs, CDR_FORMAT, pos, 1,
                 "product %llu: enterprise %llu already has a pooled product %llu (line %u); "
                 "one pool per enterprise",
                 ULL(pd->pd_id), ULL(pd->pd_enterprise), ULL(dir_id_at(dir, CDR_DIR_PRODUCT, p)),
                 dir->dr_pos[CDR_DIR_PRODUCT][p].dp_line);
        } else {
            pooled[en1 - 1] = (uint32_t)i + 1;
        }
    }
    free(pooled);
    return 0;
}

static void resolve_subscribers(cdr_dir *dir, dir_best *bs)
{
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_SUBSCRIBER].dv_n; i++) {
        cdr_dir_subscriber *sb = DIR_AT(dir, CDR_DIR_SUBSCRIBER, cdr_dir_subscriber, i);
        size_t ac1 = find_id(dir, CDR_DIR_ACCOUNT, sb->sb_account);
        if (!ac1)
            best(bs, CDR_NOTFOUND, &dir->dr_pos[CDR_DIR_SUBSCRIBER][i], 0,
                 "subscriber %llu: unknown account %llu", ULL(sb->sb_id), ULL(sb->sb_account));
        else
            sb->sb_customer = DIR_AT(dir, CDR_DIR_ACCOUNT, cdr_dir_account, ac1 - 1)->ac_customer;
    }
}

static void resolve_memberships(cdr_dir *dir, dir_best *bs)
{
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_MEMBERSHIP].dv_n; i++) {
        cdr_dir_membership *ms = DIR_AT(dir, CDR_DIR_MEMBERSHIP, cdr_dir_membership, i);
        const dir_pos *pos = &dir->dr_pos[CDR_DIR_MEMBERSHIP][i];
        size_t sb1 = find_id(dir, CDR_DIR_SUBSCRIBER, ms->ms_subscriber);
        size_t pd1 = find_id(dir, CDR_DIR_PRODUCT, ms->ms_product);
        if (!sb1)
            best(bs, CDR_NOTFOUND, pos, 0, "membership: unknown subscriber %llu",
                 ULL(ms->ms_subscriber));
        if (!pd1) {
            best(bs, CDR_NOTFOUND, pos, 1, "membership: unknown product %llu", ULL(ms->ms_product));
            continue;
        }
        ms->ms_enterprise = DIR_AT(dir, CDR_DIR_PRODUCT, cdr_dir_product, pd1 - 1)->pd_enterprise;
    }
    /* Second memberships, once every membership knows its enterprise. */
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_MEMBERSHIP].dv_n; i++) {
        const cdr_dir_membership *ms = DIR_AT(dir, CDR_DIR_MEMBERSHIP, cdr_dir_membership, i);
        const dir_pos *pos = &dir->dr_pos[CDR_DIR_MEMBERSHIP][i];
        size_t first = find_id(dir, CDR_DIR_MEMBERSHIP, ms->ms_subscriber) - 1;
        if (first != i) {
            const cdr_dir_membership *fm =
                DIR_AT(dir, CDR_DIR_MEMBERSHIP, cdr_dir_membership, first);
            uint32_t fline = dir->dr_pos[CDR_DIR_MEMBERSHIP][first].dp_line;
            if (fm->ms_enterprise && ms->ms_enterprise && fm->ms_enterprise != ms->ms_enterprise)
                best(bs, CDR_EXISTS, pos, 0,
                     "membership: subscriber %llu is already in enterprise %llu (line %u); a "
                     "subscriber belongs to at most one enterprise",
                     ULL(ms->ms_subscriber), ULL(fm->ms_enterprise), fline);
            else
                best(bs, CDR_EXISTS, pos, 0,
                     "membership: subscriber %llu is already a member of product %llu (line %u)",
                     ULL(ms->ms_subscriber), ULL(fm->ms_product), fline);
            continue;
        }
        size_t sb1 = find_id(dir, CDR_DIR_SUBSCRIBER, ms->ms_subscriber);
        if (sb1) {
            cdr_dir_subscriber *sb = DIR_AT(dir, CDR_DIR_SUBSCRIBER, cdr_dir_subscriber, sb1 - 1);
            sb->sb_enterprise = ms->ms_enterprise;
            sb->sb_product = ms->ms_product;
        }
    }
}

typedef struct dir_pcref {
    uint64_t pr_sub;
    cdr_time pr_from;
    uint32_t pr_ix;
} dir_pcref;

static int cmp_pcref(const void *a, const void *b)
{
    const dir_pcref *x = a, *y = b;
    if (x->pr_sub != y->pr_sub)
        return x->pr_sub < y->pr_sub ? -1 : 1;
    if (x->pr_from != y->pr_from)
        return x->pr_from < y->pr_from ? -1 : 1;
    return (x->pr_ix > y->pr_ix) - (x->pr_ix < y->pr_ix);
}

/* A subscriber's plan changes form a chain: inside its active window, one per instant, each
 * `previous` the plan of the change before, the last one's plan the subscriber's plan=. */
static int resolve_plan_changes(cdr_dir *dir, dir_best *bs)
{
    const size_t n = dir->dr_vec[CDR_DIR_PLAN_CHANGE].dv_n;
    dir_pcref *pr = malloc((n ? n : 1) * sizeof *pr);
    if (!pr)
        return CDR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const cdr_dir_plan_change *pc = DIR_AT(dir, CDR_DIR_PLAN_CHANGE, cdr_dir_plan_change, i);
        pr[i] =
            (dir_pcref){.pr_sub = pc->pc_subscriber, .pr_from = pc->pc_from, .pr_ix = (uint32_t)i};
    }
    qsort(pr, n, sizeof *pr, cmp_pcref);
    const dir_pos *const cpos = dir->dr_pos[CDR_DIR_PLAN_CHANGE];
    for (size_t g = 0; g < n;) {
        size_t e = g + 1;
        while (e < n && pr[e].pr_sub == pr[g].pr_sub)
            e++;
        const size_t sb1 = find_id(dir, CDR_DIR_SUBSCRIBER, pr[g].pr_sub);
        if (!sb1) {
            for (size_t j = g; j < e; j++)
                best(bs, CDR_NOTFOUND, &cpos[pr[j].pr_ix], 0,
                     "plan_change: unknown subscriber %llu", ULL(pr[j].pr_sub));
            g = e;
            continue;
        }
        const cdr_dir_subscriber *sb = DIR_AT(dir, CDR_DIR_SUBSCRIBER, cdr_dir_subscriber, sb1 - 1);
        const uint32_t sline = dir->dr_pos[CDR_DIR_SUBSCRIBER][sb1 - 1].dp_line;
        for (size_t j = g; j < e; j++) {
            const cdr_dir_plan_change *pc =
                DIR_AT(dir, CDR_DIR_PLAN_CHANGE, cdr_dir_plan_change, pr[j].pr_ix);
            const dir_pos *pos = &cpos[pr[j].pr_ix];
            const cdr_dir_plan_change *before =
                j > g ? DIR_AT(dir, CDR_DIR_PLAN_CHANGE, cdr_dir_plan_change, pr[j - 1].pr_ix)
                      : NULL;
            if (pc->pc_from <= sb->sb_active_from)
                best(bs, CDR_RANGE, pos, 3,
                     "plan_change: field 'from' is not after the active_from of subscriber %llu "
                     "(line %u); its first plan is the subscriber's own",
                     ULL(sb->sb_id), sline);
            else if (pc->pc_from >= sb->sb_active_to)
                best(bs, CDR_RANGE, pos, 3,
                     "plan_change: field 'from' is not before the active_to of subscriber %llu "
                     "(line %u)",
                     ULL(sb->sb_id), sline);
            else if (before && before->pc_from == pc->pc_from)
                best(bs, CDR_EXISTS, pos, 3,
                     "plan_change: subscriber %llu already changes plan at this time (line %u)",
                     ULL(sb->sb_id), cpos[pr[j - 1].pr_ix].dp_line);
            else if (before && strcmp(before->pc_plan, pc->pc_previous))
                best(bs, CDR_FORMAT, pos, 2,
                     "plan_change: subscriber %llu is on plan '%s' before this change (the "
                     "change on line %u), not on '%s'",
                     ULL(sb->sb_id), before->pc_plan, cpos[pr[j - 1].pr_ix].dp_line,
                     pc->pc_previous);
            if (j + 1 == e && strcmp(pc->pc_plan, sb->sb_plan))
                best(bs, CDR_FORMAT, pos, 1,
                     "plan_change: the last change of subscriber %llu is to plan '%s', but the "
                     "subscriber (line %u) has plan=%s; plan= is the plan after the last change",
                     ULL(sb->sb_id), pc->pc_plan, sline, sb->sb_plan);
        }
        g = e;
    }
    free(pr);
    return 0;
}

static const char *scope_name(int scope)
{
    return scope == CDR_DIR_SCOPE_ENTERPRISE ? "enterprise"
           : scope == CDR_DIR_SCOPE_PRODUCT  ? "product"
                                             : "subscriber";
}

static int cmp_rule_group(const void *a, const void *b)
{
    const dir_ruleref *x = a, *y = b;
    if (x->rr_scope != y->rr_scope)
        return x->rr_scope < y->rr_scope ? -1 : 1;
    if (x->rr_target != y->rr_target)
        return x->rr_target < y->rr_target ? -1 : 1;
    return (x->rr_ix > y->rr_ix) - (x->rr_ix < y->rr_ix);
}

static int resolve_payment_rules(cdr_dir *dir, dir_best *bs)
{
    size_t n = dir->dr_vec[CDR_DIR_PAYMENT_RULE].dv_n;
    for (size_t i = 0; i < n; i++) {
        cdr_dir_payment_rule *pr = DIR_AT(dir, CDR_DIR_PAYMENT_RULE, cdr_dir_payment_rule, i);
        const dir_pos *pos = &dir->dr_pos[CDR_DIR_PAYMENT_RULE][i];
        const char *what = scope_name(pr->pr_scope);
        int kind = pr->pr_scope == CDR_DIR_SCOPE_ENTERPRISE ? CDR_DIR_ENTERPRISE
                   : pr->pr_scope == CDR_DIR_SCOPE_PRODUCT  ? CDR_DIR_PRODUCT
                                                            : CDR_DIR_SUBSCRIBER;
        size_t t1 = find_id(dir, kind, pr->pr_target);
        if (!t1) {
            best(bs, CDR_NOTFOUND, pos, 0, "payment_rule %llu: unknown %s %llu", ULL(pr->pr_id),
                 what, ULL(pr->pr_target));
            continue;
        }
        if (kind == CDR_DIR_ENTERPRISE) {
            pr->pr_enterprise = pr->pr_target;
        } else if (kind == CDR_DIR_PRODUCT) {
            pr->pr_enterprise =
                DIR_AT(dir, CDR_DIR_PRODUCT, cdr_dir_product, t1 - 1)->pd_enterprise;
        } else {
            size_t ms1 = find_id(dir, CDR_DIR_MEMBERSHIP, pr->pr_target);
            if (!ms1) {
                best(bs, CDR_FORMAT, pos, 0,
                     "payment_rule %llu: subscriber %llu is not a member of an enterprise",
                     ULL(pr->pr_id), ULL(pr->pr_target));
                continue;
            }
            pr->pr_enterprise =
                DIR_AT(dir, CDR_DIR_MEMBERSHIP, cdr_dir_membership, ms1 - 1)->ms_enterprise;
        }
        size_t en1 = find_id(dir, CDR_DIR_ENTERPRISE, pr->pr_enterprise);
        if (en1)
            pr->pr_payer = DIR_AT(dir, CDR_DIR_ENTERPRISE, cdr_dir_enterprise, en1 - 1)->en_account;
    }
    /* Within one scope and target, a charge class is paid by one rule only. */
    dir_ruleref *rr = malloc((n ? n : 1) * sizeof *rr);
    if (!rr)
        return CDR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const cdr_dir_payment_rule *pr = DIR_AT(dir, CDR_DIR_PAYMENT_RULE, cdr_dir_payment_rule, i);
        rr[i] = (dir_ruleref){.rr_target = pr->pr_target,
                              .rr_id = pr->pr_id,
                              .rr_ix = (uint32_t)i,
                              .rr_scope = pr->pr_scope};
    }
    qsort(rr, n, sizeof *rr, cmp_rule_group);
    for (size_t g = 0; g < n;) {
        size_t e = g + 1;
        while (e < n && rr[e].rr_scope == rr[g].rr_scope && rr[e].rr_target == rr[g].rr_target)
            e++;
        for (size_t j = g + 1; j < e; j++) {
            const cdr_dir_payment_rule *pj =
                DIR_AT(dir, CDR_DIR_PAYMENT_RULE, cdr_dir_payment_rule, rr[j].rr_ix);
            for (size_t k = g; k < j; k++) {
                const cdr_dir_payment_rule *pk =
                    DIR_AT(dir, CDR_DIR_PAYMENT_RULE, cdr_dir_payment_rule, rr[k].rr_ix);
                uint32_t both = pj->pr_classes & pk->pr_classes;
                if (!both)
                    continue;
                int c = __builtin_ctz(both);
                best(bs, CDR_EXISTS, &dir->dr_pos[CDR_DIR_PAYMENT_RULE][rr[j].rr_ix], 1,
                     "payment_rule %llu: charge class '%s' is already paid by payment_rule %llu "
                     "(line %u) for %s %llu",
                     ULL(pj->pr_id), cdr_dir_charge_name(c), ULL(pk->pr_id),
                     dir->dr_pos[CDR_DIR_PAYMENT_RULE][rr[k].rr_ix].dp_line,
                     scope_name(pj->pr_scope), ULL(pj->pr_target));
                break;
            }
        }
        g = e;
    }
    free(rr);
    return 0;
}

static int resolve(dir_parser *ps)
{
    cdr_dir *dir = ps->ps_dir;
    dir_best bs = {0};
    resolve_customers(dir, &bs);
    resolve_accounts(dir, &bs);
    resolve_enterprises(dir, &bs);
    if (resolve_products(dir, &bs) != 0)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    resolve_subscribers(dir, &bs);
    resolve_memberships(dir, &bs);
    if (resolve_payment_rules(dir, &bs) != 0)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    if (resolve_plan_changes(dir, &bs) != 0)
        return perr(ps, CDR_ENOMEM, 0, "out of memory");
    if (bs.bs_code)
        return cdr_diag_set(ps->ps_dg, bs.bs_code, ps->ps_path, (int)bs.bs_line, (int)bs.bs_col,
                            "%s", bs.bs_msg);
    return 0;
}

/* ---- the file -------------------------------------------------------------------------------- */

int cdr_dir_parse_file(const char *path, const cdr_progress *progress, cdr_dir **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_parse_file: out is NULL");
    *out = NULL;
    if (!path)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_parse_file: path is NULL");
    FILE *f = fopen(path, "r");
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open directory file: %s",
                            strerror(errno));
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    struct stat sb;
    const uint64_t fsize =
        fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    dir_parser ps = {.ps_path = path, .ps_dg = dg};
    ps.ps_dir = dir_new();
    int rc = ps.ps_dir ? 0 : cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        ps.ps_line++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        line[len] = '\0';
        char *s = line;
        if (ps.ps_line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3; /* a UTF-8 byte-order mark */
            len -= 3;
        }
        if (len > DIR_LINE_MAX)
            rc = perr(&ps, CDR_LIMIT, DIR_LINE_MAX + 1, "line longer than %d bytes", DIR_LINE_MAX);
        else
            rc = parse_line(&ps, s, len);
        if (progress && ps.ps_line % DIR_PROGRESS_EVERY == 0) {
            off_t off = ftello(f);
            cdr_progress_report(progress, off > 0 ? (uint64_t)off : 0, fsize);
        }
    }
    if (rc == 0 && progress) {
        off_t off = ftello(f);
        cdr_progress_report(progress, off > 0 ? (uint64_t)off : 0, fsize);
    }
    if (rc == 0 && ferror(f))
        rc = cdr_diag_set(dg, CDR_EIO, path, (int)ps.ps_line, 0, "read error: %s", strerror(errno));
    free(line);
    fclose(f);
    if (rc == 0 && !ps.ps_version)
        rc = cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                          "no 'directory version=%d' line: empty or not a directory file",
                          CDR_DIR_VERSION);
    if (rc == 0)
        rc = resolve(&ps);
    if (rc == 0) {
        ps.ps_dir->dr_lines = ps.ps_line;
        if (dir_finish(ps.ps_dir) != 0)
            rc = cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    }
    if (rc) {
        cdr_dir_free(ps.ps_dir);
        return rc;
    }
    *out = ps.ps_dir;
    return 0;
}
