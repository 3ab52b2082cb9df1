/* json_in.h - the API's request bodies: one flat JSON object (json_in.c). */
#ifndef JSON_IN_H
#define JSON_IN_H

#include <stddef.h>

enum { PT_J_STRING = 1, PT_J_NUMBER, PT_J_TRUE, PT_J_FALSE, PT_J_NULL };

typedef struct pt_jfield {
    char jf_name[32];
    char jf_value[512]; /* decoded UTF-8; numbers as written; "true", "false", "null" */
    int jf_type;
} pt_jfield;

/* Parse s[0..n) into at most max fields (*count). Returns 0, or -1 with err (errn bytes) saying
 * "malformed JSON at byte N: ..." (also for nesting, duplicate names, over-long strings). */
int pt_json_parse(const char *s, size_t n, pt_jfield *fields, size_t max, size_t *count, char *err,
                  size_t errn);
const pt_jfield *pt_json_get(const pt_jfield *fields, size_t n, const char *name);

#endif
