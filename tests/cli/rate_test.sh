#!/usr/bin/env bash
# cdrate rate is safe to repeat (docs/operations.md, "Rating offline safely"): the same content is
# refused, --again rates it once more, --dry-run leaves the store byte-identical, nothing ratable or
# too many unratable records save nothing (exit 5), and every summary is per currency.
# Usage: rate_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

store_snapshot() { # the store's data file, for byte comparisons
  cp "$1/data.mdb" "$2"
}
fresh_store() { # fresh_store DIR: plans and the generated directory
  "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$1" --quiet &&
    "$CDRATE" directory load "$T/g/directory.dir" --store "$1" --quiet
}
"$CDRATE" gen --out "$T/g" --subscribers 2000 --cdrs 20000 --quiet || bad "gen"
fresh_store "$T/s" || bad "store s"
fresh_store "$T/f" || bad "store f"

# the first run rates and saves; its summary is per currency (CNY and EUR plans in the sample)
expect_rc 0 "first run" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --out "$T/r1.csv"
expect_err "charges in CNY by service" "text summary has a CNY block"
expect_err "charges in EUR by service" "text summary has a EUR block"
[ "$(grep -c "^  total " "$T/err")" -eq 2 ] && ok || bad "text summary: one total per currency, none across them"
store_snapshot "$T/s" "$T/s.after1"

# the same content again, under another name: refused, exit 4, store and output untouched
cp "$T/g/cdrs.csv" "$T/copy.csv"
echo keep > "$T/r2.csv"
expect_rc 4 "same content refused" "$CDRATE" rate --store "$T/s" --in "$T/copy.csv" --out "$T/r2.csv"
expect_err "cdrate rate: $T/copy.csv: this content was already rated into $T/s (" "refusal message"
expect_err "as $T/g/cdrs.csv, 20000 records, 1 time); rating it again would spend the bundles again: give --again to do so, or --dry-run to see the result without saving" "refusal names the first run"
cmp -s "$T/s/data.mdb" "$T/s.after1" && ok || bad "a refused run changed the store"
[ "$(cat "$T/r2.csv")" = keep ] && ok || bad "a refused run wrote its output"
expect_rc 4 "same content twice on one line" "$CDRATE" rate --store "$T/f" --in "$T/g/cdrs.csv" --in "$T/copy.csv" --out "$T/r3.csv"
expect_err "$T/copy.csv: the same content as $T/g/cdrs.csv, given twice (nothing rated)" "twice on one line"

# --dry-run: the output of the run it simulates, the store byte-identical
expect_rc 0 "dry run" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --out "$T/dry.csv" --dry-run
expect_err "note: $T/g/cdrs.csv was rated into $T/s before" "dry run notes the earlier run"
expect_err "dry run: nothing saved in $T/s" "dry run says nothing saved"
cmp -s "$T/s/data.mdb" "$T/s.after1" && ok || bad "--dry-run changed the store"
expect_rc 0 "dry run without --out" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --dry-run --quiet
cmp -s "$T/s/data.mdb" "$T/s.after1" && ok || bad "--dry-run without --out changed the store"

# --again: rated once more (bundles spent again: the second run is charged more), and the
# dry run above showed exactly what it then does
expect_rc 0 "--again" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --out "$T/again.csv" --again
cmp -s "$T/again.csv" "$T/dry.csv" && ok || bad "--again differs from the dry run that simulated it"
cmp -s "$T/again.csv" "$T/r1.csv" && bad "--again rated as if no bundle had been spent" || ok
cmp -s "$T/s/data.mdb" "$T/s.after1" && bad "--again saved nothing" || ok

# a fresh store with the same loads gives the first run's bytes and totals
expect_rc 0 "fresh store" "$CDRATE" rate --store "$T/f" --in "$T/g/cdrs.csv" --out "$T/f1.csv" --json
cmp -s "$T/f1.csv" "$T/r1.csv" && ok || bad "a fresh store rates differently from the first run"
python3 - "$T/out" "$T/r1.csv" <<'PY' && ok || bad "JSON summary per currency does not match the rated file"
import csv, json, sys
from decimal import Decimal
summary = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
want = {}
for r in rows:
    if r["status"] == "none":
        want[r["currency"]] = want.get(r["currency"], 0) + int((Decimal(r["charge"]) * 1000000).to_integral_value())
assert set(summary["charges_micro"]) == {"CNY", "EUR"}, summary["charges_micro"]
assert summary["charges_micro"] == want, (summary["charges_micro"], want)
for cur, micro in want.items():
    assert summary["charges"][cur] == str((Decimal(micro) / 1000000).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")), summary["charges"]
assert summary["records"] == len(rows) and summary["saved"] is True and summary["dry_run"] is False
assert "charge_total_micro" not in summary
PY

# standard input and output
expect_rc 4 "stdin: the same content again" sh -c "'$CDRATE' rate --store '$T/f' --in - --out - < '$T/g/cdrs.csv'"
head -100 "$T/g/cdrs.csv" > "$T/part.csv"
"$CDRATE" rate --store "$T/f" --in - --out - --quiet < "$T/part.csv" > "$T/part.out"; rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -l < "$T/part.out")" -eq 100 ] && ok || bad "--in - --out -: exit $rc, $(wc -l < "$T/part.out") lines"
[ ! -e "$T/-" ] && [ ! -e ./- ] && ok || bad "--out - wrote a file named -"

# nothing ratable: exit 5, nothing saved (neither counters nor the input's hash)
fresh_store "$T/u"
store_snapshot "$T/u" "$T/u.before"
echo "MSC1,9,voice,mo,8617000000000,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16," > "$T/unknown.csv"
expect_rc 5 "nothing ratable" "$CDRATE" rate --store "$T/u" --in "$T/unknown.csv" --out "$T/u.csv"
expect_err "cdrate rate: no record could be rated (1 unratable): nothing saved" "nothing ratable message"
cmp -s "$T/u/data.mdb" "$T/u.before" && ok || bad "a run with nothing ratable changed the store"
expect_rc 5 "nothing ratable, again (not remembered)" "$CDRATE" rate --store "$T/u" --in "$T/unknown.csv" --out "$T/u.csv"
# --max-unratable: the generated CDRs have ~2% unratable records
expect_rc 5 "above --max-unratable" "$CDRATE" rate --store "$T/u" --in "$T/g/cdrs.csv" --out "$T/u2.csv" --max-unratable 0.5
expect_err "records unratable, above --max-unratable 0.5%: nothing saved" "max-unratable message"
cmp -s "$T/u/data.mdb" "$T/u.before" && ok || bad "a run above --max-unratable changed the store"
expect_rc 0 "within --max-unratable" "$CDRATE" rate --store "$T/u" --in "$T/g/cdrs.csv" --out "$T/u3.csv" --max-unratable 10 --quiet
cmp -s "$T/u3.csv" "$T/r1.csv" && ok || bad "within --max-unratable: output differs from the first run"
expect_rc 2 "bad --max-unratable" "$CDRATE" rate --store "$T/u" --in "$T/g/cdrs.csv" --out "$T/x" --max-unratable 101
expect_err "--max-unratable must be a percentage from 0 to 100, not '101'" "bad max-unratable"

# counters reset, then the same content with --again: the first run's bytes again
expect_rc 0 "counters reset" "$CDRATE" counters reset --cycle 202611 --store "$T/s" --yes
"$CDRATE" counters --store "$T/s" --raw --quiet | awk '$2 == 202611' | grep -q . && bad "counters of 202611 left after reset" || ok

cli_done rate
