import NIOCore

/// The codec's hot steps, for `Benchmarks/CodecBenchmarks` (package access only: not API).
package enum CodecBench {
    package static func encodeWithHiredis(_ arguments: [String], into buffer: inout ByteBuffer) {
        HiredisEncoder.write(arguments, into: &buffer)
    }

    package static func encodeInSwift(_ arguments: [String], into buffer: inout ByteBuffer) {
        RESPEncoder.write(arguments, into: &buffer)
    }

    /// A hiredis reader and the typing of a script's record reply, as a connection does it.
    package final class Reader {
        private let reader = HiredisReader()

        package init() {}

        /// Feeds one whole `record(...)` reply and returns its token's lease.
        package func readRecord(_ bytes: ByteBuffer) throws -> Int64? {
            try bytes.withUnsafeReadableBytes { try self.reader.feed($0) }
            guard let reply = try self.reader.nextReply() else { throw RedisClientError.unexpectedReply("incomplete") }
            guard case .ok(let record) = try TokenReply.decode(reply, script: .inspect, pool: .default) else {
                throw RedisClientError.unexpectedReply("not a record")
            }
            return record.lease
        }
    }
}
