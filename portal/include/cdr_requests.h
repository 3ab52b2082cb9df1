/* cdr_requests.h - requests for standard changes, from an enterprise to the operator.
 *
 * An enterprise administrator (or one of the enterprise's managers) submits a request; the
 * enterprise's account or service manager (or an operator) approves or rejects it; an operator
 * applies an approved request to the directory with `cdrate requests apply` (audited), which marks
 * it done. States: submitted -> approved -> done, or submitted -> rejected (docs/portal.md,
 * "Requests"). Kept in the store; every function opens its own transaction.
 */
#ifndef CDR_REQUESTS_H
#define CDR_REQUESTS_H

#include <stdint.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_record.h"
#include "cdr_rules.h"
#include "cdr_store.h"
#include "cdr_time.h"

#define CDR_DB_REQUESTS  "portal_requests" /* be64 id -> cdr_request; "next" in portal_meta */
#define CDR_REQ_NOTE_MAX 256

typedef enum cdr_req_kind {
    CDR_REQ_ADD_MEMBER = 1, /* rq_msisdn (an existing line) joins rq_product of the enterprise */
    CDR_REQ_REMOVE_MEMBER,  /* rq_msisdn leaves the enterprise */
    CDR_REQ_CHANGE_PLAN,    /* rq_msisdn moves to rq_plan */
    CDR_REQ_RAISE_CAP,      /* the enterprise pays up to rq_cap a cycle for rq_msisdn */
    CDR_REQ_KIND_END
} cdr_req_kind;

typedef enum cdr_req_state {
    CDR_REQ_SUBMITTED = 1,
    CDR_REQ_APPROVED,
    CDR_REQ_DONE,
    CDR_REQ_REJECTED,
    CDR_REQ_STATE_END
} cdr_req_state;

/* "add_member", ...; "submitted", ...; NULL when out of range. The parsers give 0 when unknown. */
const char *cdr_req_kind_name(int kind);
int cdr_req_kind_parse(const char *s);
const char *cdr_req_state_name(int state);

typedef struct cdr_request {
    uint64_t rq_id; /* 1, 2, ... in submission order */
    uint64_t rq_enterprise;
    uint8_t rq_kind;  /* cdr_req_kind */
    uint8_t rq_state; /* cdr_req_state */
    uint8_t rq_pad[6];
    char rq_msisdn[CDR_NUMBER_MAX];
    uint64_t rq_product;        /* add_member */
    char rq_plan[CDR_NAME_MAX]; /* change_plan */
    cdr_money rq_cap;           /* raise_cap, micro-units in the enterprise account's currency */
    char rq_note[CDR_REQ_NOTE_MAX]; /* the submitter's words (UTF-8) */
    char rq_submitted_by[CDR_NAME_MAX];
    char rq_decided_by[CDR_NAME_MAX];
    char rq_applied_by[CDR_NAME_MAX];
    cdr_time rq_submitted_at, rq_decided_at, rq_applied_at; /* UTC seconds, 0 = not yet */
} cdr_request;

/* Submit: rq_enterprise, rq_kind and the fields the kind needs, rq_note, rq_submitted_by; the id,
 * state and times are set here (*id gets the id). CDR_EINVAL for a missing or malformed field. */
int cdr_req_submit(cdr_store *st, const cdr_request *rq, cdr_time now, uint64_t *id, cdr_diag *dg);
/* approve 1: submitted -> approved; 0: submitted -> rejected. CDR_NOTFOUND; CDR_EINVAL when the
 * request is not submitted (dg names its state). */
int cdr_req_decide(cdr_store *st, uint64_t id, int approve, const char *by, cdr_time now,
                   cdr_diag *dg);
/* approved -> done (by `cdrate requests apply` once the directory holds the change). */
int cdr_req_mark_done(cdr_store *st, uint64_t id, const char *by, cdr_time now, cdr_diag *dg);
int cdr_req_get(cdr_store *st, uint64_t id, cdr_request *out, cdr_diag *dg); /* CDR_NOTFOUND */
/* Every request of enterprise (0 = of every enterprise), newest first. */
int cdr_req_each(cdr_store *st, uint64_t enterprise, int (*fn)(void *arg, const cdr_request *rq),
                 void *arg, cdr_diag *dg);

#endif
