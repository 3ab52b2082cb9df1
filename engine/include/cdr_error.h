/* cdr_error.h - the one error type of cdrate.
 *
 * Every fallible function returns int: 0 on success, or one of the negative CDR_E* codes below.
 * cdr_strerror() gives the message and cdr_err_name() the symbolic name of every code; both accept
 * any int and never return NULL. Dependency errors (LMDB, librdkafka, zstd, hiredis) are translated
 * into these codes by one adapter per library; the original text goes into a cdr_diag.
 */
#ifndef CDR_ERROR_H
#define CDR_ERROR_H

#include <stddef.h>

/* X(name, value, retriable, message) */
#define CDR_ERRORS(X)                                                                              \
    X(OK, 0, 0, "success")                                                                         \
    X(EINVAL, -30001, 0, "invalid argument")                                                       \
    X(ENOMEM, -30002, 1, "out of memory")                                                          \
    X(EIO, -30003, 1, "input/output error")                                                        \
    X(PARSE, -30004, 0, "parse error")                                                             \
    X(NOTFOUND, -30005, 0, "not found")                                                            \
    X(STORE, -30006, 1, "store (LMDB) error")                                                      \
    X(FORMAT, -30007, 0, "malformed input")                                                        \
    X(VERSION, -30008, 0, "unsupported format version")                                            \
    X(RANGE, -30009, 0, "value out of range")                                                      \
    X(EXISTS, -30010, 0, "already exists")                                                         \
    X(KAFKA, -30011, 1, "Kafka error")                                                             \
    X(ZSTD, -30012, 0, "compression error")                                                        \
    X(REDIS, -30013, 1, "Redis error")                                                             \
    X(LIMIT, -30014, 0, "limit exceeded")                                                          \
    X(USAGE, -30015, 0, "bad command-line usage")                                                  \
    X(KAFKA_FATAL, -30016, 0, "fatal Kafka error (the client must be recreated)")                  \
    X(NOTBILLED, -30017, 0, "the cycle is not billed")

typedef enum cdr_err {
#define CDR_ERR_ENUM(name, value, retriable, msg) CDR_##name = (value),
    CDR_ERRORS(CDR_ERR_ENUM)
#undef CDR_ERR_ENUM
} cdr_err;

/* Message for any code (unknown codes give "unknown error"). Static storage; never NULL. */
const char *cdr_strerror(int err);
/* Symbolic name such as "CDR_PARSE". Static storage; never NULL. */
const char *cdr_err_name(int err);
/* Non-zero when retrying the same operation later may succeed. */
int cdr_err_retriable(int err);

/* Where and why an input was refused. Filled by parsers and loaders; line and column are 1-based
 * (0 when they do not apply). The message never ends with a newline. */
typedef struct cdr_diag {
    char dg_file[256];
    int dg_line;
    int dg_column;
    int dg_code; /* a cdr_err */
    char dg_msg[512];
} cdr_diag;

/* Reset dg to "no error". dg may be NULL. */
void cdr_diag_clear(cdr_diag *dg);
/* Record an error in dg (which may be NULL) and return code, so that callers can write
 * `return cdr_diag_set(dg, CDR_PARSE, file, line, col, "fmt", ...);`. file may be NULL. */
int cdr_diag_set(cdr_diag *dg, int code, const char *file, int line, int column, const char *fmt,
                 ...) __attribute__((format(printf, 6, 7)));
/* "file:line:column: message" (parts omitted when absent) into buf; returns buf. */
const char *cdr_diag_format(const cdr_diag *dg, char *buf, size_t bufsize);

#endif
