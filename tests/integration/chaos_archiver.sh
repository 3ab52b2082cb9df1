#!/usr/bin/env bash
# Chaos on the archiver: four times during the run the harness SIGKILLs the archiver in the middle
# of a ledger append (the first moment, after it has its partitions, that its main thread is in
# pwrite64 or fdatasync, as /proc/PID/syscall shows; after 3 s without one, at that moment) and
# starts it again; each kill comes before the next part of the input is published. At least one
# kill must have landed in a write, else the test fails: it would prove nothing about recovery.
# The ledger still equals offline rating exactly: torn tails are recovered, a half-appended batch
# is resumed from the ledger's own offsets, every rated record is stored once (counts, charges,
# every line byte for byte), and suspense and counters are untouched.
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
it_start_archiver
mid=0
for k in $(seq 1 "$KILLS"); do
    it_wait_log archiver 'assigned .* partition' # it reads cdr.rated, with records to catch up on
    it_kill_in_write archiver 3
    if [ "$IT_IN_WRITE" = 1 ]; then
        mid=$((mid + 1))
        say "kill $k: SIGKILL the archiver (run ${IT_RUNS[archiver]}) in the middle of a ledger write, restart it"
    else
        say "kill $k: SIGKILL the archiver (run ${IT_RUNS[archiver]}), no ledger write seen in 3 s, restart it"
    fi
    it_respawn archiver
    it_feed $((k + 1))
done
[ "$mid" -ge 1 ] || fail "none of the $KILLS kills landed in the middle of a ledger write"
it_wait_done
it_stop_all
it_compare
say "$mid of $KILLS kills landed in a ledger write; torn tails recovered on restart: $(it_log_count archiver 'ledger recovered: dropped a torn tail')"
it_pass
