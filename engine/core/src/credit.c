/* credit.c - credit control and usage alerts seen from outside the rater: names, the default
 * configuration and the JSON form of an alert (docs/credit-control.md). The state itself is kept
 * by the rater (rater.c, "credit control and usage alerts"). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cdr_fraud.h"
#include "cdr_rate.h"
#include "cdr_stream.h"
#include "cdr_time.h"

const char *cdr_line_status_name(int status)
{
    static const char *const names[CDR_LINE_STATUS_COUNT] = {"active", "warned", "suspended",
                                                             "barred"};
    return status >= 0 && status < CDR_LINE_STATUS_COUNT ? names[status] : NULL;
}

const char *cdr_alert_kind_name(int kind)
{
    static const char *const names[CDR_ALERT_KIND_COUNT] = {NULL,     "credit",    "bundle", "pool",
                                                            "warned", "suspended", "fraud"};
    return kind > 0 && kind < CDR_ALERT_KIND_COUNT ? names[kind] : NULL;
}

const char *cdr_warn_reason_name(int reason)
{
    static const char *const names[CDR_WARN_REASON_COUNT] = {"credit_limit", "overdue"};
    return reason >= 0 && reason < CDR_WARN_REASON_COUNT ? names[reason] : NULL;
}

void cdr_credit_config_default(cdr_credit_config *cc)
{
    memset(cc, 0, sizeof *cc);
    cc->cc_on = 1;
    cc->cc_grace = CDR_CREDIT_GRACE_DEFAULT;
    cc->cc_nbundle_warn = 2;
    cc->cc_bundle_warn[0] = 80;
    cc->cc_bundle_warn[1] = 100;
}

int cdr_counter_credit_kind(uint64_t tag)
{
    if (cdr_counter_tag_kind(tag) != 0)
        return 0;
    unsigned k = (unsigned)(tag >> 56) & 0x3f;
    return k >= CDR_COUNTER_SPEND && k <= CDR_COUNTER_BUNDLE_ALERTS ? (int)k : 0;
}

/* s as JSON string content (names and logins of the directory: printable ASCII, but be safe). */
static size_t json_text(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

int cdr_alert_format_json(const cdr_alert *al, char *buf, size_t bufsize)
{
    char tb[40], sb[40], mgr[CDR_NAME_MAX * 6 + 1], bun[CDR_NAME_MAX * 6 + 1];
    const char *kind = cdr_alert_kind_name(al->al_kind);
    json_text(al->al_manager, mgr, sizeof mgr);
    json_text(al->al_bundle, bun, sizeof bun);
    int n = snprintf(buf, bufsize,
                     "{\"kind\":\"%s\",\"threshold_pct\":%u,\"cycle\":%" PRIu32
                     ",\"msisdn\":\"%s\",\"subscriber\":%" PRIu64 ",\"account\":%" PRIu64
                     ",\"enterprise\":%" PRIu64 ",\"manager\":\"%s\",\"time\":\"%s\"",
                     kind ? kind : "unknown", al->al_pct, al->al_cycle, al->al_msisdn,
                     al->al_subscriber, al->al_account, al->al_enterprise, mgr,
                     cdr_time_format(al->al_time, 0, 1, tb, sizeof tb));
    if (n < 0 || (size_t)n >= bufsize)
        return -1;
    int m;
    if (al->al_kind == CDR_ALERT_FRAUD) {
        char rule[CDR_NAME_MAX * 6 + 1], w0[40], w1[40];
        json_text(al->al_rule, rule, sizeof rule);
        cdr_time_format(al->al_window_start, 0, 1, w0, sizeof w0);
        cdr_time_format(al->al_window_end, 0, 1, w1, sizeof w1);
        const char *svc = cdr_service_name(al->al_service);
        if (al->al_rule_kind == CDR_FRAUD_COUNTRIES)
            m = snprintf(buf + n, bufsize - (size_t)n,
                         ",\"rule\":\"%s\",\"rule_kind\":\"countries\",\"countries\":[%u,%u]"
                         ",\"first_time\":\"%s\",\"second_time\":\"%s\",\"seconds_apart\":%" PRId64
                         ",\"within_seconds\":%" PRId64 "}\n",
                         rule, al->al_country[0], al->al_country[1], w0, w1, al->al_used,
                         al->al_threshold);
        else
            m = snprintf(buf + n, bufsize - (size_t)n,
                         ",\"rule\":\"%s\",\"rule_kind\":\"units\",\"service\":\"%s\""
                         ",\"window_start\":\"%s\",\"window_end\":\"%s\",\"window_units\":%" PRId64
                         ",\"threshold_units\":%" PRId64 "}\n",
                         rule, svc ? svc : "", w0, w1, al->al_used, al->al_threshold);
    } else if (al->al_kind == CDR_ALERT_BUNDLE || al->al_kind == CDR_ALERT_POOL) {
        const char *svc = cdr_service_name(al->al_service);
        m = snprintf(buf + n, bufsize - (size_t)n,
                     ",\"bundle\":\"%s\",\"service\":\"%s\",\"used_units\":%" PRId64
                     ",\"included_units\":%" PRId64 ",\"threshold_units\":%" PRId64 "}\n",
                     bun, svc ? svc : "", al->al_used, al->al_limit, al->al_threshold);
    } else {
        const char *st = cdr_line_status_name(al->al_status);
        m = snprintf(buf + n, bufsize - (size_t)n,
                     ",\"currency\":\"%s\",\"charges_micro\":%" PRId64 ",\"limit_micro\":%" PRId64
                     ",\"threshold_micro\":%" PRId64 ",\"available_micro\":%" PRId64
                     ",\"status\":\"%s\"",
                     al->al_currency, al->al_used, al->al_limit, al->al_threshold,
                     al->al_limit - al->al_used, st ? st : "");
        if (m >= 0 && (size_t)(n + m) < bufsize && al->al_kind != CDR_ALERT_CREDIT) {
            const char *why = cdr_warn_reason_name(al->al_reason);
            n += m;
            m = snprintf(buf + n, bufsize - (size_t)n, ",\"warned_at\":\"%s\",\"reason\":\"%s\"",
                         cdr_time_format(al->al_since, 0, 1, sb, sizeof sb), why ? why : "");
        }
        if (m >= 0 && (size_t)(n + m) < bufsize && al->al_kind != CDR_ALERT_CREDIT &&
            al->al_overdue_currency[0]) { /* the account's arrears */
            int64_t y;
            unsigned mo, d;
            cdr_civil_from_days(al->al_overdue_due, &y, &mo, &d);
            n += m;
            m = snprintf(buf + n, bufsize - (size_t)n,
                         ",\"overdue_currency\":\"%.3s\",\"overdue_micro\":%" PRId64
                         ",\"oldest_due\":\"%04" PRId64 "-%02u-%02u\"",
                         al->al_overdue_currency, al->al_overdue_amount, y, mo, d);
        }
        if (m >= 0 && (size_t)(n + m) + 2 < bufsize) {
            n += m;
            m = snprintf(buf + n, bufsize - (size_t)n, "}\n");
        }
    }
    if (m < 0 || (size_t)(n + m) >= bufsize)
        return -1;
    return n + m;
}
