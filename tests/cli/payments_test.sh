#!/bin/bash
# `cdrate payments load` and `cdrate payments status` (docs/billing.md, "Payments and arrears"):
# loading is idempotent by payment id and all or nothing; the status applies the payments to
# hand-written invoices oldest first, ages what is unpaid and lists the accounts to dun; every
# mistake exits as docs/operations.md says. Then the status of a real bill run adds up to its
# report. Hand-computed cases in detail: tests/unit/test_payments.c.
source "$(dirname "$0")/lib.bash"

"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/store" --quiet

# two published cycles (by hand, in the format of invoices.jsonl) and a bill run in progress
mkdir -p "$T/bills/2026-11" "$T/bills/2026-12" "$T/bills/.2027-01.tmp-99"
inv() { # inv CYCLE NUMBER ACCOUNT CURRENCY ISSUED DUE TOTAL
    printf '{"invoice":"%s","account":%s,"kind":"individual","customer":1,"customer_name":"X, Y","enterprise":null,"cycle":"%s","currency":"%s","issued":"%s","due":"%s","credit_class":"A","lines":[{"subscriber":1,"msisdn":"8613800000001","class":"basic_voice","share":"own","amount":"1.00","tax_rate":"9%%","tax":"0.09","total":"1.09"}],"subtotals":{},"amount":"0.00","tax":"0.00","total":"%s"}\n' \
        "$2" "$3" "$1" "$4" "$5" "$6" "$7" >>"$T/bills/$1/invoices.jsonl"
}
inv 2026-11 INV-202611-100 100 CNY 2026-11-30 2026-12-30 109.00
inv 2026-11 INV-202611-200 200 CNY 2026-11-30 2026-12-15 25.20
inv 2026-12 INV-202612-100 100 CNY 2026-12-31 2027-01-30 50.00
echo 'a run in progress: not JSON' >"$T/bills/.2027-01.tmp-99/invoices.jsonl"

cat >"$T/pay.csv" <<'EOF'
id,account,amount,currency,date,method,reference
# the bank's file of December
p1,100,120.00,CNY,2026-12-05,bank,"transfer 881, Acme"
p2,200,10,CNY,2026-12-10,counter,
p3,300,5.50,EUR,2026-12-11,card,no invoice yet
p4,100,7.00,EUR,2026-12-12,other,paid in euros
EOF

expect_rc 0 "--help" "$CDRATE" payments --help
expect_out "usage: cdrate payments load FILE --store STORE [--json] [--quiet]" "--help usage"
expect_out "status --store STORE --bills DIR --as-of YYYY-MM-DD [--account ID] [--json]" "--help status"
expect_out "dunning --store STORE --bills DIR --as-of YYYY-MM-DD [--json] [--quiet]" "--help dunning"
expect_rc 0 "--version" "$CDRATE" payments --version
expect_out "cdrate 0.1.0" "--version"

# load: idempotent by payment id
expect_rc 0 "load" "$CDRATE" payments load "$T/pay.csv" --store "$T/store"
expect_err "cdrate payments: $T/pay.csv: 4 payment(s): 4 loaded, 0 duplicate(s) already stored (skipped)" "load summary"
[ "$(stat -c %a "$T/store/data.mdb")" = 600 ] && ok || bad "the store is not private"
expect_rc 0 "load the same file again" "$CDRATE" payments load "$T/pay.csv" --store "$T/store" --json
expect_out "{\"file\":\"$T/pay.csv\",\"store\":\"$T/store\",\"payments\":4,\"loaded\":0,\"duplicates\":4}" "load --json"
expect_rc 0 "load --quiet" "$CDRATE" payments load "$T/pay.csv" --store "$T/store" --quiet
[ ! -s "$T/out" ] && [ ! -s "$T/err" ] && ok || bad "--quiet printed: $(cat "$T/out" "$T/err")"

# the same id with another content refuses the whole file: p5 is not stored either
printf 'id,account,amount,currency,date,method,reference\np5,200,1.00,CNY,2026-12-20,bank,\np2,200,11,CNY,2026-12-10,counter,\n' >"$T/conflict.csv"
expect_rc 4 "the same id with another content" "$CDRATE" payments load "$T/conflict.csv" --store "$T/store"
expect_err "cdrate payments: $T/conflict.csv:3:1: payment id 'p2' is already stored with another content (loaded from $T/pay.csv line 4): amount 11.00 here, 10.00 stored" "conflict message"
expect_err "cdrate payments: nothing stored" "nothing stored"
expect_rc 4 "the same as JSON" "$CDRATE" payments load "$T/conflict.csv" --store "$T/store" --json
expect_err "{\"error\":{\"code\":\"CDR_EXISTS\",\"file\":\"$T/conflict.csv\",\"line\":3,\"column\":1,\"message\":\"payment id 'p2' is already stored" "conflict JSON"
[ ! -s "$T/out" ] && ok || bad "a refused load printed on stdout: $(cat "$T/out")"

# malformed files: file:line:column, exit 4, nothing stored
printf 'id,account,amount,currency,date,method,reference\np6,100,1.00,CNY,2026-12-01,bank,\np7,100,12.345,CNY,2026-12-01,bank,\n' >"$T/bad.csv"
expect_rc 4 "a malformed amount" "$CDRATE" payments load "$T/bad.csv" --store "$T/store"
expect_err "cdrate payments: $T/bad.csv:3:8: amount '12.345' is not a decimal with at most two decimals (12.50)" "amount position"
expect_rc 4 "the same as JSON" "$CDRATE" payments load "$T/bad.csv" --store "$T/store" --json
expect_err "{\"error\":{\"code\":\"CDR_FORMAT\",\"file\":\"$T/bad.csv\",\"line\":3,\"column\":8,\"message\":\"amount '12.345' is not a decimal with at most two decimals (12.50)\"}}" "JSON error"
printf 'id,account,amount,currency,date,method,reference\np8,100,1.00,CNY,2026-12-01,cash,\n' >"$T/bad2.csv"
expect_rc 4 "an unknown method" "$CDRATE" payments load "$T/bad2.csv" --store "$T/store"
expect_err "$T/bad2.csv:2:28: method 'cash': write bank, counter, card or other" "method position"
printf 'id,amount\n' >"$T/bad3.csv"
expect_rc 4 "a wrong header" "$CDRATE" payments load "$T/bad3.csv" --store "$T/store"
expect_err "$T/bad3.csv:1:1: the first line must be the header id,account,amount,currency,date,method,reference" "header"
expect_rc 4 "no store" "$CDRATE" payments load "$T/pay.csv" --store "$T/none"
expect_err "cdrate payments: no cdrate store at $T/none" "no store"
[ ! -e "$T/none" ] && ok || bad "a store was created at $T/none"
expect_rc 1 "a file that cannot be read" "$CDRATE" payments load "$T/missing.csv" --store "$T/store"
expect_err "$T/missing.csv: cannot open: No such file or directory" "missing file"

# command-line mistakes
expect_rc 2 "no verb" "$CDRATE" payments
expect_err "cdrate payments: missing verb (load, status or dunning)" "no verb"
expect_rc 2 "unknown verb" "$CDRATE" payments pay --store "$T/store"
expect_err "unknown verb 'pay' (load, status or dunning)" "unknown verb"
expect_rc 2 "load without --store" "$CDRATE" payments load "$T/pay.csv"
expect_err "--store is required" "load --store"
expect_rc 2 "load with --as-of" "$CDRATE" payments load "$T/pay.csv" --store "$T/store" --as-of 2027-01-01
expect_rc 2 "status without --as-of" "$CDRATE" payments status --store "$T/store" --bills "$T/bills"
expect_err "--store, --bills and --as-of are required" "status required"
expect_rc 2 "a bad --as-of" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-02-29
expect_err "--as-of '2027-02-29' is not a real date YYYY-MM-DD" "bad as-of"
expect_rc 2 "a bad --account" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31 --account x1
expect_rc 2 "an unknown option" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31 --cycle 2026-11

# status as of 2027-01-31 (hand-computed): account 100 CNY 159.00 invoiced, 120.00 paid oldest
# first: INV-202611-100 paid, 11.00 of INV-202612-100, 39.00 open 1 day past due; account 200
# 15.20 open 47 days past due; the EUR payments are credit, apart from CNY
expect_rc 0 "status" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31
expect_out "as of 2027-01-31: 2 cycle(s), 3 invoice(s), 4 payment(s)" "status header"
expect_out "100                  CNY       159.00       120.00        39.00         0.00         0.00        39.00         0.00         0.00         0.00" "account 100 CNY"
expect_out "100                  EUR         0.00         7.00        -7.00         7.00" "account 100 EUR apart"
expect_out "300                  EUR         0.00         5.50        -5.50         5.50" "payment without invoice is credit"
expect_out "total (2)            CNY       184.20       130.00        54.20         0.00         0.00        39.00        15.20         0.00         0.00" "CNY totals"
expect_out "dunning list (unpaid past the due date): 2 account(s)" "dunning count"
expect_out "  account 200 CNY: 15.20 overdue on 1 invoice(s), oldest due 2026-12-15 (47 day(s) past due), credit class A" "dunning 200"

expect_rc 0 "status --json" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31 --json
python3 - "$T/out" <<'PY' && ok || bad "status --json: $(head -c 600 "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["as_of"] == "2027-01-31" and d["cycles"] == ["2026-11", "2026-12"], d["cycles"]
acc = {(a["account"], a["currency"]): a for a in d["accounts"]}
a = acc[(100, "CNY")]
assert (a["invoiced"], a["paid"], a["balance"], a["credit"]) == ("159.00", "120.00", "39.00", "0.00"), a
assert a["aging"] == {"current": "0.00", "0-30": "39.00", "31-60": "0.00", "61-90": "0.00", "90+": "0.00"}, a
assert a["oldest_due"] == "2027-01-30" and a["days_past_due"] == 1, a
assert acc[(100, "EUR")]["credit"] == "7.00" and acc[(300, "EUR")]["credit"] == "5.50"
assert acc[(200, "CNY")]["aging"]["31-60"] == "15.20"
assert d["totals"]["EUR"]["paid"] == "12.50" and d["totals"]["CNY"]["paid"] == "130.00"
assert [(x["account"], x["currency"], x["overdue"]) for x in d["dunning"]] == [(100, "CNY", "39.00"), (200, "CNY", "15.20")], d["dunning"]
PY

# as of 2026-12-10: the December invoice is not issued yet; p3 and p4 are not paid yet
expect_rc 0 "an earlier as-of" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2026-12-10 --json
python3 - "$T/out" <<'PY' && ok || bad "status as of 2026-12-10: $(head -c 600 "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["later_invoices"] == 1 and d["later_payments"] == 2, d
acc = {(a["account"], a["currency"]): a for a in d["accounts"]}
a = acc[(100, "CNY")]
assert (a["invoiced"], a["paid"], a["balance"], a["credit"]) == ("109.00", "120.00", "-11.00", "11.00"), a
assert acc[(200, "CNY")]["aging"]["current"] == "15.20" and d["dunning"] == []
PY

expect_rc 0 "status --account" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31 --account 100
expect_out "    invoice INV-202612-100  issued 2026-12-31  due 2027-01-30  total 50.00  paid 11.00  open 39.00  1 day(s) past due (0-30)" "invoice detail"
expect_out "    payment p1  2026-12-05  bank  120.00  applied 120.00  \"transfer 881, Acme\"" "payment detail"
grep -q "^200 " "$T/out" && bad "--account 100 shows account 200" || ok
expect_rc 0 "status --account --json" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31 --account 100 --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); a=d["accounts"][0]; sys.exit(0 if len(d["accounts"]) == 2 and a["detail"]["invoices"][1]["open"] == "39.00" and a["detail"]["payments"][0]["applied"] == "120.00" else 1)' "$T/out" &&
    ok || bad "--account --json: $(head -c 600 "$T/out")"
expect_rc 6 "an unknown account" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31 --account 999
expect_err "cdrate payments: account 999 is in no invoice under $T/bills and no payment in $T/store" "unknown account"
expect_rc 6 "the same as JSON" "$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-31 --account 999 --json
expect_err "{\"error\":{\"code\":\"CDR_NOTFOUND\"," "unknown account JSON"
expect_rc 4 "status without a store" "$CDRATE" payments status --store "$T/none" --bills "$T/bills" --as-of 2027-01-31
expect_rc 1 "status without a bills folder" "$CDRATE" payments status --store "$T/store" --bills "$T/nobills" --as-of 2027-01-31
expect_err "$T/nobills: cannot open the bills folder" "no bills folder"

# a malformed invoices.jsonl: file:line:column, exit 4
cp -r "$T/bills" "$T/badbills"
echo '{"invoice":"INV-202612-300","account":300,"currency":"EUR","issued":"2026-12-31","due":"2027-01-30","total":"1,00"}' >>"$T/badbills/2026-12/invoices.jsonl"
expect_rc 4 "a malformed invoice" "$CDRATE" payments status --store "$T/store" --bills "$T/badbills" --as-of 2027-01-31
expect_err "cdrate payments: $T/badbills/2026-12/invoices.jsonl:2:109: \"total\": not a decimal amount (\"109.00\")" "invoice position"

# the status of a real bill run: its invoices add up to the report, per currency; paying an
# invoice in full takes it off the dunning list
"$CDRATE" gen --out "$T/g" --subscribers 200 --cdrs 2000 --format asterisk --quiet
"$CDRATE" directory load "$T/g/directory.dir" --store "$T/store" --quiet
"$CDRATE" pipeline --store "$T/store" --ledger "$T/ledger" --input asterisk:"$T/g/spool" --settle 0 \
    --partitions 2 --quiet >/dev/null 2>&1
CYCLE=$("$CDRATE" ledger totals --ledger "$T/ledger" --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(max(d["cycles"], key=lambda c: c["records"])["cycle"])' 2>/dev/null)
CYC="${CYCLE:0:4}-${CYCLE:4:2}"
expect_rc 0 "bill a cycle" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" --out "$T/real" --quiet
python3 - "$T/real/$CYC/invoices.jsonl" "$T/real.csv" <<'PY' && ok || bad "no invoice with a total to pay"
import json, sys
for line in open(sys.argv[1]):
    i = json.loads(line)
    if i["total"] != "0.00" and not i["total"].startswith("-"):
        open(sys.argv[2], "w").write("id,account,amount,currency,date,method,reference\n"
                                     "r1,%d,%s,%s,%s,bank,%s\n" % (i["account"], i["total"], i["currency"], i["due"], i["invoice"]))
        break
else:
    sys.exit(1)
PY
expect_rc 0 "load a payment of one invoice" "$CDRATE" payments load "$T/real.csv" --store "$T/store" --quiet
expect_rc 0 "status of the bill run" "$CDRATE" payments status --store "$T/store" --bills "$T/real" --as-of 2030-01-01 --json
python3 - "$T/out" "$T/real/$CYC/report.json" "$T/real.csv" <<'PY' && ok || bad "the status does not add up to the bill run's report"
import json, sys
from decimal import Decimal as D
d = json.load(open(sys.argv[1])); rep = json.load(open(sys.argv[2]))
pay = open(sys.argv[3]).read().splitlines()[1].split(",")
for cur, r in rep["currencies"].items():
    t = d["totals"][cur]
    assert t["invoices"] == r["invoices"] and D(t["invoiced"]) == D(r["total"]), (cur, t, r["total"])
    assert D(t["balance"]) == D(t["invoiced"]) - D(t["paid"]) == D(t["open"]) - D(t["credit"]), t
    assert D(t["open"]) == sum(D(v) for v in t["aging"].values()), t
acc = {(a["account"], a["currency"]): a for a in d["accounts"]}
a = acc[(int(pay[1]), pay[3])]
assert a["paid"] == pay[2] and a["balance"] == "0.00" and a["overdue_invoices"] == 0, a
assert all(x["account"] != int(pay[1]) for x in d["dunning"])
PY

cli_done payments
