/* cmd_plans.c - `cdrate plans compile DIR`, `plans list`, `plans show NAME` (--store STORE).
 *
 * compile refuses an invalid plan directory before it touches the store (cdr_plan_check_dir),
 * then writes it in one transaction; list and show read a store that must exist. show prints the
 * compiled plan, as the rater sees it: zones with all their prefixes, bands, rates per cell,
 * bundles in human units. docs/tariff-plans.md and docs/operations.md describe the output.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_rules.h"
#include "cli.h"

/* ---- formatting helpers --------------------------------------------------------------------- */

/* An amount with at least two decimals and no trailing zeros beyond: 128.00, 0.15, 0.000001. */
static const char *money_str(cdr_money v, char *buf, size_t size)
{
    cdr_money_format(v, 6, CDR_ROUND_HALF_UP, buf, size);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf);
        while (end > dot + 3 && end[-1] == '0')
            *--end = '\0';
    }
    return buf;
}

static const char *network_str(const cdr_network *nw, char *buf, size_t size)
{
    if (nw->nw_mnc < 0)
        snprintf(buf, size, "%03u-*", (unsigned)nw->nw_mcc);
    else
        snprintf(buf, size, nw->nw_mnc >= 100 ? "%03u-%03d" : "%03u-%02d", (unsigned)nw->nw_mcc,
                 (int)nw->nw_mnc);
    return buf;
}

static const char *date_str(int32_t ymd, char *buf, size_t size)
{
    snprintf(buf, size, "%04d-%02d-%02d", (int)(ymd / 10000), (int)(ymd / 100 % 100),
             (int)(ymd % 100));
    return buf;
}

static const char *minute_str(int m, char *buf, size_t size)
{
    snprintf(buf, size, "%02d:%02d", m / 60, m % 60);
    return buf;
}

/* The instant in the plan's own time zone ("2026-01-01T00:00:00+08:00"). */
static const char *local_time_str(const cdr_plan *pl, cdr_time t, char *buf, size_t size)
{
    return cdr_time_format(t, cdr_tz_offset(&pl->pl_tz, t, NULL), 0, buf, size);
}

/* ---- reading the compiled plan -------------------------------------------------------------- */

static uint16_t rate_at(const cdr_plan *pl, int s, int d, int z, int b)
{
    return pl
        ->pl_rate_ix[((size_t)(s * CDR_DIR_COUNT + d) * pl->pl_nzones + (size_t)z) * pl->pl_nbands +
                     (size_t)b];
}

/* The service of each rate (from the first cell that uses it), -1 for a rate no cell uses. */
static int *rate_services(const cdr_plan *pl)
{
    int *svc = malloc((pl->pl_nrates ? pl->pl_nrates : 1) * sizeof *svc);
    if (!svc)
        return NULL;
    for (uint32_t i = 0; i < pl->pl_nrates; i++)
        svc[i] = -1;
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        for (int d = 0; d < CDR_DIR_COUNT; d++)
            for (int z = 0; z < pl->pl_nzones; z++)
                for (int b = 0; b < pl->pl_nbands; b++) {
                    const uint16_t r = rate_at(pl, s, d, z, b);
                    if (r != CDR_NO_RATE && r < pl->pl_nrates && svc[r] < 0)
                        svc[r] = s;
                }
    return svc;
}

/* Mask of the services that have at least one rate or bundle. */
static unsigned plan_services(const cdr_plan *pl)
{
    unsigned m = 0;
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        for (int d = 0; d < CDR_DIR_COUNT; d++)
            for (int z = 0; z < pl->pl_nzones; z++)
                for (int b = 0; b < pl->pl_nbands; b++)
                    if (rate_at(pl, s, d, z, b) != CDR_NO_RATE)
                        m |= 1u << s;
    for (int i = 0; i < pl->pl_nbundles; i++)
        m |= 1u << pl->pl_bundles[i].bu_service;
    return m;
}

/* Calls fn for every prefix (exact = 0) or number (exact = 1) of zone z, in digit order. */
typedef void (*digits_fn)(void *arg, const char *digits);

static void trie_walk(const cdr_plan *pl, int32_t at, char *digits, int depth, int z, int exact,
                      digits_fn fn, void *arg)
{
    const cdr_trie_node *tn = &pl->pl_trie[at];
    if (depth > 0 && (exact ? tn->tn_exact : tn->tn_zone) == z) {
        digits[depth] = '\0';
        fn(arg, digits);
    }
    if (depth >= 63)
        return;
    for (int d = 0; d < 10; d++)
        if (tn->tn_child[d] > at && (uint32_t)tn->tn_child[d] < pl->pl_ntrie) {
            digits[depth] = (char)('0' + d);
            trie_walk(pl, tn->tn_child[d], digits, depth + 1, z, exact, fn, arg);
        }
}

static void zone_digits(const cdr_plan *pl, int z, int exact, digits_fn fn, void *arg)
{
    char digits[64];
    if (pl->pl_ntrie > 0)
        trie_walk(pl, 0, digits, 0, z, exact, fn, arg);
}

static void count_fn(void *arg, const char *digits)
{
    (void)digits;
    (*(size_t *)arg)++;
}

/* A band's time on one day type: a list of [from, to) minute ranges. */
typedef struct day_ranges {
    int dr_n;
    uint16_t dr_from[CDR_MINUTES_PER_DAY / 2 + 1], dr_to[CDR_MINUTES_PER_DAY / 2 + 1];
} day_ranges;

static void band_ranges(const cdr_plan *pl, int b, int day, day_ranges *dr)
{
    dr->dr_n = 0;
    for (int m = 0; m < CDR_MINUTES_PER_DAY;) {
        if (pl->pl_band_of[day][m] != b) {
            m++;
            continue;
        }
        int e = m;
        while (e < CDR_MINUTES_PER_DAY && pl->pl_band_of[day][e] == b)
            e++;
        dr->dr_from[dr->dr_n] = (uint16_t)m;
        dr->dr_to[dr->dr_n] = (uint16_t)e;
        dr->dr_n++;
        m = e;
    }
}

static int ranges_eq(const day_ranges *a, const day_ranges *b)
{
    return a->dr_n == b->dr_n && !memcmp(a->dr_from, b->dr_from, a->dr_n * sizeof *a->dr_from) &&
           !memcmp(a->dr_to, b->dr_to, a->dr_n * sizeof *a->dr_to);
}

/* The day types of a band grouped by identical time ranges: group[day] = index of the first day
 * with the same ranges, -1 when the band has no time that day. */
static void band_groups(const cdr_plan *pl, int b, day_ranges dr[CDR_DAYTYPES],
                        int group[CDR_DAYTYPES])
{
    for (int d = 0; d < CDR_DAYTYPES; d++) {
        band_ranges(pl, b, d, &dr[d]);
        group[d] = dr[d].dr_n ? d : -1;
        for (int e = 0; e < d && dr[d].dr_n; e++)
            if (group[e] == e && ranges_eq(&dr[e], &dr[d])) {
                group[d] = e;
                break;
            }
    }
}

/* ---- plans show: text ----------------------------------------------------------------------- */

typedef struct wrap_out {
    FILE *wo_f;
    int wo_col;
    int wo_indent;
    int wo_first;
} wrap_out;

/* Write word after a blank, wrapping lines at 100 columns with wo_indent blanks. */
static void wrap_word(wrap_out *wo, const char *word, const char *sep)
{
    const int len = (int)strlen(word) + (wo->wo_first ? 0 : (int)strlen(sep));
    if (!wo->wo_first && wo->wo_col + len > 100) {
        fprintf(wo->wo_f, "%s\n%*s", sep[0] == ',' ? "," : "", wo->wo_indent, "");
        wo->wo_col = wo->wo_indent;
        wo->wo_first = 1;
    }
    wo->wo_col += fprintf(wo->wo_f, "%s%s", wo->wo_first ? "" : sep, word);
    wo->wo_first = 0;
}

static void wrap_fn(void *arg, const char *digits)
{
    wrap_word(arg, digits, " ");
}

static void show_days(FILE *f, const int group[CDR_DAYTYPES], int g)
{
    int first = 1;
    for (int d = 0; d < CDR_DAYTYPES; d++) {
        if (group[d] != g)
            continue;
        int e = d;
        while (e + 1 < CDR_DAYTYPES && e + 1 != CDR_DAYTYPE_HOLIDAY && group[e + 1] == g)
            e++;
        if (e - d >= 2) {
            fprintf(f, "%s%s-%s", first ? "" : ", ", cdr_plan_daytype_name(d),
                    cdr_plan_daytype_name(e));
            d = e;
        } else {
            fprintf(f, "%s%s", first ? "" : ", ", cdr_plan_daytype_name(d));
        }
        first = 0;
    }
}

static void show_rate_text(FILE *f, const cdr_plan *pl, uint32_t i, int svc)
{
    const cdr_rate *ra = &pl->pl_rates[i];
    char a[48], u1[32], u2[32];
    fprintf(f, "  #%-3" PRIu32 " ", i);
    if (svc < 0) {
        fprintf(f, "(unused: every cell it names has a more specific rate)\n");
        return;
    }
    fprintf(f, "%-6s %s per %s", cdr_service_name(svc),
            money_str(ra->ra_tiers[0].ti_price, a, sizeof a),
            cdr_plan_units_format(svc, ra->ra_unit, u1, sizeof u1));
    fprintf(f, ", increments %s/%s", cdr_plan_units_format(svc, ra->ra_first, u1, sizeof u1),
            cdr_plan_units_format(svc, ra->ra_next, u2, sizeof u2));
    if (ra->ra_connect_fee)
        fprintf(f, ", connect fee %s", money_str(ra->ra_connect_fee, a, sizeof a));
    for (int t = 1; t < ra->ra_ntiers; t++)
        fprintf(f, ", from %s %s",
                cdr_plan_units_format(svc, ra->ra_tiers[t].ti_from, u1, sizeof u1),
                money_str(ra->ra_tiers[t].ti_price, a, sizeof a));
    if (ra->ra_min_charge >= 0)
        fprintf(f, ", min %s", money_str(ra->ra_min_charge, a, sizeof a));
    if (ra->ra_max_charge >= 0)
        fprintf(f, ", max %s", money_str(ra->ra_max_charge, a, sizeof a));
    fprintf(f, ", rounding %s to %s", cdr_rounding_name((cdr_rounding)ra->ra_rounding),
            money_str(ra->ra_round_to, a, sizeof a));
    if (ra->ra_class)
        fprintf(f, ", charge class %s", cdr_charge_class_name(ra->ra_class));
    fputc('\n', f);
}

static void show_text(FILE *f, const cdr_plan *pl)
{
    char a[64], b[64];
    fprintf(f, "plan %s version %" PRIu32 "\n", pl->pl_id, pl->pl_version);
    fprintf(f, "  effective from  %s (%s)\n",
            local_time_str(pl, pl->pl_effective_from, a, sizeof a),
            cdr_time_format(pl->pl_effective_from, 0, 1, b, sizeof b));
    fprintf(f, "  timezone        %s\n", pl->pl_tz.tz_name);
    fprintf(f, "  currency        %s\n", pl->pl_currency);
    fprintf(f, "  monthly fee     %s %s\n", money_str(pl->pl_monthly_fee, a, sizeof a),
            pl->pl_currency);
    const unsigned svcs = plan_services(pl);
    fprintf(f, "  services       ");
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        if (svcs & (1u << s))
            fprintf(f, " %s", cdr_service_name(s));
    fprintf(f, "\n  home networks  ");
    if (!pl->pl_nhome)
        fprintf(f, " none");
    for (int i = 0; i < pl->pl_nhome; i++)
        fprintf(f, " %s", network_str(&pl->pl_home[i], a, sizeof a));
    fprintf(f, "\n  home zone       %s\n",
            pl->pl_home_zone >= 0 ? pl->pl_zones[pl->pl_home_zone].zo_name : "none");
    fprintf(f, "  default zone    %s\n",
            pl->pl_default_zone >= 0 ? pl->pl_zones[pl->pl_default_zone].zo_name
                                     : "none (unmatched destinations are unratable: no_zone)");

    fprintf(f, "\nzones (%u)\n", (unsigned)pl->pl_nzones);
    for (int z = 0; z < pl->pl_nzones; z++) {
        const cdr_zone *zo = &pl->pl_zones[z];
        fprintf(f, "  %-16s %s", zo->zo_name, cdr_plan_zone_kind_name(zo->zo_kind));
        if (zo->zo_class)
            fprintf(f, ", charge class %s", cdr_charge_class_name(zo->zo_class));
        fputc('\n', f);
        for (int exact = 0; exact < 2; exact++) {
            size_t n = 0;
            zone_digits(pl, z, exact, count_fn, &n);
            if (!n)
                continue;
            wrap_out wo = {f, 0, 6, 1};
            wo.wo_col = fprintf(f, "    %s (%zu): ", exact ? "numbers" : "prefixes", n);
            zone_digits(pl, z, exact, wrap_fn, &wo);
            fputc('\n', f);
        }
        size_t nnet = 0;
        for (uint32_t i = 0; i < pl->pl_nroam; i++)
            nnet += pl->pl_roam[i].nw_zone == z;
        if (nnet) {
            wrap_out wo = {f, 0, 6, 1};
            wo.wo_col = fprintf(f, "    networks (%zu): ", nnet);
            for (uint32_t i = 0; i < pl->pl_nroam; i++)
                if (pl->pl_roam[i].nw_zone == z)
                    wrap_word(&wo, network_str(&pl->pl_roam[i], a, sizeof a), " ");
            fputc('\n', f);
        }
    }

    fprintf(f, "\nholidays (%" PRIu32 ")", pl->pl_nholidays);
    if (pl->pl_nholidays) {
        wrap_out wo = {f, 0, 2, 1};
        fprintf(f, "\n  ");
        wo.wo_col = 2;
        for (uint32_t i = 0; i < pl->pl_nholidays; i++)
            wrap_word(&wo, date_str(pl->pl_holidays[i], a, sizeof a), " ");
    }
    fputc('\n', f);

    fprintf(f, "\nbands (%u)\n", (unsigned)pl->pl_nbands);
    for (int bd = 0; bd < pl->pl_nbands; bd++) {
        day_ranges dr[CDR_DAYTYPES];
        int group[CDR_DAYTYPES];
        band_groups(pl, bd, dr, group);
        fprintf(f, "  %-16s", pl->pl_band_names[bd]);
        int first = 1;
        for (int d = 0; d < CDR_DAYTYPES; d++) {
            if (group[d] != d)
                continue;
            fprintf(f, "%s", first ? " " : "; ");
            show_days(f, group, d);
            for (int r = 0; r < dr[d].dr_n; r++)
                fprintf(f, "%s%s-%s", r ? ", " : " ", minute_str(dr[d].dr_from[r], a, sizeof a),
                        minute_str(dr[d].dr_to[r], b, sizeof b));
            first = 0;
        }
        fputc('\n', f);
    }

    int *rsvc = rate_services(pl);
    fprintf(f, "\nrates (%" PRIu32 ")\n", pl->pl_nrates);
    for (uint32_t i = 0; i < pl->pl_nrates; i++)
        show_rate_text(f, pl, i, rsvc ? rsvc[i] : -1);
    free(rsvc);

    fprintf(f, "\nrate of each cell (service direction zone: band #rate; free zones charge 0)\n");
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        for (int d = 0; d < CDR_DIR_COUNT; d++)
            for (int z = 0; z < pl->pl_nzones; z++) {
                int any = 0, same = 1;
                const uint16_t r0 = rate_at(pl, s, d, z, 0);
                for (int bd = 0; bd < pl->pl_nbands; bd++) {
                    any |= rate_at(pl, s, d, z, bd) != CDR_NO_RATE;
                    same &= rate_at(pl, s, d, z, bd) == r0;
                }
                if (!any)
                    continue;
                fprintf(f, "  %-5s %s %-16s", cdr_service_name(s), cdr_direction_name(d),
                        pl->pl_zones[z].zo_name);
                if (same) {
                    fprintf(f, " all bands #%u\n", (unsigned)r0);
                    continue;
                }
                for (int bd = 0; bd < pl->pl_nbands; bd++) {
                    const uint16_t r = rate_at(pl, s, d, z, bd);
                    if (r == CDR_NO_RATE)
                        fprintf(f, " %s none", pl->pl_band_names[bd]);
                    else
                        fprintf(f, " %s #%u", pl->pl_band_names[bd], (unsigned)r);
                }
                fputc('\n', f);
            }

    fprintf(f, "\nbundles (%u)\n", (unsigned)pl->pl_nbundles);
    for (int i = 0; i < pl->pl_nbundles; i++) {
        const cdr_bundle *bu = &pl->pl_bundles[i];
        fprintf(f, "  %-16s %-5s %-10s zones", bu->bu_name, cdr_service_name(bu->bu_service),
                bu->bu_pool ? "pool"
                            : cdr_plan_units_format(bu->bu_service, bu->bu_units, a, sizeof a));
        for (int z = 0; z < pl->pl_nzones; z++)
            if (bu->bu_zones & (1ull << z))
                fprintf(f, " %s", pl->pl_zones[z].zo_name);
        fprintf(f, "%s\n",
                bu->bu_pool ? " (enterprise pool: size and member caps from the directory)" : "");
    }
}

/* ---- plans show: JSON ----------------------------------------------------------------------- */

typedef struct json_list {
    FILE *jl_f;
    int jl_n;
} json_list;

static void json_item_fn(void *arg, const char *digits)
{
    json_list *jl = arg;
    fprintf(jl->jl_f, "%s\"%s\"", jl->jl_n++ ? "," : "", digits);
}

static void json_money(FILE *f, const char *key, cdr_money v, int first)
{
    char a[48];
    fprintf(f, "%s\"%s\":", first ? "" : ",", key);
    if (v < 0)
        fputs("null", f);
    else
        cli_json_str(f, money_str(v, a, sizeof a));
}

static void json_units(FILE *f, const char *key, int svc, uint64_t v)
{
    char a[48];
    fprintf(f, ",\"%s\":", key);
    if (svc < 0)
        fputs("null", f);
    else
        cli_json_str(f, cdr_plan_units_format(svc, v, a, sizeof a));
    fprintf(f, ",\"%s_units\":%" PRIu64, key, v);
}

static void show_json(FILE *f, const cdr_plan *pl)
{
    char a[64];
    fputs("{\"plan\":", f);
    cli_json_str(f, pl->pl_id);
    fprintf(f, ",\"version\":%" PRIu32 ",\"effective_from\":", pl->pl_version);
    cli_json_str(f, cdr_time_format(pl->pl_effective_from, 0, 1, a, sizeof a));
    fputs(",\"effective_from_local\":", f);
    cli_json_str(f, local_time_str(pl, pl->pl_effective_from, a, sizeof a));
    fputs(",\"timezone\":", f);
    cli_json_str(f, pl->pl_tz.tz_name);
    fputs(",\"currency\":", f);
    cli_json_str(f, pl->pl_currency);
    fputs(",\"fees\":{", f);
    json_money(f, "monthly_fee", pl->pl_monthly_fee, 1);
    fputs("},\"services\":[", f);
    const unsigned svcs = plan_services(pl);
    for (int s = 0, n = 0; s < CDR_SVC_COUNT; s++)
        if (svcs & (1u << s))
            fprintf(f, "%s\"%s\"", n++ ? "," : "", cdr_service_name(s));
    fputs("],\"home_networks\":[", f);
    for (int i = 0; i < pl->pl_nhome; i++)
        fprintf(f, "%s\"%s\"", i ? "," : "", network_str(&pl->pl_home[i], a, sizeof a));
    fputs("],\"home_zone\":", f);
    if (pl->pl_home_zone >= 0)
        cli_json_str(f, pl->pl_zones[pl->pl_home_zone].zo_name);
    else
        fputs("null", f);
    fputs(",\"default_zone\":", f);
    if (pl->pl_default_zone >= 0)
        cli_json_str(f, pl->pl_zones[pl->pl_default_zone].zo_name);
    else
        fputs("null", f);

    fputs(",\"zones\":[", f);
    for (int z = 0; z < pl->pl_nzones; z++) {
        fprintf(f, "%s{\"id\":%d,\"name\":", z ? "," : "", z);
        cli_json_str(f, pl->pl_zones[z].zo_name);
        fprintf(f, ",\"kind\":\"%s\"", cdr_plan_zone_kind_name(pl->pl_zones[z].zo_kind));
        if (pl->pl_zones[z].zo_class) /* declared in the plan (docs/tariff-plans.md) */
            fprintf(f, ",\"charge_class\":\"%s\"", cdr_charge_class_name(pl->pl_zones[z].zo_class));
        for (int exact = 0; exact < 2; exact++) {
            json_list jl = {f, 0};
            fprintf(f, ",\"%s\":[", exact ? "numbers" : "prefixes");
            zone_digits(pl, z, exact, json_item_fn, &jl);
            fputc(']', f);
        }
        fputs(",\"networks\":[", f);
        for (uint32_t i = 0, n = 0; i < pl->pl_nroam; i++)
            if (pl->pl_roam[i].nw_zone == z)
                fprintf(f, "%s\"%s\"", n++ ? "," : "", network_str(&pl->pl_roam[i], a, sizeof a));
        fputs("]}", f);
    }
    fputs("],\"holidays\":[", f);
    for (uint32_t i = 0; i < pl->pl_nholidays; i++)
        fprintf(f, "%s\"%s\"", i ? "," : "", date_str(pl->pl_holidays[i], a, sizeof a));

    fputs("],\"bands\":[", f);
    for (int bd = 0; bd < pl->pl_nbands; bd++) {
        day_ranges dr[CDR_DAYTYPES];
        int group[CDR_DAYTYPES];
        band_groups(pl, bd, dr, group);
        fprintf(f, "%s{\"id\":%d,\"name\":", bd ? "," : "", bd);
        cli_json_str(f, pl->pl_band_names[bd]);
        fputs(",\"times\":[", f);
        int n = 0;
        for (int d = 0; d < CDR_DAYTYPES; d++) {
            if (group[d] != d)
                continue;
            for (int r = 0; r < dr[d].dr_n; r++) {
                fprintf(f, "%s{\"days\":[", n++ ? "," : "");
                for (int e = d, m = 0; e < CDR_DAYTYPES; e++)
                    if (group[e] == d)
                        fprintf(f, "%s\"%s\"", m++ ? "," : "", cdr_plan_daytype_name(e));
                char t1[8], t2[8];
                fprintf(f, "],\"from\":\"%s\",\"to\":\"%s\"}",
                        minute_str(dr[d].dr_from[r], t1, sizeof t1),
                        minute_str(dr[d].dr_to[r], t2, sizeof t2));
            }
        }
        fputs("]}", f);
    }

    int *rsvc = rate_services(pl);
    fputs("],\"rates\":[", f);
    for (uint32_t i = 0; i < pl->pl_nrates; i++) {
        const cdr_rate *ra = &pl->pl_rates[i];
        const int svc = rsvc ? rsvc[i] : -1;
        fprintf(f, "%s{\"id\":%" PRIu32 ",\"service\":", i ? "," : "", i);
        if (svc < 0)
            fputs("null,\"used\":false", f);
        else
            fprintf(f, "\"%s\",\"used\":true", cdr_service_name(svc));
        fputc(',', f);
        json_money(f, "connect_fee", ra->ra_connect_fee, 1);
        json_money(f, "price", ra->ra_tiers[0].ti_price, 0);
        json_units(f, "per", svc, ra->ra_unit);
        json_units(f, "first_increment", svc, ra->ra_first);
        json_units(f, "next_increment", svc, ra->ra_next);
        fputs(",\"tiers\":[", f);
        for (int t = 0; t < ra->ra_ntiers; t++) {
            fprintf(f, "%s{", t ? "," : "");
            json_money(f, "price", ra->ra_tiers[t].ti_price, 1);
            json_units(f, "from", svc, ra->ra_tiers[t].ti_from);
            fputc('}', f);
        }
        fputc(']', f);
        json_money(f, "min_charge", ra->ra_min_charge, 0);
        json_money(f, "max_charge", ra->ra_max_charge, 0);
        fprintf(f, ",\"rounding\":\"%s\"", cdr_rounding_name((cdr_rounding)ra->ra_rounding));
        json_money(f, "round_to", ra->ra_round_to, 0);
        if (ra->ra_class)
            fprintf(f, ",\"charge_class\":\"%s\"", cdr_charge_class_name(ra->ra_class));
        fputc('}', f);
    }
    free(rsvc);

    fputs("],\"cells\":[", f);
    int n = 0;
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        for (int d = 0; d < CDR_DIR_COUNT; d++)
            for (int z = 0; z < pl->pl_nzones; z++)
                for (int bd = 0; bd < pl->pl_nbands; bd++) {
                    const uint16_t r = rate_at(pl, s, d, z, bd);
                    if (r == CDR_NO_RATE)
                        continue;
                    fprintf(f,
                            "%s{\"service\":\"%s\",\"direction\":\"%s\",\"zone\":", n++ ? "," : "",
                            cdr_service_name(s), cdr_direction_name(d));
                    cli_json_str(f, pl->pl_zones[z].zo_name);
                    fputs(",\"band\":", f);
                    cli_json_str(f, pl->pl_band_names[bd]);
                    fprintf(f, ",\"rate\":%u}", (unsigned)r);
                }

    fputs("],\"bundles\":[", f);
    for (int i = 0; i < pl->pl_nbundles; i++) {
        const cdr_bundle *bu = &pl->pl_bundles[i];
        fprintf(f, "%s{\"id\":%d,\"name\":", i ? "," : "", i);
        cli_json_str(f, bu->bu_name);
        fprintf(f, ",\"service\":\"%s\",\"pool\":%s,\"units\":", cdr_service_name(bu->bu_service),
                bu->bu_pool ? "true" : "false");
        if (bu->bu_pool)
            fputs("null,\"base_units\":null", f);
        else
            fprintf(f, "\"%s\",\"base_units\":%" PRIu64,
                    cdr_plan_units_format(bu->bu_service, bu->bu_units, a, sizeof a), bu->bu_units);
        fputs(",\"zones\":[", f);
        for (int z = 0, m = 0; z < pl->pl_nzones; z++)
            if (bu->bu_zones & (1ull << z)) {
                fputs(m++ ? "," : "", f);
                cli_json_str(f, pl->pl_zones[z].zo_name);
            }
        fputs("]}", f);
    }
    fputs("]}\n", f);
}

/* ---- the verbs ------------------------------------------------------------------------------ */

/* Exit code of a failed compile: the files are at fault (refused, 4) or the environment (1). */
static int compile_exit(const cdr_diag *dg)
{
    switch (dg->dg_code) {
    case CDR_EIO:
    case CDR_ENOMEM:
    case CDR_STORE:
    case CDR_EINVAL:
        return CLI_EXIT_FAIL;
    case CDR_NOTFOUND: /* an unknown time zone has a position; a missing directory has none */
        return dg->dg_line > 0 ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    default:
        return CLI_EXIT_REFUSED;
    }
}

static int plans_compile(const char *dir, const char *store, int quiet, int json)
{
    cdr_diag dg;
    int n = 0;
    /* Check everything first: an invalid directory must not even create the store. */
    if (cdr_plan_check_dir(dir, &n, &dg)) {
        cli_report("plans", &dg);
        if (!json)
            fprintf(stderr, "cdrate plans: nothing stored; the previously active plans stay\n");
        return compile_exit(&dg);
    }
    cdr_store *st;
    int rc = cli_store_open("plans", store, CLI_STORE_CREATE, &st);
    if (rc)
        return rc;
    rc = cdr_plan_store_compile_dir(st, dir, quiet || json ? NULL : stderr, &n, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report("plans", &dg);
        if (!json)
            fprintf(stderr, "cdrate plans: nothing stored; the previously active plans stay\n");
        return compile_exit(&dg);
    }
    if (json) {
        printf("{\"store\":");
        cli_json_str(stdout, store);
        printf(",\"dir\":");
        cli_json_str(stdout, dir);
        printf(",\"files\":%d}\n", n);
    } else if (!quiet) {
        fprintf(stderr, "cdrate plans: %d plan file(s) compiled into %s\n", n, store);
    }
    return CLI_EXIT_OK;
}

/* Open the store read-only and load its plans. */
static int load_plans(const char *store, cdr_plan_set **ps)
{
    cdr_store *st;
    int rc = cli_store_open("plans", store, CLI_STORE_READ, &st);
    if (rc)
        return rc;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    rc = cdr_plan_set_load(st, ps, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report("plans", &dg);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int plans_list(const char *store, int json)
{
    cdr_plan_set *ps;
    int rc = load_plans(store, &ps);
    if (rc)
        return rc;
    if (json) {
        printf("{\"store\":");
        cli_json_str(stdout, store);
        printf(",\"plans\":[");
    }
    for (uint32_t i = 0; i < ps->ps_nplans; i++) {
        const cdr_plan *pl = ps->ps_plans[i];
        char ts[32], fee[48];
        cdr_time_format(pl->pl_effective_from, 0, 1, ts, sizeof ts);
        money_str(pl->pl_monthly_fee, fee, sizeof fee);
        if (json) {
            printf("%s{\"plan\":", i ? "," : "");
            cli_json_str(stdout, pl->pl_id);
            printf(",\"version\":%" PRIu32 ",\"effective_from\":\"%s\",\"timezone\":",
                   pl->pl_version, ts);
            cli_json_str(stdout, pl->pl_tz.tz_name);
            printf(",\"currency\":");
            cli_json_str(stdout, pl->pl_currency);
            printf(",\"fees\":{\"monthly_fee\":\"%s\"},\"zones\":%u,\"bands\":%u,\"rates\":%" PRIu32
                   ",\"bundles\":%u}",
                   fee, pl->pl_nzones, pl->pl_nbands, pl->pl_nrates, pl->pl_nbundles);
            continue;
        }
        printf("%s\tversion %" PRIu32
               "\tfrom %s\t%s\tmonthly fee %s %s\t%u zones, %u bands, %" PRIu32
               " rates, %u bundles\n",
               pl->pl_id, pl->pl_version, ts, pl->pl_tz.tz_name, fee, pl->pl_currency,
               pl->pl_nzones, pl->pl_nbands, pl->pl_nrates, pl->pl_nbundles);
    }
    if (json)
        printf("]}\n");
    else if (!ps->ps_nplans)
        fprintf(stderr, "cdrate plans: no plans in %s\n", store);
    cdr_plan_set_release(ps);
    return CLI_EXIT_OK;
}

/* "a, b, c" of the plan ids (or of the versions of family fam >= 0) into buf. */
static void plans_names(const cdr_plan_set *ps, int fam, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < ps->ps_nplans && off + 1 < size; i++) {
        const cdr_plan *pl = ps->ps_plans[i];
        if (fam < 0 && i > 0 && !strcmp(pl->pl_id, ps->ps_plans[i - 1]->pl_id))
            continue;
        if (fam >= 0 && (i < ps->ps_family_off[fam] || i >= ps->ps_family_off[fam + 1]))
            continue;
        int w = fam < 0 ? snprintf(buf + off, size - off, "%s%s", off ? ", " : "", pl->pl_id)
                        : snprintf(buf + off, size - off, "%s%" PRIu32, off ? ", " : "",
                                   pl->pl_version);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

static int plans_show(const char *store, const char *name, uint64_t version, int json)
{
    cdr_plan_set *ps;
    int rc = load_plans(store, &ps);
    if (rc)
        return rc;
    char names[400];
    const int fam = cdr_plan_set_family(ps, name);
    if (fam < 0) {
        plans_names(ps, -1, names, sizeof names);
        cli_error("plans", CDR_NOTFOUND, "no plan %s in %s (%s%s)", name, store,
                  ps->ps_nplans ? "plans: " : "the store holds no plans",
                  ps->ps_nplans ? names : "");
        cdr_plan_set_release(ps);
        return CLI_EXIT_REFUSED;
    }
    const cdr_plan *pl = NULL;
    for (uint32_t i = ps->ps_family_off[fam]; i < ps->ps_family_off[fam + 1]; i++)
        if (!version || ps->ps_plans[i]->pl_version == version)
            pl = ps->ps_plans[i]; /* sorted by version: the last one is the latest */
    if (!pl) {
        plans_names(ps, fam, names, sizeof names);
        cli_error("plans", CDR_NOTFOUND, "no plan %s version %" PRIu64 " in %s (versions: %s)",
                  name, version, store, names);
        cdr_plan_set_release(ps);
        return CLI_EXIT_REFUSED;
    }
    if (json)
        show_json(stdout, pl);
    else
        show_text(stdout, pl);
    cdr_plan_set_release(ps);
    return CLI_EXIT_OK;
}

int cmd_plans(int argc, char **argv)
{
    const char *store = NULL;
    int quiet = 0, json = 0;
    uint64_t version = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE",
         "the LMDB store (compile creates it; list and show need an existing one)"},
        {"version", CLI_COUNT, &version, "V", "show: this plan version (default: the latest)", 1,
         UINT32_MAX},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on stdout"},
        {"quiet", CLI_FLAG, &quiet, NULL, "compile: print errors only"},
        {0},
    };
    const cli_spec cs = {
        "plans",
        "compile DIR --store STORE [--quiet] [--json]\n"
        "list --store STORE [--json]\n"
        "show NAME [--version V] --store STORE [--json]",
        "compile  validate every *.yaml plan in DIR and, only if all are valid, store them\n"
        "         (errors are reported as file:line:column; an invalid file exits 4 and\n"
        "         changes nothing, the active plans stay)\n"
        "list     print the plan versions in the store, with their monthly fee\n"
        "show     print a compiled plan (the latest version unless --version): zones with\n"
        "         their prefixes, holidays, bands, rates per cell, bundles, fees",
        opts};
    /* --version V is the plan version of show; a bare --version at the end of the line still
     * prints the program's version, as on every other command. */
    if (argc >= 2 && !strcmp(argv[argc - 1], "--version")) {
        printf("cdrate %s\n", CLI_VERSION);
        return CLI_EXIT_OK;
    }
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc || !store)
        return cli_usage_error(&cs, pos >= argc ? "missing verb" : "--store is required");
    const char *verb = argv[pos];
    if (version && strcmp(verb, "show") != 0)
        return cli_usage_error(&cs, "--version V applies to show only");
    if (!strcmp(verb, "compile") && pos + 2 == argc)
        return plans_compile(argv[pos + 1], store, quiet, json);
    if (!strcmp(verb, "list") && pos + 1 == argc)
        return plans_list(store, json);
    if (!strcmp(verb, "show") && pos + 2 == argc)
        return plans_show(store, argv[pos + 1], version, json);
    return cli_usage_error(&cs, "unknown verb or wrong arguments: '%s'", verb);
}
