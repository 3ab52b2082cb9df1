/* audit.c - the portal's audit log: one JSON object per line, appended, never rewritten
 * (docs/portal.md, "Audit log"). Every statement access, every login and logout, every change
 * (requests), every refusal of a statement or a change. No secret ever enters it: no password, no
 * session token, no API key (a key is named by its name). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"

int pt_audit_open(pt_server *s, cdr_diag *dg)
{
    char def[4200];
    const char *path = s->cfg.pc_audit;
    if (!path) {
        snprintf(def, sizeof def, "%s/audit.log", s->cfg.pc_store);
        path = def;
    }
    s->audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (s->audit_fd < 0)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open the audit log: %s",
                            strerror(errno));
    return 0;
}

void pt_audit_close(pt_server *s)
{
    if (s->audit_fd >= 0)
        close(s->audit_fd);
    s->audit_fd = -1;
}

static const char *who(const pt_req *r, const char **role)
{
    if (r->id.id_kind == PT_USER) {
        *role = cdr_role_name(r->id.id_user.us_role);
        return r->id.id_user.us_login;
    }
    if (r->id.id_kind == PT_KEY) {
        *role = "api-key";
        return r->id.id_key.ak_name;
    }
    *role = "anonymous";
    return "";
}

int pt_audit(pt_req *r, const char *action, const char *target, const char *outcome,
             const char *detail)
{
    pt_server *s = r->srv;
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f)
        return -1;
    char t[40];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *role;
    const char *w = who(r, &role);
    /* the number and the write under one lock: the lines of a process are in seq order */
    pthread_mutex_lock(&s->audit_mu);
    uint64_t seq = ++s->audit_seq;
    fprintf(f, "{\"time\":\"%s\",\"pid\":%ld,\"seq\":%" PRIu64 ",\"who\":",
            cdr_time_format(ts.tv_sec, 0, 1, t, sizeof t), (long)getpid(), seq);
    cdr_json_write_str(f, w);
    fprintf(f, ",\"role\":\"%s\",\"from\":", role ? role : "unknown");
    cdr_json_write_str(f, r->ip);
    fputs(",\"action\":", f);
    cdr_json_write_str(f, action);
    fputs(",\"target\":", f);
    cdr_json_write_str(f, target ? target : "");
    fputs(",\"outcome\":", f);
    cdr_json_write_str(f, outcome);
    if (detail) {
        fputs(",\"detail\":", f);
        cdr_json_write_str(f, detail);
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        pthread_mutex_unlock(&s->audit_mu);
        free(line);
        return -1;
    }
    /* one write() per line (O_APPEND: lines of several servers never interleave inside a line),
     * then on disk before the answer leaves */
    ssize_t w2 = write(s->audit_fd, line, len);
    if (w2 == (ssize_t)len)
        fdatasync(s->audit_fd);
    pthread_mutex_unlock(&s->audit_mu);
    if (w2 != (ssize_t)len)
        fprintf(stderr, "cdrate serve: cannot write the audit log: %s\n",
                w2 < 0 ? strerror(errno) : "short write");
    free(line);
    return w2 == (ssize_t)len ? 0 : -1;
}
