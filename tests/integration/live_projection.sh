#!/usr/bin/env bash
# The live state's projection on the real broker (docs/live-state.md): collector -> cdr.raw ->
# rate-stream -> cdr.rated -> `cdrate project` into a store. The projector is killed with SIGKILL
# in the middle of the run (after it applied batches) and started again; a second projector in
# another group, on the same store, applies nothing again (each partition resumes at the store's
# offsets). At the end the store's live state, exported (`cdrate query export`), is byte for byte
# the live state offline rating gave (`cdrate rate` on the same CDRs), and the queries answer the
# same from both stores.
# Usage: live_projection.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init live_projection "$@"

it_reference "$(it_scale 400000)" "$(it_scale 40000)" 4
cp -a "$S/store" "$S/store-live" # plans and directory, no state yet
it_export() { "$CDRATE" query export --store "$1" >"$2" 2>>"$S/log/poll.err"; }
it_export "$S/store-off" "$S/ref/live.jsonl" || fail "query export of the offline store failed"
[ -s "$S/ref/live.jsonl" ] || fail "offline rating left no live state"
say "reference live state: $(grep -c '^{"line"' "$S/ref/live.jsonl") line-cycles, $(grep -c '^{"account"' "$S/ref/live.jsonl") account-cycles"

it_start_collector
it_feed 1
it_wait_collected
it_start_rater r1
it_wait_rater_started r1 # cdr.rated exists
it_start_archiver
start_projector() {
    it_spawn project "$CDRATE" project --brokers "$BROKERS" --store "$S/store-live" \
        --group "${PREFIX}project" --topic-prefix "$PREFIX" --json --batch 2000
}
start_projector
# it applied batches: the store's state has lines
has_state() {
    it_export "$S/store-live" "$S/live-now.jsonl" && [ -s "$S/live-now.jsonl" ]
}
it_wait "the projector to apply a batch" has_state
it_feed 2
it_kill_restart project
say "projector killed after $(grep -c '^{"line"' "$S/live-now.jsonl") line-cycles were applied, started again"
it_wait_done # every record in the ledger and in cdr.suspense
# the projector catches up: its state is the reference's size
caught_up() {
    it_export "$S/store-live" "$S/live-now.jsonl" &&
        [ "$(wc -l <"$S/live-now.jsonl")" -ge "$(wc -l <"$S/ref/live.jsonl")" ]
}
it_wait "the projector to catch up" caught_up
it_stop_all
it_export "$S/store-live" "$S/live.jsonl" || fail "query export of the projected store failed"
cmp -s "$S/live.jsonl" "$S/ref/live.jsonl" || {
    diff "$S/ref/live.jsonl" "$S/live.jsonl" | awk 'NR <= 20' 
    fail "the projected live state differs from offline rating's (above)"
}
say "the projected live state equals offline rating's: $(wc -l <"$S/live.jsonl") lines"

# another group on the same store: every partition resumes at the store's offsets, nothing again
cp "$S/store-live/data.mdb" "$S/before-second.mdb"
"$CDRATE" project --brokers "$BROKERS" --store "$S/store-live" --group "${PREFIX}project2" \
    --topic-prefix "$PREFIX" --idle-exit 1000 --json >"$S/log/project2.out" 2>"$S/log/project2.err" ||
    fail "a second projector failed (see $S/log/project2.err)"
grep -q '"applied":0,' "$S/log/project2.out" || fail "a second projector applied records again: $(cat "$S/log/project2.out")"
it_export "$S/store-live" "$S/live2.jsonl" || fail "export after the second projector"
cmp -s "$S/live2.jsonl" "$S/ref/live.jsonl" || fail "the second projector changed the state"

# the queries answer the same from both stores, for a sample of lines
# (awk, not head, takes the first 20: it reads to the end, so no SIGPIPE under pipefail)
for m in $(awk -F, '$7 == "none" {print $3}' "$S/ref/rated.txt" | sort -u | awk 'NR <= 20'); do
    for q in balance usage bill-to-date; do
        a=$("$CDRATE" query "$q" --msisdn "$m" --store "$S/store-off" --json) || fail "query $q $m (offline)"
        b=$("$CDRATE" query "$q" --msisdn "$m" --store "$S/store-live" --json) || fail "query $q $m (projected)"
        [ "$a" = "$b" ] || fail "query $q --msisdn $m: offline $a, projected $b"
    done
done
say "20 lines answer the same from both stores"
it_pass
