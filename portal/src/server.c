/* server.c - `cdrate serve`: libmicrohttpd's daemon, one request's life, responses and the
 * resources every handler shares (store, plans, directory, Redis per thread). docs/portal.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cdr_statement.h"
#include "portal_int.h"
#include "server_int.h"

static const char health_body[] = "{\"status\":\"ok\"}\n";
static int health_marker; /* *con_cls of a health request */

/* ---- small helpers -----------------------------------------------------------------------------
 */

int pt_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned c = *p;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t len;
        unsigned min;
        if ((c & 0xE0) == 0xC0)
            len = 2, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0)
            len = 4, min = 0x10000, c &= 0x07;
        else
            return 0;
        if ((size_t)(e - p) < len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        p += len;
    }
    return 1;
}

void pt_json_str(pt_req *r, const char *s)
{
    cdr_json_write_str(r->out, s);
}

void pt_html(pt_req *r, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", r->out);
            break;
        case '<':
            fputs("&lt;", r->out);
            break;
        case '>':
            fputs("&gt;", r->out);
            break;
        case '"':
            fputs("&quot;", r->out);
            break;
        case '\'':
            fputs("&#39;", r->out);
            break;
        default:
            fputc(*s, r->out);
        }
    }
}

const char *pt_header(pt_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *pt_arg(pt_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *pt_cookie(pt_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode s[0..n) (form encoding: '+' is a space) into buf; -1 when malformed or too long. */
static int form_decode(const char *s, size_t n, char *buf, size_t bufsize)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= bufsize)
            return -1;
        buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return (int)o;
}

const char *pt_form(pt_req *r, const char *name, char *buf, size_t bufsize)
{
    if (!r->body)
        return NULL;
    size_t nl = strlen(name);
    const char *p = r->body, *end = r->body + r->body_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *fe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));
        if (eq && (size_t)(eq - p) == nl && !memcmp(p, name, nl)) {
            int n = form_decode(eq + 1, (size_t)(fe - eq - 1), buf, bufsize);
            if (n < 0 || !pt_utf8_ok(buf, (size_t)n))
                return NULL;
            return buf;
        }
        p = fe + 1;
    }
    return NULL;
}

int pt_error(pt_req *r, int status, const char *reason, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* whatever the handler wrote is dropped: the error is the whole answer */
    fflush(r->out);
    fseek(r->out, 0, SEEK_SET);
    r->status = status;
    r->disposition[0] = '\0';
    r->location[0] = '\0';
    if (r->want_json) {
        r->ctype = "application/json";
        fprintf(r->out, "{\"error\":{\"status\":%d,\"reason\":", status);
        pt_json_str(r, reason);
        fputs(",\"message\":", r->out);
        pt_json_str(r, msg);
        fputs("}}\n", r->out);
    } else {
        r->ctype = "text/html; charset=utf-8";
        fprintf(r->out,
                "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>%d</title>"
                "<link rel=\"stylesheet\" href=\"/static/portal.css\"></head><body>"
                "<main class=\"error\"><h1>%d</h1><p>",
                r->lang == CDR_STMT_ZH_CN ? "zh-CN" : "en", status, status);
        pt_html(r, msg);
        fprintf(r->out, "</p><p><a href=\"/\">%s</a></p></main></body></html>\n",
                r->lang == CDR_STMT_ZH_CN ? "返回首页" : "Back to the start page");
    }
    /* a shorter body than what the handler had written: cut there */
    fflush(r->out);
    r->out_len = (size_t)ftell(r->out);
    r->truncate = 1;
    return status;
}

int pt_redirect(pt_req *r, const char *location)
{
    r->status = 303;
    snprintf(r->location, sizeof r->location, "%s", location);
    return 303;
}

cdr_store *pt_store(pt_server *s)
{
    return s->st;
}

const cdr_plan_set *pt_plans(pt_server *s)
{
    return s->ps;
}

const cdr_portal_config *pt_config(pt_server *s)
{
    return &s->cfg;
}

static void redis_free(void *p)
{
    cdr_redis_close(p);
}

cdr_redis *pt_redis(pt_req *r, cdr_diag *dg)
{
    pt_server *s = r->srv;
    if (!s->cfg.pc_redis)
        return NULL;
    cdr_redis *rd = pthread_getspecific(s->redis_key);
    if (rd)
        return rd;
    if (cdr_redis_open(s->cfg.pc_redis, 2000, &rd, dg) != 0)
        return NULL;
    pthread_setspecific(s->redis_key, rd);
    return rd;
}

/* A Redis connection that failed is dropped: the next request opens a new one. */
void pt_redis_drop(pt_req *r)
{
    pt_server *s = r->srv;
    cdr_redis *rd = s->cfg.pc_redis ? pthread_getspecific(s->redis_key) : NULL;
    if (rd) {
        pthread_setspecific(s->redis_key, NULL);
        cdr_redis_close(rd);
    }
}

static void dir_release(pt_server *s, pt_dir *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&s->mu);
    int last = --d->pd_refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last) {
        cdr_dir_free(d->pd_dir);
        free(d);
    }
}

/* Read the directory again when the store's stamp changed: at start, then once a second on the
 * reloader thread, so that no request ever waits for a directory to be read. */
static void dir_refresh(pt_server *s)
{
    cdr_diag dg;
    uint64_t stamp;
    if (cdr_dir_stamp(s->st, &stamp, &dg) != 0)
        return;
    pthread_mutex_lock(&s->mu);
    int same = s->dir && stamp == s->dir_stamp;
    pthread_mutex_unlock(&s->mu);
    cdr_dir *dir = NULL;
    if (same || cdr_dir_read(s->st, &dir, &dg) != 0)
        return;
    pt_dir *nd = calloc(1, sizeof *nd);
    if (!nd) {
        cdr_dir_free(dir);
        return;
    }
    nd->pd_dir = dir;
    nd->pd_refs = 1;
    pthread_mutex_lock(&s->mu);
    pt_dir *old = s->dir;
    s->dir = nd;
    s->dir_stamp = stamp;
    pthread_mutex_unlock(&s->mu);
    dir_release(s, old);
}

static void *reloader(void *arg)
{
    pt_server *s = arg;
    pthread_mutex_lock(&s->reload_mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->reload_cv, &s->reload_mu, &ts);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->reload_mu);
        dir_refresh(s);
        pthread_mutex_lock(&s->reload_mu);
    }
    pthread_mutex_unlock(&s->reload_mu);
    return NULL;
}

const cdr_dir *pt_dir_get(pt_req *r)
{
    if (r->dir)
        return r->dir->pd_dir;
    pt_server *s = r->srv;
    pthread_mutex_lock(&s->mu);
    r->dir = s->dir;
    if (r->dir)
        r->dir->pd_refs++;
    pthread_mutex_unlock(&s->mu);
    return r->dir ? r->dir->pd_dir : NULL;
}

/* ---- one request -------------------------------------------------------------------------------
 */

typedef struct pt_conn {
    char *body;
    size_t len, cap;
    int too_large;
    int answered; /* the answer is queued (an early 413): the rest is dropped */
} pt_conn;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    size_t *n = cls;
    *n += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* An argument or cookie that is not UTF-8, or holds a NUL (a %00 would cut the value short where
 * it is looked up): the request is refused as a whole. */
static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    int *bad = cls;
    if (!pt_utf8_ok(key, key_size) || (value && !pt_utf8_ok(value, value_size)))
        *bad = 1;
    return MHD_YES;
}

/* The client's address: the peer's, or, when the peer is the --trusted-proxy, the last address
 * of its X-Forwarded-For (the one the proxy itself saw). */
static void client_ip(pt_server *s, struct MHD_Connection *c, char *buf, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, n, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)n);
    const char *xff;
    if (!s->cfg.pc_trusted_proxy || strcmp(buf, s->cfg.pc_trusted_proxy) != 0 ||
        !(xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For")))
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    last += strspn(last, " ");
    size_t len = strcspn(last, " ");
    char cand[64];
    if (len == 0 || len >= sizeof cand)
        return;
    memcpy(cand, last, len);
    cand[len] = '\0';
    unsigned char tmp[16];
    if (inet_pton(AF_INET, cand, tmp) == 1 || inet_pton(AF_INET6, cand, tmp) == 1)
        snprintf(buf, n, "%s", cand); /* only an address: never free text into the audit log */
}

static void add_security_headers(pt_server *s, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'self' 'unsafe-inline'; "
                            "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'");
    if (s->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result send_req(pt_req *r)
{
    struct MHD_Connection *c = r->conn;
    fflush(r->out);
    size_t len = r->truncate ? r->out_len : (size_t)ftell(r->out);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, r->out_buf, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "application/json");
    add_security_headers(r->srv, resp);
    for (int i = 0; i < 3; i++)
        if (r->set_cookie[i][0])
            MHD_add_response_header(resp, "Set-Cookie", r->set_cookie[i]);
    if (r->location[0])
        MHD_add_response_header(resp, "Location", r->location);
    if (r->disposition[0])
        MHD_add_response_header(resp, "Content-Disposition", r->disposition);
    if (r->retry_after[0])
        MHD_add_response_header(resp, "Retry-After", r->retry_after);
    if (r->status == 405)
        MHD_add_response_header(resp, "Allow", r->allow[0] ? r->allow : "GET");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static int wants_json(struct MHD_Connection *c, const char *url)
{
    if (!strncmp(url, "/api/", 5))
        return 1;
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return !acc || !strstr(acc, "text/html");
}

static int pick_lang(pt_req *r)
{
    const char *l = pt_arg(r, "lang");
    if (!l)
        l = pt_cookie(r, PT_LANG_COOKIE);
    if (l)
        return !strcmp(l, "zh-CN") || !strcmp(l, "zh") ? CDR_STMT_ZH_CN : CDR_STMT_EN;
    const char *al = pt_header(r, "Accept-Language");
    return al && !strncmp(al, "zh", 2) ? CDR_STMT_ZH_CN : CDR_STMT_EN;
}

static void handle(pt_server *s, struct MHD_Connection *c, const char *url, const char *method,
                   pt_conn *pc, pt_req *r)
{
    r->srv = s;
    r->conn = c;
    r->method = method;
    r->url = url;
    r->body = pc->body;
    r->body_len = pc->len;
    r->post = !strcmp(method, "POST");
    r->api = !strncmp(url, "/api/v1/", 8) || !strcmp(url, "/api/v1");
    r->want_json = wants_json(c, url);
    r->status = 200;
    r->ctype = r->want_json ? "application/json" : "text/html; charset=utf-8";
    client_ip(s, c, r->ip, sizeof r->ip);
    r->lang = pick_lang(r);

    size_t hbytes = strlen(url) + strlen(method) + 16;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &hbytes);
    int bad = !pt_utf8_ok(url, strlen(url));
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, check_arg, &bad);
    MHD_get_connection_values_n(c, MHD_COOKIE_KIND, check_arg, &bad);
    if (hbytes > PT_HEADERS_MAX) {
        pt_error(r, 431, "headers_too_large",
                 "the request line and headers are %zu bytes; at most %d are accepted", hbytes,
                 PT_HEADERS_MAX);
        return;
    }
    if (pc->too_large) {
        pt_error(r, 413, "body_too_large", "the request body is larger than %d bytes", PT_BODY_MAX);
        return;
    }
    if (bad) {
        pt_error(r, 400, "bad_encoding",
                 "the URL, a query argument or a cookie is not UTF-8 (or holds a NUL)");
        return;
    }
    if (r->body && !pt_utf8_ok(r->body, r->body_len)) {
        pt_error(r, 400, "bad_encoding", "the request body is not UTF-8");
        return;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "POST")) {
        snprintf(r->allow, sizeof r->allow, "GET, HEAD, POST");
        pt_error(r, 405, "method_not_allowed", "method %s is not allowed here", method);
        return;
    }
    if (pt_identify(r) != 0)
        return;
    if (r->api)
        pt_api(r);
    else if (!strncmp(url, "/api/", 5) || !strcmp(url, "/api"))
        pt_error(r, 404, "not_found", "no such API (the API is under /api/v1)");
    else
        pt_pages(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    pt_server *s = cls;
    if (*con_cls == &health_marker) { /* the static answer: no identity, no store (the bench's
                                         baseline); a body sent with it is read and dropped, and
                                         the answer queued once the request is read, so that the
                                         connection stays open */
        if (*upload_size) {
            *upload_size = 0;
            return MHD_YES;
        }
        return MHD_queue_response(c, MHD_HTTP_OK, s->health);
    }
    pt_conn *pc = *con_cls;
    if (!pc) {
        if (!strcmp(url, "/api/v1/health") && !strcmp(method, "GET")) {
            *con_cls = &health_marker;
            return MHD_YES;
        }
        if (!(pc = calloc(1, sizeof *pc)))
            return MHD_NO;
        *con_cls = pc;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (!cl || strtoull(cl, NULL, 10) <= PT_BODY_MAX)
            return MHD_YES;
        /* announced too large: answered now, before a byte of the body is read (libmicrohttpd
         * then closes the connection instead of reading the rest) */
        pc->too_large = 1;
    }
    if (pc->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!pc->too_large) {
            if (pc->len + *upload_size > PT_BODY_MAX)
                pc->too_large = 1;
            else {
                if (pc->len + *upload_size + 1 > pc->cap) {
                    size_t cap = pc->cap ? pc->cap * 2 : 4096;
                    while (cap < pc->len + *upload_size + 1)
                        cap *= 2;
                    char *nb = realloc(pc->body, cap);
                    if (!nb)
                        return MHD_NO;
                    pc->body = nb;
                    pc->cap = cap;
                }
                memcpy(pc->body + pc->len, upload, *upload_size);
                pc->len += *upload_size;
                pc->body[pc->len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    pt_req r;
    memset(&r, 0, sizeof r);
    r.out = open_memstream(&r.out_buf, &r.out_len);
    if (!r.out)
        return MHD_NO;
    handle(s, c, url, method, pc, &r);
    enum MHD_Result ok = send_req(&r);
    pc->answered = 1;
    fclose(r.out);
    free(r.out_buf);
    dir_release(s, r.dir);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    pt_conn *pc = *con_cls;
    if (pc && *con_cls != (void *)&health_marker) {
        free(pc->body);
        free(pc);
        *con_cls = NULL;
    }
}

/* ---- the server --------------------------------------------------------------------------------
 */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                        cdr_diag *dg)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "--listen '%s': expected ADDRESS:PORT such as 127.0.0.1:8080", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "--listen '%s': bad port", listen);
    memset(ss, 0, sizeof *ss);
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "--listen '%s': bad IPv6 address",
                                listen);
        *len = sizeof *a6;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "--listen '%s': bad IPv4 address (names are not resolved)", listen);
    *len = sizeof *a4;
    return 0;
}

static char *slurp(const char *path, cdr_diag *dg)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cdr_diag_set(dg, CDR_EINVAL, path, 0, 0, "cannot read: %s", strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[8192];
    size_t n;
    while (m && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    if (m)
        fclose(m);
    return buf;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    /* libmicrohttpd's own complaints (a client that sent garbage): one line on stderr, no data */
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    fprintf(stderr, "cdrate serve: http: %s\n", line);
}

int cdr_portal_serve(const cdr_portal_config *cfg, cdr_diag *dg)
{
    pt_server *s = calloc(1, sizeof *s);
    if (!s)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    s->cfg = *cfg;
    if (!s->cfg.pc_session_ttl)
        s->cfg.pc_session_ttl = 8 * 3600;
    if (!s->cfg.pc_session_idle)
        s->cfg.pc_session_idle = 30 * 60;
    if (!s->cfg.pc_lockout)
        s->cfg.pc_lockout = 15 * 60;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    pthread_mutex_init(&s->audit_mu, NULL);
    pthread_mutex_init(&s->throttle_mu, NULL);
    pthread_key_create(&s->redis_key, redis_free);
    s->audit_fd = -1;
    int rc = 0;
    struct sockaddr_storage ss;
    socklen_t sl;
    char *cert = NULL, *key = NULL;
    if ((rc = parse_listen(cfg->pc_listen, &ss, &sl, dg)) != 0)
        goto out;
    if (!!cfg->pc_tls_cert != !!cfg->pc_tls_key) {
        rc = cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "--tls-cert and --tls-key go together");
        goto out;
    }
    if (cfg->pc_tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            rc = cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                              "this libmicrohttpd was built without TLS (GnuTLS)");
            goto out;
        }
        if (!(cert = slurp(cfg->pc_tls_cert, dg)) || !(key = slurp(cfg->pc_tls_key, dg))) {
            rc = CDR_EINVAL;
            goto out;
        }
        s->tls = 1;
    }
    if ((rc = cdr_store_open(cfg->pc_store, 0, &s->st, dg)) != 0)
        goto out;
    cdr_diag pdg;
    if (cdr_plan_set_load(s->st, &s->ps, &pdg) != 0)
        s->ps = NULL; /* answers without plans: no bundles, no fee */
    if ((rc = pt_audit_open(s, dg)) != 0)
        goto out;
    if (cfg->pc_redis) { /* fail early when Redis is not there */
        cdr_redis *rd;
        if ((rc = cdr_redis_open(cfg->pc_redis, 2000, &rd, dg)) != 0)
            goto out;
        cdr_redis_close(rd);
    }
    if ((rc = pt_auth_init(s, dg)) != 0)
        goto out;
    dir_refresh(s); /* read before the first request (none yet is fine: the pages say so) */
    pthread_cond_init(&s->reload_cv, NULL);
    if (pthread_create(&s->reload_th, NULL, reloader, s) != 0) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "cannot start the reloader thread");
        goto out;
    }
    s->reload_started = 1;
    s->health = MHD_create_response_from_buffer(sizeof health_body - 1, (void *)health_body,
                                                MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(s->health, "Content-Type", "application/json");
    add_security_headers(s, s->health);

    unsigned threads = cfg->pc_threads;
    if (!threads) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 ? (unsigned)nc * 2 : 2;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (s->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[12];
    size_t no = 0;
#define OPT(o, v, p) opts[no++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
    OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL); /* first, so that it has them all */
    OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
    if (threads > 1) /* one thread: libmicrohttpd's own polling thread serves */
        OPT(MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, 1000, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL);
    if (s->tls) {
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, cert);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, key);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (!s->d) {
        rc = cdr_diag_set(dg, CDR_EIO, NULL, 0, 0,
                          "cannot listen on %s (in use, or not an address of this machine%s)",
                          cfg->pc_listen, s->tls ? ", or bad TLS files" : "");
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    if (cfg->pc_ready)
        cfg->pc_ready(cfg->pc_ready_arg, port);
    while (!cfg->pc_stop || !*cfg->pc_stop) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL); /* the daemon's threads serve; this one only waits for the stop */
    }
    MHD_stop_daemon(s->d);
out:
    if (s->reload_started) {
        pthread_mutex_lock(&s->reload_mu);
        s->stopping = 1;
        pthread_cond_signal(&s->reload_cv);
        pthread_mutex_unlock(&s->reload_mu);
        pthread_join(s->reload_th, NULL);
    }
    if (s->health)
        MHD_destroy_response(s->health);
    pt_audit_close(s);
    free(cert);
    free(key);
    dir_release(s, s->dir);
    cdr_plan_set_release(s->ps);
    cdr_store_close(s->st);
    pthread_key_delete(s->redis_key);
    free(s);
    return rc;
}
