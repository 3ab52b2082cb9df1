#!/bin/bash
# `cdrate rerate`: a generated month streamed into a ledger, then two plan corrections (a lower
# price, a smaller minutes bundle, both from the cycle's first day). The rerate changes exactly the
# records an offline rating with the corrected plans prices differently, its counters of the
# cycle are those of that offline rating (the bundle re-spent in input order), a second rerate
# adds nothing, and the bill run uses the corrected figures. A rerate killed with an open set is
# finished by the next run byte-identical; a selector rerates one owner only; mistakes exit as
# docs/operations.md says.
source "$(dirname "$0")/lib.bash"

"$CDRATE" gen --out "$T/g" --subscribers 2000 --cdrs 20000 --format asterisk --quiet
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/store" --quiet
"$CDRATE" directory load "$T/g/directory.dir" --store "$T/store" --quiet
expect_rc 0 "stream the month into a ledger" "$CDRATE" pipeline --store "$T/store" \
    --ledger "$T/ledger" --input asterisk:"$T/g/spool" --settle 0 --partitions 4 --quiet
CYCLE=202611
CYC=2026-11
"$CDRATE" decode --format asterisk "$T/g/spool/done/"*.csv >"$T/in.csv" 2>/dev/null

# nothing changed yet: the fresh rating in ledger order gives every record its charge again
expect_rc 0 "rerate unchanged plans" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger" --store "$T/store"
expect_out "nothing to correct: no correction set" "no set without a change"
expect_rc 0 "bill before the correction" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" \
    --store "$T/store" --out "$T/bill0" --quiet

# the corrections: cn-payg's domestic peak price 0.12 -> 0.10, cn-enterprise's 1000 minutes -> 20
mkdir -p "$T/fix"
sed -e 's/^version: 2/version: 3/' -e 's/^effective_from: .*/effective_from: 2026-11-01T00:00:00+08:00/' \
    -e 's/price: 0.12/price: 0.10/' "$SRC/rating-rules/plans/cn-payg-v2.yaml" >"$T/fix/cn-payg-v3.yaml"
sed -e 's/^version: 1/version: 2/' -e 's/^effective_from: .*/effective_from: 2026-11-01T00:00:00+08:00/' \
    -e 's/units: 1000min}/units: 20min}/' "$SRC/rating-rules/plans/cn-enterprise.yaml" >"$T/fix/cn-enterprise-v2.yaml"
"$CDRATE" plans compile "$T/fix" --store "$T/store" --quiet
cp -r "$T/store" "$T/store.k" && cp -r "$T/ledger" "$T/ledger.k" # for the killed run
cp -r "$T/store" "$T/store.s" && cp -r "$T/ledger" "$T/ledger.s" # for the selectors
cp -r "$T/store" "$T/store.c" && cp -r "$T/ledger" "$T/ledger.c" # for a closed cycle
cp -r "$T/store" "$T/store.a" && cp -r "$T/ledger" "$T/ledger.a" # for an abandoned set

expect_rc 0 "rerate" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --report "$T/rep" --json
cp "$T/out" "$T/rerate.json"
[ -f "$T/ledger/corrections/sets/000001.set" ] && ok || bad "no committed set: $(ls "$T/ledger/corrections/sets")"
[ "$(stat -c %a "$T/rep/records.csv")" = 600 ] && ok || bad "the report is not private"

# offline ratings of the same input: original plans, corrected plans
for v in orig fixed; do
    "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/off-$v" --quiet
    [ $v = fixed ] && "$CDRATE" plans compile "$T/fix" --store "$T/off-$v" --quiet
    "$CDRATE" directory load "$T/g/directory.dir" --store "$T/off-$v" --quiet
    expect_rc 0 "offline rating ($v)" "$CDRATE" rate --store "$T/off-$v" --in "$T/in.csv" --out "$T/off-$v.csv" --quiet
done
python3 - "$T" "$CYCLE" <<'PY' && ok || bad "the correction set is not exactly the records whose rating changed"
import csv, json, sys
from decimal import Decimal as D
t, cycle = sys.argv[1:3]
def rated(p):
    out = {}
    for r in csv.DictReader(open(p)):
        if r["status"] == "none" and r["cycle"] == cycle:
            out[(r["msisdn"], r["origin_id"])] = (D(r["charge"]), r["units"], r["bundle_units"],
                                                 r["overflow_units"], r["free_units"], r["zone"],
                                                 r["charge_class"])
    return out
a, b = rated(t + "/off-orig.csv"), rated(t + "/off-fixed.csv")
assert a.keys() == b.keys() and len(a) > 10000
want = {k for k in a if a[k] != b[k]}
rows = list(csv.DictReader(open(t + "/rep/records.csv")))
got = {(r["msisdn"], r["origin_id"]) for r in rows}
assert len(got) == len(rows) and got == want, (len(got), len(want), sorted(got ^ want)[:5])
for r in rows:
    k = (r["msisdn"], r["origin_id"])
    assert D(r["old_charge"]) == a[k][0] and D(r["new_charge"]) == b[k][0], r
    assert D(r["difference"]) == D(r["new_charge"]) - D(r["old_charge"]), r
    assert r["old_plan"] in ("cn-payg", "cn-enterprise"), r
s = json.load(open(t + "/rerate.json"))
assert s["set"] == 1 and s["target"] == "2026-11" and s["pairs"] == len(rows), s
acc = list(csv.DictReader(open(t + "/rep/accounts.csv")))
for cur, m in s["currencies"].items():
    assert sum(D(x["difference"]) for x in acc if x["currency"] == cur) == D(m["difference"]), cur
    assert sum(int(x["records"]) for x in acc if x["currency"] == cur) == m["pairs"], cur
assert any(D(r["difference"]) > 0 for r in rows) and any(D(r["difference"]) < 0 for r in rows)
PY

# the counters of the cycle are the offline rating's: the smaller bundle re-spent in input order
"$CDRATE" counters --store "$T/store" --raw 2>/dev/null | awk -v c=$CYCLE '$2 == c' | sort >"$T/ctr.rerate"
"$CDRATE" counters --store "$T/off-fixed" --raw 2>/dev/null | awk -v c=$CYCLE '$2 == c' | sort >"$T/ctr.offline"
[ -s "$T/ctr.rerate" ] && cmp -s "$T/ctr.rerate" "$T/ctr.offline" && ok ||
    bad "counters differ from the offline rating: $(diff "$T/ctr.rerate" "$T/ctr.offline" | head -5)"

# exactly once: a second rerate adds nothing
find "$T/ledger/corrections" -type f | sort | xargs sha256sum >"$T/corr.before"
expect_rc 0 "rerate again" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["pairs"] == 0 and d["set"] == 0 else 1)' "$T/out" &&
    ok || bad "a second rerate changed something: $(cat "$T/out")"
find "$T/ledger/corrections" -type f | sort | xargs sha256sum >"$T/corr.after"
cmp -s "$T/corr.before" "$T/corr.after" && ok || bad "a second rerate wrote into the corrections"

# the bill run uses the corrected figures; the live state was corrected with them
expect_rc 0 "bill after the rerate" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" \
    --store "$T/store" --out "$T/bill1" --quiet
python3 - "$T" <<'PY' && ok || bad "the bill does not take the corrections"
import json, sys
from decimal import Decimal as D
t = sys.argv[1]
r0 = json.load(open(t + "/bill0/2026-11/report.json"))["currencies"]
r1 = json.load(open(t + "/bill1/2026-11/report.json"))
s = json.load(open(t + "/rerate.json"))
for cur, m in s["currencies"].items():
    assert D(r1["currencies"][cur]["rated_usage"]) == D(r0[cur]["rated_usage"]) + D(m["difference"]), cur
    assert r1["currencies"][cur]["records"] == r0[cur]["records"], cur
assert r1["reconciliation"]["live_lines"] > 0 and r1["reconciliation"]["differences"] == 0, r1["reconciliation"]
PY

# a rerate killed with its set open: the bill ignores the open set; the next run finishes it
CDR_RERATE_HOLD_MS=60000 "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.k" --store "$T/store.k" \
    --quiet 2>"$T/hold.err" &
HOLD=$!
for _ in $(seq 1 600); do # up to 60 s for the hook's line
    grep -q "test hook: holding" "$T/hold.err" 2>/dev/null && break
    sleep 0.1
done
grep -q "test hook: holding" "$T/hold.err" && ok || bad "the hook never held: $(cat "$T/hold.err")"
expect_rc 4 "a second rerate meanwhile" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.k" --store "$T/store.k"
kill -9 "$HOLD"
wait "$HOLD" 2>/dev/null
[ -f "$T/ledger.k/corrections/sets/000001.open" ] && ok || bad "no open set after the kill: $(ls "$T/ledger.k/corrections/sets")"
expect_rc 0 "bill with an open set" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger.k" \
    --store "$T/store.k" --out "$T/billk0" --quiet
python3 - "$T" <<'PY' && ok || bad "the open set was billed"
import json, sys
t = sys.argv[1]
a = json.load(open(t + "/bill0/2026-11/report.json"))["currencies"]
b = json.load(open(t + "/billk0/2026-11/report.json"))["currencies"]
assert all(a[c]["rated_usage"] == b[c]["rated_usage"] for c in a), (a, b)
PY
expect_rc 0 "rerate after the kill" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.k" \
    --store "$T/store.k" --report "$T/repk" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["resumed"] and d["set"] == 1 else 1)' "$T/out" &&
    ok || bad "the interrupted set was not resumed: $(cat "$T/out")"
for f in records.csv accounts.csv; do
    cmp -s "$T/rep/$f" "$T/repk/$f" && ok || bad "$f after the kill differs"
done
expect_rc 0 "bill after the finished rerate" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger.k" \
    --store "$T/store.k" --out "$T/billk" --quiet
diff -r "$T/bill1/$CYC" "$T/billk/$CYC" >/dev/null && ok || bad "the bill after a killed rerate differs"
"$CDRATE" counters --store "$T/store.k" --raw 2>/dev/null | awk -v c=$CYCLE '$2 == c' | sort >"$T/ctr.k"
cmp -s "$T/ctr.rerate" "$T/ctr.k" && ok || bad "counters after a killed rerate differ"

# a rerate killed with its set open, then the plans change: the open set is abandoned, never
# billed, and a new set is computed from the new plans
CDR_RERATE_HOLD_MS=60000 "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.a" --store "$T/store.a" \
    --quiet 2>"$T/hold2.err" &
HOLD=$!
for _ in $(seq 1 600); do
    grep -q "test hook: holding" "$T/hold2.err" 2>/dev/null && break
    sleep 0.1
done
grep -q "test hook: holding" "$T/hold2.err" && ok || bad "the hook never held: $(cat "$T/hold2.err")"
kill -9 "$HOLD"
wait "$HOLD" 2>/dev/null
mkdir -p "$T/fix3"
sed -e 's/^version: 3/version: 4/' -e 's/^effective_from: .*/effective_from: 2026-11-01T00:00:01+08:00/' \
    -e 's/price: 0.10/price: 0.09/' "$T/fix/cn-payg-v3.yaml" >"$T/fix3/cn-payg-v4.yaml"
expect_rc 0 "compile another correction" "$CDRATE" plans compile "$T/fix3" --store "$T/store.a" --quiet
expect_rc 0 "rerate with other plans after the kill" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.a" \
    --store "$T/store.a" --report "$T/repa" --json
cp "$T/out" "$T/rerate-a.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["set"] == 2 and not d["resumed"] else 1)' "$T/rerate-a.json" &&
    ok || bad "the interrupted set was resumed with other plans: $(cat "$T/rerate-a.json")"
[ -f "$T/ledger.a/corrections/sets/000001.abandoned" ] && [ ! -e "$T/ledger.a/corrections/sets/000001.set" ] &&
    ok || bad "set 1 was not abandoned: $(ls "$T/ledger.a/corrections/sets")"
expect_rc 0 "bill after an abandoned set" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger.a" \
    --store "$T/store.a" --out "$T/billa" --quiet
python3 - "$T" <<'PY' && ok || bad "the bill after an abandoned set is not the new set's"
import json, sys
from decimal import Decimal as D
t = sys.argv[1]
r0 = json.load(open(t + "/bill0/2026-11/report.json"))["currencies"]
ra = json.load(open(t + "/billa/2026-11/report.json"))
s1 = json.load(open(t + "/rerate.json"))["currencies"]
s2 = json.load(open(t + "/rerate-a.json"))["currencies"]
assert s2["CNY"]["difference"] != s1["CNY"]["difference"], (s1, s2)
for cur, m in s2.items():
    assert D(ra["currencies"][cur]["rated_usage"]) == D(r0[cur]["rated_usage"]) + D(m["difference"]), cur
assert ra["reconciliation"]["differences"] == 0, ra["reconciliation"]
PY

# a selector: one line's owner only; then the rest, which ends where one full rerate ends
MSISDN=$(awk -F, 'NR > 1 && $9 == "cn-payg" { print $3; exit }' "$T/rep/records.csv")
expect_rc 0 "rerate one line" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.s" --store "$T/store.s" \
    --msisdn "$MSISDN" --report "$T/rep1"
awk -F, -v m="$MSISDN" 'NR > 1 && $3 != m { bad = 1 } END { exit bad }' "$T/rep1/records.csv" && ok ||
    bad "a --msisdn rerate corrected other lines"
[ "$(awk -F, -v m="$MSISDN" '$3 == m' "$T/rep/records.csv" | wc -l)" = "$(($(wc -l <"$T/rep1/records.csv") - 1))" ] &&
    ok || bad "the --msisdn rerate did not correct all of the line's changed records"
expect_rc 0 "rerate the rest" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.s" --store "$T/store.s" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["set"] == 2 else 1)' "$T/out" &&
    ok || bad "the rest was not set 2: $(cat "$T/out")"
expect_rc 0 "bill after two sets" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger.s" \
    --store "$T/store.s" --out "$T/bills" --quiet
diff -r "$T/bill1/$CYC" "$T/bills/$CYC" >/dev/null && ok || bad "two partial rerates bill differently from one"

# a closed cycle: its bill stays as published; the corrections are adjustment lines of the next
expect_rc 0 "close the cycle" "$CDRATE" cycle close "$CYC" --store "$T/store.c" --quiet
expect_rc 0 "bill the closed cycle" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger.c" \
    --store "$T/store.c" --out "$T/billc0" --quiet
expect_rc 0 "rerate the closed cycle" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.c" \
    --store "$T/store.c" --report "$T/repc" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["set"] == 1 and d["target"] == "2026-12" else 1)' "$T/out" &&
    ok || bad "a closed cycle's set does not go to the next cycle: $(cat "$T/out")"
cmp -s "$T/rep/records.csv" "$T/repc/records.csv" && ok || bad "the closed cycle's corrections differ"
expect_rc 0 "bill the closed cycle again" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger.c" \
    --store "$T/store.c" --out "$T/billc" --quiet
diff -r "$T/billc0/$CYC" "$T/billc/$CYC" >/dev/null && ok || bad "the closed cycle's bill changed"
expect_rc 0 "bill the next cycle" "$CDRATE" bill --cycle 2026-12 --ledger "$T/ledger.c" \
    --store "$T/store.c" --out "$T/billc" --quiet
expect_rc 0 "bill the next cycle without the set" "$CDRATE" bill --cycle 2026-12 --ledger "$T/ledger" \
    --store "$T/store" --out "$T/billn" --quiet
python3 - "$T" <<'PY' && ok || bad "the next cycle's adjustments are not the corrections"
import csv, json, sys
from decimal import Decimal as D, ROUND_HALF_UP
t = sys.argv[1]
per = {}
for r in csv.DictReader(open(t + "/repc/records.csv")):
    k = (r["msisdn"], r["currency"])
    per[k] = per.get(k, D(0)) + D(r["difference"])
want = {}
for (m, cur), d in per.items(): # per line, rounded half-up (away from zero) to the cent
    q = d.copy_abs().quantize(D("0.01"), rounding=ROUND_HALF_UP)
    want[cur] = want.get(cur, D(0)) + (q if d >= 0 else -q)
a = json.load(open(t + "/billc/2026-12/report.json"))["currencies"]
b = json.load(open(t + "/billn/2026-12/report.json"))["currencies"]
for cur in a:
    got = D(a[cur]["adjustments"]) - D(b[cur]["adjustments"])
    assert got == want.get(cur, D(0)), (cur, got, want)
    assert D(a[cur]["amount"]) - D(b[cur]["amount"]) == got, cur
assert any(want.values())
lines = [l for l in csv.DictReader(open(t + "/billc/2026-12/invoice_lines.csv")) if l.get("class") == "adjustment"]
assert lines, "no adjustment lines"
PY

# mistakes
expect_rc 6 "an unknown msisdn" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" --msisdn 999
expect_err "cdrate rerate: msisdn 999 is not in the directory" "unknown msisdn"
expect_rc 6 "an unknown plan" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" --plan nope
expect_err "cdrate rerate: no line of the directory is on plan nope" "unknown plan"
expect_rc 2 "two selectors" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --msisdn "$MSISDN" --plan cn-payg
expect_err "cdrate rerate: at most one of --msisdn, --enterprise and --plan" "two selectors"
expect_rc 2 "a bad cycle" "$CDRATE" rerate --cycle 2026-13 --ledger "$T/ledger" --store "$T/store"
expect_err "cdrate rerate: --cycle '2026-13' is not YYYY-MM" "bad cycle"
expect_rc 1 "no ledger" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/none" --store "$T/store"
expect_err "cdrate rerate: $T/none: no ledger here" "no ledger"
expect_rc 4 "no store" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger" --store "$T/none"
printf 'set 1\ncycle 202611\nselector all\ntarget 202611\npairs x\n' >"$T/ledger.s/corrections/sets/000001.set"
expect_rc 4 "a damaged set file" "$CDRATE" rerate --cycle "$CYC" --ledger "$T/ledger.s" --store "$T/store.s"
expect_err "cdrate rerate: $T/ledger.s/corrections/sets/000001.set:5:1: unexpected line 'pairs x'" "damaged set file"
expect_rc 4 "a bill with a damaged set file" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger.s" \
    --store "$T/store.s" --out "$T/x"
expect_err "000001.set:5:1: unexpected line 'pairs x'" "the bill names the damaged set file"
expect_rc 0 "--help" "$CDRATE" rerate --help
expect_out "usage: cdrate rerate --cycle YYYY-MM" "--help"

cli_done rerate
