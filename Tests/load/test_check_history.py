#!/usr/bin/env python3
"""The checker must catch what it claims to catch: small made-up histories, one per promise."""
import json
import pathlib
import subprocess
import sys
import tempfile

CHECKER = pathlib.Path(__file__).resolve().parent / "check_history.py"
T = "A" * 24


def op(worker, name, t0, t1, status, **fields):
    return {"worker": worker, "op": name, "server": 0, "invoked": t0, "completed": t1, "status": status, **fields}


def clean():
    return [
        op(-1, "batch", 0, 10, 201, tokens=[T], expiresAt=999_999),
        op(1, "assign", 20, 22, 200, token=T, lease=1, leaseExpiresAt=1022, expiresAt=999_999),
        op(1, "unblock", 100, 102, 200, token=T, lease=1),
        op(2, "assign", 110, 112, 200, token=T, lease=2, leaseExpiresAt=1112, expiresAt=999_999),
        op(2, "unblock", 150, 152, 200, token=T, lease=2),
        op(2, "keep-alive", 160, 161, 409, token=T, lease=2, stale=True),
        op(-1, "inspect", 2000, 2001, 200, token=T, expiresAt=999_999),
        op(-1, "stats", 2002, 2003, 200, stats={"total": 1, "free": 1, "assigned": 0}),
    ]


def verdict(history):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(json.dumps(o) for o in history) + "\n")
    return subprocess.run([sys.executable, str(CHECKER), f.name], capture_output=True, text=True)


def main():
    cases = {"clean history": (clean(), 0)}
    h = clean(); h[3] = op(2, "assign", 60, 62, 200, token=T, lease=2, leaseExpiresAt=1062, expiresAt=999_999)
    cases["1: two holders at once"] = (h, 1)
    h = clean(); h[5]["status"] = 200
    cases["4: a stale lease accepted"] = (h, 1)
    h = clean(); h.insert(3, op(9, "delete", 103, 105, 204, token=T))
    cases["3: assigned after an acknowledged delete"] = (h, 1)
    h = clean(); h[6]["status"] = 404
    cases["2: an acknowledged token lost"] = (h, 1)
    h = clean(); h[6]["status"] = 404; h[7]["stats"] = {"total": 0, "free": 0, "assigned": 0}
    h.insert(5, op(9, "delete", 170, 171, 503, token=T))
    cases["2: a token whose delete timed out may be gone"] = (h, 0)
    h = clean(); h[7]["stats"] = {"total": 1, "free": 0, "assigned": 1}
    cases["5: /stats disagrees at the end"] = (h, 1)
    h = clean(); h[2].update(state="cooling", availableAt=108)
    cases["6: a cooling token assigned again after its rest"] = (h, 0)
    h = clean(); h[2].update(state="cooling", availableAt=200)
    cases["6: a cooling token assigned before its rest ended"] = (h, 1)
    h = clean(); h[2] = op(1, "disable", 100, 102, 200, token=T, lease=1, state="disabled")
    h.insert(3, op(1, "enable", 105, 106, 200, token=T, state="free"))
    cases["6: a disabled token assigned after its enable"] = (h, 0)
    h = clean(); h[2] = op(1, "disable", 100, 102, 200, token=T, lease=1, state="disabled")
    cases["6: a disabled token assigned though never enabled"] = (h, 1)
    limit = op(-1, "settings", 0, 1, 200, rateLimit={"assigns": 1, "per": 50})
    h = clean(); h.insert(0, limit)
    cases["7: one assignment a token per 50 ms, kept"] = (h, 0)
    h = clean(); h.insert(0, dict(limit, rateLimit={"assigns": 1, "per": 200}))
    cases["7: two assignments of a token within 200 ms"] = (h, 1)
    # A retried assign whose first attempt began before the other grant, but was granted after it.
    h = clean(); h.insert(0, dict(limit, rateLimit={"assigns": 1, "per": 200}))
    h[2] = op(1, "assign", 20, 22, 200, token=T, lease=1, leaseExpiresAt=1022, expiresAt=999_999, key="k1")
    h[4] = op(2, "assign", 400, 402, 200, token=T, lease=2, leaseExpiresAt=1402, expiresAt=999_999, key="k2")
    h[5] = op(2, "unblock", 410, 412, 200, token=T, lease=2)
    h[6] = op(2, "keep-alive", 420, 421, 409, token=T, lease=2, stale=True)
    h.insert(4, op(2, "assign", 10, 3000, 0, key="k2"))
    cases["7: a retry's first attempt began early, its grant came later"] = (h, 0)
    # 8: several at once, and the queue's order. Two more tokens; w1 takes two, w2 and w3 wait.
    U, V = "B" * 24, "C" * 24

    def several():
        h = clean()
        h[0] = op(-1, "batch", 0, 10, 201, tokens=[T, U, V], expiresAt=999_999)
        h[6:6] = [op(-1, "inspect", 2000, 2001, 200, token=U, expiresAt=999_999), op(-1, "inspect", 2000, 2001, 200, token=V, expiresAt=999_999)]
        h[-1]["stats"] = {"total": 3, "free": 3, "assigned": 0}
        h += [op(5, "assign", 200, 202, 200, token=U, lease=3, tokens=[U, V], leases=[3, 4], count=2, holder="w5", leaseExpiresAt=1202,
                 expiresAt=999_999),
              op(5, "unblock", 300, 301, 200, token=U, lease=3), op(5, "unblock", 300, 301, 200, token=V, lease=4)]
        return h
    cases["8: two at once, given back"] = (several(), 0)
    h = several(); h[-3].update(tokens=[U, U], leases=[3, 4])
    cases["8: two at once, the same token twice"] = (h, 1)
    h = several(); h[-3].update(tokens=[U], leases=[3])
    cases["8: two asked, one answered"] = (h, 1)

    def queued(first, second, later_queue):
        h = several()
        h += [op(6, "assign", 400, first, 200 if first else 404, token=U, lease=5, leaseExpiresAt=1400, expiresAt=999_999, holder="w6",
                 priority=10),
              op(7, "assign", 401, second, 200, token=V, lease=6, leaseExpiresAt=1401, expiresAt=999_999, holder="w7", priority=0),
              op(-2, "waiters", 410, 411, 200, queue=[{"holder": "w6", "count": 1, "priority": 10, "since": 400},
                                                     {"holder": "w7", "count": 1, "priority": 0, "since": 401}]),
              op(-2, "waiters", 500, 501, 200, queue=later_queue)]
        return h
    cases["8: served in the order listed"] = (queued(450, 460, []), 0)
    cases["8: served past one listed ahead that still waits"] = (queued(0, 460, [{"holder": "w6", "count": 1, "priority": 10, "since": 400}]), 1)
    # Two without a holder who joined in the same millisecond, one on each side of w7: the later
    # read's one may be the one behind, so nothing is known to be passed; both there, one was.
    twin = {"holder": None, "count": 1, "priority": 0, "since": 401}
    w7 = {"holder": "w7", "count": 1, "priority": 0, "since": 401}
    h = queued(0, 460, [twin]); h[-2]["queue"] = [twin, w7, twin]
    cases["8: one of two alike, listed ahead and behind, still waits"] = (h, 0)
    h = queued(0, 460, [twin, twin]); h[-2]["queue"] = [twin, w7, twin]
    cases["8: both of two alike still wait, one listed ahead"] = (h, 1)
    h = queued(450, 460, []); h[-2]["queue"].reverse()
    cases["8: a lower priority listed ahead"] = (h, 1)
    h = queued(450, 460, []); h[-2]["queue"].reverse(); h[-2]["setAside"] = [U]
    cases["8: the head holding tokens set aside is first whatever its priority"] = (h, 0)
    # 9: the cap per holder.
    cap = op(-1, "settings", 0, 1, 200, maxPerHolder=2)
    h = several(); h.insert(0, cap)
    cases["9: two held under a cap of two"] = (h, 0)
    h = several(); h.insert(0, dict(cap, maxPerHolder=1))
    cases["9: two held under a cap of one"] = (h, 1)
    failed = 0
    for name, (history, expected) in cases.items():
        result = verdict(history)
        ok = result.returncode == expected
        failed += not ok
        print(("ok    " if ok else "FAIL  ") + f"checker on {name}: exit {result.returncode}" + ("" if ok else "\n" + result.stdout))
    print(f"checker: {len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
