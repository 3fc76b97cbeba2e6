import NIOCore

/// The codec's hot steps, for `Benchmarks/CodecBenchmarks` (package access only: not API).
package enum CodecBench {
    package static func encodeWithHiredis(_ arguments: [String], into buffer: inout ByteBuffer) {
        HiredisEncoder.write(arguments, into: &buffer)
    }

    package static func encodeInSwift(_ arguments: [String], into buffer: inout ByteBuffer) {
        RESPEncoder.write(arguments, into: &buffer)
    }

    /// A hiredis reader, as a connection uses it.
    package final class Reader {
        private let reader = HiredisReader()

        package init() {}

        /// Feeds one whole reply and returns it.
        package func read(_ bytes: ByteBuffer) throws -> RESPValue {
            try bytes.withUnsafeReadableBytes { try self.reader.feed($0) }
            guard let reply = try self.reader.nextReply() else { throw RedisClientError.unexpectedReply("incomplete") }
            return reply
        }
    }
}
