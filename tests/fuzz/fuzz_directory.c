/* fuzz_directory.c - the directory file parser of billing/ (cdr_dir_parse_file: tokenising,
 * fields, references between records) on any bytes.
 *
 * cdr_dir_parse_file reads a path: the harness writes the input into a memory file (fuzz_memfile)
 * and passes its /proc/self/fd/N path, so the parser runs unchanged. Properties: a refused file has
 * a diagnostic and no directory; in a parsed one every subscriber is found again by id and by
 * MSISDN, its references resolve, every enterprise has an account manager and each manager holds
 * its duty, and the payment rule and plan-use queries run over it. */
#include "cdr_dir.h"
#include "fuzz.h"

static void check_dir(const cdr_dir *dir)
{
    cdr_dir_stats ds;
    cdr_dir_get_stats(dir, &ds);
    size_t n = 0;
    const cdr_dir_subscriber *sb = cdr_dir_subscribers(dir, &n);
    FUZZ_CHECK(n == ds.ds_subscribers);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(FUZZ_STR_OK(sb[i].sb_msisdn) && FUZZ_STR_OK(sb[i].sb_plan));
        FUZZ_CHECK(cdr_dir_find_subscriber(dir, sb[i].sb_id) == &sb[i]);
        const cdr_dir_subscriber *m = cdr_dir_find_msisdn(dir, sb[i].sb_msisdn);
        FUZZ_CHECK(m != NULL && strcmp(m->sb_msisdn, sb[i].sb_msisdn) == 0);
        FUZZ_CHECK(cdr_dir_find_account(dir, sb[i].sb_account) != NULL);
        FUZZ_CHECK(cdr_dir_find_customer(dir, sb[i].sb_customer) != NULL);
        if (sb[i].sb_enterprise)
            FUZZ_CHECK(cdr_dir_find_enterprise(dir, sb[i].sb_enterprise) != NULL);
        const cdr_dir_payment_rule *rules[8];
        size_t nr = cdr_dir_rules_for(dir, &sb[i], rules, 8);
        for (size_t k = 0; k < nr && k < 8; k++)
            FUZZ_CHECK(rules[k] != NULL);
    }
    /* every enterprise has an account manager (its own, or its company customer's manager=), and
     * each manager's login holds at least that duty */
    size_t ne = 0;
    const cdr_dir_enterprise *en = cdr_dir_enterprises(dir, &ne);
    FUZZ_CHECK(ne == ds.ds_enterprises);
    for (size_t i = 0; i < ne; i++) {
        FUZZ_CHECK(en[i].en_manager[CDR_DIR_ACCOUNT_MANAGER][0] != '\0');
        for (int d = 0; d < CDR_DIR_MANAGERS; d++) {
            FUZZ_CHECK(FUZZ_STR_OK(en[i].en_manager[d]));
            if (en[i].en_manager[d][0])
                FUZZ_CHECK(cdr_dir_manager_duties(&en[i], en[i].en_manager[d]) & (1u << d));
        }
    }
    size_t nu = 0;
    const cdr_dir_plan_use *pu = cdr_dir_plan_uses(dir, &nu);
    for (size_t i = 0; i < nu; i++)
        FUZZ_CHECK(FUZZ_STR_OK(pu[i].pu_plan) && pu[i].pu_subscribers > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_memfile(data, size);
    cdr_dir *dir = NULL;
    cdr_diag dg;
    int rc = cdr_dir_parse_file(path, NULL, &dir, &dg);
    fuzz_check_diag(&dg, rc);
    fuzz_say("directory", &dg, rc);
    if (rc) {
        FUZZ_CHECK(rc < 0 && dir == NULL);
        return 0;
    }
    FUZZ_CHECK(dir != NULL);
    check_dir(dir);
    cdr_dir_free(dir);
    return 0;
}
