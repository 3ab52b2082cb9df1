#!/usr/bin/env bash
# End-to-end tests of the cdrate command: exit codes, --help, plans/directory/rate through the
# store, and that a failed load leaves the previous version active. Usage: cli_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

# --help everywhere, usage errors exit 2
for c in plans directory cat rate gen bench; do
  expect_rc 0 "$c --help" "$CDRATE" "$c" --help
  grep -q '^usage: cdrate' "$T/out" && ok || bad "$c --help prints no usage"
  expect_rc 2 "$c --no-such-flag" "$CDRATE" "$c" --no-such-flag
  expect_err "usage: cdrate" "$c bad flag prints usage"
done
expect_rc 2 "unknown command" "$CDRATE" frobnicate
expect_err "unknown command 'frobnicate'" "unknown command"
expect_rc 2 "bench --cdrs abc" "$CDRATE" bench rate --cdrs abc
expect_err "--cdrs must be a whole number, not 'abc'" "bench bad number"
expect_rc 2 "gen --format xml" "$CDRATE" gen --out "$T/x" --format xml
expect_err "--format: unknown value 'xml'" "gen bad choice"
expect_rc 2 "rate --threads 65" "$CDRATE" rate --store "$T/s" --in x --out y --threads 65
expect_err "--threads must be a whole number from 1 to 64, not '65'" "rate threads range"
expect_rc 2 "plans without --store" "$CDRATE" plans compile x
expect_err "--store is required" "plans store required"
expect_rc 2 "rate --threads 0" "$CDRATE" rate --store "$T/s" --in x --out y --threads 0

# plans: compile the samples, then a directory with a newer version and a broken file
expect_rc 0 "compile sample plans" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
mkdir "$T/plans2"
sed -e 's/^version: 1/version: 5/' -e 's/^effective_from: .*/effective_from: 2026-11-01T00:00:00+08:00/' \
    -e 's/price: 0.10, per: 1min/price: 9.99, per: 1min/' \
    "$SRC/rating-rules/plans/cn-personal-128.yaml" > "$T/plans2/a.yaml"
printf 'plan: broken\nversion: 1\nbogus_key: 1\n' > "$T/plans2/b.yaml"
expect_rc 4 "compile with a broken file" "$CDRATE" plans compile "$T/plans2" --store "$T/s"
expect_err "b.yaml:3:1:" "broken plan position"
expect_err "nothing stored" "broken plan keeps old"
"$CDRATE" plans list --store "$T/s" > "$T/list"
grep -q "cn-personal-128	version 5" "$T/list" && bad "version 5 stored despite the failure" || ok

# a store without a directory cannot rate; a missing directory file is refused
expect_rc 4 "rate without a directory" "$CDRATE" rate --store "$T/s" --in "$T/none.csv" --out "$T/none.out"
expect_err "no directory in the store (load a directory file first)" "rate without a directory"
expect_rc 1 "load a missing directory file" "$CDRATE" directory load "$T/nope.dir" --store "$T/s"
expect_err "nope.dir: cannot open directory file" "missing directory file"

# directory: the sample loads; a broken one is refused with line:column and changes nothing
expect_rc 0 "load sample directory" "$CDRATE" directory load "$SRC/billing/samples/demo.dir" --store "$T/s" --quiet
printf 'directory version=1\ncustomer id=1 type=person name=X credit_class=NOPE\n' > "$T/bad.dir"
expect_rc 4 "load broken directory" "$CDRATE" directory load "$T/bad.dir" --store "$T/s"
expect_err "bad.dir:2:" "broken directory position"

# rate one domestic call of a sample subscriber; then again after the failed loads: same bytes
MSISDN=$(grep -o 'msisdn=[0-9]*' "$SRC/billing/samples/demo.dir" | head -1 | cut -d= -f2)
{
  echo "MSC1,1,voice,mo,$MSISDN,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,"
  echo "MSC1,2,voice,mo,$MSISDN,,8613912345678,2026-02-30T10:00:00+08:00,61,0,0,,,,16,"
  echo "MSC1,3,voice,mo,8617000000000,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,"
} > "$T/cdrs.csv"
expect_rc 3 "rate with one malformed line" "$CDRATE" rate --store "$T/s" --in "$T/cdrs.csv" --out "$T/r1.csv"
prefix="MSC1,2,voice,mo,$MSISDN,,8613912345678,"
expect_err "cdrs.csv:2:$((${#prefix} + 1)): start is not a real date and time" "malformed CDR position"
expect_err "rejected (input) 1" "rejected count"
[ "$(wc -l < "$T/r1.csv")" -eq 3 ] && ok || bad "rated file should hold header + 2 records"
grep -q ",3,8617000000000,voice,mo,.*,unknown_subscriber," "$T/r1.csv" && ok || bad "unknown subscriber not marked"
grep -q "^MSC1,1,$MSISDN,voice,mo,.*,none,.*,202611," "$T/r1.csv" && ok || bad "record 1 not rated"
# the same input against a fresh store with the same loads gives the same bytes
expect_rc 0 "compile into a second store" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s2" --quiet
expect_rc 0 "load into a second store" "$CDRATE" directory load "$SRC/billing/samples/demo.dir" --store "$T/s2" --quiet
expect_rc 3 "rate against the second store" "$CDRATE" rate --store "$T/s2" --in "$T/cdrs.csv" --out "$T/r2.csv" --quiet
cmp -s "$T/r1.csv" "$T/r2.csv" && ok || bad "failed loads changed the rating"

# gen + cat: wire and CSV files of the same stream print the same JSON
expect_rc 0 "gen csv" "$CDRATE" gen --out "$T/g1" --subscribers 50 --cdrs 200 --quiet
expect_rc 0 "gen wire" "$CDRATE" gen --out "$T/g2" --subscribers 50 --cdrs 200 --format wire --quiet
"$CDRATE" cat "$T/g1/cdrs.csv" > "$T/j1" && "$CDRATE" cat "$T/g2/cdrs.cdrw" > "$T/j2"
cmp -s "$T/j1" "$T/j2" && [ "$(wc -l < "$T/j1")" -eq 200 ] && ok || bad "cat of csv and wire differ"
expect_rc 1 "cat a missing file" "$CDRATE" cat "$T/nope.csv"
expect_err "nope.csv: cannot open" "cat missing file message"

# switch spool files through the collector (embedded Kafka): accounting per file and in total
for fmt in asterisk 3gpp; do
  expect_rc 0 "gen $fmt spool" "$CDRATE" gen --out "$T/sw-$fmt" --subscribers 100 --cdrs 300 --format "$fmt" --quiet
  expect_rc 0 "collect $fmt" "$CDRATE" collect --spool "$T/sw-$fmt/spool" --format "$fmt" --brokers embedded --once --settle 0 --source "t-$fmt" --dedup-days 31
  ext=csv; [ "$fmt" = 3gpp ] && ext=dat
  expect_err "cdrs-00001.$ext: read 300, published 300, rejected 0, duplicate 0, nonbillable 0" "collect $fmt accounting"
  [ -z "$(ls "$T/sw-$fmt/spool" | grep -v -e '^done$' -e '^failed$')" ] && ok || bad "collect $fmt left files in the spool"
done
"$CDRATE" bench collect --format freeswitch --records 2000 --json > "$T/bc" 2>/dev/null
grep -q '"decoded":2000,"rejected":0' "$T/bc" && ok || bad "bench collect output"

# bench prints exactly one JSON object
"$CDRATE" bench rate --subscribers 1000 --cdrs 20000 --threads 2 --json > "$T/b" 2>/dev/null
[ "$(wc -l < "$T/b")" -eq 1 ] && grep -q '"cdrs_per_sec":' "$T/b" && grep -q '"rss_bytes":' "$T/b" && ok || bad "bench rate output"

# archive and ledger: usage errors exit 2; a folder that is no ledger exits 1 and says so
for c in archive "ledger cat" "ledger totals"; do
  expect_rc 0 "$c --help" "$CDRATE" $c --help
  grep -q "^usage: cdrate $c --" "$T/out" && ok || bad "$c --help prints no usage"
done
expect_rc 2 "archive without --ledger" "$CDRATE" archive --brokers 127.0.0.1:1
expect_err "cdrate archive: --brokers and --ledger are required" "archive requires --ledger"
for v in cat totals; do
  expect_rc 2 "ledger $v without --ledger" "$CDRATE" ledger $v
  expect_err "cdrate ledger $v: --ledger is required" "ledger $v requires --ledger"
done
expect_rc 2 "ledger unknown verb" "$CDRATE" ledger frob
expect_err "unknown verb 'frob'" "ledger verb"
expect_rc 2 "ledger totals --cycle 202613" "$CDRATE" ledger totals --ledger "$T" --cycle 202613
expect_err "--cycle must be YYYYMM, not 202613" "ledger cycle"
expect_rc 1 "ledger totals of a folder that is no ledger" "$CDRATE" ledger totals --ledger "$T"
expect_err "not a ledger (no LOCK file" "no ledger"

# suspense list|replay and the collector's --topic-prefix / --rating-store (no broker needed)
expect_rc 0 "suspense --help" "$CDRATE" suspense --help
for v in list replay; do
  expect_rc 0 "suspense $v --help" "$CDRATE" suspense "$v" --help
  grep -q "^usage: cdrate suspense $v --brokers" "$T/out" && ok || bad "suspense $v --help prints no usage"
  expect_rc 2 "suspense $v without --brokers" "$CDRATE" suspense "$v"
  expect_err "cdrate suspense $v: --brokers is required" "suspense $v brokers required"
done
expect_rc 2 "suspense without a verb" "$CDRATE" suspense
expect_err "cdrate suspense: missing verb (list or replay)" "suspense verb"
expect_rc 2 "suspense frob" "$CDRATE" suspense frob
expect_err "cdrate suspense: unknown verb 'frob' (list or replay)" "suspense bad verb"
expect_rc 2 "suspense replay --reason nope" "$CDRATE" suspense replay --brokers 127.0.0.1:1 --reason nope
expect_err "--reason: unknown reason 'nope' (one of: unknown_subscriber, subscriber_inactive, no_plan, no_zone, no_rate, too_many_parts, bad_record, undecodable)" "suspense bad reason"
expect_rc 2 "suspense replay --batch 0" "$CDRATE" suspense replay --brokers 127.0.0.1:1 --batch 0
expect_err "--batch must be a whole number from 1 to 100000, not '0'" "suspense batch range"
expect_rc 4 "suspense replay with a missing rating store" "$CDRATE" suspense replay --brokers 127.0.0.1:1 --rating-store "$T/nostore"
expect_err "cdrate suspense replay: no cdrate store at $T/nostore" "suspense missing store"
mkdir "$T/spo"
expect_rc 2 "collect --topic-prefix a/b" "$CDRATE" collect --spool "$T/spo" --format csv --brokers embedded --topic-prefix a/b
expect_err "cdrate collect: --topic-prefix: topic prefix 'a/b' has '/' at 2 (letters, digits, '.', '_' and '-' only)" "collect bad prefix"
expect_rc 4 "collect with a missing rating store" "$CDRATE" collect --spool "$T/spo" --format csv --brokers embedded --once --rating-store "$T/nostore"
expect_err "cdrate collect: no cdrate store at $T/nostore" "collect missing store"
printf 'MSC1,o1,voice,mo,%s,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,\n' "$MSISDN" > "$T/spo/a.csv"
expect_rc 0 "collect --rating-store --topic-prefix" "$CDRATE" collect --spool "$T/spo" --format csv --brokers embedded --once --settle 0 --rating-store "$T/s" --topic-prefix t.own. --source t-own
expect_err "cdrate collect: charging owners from $T/s (" "collect reads the directory"
expect_err "a.csv: read 1, published 1, rejected 0, duplicate 0, nonbillable 0" "collect with owners accounting"

# cdrate pipeline: collect, rate-stream and archive in one process on embedded Kafka; bench e2e
expect_rc 2 "pipeline without --input" "$CDRATE" pipeline --store "$T/s" --ledger "$T/pl"
expect_err "cdrate pipeline: --input, --store and --ledger are required" "pipeline required options"
expect_rc 2 "pipeline --input xml:DIR" "$CDRATE" pipeline --input "xml:$T/ps" --store "$T/s" --ledger "$T/pl"
expect_err "--input xml:$T/ps: expected FORMAT:DIR, FORMAT one of csv, asterisk, freeswitch, 3gpp" "pipeline bad input"
mkdir "$T/ps"
{ # rated, malformed (rejected), unknown subscriber (suspense), the first again (duplicate)
  echo "MSC1,1,voice,mo,$MSISDN,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,"
  echo "MSC1,2,voice,mo,$MSISDN,,8613912345678,2026-02-30T10:00:00+08:00,61,0,0,,,,16,"
  echo "MSC1,3,voice,mo,8617000000000,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,"
  echo "MSC1,1,voice,mo,$MSISDN,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,"
} > "$T/ps/a.csv"
expect_rc 3 "pipeline (a malformed record: exit 3)" "$CDRATE" pipeline --input "csv:$T/ps" --store "$T/s" --ledger "$T/pl" --settle 0 --json
grep -q '^{"read":4,"published":2,"rejected":1,"duplicate":1,"nonbillable":0,"files":1,"refused":0,"failed":0,"rated":1,"suspense":1,"batches":[0-9]*,"archived":1,"malformed":0,' "$T/out" && ok || bad "pipeline figures: $(cat "$T/out")"
charges=$(grep -o '"charges_micro":{[^}]*}' "$T/out" | cut -d: -f2-)
grep -q '"ledger_records":1,' "$T/out" && [ -n "$charges" ] &&
  grep -qF "\"ledger_charges_micro\":$charges" "$T/out" && ok || bad "pipeline ledger totals: $(cat "$T/out")"
expect_err "a.csv: read 4, published 2, rejected 1, duplicate 1, nonbillable 0" "pipeline per-file line"
[ -f "$T/ps/done/a.csv" ] && ok || bad "pipeline did not move a.csv to done/"
expect_rc 1 "pipeline into a used ledger" "$CDRATE" pipeline --input "csv:$T/ps" --store "$T/s" --ledger "$T/pl"
expect_err "cdrate pipeline: $T/pl: the ledger is not empty" "pipeline used ledger"
expect_rc 2 "bench e2e without --brokers" "$CDRATE" bench e2e --cdrs 10
expect_err "e2e needs --brokers HOST:PORT or --brokers embedded" "bench e2e brokers"
expect_rc 0 "bench e2e embedded" "$CDRATE" bench e2e --brokers embedded --cdrs 20000 --subscribers 2000 --raters 2 --quiet
grep -q '^{"bench":"e2e","brokers":"embedded",.*"published":20000,.*"exact":true' "$T/out" && ok || bad "bench e2e: $(cat "$T/out")"
if [ -n "${CDR_KAFKA_BROKERS:-}" ]; then # the real broker of make test (scripts/with-services)
  expect_rc 0 "bench e2e on the real broker" "$CDRATE" bench e2e --brokers "$CDR_KAFKA_BROKERS" --cdrs 20000 --subscribers 2000 --raters 2 --quiet
  grep -q '^{"bench":"e2e","brokers":"real",.*"lag_at_end":0,"published":20000,.*"exact":true' "$T/out" && ok || bad "bench e2e real: $(cat "$T/out")"
fi

cli_done cli
