#!/usr/bin/env bash
# The exit-code table of docs/operations.md ("Conventions"), command by command: every command
# meets the same kinds of mistakes and must give the documented code, and with --json the
# documented error object. Usage: exitcodes_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

json_err() { # json_err CODE DESCRIPTION: every stderr line is a JSON error object, one has CODE
  if python3 - "$1" "$T/err" <<'PY'
import json, sys
want, path = sys.argv[1], sys.argv[2]
lines = [l for l in open(path, encoding="utf-8") if l.strip()]
objs = [json.loads(l) for l in lines]
assert objs, "no error on stderr"
for o in objs:
    assert set(o) == {"error"}, o
    e = o["error"]
    assert isinstance(e["code"], str) and e["code"].startswith("CDR_"), e
    assert isinstance(e["message"], str) and e["message"], e
    for k in ("line", "column"):
        assert k not in e or (isinstance(e[k], int) and e[k] > 0), e
assert any(o["error"]["code"] == want for o in objs), [o["error"]["code"] for o in objs]
PY
  then ok; else bad "$2: stderr is not JSON errors with $1"; cat "$T/err"; fi
}

# a store, a directory, one good and one malformed CSV file
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet || bad "compile"
"$CDRATE" directory load "$SRC/billing/samples/demo.dir" --store "$T/s" --quiet || bad "load"
MSISDN=$(grep -o 'msisdn=[0-9]*' "$SRC/billing/samples/demo.dir" | head -1 | cut -d= -f2)
echo "MSC1,1,voice,mo,$MSISDN,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16," > "$T/good.csv"
{ cat "$T/good.csv"
  echo "MSC1,2,voice,mo,$MSISDN,,8613912345678,2026-02-30T10:00:00+08:00,61,0,0,,,,16,"; } > "$T/bad.csv"
NOSTORE="$T/no-such-store"

# 0: --help (with the exit codes) and --version on every command and verb
while read -r c; do
  # shellcheck disable=SC2086
  expect_rc 0 "$c --help" "$CDRATE" $c --help
  expect_out "exit codes" "$c --help lists the exit codes"
  # shellcheck disable=SC2086
  expect_rc 0 "$c --version" "$CDRATE" $c --version
  expect_out "cdrate 0.1.0" "$c --version"
  # 2: a bad flag, as text with the usage, and as a JSON error with --json
  # shellcheck disable=SC2086
  expect_rc 2 "$c bad flag" "$CDRATE" $c --no-such-flag
  expect_err "usage: cdrate" "$c bad flag usage"
done <<'CMDS'
plans compile
plans list
plans show
directory load
directory show
cat
decode
rate
gen
bench rate
collect
rate-stream
archive
ledger cat
ledger totals
suspense list
suspense replay
counters
counters reset
pipeline
query
project
statement
statement export
statement verify
users
users add
users passwd
users disable
users enable
users list
users key-add
users key-revoke
users key-list
serve
bench serve
requests list
requests show
requests apply
CMDS
expect_rc 0 "cdrate --version" "$CDRATE" --version
expect_rc 0 "cdrate --help" "$CDRATE" --help
expect_out "--version" "top-level usage lists --version"
expect_rc 2 "rate bad flag --json" "$CDRATE" rate --json --no-such-flag
json_err CDR_USAGE "rate bad flag --json"

# 4: a --store path that holds no store, for every command that reads one; nothing created
for c in "plans list" "plans show cn-payg" "directory show --msisdn $MSISDN" "counters" \
         "query balance --msisdn $MSISDN" "query owner --msisdn $MSISDN" \
         "rate --in $T/good.csv --out $T/o.csv" "rate --in $T/good.csv --dry-run" \
         "ledger totals --ledger $T/nol" "pipeline --input csv:$T/sp --ledger $T/pl" \
         "users add bob --role operator" "users passwd bob" "users disable bob" "users list" \
         "users key-add k --scope ivr" "users key-revoke k" "users key-list" \
         "serve --listen 127.0.0.1:0" "requests list"; do
  verb=${c%% -*}
  # shellcheck disable=SC2086
  expect_rc 4 "$verb: no store" "$CDRATE" $c --store "$NOSTORE"
  expect_err "no cdrate store at $NOSTORE" "$verb: no store message"
  [ ! -e "$NOSTORE" ] && ok || { bad "$verb created $NOSTORE"; rm -rf "$NOSTORE"; }
  # shellcheck disable=SC2086
  expect_rc 4 "$verb: no store --json" "$CDRATE" $c --store "$NOSTORE" --json
  json_err CDR_NOTFOUND "$verb: no store --json"
done
expect_rc 4 "rate-stream: no store" "$CDRATE" rate-stream --brokers 127.0.0.1:9 --group g --store "$NOSTORE"
expect_err "no cdrate store at $NOSTORE" "rate-stream no store"
expect_rc 4 "collect: no rating store" "$CDRATE" collect --spool "$T/sp" --format csv --brokers embedded --once --rating-store "$NOSTORE"
expect_err "no cdrate store at $NOSTORE" "collect no rating store"
expect_rc 4 "suspense replay: no rating store" "$CDRATE" suspense replay --brokers 127.0.0.1:9 --rating-store "$NOSTORE"
expect_err "no cdrate store at $NOSTORE" "suspense replay no rating store"
[ ! -e "$NOSTORE" ] && ok || bad "a command created $NOSTORE"

# 4: an invalid plan file, an invalid directory file: refused, nothing changed
mkdir "$T/badplans"
printf 'plan: broken\nversion: 1\nbogus_key: 1\n' > "$T/badplans/b.yaml"
expect_rc 4 "plans compile: invalid plan" "$CDRATE" plans compile "$T/badplans" --store "$T/s"
expect_err "b.yaml:3:1:" "invalid plan position"
expect_rc 4 "plans compile: invalid plan --json" "$CDRATE" plans compile "$T/badplans" --store "$T/s" --json
json_err CDR_FORMAT "invalid plan --json"
printf 'directory version=1\ncustomer id=1 type=person name=X credit_class=NOPE\n' > "$T/bad.dir"
expect_rc 4 "directory load: invalid file" "$CDRATE" directory load "$T/bad.dir" --store "$T/s"
expect_err "bad.dir:2:" "invalid directory position"

# 3: a malformed record: reported with its position, the good records still processed
pos="$T/bad.csv:2:"
expect_rc 3 "rate: malformed record" "$CDRATE" rate --store "$T/s" --in "$T/bad.csv" --out "$T/r.csv"
expect_err "$pos" "rate malformed position"
[ "$(wc -l < "$T/r.csv")" -eq 2 ] && ok || bad "rate: the good record of bad.csv is missing"
expect_rc 3 "cat: malformed record" "$CDRATE" cat "$T/bad.csv"
expect_err "$pos" "cat malformed position"
[ "$(wc -l < "$T/out")" -eq 1 ] && ok || bad "cat: the good record is missing"
expect_rc 3 "cat: malformed record --json" "$CDRATE" cat --json "$T/bad.csv"
json_err CDR_RANGE "cat malformed --json"
expect_rc 3 "decode: malformed record" "$CDRATE" decode --format csv "$T/bad.csv"
expect_err "$pos" "decode malformed position"
mkdir -p "$T/spool" "$T/pspool"
cp "$T/bad.csv" "$T/spool/a.csv"
expect_rc 3 "collect: malformed record" "$CDRATE" collect --spool "$T/spool" --format csv --brokers embedded --once --settle 0 --quiet
cp "$T/bad.csv" "$T/pspool/a.csv"
expect_rc 3 "pipeline: malformed record" "$CDRATE" pipeline --input "csv:$T/pspool" --store "$T/s" --ledger "$T/pl" --settle 0 --quiet --idle-exit 300
expect_rc 3 "rate: malformed record --json" "$CDRATE" rate --store "$T/s" --in "$T/bad.csv" --out "$T/r2.csv" --json --again
json_err CDR_RANGE "rate malformed --json"

# 1: an input that cannot be read
expect_rc 1 "rate: missing input" "$CDRATE" rate --store "$T/s" --in "$T/missing.csv" --out "$T/r3.csv"
expect_err "missing.csv: cannot open" "rate missing input"
expect_rc 1 "cat: missing input" "$CDRATE" cat "$T/missing.csv"
expect_err "missing.csv: cannot open" "cat missing input"
expect_rc 1 "decode: missing input" "$CDRATE" decode --format csv "$T/missing.csv"
expect_rc 1 "cat: missing input --json" "$CDRATE" cat --json "$T/missing.csv"
json_err CDR_EIO "cat missing --json"

# 4 and 5: rate's own refusals
expect_rc 4 "rate: content rated before" "$CDRATE" rate --store "$T/s" --in "$T/bad.csv" --out "$T/r4.csv"
expect_err "this content was already rated into $T/s" "rate repeated content"
expect_rc 4 "rate: content rated before --json" "$CDRATE" rate --store "$T/s" --in "$T/bad.csv" --out "$T/r4.csv" --json
json_err CDR_EXISTS "rate repeated --json"
echo "MSC1,9,voice,mo,8617000000000,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16," > "$T/unknown.csv"
expect_rc 5 "rate: nothing ratable" "$CDRATE" rate --store "$T/s" --in "$T/unknown.csv" --out "$T/r5.csv"
expect_err "no record could be rated (1 unratable): nothing saved" "rate nothing ratable"

# 6: query about a number the directory does not hold
expect_rc 6 "query: unknown msisdn" "$CDRATE" query balance --msisdn 8617000000000 --store "$T/s"
expect_err "msisdn 8617000000000 is not in the directory" "query unknown msisdn"
expect_rc 6 "query: unknown msisdn --json" "$CDRATE" query usage --msisdn 8617000000000 --store "$T/s" --json
json_err CDR_NOTFOUND "query unknown msisdn --json"
expect_rc 0 "query: a known msisdn" "$CDRATE" query bill-to-date --msisdn "$MSISDN" --store "$T/s"

# users: 2 a bad login or role, 4 a bad password, 6 an unknown login, msisdn or enterprise
expect_rc 2 "users add: unknown role" "$CDRATE" users add bob --role admin --store "$T/s"
expect_rc 2 "users add: bad login --json" "$CDRATE" users add "b b" --role operator --store "$T/s" --json
json_err CDR_USAGE "users add bad login --json"
echo short > "$T/shortpw"
expect_rc 4 "users add: short password --json" "$CDRATE" users add bob --role operator --store "$T/s" --password-file "$T/shortpw" --json
json_err CDR_EINVAL "users add short password --json"
expect_rc 6 "users add: unknown msisdn --json" "$CDRATE" users add bob --role member --msisdn 8617000000000 --store "$T/s" --password-file "$T/shortpw" --json
json_err CDR_NOTFOUND "users add unknown msisdn --json"
expect_rc 6 "users passwd: unknown login --json" "$CDRATE" users passwd bob --store "$T/s" --json
json_err CDR_NOTFOUND "users passwd unknown --json"

cli_done exitcodes
