/* bill_int.h - helpers shared by the bill run's modules (not a public API). */
#ifndef CDR_BILL_INT_H
#define CDR_BILL_INT_H

#include <stddef.h>
#include <stdio.h>

#include "cdr_error.h"

/* Split one CSV line into at most max fields (quoted fields with "" for a quote), in place.
 * Returns the number of fields (max + 1 when there are more; col[max] is then the column of the
 * first one too many), or -1 with *bad the column of a malformed quoted field. col[] (max + 1
 * entries) gets the 1-based column of each field. */
int bill_csv_split(char *line, char **f, int *col, int max, int *bad);

/* Write s as a CSV field: quoted (a quote doubled) when it holds a comma, a quote or a line
 * break; as is otherwise. */
void bill_csv_field(FILE *f, const char *s);

/* The next line of an input file into buf[n], without its line end (LF or CRLF); *ln counts the
 * lines read. Returns 0 with *line = buf, or NULL at the end of the file; or CDR_FORMAT (a line
 * longer than n - 2 bytes, a NUL byte) or CDR_EIO, with path:line:column in dg. */
int bill_read_line(FILE *fp, const char *path, char *buf, size_t n, int *ln, char **line,
                   cdr_diag *dg);

/* The next record of a CSV input file whose first line (after an optional UTF-8 byte order mark,
 * as spreadsheets write) must be `header`: blank lines and lines starting with # are skipped, the
 * line end (LF or CRLF) is cut. buf[n] holds the line, *ln counts the lines read, *have_header
 * starts at 0. Returns 0 with *rec the record, or NULL at the end of the file; or CDR_FORMAT
 * (a line longer than n - 2 bytes, a NUL byte, a wrong header, no header at all) or CDR_EIO,
 * with path:line:column in dg. */
int bill_csv_next(FILE *fp, const char *path, const char *header, char *buf, size_t n, int *ln,
                  int *have_header, char **rec, cdr_diag *dg);

#endif
