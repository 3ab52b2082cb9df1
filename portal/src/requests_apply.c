/* requests_apply.c - apply an approved request to the directory file and the store
 * (cdr_req_apply in cdr_requests.h, docs/requests.md "Applying").
 *
 * The directory file stays the source of truth: the change is written into it as text (the
 * operator's comments, order and spelling of the other records are kept), then the whole amended
 * file is validated and loaded, as `cdrate directory load` would. Edits touch one record's field
 * (a membership's to=, a subscriber's plan=, a payment rule's cap=) or append records at the end,
 * each after a comment line naming the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_dir.h"
#include "cdr_requests.h"

#define DL_FIELDS_MAX 40 /* the format allows 32 */

/* ---- one line of the directory file, split as dir_parse.c does (docs/directory.md, "Syntax") --
 */

typedef struct dl_field {
    size_t df_key, df_key_len; /* offsets in the line */
    size_t df_val, df_val_len; /* the value as written (with its quotes) */
} dl_field;

typedef struct dl_line {
    const char *dl_s;
    size_t dl_kind, dl_kind_len;
    dl_field dl_f[DL_FIELDS_MAX];
    int dl_n;
    size_t dl_end; /* the end of the last field (or of the kind): where a new field goes */
} dl_line;

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Split s[0..n) (no line ending). A blank or comment line has dl_kind_len 0. Stops quietly at
 * anything that does not parse: the file was validated before. */
static void dl_split(const char *s, size_t n, dl_line *dl)
{
    memset(dl, 0, sizeof *dl);
    dl->dl_s = s;
    size_t i = 0;
    if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < n && is_ws(s[i]))
        i++;
    if (i >= n || s[i] == '#')
        return;
    dl->dl_kind = i;
    while (i < n && !is_ws(s[i]))
        i++;
    dl->dl_kind_len = i - dl->dl_kind;
    dl->dl_end = i;
    while (dl->dl_n < DL_FIELDS_MAX) {
        while (i < n && is_ws(s[i]))
            i++;
        if (i >= n || s[i] == '#')
            return;
        dl_field *f = &dl->dl_f[dl->dl_n];
        f->df_key = i;
        while (i < n && s[i] != '=' && !is_ws(s[i]))
            i++;
        if (i >= n || s[i] != '=')
            return;
        f->df_key_len = i - f->df_key;
        f->df_val = ++i;
        if (i < n && s[i] == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\' && i + 1 < n)
                    i++;
            if (i < n)
                i++;
        } else {
            while (i < n && !is_ws(s[i]))
                i++;
        }
        f->df_val_len = i - f->df_val;
        dl->dl_end = i;
        dl->dl_n++;
    }
}

static int dl_is_kind(const dl_line *dl, const char *kind)
{
    return dl->dl_kind_len == strlen(kind) &&
           !memcmp(dl->dl_s + dl->dl_kind, kind, dl->dl_kind_len);
}

static const dl_field *dl_get(const dl_line *dl, const char *key)
{
    for (int i = 0; i < dl->dl_n; i++)
        if (dl->dl_f[i].df_key_len == strlen(key) &&
            !memcmp(dl->dl_s + dl->dl_f[i].df_key, key, dl->dl_f[i].df_key_len))
            return &dl->dl_f[i];
    return NULL;
}

/* The value of key as an id (digits), or 0. */
static uint64_t dl_id(const dl_line *dl, const char *key)
{
    const dl_field *f = dl_get(dl, key);
    if (!f || f->df_val_len == 0 || f->df_val_len > 19)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < f->df_val_len; i++) {
        const char c = dl->dl_s[f->df_val + i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (uint64_t)(c - '0');
    }
    return v;
}

/* Write the record dl (its body, without the line ending) with key's value set to val (replaced,
 * or appended as " key=val" after the last field, before any comment), then " " and comment, to
 * f. */
static void dl_write_set(FILE *f, const dl_line *dl, size_t body, const char *key, const char *val,
                         const char *comment)
{
    const dl_field *fd = dl_get(dl, key);
    if (fd) {
        fwrite(dl->dl_s, 1, fd->df_val, f);
        fputs(val, f);
        fwrite(dl->dl_s + fd->df_val + fd->df_val_len, 1, body - fd->df_val - fd->df_val_len, f);
    } else {
        fwrite(dl->dl_s, 1, dl->dl_end, f);
        fprintf(f, " %s=%s", key, val);
        fwrite(dl->dl_s + dl->dl_end, 1, body - dl->dl_end, f);
    }
    fprintf(f, " %s", comment);
}

/* ---- the change --------------------------------------------------------------------------------
 */

enum { EDIT_NONE, EDIT_MEMBERSHIP_TO, EDIT_SUBSCRIBER_PLAN, EDIT_RULE_CAP };

typedef struct apply_plan {
    int ap_edit;          /* the record amended in place, EDIT_* */
    uint64_t ap_edit_id;  /* its id (the subscriber's for a membership) */
    const char *ap_key;   /* the field set */
    char ap_val[64];      /* its new value */
    char ap_append[512];  /* a record appended at the end, or "" */
    char ap_comment[160]; /* the comment line before it */
} apply_plan;

static void money_text(cdr_money v, char *buf, size_t n)
{
    cdr_money_format(v, 6, CDR_ROUND_HALF_EVEN, buf, n);
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    char *end = buf + strlen(buf);
    while (end > dot + 3 && end[-1] == '0')
        *--end = '\0';
}

static int refuse(cdr_req_applied *out, cdr_diag *dg, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(cdr_req_applied *out, cdr_diag *dg, int code, const char *fmt, ...)
{
    out->ra_outcome = CDR_REQ_REFUSED;
    char msg[sizeof dg->dg_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cdr_diag_set(dg, code, NULL, 0, 0, "%s", msg);
}

/* Decide the change of rq against dir (the directory of the file as it is). */
static int plan_change(cdr_store *st, const cdr_request *rq, const cdr_dir *dir, cdr_time now,
                       const char *by, apply_plan *ap, cdr_req_applied *out, cdr_diag *dg)
{
    char ts[40];
    cdr_time_format(now, 0, 1, ts, sizeof ts);
    const unsigned long long en_id = (unsigned long long)rq->rq_enterprise;
    if (!cdr_dir_find_enterprise(dir, rq->rq_enterprise))
        return refuse(out, dg, CDR_NOTFOUND, "enterprise %llu is not in the directory", en_id);
    const cdr_dir_subscriber *sb = cdr_dir_find_msisdn(dir, rq->rq_msisdn);
    if (!sb)
        return refuse(out, dg, CDR_NOTFOUND, "msisdn %s is not in the directory", rq->rq_msisdn);
    out->ra_subscriber = sb->sb_id;
    const unsigned long long sb_id = (unsigned long long)sb->sb_id;
    const cdr_dir_membership *ms = cdr_dir_find_membership(dir, sb->sb_id);
    if (sb->sb_active_to <= now)
        return refuse(out, dg, CDR_EINVAL, "msisdn %s (subscriber %llu) is no longer active",
                      rq->rq_msisdn, sb_id);
    snprintf(ap->ap_comment, sizeof ap->ap_comment, "# request %llu (%s), applied %s by %s",
             (unsigned long long)rq->rq_id, cdr_req_kind_name(rq->rq_kind), ts, by);

    if (rq->rq_kind == CDR_REQ_ADD_MEMBER) {
        if (ms && ms->ms_enterprise == rq->rq_enterprise && ms->ms_to > now)
            return refuse(out, dg, CDR_EXISTS,
                          "msisdn %s (subscriber %llu) is already a member of enterprise %llu "
                          "(product %llu)",
                          rq->rq_msisdn, sb_id, en_id, (unsigned long long)ms->ms_product);
        if (ms)
            return refuse(out, dg, CDR_EXISTS,
                          "msisdn %s (subscriber %llu) already has a membership (enterprise "
                          "%llu, product %llu); a line has at most one membership in a "
                          "directory file",
                          rq->rq_msisdn, sb_id, (unsigned long long)ms->ms_enterprise,
                          (unsigned long long)ms->ms_product);
        const cdr_dir_product *pd = cdr_dir_find_product(dir, rq->rq_product);
        if (!pd)
            return refuse(out, dg, CDR_NOTFOUND, "product %llu is not in the directory",
                          (unsigned long long)rq->rq_product);
        if (pd->pd_enterprise != rq->rq_enterprise)
            return refuse(out, dg, CDR_EINVAL, "product %llu belongs to enterprise %llu, not %llu",
                          (unsigned long long)rq->rq_product, (unsigned long long)pd->pd_enterprise,
                          en_id);
        snprintf(ap->ap_append, sizeof ap->ap_append,
                 "membership subscriber=%llu product=%llu from=%s", sb_id,
                 (unsigned long long)rq->rq_product, ts);
        return 0;
    }

    /* the other kinds concern a present member of the enterprise */
    if (!ms || ms->ms_enterprise != rq->rq_enterprise)
        return refuse(out, dg, CDR_EINVAL,
                      "msisdn %s (subscriber %llu) is not a member of enterprise %llu",
                      rq->rq_msisdn, sb_id, en_id);
    if (ms->ms_to <= now) {
        char left[40];
        cdr_time_format(ms->ms_to, 0, 1, left, sizeof left);
        return refuse(out, dg, CDR_EINVAL, "msisdn %s (subscriber %llu) left enterprise %llu at %s",
                      rq->rq_msisdn, sb_id, en_id, left);
    }
    switch (rq->rq_kind) {
    case CDR_REQ_REMOVE_MEMBER:
        if (ms->ms_from >= now) {
            char from[40];
            cdr_time_format(ms->ms_from, 0, 1, from, sizeof from);
            return refuse(out, dg, CDR_EINVAL,
                          "msisdn %s (subscriber %llu) joins enterprise %llu only at %s, not "
                          "before now: edit the directory file by hand",
                          rq->rq_msisdn, sb_id, en_id, from);
        }
        ap->ap_edit = EDIT_MEMBERSHIP_TO;
        ap->ap_edit_id = sb->sb_id;
        ap->ap_key = "to";
        snprintf(ap->ap_val, sizeof ap->ap_val, "%s", ts);
        return 0;
    case CDR_REQ_CHANGE_PLAN: {
        if (!strcmp(sb->sb_plan, rq->rq_plan))
            return refuse(out, dg, CDR_EXISTS,
                          "msisdn %s (subscriber %llu) is already on plan '%s'", rq->rq_msisdn,
                          sb_id, rq->rq_plan);
        cdr_plan_set *ps = NULL;
        cdr_diag pdg;
        cdr_diag_clear(&pdg);
        int rc = cdr_plan_set_load(st, &ps, &pdg);
        if (rc) {
            out->ra_outcome = CDR_REQ_FAILED;
            *dg = pdg;
            return rc;
        }
        const int have = cdr_plan_set_family(ps, rq->rq_plan) >= 0;
        cdr_plan_set_release(ps);
        if (!have)
            return refuse(out, dg, CDR_NOTFOUND,
                          "plan '%s' is not in the store (compile it first: cdrate plans compile)",
                          rq->rq_plan);
        ap->ap_edit = EDIT_SUBSCRIBER_PLAN;
        ap->ap_edit_id = sb->sb_id;
        ap->ap_key = "plan";
        snprintf(ap->ap_val, sizeof ap->ap_val, "%s", rq->rq_plan);
        snprintf(ap->ap_append, sizeof ap->ap_append,
                 "plan_change subscriber=%llu previous=%s plan=%s from=%s", sb_id, sb->sb_plan,
                 rq->rq_plan, ts);
        return 0;
    }
    case CDR_REQ_RAISE_CAP: {
        size_t nr = 0;
        const cdr_dir_payment_rule *pr = cdr_dir_payment_rules(dir, &nr);
        const cdr_dir_payment_rule *own = NULL;
        size_t nown = 0;
        uint64_t max_id = 0;
        for (size_t i = 0; i < nr; i++) {
            if (pr[i].pr_id > max_id)
                max_id = pr[i].pr_id;
            if (pr[i].pr_scope == CDR_DIR_SCOPE_SUBSCRIBER && pr[i].pr_target == sb->sb_id) {
                own = own ? own : &pr[i];
                nown++;
            }
        }
        char cap[40];
        money_text(rq->rq_cap, cap, sizeof cap);
        if (nown > 1)
            return refuse(out, dg, CDR_EINVAL,
                          "subscriber %llu has %zu payment rules of its own: which cap to change "
                          "is not clear; edit the directory file by hand",
                          sb_id, nown);
        if (own) {
            if (own->pr_cap == rq->rq_cap)
                return refuse(out, dg, CDR_EXISTS,
                              "payment rule %llu of subscriber %llu already has cap %s",
                              (unsigned long long)own->pr_id, sb_id, cap);
            ap->ap_edit = EDIT_RULE_CAP;
            ap->ap_edit_id = own->pr_id;
            ap->ap_key = "cap";
            snprintf(ap->ap_val, sizeof ap->ap_val, "%s", cap);
            return 0;
        }
        if (max_id >= (uint64_t)INT64_MAX)
            return refuse(out, dg, CDR_LIMIT, "no payment rule id left");
        /* a rule of the member's own: the classes the enterprise pays for it now, under the cap */
        const cdr_dir_payment_rule *app[64];
        const size_t na = cdr_dir_rules_for(dir, sb, app, 64);
        uint32_t classes = 0;
        for (size_t i = 0; i < na && i < 64; i++)
            classes |= app[i]->pr_classes;
        if (!classes)
            classes = CDR_DIR_CLASSES_ALL;
        char list[200];
        size_t ln = 0;
        list[0] = '\0';
        if (classes == CDR_DIR_CLASSES_ALL)
            snprintf(list, sizeof list, "all");
        else
            for (int c = 1; c < CDR_CLASS_COUNT; c++)
                if (classes & (1u << c))
                    ln += (size_t)snprintf(list + ln, sizeof list - ln, "%s%s", ln ? "," : "",
                                           cdr_dir_charge_name(c));
        snprintf(ap->ap_append, sizeof ap->ap_append,
                 "payment_rule id=%llu subscriber=%llu classes=%s cap=%s",
                 (unsigned long long)max_id + 1, sb_id, list, cap);
        return 0;
    }
    default:
        return refuse(out, dg, CDR_EINVAL, "unknown request kind %u", (unsigned)rq->rq_kind);
    }
}

/* dg's message with prefix before it and suffix after it (the message cut to fit). */
static void diag_wrap(cdr_diag *dg, const char *prefix, const char *suffix)
{
    char msg[sizeof dg->dg_msg];
    const size_t fixed = strlen(prefix) + strlen(suffix);
    const int room = fixed < sizeof msg - 1 ? (int)(sizeof msg - 1 - fixed) : 0;
    snprintf(msg, sizeof msg, "%s%.*s%s", prefix, room, dg->dg_msg, suffix);
    memcpy(dg->dg_msg, msg, sizeof msg);
}

/* ---- the amended file --------------------------------------------------------------------------
 */

/* Copy in to out with the edit of ap, then append ap's record. *found gets how many records were
 * amended. Returns 0, or -1 on a read or write error (errno). */
static int copy_amended(FILE *in, FILE *out, const apply_plan *ap, int *found)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    const char *eol = "\n";
    int last_nl = 1;
    *found = 0;
    while ((n = getline(&line, &cap, in)) > 0) {
        size_t len = (size_t)n;
        last_nl = line[len - 1] == '\n';
        size_t body = len - (last_nl ? 1 : 0);
        if (body && line[body - 1] == '\r')
            body--;
        eol = last_nl && body + 2 == len ? "\r\n" : "\n";
        dl_line dl;
        dl_split(line, body, &dl);
        int hit = 0;
        if (ap->ap_edit == EDIT_MEMBERSHIP_TO && dl_is_kind(&dl, "membership"))
            hit = dl_id(&dl, "subscriber") == ap->ap_edit_id;
        else if (ap->ap_edit == EDIT_SUBSCRIBER_PLAN && dl_is_kind(&dl, "subscriber"))
            hit = dl_id(&dl, "id") == ap->ap_edit_id;
        else if (ap->ap_edit == EDIT_RULE_CAP && dl_is_kind(&dl, "payment_rule"))
            hit = dl_id(&dl, "id") == ap->ap_edit_id;
        if (hit) {
            (*found)++;
            dl_write_set(out, &dl, body, ap->ap_key, ap->ap_val, ap->ap_comment);
            fwrite(line + body, 1, len - body, out);
        } else {
            fwrite(line, 1, len, out);
        }
    }
    const int err = ferror(in);
    free(line);
    if (err) {
        errno = EIO;
        return -1;
    }
    if (ap->ap_append[0]) {
        if (!last_nl)
            fputs(eol, out);
        fprintf(out, "%s%s%s%s", ap->ap_comment, eol, ap->ap_append, eol);
    }
    return ferror(out) ? -1 : 0;
}

/* fsync the folder holding path. */
static int sync_dir_of(const char *path)
{
    char d[4200];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash)
        snprintf(d, sizeof d, ".");
    else if (slash == d)
        d[1] = '\0';
    else
        *slash = '\0';
    const int fd = open(d, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    const int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The record amended in place, as in the amended file, into buf ("" when none). */
static void edited_record(const char *path, const apply_plan *ap, char *buf, size_t n)
{
    buf[0] = '\0';
    if (ap->ap_edit == EDIT_NONE)
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        size_t body = (size_t)len;
        while (body && (line[body - 1] == '\n' || line[body - 1] == '\r'))
            body--;
        dl_line dl;
        dl_split(line, body, &dl);
        const char *kind = ap->ap_edit == EDIT_MEMBERSHIP_TO     ? "membership"
                           : ap->ap_edit == EDIT_SUBSCRIBER_PLAN ? "subscriber"
                                                                 : "payment_rule";
        const char *key = ap->ap_edit == EDIT_MEMBERSHIP_TO ? "subscriber" : "id";
        if (dl_is_kind(&dl, kind) && dl_id(&dl, key) == ap->ap_edit_id) {
            snprintf(buf, n, "%.*s", (int)body, line);
            break;
        }
    }
    free(line);
    fclose(f);
}

int cdr_req_apply(cdr_store *st, uint64_t id, const char *dir_path, const char *by, cdr_time now,
                  cdr_req_applied *out, cdr_diag *dg)
{
    memset(out, 0, sizeof *out);
    out->ra_outcome = CDR_REQ_FAILED;
    if (!st || !st->st_env || !dir_path)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store or no directory file");
    if (!by || !cdr_req_name_valid(by, CDR_NAME_MAX))
        return refuse(out, dg, CDR_EINVAL,
                      "by: '%s' is not a login (letters, digits and . _ - @, 1 .. 31 bytes)",
                      by ? by : "");

    /* one apply at a time on this store */
    char lockp[sizeof st->st_path + 32];
    snprintf(lockp, sizeof lockp, "%s/requests.lock", st->st_path);
    const int lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0)
        return cdr_diag_set(dg, CDR_EIO, lockp, 0, 0, "cannot open the lock file: %s",
                            strerror(errno));
    if (flock(lockfd, LOCK_EX) != 0) {
        const int e = errno;
        close(lockfd);
        return cdr_diag_set(dg, CDR_EIO, lockp, 0, 0, "cannot lock: %s", strerror(e));
    }

    int rc;
    cdr_dir *dir = NULL, *dir2 = NULL;
    char tmp[4200] = "";
    FILE *in = NULL, *tf = NULL;
    cdr_request rq;
    if ((rc = cdr_req_get(st, id, &rq, dg)) != 0) {
        out->ra_outcome = rc == CDR_NOTFOUND ? CDR_REQ_UNKNOWN : CDR_REQ_FAILED;
        goto done;
    }
    out->ra_enterprise = rq.rq_enterprise;
    if (rq.rq_state != CDR_REQ_APPROVED) {
        rc = refuse(out, dg, CDR_EINVAL,
                    "request %llu is %s: only an approved request can be applied",
                    (unsigned long long)id, cdr_req_state_name(rq.rq_state));
        goto done;
    }
    /* the directory as it is */
    if ((rc = cdr_dir_parse_file(dir_path, NULL, &dir, dg)) != 0) {
        out->ra_outcome = rc == CDR_EIO || rc == CDR_ENOMEM ? CDR_REQ_FAILED : CDR_REQ_REFUSED;
        if (out->ra_outcome == CDR_REQ_REFUSED)
            diag_wrap(dg, "", " (the directory file does not validate as it is: fix it first)");
        goto done;
    }
    apply_plan ap;
    memset(&ap, 0, sizeof ap);
    if ((rc = plan_change(st, &rq, dir, now, by, &ap, out, dg)) != 0)
        goto done;

    /* the amended file beside the original, with its mode */
    struct stat sbuf;
    if (stat(dir_path, &sbuf) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, dir_path, 0, 0, "cannot stat: %s", strerror(errno));
        goto done;
    }
    snprintf(tmp, sizeof tmp, "%s.req-XXXXXX", dir_path);
    const int tfd = mkstemp(tmp);
    if (tfd < 0) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot create the amended file: %s",
                          strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    if (fchmod(tfd, sbuf.st_mode & 07777) != 0 || !(tf = fdopen(tfd, "w"))) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot write the amended file: %s",
                          strerror(errno));
        close(tfd);
        goto done;
    }
    if (!(in = fopen(dir_path, "r"))) {
        rc = cdr_diag_set(dg, CDR_EIO, dir_path, 0, 0, "cannot open directory file: %s",
                          strerror(errno));
        goto done;
    }
    int found = 0;
    if (copy_amended(in, tf, &ap, &found) != 0 || fflush(tf) != 0 || fsync(fileno(tf)) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot write the amended file: %s",
                          strerror(errno));
        goto done;
    }
    fclose(in);
    in = NULL;
    const int cerr = fclose(tf);
    tf = NULL;
    if (cerr != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot write the amended file: %s",
                          strerror(errno));
        goto done;
    }
    if (ap.ap_edit != EDIT_NONE && found != 1) {
        rc = refuse(out, dg, CDR_FORMAT,
                    "found %d records to amend in %s, expected 1 (was the file changed meanwhile?)",
                    found, dir_path);
        goto done;
    }
    /* validated as a whole; the message names the original file (its lines keep their numbers;
     * appended records follow its last line) */
    if ((rc = cdr_dir_parse_file(tmp, NULL, &dir2, dg)) != 0) {
        out->ra_outcome = rc == CDR_EIO || rc == CDR_ENOMEM ? CDR_REQ_FAILED : CDR_REQ_REFUSED;
        snprintf(dg->dg_file, sizeof dg->dg_file, "%s", dir_path);
        char suffix[80];
        snprintf(suffix, sizeof suffix, " (in the file amended by request %llu)",
                 (unsigned long long)id);
        diag_wrap(dg, "", suffix);
        goto done;
    }
    out->ra_outcome = CDR_REQ_FAILED; /* from here on, only the environment fails */
    if ((rc = cdr_dir_write(st, dir2, dg)) != 0)
        goto done;
    if (rename(tmp, dir_path) != 0) {
        const int e = errno;
        cdr_diag rdg;
        const int back = cdr_dir_write(st, dir, &rdg);
        rc = cdr_diag_set(
            dg, CDR_EIO, dir_path, 0, 0,
            "cannot replace the directory file with the amended one (%s): %s", strerror(e),
            back ? "the store holds the amended directory, the file the previous one: "
                   "load the file again"
                 : "the store holds the previous directory again");
        goto done;
    }
    tmp[0] = '\0';
    /* The rename is done and visible: a folder that cannot be synced (EIO) does not undo it, and
     * the next write on that file system reports the fault. */
    (void)sync_dir_of(dir_path);
    if ((rc = cdr_req_mark_done(st, id, by, now, dg)) != 0) {
        char prefix[120];
        snprintf(prefix, sizeof prefix,
                 "the directory file is amended and loaded, but request %llu could not be "
                 "marked done: ",
                 (unsigned long long)id);
        diag_wrap(dg, prefix, "");
        goto done;
    }
    out->ra_outcome = CDR_REQ_APPLIED;
    edited_record(dir_path, &ap, out->ra_records[0], sizeof out->ra_records[0]);
    snprintf(out->ra_records[ap.ap_edit != EDIT_NONE ? 1 : 0], sizeof out->ra_records[0], "%s",
             ap.ap_append);
    rc = 0;
done:
    if (in)
        fclose(in);
    if (tf)
        fclose(tf);
    if (tmp[0])
        unlink(tmp);
    cdr_dir_free(dir);
    cdr_dir_free(dir2);
    flock(lockfd, LOCK_UN);
    close(lockfd);
    return rc;
}
