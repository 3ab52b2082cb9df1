#!/bin/bash
# `cdrate bill`: a generated month streamed into a ledger by `cdrate pipeline` and billed; the
# invoices add up to the report and the report to the ledger, per currency; a re-run is
# byte-identical; and the operator's mistakes (no ledger, a malformed tax file, a bad cycle, a
# cycle with no data, a damaged segment) publish nothing and exit as docs/operations.md says.
# Hand-computed invoices: tests/unit/test_bill.c.
source "$(dirname "$0")/lib.bash"

"$CDRATE" gen --out "$T/g" --subscribers 2000 --cdrs 20000 --format asterisk --quiet
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/store" --quiet
"$CDRATE" directory load "$T/g/directory.dir" --store "$T/store" --quiet
expect_rc 0 "stream the month into a ledger" "$CDRATE" pipeline --store "$T/store" \
    --ledger "$T/ledger" --input asterisk:"$T/g/spool" --settle 0 --partitions 4 --quiet
CYCLE=$("$CDRATE" ledger totals --ledger "$T/ledger" --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(max(d["cycles"], key=lambda c: c["records"])["cycle"])' 2>/dev/null)
[ -n "$CYCLE" ] && ok || bad "no cycle in the ledger: $(head -c 300 "$T/out")"
CYC="${CYCLE:0:4}-${CYCLE:4:2}"

expect_rc 0 "bill the cycle" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/bills"
expect_out "cycle $CYC: " "summary line"
for f in invoices.jsonl invoices.csv invoice_lines.csv subscribers.jsonl report.json; do
    [ -f "$T/bills/$CYC/$f" ] && ok || bad "no $f"
    [ "$(stat -c %a "$T/bills/$CYC/$f")" = 600 ] && ok || bad "$f is not private"
done
[ "$(stat -c %a "$T/bills/$CYC")" = 700 ] && ok || bad "the cycle folder is not private"

# every invoice adds up; the invoices add up to the report; the report to the ledger's records
python3 - "$T/bills/$CYC" "$T/ledger" "$CDRATE" "$CYCLE" <<'PY' && ok || bad "the figures do not add up"
import json, subprocess, sys
from decimal import Decimal as D
out, ledger, cdrate, cycle = sys.argv[1:5]
rep = json.load(open(out + "/report.json"))
per = {}
for line in open(out + "/invoices.jsonl"):
    inv = json.loads(line)
    a = sum(D(l["amount"]) for l in inv["lines"]); t = sum(D(l["tax"]) for l in inv["lines"])
    assert a == D(inv["amount"]) and t == D(inv["tax"]) and a + t == D(inv["total"]), inv["invoice"]
    s = per.setdefault(inv["currency"], [0, D(0), D(0)])
    s[0] += 1; s[1] += a; s[2] += t
tot = json.loads(subprocess.run([cdrate, "ledger", "totals", "--ledger", ledger, "--cycle", cycle,
                                 "--json"], capture_output=True, text=True, check=True).stdout)
led = {c["currency"]: c for c in tot["cycles"][0]["currencies"]}
for cur, r in rep["currencies"].items():
    assert per[cur][0] == r["invoices"], (cur, "invoices")
    assert per[cur][1] == D(r["amount"]) and per[cur][2] == D(r["tax"]), (cur, "amount or tax")
    assert D(r["amount"]) == D(r["rated_usage"]) + D(r["usage_rounding"]) + D(r["fees"]) + D(r["discounts"]) + D(r["adjustments"]), cur
    assert D(r["amount"]) == D(r["enterprise_share"]) + D(r["member_share"]), cur
    assert D(r["rated_usage"]) + D(r["unbilled"]["charge"]) == D(led[cur]["charge"]), (cur, "ledger charge")
    assert r["records"] + r["unbilled"]["records"] == led[cur]["records"], (cur, "ledger records")
rc = rep["reconciliation"] # the pipeline kept the live state in the store: it agrees line by line
assert rc["live_state"] and rc["live_lines"] > 0 and rc["differences"] == 0, rc
PY

# a re-run replaces the output with the same bytes
cp -r "$T/bills/$CYC" "$T/first"
expect_rc 0 "bill again" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/bills" --quiet
diff -r "$T/first" "$T/bills/$CYC" >/dev/null && ok || bad "a re-run differs"
[ ! -s "$T/out" ] && ok || bad "--quiet printed: $(head -c 200 "$T/out")"
expect_rc 0 "bill with one thread" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/one" --threads 1 --quiet
diff -r "$T/first" "$T/one/$CYC" >/dev/null && ok || bad "one thread gives other output than several"
expect_rc 0 "bill with three threads" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/three" --threads 3 --quiet
diff -r "$T/first" "$T/three/$CYC" >/dev/null && ok || bad "three threads give other output"
expect_rc 0 "bill --json" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/bills" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["invoices"] > 0 and d["currencies"] else 1)' "$T/out" &&
    ok || bad "bill --json: $(head -c 300 "$T/out")"

# a run killed after writing and before publishing: nothing published, and the next run finishes
# byte-identical to an uninterrupted one and removes what the killed run left
CDR_BILL_HOLD_MS=60000 "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/killed" --quiet 2>"$T/hold.err" &
HOLD=$!
for _ in $(seq 1 600); do # up to 60 s for the hook's line
    grep -q "test hook: holding" "$T/hold.err" 2>/dev/null && break
    sleep 0.1
done
grep -q "test hook: holding" "$T/hold.err" && ok || bad "the hook never held: $(cat "$T/hold.err")"
expect_rc 1 "a second run of the cycle meanwhile" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" \
    --store "$T/store" --out "$T/killed"
expect_err "another bill run of cycle $CYC is writing into $T/killed: wait for it" "one run at a time"
kill -9 "$HOLD"
wait "$HOLD" 2>/dev/null
[ ! -e "$T/killed/$CYC" ] && ok || bad "a killed run published $T/killed/$CYC"
ls -A "$T/killed" | grep -q "^\.$CYC\.tmp-" && ok || bad "no temporary folder of the killed run: $(ls -A "$T/killed")"
expect_rc 0 "bill after the kill" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/killed" --quiet
diff -r "$T/first" "$T/killed/$CYC" >/dev/null && ok || bad "the run after the kill differs"
ls -A "$T/killed" | grep -q "tmp-" && bad "left: $(ls -A "$T/killed")" || ok

# mistakes: nothing published
expect_rc 2 "no --cycle" "$CDRATE" bill --ledger "$T/ledger" --store "$T/store" --out "$T/x"
expect_err "cdrate bill: --cycle, --ledger, --store and --out are required" "required options"
expect_rc 2 "a bad cycle" "$CDRATE" bill --cycle 2026-13 --ledger "$T/ledger" --store "$T/store" --out "$T/x"
expect_err "cdrate bill: --cycle '2026-13' is not YYYY-MM" "bad cycle"
expect_rc 4 "a cycle with no data" "$CDRATE" bill --cycle 2020-01 --ledger "$T/ledger" --store "$T/store" --out "$T/x"
expect_err "cdrate bill: cycle 2020-01 has no records in the ledger $T/ledger and no line active in it" "no data"
expect_err "cdrate bill: nothing published" "nothing published"
printf 'data 6\nvoice 9\n' >"$T/tax.conf"
expect_rc 4 "a malformed tax file" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/x" --tax "$T/tax.conf"
expect_err "cdrate bill: $T/tax.conf:2:1: unknown charge class 'voice'" "tax file position"
expect_rc 4 "the same as JSON" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/x" --tax "$T/tax.conf" --json
expect_err "{\"error\":{\"code\":\"CDR_FORMAT\",\"file\":\"$T/tax.conf\",\"line\":2,\"column\":1," "JSON error"
printf 'id,target,class,amount,currency,description\na1,account:1,one_off,1.005,CNY,x\n' >"$T/adj.csv"
expect_rc 4 "a malformed adjustments file" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" \
    --store "$T/store" --out "$T/x" --adjustments "$T/adj.csv"
expect_err "cdrate bill: $T/adj.csv:2:22: amount '1.005' is not a decimal with at most two decimals" "adjustments position"
printf 'id,target,class,amount,currency,description\na1,account:999999999,one_off,1.00,CNY,x\n' >"$T/adj2.csv"
expect_rc 4 "an adjustment of an unknown account" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" \
    --store "$T/store" --out "$T/x" --adjustments "$T/adj2.csv"
expect_err "cdrate bill: $T/adj2.csv:2: adjustment a1: account 999999999 is not in the directory" "unknown account"
expect_rc 4 "no store" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/none" --out "$T/x"
expect_err "cdrate bill: no cdrate store at $T/none" "no store"
expect_rc 1 "no ledger" "$CDRATE" bill --cycle "$CYC" --ledger "$T/none" --store "$T/store" --out "$T/x"
# a damaged segment: a checksum error that names the file
cp -r "$T/ledger" "$T/damaged"
SEG=$(find "$T/damaged/$CYCLE" -name 'seg-*' ! -name '*.idx' | sort | head -n 1)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[100] ^= 0xff; open(p,"wb").write(b)' "$SEG"
expect_rc 4 "a damaged segment" "$CDRATE" bill --cycle "$CYC" --ledger "$T/damaged" --store "$T/store" --out "$T/x"
expect_err "$SEG" "the damaged segment is named"
[ ! -e "$T/x/$CYC" ] && ok || bad "a refused run published $T/x/$CYC"
[ -z "$(ls -A "$T/x" 2>/dev/null)" ] && ok || bad "a refused run left $(ls -A "$T/x")"
expect_rc 0 "--help" "$CDRATE" bill --help
expect_out "usage: cdrate bill --cycle YYYY-MM" "--help"

cli_done bill
