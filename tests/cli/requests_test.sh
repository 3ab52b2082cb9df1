#!/usr/bin/env bash
# cdrate requests (docs/requests.md): requests filed and decided on the operator's command line,
# then applied to a directory file and the store: each of the four kinds changes the file as
# documented, the store's directory (directory show / query owner) and the request's state, and
# appends one audit line. Refusals (not approved, unknown id, a line gone or already a member, an
# amended file that does not validate, a plan not compiled) change nothing: the file stays
# byte-identical, the store and the request as they were. Usage: requests_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

json_ok() { # json_ok FILE PYTHON-EXPR DESCRIPTION: FILE is one JSON object and EXPR holds for it (d)
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; then
    ok
  else
    bad "$3: $2 on $(head -c 600 "$1")"
  fi
}
last_audit() { # last_audit EXPECTED-LINE DESCRIPTION (the writer's "pid":N,"seq":N, checked, then left out)
  local got
  got="$(tail -n 1 "$T/s/audit.log")"
  if [[ "$got" =~ ^\{\"time\":\"[^\"]*\",\"pid\":[0-9]+,\"seq\":1, ]]; then
    got="$(sed -E 's/,"pid":[0-9]+,"seq":[0-9]+//' <<<"$got")"
  else
    got="no pid and seq: $got"
  fi
  if [ "$got" = "$1" ]; then ok; else bad "$2: last audit line is $got"; fi
}
same_store() { # same_store DESCRIPTION: data.mdb as in $T/before.mdb
  cmp -s "$T/s/data.mdb" "$T/before.mdb" && ok || bad "$1: the store changed"
}
same_file() { # same_file DESCRIPTION: acme.dir as in $T/before.dir
  cmp -s "$T/acme.dir" "$T/before.dir" && ok || bad "$1: the directory file changed"
}
snapshot() { cp "$T/s/data.mdb" "$T/before.mdb"; cp "$T/acme.dir" "$T/before.dir"; }

cat >"$T/acme.dir" <<'EOF'
# acme.dir - a small directory for the requests test
directory version=1
credit_class id=A limit=1000 term_days=30
credit_class id=C limit=300 term_days=15
customer id=100 type=company name="Acme Trading" credit_class=A manager=am.zhang
account id=100 customer=100
enterprise id=1 customer=100 account=100
product id=11 enterprise=1 name="Acme mobile" pool_data=500GB cap_data=40GB
payment_rule id=1 product=11 classes=recurring_fee,basic_voice,data cap=200.00
customer id=200 type=company name="Other Co" credit_class=A manager=am.li
account id=200 customer=200
enterprise id=2 customer=200 account=200
product id=21 enterprise=2
customer id=1001 type=person name="Chen Jing" credit_class=C
account id=1001 customer=1001
subscriber id=30001 account=1001 msisdn=8613800000001 plan=cn-enterprise active_from=2025-03-01
membership subscriber=30001 product=11 # since the start
customer id=1002 type=person name="Wang Fang" credit_class=C
account id=1002 customer=1002
subscriber id=30002 account=1002 msisdn=8613800000002 plan=cn-enterprise active_from=2025-03-01
membership subscriber=30002 product=11
customer id=1003 type=person name="Li Wei" credit_class=C
account id=1003 customer=1003
subscriber id=30003 account=1003 msisdn=8613800000003 plan=cn-payg active_from=2025-03-01
customer id=1004 type=person name="Zhou Ping" credit_class=C
account id=1004 customer=1004
subscriber id=30004 account=1004 msisdn=8613800000004 plan=cn-enterprise active_from=2025-03-01
membership subscriber=30004 product=21
EOF
chmod 0640 "$T/acme.dir"
expect_rc 0 "compile plans" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
expect_rc 0 "load the directory" "$CDRATE" directory load "$T/acme.dir" --store "$T/s" --quiet

R=(--store "$T/s")
NOW1=2026-11-20T10:00:00Z
NOW2=2026-11-21T09:30:00Z
NOW3=2026-11-22T08:00:00Z
submit() { "$CDRATE" requests submit "${R[@]}" --by op.wu --now "$NOW1" "$@"; }

# ---- no request yet
expect_rc 0 "list an empty store" "$CDRATE" requests list "${R[@]}"
expect_err "no request in the store" "empty list"
expect_rc 0 "list --json empty" "$CDRATE" requests list "${R[@]}" --json
expect_out '{"requests":[]}' "empty JSON list"

# ---- submit (the operator on a customer's behalf)
expect_rc 0 "submit add_member" submit --enterprise 1 --kind add_member --msisdn 8613800000003 --product 11 --note "new hire, 李伟"
expect_out "1" "first id"
expect_rc 0 "submit change_plan" submit --enterprise 1 --kind change_plan --msisdn 8613800000001 --plan cn-personal-128
expect_rc 0 "submit remove_member" submit --enterprise 1 --kind remove_member --msisdn 8613800000002
expect_rc 0 "submit raise_cap" submit --enterprise 1 --kind raise_cap --msisdn 8613800000001 --cap 350 --json
expect_out '{"request":4,"state":"submitted"}' "submit --json"
last_audit '{"time":"2026-11-20T10:00:00Z","who":"op.wu","role":"operator","from":"cli","action":"request.submit","target":"request/4","enterprise":1,"outcome":"done"}' "submit audited"
[ "$(stat -c %a "$T/s/audit.log")" = 600 ] && ok || bad "audit log mode $(stat -c %a "$T/s/audit.log")"
# malformed submissions: refused (4) by the library, or bad command lines (2); no id is used
expect_rc 4 "submit change_plan without a plan" submit --enterprise 1 --kind change_plan --msisdn 8613800000001
expect_err "plan: '' is not a plan id" "missing plan"
last_audit '{"time":"2026-11-20T10:00:00Z","who":"op.wu","role":"operator","from":"cli","action":"request.submit","target":"request","enterprise":1,"outcome":"refused","error":"plan: '"''"' is not a plan id (letters, digits and . _ - @, 1 .. 31 bytes)"}' "refused submit audited"
expect_rc 4 "submit with a product for remove_member" submit --enterprise 1 --kind remove_member --msisdn 8613800000002 --product 11
expect_err "product: only add_member names a product" "foreign field"
expect_rc 4 "submit a malformed msisdn" submit --enterprise 1 --kind remove_member --msisdn 86138x
expect_err "msisdn: '86138x' is not 1 to 23 digits" "msisdn"
expect_rc 4 "submit a note with a newline" submit --enterprise 1 --kind remove_member --msisdn 8613800000002 --note "$(printf 'a\nb')"
expect_err "note: a control character at byte 2" "note control character"
expect_rc 2 "submit with a negative cap" submit --enterprise 1 --kind raise_cap --msisdn 8613800000001 --cap -5
expect_err "--cap: '-5' is not an amount >= 0" "negative cap"
expect_rc 2 "submit an unknown kind" submit --enterprise 1 --kind add_everything --msisdn 1
expect_rc 2 "submit without --enterprise" submit --kind remove_member --msisdn 1
expect_rc 2 "submit without --by" "$CDRATE" requests submit "${R[@]}" --enterprise 1 --kind remove_member --msisdn 1
expect_err "--by LOGIN is required" "no --by"
expect_rc 2 "a malformed --now" submit --enterprise 1 --kind remove_member --msisdn 1 --now 2026-13-01
expect_rc 0 "submit to be rejected" submit --enterprise 1 --kind remove_member --msisdn 8613800000001
expect_out "5" "ids go on after refusals"

# ---- list and show
expect_rc 0 "list" "$CDRATE" requests list "${R[@]}"
[ "$(awk '{print $1}' "$T/out" | tr '\n' ' ')" = "5 4 3 2 1 " ] && ok || bad "list not newest first: $(cat "$T/out")"
expect_out "2      submitted change_plan   enterprise 1      8613800000001   plan=cn-personal-128     submitted 2026-11-20T10:00:00Z by op.wu" "list line"
expect_rc 0 "list --state --enterprise --json" "$CDRATE" requests list "${R[@]}" --enterprise 1 --state submitted --json
json_ok "$T/out" '[r["id"] for r in d["requests"]] == [5, 4, 3, 2, 1]' "JSON list"
expect_rc 0 "list of enterprise 2" "$CDRATE" requests list "${R[@]}" --enterprise 2
expect_err "no request matches" "other enterprise"
expect_rc 0 "show --json" "$CDRATE" requests show 1 "${R[@]}" --json
json_ok "$T/out" 'd == {"id":1,"enterprise":1,"kind":"add_member","state":"submitted","msisdn":"8613800000003","product":11,"plan":None,"cap":None,"note":"new hire, 李伟","submitted_by":"op.wu","submitted_at":"2026-11-20T10:00:00Z","decided_by":None,"decided_at":None,"applied_by":None,"applied_at":None}' "show JSON"
expect_rc 0 "show text" "$CDRATE" requests show 4 "${R[@]}"
expect_out "  change:      cap=350.00" "show text change"
expect_rc 6 "show an unknown id" "$CDRATE" requests show 99 "${R[@]}"
expect_err "cdrate requests: no request 99" "unknown id"
expect_rc 2 "show a malformed id" "$CDRATE" requests show 0 "${R[@]}"
expect_rc 2 "list --directory" "$CDRATE" requests list "${R[@]}" --directory x
expect_err "--directory is not an option of list" "option of another verb"
expect_rc 4 "list without a store" "$CDRATE" requests list --store "$T/none"
expect_rc 2 "unknown verb" "$CDRATE" requests frobnicate "${R[@]}"
expect_rc 0 "--help" "$CDRATE" requests --help

# ---- apply before approval: refused, nothing changes
snapshot
A=(--directory "$T/acme.dir" --by op.wu --now "$NOW3")
expect_rc 4 "apply a submitted request" "$CDRATE" requests apply 1 "${R[@]}" "${A[@]}"
expect_err "request 1 is submitted: only an approved request can be applied" "not approved"
expect_err "not applied: nothing changed" "nothing changed said"
last_audit '{"time":"2026-11-22T08:00:00Z","who":"op.wu","role":"operator","from":"cli","action":"request.apply","target":"request/1","enterprise":1,"outcome":"refused","error":"request 1 is submitted: only an approved request can be applied"}' "refused apply audited"
same_file "apply before approval"
cp "$T/s/data.mdb" "$T/before.mdb" # the audit log is not in data.mdb; the store is compared from here
expect_rc 6 "apply an unknown id" "$CDRATE" requests apply 77 "${R[@]}" "${A[@]}"
expect_err "no request 77" "unknown id on apply"
last_audit '{"time":"2026-11-22T08:00:00Z","who":"op.wu","role":"operator","from":"cli","action":"request.apply","target":"request/77","enterprise":null,"outcome":"refused","error":"no request 77"}' "unknown id audited"
same_store "apply of an unknown id"
same_file "apply of an unknown id"
expect_rc 2 "apply without --directory" "$CDRATE" requests apply 1 "${R[@]}" --by op.wu
expect_rc 2 "apply without --by" "$CDRATE" requests apply 1 "${R[@]}" --directory "$T/acme.dir"
expect_rc 2 "apply with a malformed --by" "$CDRATE" requests apply 1 "${R[@]}" --directory "$T/acme.dir" --by "op wu"

# ---- decide
for i in 1 2 3 4; do
  expect_rc 0 "approve $i" "$CDRATE" requests approve $i "${R[@]}" --by am.zhang --now "$NOW2"
done
last_audit '{"time":"2026-11-21T09:30:00Z","who":"am.zhang","role":"operator","from":"cli","action":"request.approve","target":"request/4","enterprise":1,"outcome":"done"}' "approve audited"
expect_rc 0 "reject 5" "$CDRATE" requests reject 5 "${R[@]}" --by am.zhang --now "$NOW2" --json
expect_out '{"request":5,"state":"rejected"}' "reject --json"
expect_rc 4 "approve a rejected request" "$CDRATE" requests approve 5 "${R[@]}" --by am.zhang
expect_err "request 5 is rejected: only a submitted request can be approved" "decide twice"
expect_rc 4 "apply a rejected request" "$CDRATE" requests apply 5 "${R[@]}" "${A[@]}"
expect_err "request 5 is rejected: only an approved request can be applied" "rejected not applied"
expect_rc 6 "approve an unknown id" "$CDRATE" requests approve 66 "${R[@]}" --by am.zhang

# ---- apply add_member
cp "$T/acme.dir" "$T/before.dir"
expect_rc 0 "apply add_member" "$CDRATE" requests apply 1 "${R[@]}" "${A[@]}" --json
json_ok "$T/out" 'd == {"request":1,"outcome":"done","enterprise":1,"subscriber":30003,"directory":d["directory"],"records":["membership subscriber=30003 product=11 from=2026-11-22T08:00:00Z"]} and d["directory"].endswith("/acme.dir")' "apply JSON"
last_audit '{"time":"2026-11-22T08:00:00Z","who":"op.wu","role":"operator","from":"cli","action":"request.apply","target":"request/1","enterprise":1,"outcome":"done"}' "apply audited"
diff "$T/before.dir" "$T/acme.dir" >"$T/diff"
[ "$(grep -c '^>' "$T/diff")" = 2 ] && [ "$(grep -c '^<' "$T/diff")" = 0 ] && ok || bad "add_member diff: $(cat "$T/diff")"
tail -n 2 "$T/acme.dir" >"$T/tail"
printf '# request 1 (add_member), applied 2026-11-22T08:00:00Z by op.wu\nmembership subscriber=30003 product=11 from=2026-11-22T08:00:00Z\n' | cmp -s - "$T/tail" && ok || bad "add_member appended: $(cat "$T/tail")"
[ "$(stat -c %a "$T/acme.dir")" = 640 ] && ok || bad "mode of the amended file: $(stat -c %a "$T/acme.dir")"
ls "$T" | grep -q 'acme.dir.req-' && bad "a temporary file was left" || ok
expect_rc 0 "the new member in the store" "$CDRATE" directory show --msisdn 8613800000003 "${R[@]}" --json
json_ok "$T/out" 'd["enterprise"]["id"] == 1 and d["enterprise"]["product"]["id"] == 11' "member of enterprise 1"
expect_rc 0 "request 1 done" "$CDRATE" requests show 1 "${R[@]}" --json
json_ok "$T/out" 'd["state"] == "done" and d["applied_by"] == "op.wu" and d["applied_at"] == "2026-11-22T08:00:00Z" and d["decided_by"] == "am.zhang"' "done state"
expect_rc 4 "apply a done request" "$CDRATE" requests apply 1 "${R[@]}" "${A[@]}"
expect_err "request 1 is done: only an approved request can be applied" "applied twice"

# ---- apply change_plan
cp "$T/acme.dir" "$T/before.dir"
expect_rc 0 "apply change_plan" "$CDRATE" requests apply 2 "${R[@]}" "${A[@]}"
expect_err "request 2 applied and done" "change_plan said"
grep -qxF 'subscriber id=30001 account=1001 msisdn=8613800000001 plan=cn-personal-128 active_from=2025-03-01 # request 2 (change_plan), applied 2026-11-22T08:00:00Z by op.wu' "$T/acme.dir" && ok || bad "subscriber's plan not changed in the file"
grep -qxF 'plan_change subscriber=30001 previous=cn-enterprise plan=cn-personal-128 from=2026-11-22T08:00:00Z' "$T/acme.dir" && ok || bad "no plan_change record"
expect_rc 0 "query owner after change_plan" "$CDRATE" query owner --msisdn 8613800000001 "${R[@]}"
expect_out "plan:               cn-personal-128" "new plan in the store"

# ---- apply remove_member
expect_rc 0 "apply remove_member" "$CDRATE" requests apply 3 "${R[@]}" "${A[@]}"
grep -qxF 'membership subscriber=30002 product=11 to=2026-11-22T08:00:00Z # request 3 (remove_member), applied 2026-11-22T08:00:00Z by op.wu' "$T/acme.dir" && ok || bad "membership to= not set: $(grep 'subscriber=30002' "$T/acme.dir")"

# ---- apply raise_cap: a rule of the member's own with the classes the product's rule paid
expect_rc 0 "apply raise_cap" "$CDRATE" requests apply 4 "${R[@]}" "${A[@]}"
grep -qxF 'payment_rule id=2 subscriber=30001 classes=basic_voice,data,recurring_fee cap=350.00' "$T/acme.dir" && ok || bad "no payment rule of the member"
expect_rc 0 "the member's rules in the store" "$CDRATE" directory show --msisdn 8613800000001 "${R[@]}" --json
json_ok "$T/out" '[(r["id"], r["scope"], r["cap"]) for r in d["payment_rules"]] == [(2, "subscriber", "350.00")]' "the member's own rule applies"
# a second raise_cap changes the cap of that rule in place
expect_rc 0 "submit raise_cap again" submit --enterprise 1 --kind raise_cap --msisdn 8613800000001 --cap 400.5
expect_out "6" "id 6"
expect_rc 0 "approve 6" "$CDRATE" requests approve 6 "${R[@]}" --by am.zhang --now "$NOW2"
expect_rc 0 "apply raise_cap in place" "$CDRATE" requests apply 6 "${R[@]}" "${A[@]}"
grep -qxF 'payment_rule id=2 subscriber=30001 classes=basic_voice,data,recurring_fee cap=400.50 # request 6 (raise_cap), applied 2026-11-22T08:00:00Z by op.wu' "$T/acme.dir" && ok || bad "cap not replaced: $(grep 'id=2 sub' "$T/acme.dir")"
expect_rc 0 "the amended file loads as it is" "$CDRATE" directory load "$T/acme.dir" "${R[@]}" --quiet

# ---- refusals: nothing changes
refused_apply() { # refused_apply ID MESSAGE DESCRIPTION
  snapshot
  expect_rc 4 "$3" "$CDRATE" requests apply "$1" "${R[@]}" "${A[@]}"
  expect_err "$2" "$3: message"
  same_file "$3"
  same_store "$3"
  cp "$T/err" "$T/err.refused"
  expect_rc 0 "$3: still approved" "$CDRATE" requests show "$1" "${R[@]}" --json
  json_ok "$T/out" 'd["state"] == "approved"' "$3: state"
}
file_approve() { # file_approve ARGS...: submit and approve, the id in $ID
  ID=$(submit "$@") || bad "submit $*"
  "$CDRATE" requests approve "$ID" "${R[@]}" --by am.zhang --now "$NOW2" 2>/dev/null || bad "approve $ID"
}
file_approve --enterprise 1 --kind add_member --msisdn 8613800000001 --product 11
refused_apply "$ID" "msisdn 8613800000001 (subscriber 30001) is already a member of enterprise 1 (product 11)" "add a member twice"
file_approve --enterprise 1 --kind add_member --msisdn 8613800000004 --product 11
refused_apply "$ID" "msisdn 8613800000004 (subscriber 30004) already has a membership (enterprise 2, product 21)" "add a member of another enterprise"
file_approve --enterprise 1 --kind add_member --msisdn 8613899999999 --product 11
refused_apply "$ID" "msisdn 8613899999999 is not in the directory" "a line that does not exist"
file_approve --enterprise 2 --kind change_plan --msisdn 8613800000001 --plan cn-payg
refused_apply "$ID" "msisdn 8613800000001 (subscriber 30001) is not a member of enterprise 2" "another enterprise's line"
file_approve --enterprise 1 --kind remove_member --msisdn 8613800000002
refused_apply "$ID" "msisdn 8613800000002 (subscriber 30002) left enterprise 1 at 2026-11-22T08:00:00Z" "remove a member twice"
file_approve --enterprise 1 --kind change_plan --msisdn 8613800000001 --plan cn-personal-128
refused_apply "$ID" "msisdn 8613800000001 (subscriber 30001) is already on plan 'cn-personal-128'" "the plan it is on"
file_approve --enterprise 1 --kind change_plan --msisdn 8613800000001 --plan no-such-plan
refused_apply "$ID" "plan 'no-such-plan' is not in the store (compile it first" "a plan not compiled"
# an amended file that does not validate: a second plan change at the same time
PC=$ID
file_approve --enterprise 1 --kind change_plan --msisdn 8613800000001 --plan cn-payg
refused_apply "$ID" "plan_change: subscriber 30001 already changes plan at this time" "a change that does not validate"
cp "$T/err.refused" "$T/err"
# at the appended record (FILE's lines keep their numbers), naming the earlier change
L=$(($(wc -l <"$T/acme.dir") + 2))
P=$(grep -n '^plan_change subscriber=30001' "$T/acme.dir" | cut -d: -f1)
expect_err "cdrate requests: $T/acme.dir:$L:68: plan_change: subscriber 30001 already changes plan at this time (line $P) (in the file amended by request $ID)" "the loader's file:line:col message"
# a directory file that does not validate as it is
cp "$T/acme.dir" "$T/good.dir"
echo "customer id=5 type=person name=X credit_class=NOPE" >>"$T/acme.dir"
refused_apply "$ID" "customer 5: unknown credit class 'NOPE' (the directory file does not validate as it is: fix it first)" "an invalid directory file"
cp "$T/good.dir" "$T/acme.dir"
# the same request applies later, at another time
expect_rc 0 "the refused change applies later" "$CDRATE" requests apply "$ID" "${R[@]}" --directory "$T/acme.dir" --by op.wu --now 2026-11-23T00:00:00Z
expect_rc 0 "query owner after the second change" "$CDRATE" query owner --msisdn 8613800000001 "${R[@]}"
expect_out "plan:               cn-payg" "second plan in the store"
# the audit log: one line per step, each a JSON object
python3 - "$T/s/audit.log" <<'PY' && ok || bad "audit log lines are not JSON objects of the documented keys"
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert list(d)[:10] == ["time", "pid", "seq", "who", "role", "from", "action", "target",
                            "enterprise", "outcome"], d
    assert d["outcome"] in ("done", "refused", "failed"), d
    assert ("error" in d) == (d["outcome"] != "done"), d
PY
# --audit elsewhere; an audit log that cannot be opened stops the apply before anything changes
file_approve --enterprise 1 --kind raise_cap --msisdn 8613800000002 --cap 10
snapshot
expect_rc 1 "audit log not writable" "$CDRATE" requests apply "$ID" "${R[@]}" "${A[@]}" --audit "$T/nodir/audit.log"
expect_err "cannot open the audit log" "audit log error"
same_file "audit log not writable"
same_store "audit log not writable"

cli_done requests
