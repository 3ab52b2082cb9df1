/* fuzz_wire.c - the CDR wire format of engine/ (cdr_record.h, docs/cdr-wire-format.md) on any
 * bytes, read two ways:
 *   1. the whole input as one record (cdr_wire_decode);
 *   2. the whole input as a CDR file (cdr_reader: a wire file "CDRW..." with its LEB128-framed
 *      records through cdr_wire_reader, else the project's CSV layout), record after record.
 * Properties: every decoded record has terminated strings, encodes and decodes back to itself and
 * renders as JSON; a refusal has a diagnostic; a damaged record does not stop the reader unless
 * it says the file cannot be read further (CDR_EIO). */
#include "fuzz.h"

#define MAX_RECORDS 4096 /* per input: a bound on time, not on the reader */

static void check_record(const cdr_record *cr)
{
    fuzz_check_record_strings(cr);
    fuzz_check_wire_round_trip(cr);
    fuzz_render_json(cr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdr_record cr;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_wire_decode(data, size, &cr, &dg);
    fuzz_check_diag(&dg, rc);
    fuzz_say("record", &dg, rc);
    FUZZ_CHECK(rc == 0 || rc == CDR_FORMAT || rc == CDR_VERSION);
    if (rc == 0)
        check_record(&cr);

    const char *path = fuzz_memfile(data, size);
    cdr_reader *rd = NULL;
    cdr_diag_clear(&dg);
    rc = cdr_reader_open(path, &rd, &dg);
    fuzz_check_diag(&dg, rc);
    fuzz_say("file", &dg, rc);
    if (rc) {
        FUZZ_CHECK(rd == NULL);
        return 0;
    }
    for (int i = 0; i < MAX_RECORDS; i++) {
        cdr_diag_clear(&dg);
        rc = cdr_reader_next(rd, &cr, &dg);
        if (rc == 0)
            break;
        if (rc == 1) {
            check_record(&cr);
            continue;
        }
        fuzz_check_diag(&dg, rc);
        fuzz_say("file record", &dg, rc);
        /* CDR_PARSE too: a CSV start time of the wrong shape (cdr_time_parse_iso) */
        FUZZ_CHECK(rc == CDR_FORMAT || rc == CDR_RANGE || rc == CDR_PARSE || rc == CDR_VERSION ||
                   rc == CDR_EIO);
        if (rc == CDR_EIO)
            break;
    }
    FUZZ_CHECK(cdr_reader_bytes(rd) <= size);
    cdr_reader_close(rd);
    return 0;
}
