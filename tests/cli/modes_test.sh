#!/usr/bin/env bash
# Files that hold customer data are private (docs/operations.md, "Private files"): whatever the
# caller's umask, every command creates its files 0600 in 0700 folders, or 0640 in 0750 with
# --group-readable. Checked after every command that creates files. Usage: modes_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"
umask 022 # the usual umask, which would give 0644 files in 0755 folders

# modes_are FILEMODE DIRMODE WHAT PATH...: every file and folder below PATH has that mode
modes_are() {
  local fm=$1 dm=$2 what=$3; shift 3
  local wrong
  wrong=$(find "$@" \( -type f ! -perm "$fm" \) -o \( -type d ! -perm "$dm" \) 2>/dev/null | head -5)
  if [ -z "$wrong" ] && [ -n "$(find "$@" -type f | head -1)" ]; then ok
  else bad "$what: not $fm files in $dm folders: $(for w in $wrong; do stat -c '%a %n' "$w"; done)"; fi
}

"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
modes_are 600 700 "plans compile (store)" "$T/s"
"$CDRATE" gen --out "$T/g" --subscribers 200 --cdrs 2000 --quiet
modes_are 600 700 "gen" "$T/g"
"$CDRATE" directory load "$T/g/directory.dir" --store "$T/s" --quiet
modes_are 600 700 "directory load (store)" "$T/s"
"$CDRATE" rate --store "$T/s" --in "$T/g/cdrs.csv" --out "$T/rated.csv" --quiet
modes_are 600 700 "rate (store)" "$T/s"
modes_are 600 700 "rate (output)" "$T/rated.csv"
"$CDRATE" decode --format csv "$T/g/cdrs.csv" --out "$T/decoded.csv" --quiet
modes_are 600 700 "decode --out" "$T/decoded.csv"
"$CDRATE" counters reset --cycle 202611 --store "$T/s" --yes >/dev/null
modes_are 600 700 "counters reset (store)" "$T/s"

# a collector's spool: done/, failed/, NAME.error, NAME.duplicates and its de-dup store
mkdir -m 755 "$T/spool"
head -50 "$T/g/cdrs.csv" > "$T/spool/a.csv"
{ head -50 "$T/g/cdrs.csv"; head -3 "$T/g/cdrs.csv"; } > "$T/spool/b.csv"   # duplicates
cp "$T/spool/a.csv" "$T/spool/c.csv"                                      # refused: seen before
"$CDRATE" collect --spool "$T/spool" --format csv --brokers embedded --once --settle 0 --quiet
[ -f "$T/spool/done/b.csv.duplicates" ] && [ -f "$T/spool/failed/c.csv.error" ] && ok ||
  bad "collect: no .duplicates or .error file to check: $(ls -R "$T/spool")"
modes_are 600 700 "collect (outputs, store)" "$T/spool/done/b.csv.duplicates" "$T/spool/failed/c.csv.error" "$T/spool/.store"
find "$T/spool/done" "$T/spool/failed" -maxdepth 0 -perm 700 | wc -l | grep -qx 2 && ok || bad "collect: done/ and failed/ not 0700"

# the pipeline's ledger
mkdir -m 755 "$T/pspool"
head -50 "$T/g/cdrs.csv" > "$T/pspool/a.csv"
"$CDRATE" pipeline --input "csv:$T/pspool" --store "$T/s" --ledger "$T/ledger" --settle 0 --quiet --idle-exit 300 > /dev/null
modes_are 600 700 "pipeline (ledger)" "$T/ledger"

# the bill run's output (invoices, report), and with --group-readable
BCYC=$("$CDRATE" ledger totals --ledger "$T/ledger" --json |
  python3 -c 'import json,sys; c=json.load(sys.stdin)["cycles"][0]["cycle"]; print("%04d-%02d" % (c // 100, c % 100))')
"$CDRATE" bill --cycle "$BCYC" --ledger "$T/ledger" --store "$T/s" --out "$T/bills" --quiet
modes_are 600 700 "bill (output)" "$T/bills"
"$CDRATE" bill --cycle "$BCYC" --ledger "$T/ledger" --store "$T/s" --out "$T/gbills" --quiet --group-readable
modes_are 640 750 "bill --group-readable" "$T/gbills"

# --group-readable, on any command
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/gs" --quiet --group-readable
modes_are 640 750 "plans compile --group-readable" "$T/gs"
"$CDRATE" gen --out "$T/gg" --subscribers 10 --cdrs 10 --quiet --group-readable
modes_are 640 750 "gen --group-readable" "$T/gg"
"$CDRATE" rate --help | grep -q -- "--group-readable" && ok || bad "--help does not list --group-readable"

cli_done modes
