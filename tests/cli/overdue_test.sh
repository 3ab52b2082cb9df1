#!/bin/bash
# Overdue accounts feed the pre-suspension warnings (docs/billing.md "Recording the dunning
# list", docs/credit-control.md "Overdue accounts"): `cdrate payments dunning` records the
# dunning list in the store, replacing the previous one; `cdrate rate --alerts` then warns a line
# of an overdue account at its first record (reason "overdue") and suspends it after the grace
# period; an account that has paid drops out and is not warned again. Mistakes exit as
# docs/operations.md says.
source "$(dirname "$0")/lib.bash"

"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/store" --quiet
"$CDRATE" directory load "$SRC/billing/samples/demo.dir" --store "$T/store" --quiet

# account 2001 (line 8613800000022) owes 80.00 due 2026-12-15; account 2002 (8613800000023) paid
mkdir -p "$T/bills/2026-11"
inv() { # inv NUMBER ACCOUNT TOTAL DUE
    printf '{"invoice":"%s","account":%s,"currency":"CNY","issued":"2026-11-30","due":"%s","credit_class":"C","total":"%s"}\n' \
        "$1" "$2" "$4" "$3" >>"$T/bills/2026-11/invoices.jsonl"
}
inv INV-202611-2001 2001 80.00 2026-12-15
inv INV-202611-2002 2002 40.00 2026-12-15
printf 'id,account,amount,currency,date,method,reference\np-2002,2002,40.00,CNY,2026-12-10,bank,\n' >"$T/pay1.csv"
"$CDRATE" payments load "$T/pay1.csv" --store "$T/store" --quiet

expect_rc 0 "dunning" "$CDRATE" payments dunning --store "$T/store" --bills "$T/bills" --as-of 2027-01-05
expect_out "as of 2027-01-05: dunning list (unpaid past the due date): 1 account(s)" "dunning head"
expect_out "  account 2001 CNY: 80.00 overdue on 1 invoice(s), oldest due 2026-12-15 (21 day(s) past due), credit class C" "dunning 2001"
expect_err "cdrate payments: recorded 1 overdue account(s) as of 2027-01-05 in $T/store: 1 new, 0 dropped out (no set recorded before)" "dunning summary"
# the same list as `payments status` gives
"$CDRATE" payments status --store "$T/store" --bills "$T/bills" --as-of 2027-01-05 | grep '^  account' >"$T/status.txt"
grep '^  account' "$T/out" | cmp -s - "$T/status.txt" && ok || bad "dunning and status lists differ"
# idempotent: the same as-of again changes nothing
expect_rc 0 "dunning again" "$CDRATE" payments dunning --store "$T/store" --bills "$T/bills" --as-of 2027-01-05 --json
python3 - "$T/out" <<'PY' && ok || bad "dunning --json: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert (d["as_of"], d["recorded"], d["added"], d["dropped"], d["previous_as_of"]) == ("2027-01-05", 1, 0, 0, "2027-01-05"), d
assert [(x["account"], x["currency"], x["overdue"], x["oldest_due"]) for x in d["dunning"]] == [(2001, "CNY", "80.00", "2026-12-15")], d
PY
[ ! -s "$T/err" ] && ok || bad "dunning --json wrote on stderr: $(cat "$T/err")"

# rating: the overdue account's line is warned at its first record, suspended 72 h later
cdr() { # cdr ID MSISDN START
    printf 'MSC01,%s,voice,mo,%s,460001380000000,8613912345678,%s,60,0,0,,,4711,16,\n' "$1" "$2" "$3"
}
{
    echo "source,origin_id,service,direction,msisdn,imsi,other,start,duration,bytes_up,bytes_down,mcc,mnc,cell,cause,owner"
    cdr 1 8613800000022 2027-01-06T10:00:00+08:00
    cdr 2 8613800000023 2027-01-06T10:05:00+08:00
    cdr 3 8613800000022 2027-01-07T10:00:00+08:00
    cdr 4 8613800000022 2027-01-09T10:00:00+08:00
    cdr 5 8613800000022 2027-01-09T11:00:00+08:00
} >"$T/jan.csv"
expect_rc 0 "rate January" "$CDRATE" rate --store "$T/store" --in "$T/jan.csv" --out "$T/jan.out" --format json --alerts "$T/jan.alerts" --quiet
python3 - "$T/jan.alerts" "$T/jan.out" <<'PY' && ok || bad "January alerts: $(cat "$T/jan.alerts")"
import json, sys
al = [json.loads(l) for l in open(sys.argv[1])]
st = [a for a in al if a["kind"] in ("warned", "suspended")]
assert [(a["kind"], a["msisdn"], a["reason"], a["time"]) for a in st] == [
    ("warned", "8613800000022", "overdue", "2027-01-06T02:00:00Z"),
    ("suspended", "8613800000022", "overdue", "2027-01-09T02:00:00Z")], st
w = st[0]
assert (w["account"], w["overdue_currency"], w["overdue_micro"], w["oldest_due"], w["status"]) == (2001, "CNY", 80000000, "2026-12-15", "warned"), w
assert w["warned_at"] == st[1]["warned_at"] == "2027-01-06T02:00:00Z"
assert all(a["msisdn"] != "8613800000023" for a in al), "a line of a paid account was warned"
recs = [json.loads(l) for l in open(sys.argv[2])]
got = [r.get("line_status", "active") for r in recs]
assert got == ["warned", "active", "warned", "suspended", "suspended"], got
PY

# the hotline sees the arrears and the line's status
expect_rc 0 "query balance" "$CDRATE" query balance --msisdn 8613800000022 --store "$T/store" --cycle 2027-01
expect_out "arrears          CNY 80.00 overdue on 1 invoice(s), oldest due 2026-12-15 (dunning list as of 2027-01-05)" "balance arrears"
expect_rc 0 "query balance --json" "$CDRATE" query balance --msisdn 8613800000022 --store "$T/store" --cycle 2027-01 --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["arrears"] == {"as_of": "2027-01-05", "overdue": [{"currency": "CNY", "overdue": "80.00", "invoices": 1, "oldest_due": "2026-12-15", "since": "2026-12-16"}]} else 1)' "$T/out" &&
    ok || bad "balance --json arrears: $(cat "$T/out")"
expect_rc 0 "query balance of a paid account" "$CDRATE" query balance --msisdn 8613800000023 --store "$T/store" --cycle 2027-01 --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["arrears"] == {"as_of": "2027-01-05", "overdue": []} else 1)' "$T/out" &&
    ok || bad "balance --json of a paid account: $(cat "$T/out")"
expect_rc 0 "query owner" "$CDRATE" query owner --msisdn 8613800000022 --store "$T/store" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["credit"]; sys.exit(0 if c["line_status"] == "suspended" and c["warned_at"] else 1)' "$T/out" &&
    ok || bad "owner --json credit status: $(cat "$T/out")"

# account 2001 pays; the next dunning run drops it; a new cycle warns nobody
printf 'id,account,amount,currency,date,method,reference\np-2001,2001,80.00,CNY,2027-01-12,counter,\n' >"$T/pay2.csv"
"$CDRATE" payments load "$T/pay2.csv" --store "$T/store" --quiet
expect_rc 0 "dunning after the payment" "$CDRATE" payments dunning --store "$T/store" --bills "$T/bills" --as-of 2027-01-15
expect_out "as of 2027-01-15: dunning list (unpaid past the due date): 0 account(s)" "empty dunning list"
expect_err "recorded 0 overdue account(s) as of 2027-01-15 in $T/store: 0 new, 1 dropped out (previous set as of 2027-01-05)" "2001 dropped out"
{
    echo "source,origin_id,service,direction,msisdn,imsi,other,start,duration,bytes_up,bytes_down,mcc,mnc,cell,cause,owner"
    cdr 6 8613800000022 2027-02-02T10:00:00+08:00
    cdr 7 8613800000022 2027-02-06T10:00:00+08:00
} >"$T/feb.csv"
expect_rc 0 "rate February" "$CDRATE" rate --store "$T/store" --in "$T/feb.csv" --out "$T/feb.out" --format json --alerts "$T/feb.alerts" --quiet
grep -q '"kind":"warned"\|"kind":"suspended"' "$T/feb.alerts" && bad "a paid account was warned: $(cat "$T/feb.alerts")" || ok
# an earlier as-of gives the earlier set again (the set is a function of the as-of date)
expect_rc 0 "dunning as of the earlier day" "$CDRATE" payments dunning --store "$T/store" --bills "$T/bills" --as-of 2027-01-05 --quiet
expect_out "  account 2001 CNY: 80.00 overdue" "the earlier set again"
[ ! -s "$T/err" ] && ok || bad "--quiet printed: $(cat "$T/err")"

# mistakes
expect_rc 2 "a bad --as-of" "$CDRATE" payments dunning --store "$T/store" --bills "$T/bills" --as-of 2027-13-01
expect_err "cdrate payments: --as-of '2027-13-01' is not a real date YYYY-MM-DD" "bad as-of"
expect_rc 2 "no --bills" "$CDRATE" payments dunning --store "$T/store" --as-of 2027-01-05
expect_err "cdrate payments: --store, --bills and --as-of are required" "missing --bills"
expect_rc 2 "--account" "$CDRATE" payments dunning --store "$T/store" --bills "$T/bills" --as-of 2027-01-05 --account 2001
expect_err "cdrate payments: dunning takes no --account (it records every account)" "dunning --account"
expect_rc 4 "an unknown store" "$CDRATE" payments dunning --store "$T/none" --bills "$T/bills" --as-of 2027-01-05
expect_err "cdrate payments: no cdrate store at $T/none" "unknown store"
[ ! -e "$T/none" ] && ok || bad "a store was created at $T/none"
expect_rc 4 "an unknown store, JSON" "$CDRATE" payments dunning --store "$T/none" --bills "$T/bills" --as-of 2027-01-05 --json
expect_err '{"error":{"code":"CDR_' "unknown store JSON"
expect_rc 1 "no bills folder" "$CDRATE" payments dunning --store "$T/store" --bills "$T/nobills" --as-of 2027-01-05
expect_err "$T/nobills: cannot open the bills folder" "no bills folder"
expect_err "cdrate payments: the overdue set was not changed" "not changed"
cp -r "$T/bills" "$T/badbills"
echo '{"invoice":"X","account":1,"currency":"CNY","issued":"2026-11-30","due":"2026-12-15","total":"1,00"}' >>"$T/badbills/2026-11/invoices.jsonl"
expect_rc 4 "a malformed invoice" "$CDRATE" payments dunning --store "$T/store" --bills "$T/badbills" --as-of 2027-01-15
expect_err "$T/badbills/2026-11/invoices.jsonl:3:" "malformed invoice position"
expect_rc 0 "the set is unchanged" "$CDRATE" payments dunning --store "$T/store" --bills "$T/bills" --as-of 2027-01-05
expect_err "0 new, 0 dropped out (previous set as of 2027-01-05)" "the refused run changed nothing"

cli_done overdue
