#!/bin/bash
# `cdrate cycle close|list` and `cdrate bill --close` (docs/billing.md, "Closing a cycle"): the
# operator's mistakes with their exact errors and exit codes; then end to end: a month streamed
# into a ledger and billed with --close, then late records of that month streamed: they are
# rated into the next cycle, flagged late, billed there (report late_records), the closed
# cycle's ledger and bill do not change, and every record is in exactly one cycle.
source "$(dirname "$0")/lib.bash"

"$CDRATE" gen --out "$T/g" --subscribers 500 --cdrs 6000 --format asterisk --quiet
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/store" --quiet
"$CDRATE" directory load "$T/g/directory.dir" --store "$T/store" --quiet

# ---- the command line
expect_rc 0 "list, none closed" "$CDRATE" cycle list --store "$T/store"
expect_err "cdrate cycle: no cycle is closed in $T/store" "list, none closed"
[ ! -s "$T/out" ] && ok || bad "list printed on stdout with nothing closed"
expect_rc 0 "list --json, none closed" "$CDRATE" cycle list --store "$T/store" --json
[ "$(cat "$T/out")" = "{\"store\":\"$T/store\",\"closed\":[]}" ] && ok || bad "list --json: $(cat "$T/out")"
expect_rc 2 "month 13" "$CDRATE" cycle close 2026-13 --store "$T/store"
expect_err "cdrate cycle: '2026-13' is not a cycle YYYY-MM (year from 1970, month 01..12)" "month 13"
expect_err "usage: cdrate cycle close YYYY-MM" "month 13 prints the usage"
expect_rc 2 "YYYYMM is not YYYY-MM" "$CDRATE" cycle close 202611 --store "$T/store"
expect_err "cdrate cycle: '202611' is not a cycle YYYY-MM" "YYYYMM"
expect_rc 2 "no cycle" "$CDRATE" cycle close --store "$T/store"
expect_err "cdrate cycle: close takes one cycle YYYY-MM" "no cycle"
expect_rc 2 "two cycles" "$CDRATE" cycle close 2026-10 2026-11 --store "$T/store"
expect_err "cdrate cycle: unexpected argument '2026-11'" "two cycles"
expect_rc 2 "no store" "$CDRATE" cycle close 2026-10
expect_err "cdrate cycle: --store is required" "no store"
expect_rc 2 "unknown verb" "$CDRATE" cycle open 2026-10 --store "$T/store"
expect_err "cdrate cycle: unknown verb 'open' (close or list)" "unknown verb"
expect_rc 2 "no verb" "$CDRATE" cycle --store "$T/store"
expect_rc 0 "help" "$CDRATE" cycle --help
expect_out "close YYYY-MM --store STORE" "help"
expect_rc 4 "not a store" "$CDRATE" cycle close 2026-10 --store "$T/nostore"
expect_err "no cdrate store at $T/nostore" "not a store"
[ ! -e "$T/nostore" ] && ok || bad "a store was created"
CDR_CYCLE_NOW=2026-12 expect_rc 4 "a future cycle" "$CDRATE" cycle close 2027-01 --store "$T/store"
expect_err "cdrate cycle: cycle 2027-01 is in the future (the current month is 2026-12, UTC): only a cycle that has begun can be closed; nothing changed" "future"
CDR_CYCLE_NOW=2026-12 expect_rc 4 "a future cycle, --json" "$CDRATE" cycle close 2027-01 --store "$T/store" --json
expect_err '{"error":{"code":"CDR_RANGE"' "future --json"
"$CDRATE" cycle list --store "$T/store" --json >"$T/l.json"
[ "$(cat "$T/l.json")" = "{\"store\":\"$T/store\",\"closed\":[]}" ] && ok || bad "a refused close changed the store"

# ---- end to end: the month in two halves; the first is billed and closed
mkdir -p "$T/s1" "$T/s2"
head -n 4000 "$T/g/spool/cdrs-00001.csv" >"$T/s1/first.csv"
tail -n +4001 "$T/g/spool/cdrs-00001.csv" >"$T/s2/late.csv"
expect_rc 0 "stream the first part" "$CDRATE" pipeline --store "$T/store" --ledger "$T/ledger" \
    --input asterisk:"$T/s1" --settle 0 --partitions 4 --quiet
tot() { "$CDRATE" ledger totals --ledger "$T/ledger" --json; }
tot >"$T/tot1.json"
CYCLE=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(max(d["cycles"], key=lambda c: c["records"])["cycle"])' "$T/tot1.json")
CYC="${CYCLE:0:4}-${CYCLE:4:2}"
NEXT=$(python3 -c 'import sys; y,m=int(sys.argv[1][:4]),int(sys.argv[1][4:]); print("%04d%02d" % ((y+1,1) if m==12 else (y,m+1)))' "$CYCLE")
NXT="${NEXT:0:4}-${NEXT:4:2}"

expect_rc 0 "a trial bill" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/trial" --quiet
"$CDRATE" cycle list --store "$T/store" --json >"$T/l.json"
grep -q "\"closed\":\[\]" "$T/l.json" && ok || bad "a trial bill closed the cycle"
CDR_CYCLE_NOW=2000-01 expect_rc 4 "bill --close of a future cycle" "$CDRATE" bill --cycle "$CYC" \
    --ledger "$T/ledger" --store "$T/store" --out "$T/never" --close
expect_err "is in the future" "bill --close of a future cycle"
[ ! -e "$T/never" ] && ok || bad "bill --close of a future cycle wrote something"
expect_rc 0 "bill --close" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" --store "$T/store" \
    --out "$T/bills" --close
expect_err "cdrate bill: cycle $CYC closed at " "bill --close says so"
expect_err "its late usage is rated into $NXT (flagged late)" "bill --close names the next cycle"
diff -r "$T/trial/$CYC" "$T/bills/$CYC" >/dev/null && ok || bad "the final bill differs from the trial"
expect_rc 0 "close again" "$CDRATE" cycle close "$CYC" --store "$T/store"
expect_err "cdrate cycle: cycle $CYC was already closed (at " "close again"
expect_rc 0 "close again --json" "$CDRATE" cycle close "$CYC" --store "$T/store" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["already_closed"] and d["cycle"]==sys.argv[2] and d["late_usage_goes_to"]==sys.argv[3] else 1)' "$T/out" "$CYC" "$NXT" &&
    ok || bad "close again --json: $(cat "$T/out")"
expect_rc 0 "list" "$CDRATE" cycle list --store "$T/store"
grep -q "^$CYC  closed " "$T/out" && ok || bad "list: $(cat "$T/out")"

# ---- the late part (the embedded pipeline starts on an empty ledger: a second one): rated into
# the next cycle, flagged, billed there
expect_rc 0 "stream the late part" "$CDRATE" pipeline --store "$T/store" --ledger "$T/ledger2" \
    --input asterisk:"$T/s2" --settle 0 --partitions 4 --json
cp "$T/out" "$T/run2.json"
"$CDRATE" ledger totals --ledger "$T/ledger2" --json >"$T/tot2.json"
"$CDRATE" ledger cat --ledger "$T/ledger2" --format json >"$T/late.jsonl"
expect_rc 0 "bill the next cycle" "$CDRATE" bill --cycle "$NXT" --ledger "$T/ledger2" \
    --store "$T/store" --out "$T/bills" --quiet
expect_rc 0 "the closed cycle billed again" "$CDRATE" bill --cycle "$CYC" --ledger "$T/ledger" \
    --store "$T/store" --out "$T/again" --quiet
diff -r "$T/bills/$CYC" "$T/again/$CYC" >/dev/null && ok || bad "the closed cycle's bill changed"
python3 - "$T" "$CYCLE" "$NEXT" "$NXT" <<'PY' && ok || bad "late records lost, counted twice or not flagged"
import json, sys
T, cycle, nxt, nxt_txt = sys.argv[1:5]
recs = [json.loads(l) for l in open(T + "/late.jsonl")]
own = cycle[:4] + "-" + cycle[4:]
late = [r for r in recs if r["start"].startswith(own)]
assert late, "the late part has no record of the closed cycle"
for r in recs:  # nothing in the closed cycle; each record of it in the next, flagged
    assert str(r["cycle"]) != cycle, r
    if r["start"].startswith(own):
        assert str(r["cycle"]) == nxt and r["flags"].split(";")[-1] == "late", r
    else:
        assert "late" not in r["flags"], r
tot = {str(c["cycle"]): c["records"] for c in json.load(open(T + "/tot2.json"))["cycles"]}
assert sum(tot.values()) == len(recs), (tot, len(recs))
rep = json.load(open(T + "/bills/" + nxt_txt + "/report.json"))
billed = sum(c["late_records"] for c in rep["currencies"].values())
in_next = [r for r in late if str(r["cycle"]) == nxt]
assert billed <= len(in_next) and billed > 0, (billed, len(in_next))
assert rep["records"] == tot.get(nxt, 0), (rep["records"], tot)
PY
# every record of the late part once: pipeline accounting, rated = archived = the ledger's records
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); t=json.load(open(sys.argv[2])); n=sum(c["records"] for c in t["cycles"]); sys.exit(0 if r["archived"] == n else 1)' "$T/run2.json" "$T/tot2.json" &&
    ok || bad "archived is not the ledger's records: $(head -c 400 "$T/run2.json")"

cli_done cycle
