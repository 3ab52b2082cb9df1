#!/bin/bash
# `cdrate statement`, `statement export` and `statement verify` end to end (issue 12) on a small
# fixed scenario: tests/data/statements/acme.dir (the enterprise "Acme, Ltd." with three members,
# one of them 张伟 and one "Smith, Pat "PJ"", and an individual on cn-payg), the 34 CDRs of
# tests/data/statements/cdrs.csv (November 2026) streamed into a ledger with `cdrate pipeline`,
# billed with `cdrate bill` (with tests/data/statements/adjustments.csv), then:
#   1. the statements of 张伟 and of the enterprise, itemised, as JSON, CSV and HTML in en and
#      zh-CN, compared byte for byte with tests/golden/statements/ (diff -r);
#   2. figures computed by hand from the CDRs (below), the totals identical in every format, the
#      HTML in headless Chromium and the CSV folders with Python's csv module (tests/browser);
#   3. the cheaper-plan hints of a heavy, a light and an idle line and of the individual;
#   4. export and verify: private modes, damage found and named, a run killed with SIGKILL and
#      started over (byte-identical to an uninterrupted export);
#   5. bad input: the exact error text, the exit code, and nothing written.
#
# Run: tests/cli/statement_test.sh build-release/cdrate .        (ctest: statement)
# The golden files are rewritten from the current build with
#      UPDATE_GOLDEN=1 tests/cli/statement_test.sh build-release/cdrate .
# then look at `git diff tests/golden/statements` before committing them (docs/testing.md).
# The browser checks need /usr/bin/python3 with Debian's python3-selenium, chromium and
# chromium-driver (scripts/setup.sh); screenshots go to BUILD/artefacts/statement-e2e-*.png.
source "$(dirname "$0")/lib.bash"
D="$SRC/tests/data/statements"
G="$SRC/tests/golden/statements"
ART="$(cd "$(dirname "$CDRATE")" && pwd)/artefacts"
CYC=2026-11
PY=python3          # json and csv only: any python3
BPY=/usr/bin/python3 # the browser checker: Debian's python3 with python3-selenium

# ---- the scenario -------------------------------------------------------------------------------
mkdir -p "$T/spool"
cp "$D/cdrs.csv" "$T/spool/"
expect_rc 0 "decode the hand-written CDRs" "$CDRATE" decode --format csv "$D/cdrs.csv" --json
expect_err '"total":{"files":1,"unreadable":0,"read":34,"decoded":34,"rejected":0,"nonbillable":0}' "all 34 CDRs decode"
expect_rc 0 "compile the sample plans" "$CDRATE" plans compile "$SRC/rating-rules/plans" \
    --store "$T/store" --quiet
expect_rc 0 "load the directory" "$CDRATE" directory load "$D/acme.dir" --store "$T/store" --quiet
expect_rc 0 "stream the CDRs into a ledger" "$CDRATE" pipeline --store "$T/store" \
    --ledger "$T/ledger" --input csv:"$T/spool" --settle 0 --partitions 2 --quiet
expect_rc 0 "bill the cycle" "$CDRATE" bill --cycle $CYC --ledger "$T/ledger" --store "$T/store" \
    --out "$T/bills" --adjustments "$D/adjustments.csv" --quiet
[ -f "$T/bills/$CYC/invoices.csv" ] && ok || bad "the bill run published nothing"
S=(--cycle $CYC --bills "$T/bills" --ledger "$T/ledger" --store "$T/store")
ZW=8613800000101 # 张伟, heavy
PJ=8613800000102 # Smith, Pat "PJ", light
LN=8613800000103 # Li Na, no usage
CJ=8613900000201 # Chen Jing, the individual on cn-payg

# ---- 1. golden files ----------------------------------------------------------------------------
# $T/gold/{member,enterprise}-{en,zh-CN}/{statement.json,statement.html,csv/}: 张伟's statement and
# the enterprise's, itemised, the other party masked (the default)
for kind in member enterprise; do
    if [ $kind = member ]; then sel=(--msisdn $ZW); else sel=(--enterprise 7); fi
    for lang in en zh-CN; do
        o="$T/gold/$kind-$lang"
        mkdir -p "$o"
        for fmt in json html csv; do
            case $fmt in json) out="$o/statement.json" ;; html) out="$o/statement.html" ;; csv) out="$o/csv" ;; esac
            expect_rc 0 "$kind statement $fmt $lang" "$CDRATE" statement "${sel[@]}" "${S[@]}" \
                --format $fmt --out "$out" --itemised --lang $lang
        done
    done
done
expect_err "cdrate statement: enterprise statement of Acme, Ltd., cycle $CYC: 3 lines itemised, csv -> $T/gold/enterprise-zh-CN/csv" "summary line"
if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
    rm -rf "$G"
    mkdir -p "$(dirname "$G")"
    cp -r "$T/gold" "$G"
    chmod -R u=rwX,go=rX "$G" # the statements are written private; the goldens are sources
    echo "statement: golden files rewritten in $G"
    ok
else
    if diff -r "$G" "$T/gold" >"$T/golden.diff"; then ok; else
        bad "the statements differ from $G (UPDATE_GOLDEN=1 rewrites them; look at the diff first)"
        head -60 "$T/golden.diff"
    fi
fi
# private: 0600 files in 0700 folders
[ "$(stat -c %a "$T/gold/member-en/statement.json")" = 600 ] && ok || bad "statement.json is not 0600"
[ "$(stat -c %a "$T/gold/member-en/csv")" = 700 ] && ok || bad "the CSV folder is not 0700"
[ -z "$(find "$T/gold/member-en/csv" -type f ! -perm 600)" ] && ok || bad "CSV files not 0600: $(find "$T/gold/member-en/csv" -type f ! -perm 600)"
# the same model in both languages: the JSON differs in "lang" only
diff <(grep -v '"lang"' "$T/gold/member-en/statement.json") \
    <(grep -v '"lang"' "$T/gold/member-zh-CN/statement.json") >/dev/null && ok ||
    bad "the member JSON differs between en and zh-CN beyond lang"

# the other party as --privacy says (the individual's 12 records: 7 calls and messages with
# 8613812345678, 10086, and three abroad; a data session has none)
"$CDRATE" statement --msisdn $CJ "${S[@]}" --format json --out "$T/full.json" --itemised --privacy full --quiet
[ "$(grep -c '"other": "8613812345678"' "$T/full.json")" = 7 ] && grep -q '"other": "447700900123"' "$T/full.json" &&
    ok || bad "--privacy full: $(grep -o '"other": "[^"]*"' "$T/full.json" | sort | uniq -c)"
"$CDRATE" statement --msisdn $CJ "${S[@]}" --format json --out "$T/hidden.json" --itemised --privacy hidden --quiet
[ "$(grep -c '"other": ""' "$T/hidden.json")" = 12 ] && grep -q '"privacy": "hidden"' "$T/hidden.json" &&
    ok || bad "--privacy hidden: $(grep -o '"other": "[^"]*"' "$T/hidden.json" | sort | uniq -c)"

# an itemised statement of a line without records (Li Na) is still itemised: "items": [], an
# itemised.csv of the header row only, and the HTML's items section with its "no records" note
"$CDRATE" statement --msisdn $LN "${S[@]}" --format json --out "$T/ln.json" --itemised --quiet
grep -q '"items": \[\]' "$T/ln.json" && ok || bad "itemised, no records: JSON $(grep '"items"' "$T/ln.json")"
"$CDRATE" statement --msisdn $LN "${S[@]}" --format csv --out "$T/ln-csv" --itemised --quiet
[ -f "$T/ln-csv/itemised.csv" ] && [ "$(wc -l <"$T/ln-csv/itemised.csv")" = 1 ] && ok ||
    bad "itemised, no records: no itemised.csv of the header row: $(ls "$T/ln-csv")"
"$CDRATE" statement --msisdn $LN "${S[@]}" --format html --out "$T/ln.html" --itemised --quiet
grep -q '<section id="items"' "$T/ln.html" && ok || bad "itemised, no records: no items section in the HTML"

# ---- 2. figures computed by hand ----------------------------------------------------------------
# cn-enterprise: 58.00 a month, 1000 domestic minutes, data from the pool; the product: 10 %
# discount, 1 GB pool with 600 MB per member; the enterprise pays recurring_fee and basic_voice up
# to 60.00 a member.
# 张伟 (5001): six weekend calls of 3 h = 1080 min, 80 min over the bundle at 0.08 = 6.40 (the
#   call of 21 Nov is "partly": 6000 s in the bundle, 4800 s over); then the bundle is used up, so
#   his 61 s call of 24 Nov to Smith is overflow: 66 s (increments 60/6) x 0.08/60 = 0.088 -> 0.09;
#   a 5 min call to Germany in office hours at 2.99 = 14.95. basic_voice 6.40 + 0.09 + 14.95 =
#   21.44, less 10 % (2.144 -> 2.14) = 19.30. Data: 500 MB + 300 MB, the pool gives 600 MB, 200 MB
#   over at 3.00 per GB = 0.5859375, rounded up to 0.59, less 0.06 = 0.53. SMS 2 x 0.10 = 0.20,
#   less 0.02 = 0.18. Fee 58.00 less 5.80 = 52.20. The enterprise pays basic_voice 19.30 and
#   60.00 - 19.30 = 40.70 of the fee: enterprise share 60.00, member share 11.50 + 0.53 + 0.18 =
#   12.21; overflow (rated) 21.44 + 0.20 + 0.59 = 22.23.
# The enterprise: shares 60.00 + 52.20 (Smith: fee only, his SMS 0.18 are his) + 52.20 (Li Na)
#   = 164.40; with the account's adjustment of -5.00 its invoice is 159.40.
# Chen Jing (cn-payg v2): 2 min to the USA at 3.99 = 7.98, 5 min onnet peak 0.10 + 5 x 0.12 =
#   0.70, 1 min offpeak 0.10 + 0.08 = 0.18 -> basic_voice 8.86; roaming in Hong Kong 3 min out at
#   2.99 = 8.97 and 1 min in at 1.99 -> roaming 10.96; SMS 0.10 + 0.10 + 1.00 = 1.20; 10 MB at
#   0.29 = 2.90: 23.92, all hers.
$PY - "$T/gold" <<'PY' && ok || bad "the hand-computed figures"
import json, sys
g = sys.argv[1]
m = json.load(open(g + "/member-en/statement.json", encoding="utf-8"))
e = json.load(open(g + "/enterprise-en/statement.json", encoding="utf-8"))
t = m["totals"]
assert (t["enterprise_share"], t["member_share"], t["fee"], t["overflow"]) == \
    ("60.00", "12.21", "52.20", "22.230000"), t
cl = {c["class"]: c for c in m["classes"]}
assert (cl["basic_voice"]["rated"], cl["basic_voice"]["enterprise"]) == ("21.440000", "19.30"), cl["basic_voice"]
assert (cl["data"]["overflow_charge"], cl["data"]["member"]) == ("0.590000", "0.53"), cl["data"]
assert (cl["recurring_fee"]["enterprise"], cl["recurring_fee"]["member"]) == ("40.70", "11.50")
assert (cl["sms_mms"]["member"]) == "0.18"
it = {i["time"]: i for i in m["items"]}
p = it["2026-11-21T09:00:00+08:00"]
assert (p["state"], p["bundle_units"], p["overflow_units"], p["charge"]) == ("partly", 6000, 4800, "6.400000"), p
p = it["2026-11-24T17:30:00+08:00"]
assert (p["state"], p["units"], p["charge"], p["other"]) == ("overflow", 66, "0.090000", "86138****0102"), p
assert it["2026-11-03T11:00:00+08:00"]["other"] == "10086" # a service number is not masked
b = {x["name"]: x for x in m["bundles"]}
assert (b["minutes1000"]["used"], b["minutes1000"]["percent_bp"]) == (60000, 10000)
assert (b["pool"]["used"], b["pool"]["included"]) == (600 << 20, 600 << 20)
t = e["totals"]
assert (t["enterprise_share"], t["member_share"], t["account_adjustments"]) == ("164.40", "12.39", "-5.00"), t
inv = {i["account"]: i for i in e["invoices"]}
assert inv[100]["amount"] == "159.40", inv
assert [x["name"] for x in e["members"]] == ["张伟", 'Smith, Pat "PJ"', "Li Na"]
assert e["enterprise"]["name"] == "Acme, Ltd." and e["change"]["known"] is False
assert (e["pools"][0]["used"], e["pools"][0]["included"], e["pools"][0]["percent_bp"]) == (600 << 20, 1 << 30, 5859)
assert len(e["items"]) == 22 # 15 of 张伟, 7 of Smith, none of Li Na
PY
"$CDRATE" statement --msisdn $CJ "${S[@]}" --format json --out "$T/cj.json" --quiet
$PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["class"]: x["member"] for x in d["classes"]}
assert d["enterprise"] is None and d["line"]["enterprise"] == 0, d["line"]
assert (c["basic_voice"], c["roaming"], c["sms_mms"], c["data"]) == ("8.86", "10.96", "1.20", "2.90"), c
assert (d["totals"]["member_share"], d["totals"]["enterprise_share"]) == ("23.92", "0.00"), d["totals"]
assert [i["kind"] for i in d["invoices"]] == ["individual"] and d["invoices"][0]["amount"] == "23.92"
' "$T/cj.json" && ok || bad "the individual's hand-computed figures"

# the totals the same in every format: JSON totals, summary.csv and the HTML data-total hooks
$PY - "$T/gold" <<'PY' && ok || bad "the totals differ between the formats"
import csv, json, re, sys
g = sys.argv[1]
for name in ("member-en", "member-zh-CN", "enterprise-en", "enterprise-zh-CN"):
    d = g + "/" + name
    tot = json.load(open(d + "/statement.json", encoding="utf-8"))["totals"]
    assert len(tot) == 9, tot
    with open(d + "/csv/summary.csv", encoding="utf-8-sig", newline="") as f:
        summ = {r[0]: r[2] for r in csv.reader(f)}
    html = open(d + "/statement.html", encoding="utf-8").read()
    hooks = dict(re.findall(r'data-total="([a-z_]+)"[^>]*>([^<]*)<', html))
    assert hooks == tot, (name, "html", hooks, tot)
    for k, v in tot.items():
        assert summ.get(k) == v, (name, "csv", k, summ.get(k), v)
    print("statement: totals agree in", name)
PY
# the pages in a real browser (the checker of tests/browser, docs/statements.md "Tests")
mkdir -p "$ART"
args=()
for n in member-en member-zh-CN enterprise-en enterprise-zh-CN; do
    args+=("$T/gold/$n/statement.html" "$T/gold/$n/statement.json" "$ART/statement-e2e-$n.png")
done
if "$BPY" "$SRC/tests/browser/check_statement_html.py" "${args[@]}" >"$T/out" 2>"$T/err"; then ok; else
    bad "check_statement_html.py"; cat "$T/out" "$T/err"
fi
[ -s "$ART/statement-e2e-enterprise-zh-CN.png" ] && ok || bad "no screenshot in $ART"
# the CSV folders with Python's csv module; the names with a comma, a quote and Chinese come back
printf '%s\n' '["张伟", "张伟 个人账户", "Acme, Ltd.", "Acme, Ltd. head office"]' >"$T/names-member.json"
printf '%s\n' '["张伟", "Smith, Pat \"PJ\"", "Li Na", "Acme, Ltd.", "张伟 个人账户"]' >"$T/names-enterprise.json"
for kind in member enterprise; do
    for lang in en zh-CN; do
        if "$BPY" "$SRC/tests/browser/check_statement_csv.py" "$T/gold/$kind-$lang/csv" $lang $kind \
            "$T/names-$kind.json" >"$T/out" 2>"$T/err"; then ok; else
            bad "check_statement_csv.py $kind $lang"; cat "$T/out" "$T/err"
        fi
    done
done

# ---- 3. the cheaper-plan hints ------------------------------------------------------------------
# Candidates: the CNY plans that rate every record of the line (cn-iot-data has no voice, de-comfort
# charges EUR), costs before discounts and tax (docs/statements.md "Cheaper-plan hint").
# 张伟: cn-enterprise 58.00 + 21.44 + 0.20 + 0.59 = 80.23; cn-payg: six weekend calls of 180 min
#   at 0.08 + 0.10 connect = 6 x 14.50 = 87.00 alone, with data 500 MB and 300 MB at 0.29/MB capped
#   at 60.00 each, 227.03 in all; cn-personal-128: 128.00 + 580 min x 0.10 = 186.00 at least:
#   keep (3 candidates).
# Smith: cn-enterprise 58.00 + 2 SMS 0.20 = 58.20 (his 270 s are in the bundle); cn-payg v2 (the
#   peak price 0.12 from July): 60 s peak 0.10 + 0.12 = 0.22, 120 s at 19:00 (peak) 0.10 + 0.24 =
#   0.34, 90 s peak 0.10 + 0.18 = 0.28, SMS 0.20: 1.04: cheaper, cn-payg, saving 57.16.
# Li Na (no records): every CNY plan rates her no records (4 candidates, cn-iot-data too):
#   cn-payg 0.00 against 58.00: cheaper, saving 58.00.
# Chen Jing: cn-payg 23.92 (above); cn-enterprise and cn-personal-128 cost their fee at least:
#   keep (3 candidates: cn-iot-data has no voice).
$PY - "$T/gold/enterprise-en/statement.json" "$T/cj.json" <<'PY' && ok || bad "the cheaper-plan hints"
import json, sys
h = {x["subscriber"]: x for x in json.load(open(sys.argv[1]))["overflow"]["hints"]}
h.update({x["subscriber"]: x for x in json.load(open(sys.argv[2]))["overflow"]["hints"]})
want = {5001: ("keep", 3, "cn-enterprise", "80.23", "", "0.00", "0.00"),
        5002: ("cheaper", 3, "cn-enterprise", "58.20", "cn-payg", "1.04", "57.16"),
        5003: ("cheaper", 4, "cn-enterprise", "58.00", "cn-payg", "0.00", "58.00"),
        6001: ("keep", 3, "cn-payg", "23.92", "", "0.00", "0.00")}
for sub, w in want.items():
    x = h[sub]
    got = (x["state"], x["candidates"], x["current"], x["current_cost"], x["best"], x["best_cost"], x["saving"])
    assert got == w, (sub, got, w)
e = json.load(open(sys.argv[1]))
assert (e["overflow"]["hint_lines"], e["overflow"]["hint_savings"]) == (2, "115.16"), e["overflow"]
PY
expect_rc 0 "--no-hint" "$CDRATE" statement --msisdn $PJ "${S[@]}" --format json --out - --no-hint --quiet
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["overflow"]["hints"] == [] else 1)' "$T/out" &&
    ok || bad "--no-hint still has hints"

# ---- 4. export and verify -----------------------------------------------------------------------
expect_rc 0 "export the cycle" "$CDRATE" statement export "${S[@]}" --out "$T/exp"
expect_err "cdrate statement export: cycle $CYC: 1 enterprise statements, 4 member statements, 34 itemised lines in 8 files" "export summary"
X="$T/exp/$CYC"
for f in manifest.csv lines.csv statements.csv export.csv enterprises/7.json \
    enterprises/7.members.jsonl.zst enterprises/7.itemised.csv.zst members/$CJ.json \
    members/$CJ.itemised.csv.zst; do
    [ -f "$X/$f" ] && ok || bad "the export has no $f"
done
[ -z "$(find "$T/exp" -type f ! -perm 600)" ] && ok || bad "export files not 0600: $(find "$T/exp" -type f ! -perm 600 -printf '%m %p ')"
[ -z "$(find "$T/exp" -type d ! -perm 700)" ] && ok || bad "export folders not 0700: $(find "$T/exp" -type d ! -perm 700 -printf '%m %p ')"
expect_rc 0 "export --group-readable" "$CDRATE" statement export "${S[@]}" --out "$T/expg" --group-readable --quiet
[ -z "$(find "$T/expg" -type f ! -perm 640)" ] && [ -z "$(find "$T/expg" -type d ! -perm 750)" ] && ok ||
    bad "--group-readable: $(find "$T/expg" -printf '%m %p ')"
grep -qx "enterprise:7,5001,$ZW,15,22.230000,60.00,12.21,5.40,1.08" "$X/lines.csv" && ok || bad "lines.csv: 张伟's row: $(cat "$X/lines.csv")"
# the exported statements are the statement command's (not itemised, en): the individual's file
# byte for byte, the enterprise's, and its members' (one JSON object a line, by subscriber id)
"$CDRATE" statement --msisdn $CJ "${S[@]}" --format json --out "$T/cj-plain.json" --quiet
cmp -s "$T/cj-plain.json" "$X/members/$CJ.json" && ok || bad "the exported statement of $CJ differs from \`statement\`'s"
"$CDRATE" statement --enterprise 7 "${S[@]}" --format json --out "$T/e-plain.json" --quiet
cmp -s "$T/e-plain.json" "$X/enterprises/7.json" && ok || bad "the exported enterprise statement differs from \`statement\`'s"
for m in $ZW $PJ $LN; do
    "$CDRATE" statement --msisdn $m "${S[@]}" --format json --out "$T/m-$m.json" --quiet
done
zstd -dcq "$X/enterprises/7.members.jsonl.zst" >"$T/members.jsonl" 2>/dev/null
$PY - "$T/members.jsonl" "$T/m-$ZW.json" "$T/m-$PJ.json" "$T/m-$LN.json" <<'PY' && ok || bad "enterprises/7.members.jsonl.zst: not the members' statements"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
want = [json.load(open(p, encoding="utf-8")) for p in sys.argv[2:]]
assert len(rows) == 3, len(rows)
for r, w in zip(rows, want):
    assert r == w, (w["line"]["msisdn"], [k for k in w if r.get(k) != w[k]])
PY
zstd -dcq "$X/enterprises/7.itemised.csv.zst" >"$T/items.csv" 2>/dev/null &&
    [ "$(tail -n +2 "$T/items.csv" | wc -l)" = 22 ] && ok || bad "enterprises/7.itemised.csv.zst: not 22 rows"
expect_rc 0 "verify the export" "$CDRATE" statement verify "$X"
expect_err "cdrate statement verify: $X: 8 files, 34 itemised lines: verified, 0 differences" "verified"
expect_rc 0 "verify --json" "$CDRATE" statement verify "$X" --json
expect_out '{"differences":[],"files":8,"items":34,"count":0,"verified":true}' "verify --json"

# a damaged byte in the enterprise's itemised file: found by its SHA-256 and by zstd's checksum
cp -a "$X" "$T/v1"
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2] ^= 1; open(p,"wb").write(b)' \
    "$T/v1/enterprises/7.itemised.csv.zst"
expect_rc 1 "verify a damaged itemised file" "$CDRATE" statement verify "$T/v1"
expect_out "enterprises/7.itemised.csv.zst: SHA-256 " "the damaged file is named"
expect_out "the file was changed or damaged" "the damage is said"
expect_err "differences" "the count of differences"
# a file that is not in the manifest
cp -a "$X" "$T/v2"
echo "a note" >"$T/v2/members/notes.txt"
expect_rc 1 "verify with a file added" "$CDRATE" statement verify "$T/v2"
expect_out "members/notes.txt: not in the manifest" "the added file"
[ "$(wc -l <"$T/out")" = 1 ] && ok || bad "an added file should be the only difference: $(cat "$T/out")"
# a figure of lines.csv changed: 张伟's enterprise share 60.00 -> 61.00
cp -a "$X" "$T/v3"
sed -i "s/^enterprise:7,5001,$ZW,15,22.230000,60.00,/enterprise:7,5001,$ZW,15,22.230000,61.00,/" "$T/v3/lines.csv"
expect_rc 1 "verify a changed lines.csv" "$CDRATE" statement verify "$T/v3"
expect_out "lines.csv: SHA-256 " "lines.csv named"
expect_out "msisdn $ZW: enterprise share 61.00 in lines.csv, 60.00 on the invoices" "against the invoices"
# the members' shares (165.40 with the change) against statements.csv (164.40)
expect_out "enterprise:7: the lines' shares add up to 165.40 + 12.39, statements.csv says 164.40 + 12.39" "against statements.csv"
# another bills folder: verify compares with it
expect_rc 0 "verify --bills" "$CDRATE" statement verify "$X" --bills "$T/bills" --quiet

# a run killed with SIGKILL while the hook holds it half-written, over a published export: the
# published one stays whole; the next run starts over and gives the same bytes
CDR_STMT_EXPORT_HOLD_MS=60000 "$CDRATE" statement export "${S[@]}" --out "$T/exp" --quiet \
    2>"$T/hold.err" </dev/null &
HOLD=$!
for _ in $(seq 1 600); do # up to 60 s for the hook's line
    grep -q "test hook: holding a half-written export" "$T/hold.err" 2>/dev/null && break
    sleep 0.1
done
grep -q "cdrate statement export: test hook: holding a half-written export" "$T/hold.err" && ok ||
    bad "the hook never held: $(cat "$T/hold.err")"
[ -d "$T/exp/.$CYC.partial" ] && ok || bad "no partial folder while held: $(ls -A "$T/exp")"
expect_rc 4 "a second export of the cycle meanwhile" "$CDRATE" statement export "${S[@]}" --out "$T/exp"
expect_err "cdrate statement export: $T/exp/.$CYC.lock: another export of cycle $CYC into $T/exp is running" "one export at a time"
kill -9 "$HOLD"
wait "$HOLD" 2>/dev/null
expect_rc 0 "the published export after the kill" "$CDRATE" statement verify "$X"
expect_err "verified, 0 differences" "the published export is whole"
cp -a "$X" "$T/first"
expect_rc 0 "export after the kill" "$CDRATE" statement export "${S[@]}" --out "$T/exp" --quiet
diff -r "$T/first" "$X" >/dev/null && ok || bad "the export after the kill differs from the first"
[ ! -e "$T/exp/.$CYC.partial" ] && [ ! -e "$T/exp/.$CYC.old" ] && ok || bad "left over: $(ls -A "$T/exp")"
expect_rc 0 "verify after the kill" "$CDRATE" statement verify "$X"
# a killed first export: nothing published; the next one publishes the same bytes
CDR_STMT_EXPORT_HOLD_MS=60000 "$CDRATE" statement export "${S[@]}" --out "$T/exp2" --quiet \
    2>"$T/hold2.err" </dev/null &
HOLD=$!
for _ in $(seq 1 600); do
    grep -q "test hook: holding a half-written export" "$T/hold2.err" 2>/dev/null && break
    sleep 0.1
done
kill -9 "$HOLD"
wait "$HOLD" 2>/dev/null
[ -d "$T/exp2/.$CYC.partial" ] && [ ! -e "$T/exp2/$CYC" ] && ok || bad "a killed first export: $(ls -A "$T/exp2")"
expect_rc 0 "export after a killed first export" "$CDRATE" statement export "${S[@]}" --out "$T/exp2" --quiet
diff -r "$T/first" "$T/exp2/$CYC" >/dev/null && ok || bad "the export after a killed first one differs"
[ ! -e "$T/exp2/.$CYC.partial" ] && ok || bad "the partial folder remains: $(ls -A "$T/exp2")"

# ---- 5. bad input: the exact error, the exit code, nothing written ------------------------------
nothing() { # nothing PATH DESCRIPTION: the refused command wrote nothing there
    if [ -e "$1" ]; then bad "$2: wrote $1"; else ok; fi
}
expect_rc 6 "an unknown msisdn" "$CDRATE" statement --msisdn 8613899999999 "${S[@]}" --format json --out "$T/x1.json"
expect_err "cdrate statement: msisdn 8613899999999 is not in the directory" "unknown msisdn"
nothing "$T/x1.json" "an unknown msisdn"
expect_rc 6 "an unknown enterprise" "$CDRATE" statement --enterprise 99 "${S[@]}" --format csv --out "$T/x2"
expect_err "cdrate statement: enterprise 99 is not in the directory" "unknown enterprise"
nothing "$T/x2" "an unknown enterprise"
expect_rc 7 "a cycle not billed" "$CDRATE" statement --msisdn $ZW --cycle 2026-10 --bills "$T/bills" \
    --ledger "$T/ledger" --store "$T/store" --format html --out "$T/x3.html"
expect_err "cdrate statement: cycle 2026-10 is not billed: no $T/bills/2026-10/invoices.csv" "not billed"
nothing "$T/x3.html" "a cycle not billed"
expect_rc 7 "export of a cycle not billed" "$CDRATE" statement export --cycle 2026-10 --bills "$T/bills" \
    --ledger "$T/ledger" --store "$T/store" --out "$T/x4"
expect_err "cdrate statement export: cycle 2026-10 is not billed: no $T/bills/2026-10/invoices.csv" "export: not billed"
nothing "$T/x4/2026-10" "export of a cycle not billed"
# a line the directory has now but the bill run did not bill
cp -r "$T/store" "$T/store2"
{ cat "$D/acme.dir"; echo "subscriber id=6002 account=2001 msisdn=8613900000202 plan=cn-payg active_from=2026-12-01T00:00:00+08:00"; } >"$T/more.dir"
"$CDRATE" directory load "$T/more.dir" --store "$T/store2" --quiet
expect_rc 7 "a line not billed" "$CDRATE" statement --msisdn 8613900000202 --cycle $CYC --bills "$T/bills" \
    --ledger "$T/ledger" --store "$T/store2" --format json --out "$T/x5.json"
expect_err "cdrate statement: msisdn 8613900000202 was not billed in cycle $CYC (no invoice line in $T/bills/$CYC)" "line not billed"
nothing "$T/x5.json" "a line not billed"
# an output that cannot be written, even by root: a path under a regular file
: >"$T/afile"
expect_rc 1 "json under a file" "$CDRATE" statement --msisdn $ZW "${S[@]}" --format json --out "$T/afile/x.json"
expect_err "cdrate statement: $T/afile/x.json: cannot write: Not a directory" "json not writable"
expect_rc 1 "csv under a file" "$CDRATE" statement --enterprise 7 "${S[@]}" --format csv --out "$T/afile/x"
expect_err "cdrate statement: $T/afile/x: cannot create: Not a directory" "csv not writable"
expect_rc 1 "html under a file" "$CDRATE" statement --msisdn $ZW "${S[@]}" --format html --out "$T/afile/x.html"
expect_err "cdrate statement: $T/afile/x.html: cannot write: Not a directory" "html not writable"
expect_rc 1 "export under a file" "$CDRATE" statement export "${S[@]}" --out "$T/afile/x"
expect_err "cdrate statement export: $T/afile/x: cannot create: Not a directory" "export not writable"
[ ! -s "$T/afile" ] && ok || bad "something was written into afile"
# the command line
expect_rc 2 "no --format" "$CDRATE" statement --msisdn $ZW "${S[@]}" --out "$T/x6.json"
expect_err "cdrate statement: --cycle, --bills, --ledger, --store, --format and --out are required" "no --format"
expect_err "usage: cdrate statement (--msisdn N | --enterprise ID)" "the usage"
nothing "$T/x6.json" "no --format"
expect_rc 2 "an unknown --format" "$CDRATE" statement --msisdn $ZW "${S[@]}" --format pdf --out "$T/x7.pdf"
expect_err "cdrate statement: --format: unknown value 'pdf'" "unknown format"
nothing "$T/x7.pdf" "an unknown --format"
expect_rc 2 "both --msisdn and --enterprise" "$CDRATE" statement --msisdn $ZW --enterprise 7 "${S[@]}" \
    --format json --out "$T/x8.json"
expect_err "cdrate statement: give one of --msisdn or --enterprise" "two selectors"
nothing "$T/x8.json" "both selectors"
expect_rc 2 "neither --msisdn nor --enterprise" "$CDRATE" statement "${S[@]}" --format json --out "$T/x9.json"
expect_err "cdrate statement: give one of --msisdn or --enterprise" "no selector"
nothing "$T/x9.json" "no selector"
# --format csv writes a folder: standard output is refused, and no folder named - appears
CDRATE_ABS=$(readlink -f "$CDRATE")
pushd "$T" >/dev/null || exit 1
expect_rc 2 "csv to standard output" "$CDRATE_ABS" statement --msisdn $ZW "${S[@]}" --format csv --out -
popd >/dev/null || exit 1
expect_err "cdrate statement: --format csv writes a folder: --out must name one, not -" "csv to -"
nothing "$T/-" "csv to standard output"
# verify on folders that are not exports
expect_rc 4 "verify the bill run's folder" "$CDRATE" statement verify "$T/bills/$CYC"
expect_err "cdrate statement verify: $T/bills/$CYC/manifest.csv: missing: not an export folder (cdrate statement export)" "not an export"
[ ! -s "$T/out" ] && ok || bad "verify of a non-export printed differences: $(cat "$T/out")"
mkdir "$T/empty"
expect_rc 4 "verify an empty folder" "$CDRATE" statement verify "$T/empty"
expect_err "missing: not an export folder" "an empty folder"
[ -z "$(ls -A "$T/empty")" ] && ok || bad "verify wrote into the folder"
# a malformed invoices.csv in the bills: refused with file:line:column, nothing written
cp -r "$T/bills" "$T/badbills"
sed -i '2s/,159\.40,14\.80,/,159.4x,14.80,/' "$T/badbills/$CYC/invoices.csv"
BB=(--cycle $CYC --bills "$T/badbills" --ledger "$T/ledger" --store "$T/store")
msg="$T/badbills/$CYC/invoices.csv:2:82: amount, tax, total: not amounts with amount + tax = total"
expect_rc 4 "a malformed invoices.csv (statement)" "$CDRATE" statement --msisdn $ZW "${BB[@]}" --format json --out "$T/x10.json"
expect_err "cdrate statement: $msg" "malformed invoices.csv"
nothing "$T/x10.json" "a malformed invoices.csv"
expect_rc 4 "a malformed invoices.csv (enterprise csv)" "$CDRATE" statement --enterprise 7 "${BB[@]}" --format csv --out "$T/x11"
expect_err "cdrate statement: $msg" "malformed invoices.csv (enterprise)"
nothing "$T/x11" "a malformed invoices.csv (enterprise csv)"
expect_rc 4 "a malformed invoices.csv (export)" "$CDRATE" statement export "${BB[@]}" --out "$T/x12"
expect_err "cdrate statement export: $msg" "malformed invoices.csv (export)"
nothing "$T/x12" "a malformed invoices.csv (export)"
expect_rc 1 "verify against a malformed invoices.csv" "$CDRATE" statement verify "$X" --bills "$T/badbills"
expect_out "the invoices cannot be compared: $T/badbills/$CYC/invoices.csv" "verify names the bills' file"
expect_rc 0 "--help" "$CDRATE" statement --help
expect_out "usage: cdrate statement (--msisdn N | --enterprise ID)" "--help"

cli_done statement
