#!/usr/bin/env bash
# Chaos on the broker: in the middle of a run the broker is restarted (scripts/kafka restart),
# later stopped for a few seconds and started again, while the collector, two raters and the
# archiver run. The outages must have hit the raters in the middle of their work: at least one
# transaction aborted because of them ("transaction aborted" in a rater's log, "aborts" in its
# --stats). Whether an outage aborts a transaction depends on where the raters are when it comes
# (a batch whose offsets reach the group after the group was rebuilt), so while none has, the
# test goes on with more outages, each one when the raters have a whole part to rate, up to the
# number of parts; then it fails if none aborted. A process that gives up with an error during
# an outage (exit status 1) is started again, as a supervisor would; the test prints what exited
# and why. The result still equals offline rating exactly.
# Needs CDR_KAFKA_STATE naming the broker of CDR_KAFKA_BROKERS (scripts/with-services sets both).
# Usage: chaos_broker.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init chaos_broker "$@"

[ -n "${CDR_KAFKA_STATE:-}" ] && [ -f "$CDR_KAFKA_STATE" ] ||
    fail "CDR_KAFKA_STATE does not name a broker state file: run the test under scripts/with-services"
state_brokers=$(sed -n 's/^BROKERS=//p' "$CDR_KAFKA_STATE")
[ "$state_brokers" = "$BROKERS" ] ||
    fail "CDR_KAFKA_STATE names the broker at $state_brokers, not CDR_KAFKA_BROKERS=$BROKERS"

# kafka_do N VERB: scripts/kafka VERB, its output in the log folder
kafka_do() {
    "$SRC/scripts/kafka" "$2" >"$S/log/kafka-$1-$2.out" 2>"$S/log/kafka-$1-$2.err" ||
        fail "scripts/kafka $2 failed (log: $S/log/kafka-$1-$2.err)"
}

# outage N SECONDS: stop the broker, SECONDS down, start it again
outage() {
    say "outage $1: scripts/kafka stop, $2 s down, start"
    kafka_do "$1" stop
    sleep "$2"
    kafka_do "$1" start
    say "outage $1: the broker is back"
}

# Transactions the raters aborted so far (all their runs, the killed or failed ones too).
aborted() {
    echo $(($(it_log_count r1 'msg="transaction aborted"') + $(it_log_count r2 'msg="transaction aborted"')))
}

PARTS=8
it_reference "$(it_scale 1000000)" "$(it_scale 100000)" "$PARTS"
it_start_collector
it_feed 1
it_wait_collected
it_start_rater r1
it_start_rater r2
it_wait_rater_started r1
it_start_archiver
IT_RETRIABLE_RESTART=1 # from here on, a process that exits 1 is started again

it_feed 2
it_wait_rater_assigned r2
it_sleep_random_ms 1500
say "outage 1: scripts/kafka restart"
kafka_do 1 restart
say "outage 1: the broker is back"
it_feed 3
it_sleep_random_ms 1500
outage 2 5
n=2
# More outages while no transaction was aborted (an abort shows within seconds of the broker's
# return, while the next part is published). Each comes once the raters have a whole part to
# rate (it is on cdr.raw) and both hold partitions again, and lasts longer than their session
# timeout (6 s): a rater in a transaction at that moment (or one it begins from records it has
# fetched) cannot answer the rebalance that follows, and its offsets reach a rebuilt group.
both_hold() { [ "$(it_live_stat r1 partitions)" -gt 0 ] && [ "$(it_live_stat r2 partitions)" -gt 0 ]; }
while [ "$(aborted)" -eq 0 ] && [ "$IT_FED" -lt "$PARTS" ]; do
    it_feed $((IT_FED + 1))
    it_wait_collected
    it_wait "both raters to hold partitions" both_hold
    n=$((n + 1))
    outage "$n" 10
done
it_wait_done
it_stop_all
it_compare
a=$(aborted)
say "what the $n outages did: transactions aborted and redone: $a (r1 $(it_stat r1 aborts), r2 $(it_stat r2 aborts) in their --stats); archiver partitions lost $(it_log_count archiver '\(lost\)') times; collector waits for acknowledgements $(it_log_count collector 'waiting for the brokers')"
say "processes restarted after an error: $IT_RESTARTS"
printf '%s' "$IT_EXITS" | sed 's/^/    /'
[ "$a" -ge 1 ] || fail "none of the $n outages aborted a transaction of the raters: the test proved nothing about them"
it_pass
