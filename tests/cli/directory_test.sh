#!/usr/bin/env bash
# `cdrate directory load` (the plan check) and `cdrate directory show` (the six-account view):
# text and --json, not found, refused loads that change nothing. Usage: directory_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

DEMO="$SRC/billing/samples/demo.dir"
json_ok() { # json_ok FILE PYTHON-EXPR DESCRIPTION: FILE is one JSON object and EXPR holds for it (d)
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; then
    ok
  else
    bad "$3: $2 on $(head -c 600 "$1")"
  fi
}

# ---- load: plans first; a plan the store does not hold is refused at its line:column
expect_rc 0 "compile sample plans" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
expect_rc 0 "load the sample directory" "$CDRATE" directory load "$DEMO" --store "$T/s"
expect_err "loaded 36 subscribers" "load summary"

# two mistyped plans: cn-paygo (Luo Dan) and de-komfort (Julia Richter)
sed -e 's/msisdn=8613800000025 imsi=460001234500025 plan=cn-payg /msisdn=8613800000025 imsi=460001234500025 plan=cn-paygo /' \
    -e 's/msisdn=4915100000008 imsi=262019876500008 plan=de-comfort/msisdn=4915100000008 imsi=262019876500008 plan=de-komfort/' \
    "$DEMO" >"$T/typo.dir"
pos() { # pos PLAN: LINE:COLUMN of the first "plan=PLAN " in typo.dir (the column of the name)
  awk -v p="plan=$1 " '{ i = index($0, p); if (i) { print NR ":" (i + 5); exit } }' "$T/typo.dir"
}
P1=$(pos cn-paygo)
P2=$(pos de-komfort)
[ -n "$P1" ] && [ -n "$P2" ] && ok || bad "typo.dir lacks the mistyped plans"
cp "$T/s/data.mdb" "$T/before.mdb"
expect_rc 4 "load with two missing plans" "$CDRATE" directory load "$T/typo.dir" --store "$T/s"
expect_err "cdrate directory: $T/typo.dir:$P1: plan 'cn-paygo' is not in the store (compile it first, or --allow-missing-plans)" "first missing plan at line:column"
expect_err "cdrate directory: $T/typo.dir:$P2: plan 'de-komfort' is not in the store (compile it first, or --allow-missing-plans)" "second missing plan at line:column"
expect_err "nothing stored; the previous directory stays" "refused load keeps the directory"
cmp -s "$T/s/data.mdb" "$T/before.mdb" && ok || bad "a refused load changed the store"
expect_rc 0 "the old directory still serves Luo Dan" "$CDRATE" directory show --msisdn 8613800000025 --store "$T/s"
expect_out "plan:               cn-payg" "old plan of Luo Dan"
expect_rc 4 "load with missing plans, --json" "$CDRATE" directory load "$T/typo.dir" --store "$T/s" --json
expect_err "{\"error\":{\"code\":\"CDR_NOTFOUND\",\"file\":\"$T/typo.dir\",\"line\":${P1%%:*},\"column\":${P1##*:},\"message\":\"plan 'cn-paygo' is not in the store (compile it first, or --allow-missing-plans)\"}}" "missing plan as a JSON error"
# into a store that does not exist yet: no plans at all, refused, and no store is created
expect_rc 4 "load before compiling plans" "$CDRATE" directory load "$DEMO" --store "$T/new"
expect_err "plan 'cn-enterprise' is not in the store" "no plans: every plan is missing"
expect_err "holds no plans: compile them first" "hint to compile first"
[ ! -e "$T/new" ] && ok || bad "a refused load created the store"
# --allow-missing-plans loads anyway, with a warning per missing plan
expect_rc 0 "load with --allow-missing-plans" "$CDRATE" directory load "$T/typo.dir" --store "$T/s" --allow-missing-plans
expect_err "cdrate directory: warning: $T/typo.dir:$P1: plan 'cn-paygo' is not in the store; its 1 subscriber(s) rate as no_plan until it is compiled" "warning for the first plan"
expect_err "warning: $T/typo.dir:$P2: plan 'de-komfort'" "warning for the second plan"
expect_rc 0 "show the line with a missing plan" "$CDRATE" directory show --msisdn 8613800000025 --store "$T/s"
expect_out "plan:               cn-paygo (not in the store: rates as no_plan until it is compiled)" "show marks a missing plan"
expect_rc 0 "--allow-missing-plans --json" "$CDRATE" directory load "$T/typo.dir" --store "$T/s" --allow-missing-plans --json
json_ok "$T/out" "d['subscribers'] == 36 and [m['plan'] for m in d['missing_plans']] == ['cn-paygo', 'de-komfort'] and d['missing_plans'][0]['line'] == ${P1%%:*} and d['missing_plans'][0]['column'] == ${P1##*:}" "load --json summary"
# an invalid file: exit 4, nothing changed; an unreadable one: exit 1
printf 'directory version=1\nsubscriber id=1 account=1 msisdn=1 plan=cn-payg active_from=2026-01-01\n' >"$T/bad.dir"
cp "$T/s/data.mdb" "$T/before.mdb"
expect_rc 4 "load an invalid directory" "$CDRATE" directory load "$T/bad.dir" --store "$T/s"
expect_err "bad.dir:2:17: subscriber 1: unknown account 1" "invalid directory position"
cmp -s "$T/s/data.mdb" "$T/before.mdb" && ok || bad "an invalid file changed the store"
expect_rc 4 "invalid directory into a new store" "$CDRATE" directory load "$T/bad.dir" --store "$T/new2"
[ ! -e "$T/new2" ] && ok || bad "an invalid file created a store"
# a plan change naming a plan the store lacks: refused at the column of its name (after previous=)
cp "$DEMO" "$T/pc.dir"
echo 'plan_change subscriber=30002 plan=cn-enterprise previous=cn-persnal-128 from=2026-11-21T00:00:00+08:00' >>"$T/pc.dir"
PCL=$(wc -l <"$T/pc.dir")
expect_rc 4 "load a plan change of a missing plan" "$CDRATE" directory load "$T/pc.dir" --store "$T/s"
expect_err "cdrate directory: $T/pc.dir:$PCL:58: plan 'cn-persnal-128' is not in the store (compile it first, or --allow-missing-plans)" "missing plan of a plan change at line:column"
sed -i 's/cn-persnal-128/cn-personal-128/' "$T/pc.dir"
expect_rc 0 "load a plan change" "$CDRATE" directory load "$T/pc.dir" --store "$T/s" --quiet
echo 'membership subscriber=30003 product=11 to=2026-11-21 from=2026-11-21' >>"$T/pc.dir"
expect_rc 4 "a membership that ends as it starts" "$CDRATE" directory load "$T/pc.dir" --store "$T/s"
expect_err "pc.dir:$((PCL + 1)):40: field 'to': not after from" "membership period at line:column"
# a manager's login that is not a name, a duty given twice: refused at line:column, nothing changed
sed 's/^enterprise id=2 customer=200 account=200 billing_manager=bm.li /&service_manager="sm wu" /' "$DEMO" >"$T/mgr.dir"
ML=$(grep -n '^enterprise id=2 ' "$T/mgr.dir" | cut -d: -f1)
grep -q 'service_manager="sm wu"' "$T/mgr.dir" && ok || bad "mgr.dir lacks the bad login"
cp "$T/s/data.mdb" "$T/before.mdb"
expect_rc 4 "load a manager login with a space" "$CDRATE" directory load "$T/mgr.dir" --store "$T/s"
expect_err "cdrate directory: $T/mgr.dir:$ML:64: field 'service_manager': 'sm wu' may only contain letters, digits and . _ - @" "bad manager login at line:column"
cmp -s "$T/s/data.mdb" "$T/before.mdb" && ok || bad "a refused manager login changed the store"
sed 's/^enterprise id=2 customer=200 account=200 billing_manager=bm.li /&billing_manager=bm.wu /' "$DEMO" >"$T/mgr.dir"
expect_rc 4 "load a duty given twice" "$CDRATE" directory load "$T/mgr.dir" --store "$T/s" --json
expect_err "{\"error\":{\"code\":\"CDR_FORMAT\",\"file\":\"$T/mgr.dir\",\"line\":$ML,\"column\":64,\"message\":\"field 'billing_manager' given twice (first in column 42)\"}}" "duty given twice as a JSON error"
cmp -s "$T/s/data.mdb" "$T/before.mdb" && ok || bad "a refused duplicate duty changed the store"
expect_rc 1 "load a missing file" "$CDRATE" directory load "$T/nope.dir" --store "$T/s"
expect_err "nope.dir: cannot open directory file" "missing file"
expect_rc 0 "reload the sample" "$CDRATE" directory load "$DEMO" --store "$T/s" --quiet
[ ! -s "$T/err" ] && ok || bad "--quiet printed: $(cat "$T/err")"

# ---- show --msisdn: a member of an enterprise
expect_rc 0 "show a member" "$CDRATE" directory show --msisdn 8613800000002 --store "$T/s"
for want in "subscriber 30002" "msisdn:             8613800000002" "imsi:               460001234500002" \
    "plan:               cn-enterprise" "status:             active" \
    "active:             from 2025-03-01T00:00:00Z (open-ended)" \
    "charging owner:     enterprise 1 (shares its pool; owner id 9223372036854775809)" \
    "member customer 1002" "name:               Wang Fang" \
    'credit class:       C "Consumer" (limit 300.00, payment term 15 days)' "member account 1002" \
    "enterprise 1" "name:               Orient Pacific Trading" \
    "billing manager:    bm.li" "service manager:    sm.wang" "technical manager:  tm.zhou" \
    "enterprise customer 100" \
    "name:               Orient Pacific Trading Co., Ltd." "account manager:    am.zhang" \
    'credit class:       A "Key account" (limit 500000.00, payment term 60 days, roaming without deposit)' \
    "enterprise account 100" "name:               OPT head office, Shanghai" "enterprise product 11" \
    "pool:               data 500GB per cycle, at most 40GB per member" "closed user group:  yes" \
    "discount:           12.50%" \
    "payment rules (enterprise account 100 pays, per cycle; the rest falls to member account 1002)" \
    "rule 1 (product 11): basic_voice, data, recurring_fee; up to 200.00"; do
  expect_out "$want" "member view"
done
expect_rc 0 "show a member, --json" "$CDRATE" directory show --msisdn 8613800000002 --store "$T/s" --json
[ "$(wc -l <"$T/out")" -eq 1 ] && ok || bad "--json is not one line"
json_ok "$T/out" "d['subscriber']['id'] == 30002 and d['subscriber']['msisdn'] == '8613800000002' and d['subscriber']['plan_in_store'] is True and d['subscriber']['active_to'] is None and d['customer']['name'] == 'Wang Fang' and d['customer']['credit_class']['limit'] == '300.00' and d['account']['id'] == 1002 and d['enterprise']['id'] == 1 and d['enterprise']['managers'] == {'account': 'am.zhang', 'billing': 'bm.li', 'service': 'sm.wang', 'technical': 'tm.zhou'} and d['enterprise']['customer']['account_manager'] == 'am.zhang' and d['enterprise']['account']['id'] == 100 and d['enterprise']['product']['pools']['data'] == {'units': 536870912000, 'size': '500GB', 'member_cap_units': 42949672960, 'member_cap': '40GB'} and d['enterprise']['product']['cug'] is True and d['enterprise']['product']['discount_percent'] == '12.50' and d['payment_rules'] == [{'id': 1, 'scope': 'product', 'target': 11, 'payer_account': 100, 'classes': ['basic_voice', 'data', 'recurring_fee'], 'cap': '200.00'}]" "member JSON"
# the managing director: a rule of his own, every class, no cap
expect_rc 0 "show a member with own rules" "$CDRATE" directory show --msisdn 8613800000001 --store "$T/s"
expect_out "rule 3 (subscriber 30001): all; no cap" "most specific rules win"
# a terminated German member of a product without pool
expect_rc 0 "show a terminated member" "$CDRATE" directory show --msisdn 4915100000006 --store "$T/s"
expect_out "status:             terminated" "terminated status"
expect_out "active:             from 2025-06-15T00:00:00Z to 2026-03-31T22:00:00Z" "active window in UTC"
expect_out "charging owner:     enterprise 1 (its members; owner id 9223372036854775809)" "no pool: still its enterprise's owner"
expect_out "pool:               none" "product without pool"

# ---- show --msisdn: an individual
expect_rc 0 "show an individual" "$CDRATE" directory show --msisdn 8613800000022 --store "$T/s"
expect_out "subscriber 40001" "individual subscriber"
expect_out "name:               Guo Pei" "individual customer"
expect_out "enterprise: none (not a member of an enterprise: account 2001 pays everything)" "individual has no enterprise side"
grep -q "payment rules" "$T/out" && bad "an individual shows payment rules" || ok
expect_rc 0 "show an individual, --json" "$CDRATE" directory show --msisdn 8613800000022 --store "$T/s" --json
json_ok "$T/out" "d['enterprise'] is None and d['payment_rules'] == [] and d['subscriber']['enterprise'] is None and d['customer']['type'] == 'person' and d['account']['id'] == 2001" "individual JSON"

# ---- show --enterprise
expect_rc 0 "show an enterprise" "$CDRATE" directory show --enterprise 2 --store "$T/s"
for want in "enterprise 2" "name:               Hangzhou Qingshan Design Studio" "member lines:       4" \
    "account manager:    am.chen" "billing manager:    bm.li" "service manager:    -" \
    "technical manager:  tm.zhou" \
    "enterprise customer 200" "account manager:    am.chen" "enterprise account 200" "enterprise product 21" \
    "pool:               data 50GB per cycle" "payment rules (enterprise account 200 pays, per member and cycle)" \
    "rule 4 (enterprise 2): recurring_fee; up to 100.00" "member lines (4)" \
    '8613800000015   subscriber 30101    cn-enterprise    active     customer 1021 "Qian Bo" product 21' \
    '8613800000018   subscriber 30104'; do
  expect_out "$want" "enterprise view"
done
# the managers in the order of their duties, each on its own line; none as "-" (text) or null (JSON)
grep -A4 "^  member lines:       4" "$T/out" | tail -4 | sed 's/^  \([a-z]*\) manager: .*/\1/' | paste -sd, >"$T/duties"
[ "$(cat "$T/duties")" = "account,billing,service,technical" ] && ok || bad "managers out of order: $(cat "$T/duties")"
expect_rc 0 "show an enterprise without a service manager, --json" "$CDRATE" directory show --enterprise 2 --store "$T/s" --json
json_ok "$T/out" "d['enterprise']['managers'] == {'account': 'am.chen', 'billing': 'bm.li', 'service': None, 'technical': 'tm.zhou'}" "enterprise JSON without a service manager"
expect_rc 0 "show an enterprise, --json" "$CDRATE" directory show --enterprise 1 --store "$T/s" --json
json_ok "$T/out" "d['enterprise'] == {'id': 1, 'name': 'Orient Pacific Trading', 'managers': {'account': 'am.zhang', 'billing': 'bm.li', 'service': 'sm.wang', 'technical': 'tm.zhou'}} and d['customer']['id'] == 100 and d['account']['id'] == 100 and [p['id'] for p in d['products']] == [11, 12] and [r['id'] for r in d['payment_rules']] == [1, 2, 3] and len(d['members']) == 20 and d['members'][0]['subscriber']['msisdn'] == '8613800000001' and d['members'][0]['customer']['name'] == 'Chen Jing'" "enterprise JSON"

# ---- show --account: an enterprise account, and a company account holding lines
expect_rc 0 "show an enterprise account" "$CDRATE" directory show --account 100 --store "$T/s"
expect_out "account 100" "account view"
expect_out "lines it holds (0)" "enterprise account holds no lines"
expect_out 'enterprise account of enterprise 1 "Orient Pacific Trading": pays for 20 member line(s), per cycle' "lines it pays for"
expect_out '8613800000002   subscriber 30002    cn-enterprise    active     customer 1002 "Wang Fang" rule 1: basic_voice, data, recurring_fee up to 200.00' "a paid member line"
expect_out '"Chen Jing" rule 3: all' "the director's line"
expect_rc 0 "show an account holding lines" "$CDRATE" directory show --account 300 --store "$T/s"
expect_out "lines it holds (3)" "company account lines"
expect_out '8613800000019   subscriber 30201    cn-iot-data      active     customer 300 "Shenzhen Pengcheng Smart Meter Co."' "IoT line"
grep -q "enterprise account of" "$T/out" && bad "account 300 shown as an enterprise account" || ok
expect_rc 0 "show an account, --json" "$CDRATE" directory show --account 100 --store "$T/s" --json
json_ok "$T/out" "d['account']['id'] == 100 and d['customer']['type'] == 'company' and d['lines'] == [] and len(d['enterprise_of']) == 1 and d['enterprise_of'][0]['enterprise']['id'] == 1 and d['enterprise_of'][0]['enterprise']['managers']['billing'] == 'bm.li' and len(d['enterprise_of'][0]['pays_for']) == 20 and d['enterprise_of'][0]['pays_for'][1]['payment_rules'][0]['id'] == 1" "account JSON"
expect_rc 0 "show a member account, --json" "$CDRATE" directory show --account 2001 --store "$T/s" --json
json_ok "$T/out" "[l['subscriber']['msisdn'] for l in d['lines']] == ['8613800000022'] and d['enterprise_of'] == []" "member account JSON"

# ---- not found, bad command lines, no store, no directory
expect_rc 4 "unknown msisdn" "$CDRATE" directory show --msisdn 8613899999999 --store "$T/s"
expect_err "cdrate directory: msisdn 8613899999999 is not in the directory" "unknown msisdn message"
[ ! -s "$T/out" ] && ok || bad "not found printed on stdout"
expect_rc 4 "unknown enterprise" "$CDRATE" directory show --enterprise 99 --store "$T/s"
expect_err "cdrate directory: enterprise 99 is not in the directory" "unknown enterprise message"
expect_rc 4 "unknown account, --json" "$CDRATE" directory show --account 5 --store "$T/s" --json
expect_err '{"error":{"code":"CDR_NOTFOUND","message":"account 5 is not in the directory"}}' "not found as JSON"
expect_rc 2 "show without a selector" "$CDRATE" directory show --store "$T/s"
expect_err "give one of --msisdn, --enterprise or --account" "no selector"
expect_rc 2 "show with two selectors" "$CDRATE" directory show --msisdn 1 --account 1 --store "$T/s"
expect_rc 2 "show with a bad id" "$CDRATE" directory show --enterprise 0 --store "$T/s"
expect_err "--enterprise must be an id from 1 to 9223372036854775807, not '0'" "bad id"
expect_rc 2 "show with a bad msisdn" "$CDRATE" directory show --msisdn +49151 --store "$T/s"
expect_err "--msisdn must be 1 to 15 digits (E.164, no '+'), not '+49151'" "bad msisdn"
expect_rc 2 "show without --store" "$CDRATE" directory show --msisdn 1
expect_err "--store is required" "show needs a store"
expect_rc 2 "unknown verb" "$CDRATE" directory list --store "$T/s"
expect_err "unknown verb 'list' (load or show)" "unknown verb"
expect_rc 4 "show on a mistyped store" "$CDRATE" directory show --msisdn 8613800000002 --store "$T/sx"
expect_err "cdrate directory: no cdrate store at $T/sx (cdrate plans compile and cdrate directory load create one)" "mistyped store"
[ ! -e "$T/sx" ] && ok || bad "show created the mistyped store"
expect_rc 0 "a store with plans only" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/p" --quiet
expect_rc 4 "show without a directory" "$CDRATE" directory show --msisdn 8613800000002 --store "$T/p"
expect_err "no directory in the store (load a directory file first)" "no directory"

cli_done directory
