/* pages_int.h - internal to the portal's pages (pages.c, pages_route.c, pages_ent.c): the helpers
 * they share. Every writer escapes text with pt_html; every object shown passed pt_allow_* first.
 */
#ifndef PAGES_INT_H
#define PAGES_INT_H

#include "data_int.h"

#define ZH(r)        ((r)->lang == CDR_STMT_ZH_CN)
#define T(r, en, zh) (ZH(r) ? (zh) : (en))

/* An id of the URL or a form: 1 .. INT64_MAX in decimal without a leading zero; 0 or -1. */
int pg_id_parse(const char *s, uint64_t *out);
/* 1 when r may see `what` of the enterprise / line (no answer written). */
int pg_ent_ok(pt_req *r, int what, uint64_t enterprise);
int pg_line_ok(pt_req *r, int what, const char *msisdn);
/* Refuse with the status of pt_allow_* (401, 403, 404), in the page's language. */
int pg_refuse(pt_req *r, int code);
/* The page's method: GET (or HEAD), or POST when post_ok. 0, or 405 answered. */
int pg_method(pt_req *r, int post_ok);
/* Writers into r->out. */
void pg_csrf_field(pt_req *r); /* the hidden "csrf" field of a form */
void pg_money(pt_req *r, cdr_money m);
/* <td class="n" data-amount="12.21" [id=..]>12.21</td> (id may be NULL) */
void pg_money_td(pt_req *r, const char *id, cdr_money m);
void pg_day(pt_req *r, int64_t day); /* a day number as YYYY-MM-DD */
void pg_time(pt_req *r, cdr_time t); /* UTC, or "-" when 0 */
/* Names in the page's language. */
const char *pg_dir_status(pt_req *r, int status);
const char *pg_line_status(pt_req *r, int status);
const char *pg_duty(pt_req *r, int duty);
const char *pg_service(pt_req *r, int svc);
const char *pg_req_kind(pt_req *r, int kind);
const char *pg_req_state(pt_req *r, int state);

/* An account's invoices, payments and balances with aging (pt_pay_status; ps may be NULL). */
void pg_invoices_tables(pt_req *r, const cdr_pay_status *ps);
/* The enterprise pages (pages_ent.c): /enterprises/{id}[/members|invoices|warnings|requests] and
 * /requests/{id}/approve|reject. seg: the path's segments, n of them. */
int pg_enterprise(pt_req *r, const char *const *seg, int n);
int pg_request_decide(pt_req *r, const char *const *seg, int n);
/* The overview box of one enterprise (what the duty allows): 0 or the status answered. */
int pg_enterprise_box(pt_req *r, const cdr_dir_enterprise *en, unsigned duties, int heading);

#endif
