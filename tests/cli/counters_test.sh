#!/usr/bin/env bash
# `cdrate counters` after `cdrate rate`: holders by MSISDN or enterprise, bundles by name, human
# units; the raw form; `cdrate counters reset` (confirmation, filters, one cycle), and that after a
# reset the same CDRs spend the bundles as the first run did. Usage: counters_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

json_ok() { # json_ok FILE PYTHON-EXPR DESCRIPTION: EXPR holds for the JSON lines of FILE (list l)
  if python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; then
    ok
  else
    bad "$3: $2 on $(head -c 800 "$1")"
  fi
}
raw() { "$CDRATE" counters --store "$T/s" --raw --quiet; }

expect_rc 0 "compile sample plans" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
expect_rc 0 "load the sample directory" "$CDRATE" directory load "$SRC/billing/samples/demo.dir" --store "$T/s" --quiet
expect_rc 0 "a store never rated" "$CDRATE" counters --store "$T/s"
[ ! -s "$T/out" ] && ok || bad "counters of a store never rated: $(cat "$T/out")"
expect_err "cdrate counters: 0 counters (0 at 0 not printed) in $T/s" "empty summary"

# Guo Pei (cn-personal-128: minutes500, data10g) calls 300 minutes, then 121 minutes, and uses
# data; Wang Fang (cn-enterprise, member of enterprise 1) draws on the enterprise's data pool.
cat >"$T/cdrs.csv" <<'CSV'
MSC1,1,voice,mo,8613800000022,,8613912345678,2026-11-02T10:00:00+08:00,18000,0,0,,,,16,
MSC1,2,voice,mo,8613800000022,,8613912345678,2026-11-03T10:00:00+08:00,7230,0,0,,,,16,
MSC1,3,data,mo,8613800000022,,,2026-11-02T11:00:00+08:00,600,1000000,288490189,,,,16,
MSC1,4,data,mo,8613800000002,,,2026-11-03T11:00:00+08:00,600,1048576,0,,,,16,
MSC1,5,voice,mo,8613800000002,,8613912345678,2026-11-03T12:00:00+08:00,95,0,0,,,,16,
MSC1,6,sms,mo,8613800000002,,8613912345678,2026-11-03T12:00:00+08:00,0,0,0,,,,16,
MSC1,7,voice,mo,8613800000022,,8613912345678,2026-12-01T10:00:00+08:00,60,0,0,,,,16,
CSV
expect_rc 0 "rate" "$CDRATE" rate --store "$T/s" --in "$T/cdrs.csv" --out "$T/r1.csv" --quiet

# ---- named: holders, bundles, human units
expect_rc 0 "counters by name" "$CDRATE" counters --store "$T/s"
cp "$T/out" "$T/named.txt"
expect_out "HOLDER                     CYCLE   BUNDLE                         USED" "header"
expect_out "msisdn 8613800000022       202611  minutes500                     421min" "own voice bundle in minutes"
expect_out "msisdn 8613800000022       202611  data10g                        276.1MB" "own data bundle in MB"
expect_out "msisdn 8613800000022       202612  minutes500                     1min" "next cycle apart"
expect_out "enterprise 1               202611  data pool                      1MB" "enterprise pool by id"
expect_out "msisdn 8613800000002       202611  data pool (member's draw)      1MB" "member's draw"
expect_out "msisdn 8613800000002       202611  minutes1000                    1min 36s" "minutes and seconds"
[ "$(wc -l <"$T/out")" -eq 7 ] && ok || bad "want a header and 6 counters: $(cat "$T/out")"
expect_err "cdrate counters: 6 counters (0 at 0 not printed) in $T/s" "named summary"
grep -q "[0-9a-f]\{16\}" "$T/out" && bad "a raw tag in the named form" || ok

# ---- raw: the sorted form integration tests diff
expect_rc 0 "counters --raw" "$CDRATE" counters --store "$T/s" --raw
cp "$T/out" "$T/raw.txt"
[ "$(wc -l <"$T/raw.txt")" -eq 6 ] && ok || bad "raw lines: $(cat "$T/raw.txt")"
grep -qvE '^[0-9]+ [0-9]{6} [0-9a-f]{16} [1-9][0-9]* [0-9]+$' "$T/raw.txt" && bad "a raw line is malformed" || ok
LC_ALL=C sort -c -k1,1n -k2,2n -k3,3 "$T/raw.txt" && ok || bad "raw lines not sorted"
grep -qx "1 202611 8000000000000003 1048576 9223372036854775809" "$T/raw.txt" && ok || bad "pool raw line"
grep -qx "40001 202611 [0-9a-f]\{16\} 25260 2001" "$T/raw.txt" && ok || bad "minutes500 raw line (25260 s)"
expect_rc 0 "counters --raw --json" "$CDRATE" counters --store "$T/s" --raw --json --quiet
sed 's/{"holder":\([0-9]*\),"cycle":\([0-9]*\),"tag":"\([0-9a-f]*\)","used":\([0-9]*\),"owner":\([0-9]*\)}/\1 \2 \3 \4 \5/' \
  "$T/out" >"$T/rawj.txt"
cmp -s "$T/raw.txt" "$T/rawj.txt" && ok || bad "--raw --json differs from --raw"

# ---- --json: ids and names
expect_rc 0 "counters --json" "$CDRATE" counters --store "$T/s" --json --quiet
json_ok "$T/out" "len(l) == 6 and {'holder': 40001, 'cycle': 202611, 'used': 25260, 'owner': 2001, 'kind': 'own', 'msisdn': '8613800000022', 'enterprise': None, 'bundle': 'minutes500', 'service': 'voice', 'used_text': '421min', 'holder_text': 'msisdn 8613800000022', 'bundle_text': 'minutes500'}.items() <= [c for c in l if c['bundle'] == 'minutes500' and c['cycle'] == 202611][0].items()" "own counter JSON"
json_ok "$T/out" "[c for c in l if c['kind'] == 'pool'] == [{'holder': 1, 'cycle': 202611, 'tag': '8000000000000003', 'used': 1048576, 'owner': 9223372036854775809, 'kind': 'pool', 'msisdn': None, 'enterprise': 1, 'bundle': None, 'service': 'data', 'used_text': '1MB', 'holder_text': 'enterprise 1', 'bundle_text': 'data pool'}]" "pool counter JSON"
json_ok "$T/out" "[(c['holder'], c['cycle'], c['tag'], c['used'], c['owner']) for c in l] == [(int(a), int(b), t, int(u), int(o)) for a, b, t, u, o in (x.split() for x in open('$T/raw.txt'))]" "JSON ids equal the raw form"

# ---- command line
expect_rc 2 "counters without a source" "$CDRATE" counters
expect_err "give either --store or --brokers" "no source"
expect_rc 2 "--topic-prefix without --brokers" "$CDRATE" counters --store "$T/s" --topic-prefix p.
expect_rc 4 "counters on a mistyped store" "$CDRATE" counters --store "$T/sx"
expect_err "cdrate counters: no cdrate store at $T/sx" "mistyped store"
[ ! -e "$T/sx" ] && ok || bad "counters created the store"

# ---- reset: refused without a terminal or --yes; nothing deleted
expect_rc 4 "reset without --yes" "$CDRATE" counters reset --cycle 202611 --store "$T/s"
expect_err "cdrate counters: not confirmed (give --yes): reset 5 counters of cycle 202611 in $T/s?" "not confirmed"
raw >"$T/now.txt"
cmp -s "$T/now.txt" "$T/raw.txt" && ok || bad "an unconfirmed reset deleted counters"
expect_rc 4 "reset without --yes, --json" "$CDRATE" counters reset --cycle 202611 --store "$T/s" --json
expect_err '{"error":{"code":"CDR_EINVAL","message":"not confirmed (give --yes): reset 5 counters' "not confirmed as JSON"
expect_rc 2 "reset without --cycle" "$CDRATE" counters reset --store "$T/s" --yes
expect_err "--cycle is required" "cycle required"
expect_rc 2 "reset with a bad cycle" "$CDRATE" counters reset --cycle 202613 --store "$T/s" --yes
expect_err "--cycle must be YYYYMM (e.g. 202611), not '202613'" "bad cycle"
expect_rc 2 "reset with both filters" "$CDRATE" counters reset --cycle 202611 --msisdn 1 --enterprise 1 --store "$T/s" --yes
expect_rc 4 "reset an unknown msisdn" "$CDRATE" counters reset --cycle 202611 --msisdn 8613899999999 --store "$T/s" --yes
expect_err "msisdn 8613899999999 is not in the directory" "unknown msisdn"
expect_rc 4 "reset an unknown enterprise" "$CDRATE" counters reset --cycle 202611 --enterprise 9 --store "$T/s" --yes
expect_err "enterprise 9 is not in the directory" "unknown enterprise"
expect_rc 4 "reset on a mistyped store" "$CDRATE" counters reset --cycle 202611 --store "$T/sx" --yes
[ ! -e "$T/sx" ] && ok || bad "reset created the store"
raw >"$T/now.txt"
cmp -s "$T/now.txt" "$T/raw.txt" && ok || bad "a refused reset deleted counters"
expect_rc 0 "reset a cycle without counters" "$CDRATE" counters reset --cycle 202701 --store "$T/s"
expect_out "reset 0 counters of cycle 202701" "nothing to reset, nothing to confirm"
if command -v script >/dev/null; then # on a terminal: asks; "n" keeps everything
  printf 'n\n' | script -qec "'$CDRATE' counters reset --cycle 202611 --store '$T/s'" /dev/null >"$T/tty.txt" 2>&1
  grep -qF "reset 5 counters of cycle 202611 in $T/s? [y/N]" "$T/tty.txt" && ok || bad "no question on a terminal: $(cat "$T/tty.txt")"
  grep -qF "not confirmed: nothing reset" "$T/tty.txt" && ok || bad "'n' was not a refusal: $(cat "$T/tty.txt")"
  raw >"$T/now.txt"
  cmp -s "$T/now.txt" "$T/raw.txt" && ok || bad "answering n deleted counters"
fi

# ---- reset one line: its own bundles of the cycle, not the next cycle, not the others
expect_rc 0 "reset one line" "$CDRATE" counters reset --cycle 202611 --msisdn 8613800000022 --store "$T/s" --yes
expect_out "reset 2 counters of cycle 202611 of msisdn 8613800000022" "line reset count"
raw >"$T/now.txt"
grep -v "^40001 202611 " "$T/raw.txt" | cmp -s - "$T/now.txt" && ok || bad "line reset deleted other counters: $(diff "$T/raw.txt" "$T/now.txt")"
# ---- reset an enterprise: its pool and its members' counters
expect_rc 0 "reset an enterprise" "$CDRATE" counters reset --cycle 202611 --enterprise 1 --store "$T/s" --yes --json
expect_out '{"reset":3,"cycle":202611}' "enterprise reset count"
raw >"$T/now.txt"
[ "$(cat "$T/now.txt")" = "$(grep "^40001 202612 " "$T/raw.txt")" ] && ok || bad "after both resets: $(cat "$T/now.txt")"

# ---- a reset cycle spends the bundles again like the first run
expect_rc 0 "reset the rest" "$CDRATE" counters reset --cycle 202612 --store "$T/s" --yes
expect_out "reset 1 counters of cycle 202612" "cycle reset count"
[ -z "$(raw)" ] && ok || bad "counters left after the resets"
expect_rc 0 "rate the same CDRs again" "$CDRATE" rate --store "$T/s" --in "$T/cdrs.csv" --out "$T/r2.csv" --again --quiet
cmp -s "$T/r1.csv" "$T/r2.csv" && ok || bad "after a reset the rating differs: $(diff "$T/r1.csv" "$T/r2.csv" | head)"
raw >"$T/now.txt"
cmp -s "$T/now.txt" "$T/raw.txt" && ok || bad "after a reset the counters differ"
# without a reset the bundles are spent twice: the second call no longer fits minutes500
expect_rc 0 "rate once more without a reset" "$CDRATE" rate --store "$T/s" --in "$T/cdrs.csv" --out "$T/r3.csv" --again --quiet
cmp -s "$T/r1.csv" "$T/r3.csv" && bad "a third run without reset rated as the first" || ok

cli_done counters
