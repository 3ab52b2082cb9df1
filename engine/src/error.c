/* error.c - messages and names of cdr_err codes; cdr_diag helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cdr_error.h"

const char *cdr_strerror(int err)
{
    switch (err) {
#define CDR_ERR_MSG(name, value, retriable, msg)                                                   \
    case CDR_##name:                                                                               \
        return msg;
        CDR_ERRORS(CDR_ERR_MSG)
#undef CDR_ERR_MSG
    }
    return "unknown error";
}

const char *cdr_err_name(int err)
{
    switch (err) {
#define CDR_ERR_NAME(name, value, retriable, msg)                                                  \
    case CDR_##name:                                                                               \
        return "CDR_" #name;
        CDR_ERRORS(CDR_ERR_NAME)
#undef CDR_ERR_NAME
    }
    return "CDR_UNKNOWN";
}

int cdr_err_retriable(int err)
{
    switch (err) {
#define CDR_ERR_RETRY(name, value, retriable, msg)                                                 \
    case CDR_##name:                                                                               \
        return retriable;
        CDR_ERRORS(CDR_ERR_RETRY)
#undef CDR_ERR_RETRY
    }
    return 0;
}

void cdr_diag_clear(cdr_diag *dg)
{
    if (dg)
        memset(dg, 0, sizeof *dg);
}

int cdr_diag_set(cdr_diag *dg, int code, const char *file, int line, int column, const char *fmt,
                 ...)
{
    if (!dg)
        return code;
    dg->dg_code = code;
    dg->dg_line = line;
    dg->dg_column = column;
    if (file)
        snprintf(dg->dg_file, sizeof dg->dg_file, "%s", file);
    else
        dg->dg_file[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dg->dg_msg, sizeof dg->dg_msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *cdr_diag_format(const cdr_diag *dg, char *buf, size_t bufsize)
{
    if (!buf || bufsize == 0)
        return buf;
    if (!dg) {
        snprintf(buf, bufsize, "no diagnostic");
        return buf;
    }
    const char *msg = dg->dg_msg[0] ? dg->dg_msg : cdr_strerror(dg->dg_code);
    if (dg->dg_file[0] && dg->dg_line > 0 && dg->dg_column > 0)
        snprintf(buf, bufsize, "%s:%d:%d: %s", dg->dg_file, dg->dg_line, dg->dg_column, msg);
    else if (dg->dg_file[0] && dg->dg_line > 0)
        snprintf(buf, bufsize, "%s:%d: %s", dg->dg_file, dg->dg_line, msg);
    else if (dg->dg_file[0])
        snprintf(buf, bufsize, "%s: %s", dg->dg_file, msg);
    else
        snprintf(buf, bufsize, "%s", msg);
    return buf;
}
