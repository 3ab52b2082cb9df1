/* cmd_directory.c - `cdrate directory load FILE --store STORE` and `cdrate directory show
 * --msisdn N | --enterprise ID | --account ID --store STORE` (docs/directory.md). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_dir.h"
#include "cdr_live.h"
#include "cli.h"

#define MISSING_MAX 1000 /* missing plans reported one by one; the rest are counted */

/* ---- load ------------------------------------------------------------------------------------ */

static const char load_about[] =
    "Validate the directory file (docs/directory.md) and, only if it is valid, replace the\n"
    "directory in the store with it (the store is created if missing). Errors are reported as\n"
    "file:line:column. Every plan= that names a plan with no compiled version in the store is\n"
    "refused at the column of the plan name: compile the plans first (cdrate plans compile), or\n"
    "give --allow-missing-plans to load anyway (a warning per missing plan; its subscribers rate\n"
    "as no_plan until the plan is compiled). Exit status: 0 loaded, 1 the file or the store could\n"
    "not be read or written, 2 bad command line, 4 refused (an invalid file, a missing plan):\n"
    "nothing changed, the previous directory stays.";

static int load(const char *path, const char *store, int allow_missing, int quiet, int json)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_dir *dir = NULL;
    /* Parse first: an invalid file neither creates nor opens the store. */
    cli_progress pg;
    cli_progress_start(&pg, quiet || json, "directory", "bytes");
    const cdr_progress pr = {cli_progress_cb, &pg};
    int rc = cdr_dir_parse_file(path, &pr, &dir, &dg);
    cli_progress_end(&pg);
    if (rc) {
        cli_report("directory", &dg);
        if (!json)
            fprintf(stderr, "cdrate directory: nothing stored; the previous directory stays\n");
        return rc == CDR_EIO || rc == CDR_ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_REFUSED;
    }
    /* The plans in the store: none when there is no store yet (it is created only if the load
     * goes ahead). */
    char data[4200];
    struct stat sb;
    snprintf(data, sizeof data, "%s/data.mdb", store);
    int exists = stat(data, &sb) == 0;
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    int ec = CLI_EXIT_OK;
    if (exists && (ec = cli_store_open("directory", store, CLI_STORE_CREATE, &st)) != CLI_EXIT_OK)
        goto done;
    if (st && cdr_plan_set_load(st, &ps, &dg) != 0) {
        cli_report("directory", &dg);
        ec = CLI_EXIT_FAIL;
        goto done;
    }
    static const cdr_dir_plan_use *missing[MISSING_MAX];
    size_t nmissing = cdr_dir_missing_plans(dir, ps, missing, MISSING_MAX);
    for (size_t i = 0; i < nmissing && i < MISSING_MAX; i++) {
        const cdr_dir_plan_use *pu = missing[i];
        if (!allow_missing) {
            cdr_diag_set(&dg, CDR_NOTFOUND, path, (int)pu->pu_line, (int)pu->pu_column,
                         "plan '%s' is not in the store (compile it first, or "
                         "--allow-missing-plans)",
                         pu->pu_plan);
            cli_report("directory", &dg);
        } else if (!quiet && !json) {
            fprintf(stderr,
                    "cdrate directory: warning: %s:%u:%u: plan '%s' is not in the store; its %zu "
                    "subscriber(s) rate as no_plan until it is compiled\n",
                    path, pu->pu_line, pu->pu_column, pu->pu_plan, pu->pu_subscribers);
        }
    }
    if (nmissing > MISSING_MAX && !allow_missing)
        cli_error("directory", CDR_NOTFOUND, "and %zu more plans are not in the store",
                  nmissing - MISSING_MAX);
    else if (nmissing > MISSING_MAX && !quiet && !json)
        fprintf(stderr, "cdrate directory: warning: %zu more plans are not in the store\n",
                nmissing - MISSING_MAX);
    if (nmissing && !allow_missing) {
        if (!json && (!ps || ps->ps_nplans == 0))
            fprintf(stderr,
                    "cdrate directory: the store %s holds no plans: compile them first "
                    "(cdrate plans compile DIR --store %s)\n",
                    store, store);
        if (!json)
            fprintf(stderr, "cdrate directory: nothing stored; the previous directory stays\n");
        ec = CLI_EXIT_REFUSED;
        goto done;
    }
    if (!st && (ec = cli_store_open("directory", store, CLI_STORE_CREATE, &st)) != CLI_EXIT_OK)
        goto done;
    if (cdr_dir_write(st, dir, &dg) != 0) {
        if (!dg.dg_file[0])
            snprintf(dg.dg_file, sizeof dg.dg_file, "%s", path);
        cli_report("directory", &dg);
        if (!json)
            fprintf(stderr, "cdrate directory: nothing stored; the previous directory stays\n");
        ec = CLI_EXIT_FAIL;
        goto done;
    }
    cdr_dir_stats ds;
    cdr_dir_get_stats(dir, &ds);
    if (json) {
        printf("{\"subscribers\":%zu,\"customers\":%zu,\"accounts\":%zu,\"enterprises\":%zu,"
               "\"products\":%zu,\"memberships\":%zu,\"payment_rules\":%zu,"
               "\"credit_classes\":%zu,\"missing_plans\":[",
               ds.ds_subscribers, ds.ds_customers, ds.ds_accounts, ds.ds_enterprises,
               ds.ds_products, ds.ds_memberships, ds.ds_payment_rules, ds.ds_credit_classes);
        for (size_t i = 0; i < nmissing && i < MISSING_MAX; i++) {
            printf("%s{\"plan\":", i ? "," : "");
            cli_json_str(stdout, missing[i]->pu_plan);
            printf(",\"line\":%u,\"column\":%u,\"subscribers\":%zu}", missing[i]->pu_line,
                   missing[i]->pu_column, missing[i]->pu_subscribers);
        }
        printf("]}\n");
    } else if (!quiet) {
        fprintf(stderr,
                "cdrate directory: loaded %zu subscribers, %zu customers, %zu accounts, "
                "%zu enterprises, %zu memberships, %zu payment rules, %zu credit classes\n",
                ds.ds_subscribers, ds.ds_customers, ds.ds_accounts, ds.ds_enterprises,
                ds.ds_memberships, ds.ds_payment_rules, ds.ds_credit_classes);
    }
    if (cli_fclose(stdout) != 0) {
        cli_error("directory", CDR_EIO, "write error on standard output");
        ec = CLI_EXIT_FAIL;
    }
done:
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cdr_dir_free(dir);
    return ec;
}

/* ---- show: text and JSON pieces -------------------------------------------------------------- */

static const char *money(cdr_money v, char *buf, size_t n)
{
    return cli_money(v, buf, n);
}

static const char *when(cdr_time t, char *buf, size_t n)
{
    return cdr_time_format(t, 0, 1, buf, n);
}

static void kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kv(const char *key, const char *fmt, ...)
{
    printf("  %-19s ", key);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static const char *text(const char *s)
{
    return s && s[0] ? s : "-";
}

static void jstr_or_null(const char *s)
{
    if (s && s[0])
        cli_json_str(stdout, s);
    else
        fputs("null", stdout);
}

typedef struct show_ctx {
    const cdr_dir *sx_dir;
    const cdr_plan_set *sx_ps; /* NULL when the store's plans could not be read */
    int sx_json;
    int sx_live;                  /* show the credit status (query owner) */
    const cdr_live_line *sx_line; /* the line's live state of sx_cycle, NULL = none */
    uint32_t sx_cycle;
} show_ctx;

/* ---- the credit status of a line (query owner, query usage ...) ------------------------------ */

void cli_credit_status_json(const cdr_live_line *l)
{
    char t[40];
    printf(",\"line_status\":\"%s\",\"warned_at\":",
           cdr_line_status_name(l ? (int)l->ll_status : CDR_LINE_ACTIVE));
    if (l && l->ll_warned_at)
        printf("\"%s\"", cdr_time_format(l->ll_warned_at, 0, 1, t, sizeof t));
    else
        fputs("null", stdout);
    printf(",\"suspended_at\":");
    if (l && l->ll_suspended_at)
        printf("\"%s\"", cdr_time_format(l->ll_suspended_at, 0, 1, t, sizeof t));
    else
        fputs("null", stdout);
}

void cli_credit_status_text(const cdr_live_line *l)
{
    char t1[40], t2[40];
    const unsigned st = l ? l->ll_status : CDR_LINE_ACTIVE;
    if (st == CDR_LINE_ACTIVE)
        printf("credit status:      active (the line's account is under its credit limit)\n");
    else if (st == CDR_LINE_WARNED)
        printf(
            "credit status:      warned since %s (at the credit limit: suspended after the grace "
            "period)\n",
            cdr_time_format(l->ll_warned_at, 0, 1, t1, sizeof t1));
    else
        printf("credit status:      suspended since %s (warned %s; its usage is still rated, "
               "flagged)\n",
               cdr_time_format(l->ll_suspended_at, 0, 1, t2, sizeof t2),
               cdr_time_format(l->ll_warned_at, 0, 1, t1, sizeof t1));
}

static const char *classes_text(uint32_t classes, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    if (classes == CDR_DIR_CLASSES_ALL) {
        snprintf(buf, n, "all");
        return buf;
    }
    for (int c = CDR_CLASS_NONE + 1; c < CDR_CLASS_COUNT; c++)
        if (classes & (1u << c))
            len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s%s", len ? ", " : "",
                                    cdr_dir_charge_name(c));
    return buf;
}

static const char *scope_name(int scope)
{
    return scope == CDR_DIR_SCOPE_ENTERPRISE ? "enterprise"
           : scope == CDR_DIR_SCOPE_PRODUCT  ? "product"
                                             : "subscriber";
}

/* ---- records as JSON objects ----------------------------------------------------------------- */

static void credit_class_json(const show_ctx *sx, const char *id)
{
    const cdr_dir_credit_class *cc = cdr_dir_find_credit_class(sx->sx_dir, id);
    char m[48];
    printf("{\"id\":");
    cli_json_str(stdout, id);
    if (cc) {
        printf(",\"name\":");
        jstr_or_null(cc->cc_name);
        printf(",\"limit\":\"%s\",\"term_days\":%" PRIu32 ",\"roaming_without_deposit\":%s",
               money(cc->cc_limit, m, sizeof m), cc->cc_term_days,
               cc->cc_roaming_no_deposit ? "true" : "false");
    }
    putchar('}');
}

static void customer_json(const show_ctx *sx, const cdr_dir_customer *cu)
{
    if (!cu) {
        fputs("null", stdout);
        return;
    }
    printf("{\"id\":%" PRIu64 ",\"type\":\"%s\",\"name\":", cu->cu_id,
           cu->cu_party == CDR_DIR_COMPANY ? "company" : "person");
    cli_json_str(stdout, cu->cu_name);
    printf(",\"credit_class\":");
    credit_class_json(sx, cu->cu_credit_class);
    printf(",\"account_manager\":");
    jstr_or_null(cu->cu_manager);
    printf(",\"email\":");
    jstr_or_null(cu->cu_email);
    putchar('}');
}

/* "managers":{"account":"am.wu","billing":null,...}: the enterprise's four, by duty. */
static void managers_json(const cdr_dir_enterprise *en)
{
    printf(",\"managers\":{");
    for (int d = 0; d < CDR_DIR_MANAGERS; d++) {
        printf("%s\"%s\":", d ? "," : "", cdr_dir_duty_name(d));
        jstr_or_null(en->en_manager[d]);
    }
    putchar('}');
}

static void account_json(const cdr_dir_account *ac)
{
    if (!ac) {
        fputs("null", stdout);
        return;
    }
    printf("{\"id\":%" PRIu64 ",\"customer\":%" PRIu64 ",\"name\":", ac->ac_id, ac->ac_customer);
    jstr_or_null(ac->ac_name);
    printf(",\"credit_class\":");
    cli_json_str(stdout, ac->ac_credit_class);
    printf(",\"currency\":");
    jstr_or_null(ac->ac_currency);
    putchar('}');
}

static int plan_known(const show_ctx *sx, const char *plan)
{
    return sx->sx_ps ? cdr_plan_set_family(sx->sx_ps, plan) >= 0 : -1;
}

static void subscriber_json(const show_ctx *sx, const cdr_dir_subscriber *sb)
{
    char t[40];
    printf("{\"id\":%" PRIu64 ",\"msisdn\":", sb->sb_id);
    cli_json_str(stdout, sb->sb_msisdn);
    printf(",\"imsi\":");
    jstr_or_null(sb->sb_imsi);
    printf(",\"plan\":");
    cli_json_str(stdout, sb->sb_plan);
    int known = plan_known(sx, sb->sb_plan);
    printf(",\"plan_in_store\":%s,\"status\":\"%s\",\"active_from\":\"%s\",\"active_to\":",
           known < 0 ? "null"
           : known   ? "true"
                     : "false",
           cdr_dir_status_name(sb->sb_status), when(sb->sb_active_from, t, sizeof t));
    if (sb->sb_active_to == INT64_MAX)
        fputs("null", stdout);
    else
        printf("\"%s\"", when(sb->sb_active_to, t, sizeof t));
    printf(",\"account\":%" PRIu64 ",\"customer\":%" PRIu64, sb->sb_account, sb->sb_customer);
    if (sb->sb_enterprise)
        printf(",\"enterprise\":%" PRIu64 ",\"product\":%" PRIu64, sb->sb_enterprise,
               sb->sb_product);
    else
        printf(",\"enterprise\":null,\"product\":null");
    putchar('}');
}

static int product_pooled(const cdr_dir_product *pd)
{
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        if (pd->pd_pool[s])
            return 1;
    return 0;
}

static void product_json(const cdr_dir_product *pd)
{
    char q[32];
    printf("{\"id\":%" PRIu64 ",\"enterprise\":%" PRIu64 ",\"name\":", pd->pd_id,
           pd->pd_enterprise);
    jstr_or_null(pd->pd_name);
    printf(",\"pools\":{");
    int first = 1;
    for (int s = 0; s < CDR_SVC_COUNT; s++) {
        if (!pd->pd_pool[s])
            continue;
        printf("%s\"%s\":{\"units\":%" PRIu64 ",\"size\":\"%s\",\"member_cap_units\":",
               first ? "" : ",", cdr_service_name(s), pd->pd_pool[s],
               cdr_dir_format_qty(s, pd->pd_pool[s], q, sizeof q));
        if (pd->pd_member_cap[s])
            printf("%" PRIu64 ",\"member_cap\":\"%s\"}", pd->pd_member_cap[s],
                   cdr_dir_format_qty(s, pd->pd_member_cap[s], q, sizeof q));
        else
            printf("null,\"member_cap\":null}");
        first = 0;
    }
    printf("},\"cug\":%s,\"discount_percent\":\"%u.%02u\"}", pd->pd_cug ? "true" : "false",
           pd->pd_discount_bp / 100u, pd->pd_discount_bp % 100u);
}

static void rule_json(const cdr_dir_payment_rule *pr)
{
    char m[48];
    printf("{\"id\":%" PRIu64 ",\"scope\":\"%s\",\"target\":%" PRIu64 ",\"payer_account\":%" PRIu64
           ",\"classes\":[",
           pr->pr_id, scope_name(pr->pr_scope), pr->pr_target, pr->pr_payer);
    int first = 1;
    for (int c = CDR_CLASS_NONE + 1; c < CDR_CLASS_COUNT; c++)
        if (pr->pr_classes & (1u << c)) {
            printf("%s\"%s\"", first ? "" : ",", cdr_dir_charge_name(c));
            first = 0;
        }
    printf("],\"cap\":");
    if (pr->pr_cap == CDR_DIR_NO_CAP)
        fputs("null", stdout);
    else
        printf("\"%s\"", money(pr->pr_cap, m, sizeof m));
    putchar('}');
}

/* ---- records as text ------------------------------------------------------------------------- */

static void credit_class_text(const show_ctx *sx, const char *id)
{
    const cdr_dir_credit_class *cc = cdr_dir_find_credit_class(sx->sx_dir, id);
    char m[48];
    if (!cc)
        kv("credit class:", "%s", id);
    else
        kv("credit class:", "%s%s%s%s (limit %s, payment term %" PRIu32 " days%s)", cc->cc_id,
           cc->cc_name[0] ? " \"" : "", cc->cc_name, cc->cc_name[0] ? "\"" : "",
           money(cc->cc_limit, m, sizeof m), cc->cc_term_days,
           cc->cc_roaming_no_deposit ? ", roaming without deposit" : "");
}

static void customer_text(const show_ctx *sx, const char *role, const cdr_dir_customer *cu)
{
    if (!cu)
        return;
    printf("%s %" PRIu64 "\n", role, cu->cu_id);
    kv("type:", "%s", cu->cu_party == CDR_DIR_COMPANY ? "company" : "person");
    kv("name:", "%s", cu->cu_name);
    credit_class_text(sx, cu->cu_credit_class);
    if (cu->cu_party == CDR_DIR_COMPANY)
        kv("account manager:", "%s", text(cu->cu_manager));
    kv("email:", "%s", text(cu->cu_email));
}

/* "account manager:    am.wu", then billing, service, technical ("-" = none). */
static void managers_text(const cdr_dir_enterprise *en)
{
    for (int d = 0; d < CDR_DIR_MANAGERS; d++) {
        char key[32];
        snprintf(key, sizeof key, "%s manager:", cdr_dir_duty_name(d));
        kv(key, "%s", text(en->en_manager[d]));
    }
}

static void account_text(const show_ctx *sx, const char *role, const cdr_dir_account *ac)
{
    if (!ac)
        return;
    printf("%s %" PRIu64 "\n", role, ac->ac_id);
    kv("name:", "%s", text(ac->ac_name));
    const cdr_dir_customer *cu = cdr_dir_find_customer(sx->sx_dir, ac->ac_customer);
    kv("customer:", "%" PRIu64 " \"%s\"", ac->ac_customer, cu ? cu->cu_name : "?");
    kv("credit class:", "%s", ac->ac_credit_class);
    if (ac->ac_currency[0])
        kv("currency:", "%s", ac->ac_currency);
}

static const char *owner_text(const cdr_dir_subscriber *sb, const cdr_dir *dir, char *buf, size_t n)
{
    const cdr_dir_product *pd = sb->sb_product ? cdr_dir_find_product(dir, sb->sb_product) : NULL;
    if (sb->sb_enterprise)
        snprintf(buf, n, "enterprise %" PRIu64 " (%s; owner id %" PRIu64 ")", sb->sb_enterprise,
                 pd && product_pooled(pd) ? "shares its pool" : "its members",
                 cdr_dir_line_owner(sb));
    else
        snprintf(buf, n, "account %" PRIu64 " (its lines; owner id %" PRIu64 ")", sb->sb_account,
                 cdr_dir_line_owner(sb));
    return buf;
}

static void subscriber_text(const show_ctx *sx, const cdr_dir_subscriber *sb)
{
    char t1[40], t2[40], o[96];
    printf("subscriber %" PRIu64 "\n", sb->sb_id);
    kv("msisdn:", "%s", sb->sb_msisdn);
    kv("imsi:", "%s", text(sb->sb_imsi));
    int known = plan_known(sx, sb->sb_plan);
    kv("plan:", "%s%s", sb->sb_plan,
       known == 0 ? " (not in the store: rates as no_plan until it is compiled)" : "");
    kv("status:", "%s", cdr_dir_status_name(sb->sb_status));
    kv("active:", "from %s%s%s", when(sb->sb_active_from, t1, sizeof t1),
       sb->sb_active_to == INT64_MAX ? "" : " to ",
       sb->sb_active_to == INT64_MAX ? " (open-ended)" : when(sb->sb_active_to, t2, sizeof t2));
    kv("charging owner:", "%s", owner_text(sb, sx->sx_dir, o, sizeof o));
}

static void product_text(const cdr_dir_product *pd)
{
    char q[32], c[32];
    printf("enterprise product %" PRIu64 "\n", pd->pd_id);
    kv("name:", "%s", text(pd->pd_name));
    int any = 0;
    for (int s = 0; s < CDR_SVC_COUNT; s++) {
        if (!pd->pd_pool[s])
            continue;
        any = 1;
        if (pd->pd_member_cap[s])
            kv("pool:", "%s %s per cycle, at most %s per member", cdr_service_name(s),
               cdr_dir_format_qty(s, pd->pd_pool[s], q, sizeof q),
               cdr_dir_format_qty(s, pd->pd_member_cap[s], c, sizeof c));
        else
            kv("pool:", "%s %s per cycle", cdr_service_name(s),
               cdr_dir_format_qty(s, pd->pd_pool[s], q, sizeof q));
    }
    if (!any)
        kv("pool:", "none");
    kv("closed user group:", "%s", pd->pd_cug ? "yes" : "no");
    kv("discount:", "%u.%02u%%", pd->pd_discount_bp / 100u, pd->pd_discount_bp % 100u);
}

static void rule_text(const cdr_dir_payment_rule *pr)
{
    char cl[256], m[48];
    printf("  rule %" PRIu64 " (%s %" PRIu64 "): %s; %s%s\n", pr->pr_id, scope_name(pr->pr_scope),
           pr->pr_target, classes_text(pr->pr_classes, cl, sizeof cl),
           pr->pr_cap == CDR_DIR_NO_CAP ? "no cap" : "up to ",
           pr->pr_cap == CDR_DIR_NO_CAP ? "" : money(pr->pr_cap, m, sizeof m));
}

/* One line of a list of lines: msisdn, subscriber, plan, status, customer. */
static void line_text(const show_ctx *sx, const cdr_dir_subscriber *sb, const char *extra)
{
    const cdr_dir_customer *cu = cdr_dir_find_customer(sx->sx_dir, sb->sb_customer);
    printf("  %-15s subscriber %-8" PRIu64 " %-16s %-10s customer %" PRIu64 " \"%s\"%s\n",
           sb->sb_msisdn, sb->sb_id, sb->sb_plan, cdr_dir_status_name(sb->sb_status),
           sb->sb_customer, cu ? cu->cu_name : "?", extra ? extra : "");
}

/* ---- show --msisdn --------------------------------------------------------------------------- */

#define RULES_MAX 64

static int show_line(const show_ctx *sx, const cdr_dir_subscriber *sb)
{
    const cdr_dir *dir = sx->sx_dir;
    const cdr_dir_customer *cu = cdr_dir_find_customer(dir, sb->sb_customer);
    const cdr_dir_account *ac = cdr_dir_find_account(dir, sb->sb_account);
    const cdr_dir_enterprise *en =
        sb->sb_enterprise ? cdr_dir_find_enterprise(dir, sb->sb_enterprise) : NULL;
    const cdr_dir_customer *ecu = en ? cdr_dir_find_customer(dir, en->en_customer) : NULL;
    const cdr_dir_account *eac = en ? cdr_dir_find_account(dir, en->en_account) : NULL;
    const cdr_dir_product *pd = en ? cdr_dir_find_product(dir, sb->sb_product) : NULL;
    const cdr_dir_payment_rule *rules[RULES_MAX];
    size_t nrules = cdr_dir_rules_for(dir, sb, rules, RULES_MAX);
    if (nrules > RULES_MAX)
        nrules = RULES_MAX;
    if (sx->sx_json) {
        printf("{\"subscriber\":");
        subscriber_json(sx, sb);
        printf(",\"customer\":");
        customer_json(sx, cu);
        printf(",\"account\":");
        account_json(ac);
        printf(",\"enterprise\":");
        if (!en) {
            fputs("null", stdout);
        } else {
            printf("{\"id\":%" PRIu64 ",\"name\":", en->en_id);
            cli_json_str(stdout, en->en_name);
            managers_json(en);
            printf(",\"customer\":");
            customer_json(sx, ecu);
            printf(",\"account\":");
            account_json(eac);
            printf(",\"product\":");
            if (pd)
                product_json(pd);
            else
                fputs("null", stdout);
            putchar('}');
        }
        printf(",\"payment_rules\":[");
        for (size_t i = 0; i < nrules; i++) {
            if (i)
                putchar(',');
            rule_json(rules[i]);
        }
        putchar(']');
        if (sx->sx_live) {
            char c[16];
            snprintf(c, sizeof c, "%04u-%02u", sx->sx_cycle / 100, sx->sx_cycle % 100);
            printf(",\"credit\":{\"cycle\":\"%s\"", c);
            cli_credit_status_json(sx->sx_line);
            putchar('}');
        }
        printf("}\n");
        return CLI_EXIT_OK;
    }
    subscriber_text(sx, sb);
    if (sx->sx_live)
        cli_credit_status_text(sx->sx_line);
    customer_text(sx, "member customer", cu);
    account_text(sx, "member account", ac);
    if (!en) {
        printf("enterprise: none (not a member of an enterprise: account %" PRIu64
               " pays everything)\n",
               sb->sb_account);
        return CLI_EXIT_OK;
    }
    printf("enterprise %" PRIu64 "\n", en->en_id);
    kv("name:", "%s", en->en_name);
    managers_text(en);
    customer_text(sx, "enterprise customer", ecu);
    account_text(sx, "enterprise account", eac);
    if (pd)
        product_text(pd);
    if (nrules) {
        printf("payment rules (enterprise account %" PRIu64 " pays, per cycle; the rest falls "
               "to member account %" PRIu64 ")\n",
               en->en_account, sb->sb_account);
        for (size_t i = 0; i < nrules; i++)
            rule_text(rules[i]);
    } else {
        printf("payment rules: none (member account %" PRIu64 " pays everything)\n",
               sb->sb_account);
    }
    return CLI_EXIT_OK;
}

int cli_show_line(const char *cmd, const cdr_dir *dir, const cdr_plan_set *ps, const char *msisdn,
                  const cdr_live_line *live, uint32_t cycle, int json)
{
    const cdr_dir_subscriber *sb = cdr_dir_find_msisdn(dir, msisdn);
    if (!sb) {
        cli_error(cmd, CDR_NOTFOUND, "msisdn %s is not in the directory", msisdn);
        return CLI_EXIT_NOTFOUND;
    }
    show_ctx sx = {dir, ps, json, cycle != 0, live, cycle};
    return show_line(&sx, sb);
}

/* ---- show --enterprise ----------------------------------------------------------------------- */

static int show_enterprise(const show_ctx *sx, const cdr_dir_enterprise *en)
{
    const cdr_dir *dir = sx->sx_dir;
    const cdr_dir_customer *ecu = cdr_dir_find_customer(dir, en->en_customer);
    const cdr_dir_account *eac = cdr_dir_find_account(dir, en->en_account);
    size_t npd, nrule, nsb;
    const cdr_dir_product *pds = cdr_dir_products(dir, &npd);
    const cdr_dir_payment_rule *prs = cdr_dir_payment_rules(dir, &nrule);
    const cdr_dir_subscriber *sbs = cdr_dir_subscribers(dir, &nsb);
    size_t nmembers = 0;
    for (size_t i = 0; i < nsb; i++)
        nmembers += sbs[i].sb_enterprise == en->en_id;
    if (sx->sx_json) {
        printf("{\"enterprise\":{\"id\":%" PRIu64 ",\"name\":", en->en_id);
        cli_json_str(stdout, en->en_name);
        managers_json(en);
        printf("},\"customer\":");
        customer_json(sx, ecu);
        printf(",\"account\":");
        account_json(eac);
        printf(",\"products\":[");
        int first = 1;
        for (size_t i = 0; i < npd; i++)
            if (pds[i].pd_enterprise == en->en_id) {
                printf("%s", first ? "" : ",");
                product_json(&pds[i]);
                first = 0;
            }
        printf("],\"payment_rules\":[");
        first = 1;
        for (size_t i = 0; i < nrule; i++)
            if (prs[i].pr_enterprise == en->en_id) {
                printf("%s", first ? "" : ",");
                rule_json(&prs[i]);
                first = 0;
            }
        printf("],\"members\":[");
        first = 1;
        for (size_t i = 0; i < nsb; i++)
            if (sbs[i].sb_enterprise == en->en_id) {
                printf("%s{\"subscriber\":", first ? "" : ",");
                subscriber_json(sx, &sbs[i]);
                printf(",\"customer\":");
                customer_json(sx, cdr_dir_find_customer(dir, sbs[i].sb_customer));
                putchar('}');
                first = 0;
            }
        printf("]}\n");
        return CLI_EXIT_OK;
    }
    printf("enterprise %" PRIu64 "\n", en->en_id);
    kv("name:", "%s", en->en_name);
    kv("member lines:", "%zu", nmembers);
    managers_text(en);
    customer_text(sx, "enterprise customer", ecu);
    account_text(sx, "enterprise account", eac);
    for (size_t i = 0; i < npd; i++)
        if (pds[i].pd_enterprise == en->en_id)
            product_text(&pds[i]);
    int any = 0;
    for (size_t i = 0; i < nrule; i++)
        any |= prs[i].pr_enterprise == en->en_id;
    if (any)
        printf("payment rules (enterprise account %" PRIu64 " pays, per member and cycle)\n",
               en->en_account);
    else
        printf("payment rules: none (each member account pays everything)\n");
    for (size_t i = 0; i < nrule; i++)
        if (prs[i].pr_enterprise == en->en_id)
            rule_text(&prs[i]);
    printf("member lines (%zu)\n", nmembers);
    for (size_t i = 0; i < nsb; i++)
        if (sbs[i].sb_enterprise == en->en_id) {
            char extra[64];
            snprintf(extra, sizeof extra, " product %" PRIu64, sbs[i].sb_product);
            line_text(sx, &sbs[i], extra);
        }
    return CLI_EXIT_OK;
}

/* ---- show --account -------------------------------------------------------------------------- */

/* "rule 1: monthly_fee, data up to 200.00; rule 2: ..." for the rules that apply to sb into buf;
 * returns how many apply. */
static size_t paid_text(const cdr_dir *dir, const cdr_dir_subscriber *sb, char *buf, size_t n)
{
    const cdr_dir_payment_rule *rules[RULES_MAX];
    size_t nr = cdr_dir_rules_for(dir, sb, rules, RULES_MAX), len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < nr && i < RULES_MAX; i++) {
        char cl[256], m[48];
        const cdr_dir_payment_rule *pr = rules[i];
        len +=
            (size_t)snprintf(buf + len, len < n ? n - len : 0, "%srule %" PRIu64 ": %s%s%s",
                             i ? "; " : "", pr->pr_id, classes_text(pr->pr_classes, cl, sizeof cl),
                             pr->pr_cap == CDR_DIR_NO_CAP ? "" : " up to ",
                             pr->pr_cap == CDR_DIR_NO_CAP ? "" : money(pr->pr_cap, m, sizeof m));
    }
    return nr;
}

static int show_account(const show_ctx *sx, const cdr_dir_account *ac)
{
    const cdr_dir *dir = sx->sx_dir;
    const cdr_dir_customer *cu = cdr_dir_find_customer(dir, ac->ac_customer);
    size_t nen, nsb;
    const cdr_dir_enterprise *ens = cdr_dir_enterprises(dir, &nen);
    const cdr_dir_subscriber *sbs = cdr_dir_subscribers(dir, &nsb);
    size_t nlines = 0;
    for (size_t i = 0; i < nsb; i++)
        nlines += sbs[i].sb_account == ac->ac_id;
    if (sx->sx_json) {
        printf("{\"account\":");
        account_json(ac);
        printf(",\"customer\":");
        customer_json(sx, cu);
        printf(",\"lines\":[");
        int first = 1;
        for (size_t i = 0; i < nsb; i++)
            if (sbs[i].sb_account == ac->ac_id) {
                printf("%s{\"subscriber\":", first ? "" : ",");
                subscriber_json(sx, &sbs[i]);
                printf(",\"customer\":");
                customer_json(sx, cdr_dir_find_customer(dir, sbs[i].sb_customer));
                putchar('}');
                first = 0;
            }
        printf("],\"enterprise_of\":[");
        int efirst = 1;
        for (size_t e = 0; e < nen; e++) {
            if (ens[e].en_account != ac->ac_id)
                continue;
            printf("%s{\"enterprise\":{\"id\":%" PRIu64 ",\"name\":", efirst ? "" : ",",
                   ens[e].en_id);
            cli_json_str(stdout, ens[e].en_name);
            managers_json(&ens[e]);
            printf("},\"pays_for\":[");
            efirst = 0;
            first = 1;
            for (size_t i = 0; i < nsb; i++) {
                if (sbs[i].sb_enterprise != ens[e].en_id)
                    continue;
                const cdr_dir_payment_rule *rules[RULES_MAX];
                size_t n = cdr_dir_rules_for(dir, &sbs[i], rules, RULES_MAX);
                if (!n)
                    continue;
                printf("%s{\"subscriber\":", first ? "" : ",");
                subscriber_json(sx, &sbs[i]);
                printf(",\"customer\":");
                customer_json(sx, cdr_dir_find_customer(dir, sbs[i].sb_customer));
                printf(",\"payment_rules\":[");
                for (size_t r = 0; r < n && r < RULES_MAX; r++) {
                    if (r)
                        putchar(',');
                    rule_json(rules[r]);
                }
                printf("]}");
                first = 0;
            }
            printf("]}");
        }
        printf("]}\n");
        return CLI_EXIT_OK;
    }
    account_text(sx, "account", ac);
    customer_text(sx, "customer", cu);
    printf("lines it holds (%zu)\n", nlines);
    for (size_t i = 0; i < nsb; i++)
        if (sbs[i].sb_account == ac->ac_id)
            line_text(sx, &sbs[i], NULL);
    for (size_t e = 0; e < nen; e++) {
        if (ens[e].en_account != ac->ac_id)
            continue;
        size_t npaid = 0;
        char paid[1024], extra[1100];
        for (size_t i = 0; i < nsb; i++)
            npaid += sbs[i].sb_enterprise == ens[e].en_id &&
                     paid_text(dir, &sbs[i], paid, sizeof paid) > 0;
        printf("enterprise account of enterprise %" PRIu64 " \"%s\": pays for %zu member "
               "line(s), per cycle\n",
               ens[e].en_id, ens[e].en_name, npaid);
        for (size_t i = 0; i < nsb; i++) {
            if (sbs[i].sb_enterprise != ens[e].en_id || !paid_text(dir, &sbs[i], paid, sizeof paid))
                continue;
            snprintf(extra, sizeof extra, " %s", paid);
            line_text(sx, &sbs[i], extra);
        }
    }
    return CLI_EXIT_OK;
}

/* ---- show ------------------------------------------------------------------------------------ */

/* A whole decimal id 1 .. CDR_DIR_ID_MAX; 0 when s is not one. */
static uint64_t parse_id(const char *s)
{
    uint64_t v = 0;
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (CDR_DIR_ID_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    return v;
}

static const char show_about[] =
    "Print one part of the directory as the six-account view (docs/directory.md, \"Showing the\n"
    "directory\"): --msisdn, a line with its subscriber, member customer and account, and, for a\n"
    "member of an enterprise, the enterprise with its four managers, its customer, account and\n"
    "product and the payment rules that apply; --enterprise, the enterprise side and its member\n"
    "lines; --account, the account, its customer, the lines it holds and, for an enterprise\n"
    "account, the member lines it pays for. Text by default, one JSON object with --json. Exit\n"
    "status: 0 shown, 1 the store could not be read, 2 bad command line, 4 not found (or no\n"
    "directory, or no store at the path).";

static int show(const cli_spec *cs, const char *store, const char *msisdn, const char *enterprise,
                const char *account, int json)
{
    int nsel = !!msisdn + !!enterprise + !!account;
    if (nsel != 1)
        return cli_usage_error(cs, "give one of --msisdn, --enterprise or --account");
    uint64_t id = 0;
    if (msisdn) {
        size_t n = strlen(msisdn);
        if (n < 1 || n > 15 || strspn(msisdn, "0123456789") != n)
            return cli_usage_error(cs, "--msisdn must be 1 to 15 digits (E.164, no '+'), not '%s'",
                                   msisdn);
    } else if (!(id = parse_id(enterprise ? enterprise : account))) {
        return cli_usage_error(cs, "--%s must be an id from 1 to %" PRId64 ", not '%s'",
                               enterprise ? "enterprise" : "account", CDR_DIR_ID_MAX,
                               enterprise ? enterprise : account);
    }
    cdr_store *st;
    int ec = cli_store_open("directory", store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_dir *dir = NULL;
    /* a line: only its part of the directory, a few point reads whatever the directory's size */
    int rc = msisdn ? cdr_dir_read_line(st, msisdn, &dir, &dg) : cdr_dir_read(st, &dir, &dg);
    if (rc) {
        cdr_store_close(st);
        cli_report("directory", &dg);
        return rc == CDR_NOTFOUND || rc == CDR_VERSION ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    }
    cdr_plan_set *ps = NULL;
    cdr_diag pdg;
    if (cdr_plan_set_load(st, &ps, &pdg) != 0)
        ps = NULL; /* the plan marks are left out; the directory is still shown */
    cdr_store_close(st);
    show_ctx sx = {dir, ps, json};
    ec = CLI_EXIT_REFUSED;
    if (msisdn) {
        ec = cli_show_line("directory", dir, ps, msisdn, NULL, 0, json);
        if (ec == CLI_EXIT_NOTFOUND)
            ec = CLI_EXIT_REFUSED;
    } else if (enterprise) {
        const cdr_dir_enterprise *en = cdr_dir_find_enterprise(dir, id);
        if (en)
            ec = show_enterprise(&sx, en);
        else
            cli_error("directory", CDR_NOTFOUND, "enterprise %" PRIu64 " is not in the directory",
                      id);
    } else {
        const cdr_dir_account *ac = cdr_dir_find_account(dir, id);
        if (ac)
            ec = show_account(&sx, ac);
        else
            cli_error("directory", CDR_NOTFOUND, "account %" PRIu64 " is not in the directory", id);
    }
    if (cli_fclose(stdout) != 0 && ec == CLI_EXIT_OK) {
        cli_error("directory", CDR_EIO, "write error on standard output");
        ec = CLI_EXIT_FAIL;
    }
    cdr_plan_set_release(ps);
    cdr_dir_free(dir);
    return ec;
}

int cmd_directory(int argc, char **argv)
{
    const char *store = NULL, *msisdn = NULL, *enterprise = NULL, *account = NULL;
    int quiet = 0, json = 0, allow_missing = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (load: created if missing)"},
        {"allow-missing-plans", CLI_FLAG, &allow_missing, NULL,
         "load: accept plan names the store does not hold (a warning each)"},
        {"msisdn", CLI_STRING, &msisdn, "N", "show: the line with this MSISDN"},
        {"enterprise", CLI_STRING, &enterprise, "ID", "show: the enterprise with this id"},
        {"account", CLI_STRING, &account, "ID", "show: the account with this id"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on stdout (load: the summary)"},
        {"quiet", CLI_FLAG, &quiet, NULL, "load: print errors only"},
        {0},
    };
    const cli_spec cs = {"directory",
                         "load FILE --store STORE [--allow-missing-plans] [--json] [--quiet]\n"
                         "show --msisdn N | --enterprise ID | --account ID --store STORE [--json]",
                         "load  validate the directory file and, only if it is valid and names no "
                         "plan missing\n"
                         "      from the store, replace the directory in the store with it\n"
                         "show  print a line, an enterprise or an account as the six-account "
                         "view\n\n"
                         "load:\n",
                         opts};
    /* the help text is the two verbs' texts one after the other */
    char about[sizeof load_about + sizeof show_about + 512];
    snprintf(about, sizeof about, "%s%s\n\nshow:\n%s", cs.cs_about, load_about, show_about);
    const cli_spec csa = {cs.cs_cmd, cs.cs_synopsis, about, opts};
    int pos = cli_parse(&csa, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&csa, "missing verb: load or show");
    const char *verb = argv[pos];
    if (!strcmp(verb, "load")) {
        if (pos + 2 != argc)
            return cli_usage_error(&csa, "expected: load FILE");
        if (!store)
            return cli_usage_error(&csa, "--store is required");
        if (msisdn || enterprise || account)
            return cli_usage_error(&csa, "--msisdn, --enterprise and --account go with show");
        return load(argv[pos + 1], store, allow_missing, quiet, json);
    }
    if (!strcmp(verb, "show")) {
        if (pos + 1 != argc)
            return cli_usage_error(&csa, "unexpected argument '%s'", argv[pos + 1]);
        if (!store)
            return cli_usage_error(&csa, "--store is required");
        if (allow_missing)
            return cli_usage_error(&csa, "--allow-missing-plans goes with load");
        return show(&csa, store, msisdn, enterprise, account, json);
    }
    return cli_usage_error(&csa, "unknown verb '%s' (load or show)", verb);
}
