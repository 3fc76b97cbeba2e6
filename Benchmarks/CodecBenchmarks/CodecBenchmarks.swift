import Benchmark
import NIOCore
import RedisNIO
import RedisTokenPool

// The Redis codec on the hot path of every request: the assign script's EVALSHA as the client
// writes it (hiredis's formatter against the Swift encoder), and a script's record reply read by
// hiredis and typed. `make bench` runs these; allocations are counted by the malloc interposer.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )
    let keys = PoolKeys(prefix: "tokenpool", pool: PoolName("proxies")!).scriptKeys
    let command = ["EVALSHA", String(repeating: "9", count: 40), String(keys.count)] + keys + ["60000", "16", "32", "60000"]

    Benchmark("EVALSHA assign: hiredis redisFormatCommandArgv") { benchmark in
        for _ in benchmark.scaledIterations {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(1024)
            CodecBench.encodeWithHiredis(command, into: &buffer)
            blackHole(buffer)
        }
    }
    Benchmark("EVALSHA assign: Swift RESPEncoder") { benchmark in
        for _ in benchmark.scaledIterations {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(1024)
            CodecBench.encodeInSwift(command, into: &buffer)
            blackHole(buffer)
        }
    }
    // prelude.lua's record(...): ok, token, expiresAt, leaseExpiresAt, lease, now, holder, metadata (none).
    let reply = ByteBuffer(
        string: "*8\r\n$2\r\nok\r\n$24\r\nrMn7W3pYLYoJ1HnIHHgAwMuB\r\n:1795976116085\r\n:1795975876089\r\n:7\r\n:1795975816089\r\n$8\r\nworker-7\r\n$-1\r\n"
    )
    Benchmark("record reply: hiredis reader, then typed") { benchmark in
        let reader = CodecBench.Reader()
        for _ in benchmark.scaledIterations {
            blackHole(try TokenReply.decode(reader.read(reply), script: .inspect, pool: .default))
        }
    }
}
