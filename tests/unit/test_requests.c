/* test_requests.c - requests for standard changes in the store (cdr_requests.h, docs/requests.md):
 * submit and its validation (every malformed field refused with its message, nothing stored, no
 * id used), the walk newest first per enterprise, decide and mark done with every refused
 * transition, and the audit line writer (cdr_audit.h). Applying to a directory file:
 * tests/cli/requests_test.sh. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_audit.h"
#include "cdr_requests.h"

static char dir[64];
static cdr_store *st;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cdrrq_XXXXXX");
    cr_assert(mkdtemp(dir));
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
}

static void teardown(void)
{
    cdr_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static cdr_request req(uint64_t enterprise, int kind, const char *msisdn)
{
    cdr_request rq;
    memset(&rq, 0, sizeof rq);
    rq.rq_enterprise = enterprise;
    rq.rq_kind = (uint8_t)kind;
    snprintf(rq.rq_msisdn, sizeof rq.rq_msisdn, "%s", msisdn);
    snprintf(rq.rq_submitted_by, sizeof rq.rq_submitted_by, "admin.acme");
    if (kind == CDR_REQ_ADD_MEMBER)
        rq.rq_product = 11;
    if (kind == CDR_REQ_CHANGE_PLAN)
        snprintf(rq.rq_plan, sizeof rq.rq_plan, "cn-payg");
    if (kind == CDR_REQ_RAISE_CAP)
        rq.rq_cap = 350000000;
    return rq;
}

static uint64_t submit_ok(const cdr_request *rq, cdr_time now)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    uint64_t id = 0;
    cr_assert_eq(cdr_req_submit(st, rq, now, &id, &dg), 0, "%s", dg.dg_msg);
    return id;
}

typedef struct walk {
    uint64_t ids[32];
    size_t n;
    size_t stop_after; /* 0 = never */
} walk;

static int walk_fn(void *arg, const cdr_request *rq)
{
    walk *w = arg;
    w->ids[w->n++] = rq->rq_id;
    return w->stop_after && w->n == w->stop_after ? 42 : 0;
}

TestSuite(requests, .init = setup, .fini = teardown);

Test(requests, names)
{
    cr_assert_str_eq(cdr_req_kind_name(CDR_REQ_ADD_MEMBER), "add_member");
    cr_assert_str_eq(cdr_req_kind_name(CDR_REQ_RAISE_CAP), "raise_cap");
    cr_assert_null(cdr_req_kind_name(0));
    cr_assert_null(cdr_req_kind_name(CDR_REQ_KIND_END));
    cr_assert_eq(cdr_req_kind_parse("change_plan"), CDR_REQ_CHANGE_PLAN);
    cr_assert_eq(cdr_req_kind_parse("Change_plan"), 0);
    cr_assert_eq(cdr_req_kind_parse(NULL), 0);
    cr_assert_str_eq(cdr_req_state_name(CDR_REQ_REJECTED), "rejected");
    cr_assert_null(cdr_req_state_name(CDR_REQ_STATE_END));
    cr_assert_eq(cdr_req_state_parse("done"), CDR_REQ_DONE);
    cr_assert_eq(cdr_req_state_parse("gone"), 0);
}

Test(requests, submit_get_fields)
{
    cdr_request rq = req(7, CDR_REQ_ADD_MEMBER, "8613800000003");
    snprintf(rq.rq_note, sizeof rq.rq_note, "new hire: 李伟");
    rq.rq_id = 99; /* set by submit, whatever is given */
    rq.rq_state = CDR_REQ_DONE;
    rq.rq_decided_at = 5;
    cr_assert_eq(submit_ok(&rq, 1000), 1);
    cr_assert_eq(submit_ok(&rq, 1001), 2);
    cdr_request got;
    cdr_diag dg;
    cr_assert_eq(cdr_req_get(st, 1, &got, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(got.rq_id, 1);
    cr_assert_eq(got.rq_enterprise, 7);
    cr_assert_eq(got.rq_kind, CDR_REQ_ADD_MEMBER);
    cr_assert_eq(got.rq_state, CDR_REQ_SUBMITTED);
    cr_assert_str_eq(got.rq_msisdn, "8613800000003");
    cr_assert_eq(got.rq_product, 11);
    cr_assert_str_eq(got.rq_note, "new hire: 李伟");
    cr_assert_str_eq(got.rq_submitted_by, "admin.acme");
    cr_assert_eq(got.rq_submitted_at, 1000);
    cr_assert_eq(got.rq_decided_at, 0);
    cr_assert_str_eq(got.rq_decided_by, "");
    cr_assert_eq(cdr_req_get(st, 3, &got, &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no request 3");
}

Test(requests, get_and_each_on_an_empty_store)
{
    cdr_request got;
    cdr_diag dg;
    cr_assert_eq(cdr_req_get(st, 1, &got, &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no request 1");
    walk w = {0};
    cr_assert_eq(cdr_req_each(st, 0, walk_fn, &w, &dg), 0);
    cr_assert_eq(w.n, 0);
    cr_assert_eq(cdr_req_decide(st, 1, 1, "am.zhang", 5, &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no request 1");
    cr_assert_eq(cdr_req_mark_done(st, 1, "op.wu", 5, &dg), CDR_NOTFOUND);
}

/* A malformed request is refused with msg, and nothing is stored: the next id is still next. */
static void refused(const cdr_request *rq, const char *msg)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    uint64_t id = 77;
    cr_assert_eq(cdr_req_submit(st, rq, 1, &id, &dg), CDR_EINVAL, "accepted: %s", msg);
    cr_assert_str_eq(dg.dg_msg, msg);
    cr_assert_eq(id, 77);
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_req_validate(rq, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, msg);
}

Test(requests, malformed_fields)
{
    cdr_request rq = req(1, CDR_REQ_REMOVE_MEMBER, "8613800000002");
    rq.rq_kind = 0;
    refused(&rq, "kind 0 is not one of add_member, remove_member, change_plan, raise_cap");
    rq.rq_kind = CDR_REQ_KIND_END;
    refused(&rq, "kind 5 is not one of add_member, remove_member, change_plan, raise_cap");

    rq = req(0, CDR_REQ_REMOVE_MEMBER, "8613800000002");
    refused(&rq, "enterprise: 0 is not an id (1 .. 9223372036854775807)");
    rq.rq_enterprise = (uint64_t)INT64_MAX + 1;
    refused(&rq, "enterprise: 9223372036854775808 is not an id (1 .. 9223372036854775807)");

    rq = req(1, CDR_REQ_REMOVE_MEMBER, "");
    refused(&rq, "msisdn: '' is not 1 to 23 digits");
    rq = req(1, CDR_REQ_REMOVE_MEMBER, "+8613800000002");
    refused(&rq, "msisdn: '+8613800000002' is not 1 to 23 digits");
    rq = req(1, CDR_REQ_REMOVE_MEMBER, "86 138");
    refused(&rq, "msisdn: '86 138' is not 1 to 23 digits");
    rq = req(1, CDR_REQ_REMOVE_MEMBER, "");
    memset(rq.rq_msisdn, '1', sizeof rq.rq_msisdn); /* no NUL in the field */
    refused(&rq, "msisdn: '111111111111111111111111' is not 1 to 23 digits");
    rq = req(1, CDR_REQ_REMOVE_MEMBER, "12345678901234567890123"); /* 23 digits: the most */
    cr_assert_eq(cdr_req_validate(&rq, NULL), 0);

    /* each kind's own fields, and no other kind's */
    rq = req(1, CDR_REQ_ADD_MEMBER, "1");
    rq.rq_product = 0;
    refused(&rq, "product: add_member needs a product id (1 .. 9223372036854775807)");
    rq = req(1, CDR_REQ_REMOVE_MEMBER, "1");
    rq.rq_product = 11;
    refused(&rq, "product: only add_member names a product");
    rq = req(1, CDR_REQ_CHANGE_PLAN, "1");
    rq.rq_plan[0] = '\0';
    refused(&rq, "plan: '' is not a plan id (letters, digits and . _ - @, 1 .. 31 bytes)");
    snprintf(rq.rq_plan, sizeof rq.rq_plan, "cn payg");
    refused(&rq, "plan: 'cn payg' is not a plan id (letters, digits and . _ - @, 1 .. 31 bytes)");
    memset(rq.rq_plan, 'p', sizeof rq.rq_plan);
    refused(&rq, "plan: 'pppppppppppppppppppppppppppppppp' is not a plan id (letters, digits and . "
                 "_ - @, 1 .. 31 bytes)");
    rq = req(1, CDR_REQ_RAISE_CAP, "1");
    snprintf(rq.rq_plan, sizeof rq.rq_plan, "x");
    refused(&rq, "plan: only change_plan names a plan");
    rq = req(1, CDR_REQ_RAISE_CAP, "1");
    rq.rq_cap = -1;
    refused(&rq, "cap: a cap is 0 or more");
    rq.rq_cap = 0; /* 0 is a cap: the enterprise pays nothing more */
    cr_assert_eq(cdr_req_validate(&rq, NULL), 0);
    rq = req(1, CDR_REQ_CHANGE_PLAN, "1");
    rq.rq_cap = 5;
    refused(&rq, "cap: only raise_cap names a cap");

    /* the note: UTF-8 without control characters, at most 255 bytes */
    static const struct {
        const char *note;
        const char *msg;
    } notes[] = {
        {"line\nbreak", "note: a control character at byte 5"},
        {"cr\r", "note: a control character at byte 3"},
        {"\ttab", "note: a control character at byte 1"},
        {"bell\a", "note: a control character at byte 5"},
        {"del\x7f", "note: a control character at byte 4"},
        {"c1 \xc2\x85", "note: a control character at byte 4"},
        {"bad \xff", "note: invalid UTF-8 at byte 5"},
        {"cut \xe6\x9d", "note: invalid UTF-8 at byte 5"},
        {"overlong \xc0\xaf", "note: invalid UTF-8 at byte 10"},
        {"surrogate \xed\xa0\x80", "note: invalid UTF-8 at byte 11"},
        {"too high \xf4\x90\x80\x80", "note: invalid UTF-8 at byte 10"},
    };
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
        rq = req(1, CDR_REQ_REMOVE_MEMBER, "1");
        snprintf(rq.rq_note, sizeof rq.rq_note, "%s", notes[i].note);
        refused(&rq, notes[i].msg);
    }
    rq = req(1, CDR_REQ_REMOVE_MEMBER, "1");
    memset(rq.rq_note, 'n', sizeof rq.rq_note);
    refused(&rq, "note: longer than 255 bytes");
    rq.rq_note[CDR_REQ_NOTE_MAX - 1] = '\0'; /* 255 bytes: the most */
    cr_assert_eq(cdr_req_validate(&rq, NULL), 0);
    snprintf(rq.rq_note, sizeof rq.rq_note, "emoji \xf0\x9f\x98\x80, \xe2\x82\xac 5");
    cr_assert_eq(cdr_req_validate(&rq, NULL), 0);

    rq = req(1, CDR_REQ_REMOVE_MEMBER, "1");
    rq.rq_submitted_by[0] = '\0';
    refused(&rq, "submitted_by: '' is not a login (letters, digits and . _ - @, 1 .. 31 bytes)");
    snprintf(rq.rq_submitted_by, sizeof rq.rq_submitted_by, "a/b");
    refused(&rq, "submitted_by: 'a/b' is not a login (letters, digits and . _ - @, 1 .. 31 bytes)");

    /* nothing was stored: the first request still gets id 1 */
    rq = req(1, CDR_REQ_REMOVE_MEMBER, "1");
    cr_assert_eq(submit_ok(&rq, 1), 1);
}

Test(requests, each_newest_first_per_enterprise)
{
    const uint64_t ents[] = {1, 2, 1, 3, 1, 2};
    for (size_t i = 0; i < 6; i++) {
        const cdr_request rq = req(ents[i], CDR_REQ_REMOVE_MEMBER, "8613800000001");
        cr_assert_eq(submit_ok(&rq, (cdr_time)(100 + i)), i + 1);
    }
    cdr_diag dg;
    walk w = {0};
    cr_assert_eq(cdr_req_each(st, 0, walk_fn, &w, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(w.n, 6);
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(w.ids[i], 6 - i);
    walk w1 = {0};
    cr_assert_eq(cdr_req_each(st, 1, walk_fn, &w1, &dg), 0);
    cr_assert_eq(w1.n, 3);
    cr_assert(w1.ids[0] == 5 && w1.ids[1] == 3 && w1.ids[2] == 1);
    walk w2 = {0};
    cr_assert_eq(cdr_req_each(st, 2, walk_fn, &w2, &dg), 0);
    cr_assert(w2.n == 2 && w2.ids[0] == 6 && w2.ids[1] == 2);
    walk w9 = {0};
    cr_assert_eq(cdr_req_each(st, 9, walk_fn, &w9, &dg), 0);
    cr_assert_eq(w9.n, 0);
    /* the callback stops the walk with its own value */
    walk ws = {.stop_after = 2};
    cr_assert_eq(cdr_req_each(st, 0, walk_fn, &ws, &dg), 42);
    cr_assert_eq(ws.n, 2);
}

/* Every step of the life of a request, and every refused transition with its message. */
Test(requests, transitions)
{
    const cdr_request rq = req(1, CDR_REQ_CHANGE_PLAN, "8613800000001");
    const uint64_t a = submit_ok(&rq, 100), b = submit_ok(&rq, 101);
    cdr_diag dg;
    /* submitted: cannot be marked done */
    cr_assert_eq(cdr_req_mark_done(st, a, "op.wu", 150, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg,
                     "request 1 is submitted: only an approved request can be marked done");
    /* a malformed login changes nothing */
    cr_assert_eq(cdr_req_decide(st, a, 1, "", 150, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg,
                     "by: '' is not a login (letters, digits and . _ - @, 1 .. 31 bytes)");
    cr_assert_eq(cdr_req_decide(st, a, 1, NULL, 150, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_req_decide(st, a, 1, "am zhang", 150, &dg), CDR_EINVAL);
    cdr_request got;
    cr_assert_eq(cdr_req_get(st, a, &got, &dg), 0);
    cr_assert_eq(got.rq_state, CDR_REQ_SUBMITTED);
    cr_assert_str_eq(got.rq_decided_by, "");

    cr_assert_eq(cdr_req_decide(st, a, 1, "am.zhang", 200, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_req_get(st, a, &got, &dg), 0);
    cr_assert_eq(got.rq_state, CDR_REQ_APPROVED);
    cr_assert_str_eq(got.rq_decided_by, "am.zhang");
    cr_assert_eq(got.rq_decided_at, 200);
    /* approved: cannot be decided again */
    cr_assert_eq(cdr_req_decide(st, a, 1, "am.zhang", 210, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "request 1 is approved: only a submitted request can be approved");
    cr_assert_eq(cdr_req_decide(st, a, 0, "am.zhang", 210, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "request 1 is approved: only a submitted request can be rejected");
    cr_assert_eq(cdr_req_get(st, a, &got, &dg), 0);
    cr_assert_eq(got.rq_decided_at, 200);

    cr_assert_eq(cdr_req_mark_done(st, a, "op.wu", 300, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_req_get(st, a, &got, &dg), 0);
    cr_assert_eq(got.rq_state, CDR_REQ_DONE);
    cr_assert_str_eq(got.rq_applied_by, "op.wu");
    cr_assert_eq(got.rq_applied_at, 300);
    cr_assert_str_eq(got.rq_decided_by, "am.zhang");
    /* done: final */
    cr_assert_eq(cdr_req_mark_done(st, a, "op.wu", 310, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "request 1 is done: only an approved request can be marked done");
    cr_assert_eq(cdr_req_decide(st, a, 0, "am.zhang", 310, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "request 1 is done: only a submitted request can be rejected");

    /* rejected: final */
    cr_assert_eq(cdr_req_decide(st, b, 0, "am.li", 220, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_req_get(st, b, &got, &dg), 0);
    cr_assert_eq(got.rq_state, CDR_REQ_REJECTED);
    cr_assert_str_eq(got.rq_decided_by, "am.li");
    cr_assert_eq(cdr_req_decide(st, b, 1, "am.li", 230, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "request 2 is rejected: only a submitted request can be approved");
    cr_assert_eq(cdr_req_mark_done(st, b, "op.wu", 230, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg,
                     "request 2 is rejected: only an approved request can be marked done");
    cr_assert_eq(cdr_req_decide(st, 3, 1, "am.li", 230, &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no request 3");
}

Test(requests, apply_refusals_before_the_file)
{
    const cdr_request rq = req(1, CDR_REQ_REMOVE_MEMBER, "8613800000001");
    const uint64_t a = submit_ok(&rq, 100);
    cdr_req_applied ra;
    cdr_diag dg;
    char path[128];
    snprintf(path, sizeof path, "%s/none.dir", dir);
    cr_assert_eq(cdr_req_apply(st, 9, path, "op.wu", 200, &ra, &dg), CDR_NOTFOUND);
    cr_assert_eq(ra.ra_outcome, CDR_REQ_UNKNOWN);
    cr_assert_eq(cdr_req_apply(st, a, path, "op.wu", 200, &ra, &dg), CDR_EINVAL);
    cr_assert_eq(ra.ra_outcome, CDR_REQ_REFUSED);
    cr_assert_eq(ra.ra_enterprise, 1);
    cr_assert_str_eq(dg.dg_msg, "request 1 is submitted: only an approved request can be applied");
    cr_assert_eq(cdr_req_apply(st, a, path, "op wu", 200, &ra, &dg), CDR_EINVAL);
    cr_assert_eq(ra.ra_outcome, CDR_REQ_REFUSED);
    /* approved, but the directory file cannot be read: a failure, the request stays approved */
    cr_assert_eq(cdr_req_decide(st, a, 1, "am.zhang", 150, &dg), 0);
    cr_assert_eq(cdr_req_apply(st, a, path, "op.wu", 200, &ra, &dg), CDR_EIO);
    cr_assert_eq(ra.ra_outcome, CDR_REQ_FAILED);
    cdr_request got;
    cr_assert_eq(cdr_req_get(st, a, &got, &dg), 0);
    cr_assert_eq(got.rq_state, CDR_REQ_APPROVED);
}

Test(requests, audit_append_line)
{
    char path[128];
    snprintf(path, sizeof path, "%s/audit.log", dir);
    cdr_diag dg;
    cr_assert_eq(cdr_audit_append_line(path, "{\"a\":1}", &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_audit_append_line(path, "{\"b\":2}", &dg), 0, "%s", dg.dg_msg);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char buf[64] = "";
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cr_assert_str_eq(buf, "{\"a\":1}\n{\"b\":2}\n");
    /* refused lines write nothing */
    cr_assert_eq(cdr_audit_append_line(path, "{\"c\":\n3}", &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "an audit record is one non-empty line");
    cr_assert_eq(cdr_audit_append_line(path, "", &dg), CDR_EINVAL);
    cr_assert_eq(cdr_audit_append_line(path, NULL, &dg), CDR_EINVAL);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_size, 16);
    /* a file that cannot be opened */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/audit.log", dir);
    cr_assert_eq(cdr_audit_append_line(bad, "{}", &dg), CDR_EIO);
    cr_assert_str_eq(dg.dg_msg, "cannot open the audit log: No such file or directory");
    cr_assert_str_eq(dg.dg_file, bad);
    /* a line longer than the stack buffer */
    char *big = malloc(5000);
    cr_assert(big);
    memset(big, 'x', 4999);
    big[0] = '"';
    big[4998] = '"';
    big[4999] = '\0';
    cr_assert_eq(cdr_audit_append_line(path, big, &dg), 0, "%s", dg.dg_msg);
    free(big);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_size, 16 + 5000);
}
