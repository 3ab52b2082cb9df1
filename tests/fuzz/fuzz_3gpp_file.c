/* fuzz_3gpp_file.c - the 3GPP decoder of collectors/ on a whole input file: the TS 32.297 file
 * header, the CDR headers and lengths that frame the records, then each TS 32.298 BER record.
 * Items must tile the input (fuzz_coll.h). fuzz_3gpp_ber.c fuzzes the records behind a valid
 * framing. */
#include "fuzz_coll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdr_coll_decoder *d;
    if (!d)
        d = fuzz_coll_decoder(CDR_FMT_3GPP, NULL);
    fuzz_coll_run(d, data, size, 1);
    return 0;
}
