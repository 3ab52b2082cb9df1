#!/usr/bin/env bash
# Chaos on the raters: two rate-stream processes; five times during the run the harness SIGKILLs
# one of them (chosen at random, at a random moment) and starts it again with the same
# transactional id. Each kill comes before the next part of the input is published, so records
# are always left to rate. The result still equals offline rating exactly (counts, charges,
# every rated line, suspense, counters): nothing lost, nothing rated twice.
# Usage: chaos_rater.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init chaos_rater "$@"

KILLS=5
it_reference "$(it_scale 2000000)" "$(it_scale 100000)" $((KILLS + 1))
it_start_collector
it_feed 1
it_wait_collected
it_start_rater r1
it_start_rater r2
it_wait_rater_started r1
it_start_archiver
for k in $(seq 1 "$KILLS"); do
    victim=r$((RANDOM % 2 + 1))
    it_wait_rater_assigned "$victim" # it rates (after a restart, about 6 s later): a random moment

    it_sleep_random_ms 2000
    say "kill $k: SIGKILL $victim (run ${IT_RUNS[$victim]}), restart it"
    it_kill_restart "$victim"
    it_feed $((k + 1))
done
it_wait_done
it_stop_all
it_compare
it_pass
