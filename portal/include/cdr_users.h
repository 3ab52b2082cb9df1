/* cdr_users.h - the portal's people and machine clients: users with roles, API keys with scopes.
 *
 * Kept in the store (LMDB), next to the directory they point into (docs/portal.md, "Users").
 * Passwords are hashed with Argon2id (libsodium crypto_pwhash_str, interactive limits); an API
 * key's secret is kept as its SHA-256 only. Nothing here ever stores or logs a password or a
 * secret in clear. Every function opens its own transaction (call with none open in this thread)
 * and may be called from several threads.
 */
#ifndef CDR_USERS_H
#define CDR_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_record.h"
#include "cdr_rules.h"
#include "cdr_store.h"
#include "cdr_time.h"

#define CDR_DB_USERS   "portal_users" /* login -> cdr_user */
#define CDR_DB_APIKEYS "portal_keys"  /* key name -> cdr_apikey */

#define CDR_USER_HASH_MAX 128 /* crypto_pwhash_STRBYTES */
#define CDR_PASSWORD_MIN  10  /* bytes */
#define CDR_PASSWORD_MAX  256 /* bytes */
/* Login throttling (docs/portal.md, "Login throttling"): after CDR_LOGIN_MAX_FAILS consecutive
 * failures the user is locked for the lockout period; while locked every attempt is refused without
 * looking at the password; the first success after the lock ends clears the count. */
#define CDR_LOGIN_MAX_FAILS 5

typedef enum cdr_role {
    CDR_ROLE_MEMBER = 1,       /* one line: us_msisdn */
    CDR_ROLE_ENTERPRISE_ADMIN, /* one enterprise and its members: us_enterprise */
    CDR_ROLE_MANAGER,          /* operator staff: the enterprises whose directory entry names
                                  this login as a manager, each with the duties it names */
    CDR_ROLE_OPERATOR,         /* operator administrator: everything */
    CDR_ROLE_END
} cdr_role;

/* "member", "enterprise-admin", "manager", "operator"; NULL when out of range. */
const char *cdr_role_name(int role);
/* The role named s, or 0. */
int cdr_role_parse(const char *s);

typedef struct cdr_user {
    char us_login[CDR_NAME_MAX]; /* letters, digits and . _ - @, 1 .. 31 bytes */
    uint8_t us_role;             /* cdr_role */
    uint8_t us_disabled;         /* 1 = may not log in; its sessions end */
    uint8_t us_pad[6];
    uint64_t us_enterprise;          /* enterprise administrator: the enterprise id, else 0 */
    char us_msisdn[CDR_NUMBER_MAX];  /* member: the line, else "" */
    char us_hash[CDR_USER_HASH_MAX]; /* Argon2id string (crypto_pwhash_str) */
    uint32_t us_generation;          /* bumped by passwd, disable and enable: older sessions end */
    uint32_t us_failed;              /* consecutive failed logins */
    cdr_time us_locked_until;        /* UTC seconds; 0 = not locked */
    cdr_time us_created;
    cdr_time us_changed;
} cdr_user;

/* Add a user (us_login, us_role, us_enterprise / us_msisdn as the role needs; the rest is set
 * here) with password (CDR_PASSWORD_MIN .. CDR_PASSWORD_MAX bytes, valid UTF-8). Errors: CDR_EINVAL
 * (bad login, role, scope or password; dg says which), CDR_EXISTS, store errors. */
int cdr_user_add(cdr_store *st, const cdr_user *u, const char *password, cdr_time now,
                 cdr_diag *dg);
/* New password; bumps the generation (every session of the user ends), clears a lock. */
int cdr_user_passwd(cdr_store *st, const char *login, const char *password, cdr_time now,
                    cdr_diag *dg);
/* disabled 1: disable (sessions end), 0: enable. CDR_NOTFOUND for an unknown login. */
int cdr_user_set_disabled(cdr_store *st, const char *login, int disabled, cdr_time now,
                          cdr_diag *dg);
/* CDR_NOTFOUND (no dg message) when there is no such user. */
int cdr_user_get(cdr_store *st, const char *login, cdr_user *out, cdr_diag *dg);
/* Every user in login order; a non-zero return of fn stops and is returned. */
int cdr_user_each(cdr_store *st, int (*fn)(void *arg, const cdr_user *u), void *arg, cdr_diag *dg);

/* The outcome of a login attempt. */
typedef enum cdr_login_result {
    CDR_LOGIN_OK = 0,
    CDR_LOGIN_BAD,      /* unknown login or wrong password (the same answer for both) */
    CDR_LOGIN_LOCKED,   /* locked until *locked_until: the password was not looked at */
    CDR_LOGIN_DISABLED, /* right password, disabled user: refused as CDR_LOGIN_BAD to the client */
} cdr_login_result;

/* Check a login: counts failures, locks for lockout seconds after CDR_LOGIN_MAX_FAILS in a row.
 * An unknown login costs one Argon2id verification too (against a fixed dummy hash), so the time
 * taken does not tell which logins exist. *res gets the outcome; *out the user on CDR_LOGIN_OK.
 * Returns 0, or store errors. */
int cdr_user_login(cdr_store *st, const char *login, const char *password, cdr_time now,
                   int64_t lockout, int *res, cdr_user *out, cdr_time *locked_until, cdr_diag *dg);

/* ---- API keys ----------------------------------------------------------------------------------
 * A key is shown once, when added: "cdk_" NAME "_" 43 base64url characters (256 random bits).
 * Scopes: CDR_SCOPE_IVR may read balance, usage and bill-to-date of any number, nothing else. */
enum { CDR_SCOPE_IVR = 1u << 0 };
#define CDR_APIKEY_MAX 96 /* the longest key text, including the NUL */

typedef struct cdr_apikey {
    char ak_name[CDR_NAME_MAX]; /* letters, digits, . and - (no _), 1 .. 31 bytes */
    uint32_t ak_scopes;
    uint8_t ak_disabled;
    uint8_t ak_pad[3];
    uint8_t ak_hash[32]; /* SHA-256 of the whole key text */
    cdr_time ak_created;
} cdr_apikey;

/* "ivr"; NULL when unknown. */
const char *cdr_scope_name(uint32_t scope);
uint32_t cdr_scope_parse(const char *s); /* 0 when unknown */

/* Add a key: key[CDR_APIKEY_MAX] gets its text (shown once). CDR_EXISTS, CDR_EINVAL. */
int cdr_apikey_add(cdr_store *st, const char *name, uint32_t scopes, cdr_time now, char *key,
                   cdr_diag *dg);
int cdr_apikey_revoke(cdr_store *st, const char *name, cdr_diag *dg); /* CDR_NOTFOUND */
int cdr_apikey_each(cdr_store *st, int (*fn)(void *arg, const cdr_apikey *k), void *arg,
                    cdr_diag *dg);
/* The key named by the text key, when its hash matches (constant-time) and it is not revoked:
 * 0 with *out; CDR_NOTFOUND (no dg message) otherwise, whatever the reason. */
int cdr_apikey_check(cdr_store *st, const char *key, size_t len, cdr_apikey *out, cdr_diag *dg);

#endif
