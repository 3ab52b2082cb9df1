/* fuzz_csv.c - the csv decoder of collectors/ (the project's own CSV layout (docs/cdr-csv.md)) on
 * any bytes: every item checked as in fuzz_coll.h. */
#include "fuzz_coll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdr_coll_decoder *d;
    if (!d)
        d = fuzz_coll_decoder(CDR_FMT_CSV, NULL);
    fuzz_coll_run(d, data, size, 0);
    return 0;
}
