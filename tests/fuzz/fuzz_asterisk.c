/* fuzz_asterisk.c - the asterisk decoder of collectors/ (Asterisk cdr_csv Master.csv lines) on any
 * bytes: every item checked as in fuzz_coll.h. */
#include "fuzz_coll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdr_coll_decoder *d;
    if (!d)
        d = fuzz_coll_decoder(CDR_FMT_ASTERISK, NULL);
    fuzz_coll_run(d, data, size, 0);
    return 0;
}
