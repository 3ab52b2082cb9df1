# lib/common.bash - what the integration tests (tests/integration/*.sh) share: a scratch folder and
# clean-up, background processes with their logs, the offline reference, feeding the collector,
# waiting for the streaming path to finish, and the equality checks. Sourced, never run: ctest
# runs only the *.sh files one level up. See docs/testing.md.
#
# A test is:
#   source "$(dirname "$0")/lib/common.bash"
#   it_init NAME "$@"                   # CDRATE SOURCE_DIR FLAVOUR
#   it_reference CDRS SUBSCRIBERS PARTS # gen, store, offline rating, the input in PARTS files
#   it_start_collector; it_feed 1; it_start_rater r1; ... it_start_archiver
#   it_feed 2 ...  (chaos, joins, leaves between the parts)
#   it_wait_done; it_stop_all; it_compare; it_pass
#
# Every wait has a deadline (IT_TIMEOUT seconds, a guard against hangs, not a performance
# threshold). On failure the logs of every process are printed; the scratch folder is removed
# unless CDR_KEEP_SCRATCH=1.

set -euo pipefail
shopt -s nullglob

IT_SANITIZER_RE='LeakSanitizer|AddressSanitizer|runtime error:|ThreadSanitizer'

declare -A IT_PID=()  # name -> PID of the running process ("" when stopped)
declare -A IT_CMD=()  # name -> the command, quoted for eval (restarts use the same)
declare -A IT_RUNS=() # name -> how many times it was started
IT_ORDER=()           # names in start order
IT_EXITS=""           # what exited how, for the failure report
IT_RETRIABLE_RESTART=0
IT_RESTARTS=0

say() { echo "[$IT_NAME $((SECONDS - IT_T0))s] $*"; }

fail() {
    echo "FAIL: $IT_NAME: $*" >&2
    exit 1
}

# it_init NAME CDRATE SOURCE_DIR FLAVOUR
it_init() {
    IT_NAME=$1
    IT_T0=$SECONDS
    [ $# -eq 4 ] || {
        echo "usage: $IT_NAME.sh CDRATE SOURCE_DIR release|asan" >&2
        exit 2
    }
    CDRATE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
    SRC=$(cd "$3" && pwd)
    FLAVOUR=$4
    case "$FLAVOUR" in
    release | asan) ;;
    *) fail "FLAVOUR must be release or asan, not '$FLAVOUR'" ;;
    esac
    [ -x "$CDRATE" ] || fail "$CDRATE is not an executable"
    [ -n "${CDR_KAFKA_BROKERS:-}" ] ||
        fail "CDR_KAFKA_BROKERS is not set: run the tests with make test or scripts/with-services"
    BROKERS=$CDR_KAFKA_BROKERS
    IT_TIMEOUT=${CDR_IT_TIMEOUT:-$([ "$FLAVOUR" = asan ] && echo 900 || echo 300)}
    # Under the build tree (next to the binary), so that a failed run's data is easy to find.
    S=$(mktemp -d "$(dirname "$CDRATE")/integ-$IT_NAME.XXXXXX")
    mkdir -p "$S/log"
    # Topic names allow [A-Za-z0-9._-]: one prefix per run, so runs never share topics.
    PREFIX="it.$IT_NAME.$$.$RANDOM."
    GROUP="${PREFIX}rate"
    # CDR_IT_SEED repeats the random moments of an earlier run (printed below).
    IT_SEED=${CDR_IT_SEED:-$(((RANDOM << 15) | RANDOM))}
    RANDOM=$IT_SEED
    trap it_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    say "scratch $S, brokers $BROKERS, topic prefix $PREFIX, flavour $FLAVOUR, seed $IT_SEED"
}

# The volume for this flavour: N in release, N/10 under the sanitizers.
it_scale() {
    if [ "$FLAVOUR" = asan ]; then echo $(($1 / 10)); else echo "$1"; fi
}

# ---- processes --------------------------------------------------------------------------------

# True while process $1 runs (a zombie, killed but not yet reaped, does not count). One read of
# its status: bash may reap it at any moment.
it_alive() {
    local st
    [ -n "$1" ] && st=$(grep '^State:' "/proc/$1/status" 2>/dev/null) && [[ $st != *Z* ]]
}

# it_spawn NAME CMD...: run CMD in the background, stdout and stderr in $S/log/NAME.RUN.{out,err}.
it_spawn() {
    local name=$1
    shift
    IT_CMD[$name]=$(printf '%q ' "$@")
    [ -n "${IT_RUNS[$name]:-}" ] || IT_ORDER+=("$name")
    IT_RUNS[$name]=$((${IT_RUNS[$name]:-0} + 1))
    local log="$S/log/$name.${IT_RUNS[$name]}"
    "$@" >"$log.out" 2>"$log.err" &
    IT_PID[$name]=$!
}

# Start NAME again with the command it was first started with.
it_respawn() {
    local name=$1
    eval "it_spawn $name ${IT_CMD[$name]}"
}

# it_signal NAME SIG [WANT_RC]: send SIG and wait (at most 60 s) for the process to end; with
# WANT_RC, fail unless it exits with that status.
it_signal() {
    local name=$1 sig=$2 want=${3:-} pid=${IT_PID[$1]} rc=0 i
    [ -n "$pid" ] || fail "$name is not running"
    kill "-$sig" "$pid" 2>/dev/null || true
    local gone=0
    { # stderr aside: bash reports a job that a signal ended ("Killed") when it reaps it
        for i in $(seq 1 600); do
            it_alive "$pid" || {
                gone=1
                break
            }
            sleep 0.1
        done
        [ "$gone" = 0 ] || wait "$pid" || rc=$?
    } 2>/dev/null
    [ "$gone" = 1 ] || {
        kill -KILL "$pid" 2>/dev/null || true
        fail "$name (pid $pid) did not exit within 60 s of SIG$sig"
    }
    IT_PID[$name]=""
    IT_EXITS+="$name run ${IT_RUNS[$name]}: SIG$sig, exit $rc"$'\n'
    [ -z "$want" ] || [ "$rc" -eq "$want" ] ||
        fail "$name exited with status $rc after SIG$sig, expected $want (log: $S/log/$name.${IT_RUNS[$name]}.err)"
}

# Fail (or, for a retriable failure while IT_RETRIABLE_RESTART=1, restart) when a process that
# should run has exited.
it_check_procs() {
    local name pid rc
    for name in "${IT_ORDER[@]}"; do
        pid=${IT_PID[$name]}
        [ -n "$pid" ] && ! it_alive "$pid" || continue
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        IT_PID[$name]=""
        IT_EXITS+="$name run ${IT_RUNS[$name]}: exited by itself, status $rc"$'\n'
        local err="$S/log/$name.${IT_RUNS[$name]}.err"
        if [ "$IT_RETRIABLE_RESTART" = 1 ] && [ "$rc" -eq 1 ]; then
            say "$name exited with status 1 ($(grep -v '^cdrate: kafka' "$err" | tail -n 1)): restarting it"
            IT_RESTARTS=$((IT_RESTARTS + 1))
            it_respawn "$name"
        else
            fail "$name exited with status $rc while it should run (log: $err)"
        fi
    done
}

# it_kill_restart NAME: SIGKILL NAME, then start it again with the same command (a rater keeps its
# transactional id, so the new run fences the killed one and aborts its open transaction).
it_kill_restart() {
    it_signal "$1" KILL 137
    it_respawn "$1"
}

# The numbers of the system calls that write a file to disk, pwrite64 and fdatasync (the ledger's
# appends), on this machine's architecture.
it_write_syscalls() {
    case "$(uname -m)" in
    x86_64) echo "18 75" ;;
    aarch64) echo "68 83" ;;
    *) fail "no system call numbers for $(uname -m) in it_write_syscalls" ;;
    esac
}

# it_kill_in_write NAME SECONDS: SIGKILL NAME at the first moment, within SECONDS, that its main
# thread is inside pwrite64 or fdatasync (/proc/PID/syscall), that is in the middle of a ledger
# append; after SECONDS without one, at that moment. Sets IT_IN_WRITE to 1 when the kill landed in
# a write, else 0. Watching is a busy loop of bash builtins (no process per look): a write lasts
# milliseconds.
it_kill_in_write() {
    local name=$1 limit=$2 pid=${IT_PID[$1]} nr rest want t_end
    want=" $(it_write_syscalls) "
    [ -n "$pid" ] || fail "$name is not running"
    read -r nr rest <"/proc/$pid/syscall" ||
        fail "cannot read /proc/$pid/syscall: the test needs it to kill $name in the middle of a write"
    IT_IN_WRITE=0
    t_end=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$t_end" ]; do
        read -r nr rest <"/proc/$pid/syscall" 2>/dev/null || break # it is gone: it_signal says how
        if [[ $want == *" $nr "* ]]; then
            kill -KILL "$pid" 2>/dev/null || true
            IT_IN_WRITE=1
            break
        fi
    done
    it_signal "$name" KILL 137
}

# it_log_count NAME ERE: the number of lines matching ERE in the stderr of all of NAME's runs.
it_log_count() {
    cat "$S/log/$1".*.err 2>/dev/null | grep -cE -- "$2" || true
}

# it_stat NAME FIELD: the sum of a numeric field over the --stats lines that NAME's runs printed
# at exit (the lines with "ok"; a killed run printed none).
it_stat() {
    cat "$S/log/$1".*.out | grep '"ok":' | grep -o "\"$2\":[0-9]*" | cut -d: -f2 |
        awk '{ s += $1 } END { print s + 0 }'
}

# it_live_stat NAME FIELD: the field in the last metrics line of NAME's current run (raters
# print one a second, --stats-interval 1); 0 before the first.
it_live_stat() {
    local v
    v=$(tail -n 1 "$S/log/$1.${IT_RUNS[$1]}.out" 2>/dev/null | grep -o "\"$2\":[0-9]*" | cut -d: -f2)
    echo "${v:-0}"
}

# it_wait_rated NAME: wait until rater NAME's current run has committed records.
it_wait_rated() {
    IT_RATED_NAME=$1
    it_wait "$1 to commit rated records" it_has_rated
}
it_has_rated() { [ "$(it_live_stat "$IT_RATED_NAME" consumed)" -gt 0 ]; }

# Stop every running process with SIGTERM; each must exit 0.
it_stop_all() {
    local name
    for name in "${IT_ORDER[@]}"; do
        [ -z "${IT_PID[$name]}" ] || it_signal "$name" TERM 0
    done
}

# it_wait DESC FUNCTION: call FUNCTION every half second until it succeeds; the processes must
# keep running meanwhile; fail after IT_TIMEOUT seconds.
it_wait() {
    local desc=$1 fn=$2 t0=$SECONDS
    until "$fn"; do
        it_check_procs
        [ $((SECONDS - t0)) -lt "$IT_TIMEOUT" ] ||
            fail "timed out after $IT_TIMEOUT s waiting for $desc${IT_WAIT_STATE:+ ($IT_WAIT_STATE)}"
        sleep 0.5
    done
}

# A random delay of 0 to $1 milliseconds.
it_sleep_random_ms() {
    local ms=$((RANDOM % ($1 + 1)))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

it_exit() {
    local rc=$?
    trap - EXIT INT TERM
    local name
    for name in "${IT_ORDER[@]}"; do
        [ -z "${IT_PID[$name]:-}" ] || kill -KILL "${IT_PID[$name]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    # The sanitizers report into the processes' stderr, which ctest does not see: show them.
    if [ -d "${S:-}/log" ] && grep -lE "$IT_SANITIZER_RE" "$S"/log/*.err >/dev/null 2>&1; then
        local f
        for f in $(grep -lE "$IT_SANITIZER_RE" "$S"/log/*.err); do
            echo "---- sanitizer report in $(basename "$f"):" >&2
            head -n 60 "$f" >&2
        done
        [ "$rc" -ne 0 ] || rc=1
    fi
    if [ "$rc" -ne 0 ] && [ -d "${S:-}/log" ]; then
        echo "---- $IT_NAME failed (status $rc); exits:" >&2
        printf '%s' "$IT_EXITS" >&2
        local f
        for f in "$S"/log/*; do
            [ -s "$f" ] || continue
            echo "---- $(basename "$f") (last 25 lines):" >&2
            tail -n 25 "$f" >&2
        done
    fi
    if [ -n "${S:-}" ] && [ -d "$S" ]; then
        if [ "${CDR_KEEP_SCRATCH:-0}" = 1 ]; then
            echo "scratch kept: $S" >&2
        else
            rm -rf "$S"
        fi
    fi
    exit "$rc"
}

# ---- the offline reference ----------------------------------------------------------------------

# it_reference CDRS SUBSCRIBERS PARTS
# $S/gen: `cdrate gen` (directory with enterprises and pools, CDRs); $S/store: the sample plans
# and the directory (what the raters use); $S/store-off: a copy, rated offline (rate saves its
# counters there). The reference: $S/ref/rated.txt (rated lines, sorted), suspense.txt
# (unratable lines, sorted), counters.txt; REF_RECORDS, REF_RATED, REF_SUSPENSE, REF_CHARGE
# (micro-units). The input is cut into PARTS spool files $S/parts/cdrs-NNNN.csv, in order.
it_reference() {
    local cdrs=$1 subs=$2 parts=$3
    say "reference: gen $cdrs CDRs, $subs subscribers; offline rating"
    "$CDRATE" gen --out "$S/gen" --subscribers "$subs" --cdrs "$cdrs" --quiet ||
        fail "cdrate gen failed"
    "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$S/store" --quiet ||
        fail "plans compile failed"
    "$CDRATE" directory load "$S/gen/directory.dir" --store "$S/store" --quiet ||
        fail "directory load failed"
    cp -a "$S/store" "$S/store-off"
    local rc=0
    "$CDRATE" rate --store "$S/store-off" --in "$S/gen/cdrs.csv" --out "$S/offline.csv" \
        --quiet 2>"$S/log/offline-rate.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "offline rate exited $rc (see $S/log/offline-rate.err)"
    mkdir -p "$S/ref"
    # status is the 7th field: "none" when rated (docs/rated-format.md)
    tail -n +2 "$S/offline.csv" | awk -F, '$7 == "none"' | LC_ALL=C sort >"$S/ref/rated.txt"
    # cdr.suspense entries as `suspense list` gives them (it_suspense_entries), all pending
    tail -n +2 "$S/offline.csv" | awk -F, -v OFS=, '$7 != "none" { print $1, $2, $3, $6, $7, "pending" }' |
        LC_ALL=C sort >"$S/ref/suspense.txt"
    REF_RECORDS=$(($(wc -l <"$S/offline.csv") - 1))
    REF_RATED=$(wc -l <"$S/ref/rated.txt")
    REF_SUSPENSE=$(wc -l <"$S/ref/suspense.txt")
    REF_CHARGE=$(it_charge_sum <"$S/ref/rated.txt")
    [ "$REF_RECORDS" -eq "$cdrs" ] || fail "offline rating wrote $REF_RECORDS records, not $cdrs"
    "$CDRATE" counters --store "$S/store-off" --raw --quiet >"$S/ref/counters.txt" ||
        fail "counters --store failed"
    # The reference must exercise what the test claims: bundles, enterprise pools, suspense.
    grep -q ' 8[0-9a-f]\{15\} ' "$S/ref/counters.txt" || fail "no enterprise pool counter in the reference"
    [ "$REF_SUSPENSE" -gt 0 ] || fail "no unratable record in the reference"
    say "reference: $REF_RECORDS records, $REF_RATED rated, $REF_SUSPENSE unratable, charge $REF_CHARGE micro-units, $(wc -l <"$S/ref/counters.txt") counters"
    # the input in PARTS files, each with the header, in the order of the file
    mkdir -p "$S/parts" "$S/spool"
    awk -v parts="$parts" -v n="$cdrs" -v dir="$S/parts" '
        NR == 1 { hdr = $0; next }
        { i = int((NR - 2) * parts / n) + 1
          f = sprintf("%s/cdrs-%04d.csv", dir, i)
          if (!(f in seen)) { seen[f] = 1; print hdr > f }
          print > f }' "$S/gen/cdrs.csv"
    IT_PARTS=$parts
}

# Sums of the charge column (17th, 6 decimals) in micro-units per currency (18th), as
# "CNY:123,EUR:45" in code order: currencies are never added together (docs/rated-format.md).
# awk's doubles are exact below 2^53.
it_charge_sum() {
    awk -F, '{ c = $17; neg = sub(/^-/, "", c); sub(/\./, "", c); s[$18] += (neg ? -c : c) }
             END { for (k in s) printf "%s:%.0f\n", k, s[k] }' | LC_ALL=C sort | paste -sd, -
}

# ---- the streaming path -----------------------------------------------------------------------

# The collector, watching $S/spool; its store apart; cdr.raw keyed by the directory's charging
# owner (--rating-store).
it_start_collector() {
    it_spawn collector "$CDRATE" collect --spool "$S/spool" --format csv --brokers "$BROKERS" \
        --store "$S/collect-store" --rating-store "$S/store" --topic-prefix "$PREFIX" \
        --source "it-$IT_NAME" --dedup-days 31 --stats
}

# it_feed K: move part K into the spool (a rename, as a network element does).
it_feed() {
    local f
    f=$(printf '%s/parts/cdrs-%04d.csv' "$S" "$1")
    [ -f "$f" ] || fail "no part $1"
    mv "$f" "$S/spool/"
    IT_FED=$1
}

it_collected() {
    local n
    n=$(find "$S/spool/done" -maxdepth 1 -name 'cdrs-*.csv' 2>/dev/null | wc -l)
    IT_WAIT_STATE="$n of $IT_FED parts collected"
    [ "$n" -ge "$IT_FED" ]
}

# Wait until every part fed so far is in spool/done (committed to cdr.raw).
it_wait_collected() {
    it_wait "the collector to publish part $IT_FED" it_collected
}

# it_start_rater NAME [ARGS...]: a rate-stream process of the test's group; its transactional id
# is the group's plus NAME, so that a restart of NAME fences its killed predecessor.
it_start_rater() {
    local name=$1
    shift
    it_spawn "$name" "$CDRATE" rate-stream --brokers "$BROKERS" --group "$GROUP" --store "$S/store" \
        --topic-prefix "$PREFIX" --transactional-id "$GROUP.$name" --stats --stats-interval 1 "$@"
}

# it_wait_log NAME ERE: wait until the stderr of NAME's current run has a line matching ERE.
it_wait_log() {
    IT_LOG_FILE="$S/log/$1.${IT_RUNS[$1]}.err" IT_LOG_RE=$2
    it_wait "'$2' in the log of $1" it_log_has
}
it_log_has() { grep -qE -- "$IT_LOG_RE" "$IT_LOG_FILE" 2>/dev/null; }

# Wait until rater NAME has its topics (cdr.rated and the others are created at start-up).
it_wait_rater_started() {
    it_wait_log "$1" 'msg="rate-stream started"'
}

# Wait until rater NAME's current run has partitions (and is rating them).
it_wait_rater_assigned() {
    it_wait_log "$1" 'msg="partitions assigned" parts=[0-9]'
}

it_start_archiver() {
    it_spawn archiver "$CDRATE" archive --brokers "$BROKERS" --ledger "$S/ledger" \
        --group "${PREFIX}archive" --topic-prefix "$PREFIX" --stats
}

# Ledger totals over every cycle: "RECORDS CUR:MICRO,CUR:MICRO" (`ledger totals --json` ends
# with the totals of all cycles after the "cycles" array; charges_micro is per currency).
it_ledger_totals() {
    [ -d "$S/ledger" ] || {
        echo "0 -"
        return 0
    }
    local j t
    j=$("$CDRATE" ledger totals --ledger "$S/ledger" --json 2>>"$S/log/poll.err") || return 1
    t=$(sed -n 's/.*\],"records":\([0-9]*\),.*,"charges_micro":{\([^}]*\)},"currencies":.*/\1 \2/p' <<<"$j" | tr -d '"')
    [[ $t =~ ^[0-9]+\ ([A-Z?]{3}:-?[0-9]+(,[A-Z?]{3}:-?[0-9]+)*)?$ ]] || {
        echo "unreadable ledger totals: $j" >>"$S/log/poll.err"
        return 1
    }
    echo "$t"
}

# The entries of cdr.suspense as "source,origin_id,msisdn,start,reason,state", one per line.
it_suspense_entries() {
    "$CDRATE" suspense list --brokers "$BROKERS" --topic-prefix "$PREFIX" --json |
        sed -n 's/.*"reason":"\([^"]*\)",.*"state":"\([^"]*\)","source":"\([^"]*\)","origin_id":"\([^"]*\)","msisdn":"\([^"]*\)","start":"\([^"]*\)".*/\3,\4,\5,\6,\1,\2/p'
}

it_suspense_count() {
    local j n
    j=$("$CDRATE" suspense list --brokers "$BROKERS" --topic-prefix "$PREFIX" --json \
        2>>"$S/log/poll.err") || return 1
    n=$(sed -n 's/^{"total":"all","entries":\([0-9]*\),.*/\1/p' <<<"$j")
    [[ $n =~ ^[0-9]+$ ]] || {
        echo "no total in suspense list: $(tail -n 1 <<<"$j")" >>"$S/log/poll.err"
        return 1
    }
    echo "$n"
}

# True when the ledger and the suspense topic hold what offline rating gave; fails at once when
# they hold more (a duplicate).
it_all_there() {
    local t r c s
    IT_WAIT_STATE="ledger totals or suspense list failed: see $S/log/poll.err"
    t=$(it_ledger_totals) || return 1
    read -r r c <<<"$t"
    s=$(it_suspense_count) || return 1
    IT_WAIT_STATE="ledger $r of $REF_RATED records, suspense $s of $REF_SUSPENSE"
    [ "$r" -le "$REF_RATED" ] || fail "the ledger holds $r records, more than the $REF_RATED rated offline"
    [ "$s" -le "$REF_SUSPENSE" ] || fail "cdr.suspense holds $s records, more than the $REF_SUSPENSE unratable offline"
    [ "$r" -eq "$REF_RATED" ] && [ "$s" -eq "$REF_SUSPENSE" ]
}

# Feed every part not fed yet, then wait until the collector has published them all and the
# ledger and cdr.suspense hold everything; then stop the collector (its totals are checked).
it_wait_done() {
    local k
    for k in $(seq $((IT_FED + 1)) "$IT_PARTS"); do it_feed "$k"; done
    it_wait_collected
    it_signal collector TERM 0
    it_check_collect_totals
    it_wait "the ledger and cdr.suspense to hold every record" it_all_there
    say "all records arrived: $IT_WAIT_STATE"
}

# it_collect_sum KIND FIELD: the sum of a numeric field over the collector's --stats lines of one
# kind, "file" (one per file) or "total" (one per run, at its exit), of all its runs.
it_collect_sum() {
    cat "$S"/log/collector.*.out | grep "^{\"$1\":" | grep -o "\"$2\":[0-9]*" |
        cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}

# The collector's runs together read and published every record, and rejected none: per file,
# and in the totals each run printed at its exit, which must say the same (every part a file in
# done/, nothing rejected, duplicate, non-billable, refused or failed).
it_check_collect_totals() {
    local read pub runs tread tpub tfiles f v
    read=$(it_collect_sum file read)
    pub=$(it_collect_sum file published)
    [ "$read" -eq "$REF_RECORDS" ] && [ "$pub" -eq "$REF_RECORDS" ] ||
        fail "the collector read $read and published $pub records in its files, want $REF_RECORDS each"
    runs=$(cat "$S"/log/collector.*.out | grep -c '^{"total":' || true)
    [ "$runs" -eq "${IT_RUNS[collector]}" ] ||
        fail "$runs of the collector's ${IT_RUNS[collector]} runs printed their totals"
    tread=$(it_collect_sum total read)
    tpub=$(it_collect_sum total published)
    tfiles=$(it_collect_sum total files)
    [ "$tread" -eq "$REF_RECORDS" ] && [ "$tpub" -eq "$REF_RECORDS" ] && [ "$tfiles" -eq "$IT_PARTS" ] ||
        fail "the collector's totals: read $tread, published $tpub, $tfiles files; want $REF_RECORDS, $REF_RECORDS and $IT_PARTS files"
    for f in rejected duplicate nonbillable refused failed; do
        v=$(it_collect_sum total "$f")
        [ "$v" -eq 0 ] || fail "the collector's totals: $f $v, want 0"
    done
}

# ---- the comparison ---------------------------------------------------------------------------

# it_cmp WHAT GOT WANT: the two files are equal, else fail with the first differences.
it_cmp() {
    if ! cmp -s "$2" "$3"; then
        echo "FAIL: $IT_NAME: $1 differ: $(wc -l <"$2") lines streamed, $(wc -l <"$3") offline; first differences (< stream, > offline):" >&2
        diff "$2" "$3" | head -n 20 >&2 || true
        exit 1
    fi
}

# Everything the stream produced equals offline rating: record counts, the sum of charges, every
# rated line byte for byte, the suspended records, every counter.
it_compare() {
    mkdir -p "$S/got"
    local t r c
    t=$(it_ledger_totals) || fail "cannot read the ledger totals (see $S/log/poll.err)"
    read -r r c <<<"$t"
    [ "$r" -eq "$REF_RATED" ] || fail "ledger totals: $r records, offline $REF_RATED"
    [ "$c" = "$REF_CHARGE" ] || fail "ledger totals: charges $c micro-units, offline $REF_CHARGE"
    # with --store the lines are those of cdrate rate, byte for byte; the header line goes
    "$CDRATE" ledger cat --ledger "$S/ledger" --store "$S/store" --quiet 2>"$S/log/ledger-cat.err" |
        tail -n +2 | LC_ALL=C sort >"$S/got/rated.txt" || fail "ledger cat failed"
    it_cmp "rated records (ledger cat vs offline rate)" "$S/got/rated.txt" "$S/ref/rated.txt"
    it_suspense_entries 2>"$S/log/suspense-list.err" | LC_ALL=C sort >"$S/got/suspense.txt" ||
        fail "suspense list failed"
    it_cmp "suspended records (cdr.suspense vs offline unratable)" "$S/got/suspense.txt" \
        "$S/ref/suspense.txt"
    "$CDRATE" counters --brokers "$BROKERS" --topic-prefix "$PREFIX" --quiet \
        >"$S/got/counters.txt" 2>"$S/log/counters.err" || fail "counters --brokers failed"
    it_cmp "bundle counters (cdr.counters vs the offline store)" "$S/got/counters.txt" \
        "$S/ref/counters.txt"
    say "equal to offline rating: $r rated records, charge $c micro-units, $REF_SUSPENSE suspended, $(wc -l <"$S/got/counters.txt") counters"
}

it_pass() {
    ! grep -qE "$IT_SANITIZER_RE" "$S"/log/*.err 2>/dev/null ||
        fail "a sanitizer report in a process's log (printed below)"
    say "PASS in $((SECONDS - IT_T0)) s"
}
