/* json_in.c - the API's request bodies: one flat JSON object (RFC 8259) whose values are strings,
 * numbers, true, false or null. Anything else is refused with the byte where it went wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_in.h"

typedef struct jp {
    const char *s, *p, *e;
    char *err;
    size_t errn;
} jp;

static int fail(jp *j, const char *what)
{
    snprintf(j->err, j->errn, "malformed JSON at byte %zu: %s", (size_t)(j->p - j->s), what);
    return -1;
}

static void ws(jp *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(unsigned c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* A string at j->p ('"'), decoded into out (outn bytes with the NUL). */
static int string(jp *j, char *out, size_t outn)
{
    size_t o = 0;
    j->p++;
    while (1) {
        if (j->p >= j->e)
            return fail(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return fail(j, "control character in a string");
        char tmp[4];
        size_t tn = 1;
        tmp[0] = (char)c;
        if (c == '\\') {
            if (j->p + 1 >= j->e)
                return fail(j, "unterminated escape");
            char x = j->p[1];
            j->p++;
            switch (x) {
            case '"':
            case '\\':
            case '/':
                tmp[0] = x;
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u': {
                unsigned u, lo;
                if (j->e - j->p < 5 || hex4(j->p + 1, &u))
                    return fail(j, "bad \\u escape");
                j->p += 4;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (j->e - j->p < 7 || j->p[1] != '\\' || j->p[2] != 'u' ||
                        hex4(j->p + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return fail(j, "lone surrogate in a \\u escape");
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                } else if (u >= 0xDC00 && u <= 0xDFFF)
                    return fail(j, "lone surrogate in a \\u escape");
                if (u == 0)
                    return fail(j, "NUL in a string");
                tn = put_utf8(u, tmp);
                break;
            }
            default:
                return fail(j, "unknown escape");
            }
        }
        j->p++;
        if (o + tn >= outn)
            return fail(j, "string too long");
        memcpy(out + o, tmp, tn);
        o += tn;
    }
    out[o] = '\0';
    return 0;
}

static int scalar(jp *j, char *out, size_t outn, int *type)
{
    if (j->p >= j->e)
        return fail(j, "value expected");
    if (*j->p == '"') {
        *type = PT_J_STRING;
        return string(j, out, outn);
    }
    static const struct {
        const char *w;
        int t;
    } words[] = {{"true", PT_J_TRUE}, {"false", PT_J_FALSE}, {"null", PT_J_NULL}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].w);
        if ((size_t)(j->e - j->p) >= n && !memcmp(j->p, words[i].w, n)) {
            j->p += n;
            *type = words[i].t;
            snprintf(out, outn, "%s", words[i].w);
            return 0;
        }
    }
    if (*j->p == '{' || *j->p == '[')
        return fail(j, "nested objects and arrays are not accepted here");
    /* a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *b = j->p;
    if (j->p < j->e && *j->p == '-')
        j->p++;
    if (j->p >= j->e || *j->p < '0' || *j->p > '9')
        return fail(j, "value expected");
    if (*j->p == '0')
        j->p++;
    else
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    if (j->p < j->e && *j->p == '.') {
        j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return fail(j, "digits expected after '.'");
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->e && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return fail(j, "digits expected in the exponent");
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if ((size_t)(j->p - b) >= outn)
        return fail(j, "number too long");
    memcpy(out, b, (size_t)(j->p - b));
    out[j->p - b] = '\0';
    *type = PT_J_NUMBER;
    return 0;
}

int pt_json_parse(const char *s, size_t n, pt_jfield *fields, size_t max, size_t *count, char *err,
                  size_t errn)
{
    jp j = {s, s, s + n, err, errn};
    *count = 0;
    ws(&j);
    if (j.p >= j.e || *j.p != '{')
        return fail(&j, "an object was expected");
    j.p++;
    ws(&j);
    if (j.p < j.e && *j.p == '}') {
        j.p++;
    } else {
        while (1) {
            ws(&j);
            if (j.p >= j.e || *j.p != '"')
                return fail(&j, "a member name was expected");
            if (*count == max)
                return fail(&j, "too many members");
            pt_jfield *f = &fields[*count];
            if (string(&j, f->jf_name, sizeof f->jf_name))
                return -1;
            for (size_t i = 0; i < *count; i++)
                if (!strcmp(fields[i].jf_name, f->jf_name))
                    return fail(&j, "a member name given twice");
            ws(&j);
            if (j.p >= j.e || *j.p != ':')
                return fail(&j, "':' expected");
            j.p++;
            ws(&j);
            if (scalar(&j, f->jf_value, sizeof f->jf_value, &f->jf_type))
                return -1;
            (*count)++;
            ws(&j);
            if (j.p < j.e && *j.p == ',') {
                j.p++;
                continue;
            }
            if (j.p < j.e && *j.p == '}') {
                j.p++;
                break;
            }
            return fail(&j, "',' or '}' expected");
        }
    }
    ws(&j);
    if (j.p != j.e)
        return fail(&j, "trailing characters after the object");
    return 0;
}

const pt_jfield *pt_json_get(const pt_jfield *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(fields[i].jf_name, name))
            return &fields[i];
    return NULL;
}
