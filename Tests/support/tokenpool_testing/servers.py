"""Real servers for tests and benchmarks, each a context manager that stops what it started:
a redis-server on a free port, a tokenpool server on it."""
import contextlib
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence, Union

from .ports import free_port


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(target: Union[int, str], process: Optional[subprocess.Popen] = None, timeout: float = 10, path: str = "/readyz") -> None:
    """Until the server at `target` (a base URL, or a port on 127.0.0.1) answers 2xx at `path`;
    exits the script if it does not within `timeout` seconds or `process` ends first."""
    base = f"http://127.0.0.1:{target}" if isinstance(target, int) else target
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            sys.exit(f"{base}: the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base + path, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{base} did not answer {path} within {timeout} s")


def wait_until(what: str, check: Callable[[], object], timeout: float) -> None:
    """Polls `check` every 50 ms; exits the script if it is not true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    sys.exit(f"{what} did not happen within {timeout} s")


def cli(port: int, *args: object) -> str:
    """One redis-cli command against a local port; its output, stripped ("" when it fails)."""
    return subprocess.run(["redis-cli", "-p", str(port), *map(str, args)], capture_output=True, text=True, timeout=20).stdout.strip()


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    directory: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args: object) -> str:
        """One redis-cli command's output, stripped."""
        return cli(self.port, *args)

    def wait_ready(self, timeout: float = 10) -> None:
        wait_until(f"redis-server on {self.port}", lambda: self.cli("PING") == "PONG", timeout)


@contextlib.contextmanager
def redis_server(directory: Optional[str] = None, *, port: Optional[int] = None, appendonly: bool = False,
                 extra: Sequence[str] = (), wait: bool = True) -> Iterator[RedisServer]:
    """A redis-server on 127.0.0.1 (no RDB snapshots; append-only with `appendonly`), its files in
    `directory` or a temporary folder; killed and reaped on exit."""
    with contextlib.ExitStack() as stack:
        folder = directory or stack.enter_context(tempfile.TemporaryDirectory())
        port = port or free_port()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder,
                   "--appendonly", "yes" if appendonly else "no", *extra]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        server = RedisServer(port, process, folder)
        try:
            if wait:
                server.wait_ready()
            yield server
        finally:
            process.kill()
            process.wait()


@dataclass
class TokenPoolServer:
    port: int
    process: subprocess.Popen

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def tokenpool_server(binary: str, redis_url: str, *, port: Optional[int] = None, args: Sequence[str] = (),
                     wait: bool = True, timeout: float = 20, **popen) -> Iterator[TokenPoolServer]:
    """`binary serve` on `redis_url` and a free port (or `port`), errors-only logging unless `args`
    say otherwise; waits up to `timeout` s for /readyz; SIGTERM (then SIGKILL) on exit."""
    port = port or free_port()
    command = [binary, "serve", "--port", str(port), "--redis-url", redis_url]
    if "--log-level" not in args:
        command += ["--log-level", "error"]
    process = subprocess.Popen(command + list(args), **popen)
    server = TokenPoolServer(port, process)
    try:
        if wait:
            wait_ready(server.base, process, timeout=timeout)
        yield server
    finally:
        stop(process)
