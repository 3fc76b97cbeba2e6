"""Free TCP ports on the loopback address."""
import random
import socket
from typing import Set


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick); bind it soon, another process may too."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_cluster_ports: Set[int] = set()


def cluster_port() -> int:
    """A free port for a Redis Cluster node whose bus port (+10000) is free too, both below the
    kernel's ephemeral range (32768 and up): another process's outgoing connection cannot take
    either between this check and the node's bind, as it could a port `free_port` picked (CI saw
    a node that never answered). Never the same port twice in one process."""
    while True:
        port = random.randint(20000, 22767)
        if port in _cluster_ports:
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        _cluster_ports.add(port)
        return port
