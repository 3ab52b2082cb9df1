#!/usr/bin/env bash
# `cdrate decode`: every format on the collector fixtures (records against the .golden files),
# malformed inputs (exact position, reason and exit code, the good records of the same file all
# printed), JSON output that parses, unreadable files, bad command lines.
source "$(dirname "$0")/lib.bash"

D=$SRC/tests/data/collectors
W=$T/w
mkdir -p "$W"
cp "$D"/*.csv "$D"/3gpp/*.dat "$W"/
cd "$W" || exit 1

CSV_HEADER=source,origin_id,service,direction,msisdn,imsi,other,start,duration,bytes_up,bytes_down,mcc,mnc,cell,cause,owner

# golden JSON of the records (R lines) and counts of a fixture
golden_records() { grep '^R' "$1" | sed 's/^[^{]*//'; }
count_kind() { grep -c "^$1" "$2"; }
json_lines() { # every line of FILE is one JSON object
  python3 - "$1" <<'EOF'
import json, sys
for n, line in enumerate(open(sys.argv[1], encoding="utf-8", errors="strict"), 1):
    try:
        json.loads(line)
    except ValueError as e:
        sys.exit("%s:%d: not JSON (%s): %r" % (sys.argv[1], n, e, line[:120]))
EOF
}
out_is() { # out_is FILE DESC: $T/out equals FILE
  if cmp -s "$T/out" "$1"; then ok; else bad "$2: stdout differs"; diff "$T/out" "$1" | head -20; fi
}

# ---- the fixtures, each format ------------------------------------------------------------------
check_fixture() { # check_fixture FORMAT FILE GOLDEN SOURCE [extra options]
  local fmt=$1 f=$2 g=$3 src=$4
  shift 4
  local r n x
  r=$(count_kind R "$g")
  n=$(count_kind N "$g")
  x=$(count_kind X "$g")
  golden_records "$g" >"$T/want"
  expect_rc 0 "$f --json" "$CDRATE" decode --format "$fmt" --source "$src" --json "$@" "$f"
  out_is "$T/want" "$f: records as in $g"
  if json_lines "$T/err"; then ok; else bad "$f: stderr is not JSON lines"; fi
  expect_err "{\"summary\":{\"files\":[{\"file\":\"$f\",\"read\":$((r + n + x)),\"decoded\":$r,\"rejected\":$x,\"nonbillable\":$n}]" "$f summary"
  expect_rc 0 "$f text" "$CDRATE" decode --format "$fmt" --source "$src" "$@" "$f"
  expect_err "$f: read $((r + n + x)), decoded $r, rejected $x, nonbillable $n" "$f text summary"
  if [ "$(head -1 "$T/out")" = "$CSV_HEADER" ]; then ok; else bad "$f: no CSV header"; fi
  if [ "$(wc -l <"$T/out")" -eq $((r + 1)) ]; then ok; else bad "$f: $(wc -l <"$T/out") CSV lines, want $((r + 1))"; fi
  # the CSV output reads back (cat) as the same records
  cp "$T/out" "$T/decoded.csv"
  expect_rc 0 "$f: cat of the CSV output" "$CDRATE" cat "$T/decoded.csv"
  out_is "$T/want" "$f: CSV output = golden records"
}
check_fixture csv csv_normal.csv "$D/csv_normal.csv.golden" PBX-BJ-01
check_fixture asterisk asterisk_normal.csv "$D/asterisk_normal.csv.golden" PBX-BJ-01
check_fixture freeswitch freeswitch_normal.csv "$D/freeswitch_normal.csv.golden" PBX-BJ-01
check_fixture freeswitch freeswitch_custom.csv "$D/freeswitch_custom.csv.golden" PBX-BJ-01 \
  --fs-columns '${uuid}, caller_id_number, destination_number, answer_epoch, billsec, hangup_cause, sip_user_agent, start_epoch'
for f in records records_indefinite records_sgw; do
  check_fixture 3gpp $f.dat "$D/3gpp/$f.dat.golden" MSC-HZ-01
done

# a few fields in the readable (CSV) output
expect_rc 0 "asterisk csv" "$CDRATE" decode --format asterisk --source PBX-BJ-01 asterisk_normal.csv
expect_out "PBX-BJ-01,1793584800.1,voice,mo,8613800000001,,861012345678,2026-11-02T10:00:05+08:00,61," "asterisk: national number normalised, local time with offset"
expect_rc 0 "3gpp csv" "$CDRATE" decode --format 3gpp records.dat
expect_out "element,pgw-1004,data,mo,8613800000004,460001234567892,,2026-11-05T12:00:00+08:00,1800,1000001,20000003," "3gpp: default source, data volumes"

# --nonbillable lists them with position and reason
expect_rc 0 "asterisk --nonbillable" "$CDRATE" decode --format asterisk --nonbillable asterisk_normal.csv
expect_err "asterisk_normal.csv:3:206: non-billable: disposition NO ANSWER" "non-billable line:col"
expect_err "asterisk_normal.csv: read 12, decoded 7, rejected 0, nonbillable 5" "asterisk counts"
expect_rc 0 "3gpp --nonbillable" "$CDRATE" decode --format 3gpp --nonbillable records.dat
expect_err "records.dat: byte 271: non-billable: unanswered call (no answerTime)" "non-billable offset"
expect_rc 0 "3gpp --nonbillable --json" "$CDRATE" decode --format 3gpp --nonbillable --json records.dat
expect_err '{"nonbillable":{"file":"records.dat","offset":271,"message":"unanswered call (no answerTime)"}}' "non-billable JSON"

# ---- malformed text files: one bad line between good ones ---------------------------------------
G='MSC01,1,voice,mo,8613800000001,,8613912345678,2026-11-02T10:00:00+08:00,61,0,0,,,,16,'
printf '%s\n%s\r\n%s\n' "$G" "${G/2026-11-02T10/2026-02-30T10}" "${G/MSC01,1,/MSC01,3,}" >bad_date.csv
expect_rc 3 "csv bad date" "$CDRATE" decode --format csv bad_date.csv
expect_err "cdrate decode: bad_date.csv:2:47: start is not a real date and time" "csv bad date position"
expect_err "bad_date.csv: read 3, decoded 2, rejected 1, nonbillable 0" "csv bad date counts"
expect_out "MSC01,1,voice" "csv bad date: first record printed"
expect_out "MSC01,3,voice" "csv bad date: last record printed"
expect_rc 3 "csv bad date --json" "$CDRATE" decode --format csv --json bad_date.csv
expect_err '{"error":{"code":"CDR_RANGE","file":"bad_date.csv","line":2,"column":47,"message":"start is not a real date and time"}}' "csv bad date JSON"
if [ "$(wc -l <"$T/out")" -eq 2 ] && json_lines "$T/out"; then ok; else bad "csv bad date: 2 JSON records"; fi

A=$(sed -n 1p asterisk_normal.csv)
{
  echo "$A"
  echo "${A/\"2026-11-02 10:00:00\"/\"2026-02-30 10:00:00\"}"
  sed -n 2p asterisk_normal.csv
} >bad_date_ast.csv
expect_rc 3 "asterisk bad date" "$CDRATE" decode --format asterisk bad_date_ast.csv
expect_err "cdrate decode: bad_date_ast.csv:2:157: start is not a real date and time" "asterisk bad date position"
expect_err "bad_date_ast.csv: read 3, decoded 2, rejected 1, nonbillable 0" "asterisk counts"
expect_out ",1793584800.1,voice" "asterisk: record before the bad line"
expect_out ",1793585100.3,voice" "asterisk: record after the bad line"

F=$(sed -n 1p freeswitch_normal.csv)
{
  echo "${F/\"61\"/\"6l\"}"
  sed -n 2p freeswitch_normal.csv
} >bad_fs.csv
expect_rc 3 "freeswitch bad billsec" "$CDRATE" decode --format freeswitch bad_fs.csv
expect_err "cdrate decode: bad_fs.csv:1:123: billsec is not a whole number" "freeswitch position"
expect_out "a1b2c3d4-0000-4000-8000-000000000002" "freeswitch: the good record printed"

# a line of the wrong shape, a field with a quote
printf '%s\n%s\n' "$G" 'MSC01,2,voice,mo' >short.csv
expect_rc 3 "csv short line" "$CDRATE" decode --format csv short.csv
expect_err "cdrate decode: short.csv:2:17: 4 fields, expected 16" "csv short line"

# ---- non-UTF-8 bytes: valid JSON all the same -------------------------------------------------
printf '%s\n%s\n' "${G/MSC01,1,/MSC01,ab$'\xff'c,}" "${G/voice/f$'\xfe'x}" >latin.csv
expect_rc 3 "non-UTF-8" "$CDRATE" decode --format csv --json latin.csv
if json_lines "$T/out"; then ok; else bad "non-UTF-8 record: invalid JSON"; cat -v "$T/out"; fi
if json_lines "$T/err"; then ok; else bad "non-UTF-8 reason: invalid JSON"; cat -v "$T/err"; fi
expect_out '"origin_id":"ab\ufffdc"' "non-UTF-8 byte as U+FFFD"
expect_err '"line":2,"column":9,"message":"unknown service '\''f\ufffdx'\''"' "non-UTF-8 in a reason"
# an Asterisk caller name in Latin-1 is not part of the record: decoded
printf '%s\n' "${A/Chen, Jing/Ch$'\xe9'n}" >latin_ast.csv
expect_rc 0 "asterisk Latin-1 name" "$CDRATE" decode --format asterisk --json latin_ast.csv
if json_lines "$T/out"; then ok; else bad "asterisk Latin-1: invalid JSON"; fi

# ---- malformed 3GPP ------------------------------------------------------------------------------
head -c 700 records.dat >trunc.dat
expect_rc 3 "3gpp truncated" "$CDRATE" decode --format 3gpp trunc.dat
expect_err "cdrate decode: trunc.dat: byte 570: CDR length 146 runs past the end of the file (125 octets left)" "truncated"
expect_err "trunc.dat: read 5, decoded 3, rejected 1, nonbillable 1" "truncated: the CDRs before it"
expect_out "element,pgw-1004,data" "truncated: records before the cut printed"
python3 - <<'EOF'
b = bytearray(open("records.dat", "rb").read())
assert b[59] == 0xA0  # [0] MOCallRecord of the first CDR
b[59] = 0xA6
open("tag.dat", "wb").write(b)
EOF
expect_rc 3 "3gpp wrong tag" "$CDRATE" decode --format 3gpp tag.dat
expect_err "cdrate decode: tag.dat: byte 59: unsupported CS (TS 32.250) record type [6]" "wrong tag"
expect_err "tag.dat: read 7, decoded 5, rejected 1, nonbillable 1" "wrong tag: the others decoded"
expect_rc 3 "3gpp wrong tag --json" "$CDRATE" decode --format 3gpp --json tag.dat
expect_err '{"error":{"code":"CDR_FORMAT","file":"tag.dat","offset":59,"message":"unsupported CS (TS 32.250) record type [6]"}}' "wrong tag JSON"
if [ "$(wc -l <"$T/out")" -eq 5 ] && json_lines "$T/out" && json_lines "$T/err"; then ok; else bad "wrong tag: 5 JSON records"; fi

# ---- empty files ---------------------------------------------------------------------------------
: >empty.csv
expect_rc 0 "empty text file" "$CDRATE" decode --format asterisk empty.csv
expect_err "empty.csv: read 0, decoded 0, rejected 0, nonbillable 0" "empty text file"
# an empty 3GPP file holds no CDR: read 0, as the collector counts it (docs/collectors.md)
expect_rc 0 "empty 3gpp file" "$CDRATE" decode --format 3gpp empty.csv
expect_err "empty.csv: read 0, decoded 0, rejected 0, nonbillable 0" "empty 3gpp"

# ---- several files, stdin, --out, --quiet --------------------------------------------------------
expect_rc 3 "two files" "$CDRATE" decode --format csv csv_normal.csv bad_date.csv
expect_err "total: read 9, decoded 7, rejected 1, nonbillable 1 (2 files, 0 unreadable)" "total"
"$CDRATE" decode --format csv - <csv_normal.csv >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 6 ]; then ok; else bad "stdin: exit $rc"; fi
expect_err "stdin: read 6, decoded 5, rejected 0, nonbillable 1" "stdin name"
expect_rc 0 "--out" "$CDRATE" decode --format csv --json --out "$T/recs.json" csv_normal.csv
if [ ! -s "$T/out" ] && [ "$(wc -l <"$T/recs.json")" -eq 5 ]; then ok; else bad "--out: records not in the file"; fi
expect_rc 0 "--out -" "$CDRATE" decode --format csv --json --out - csv_normal.csv
if cmp -s "$T/out" "$T/recs.json"; then ok; else bad "--out - differs from --out FILE"; fi
expect_rc 3 "--quiet" "$CDRATE" decode --format csv --quiet bad_date.csv
if [ "$(cat "$T/err")" = "cdrate decode: bad_date.csv:2:47: start is not a real date and time" ]; then ok; else bad "--quiet: stderr not only the rejection"; cat "$T/err"; fi
expect_rc 3 "--quiet --json" "$CDRATE" decode --format csv --quiet --json bad_date.csv
if ! grep -q summary "$T/err"; then ok; else bad "--quiet --json printed a summary"; fi

# ---- unreadable files: exit 1, the others still decoded -----------------------------------------
expect_rc 1 "missing file" "$CDRATE" decode --format csv nope.csv
expect_err "cdrate decode: nope.csv: cannot open: No such file or directory" "missing file"
expect_rc 1 "missing + rejects" "$CDRATE" decode --format csv bad_date.csv nope.csv csv_normal.csv
expect_err "total: read 9, decoded 7, rejected 1, nonbillable 1 (3 files, 1 unreadable)" "missing: total"
if [ "$(wc -l <"$T/out")" -eq 8 ]; then ok; else bad "missing: other files' records not all printed"; fi
expect_rc 1 "missing --json" "$CDRATE" decode --format csv --json nope.csv csv_normal.csv
expect_err '{"error":{"code":"CDR_EIO","file":"nope.csv","message":"cannot open: No such file or directory"}}' "missing JSON"
expect_err '"files":[{"file":"nope.csv","unreadable":true},{"file":"csv_normal.csv","read":6' "missing in the JSON summary"
if json_lines "$T/err"; then ok; else bad "missing --json: stderr not JSON lines"; fi
expect_rc 1 "a directory" "$CDRATE" decode --format csv "$W"
expect_err "cannot read: Is a directory" "a directory"
if [ -e /dev/full ]; then
  expect_rc 1 "output not written" "$CDRATE" decode --format csv --out /dev/full csv_normal.csv
  expect_err "cdrate decode: cannot write /dev/full" "write error"
fi

# ---- bad command lines: exit 2 -------------------------------------------------------------------
expect_rc 2 "no --format" "$CDRATE" decode csv_normal.csv
expect_err "cdrate decode: --format is required" "no --format"
expect_rc 2 "unknown format" "$CDRATE" decode --format xml csv_normal.csv
expect_err "--format: unknown value 'xml'" "unknown format"
expect_rc 2 "no file" "$CDRATE" decode --format csv
expect_err "cdrate decode: no input file" "no file"
expect_rc 2 "unknown option" "$CDRATE" decode --format csv --frobnicate csv_normal.csv
expect_err "unknown option '--frobnicate'" "unknown option"
expect_rc 2 "--fs-columns on csv" "$CDRATE" decode --format csv --fs-columns uuid csv_normal.csv
expect_rc 2 "bad column mapping" "$CDRATE" decode --format freeswitch --fs-columns 'uuid,billsec' freeswitch_normal.csv
expect_err "FreeSWITCH column mapping lacks" "bad column mapping"
expect_rc 2 "unknown time zone" "$CDRATE" decode --format asterisk --timezone Mars/Olympus asterisk_normal.csv
expect_err "unknown time zone 'Mars/Olympus'" "unknown time zone"
expect_rc 2 "bad --source" "$CDRATE" decode --format asterisk --source 'a b' asterisk_normal.csv
expect_rc 2 "bad flag --json" "$CDRATE" decode --format csv --json --frobnicate csv_normal.csv
expect_err '{"error":{"code":"CDR_USAGE"' "usage error as JSON"
if json_lines "$T/err"; then ok; else bad "usage error --json: not JSON"; fi
expect_rc 0 "--help" "$CDRATE" decode --help
expect_out "usage: cdrate decode --format csv|asterisk|freeswitch|3gpp" "--help"
expect_rc 0 "listed" "$CDRATE" --help
expect_out "decode" "decode in the command list"

cli_done decode
