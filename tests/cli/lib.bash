# Shared helpers of the tests/cli/*_test.sh scripts (sourced). Each script is called as
# SCRIPT CDRATE SRC, gets a scratch directory $T (removed at exit), counts checks with ok/bad and
# ends with cli_done NAME, which prints "NAME: N passed, N failed" and sets the exit status.
set -u
CDRATE=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_rc() { # expect_rc WANT DESCRIPTION CMD...   (stdout in $T/out, stderr in $T/err)
  local want=$1 what=$2; shift 2
  "$@" >"$T/out" 2>"$T/err" </dev/null; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "$what: exit $rc, want $want"; cat "$T/err"; fi
}
expect_err() { # expect_err SUBSTRING DESCRIPTION  (on the last command's stderr)
  if grep -qF -- "$1" "$T/err"; then ok; else bad "$2: stderr lacks '$1'"; cat "$T/err"; fi
}
expect_out() { # expect_out SUBSTRING DESCRIPTION  (on the last command's stdout)
  if grep -qF -- "$1" "$T/out"; then ok; else bad "$2: stdout lacks '$1'"; head -50 "$T/out"; fi
}
cli_done() { # cli_done NAME
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
