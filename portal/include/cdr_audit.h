/* cdr_audit.h - the portal's audit log: one JSON object per line, appended (docs/portal.md,
 * "Audit log"; the operator's commands write the same lines, docs/requests.md).
 *
 * A line is {"time":"<UTC ISO 8601>","who":"<login>","role":"<role>","from":"<cli|ip>",
 * "action":"<what>","target":"<kind/id>",...,"outcome":"<done|refused|...>"}. The file is private
 * (0600) and only ever appended to.
 */
#ifndef CDR_AUDIT_H
#define CDR_AUDIT_H

#include "cdr_error.h"

/* Append json_line (one JSON object, without the newline; it must hold no newline) and a newline
 * to the file at path, creating it 0600 when missing: opened O_WRONLY | O_APPEND | O_CREAT and
 * written with one write() call, so that lines of concurrent writers (processes or threads) never
 * interleave, then closed. Returns 0; CDR_EINVAL for a line that holds a newline or is empty;
 * CDR_EIO (dg: the path and the system's message) when the file cannot be opened or the line was
 * not written whole. */
int cdr_audit_append_line(const char *path, const char *json_line, cdr_diag *dg);

#endif
