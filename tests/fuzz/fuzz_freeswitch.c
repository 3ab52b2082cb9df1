/* fuzz_freeswitch.c - the FreeSWITCH decoder of collectors/ (mod_cdr_csv lines) on any bytes,
 * twice: with the default template and with the custom column mapping of the test fixtures
 * (tests/data/collectors/README.md). Every item checked as in fuzz_coll.h. */
#include "fuzz_coll.h"

#define CUSTOM_COLUMNS                                                                             \
    "${uuid}, caller_id_number, destination_number, answer_epoch, billsec, hangup_cause, "         \
    "sip_user_agent, start_epoch"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdr_coll_decoder *def, *custom;
    if (!def) {
        def = fuzz_coll_decoder(CDR_FMT_FREESWITCH, NULL);
        custom = fuzz_coll_decoder(CDR_FMT_FREESWITCH, CUSTOM_COLUMNS);
    }
    fuzz_coll_run(def, data, size, 0);
    fuzz_coll_run(custom, data, size, 0);
    return 0;
}
