/* gen.c - the synthetic population and CDR stream (see cdr_bench.h and docs/benchmarks.md).
 *
 * Floating point is used here only to shape distributions (activity, durations, volumes), never
 * for money. The stream is deterministic for a seed: one xoshiro256** generator, no time source.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"
#include "cdr_dir.h"

typedef enum gen_kind { GK_PERSONAL, GK_PAYG, GK_ENTERPRISE, GK_IOT, GK_DE } gen_kind;

static const char *const gen_plan_of[] = {"cn-personal-128", "cn-payg", "cn-enterprise",
                                          "cn-iot-data", "de-comfort"};

struct cdr_gen {
    cdr_gen_config g_cfg;
    uint64_t g_s[4];
    cdr_subtab *g_subs;
    uint8_t *g_kind; /* [subscriber index] gen_kind */
    size_t g_n;
    size_t g_nenterprises;
    double g_logn1;
    cdr_time g_month_start; /* UTC instant of local (UTC+8) midnight on the 1st */
    uint32_t g_month_secs;
    uint64_t g_seq;
};

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(cdr_gen *g)
{
    uint64_t *s = g->g_s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static uint64_t rnd_below(cdr_gen *g, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rnd(g) * n) >> 64);
}

static double rnd_unit(cdr_gen *g)
{
    return (double)(rnd(g) >> 11) * (1.0 / 9007199254740992.0);
}

static void digits(cdr_gen *g, char *dst, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (char)('0' + rnd_below(g, 10));
    dst[n] = '\0';
}

void cdr_gen_defaults(cdr_gen_config *gc)
{
    memset(gc, 0, sizeof *gc);
    gc->gc_seed = 42;
    gc->gc_subscribers = 1000;
    gc->gc_year = 2026;
    gc->gc_month = 11;
    gc->gc_unknown_permil = 10;
}

int cdr_gen_create(const cdr_gen_config *gc, cdr_gen **out)
{
    *out = NULL;
    if (gc->gc_subscribers < 1 || gc->gc_subscribers > 100000000 || gc->gc_month < 1 ||
        gc->gc_month > 12 || gc->gc_unknown_permil > 1000)
        return CDR_EINVAL;
    cdr_gen *g = calloc(1, sizeof *g);
    if (!g)
        return CDR_ENOMEM;
    g->g_cfg = *gc;
    uint64_t x = gc->gc_seed;
    for (int i = 0; i < 4; i++) { /* splitmix64 seeding */
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        g->g_s[i] = z ^ (z >> 31);
    }
    g->g_n = gc->gc_subscribers;
    g->g_logn1 = log((double)g->g_n + 1.0);
    int64_t d0 = cdr_days_from_civil(gc->gc_year, (unsigned)gc->gc_month, 1);
    int64_t d1 = gc->gc_month == 12
                     ? cdr_days_from_civil(gc->gc_year + 1, 1, 1)
                     : cdr_days_from_civil(gc->gc_year, (unsigned)gc->gc_month + 1, 1);
    g->g_month_start = d0 * 86400 - 8 * 3600;
    g->g_month_secs = (uint32_t)((d1 - d0) * 86400);
    g->g_kind = malloc(g->g_n);
    if (!g->g_kind || cdr_subtab_create(g->g_n, &g->g_subs) != 0) {
        cdr_gen_destroy(g);
        return CDR_ENOMEM;
    }
    /* Population: about 53% personal, 20% pay-as-you-go, 11% enterprise members (in enterprises
     * of 5..200 members), 7% IoT, 9% German subscribers. */
    size_t ent_left = 0;
    uint64_t ent_id = 0;
    for (size_t i = 0; i < g->g_n; i++) {
        cdr_sub su;
        memset(&su, 0, sizeof su);
        su.su_id = i + 1;
        su.su_active_from = cdr_days_from_civil(2020, 1, 1) * 86400;
        su.su_active_to = INT64_MAX;
        su.su_family = -1;
        gen_kind k;
        if (i < g->g_cfg.gc_enterprise_members) { /* one big enterprise (bench statement) */
            k = GK_ENTERPRISE;
            ent_id = g->g_nenterprises = 1;
            ent_left = 0;
        } else if (ent_left > 0) {
            k = GK_ENTERPRISE;
            ent_left--;
        } else {
            /* A new enterprise starts with probability 0.12% and brings 5..200 members (about
             * 100): about 11% of subscribers are enterprise members. */
            uint64_t r = rnd_below(g, 10000);
            k = r < 12     ? GK_ENTERPRISE
                : r < 6000 ? GK_PERSONAL
                : r < 8200 ? GK_PAYG
                : r < 9000 ? GK_IOT
                           : GK_DE;
            if (k == GK_ENTERPRISE) {
                ent_left = 4 + rnd_below(g, 196); /* this one plus 4..199 more */
                ent_id = ++g->g_nenterprises;
            }
        }
        g->g_kind[i] = (uint8_t)k;
        switch (k) {
        case GK_DE:
            snprintf(su.su_msisdn, sizeof su.su_msisdn, "49151%08u", (unsigned)(i % 100000000));
            break;
        case GK_IOT:
            snprintf(su.su_msisdn, sizeof su.su_msisdn, "86148%08u", (unsigned)(i % 100000000));
            break;
        default:
            snprintf(su.su_msisdn, sizeof su.su_msisdn, "86138%08u", (unsigned)(i % 100000000));
            break;
        }
        snprintf(su.su_plan, sizeof su.su_plan, "%s", gen_plan_of[k]);
        su.su_owner = su.su_id;
        su.su_account = su.su_id;
        /* credit as the generated directory says (gen_write_directory): persons class C (300.00,
         * 15 days, 80/90/100 %); members their enterprise's class, A (500000.00, 60 days:
         * extended terms, 70/85/95 %) or B (20000.00, 30 days, 80/95 %), and its manager */
        static const uint8_t warn_c[] = {80, 90, 100}, warn_a[] = {70, 85, 95}, warn_b[] = {80, 95};
        su.su_credit_limit = 300000000;
        su.su_credit_nwarn = 3;
        memcpy(su.su_credit_warn, warn_c, sizeof warn_c);
        if (k == GK_ENTERPRISE) {
            su.su_enterprise = ent_id;
            su.su_owner = cdr_dir_enterprise_owner(ent_id); /* as the directory does */
            su.su_pool_units[CDR_SVC_DATA] = 200ULL << 30;  /* 200 GB pool */
            /* every second enterprise caps each member's draw at 20 GB */
            su.su_member_cap[CDR_SVC_DATA] = (ent_id % 2) ? 20ULL << 30 : 0;
            const int a = ent_id % 3 == 0;
            su.su_credit_limit = a ? 500000000000LL : 20000000000LL;
            su.su_credit_extended = (uint8_t)a;
            su.su_roaming_no_deposit = 1;
            su.su_credit_nwarn = a ? 3 : 2;
            memset(su.su_credit_warn, 0, sizeof su.su_credit_warn);
            memcpy(su.su_credit_warn, a ? warn_a : warn_b, a ? sizeof warn_a : sizeof warn_b);
            snprintf(su.su_manager, sizeof su.su_manager, "am.%llu",
                     (unsigned long long)(ent_id % 17));
        }
        int rc = cdr_subtab_add(g->g_subs, &su);
        if (rc) {
            cdr_gen_destroy(g);
            return rc;
        }
    }
    *out = g;
    return 0;
}

void cdr_gen_destroy(cdr_gen *g)
{
    if (!g)
        return;
    cdr_subtab_free(g->g_subs);
    free(g->g_kind);
    free(g);
}

const cdr_subtab *cdr_gen_subscribers(const cdr_gen *g)
{
    return g->g_subs;
}

/* Zipf-like activity (s = 1): log-uniform rank, then a fixed permutation of subscribers. */
static size_t pick_subscriber(cdr_gen *g)
{
    size_t rank = (size_t)exp(rnd_unit(g) * g->g_logn1) - 1;
    if (rank >= g->g_n)
        rank = g->g_n - 1;
    return (size_t)(((unsigned __int128)rank * 2654435761ULL) % g->g_n);
}

static const struct {
    uint16_t mcc, mnc;
} roam_nets[] = {{262, 1}, {208, 1}, {440, 10}, {310, 260}, {460, 0}};

void cdr_gen_cdrs(cdr_gen *g, cdr_record *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cdr_record *cr = &out[i];
        memset(cr, 0, sizeof *cr);
        uint64_t seq = ++g->g_seq;
        snprintf(cr->cr_source, sizeof cr->cr_source, "MSC%02u", (unsigned)(seq % 8) + 1);
        snprintf(cr->cr_origin_id, sizeof cr->cr_origin_id, "%llu", (unsigned long long)seq);
        gen_kind k = GK_PERSONAL;
        if (rnd_below(g, 1000) < g->g_cfg.gc_unknown_permil) {
            memcpy(cr->cr_msisdn, "86170", 5); /* never assigned by the population */
            digits(g, cr->cr_msisdn + 5, 8);
        } else {
            size_t ix = pick_subscriber(g);
            const cdr_sub *su = cdr_subtab_at(g->g_subs, ix);
            k = (gen_kind)g->g_kind[ix];
            memcpy(cr->cr_msisdn, su->su_msisdn, sizeof cr->cr_msisdn);
        }
        int de = k == GK_DE;
        snprintf(cr->cr_imsi, sizeof cr->cr_imsi, "%s%s", de ? "26201" : "46000",
                 cr->cr_msisdn + 5);
        cr->cr_utc_offset = de ? 3600 : 8 * 3600;
        cr->cr_cause = 16;
        cr->cr_cell = (uint32_t)rnd_below(g, 60000) + 1;
        /* 55% voice, 20% SMS, 24% data, 0.5% MMS, 0.5% video (the sample plans offer MMS and
         * video only in part: the rest goes to suspense as no_rate). */
        uint64_t r = rnd_below(g, 1000);
        int svc = k == GK_IOT ? CDR_SVC_DATA
                  : r < 550   ? CDR_SVC_VOICE
                  : r < 750   ? CDR_SVC_SMS
                  : r < 990   ? CDR_SVC_DATA
                  : r < 995   ? CDR_SVC_MMS
                              : CDR_SVC_VIDEO;
        cr->cr_service = (uint8_t)svc;
        cr->cr_direction =
            (svc != CDR_SVC_DATA && rnd_below(g, 100) < 30) ? CDR_DIR_MT : CDR_DIR_MO;
        /* Start: uniform over the month; 4% start shortly before a peak/off-peak change and last
         * long enough to cross it. */
        cr->cr_start = g->g_month_start + (cdr_time)rnd_below(g, g->g_month_secs);
        int crossing = rnd_below(g, 100) < 4 && (svc == CDR_SVC_VOICE || svc == CDR_SVC_VIDEO);
        if (crossing) {
            cdr_time day = (cr->cr_start - g->g_month_start) / 86400;
            /* the sample plans' band changes: 23:00 local in China (day -> night), 19:00 local
             * in Berlin (peak -> off-peak; 18:00 UTC in November) */
            cdr_time edge = de ? g->g_month_start + 8 * 3600 + day * 86400 + 18 * 3600
                               : g->g_month_start + day * 86400 + 23 * 3600;
            cr->cr_start = edge - 1 - (cdr_time)rnd_below(g, 600);
        }
        if (rnd_below(g, 100) < 3) {
            int rn = (int)rnd_below(g, sizeof roam_nets / sizeof roam_nets[0]);
            if (de && roam_nets[rn].mcc == 262)
                rn = 1;
            cr->cr_mcc = roam_nets[rn].mcc;
            cr->cr_mnc = roam_nets[rn].mnc;
        }
        if (svc == CDR_SVC_DATA) {
            double lo = log(1024.0), hi = log(500.0 * 1048576.0);
            uint64_t bytes = (uint64_t)exp(lo + rnd_unit(g) * (hi - lo));
            cr->cr_bytes_up = bytes / 10;
            cr->cr_bytes_down = bytes - cr->cr_bytes_up;
            cr->cr_duration = 60 + (uint32_t)rnd_below(g, 3540);
            continue;
        }
        if (svc == CDR_SVC_VOICE || svc == CDR_SVC_VIDEO) {
            double d = -log(1.0 - rnd_unit(g)) * 100.0 + 1.0;
            cr->cr_duration =
                crossing ? 600 + (uint32_t)rnd_below(g, 1200) : (uint32_t)(d > 7200 ? 7200 : d);
        }
        /* Other party. */
        uint64_t p = rnd_below(g, 100);
        if (de) {
            if (p < 80) {
                memcpy(cr->cr_other, "4917", 4);
                digits(g, cr->cr_other + 4, 8);
            } else if (p < 95) {
                memcpy(cr->cr_other, "4930", 4);
                digits(g, cr->cr_other + 4, 7);
            } else {
                memcpy(cr->cr_other, "86139", 5);
                digits(g, cr->cr_other + 5, 8);
            }
        } else if (p < 30) {
            memcpy(cr->cr_other, "86139", 5);
            digits(g, cr->cr_other + 5, 8);
        } else if (p < 60) {
            memcpy(cr->cr_other, "86186", 5);
            digits(g, cr->cr_other + 5, 8);
        } else if (p < 85) {
            memcpy(cr->cr_other, "8610", 4);
            digits(g, cr->cr_other + 4, 8);
        } else if (p < 97) {
            static const char *const cc[] = {"1", "44", "49", "81", "852", "65"};
            const char *c = cc[rnd_below(g, 6)];
            size_t l = strlen(c);
            memcpy(cr->cr_other, c, l);
            digits(g, cr->cr_other + l, 10);
        } else {
            strcpy(cr->cr_other, "8610086");
        }
    }
}

int cdr_gen_write_directory(const cdr_gen *g, const char *path, cdr_diag *dg)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create: %m");
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fprintf(f,
            "# generated by cdrate gen (seed %llu): %zu subscribers, %zu enterprises\n"
            "directory version=1\n"
            "credit_class id=A name=\"Key account\" limit=500000.00 term_days=60 "
            "roaming_without_deposit=yes warn=70,85,95\n"
            "credit_class id=B name=\"Business\" limit=20000.00 term_days=30 "
            "roaming_without_deposit=yes warn=80,95\n"
            "credit_class id=C name=\"Consumer\" limit=300.00 term_days=15 "
            "roaming_without_deposit=no warn=80,90,100\n",
            (unsigned long long)g->g_cfg.gc_seed, g->g_n, g->g_nenterprises);
    /* Ids: persons' customer and account ids equal their subscriber id (1..n); an enterprise k
     * has customer and account id n + k, enterprise id k and product id k. Its four managers
     * (docs/directory.md): the account manager am.(k % 17) from its customer's manager=, and
     * bm.(k % 11), sm.(k % 7), tm.(k % 5), so that every manager has several enterprises. */
    uint64_t last_ent = 0;
    for (size_t i = 0; i < g->g_n; i++) {
        const cdr_sub *su = cdr_subtab_at(g->g_subs, i);
        if (su->su_enterprise && su->su_enterprise != last_ent) {
            uint64_t k = su->su_enterprise;
            uint64_t cid = g->g_n + k;
            last_ent = su->su_enterprise;
            fprintf(f,
                    "customer id=%llu type=company name=\"Enterprise %llu\" credit_class=%s "
                    "manager=am.%llu\n"
                    "account id=%llu customer=%llu\n"
                    "enterprise id=%llu customer=%llu account=%llu name=\"Enterprise %llu\" "
                    "billing_manager=bm.%llu service_manager=sm.%llu technical_manager=tm.%llu\n"
                    "product id=%llu enterprise=%llu pool_data=200GB%s cug=yes discount=5\n"
                    "payment_rule id=%llu product=%llu classes=recurring_fee,basic_voice,data "
                    "cap=200.00\n",
                    (unsigned long long)cid, (unsigned long long)k, k % 3 ? "B" : "A",
                    (unsigned long long)(k % 17), (unsigned long long)cid, (unsigned long long)cid,
                    (unsigned long long)k, (unsigned long long)cid, (unsigned long long)cid,
                    (unsigned long long)k, (unsigned long long)(k % 11),
                    (unsigned long long)(k % 7), (unsigned long long)(k % 5), (unsigned long long)k,
                    (unsigned long long)k, su->su_member_cap[CDR_SVC_DATA] ? " cap_data=20GB" : "",
                    (unsigned long long)k, (unsigned long long)k);
        }
        int de = g->g_kind[i] == GK_DE;
        fprintf(f,
                "customer id=%llu type=person name=\"Subscriber %llu\" credit_class=C\n"
                "account id=%llu customer=%llu\n"
                "subscriber id=%llu account=%llu msisdn=%s imsi=%s%s plan=%s "
                "active_from=2020-01-01\n",
                (unsigned long long)su->su_id, (unsigned long long)su->su_id,
                (unsigned long long)su->su_id, (unsigned long long)su->su_id,
                (unsigned long long)su->su_id, (unsigned long long)su->su_id, su->su_msisdn,
                de ? "26201" : "46000", su->su_msisdn + 5, su->su_plan);
        if (su->su_enterprise)
            fprintf(f, "membership subscriber=%llu product=%llu\n", (unsigned long long)su->su_id,
                    (unsigned long long)su->su_enterprise);
    }
    if (fclose(f) != 0)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "write failed");
    return 0;
}

uint64_t cdr_bench_peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}
