#!/usr/bin/env bash
# Chaos on the archiver: four times during the run the harness SIGKILLs the archiver in the middle
# of a ledger append and starts it again; each kill comes before the next part of the input is
# published. The archiver runs with the test hook CDR_LEDGER_HOLD_MS (docs/testing.md): the first
# frame each run appends is written in two halves with a pause between them, announced on stderr
# ("holding a half-written frame"), and the harness kills the archiver as soon as it sees that
# line: the segment then ends in a torn frame. Every restart must find and drop it ("ledger
# recovered: dropped a torn tail"), else the test fails. The ledger still equals offline rating
# exactly: a half-appended batch is resumed from the ledger's own offsets, every rated record is
# stored once (counts, charges, every line byte for byte), and suspense and counters are untouched.
# Usage: chaos_archiver.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init chaos_archiver "$@"

KILLS=4
it_reference "$(it_scale 1000000)" "$(it_scale 100000)" $((KILLS + 1))
it_start_collector
it_feed 1
it_wait_collected
it_start_rater r1
it_start_rater r2
it_wait_rater_started r1
export CDR_LEDGER_HOLD_MS=2000 # the archiver's test hook (only a ledger writer reads it)
HOLD='holding a half-written frame'
TORN='ledger recovered: dropped a torn tail'
it_start_archiver
mid=0
for k in $(seq 1 "$KILLS"); do
    # the current run announces its half-written first frame: kill it then (up to 120 s)
    it_wait_log archiver "$HOLD"
    say "kill $k: SIGKILL the archiver (run ${IT_RUNS[archiver]}) while its segment ends in a half-written frame, restart it"
    it_kill_restart archiver
    it_wait_log archiver 'assigned .* partition' # the restarted run has opened (recovered) the ledger
    if grep -qF -- "$TORN" "$S/log/archiver.${IT_RUNS[archiver]}.err"; then
        mid=$((mid + 1))
    else
        fail "kill $k: the restarted archiver found no torn tail to drop (no '$TORN' in $S/log/archiver.${IT_RUNS[archiver]}.err)"
    fi
    it_feed $((k + 1))
done
it_wait_done
it_stop_all
it_compare
say "$mid of $KILLS kills left a torn frame that the restart dropped"
it_pass
