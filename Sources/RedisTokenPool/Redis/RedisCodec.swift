import NIOCore

/// Writes each outbound command as RESP (see ``RESPEncoder``).
struct RedisCommandEncoder: MessageToByteEncoder {
    typealias OutboundIn = [String]

    func encode(data: [String], out: inout ByteBuffer) {
        RESPEncoder.write(data, into: &out)
    }
}

/// Feeds every readable byte to a hiredis reader and passes on each complete reply.
struct RedisReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    private let reader = HiredisReader()

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if buffer.readableBytes > 0 {
            try buffer.readWithUnsafeReadableBytes { bytes in
                try self.reader.feed(bytes)
                return bytes.count
            }
        }
        // The reader holds every byte now: drain all replies, as no more bytes may come.
        while let reply = try self.reader.nextReply() {
            context.fireChannelRead(Self.wrapInboundOut(reply))
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }
}
