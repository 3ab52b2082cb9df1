#!/usr/bin/env bash
# Chaos on the broker: in the middle of a run the broker is restarted (scripts/kafka restart),
# later stopped for a few seconds and started again, while the collector, two raters and the
# archiver run. A process that gives up with an error during an outage (exit status 1) is
# started again, as a supervisor would; the test prints what exited and why. The result still
# equals offline rating exactly.
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

it_reference "$(it_scale 1000000)" "$(it_scale 100000)" 4
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
say "outage 2: scripts/kafka stop, 5 s down, start"
kafka_do 2 stop
sleep 5
kafka_do 2 start
say "outage 2: the broker is back"
it_wait_done
it_stop_all
it_compare
say "what the outages did: transactions aborted and redone by r1 $(it_stat r1 aborts), by r2 $(it_stat r2 aborts); archiver partitions lost $(cat "$S"/log/archiver.*.err | grep -c '(lost)' || true) times; collector waits for acknowledgements $(cat "$S"/log/collector.*.err | grep -c 'waiting for the brokers' || true)"
say "processes restarted after an error: $IT_RESTARTS"
printf '%s' "$IT_EXITS" | sed 's/^/    /'
it_pass
