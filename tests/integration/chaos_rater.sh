#!/usr/bin/env bash
# Chaos on the raters: two rate-stream processes; five times during the run the harness SIGKILLs
# one of them (chosen at random, at a random moment while records flow to it) and starts it
# again with the same transactional id. Part k+1 of the input is being published when kill k
# comes, so records are always left to rate. At least one kill must have landed in the middle
# of a transaction: the restarted process says so when it fences its predecessor's open
# transaction ("fenced an open transaction of a previous instance"), else the test proves
# nothing about exactly-once and fails. The result still equals offline rating exactly (counts, charges, every rated line,
# suspense, counters): nothing lost, nothing rated twice.
# Usage: chaos_rater.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init chaos_rater "$@"

KILLS=5
FENCED='msg="fenced an open transaction of a previous instance"'
it_reference "$(it_scale 2000000)" "$(it_scale 100000)" $((KILLS + 1))
it_start_collector
it_feed 1
it_wait_collected
# short batches: a rater that rates is in a transaction most of the time (its commits come one
# after another), so that a kill lands in one more often
it_start_rater r1 --batch-wait 20
it_start_rater r2 --batch-wait 20
it_wait_rater_started r1
it_start_archiver
# True when the victim's count of consumed records grew between its last two metrics lines (one a
# second): batches are being committed, records flow to it.
victim_rating() {
    local f="$S/log/$victim.${IT_RUNS[$victim]}.out" a b
    a=$(tail -n 2 "$f" | head -n 1 | grep -o '"consumed":[0-9]*' | cut -d: -f2)
    b=$(tail -n 1 "$f" | grep -o '"consumed":[0-9]*' | cut -d: -f2)
    [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ]
}
mid=0
for k in $(seq 1 "$KILLS"); do
    victim=r$((RANDOM % 2 + 1))
    it_feed $((k + 1))               # records flow while the kill comes
    it_wait_rater_assigned "$victim" # after a restart, about 6 s later
    # choose the moment while the victim rates (it is then in a transaction most of the time):
    # up to 10 s for records to flow to it, else the kill comes anyway
    for i in $(seq 1 40); do
        victim_rating && break
        it_check_procs
        sleep 0.25
    done
    it_sleep_random_ms 500
    say "kill $k: SIGKILL $victim (run ${IT_RUNS[$victim]}), restart it"
    it_kill_restart "$victim"
    it_wait_rater_started "$victim" # its init_transactions has fenced the killed run
    if grep -qF -- "$FENCED" "$S/log/$victim.${IT_RUNS[$victim]}.err"; then
        mid=$((mid + 1))
        say "kill $k landed in the middle of a transaction: the restart fenced it"
    else
        say "kill $k landed between two transactions"
    fi
done
[ "$mid" -ge 1 ] ||
    fail "none of the $KILLS kills landed in the middle of a transaction (no '$FENCED' in a restarted rater's log)"
it_wait_done
it_stop_all
it_compare
say "$mid of $KILLS kills landed in the middle of a transaction"
it_pass
