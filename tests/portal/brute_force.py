"""brute_force.py - login throttling and lockout (docs/portal.md, "Login throttling").

Servers of their own on the test store, each with its own audit log:
  * --lockout 3: 50 wrong passwords for one login: the first five 401, then 429 "locked" with
    Retry-After (a failure after a lock ended locks again at once); the lock's end awaited (polled
    with Retry-After, under a deadline), then the right password works (200);
  * --lockout 600: the right password is refused (429) while the login is locked; then failed
    logins from one address until the address is throttled (429 "throttled"), after which even a
    right password of another login is refused from that address.
The audit logs have every attempt with its outcome, and no password anywhere (nor in stderr).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portal_lib import ENV, Checks, Client, Server, audit_lines, sanitizer_clean  # noqa: E402

IP_MAX_FAILURES = 100  # auth.c: failed logins per address and window


def wrong(i):
    return "Wrong-Pass-%02d-xyzzy" % i


def retry_after(r):
    v = r.header("Retry-After")
    return int(v) if v and v.isdigit() else None


def main():
    t = Checks("brute_force")
    pw = ENV["PASSWORD"]
    work = ENV["WORK"]
    base = ["--store", ENV["STORE"], "--bills", ENV["BILLS"], "--ledger", ENV["LEDGER"]]
    secrets = [pw] + [wrong(i) for i in range(60)]

    # ---- --lockout 3 ----------------------------------------------------------------------------
    audit3 = os.path.join(work, "audit-lockout3.log")
    s = Server(base + ["--audit", audit3, "--lockout", "3"], os.path.join(work, "lockout3.err"))
    if not t.check(s.port, "a server with --lockout 3 starts"):
        t.done()
    who = "am.sun"
    c = Client(s.port)
    answers = []
    for i in range(50):
        answers.append(c.login(who, wrong(i)))
    st = [r.status for r in answers]
    t.check(st[:5] == [401] * 5 and all(r.reason() == "unauthorized" for r in answers[:5]),
            "50 wrong passwords: the first five 401 unauthorized", str(st[:8]))
    t.check(st[5] == 429 and answers[5].reason() == "locked",
            "the sixth: 429 locked", repr(answers[5]))
    t.check(all(x in (401, 429) for x in st), "every one of the 50 answers 401 or 429", str(st))
    t.check(all(r.is_json_error(r.status) for r in answers), "every refusal a JSON error")
    ra = [retry_after(r) for r in answers if r.status == 429]
    t.check(ra and all(x is not None and 1 <= x <= 3 for x in ra),
            "every 429 has Retry-After of 1 to 3 seconds", str(ra))
    # after a lock has ended, one failure locks again: never two 401 in a row after the fifth
    t.check(all(not (st[i] == 401 and st[i + 1] == 401) for i in range(5, 49)),
            "after the lockout a single failure locks again (no two 401 in a row)", str(st))
    t.check(all(not c.cookie for _ in [0]), "no session cookie from any refused login")

    # the lock's end: wait as Retry-After says, under a deadline
    end = time.monotonic() + 60
    r = c.login(who, pw)
    locked_seen = 0
    while r.status == 429 and time.monotonic() < end:
        locked_seen += 1
        ra1 = retry_after(r) or 1
        time.sleep(min(ra1, max(0.0, end - time.monotonic())))
        r = c.login(who, pw)
    t.check(r.status == 200 and c.cookie and (r.json() or {}).get("login") == who,
            "the right password after the lockout ended: 200 with a session", repr(r))
    t.check(c.get("/api/v1/me").status == 200, "the new session works")
    r2 = Client(s.port).login(who, wrong(55))
    t.check(r2.status == 401, "a success resets the count: the next wrong password is 401",
            repr(r2))
    rc = s.stop()
    t.check(rc == 0, "the --lockout 3 server stopped by SIGTERM: exit 0", "exit %r" % rc)
    err = s.stderr_text()
    t.check(sanitizer_clean(err), "--lockout 3 server: no sanitizer report")

    lines = audit_lines(audit3)
    t.check(lines and all(a is not None for a in lines), "the --lockout 3 audit log parses",
            "%d lines" % len(lines))
    logins = [a for a in lines if a and a.get("action") == "login" and a.get("target") == who]
    n401 = st.count(401) + 1  # the 50, and the wrong one after the success
    n429 = st.count(429) + locked_seen
    got = {o: sum(1 for a in logins if a.get("outcome") == o)
           for o in ("refused", "locked", "allowed")}
    t.check(got == {"refused": n401, "locked": n429, "allowed": 1},
            "audit: every attempt with its outcome (refused %d, locked %d, allowed 1)"
            % (n401, n429), str(got))
    t.check(all(a.get("from") == "127.0.0.1" and a.get("role") in ("anonymous", "manager")
                for a in logins), "audit: from the client's address, anonymous until logged in")
    with open(audit3, encoding="utf-8") as f:
        text = f.read()
    t.check(not any(x in text for x in secrets), "no password in the audit log")
    t.check(not any(x in err for x in secrets), "no password in the server's stderr")

    # ---- --lockout 600: locked means locked; then the address is throttled ----------------------
    audit6 = os.path.join(work, "audit-lockout600.log")
    s = Server(base + ["--audit", audit6, "--lockout", "600"], os.path.join(work, "lockout600.err"))
    if not t.check(s.port, "a server with --lockout 600 starts"):
        t.done()
    who = "sm.zhao"
    c = Client(s.port)
    st = [c.login(who, wrong(i)).status for i in range(5)]
    t.check(st == [401] * 5, "five wrong passwords: 401", str(st))
    r = c.login(who, pw)
    t.check(r.status == 429 and r.reason() == "locked" and (retry_after(r) or 0) > 3 and
            not c.cookie, "the right password while locked: 429 locked, Retry-After, no cookie",
            repr(r))
    fails = 5
    throttled = None
    while fails < IP_MAX_FAILURES + 5:
        r = c.login("nobody.%d" % fails, wrong(fails % 60))
        if r.status != 401:
            throttled = r
            break
        fails += 1
    t.check(throttled is not None and throttled.status == 429 and
            throttled.reason() == "throttled" and retry_after(throttled),
            "failed logins from one address: 429 throttled with Retry-After", repr(throttled))
    t.check(fails == IP_MAX_FAILURES, "throttled after %d failures from the address"
            % IP_MAX_FAILURES, "after %d" % fails)
    r = c.login("wang.fang", pw)
    t.check(r.status == 429 and r.reason() == "throttled" and not c.cookie,
            "a right password from the throttled address: 429 throttled", repr(r))
    rc = s.stop()
    t.check(rc == 0, "the --lockout 600 server stopped by SIGTERM: exit 0", "exit %r" % rc)
    err = s.stderr_text()
    t.check(sanitizer_clean(err), "--lockout 600 server: no sanitizer report")
    lines = audit_lines(audit6)
    outcomes = [a.get("outcome") for a in lines if a and a.get("action") == "login"]
    t.check(outcomes.count("refused") == IP_MAX_FAILURES and outcomes.count("locked") == 1 and
            outcomes.count("throttled") == 2 and "allowed" not in outcomes,
            "audit: 100 refused, 1 locked, 2 throttled, none allowed",
            str({o: outcomes.count(o) for o in set(outcomes)}))
    with open(audit6, encoding="utf-8") as f:
        text = f.read()
    t.check(not any(x in text for x in secrets), "no password in the audit log")
    t.check(not any(x in err for x in secrets), "no password in the server's stderr")
    t.done()


if __name__ == "__main__":
    main()
