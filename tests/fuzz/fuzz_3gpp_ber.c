/* fuzz_3gpp_ber.c - the TS 32.298 BER records of the 3GPP decoder (collectors/src/ber.c and the
 * record mapping of dec_3gpp.c) behind a valid TS 32.297 framing, so that every mutation lands in
 * the BER.
 *
 * Input: one selector octet (bit 0: 0 = a TS 32.250 CS record (MSC), 1 = a TS 32.251 PS record
 * (PGW / SGW)), then the BER record itself (at most 65535 octets are used). The harness wraps it
 * into a file: a 52-octet file header (Rel-8, no filter, no extension) and one 4-octet CDR header.
 * Items are checked as in fuzz_coll.h: they must tile the file. */
#include "fuzz_coll.h"

#define FH_LEN 52u

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdr_coll_decoder *d;
    if (!d)
        d = fuzz_coll_decoder(CDR_FMT_3GPP, NULL);
    if (size < 1)
        return 0;
    unsigned ts = (data[0] & 1u) ? 7u : 6u;
    size_t rl = size - 1 > 0xFFFF ? 0xFFFF : size - 1;
    size_t total = FH_LEN + 4 + rl;
    uint8_t *f = calloc(1, total);
    if (!f)
        return 0;
    put32(f, (uint32_t)total);
    put32(f + 4, FH_LEN);
    f[8] = 5u << 5; /* high and low release: Rel-8, version 0 */
    f[9] = 5u << 5;
    put32(f + 18, 1); /* one CDR */
    put32(f + 22, 42);
    /* 26..47: closure reason, node address, lost CDR indicator; 48..51: empty filter and
     * extension */
    uint8_t *h = f + FH_LEN;
    h[0] = (uint8_t)(rl >> 8);
    h[1] = (uint8_t)rl;
    h[2] = 5u << 5;                 /* release Rel-8, version 0 */
    h[3] = (uint8_t)(1u << 5 | ts); /* BER, TS number */
    if (rl)
        memcpy(h + 4, data + 1, rl);
    fuzz_coll_run(d, f, total, 1);
    free(f);
    return 0;
}
