import NIOCore

/// Writes commands as RESP arrays of bulk strings, straight into the outgoing buffer.
///
/// hiredis's `redisFormatCommandArgv` (``HiredisEncoder``) wrote the same bytes, but through a
/// C string per argument, four arrays and a heap block per command: 11 allocations for the
/// assign script's EVALSHA against none here past the buffer's own (`Benchmarks/CodecBenchmarks`,
/// `make bench`). hiredis stays the reply parser. `HiredisCodecTests` checks that the two
/// encoders agree byte for byte.
enum RESPEncoder {
    /// The command in a buffer of its own, made the size it needs at once.
    static func command(_ arguments: [String], allocator: ByteBufferAllocator) -> ByteBuffer {
        let size = Self.maximumSize(arguments)
        var buffer = allocator.buffer(capacity: size)
        Self.write(arguments, into: &buffer, maximumSize: size)
        return buffer
    }

    static func write(_ arguments: [String], into buffer: inout ByteBuffer) {
        Self.write(arguments, into: &buffer, maximumSize: Self.maximumSize(arguments))
    }

    /// The most bytes `arguments` take as RESP: a buffer this large takes the command without growing.
    private static func maximumSize(_ arguments: [String]) -> Int {
        // "*N\r\n", then "$LEN\r\nARG\r\n" each: 20 digits at most per number.
        var size = 23
        for argument in arguments { size += argument.utf8.count + 25 }
        return size
    }

    private static func write(_ arguments: [String], into buffer: inout ByteBuffer, maximumSize: Int) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximumSize) { target in
            var at = 0
            target[at] = UInt8(ascii: "*")
            at += 1
            at = Self.put(arguments.count, into: target, at: at)
            for var argument in arguments {
                target[at] = UInt8(ascii: "$")
                at += 1
                at = argument.withUTF8 { utf8 in
                    var at = Self.put(utf8.count, into: target, at: at)
                    if let base = utf8.baseAddress {
                        (target.baseAddress! + at).copyMemory(from: base, byteCount: utf8.count)
                    }
                    at += utf8.count
                    target[at] = UInt8(ascii: "\r")
                    target[at + 1] = UInt8(ascii: "\n")
                    return at + 2
                }
            }
            return at
        }
    }

    /// Writes `value` in decimal and CRLF at `at`; returns the index after them.
    private static func put(_ value: Int, into target: UnsafeMutableRawBufferPointer, at start: Int) -> Int {
        var at = start
        if value < 10 {
            target[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value)
            at += 1
        } else {
            var digits = 0
            var rest = value
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            rest = value
            for index in stride(from: at + digits - 1, through: at, by: -1) {
                target[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            at += digits
        }
        target[at] = UInt8(ascii: "\r")
        target[at + 1] = UInt8(ascii: "\n")
        return at + 2
    }
}
