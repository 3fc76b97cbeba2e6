#!/usr/bin/env python3
"""Judges a history written by tokenpool-load against TokenPool's promises.

    check_history.py HISTORY.jsonl

1. no token is held by two clients at once: a hold lasts from the assign's answer until the
   holder's unblock (or disable) is invoked, or until its lease could have lapsed (the last leaseExpiresAt the
   holder was told);
2. every acknowledged generate is in the pool at the end unless it was acknowledged deleted (or a
   delete's outcome is unknown: no answer, or a 503 after the command may have reached Redis) or
   its life ran out;
3. a deleted token (delete acknowledged) is never handed out again, nor one past its life;
4. the lease numbers of one token increase with real time, and a stale lease never changed
   anything (every call with a lease its holder had already given back was refused);
5. /stats at the quiet end agrees with what the final reads saw;
6. a token given back to rest (an unblock that answered `cooling` until availableAt) is not
   assigned again before availableAt, and a disabled token (a disable that answered) is not
   assigned again before an enable of it was asked for;
7. with the pool's rate limit (R assignments in W ms), no token's assignments begin more than R
   times in any W window (R + 1 of them that surely began within less than W is a violation: from
   the first attempt of the first, with its Idempotency-Key, to the answer of the last, in the
   order of their lease numbers);
8. an assign of several (count N) that answered got N distinct tokens, each its own lease (all or
   nothing); and the queue keeps its order: each read of it (GET /waiters) lists the waiters by
   priority, highest first (but for the head that tokens are set aside for), and no waiter is
   served while one listed ahead of it still waits at the same place (its answer came back before
   a later read that still shows the one ahead, with the same `since`);
9. with the pool's maxPerHolder Q, no holder held more than Q tokens at any instant (a hold as in 1).
Prints the counts of operations and violations; exits 1 on any violation.
"""
import collections
import json
import sys

SLACK_MS = 2  # both clocks are this machine's; answers carry whole milliseconds


def granted(op):
    """The (token, lease) pairs an assign's answer granted: one, or several at once."""
    if op.get("leases"):
        return list(zip(op.get("tokens") or [], op["leases"]))
    return [(op["token"], op["lease"])]


def main():
    ops = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    violations = []
    counts = collections.Counter((op["op"], op["status"]) for op in ops)

    # Holds: one per (token, lease), from the first answer that told a worker it holds it.
    holds = {}
    for op in sorted(ops, key=lambda o: o["completed"]):
        if op["op"] == "assign" and op["status"] == 200:
            for key in granted(op):
                if key not in holds:
                    holds[key] = {"worker": op["worker"], "start": op["completed"], "end": op["leaseExpiresAt"], "invoked": op["invoked"],
                                  "holder": op.get("holder")}
    for op in ops:
        key = (op.get("token"), op.get("lease"))
        if key in holds and not op.get("stale") and op["worker"] == holds[key]["worker"]:
            hold = holds[key]
            if op["op"] == "keep-alive" and op["status"] == 200 and op.get("leaseExpiresAt"):
                hold["end"] = max(hold["end"], op["leaseExpiresAt"])
    for op in ops:
        key = (op.get("token"), op.get("lease"))
        if key in holds and op["op"] in ("unblock", "disable") and not op.get("stale") and op["worker"] == holds[key]["worker"]:
            holds[key]["end"] = min(holds[key]["end"], op["invoked"])

    by_token = collections.defaultdict(list)
    for (token, lease), hold in holds.items():
        by_token[token].append((lease, hold))
    for token, items in by_token.items():
        items.sort(key=lambda item: item[1]["start"])
        for (lease_a, a), (lease_b, b) in zip(items, items[1:]):
            if b["start"] + SLACK_MS < a["end"]:
                violations.append(f"1: token {token} held by worker {a['worker']} (lease {lease_a}) until {a['end']} "
                                  f"and by worker {b['worker']} (lease {lease_b}) from {b['start']}")
        # 4: a lease issued later in real time carries a larger number.
        for lease_a, a in items:
            for lease_b, b in items:
                if lease_a < lease_b and b["start"] + SLACK_MS < a["invoked"]:
                    violations.append(f"4: token {token} lease {lease_b} was answered before lease {lease_a} was asked for")

    for op in ops:
        if op.get("stale") and op["status"] == 200:
            violations.append(f"4: stale lease {op['lease']} of token {op['token']} was accepted by {op['op']} at {op['invoked']}")

    # 2 and 3.
    deleted_at = {}
    maybe_deleted = set()
    life = {}
    for op in ops:
        if op["op"] == "delete":
            if op["status"] == 204:
                deleted_at[op["token"]] = min(deleted_at.get(op["token"], op["completed"]), op["completed"])
            elif op["status"] in (0, 503):
                # No answer, or a timeout: the script may still have run (the ambiguity Idempotency-Key is for).
                maybe_deleted.add(op["token"])
        if op.get("expiresAt") and op["status"] in (200, 201):
            for token in op.get("tokens") or [op.get("token")]:
                life[token] = max(life.get(token, 0), op["expiresAt"])
    for op in ops:
        if op["op"] == "assign" and op["status"] == 200:
            for token, _ in granted(op):
                if token in deleted_at and deleted_at[token] + SLACK_MS < op["invoked"]:
                    violations.append(f"3: token {token} assigned at {op['invoked']} after its delete was acknowledged at {deleted_at[token]}")

    generated = {t for op in ops if op["op"] in ("generate", "batch") and op["status"] == 201 for t in op.get("tokens") or []}
    final = {op["token"]: op for op in ops if op["op"] == "inspect" and op["worker"] == -1}
    present = {t for t, op in final.items() if op["status"] == 200}
    for token in sorted(generated):
        op = final.get(token)
        if op is None or op["status"] == 0:
            violations.append(f"2: token {token} was not read at the end")
        elif op["status"] == 404 and token not in deleted_at and token not in maybe_deleted and life.get(token, 0) > op["invoked"]:
            violations.append(f"2: token {token} was generated and never deleted, alive until {life.get(token)}, but is gone")
        elif op["status"] == 200 and token in deleted_at:
            violations.append(f"2: token {token} was acknowledged deleted but is still there")

    # 6: rests and disables. The next assignment of the token (a larger lease) must come after.
    assigns = collections.defaultdict(list)
    for op in ops:
        if op["op"] == "assign" and op["status"] == 200:
            for token, lease in granted(op):
                assigns[token].append(dict(op, token=token, lease=lease))
    enables = collections.defaultdict(list)
    for op in ops:
        if op["op"] == "enable" and op["status"] in (0, 200, 503):
            enables[op["token"]].append(op["invoked"])
    for op in ops:
        if op["status"] != 200 or op["op"] not in ("unblock", "disable") or op.get("stale"):
            continue
        token, lease = op["token"], op.get("lease") or 0
        if op["op"] == "unblock" and op.get("state") == "cooling" and op.get("availableAt"):
            not_before, why = op["availableAt"], f"its rest until {op['availableAt']}"
        elif op["op"] == "disable" and op.get("state") == "disabled":
            later = [at for at in enables[token] if at >= op["invoked"]]
            not_before, why = (min(later) if later else float("inf")), f"its disable at {op['invoked']} was undone"
        else:
            continue
        for other in assigns[token]:
            if (other.get("lease") or 0) > lease and other["completed"] + SLACK_MS < not_before:
                violations.append(f"6: token {token} assigned (lease {other['lease']}) at {other['completed']} before {why}")

    # 7: the rate limit. An assignment began after its assign's first attempt and before its answer.
    limits = [op["rateLimit"] for op in ops if op["op"] == "settings" and op["status"] == 200 and op.get("rateLimit")]
    if limits:
        r, w = limits[-1]["assigns"], limits[-1]["per"]
        first_try = {}
        for op in ops:
            if op["op"] == "assign" and op.get("key"):
                first_try[op["key"]] = min(first_try.get(op["key"], op["invoked"]), op["invoked"])
        grants = collections.defaultdict(dict)
        for op in ops:
            if op["op"] == "assign" and op["status"] == 200:
                began = first_try.get(op.get("key"), op["invoked"])
                for token, lease in granted(op):
                    known = grants[token].get(lease)
                    grants[token][lease] = (min(began, known[0]), min(op["completed"], known[1])) if known else (began, op["completed"])
        for token, by_lease in grants.items():
            # In the order the pool granted them (lease numbers come from its counter; promise 4):
            # a retried assign's first attempt may begin before an earlier grant's.
            spans = [by_lease[lease] for lease in sorted(by_lease)]
            for first, last in zip(spans, spans[r:]):
                if last[1] - first[0] + SLACK_MS < w:
                    violations.append(f"7: token {token} began {r + 1} assignments between {first[0]} and {last[1]}, within {w} ms")

    # 8: all or nothing, and the queue's order.
    for op in ops:
        if op["op"] == "assign" and op["status"] == 200 and op.get("count"):
            pairs = granted(op)
            if len(pairs) != op["count"] or len({t for t, _ in pairs}) != op["count"] or len({l for _, l in pairs}) != op["count"]:
                violations.append(f"8: an assign of {op['count']} at {op['invoked']} answered {pairs}")
    reads = sorted((op for op in ops if op["op"] == "waiters" and op["status"] == 200), key=lambda o: o["invoked"])
    waits_by_holder = collections.defaultdict(list)
    for op in ops:
        if op["op"] == "assign" and op.get("holder"):
            waits_by_holder[op["holder"]].append(op)

    def assign_of(waiter):
        """The assign (an attempt of one worker: they never overlap) during which this place joined."""
        for op in waits_by_holder.get(waiter.get("holder"), []):
            if op["invoked"] - SLACK_MS <= waiter["since"] <= op["completed"] + SLACK_MS:
                return op
        return None

    for index, read in enumerate(reads):
        queue = read.get("queue") or []
        # The head that waits for several may be pinned first (it keeps its place even when what it
        # set aside was deleted meanwhile): it is ranked by no priority.
        ranked = queue[1:] if read.get("setAside") or (queue and queue[0]["count"] > 1) else queue
        for ahead, behind in zip(ranked, ranked[1:]):
            if behind["priority"] > ahead["priority"]:
                violations.append(f"8: the queue read at {read['invoked']} lists priority {ahead['priority']} ({ahead.get('holder')}) "
                                  f"ahead of {behind['priority']} ({behind.get('holder')})")
        for place, waiter in enumerate(queue):
            served = assign_of(waiter)
            if not served or served["status"] != 200:
                continue
            later = next((r for r in reads[index + 1:] if r["invoked"] > served["completed"] + SLACK_MS), None)
            if not later:
                continue
            # A place is known by its holder and when it joined; waiters without a holder that
            # joined in the same millisecond cannot be told apart, so they are counted: one ahead
            # still waits only if the later read lists more of them than were behind this one.
            still = collections.Counter((w.get("holder"), w["since"]) for w in later.get("queue") or [])
            behind = collections.Counter((w.get("holder"), w["since"]) for w in queue[place + 1:])
            for ahead in queue[:place]:
                if still[(ahead.get("holder"), ahead["since"])] > behind[(ahead.get("holder"), ahead["since"])]:
                    violations.append(f"8: {waiter.get('holder')} (priority {waiter['priority']}, joined {waiter['since']}) was served by "
                                      f"{served['completed']} while {ahead.get('holder')} (priority {ahead['priority']}), ahead of it at "
                                      f"{read['invoked']}, still waited at {later['invoked']}")

    # 9: the cap per holder.
    caps = [op["maxPerHolder"] for op in ops if op["op"] == "settings" and op["status"] == 200 and op.get("maxPerHolder")]
    if caps:
        edges = collections.defaultdict(list)
        for hold in holds.values():
            if hold.get("holder"):
                # An end before a start at the same instant: a token given back may be taken again at once.
                edges[hold["holder"]] += [(hold["start"] + SLACK_MS, 1), (hold["end"], -1)]
        for holder, points in edges.items():
            held = 0
            for at, step in sorted(points):
                held += step
                if held > caps[-1]:
                    violations.append(f"9: holder {holder} held {held} tokens at {at}, more than maxPerHolder {caps[-1]}")
                    break

    # 5: the counts at the quiet end.
    stats = [op for op in ops if op["op"] == "stats" and op["worker"] == -1]
    lost_generates = sum(1 for op in ops if op["op"] in ("generate", "batch") and op["status"] in (0, 503))
    if not stats or stats[-1]["status"] != 200:
        violations.append("5: no /stats answer at the end")
    else:
        s = stats[-1]["stats"]
        assigned = sum(1 for t in present if final[t].get("leaseExpiresAt"))
        if not (len(present) <= s["total"] <= len(present) + lost_generates * 10_000):
            violations.append(f"5: /stats total {s['total']} but {len(present)} tokens read at the end")
        resting = s.get("cooling", 0) + s.get("disabled", 0) + s.get("reserved", 0)
        if s["assigned"] != assigned or s["free"] + resting != s["total"] - s["assigned"]:
            violations.append(f"5: /stats {s} but {assigned} of the tokens read are assigned")

    total = len(ops)
    print(f"operations: {total}; " + ", ".join(f"{op} {status}: {n}" for (op, status), n in sorted(counts.items())))
    print(f"holds: {len(holds)} assignments of {len(by_token)} tokens; generated {len(generated)}, deleted {len(deleted_at)}, "
          f"present at the end {len(present)}")
    for violation in violations[:50]:
        print("VIOLATION " + violation)
    # The longest stretch in which every answer was 503 (by invocation order): how long an outage
    # looked to clients. Reported, not judged.
    longest, run_start, run_end = 0, None, None
    for op in sorted(ops, key=lambda o: o["invoked"]):
        if op["status"] == 503:
            run_start = op["invoked"] if run_start is None else run_start
            run_end = max(run_end or 0, op["completed"])
            longest = max(longest, run_end - run_start)
        else:
            run_start, run_end = None, None
    print(f"longest 503 stretch: {longest} ms")
    print(f"history: {total} operations checked, {len(violations)} violations")
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
