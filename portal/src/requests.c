/* requests.c - requests for standard changes in the store (cdr_requests.h, docs/requests.md).
 *
 * Database CDR_DB_REQUESTS: key the request id as be64 (so the keys sort by id, oldest first),
 * value the cdr_request struct verbatim (host-endian, like the directory's records: the store is
 * local to the machine). The next id is kept in the database CDR_DB_PORTAL_META under the key
 * "requests_next" (be64), read and bumped in the submit's own write transaction, so two submits
 * never get the same id and an aborted submit uses none.
 */
#include <stdlib.h>
#include <string.h>

#include "cdr_bytes.h"
#include "cdr_requests.h"

static const char *const kind_names[CDR_REQ_KIND_END] = {NULL, "add_member", "remove_member",
                                                         "change_plan", "raise_cap"};
static const char *const state_names[CDR_REQ_STATE_END] = {NULL, "submitted", "approved", "done",
                                                           "rejected"};

const char *cdr_req_kind_name(int kind)
{
    return kind > 0 && kind < CDR_REQ_KIND_END ? kind_names[kind] : NULL;
}

int cdr_req_kind_parse(const char *s)
{
    for (int k = 1; s && k < CDR_REQ_KIND_END; k++)
        if (!strcmp(s, kind_names[k]))
            return k;
    return 0;
}

const char *cdr_req_state_name(int state)
{
    return state > 0 && state < CDR_REQ_STATE_END ? state_names[state] : NULL;
}

int cdr_req_state_parse(const char *s)
{
    for (int k = 1; s && k < CDR_REQ_STATE_END; k++)
        if (!strcmp(s, state_names[k]))
            return k;
    return 0;
}

/* ---- validation --------------------------------------------------------------------------------
 */

/* The length of the NUL-terminated string in s[0..cap), or cap when it has no NUL there. */
static size_t field_len(const char *s, size_t cap)
{
    const char *nul = memchr(s, '\0', cap);
    return nul ? (size_t)(nul - s) : cap;
}

int cdr_req_name_valid(const char *s, size_t cap)
{
    const size_t n = field_len(s, cap);
    if (n == 0 || n >= cap || n >= CDR_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return 0;
    }
    return 1;
}

int cdr_req_msisdn_valid(const char *s, size_t cap)
{
    const size_t n = field_len(s, cap);
    if (n == 0 || n >= cap || n >= CDR_NUMBER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* 0 when s[0..n) is UTF-8 (shortest forms, no surrogates, at most U+10FFFF) without control
 * characters (C0, DEL, C1); else the offset + 1 of the first bad byte, *why what is wrong. */
static size_t note_bad(const unsigned char *s, size_t n, const char **why)
{
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f) {
            *why = "a control character";
            return i + 1;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, cp = c & 0x07, min = 0x10000;
        else {
            *why = "invalid UTF-8";
            return i + 1;
        }
        if (i + len > n) {
            *why = "invalid UTF-8";
            return i + 1;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                *why = "invalid UTF-8";
                return i + 1;
            }
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            *why = "invalid UTF-8";
            return i + 1;
        }
        if (cp >= 0x80 && cp <= 0x9f) {
            *why = "a control character";
            return i + 1;
        }
        i += len;
    }
    return 0;
}

int cdr_req_validate(const cdr_request *rq, cdr_diag *dg)
{
    if (!rq)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no request");
    const char *kind = cdr_req_kind_name(rq->rq_kind);
    if (!kind)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "kind %u is not one of add_member, remove_member, change_plan, "
                            "raise_cap",
                            (unsigned)rq->rq_kind);
    if (rq->rq_enterprise == 0 || rq->rq_enterprise > (uint64_t)INT64_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "enterprise: %llu is not an id (1 .. 9223372036854775807)",
                            (unsigned long long)rq->rq_enterprise);
    if (!cdr_req_msisdn_valid(rq->rq_msisdn, sizeof rq->rq_msisdn))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "msisdn: '%.*s' is not 1 to %d digits",
                            (int)field_len(rq->rq_msisdn, sizeof rq->rq_msisdn), rq->rq_msisdn,
                            CDR_NUMBER_MAX - 1);
    const int k = rq->rq_kind;
    /* the fields of the kind, and no other */
    if (k == CDR_REQ_ADD_MEMBER) {
        if (rq->rq_product == 0 || rq->rq_product > (uint64_t)INT64_MAX)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "product: add_member needs a product id (1 .. "
                                "9223372036854775807)");
    } else if (rq->rq_product)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "product: only add_member names a product");
    if (k == CDR_REQ_CHANGE_PLAN) {
        if (!cdr_req_name_valid(rq->rq_plan, sizeof rq->rq_plan))
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "plan: '%.*s' is not a plan id (letters, digits and . _ - @, 1 .. "
                                "31 bytes)",
                                (int)field_len(rq->rq_plan, sizeof rq->rq_plan), rq->rq_plan);
    } else if (rq->rq_plan[0])
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "plan: only change_plan names a plan");
    if (k == CDR_REQ_RAISE_CAP) {
        if (rq->rq_cap < 0)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cap: a cap is 0 or more");
    } else if (rq->rq_cap)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cap: only raise_cap names a cap");
    const size_t nl = field_len(rq->rq_note, sizeof rq->rq_note);
    if (nl >= sizeof rq->rq_note)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "note: longer than %d bytes",
                            CDR_REQ_NOTE_MAX - 1);
    const char *why = NULL;
    const size_t bad = note_bad((const unsigned char *)rq->rq_note, nl, &why);
    if (bad)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "note: %s at byte %zu", why, bad);
    if (!cdr_req_name_valid(rq->rq_submitted_by, sizeof rq->rq_submitted_by))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "submitted_by: '%.*s' is not a login (letters, digits and . _ - @, "
                            "1 .. 31 bytes)",
                            (int)field_len(rq->rq_submitted_by, sizeof rq->rq_submitted_by),
                            rq->rq_submitted_by);
    return 0;
}

/* ---- the store ----------------------------------------------------------------------------- */

static int store_check(const cdr_store *st, cdr_diag *dg)
{
    if (!st || !st->st_env)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store");
    return 0;
}

/* Copy a stored value into *out: CDR_FORMAT when it is not a request. */
static int value_get(const cdr_store *st, const MDB_val *k, const MDB_val *v, cdr_request *out,
                     cdr_diag *dg)
{
    if (k->mv_size != 8 || v->mv_size != sizeof *out)
        return cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0,
                            "corrupt entry in database " CDR_DB_REQUESTS);
    memcpy(out, v->mv_data, sizeof *out);
    if (out->rq_id != cdr_get_be64(k->mv_data) || !cdr_req_kind_name(out->rq_kind) ||
        !cdr_req_state_name(out->rq_state))
        return cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0,
                            "corrupt entry in database " CDR_DB_REQUESTS);
    /* strings end inside their arrays, whatever the file holds */
    out->rq_msisdn[sizeof out->rq_msisdn - 1] = '\0';
    out->rq_plan[sizeof out->rq_plan - 1] = '\0';
    out->rq_note[sizeof out->rq_note - 1] = '\0';
    out->rq_submitted_by[sizeof out->rq_submitted_by - 1] = '\0';
    out->rq_decided_by[sizeof out->rq_decided_by - 1] = '\0';
    out->rq_applied_by[sizeof out->rq_applied_by - 1] = '\0';
    return 0;
}

int cdr_req_submit(cdr_store *st, const cdr_request *rq, cdr_time now, uint64_t *id, cdr_diag *dg)
{
    int rc = store_check(st, dg);
    if (rc || (rc = cdr_req_validate(rq, dg)) != 0)
        return rc;
    cdr_request r;
    memset(&r, 0, sizeof r);
    r.rq_enterprise = rq->rq_enterprise;
    r.rq_kind = rq->rq_kind;
    r.rq_state = CDR_REQ_SUBMITTED;
    memcpy(r.rq_msisdn, rq->rq_msisdn, sizeof r.rq_msisdn);
    r.rq_product = rq->rq_product;
    memcpy(r.rq_plan, rq->rq_plan, sizeof r.rq_plan);
    r.rq_cap = rq->rq_cap;
    memcpy(r.rq_note, rq->rq_note, sizeof r.rq_note);
    memcpy(r.rq_submitted_by, rq->rq_submitted_by, sizeof r.rq_submitted_by);
    r.rq_submitted_at = now;

    MDB_txn *txn;
    MDB_dbi meta, dbi;
    if ((rc = mdb_txn_begin(st->st_env, NULL, 0, &txn)) != 0)
        return cdr_store_err(rc, "begin request submit", dg);
    if ((rc = cdr_store_dbi(txn, CDR_DB_PORTAL_META, MDB_CREATE, &meta, dg)) != 0 ||
        (rc = cdr_store_dbi(txn, CDR_DB_REQUESTS, MDB_CREATE, &dbi, dg)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    static const char next_key[] = CDR_REQ_NEXT_KEY;
    MDB_val mk = {sizeof next_key - 1, (void *)next_key}, mv;
    uint64_t next = 1;
    rc = mdb_get(txn, meta, &mk, &mv);
    if (rc == 0) {
        if (mv.mv_size != 8) {
            mdb_txn_abort(txn);
            return cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0,
                                "corrupt key '" CDR_REQ_NEXT_KEY
                                "' in database " CDR_DB_PORTAL_META);
        }
        next = cdr_get_be64(mv.mv_data);
    } else if (rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "read request counter", dg);
    }
    if (next == 0 || next > (uint64_t)INT64_MAX) {
        mdb_txn_abort(txn);
        return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0, "no request id left");
    }
    r.rq_id = next;
    uint8_t kb[8], nb[8];
    cdr_put_be64(kb, r.rq_id);
    cdr_put_be64(nb, next + 1);
    MDB_val k = {sizeof kb, kb}, v = {sizeof r, &r}, nv = {sizeof nb, nb};
    if ((rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE)) != 0 ||
        (rc = mdb_put(txn, meta, &mk, &nv, 0)) != 0) {
        mdb_txn_abort(txn);
        if (rc == MDB_KEYEXIST)
            return cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0,
                                "request %llu already exists: the counter '" CDR_REQ_NEXT_KEY
                                "' of database " CDR_DB_PORTAL_META " is behind",
                                (unsigned long long)r.rq_id);
        return cdr_store_err(rc, "write request", dg);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return cdr_store_err(rc, "commit request submit", dg);
    if (id)
        *id = r.rq_id;
    return 0;
}

/* A read transaction on the requests; *found 0 (and the transaction ended) when the store has no
 * request database yet. */
static int read_begin(cdr_store *st, MDB_txn **txn, MDB_dbi *dbi, int *found, cdr_diag *dg)
{
    *found = 0;
    int rc = store_check(st, dg);
    if (rc)
        return rc;
    if ((rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, txn)) != 0)
        return cdr_store_err(rc, "begin requests read", dg);
    rc = mdb_dbi_open(*txn, CDR_DB_REQUESTS, 0, dbi);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(*txn);
        *txn = NULL;
        return 0;
    }
    if (rc) {
        mdb_txn_abort(*txn);
        *txn = NULL;
        return cdr_store_err(rc, "open database " CDR_DB_REQUESTS, dg);
    }
    *found = 1;
    return 0;
}

static int not_found(uint64_t id, cdr_diag *dg)
{
    return cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "no request %llu", (unsigned long long)id);
}

int cdr_req_get(cdr_store *st, uint64_t id, cdr_request *out, cdr_diag *dg)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = read_begin(st, &txn, &dbi, &found, dg);
    if (rc)
        return rc;
    if (!found)
        return not_found(id, dg);
    uint8_t kb[8];
    cdr_put_be64(kb, id);
    MDB_val k = {sizeof kb, kb}, v;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = not_found(id, dg);
    else if (rc)
        rc = cdr_store_err(rc, "read request", dg);
    else
        rc = value_get(st, &k, &v, out, dg);
    mdb_txn_abort(txn);
    return rc;
}

/* Move request id from state `from` to `to` in one write transaction; `what` names the step in
 * the refusal ("approved", "rejected", "marked done"). */
static int transition(cdr_store *st, uint64_t id, int from, int to, const char *by, cdr_time now,
                      const char *what, cdr_diag *dg)
{
    int rc = store_check(st, dg);
    if (rc)
        return rc;
    if (!by || !cdr_req_name_valid(by, CDR_NAME_MAX))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "by: '%s' is not a login (letters, digits and . _ - @, 1 .. 31 "
                            "bytes)",
                            by ? by : "");
    MDB_txn *txn;
    MDB_dbi dbi;
    if ((rc = mdb_txn_begin(st->st_env, NULL, 0, &txn)) != 0)
        return cdr_store_err(rc, "begin request update", dg);
    rc = mdb_dbi_open(txn, CDR_DB_REQUESTS, 0, &dbi);
    if (rc) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? not_found(id, dg)
                                  : cdr_store_err(rc, "open database " CDR_DB_REQUESTS, dg);
    }
    uint8_t kb[8];
    cdr_put_be64(kb, id);
    MDB_val k = {sizeof kb, kb}, v;
    cdr_request r;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = not_found(id, dg);
    else if (rc)
        rc = cdr_store_err(rc, "read request", dg);
    else
        rc = value_get(st, &k, &v, &r, dg);
    if (!rc && r.rq_state != from)
        rc = cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                          "request %llu is %s: only %s %s request can be %s",
                          (unsigned long long)id, cdr_req_state_name(r.rq_state),
                          from == CDR_REQ_APPROVED ? "an" : "a", cdr_req_state_name(from), what);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    r.rq_state = (uint8_t)to;
    if (to == CDR_REQ_DONE) {
        snprintf(r.rq_applied_by, sizeof r.rq_applied_by, "%s", by);
        r.rq_applied_at = now;
    } else {
        snprintf(r.rq_decided_by, sizeof r.rq_decided_by, "%s", by);
        r.rq_decided_at = now;
    }
    v.mv_size = sizeof r;
    v.mv_data = &r;
    if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "write request", dg);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return cdr_store_err(rc, "commit request update", dg);
    return 0;
}

int cdr_req_decide(cdr_store *st, uint64_t id, int approve, const char *by, cdr_time now,
                   cdr_diag *dg)
{
    return transition(st, id, CDR_REQ_SUBMITTED, approve ? CDR_REQ_APPROVED : CDR_REQ_REJECTED, by,
                      now, approve ? "approved" : "rejected", dg);
}

int cdr_req_mark_done(cdr_store *st, uint64_t id, const char *by, cdr_time now, cdr_diag *dg)
{
    return transition(st, id, CDR_REQ_APPROVED, CDR_REQ_DONE, by, now, "marked done", dg);
}

int cdr_req_each(cdr_store *st, uint64_t enterprise, int (*fn)(void *arg, const cdr_request *rq),
                 void *arg, cdr_diag *dg)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = read_begin(st, &txn, &dbi, &found, dg);
    if (rc || !found)
        return rc;
    /* Copied out first, so that fn runs with no transaction open (it may use the store). */
    cdr_request *list = NULL;
    size_t n = 0, cap = 0;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "open requests cursor", dg);
    }
    MDB_val k, v;
    int g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_LAST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        cdr_request r;
        if ((rc = value_get(st, &k, &v, &r, dg)) != 0)
            break;
        if (enterprise && r.rq_enterprise != enterprise)
            continue;
        if (n == cap) {
            const size_t ncap = cap ? cap * 2 : 64;
            cdr_request *nl = realloc(list, ncap * sizeof *nl);
            if (!nl) {
                rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
                break;
            }
            list = nl;
            cap = ncap;
        }
        list[n++] = r;
    }
    if (!rc && g != MDB_NOTFOUND)
        rc = cdr_store_err(g, "read requests", dg);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    for (size_t i = 0; i < n && !rc; i++)
        rc = fn(arg, &list[i]);
    free(list);
    return rc;
}
