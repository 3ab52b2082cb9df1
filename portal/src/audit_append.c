/* audit_append.c - append one line to the audit log (cdr_audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_audit.h"

int cdr_audit_append_line(const char *path, const char *json_line, cdr_diag *dg)
{
    if (!path || !*path)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no audit log file");
    const size_t n = json_line ? strlen(json_line) : 0;
    if (n == 0 || memchr(json_line, '\n', n) || memchr(json_line, '\r', n))
        return cdr_diag_set(dg, CDR_EINVAL, path, 0, 0, "an audit record is one non-empty line");
    char small[1024];
    char *buf = n + 1 <= sizeof small ? small : malloc(n + 1);
    if (!buf)
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    memcpy(buf, json_line, n);
    buf[n] = '\n';
    int rc = 0;
    const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc =
            cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open the audit log: %s", strerror(errno));
    } else {
        ssize_t w;
        do
            w = write(fd, buf, n + 1);
        while (w < 0 && errno == EINTR);
        if (w < 0)
            rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot write the audit log: %s",
                              strerror(errno));
        else if ((size_t)w != n + 1)
            rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0,
                              "short write to the audit log (%zd of %zu bytes: disk full?)", w,
                              n + 1);
        if (close(fd) != 0 && !rc)
            rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot write the audit log: %s",
                              strerror(errno));
    }
    if (buf != small)
        free(buf);
    return rc;
}
