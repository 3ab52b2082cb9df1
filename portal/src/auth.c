/* auth.c - who is asking: sessions (cookies), API keys, logins with throttling, CSRF tokens
 * (docs/portal.md, "Sessions", "Login throttling", "CSRF").
 *
 * A session is 32 random bytes given to the browser once, as an HttpOnly SameSite=Strict cookie
 * (Secure under TLS); the store keeps only its SHA-256, with the user's login and generation, when
 * it was created, when it was last used and its CSRF token. It ends at logout, after the session
 * lifetime, after the idle time, and when the user's generation changes (new password, disabled).
 * Every comparison of a secret is constant-time (sodium_memcmp).
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr_fraud.h"
#include "cdr_live.h"
#include "cdr_payments.h"
#include "cdr_requests.h"
#include "server_int.h"

#define CDR_DB_SESSIONS "portal_sessions" /* SHA-256 of the token -> pt_session_rec */
#define IP_WINDOW       600               /* seconds */
#define IP_MAX_FAILURES 100               /* failed logins per address and window: 429 beyond */
#define SEEN_EVERY      60                /* last use written at most once a minute */

typedef struct pt_session_rec {
    char sr_login[CDR_NAME_MAX];
    uint32_t sr_generation;
    uint32_t sr_pad;
    int64_t sr_created;
    int64_t sr_last_seen;
    char sr_csrf[PT_TOKEN_LEN + 1];
    char sr_pad2[3];
} pt_session_rec;

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void random_token(char out[PT_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, PT_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

static int token_ok(const char *t)
{
    if (!t || strlen(t) != PT_TOKEN_LEN)
        return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

int pt_auth_init(pt_server *s, cdr_diag *dg)
{
    if (sodium_init() < 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "libsodium cannot start");
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->st->st_env, NULL, 0, &txn);
    if (rc)
        return cdr_store_err(rc, "begin", dg);
    MDB_dbi dbi;
    /* LMDB: mdb_dbi_open must not run in two transactions of one process at once. Every database
     * the server's threads read is opened here, once, before they start: their later opens only
     * find the handle. The portal's own are created now, so no request creates one. */
    static const char *const created[] = {CDR_DB_SESSIONS, CDR_DB_USERS, CDR_DB_APIKEYS,
                                          CDR_DB_REQUESTS, "portal_meta"};
    static const char *const existing[] = {
        CDR_DB_PLANS,      CDR_DB_PLAN_META,     CDR_DB_COUNTERS,   CDR_DB_CYCLES,
        CDR_DB_LIVE_LINES, CDR_DB_LIVE_ACCOUNTS, CDR_DB_LIVE_POOLS, CDR_DB_LIVE_APPLIED,
        CDR_DB_DIR_META,   CDR_DB_DIR_RECORDS,   CDR_DB_DIR_MSISDN, CDR_DB_PAYMENTS,
        CDR_DB_OVERDUE,    CDR_DB_FRAUD_RULES};
    for (size_t i = 0; i < sizeof created / sizeof *created; i++)
        if ((rc = cdr_store_dbi(txn, created[i], MDB_CREATE, &dbi, dg)) != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
    for (size_t i = 0; i < sizeof existing / sizeof *existing; i++)
        (void)mdb_dbi_open(txn, existing[i], 0, &dbi); /* absent ones stay absent */
    return cdr_store_err(mdb_txn_commit(txn), "open the store's databases", dg);
}

static int session_get(pt_server *s, const unsigned char key[32], pt_session_rec *out)
{
    MDB_txn *txn;
    if (mdb_txn_begin(s->st->st_env, NULL, MDB_RDONLY, &txn))
        return -1;
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, CDR_DB_SESSIONS, 0, &dbi);
    if (!rc) {
        MDB_val k = {32, (void *)key}, v;
        rc = mdb_get(txn, dbi, &k, &v);
        if (!rc && v.mv_size == sizeof *out)
            memcpy(out, v.mv_data, sizeof *out);
        else if (!rc)
            rc = -1;
    }
    mdb_txn_abort(txn);
    return rc;
}

/* put (rec non-NULL) or delete the session; on login also drops every ended session. */
static int session_write(pt_server *s, const unsigned char key[32], const pt_session_rec *rec,
                         int sweep)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->st->st_env, NULL, 0, &txn);
    if (rc)
        return rc;
    MDB_dbi dbi;
    if (!(rc = mdb_dbi_open(txn, CDR_DB_SESSIONS, 0, &dbi))) {
        MDB_val k = {32, (void *)key};
        if (rec) {
            MDB_val v = {sizeof *rec, (void *)rec};
            rc = mdb_put(txn, dbi, &k, &v, 0);
        } else {
            rc = mdb_del(txn, dbi, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    if (!rc && sweep) {
        MDB_cursor *cur;
        if (!(rc = mdb_cursor_open(txn, dbi, &cur))) {
            MDB_val k, v;
            int64_t now = now_s();
            int c = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            while (!c) {
                pt_session_rec sr;
                int ended = v.mv_size != sizeof sr;
                if (!ended) {
                    memcpy(&sr, v.mv_data, sizeof sr);
                    ended = now >= sr.sr_created + s->cfg.pc_session_ttl ||
                            now >= sr.sr_last_seen + s->cfg.pc_session_idle;
                }
                if (ended)
                    mdb_cursor_del(cur, 0);
                c = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            }
            mdb_cursor_close(cur);
        }
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

static void token_key(const char *token, unsigned char key[32])
{
    crypto_hash_sha256(key, (const unsigned char *)token, strlen(token));
}

static void cookie(pt_req *r, int slot, const char *name, const char *value, int64_t max_age)
{
    snprintf(r->set_cookie[slot], sizeof r->set_cookie[slot],
             "%s=%s; Path=/; Max-Age=%" PRId64 "; HttpOnly; SameSite=Strict%s", name, value,
             max_age, r->srv->tls ? "; Secure" : "");
}

static int identify_key(pt_req *r, const char *key)
{
    cdr_diag dg;
    cdr_apikey k;
    if (cdr_apikey_check(r->srv->st, key, strlen(key), &k, &dg) != 0)
        return pt_error(r, 401, "unauthorized", "the API key is not valid");
    r->id.id_kind = PT_KEY;
    r->id.id_key = k;
    return 0;
}

int pt_identify(pt_req *r)
{
    pt_server *s = r->srv;
    memset(&r->id, 0, sizeof r->id);
    const char *auth = pt_header(r, "Authorization");
    if (auth) {
        if (strncmp(auth, "Bearer ", 7) != 0)
            return pt_error(r, 401, "unauthorized",
                            "Authorization must be \"Bearer\" followed by an API key");
        return identify_key(r, auth + 7);
    }
    const char *xk = pt_header(r, "X-API-Key");
    if (xk)
        return identify_key(r, xk);
    const char *tok = pt_cookie(r, PT_SESSION_COOKIE);
    if (!token_ok(tok))
        return 0;
    unsigned char key[32];
    token_key(tok, key);
    pt_session_rec sr;
    if (session_get(s, key, &sr) != 0)
        return 0;
    int64_t now = now_s();
    cdr_user u;
    cdr_diag dg;
    if (now >= sr.sr_created + s->cfg.pc_session_ttl ||
        now >= sr.sr_last_seen + s->cfg.pc_session_idle ||
        cdr_user_get(s->st, sr.sr_login, &u, &dg) != 0 || u.us_disabled ||
        u.us_generation != sr.sr_generation) {
        session_write(s, key, NULL, 0); /* ended: gone from the store too */
        cookie(r, 0, PT_SESSION_COOKIE, "", 0);
        return 0;
    }
    if (now - sr.sr_last_seen >= SEEN_EVERY) {
        sr.sr_last_seen = now;
        session_write(s, key, &sr, 0);
    }
    r->id.id_kind = PT_USER;
    r->id.id_user = u;
    sodium_bin2hex(r->id.id_session, sizeof r->id.id_session, key, sizeof key);
    memcpy(r->id.id_csrf, sr.sr_csrf, sizeof r->id.id_csrf);
    return 0;
}

int pt_check_csrf(pt_req *r)
{
    if (r->id.id_kind != PT_USER)
        return 0; /* API keys are sent by programs, not by a browser on someone's behalf */
    char buf[PT_TOKEN_LEN + 8];
    const char *t = pt_header(r, "X-CSRF-Token");
    if (!t)
        t = pt_form(r, "csrf", buf, sizeof buf);
    if (!t || strlen(t) != PT_TOKEN_LEN || sodium_memcmp(t, r->id.id_csrf, PT_TOKEN_LEN) != 0) {
        pt_audit(r, "csrf", r->url, "refused", t ? "wrong token" : "no token");
        return pt_error(r, 403, "csrf",
                        "the form's CSRF token is missing or wrong: reload the "
                        "page and send it again");
    }
    return 0;
}

/* Count a failed login from r's address; 1 when the address is over its limit. */
static int ip_throttled(pt_server *s, const char *ip, int fail, int64_t now, int64_t *retry)
{
    uint32_t h = 2166136261u;
    for (const char *p = ip; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    pthread_mutex_lock(&s->throttle_mu);
    pt_ip_slot *sl = &s->ips[h % PT_IP_SLOTS];
    if (strcmp(sl->ip, ip) != 0 || now >= sl->window_start + IP_WINDOW) {
        snprintf(sl->ip, sizeof sl->ip, "%s", ip);
        sl->window_start = now;
        sl->failures = 0;
    }
    if (fail)
        sl->failures++;
    int over = sl->failures >= IP_MAX_FAILURES;
    *retry = sl->window_start + IP_WINDOW - now;
    pthread_mutex_unlock(&s->throttle_mu);
    return over;
}

int pt_login(pt_req *r, const char *login, const char *password)
{
    pt_server *s = r->srv;
    int64_t now = now_s(), retry;
    if (!login || !password || !*login || !*password)
        return pt_error(r, 400, "bad_request", "login and password are required");
    if (ip_throttled(s, r->ip, 0, now, &retry)) {
        snprintf(r->retry_after, sizeof r->retry_after, "%" PRId64, retry);
        pt_audit(r, "login", login, "throttled", "too many failed logins from this address");
        return pt_error(
            r, 429, "throttled",
            "too many failed logins from this address: try again in %" PRId64 " seconds", retry);
    }
    int res = CDR_LOGIN_BAD;
    cdr_user u;
    cdr_time locked_until = 0;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_user_login(s->st, login, password, now, s->cfg.pc_lockout, &res, &u, &locked_until,
                       &dg) != 0)
        return pt_error(r, 503, "unavailable", "the user store cannot be read");
    /* the audit names the login asked for as the target: r->id is still anonymous */
    if (res == CDR_LOGIN_LOCKED) {
        retry = locked_until > now ? locked_until - now : 1;
        snprintf(r->retry_after, sizeof r->retry_after, "%" PRId64, retry);
        pt_audit(r, "login", login, "locked", NULL);
        return pt_error(r, 429, "locked",
                        "too many failed logins: this login is locked for %" PRId64 " more seconds",
                        retry);
    }
    if (res != CDR_LOGIN_OK) {
        ip_throttled(s, r->ip, 1, now, &retry);
        pt_audit(r, "login", login, "refused",
                 res == CDR_LOGIN_DISABLED ? "disabled user" : "wrong login or password");
        return pt_error(r, 401, "unauthorized", "wrong login or password");
    }
    char token[PT_TOKEN_LEN + 1];
    random_token(token);
    pt_session_rec sr;
    memset(&sr, 0, sizeof sr);
    memcpy(sr.sr_login, u.us_login, sizeof sr.sr_login);
    sr.sr_generation = u.us_generation;
    sr.sr_created = now;
    sr.sr_last_seen = now;
    random_token(sr.sr_csrf);
    unsigned char key[32];
    token_key(token, key);
    if (session_write(s, key, &sr, 1) != 0)
        return pt_error(r, 503, "unavailable", "the session cannot be stored");
    cookie(r, 0, PT_SESSION_COOKIE, token, s->cfg.pc_session_ttl);
    sodium_memzero(token, sizeof token);
    r->id.id_kind = PT_USER;
    r->id.id_user = u;
    sodium_bin2hex(r->id.id_session, sizeof r->id.id_session, key, sizeof key);
    memcpy(r->id.id_csrf, sr.sr_csrf, sizeof r->id.id_csrf);
    pt_audit(r, "login", u.us_login, "allowed", NULL);
    return 0;
}

int pt_logout(pt_req *r)
{
    if (r->id.id_kind == PT_USER) {
        unsigned char key[32];
        size_t n;
        if (sodium_hex2bin(key, sizeof key, r->id.id_session, 64, NULL, &n, NULL) == 0 && n == 32)
            session_write(r->srv, key, NULL, 0);
        pt_audit(r, "logout", r->id.id_user.us_login, "done", NULL);
    }
    cookie(r, 0, PT_SESSION_COOKIE, "", 0);
    memset(&r->id, 0, sizeof r->id);
    return 0;
}

/* The login form's CSRF token (double submit: a cookie and the same value in the form). */
const char *pt_login_csrf(pt_req *r, char out[PT_TOKEN_LEN + 1])
{
    const char *c = pt_cookie(r, PT_LOGIN_COOKIE);
    if (token_ok(c)) {
        memcpy(out, c, PT_TOKEN_LEN + 1);
        return out;
    }
    random_token(out);
    cookie(r, 1, PT_LOGIN_COOKIE, out, 3600);
    return out;
}

int pt_check_login_csrf(pt_req *r)
{
    char buf[PT_TOKEN_LEN + 8];
    const char *c = pt_cookie(r, PT_LOGIN_COOKIE);
    const char *f = pt_form(r, "csrf", buf, sizeof buf);
    if (!token_ok(c) || !f || strlen(f) != PT_TOKEN_LEN || sodium_memcmp(c, f, PT_TOKEN_LEN) != 0) {
        pt_audit(r, "csrf", r->url, "refused", f ? "wrong token" : "no token");
        return pt_error(r, 403, "csrf",
                        "the login form's CSRF token is missing or wrong: reload the page");
    }
    return 0;
}
