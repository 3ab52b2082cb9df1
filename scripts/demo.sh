#!/usr/bin/env bash
# make demo: the main job end to end on embedded defaults, no server to start.
# Collects spool files written by the switches (Asterisk, FreeSWITCH, 3GPP) into Kafka (the
# embedded mock cluster), compiles the sample plans, generates and loads a directory, generates
# about a million CDRs, rates them and prints the summary. Then the streaming path in one process
# (cdrate pipeline): the switches' spool files collected, rated by rate-stream and archived into
# the ledger on the embedded cluster, with a summary that adds up.
set -euo pipefail
CDRATE=${1:-build-release/cdrate}
OUT=${DEMO_OUT:-demo-out}
SUBS=${DEMO_SUBSCRIBERS:-100000}
CDRS=${DEMO_CDRS:-1000000}
SWITCH_CDRS=${DEMO_SWITCH_CDRS:-150000} # per switch; ctest runs the demo as the test "demo"
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== 0. collectors: spool files from an Asterisk PBX, a FreeSWITCH PBX and a 3GPP MSC/PGW"
for fmt in asterisk freeswitch 3gpp; do
  "$CDRATE" gen --out "$OUT/switch-$fmt" --subscribers 20000 --cdrs "$SWITCH_CDRS" --format "$fmt" --quiet
  # one duplicated file and one file with a malformed line show the accounting
  first=$(ls "$OUT/switch-$fmt/spool" | head -1)
  cp "$OUT/switch-$fmt/spool/$first" "$OUT/switch-$fmt/spool/zz-resent-$first"
  if [ "$fmt" != 3gpp ]; then
    printf '"","13800000001","010","ctx","x","c","d","Dial","","2026-02-30 10:00:00","","","1","0","ANSWERED","DOCUMENTATION"\n' \
      > "$OUT/switch-$fmt/spool/zz-broken.csv"
  fi
  # the same files, delivered again to the streaming installation of step 5
  mkdir -p "$OUT/stream"
  cp -r "$OUT/switch-$fmt/spool" "$OUT/stream/spool-$fmt"
  # --settle 0: the files are complete (written above); a switch that writes in place needs the
  # default settle time
  "$CDRATE" collect --spool "$OUT/switch-$fmt/spool" --format "$fmt" --brokers embedded --once \
    --settle 0 --source "$fmt-01" --dedup-days 31 2>&1 | grep -v 'embedded Kafka cluster at' || true
done
echo "== 1. compile the sample tariff plans (rating-rules/plans) into $OUT/store"
"$CDRATE" plans compile rating-rules/plans --store "$OUT/store"
"$CDRATE" plans list --store "$OUT/store"
echo "== 2. generate a directory of $SUBS subscribers and $CDRS CDRs"
"$CDRATE" gen --out "$OUT/gen" --subscribers "$SUBS" --cdrs "$CDRS"
echo "== 3. load the directory"
"$CDRATE" directory load "$OUT/gen/directory.dir" --store "$OUT/store"
echo "== 4. compile the fraud rules (rating-rules/fraud.yaml) and rate, with credit control"
"$CDRATE" fraud compile rating-rules/fraud.yaml --store "$OUT/store"
"$CDRATE" rate --store "$OUT/store" --in "$OUT/gen/cdrs.csv" --out "$OUT/rated.csv" --threads 2 \
  --alerts "$OUT/alerts.jsonl"
alerts_summary() { # the alerts of a JSON-lines file, by kind, and one of each kind
  python3 - "$1" <<'PY'
import collections, json, sys
al = [json.loads(l) for l in open(sys.argv[1])]
kinds = collections.Counter(a["kind"] for a in al)
print("alerts: %d (%s)" % (len(al), ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
seen = set()
for a in al:
    if a["kind"] not in seen:
        seen.add(a["kind"])
        print("  " + json.dumps(a, separators=(",", ":")))
PY
}
echo "== alerts raised while rating ($OUT/alerts.jsonl; docs/credit-control.md)"
alerts_summary "$OUT/alerts.jsonl"
echo "== rated records: $OUT/rated.csv ($(($(wc -l < "$OUT/rated.csv") - 1)) lines); first three:"
head -4 "$OUT/rated.csv"
# the live state (docs/live-state.md): what the hotline and the IVR see of one enterprise member
# (the member of the enterprise plan with the most rated records)
MEMBER=$(awk -F, 'NR > 1 && $8 == "cn-enterprise" && $7 == "none" {n[$3]++}
  END {for (m in n) if (n[m] > best || (n[m] == best && m < pick)) {best = n[m]; pick = m}; print pick}' \
  "$OUT/rated.csv")
echo "== the live state of enterprise member $MEMBER after rating: owner, balance, usage, bill to date"
"$CDRATE" query owner --msisdn "$MEMBER" --store "$OUT/store"
"$CDRATE" query balance --msisdn "$MEMBER" --store "$OUT/store"
"$CDRATE" query usage --msisdn "$MEMBER" --store "$OUT/store"
"$CDRATE" query bill-to-date --msisdn "$MEMBER" --store "$OUT/store"
echo "== 5. streaming, in one process on the embedded Kafka cluster: the switches' spool files"
echo "   -> collect -> cdr.raw -> rate-stream -> cdr.rated -> archive -> ledger (cdrate pipeline)"
# the switch files were generated for the 20000-subscriber directory of step 0
"$CDRATE" plans compile rating-rules/plans --store "$OUT/stream/store" --quiet
"$CDRATE" directory load "$OUT/switch-asterisk/directory.dir" --store "$OUT/stream/store"
"$CDRATE" fraud compile rating-rules/fraud.yaml --store "$OUT/stream/store" --quiet
# exit 3: done, but records were rejected (the malformed lines put into the spools above)
set +e
"$CDRATE" pipeline --store "$OUT/stream/store" --ledger "$OUT/stream/ledger" --dedup-days 31 --settle 0 \
  --alerts "$OUT/stream/alerts.jsonl" \
  --input asterisk:"$OUT/stream/spool-asterisk" --input freeswitch:"$OUT/stream/spool-freeswitch" \
  --input 3gpp:"$OUT/stream/spool-3gpp" 2>&1 | grep -v -e '^  cdrs-' -e '^embedded Kafka'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
  echo "demo: cdrate pipeline failed (exit $rc)" >&2
  exit "$rc"
fi
echo "== the ledger ($OUT/stream/ledger): totals per billing cycle"
"$CDRATE" ledger totals --ledger "$OUT/stream/ledger"
# the live state the pipeline kept in its store (docs/live-state.md): the busiest enterprise member
SMEMBER=$("$CDRATE" ledger cat --ledger "$OUT/stream/ledger" | awk -F, 'NR > 1 && $8 == "cn-enterprise" {n[$3]++}
  END {for (m in n) if (n[m] > best || (n[m] == best && m < pick)) {best = n[m]; pick = m}; print pick}')
echo "== the live state after the streaming step: enterprise member $SMEMBER"
"$CDRATE" query balance --msisdn "$SMEMBER" --store "$OUT/stream/store"
"$CDRATE" query usage --msisdn "$SMEMBER" --store "$OUT/stream/store"
echo "== the alerts rate-stream wrote to cdr.alerts in its transactions ($OUT/stream/alerts.jsonl)"
alerts_summary "$OUT/stream/alerts.jsonl"
# the month-end bill run on the ledger (docs/billing.md): the cycle holding most records
BCYCLE=$("$CDRATE" ledger totals --ledger "$OUT/stream/ledger" --json | python3 -c '
import json, sys
c = max(json.load(sys.stdin)["cycles"], key=lambda c: c["records"])["cycle"]
print("%04d-%02d" % (c // 100, c % 100))')
echo "== the bill run of $BCYCLE: one invoice per account ($OUT/bills/$BCYCLE)"
"$CDRATE" bill --cycle "$BCYCLE" --ledger "$OUT/stream/ledger" --store "$OUT/stream/store" \
  --out "$OUT/bills"
python3 - "$OUT/bills/$BCYCLE" <<'PY'
import json, sys
d = sys.argv[1]
rep = json.load(open(d + "/report.json"))
for cur, r in rep["currencies"].items():
    print("  %s: %d invoices, %d lines, %d records: usage %s (rounding %s) + fees %s + discounts %s"
          " = %s; enterprise shares %s, members %s; tax %s; total %s"
          % (cur, r["invoices"], r["subscribers"], r["records"], r["rated_usage"],
             r["usage_rounding"], r["fees"], r["discounts"], r["amount"], r["enterprise_share"],
             r["member_share"], r["tax"], r["total"]))
print("  over their credit limit: %d accounts; roaming without deposit: %d lines"
      % (len(rep["over_credit_limit"]), len(rep["roaming_without_deposit"])))
rc = rep["reconciliation"]
print("  reconciled with the live state of the store: %d lines, %d differences"
      % (rc["live_lines"], rc["differences"]))
for line in open(d + "/invoices.jsonl"):
    inv = json.loads(line)
    if inv["kind"] == "enterprise":
        print("  an enterprise invoice: %s, account %d, %d lines, amount %s + tax %s = %s %s, due %s"
              % (inv["invoice"], inv["account"], len(inv["lines"]), inv["amount"], inv["tax"],
                 inv["total"], inv["currency"], inv["due"]))
        break
PY
# the statements of that cycle (docs/statements.md): the busiest enterprise member's and its
# enterprise's, itemised, in the three formats (HTML in Chinese), then every statement of the
# cycle exported and verified against the invoices
STMT_ARGS=(--cycle "$BCYCLE" --bills "$OUT/bills" --ledger "$OUT/stream/ledger" --store "$OUT/stream/store")
echo "== statements of $BCYCLE ($OUT/statements): member $SMEMBER and its enterprise"
mkdir -p "$OUT/statements"
SMEMBER_ENT=$("$CDRATE" directory show --msisdn "$SMEMBER" --store "$OUT/stream/store" --json |
  python3 -c 'import json, sys; e = json.load(sys.stdin).get("enterprise"); print(e["id"] if e else "")')
for fmt in json csv html; do
  ext=$fmt; [ "$fmt" = csv ] && ext=csv.d
  "$CDRATE" statement --msisdn "$SMEMBER" "${STMT_ARGS[@]}" --format "$fmt" --itemised \
    --out "$OUT/statements/member-$SMEMBER.$ext"
  "$CDRATE" statement --enterprise "$SMEMBER_ENT" "${STMT_ARGS[@]}" --format "$fmt" \
    --out "$OUT/statements/enterprise-$SMEMBER_ENT.$ext"
done
"$CDRATE" statement --enterprise "$SMEMBER_ENT" "${STMT_ARGS[@]}" --format html --lang zh-CN \
  --out "$OUT/statements/enterprise-$SMEMBER_ENT.zh-CN.html"
python3 - "$OUT/statements/member-$SMEMBER.json" "$OUT/statements/enterprise-$SMEMBER_ENT.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
t = m["totals"]; h = m["overflow"]["hints"][0] if m["overflow"]["hints"] else None
print("  member %s (%s): fee %s, usage %s, overflow %s; enterprise pays %s, the member %s; %d itemised records"
      % (m["line"]["msisdn"], m["line"]["plan"], t["fee"], t["usage"], t["overflow"],
         t["enterprise_share"], t["member_share"], len(m["items"] or [])))
if h:
    print("  cheaper-plan hint: %s" % (("%s would have cost %s instead of %s (saving %s)"
          % (h["best"], h["best_cost"], h["current_cost"], h["saving"])) if h["state"] == "cheaper"
          else "the current plan %s is the cheapest (%s)" % (h["current"], h["current_cost"])))
te = e["totals"]
print("  enterprise %s: %d members, enterprise share %s, members %s, overflow %s, hint savings %s"
      % (e["enterprise"]["name"], len(e["members"]), te["enterprise_share"], te["member_share"],
         te["overflow"], e["overflow"]["hint_savings"]))
PY
"$CDRATE" statement export "${STMT_ARGS[@]}" --out "$OUT/statements/export"
"$CDRATE" statement verify "$OUT/statements/export/$BCYCLE"
# the self-service portal (docs/portal.md): demo users of every role in the streaming step's store,
# an IVR key, and the command that serves them (make portal). Nothing is started here.
echo "== the portal: demo users and an IVR key in $OUT/stream/store (docs/portal.md)"
PDIR="$OUT/portal"
mkdir -p "$PDIR"
python3 -c 'import secrets; print("demo-" + secrets.token_urlsafe(12))' >"$PDIR/password"
PW=$(cat "$PDIR/password")
read -r AM BM SM TM < <("$CDRATE" directory show --enterprise "$SMEMBER_ENT" --store "$OUT/stream/store" \
  --json | python3 -c '
import json, sys
m = json.load(sys.stdin)["enterprise"]["managers"]
print(*[m[d] or "-" for d in ("account", "billing", "service", "technical")])')
padd() { "$CDRATE" users add "$1" --store "$OUT/stream/store" --password-file "$PDIR/password" "${@:2}" 2>/dev/null; }
padd op.demo --role operator
padd ent.admin --role enterprise-admin --enterprise "$SMEMBER_ENT"
padd member.demo --role member --msisdn "$SMEMBER"
PUSERS="op.demo (operator), ent.admin (enterprise $SMEMBER_ENT), member.demo (line $SMEMBER)"
for m in "$AM:account" "$BM:billing" "$SM:service" "$TM:technical"; do
  login=${m%%:*}
  [ "$login" = - ] && continue
  if padd "$login" --role manager; then PUSERS="$PUSERS, $login (${m##*:} manager)"; fi
done
"$CDRATE" users key-add ivr-demo --scope ivr --store "$OUT/stream/store" 2>/dev/null >"$PDIR/ivr.key"
echo "  users: $PUSERS"
echo "  password of every demo user: $PW (also in $PDIR/password)"
echo "  the IVR's API key: $PDIR/ivr.key (scope ivr: balance, usage, bill-to-date of any number)"
echo "  start the portal:  make portal   (cdrate serve --store $OUT/stream/store --bills $OUT/bills"
echo "                     --ledger $OUT/stream/ledger --listen 127.0.0.1:8080)"
echo "  then open http://127.0.0.1:8080/ and log in; the API: curl -H \"Authorization: Bearer \$(cat $PDIR/ivr.key)\" \\"
echo "       http://127.0.0.1:8080/api/v1/lines/$SMEMBER/balance"
