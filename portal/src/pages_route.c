/* pages_route.c - the pages of a logged-in user: the overview, members, statements, invoices,
 * warnings, requests (docs/portal.md, "Pages"). */
#include <inttypes.h>
#include <string.h>

#include "cdr_statement.h"
#include "data_int.h"

#define ZH(r)        ((r)->lang == CDR_STMT_ZH_CN)
#define T(r, en, zh) (ZH(r) ? (zh) : (en))

int pt_page_route(pt_req *r)
{
    if (strcmp(r->url, "/") != 0)
        return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
    pt_page_begin(r, T(r, "Overview", "概览"));
    fputs("<p>", r->out);
    pt_html(r, r->id.id_user.us_login);
    fputs("</p>", r->out);
    pt_page_end(r);
    return 0;
}
