/* cdr_live_json.h - one line's live state as JSON: the objects `cdrate query balance|usage|
 * bill-to-date --json` prints, which the portal's API and the IVR endpoint answer too
 * (docs/live-state.md, docs/portal.md). Each writes one JSON object and a newline to f. */
#ifndef CDR_LIVE_JSON_H
#define CDR_LIVE_JSON_H

#include <stdio.h>

#include "cdr_live.h"
#include "cdr_payments.h"

/* The account's currency: the line's plan's, else the only currency it was charged in; NULL. */
const char *cdr_live_account_currency(const cdr_live_view *v);
/* Credit class, unbilled per currency, available credit, arrears (od: the recorded dunning list of
 * the line's account, NULL when none was recorded). v read with CDR_LIVE_Q_BALANCE or _ALL. */
void cdr_live_json_balance(FILE *f, const cdr_live_view *v, const cdr_pay_overdue_set *od);
/* Records and units per service, bundles and pools. v read with CDR_LIVE_Q_ALL. */
void cdr_live_json_usage(FILE *f, const cdr_live_view *v);
/* Charges so far per currency and service, the plan's monthly fee (ps may be NULL). */
void cdr_live_json_bill(FILE *f, const cdr_live_view *v, const cdr_plan_set *ps);

#endif
