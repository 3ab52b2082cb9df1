/* users.c - the portal's users (Argon2id passwords, login throttling) and API keys (SHA-256 of
 * the key text), kept in the store (cdr_users.h, docs/users.md).
 *
 * Database CDR_DB_USERS: key the login's bytes (no NUL), value a cdr_user verbatim. Database
 * CDR_DB_APIKEYS: key the key's name, value a cdr_apikey verbatim. A value of another size, or
 * whose name is not its key, is a damaged entry (CDR_FORMAT).
 *
 * Threads: LMDB's mdb_dbi_open may not run in two transactions of one process at the same time,
 * and a transaction that opened a new handle must end before another calls it. Every transaction
 * of this module is short (point reads and writes, never a password hash inside one) and runs
 * under users_lock, so the module can be called from several threads. The slow Argon2id work
 * (50-100 ms) is always done with no transaction open and the lock released.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_users.h"

static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- names and text ----------------------------------------------------------------------------
 */

static const char *const role_names[CDR_ROLE_END] = {
    [CDR_ROLE_MEMBER] = "member",
    [CDR_ROLE_ENTERPRISE_ADMIN] = "enterprise-admin",
    [CDR_ROLE_MANAGER] = "manager",
    [CDR_ROLE_OPERATOR] = "operator",
};

const char *cdr_role_name(int role)
{
    return role > 0 && role < CDR_ROLE_END ? role_names[role] : NULL;
}

int cdr_role_parse(const char *s)
{
    for (int r = 1; s && r < CDR_ROLE_END; r++)
        if (!strcmp(s, role_names[r]))
            return r;
    return 0;
}

const char *cdr_scope_name(uint32_t scope)
{
    return scope == CDR_SCOPE_IVR ? "ivr" : NULL;
}

uint32_t cdr_scope_parse(const char *s)
{
    return s && !strcmp(s, "ivr") ? CDR_SCOPE_IVR : 0;
}

static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int cdr_user_login_valid(const char *login)
{
    if (!login)
        return 0;
    size_t n = 0;
    for (; login[n]; n++)
        if (!is_alnum((unsigned char)login[n]) && !strchr("._-@", login[n]))
            return 0;
    return n >= 1 && n < CDR_NAME_MAX;
}

int cdr_apikey_name_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = 0;
    for (; name[n]; n++)
        if (!is_alnum((unsigned char)name[n]) && name[n] != '.' && name[n] != '-')
            return 0;
    return n >= 1 && n < CDR_NAME_MAX;
}

/* Non-zero when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

int cdr_user_password_check(const char *password, size_t len, cdr_diag *dg)
{
    if (!password)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no password");
    if (memchr(password, '\0', len))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "the password contains a NUL byte");
    if (len < CDR_PASSWORD_MIN)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "the password is too short: %zu bytes, at least %d", len,
                            CDR_PASSWORD_MIN);
    if (len > CDR_PASSWORD_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "the password is too long: %zu bytes, at most %d", len,
                            CDR_PASSWORD_MAX);
    if (!utf8_valid((const unsigned char *)password, len))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "the password is not valid UTF-8");
    return 0;
}

/* The login, role and scope fields of u, as cdr_user_add needs them. */
static int user_fields_check(const cdr_user *u, cdr_diag *dg)
{
    if (memchr(u->us_login, '\0', sizeof u->us_login) == NULL || !cdr_user_login_valid(u->us_login))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "a login is 1 to %d letters, digits, '.', '_', '-' or '@'",
                            CDR_NAME_MAX - 1);
    if (!cdr_role_name(u->us_role))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "unknown role %u", u->us_role);
    const size_t mlen = strnlen(u->us_msisdn, sizeof u->us_msisdn);
    if (mlen == sizeof u->us_msisdn)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "the msisdn is too long");
    const char *role = cdr_role_name(u->us_role);
    switch (u->us_role) {
    case CDR_ROLE_MEMBER:
        if (mlen == 0 || strspn(u->us_msisdn, "0123456789") != mlen)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "a member needs an msisdn of 1 to %d digits", CDR_NUMBER_MAX - 1);
        if (u->us_enterprise)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "a member has no enterprise");
        break;
    case CDR_ROLE_ENTERPRISE_ADMIN:
        if (u->us_enterprise == 0 || u->us_enterprise > (uint64_t)INT64_MAX)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "an enterprise-admin needs an enterprise id (1 .. 2^63-1)");
        if (mlen)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "an enterprise-admin has no msisdn");
        break;
    default:
        if (mlen || u->us_enterprise)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "a %s has neither msisdn nor enterprise", role);
    }
    return 0;
}

/* ---- libsodium ------------------------------------------------------------------------------- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;
/* An Argon2id string of a password nobody knows: an unknown login is verified against it, so
 * that it costs what a known one costs. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static int dummy_ok;

static void sodium_setup(void)
{
    if (sodium_init() < 0)
        return;
    sodium_ok = 1;
    unsigned char pw[32];
    randombytes_buf(pw, sizeof pw);
    dummy_ok = crypto_pwhash_str(dummy_hash, (const char *)pw, sizeof pw,
                                 crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                 crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
    sodium_memzero(pw, sizeof pw);
}

static int sodium_ready(cdr_diag *dg)
{
    pthread_once(&sodium_once, sodium_setup);
    if (!sodium_ok)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "libsodium cannot be initialised");
    return 0;
}

static int hash_password(const char *password, char out[CDR_USER_HASH_MAX], cdr_diag *dg)
{
    _Static_assert(crypto_pwhash_STRBYTES <= CDR_USER_HASH_MAX, "room for an Argon2id string");
    memset(out, 0, CDR_USER_HASH_MAX);
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0,
                            "out of memory hashing the password (Argon2id needs 64 MiB)");
    return 0;
}

/* ---- transactions ------------------------------------------------------------------------------
 */

/* Database handles already opened and committed, per open store (a full cache is not used): a read
 * that finds its handle here runs without users_lock (an open handle stays valid for every later
 * transaction). */
#define DBI_CACHE 8
static struct {
    uint64_t dc_store; /* cdr_store.st_id */
    const char *dc_name;
    MDB_dbi dc_dbi;
} dbi_cache[DBI_CACHE];
static _Thread_local int holds_lock;      /* this thread's transaction runs under users_lock */
static _Thread_local const char *pending; /* the name its handle is cached under at commit */
static _Thread_local uint64_t pending_store;
static _Thread_local MDB_dbi pending_dbi_value;

static int cached_dbi(uint64_t store, const char *name, MDB_dbi *dbi)
{
    for (int i = 0; i < DBI_CACHE; i++)
        if (dbi_cache[i].dc_store == store && dbi_cache[i].dc_name == name) {
            *dbi = dbi_cache[i].dc_dbi;
            return 1;
        }
    return 0;
}

/* Begin a transaction (read-only unless write) and open the database name (created when write):
 * under users_lock, except a read whose handle is cached. *found 0 when a read finds no such
 * database: the transaction is then already ended. On error nothing is left open. */
static int db_begin(cdr_store *st, int write, const char *name, MDB_txn **txn, MDB_dbi *dbi,
                    int *found, cdr_diag *dg)
{
    *txn = NULL;
    *found = 0;
    if (!st || !st->st_env)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store");
    pthread_mutex_lock(&users_lock);
    if (!write && cached_dbi(st->st_id, name, dbi)) {
        pthread_mutex_unlock(&users_lock);
        holds_lock = 0;
        int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, txn);
        if (rc) {
            *txn = NULL;
            return cdr_store_err(rc, "begin users read", dg);
        }
        *found = 1;
        return 0;
    }
    holds_lock = 1;
    pending = name;
    pending_store = st->st_id;
    int rc = mdb_txn_begin(st->st_env, NULL, write ? 0 : MDB_RDONLY, txn);
    if (rc) {
        pthread_mutex_unlock(&users_lock);
        *txn = NULL;
        return cdr_store_err(rc, write ? "begin users write" : "begin users read", dg);
    }
    rc = mdb_dbi_open(*txn, name, write ? MDB_CREATE : 0, dbi);
    if (rc == MDB_NOTFOUND && !write) {
        mdb_txn_abort(*txn);
        *txn = NULL;
        pthread_mutex_unlock(&users_lock);
        return 0;
    }
    if (rc) {
        mdb_txn_abort(*txn);
        *txn = NULL;
        pthread_mutex_unlock(&users_lock);
        char what[64];
        snprintf(what, sizeof what, "open database %s", name);
        return cdr_store_err(rc, what, dg);
    }
    pending_dbi_value = *dbi;
    *found = 1;
    return 0;
}

/* End a transaction of db_begin: commit when commit (a read is committed too, so that the
 * database handle it opened stays in the environment), else abort. */
static int db_end(MDB_txn *txn, int commit, cdr_diag *dg)
{
    int rc = 0;
    if (commit)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (holds_lock) {
        if (commit && !rc) { /* the handle is now the environment's: cache it */
            MDB_dbi d;
            for (int i = 0; i < DBI_CACHE && !cached_dbi(pending_store, pending, &d); i++)
                if (!dbi_cache[i].dc_store) {
                    dbi_cache[i].dc_store = pending_store;
                    dbi_cache[i].dc_name = pending;
                    dbi_cache[i].dc_dbi = pending_dbi_value;
                    break;
                }
        }
        holds_lock = 0;
        pthread_mutex_unlock(&users_lock);
    }
    return rc ? cdr_store_err(rc, "commit users", dg) : 0;
}

static int corrupt(const char *db, cdr_diag *dg)
{
    return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "corrupt entry in database %s", db);
}

/* The user record of v (key k), checked. */
static int user_unpack(const MDB_val *k, const MDB_val *v, cdr_user *out, cdr_diag *dg)
{
    if (v->mv_size != sizeof *out || k->mv_size == 0 || k->mv_size >= CDR_NAME_MAX)
        return corrupt(CDR_DB_USERS, dg);
    memcpy(out, v->mv_data, sizeof *out);
    if (strnlen(out->us_login, sizeof out->us_login) != k->mv_size ||
        memcmp(out->us_login, k->mv_data, k->mv_size) || !cdr_role_name(out->us_role) ||
        !memchr(out->us_hash, '\0', sizeof out->us_hash) ||
        !memchr(out->us_msisdn, '\0', sizeof out->us_msisdn))
        return corrupt(CDR_DB_USERS, dg);
    return 0;
}

static int key_unpack(const MDB_val *k, const MDB_val *v, cdr_apikey *out, cdr_diag *dg)
{
    if (v->mv_size != sizeof *out || k->mv_size == 0 || k->mv_size >= CDR_NAME_MAX)
        return corrupt(CDR_DB_APIKEYS, dg);
    memcpy(out, v->mv_data, sizeof *out);
    if (strnlen(out->ak_name, sizeof out->ak_name) != k->mv_size ||
        memcmp(out->ak_name, k->mv_data, k->mv_size))
        return corrupt(CDR_DB_APIKEYS, dg);
    return 0;
}

/* Read login's record in txn: 0, CDR_NOTFOUND (no message), CDR_FORMAT or store errors. */
static int user_read(MDB_txn *txn, MDB_dbi dbi, const char *login, cdr_user *out, cdr_diag *dg)
{
    MDB_val k = {strlen(login), (void *)login}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return CDR_NOTFOUND;
    if (rc)
        return cdr_store_err(rc, "read user", dg);
    return user_unpack(&k, &v, out, dg);
}

static int user_write(MDB_txn *txn, MDB_dbi dbi, const cdr_user *u, unsigned flags, cdr_diag *dg)
{
    MDB_val k = {strlen(u->us_login), (void *)u->us_login}, v = {sizeof *u, (void *)u};
    int rc = mdb_put(txn, dbi, &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return cdr_diag_set(dg, CDR_EXISTS, NULL, 0, 0, "user %s already exists", u->us_login);
    return rc ? cdr_store_err(rc, "write user", dg) : 0;
}

/* ---- users -------------------------------------------------------------------------------------
 */

int cdr_user_add(cdr_store *st, const cdr_user *u, const char *password, cdr_time now, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!u)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no user");
    int rc = user_fields_check(u, dg);
    if (rc || (rc = cdr_user_password_check(password, password ? strlen(password) : 0, dg)) ||
        (rc = sodium_ready(dg)))
        return rc;
    cdr_user nu;
    memset(&nu, 0, sizeof nu);
    memcpy(nu.us_login, u->us_login, strlen(u->us_login));
    nu.us_role = u->us_role;
    nu.us_enterprise = u->us_enterprise;
    memcpy(nu.us_msisdn, u->us_msisdn, strlen(u->us_msisdn));
    nu.us_generation = 1;
    nu.us_created = nu.us_changed = now;
    /* refuse a login that exists before spending the hash on it (checked again when written) */
    cdr_user old;
    rc = cdr_user_get(st, nu.us_login, &old, dg);
    if (rc == 0)
        return cdr_diag_set(dg, CDR_EXISTS, NULL, 0, 0, "user %s already exists", nu.us_login);
    if (rc != CDR_NOTFOUND)
        return rc;
    if ((rc = hash_password(password, nu.us_hash, dg)) != 0)
        return rc;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    if ((rc = db_begin(st, 1, CDR_DB_USERS, &txn, &dbi, &found, dg)) != 0)
        return rc;
    rc = user_write(txn, dbi, &nu, MDB_NOOVERWRITE, dg);
    int rc2 = db_end(txn, rc == 0, dg);
    sodium_memzero(&nu, sizeof nu);
    return rc ? rc : rc2;
}

int cdr_user_get(cdr_store *st, const char *login, cdr_user *out, cdr_diag *dg)
{
    if (!login || !cdr_user_login_valid(login))
        return CDR_NOTFOUND;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = db_begin(st, 0, CDR_DB_USERS, &txn, &dbi, &found, dg);
    if (rc || !found)
        return rc ? rc : CDR_NOTFOUND;
    rc = user_read(txn, dbi, login, out, dg);
    int rc2 = db_end(txn, 1, dg);
    return rc ? rc : rc2;
}

/* Read login's record, let fn change it, write it back, in one write transaction. */
static int user_update(cdr_store *st, const char *login, void (*fn)(cdr_user *u, void *arg),
                       void *arg, cdr_diag *dg)
{
    if (!login || !cdr_user_login_valid(login))
        return cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "no user %s", login ? login : "");
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = db_begin(st, 1, CDR_DB_USERS, &txn, &dbi, &found, dg);
    if (rc)
        return rc;
    cdr_user u;
    rc = user_read(txn, dbi, login, &u, dg);
    if (rc == CDR_NOTFOUND)
        rc = cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "no user %s", login);
    if (rc == 0) {
        fn(&u, arg);
        rc = user_write(txn, dbi, &u, 0, dg);
    }
    int rc2 = db_end(txn, rc == 0, dg);
    sodium_memzero(&u, sizeof u);
    return rc ? rc : rc2;
}

typedef struct passwd_arg {
    const char *pa_hash;
    cdr_time pa_now;
} passwd_arg;

static void passwd_apply(cdr_user *u, void *arg)
{
    const passwd_arg *pa = arg;
    memcpy(u->us_hash, pa->pa_hash, sizeof u->us_hash);
    u->us_generation++;
    u->us_failed = 0;
    u->us_locked_until = 0;
    u->us_changed = pa->pa_now;
}

int cdr_user_passwd(cdr_store *st, const char *login, const char *password, cdr_time now,
                    cdr_diag *dg)
{
    cdr_diag_clear(dg);
    cdr_user u;
    int rc = cdr_user_get(st, login, &u, dg);
    if (rc == CDR_NOTFOUND)
        return cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "no user %s", login ? login : "");
    if (rc || (rc = cdr_user_password_check(password, password ? strlen(password) : 0, dg)) ||
        (rc = sodium_ready(dg)))
        return rc;
    char hash[CDR_USER_HASH_MAX];
    if ((rc = hash_password(password, hash, dg)) != 0)
        return rc;
    passwd_arg pa = {hash, now};
    rc = user_update(st, login, passwd_apply, &pa, dg);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

typedef struct disable_arg {
    int da_disabled;
    cdr_time da_now;
} disable_arg;

static void disable_apply(cdr_user *u, void *arg)
{
    const disable_arg *da = arg;
    u->us_disabled = da->da_disabled ? 1 : 0;
    u->us_generation++;
    u->us_changed = da->da_now;
}

int cdr_user_set_disabled(cdr_store *st, const char *login, int disabled, cdr_time now,
                          cdr_diag *dg)
{
    cdr_diag_clear(dg);
    disable_arg da = {disabled, now};
    return user_update(st, login, disable_apply, &da, dg);
}

/* Every record of database name, checked and copied into a malloc'd array (so that the callback
 * runs with no transaction open). */
static int db_read_all(cdr_store *st, const char *name, size_t size,
                       int (*unpack)(const MDB_val *k, const MDB_val *v, void *out, cdr_diag *dg),
                       void **out, size_t *n, cdr_diag *dg)
{
    *out = NULL;
    *n = 0;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = db_begin(st, 0, name, &txn, &dbi, &found, dg);
    if (rc || !found)
        return rc;
    MDB_stat ms;
    MDB_cursor *cur = NULL;
    if ((rc = mdb_stat(txn, dbi, &ms)) != 0 || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        db_end(txn, 0, dg);
        return cdr_store_err(rc, "read users", dg);
    }
    unsigned char *all = malloc((ms.ms_entries ? ms.ms_entries : 1) * size);
    if (!all) {
        mdb_cursor_close(cur);
        db_end(txn, 0, dg);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    size_t k_n = 0;
    MDB_val k, v;
    int g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && k_n < ms.ms_entries;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = unpack(&k, &v, all + k_n * size, dg)) != 0)
            break;
        k_n++;
    }
    if (!rc && g != 0 && g != MDB_NOTFOUND)
        rc = cdr_store_err(g, "read users", dg);
    mdb_cursor_close(cur);
    int rc2 = db_end(txn, 1, dg);
    if (!rc)
        rc = rc2;
    if (rc) {
        free(all);
        return rc;
    }
    *out = all;
    *n = k_n;
    return 0;
}

static int user_unpack_any(const MDB_val *k, const MDB_val *v, void *out, cdr_diag *dg)
{
    return user_unpack(k, v, out, dg);
}

static int key_unpack_any(const MDB_val *k, const MDB_val *v, void *out, cdr_diag *dg)
{
    return key_unpack(k, v, out, dg);
}

int cdr_user_each(cdr_store *st, int (*fn)(void *arg, const cdr_user *u), void *arg, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    void *all;
    size_t n;
    int rc = db_read_all(st, CDR_DB_USERS, sizeof(cdr_user), user_unpack_any, &all, &n, dg);
    if (rc)
        return rc;
    const cdr_user *us = all;
    for (size_t i = 0; i < n && !rc; i++)
        rc = fn(arg, &us[i]);
    sodium_memzero(all, n * sizeof(cdr_user));
    free(all);
    return rc;
}

/* ---- login
 * --------------------------------------------------------------------------------------- */

/* One attempt's write, in a short write transaction: the user as read before the verification
 * (seen) and whether the password was right (ok). The count is changed as it is now (another
 * attempt may have counted meanwhile). *again 1 when the password or the generation changed
 * meanwhile (the verdict was on an old hash), or the user is gone: nothing is written and the
 * caller starts over. *locked 1 when another attempt locked the user meanwhile: nothing written. */
static int login_record(cdr_store *st, const cdr_user *seen, int ok, cdr_time now, int64_t lockout,
                        cdr_user *out, int *again, int *locked, cdr_diag *dg)
{
    *again = *locked = 0;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = db_begin(st, 1, CDR_DB_USERS, &txn, &dbi, &found, dg);
    if (rc)
        return rc;
    cdr_user u;
    memset(&u, 0, sizeof u);
    rc = user_read(txn, dbi, seen->us_login, &u, dg);
    int write = 0;
    if (rc == CDR_NOTFOUND) {
        rc = 0;
        *again = 1;
    } else if (rc == 0 &&
               (u.us_generation != seen->us_generation || strcmp(u.us_hash, seen->us_hash))) {
        *again = 1;
    } else if (rc == 0 && u.us_locked_until > now) {
        *locked = 1;
    } else if (rc == 0 && ok) {
        write = u.us_failed != 0 || u.us_locked_until != 0;
        u.us_failed = 0;
        u.us_locked_until = 0;
    } else if (rc == 0) {
        write = 1;
        if (u.us_failed < UINT32_MAX)
            u.us_failed++;
        if (u.us_failed >= CDR_LOGIN_MAX_FAILS && lockout > 0)
            u.us_locked_until = now + lockout;
    }
    if (rc == 0 && write)
        rc = user_write(txn, dbi, &u, 0, dg);
    int rc2 = db_end(txn, rc == 0 && write, dg);
    if (!rc)
        rc = rc2;
    if (!rc)
        *out = u;
    sodium_memzero(&u, sizeof u);
    return rc;
}

int cdr_user_login(cdr_store *st, const char *login, const char *password, cdr_time now,
                   int64_t lockout, int *res, cdr_user *out, cdr_time *locked_until, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *res = CDR_LOGIN_BAD;
    if (locked_until)
        *locked_until = 0;
    int rc = sodium_ready(dg);
    if (rc)
        return rc;
    if (!password)
        password = "";
    const size_t plen = strnlen(password, CDR_PASSWORD_MAX + 1);
    /* a few rounds at most: each starts over because another attempt or a passwd changed the
     * record between the read and the write */
    for (int round = 0; round < 4; round++) {
        cdr_user u;
        rc = cdr_user_get(st, login, &u, dg);
        if (rc && rc != CDR_NOTFOUND)
            return rc;
        if (rc == CDR_NOTFOUND) { /* the same cost as a known login; nothing recorded */
            if (!dummy_ok)
                return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0,
                                    "out of memory hashing the password (Argon2id)");
            if (crypto_pwhash_str_verify(dummy_hash, password, plen) == 0)
                *res = CDR_LOGIN_BAD; /* cannot happen: nobody knows its password */
            return 0;
        }
        if (u.us_locked_until > now) { /* refused unseen; the lock is not extended */
            *res = CDR_LOGIN_LOCKED;
            if (locked_until)
                *locked_until = u.us_locked_until;
            sodium_memzero(&u, sizeof u);
            return 0;
        }
        /* no transaction is open here: the verification takes 50-100 ms. Done whatever the
         * length (an over-long password, cut, is never right), so that it always costs the same */
        const int ok =
            crypto_pwhash_str_verify(u.us_hash, password, plen) == 0 && plen <= CDR_PASSWORD_MAX;
        if (ok && u.us_disabled) { /* not a failure, not a success: nothing recorded */
            *res = CDR_LOGIN_DISABLED;
            sodium_memzero(&u, sizeof u);
            return 0;
        }
        cdr_user after;
        int again, locked;
        rc = login_record(st, &u, ok, now, lockout, &after, &again, &locked, dg);
        sodium_memzero(&u, sizeof u);
        if (rc)
            return rc;
        if (again)
            continue;
        if (locked) /* another attempt locked it while this one was verified */
            *res = CDR_LOGIN_LOCKED;
        else if (ok)
            *res = CDR_LOGIN_OK;
        if (ok && !locked && out)
            *out = after;
        if ((locked || !ok) && locked_until && after.us_locked_until > now)
            *locked_until = after.us_locked_until; /* also when this failure locked it */
        sodium_memzero(&after, sizeof after);
        return 0;
    }
    return 0; /* the record kept changing: refused as a bad attempt, nothing recorded */
}

/* ---- API keys
 * ------------------------------------------------------------------------------------ */

#define KEY_PREFIX     "cdk_"
#define KEY_SECRET_LEN 43 /* base64url of 32 bytes, no padding */

int cdr_apikey_add(cdr_store *st, const char *name, uint32_t scopes, cdr_time now, char *key,
                   cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (key)
        key[0] = '\0';
    if (!key || !cdr_apikey_name_valid(name))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "a key name is 1 to %d letters, digits, '.' or '-'", CDR_NAME_MAX - 1);
    if (scopes == 0 || (scopes & ~(uint32_t)CDR_SCOPE_IVR))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "unknown or no scope (known: ivr)");
    int rc = sodium_ready(dg);
    if (rc)
        return rc;
    unsigned char secret[32];
    randombytes_buf(secret, sizeof secret);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, secret, sizeof secret,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(secret, sizeof secret);
    char text[CDR_APIKEY_MAX];
    const int tn = snprintf(text, sizeof text, KEY_PREFIX "%s_%s", name, b64);
    sodium_memzero(b64, sizeof b64);
    cdr_apikey ak;
    memset(&ak, 0, sizeof ak);
    memcpy(ak.ak_name, name, strlen(name));
    ak.ak_scopes = scopes;
    ak.ak_created = now;
    crypto_hash_sha256(ak.ak_hash, (const unsigned char *)text, (unsigned long long)tn);
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    if ((rc = db_begin(st, 1, CDR_DB_APIKEYS, &txn, &dbi, &found, dg)) != 0) {
        sodium_memzero(text, sizeof text);
        return rc;
    }
    MDB_val k = {strlen(name), (void *)name}, v = {sizeof ak, &ak};
    rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        rc = cdr_diag_set(dg, CDR_EXISTS, NULL, 0, 0, "key %s already exists", name);
    else if (rc)
        rc = cdr_store_err(rc, "write key", dg);
    int rc2 = db_end(txn, rc == 0, dg);
    if (!rc)
        rc = rc2;
    if (!rc)
        memcpy(key, text, (size_t)tn + 1);
    sodium_memzero(text, sizeof text);
    return rc;
}

int cdr_apikey_revoke(cdr_store *st, const char *name, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!cdr_apikey_name_valid(name))
        return cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "no key %s", name ? name : "");
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = db_begin(st, 1, CDR_DB_APIKEYS, &txn, &dbi, &found, dg);
    if (rc)
        return rc;
    MDB_val k = {strlen(name), (void *)name}, v;
    cdr_apikey ak;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "no key %s", name);
    else if (rc)
        rc = cdr_store_err(rc, "read key", dg);
    else if ((rc = key_unpack(&k, &v, &ak, dg)) == 0) {
        ak.ak_disabled = 1;
        v = (MDB_val){sizeof ak, &ak};
        if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
            rc = cdr_store_err(rc, "write key", dg);
    }
    int rc2 = db_end(txn, rc == 0, dg);
    return rc ? rc : rc2;
}

int cdr_apikey_each(cdr_store *st, int (*fn)(void *arg, const cdr_apikey *k), void *arg,
                    cdr_diag *dg)
{
    cdr_diag_clear(dg);
    void *all;
    size_t n;
    int rc = db_read_all(st, CDR_DB_APIKEYS, sizeof(cdr_apikey), key_unpack_any, &all, &n, dg);
    if (rc)
        return rc;
    const cdr_apikey *ks = all;
    for (size_t i = 0; i < n && !rc; i++)
        rc = fn(arg, &ks[i]);
    free(all);
    return rc;
}

int cdr_apikey_check(cdr_store *st, const char *key, size_t len, cdr_apikey *out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    const size_t pl = sizeof KEY_PREFIX - 1;
    if (!key || len >= CDR_APIKEY_MAX || len < pl + 2 + KEY_SECRET_LEN ||
        memcmp(key, KEY_PREFIX, pl))
        return CDR_NOTFOUND;
    /* the name ends at the first '_' after the prefix (names have none) */
    const char *sep = memchr(key + pl, '_', len - pl);
    if (!sep || (size_t)(key + len - (sep + 1)) != KEY_SECRET_LEN)
        return CDR_NOTFOUND;
    char name[CDR_NAME_MAX];
    const size_t nl = (size_t)(sep - (key + pl));
    if (nl == 0 || nl >= sizeof name)
        return CDR_NOTFOUND;
    memcpy(name, key + pl, nl);
    name[nl] = '\0';
    if (!cdr_apikey_name_valid(name))
        return CDR_NOTFOUND;
    for (const char *p = sep + 1; p < key + len; p++)
        if (!is_alnum((unsigned char)*p) && *p != '-' && *p != '_')
            return CDR_NOTFOUND;
    int rc = sodium_ready(dg);
    if (rc)
        return rc;
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)key, (unsigned long long)len);
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    if ((rc = db_begin(st, 0, CDR_DB_APIKEYS, &txn, &dbi, &found, dg)) != 0)
        return rc;
    if (!found)
        return CDR_NOTFOUND;
    MDB_val k = {nl, name}, v;
    cdr_apikey ak;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = CDR_NOTFOUND;
    else if (rc)
        rc = cdr_store_err(rc, "read key", dg);
    else
        rc = key_unpack(&k, &v, &ak, dg);
    int rc2 = db_end(txn, 1, dg);
    if (!rc)
        rc = rc2;
    if (rc)
        return rc;
    if (sodium_memcmp(h, ak.ak_hash, sizeof h) != 0 || ak.ak_disabled)
        return CDR_NOTFOUND;
    if (out)
        *out = ak;
    return 0;
}
