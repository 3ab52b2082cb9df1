/* test_users.c - the portal's users and API keys (cdr_users.h, docs/users.md): adding and reading
 * users, every invalid field refused with its message and nothing stored, Argon2id hashes, login
 * outcomes, lockout and its end (by the now argument, no sleeps), unknown and disabled users, new
 * passwords, API keys (add, check, revoke, malformed, mismatch), and no password or key text in
 * the store's bytes. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_users.h"
#include "test_dirs.h"

#define PW  "correct horse battery"
#define PW2 "another long password"

typedef struct fixture {
    char fx_dir[4096];
    cdr_store *fx_st;
} fixture;

static void fx_open(fixture *fx)
{
    test_tmpdir(fx->fx_dir, sizeof fx->fx_dir, "users");
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(fx->fx_dir, 0, &fx->fx_st, &dg), 0, "%s", dg.dg_msg);
}

static void fx_close(fixture *fx)
{
    cdr_store_close(fx->fx_st);
    rm_rf(fx->fx_dir);
}

static cdr_user mk_user(const char *login, int role, const char *msisdn, uint64_t enterprise)
{
    cdr_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.us_login, sizeof u.us_login, "%s", login);
    u.us_role = (uint8_t)role;
    snprintf(u.us_msisdn, sizeof u.us_msisdn, "%s", msisdn ? msisdn : "");
    u.us_enterprise = enterprise;
    return u;
}

static int count_one(void *arg, const cdr_user *u)
{
    (void)u;
    (*(int *)arg)++;
    return 0;
}

static int user_count(cdr_store *st)
{
    int n = 0;
    cdr_diag dg;
    cr_assert_eq(cdr_user_each(st, count_one, &n, &dg), 0, "%s", dg.dg_msg);
    return n;
}

/* Where needle[0..n) first occurs in hay[0..size), or NULL. */
static const void *find_bytes(const void *hay, size_t size, const void *needle, size_t n)
{
    const unsigned char *h = hay;
    for (size_t i = 0; n && i + n <= size; i++)
        if (!memcmp(h + i, needle, n))
            return h + i;
    return NULL;
}

/* Non-zero when the bytes of needle occur in the file path. */
static int file_contains(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    const int found = find_bytes(buf, (size_t)size, needle, n) != NULL;
    free(buf);
    return found;
}

Test(users, names_and_syntax)
{
    cr_assert_str_eq(cdr_role_name(CDR_ROLE_MEMBER), "member");
    cr_assert_str_eq(cdr_role_name(CDR_ROLE_ENTERPRISE_ADMIN), "enterprise-admin");
    cr_assert_str_eq(cdr_role_name(CDR_ROLE_MANAGER), "manager");
    cr_assert_str_eq(cdr_role_name(CDR_ROLE_OPERATOR), "operator");
    cr_assert_null(cdr_role_name(0));
    cr_assert_null(cdr_role_name(CDR_ROLE_END));
    cr_assert_eq(cdr_role_parse("enterprise-admin"), CDR_ROLE_ENTERPRISE_ADMIN);
    cr_assert_eq(cdr_role_parse("admin"), 0);
    cr_assert_eq(cdr_role_parse(NULL), 0);
    cr_assert_str_eq(cdr_scope_name(CDR_SCOPE_IVR), "ivr");
    cr_assert_null(cdr_scope_name(2));
    cr_assert_eq(cdr_scope_parse("ivr"), CDR_SCOPE_IVR);
    cr_assert_eq(cdr_scope_parse("IVR"), 0);

    cr_assert(cdr_user_login_valid("ann.lee_1-x@example.com"));
    cr_assert(cdr_user_login_valid("a"));
    cr_assert(cdr_user_login_valid("abcdefghijklmnopqrstuvwxyz01234")); /* 31 bytes */
    cr_assert_not(cdr_user_login_valid("abcdefghijklmnopqrstuvwxyz012345"));
    cr_assert_not(cdr_user_login_valid(""));
    cr_assert_not(cdr_user_login_valid(NULL));
    cr_assert_not(cdr_user_login_valid("ann lee"));
    cr_assert_not(cdr_user_login_valid("ann/lee"));
    cr_assert_not(cdr_user_login_valid("ann\xc3\xa9"));

    cr_assert(cdr_apikey_name_valid("ivr-1.prod"));
    cr_assert_not(cdr_apikey_name_valid("ivr_1"));
    cr_assert_not(cdr_apikey_name_valid(""));
    cr_assert_not(cdr_apikey_name_valid("a@b"));
    cr_assert_not(cdr_apikey_name_valid("abcdefghijklmnopqrstuvwxyz012345"));
}

Test(users, add_get_and_hash)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_MEMBER, "8613800000001", 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    cdr_user got;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0, "%s", dg.dg_msg);
    cr_assert_str_eq(got.us_login, "ann");
    cr_assert_eq(got.us_role, CDR_ROLE_MEMBER);
    cr_assert_str_eq(got.us_msisdn, "8613800000001");
    cr_assert_eq(got.us_enterprise, 0);
    cr_assert_eq(got.us_disabled, 0);
    cr_assert_eq(got.us_generation, 1);
    cr_assert_eq(got.us_failed, 0);
    cr_assert_eq(got.us_locked_until, 0);
    cr_assert_eq(got.us_created, 1000);
    cr_assert_eq(got.us_changed, 1000);
    cr_assert_eq(strncmp(got.us_hash, "$argon2id$", 10), 0, "%s", got.us_hash);
    cr_assert_eq(crypto_pwhash_str_verify(got.us_hash, PW, strlen(PW)), 0);
    cr_assert_neq(crypto_pwhash_str_verify(got.us_hash, PW2, strlen(PW2)), 0);
    /* no byte of the password in the record */
    cr_assert_null(find_bytes(&got, sizeof got, PW, strlen(PW)));
    cr_assert_null(find_bytes(&got, sizeof got, "horse", 5));

    cdr_user e = mk_user("ent.admin@x", CDR_ROLE_ENTERPRISE_ADMIN, NULL, 7);
    cdr_user m = mk_user("mgr", CDR_ROLE_MANAGER, NULL, 0);
    cdr_user o = mk_user("root", CDR_ROLE_OPERATOR, NULL, 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &e, PW, 1001, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_add(fx.fx_st, &m, PW, 1002, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_add(fx.fx_st, &o, PW, 1003, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ent.admin@x", &got, &dg), 0);
    cr_assert_eq(got.us_enterprise, 7);
    cr_assert_str_eq(got.us_msisdn, "");
    cr_assert_eq(user_count(fx.fx_st), 4);
    /* two users with one password get two hashes (salted) */
    cdr_user g2;
    cr_assert_eq(cdr_user_get(fx.fx_st, "mgr", &g2, &dg), 0);
    cr_assert_str_neq(got.us_hash, g2.us_hash);
    cr_assert_eq(cdr_user_get(fx.fx_st, "nobody", &got, &dg), CDR_NOTFOUND);
    cr_assert_eq(cdr_user_get(fx.fx_st, "not valid", &got, &dg), CDR_NOTFOUND);

    /* the store's bytes hold no password */
    char data[4200];
    snprintf(data, sizeof data, "%s/data.mdb", fx.fx_dir);
    cdr_store_close(fx.fx_st);
    cr_assert_not(file_contains(data, PW, strlen(PW)));
    cr_assert_not(file_contains(data, "horse", 5));
    cr_assert(file_contains(data, "$argon2id$", 10));
    rm_rf(fx.fx_dir);
}

typedef struct login_order {
    char lo_logins[8][CDR_NAME_MAX];
    int lo_n;
} login_order;

static int note_login(void *arg, const cdr_user *u)
{
    login_order *lo = arg;
    snprintf(lo->lo_logins[lo->lo_n++], CDR_NAME_MAX, "%s", u->us_login);
    return lo->lo_n == 2 ? 42 : 0;
}

Test(users, each_in_order_and_stops)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    const char *logins[] = {"carol", "alice", "bob"};
    for (int i = 0; i < 3; i++) {
        cdr_user u = mk_user(logins[i], CDR_ROLE_OPERATOR, NULL, 0);
        cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1, &dg), 0, "%s", dg.dg_msg);
    }
    login_order lo = {0};
    cr_assert_eq(cdr_user_each(fx.fx_st, note_login, &lo, &dg), 42);
    cr_assert_eq(lo.lo_n, 2);
    cr_assert_str_eq(lo.lo_logins[0], "alice");
    cr_assert_str_eq(lo.lo_logins[1], "bob");
    fx_close(&fx);
}

Test(users, duplicate_refused_unchanged)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    cdr_user before, after;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &before, &dg), 0);
    cdr_user u2 = mk_user("ann", CDR_ROLE_MEMBER, "123", 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u2, PW2, 2000, &dg), CDR_EXISTS);
    cr_assert_str_eq(dg.dg_msg, "user ann already exists");
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &after, &dg), 0);
    cr_assert_eq(memcmp(&before, &after, sizeof before), 0);
    cr_assert_eq(user_count(fx.fx_st), 1);
    fx_close(&fx);
}

typedef struct bad_case {
    cdr_user bc_user;
    const char *bc_password;
    const char *bc_msg;
} bad_case;

Test(users, invalid_fields_refused)
{
    fixture fx;
    fx_open(&fx);
    char long_pw[CDR_PASSWORD_MAX + 2];
    memset(long_pw, 'x', sizeof long_pw - 1);
    long_pw[sizeof long_pw - 1] = '\0'; /* 257 bytes */
    const char *login_msg = "a login is 1 to 31 letters, digits, '.', '_', '-' or '@'";
    bad_case cases[] = {
        {mk_user("", CDR_ROLE_OPERATOR, NULL, 0), PW, login_msg},
        {mk_user("ann lee", CDR_ROLE_OPERATOR, NULL, 0), PW, login_msg},
        {mk_user("ann/x", CDR_ROLE_OPERATOR, NULL, 0), PW, login_msg},
        {mk_user("ann", 0, NULL, 0), PW, "unknown role 0"},
        {mk_user("ann", CDR_ROLE_END, NULL, 0), PW, "unknown role 5"},
        {mk_user("ann", CDR_ROLE_MEMBER, NULL, 0), PW,
         "a member needs an msisdn of 1 to 23 digits"},
        {mk_user("ann", CDR_ROLE_MEMBER, "86138abc", 0), PW,
         "a member needs an msisdn of 1 to 23 digits"},
        {mk_user("ann", CDR_ROLE_MEMBER, "8613800000001", 3), PW, "a member has no enterprise"},
        {mk_user("ann", CDR_ROLE_ENTERPRISE_ADMIN, NULL, 0), PW,
         "an enterprise-admin needs an enterprise id (1 .. 2^63-1)"},
        {mk_user("ann", CDR_ROLE_ENTERPRISE_ADMIN, NULL, UINT64_MAX), PW,
         "an enterprise-admin needs an enterprise id (1 .. 2^63-1)"},
        {mk_user("ann", CDR_ROLE_ENTERPRISE_ADMIN, "123", 4), PW,
         "an enterprise-admin has no msisdn"},
        {mk_user("ann", CDR_ROLE_MANAGER, "123", 0), PW,
         "a manager has neither msisdn nor enterprise"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 9), PW,
         "a operator has neither msisdn nor enterprise"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), "123456789",
         "the password is too short: 9 bytes, at least 10"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), "",
         "the password is too short: 0 bytes, "
         "at least 10"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), long_pw,
         "the password is too long: 257 bytes, at most 256"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), "password\xff\xfe long",
         "the password is not valid UTF-8"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), "overlong \xc0\xaf slash",
         "the password is not valid UTF-8"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), "surrogate \xed\xa0\x80 here",
         "the password is not valid UTF-8"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), "truncated sequence \xe4\xb8",
         "the password is not valid UTF-8"},
        {mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0), NULL, "no password"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdr_diag dg;
        cdr_diag_clear(&dg);
        cr_assert_eq(cdr_user_add(fx.fx_st, &cases[i].bc_user, cases[i].bc_password, 1, &dg),
                     CDR_EINVAL, "case %zu", i);
        cr_assert_str_eq(dg.dg_msg, cases[i].bc_msg, "case %zu", i);
        /* the message never holds the password */
        if (cases[i].bc_password && strlen(cases[i].bc_password) > 0)
            cr_assert_null(strstr(dg.dg_msg, cases[i].bc_password), "case %zu", i);
    }
    cr_assert_eq(user_count(fx.fx_st), 0);
    /* the edges that are fine: 10 and 256 bytes, multi-byte UTF-8 */
    cdr_diag dg;
    long_pw[CDR_PASSWORD_MAX] = '\0';
    cdr_user a = mk_user("a", CDR_ROLE_OPERATOR, NULL, 0);
    cdr_user b = mk_user("b", CDR_ROLE_OPERATOR, NULL, 0);
    cdr_user c = mk_user("c", CDR_ROLE_MEMBER, "12345678901234567890123", 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &a, "0123456789", 1, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_add(fx.fx_st, &b, long_pw, 1, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_add(fx.fx_st, &c, "\xe5\xaf\x86\xe7\xa0\x81\xf0\x9f\x94\x91ok", 1, &dg),
                 0, "%s", dg.dg_msg);
    cr_assert_eq(user_count(fx.fx_st), 3);
    /* the password check on its own: a NUL inside */
    cr_assert_eq(cdr_user_password_check("abcdefghij\0klmn", 15, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "the password contains a NUL byte");
    fx_close(&fx);
}

static void do_login(cdr_store *st, const char *login, const char *pw, cdr_time now, int want,
                     cdr_time want_until)
{
    cdr_diag dg;
    int res = -1;
    cdr_user out;
    cdr_time until = -1;
    cr_assert_eq(cdr_user_login(st, login, pw, now, 300, &res, &out, &until, &dg), 0, "%s",
                 dg.dg_msg);
    cr_assert_eq(res, want, "%s at %lld: %d, want %d", login, (long long)now, res, want);
    cr_assert_eq(until, want_until, "%s at %lld: locked until %lld, want %lld", login,
                 (long long)now, (long long)until, (long long)want_until);
    if (want == CDR_LOGIN_OK)
        cr_assert_str_eq(out.us_login, login);
}

Test(users, login_right_and_wrong)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_MEMBER, "8613800000001", 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    do_login(fx.fx_st, "ann", PW, 1001, CDR_LOGIN_OK, 0);
    do_login(fx.fx_st, "ann", PW2, 1002, CDR_LOGIN_BAD, 0);
    do_login(fx.fx_st, "ann", "", 1003, CDR_LOGIN_BAD, 0);
    cdr_user got;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 2);
    cr_assert_eq(got.us_locked_until, 0);
    cr_assert_eq(got.us_generation, 1);
    /* a success clears the count */
    do_login(fx.fx_st, "ann", PW, 1004, CDR_LOGIN_OK, 0);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 0);
    /* an over-long password is verified and counted like any wrong one */
    char long_pw[CDR_PASSWORD_MAX + 40];
    memset(long_pw, 'x', sizeof long_pw - 1);
    long_pw[sizeof long_pw - 1] = '\0';
    do_login(fx.fx_st, "ann", long_pw, 1004, CDR_LOGIN_BAD, 0);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 1);
    /* NULL out and locked_until are allowed */
    int res = -1;
    cr_assert_eq(cdr_user_login(fx.fx_st, "ann", PW, 1005, 300, &res, NULL, NULL, &dg), 0);
    cr_assert_eq(res, CDR_LOGIN_OK);
    fx_close(&fx);
}

Test(users, lockout_and_its_end)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    for (int i = 1; i < CDR_LOGIN_MAX_FAILS; i++)
        do_login(fx.fx_st, "ann", PW2, 1000 + i, CDR_LOGIN_BAD, 0);
    /* the fifth failure in a row locks for the lockout period (300 s) */
    do_login(fx.fx_st, "ann", PW2, 1010, CDR_LOGIN_BAD, 1310);
    cdr_user locked, got;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &locked, &dg), 0);
    cr_assert_eq(locked.us_failed, 5);
    cr_assert_eq(locked.us_locked_until, 1310);
    /* while locked: refused, right password or not, and the lock is not extended */
    do_login(fx.fx_st, "ann", PW, 1011, CDR_LOGIN_LOCKED, 1310);
    do_login(fx.fx_st, "ann", PW2, 1200, CDR_LOGIN_LOCKED, 1310);
    do_login(fx.fx_st, "ann", PW, 1309, CDR_LOGIN_LOCKED, 1310);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(memcmp(&got, &locked, sizeof got), 0);
    /* the lock ends at 1310: the right password gets in and clears count and lock */
    do_login(fx.fx_st, "ann", PW, 1310, CDR_LOGIN_OK, 0);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 0);
    cr_assert_eq(got.us_locked_until, 0);

    /* the count is kept through a lock: after it ends, a further failure locks again */
    for (int i = 1; i < CDR_LOGIN_MAX_FAILS; i++)
        do_login(fx.fx_st, "ann", PW2, 2000 + i, CDR_LOGIN_BAD, 0);
    do_login(fx.fx_st, "ann", PW2, 2010, CDR_LOGIN_BAD, 2310);
    do_login(fx.fx_st, "ann", PW2, 2400, CDR_LOGIN_BAD, 2700);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 6);
    cr_assert_eq(got.us_locked_until, 2700);
    /* lockout 0: counted, never locked */
    int res;
    cdr_time until = -1;
    cr_assert_eq(cdr_user_passwd(fx.fx_st, "ann", PW, 3000, &dg), 0, "%s", dg.dg_msg);
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(cdr_user_login(fx.fx_st, "ann", PW2, 3001, 0, &res, NULL, &until, &dg), 0);
        cr_assert_eq(res, CDR_LOGIN_BAD);
        cr_assert_eq(until, 0);
    }
    cr_assert_eq(cdr_user_login(fx.fx_st, "ann", PW, 3002, 0, &res, NULL, &until, &dg), 0);
    cr_assert_eq(res, CDR_LOGIN_OK);
    fx_close(&fx);
}

Test(users, unknown_user_not_recorded)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    /* no users database at all yet */
    do_login(fx.fx_st, "ghost", PW, 1000, CDR_LOGIN_BAD, 0);
    cdr_user u = mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    for (int i = 0; i < CDR_LOGIN_MAX_FAILS + 2; i++)
        do_login(fx.fx_st, "ghost", PW, 1001 + i, CDR_LOGIN_BAD, 0);
    do_login(fx.fx_st, "not a login", PW, 1010, CDR_LOGIN_BAD, 0);
    do_login(fx.fx_st, "", PW, 1010, CDR_LOGIN_BAD, 0);
    cdr_user got;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ghost", &got, &dg), CDR_NOTFOUND);
    cr_assert_eq(user_count(fx.fx_st), 1);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 0);
    fx_close(&fx);
}

Test(users, disabled_user)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_set_disabled(fx.fx_st, "ann", 1, 1100, &dg), 0, "%s", dg.dg_msg);
    cdr_user got, before;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &before, &dg), 0);
    cr_assert_eq(before.us_disabled, 1);
    cr_assert_eq(before.us_generation, 2);
    cr_assert_eq(before.us_changed, 1100);
    /* the right password: disabled, nothing recorded */
    do_login(fx.fx_st, "ann", PW, 1101, CDR_LOGIN_DISABLED, 0);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(memcmp(&got, &before, sizeof got), 0);
    /* a wrong one counts as for anyone */
    do_login(fx.fx_st, "ann", PW2, 1102, CDR_LOGIN_BAD, 0);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 1);
    cr_assert_eq(cdr_user_set_disabled(fx.fx_st, "ann", 0, 1200, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_disabled, 0);
    cr_assert_eq(got.us_generation, 3);
    do_login(fx.fx_st, "ann", PW, 1201, CDR_LOGIN_OK, 0);
    /* unknown logins */
    cr_assert_eq(cdr_user_set_disabled(fx.fx_st, "bob", 1, 1300, &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no user bob");
    cr_assert_eq(cdr_user_set_disabled(fx.fx_st, "bad login", 1, 1300, &dg), CDR_NOTFOUND);
    fx_close(&fx);
}

Test(users, passwd_bumps_generation_and_clears_lock)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    for (int i = 0; i < CDR_LOGIN_MAX_FAILS; i++)
        do_login(fx.fx_st, "ann", PW2, 1001, CDR_LOGIN_BAD,
                 i == CDR_LOGIN_MAX_FAILS - 1 ? 1301 : 0);
    cdr_user before, got;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &before, &dg), 0);
    cr_assert_eq(before.us_locked_until, 1301);
    cr_assert_eq(cdr_user_passwd(fx.fx_st, "ann", PW2, 1100, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_generation, before.us_generation + 1);
    cr_assert_eq(got.us_failed, 0);
    cr_assert_eq(got.us_locked_until, 0);
    cr_assert_eq(got.us_changed, 1100);
    cr_assert_eq(got.us_created, 1000);
    cr_assert_str_neq(got.us_hash, before.us_hash);
    do_login(fx.fx_st, "ann", PW, 1101, CDR_LOGIN_BAD, 0);
    do_login(fx.fx_st, "ann", PW2, 1102, CDR_LOGIN_OK, 0);
    /* refused: unknown login, bad password; nothing changed */
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &before, &dg), 0);
    cr_assert_eq(cdr_user_passwd(fx.fx_st, "bob", PW, 1200, &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no user bob");
    cr_assert_eq(cdr_user_passwd(fx.fx_st, "ann", "short", 1200, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "the password is too short: 5 bytes, at least 10");
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(memcmp(&got, &before, sizeof got), 0);
    fx_close(&fx);
}

static int count_key(void *arg, const cdr_apikey *k)
{
    (void)k;
    (*(int *)arg)++;
    return 0;
}

Test(users, apikeys)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    char key[CDR_APIKEY_MAX];
    cdr_apikey ak;
    /* no keys database yet */
    cr_assert_eq(cdr_apikey_check(fx.fx_st, "cdk_a_0123456789012345678901234567890123456789012", 50,
                                  &ak, &dg),
                 CDR_NOTFOUND);
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "ivr-1", CDR_SCOPE_IVR, 5000, key, &dg), 0, "%s",
                 dg.dg_msg);
    const size_t len = strlen(key);
    cr_assert_eq(len, 4 + 5 + 1 + 43, "%s", key);
    cr_assert_eq(strncmp(key, "cdk_ivr-1_", 10), 0, "%s", key);
    for (size_t i = 10; i < len; i++)
        cr_assert(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", key[i]),
            "%s", key);
    memset(&ak, 0, sizeof ak);
    cr_assert_eq(cdr_apikey_check(fx.fx_st, key, len, &ak, &dg), 0);
    cr_assert_str_eq(ak.ak_name, "ivr-1");
    cr_assert_eq(ak.ak_scopes, CDR_SCOPE_IVR);
    cr_assert_eq(ak.ak_created, 5000);
    cr_assert_eq(ak.ak_disabled, 0);
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)key, len);
    cr_assert_eq(memcmp(h, ak.ak_hash, 32), 0);
    /* the length is what counts, not a NUL */
    char padded[CDR_APIKEY_MAX + 8];
    snprintf(padded, sizeof padded, "%sXYZ", key);
    cr_assert_eq(cdr_apikey_check(fx.fx_st, padded, len, &ak, &dg), 0);

    /* a second key: a different secret */
    char key2[CDR_APIKEY_MAX];
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "hotline", CDR_SCOPE_IVR, 5001, key2, &dg), 0);
    cr_assert_str_neq(key + 10, key2 + 12);

    /* mismatch: one secret character changed, or another key's secret under this name */
    char bad[CDR_APIKEY_MAX];
    memcpy(bad, key, len + 1);
    bad[len - 1] = bad[len - 1] == 'A' ? 'B' : 'A';
    cr_assert_eq(cdr_apikey_check(fx.fx_st, bad, len, &ak, &dg), CDR_NOTFOUND);
    snprintf(bad, sizeof bad, "cdk_ivr-1_%s", key2 + 12);
    cr_assert_eq(cdr_apikey_check(fx.fx_st, bad, strlen(bad), &ak, &dg), CDR_NOTFOUND);
    /* malformed */
    const char *malformed[] = {
        "",
        "cdk_",
        "cdk_ivr-1_",
        "xdk_ivr-1_0123456789012345678901234567890123456789012",
        "cdk__0123456789012345678901234567890123456789012",
        "cdk_ivr-1_012345678901234567890123456789012345678901",   /* 42 */
        "cdk_ivr-1_01234567890123456789012345678901234567890123", /* 44 */
        "cdk_ivr-1_0123456789012345678901234567890123456789+12",
        "cdk_ivr@1_0123456789012345678901234567890123456789012",
        "cdk_ivr-1",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        cdr_diag_clear(&dg);
        cr_assert_eq(cdr_apikey_check(fx.fx_st, malformed[i], strlen(malformed[i]), &ak, &dg),
                     CDR_NOTFOUND, "%s", malformed[i]);
        cr_assert_str_eq(dg.dg_msg, "", "%s", malformed[i]);
    }
    cr_assert_eq(cdr_apikey_check(fx.fx_st, key, len - 1, &ak, &dg), CDR_NOTFOUND);
    cr_assert_eq(cdr_apikey_check(fx.fx_st, NULL, 0, &ak, &dg), CDR_NOTFOUND);
    /* an unknown name with a well-formed secret */
    snprintf(bad, sizeof bad, "cdk_other_%s", key + 10);
    cr_assert_eq(cdr_apikey_check(fx.fx_st, bad, strlen(bad), &ak, &dg), CDR_NOTFOUND);

    /* refused adds: nothing stored */
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "ivr-1", CDR_SCOPE_IVR, 6000, bad, &dg), CDR_EXISTS);
    cr_assert_str_eq(dg.dg_msg, "key ivr-1 already exists");
    cr_assert_str_eq(bad, "");
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "ivr_2", CDR_SCOPE_IVR, 6000, bad, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "a key name is 1 to 31 letters, digits, '.' or '-'");
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "", CDR_SCOPE_IVR, 6000, bad, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "ivr-3", 0, 6000, bad, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "unknown or no scope (known: ivr)");
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "ivr-3", 2, 6000, bad, &dg), CDR_EINVAL);
    int n = 0;
    cr_assert_eq(cdr_apikey_each(fx.fx_st, count_key, &n, &dg), 0);
    cr_assert_eq(n, 2);
    /* the key still works after the refused adds */
    cr_assert_eq(cdr_apikey_check(fx.fx_st, key, len, &ak, &dg), 0);

    /* revoke: refused from then on, still listed, its name not reused */
    cr_assert_eq(cdr_apikey_revoke(fx.fx_st, "ivr-1", &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_apikey_check(fx.fx_st, key, len, &ak, &dg), CDR_NOTFOUND);
    cr_assert_eq(cdr_apikey_check(fx.fx_st, key2, strlen(key2), &ak, &dg), 0);
    cr_assert_eq(cdr_apikey_revoke(fx.fx_st, "ivr-1", &dg), 0);
    cr_assert_eq(cdr_apikey_revoke(fx.fx_st, "nope", &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no key nope");
    cr_assert_eq(cdr_apikey_add(fx.fx_st, "ivr-1", CDR_SCOPE_IVR, 7000, bad, &dg), CDR_EXISTS);
    n = 0;
    cr_assert_eq(cdr_apikey_each(fx.fx_st, count_key, &n, &dg), 0);
    cr_assert_eq(n, 2);

    /* the store holds no key text, only hashes */
    char data[4200];
    snprintf(data, sizeof data, "%s/data.mdb", fx.fx_dir);
    cdr_store_close(fx.fx_st);
    cr_assert_not(file_contains(data, key + 10, 43));
    cr_assert_not(file_contains(data, key2 + 12, 43));
    rm_rf(fx.fx_dir);
}

Test(users, read_only_store)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0);
    cdr_store_close(fx.fx_st);
    /* a store with neither database, opened read-only: empty, not an error */
    cr_assert_eq(cdr_store_open(fx.fx_dir, MDB_RDONLY, &fx.fx_st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(user_count(fx.fx_st), 0);
    int n = 0;
    cr_assert_eq(cdr_apikey_each(fx.fx_st, count_key, &n, &dg), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &u, &dg), CDR_NOTFOUND);
    fx_close(&fx);
}

typedef struct login_thread {
    cdr_store *lt_st;
    int lt_bad;
} login_thread;

static void *login_wrong_twice(void *arg)
{
    login_thread *lt = arg;
    for (int i = 0; i < 2; i++) {
        int res = -1;
        cdr_diag dg;
        if (cdr_user_login(lt->lt_st, "ann", PW2, 1000, 0, &res, NULL, NULL, &dg) == 0 &&
            res == CDR_LOGIN_BAD)
            lt->lt_bad++;
    }
    return NULL;
}

/* Attempts from several threads at once: every failure is counted once (the count is written
 * in its own short transaction after each verification). */
Test(users, concurrent_failures_all_counted)
{
    fixture fx;
    fx_open(&fx);
    cdr_diag dg;
    cdr_user u = mk_user("ann", CDR_ROLE_OPERATOR, NULL, 0);
    cr_assert_eq(cdr_user_add(fx.fx_st, &u, PW, 1000, &dg), 0, "%s", dg.dg_msg);
    pthread_t th[3];
    login_thread lt[3];
    for (int i = 0; i < 3; i++) {
        lt[i] = (login_thread){fx.fx_st, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, login_wrong_twice, &lt[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(lt[i].lt_bad, 2);
    }
    cdr_user got;
    cr_assert_eq(cdr_user_get(fx.fx_st, "ann", &got, &dg), 0);
    cr_assert_eq(got.us_failed, 6);
    do_login(fx.fx_st, "ann", PW, 1001, CDR_LOGIN_OK, 0);
    fx_close(&fx);
}
