#!/usr/bin/env bash
# Rebalancing: two raters start; in the middle of the run a third one joins the group (partitions
# move to it, their counters are restored from cdr.counters), later the first one leaves with
# SIGTERM (it commits its batch, leaves the group, exits 0; its partitions move to the others).
# The joiner and the leaver both rated records, and the result still equals offline rating.
# Usage: rebalance.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init rebalance "$@"

it_reference "$(it_scale 1000000)" "$(it_scale 100000)" 5
it_start_collector
it_feed 1
it_wait_collected
it_start_rater r1
it_start_rater r2
it_wait_rater_started r1
it_start_archiver
it_feed 2
it_wait_rater_assigned r2
it_sleep_random_ms 1500
say "r3 joins"
it_start_rater r3
it_wait_rater_assigned r3
it_feed 3
it_wait_rated r3 # the joiner rates
it_wait_rated r1 # and so does the one that will leave
it_sleep_random_ms 1500
say "r1 leaves (SIGTERM)"
it_signal r1 TERM 0
it_feed 4
it_wait_done
it_stop_all
it_compare
c1=$(it_stat r1 consumed) c3=$(it_stat r3 consumed)
[ "$c1" -gt 0 ] && [ "$c3" -gt 0 ] ||
    fail "the leaver r1 rated $c1 records, the joiner r3 $c3: both should have rated some"
say "r1 (left) rated $c1 records, r2 $(it_stat r2 consumed), r3 (joined) $c3"
it_pass
