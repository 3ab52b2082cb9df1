#!/bin/bash
# `cdrate plans compile | list | show`: fees in list, the compiled plan in show (text and JSON),
# refusals with their exit codes and messages, and that a refusal changes nothing (no store
# created by a typo or an invalid plan, the stored plans unchanged).
source "$(dirname "$0")/lib.bash"
PLANS="$SRC/rating-rules/plans"

# ---- compile ---------------------------------------------------------------------------------
expect_rc 0 "compile the sample plans" "$CDRATE" plans compile "$PLANS" --store "$T/s"
expect_err "cn-payg-v2.yaml: plan cn-payg version 2 stored" "compile: stored line"
expect_err "cdrate plans: 6 plan file(s) compiled into $T/s" "compile: summary"
expect_rc 0 "compile again: unchanged" "$CDRATE" plans compile "$PLANS" --store "$T/s"
expect_err "cn-payg.yaml: plan cn-payg version 1 unchanged" "compile again"
expect_rc 0 "compile --quiet" "$CDRATE" plans compile "$PLANS" --store "$T/s" --quiet
[ -s "$T/err" ] && bad "compile --quiet printed: $(cat "$T/err")" || ok
expect_rc 0 "compile --json" "$CDRATE" plans compile "$PLANS" --store "$T/s" --json
expect_out "{\"store\":\"$T/s\",\"dir\":\"$PLANS\",\"files\":6}" "compile --json summary"

"$CDRATE" plans list --store "$T/s" >"$T/list.before" 2>&1

# an invalid plan (a voice bundle without a unit) into a new store: exit 4, no store created
mkdir "$T/bad"
sed -e 's/units: 500min/units: 500/' "$PLANS/cn-personal-128.yaml" >"$T/bad/p.yaml"
line=$(grep -n "units: 500}" "$T/bad/p.yaml" | cut -d: -f1)
expect_rc 4 "compile a bare voice bundle" "$CDRATE" plans compile "$T/bad" --store "$T/new"
expect_err "$T/bad/p.yaml:$line:73: bundle 'minutes500': units '500' has no unit: bundle units for voice need one, such as 500min or 500s (s, min, h)" "bare units message"
expect_err "cdrate plans: nothing stored; the previously active plans stay" "bare units: nothing stored"
[ -e "$T/new" ] && bad "an invalid plan created the store $T/new" || ok
# ... and into the existing store: exit 4, the store's plans unchanged
expect_rc 4 "compile a bare voice bundle into the store" "$CDRATE" plans compile "$T/bad" --store "$T/s"
"$CDRATE" plans list --store "$T/s" >"$T/list.after" 2>&1
cmp -s "$T/list.before" "$T/list.after" && ok || bad "an invalid plan changed the store"

# a unit that does not fit the service
sed -e 's/units: 10GB/units: 10min/' "$PLANS/cn-personal-128.yaml" >"$T/bad/p.yaml"
expect_rc 4 "compile a data bundle in minutes" "$CDRATE" plans compile "$T/bad" --store "$T/s"
expect_err "units '10min': unit 'min' does not apply to data (use B, KB, MB, GB or TB, where 1 KB = 1024 bytes)" "unit of another service"

# YAML mistakes come with advice and libyaml's own words
printf 'plan: y\nversion: 1\nzones: *\n' >"$T/bad/p.yaml"
expect_rc 4 "compile an unquoted *" "$CDRATE" plans compile "$T/bad" --store "$T/s"
expect_err "p.yaml:3:8: YAML syntax: quote values that start with * (write '*' or \"*\")" "unquoted * advice"
expect_err "(libyaml: while scanning an alias: did not find expected alphabetic or numeric character)" "libyaml text kept"
printf 'plan: y\nversion: 1\ndescription: @home\n' >"$T/bad/p.yaml"
expect_rc 4 "compile a value starting with @" "$CDRATE" plans compile "$T/bad" --store "$T/s" --json
expect_err '{"error":{"code":"CDR_PARSE","file":"'"$T"'/bad/p.yaml","line":3,"column":14,"message":"YAML syntax: quote values that start with @ or `' "--json error object"

# a changed plan under a stored version number: refused, nothing changes
mkdir "$T/changed"
sed -e 's/monthly_fee: 128.00/monthly_fee: 138.00/' "$PLANS/cn-personal-128.yaml" >"$T/changed/p.yaml"
expect_rc 4 "compile a changed plan under the same version" "$CDRATE" plans compile "$T/changed" --store "$T/s"
expect_err "plan cn-personal-128 version 1 is already stored with different content" "immutable versions"
"$CDRATE" plans list --store "$T/s" >"$T/list.after" 2>&1
cmp -s "$T/list.before" "$T/list.after" && ok || bad "a refused version changed the store"

# a missing plan directory is an environment failure (exit 1), and creates no store
expect_rc 1 "compile a missing directory" "$CDRATE" plans compile "$T/nope" --store "$T/new"
expect_err "cannot open plan directory" "missing plan directory"
[ -e "$T/new" ] && bad "a missing plan directory created the store" || ok

# ---- list ------------------------------------------------------------------------------------
expect_rc 0 "list" "$CDRATE" plans list --store "$T/s"
expect_out "cn-personal-128	version 1	from 2025-12-31T16:00:00Z	Asia/Shanghai	monthly fee 128.00 CNY	7 zones, 2 bands, 15 rates, 2 bundles" "list: fee and counts"
expect_out "de-comfort	version 1	from 2025-12-31T23:00:00Z	Europe/Berlin	monthly fee 9.99 EUR" "list: EUR fee"
expect_out "cn-payg	version 2	from 2026-06-30T16:00:00Z	Asia/Shanghai	monthly fee 0.00 CNY" "list: both versions"
expect_rc 0 "list --json" "$CDRATE" plans list --store "$T/s" --json
python3 - "$T/out" <<'EOF' && ok || bad "list --json"
import json, sys
d = json.load(open(sys.argv[1]))
p = {(x["plan"], x["version"]): x for x in d["plans"]}
assert len(p) == 6, p.keys()
assert p[("cn-personal-128", 1)]["fees"] == {"monthly_fee": "128.00"}
assert p[("de-comfort", 1)]["currency"] == "EUR" and p[("de-comfort", 1)]["fees"]["monthly_fee"] == "9.99"
assert p[("cn-payg", 2)]["effective_from"] == "2026-06-30T16:00:00Z"
EOF

# ---- show ------------------------------------------------------------------------------------
expect_rc 0 "show" "$CDRATE" plans show cn-personal-128 --store "$T/s"
expect_out "plan cn-personal-128 version 1" "show: title"
expect_out "  effective from  2026-01-01T00:00:00+08:00 (2025-12-31T16:00:00Z)" "show: effective_from"
expect_out "  monthly fee     128.00 CNY" "show: fee"
expect_out "    prefixes (23): 86134 86135 86136" "show: prefixes"
expect_out "86198" "show: the last prefix of a long list"
expect_out "    numbers (6): 10086 110 119 120 122 8610086" "show: special numbers"
expect_out "    networks (9): 208-* 234-* 262-*" "show: roaming networks"
expect_out "  night            mon-fri 00:00-07:00, 23:00-24:00; sat, sun, holiday 00:00-24:00" "show: bands"
expect_out "2026-10-07" "show: holidays"
expect_out "  #14  data   1.00 per 1MB, increments 1KB/1KB, max 100.00, rounding half-up to 0.01" "show: a rate"
expect_out "  data  mo domestic         day #11 night #12" "show: rate per cell"
expect_out "  minutes500       voice 500min     zones onnet domestic" "show: voice bundle"
expect_out "  data10g          data  10GB       zones domestic" "show: data bundle"
expect_rc 0 "show a pool" "$CDRATE" plans show cn-enterprise --store "$T/s"
expect_out "  pool             data  pool       zones domestic (enterprise pool: size and member caps from the directory)" "show: pool"
expect_out "  #2   voice  2.99 per 1min, increments 1min/6s, from 20min 1.99, rounding half-up to 0.01" "show: tiers"
expect_out "connect fee 0.50" "show: connect fee"

# a declared charge class is shown (text and JSON); the sample plans declare none
mkdir -p "$T/vas"
sed -e 's/^plan: cn-payg$/plan: cn-payg-vas/' \
    -e 's/{name: international, /{name: international, charge_class: value_added, /' \
    "$SRC/rating-rules/plans/cn-payg.yaml" >"$T/vas/p.yaml"
"$CDRATE" plans compile "$T/vas" --store "$T/svas" --quiet
expect_rc 0 "show a declared charge class" "$CDRATE" plans show cn-payg-vas --store "$T/svas"
expect_out "international    normal, charge class value_added" "show: the zone's charge class"
expect_rc 0 "the same as JSON" "$CDRATE" plans show cn-payg-vas --store "$T/svas" --json
python3 -c 'import json,sys; z={x["name"]: x for x in json.load(open(sys.argv[1]))["zones"]}
sys.exit(0 if z["international"]["charge_class"] == "value_added" and "charge_class" not in z["domestic"] else 1)' "$T/out" &&
    ok || bad "show --json: no charge_class of the zone"

expect_rc 0 "show --json" "$CDRATE" plans show cn-personal-128 --store "$T/s" --json
[ "$(wc -l <"$T/out")" -eq 1 ] && ok || bad "show --json is not one line"
python3 - "$T/out" <<'EOF' && ok || bad "show --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["plan"] == "cn-personal-128" and d["version"] == 1, d["plan"]
assert d["fees"] == {"monthly_fee": "128.00"} and d["currency"] == "CNY"
assert d["timezone"] == "Asia/Shanghai" and d["effective_from"] == "2025-12-31T16:00:00Z"
z = {x["name"]: x for x in d["zones"]}
assert len(z["onnet"]["prefixes"]) == 23 and z["onnet"]["kind"] == "onnet"
assert "8610086" in z["service"]["numbers"] and z["service"]["kind"] == "free"
assert "262-*" in z["roam-world"]["networks"]
assert d["home_zone"] == "domestic" and d["default_zone"] == "international"
assert "2026-10-01" in d["holidays"]
b = {x["name"]: x for x in d["bands"]}
assert {"days": ["sat", "sun", "holiday"], "from": "00:00", "to": "24:00"} in b["night"]["times"]
u = {x["name"]: x for x in d["bundles"]}
assert u["minutes500"] == {"id": 0, "name": "minutes500", "service": "voice", "pool": False,
                           "units": "500min", "base_units": 30000, "zones": ["onnet", "domestic"]}
assert u["data10g"]["units"] == "10GB" and u["data10g"]["base_units"] == 10737418240
r = d["rates"][14]
assert r["service"] == "data" and r["price"] == "1.00" and r["per"] == "1MB"
assert r["per_units"] == 1048576 and r["max_charge"] == "100.00" and r["min_charge"] is None
assert r["round_to"] == "0.01" and r["rounding"] == "half-up"
cells = {(c["service"], c["direction"], c["zone"], c["band"]): c["rate"] for c in d["cells"]}
assert cells[("data", "mo", "domestic", "night")] == 12
assert not any(c[2] == "service" for c in cells), "a free zone has no rate"
EOF

# the latest version by default; --version V picks one
expect_rc 0 "show the latest version" "$CDRATE" plans show cn-payg --store "$T/s"
expect_out "plan cn-payg version 2" "show: latest"
expect_rc 0 "show --version 1" "$CDRATE" plans show cn-payg --version 1 --store "$T/s"
expect_out "plan cn-payg version 1" "show --version"

# unknown plan or version: exit 4, naming what the store holds
expect_rc 4 "show an unknown plan" "$CDRATE" plans show cn-nosuch --store "$T/s"
expect_err "cdrate plans: no plan cn-nosuch in $T/s (plans: cn-enterprise, cn-iot-data, cn-payg, cn-personal-128, de-comfort)" "unknown plan"
expect_rc 4 "show an unknown version" "$CDRATE" plans show cn-payg --version 9 --store "$T/s"
expect_err "cdrate plans: no plan cn-payg version 9 in $T/s (versions: 1, 2)" "unknown version"
expect_rc 4 "show an unknown plan --json" "$CDRATE" plans show cn-nosuch --store "$T/s" --json
expect_err '{"error":{"code":"CDR_NOTFOUND","message":"no plan cn-nosuch in' "unknown plan as JSON"
[ -s "$T/out" ] && bad "an unknown plan printed on stdout" || ok

# ---- a mistyped store: refused, and not created ------------------------------------------------
for verb in list "show cn-payg"; do
  # shellcheck disable=SC2086
  expect_rc 4 "plans $verb on a mistyped store" "$CDRATE" plans $verb --store "$T/typo"
  expect_err "no cdrate store at $T/typo" "plans $verb: mistyped store"
  [ -e "$T/typo" ] && bad "plans $verb created $T/typo" || ok
done

# ---- usage --------------------------------------------------------------------------------------
expect_rc 2 "--version with list" "$CDRATE" plans list --version 1 --store "$T/s"
expect_err "--version V applies to show only" "--version on list"
expect_rc 2 "--version 0" "$CDRATE" plans show cn-payg --version 0 --store "$T/s"
expect_rc 2 "show without a name" "$CDRATE" plans show --store "$T/s"
expect_rc 0 "a bare --version is the program's" "$CDRATE" plans show --version
expect_out "cdrate 0.1.0" "plans show --version"
expect_rc 2 "--version without a value before other options" "$CDRATE" plans show cn-payg --version --store "$T/s"
expect_rc 0 "--help" "$CDRATE" plans --help
expect_out "show NAME [--version V] --store STORE [--json]" "--help synopsis"

cli_done plans
