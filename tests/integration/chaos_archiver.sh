#!/usr/bin/env bash
# Chaos on the archiver: four times during the run the harness SIGKILLs the archiver (at a
# random moment after it has its partitions, possibly in the middle of a ledger write) and
# starts it again; each kill comes before the next part of the input is published. The ledger
# still equals offline rating exactly: torn tails are recovered, every rated record is stored
# once (counts, charges, every line byte for byte), and suspense and counters are untouched.
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
for k in $(seq 1 "$KILLS"); do
    it_wait_log archiver 'assigned .* partition' # it reads cdr.rated: then a random moment
    it_sleep_random_ms 1500
    say "kill $k: SIGKILL the archiver (run ${IT_RUNS[archiver]}), restart it"
    it_kill_restart archiver
    it_feed $((k + 1))
done
it_wait_done
it_stop_all
it_compare
it_pass
