/* gen_csv.c - synthetic files: the buffer helper, the format dispatch, the project's CSV. */
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"

int cdr_buf_put(cdr_buf *b, const void *p, size_t n)
{
    if (b->b_cap - b->b_len < n) {
        size_t cap = b->b_cap ? b->b_cap : 4096;
        while (cap - b->b_len < n)
            cap *= 2;
        uint8_t *nd = realloc(b->b_data, cap);
        if (!nd)
            return CDR_ENOMEM;
        b->b_data = nd;
        b->b_cap = cap;
    }
    memcpy(b->b_data + b->b_len, p, n);
    b->b_len += n;
    return 0;
}

void cdr_buf_free(cdr_buf *b)
{
    free(b->b_data);
    memset(b, 0, sizeof *b);
}

int cdr_gen_format(int fmt, const cdr_record *recs, size_t n, cdr_buf *out)
{
    switch (fmt) {
    case 0:
        return cdr_gen_format_csv(recs, n, out);
    case 1:
        return cdr_gen_format_asterisk(recs, n, out);
    case 2:
        return cdr_gen_format_freeswitch(recs, n, out);
    case 3:
        return cdr_gen_format_3gpp(recs, n, out);
    }
    return CDR_EINVAL;
}

int cdr_gen_format_csv(const cdr_record *recs, size_t n, cdr_buf *out)
{
    int rc = cdr_buf_put(out, cdr_csv_header, strlen(cdr_csv_header));
    if (!rc)
        rc = cdr_buf_put(out, "\n", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        char line[512];
        int len = cdr_csv_format(&recs[i], line, sizeof line);
        rc = len > 0 ? cdr_buf_put(out, line, (size_t)len) : CDR_EINVAL;
    }
    return rc;
}
