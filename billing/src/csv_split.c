/* csv_split.c - one CSV line split into fields, for the bill run's input files (adjustments,
 * payments). */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "bill_int.h"

/* Split one CSV line into at most max fields (quoted fields with "" for a quote), in place.
 * Returns the number of fields (max + 1 when there are more; col[max] is then the column of the
 * first one too many), or -1 with *bad the column of a malformed quoted field. col[] gets the
 * 1-based column of each field. */
int bill_csv_split(char *line, char **f, int *col, int max, int *bad)
{
    int n = 0;
    char *p = line;
    for (;;) {
        col[n] = (int)(p - line) + 1;
        if (n == max)
            return max + 1;
        if (*p == '"') {
            char *w = ++p;
            f[n] = w;
            for (;;) {
                if (!*p) {
                    *bad = col[n];
                    return -1;
                }
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            *w = '\0';
            n++;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p) {
                *bad = (int)(p - line) + 1;
                return -1;
            }
            return n;
        }
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            return n;
        *c = '\0';
        p = c + 1;
    }
}

int bill_read_line(FILE *fp, const char *path, char *buf, size_t n, int *ln, char **line,
                   cdr_diag *dg)
{
    *line = NULL;
    char *lb = NULL; /* getline's, to know the line's real length (it may hold a NUL byte) */
    size_t cap = 0;
    const ssize_t got = getline(&lb, &cap, fp);
    int rc = 0;
    if (got < 0) {
        free(lb);
        return ferror(fp) ? cdr_diag_set(dg, CDR_EIO, path, 0, 0, "read error") : 0;
    }
    ++*ln;
    size_t len = (size_t)got;
    if (len && lb[len - 1] == '\n')
        len--;
    if (len && lb[len - 1] == '\r')
        len--;
    const char *nul = memchr(lb, '\0', len);
    if (nul) {
        rc = cdr_diag_set(dg, CDR_FORMAT, path, *ln, (int)(nul - lb) + 1, "a NUL byte");
    } else if (len > n - 2) {
        rc = cdr_diag_set(dg, CDR_FORMAT, path, *ln, 1, "line longer than %zu bytes", n - 2);
    } else {
        memcpy(buf, lb, len);
        buf[len] = '\0';
        *line = buf;
    }
    free(lb);
    return rc;
}

int bill_csv_next(FILE *fp, const char *path, const char *header, char *buf, size_t n, int *ln,
                  int *have_header, char **rec, cdr_diag *dg)
{
    *rec = NULL;
    char *p;
    int rc;
    while ((rc = bill_read_line(fp, path, buf, n, ln, &p, dg)) == 0 && p) {
        if (*ln == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
            (unsigned char)p[2] == 0xBF)
            p += 3; /* a UTF-8 byte order mark */
        if (!*p || *p == '#')
            continue;
        if (!*have_header) {
            if (strcmp(p, header))
                return cdr_diag_set(dg, CDR_FORMAT, path, *ln, 1,
                                    "the first line must be the header %s", header);
            *have_header = 1;
            continue;
        }
        *rec = p;
        return 0;
    }
    if (rc)
        return rc;
    if (!*have_header)
        return cdr_diag_set(dg, CDR_FORMAT, path, 1, 1, "empty: no header %s", header);
    return 0;
}

void bill_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    putc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            putc('"', f);
        putc(*s, f);
    }
    putc('"', f);
}
