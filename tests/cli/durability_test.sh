#!/usr/bin/env bash
# durability_test.sh - nothing is lost in a failure (issue 9, items 1 and 2):
#   - `cdrate pipeline` with its ledger on a full disk (a small tmpfs when this machine lets us
#     mount one, otherwise the ledger's CDR_LEDGER_FAIL_AFTER hook): exit 1 naming the full disk,
#     every input left in its spool, the ledger empty again; the re-run on free space gives
#     exactly the figures of an uninterrupted run, and only then are the inputs done (a copy sent
#     again is refused); a run killed before its commit is started over by the next run;
#   - `cdrate collect` takes complete files only: a file written slowly into the spool while
#     `collect --once` runs, and while the watching collector runs, is published exactly once.
# Waits poll with deadlines; the only sleeps are the slow writer's (it plays the switch).
source "$(dirname "$0")/lib.bash"

MNT="$T/mnt"
MOUNTED=0
cleanup() {
  [ "$MOUNTED" = 1 ] && umount "$MNT" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

# wait_for DESC SECONDS CMD...: poll CMD every 50 ms until it succeeds or the deadline passes
wait_for() {
  local what=$1 secs=$2 t0=$SECONDS
  shift 2
  until "$@"; do
    if [ $((SECONDS - t0)) -ge "$secs" ]; then
      bad "$what: not within $secs s"
      return 1
    fi
    sleep 0.05
  done
}

# the figures of a --json summary that must not depend on timing (no seconds, no transactions)
figures() { sed -e 's/,"batches":[0-9]*//' -e 's/,"collect_seconds".*//' "$1"; }

# ---- a store and a spool of switch files --------------------------------------------------------
expect_rc 0 "gen" "$CDRATE" gen --out "$T/g" --subscribers 300 --cdrs 6000 --format asterisk --quiet
expect_rc 0 "plans compile" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
expect_rc 0 "directory load" "$CDRATE" directory load "$T/g/directory.dir" --store "$T/s" --quiet
for sp in clean full kill; do cp -r "$T/g/spool" "$T/$sp"; done
INPUT=$(ls "$T/g/spool")
PIPE=(pipeline --store "$T/s" --partitions 2 --idle-exit 300 --settle 0 --json)

# ---- 1. an uninterrupted run: the reference -------------------------------------------------------
expect_rc 0 "clean run" "$CDRATE" "${PIPE[@]}" --input "asterisk:$T/clean" --ledger "$T/L-clean"
grep -q '^{"read":6000,.*"ledger_records":[1-9].*"checked":true,"live_lines":[1-9][0-9]*,"alerts":[0-9]*}' "$T/out" && ok || bad "clean run figures: $(cat "$T/out")"
# the live state the store gained (docs/live-state.md): the charges of its lines, per currency
live_total() { "$CDRATE" query export --store "$T/s" | python3 -c '
import json, sys
from decimal import Decimal
t = {}
for l in sys.stdin:
    o = json.loads(l)
    for c, v in o.get("charges", {}).items():
        t[c] = t.get(c, Decimal(0)) + Decimal(v["total"])
print(",".join(f"{c}:{t[c]}" for c in sorted(t)))'; }
live_times() { # live_times K: the clean run's live state times K
  python3 -c 'import sys; from decimal import Decimal
print(",".join(f"{c}:{Decimal(v) * int(sys.argv[2])}" for c, v in (x.split(":") for x in sys.argv[1].split(","))))' "$LIVE1" "$1"; }
LIVE1=$(live_total)
[ -n "$LIVE1" ] && ok || bad "the clean run left no live state"
figures "$T/out" > "$T/clean.fig"
"$CDRATE" ledger totals --ledger "$T/L-clean" --json > "$T/clean.tot" 2>/dev/null && ok || bad "clean ledger totals"

# ---- 2. the disk under the ledger fills up ------------------------------------------------------
mkdir -p "$MNT"
if mount -t tmpfs -o size=64k tmpfs "$MNT" 2>/dev/null; then
  MOUNTED=1
  FULL=(env)
  echo "durability: the ledger on a 64 KiB tmpfs"
else
  FULL=(env CDR_LEDGER_FAIL_AFTER=65536)
  echo "durability: mount refused: the ledger fails after 64 KiB (CDR_LEDGER_FAIL_AFTER)"
fi
LEDGER="$MNT/ledger"
expect_rc 1 "disk-full run" "${FULL[@]}" "$CDRATE" "${PIPE[@]}" --input "asterisk:$T/full" --ledger "$LEDGER"
expect_err "No space left on device" "disk-full run names the cause"
expect_err "failed: every input is left in its spool and the ledger is empty again" "disk-full run says what it left"
grep -q '"read":6000,.*"archived":0,.*"checked":false' "$T/out" && ok || bad "disk-full summary: $(cat "$T/out")"
[ -f "$T/full/$INPUT" ] && ok || bad "the input left the spool"
[ -z "$(ls -A "$T/full/done")" ] && ok || bad "done/ is not empty: $(ls "$T/full/done")"
[ -d "$LEDGER" ] && [ -z "$(ls -A "$LEDGER")" ] && ok || bad "the ledger is not empty: $(ls -A "$LEDGER")"
[ "$(live_total)" = "$LIVE1" ] && ok || bad "the failed run changed the live state: $(live_total), was $LIVE1"

# ---- 3. the re-run on free space: the figures of the uninterrupted run ----------------------------
[ "$MOUNTED" = 1 ] && { mount -o remount,size=64m "$MNT" && ok || bad "remount"; }
expect_rc 0 "re-run on free space" "$CDRATE" "${PIPE[@]}" --input "asterisk:$T/full" --ledger "$LEDGER"
figures "$T/out" > "$T/rerun.fig"
cmp -s "$T/clean.fig" "$T/rerun.fig" && ok || bad "re-run figures differ: $(diff "$T/clean.fig" "$T/rerun.fig")"
"$CDRATE" ledger totals --ledger "$LEDGER" --json > "$T/rerun.tot" 2>/dev/null
cmp -s "$T/clean.tot" "$T/rerun.tot" && ok || bad "ledger totals differ"
[ -f "$T/full/done/$INPUT" ] && [ ! -f "$T/full/$INPUT" ] && ok || bad "the input is not in done/ after the re-run"
[ ! -e "$LEDGER/.pipeline-incomplete" ] && ok || bad "the marker stayed"
[ "$(live_total)" = "$(live_times 2)" ] && ok || bad "after the re-run the live state is $(live_total), want twice $LIVE1"
# committed now: the spool's store knows the content, a copy sent again is refused
cp "$T/g/spool/$INPUT" "$T/full/again-$INPUT"
expect_rc 3 "the same content again" "$CDRATE" collect --spool "$T/full" --format asterisk --brokers embedded --once --settle 0 --source asterisk-1 --json
grep -q "^{\"file\":\"again-$INPUT\",\"status\":\"refused\"" "$T/out" && ok || bad "resent: $(cat "$T/out")"
[ -f "$T/full/failed/again-$INPUT" ] && ok || bad "the resent copy is not in failed/"

# ---- 4. killed before its commit: the next run starts over --------------------------------------
# --idle-exit 3000: the archive stage idles 3 s after its last record, the kill lands in there
"$CDRATE" pipeline --store "$T/s" --partitions 2 --idle-exit 3000 --settle 0 --quiet \
  --input "asterisk:$T/kill" --ledger "$T/L-kill" > /dev/null 2>&1 &
pid=$!
has_segment() { [ -n "$(find "$T/L-kill" -name 'seg-*.zst' -size +0 2>/dev/null | head -1)" ]; }
if wait_for "the killed run's ledger" 120 has_segment; then ok; fi
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ -e "$T/L-kill/.pipeline-incomplete" ] && ok || bad "the kill did not land before the commit"
[ -f "$T/kill/$INPUT" ] && ok || bad "killed run: the input left the spool"
[ "$(live_total)" = "$(live_times 2)" ] && ok || bad "the killed run changed the live state"
expect_rc 0 "the run after the kill" "$CDRATE" "${PIPE[@]}" --input "asterisk:$T/kill" --ledger "$T/L-kill"
expect_err "emptied of the records of an interrupted run" "the run after the kill says so"
figures "$T/out" > "$T/kill.fig"
cmp -s "$T/clean.fig" "$T/kill.fig" && ok || bad "after the kill, figures differ: $(diff "$T/clean.fig" "$T/kill.fig")"
"$CDRATE" ledger totals --ledger "$T/L-kill" --json > "$T/kill.tot" 2>/dev/null
cmp -s "$T/clean.tot" "$T/kill.tot" && ok || bad "after the kill, ledger totals differ"
[ "$(live_total)" = "$(live_times 3)" ] && ok || bad "after the run after the kill the live state is $(live_total), want 3 x $LIVE1"
# a ledger with records and no marker is someone's: refused, nothing touched
cp "$T/g/spool/$INPUT" "$T/kill/other.csv"
expect_rc 1 "a used ledger" "$CDRATE" "${PIPE[@]}" --input "asterisk:$T/kill" --ledger "$T/L-kill"
expect_err "the ledger is not empty" "used ledger refused"
[ -f "$T/kill/other.csv" ] && ok || bad "a refused run moved an input"
"$CDRATE" ledger totals --ledger "$T/L-kill" --json > "$T/kill2.tot" 2>/dev/null
cmp -s "$T/clean.tot" "$T/kill2.tot" && ok || bad "a refused run changed the ledger"

# ---- 5. complete files only: a switch writing slowly into the spool ------------------------------
MSISDN=$(grep -o 'msisdn=[0-9]*' "$SRC/billing/samples/demo.dir" | head -1 | cut -d= -f2)
LINES=50
slow_writer() { # slow_writer FILE: appends LINES lines, one every 0.1 s (a switch that writes in place)
  for i in $(seq 1 "$LINES"); do
    echo "MSC1,$2$i,voice,mo,$MSISDN,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16," >> "$1"
    sleep 0.1
  done
}
mkdir "$T/sw"
slow_writer "$T/sw/slow.csv" once- &
wpid=$!
wait_for "the slow file" 10 test -s "$T/sw/slow.csv"
expect_rc 0 "collect --once during a slow write" "$CDRATE" collect --spool "$T/sw" --format csv --brokers embedded --once --settle 1 --json
wait "$wpid"
expect_err "waiting for 1 file(s) to settle (unchanged for 1 s), slow.csv first" "--once waits for the file"
grep -q "^{\"file\":\"slow.csv\",\"status\":\"done\",\"stats\":{\"read\":$LINES,\"published\":$LINES,\"rejected\":0,\"duplicate\":0," "$T/out" && ok || bad "--once: $(cat "$T/out")"
grep -q '"files":1,' "$T/out" && ok || bad "--once took more than one file: $(cat "$T/out")"
[ -f "$T/sw/done/slow.csv" ] && [ "$(wc -l < "$T/sw/done/slow.csv")" -eq "$LINES" ] && ok || bad "--once: done/slow.csv incomplete"

# the watching collector; a file renamed in is taken at once, a file written in place once settled
mkdir "$T/ww"
"$CDRATE" collect --spool "$T/ww" --format csv --brokers embedded --settle 1 --json > "$T/watch.out" 2> "$T/watch.err" &
cpid=$!
wait_for "the watching collector" 60 grep -q "embedded Kafka cluster at" "$T/watch.err"
slow_writer "$T/ww/slow.csv" watch- &
wpid=$!
wait_for "the slow file" 10 test -s "$T/ww/slow.csv"
printf 'MSC1,r1,voice,mo,%s,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,\n' "$MSISDN" > "$T/ww/.renamed.csv"
mv "$T/ww/.renamed.csv" "$T/ww/renamed.csv"
wait_for "the renamed file" 30 test -f "$T/ww/done/renamed.csv"
[ -f "$T/ww/slow.csv" ] && ok || bad "the slow file was taken before it was complete"
wait "$wpid"
wait_for "the slow file in done/" 30 test -f "$T/ww/done/slow.csv"
kill -TERM "$cpid"
wait "$cpid"; rc=$?
[ "$rc" -eq 0 ] && ok || bad "the watching collector exited $rc"
grep -q "^{\"file\":\"slow.csv\",\"status\":\"done\",\"stats\":{\"read\":$LINES,\"published\":$LINES,\"rejected\":0,\"duplicate\":0," "$T/watch.out" && ok || bad "watch: $(cat "$T/watch.out" "$T/watch.err")"
grep -q '"files":2,' "$T/watch.out" && ok || bad "watch: not two files: $(cat "$T/watch.out")"
[ "$(wc -l < "$T/ww/done/slow.csv")" -eq "$LINES" ] && ok || bad "watch: done/slow.csv incomplete"

# usage
expect_rc 2 "collect --settle -1" "$CDRATE" collect --spool "$T/sw" --format csv --brokers embedded --once --settle -1
cli_done durability
