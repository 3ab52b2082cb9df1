/* data_int.h - what the API (api.c) and the pages (pages.c) both read: data.c. The caller has
 * decided access (pt_allow_*); on an error these answer r (pt_error) and return its status. */
#ifndef DATA_INT_H
#define DATA_INT_H

#include "cdr_payments.h"
#include "portal_int.h"

#define PT_MAX_CUR 4

/* "2026-11" -> 202611, 0 when malformed. */
uint32_t pt_parse_cycle(const char *s);
const char *pt_cycle_text(uint32_t c, char buf[8]);
/* 1 to 15 digits. */
int pt_msisdn_ok(const char *s);

/* The line's live state (cdr_live_query: Redis or the store) for cycle (0: the latest); 0 or the
 * status answered (404 unknown line, 503 the state cannot be read). Free v with
 * cdr_live_view_free. */
int pt_live(pt_req *r, const char *msisdn, uint32_t cycle, int what, cdr_live_view *v);

/* The enterprise's members (its subscribers in the directory), in id order; the count. */
size_t pt_members(pt_req *r, uint64_t enterprise,
                  void (*fn)(void *arg, const cdr_dir_subscriber *sb), void *arg);

/* An enterprise's members in one cycle (asked, or 0: the latest cycle in which any member has
 * state, else the current month): their charges so far per currency, how many are warned or
 * suspended, and the first PT_MAX_WARN such lines. Large: allocate it (calloc). */
#define PT_MAX_WARN 1000
typedef struct pt_ent_sums {
    pt_req *es_r;
    cdr_redis *es_rd;
    uint32_t es_asked;
    uint32_t es_cycle; /* the cycle summed */
    size_t es_members, es_warned, es_suspended;
    size_t es_ncur;
    char es_cur[PT_MAX_CUR][4];
    cdr_money es_total[PT_MAX_CUR];
    int es_failed;
    size_t es_nwarn;
    struct {
        const cdr_dir_subscriber *ew_sub;
        cdr_live_line ew_line;
    } es_warn[PT_MAX_WARN];
} pt_ent_sums;
int pt_enterprise_sums(pt_req *r, uint64_t enterprise, uint32_t cycle, pt_ent_sums *es);

/* The account's invoices, payments and arrears as of today, from --bills and the store's
 * payments: *out NULL when the server has no --bills. 0 or the status answered. */
int pt_pay_status(pt_req *r, uint64_t account, cdr_pay_status **out);

/* A statement into r: of the line msisdn, else of the enterprise, for cycle, in format
 * (cdr_stmt_format; CSV: one section, checked with pt_section_ok), as an attachment when download.
 * Audited ("statement.view" / "statement.download") before it is sent. 0 or the status answered. */
int pt_statement(pt_req *r, const char *msisdn, uint64_t enterprise, uint32_t cycle, int format,
                 const char *section, int download);
/* 1 for a CSV section name of a statement: summary, classes, services, bundles, overflow, members,
 * itemised. */
int pt_section_ok(const char *s);
/* The billed cycles (newest first) into out; the count. */
size_t pt_billed_cycles(pt_req *r, uint32_t *out, size_t max);

/* ---- requests (api.c) ---- */
struct cdr_request;
/* One request as a JSON object (no newline). */
void pt_request_json(pt_req *r, const struct cdr_request *rq);
/* A request of enterprise en from fields (get(ctx, name): kind, msisdn, product, plan, cap, note),
 * checked against the directory: 0 or the status answered (400, 404). */
int pt_request_fill(pt_req *r, const cdr_dir_enterprise *en,
                    const char *(*get)(void *ctx, const char *name), void *ctx,
                    struct cdr_request *rq);
/* Store and audit a filled request (rq->rq_id set): 0 or the status answered. */
int pt_request_submit(pt_req *r, struct cdr_request *rq);
/* Approve (1) or reject (0) request id, access checked on its enterprise, audited; *out (may be
 * NULL) gets it afterwards. 0 or the status answered (401, 403, 404, 409). */
int pt_request_decide(pt_req *r, uint64_t id, int approve, struct cdr_request *out);

#endif
