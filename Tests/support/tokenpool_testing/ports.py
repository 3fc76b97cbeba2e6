"""Free TCP ports on the loopback address."""
import socket


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick); bind it soon, another process may too."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
