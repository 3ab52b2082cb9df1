#!/usr/bin/env bash
# `cdrate counters`: its command line, the store form and the changelog form. Against the real
# broker, records written with Kafka's console producer (text keys and values of the right
# lengths are valid counter records): the last record of a key wins, a record without value
# deletes the key, the output is sorted; a malformed record stops it with its position.
# Usage: counters_cli.sh CDRATE SOURCE_DIR release|asan (docs/testing.md)
source "$(dirname "$0")/lib/common.bash"
it_init counters_cli "$@"

LIB="${CDR_KAFKA_CACHE:-$SRC/.cache/kafka}/lib"
ls "$LIB"/kafka_2.13-*.jar >/dev/null 2>&1 || fail "no Kafka jars in $LIB (scripts/kafka fetch)"

# expect RC STDERR-SUBSTRING CMD...: run CMD, check its exit status and stderr
expect() {
    local want=$1 msg=$2 rc=0
    shift 2
    "$@" >"$S/out" 2>"$S/err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "$*: exit $rc, want $want; stderr: $(cat "$S/err")"
    grep -qF -- "$msg" "$S/err" || fail "$*: stderr lacks '$msg': $(cat "$S/err")"
}

# produce TOPIC [ARGS]: lines KEY|VALUE from stdin ("NULL": no value), with the console producer
produce() {
    local topic=$1
    shift
    java -Dlog4j.configuration="file:$S/log4j.properties" -cp "$LIB/*" kafka.tools.ConsoleProducer \
        --bootstrap-server "$BROKERS" --topic "$topic" --property parse.key=true \
        --property 'key.separator=|' --property null.marker=NULL \
        --producer-property acks=all "$@" >"$S/log/produce.out" 2>"$S/log/produce.err" ||
        fail "the console producer failed (log: $S/log/produce.err)"
}
echo 'log4j.rootLogger=ERROR' >"$S/log4j.properties"

# ---- the command line
expect 2 "give either --store or --brokers" "$CDRATE" counters
expect 4 "cdrate counters: no cdrate store at $S/x" "$CDRATE" counters --store "$S/x" --brokers "$BROKERS"
expect 2 "--topic-prefix goes with --brokers" "$CDRATE" counters --store "$S/x" --topic-prefix p.
expect 2 "unexpected argument 'extra'" "$CDRATE" counters --store "$S/x" extra
expect 2 "--timeout must be a whole number from 1 to 86400, not '0'" \
    "$CDRATE" counters --brokers "$BROKERS" --timeout 0
"$CDRATE" counters --help | grep -q '^usage: cdrate counters' || fail "counters --help"

# ---- the store form (--raw: ids and tags, the form to diff; the named form: tests/cli/counters_test.sh)
expect 4 "cdrate counters: no cdrate store at $S/none" \
    "$CDRATE" counters --store "$S/none"
[ ! -e "$S/none" ] || fail "counters --store created the store it was asked to read"
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$S/store" --quiet
expect 0 "cdrate counters: 0 counters (0 at 0 not printed) in $S/store" \
    "$CDRATE" counters --store "$S/store"
[ ! -s "$S/out" ] || fail "a store without counters printed some"
"$CDRATE" gen --out "$S/gen" --subscribers 2000 --cdrs 20000 --quiet
"$CDRATE" directory load "$S/gen/directory.dir" --store "$S/store" --quiet
"$CDRATE" rate --store "$S/store" --in "$S/gen/cdrs.csv" --out "$S/rated.csv" --quiet
"$CDRATE" counters --store "$S/store" --raw >"$S/c.txt" 2>"$S/err"
n=$(wc -l <"$S/c.txt")
[ "$n" -gt 0 ] || fail "no counters after rating"
grep -qx "cdrate counters: $n counters (0 at 0 not printed) in $S/store" "$S/err" ||
    fail "store summary: $(cat "$S/err")"
grep -qvE '^[0-9]+ [0-9]{6} [0-9a-f]{16} [1-9][0-9]* [0-9]+$' "$S/c.txt" &&
    fail "a line is not 'HOLDER CYCLE TAG USED OWNER': $(grep -vE '^[0-9]+ [0-9]{6} [0-9a-f]{16} [1-9][0-9]* [0-9]+$' "$S/c.txt" | head -1)"
LC_ALL=C sort -c -k1,1n -k2,2n -k3,3 "$S/c.txt" || fail "counters are not sorted by holder, cycle, tag"
"$CDRATE" counters --store "$S/store" --raw --json --quiet |
    sed 's/{"holder":\([0-9]*\),"cycle":\([0-9]*\),"tag":"\([0-9a-f]*\)","used":\([0-9]*\),"owner":\([0-9]*\)}/\1 \2 \3 \4 \5/' \
        >"$S/cj.txt"
cmp -s "$S/c.txt" "$S/cj.txt" || fail "--json does not hold the same counters as the text form"

# ---- the changelog form
expect 0 "cdrate counters: 0 counters (0 at 0 or deleted not printed) from 0 records of ${PREFIX}cdr.counters" \
    "$CDRATE" counters --brokers "$BROKERS" --topic-prefix "$PREFIX"
[ ! -s "$S/out" ] || fail "a missing changelog printed counters"
# key: holder be64, cycle be32, tag be64; value: used le64, owner le64 (cdr_stream.h)
be() { printf '%d' "0x$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')"; }
le() { printf '%d' "0x$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n' | fold -w2 | tac | tr -d '\n')"; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
produce "${PREFIX}cdr.counters" <<'END'
BBBBBBBB2026TTTTTTTT|uuuuuuuuoooooooo
AAAAAAAA2026TTTTTTTT|vvvvvvvvoooooooo
BBBBBBBB2026TTTTTTTT|wwwwwwwwoooooooo
CCCCCCCC2026TTTTTTTT|xxxxxxxxoooooooo
CCCCCCCC2026TTTTTTTT|NULL
AAAAAAAA2026SSSSSSSS|yyyyyyyyoooooooo
END
{
    echo "$(be AAAAAAAA) $(be 2026) $(hex SSSSSSSS) $(le yyyyyyyy) $(le oooooooo)"
    echo "$(be AAAAAAAA) $(be 2026) $(hex TTTTTTTT) $(le vvvvvvvv) $(le oooooooo)"
    echo "$(be BBBBBBBB) $(be 2026) $(hex TTTTTTTT) $(le wwwwwwww) $(le oooooooo)"
} >"$S/want.txt"
expect 0 "cdrate counters: 3 counters (1 at 0 or deleted not printed) from 6 records of ${PREFIX}cdr.counters" \
    "$CDRATE" counters --brokers "$BROKERS" --topic-prefix "$PREFIX"
cmp -s "$S/out" "$S/want.txt" || {
    diff "$S/out" "$S/want.txt" >&2
    fail "changelog counters (< got, > want)"
}
# one key spread over several partitions (the producer ignores keys): one line, and a warning
produce "${PREFIX}split.cdr.counters" \
    --producer-property partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner <<'END'
DDDDDDDD2026TTTTTTTT|uuuuuuuuoooooooo
DDDDDDDD2026TTTTTTTT|vvvvvvvvoooooooo
DDDDDDDD2026TTTTTTTT|wwwwwwwwoooooooo
DDDDDDDD2026TTTTTTTT|xxxxxxxxoooooooo
END
expect 0 "times a key was in more than one partition of ${PREFIX}split.cdr.counters" \
    "$CDRATE" counters --brokers "$BROKERS" --topic-prefix "${PREFIX}split."
[ "$(wc -l <"$S/out")" -eq 1 ] && grep -q "^$(be DDDDDDDD) " "$S/out" ||
    fail "a key in several partitions should print one line: $(cat "$S/out")"
# a malformed record: the key and value lengths, its partition and offset
produce "${PREFIX}bad.cdr.counters" <<'END'
short|x
END
expect 1 "malformed counter record (5-byte key, 1-byte value; want 20 and 16)" \
    "$CDRATE" counters --brokers "$BROKERS" --topic-prefix "${PREFIX}bad."
grep -qE "^cdrate counters: ${PREFIX//./\\.}bad\.cdr\.counters partition [0-9]+ offset 0: malformed" "$S/err" ||
    fail "malformed record position: $(cat "$S/err")"
[ ! -s "$S/out" ] || fail "counters printed lines despite the malformed record"
it_pass
