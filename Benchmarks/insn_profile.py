#!/usr/bin/env python3
"""Where a request's instructions go: a flat profile by function from the counting plugin.

    insn_profile.py BINARY SCENARIO [TOP] [--path [--functions]]

Serves BINARY under qemu-x86_64 with the plugin's per-block counts (Benchmarks/qemu_insn.c), warms
the scenario (healthz, keep-alive or cycle, as in Benchmarks/instructions.py), counts every block's
instructions over a fixed number of requests, and sums them by function (the block's start
address looked up in the symbol tables of the file mapped there). Prints the TOP functions
with instructions per request and their share, and the share of each library.

With --path: the request's path through TokenPool's own modules instead, counted the same way for
any build: the functions of the project's modules (TokenAPI, RedisTokenPool, RedisNIO) that ran
at least once a request on average, the types they belong to and the source files they are in
(addr2line on the binary's line tables). A function counts for the type it belongs to: a closure
or async partial function for its enclosing function's type, a protocol witness for the
conforming type, never for a generic argument. With --functions, each function with its file
and type. Inlined functions are part of their caller, so the figures describe the binary as
built; compare two builds made with the same flags.
"""
import bisect
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

from instructions import REQUESTS, build_plugin, drive, fill_pools, read_count, serve
from tokenpool_testing import free_port, start_redis


def dump(profile):
    request = pathlib.Path(f"{profile}.request")
    request.touch()
    while request.exists():
        time.sleep(0.02)
    counts = {}
    for line in pathlib.Path(profile).read_text().splitlines():
        address, count = line.split()
        counts[int(address, 16)] = counts.get(int(address, 16), 0) + int(count)  # one address, several blocks
    return counts


class Symbols:
    """Function start addresses of the files mapped into a process, from its maps and `nm`."""

    def __init__(self, pid):
        self.ranges = []
        self.tables = {}
        for line in pathlib.Path(f"/proc/{pid}/maps").read_text().splitlines():
            fields = line.split()
            if len(fields) < 6 or not fields[5].startswith("/"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            self.ranges.append((start, end, int(fields[2], 16), fields[5]))
        self.ranges.sort()
        self.starts = [r[0] for r in self.ranges]

    def table(self, file):
        if file not in self.tables:
            out = subprocess.run(["nm", "--defined-only", file], capture_output=True, text=True).stdout
            if not out.strip():
                out = subprocess.run(["nm", "-D", "--defined-only", file], capture_output=True, text=True).stdout
            entries = []
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in "tTwW":
                    entries.append((int(parts[0], 16), parts[2]))
            entries.sort()
            # ELF virtual address of the first loadable segment, to turn file offsets into addresses
            header = subprocess.run(["readelf", "-lW", file], capture_output=True, text=True).stdout
            loads = [line.split() for line in header.splitlines() if line.strip().startswith("LOAD")]
            segments = [(int(l[1], 16), int(l[2], 16)) for l in loads]  # (offset, vaddr)
            self.tables[file] = ([e[0] for e in entries], [e[1] for e in entries], segments)
        return self.tables[file]

    def locate(self, address):
        """(the file mapped at `address`, the address in that file's own numbering), or None."""
        index = bisect.bisect_right(self.starts, address) - 1
        if index < 0 or address >= self.ranges[index][1]:
            return None
        start, _, offset, file = self.ranges[index]
        _, _, segments = self.table(file)
        file_offset = address - start + offset
        vaddr = file_offset
        for segment_offset, segment_vaddr in segments:
            if segment_offset <= file_offset:
                vaddr = file_offset - segment_offset + segment_vaddr
        return file, vaddr

    def name(self, address):
        located = self.locate(address)
        if located is None:
            return "?", "?"
        file, vaddr = located
        addresses, names, _ = self.table(file)
        at = bisect.bisect_right(addresses, vaddr) - 1
        return os.path.basename(file), names[at] if at >= 0 else "?"


MODULES = ("TokenAPI", "RedisTokenPool", "RedisNIO")
TYPE = re.compile(r"\b(?:" + "|".join(MODULES) + r")\.((?:[A-Z][A-Za-z0-9_]*\.?)+)")
PRIVATE = re.compile(r"\((\w+) in _[0-9A-F]+\)")


def outside(text, opening, closing):
    """`text` without what is between `opening` and `closing` (nested): generic arguments, parameter lists."""
    kept, depth = [], 0
    for character in text:
        if character == opening:
            depth += 1
        elif character == closing and depth:
            depth -= 1
        elif depth == 0:
            kept.append(character)
    return "".join(kept)


def owner(text):
    """The type a demangled function belongs to: the enclosing function's type for a closure or
    a partial function, the conforming type for a protocol witness, not a generic argument or a
    parameter's type; None for a free function."""
    text = PRIVATE.sub(r"\1", text).replace("->", "\u2192")
    text = outside(outside(text, "<", ">"), "(", ")")
    if " in conformance " in text:
        text = text.split(" in conformance ", 1)[1].split(" : ", 1)[0]
    match = TYPE.search(text.split(" in ")[-1].split("\u2192")[0])
    return match.group(1).rstrip(".") if match else None


def path_inventory(binary, symbols, counts):
    """Prints the project's functions that ran at least once a request, their types and files."""
    functions = {}
    for address, count in counts.items():
        file, name = symbols.name(address)
        if file == os.path.basename(binary):
            functions.setdefault(name, [0, address])[0] += count
    names = [name for name, (count, _) in functions.items() if count >= REQUESTS]
    demangled = subprocess.run(["swift", "demangle"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    ours = [(name, text) for name, text in zip(names, demangled) if TYPE.search(text) or any(f" {m}." in f" {text}" for m in MODULES)]
    starts = {}
    table_addresses, table_names, _ = symbols.table(next(r[3] for r in symbols.ranges if os.path.basename(r[3]) == os.path.basename(binary)))
    by_name = dict(zip(table_names, table_addresses))
    for name, _ in ours:
        starts[name] = by_name.get(name)
    located = subprocess.run(["addr2line", "-e", binary, *[hex(a) for a in starts.values() if a is not None]],
                             capture_output=True, text=True).stdout.splitlines()
    where = dict(zip([n for n, a in starts.items() if a is not None], located))
    types, sourced, files = set(), set(), set()
    for name, text in ours:
        source = where.get(name, "?").split(":")[0]
        if owner(text):
            types.add(owner(text))
        if "/Sources/" in source:
            files.add(source[source.index("/Sources/") + 1:])
            if owner(text):
                sourced.add(owner(text))
    print(f"on the path (ran >= once a request): {len(ours)} functions of {', '.join(MODULES)}; "
          f"{len(types)} types ({len(sourced)} whose own source runs, the rest compiler-made "
          f"witnesses, copies and thunks); {len(files)} source files")
    print("  types: " + ", ".join(sorted(types)))
    print("  types whose own source runs: " + ", ".join(sorted(sourced)))
    print("  files: " + ", ".join(sorted(files)))
    if "--functions" in sys.argv:
        for name, text in sorted(ours, key=lambda nt: where.get(nt[0], "?")):
            source = where.get(name, "?").split(":")[0]
            print(f"  {source[source.rfind('/') + 1:]}: {owner(text)}: {text}")


def main():
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary, scenario = arguments[0], arguments[1]
    top = int(arguments[2]) if len(arguments) > 2 else 40
    build_plugin()
    with tempfile.TemporaryDirectory() as data:
        redis_port = free_port()
        counter, profile = f"{data}/count", f"{data}/profile"
        redis = start_redis(redis_port, data, wait=False)
        server, port = serve(binary, redis_port, f"out={counter},profile={profile}")
        try:
            pools, tokens = fill_pools(port, "profile")
            pool = pools[scenario]
            drive(port, scenario, 800, pool, tokens)
            counted = -read_count(counter)
            before = dump(profile)
            drive(port, scenario, REQUESTS, pool, tokens)
            counted += read_count(counter)
            after = dump(profile)
            symbols = Symbols(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            redis.terminate()
            redis.wait(timeout=10)
    by_function, by_file = {}, {}
    for address, count in after.items():
        delta = count - before.get(address, 0)
        if delta <= 0:
            continue
        file, name = symbols.name(address)
        by_function[(file, name)] = by_function.get((file, name), 0) + delta
        by_file[file] = by_file.get(file, 0) + delta
    if "--path" in sys.argv:
        path_inventory(binary, symbols, {a: c - before.get(a, 0) for a, c in after.items() if c > before.get(a, 0)})
        return
    total = sum(by_file.values())
    names = [name for (_, name), _ in sorted(by_function.items(), key=lambda kv: -kv[1])[:top]]
    demangled = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(names), capture_output=True,
                               text=True).stdout.splitlines()
    print(f"{scenario}: {total / REQUESTS:,.0f} instructions/request over {REQUESTS:,} requests "
          f"(the total counter: {counted / REQUESTS:,.0f})")
    for file, count in sorted(by_file.items(), key=lambda kv: -kv[1]):
        print(f"  {count / REQUESTS:>9,.0f} {count / total:6.1%}  {file}")
    print()
    for ((file, _), count), name in zip(sorted(by_function.items(), key=lambda kv: -kv[1])[:top], demangled):
        print(f"  {count / REQUESTS:>9,.0f} {count / total:6.1%}  {file}: {name[:150]}")


if __name__ == "__main__":
    main()
