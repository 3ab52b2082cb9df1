#!/bin/bash
# A generated run of a million CDRs (`cdrate bench bill --workdir --keep`: 20,000 lines, rated into
# a ledger, billed): per currency, the invoices add up to the report; the report's amount is the
# rated charges plus their cents rounding plus fees plus discounts plus adjustments, and with tax
# the total, to the micro-unit against the ledger's own totals; the enterprise and member shares
# add up to the amount, line by line and in total; every line's classes add up to its shares.
source "$(dirname "$0")/lib.bash"

expect_rc 0 "a million CDRs rated and billed" "$CDRATE" bench bill --subscribers 20000 \
    --cdrs 1000000 --workdir "$T/w" --keep --json --quiet
BILLS=$(ls -d "$T/w/bills/"*/ | head -n 1)
CYCLE=$(basename "$BILLS" | tr -d -)
"$CDRATE" ledger totals --ledger "$T/w/ledger" --cycle "$CYCLE" --json >"$T/totals.json"
python3 - "$BILLS" "$T/totals.json" "$T/out" <<'PY' && ok || bad "the million-CDR run does not add up"
import json, sys
from decimal import Decimal as D
out, totals, bench = sys.argv[1:4]
b = json.load(open(bench))
assert b["cdrs"] == 1000000 and b["cycle_records"] > 900000, b
rep = json.load(open(out + "/report.json"))
led = {c["currency"]: c for c in json.load(open(totals))["cycles"][0]["currencies"]}
inv = {}
share = {}
for line in open(out + "/invoices.jsonl"):
    i = json.loads(line)
    a = sum(D(l["amount"]) for l in i["lines"]); t = sum(D(l["tax"]) for l in i["lines"])
    assert a == D(i["amount"]) and t == D(i["tax"]) and a + t == D(i["total"]), i["invoice"]
    for l in i["lines"]:
        assert D(l["amount"]) + D(l["tax"]) == D(l["total"]), i["invoice"]
        s = share.setdefault((i["currency"], l["share"]), [D(0)])
        s[0] += D(l["amount"])
    s = inv.setdefault(i["currency"], [0, D(0), D(0)])
    s[0] += 1; s[1] += a; s[2] += t
assert len(rep["currencies"]) >= 2, "one currency only"
for cur, r in rep["currencies"].items():
    n, amount, tax = inv[cur]
    assert n == r["invoices"] and amount == D(r["amount"]) and tax == D(r["tax"]), cur
    assert D(r["total"]) == amount + tax, cur
    # the rated charges, to the micro-unit, as the ledger holds them
    assert D(r["rated_usage"]) + D(r["unbilled"]["charge"]) == D(led[cur]["charge_micro"]) / 10**6, cur
    assert r["records"] + r["unbilled"]["records"] == led[cur]["records"], cur
    assert D(r["amount"]) == (D(r["rated_usage"]) + D(r["usage_rounding"]) + D(r["fees"]) +
                              D(r["discounts"]) + D(r["adjustments"])), cur
    assert D(r["total"]) == D(r["amount"]) + D(r["tax"]), cur
    ent = share.get((cur, "enterprise"), [D(0)])[0]; own = share.get((cur, "own"), [D(0)])[0]
    assert ent == D(r["enterprise_share"]) and own == D(r["member_share"]), cur
    assert ent + own == D(r["amount"]), cur
# every line: its classes' enterprise and member parts add up to its gross less discount
for line in open(out + "/subscribers.jsonl"):
    s = json.loads(line)
    for k, c in s["classes"].items():
        assert D(c["enterprise"]) + D(c["member"]) == D(c["gross"]) + D(c["discount"]), (s["subscriber"], k)
PY

# Thousands of invoices, formatted in chunks by the writer threads and the ledger read by the scan
# threads: the same bytes with one thread and with three.
for n in 1 3; do
    expect_rc 0 "the million CDRs billed with $n thread(s)" "$CDRATE" bill --cycle \
        "$(basename "$BILLS")" --ledger "$T/w/ledger" --store "$T/w/store" --out "$T/t$n" \
        --threads "$n" --quiet
    diff -r "$BILLS" "$T/t$n/$(basename "$BILLS")" >/dev/null && ok ||
        bad "$n thread(s) give other output than the bench run"
done

cli_done bill_million
