#!/usr/bin/env python3
"""The async frames of a release binary's functions, largest first.

    async_frames.py BINARY [TEXT...]

Every async function has an "async function pointer" (its symbol ends in `Tu`): a relative
offset to the function, then the size of the context (the frame) its callers allocate for it in
the task's allocator. A connection's task keeps the slabs its deepest request's frames needed for
as long as the connection lives (docs/scaling.md), so these sizes, summed along a request's path,
are most of what an idle, waiting or listening connection costs beyond NIO's objects. Prints size
and demangled name of each async function whose name contains any TEXT (all without TEXT).
"""
import struct
import subprocess
import sys
from typing import Iterator, List, Optional, Tuple

Section = Tuple[int, int, int]  # address, file offset, size


def sections(binary: str) -> List[Section]:
    """The binary's sections that hold file data, from `readelf -SW`."""
    found = []
    for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 6 and parts[0].startswith("[") and parts[2] != "NOBITS":
            try:
                found.append((int(parts[3], 16), int(parts[4], 16), int(parts[5], 16)))
            except ValueError:
                continue
    return found


def frames(binary: str) -> Iterator[Tuple[int, str]]:
    """(frame size in bytes, demangled name) of every async function pointer in `binary`."""
    data = open(binary, "rb").read()
    mapped = sections(binary)

    def read(address: int) -> Optional[bytes]:
        for start, offset, size in mapped:
            if start <= address < start + size:
                return data[offset + address - start:offset + address - start + 8]
        return None

    symbols = []
    for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].endswith("Tu"):
            symbols.append((int(parts[0], 16), parts[2]))
    names = subprocess.run(["swift", "demangle", "--compact"], input="\n".join(name for _, name in symbols),
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for (address, _), name in zip(symbols, names):
        pointer = read(address)
        if pointer and len(pointer) == 8:
            yield struct.unpack("<iI", pointer)[1], name.removeprefix("async function pointer to ")


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary, texts = sys.argv[1], sys.argv[2:]
    for size, name in sorted(frames(binary), reverse=True):
        if not texts or any(text in name for text in texts):
            print(f"{size:6} {name}")


if __name__ == "__main__":
    main()
