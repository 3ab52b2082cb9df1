/* cdr_requests.h - requests for standard changes, from an enterprise to the operator.
 *
 * An enterprise administrator (or one of the enterprise's managers) submits a request; the
 * enterprise's account or service manager (or an operator) approves or rejects it; an operator
 * applies an approved request to the directory with `cdrate requests apply` (audited), which marks
 * it done. States: submitted -> approved -> done, or submitted -> rejected (docs/requests.md).
 * Who may take which step is the caller's to decide (the portal's access control, or the
 * operator's command line): these functions check the request, not the person.
 *
 * Kept in the store (portal/src/requests.c): database CDR_DB_REQUESTS, key the id as be64, value
 * the cdr_request struct verbatim; the next id under the key CDR_REQ_NEXT_KEY of the database
 * CDR_DB_PORTAL_META. Every function opens its own transaction (call it with none open in this
 * thread). Errors: CDR_EINVAL (dg names the field, or the request's state), CDR_NOTFOUND ("no
 * request 5"), CDR_FORMAT for a corrupt entry, else those of cdr_store_err (CDR_STORE, CDR_EIO,
 * CDR_LIMIT).
 */
#ifndef CDR_REQUESTS_H
#define CDR_REQUESTS_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_record.h"
#include "cdr_rules.h"
#include "cdr_store.h"
#include "cdr_time.h"

#define CDR_DB_REQUESTS "portal_requests" /* be64 id -> cdr_request */
#ifndef CDR_DB_PORTAL_META
#define CDR_DB_PORTAL_META "portal_meta" /* the portal's small state, under named keys */
#endif
#define CDR_REQ_NEXT_KEY "requests_next" /* in CDR_DB_PORTAL_META: be64, the next request id */
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
int cdr_req_state_parse(const char *s);

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

/* Non-zero when s[0..cap) holds a NUL-terminated name by the directory's rule (plan ids, logins):
 * letters, digits and . _ - @, 1 .. 31 bytes. */
int cdr_req_name_valid(const char *s, size_t cap);
/* Non-zero when s[0..cap) holds a NUL-terminated MSISDN: 1 .. CDR_NUMBER_MAX - 1 digits. */
int cdr_req_msisdn_valid(const char *s, size_t cap);
/* The checks of cdr_req_submit on the submitted fields, without the store: 0, or CDR_EINVAL with
 * the field and the reason in dg ("msisdn: '12a' is not 1 to 23 digits"). The kind's fields are
 * required and the other kinds' must be empty (0, ""): rq_msisdn always; rq_product (1 .. 2^63-1)
 * for add_member; rq_plan (a name) for change_plan; rq_cap (>= 0) for raise_cap. rq_enterprise
 * 1 .. 2^63-1; rq_note UTF-8 without control characters (C0 such as CR, LF and tab; DEL; C1), at
 * most CDR_REQ_NOTE_MAX - 1 bytes, may be empty; rq_submitted_by a name. The id, the state, the
 * other logins and the times are not looked at. */
int cdr_req_validate(const cdr_request *rq, cdr_diag *dg);

/* Submit: rq_enterprise, rq_kind and the fields the kind needs, rq_note, rq_submitted_by; the id,
 * state and times are set here (*id, may be NULL, gets the id). CDR_EINVAL for a missing or
 * malformed field (cdr_req_validate). Needs a store opened for writing. */
int cdr_req_submit(cdr_store *st, const cdr_request *rq, cdr_time now, uint64_t *id, cdr_diag *dg);
/* approve 1: submitted -> approved; 0: submitted -> rejected. CDR_NOTFOUND; CDR_EINVAL when the
 * request is not submitted ("request 5 is approved: only a submitted request can be rejected").
 * by (a login, the rule of cdr_req_name_valid, else CDR_EINVAL) and now are recorded as
 * rq_decided_by and rq_decided_at. A refused transition changes nothing. */
int cdr_req_decide(cdr_store *st, uint64_t id, int approve, const char *by, cdr_time now,
                   cdr_diag *dg);
/* approved -> done (by `cdrate requests apply` once the directory holds the change): by and now
 * recorded as rq_applied_by and rq_applied_at. CDR_NOTFOUND; CDR_EINVAL when the request is not
 * approved ("request 5 is submitted: only an approved request can be marked done"). */
int cdr_req_mark_done(cdr_store *st, uint64_t id, const char *by, cdr_time now, cdr_diag *dg);
/* The request id into *out: 0, CDR_NOTFOUND ("no request 5"), CDR_FORMAT, CDR_STORE. */
int cdr_req_get(cdr_store *st, uint64_t id, cdr_request *out, cdr_diag *dg);
/* Every request of enterprise (0 = of every enterprise), newest first (by id, descending). The
 * requests are copied out first: fn runs with no transaction open and may use the store. fn
 * returns 0 to go on; anything else stops the walk and is returned. */
int cdr_req_each(cdr_store *st, uint64_t enterprise, int (*fn)(void *arg, const cdr_request *rq),
                 void *arg, cdr_diag *dg);

/* ---- applying a request to the directory (portal/src/requests_apply.c) -------------------------
 * cdr_req_apply amends the directory file dir_path (docs/directory.md) with an approved request's
 * change (docs/requests.md, "Applying a request"), loads the amended file into the store and
 * marks the request done, all or nothing:
 *   1. the request must be approved; dir_path must validate as it is;
 *   2. the change is checked against the directory of dir_path (the line exists, is or is not a
 *      member of the request's enterprise, the product is the enterprise's, the new plan is
 *      compiled in the store...);
 *   3. the amended file is written beside dir_path (dir_path.req-XXXXXX, with dir_path's mode),
 *      fsync'd and validated (cdr_dir_parse_file, as cdr_dir_load_file does); it is written into
 *      the store (cdr_dir_write, one transaction), then renamed over dir_path and the folder
 *      fsync'd; should the rename fail, the store gets the previous directory back;
 *   4. the request is marked done (by, now).
 * A refusal leaves dir_path byte-identical, and the store's directory and the request as they
 * were. Concurrent applies on one store wait for each other (flock on STORE/requests.lock).
 * The store must be open for writing; no other cdr_dir_* store call may run on it meanwhile. */
typedef enum cdr_req_outcome {
    CDR_REQ_APPLIED = 1, /* done: the file, the store and the request changed */
    CDR_REQ_UNKNOWN,     /* no request with that id (CDR_NOTFOUND) */
    CDR_REQ_REFUSED,     /* the request or its change was refused: nothing changed */
    CDR_REQ_FAILED       /* the environment failed (I/O, store); dg says what holds what */
} cdr_req_outcome;

typedef struct cdr_req_applied {
    int ra_outcome;          /* cdr_req_outcome */
    uint64_t ra_enterprise;  /* the request's enterprise (0 when the request is unknown) */
    uint64_t ra_subscriber;  /* the line's subscriber id (0 when not found) */
    char ra_records[2][512]; /* the records amended and appended, as in the file, or "" */
} cdr_req_applied;

/* Returns 0 (ra_outcome CDR_REQ_APPLIED), or the error code with dg; out (not NULL) gets the
 * outcome. */
int cdr_req_apply(cdr_store *st, uint64_t id, const char *dir_path, const char *by, cdr_time now,
                  cdr_req_applied *out, cdr_diag *dg);

#endif
