#!/usr/bin/env bash
# cdrate query (docs/live-state.md): what `cdrate rate` rated is in the store's live state exactly
# once (in the transaction of its counters): per line the charges per currency and service equal
# the rated file's, per account the sum of its lines', the bundles' use equals the counters; a
# dry run and a refused repeat change nothing, --again adds once more. Owner gives the six-account
# view. Bad input: an unknown MSISDN (exit 6), no store, no directory, malformed flags.
# Usage: query_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

"$CDRATE" gen --out "$T/g" --subscribers 1000 --cdrs 20000 --quiet || bad "gen"
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet || bad "plans"
"$CDRATE" directory load "$T/g/directory.dir" --store "$T/s" --quiet || bad "directory"

# before any rating: the line is known, nothing is charged (cycle: the current month)
M1=$(awk -F'msisdn=' '/^subscriber/{split($2,a," ");print a[1]; exit}' "$T/g/directory.dir")
expect_rc 0 "balance before rating" "$CDRATE" query balance --msisdn "$M1" --store "$T/s"
expect_out "unbilled         none (nothing rated on account" "nothing unbilled before rating"
expect_rc 0 "usage before rating" "$CDRATE" query usage --msisdn "$M1" --store "$T/s"
expect_out "no usage rated in the cycle" "no usage before rating"

expect_rc 0 "rate" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --out "$T/r.csv" --quiet
cp "$T/s/data.mdb" "$T/after1.mdb"

# every line of the directory: bill-to-date and usage against the rated file, balance against the
# sum of the account's lines, bundles against the counters (counters --json)
"$CDRATE" counters --store "$T/s" --json >"$T/counters.json" 2>"$T/err" || bad "counters"
python3 - "$CDRATE" "$T/s" "$T/g/directory.dir" "$T/r.csv" "$T/counters.json" <<'PY' && ok || bad "query answers differ from the rated file"
import csv, json, subprocess, sys
from collections import defaultdict
from decimal import Decimal
cdrate, store, dirfile, rated, counters = sys.argv[1:]
subs = {}   # msisdn -> (subscriber id, account id)
for line in open(dirfile):
    if line.startswith("subscriber "):
        f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        subs[f["msisdn"]] = (int(f["id"]), int(f["account"]))
charge = defaultdict(Decimal)          # (msisdn, cycle, currency) -> sum
by_svc = defaultdict(Decimal)          # (msisdn, cycle, currency, service)
units = defaultdict(int)               # (msisdn, cycle, service, kind)
records = defaultdict(int)             # (msisdn, cycle, service)
cycles = defaultdict(set)
for r in csv.DictReader(open(rated)):
    if r["status"] != "none":
        continue
    m, c, cur, s = r["msisdn"], r["cycle"], r["currency"], r["service"]
    cyc = c[:4] + "-" + c[4:]
    charge[m, cyc, cur] += Decimal(r["charge"])
    by_svc[m, cyc, cur, s] += Decimal(r["charge"])
    records[m, cyc, s] += 1
    for k in ("units", "bundle_units", "overflow_units", "free_units"):
        units[m, cyc, s, k] += int(r[k])
    cycles[m].add(cyc)
acct_lines = defaultdict(list)
for m, (sid, acc) in subs.items():
    acct_lines[acc].append(m)
def q(verb, m, cyc):
    out = subprocess.run([cdrate, "query", verb, "--msisdn", m, "--store", store, "--cycle", cyc,
                          "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)
checked = 0
for m in sorted(cycles)[:60]:
    for cyc in sorted(cycles[m]):
        b = q("bill-to-date", m, cyc)
        got = {cur: Decimal(v["total"]) for cur, v in b["charges"].items()}
        want = {cur: v for (mm, cc, cur), v in charge.items() if mm == m and cc == cyc}
        assert got == want, (m, cyc, got, want)
        for cur, v in b["charges"].items():
            for s, amt in v["by_service"].items():
                assert Decimal(amt) == by_svc[m, cyc, cur, s], (m, cyc, cur, s)
        u = q("usage", m, cyc)
        for s, v in u["services"].items():
            assert v["records"] == records[m, cyc, s], (m, cyc, s)
            for k in ("units", "bundle_units", "overflow_units", "free_units"):
                assert v[k] == units[m, cyc, s, k], (m, cyc, s, k, v[k])
        bal = q("balance", m, cyc)
        acc = subs[m][1]
        want_acc = defaultdict(Decimal)
        for mm in acct_lines[acc]:
            for (m2, c2, cur), v in charge.items():
                if m2 == mm and c2 == cyc:
                    want_acc[cur] += v
        assert {k: Decimal(v) for k, v in bal["unbilled"].items()} == dict(want_acc), (m, cyc)
        if bal["credit_limit"] is not None and bal["currency"] in want_acc:
            assert Decimal(bal["available_credit"]) == Decimal(bal["credit_limit"]) - want_acc[bal["currency"]]
        checked += 1
assert checked >= 50, checked
# bundles: the used units of a line's bundles are the store's counters (own bundles by name; a
# pool's use is the enterprise's counter, the member's draw its own)
own, member, pool = {}, {}, {}
for line in open(counters):
    c = json.loads(line)
    cyc = str(c["cycle"])[:4] + "-" + str(c["cycle"])[4:]
    if c["kind"] == "own":
        own[c["msisdn"], cyc, c["bundle"]] = c["used"]
    elif c["kind"] == "member":
        member[c["msisdn"], cyc, c["service"]] = c["used"]
    elif c["kind"] == "pool":
        pool[c["enterprise"], cyc, c["service"]] = c["used"]
seen = 0
for (m, cyc, b), used in sorted(own.items())[:30]:
    u = q("usage", m, cyc)
    got = {x["name"]: x["used_units"] for x in u["bundles"]}
    assert got.get(b) == used, (m, cyc, b, got, used)
    seen += 1
for (m, cyc, s), used in sorted(member.items())[:30]:
    u = q("usage", m, cyc)
    pb = [x for x in u["bundles"] if x["pool"] and x["service"] == s]
    assert len(pb) == 1 and pb[0]["member_used_units"] == used, (m, cyc, s, pb, used)
    assert pb[0]["used_units"] in [v for (e, c2, s2), v in pool.items() if c2 == cyc and s2 == s]
    seen += 1
assert seen >= 40, seen
print("checked", checked, "line-cycles and", seen, "bundles")
PY

# a dry run and a refused repeat leave the state as it is; --again adds the same records again
expect_rc 0 "dry run" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --dry-run --quiet
cmp -s "$T/s/data.mdb" "$T/after1.mdb" && ok || bad "--dry-run changed the live state"
expect_rc 4 "repeat refused" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --out "$T/r2.csv" --quiet
cmp -s "$T/s/data.mdb" "$T/after1.mdb" && ok || bad "a refused repeat changed the live state"
C1=$(awk -F, -v m="$M1" 'NR>1 && $3==m && $7=="none" {print $11; exit}' "$T/r.csv")
C1="${C1:0:4}-${C1:4:2}"
"$CDRATE" query bill-to-date --msisdn "$M1" --store "$T/s" --cycle "$C1" --json >"$T/b1.json" || bad "b1"
expect_rc 0 "--again" "$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --out "$T/r3.csv" --again --quiet
"$CDRATE" query bill-to-date --msisdn "$M1" --store "$T/s" --cycle "$C1" --json >"$T/b2.json" || bad "b2"
python3 - "$T/b1.json" "$T/b2.json" "$T/r3.csv" "$M1" "$C1" <<'PY' && ok || bad "--again did not add its records exactly once"
import csv, json, sys
from decimal import Decimal
b1, b2 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
m, cyc = sys.argv[4], sys.argv[5].replace("-", "")
add = {}
for r in csv.DictReader(open(sys.argv[3])):
    if r["msisdn"] == m and r["cycle"] == cyc and r["status"] == "none":
        add[r["currency"]] = add.get(r["currency"], Decimal(0)) + Decimal(r["charge"])
for cur, v in b2["charges"].items():
    before = Decimal(b1["charges"].get(cur, {"total": "0"})["total"])
    assert Decimal(v["total"]) == before + add.get(cur, 0), (cur, v["total"], before, add)
PY

# export: every line and account of the state as JSON lines; a cycle's part with --cycle
expect_rc 0 "export" "$CDRATE" query export --store "$T/s"
python3 - "$T/out" "$T/r.csv" "$T/r3.csv" <<'PY' && ok || bad "export does not add up to the rated files"
import csv, json, sys
from collections import defaultdict
from decimal import Decimal
lines = [json.loads(l) for l in open(sys.argv[1])]
got = defaultdict(Decimal)
acct = defaultdict(Decimal)
for o in lines:
    if "line" in o:
        for cur, v in o["charges"].items():
            got[o["cycle"], cur] += Decimal(v["total"])
    else:
        for cur, v in o["unbilled"].items():
            acct[o["cycle"], cur] += Decimal(v["total"])
want = defaultdict(Decimal)
for f in sys.argv[2:]:   # the first run and the --again run
    for r in csv.DictReader(open(f)):
        if r["status"] == "none":
            want[r["cycle"][:4] + "-" + r["cycle"][4:], r["currency"]] += Decimal(r["charge"])
assert dict(got) == dict(want), (dict(got), dict(want))
assert dict(acct) == dict(want)
PY
expect_rc 0 "export of one cycle" "$CDRATE" query export --store "$T/s" --cycle "$C1"
grep -v "\"cycle\":\"$C1\"" "$T/out" | grep -q . && bad "export --cycle printed other cycles" || ok
expect_rc 2 "export with --msisdn" "$CDRATE" query export --store "$T/s" --msisdn "$M1"
expect_err "export takes no --msisdn: it writes every line" "export with --msisdn message"

# text answers name what they answer
expect_rc 0 "balance text" "$CDRATE" query balance --msisdn "$M1" --store "$T/s" --cycle "$C1"
expect_out "msisdn $M1  subscriber " "balance head line"
expect_out "credit class     " "balance names the credit class"
expect_out "available credit " "balance gives the available credit"
expect_rc 0 "bill-to-date text" "$CDRATE" query bill-to-date --msisdn "$M1" --store "$T/s" --cycle "$C1"
expect_out "monthly fee      CNY " "bill-to-date gives the plan's monthly fee"

# owner: the six-account view, the same as directory show for the line
M2=$(awk -F'msisdn=' '/^subscriber/ && /plan=cn-enterprise/ {split($2,a," ");print a[1]; exit}' "$T/g/directory.dir")
expect_rc 0 "owner of a member" "$CDRATE" query owner --msisdn "$M2" --store "$T/s" --json
cp "$T/out" "$T/owner.json"
expect_rc 0 "directory show of the member" "$CDRATE" directory show --msisdn "$M2" --store "$T/s" --json
# the same view, and the line's credit status of the cycle from the live state
python3 - "$T/out" "$T/owner.json" <<'PY' && ok || bad "query owner is not directory show --msisdn plus the credit status"
import json, sys
d, o = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
credit = o.pop("credit")
assert o == d, "the six-account views differ"
assert set(credit) == {"cycle", "line_status", "warned_at", "suspended_at"}, credit
assert credit["line_status"] in ("active", "warned", "suspended"), credit
assert (credit["warned_at"] is None) == (credit["line_status"] == "active"), credit
PY
expect_rc 0 "owner text" "$CDRATE" query owner --msisdn "$M2" --store "$T/s"
expect_out "credit status:      " "query owner shows the credit status"
python3 - "$T/owner.json" <<'PY' && ok || bad "owner view lacks the enterprise side"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["enterprise"] is not None and o["enterprise"]["customer"]["account_manager"]
# the enterprise's four managers, as cdrate gen names them (docs/directory.md)
k = o["enterprise"]["id"]
assert o["enterprise"]["managers"] == {"account": "am.%d" % (k % 17), "billing": "bm.%d" % (k % 11),
                                       "service": "sm.%d" % (k % 7), "technical": "tm.%d" % (k % 5)}, o["enterprise"]
assert "roaming_without_deposit" in o["enterprise"]["customer"]["credit_class"]
assert o["subscriber"]["status"] in ("active", "suspended", "terminated")
PY
expect_rc 0 "owner text" "$CDRATE" query owner --msisdn "$M2" --store "$T/s"
expect_out "account manager:" "owner text names the account manager"
for duty in billing service technical; do
  grep -qE "^  $duty manager: +${duty:0:1}m\.[0-9]+$" "$T/out" && ok || bad "owner text lacks the $duty manager"
done

# bad input: exact messages and exit codes, nothing written
expect_rc 6 "unknown msisdn" "$CDRATE" query balance --msisdn 999 --store "$T/s"
expect_err "cdrate query: msisdn 999 is not in the directory" "unknown msisdn message"
expect_rc 6 "unknown msisdn, owner" "$CDRATE" query owner --msisdn 999 --store "$T/s" --json
expect_err '{"error":{"code":"CDR_NOTFOUND"' "unknown msisdn as a JSON error"
expect_rc 4 "no store" "$CDRATE" query balance --msisdn "$M1" --store "$T/nostore"
expect_err "no cdrate store at $T/nostore" "no store message"
[ ! -e "$T/nostore" ] && ok || bad "query created a store"
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/p" --quiet || bad "plans p"
expect_rc 4 "no directory" "$CDRATE" query usage --msisdn "$M1" --store "$T/p"
expect_err "no directory in the store" "no directory message"
expect_rc 2 "bad cycle" "$CDRATE" query usage --msisdn "$M1" --store "$T/s" --cycle 2026-13
expect_err "cdrate query: --cycle must be YYYY-MM, not '2026-13'" "bad cycle message"
expect_rc 2 "bad msisdn" "$CDRATE" query usage --msisdn +861380 --store "$T/s"
expect_err "--msisdn must be 1 to 15 digits (E.164, no '+'), not '+861380'" "bad msisdn message"
expect_rc 2 "unknown question" "$CDRATE" query credit --msisdn "$M1" --store "$T/s"
expect_err "unknown question 'credit' (balance, usage, bill-to-date, owner or export)" "unknown question message"
expect_rc 2 "no question" "$CDRATE" query --msisdn "$M1" --store "$T/s"
expect_rc 2 "owner with --cycle" "$CDRATE" query owner --msisdn "$M1" --store "$T/s" --cycle 2026-10
expect_rc 2 "missing --msisdn" "$CDRATE" query balance --store "$T/s"
expect_err "--msisdn is required" "missing msisdn message"
expect_rc 2 "malformed --redis" "$CDRATE" query balance --msisdn "$M1" --store "$T/s" --redis localhost
expect_err "redis address 'localhost': expected HOST:PORT" "malformed --redis message"
expect_rc 1 "unreachable Redis" "$CDRATE" query balance --msisdn "$M1" --store "$T/s" --redis 127.0.0.1:9
expect_err "redis 127.0.0.1:9: " "unreachable Redis names the address"
expect_rc 2 "--redis with owner" "$CDRATE" query owner --msisdn "$M1" --store "$T/s" --redis 127.0.0.1:9
# cdrate project's own mistakes (the runs on the broker are the integration tests live_projection
# and live_redis)
expect_rc 2 "project without --brokers" "$CDRATE" project --store "$T/s"
expect_err "--brokers and --store are required" "project usage message"
expect_rc 4 "project: no store" "$CDRATE" project --brokers 127.0.0.1:9 --store "$T/nostore"
expect_err "no cdrate store at $T/nostore" "project no store message"
expect_rc 4 "project: no directory" "$CDRATE" project --brokers 127.0.0.1:9 --store "$T/p"
expect_err "no directory in the store" "project no directory message"
expect_rc 2 "project: malformed --redis" "$CDRATE" project --brokers 127.0.0.1:9 --store "$T/s" --redis 127.0.0.1:0
expect_err "redis address '127.0.0.1:0': expected HOST:PORT" "project malformed --redis message"
expect_rc 1 "project: unreachable Redis" "$CDRATE" project --brokers 127.0.0.1:9 --store "$T/s" --redis 127.0.0.1:9
expect_err "redis 127.0.0.1:9: " "project unreachable Redis names the address"
expect_rc 0 "project --help" "$CDRATE" project --help
# bench query --embedded: one JSON object with the figures it names (not their values: timing is
# for benchmarks, not tests); --redis is run by the integration test live_redis
expect_rc 0 "bench query --embedded" "$CDRATE" bench query --embedded --subscribers 2000 --cdrs 20000 --queries 4000 --clients 2 --json
[ "$(wc -l <"$T/out")" -eq 1 ] && grep -qE '^\{"bench":"query","backend":"embedded",.*"queries":4000,"queries_per_sec":[0-9]+,"p50_ms":[0-9.]+,"p99_ms":[0-9.]+,"get_per_sec":[0-9]+,.*"ratio":[0-9.]+\}$' "$T/out" && ok || bad "bench query output: $(cat "$T/out")"
expect_rc 2 "bench query without a backend" "$CDRATE" bench query --queries 10
expect_err "query needs --redis HOST:PORT or --embedded" "bench query usage message"
expect_rc 1 "bench query, unreachable Redis" "$CDRATE" bench query --redis 127.0.0.1:9 --subscribers 100 --cdrs 100
expect_err "redis 127.0.0.1:9: " "bench query names the Redis"
expect_rc 0 "help" "$CDRATE" query --help
expect_out "bill-to-date" "help lists the questions"

cli_done query
