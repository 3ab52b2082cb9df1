/* render_int.h - internals shared by the statement renderers (stmt_common.c): the label table of
 * both languages, the escaping writers of JSON, CSV and HTML, and fast number formatting. Not
 * part of the public API (cdr_statement.h). */
#ifndef CDR_RENDER_INT_H
#define CDR_RENDER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdr_statement.h"
#include "cdr_time.h"

/* The texts a reader sees: section titles, column headers and row labels. X(ID, en, zh-CN).
 * The CSV header rows are made of these, so a column's text may change but never its place. */
#define STMT_TEXTS(X)                                                                              \
    X(TITLE_MEMBER, "Member statement", "成员账单")                                                \
    X(TITLE_ENTERPRISE, "Enterprise statement", "企业账单")                                        \
    X(CYCLE, "Billing cycle", "账期")                                                              \
    X(CURRENCY, "Currency", "币种")                                                                \
    X(ISSUED, "Issued", "出账日期")                                                                \
    X(DUE, "Due", "缴费截止日期")                                                                  \
    X(PRIVACY, "Numbers shown", "号码显示方式")                                                    \
    X(ENTERPRISE, "Enterprise", "企业")                                                            \
    X(ENTERPRISE_ID, "Enterprise id", "企业编号")                                                  \
    X(ENTERPRISE_ACCOUNT, "Enterprise account", "企业账户")                                        \
    X(MANAGER, "Account manager", "客户经理")                                                      \
    X(LINE, "Line", "号码信息")                                                                    \
    X(S_INVOICES, "Invoices", "发票")                                                              \
    X(S_TOTALS, "Totals", "费用合计")                                                              \
    X(S_CLASSES, "Charges by class", "按费用类别")                                                 \
    X(S_SERVICES, "Usage by service", "按业务用量")                                                \
    X(S_CHART_SERVICES, "Charge by service", "各业务费用")                                         \
    X(S_BUNDLES, "Bundle use", "套餐使用情况")                                                     \
    X(S_CHART_BUNDLES, "Bundle use (%)", "套餐使用率（%）")                                        \
    X(S_OVERFLOW, "Overflow analysis", "超出套餐分析")                                             \
    X(S_TOP, "Members with the most overflow", "超出套餐费用最高的成员")                           \
    X(S_HINTS, "Cheaper plans", "更优惠的套餐")                                                    \
    X(S_MEMBERS, "Members", "成员明细")                                                            \
    X(S_POOLS, "Shared pools", "共享资源池")                                                       \
    X(S_CHANGE, "Change against the previous cycle", "与上期比较")                                 \
    X(S_ITEMS, "Itemised records", "详单")                                                         \
    X(C_KEY, "Key", "代码")                                                                        \
    X(C_ITEM, "Item", "项目")                                                                      \
    X(C_VALUE, "Value", "值")                                                                      \
    X(C_SUBSCRIBER, "Subscriber id", "用户编号")                                                   \
    X(C_MSISDN, "Number", "号码")                                                                  \
    X(C_NAME, "Name", "姓名")                                                                      \
    X(C_PLAN, "Plan", "套餐")                                                                      \
    X(C_STATUS, "Status", "号码状态")                                                              \
    X(C_ACCOUNT, "Account", "账户")                                                                \
    X(C_ACCOUNT_NAME, "Account name", "账户名称")                                                  \
    X(C_PRODUCT, "Product", "产品")                                                                \
    X(C_CLASS_KEY, "Class code", "类别代码")                                                       \
    X(C_CLASS, "Charge class", "费用类别")                                                         \
    X(C_SERVICE_KEY, "Service code", "业务代码")                                                   \
    X(C_SERVICE, "Service", "业务")                                                                \
    X(C_RECORDS, "Records", "记录数")                                                              \
    X(C_PACKAGE_RECORDS, "In package records", "套餐内记录数")                                     \
    X(C_OVERFLOW_RECORDS, "Overflow records", "超出套餐记录数")                                    \
    X(C_RATED, "Rated", "计费金额")                                                                \
    X(C_PACKAGE_CHARGE, "In package charge", "套餐内费用")                                         \
    X(C_OVERFLOW_CHARGE, "Overflow charge", "超出套餐费用")                                        \
    X(C_ENTERPRISE_PAYS, "Enterprise pays", "企业支付")                                            \
    X(C_MEMBER_PAYS, "Member pays", "个人支付")                                                    \
    X(C_ENTERPRISE_TAX, "Enterprise tax", "企业税额")                                              \
    X(C_MEMBER_TAX, "Member tax", "个人税额")                                                      \
    X(C_UNITS, "Units", "用量")                                                                    \
    X(C_UNIT, "Unit", "单位")                                                                      \
    X(C_BUNDLE_UNITS, "In bundle", "套餐内用量")                                                   \
    X(C_OVERFLOW_UNITS, "Overflow units", "超出套餐用量")                                          \
    X(C_FREE_UNITS, "Free units", "免费用量")                                                      \
    X(C_CHARGE, "Charge", "费用")                                                                  \
    X(C_BUNDLE, "Bundle", "套餐包")                                                                \
    X(C_POOL, "Pool", "共享")                                                                      \
    X(C_USED, "Used", "已用")                                                                      \
    X(C_INCLUDED, "Included", "套餐内含")                                                          \
    X(C_PERCENT, "Used %", "使用率 %")                                                             \
    X(C_KIND, "Kind", "类型")                                                                      \
    X(C_FEE, "Monthly fee", "月租费")                                                              \
    X(C_USAGE, "Usage", "通信费")                                                                  \
    X(C_OTHER, "Other charges", "其他费用")                                                        \
    X(C_OVERFLOW, "Overflow", "超出套餐")                                                          \
    X(C_ACCOUNT_ADJUSTMENTS, "Account adjustments", "账户调整")                                    \
    X(C_HINT, "Plan hint", "套餐建议")                                                             \
    X(C_CANDIDATES, "Plans compared", "比较套餐数")                                                \
    X(C_CURRENT_PLAN, "Current plan", "当前套餐")                                                  \
    X(C_CURRENT_COST, "Cost on the current plan", "当前套餐费用")                                  \
    X(C_BEST_PLAN, "Cheaper plan", "推荐套餐")                                                     \
    X(C_BEST_COST, "Cost on the cheaper plan", "推荐套餐费用")                                     \
    X(C_SAVING, "Saving", "可节省")                                                                \
    X(C_HINT_LINES, "Lines with a cheaper plan", "有更优惠套餐的号码数")                           \
    X(C_HINT_SAVINGS, "Possible savings", "可节省合计")                                            \
    X(C_INVOICE, "Invoice", "发票")                                                                \
    X(C_AMOUNT, "Amount", "金额")                                                                  \
    X(C_TAX, "Tax", "税额")                                                                        \
    X(C_TOTAL, "Total", "总计")                                                                    \
    X(C_TIME, "Local time", "时间")                                                                \
    X(C_DIRECTION, "Direction", "呼叫类型")                                                        \
    X(C_OTHER_PARTY, "Other party", "对方号码")                                                    \
    X(C_DURATION, "Duration (s)", "时长（秒）")                                                    \
    X(C_BYTES, "Volume (bytes)", "流量（字节）")                                                   \
    X(C_ZONE, "Zone", "区域")                                                                      \
    X(C_BAND, "Band", "时段")                                                                      \
    X(C_STATE, "State", "计费状态")                                                                \
    X(C_FLAGS, "Flags", "标记")                                                                    \
    X(C_RANK, "Rank", "排名")                                                                      \
    X(C_LINES, "Lines", "号码数")                                                                  \
    X(C_PREVIOUS, "Previous cycle", "上期")                                                        \
    X(C_THIS, "This cycle", "本期")                                                                \
    X(C_DIFFERENCE, "Difference", "变化")                                                          \
    X(C_MEMBERS_AMOUNT, "Members' charges", "成员费用")                                            \
    X(V_YES, "yes", "是")                                                                          \
    X(V_NO, "no", "否")                                                                            \
    X(V_NONE, "none", "无")                                                                        \
    X(V_NO_CAP, "no cap", "不限")                                                                  \
    X(V_NOT_KNOWN, "The previous cycle was not billed.", "上期未出账。")                           \
    X(V_NO_ITEMS, "No records.", "无记录。")                                                       \
    X(U_SECONDS, "s", "秒")                                                                        \
    X(U_MESSAGES, "messages", "条")                                                                \
    X(U_BYTES, "bytes", "字节")                                                                    \
    X(P_MASKED, "masked", "部分隐藏")                                                              \
    X(P_FULL, "in full", "完整显示")                                                               \
    X(P_HIDDEN, "hidden", "不显示")                                                                \
    X(H_CHEAPER, "cheaper plan available", "有更优惠的套餐")                                       \
    X(H_KEEP, "current plan is the cheapest", "当前套餐最优惠")

typedef enum stmt_text_id {
#define STMT_TEXT_ENUM(id, en, zh) STMT_##id,
    STMT_TEXTS(STMT_TEXT_ENUM)
#undef STMT_TEXT_ENUM
        STMT_TEXT_COUNT
} stmt_text_id;

/* The text in lang (any lang other than CDR_STMT_ZH_CN reads as English). */
const char *stmt_text(int lang, stmt_text_id id);

/* The totals of a statement, in the order of the JSON object "totals", the HTML's data-total
 * hooks and summary.csv: key, label, the amount and its decimals (2 billed, 6 rated). */
#define STMT_NTOTALS 9
typedef struct stmt_total {
    const char *to_key;
    stmt_text_id to_label;
    cdr_money to_amount;
    int to_decimals;
} stmt_total;
void stmt_totals(const cdr_statement *s, stmt_total out[STMT_NTOTALS]);

/* The unit a service counts in: "seconds", "messages", "bytes" (JSON) and its label. */
const char *stmt_unit_name(int svc);
stmt_text_id stmt_unit_label(int svc);
/* A class or a service with anything in it (the sections list only those). */
int stmt_class_used(const cdr_stmt_class *cl);
int stmt_service_used(const cdr_stmt_service *sv);

/* Formatting into caller buffers (returned). */
#define STMT_NUM_MAX 32
const char *stmt_m2(cdr_money v, char buf[STMT_NUM_MAX]);       /* billed: "-12.30" */
const char *stmt_m6(cdr_money v, char buf[STMT_NUM_MAX]);       /* rated: "0.150000" */
const char *stmt_cycle(uint32_t cycle, char buf[STMT_NUM_MAX]); /* "2026-11" */
/* Basis points as a percentage with two decimals ("62.50"), "" for -1. */
const char *stmt_pct(int64_t bp, char buf[STMT_NUM_MAX]);
/* The item flags by name, ';'-separated in bit order ("" when none); 64 bytes is enough. */
#define STMT_FLAGS_MAX 64
const char *stmt_flags(unsigned flags, char buf[STMT_FLAGS_MAX]);

/* Escaping writers. Every one replaces bytes that are not valid UTF-8 by U+FFFD, so that the
 * output is valid UTF-8 whatever the model holds. */
void stmt_html_str(FILE *f, const char *s); /* &, <, >, " and ' as entities */
void stmt_csv_str(FILE *f, const char *s);  /* quoted when it holds , " CR or LF */
/* The CSV field of s, read up to its NUL or max bytes, into out (at most 3 * max + 2 bytes, no
 * NUL); returns the bytes written. */
size_t stmt_csv_field(char *out, const char *s, size_t max);

/* Fast writers for the item rows: write at p, return the end. stmt_put_time writes the local
 * time "YYYY-MM-DD HH:MM:SS" (19 bytes), or nothing for a year outside 0000..9999. */
char *stmt_put_u64(char *p, uint64_t v);
char *stmt_put_m6(char *p, cdr_money v);
char *stmt_put_time(char *p, cdr_time local);

/* Bundle sums of an enterprise statement: the non-pool bundles of its lines added up by name
 * and service (first appearance order), for the HTML's chart and table. *out is malloc'd (the
 * caller frees it); returns the count, or -1 when out of memory. */
int stmt_bundle_sums(const cdr_statement *s, cdr_stmt_bundle **out);

#endif
