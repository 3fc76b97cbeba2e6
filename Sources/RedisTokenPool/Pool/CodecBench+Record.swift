import NIOCore
import RedisNIO

extension CodecBench.Reader {
    /// Reads one whole `record(...)` reply and types it as the scripts' replies are typed; returns its token's lease.
    package func readRecord(_ bytes: ByteBuffer) throws -> Int64? {
        guard case .ok(let record) = try TokenReply.decode(self.read(bytes), script: .inspect, pool: .default) else {
            throw RedisClientError.unexpectedReply("not a record")
        }
        return record.lease
    }
}
