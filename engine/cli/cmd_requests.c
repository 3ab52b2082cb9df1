/* cmd_requests.c - `cdrate requests list|show|apply|submit|approve|reject`: requests for standard
 * changes from enterprises (cdr_requests.h, docs/requests.md). The operator's side: list and show
 * them, apply an approved one to the directory file and the store (audited), and file or decide
 * one on a customer's behalf (the portal does the same for the customer's own people). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdr_audit.h"
#include "cdr_requests.h"
#include "cli.h"

#define CMD "requests"

/* ---- small helpers -----------------------------------------------------------------------------
 */

/* An id 1 .. 2^63-1 in plain digits: 0 on success. */
static int parse_id(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > ((uint64_t)INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0)
        return -1;
    *out = v;
    return 0;
}

static void time_text(cdr_time t, char *buf, size_t n)
{
    cdr_time_format(t, 0, 1, buf, n);
}

/* The JSON object of one request on f. */
static void request_json(FILE *f, const cdr_request *rq)
{
    char ts[40], cap[40];
    fprintf(f,
            "{\"id\":%" PRIu64 ",\"enterprise\":%" PRIu64 ",\"kind\":\"%s\",\"state\":\"%s\","
            "\"msisdn\":",
            rq->rq_id, rq->rq_enterprise, cdr_req_kind_name(rq->rq_kind),
            cdr_req_state_name(rq->rq_state));
    cli_json_str(f, rq->rq_msisdn);
    if (rq->rq_kind == CDR_REQ_ADD_MEMBER)
        fprintf(f, ",\"product\":%" PRIu64, rq->rq_product);
    else
        fputs(",\"product\":null", f);
    fputs(",\"plan\":", f);
    if (rq->rq_kind == CDR_REQ_CHANGE_PLAN)
        cli_json_str(f, rq->rq_plan);
    else
        fputs("null", f);
    if (rq->rq_kind == CDR_REQ_RAISE_CAP)
        fprintf(f, ",\"cap\":\"%s\"", cli_money(rq->rq_cap, cap, sizeof cap));
    else
        fputs(",\"cap\":null", f);
    fputs(",\"note\":", f);
    cli_json_str(f, rq->rq_note);
    fputs(",\"submitted_by\":", f);
    cli_json_str(f, rq->rq_submitted_by);
    time_text(rq->rq_submitted_at, ts, sizeof ts);
    fprintf(f, ",\"submitted_at\":\"%s\"", ts);
    const struct {
        const char *name;
        const char *by;
        cdr_time at;
    } steps[] = {{"decided", rq->rq_decided_by, rq->rq_decided_at},
                 {"applied", rq->rq_applied_by, rq->rq_applied_at}};
    for (size_t i = 0; i < 2; i++) {
        fprintf(f, ",\"%s_by\":", steps[i].name);
        if (steps[i].by[0])
            cli_json_str(f, steps[i].by);
        else
            fputs("null", f);
        if (steps[i].by[0]) {
            time_text(steps[i].at, ts, sizeof ts);
            fprintf(f, ",\"%s_at\":\"%s\"", steps[i].name, ts);
        } else {
            fprintf(f, ",\"%s_at\":null", steps[i].name);
        }
    }
    fputc('}', f);
}

/* What the request asks, in the directory's words: "product=11", "plan=x", "cap=200.00". */
static const char *request_detail(const cdr_request *rq, char *buf, size_t n)
{
    char cap[40];
    switch (rq->rq_kind) {
    case CDR_REQ_ADD_MEMBER:
        snprintf(buf, n, "product=%" PRIu64, rq->rq_product);
        break;
    case CDR_REQ_CHANGE_PLAN:
        snprintf(buf, n, "plan=%s", rq->rq_plan);
        break;
    case CDR_REQ_RAISE_CAP:
        snprintf(buf, n, "cap=%s", cli_money(rq->rq_cap, cap, sizeof cap));
        break;
    default:
        snprintf(buf, n, "-");
    }
    return buf;
}

/* ---- the audit log -----------------------------------------------------------------------------
 */

typedef struct audit_ctx {
    const char *au_path; /* NULL: no audit (list, show) */
    const char *au_who;
    const char *au_action;
} audit_ctx;

/* Append the audit line of one step: outcome "done" or "refused"/"failed" with error. target_id
 * 0 = "request" (no id yet); enterprise 0 = null. Returns 0, or reports and returns -1. */
static int audit(const audit_ctx *au, uint64_t target_id, uint64_t enterprise, cdr_time now,
                 const char *outcome, const char *error)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        cli_error(CMD, CDR_ENOMEM, "out of memory");
        return -1;
    }
    char ts[40];
    time_text(now, ts, sizeof ts);
    static uint64_t seq; /* the server's lines have pid and seq too (docs/portal.md) */
    fprintf(f, "{\"time\":\"%s\",\"pid\":%ld,\"seq\":%" PRIu64 ",\"who\":", ts, (long)getpid(),
            ++seq);
    cli_json_str(f, au->au_who);
    fprintf(f, ",\"role\":\"operator\",\"from\":\"cli\",\"action\":\"%s\",", au->au_action);
    if (target_id)
        fprintf(f, "\"target\":\"request/%" PRIu64 "\",", target_id);
    else
        fputs("\"target\":\"request\",", f);
    if (enterprise)
        fprintf(f, "\"enterprise\":%" PRIu64 ",", enterprise);
    else
        fputs("\"enterprise\":null,", f);
    fprintf(f, "\"outcome\":\"%s\"", outcome);
    if (error) {
        fputs(",\"error\":", f);
        cli_json_str(f, error);
    }
    fputc('}', f);
    fclose(f);
    cdr_diag dg;
    cdr_diag_clear(&dg);
    const int rc = cdr_audit_append_line(au->au_path, buf, &dg);
    free(buf);
    if (rc) {
        cli_report(CMD, &dg);
        return -1;
    }
    return 0;
}

/* Before changing anything: the audit log can be opened for appending (created 0600). */
static int audit_probe(const char *path)
{
    const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error(CMD, CDR_EIO, "%s: cannot open the audit log: %s; nothing done", path,
                  strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* The message of dg as one line (file:line:column: message). */
static const char *diag_text(const cdr_diag *dg, char *buf, size_t n)
{
    return cdr_diag_format(dg, buf, n);
}

/* ---- list and show -----------------------------------------------------------------------------
 */

typedef struct list_ctx {
    int lc_state; /* 0 = every state */
    int lc_json;
    size_t lc_n;
} list_ctx;

static int list_one(void *arg, const cdr_request *rq)
{
    list_ctx *lc = arg;
    if (lc->lc_state && rq->rq_state != lc->lc_state)
        return 0;
    if (lc->lc_json) {
        if (lc->lc_n)
            putchar(',');
        request_json(stdout, rq);
    } else {
        char ts[40], d[64];
        time_text(rq->rq_submitted_at, ts, sizeof ts);
        printf("%-6" PRIu64 " %-9s %-13s enterprise %-6" PRIu64 " %-15s %-24s submitted %s by %s\n",
               rq->rq_id, cdr_req_state_name(rq->rq_state), cdr_req_kind_name(rq->rq_kind),
               rq->rq_enterprise, rq->rq_msisdn, request_detail(rq, d, sizeof d), ts,
               rq->rq_submitted_by);
    }
    lc->lc_n++;
    return 0;
}

static int finish_stdout(void)
{
    if (cli_fclose(stdout) != 0) {
        cli_error(CMD, CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int req_list(const char *store, uint64_t enterprise, int state, int json)
{
    cdr_store *st = NULL;
    int ec = cli_store_open(CMD, store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    list_ctx lc = {state, json, 0};
    if (json)
        printf("{\"requests\":[");
    const int rc = cdr_req_each(st, enterprise, list_one, &lc, &dg);
    cdr_store_close(st);
    if (rc) {
        if (json)
            printf("\n");
        cli_report(CMD, &dg);
        return CLI_EXIT_FAIL;
    }
    if (json)
        printf("]}\n");
    else if (lc.lc_n == 0)
        fprintf(stderr, "cdrate requests: no request%s\n",
                enterprise || state ? " matches" : " in the store");
    return finish_stdout();
}

static int req_show(const char *store, uint64_t id, int json)
{
    cdr_store *st = NULL;
    int ec = cli_store_open(CMD, store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_request rq;
    const int rc = cdr_req_get(st, id, &rq, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report(CMD, &dg);
        return rc == CDR_NOTFOUND ? CLI_EXIT_NOTFOUND : CLI_EXIT_FAIL;
    }
    if (json) {
        request_json(stdout, &rq);
        putchar('\n');
        return finish_stdout();
    }
    char ts[40], d[64];
    printf("request %" PRIu64 "\n", rq.rq_id);
    printf("  enterprise:  %" PRIu64 "\n", rq.rq_enterprise);
    printf("  kind:        %s\n", cdr_req_kind_name(rq.rq_kind));
    printf("  state:       %s\n", cdr_req_state_name(rq.rq_state));
    printf("  msisdn:      %s\n", rq.rq_msisdn);
    printf("  change:      %s\n", request_detail(&rq, d, sizeof d));
    printf("  note:        %s\n", rq.rq_note[0] ? rq.rq_note : "-");
    time_text(rq.rq_submitted_at, ts, sizeof ts);
    printf("  submitted:   %s by %s\n", ts, rq.rq_submitted_by);
    if (rq.rq_decided_by[0]) {
        time_text(rq.rq_decided_at, ts, sizeof ts);
        printf("  %-12s %s by %s\n",
               rq.rq_state == CDR_REQ_REJECTED ? "rejected:" : "approved:", ts, rq.rq_decided_by);
    }
    if (rq.rq_applied_by[0]) {
        time_text(rq.rq_applied_at, ts, sizeof ts);
        printf("  applied:     %s by %s\n", ts, rq.rq_applied_by);
    }
    return finish_stdout();
}

/* ---- apply -------------------------------------------------------------------------------------
 */

static int req_apply(const char *store, uint64_t id, const char *dir_path, const audit_ctx *au,
                     cdr_time now, int json)
{
    cdr_store *st = NULL;
    int ec = cli_store_open(CMD, store, CLI_STORE_WRITE, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    if (audit_probe(au->au_path) != 0) {
        cdr_store_close(st);
        return CLI_EXIT_FAIL;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_req_applied ra;
    const int rc = cdr_req_apply(st, id, dir_path, au->au_who, now, &ra, &dg);
    cdr_store_close(st);
    char msg[1200];
    if (rc) {
        cli_report(CMD, &dg);
        diag_text(&dg, msg, sizeof msg);
        const char *outcome = ra.ra_outcome == CDR_REQ_FAILED ? "failed" : "refused";
        if (audit(au, id, ra.ra_enterprise, now, outcome, msg) != 0)
            return CLI_EXIT_FAIL;
        if (ra.ra_outcome == CDR_REQ_UNKNOWN)
            return CLI_EXIT_NOTFOUND;
        if (ra.ra_outcome == CDR_REQ_REFUSED) {
            if (!json)
                fprintf(stderr,
                        "cdrate requests: request %" PRIu64
                        " not applied: nothing changed (the directory file, the store "
                        "and the request are as they were)\n",
                        id);
            return CLI_EXIT_REFUSED;
        }
        return CLI_EXIT_FAIL;
    }
    if (audit(au, id, ra.ra_enterprise, now, "done", NULL) != 0) {
        cli_error(CMD, CDR_EIO,
                  "request %" PRIu64 " was applied and marked done, but its audit record could "
                  "not be written",
                  id);
        return CLI_EXIT_FAIL;
    }
    if (json) {
        printf("{\"request\":%" PRIu64 ",\"outcome\":\"done\",\"enterprise\":%" PRIu64
               ",\"subscriber\":%" PRIu64 ",\"directory\":",
               id, ra.ra_enterprise, ra.ra_subscriber);
        cli_json_str(stdout, dir_path);
        printf(",\"records\":[");
        for (int i = 0, n = 0; i < 2; i++)
            if (ra.ra_records[i][0]) {
                printf("%s", n++ ? "," : "");
                cli_json_str(stdout, ra.ra_records[i]);
            }
        printf("]}\n");
    } else {
        fprintf(stderr,
                "cdrate requests: request %" PRIu64
                " applied and done: %s amended and loaded into the store\n",
                id, dir_path);
        for (int i = 0; i < 2; i++)
            if (ra.ra_records[i][0])
                fprintf(stderr, "  %s\n", ra.ra_records[i]);
    }
    return finish_stdout();
}

/* ---- submit, approve, reject (the operator on a customer's behalf) ----------------------------
 */

static int req_submit(const char *store, const cdr_request *rq, const audit_ctx *au, cdr_time now,
                      int json)
{
    cdr_store *st = NULL;
    int ec = cli_store_open(CMD, store, CLI_STORE_WRITE, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    if (audit_probe(au->au_path) != 0) {
        cdr_store_close(st);
        return CLI_EXIT_FAIL;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    uint64_t id = 0;
    const int rc = cdr_req_submit(st, rq, now, &id, &dg);
    cdr_store_close(st);
    if (rc) {
        char msg[1200];
        cli_report(CMD, &dg);
        audit(au, 0, rq->rq_enterprise, now, rc == CDR_EINVAL ? "refused" : "failed",
              diag_text(&dg, msg, sizeof msg));
        return rc == CDR_EINVAL ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    }
    if (audit(au, id, rq->rq_enterprise, now, "done", NULL) != 0)
        return CLI_EXIT_FAIL;
    if (json)
        printf("{\"request\":%" PRIu64 ",\"state\":\"submitted\"}\n", id);
    else
        printf("%" PRIu64 "\n", id);
    return finish_stdout();
}

static int req_decide(const char *store, uint64_t id, int approve, const audit_ctx *au,
                      cdr_time now, int json)
{
    cdr_store *st = NULL;
    int ec = cli_store_open(CMD, store, CLI_STORE_WRITE, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    if (audit_probe(au->au_path) != 0) {
        cdr_store_close(st);
        return CLI_EXIT_FAIL;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_request rq;
    uint64_t enterprise = 0;
    if (cdr_req_get(st, id, &rq, &dg) == 0)
        enterprise = rq.rq_enterprise;
    cdr_diag_clear(&dg);
    const int rc = cdr_req_decide(st, id, approve, au->au_who, now, &dg);
    cdr_store_close(st);
    if (rc) {
        char msg[1200];
        cli_report(CMD, &dg);
        const int refused = rc == CDR_EINVAL || rc == CDR_NOTFOUND;
        if (audit(au, id, enterprise, now, refused ? "refused" : "failed",
                  diag_text(&dg, msg, sizeof msg)) != 0)
            return CLI_EXIT_FAIL;
        return rc == CDR_NOTFOUND ? CLI_EXIT_NOTFOUND
               : rc == CDR_EINVAL ? CLI_EXIT_REFUSED
                                  : CLI_EXIT_FAIL;
    }
    if (audit(au, id, enterprise, now, "done", NULL) != 0)
        return CLI_EXIT_FAIL;
    if (json)
        printf("{\"request\":%" PRIu64 ",\"state\":\"%s\"}\n", id,
               approve ? "approved" : "rejected");
    else
        fprintf(stderr, "cdrate requests: request %" PRIu64 " %s\n", id,
                approve ? "approved" : "rejected");
    return finish_stdout();
}

/* ---- the command -------------------------------------------------------------------------------
 */

static const char *const state_choices[] = {"submitted", "approved", "done", "rejected", NULL};
static const char *const kind_choices[] = {"add_member", "remove_member", "change_plan",
                                           "raise_cap", NULL};

static const char about[] =
    "list     the requests, newest first (--enterprise, --state filter them)\n"
    "show     one request\n"
    "apply    apply an APPROVED request to the directory file FILE: FILE is amended (a new file\n"
    "         beside it, fsync'd, renamed over it, its mode kept), validated and loaded into the\n"
    "         store, and the request marked done. A refusal (not approved, the line gone or\n"
    "         already a member, the amended file invalid...) changes nothing: FILE, the store\n"
    "         and the request stay as they were (exit 4)\n"
    "submit   file a request on a customer's behalf (prints its id)\n"
    "approve  approve a submitted request; reject: reject it\n"
    "apply, submit, approve and reject append one JSON line to the audit log (--audit, default\n"
    "STORE/audit.log). Exit status: 0 done, 1 failure, 2 bad command line, 4 refused (nothing\n"
    "changed), 6 no such request. docs/requests.md";

int cmd_requests(int argc, char **argv)
{
    const char *store = NULL, *dir_path = NULL, *by = NULL, *now_s = NULL, *audit_path = NULL;
    const char *enterprise_s = NULL, *msisdn = NULL, *product_s = NULL, *plan = NULL;
    const char *cap_s = NULL, *note = NULL;
    int json = 0, state = -1, kind = -1;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"enterprise", CLI_STRING, &enterprise_s, "ID", "list: of this enterprise; submit: for it"},
        {"state", CLI_CHOICE, &state, "S", "list: in this state", 0, 0, state_choices},
        {"directory", CLI_STRING, &dir_path, "FILE", "apply: the directory file to amend"},
        {"by", CLI_STRING, &by, "LOGIN", "apply, submit, approve, reject: the operator's login"},
        {"now", CLI_STRING, &now_s, "ISO8601", "the time of the step (default: the clock)"},
        {"audit", CLI_STRING, &audit_path, "FILE", "the audit log (default STORE/audit.log)"},
        {"kind", CLI_CHOICE, &kind, "KIND", "submit: what is asked", 0, 0, kind_choices},
        {"msisdn", CLI_STRING, &msisdn, "N", "submit: the line"},
        {"product", CLI_STRING, &product_s, "ID", "submit add_member: the enterprise's product"},
        {"plan", CLI_STRING, &plan, "PLAN", "submit change_plan: the new plan"},
        {"cap", CLI_STRING, &cap_s, "AMOUNT", "submit raise_cap: the new cap per cycle"},
        {"note", CLI_STRING, &note, "TEXT", "submit: the customer's words"},
        {"json", CLI_FLAG, &json, NULL, "JSON on stdout, errors as JSON on stderr"},
        {0},
    };
    const cli_spec cs = {
        CMD,
        "list --store STORE [--enterprise ID] [--state S] [--json]\n"
        "show ID --store STORE [--json]\n"
        "apply ID --store STORE --directory FILE --by LOGIN [--now ISO8601] [--audit FILE] "
        "[--json]\n"
        "submit --store STORE --enterprise ID --kind KIND --msisdn N [--product ID | --plan PLAN "
        "| --cap AMOUNT] [--note TEXT] --by LOGIN [--now ISO8601] [--audit FILE] [--json]\n"
        "approve|reject ID --store STORE --by LOGIN [--now ISO8601] [--audit FILE] [--json]",
        about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&cs, "missing verb (list, show, apply, submit, approve, reject)");
    const char *verb = argv[pos];
    const int is_list = !strcmp(verb, "list"), is_show = !strcmp(verb, "show"),
              is_apply = !strcmp(verb, "apply"), is_submit = !strcmp(verb, "submit"),
              is_decide = !strcmp(verb, "approve") || !strcmp(verb, "reject");
    if (!is_list && !is_show && !is_apply && !is_submit && !is_decide)
        return cli_usage_error(
            &cs, "unknown verb '%s' (list, show, apply, submit, approve, reject)", verb);
    const int nargs = is_show || is_apply || is_decide ? 1 : 0;
    if (argc - pos - 1 < nargs)
        return cli_usage_error(&cs, "%s takes a request id", verb);
    if (argc - pos - 1 > nargs)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos + 1 + nargs]);
    if (!store)
        return cli_usage_error(&cs, "--store is required");
    uint64_t id = 0;
    if (nargs && parse_id(argv[pos + 1], &id) != 0)
        return cli_usage_error(&cs, "'%s' is not a request id (1 .. 9223372036854775807)",
                               argv[pos + 1]);
    /* every option belongs to some verbs only */
    const struct {
        const char *name;
        int given, allowed;
    } only[] = {
        {"enterprise", enterprise_s != NULL, is_list || is_submit},
        {"state", state >= 0, is_list},
        {"directory", dir_path != NULL, is_apply},
        {"by", by != NULL, is_apply || is_submit || is_decide},
        {"now", now_s != NULL, is_apply || is_submit || is_decide},
        {"audit", audit_path != NULL, is_apply || is_submit || is_decide},
        {"kind", kind >= 0, is_submit},
        {"msisdn", msisdn != NULL, is_submit},
        {"product", product_s != NULL, is_submit},
        {"plan", plan != NULL, is_submit},
        {"cap", cap_s != NULL, is_submit},
        {"note", note != NULL, is_submit},
    };
    for (size_t i = 0; i < sizeof only / sizeof only[0]; i++)
        if (only[i].given && !only[i].allowed)
            return cli_usage_error(&cs, "--%s is not an option of %s", only[i].name, verb);
    uint64_t enterprise = 0;
    if (enterprise_s && parse_id(enterprise_s, &enterprise) != 0)
        return cli_usage_error(&cs, "--enterprise: '%s' is not an id (1 .. 9223372036854775807)",
                               enterprise_s);
    if (is_list)
        return req_list(store, enterprise, state >= 0 ? state + 1 : 0, json);
    if (is_show)
        return req_show(store, id, json);

    /* the steps that change something: who, when, the audit log */
    if (!by)
        return cli_usage_error(&cs, "--by LOGIN is required (the operator, for the audit log)");
    if (!cdr_req_name_valid(by, strlen(by) + 1))
        return cli_usage_error(&cs,
                               "--by: '%s' is not a login (letters, digits and . _ - @, 1 .. "
                               "31 bytes)",
                               by);
    cdr_time now = (cdr_time)time(NULL);
    if (now_s) {
        int32_t off;
        if (cdr_time_parse_iso(now_s, strlen(now_s), &now, &off) != 0)
            return cli_usage_error(&cs,
                                   "--now: '%s' is not a time YYYY-MM-DDTHH:MM:SSZ (or "
                                   "+HH:MM)",
                                   now_s);
    }
    char audit_def[4200];
    if (!audit_path) {
        snprintf(audit_def, sizeof audit_def, "%s/audit.log", store);
        audit_path = audit_def;
    }
    if (is_apply) {
        if (!dir_path)
            return cli_usage_error(&cs, "--directory FILE is required");
        const audit_ctx au = {audit_path, by, "request.apply"};
        return req_apply(store, id, dir_path, &au, now, json);
    }
    if (is_decide) {
        const int approve = !strcmp(verb, "approve");
        const audit_ctx au = {audit_path, by, approve ? "request.approve" : "request.reject"};
        return req_decide(store, id, approve, &au, now, json);
    }
    /* submit: the fields as given; the library checks what the kind needs */
    if (!enterprise_s || kind < 0 || !msisdn)
        return cli_usage_error(&cs, "submit needs --enterprise, --kind and --msisdn");
    cdr_request rq;
    memset(&rq, 0, sizeof rq);
    rq.rq_enterprise = enterprise;
    rq.rq_kind = (uint8_t)(kind + 1);
    if (strlen(msisdn) >= sizeof rq.rq_msisdn)
        return cli_usage_error(&cs, "--msisdn: '%s' is longer than %d digits", msisdn,
                               CDR_NUMBER_MAX - 1);
    snprintf(rq.rq_msisdn, sizeof rq.rq_msisdn, "%s", msisdn);
    if (product_s && parse_id(product_s, &rq.rq_product) != 0)
        return cli_usage_error(&cs, "--product: '%s' is not an id (1 .. 9223372036854775807)",
                               product_s);
    if (plan) {
        if (strlen(plan) >= sizeof rq.rq_plan)
            return cli_usage_error(&cs, "--plan: '%s' is longer than 31 bytes", plan);
        snprintf(rq.rq_plan, sizeof rq.rq_plan, "%s", plan);
    }
    if (cap_s) {
        if (cdr_money_parse(cap_s, &rq.rq_cap) != 0 || rq.rq_cap < 0)
            return cli_usage_error(&cs, "--cap: '%s' is not an amount >= 0 (at most 6 decimals)",
                                   cap_s);
    }
    if (note) {
        if (strlen(note) >= sizeof rq.rq_note)
            return cli_usage_error(&cs, "--note: longer than %d bytes", CDR_REQ_NOTE_MAX - 1);
        snprintf(rq.rq_note, sizeof rq.rq_note, "%s", note);
    }
    snprintf(rq.rq_submitted_by, sizeof rq.rq_submitted_by, "%s", by);
    const audit_ctx au = {audit_path, by, "request.submit"};
    return req_submit(store, &rq, &au, now, json);
}
