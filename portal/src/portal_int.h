/* portal_int.h - internal to the portal: the server, one request, identities and the access rules.
 *
 * A request is handled on one of the server's worker threads: server.c reads it (headers, the body
 * up to PT_BODY_MAX), finds the identity (auth.c: the API key, else the session cookie), and calls
 * the route's handler (api.c for /api/v1, pages.c for the pages). A handler decides access with
 * pt_allow() on every object it shows, writes its body into r->out and sets r->status; server.c
 * sends it with the security headers. Errors go through pt_error(): JSON for API clients, an HTML
 * page for browsers.
 */
#ifndef PORTAL_INT_H
#define PORTAL_INT_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "cdr_dir.h"
#include "cdr_live.h"
#include "cdr_portal.h"
#include "cdr_redis.h"
#include "cdr_store.h"
#include "cdr_users.h"

#define PT_BODY_MAX       (64 * 1024) /* request body, bytes: 413 beyond */
#define PT_HEADERS_MAX    (16 * 1024) /* the request line and headers: 431 beyond */
#define PT_SESSION_COOKIE "cdrate_session"
#define PT_LANG_COOKIE    "cdrate_lang"
#define PT_LOGIN_COOKIE   "cdrate_login_csrf" /* the login form's CSRF token, before a session */
#define PT_TOKEN_LEN      43                  /* base64url of 32 random bytes */

typedef struct pt_server pt_server;

/* Who is asking. */
enum { PT_ANON = 0, PT_USER, PT_KEY };

typedef struct pt_ident {
    int id_kind; /* PT_ANON, PT_USER (a session), PT_KEY (an API key) */
    cdr_user id_user;
    cdr_apikey id_key;
    char id_session[65];            /* hex SHA-256 of the session token (its key in the store) */
    char id_csrf[PT_TOKEN_LEN + 1]; /* the session's CSRF token */
} pt_ident;

/* What is asked for (the access matrix of docs/portal.md). */
typedef enum pt_what {
    PT_LINE_BALANCE = 1, /* balance of a line */
    PT_LINE_USAGE,       /* usage, bundles, pools */
    PT_LINE_BILL,        /* bill to date */
    PT_LINE_OWNER,       /* the six-account view, status */
    PT_LINE_STATEMENT,   /* a member statement (audited) */
    PT_LINE_INVOICES,    /* the member account's invoices, payments, arrears */
    PT_ENT_OVERVIEW,     /* an enterprise's overview */
    PT_ENT_MEMBERS,      /* its members, their usage and status */
    PT_ENT_STATEMENT,    /* its enterprise statement (audited) */
    PT_ENT_INVOICES,     /* its invoices, payments and arrears */
    PT_ENT_WARNINGS,     /* pre-suspension warnings of its lines */
    PT_ENT_REQUESTS,     /* its requests: list */
    PT_ENT_REQUEST_SUBMIT,
    PT_ENT_REQUEST_DECIDE, /* approve or reject */
    PT_ADMIN,              /* users, keys: operators only */
    PT_WHAT_END
} pt_what;

/* The answer of pt_allow: allowed, or the status to refuse with. A kind of object the identity may
 * never see is 403; an object of that kind outside its scope is 404, as if it did not exist (so a
 * member who changes the number in a URL learns nothing about other lines); no identity at all is
 * 401. */
enum { PT_OK = 0, PT_UNAUTH = 401, PT_FORBIDDEN = 403, PT_HIDDEN = 404 };

/* The directory as the server holds it: read whole from the store, replaced when the store's
 * directory changes (pt_dir_get checks at most once a second); shared by reference. */
typedef struct pt_dir {
    cdr_dir *pd_dir;
    int pd_refs; /* under the server's lock */
} pt_dir;

typedef struct pt_req {
    pt_server *srv;
    void *conn; /* struct MHD_Connection */
    const char *method;
    const char *url; /* the path, percent-decoded by libmicrohttpd */
    char *body;      /* the request body, NUL-terminated (NULL when none) */
    size_t body_len;
    char ip[64];   /* the client's address */
    int api;       /* 1: under /api/v1 */
    int want_json; /* errors as JSON (API, or a client that does not accept text/html) */
    int lang;      /* CDR_STMT_EN or CDR_STMT_ZH_CN */
    int post;      /* method POST */
    pt_ident id;
    pt_dir *dir; /* the directory for this request (pt_dir_get), released by server.c */
    /* the response */
    int status;
    FILE *out; /* the body (open_memstream onto out_buf) */
    char *out_buf;
    size_t out_len;
    const char *ctype;
    char set_cookie[3][256]; /* 0 the session, 1 the login form's token, 2 the language */
    char location[512];
    char disposition[256]; /* Content-Disposition, "" for none */
    char retry_after[24];  /* Retry-After (429), "" for none */
    char allow[32];        /* Allow (405) */
    int truncate;          /* pt_error rewrote the body: out_len is its length */
    int sep;               /* writers of lists: an item was written (a comma before the next) */
} pt_req;

/* ---- server.c ----------------------------------------------------------------------------------
 */
const char *pt_header(pt_req *r, const char *name); /* a request header, or NULL */
const char *pt_arg(pt_req *r, const char *name);    /* a query-string argument, or NULL */
const char *pt_cookie(pt_req *r, const char *name); /* a cookie, or NULL */
/* A field of an application/x-www-form-urlencoded body (decoded into buf), or NULL. */
const char *pt_form(pt_req *r, const char *name, char *buf, size_t bufsize);
/* Refuse: status with a reason ("forbidden", "not_found", "bad_request", ...) and a message;
 * JSON {"error":{"status":..,"reason":..,"message":..}} or an HTML page. Returns status. */
int pt_error(pt_req *r, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Redirect (303) to location. */
int pt_redirect(pt_req *r, const char *location);
/* The worker thread's Redis connection (NULL when the server has none, or it cannot be reached:
 * dg says why); pt_redis_drop after a Redis error, so that the next request connects again. */
cdr_redis *pt_redis(pt_req *r, cdr_diag *dg);
void pt_redis_drop(pt_req *r);
cdr_store *pt_store(pt_server *s);
const cdr_plan_set *pt_plans(pt_server *s);
const cdr_portal_config *pt_config(pt_server *s);
/* The directory, held for this request (r->dir); NULL when the store has none. */
const cdr_dir *pt_dir_get(pt_req *r);
/* Valid UTF-8 without NUL: 1. */
int pt_utf8_ok(const char *s, size_t n);
/* Writers into r->out. */
void pt_json_str(pt_req *r, const char *s);
void pt_html(pt_req *r, const char *s); /* escaped for HTML text and attribute values */

/* ---- auth.c ------------------------------------------------------------------------------------
 */
/* Find the identity of r (API key in "Authorization: Bearer" or "X-API-Key", else the session
 * cookie). An invalid key is 401 (returned); an unknown, expired or ended session leaves PT_ANON.
 */
int pt_identify(pt_req *r);
/* For a state-changing request of a session: the CSRF token (form field "csrf" or header
 * "X-CSRF-Token") must match the session's. Returns 0 or 403 (already answered). */
int pt_check_csrf(pt_req *r);
/* Log in (login and password from a form or JSON): creates the session and sets the cookie.
 * Returns 0, or the status it answered with (400, 401, 429). */
int pt_login(pt_req *r, const char *login, const char *password);
int pt_logout(pt_req *r);
/* The login form's CSRF token (before any session: a cookie and the same value in the form):
 * the current one, or a new one with its cookie set on r. */
const char *pt_login_csrf(pt_req *r, char out[PT_TOKEN_LEN + 1]);
/* The login form's token checked against its cookie: 0 or 403 (answered). */
int pt_check_login_csrf(pt_req *r);

/* ---- access.c ----------------------------------------------------------------------------------
 */
/* May r's identity see `what` of the line msisdn (PT_LINE_*) or the enterprise (PT_ENT_*)? The
 * directory decides ownership: a member owns its line; an enterprise administrator its
 * enterprise and the lines of its current members; a manager the enterprises that name it, each
 * with its duties' kinds; an operator everything; an IVR key balance, usage and bill of any line.
 * *sb / *en get the directory records when found (may be NULL). Returns PT_OK, PT_FORBIDDEN or
 * PT_HIDDEN (an unknown line or enterprise is PT_HIDDEN too). */
int pt_allow_line(pt_req *r, int what, const char *msisdn, const cdr_dir_subscriber **sb);
int pt_allow_enterprise(pt_req *r, int what, uint64_t enterprise, const cdr_dir_enterprise **en);
/* Kinds of objects r's identity may ever see (no object): PT_OK or PT_FORBIDDEN. */
int pt_allow_kind(pt_req *r, int what);
/* The enterprises r's identity can see (an administrator's one, a manager's named ones; every
 * one for an operator): fn for each with the duties bits (all bits for non-managers). */
void pt_each_enterprise(pt_req *r,
                        void (*fn)(void *arg, const cdr_dir_enterprise *en, unsigned duties),
                        void *arg);

/* ---- audit.c -----------------------------------------------------------------------------------
 */
/* Append one line to the audit log: who (the login or key), role, from (the client address),
 * action ("statement.view", "login", "request.submit", ...), target ("line/8613800000001/2026-11"),
 * outcome ("allowed", "refused", "failed", "done") and an optional detail (no secrets). Returns 0,
 * or -1 when the line could not be written (a statement is then not shown: 503). */
int pt_audit(pt_req *r, const char *action, const char *target, const char *outcome,
             const char *detail);

/* ---- api.c / pages.c ---------------------------------------------------------------------------
 */
int pt_api(pt_req *r);   /* /api/v1/... */
int pt_pages(pt_req *r); /* everything else: /login, /logout, /static/..., then pt_page_route */
/* The pages of a logged-in user (pages_route.c). */
int pt_page_route(pt_req *r);
/* A page's head, header bar (user, language switch, logout form) and <h1>title</h1>; its end. */
void pt_page_begin(pt_req *r, const char *title);
void pt_page_end(pt_req *r);

#endif
