#!/usr/bin/env bash
# End to end on the real broker: collector -> cdr.raw -> two rate-stream processes -> cdr.rated,
# cdr.suspense, cdr.counters -> archiver -> ledger, all running at once, equals offline rating of
# the same CDRs: record counts, the sum of charges, every rated line byte for byte, the suspended
# records, every bundle counter (own bundles and enterprise pools).
# Usage: e2e_equality.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init e2e_equality "$@"

it_reference "$(it_scale 1000000)" "$(it_scale 100000)" 4
it_start_collector
it_feed 1
it_wait_collected # cdr.raw exists: the raters need it
it_start_rater r1
it_start_rater r2
it_wait_rater_started r1 # it created cdr.rated, which the archiver reads
it_start_archiver
it_wait_rater_assigned r1
it_wait_rater_assigned r2 # both hold partitions before the rest of the input comes
it_wait_done
it_stop_all
it_compare
# both raters took part: each rated some of the records, together all of them, once
c1=$(it_stat r1 consumed) c2=$(it_stat r2 consumed)
[ "$c1" -gt 0 ] && [ "$c2" -gt 0 ] && [ $((c1 + c2)) -eq "$REF_RECORDS" ] ||
    fail "the raters consumed $c1 and $c2 records, want both > 0 and $REF_RECORDS in all"
say "r1 rated $c1 records, r2 $c2"
it_pass
