"""The lines every check script prints: `ok    WHAT` or `FAIL  WHAT`, then `NAME: N passed, N failed`."""
import sys


class Checks:
    """Counts checks as they are made; `finish()` prints the closing line and exits 1 on any failure."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
        return ok

    @property
    def all_passed(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        return f"{self.name}: {self.passed} passed, {self.failed} failed"

    def finish(self) -> None:
        print(self.summary(), flush=True)
        sys.exit(0 if self.all_passed else 1)
