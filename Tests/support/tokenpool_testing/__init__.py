"""What every Python test, benchmark and topology script of TokenPool shares: free ports, waiting
for a server, real redis-servers and tokenpool servers that start and stop as context managers,
the one redis-server and sentinel command line, and the `ok`/`FAIL` lines with the closing `N passed, N failed`.

On PYTHONPATH from the Makefile (`Tests/support`); by hand: `PYTHONPATH=Tests/support python3 ...`.
"""
from .checks import Checks
from .ports import cluster_port, free_port
from .redis_cluster import RedisCluster, pools_on_masters
from .servers import (RedisServer, TokenPoolServer, cli, redis_server, start_redis, start_sentinel, stop, tokenpool_server,
                      wait_ready, wait_until)
from .measure import command_calls, redis_info, rss_kib
from .tls import make_certificates

__all__ = [
    "Checks", "RedisCluster", "command_calls", "redis_info", "rss_kib", "RedisServer", "TokenPoolServer", "cli", "cluster_port", "free_port", "make_certificates", "pools_on_masters", "redis_server",
    "start_redis", "start_sentinel", "stop",
    "tokenpool_server", "wait_ready", "wait_until",
]
