/* subtab.c - the subscriber table: MSISDN -> cdr_sub, open addressing with linear probing.
 *
 * Entries live in one dense array (iteration order = insertion order); the slot array holds the
 * 32-bit hash and entry index + 1 (0 = empty). Load factor is kept at or below 1/2.
 */
#include <stdlib.h>
#include <string.h>

#include "cdr_mem.h"
#include "cdr_rate.h"

typedef struct subtab_slot {
    uint32_t ss_hash;
    uint32_t ss_ix; /* entry index + 1; 0 = empty */
} subtab_slot;

struct cdr_subtab {
    cdr_sub *st_subs;
    size_t st_n;
    size_t st_cap;
    subtab_slot *st_slots;
    size_t st_mask; /* slot count - 1 */
};

static uint32_t msisdn_hash(const char *s)
{
    /* FNV-1a, then a final avalanche so that consecutive numbers spread. */
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

static int grow_slots(cdr_subtab *tab, size_t nslots)
{
    subtab_slot *ns = calloc(nslots, sizeof *ns);
    if (!ns)
        return CDR_ENOMEM;
    cdr_mem_hugepages(ns, nslots * sizeof *ns);
    size_t mask = nslots - 1;
    for (size_t i = 0; i < tab->st_n; i++) {
        uint32_t h = msisdn_hash(tab->st_subs[i].su_msisdn);
        size_t j = h & mask;
        while (ns[j].ss_ix)
            j = (j + 1) & mask;
        ns[j].ss_hash = h;
        ns[j].ss_ix = (uint32_t)i + 1;
    }
    free(tab->st_slots);
    tab->st_slots = ns;
    tab->st_mask = mask;
    return 0;
}

int cdr_subtab_create(size_t capacity_hint, cdr_subtab **out)
{
    *out = NULL;
    cdr_subtab *tab = calloc(1, sizeof *tab);
    if (!tab)
        return CDR_ENOMEM;
    tab->st_cap = capacity_hint ? capacity_hint : 16;
    tab->st_subs = malloc(tab->st_cap * sizeof *tab->st_subs);
    cdr_mem_hugepages(tab->st_subs, tab->st_cap * sizeof *tab->st_subs);
    size_t nslots = 16;
    while (nslots < 2 * tab->st_cap)
        nslots <<= 1;
    if (!tab->st_subs || grow_slots(tab, nslots) != 0) {
        cdr_subtab_free(tab);
        return CDR_ENOMEM;
    }
    *out = tab;
    return 0;
}

const cdr_sub *cdr_subtab_find(const cdr_subtab *tab, const char *msisdn)
{
    uint32_t h = msisdn_hash(msisdn);
    size_t j = h & tab->st_mask;
    for (;;) {
        const subtab_slot *ss = &tab->st_slots[j];
        if (!ss->ss_ix)
            return NULL;
        if (ss->ss_hash == h) {
            const cdr_sub *su = &tab->st_subs[ss->ss_ix - 1];
            if (strcmp(su->su_msisdn, msisdn) == 0)
                return su;
        }
        j = (j + 1) & tab->st_mask;
    }
}

int cdr_subtab_add(cdr_subtab *tab, const cdr_sub *su)
{
    if (!su->su_msisdn[0] || memchr(su->su_msisdn, 0, sizeof su->su_msisdn) == NULL)
        return CDR_EINVAL;
    if (cdr_subtab_find(tab, su->su_msisdn))
        return CDR_EXISTS;
    if (tab->st_n >= UINT32_MAX - 1)
        return CDR_LIMIT;
    if (tab->st_n == tab->st_cap) {
        size_t ncap = tab->st_cap * 2;
        cdr_sub *ns = realloc(tab->st_subs, ncap * sizeof *ns);
        if (!ns)
            return CDR_ENOMEM;
        tab->st_subs = ns;
        tab->st_cap = ncap;
        cdr_mem_hugepages(ns, ncap * sizeof *ns);
    }
    if (2 * (tab->st_n + 1) > tab->st_mask + 1) {
        int rc = grow_slots(tab, 2 * (tab->st_mask + 1));
        if (rc)
            return rc;
    }
    uint32_t h = msisdn_hash(su->su_msisdn);
    size_t j = h & tab->st_mask;
    while (tab->st_slots[j].ss_ix)
        j = (j + 1) & tab->st_mask;
    tab->st_subs[tab->st_n] = *su;
    tab->st_slots[j].ss_hash = h;
    tab->st_slots[j].ss_ix = (uint32_t)(++tab->st_n);
    return 0;
}

size_t cdr_subtab_count(const cdr_subtab *tab)
{
    return tab->st_n;
}

const cdr_sub *cdr_subtab_at(const cdr_subtab *tab, size_t i)
{
    return i < tab->st_n ? &tab->st_subs[i] : NULL;
}

void cdr_subtab_find_records(const cdr_subtab *tab, const cdr_record *recs, size_t n, int32_t *ix)
{
    enum { GROUP = 32 };
    uint32_t h[GROUP];
    for (size_t base = 0; base < n; base += GROUP) {
        size_t m = n - base < GROUP ? n - base : GROUP;
        /* 1: hash and prefetch the slots */
        for (size_t i = 0; i < m; i++) {
            h[i] = msisdn_hash(recs[base + i].cr_msisdn);
            __builtin_prefetch(&tab->st_slots[h[i] & tab->st_mask]);
        }
        /* 2: probe the slots, prefetch the candidate entries */
        for (size_t i = 0; i < m; i++) {
            int32_t cand = -1;
            for (size_t j = h[i] & tab->st_mask; tab->st_slots[j].ss_ix; j = (j + 1) & tab->st_mask)
                if (tab->st_slots[j].ss_hash == h[i]) {
                    cand = (int32_t)tab->st_slots[j].ss_ix - 1;
                    break;
                }
            ix[base + i] = cand;
            if (cand >= 0)
                __builtin_prefetch(&tab->st_subs[cand]);
        }
        /* 3: confirm (a 32-bit hash may collide: fall back to the full probe) */
        for (size_t i = 0; i < m; i++) {
            const char *msisdn = recs[base + i].cr_msisdn;
            int32_t cand = ix[base + i];
            if (cand >= 0 && strcmp(tab->st_subs[cand].su_msisdn, msisdn) == 0)
                continue;
            const cdr_sub *su = cand >= 0 ? cdr_subtab_find(tab, msisdn) : NULL;
            ix[base + i] = su ? (int32_t)(su - tab->st_subs) : -1;
        }
    }
}

void cdr_subtab_free(cdr_subtab *tab)
{
    if (!tab)
        return;
    free(tab->st_subs);
    free(tab->st_slots);
    free(tab);
}
