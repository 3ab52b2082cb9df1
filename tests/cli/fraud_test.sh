#!/bin/bash
# `cdrate fraud check | compile | list`: the sample rules, a malformed rules file refused with
# file:line:column and exit 4 (also as JSON), nothing stored by a refused file, and the usual
# mistakes of the command line. The rules' semantics: tests/unit/test_fraud.c; evaluated by the
# rater: tests/unit/test_rater.c ("credit") and tests/unit/test_stream.c.
source "$(dirname "$0")/lib.bash"
RULES="$SRC/rating-rules/fraud.yaml"

expect_rc 0 "check the sample rules" "$CDRATE" fraud check "$RULES"
expect_err "cdrate fraud: $RULES: 5 rule(s), valid" "check: summary"

# malformed files: exit 4, the position and the reason
printf 'rules:\n  - name: a\n    kind: units\n    service: sms\n    window: 1m\n    threshold: 3\n' >"$T/m.yaml"
expect_rc 4 "a window in m" "$CDRATE" fraud check "$T/m.yaml"
expect_err "cdrate fraud: $T/m.yaml:5:13: window '1m': write minutes as min (such as 1min); m is not a unit" "m: message"
expect_rc 4 "the same as JSON" "$CDRATE" fraud check "$T/m.yaml" --json
expect_err "{\"error\":{\"code\":\"CDR_FORMAT\",\"file\":\"$T/m.yaml\",\"line\":5,\"column\":13," "JSON error"
printf 'rules:\n\t- name: a\n' >"$T/tab.yaml"
expect_rc 4 "a tab for indentation" "$CDRATE" fraud check "$T/tab.yaml"
expect_err "$T/tab.yaml:2:" "tab: position"
: >"$T/empty.yaml"
expect_rc 4 "an empty file" "$CDRATE" fraud check "$T/empty.yaml"
expect_rc 1 "a missing file" "$CDRATE" fraud check "$T/missing.yaml"
expect_err "cdrate fraud: $T/missing.yaml: cannot open: No such file or directory" "missing file"

# compile: a refused file stores nothing, creates no store
expect_rc 4 "compile a malformed file" "$CDRATE" fraud compile "$T/m.yaml" --store "$T/s"
expect_err "cdrate fraud: nothing stored; the previously active rules stay" "refused: nothing stored"
[ -e "$T/s" ] && bad "a refused rules file created the store $T/s" || ok
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
expect_rc 0 "compile the sample rules" "$CDRATE" fraud compile "$RULES" --store "$T/s"
expect_err "cdrate fraud: 5 rule(s) of $RULES stored into $T/s" "compile: summary"
"$CDRATE" fraud list --store "$T/s" >"$T/before" 2>&1
expect_rc 4 "compile a malformed file over them" "$CDRATE" fraud compile "$T/m.yaml" --store "$T/s"
"$CDRATE" fraud list --store "$T/s" >"$T/after" 2>&1
cmp -s "$T/before" "$T/after" && ok || bad "a refused rules file changed the stored rules"

# list
expect_rc 0 "list" "$CDRATE" fraud list --store "$T/s"
expect_out "sms-burst                units      sms mo, window 1min (60 buckets of 1s), threshold 30sms" "list: a rule"
expect_rc 0 "list --json" "$CDRATE" fraud list --store "$T/s" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["rules"][2]
sys.exit(0 if len(d["rules"]) == 5 and r["name"] == "sms-burst" and r["threshold"] == 30 and r["window_s"] == 60 else 1)' "$T/out" && ok || bad "list JSON: $(head -c 400 "$T/out")"
expect_rc 4 "list without a store" "$CDRATE" fraud list --store "$T/none"
expect_err "cdrate fraud: no cdrate store at $T/none" "no store"

# the command line
expect_rc 2 "an unknown verb" "$CDRATE" fraud bogus
expect_rc 0 "--help" "$CDRATE" fraud --help
expect_out "usage: cdrate fraud check FILE" "--help synopsis"

cli_done fraud
