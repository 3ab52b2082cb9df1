/* cmd_users.c - `cdrate users`: the portal's users and API keys in the store (cdr_users.h,
 * docs/users.md). Passwords come from a file (--password-file) or standard input, never from the
 * command line; no message ever shows one. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cdr_dir.h"
#include "cdr_users.h"
#include "cli.h"

static const char *const role_choices[] = {"member", "enterprise-admin", "manager", "operator",
                                           NULL};
static const char *const scope_choices[] = {"ivr", NULL};

/* The exit code of a library error: 6 unknown login or key, 4 refused (exists, bad password),
 * 1 the rest (store, memory). */
static int users_exit(int rc)
{
    switch (rc) {
    case 0:
        return CLI_EXIT_OK;
    case CDR_NOTFOUND:
        return CLI_EXIT_NOTFOUND;
    case CDR_EXISTS:
    case CDR_EINVAL:
        return CLI_EXIT_REFUSED;
    default:
        return CLI_EXIT_FAIL;
    }
}

/* Report dg and return the exit code of rc. */
static int users_fail(const char *cmd, int rc, const cdr_diag *dg)
{
    cli_report(cmd, dg);
    return users_exit(rc);
}

static int stdout_done(const char *cmd)
{
    if (cli_fclose(stdout) != 0) {
        cli_error(cmd, CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* The first line of file (or of standard input when file is NULL; asked for without echo on a
 * terminal) without its line end ("\n" or "\r\n"), into buf[CDR_PASSWORD_MAX + 1], and checked
 * (cdr_user_password_check). Returns CLI_EXIT_OK, or the exit code after reporting. */
static int read_password(const char *cmd, const char *file, char *buf, size_t *len)
{
    FILE *f = file ? fopen(file, "r") : stdin;
    if (!f) {
        cli_error(cmd, CDR_EIO, "%s: cannot open the password file: %s", file, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    struct termios saved;
    const int tty = !file && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        struct termios quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        fputs("password: ", stderr);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    const int read_err = n < 0 && ferror(f);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (file)
        fclose(f);
    if (n > 0 && line[n - 1] == '\n')
        n--;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    int ec = CLI_EXIT_OK;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (read_err) {
        cli_error(cmd, CDR_EIO, "%s: cannot read the password: %s", file ? file : "standard input",
                  strerror(errno));
        ec = CLI_EXIT_FAIL;
    } else if (n <= 0) {
        cli_error(cmd, CDR_EINVAL, "no password: the first line of %s is empty",
                  file ? file : "standard input");
        ec = CLI_EXIT_REFUSED;
    } else if (cdr_user_password_check(line, (size_t)n, &dg) != 0) {
        cli_report(cmd, &dg);
        ec = CLI_EXIT_REFUSED;
    } else {
        memcpy(buf, line, (size_t)n);
        buf[n] = '\0';
        *len = (size_t)n;
    }
    if (line) {
        explicit_bzero(line, cap);
        free(line);
    }
    return ec;
}

/* Non-zero when the store holds a directory (its layout entry). */
static int dir_present(cdr_store *st)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    if (mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    MDB_val k = {6, "layout"}, v;
    const int found =
        mdb_dbi_open(txn, CDR_DB_DIR_META, 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &v) == 0;
    mdb_txn_abort(txn);
    return found;
}

/* A member's line or an enterprise admin's enterprise must be in the store's directory. */
static int check_scope_in_directory(const char *cmd, cdr_store *st, const char *storepath,
                                    const cdr_user *u)
{
    if (!dir_present(st)) {
        cli_error(cmd, CDR_NOTFOUND,
                  "no directory in the store %s: a %s's %s cannot be checked (cdrate directory "
                  "load first); nothing changed",
                  storepath, cdr_role_name(u->us_role),
                  u->us_role == CDR_ROLE_MEMBER ? "msisdn" : "enterprise");
        return CLI_EXIT_REFUSED;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (u->us_role == CDR_ROLE_MEMBER) {
        cdr_dir_subscriber sb;
        int rc = cdr_dir_lookup_msisdn(st, u->us_msisdn, &sb, &dg);
        if (rc == CDR_NOTFOUND) {
            cli_error(cmd, CDR_NOTFOUND, "msisdn %s is not in the directory", u->us_msisdn);
            return CLI_EXIT_NOTFOUND;
        }
        return rc ? users_fail(cmd, rc, &dg) : CLI_EXIT_OK;
    }
    cdr_dir *dir = NULL;
    int rc = cdr_dir_read(st, &dir, &dg);
    if (rc) {
        cli_report(cmd, &dg);
        return rc == CDR_VERSION || rc == CDR_NOTFOUND ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    }
    const int known = cdr_dir_find_enterprise(dir, u->us_enterprise) != NULL;
    cdr_dir_free(dir);
    if (!known) {
        cli_error(cmd, CDR_NOTFOUND, "enterprise %" PRIu64 " is not in the directory",
                  u->us_enterprise);
        return CLI_EXIT_NOTFOUND;
    }
    return CLI_EXIT_OK;
}

/* Parse a verb's command line: exactly nargs positional arguments (their names in what, for the
 * message) and --store. Returns the index of the first positional argument, or -(exit code). */
static int verb_parse(const cli_spec *cs, int argc, char **argv, int nargs, const char *what,
                      const char *const *store)
{
    int pos = cli_parse(cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? -CLI_EXIT_OK - 100 : -CLI_EXIT_USAGE;
    if (argc - pos < nargs)
        return -cli_usage_error(cs, "missing %s", what);
    if (argc - pos > nargs)
        return -cli_usage_error(cs, "unexpected argument '%s'", argv[pos + nargs]);
    if (!*store)
        return -cli_usage_error(cs, "--store is required");
    return pos;
}

/* The exit code of a negative verb_parse result. */
static int parse_exit(int pos)
{
    return pos == -CLI_EXIT_OK - 100 ? CLI_EXIT_OK : -pos;
}

static int login_arg(const cli_spec *cs, const char *login)
{
    if (cdr_user_login_valid(login))
        return CLI_EXIT_OK;
    return cli_usage_error(cs,
                           "'%s' is not a valid login: 1 to %d letters, digits, '.', '_', '-' "
                           "or '@'",
                           login, CDR_NAME_MAX - 1);
}

static int key_name_arg(const cli_spec *cs, const char *name)
{
    if (cdr_apikey_name_valid(name))
        return CLI_EXIT_OK;
    return cli_usage_error(cs, "'%s' is not a valid key name: 1 to %d letters, digits, '.' or '-'",
                           name, CDR_NAME_MAX - 1);
}

/* ---- users add, passwd, disable, enable ------------------------------------------------------ */

static int users_add(int argc, char **argv)
{
    const char *store = NULL, *msisdn = NULL, *pwfile = NULL;
    uint64_t enterprise = 0;
    int role = -1, json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"role", CLI_CHOICE, &role, "ROLE", "the user's role (required)", 0, 0, role_choices},
        {"msisdn", CLI_STRING, &msisdn, "N", "member: the line (in the store's directory)"},
        {"enterprise", CLI_COUNT, &enterprise, "ID",
         "enterprise-admin: the enterprise (in the store's directory)", 1, (uint64_t)INT64_MAX},
        {"password-file", CLI_STRING, &pwfile, "F",
         "the password: the first line of F (default: standard input)"},
        {"json", CLI_FLAG, &json, NULL, "the user as one JSON object on stdout"},
        {0},
    };
    const cli_spec cs = {
        "users add",
        "LOGIN --store STORE --role member|enterprise-admin|manager|operator "
        "[--msisdn N] [--enterprise ID] [--password-file F] [--json]",
        "Add a portal user. A member sees one line (--msisdn, which must be in the store's\n"
        "directory), an enterprise-admin one enterprise (--enterprise, in the directory), a\n"
        "manager the enterprises whose directory entry names the login as a manager, an\n"
        "operator everything. The password is the first line of F, or of standard input:\n"
        "10 to 256 bytes of UTF-8; it is stored as an Argon2id hash only. Exit codes: 4 the\n"
        "login exists, a bad password, no store or no directory; 6 the msisdn or enterprise is\n"
        "not in the directory. docs/users.md",
        opts};
    int pos = verb_parse(&cs, argc, argv, 1, "LOGIN", &store);
    if (pos < 0)
        return parse_exit(pos);
    const char *login = argv[pos];
    int ec = login_arg(&cs, login);
    if (ec)
        return ec;
    if (role < 0)
        return cli_usage_error(&cs, "--role is required");
    cdr_user u;
    memset(&u, 0, sizeof u);
    memcpy(u.us_login, login, strlen(login));
    u.us_role = (uint8_t)cdr_role_parse(role_choices[role]);
    const char *rn = role_choices[role];
    if (u.us_role == CDR_ROLE_MEMBER) {
        if (!msisdn)
            return cli_usage_error(&cs, "a member needs --msisdn");
        if (enterprise)
            return cli_usage_error(&cs, "--enterprise is for an enterprise-admin, not a member");
        const size_t ml = strlen(msisdn);
        if (ml == 0 || ml >= CDR_NUMBER_MAX || strspn(msisdn, "0123456789") != ml)
            return cli_usage_error(&cs, "--msisdn must be 1 to %d digits, not '%s'",
                                   CDR_NUMBER_MAX - 1, msisdn);
        memcpy(u.us_msisdn, msisdn, ml);
    } else if (u.us_role == CDR_ROLE_ENTERPRISE_ADMIN) {
        if (!enterprise)
            return cli_usage_error(&cs, "an enterprise-admin needs --enterprise");
        if (msisdn)
            return cli_usage_error(&cs, "--msisdn is for a member, not an enterprise-admin");
        u.us_enterprise = enterprise;
    } else if (msisdn || enterprise) {
        return cli_usage_error(&cs, "a %s has neither --msisdn nor --enterprise", rn);
    }
    cdr_store *st = NULL;
    if ((ec = cli_store_open("users add", store, CLI_STORE_WRITE, &st)) != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_user old;
    int rc = cdr_user_get(st, login, &old, &dg);
    if (rc == 0) {
        cdr_store_close(st);
        cli_error("users add", CDR_EXISTS, "user %s already exists; nothing changed", login);
        return CLI_EXIT_REFUSED;
    }
    if (rc != CDR_NOTFOUND) {
        cdr_store_close(st);
        return users_fail("users add", rc, &dg);
    }
    if (u.us_role == CDR_ROLE_MEMBER || u.us_role == CDR_ROLE_ENTERPRISE_ADMIN) {
        if ((ec = check_scope_in_directory("users add", st, store, &u)) != CLI_EXIT_OK) {
            cdr_store_close(st);
            return ec;
        }
    }
    char pw[CDR_PASSWORD_MAX + 1];
    size_t pwlen = 0;
    if ((ec = read_password("users add", pwfile, pw, &pwlen)) != CLI_EXIT_OK) {
        cdr_store_close(st);
        return ec;
    }
    rc = cdr_user_add(st, &u, pw, (cdr_time)time(NULL), &dg);
    explicit_bzero(pw, sizeof pw);
    if (rc == 0)
        rc = cdr_user_get(st, login, &u, &dg);
    cdr_store_close(st);
    if (rc)
        return users_fail("users add", rc, &dg);
    if (json) {
        printf("{\"login\":");
        cli_json_str(stdout, u.us_login);
        printf(",\"role\":\"%s\",\"msisdn\":", rn);
        if (u.us_msisdn[0])
            cli_json_str(stdout, u.us_msisdn);
        else
            printf("null");
        if (u.us_enterprise)
            printf(",\"enterprise\":%" PRIu64 "}\n", u.us_enterprise);
        else
            printf(",\"enterprise\":null}\n");
    } else {
        fprintf(stderr, "cdrate users: user %s added (%s)\n", login, rn);
    }
    return stdout_done("users add");
}

static int users_passwd(int argc, char **argv)
{
    const char *store = NULL, *pwfile = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"password-file", CLI_STRING, &pwfile, "F",
         "the new password: the first line of F (default: standard input)"},
        {"json", CLI_FLAG, &json, NULL, "errors as JSON on stderr"},
        {0},
    };
    const cli_spec cs = {
        "users passwd", "LOGIN --store STORE [--password-file F] [--json]",
        "Give a user a new password (the first line of F, or of standard input): every session\n"
        "of the user ends, a lock and the count of failed logins are cleared. Exit codes: 6 no\n"
        "such user, 4 a bad password or no store. docs/users.md",
        opts};
    int pos = verb_parse(&cs, argc, argv, 1, "LOGIN", &store);
    if (pos < 0)
        return parse_exit(pos);
    const char *login = argv[pos];
    int ec = login_arg(&cs, login);
    if (ec)
        return ec;
    cdr_store *st = NULL;
    if ((ec = cli_store_open("users passwd", store, CLI_STORE_WRITE, &st)) != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_user u;
    int rc = cdr_user_get(st, login, &u, &dg);
    if (rc == CDR_NOTFOUND)
        cdr_diag_set(&dg, CDR_NOTFOUND, NULL, 0, 0, "no user %s", login);
    if (rc) {
        cdr_store_close(st);
        return users_fail("users passwd", rc, &dg);
    }
    char pw[CDR_PASSWORD_MAX + 1];
    size_t pwlen = 0;
    if ((ec = read_password("users passwd", pwfile, pw, &pwlen)) != CLI_EXIT_OK) {
        cdr_store_close(st);
        return ec;
    }
    rc = cdr_user_passwd(st, login, pw, (cdr_time)time(NULL), &dg);
    explicit_bzero(pw, sizeof pw);
    cdr_store_close(st);
    if (rc)
        return users_fail("users passwd", rc, &dg);
    if (json)
        printf("{\"login\":\"%s\",\"password_changed\":true}\n", login);
    else
        fprintf(stderr, "cdrate users: the password of %s is changed; its sessions end\n", login);
    return stdout_done("users passwd");
}

static int users_disable(int argc, char **argv, int disabled)
{
    const char *store = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"json", CLI_FLAG, &json, NULL, "errors as JSON on stderr"},
        {0},
    };
    const char *cmd = disabled ? "users disable" : "users enable";
    const cli_spec cs = {
        cmd, "LOGIN --store STORE [--json]",
        disabled
            ? "Disable a user: it can no longer log in and its sessions end (the user and its\n"
              "password stay; `users enable` lets it in again). Exit code 6: no such user.\n"
              "docs/users.md"
            : "Enable a disabled user again. Exit code 6: no such user. docs/users.md",
        opts};
    int pos = verb_parse(&cs, argc, argv, 1, "LOGIN", &store);
    if (pos < 0)
        return parse_exit(pos);
    const char *login = argv[pos];
    int ec = login_arg(&cs, login);
    if (ec)
        return ec;
    cdr_store *st = NULL;
    if ((ec = cli_store_open(cmd, store, CLI_STORE_WRITE, &st)) != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_user_set_disabled(st, login, disabled, (cdr_time)time(NULL), &dg);
    cdr_store_close(st);
    if (rc)
        return users_fail(cmd, rc, &dg);
    if (json)
        printf("{\"login\":\"%s\",\"disabled\":%s}\n", login, disabled ? "true" : "false");
    else
        fprintf(stderr, "cdrate users: %s is %s\n", login, disabled ? "disabled" : "enabled");
    return stdout_done(cmd);
}

/* ---- users list -------------------------------------------------------------------------------
 */

typedef struct list_ctx {
    int lc_json;
    size_t lc_n;
    cdr_time lc_now;
} list_ctx;

static void time_json(const char *name, cdr_time t)
{
    char ts[40];
    if (t)
        printf(",\"%s\":\"%s\"", name, cdr_time_format(t, 0, 1, ts, sizeof ts));
    else
        printf(",\"%s\":null", name);
}

static int list_user(void *arg, const cdr_user *u)
{
    list_ctx *lc = arg;
    char created[40], locked[40], scope[64];
    cdr_time_format(u->us_created, 0, 1, created, sizeof created);
    const int is_locked = u->us_locked_until > lc->lc_now;
    if (lc->lc_json) {
        printf("%s{\"login\":", lc->lc_n ? "," : "");
        cli_json_str(stdout, u->us_login);
        printf(",\"role\":\"%s\",\"msisdn\":", cdr_role_name(u->us_role));
        if (u->us_msisdn[0])
            cli_json_str(stdout, u->us_msisdn);
        else
            printf("null");
        if (u->us_enterprise)
            printf(",\"enterprise\":%" PRIu64, u->us_enterprise);
        else
            printf(",\"enterprise\":null");
        printf(",\"disabled\":%s,\"locked\":%s", u->us_disabled ? "true" : "false",
               is_locked ? "true" : "false");
        time_json("locked_until", u->us_locked_until);
        printf(",\"failed\":%" PRIu32 ",\"generation\":%" PRIu32, u->us_failed, u->us_generation);
        time_json("created", u->us_created);
        time_json("changed", u->us_changed);
        printf("}");
    } else {
        if (lc->lc_n == 0)
            printf("%-31s %-16s %-25s %-8s %-6s %-20s %s\n", "LOGIN", "ROLE", "SCOPE", "STATUS",
                   "FAILED", "LOCKED_UNTIL", "CREATED");
        if (u->us_msisdn[0])
            snprintf(scope, sizeof scope, "msisdn %s", u->us_msisdn);
        else if (u->us_enterprise)
            snprintf(scope, sizeof scope, "enterprise %" PRIu64, u->us_enterprise);
        else
            snprintf(scope, sizeof scope, "-");
        if (u->us_locked_until)
            cdr_time_format(u->us_locked_until, 0, 1, locked, sizeof locked);
        else
            snprintf(locked, sizeof locked, "-");
        printf("%-31s %-16s %-25s %-8s %-6" PRIu32 " %-20s %s\n", u->us_login,
               cdr_role_name(u->us_role), scope, u->us_disabled ? "disabled" : "enabled",
               u->us_failed, locked, created);
    }
    lc->lc_n++;
    return 0;
}

static int list_key(void *arg, const cdr_apikey *k)
{
    list_ctx *lc = arg;
    char created[40], scopes[64] = "";
    cdr_time_format(k->ak_created, 0, 1, created, sizeof created);
    for (uint32_t bit = 1; bit; bit <<= 1)
        if ((k->ak_scopes & bit) && cdr_scope_name(bit))
            snprintf(scopes + strlen(scopes), sizeof scopes - strlen(scopes), "%s%s",
                     scopes[0] ? "," : "", cdr_scope_name(bit));
    if (lc->lc_json) {
        printf("%s{\"name\":", lc->lc_n ? "," : "");
        cli_json_str(stdout, k->ak_name);
        printf(",\"scope\":\"%s\",\"revoked\":%s", scopes, k->ak_disabled ? "true" : "false");
        time_json("created", k->ak_created);
        printf("}");
    } else {
        if (lc->lc_n == 0)
            printf("%-31s %-10s %-8s %s\n", "NAME", "SCOPE", "STATUS", "CREATED");
        printf("%-31s %-10s %-8s %s\n", k->ak_name, scopes, k->ak_disabled ? "revoked" : "active",
               created);
    }
    lc->lc_n++;
    return 0;
}

static int users_list(int argc, char **argv, int keys)
{
    const char *store = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on stdout"},
        {0},
    };
    const char *cmd = keys ? "users key-list" : "users list";
    const cli_spec cs = {
        cmd, "--store STORE [--json]",
        keys ? "The API keys: name, scope, active or revoked, when added (never a key or its\n"
               "hash). docs/users.md"
             : "The users in login order: role, scope (msisdn or enterprise), enabled or\n"
               "disabled, failed logins in a row, locked until, when added (never a password or\n"
               "its hash). docs/users.md",
        opts};
    int pos = verb_parse(&cs, argc, argv, 0, "", &store);
    if (pos < 0)
        return parse_exit(pos);
    cdr_store *st = NULL;
    int ec = cli_store_open(cmd, store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    list_ctx lc = {json, 0, (cdr_time)time(NULL)};
    if (json)
        printf("{\"%s\":[", keys ? "keys" : "users");
    int rc =
        keys ? cdr_apikey_each(st, list_key, &lc, &dg) : cdr_user_each(st, list_user, &lc, &dg);
    cdr_store_close(st);
    if (json)
        printf(rc ? "\n" : "]}\n");
    if (rc)
        return users_fail(cmd, rc, &dg);
    if (!json && lc.lc_n == 0)
        fprintf(stderr, "cdrate users: no %s in %s\n", keys ? "API key" : "user", store);
    return stdout_done(cmd);
}

/* ---- API keys ---------------------------------------------------------------------------------
 */

static int users_key_add(int argc, char **argv)
{
    const char *store = NULL;
    int scope = -1, json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"scope", CLI_CHOICE, &scope, "SCOPE", "what the key may do (required)", 0, 0,
         scope_choices},
        {"json", CLI_FLAG, &json, NULL, "{\"name\":..,\"scope\":..,\"key\":..} on stdout"},
        {0},
    };
    const cli_spec cs = {
        "users key-add", "NAME --scope ivr --store STORE [--json]",
        "Add an API key for a machine client and print it once, on a line of its own:\n"
        "cdk_NAME_ and 43 random characters. Only its SHA-256 is stored: a lost key cannot be\n"
        "shown again (revoke it and add another). Scope ivr: balance, usage and bill to date of\n"
        "any line, nothing else. Exit code 4: the name exists (revoked keys too). docs/users.md",
        opts};
    int pos = verb_parse(&cs, argc, argv, 1, "NAME", &store);
    if (pos < 0)
        return parse_exit(pos);
    const char *name = argv[pos];
    int ec = key_name_arg(&cs, name);
    if (ec)
        return ec;
    if (scope < 0)
        return cli_usage_error(&cs, "--scope is required");
    cdr_store *st = NULL;
    if ((ec = cli_store_open("users key-add", store, CLI_STORE_WRITE, &st)) != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    char key[CDR_APIKEY_MAX];
    int rc = cdr_apikey_add(st, name, cdr_scope_parse(scope_choices[scope]), (cdr_time)time(NULL),
                            key, &dg);
    cdr_store_close(st);
    if (rc == CDR_EXISTS) {
        cli_error("users key-add", rc, "key %s already exists; nothing changed", name);
        return CLI_EXIT_REFUSED;
    }
    if (rc)
        return users_fail("users key-add", rc, &dg);
    if (json)
        printf("{\"name\":\"%s\",\"scope\":\"%s\",\"key\":\"%s\"}\n", name, scope_choices[scope],
               key);
    else
        printf("%s\n", key);
    explicit_bzero(key, sizeof key);
    if (!json)
        fprintf(stderr,
                "cdrate users: key %s added (scope %s); it is shown only this once: keep it now\n",
                name, scope_choices[scope]);
    return stdout_done("users key-add");
}

static int users_key_revoke(int argc, char **argv)
{
    const char *store = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"json", CLI_FLAG, &json, NULL, "errors as JSON on stderr"},
        {0},
    };
    const cli_spec cs = {"users key-revoke", "NAME --store STORE [--json]",
                         "Revoke an API key: it is refused from then on (it stays listed as\n"
                         "revoked; its name is not used again). Exit code 6: no such key.\n"
                         "docs/users.md",
                         opts};
    int pos = verb_parse(&cs, argc, argv, 1, "NAME", &store);
    if (pos < 0)
        return parse_exit(pos);
    const char *name = argv[pos];
    int ec = key_name_arg(&cs, name);
    if (ec)
        return ec;
    cdr_store *st = NULL;
    if ((ec = cli_store_open("users key-revoke", store, CLI_STORE_WRITE, &st)) != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_apikey_revoke(st, name, &dg);
    cdr_store_close(st);
    if (rc)
        return users_fail("users key-revoke", rc, &dg);
    if (json)
        printf("{\"name\":\"%s\",\"revoked\":true}\n", name);
    else
        fprintf(stderr, "cdrate users: key %s is revoked\n", name);
    return stdout_done("users key-revoke");
}

/* ---- dispatch ---------------------------------------------------------------------------------
 */

int cmd_users(int argc, char **argv)
{
    /* a password is never taken from the command line, nor shown back in an error */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strncmp(argv[i], "--password", 10) && strncmp(argv[i], "--password-file", 15)) {
            for (int k = 1; k < argc; k++)
                if (!strcmp(argv[k], "--json"))
                    cli_json = 1;
            cli_error("users", CDR_USAGE,
                      "a password is never given on the command line: use --password-file F or "
                      "standard input");
            return CLI_EXIT_USAGE;
        }
    if (argc > 1 && !strcmp(argv[1], "add"))
        return users_add(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "passwd"))
        return users_passwd(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "disable"))
        return users_disable(argc - 1, argv + 1, 1);
    if (argc > 1 && !strcmp(argv[1], "enable"))
        return users_disable(argc - 1, argv + 1, 0);
    if (argc > 1 && !strcmp(argv[1], "list"))
        return users_list(argc - 1, argv + 1, 0);
    if (argc > 1 && !strcmp(argv[1], "key-add"))
        return users_key_add(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "key-revoke"))
        return users_key_revoke(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "key-list"))
        return users_list(argc - 1, argv + 1, 1);
    cli_opt opts[] = {{0}};
    const cli_spec cs = {
        "users",
        "add LOGIN --store STORE --role ROLE [--msisdn N] [--enterprise ID] [--password-file F]\n"
        "passwd LOGIN --store STORE [--password-file F]\n"
        "disable|enable LOGIN --store STORE\n"
        "list --store STORE [--json]\n"
        "key-add NAME --scope ivr --store STORE [--json]\n"
        "key-revoke NAME --store STORE\n"
        "key-list --store STORE [--json]",
        "The portal's users (roles member, enterprise-admin, manager, operator; Argon2id\n"
        "passwords) and API keys (scope ivr), kept in the store. Passwords are read from\n"
        "--password-file or standard input, never from the command line. `cdrate users VERB\n"
        "--help` for each verb. Exit codes: 4 exists, bad password, no store; 6 unknown user,\n"
        "key, msisdn or enterprise. docs/users.md",
        opts};
    if (argc > 1 && argv[1][0] != '-')
        return cli_usage_error(&cs, "unknown verb '%s'", argv[1]);
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&cs, "missing verb (add, passwd, disable, enable, list, key-add, "
                                    "key-revoke or key-list)");
    return cli_usage_error(&cs, "unknown verb '%s'", argv[pos]);
}
