#!/usr/bin/env python3
"""docs/scaling.md: what striping one pool over K slots would cost in fairness and calls.

    stripes_sim.py [TOKENS] [WORKERS]

A simulation, not the server: one pool of TOKENS tokens split over K stripes (each stripe a
slot, so on Redis Cluster each could live on its own master). WORKERS workers loop: assign,
hold for a random time, unblock. Today's pool is K = 1: one SPOP over every free token. A
striped pool picks a random stripe and, when that stripe has no free token, tries the others in
a random order (each try one script call). Measured for K = 1, 3, 8, 16 and loads from half the
tokens held to all of them: script calls per assign, false "no free token" answers with one
fallback try only, and how unequal the tokens' use is (the most-used token's count over the mean).
Prints a Markdown table.
"""
import random
import statistics
import sys
from typing import Dict, List, Tuple


def simulate(tokens: int, stripes: int, workers: int, steps: int, max_tries: int, seed: int = 7) -> Tuple[float, float, float]:
    rng = random.Random(seed)
    free: List[List[int]] = [[] for _ in range(stripes)]
    for token in range(tokens):
        free[token % stripes].append(token)
    uses: Dict[int, int] = {t: 0 for t in range(tokens)}
    held: List[Tuple[int, int]] = []  # (release step, token)
    calls = assigns = misses = 0
    for step in range(steps):
        # Tokens whose hold ended go back to their stripe.
        still = []
        for until, token in held:
            if until <= step:
                free[token % stripes].append(token)
            else:
                still.append((until, token))
        held = still
        for _ in range(max(0, workers - len(held))):
            order = rng.sample(range(stripes), stripes)[:max_tries]
            got = None
            for stripe in order:
                calls += 1
                if free[stripe]:
                    index = rng.randrange(len(free[stripe]))
                    free[stripe][index], free[stripe][-1] = free[stripe][-1], free[stripe][index]
                    got = free[stripe].pop()
                    break
            if got is None:
                if any(free):
                    misses += 1  # A token was free, in a stripe this assign never tried.
                break
            assigns += 1
            uses[got] += 1
            held.append((step + rng.randint(1, 20), got))
    mean = statistics.mean(uses.values()) or 1
    return calls / max(assigns, 1), misses / max(assigns, 1), max(uses.values()) / mean


def main() -> None:
    tokens = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    print("| stripes K | load (workers / tokens) | script calls per assign (all stripes tried) | false 404 per assign (one fallback only) | most-used token / mean |")
    print("|---|---|---|---|---|")
    for k in (1, 3, 8, 16):
        for load in (0.5, 0.9, 0.99):
            workers = int(tokens * load)
            calls, _, skew = simulate(tokens, k, workers, 2_000, max_tries=k)
            _, misses, _ = simulate(tokens, k, workers, 2_000, max_tries=min(2, k))
            print(f"| {k} | {load:.2f} | {calls:.2f} | {misses:.4f} | {skew:.2f} |")


if __name__ == "__main__":
    main()
