#!/usr/bin/env bash
# True messages (issue 9, item 4), each through the command: a full disk during a store write is
# named (and the space given back, the previous contents active); a read-only store opens
# read-only; an empty file is read 0; cat prints valid JSON for non-UTF-8 bytes; the metrics
# listener serves clients concurrently with per-request time-outs.
# Usage: messages_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

PLANS="$SRC/rating-rules/plans"
DEMO="$SRC/billing/samples/demo.dir"
MNT=()  # mount points to release at exit
PIDS=() # rate-stream processes to end at exit
cleanup() {
  local p m
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for m in "${MNT[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
size() { stat -c %s "$1"; }

# A big directory (20000 subscribers, 4 MB): its load needs more room than there is below.
"$CDRATE" gen --out "$T/big" --subscribers 20000 --cdrs 10 >/dev/null 2>&1 && ok || bad "gen big"
"$CDRATE" gen --out "$T/small" --subscribers 30 --cdrs 2000 >/dev/null 2>&1 && ok || bad "gen small"
# a plan the store does not hold yet, to compile on a full disk
mkdir -p "$T/newplan"
sed 's/^plan: cn-payg$/plan: zz-new/' "$PLANS/cn-payg.yaml" >"$T/newplan/zz.yaml"

# ---- disk full: a 2 MB tmpfs ---------------------------------------------------------------------
mkdir -p "$T/full"
if mount -t tmpfs -o size=2m tmpfs "$T/full" 2>/dev/null; then
  MNT+=("$T/full")
  S="$T/full/s"
  expect_rc 0 "compile plans on the small disk" "$CDRATE" plans compile "$PLANS" --store "$S" --quiet
  expect_rc 0 "load the demo directory on the small disk" "$CDRATE" directory load "$DEMO" --store "$S" --quiet
  before=$(size "$S/data.mdb")
  cp "$S/data.mdb" "$T/before.mdb"
  expect_rc 1 "load a directory larger than the disk" "$CDRATE" directory load "$T/big/directory.dir" --store "$S" --allow-missing-plans
  expect_err "cdrate directory: $T/big/directory.dir: disk full (ENOSPC) while writing store $S (commit directory): nothing of this write was stored, the last committed contents stay active; free some space and run again (the space the failed write took is given back when the store closes; to compact a store by hand: mdb_copy -c STORE NEWSTORE, then swap the two)" "disk full named, with the store"
  expect_err "nothing stored; the previous directory stays" "load says nothing was stored"
  if grep -q "Input/output error" "$T/err"; then bad "disk full still reported as Input/output error"; else ok; fi
  [ "$(size "$S/data.mdb")" -eq "$before" ] && ok || bad "data.mdb kept the failed load's space: $(size "$S/data.mdb") bytes, was $before"
  cmp -s "$S/data.mdb" "$T/before.mdb" && ok || bad "the failed load changed data.mdb"
  avail=$(df --output=avail -k "$T/full" | tail -1)
  [ "$avail" -gt 1000 ] && ok || bad "the disk stays full after the failed load: ${avail} KiB free"
  expect_rc 0 "the previous directory stays active" "$CDRATE" directory show --msisdn 8613800000002 --store "$S"
  expect_out "msisdn:             8613800000002" "old directory served"
  expect_rc 1 "the same, --json" "$CDRATE" directory load "$T/big/directory.dir" --store "$S" --allow-missing-plans --json
  expect_err "{\"error\":{\"code\":\"CDR_EIO\",\"file\":\"$T/big/directory.dir\",\"message\":\"disk full (ENOSPC) while writing store $S (commit directory)" "disk full as a JSON error"
  [ "$(size "$S/data.mdb")" -eq "$before" ] && ok || bad "data.mdb grew after the --json load"

  # the disk filled by another file: plans compile and rate (saving counters) fail the same way
  dd if=/dev/zero of="$T/full/filler" bs=4k 2>/dev/null
  expect_rc 1 "compile a new plan on a full disk" "$CDRATE" plans compile "$T/newplan" --store "$S"
  expect_err "cdrate plans: disk full (ENOSPC) while writing store $S (commit plans): nothing of this write was stored" "plans: disk full named"
  expect_err "nothing stored; the previously active plans stay" "plans: previous plans stay"
  expect_rc 0 "plans list after the failed compile" "$CDRATE" plans list --store "$S"
  if grep -q zz-new "$T/out"; then bad "the failed compile stored zz-new"; else ok; fi
  expect_rc 1 "rate on a full disk" "$CDRATE" rate --store "$S" --in "$T/small/cdrs.csv" --out "$T/rated.csv" --quiet
  expect_err "cdrate rate: disk full (ENOSPC) while writing store $S (commit counters): nothing of this write was stored" "rate: disk full named"
  expect_rc 0 "no counters saved" "$CDRATE" counters --store "$S"
  expect_err "0 counters" "rate saved no counter"
  cmp -s "$S/data.mdb" "$T/before.mdb" && ok || bad "failed writes on a full disk changed data.mdb"
  rm -f "$T/full/filler"
  # with room again, the same commands succeed
  expect_rc 0 "rate once there is room" "$CDRATE" rate --store "$S" --in "$T/small/cdrs.csv" --out "$T/rated.csv" --quiet
  expect_rc 0 "compile once there is room" "$CDRATE" plans compile "$T/newplan" --store "$S" --quiet
  expect_rc 0 "the new plan is listed" "$CDRATE" plans list --store "$S"
  expect_out "zz-new" "zz-new stored"
else
  echo "messages_test: cannot mount a tmpfs here: the disk-full checks run with ulimit -f only"
fi

# ---- the same failure injected with a file size limit (ulimit -f), on any machine --------------
S="$T/lim"
expect_rc 0 "compile plans" "$CDRATE" plans compile "$PLANS" --store "$S" --quiet
expect_rc 0 "load the demo directory" "$CDRATE" directory load "$DEMO" --store "$S" --quiet
before=$(size "$S/data.mdb")
cp "$S/data.mdb" "$T/before.mdb"
# 400 KiB: above the store's size, below what the big directory needs; SIGXFSZ ignored so that
# the write fails with EFBIG instead of killing the process
expect_rc 1 "load past the file size limit" bash -c 'ulimit -f 400; trap "" XFSZ; exec "$@"' - \
  "$CDRATE" directory load "$T/big/directory.dir" --store "$S" --allow-missing-plans
expect_err "cdrate directory: $T/big/directory.dir: file size limit reached (EFBIG, ulimit -f) while writing store $S (commit directory): nothing of this write was stored, the last committed contents stay active; raise the limit and run again" "file size limit named"
[ "$(size "$S/data.mdb")" -eq "$before" ] && ok || bad "data.mdb kept the failed load's space: $(size "$S/data.mdb"), was $before"
cmp -s "$S/data.mdb" "$T/before.mdb" && ok || bad "the failed load changed data.mdb"
expect_rc 0 "the previous directory stays active" "$CDRATE" directory show --msisdn 8613800000002 --store "$S"
expect_out "msisdn:             8613800000002" "old directory served"
expect_rc 0 "the load succeeds without the limit" "$CDRATE" directory load "$T/big/directory.dir" --store "$S" --allow-missing-plans --quiet

# ---- read-only stores ----------------------------------------------------------------------------
mkdir -p "$T/ro"
if mount -t tmpfs -o size=8m tmpfs "$T/ro" 2>/dev/null; then
  MNT+=("$T/ro")
  S="$T/ro/s"
  "$CDRATE" plans compile "$PLANS" --store "$S" --quiet && "$CDRATE" directory load "$DEMO" --store "$S" --quiet && ok || bad "store on the tmpfs"
  rm -f "$S/lock.mdb" # as copied onto a read-only medium: no lock file at all
  if mount -o remount,ro "$T/ro" 2>/dev/null; then
    expect_rc 0 "plans list on a read-only mount" "$CDRATE" plans list --store "$S"
    expect_out "cn-payg" "plans listed"
    [ ! -s "$T/err" ] && ok || bad "a read-only mount printed: $(cat "$T/err")"
    expect_rc 0 "plans show on a read-only mount" "$CDRATE" plans show cn-payg --store "$S"
    expect_rc 0 "directory show on a read-only mount" "$CDRATE" directory show --msisdn 8613800000002 --store "$S"
    expect_out "subscriber 30002" "directory shown"
    expect_rc 0 "counters on a read-only mount" "$CDRATE" counters --store "$S"
    expect_rc 0 "query on a read-only mount" "$CDRATE" query balance --msisdn 8613800000002 --store "$S"
    expect_out "unbilled         none" "query answered on a read-only mount"
    expect_rc 0 "rate --dry-run on a read-only mount" "$CDRATE" rate --store "$S" --in "$T/small/cdrs.csv" --dry-run --quiet
    expect_rc 1 "rate (writing) on a read-only mount" "$CDRATE" rate --store "$S" --in "$T/small/cdrs.csv" --out "$T/r.csv" --quiet
    expect_err "cdrate rate: $S: cannot open the store for writing: Read-only file system (commands that only read it, such as plans list or rate --dry-run, still can)" "write refused with the reason"
    [ ! -e "$S/lock.mdb" ] && ok || bad "a lock file appeared on a read-only mount"
  else
    echo "messages_test: cannot remount a tmpfs read-only: read-only mount checks skipped"
  fi
else
  echo "messages_test: cannot mount a tmpfs here: read-only mount checks skipped"
fi

# a store this user may read but not write (lock.mdb included): as another user when root (root
# ignores file modes), else by taking the write bits away
S="$T/shared/s"
mkdir -p "$T/shared"
"$CDRATE" plans compile "$PLANS" --store "$S" --quiet && "$CDRATE" directory load "$DEMO" --store "$S" --quiet && ok || bad "shared store"
AS=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  chmod 755 "$T" "$T/shared" "$S" && chmod 644 "$S"/*.mdb
  chmod -R a+rX "$T/small"
  AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
else
  chmod a-w "$S" "$S"/*.mdb
fi
expect_rc 0 "plans list on a store not writable by this user" "${AS[@]}" "$CDRATE" plans list --store "$S"
expect_out "cn-payg" "plans listed"
expect_err "cdrate plans: note: $S is not writable by this user and is read without its lock file; a command writing to it at the same time can make this read inconsistent" "note on the missing lock"
expect_rc 0 "the same with --json: no note" "${AS[@]}" "$CDRATE" plans list --store "$S" --json
[ ! -s "$T/err" ] && ok || bad "--json printed: $(cat "$T/err")"
expect_rc 0 "directory show on a store not writable" "${AS[@]}" "$CDRATE" directory show --msisdn 8613800000002 --store "$S"
expect_out "subscriber 30002" "directory shown"
expect_rc 0 "rate --dry-run on a store not writable" "${AS[@]}" "$CDRATE" rate --store "$S" --in "$T/small/cdrs.csv" --dry-run --quiet
expect_rc 1 "plans compile into a store not writable" "${AS[@]}" "$CDRATE" plans compile "$PLANS" --store "$S"
expect_err "cdrate plans: $S: cannot open the store for writing: Permission denied (commands that only read it, such as plans list or rate --dry-run, still can)" "write refused with the reason"
chmod -R u+w "$T/shared"

# ---- an empty file is read 0 ---------------------------------------------------------------------
: >"$T/empty.dat"
for f in csv asterisk freeswitch 3gpp; do
  expect_rc 0 "decode an empty $f file" "$CDRATE" decode --format "$f" "$T/empty.dat" --out "$T/dec.out"
  expect_err "empty.dat: read 0, decoded 0, rejected 0, nonbillable 0" "empty $f file read 0"
  if grep -q "truncated" "$T/err"; then bad "empty $f file rejected: $(cat "$T/err")"; else ok; fi
done
expect_rc 0 "decode an empty 3gpp file, --json" "$CDRATE" decode --format 3gpp "$T/empty.dat" --json --out "$T/dec.out"
if python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))["summary"]["total"]
sys.exit(0 if d["read"] == 0 and d["rejected"] == 0 and d["unreadable"] == 0 else 1)' "$T/err"; then
  ok
else
  bad "decode --json: empty file not read 0: $(cat "$T/err")"
fi
# a 3GPP file of one octet is no empty file: its header is rejected
printf '\0' >"$T/one.dat"
expect_rc 3 "decode a 1-octet 3gpp file" "$CDRATE" decode --format 3gpp "$T/one.dat" --out "$T/dec.out"
expect_err "one.dat: byte 0: file header truncated: 1 of at least 52 octets" "1 octet is a truncated header"
# collect: empty files (two 3GPP, one CSV) go to done/, read 0, exit 0; none refused as "the same
# content" as the other
for fmt in 3gpp csv; do
  SP="$T/spool-$fmt"
  mkdir -p "$SP"
  : >"$SP/a.dat"
  : >"$SP/b.dat"
  expect_rc 0 "collect empty $fmt files" "$CDRATE" collect --spool "$SP" --format "$fmt" --brokers embedded --once --settle 0
  expect_err "a.dat: read 0, published 0, rejected 0, duplicate 0, nonbillable 0" "$fmt: first empty file read 0"
  expect_err "b.dat: read 0, published 0, rejected 0, duplicate 0, nonbillable 0" "$fmt: second empty file read 0"
  expect_err "(2 files, 0 refused, 0 failed)" "$fmt: no file refused or failed"
  [ -f "$SP/done/a.dat" ] && [ -f "$SP/done/b.dat" ] && ok || bad "$fmt: empty files not in done/: $(ls -R "$SP")"
  [ -z "$(ls -A "$SP/failed" 2>/dev/null)" ] && ok || bad "$fmt: failed/ holds $(ls "$SP/failed")"
done
# one more empty file in a later run: still not "already ingested"
: >"$T/spool-3gpp/c.dat"
expect_rc 0 "collect another empty file later, --json" "$CDRATE" collect --spool "$T/spool-3gpp" --format 3gpp --brokers embedded --once --settle 0 --json
expect_out '{"file":"c.dat","status":"done","stats":{"read":0,"published":0,"rejected":0,"duplicate":0,"nonbillable":0}}' "later empty file done, read 0"
[ -f "$T/spool-3gpp/done/c.dat" ] && ok || bad "c.dat not in done/"

# ---- cat: valid JSON for any bytes ---------------------------------------------------------------
head -1 "$T/small/cdrs.csv" >"$T/nonutf8.csv"
printf 'MSC\xff\xc3(1,1,sms,mo,8613800000000,4600000000000,861024689877,2026-11-15T16:13:05+08:00,0,0,0,0,0,26172,16,0\n' >>"$T/nonutf8.csv"
expect_rc 0 "cat a CSV with non-UTF-8 bytes in the source field" "$CDRATE" cat "$T/nonutf8.csv"
if python3 -c 'import json,sys
lines = open(sys.argv[1], "rb").read().decode("utf-8").splitlines()
d = json.loads(lines[0])
sys.exit(0 if len(lines) == 1 and d["source"] == "MSC\ufffd\ufffd(1" and d["msisdn"] == "8613800000000" else 1)' "$T/out"; then
  ok
else
  bad "cat output is not valid JSON with U+FFFD: $(od -c "$T/out" | head -5)"
fi

# ---- the metrics listener: a silent client does not stall another ----------------------------------
S="$T/lim"
# a port nothing listens on: the rater keeps trying to reach its broker, the listener serves
BROKER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_stream() { # start_stream LOG ARGS...: rate-stream in the background; its listening port in $PORT
  local log=$1; shift
  "$CDRATE" rate-stream --brokers "127.0.0.1:$BROKER_PORT" --group msg --store "$S" --metrics-listen 0 "$@" 2>"$log" &
  PIDS+=($!)
  PORT=
  local deadline=$((SECONDS + 30))
  while [ -z "$PORT" ] && [ $SECONDS -lt $deadline ]; do
    PORT=$(sed -n 's/.*msg="metrics endpoint listening" addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
    [ -n "$PORT" ] || sleep 0.1
  done
  [ -n "$PORT" ] && ok || bad "rate-stream did not start its listener: $(cat "$log")"
}
stop_stream() {
  kill -KILL "${PIDS[-1]}" 2>/dev/null
  wait "${PIDS[-1]}" 2>/dev/null
  unset 'PIDS[-1]'
}
# a long time-out: the silent and the partial client stay connected while another is served
start_stream "$T/rs1.log" --metrics-timeout 600000
if python3 - "$PORT" <<'EOF'; then ok; else bad "metrics listener stalled by a silent client"; fi
import socket, sys
port = int(sys.argv[1])
def get(req):
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(req)
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            return data
        data += d
silent = socket.create_connection(("127.0.0.1", port))        # connects, sends nothing
partial = socket.create_connection(("127.0.0.1", port))
partial.sendall(b"GET /metr")                                  # half a request line
answer = get(b"GET /metrics HTTP/1.0\r\n\r\n")
assert answer.startswith(b"HTTP/1.0 200 OK\r\n"), answer[:200]
assert b"\ncdrate_stream_consumed_records_total 0\n" in answer, answer
# both are still connected and unanswered: they were never in the way
for c in (silent, partial):
    c.setblocking(False)
    try:
        d = c.recv(100)
        sys.exit("a stalled client was answered or dropped: %r" % d)
    except BlockingIOError:
        pass
assert get(b"GET /nothing HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 404 "), "404"
assert get(b"POST /metrics HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 405 "), "405"
head = get(b"HEAD /metrics HTTP/1.0\r\n\r\n")
assert head.startswith(b"HTTP/1.0 200 OK\r\n") and head.endswith(b"\r\n\r\n"), head
EOF
stop_stream
# a short time-out: a client that sends nothing (or half a request) gets 408 and is dropped
start_stream "$T/rs2.log" --metrics-timeout 200
if python3 - "$PORT" <<'EOF'; then ok; else bad "a stalled metrics client was not dropped"; fi
import socket, sys
port = int(sys.argv[1])
def rest(c):
    c.settimeout(30)  # a deadline, not a wait: the answer comes after --metrics-timeout
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            return data
        data += d
silent = socket.create_connection(("127.0.0.1", port))
partial = socket.create_connection(("127.0.0.1", port))
partial.sendall(b"GET /metr")
for c in (silent, partial):
    d = rest(c)
    assert d.startswith(b"HTTP/1.0 408 Request Timeout\r\n"), d
fast = socket.create_connection(("127.0.0.1", port), timeout=30)
fast.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
assert rest(fast).startswith(b"HTTP/1.0 200 OK\r\n")
EOF
stop_stream
expect_rc 2 "--metrics-timeout 0 is refused" "$CDRATE" rate-stream --brokers x --group g --store "$S" --metrics-timeout 0
expect_rc 0 "--metrics-timeout in the help" "$CDRATE" rate-stream --help
expect_out "--metrics-timeout MS" "help lists --metrics-timeout"

cli_done messages
