"""What the scale runs read off the processes they start: a process's resident memory, and how
many times Redis ran a command (INFO commandstats) or what INFO says of a field."""
import pathlib

from .servers import cli


def rss_kib(pid: int) -> int:
    """The process's resident memory (VmRSS), KiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def command_calls(port: int, command: str) -> int:
    """How many times the Redis on `port` ran `command` (lower case: `xrange`, `fcall`)."""
    for line in cli(port, "INFO", "commandstats").splitlines():
        if line.startswith(f"cmdstat_{command}:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def redis_info(port: int, field: str) -> int:
    """One integer field of INFO (`used_memory`, `total_commands_processed`)."""
    for line in cli(port, "INFO").splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":")[1])
    return 0
