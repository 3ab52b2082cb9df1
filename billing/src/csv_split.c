/* csv_split.c - one CSV line split into fields, for the bill run's input files (adjustments,
 * payments). */
#include <string.h>

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
