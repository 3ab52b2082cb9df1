#!/usr/bin/env bash
# Chaos on the broker: in the middle of a run the broker is restarted (scripts/kafka restart),
# later stopped for a few seconds and started again, while the collector, two raters and the
# archiver run. The outages must have landed on the raters: each of them must have given up its
# partitions because of an outage and restored their counters from cdr.counters when it got
# partitions again, else the test fails. Aborted transactions are sought, not required: while no
# rater has aborted one, or one of them has not restored its counters yet, the test makes more
# outages (10 s down, longer than the raters' session timeout, each once a whole part is on
# cdr.raw and both raters hold partitions), one per part left, and reports how many transactions
# were aborted (whether an outage aborts one depends on where the raters are when it comes: in
# ten runs while this test was written, five saw none, two of them in 7 outages, so requiring
# one would fail every other run). A process that gives up with an error during an outage (exit
# status 1) is started again, as a supervisor would; the test prints what exited and why. The
# result still equals offline rating exactly.
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

PARTS=6
it_reference "$(it_scale 1000000)" "$(it_scale 100000)" "$PARTS"
it_start_collector
it_feed 1
it_wait_collected
it_start_rater r1
it_start_rater r2
it_wait_rater_started r1
it_start_archiver
IT_RETRIABLE_RESTART=1 # from here on, a process that exits 1 is started again
# Counters restored from cdr.counters on an assignment, per rater, before the outages.
RESTORED='msg="partitions assigned" .*counters_restored=[1-9]'
restored1=$(it_log_count r1 "$RESTORED") restored2=$(it_log_count r2 "$RESTORED")

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
# return, while the next part is published), to exercise the raters' abort and rewind. Each
# comes once the raters have a whole part to rate (it is on cdr.raw) and both hold partitions
# again, and lasts longer than their session timeout (6 s): a rater in a transaction at that
# moment (or one it begins from records it has fetched) may have its offsets reach a rebuilt
# group, and abort.
both_hold() { [ "$(it_live_stat r1 partitions)" -gt 0 ] && [ "$(it_live_stat r2 partitions)" -gt 0 ]; }
# ... and while a rater has not yet given up its partitions and restored its counters: outage 1
# (a restart of a few seconds) and outage 2 (5 s) may be shorter than a rater's session timeout, so
# whether they land on both raters depends on timing; a 10 s outage always does (the check below
# then holds in every run, not in most).
both_restored() {
    [ $(($(it_log_count r1 "$RESTORED") - restored1)) -ge 1 ] &&
        [ $(($(it_log_count r2 "$RESTORED") - restored2)) -ge 1 ]
}
while { [ "$(aborted)" -eq 0 ] || ! both_restored; } && [ "$IT_FED" -lt "$PARTS" ]; do
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
r1=$(($(it_log_count r1 "$RESTORED") - restored1)) r2=$(($(it_log_count r2 "$RESTORED") - restored2))
say "after the outages, r1 restored its counters from cdr.counters $r1 times, r2 $r2 times"
[ "$r1" -ge 1 ] && [ "$r2" -ge 1 ] ||
    fail "the outages did not make both raters give up their partitions and restore their counters (r1 $r1, r2 $r2 times)"
[ "$a" -ge 1 ] || say "NOTE: none of the $n outages aborted a transaction (not required: see the top of this file)"
it_pass
