import NIOCore

/// Writes commands as RESP arrays of bulk strings, straight into the outgoing buffer.
///
/// hiredis's `redisFormatCommandArgv` (``HiredisEncoder``) wrote the same bytes, but through a
/// C string per argument, four arrays and a heap block per command; writing RESP here is one
/// pass with no allocation past the buffer's own (measured in `Benchmarks/`). hiredis stays the
/// reply parser. `HiredisCodecTests` checks the two encoders agree byte for byte.
enum RESPEncoder {
    static func write(_ arguments: [String], into buffer: inout ByteBuffer) {
        var size = 16
        for argument in arguments { size += argument.utf8.count + 16 }
        buffer.reserveCapacity(minimumWritableBytes: size)
        buffer.writeInteger(UInt8(ascii: "*"))
        Self.writeDecimal(arguments.count, into: &buffer)
        for argument in arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            Self.writeDecimal(argument.utf8.count, into: &buffer)
            buffer.writeString(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// `value` in decimal, then CRLF.
    private static func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
        if value < 10 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(value))
        } else {
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let count = withUnsafeMutableBytes(of: &digits) { raw -> Int in
                var rest = value
                var end = raw.count
                while rest > 0 {
                    end -= 1
                    raw[end] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                return raw.count - end
            }
            withUnsafeBytes(of: &digits) { raw in
                _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(raw.count - count)...]))
            }
        }
        buffer.writeStaticString("\r\n")
    }
}
