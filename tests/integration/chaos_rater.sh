#!/usr/bin/env bash
# Chaos on the raters: two rate-stream processes; five times during the run the harness SIGKILLs
# one of them and starts it again with the same transactional id. Part k+1 of
# the input is being published when kill k comes, so records are always left to rate. The raters
# run with the test hook CDR_STREAM_HOLD_MS (docs/testing.md): before committing a batch with
# rated records they log "test hook: holding the transaction open" and pause, so that kills 1, 3
# and 5 are aimed at that moment: the harness publishes the next part and kills whichever rater
# first logs a new such line.
# Each of those kills must land in the middle of a transaction: the restarted process says so when
# it fences its predecessor's open transaction ("fenced an open transaction of a previous
# instance"), else the test fails. Kills 2 and 4 come at a random moment while records flow to the
# victim (wherever they land). The result still equals offline rating exactly (counts, charges,
# every rated line, suspense, counters): nothing lost, nothing rated twice.
# Usage: chaos_rater.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init chaos_rater "$@"

KILLS=5
FENCED='msg="fenced an open transaction of a previous instance"'
it_reference "$(it_scale 2000000)" "$(it_scale 100000)" $((KILLS + 1))
it_start_collector
it_feed 1
it_wait_collected
export CDR_STREAM_HOLD_MS=1000 # the raters' test hook (only they read it)
HOLD='msg="test hook: holding the transaction open"'
it_start_rater r1
it_start_rater r2
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
# holds NAME: the hold lines in the log of NAME's current run.
holds() { grep -cF -- "$HOLD" "$S/log/$1.${IT_RUNS[$1]}.err" 2>/dev/null || true; }
# kill_in_hold: feed the next part, then SIGKILL whichever rater first logs a new hold line (its
# transaction is open then for CDR_STREAM_HOLD_MS) and start it again; up to 60 s for one.
kill_in_hold() {
    local n1 n2 i
    n1=$(holds r1) n2=$(holds r2)
    it_feed $((k + 1))
    victim=""
    for i in $(seq 1 1200); do
        if [ "$(holds r1)" -gt "$n1" ]; then victim=r1; elif [ "$(holds r2)" -gt "$n2" ]; then victim=r2; fi
        [ -z "$victim" ] || break
        [ $((i % 20)) -ne 0 ] || it_check_procs
        sleep 0.05
    done
    [ -n "$victim" ] || fail "kill $k: no rater held a transaction open within 60 s of part $((k + 1))"
    say "kill $k: SIGKILL $victim (run ${IT_RUNS[$victim]}) while it holds a transaction open, restart it"
    it_kill_restart "$victim"
}
mid=0
for k in $(seq 1 "$KILLS"); do
    if [ $((k % 2)) -eq 1 ]; then
        kill_in_hold
    else
        victim=r$((RANDOM % 2 + 1))
        it_feed $((k + 1))               # records flow while the kill comes
        it_wait_rater_assigned "$victim" # after a restart, about 6 s later
        # a random moment while the victim rates: up to 10 s for records to flow to it
        for i in $(seq 1 40); do
            victim_rating && break
            it_check_procs
            sleep 0.25
        done
        it_sleep_random_ms 500
        say "kill $k: SIGKILL $victim (run ${IT_RUNS[$victim]}) at a random moment, restart it"
        it_kill_restart "$victim"
    fi
    it_wait_rater_started "$victim" # its init_transactions has fenced the killed run
    if grep -qF -- "$FENCED" "$S/log/$victim.${IT_RUNS[$victim]}.err"; then
        mid=$((mid + 1))
        say "kill $k landed in the middle of a transaction: the restart fenced it"
    elif [ $((k % 2)) -eq 1 ]; then
        fail "kill $k, aimed at an open transaction, did not land in one (no '$FENCED' in $S/log/$victim.${IT_RUNS[$victim]}.err)"
    else
        say "kill $k landed between two transactions"
    fi
done
it_wait_done
it_stop_all
it_compare
say "$mid of $KILLS kills landed in the middle of a transaction"
it_pass
