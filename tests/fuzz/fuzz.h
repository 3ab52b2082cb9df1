/* fuzz.h - shared by the fuzz harnesses of tests/fuzz/ (docs/testing.md, "Fuzzing").
 *
 * Every harness fuzz_NAME.c defines LLVMFuzzerTestOneInput. Built with -DCDR_FUZZ=ON (clang) it
 * is a libFuzzer binary; in every other build it is linked with replay.c into fuzz_replay_NAME,
 * which runs it over tests/fuzz/corpus/NAME/ and tests/fuzz/crashes/NAME/ under ctest.
 *
 * A harness does not only look for crashes: FUZZ_CHECK states a property of the code under test
 * (items tile the input, a decoded record encodes and decodes to itself, ...). A broken property
 * aborts, which libFuzzer reports as a crash and the replay as a failed test.
 */
#ifndef CDR_FUZZ_H
#define CDR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cdr_error.h"
#include "cdr_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz property broken: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* CDR_FUZZ_VERBOSE=1 in the environment: harnesses say on stderr why an input was refused (to
 * check that a new seed is accepted, i.e. reaches the code behind the parser). */
static inline int fuzz_verbose(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("CDR_FUZZ_VERBOSE");
        v = e && *e && strcmp(e, "0") != 0;
    }
    return v;
}

static inline void fuzz_say(const char *what, const cdr_diag *dg, int rc)
{
    if (fuzz_verbose())
        fprintf(stderr, "%s: %s: %s\n", what, rc ? cdr_err_name(rc) : "accepted",
                rc ? dg->dg_msg : "");
}

/* A NUL-terminated string that fits its array. */
#define FUZZ_STR_OK(a) (memchr((a), '\0', sizeof(a)) != NULL)

/* A diagnostic whose strings are terminated and whose message is set when code is. */
static inline void fuzz_check_diag(const cdr_diag *dg, int rc)
{
    FUZZ_CHECK(FUZZ_STR_OK(dg->dg_file));
    FUZZ_CHECK(FUZZ_STR_OK(dg->dg_msg));
    if (rc)
        FUZZ_CHECK(dg->dg_msg[0] != '\0');
}

/* Every string of the record terminated within its array. */
static inline void fuzz_check_record_strings(const cdr_record *cr)
{
    FUZZ_CHECK(FUZZ_STR_OK(cr->cr_source));
    FUZZ_CHECK(FUZZ_STR_OK(cr->cr_origin_id));
    FUZZ_CHECK(FUZZ_STR_OK(cr->cr_msisdn));
    FUZZ_CHECK(FUZZ_STR_OK(cr->cr_imsi));
    FUZZ_CHECK(FUZZ_STR_OK(cr->cr_other));
}

/* A copy of the record with its padding and the bytes after each string's NUL zeroed, for memcmp
 * against a decoded one. */
static inline cdr_record fuzz_record_canon(const cdr_record *cr)
{
    cdr_record c;
    memset(&c, 0, sizeof c);
    snprintf(c.cr_source, sizeof c.cr_source, "%s", cr->cr_source);
    snprintf(c.cr_origin_id, sizeof c.cr_origin_id, "%s", cr->cr_origin_id);
    snprintf(c.cr_msisdn, sizeof c.cr_msisdn, "%s", cr->cr_msisdn);
    snprintf(c.cr_imsi, sizeof c.cr_imsi, "%s", cr->cr_imsi);
    snprintf(c.cr_other, sizeof c.cr_other, "%s", cr->cr_other);
    c.cr_start = cr->cr_start;
    c.cr_utc_offset = cr->cr_utc_offset;
    c.cr_duration = cr->cr_duration;
    c.cr_bytes_up = cr->cr_bytes_up;
    c.cr_bytes_down = cr->cr_bytes_down;
    c.cr_owner = cr->cr_owner;
    c.cr_cell = cr->cr_cell;
    c.cr_mcc = cr->cr_mcc;
    c.cr_mnc = cr->cr_mnc;
    c.cr_cause = cr->cr_cause;
    c.cr_service = cr->cr_service;
    c.cr_direction = cr->cr_direction;
    return c;
}

/* The record encodes to the wire format and decodes back to itself. */
static inline void fuzz_check_wire_round_trip(const cdr_record *cr)
{
    uint8_t buf[CDR_WIRE_MAX];
    size_t n = cdr_wire_encode(cr, buf);
    FUZZ_CHECK(n > 0 && n <= CDR_WIRE_MAX);
    cdr_record back;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    FUZZ_CHECK(cdr_wire_decode(buf, n, &back, &dg) == 0);
    cdr_record a = fuzz_record_canon(cr), b = fuzz_record_canon(&back);
    FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0);
}

/* Render the record as JSON: the renderer must accept whatever a decoder produced. */
static inline void fuzz_render_json(const cdr_record *cr)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (sink)
        cdr_record_json(cr, sink);
}

/* For code that reads a path: the input written into one memory file of the process (memfd,
 * else an unlinked temporary file), named by its /proc/self/fd path. Returns that path. */
static inline const char *fuzz_memfile(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = (int)syscall(SYS_memfd_create, "fuzz-input", 0u);
        if (fd < 0) {
            char tmpl[] = "/tmp/cdr-fuzz-XXXXXX";
            fd = mkstemp(tmpl);
            FUZZ_CHECK(fd >= 0);
            unlink(tmpl);
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    for (size_t off = 0; off < size;) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        FUZZ_CHECK(w > 0);
        off += (size_t)w;
    }
    return path;
}

#endif
