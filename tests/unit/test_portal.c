/* test_portal.c - the portal's input parsers, tested directly: the API's JSON bodies (json_in.c:
 * every malformed body refused with the byte and the reason, nothing half-parsed) and the UTF-8
 * check every URL, argument, cookie and body goes through (server.c). The HTTP behaviour is
 * tested end to end by tests/cli/portal_test.sh and the browser test. */
#include <criterion/criterion.h>
#include <string.h>

#include "json_in.h"
#include "portal_int.h"

static int parse(const char *s, pt_jfield *f, size_t max, size_t *n, char *err)
{
    return pt_json_parse(s, strlen(s), f, max, n, err, 160);
}

Test(portal_json, flat_object)
{
    pt_jfield f[8];
    size_t n;
    char err[160];
    cr_assert_eq(parse(" {\"login\" : \"acme.admin\", \"n\": -12.5e3, \"t\":true, \"z\":null} ", f,
                       8, &n, err),
                 0, "%s", err);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(pt_json_get(f, n, "login")->jf_value, "acme.admin");
    cr_assert_eq(pt_json_get(f, n, "login")->jf_type, PT_J_STRING);
    cr_assert_str_eq(pt_json_get(f, n, "n")->jf_value, "-12.5e3");
    cr_assert_eq(pt_json_get(f, n, "n")->jf_type, PT_J_NUMBER);
    cr_assert_eq(pt_json_get(f, n, "t")->jf_type, PT_J_TRUE);
    cr_assert_eq(pt_json_get(f, n, "z")->jf_type, PT_J_NULL);
    cr_assert_null(pt_json_get(f, n, "missing"));
    cr_assert_eq(parse("{}", f, 8, &n, err), 0);
    cr_assert_eq(n, 0);
}

Test(portal_json, escapes_and_unicode)
{
    pt_jfield f[2];
    size_t n;
    char err[160];
    cr_assert_eq(parse("{\"note\":\"a\\\"b\\\\c\\/d\\n\\u5f20\\ud83d\\ude00\"}", f, 2, &n, err), 0,
                 "%s", err);
    cr_assert_str_eq(f[0].jf_value, "a\"b\\c/d\n张\xF0\x9F\x98\x80");
    cr_assert_eq(parse("{\"note\":\"张伟\"}", f, 2, &n, err), 0);
    cr_assert_str_eq(f[0].jf_value, "张伟");
}

/* Each malformed body: refused, with the byte and the reason. */
Test(portal_json, malformed)
{
    static const struct {
        const char *in, *err;
    } cases[] = {
        {"", "malformed JSON at byte 0: an object was expected"},
        {"[1]", "malformed JSON at byte 0: an object was expected"},
        {"{\"a\":1", "malformed JSON at byte 6: ',' or '}' expected"},
        {"{\"a\":{\"b\":1}}", "malformed JSON at byte 5: nested objects and arrays are not "
                              "accepted here"},
        {"{\"a\":[1]}", "malformed JSON at byte 5: nested objects and arrays are not accepted "
                        "here"},
        {"{\"a\":1,\"a\":2}", "malformed JSON at byte 10: a member name given twice"},
        {"{\"a\":1,}", "malformed JSON at byte 7: a member name was expected"},
        {"{a:1}", "malformed JSON at byte 1: a member name was expected"},
        {"{\"a\" 1}", "malformed JSON at byte 5: ':' expected"},
        {"{\"a\":01}", "malformed JSON at byte 6: ',' or '}' expected"},
        {"{\"a\":1.}", "malformed JSON at byte 7: digits expected after '.'"},
        {"{\"a\":\"x}", "malformed JSON at byte 8: unterminated string"},
        {"{\"a\":\"\\q\"}", "malformed JSON at byte 7: unknown escape"},
        {"{\"a\":\"\\ud800\"}", "malformed JSON at byte 11: lone surrogate in a \\u escape"},
        {"{\"a\":\"\\u0000\"}", "malformed JSON at byte 11: NUL in a string"},
        {"{\"a\":\"\x01\"}", "malformed JSON at byte 6: control character in a string"},
        {"{\"a\":tru}", "malformed JSON at byte 5: value expected"},
        {"{\"a\":1} x", "malformed JSON at byte 8: trailing characters after the object"},
        {"{\"a\":1}{}", "malformed JSON at byte 7: trailing characters after the object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pt_jfield f[4];
        size_t n = 99;
        char err[160] = "";
        cr_assert_eq(parse(cases[i].in, f, 4, &n, err), -1, "accepted: %s", cases[i].in);
        cr_assert_str_eq(err, cases[i].err, "for %s", cases[i].in);
    }
}

Test(portal_json, limits)
{
    pt_jfield f[2];
    size_t n;
    char err[160];
    cr_assert_eq(parse("{\"a\":1,\"b\":2,\"c\":3}", f, 2, &n, err), -1);
    cr_assert_str_eq(err, "malformed JSON at byte 13: too many members");
    char big[700];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"a\":\"", 6);
    memcpy(big + sizeof big - 3, "\"}", 3);
    cr_assert_eq(parse(big, f, 2, &n, err), -1);
    cr_assert(strstr(err, "string too long"), "%s", err);
    /* the whole input counts, not a NUL inside it */
    cr_assert_eq(pt_json_parse("{\"a\":1}\0junk", 12, f, 2, &n, err, sizeof err), -1);
    cr_assert_str_eq(err, "malformed JSON at byte 7: trailing characters after the object");
}

Test(portal_utf8, accepts_and_refuses)
{
    cr_assert(pt_utf8_ok("", 0));
    cr_assert(pt_utf8_ok("plain ascii", 11));
    cr_assert(pt_utf8_ok("张伟 Beta 科技", strlen("张伟 Beta 科技")));
    cr_assert(pt_utf8_ok("\xF0\x9F\x98\x80", 4));
    cr_assert_not(pt_utf8_ok("\xff", 1), "a byte that is never UTF-8");
    cr_assert_not(pt_utf8_ok("\xC3", 1), "a truncated sequence");
    cr_assert_not(pt_utf8_ok("\xC0\xAF", 2), "an overlong '/'");
    cr_assert_not(pt_utf8_ok("\xE0\x80\xAF", 3), "an overlong '/' in three bytes");
    cr_assert_not(pt_utf8_ok("\xED\xA0\x80", 3), "a surrogate");
    cr_assert_not(pt_utf8_ok("\xF4\x90\x80\x80", 4), "past U+10FFFF");
    cr_assert_not(pt_utf8_ok("a\0b", 3), "a NUL");
    cr_assert_not(pt_utf8_ok("\x80", 1), "a lone continuation byte");
}
