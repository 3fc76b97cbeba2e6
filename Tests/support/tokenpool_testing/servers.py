"""Real servers for tests and benchmarks: the one redis-server and sentinel command line
(`start_redis`, `start_sentinel`, for scripts that kill and restart them), and context managers
that stop what they started (a redis-server on a free port, a tokenpool server on it)."""
import contextlib
import os
import pathlib
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


def start_redis(port: int, directory: str, *, appendfsync: Optional[str] = None, replica_of: Optional[int] = None,
                extra: Sequence[str] = (), wait: bool = True, timeout: float = 10, prefix: Sequence[str] = (),
                **popen) -> subprocess.Popen:
    """A redis-server on 127.0.0.1:`port`, its files in `directory` (made if missing): no RDB
    snapshots; append-only with `appendfsync` ("everysec", as deployed, or "always"); a replica
    of `replica_of` on 127.0.0.1; a replica's first sync starts at once (no diskless-sync delay).
    `prefix` runs it under another program (valgrind). Returns once it answers PING (within
    `timeout` s) unless not `wait`; stopping it is the caller's (`redis_server` is a context manager)."""
    os.makedirs(directory, exist_ok=True)
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
               "--appendonly", "yes" if appendfsync else "no", "--repl-diskless-sync-delay", "0"]
    if appendfsync:
        command += ["--appendfsync", appendfsync]
    if replica_of:
        command += ["--replicaof", "127.0.0.1", str(replica_of)]
    process = subprocess.Popen([*prefix, *command, *extra], **{"stdout": subprocess.DEVNULL, **popen})
    if wait:
        wait_until(f"redis-server on {port}", lambda: process.poll() is None and cli(port, "PING") == "PONG", timeout)
    return process


def start_sentinel(directory: str, port: int, master_name: str, master_port: int, *, quorum: int = 2,
                   down_after_ms: int = 1000, failover_timeout_ms: int = 5000, parallel_syncs: int = 2) -> subprocess.Popen:
    """A sentinel on 127.0.0.1:`port` watching the master `master_name` at 127.0.0.1:`master_port`;
    its config (which it rewrites) in `directory`. Stopping it is the caller's."""
    conf = pathlib.Path(directory) / f"sentinel-{port}.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                    f"sentinel monitor {master_name} 127.0.0.1 {master_port} {quorum}\n"
                    f"sentinel down-after-milliseconds {master_name} {down_after_ms}\n"
                    f"sentinel failover-timeout {master_name} {failover_timeout_ms}\n"
                    f"sentinel parallel-syncs {master_name} {parallel_syncs}\n")
    return subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def redis_server(directory: Optional[str] = None, *, port: Optional[int] = None, appendfsync: Optional[str] = None,
                 extra: Sequence[str] = (), wait: bool = True) -> Iterator[RedisServer]:
    """`start_redis` on a free port (or `port`), its files in `directory` or a temporary folder;
    killed and reaped on exit."""
    with contextlib.ExitStack() as stack:
        folder = directory or stack.enter_context(tempfile.TemporaryDirectory())
        port = port or free_port()
        process = start_redis(port, folder, appendfsync=appendfsync, extra=extra, wait=False)
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
