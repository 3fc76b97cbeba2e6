private import CHiredis
import NIOCore

// RESP, Redis's wire format: the values (RESPValue), commands written (RESPEncoder), replies
// read (HiredisReader). The only file that touches hiredis; SwiftNIO owns the socket.

/// One RESP2 reply from Redis, decoded into plain Swift values.
package enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    /// An `-ERR ...` reply: the command reached Redis and Redis refused it.
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer)
    case null
    case array([RESPValue])
}

extension RESPValue {
    /// The text of a simple or bulk string, `nil` for any other reply.
    package var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(buffer: bytes)
        default: nil
        }
    }

    /// An integer reply, or a string reply that spells an integer.
    package var int: Int? {
        switch self {
        case .integer(let value): value
        case .simpleString, .bulkString: self.string.flatMap { Int($0) }
        default: nil
        }
    }

    package var array: [RESPValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    package var isNull: Bool { self == .null }

    /// The reply's kind and size, for an error message that must not hold a token.
    package var shape: String {
        switch self {
        case .simpleString: "a status reply"
        case .error: "an error reply"
        case .integer: "an integer"
        case .bulkString: "a string"
        case .null: "a null"
        case .array(let elements): "an array of \(elements.count)"
        }
    }
}

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

/// Encodes commands with `redisFormatCommandArgv`.
enum HiredisEncoder {
    /// Appends `arguments` to `buffer` as one RESP command. Each argument is passed with
    /// its exact byte length, so arguments may hold any bytes (a zero byte too).
    static func write(_ arguments: [String], into buffer: inout ByteBuffer) {
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            offsets.append(bytes.count)
            bytes.append(contentsOf: argument.utf8)
            lengths.append(bytes.count - offsets[offsets.count - 1])
        }
        bytes.append(0)  // never empty, so there is always a base address
        bytes.withUnsafeBufferPointer { storage in
            let base = UnsafeRawPointer(storage.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            var target: UnsafeMutablePointer<CChar>?
            let length = redisFormatCommandArgv(&target, Int32(arguments.count), &pointers, &lengths)
            guard length >= 0, let target else {
                fatalError("redisFormatCommandArgv failed: out of memory")
            }
            defer { redisFreeCommand(target) }
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
        }
    }
}

/// Owns one `redisReader`: bytes in, whole replies out.
///
/// Not thread-safe: one channel handler owns it and uses it on its event loop only.
final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else {
            fatalError("redisReaderCreate failed: out of memory")
        }
        self.reader = reader
    }

    deinit {
        redisReaderFree(self.reader)
    }

    /// Hands bytes read from the socket to the reader.
    func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisClientError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(self.reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw .protocolError(self.errorText)
        }
    }

    /// The next complete reply, or `nil` until more bytes arrive.
    func nextReply() throws(RedisClientError) -> RESPValue? {
        var reply: UnsafeMutableRawPointer?
        if redisReaderGetReply(self.reader, &reply) != REDIS_OK {
            throw .protocolError(self.errorText)
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        let root = reply.assumingMemoryBound(to: redisReply.self)
        // The reply's bulk strings are copied into one buffer, each handed out as a slice of
        // it: one allocation a reply instead of one (or two) a string. All are written before
        // the first slice is taken, so the buffer is never copied.
        var size = 0
        Self.forEachString(in: root) { size += $0.count }
        var strings = ByteBuffer()
        if size > 0 {
            strings = ByteBufferAllocator().buffer(capacity: size)
            Self.forEachString(in: root) { strings.writeBytes($0) }
        }
        return try Self.value(of: root, strings: &strings)
    }

    /// Each bulk string of the reply, in the order ``value(of:strings:)`` meets them.
    private static func forEachString(in reply: UnsafeMutablePointer<redisReply>, _ body: (UnsafeRawBufferPointer) -> Void) {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            body(UnsafeRawBufferPointer(start: node.str, count: node.len))
        case REDIS_REPLY_ARRAY:
            for index in 0..<node.elements {
                if let element = node.element[index] { Self.forEachString(in: element, body) }
            }
        default:
            break
        }
    }

    private var errorText: String {
        withUnsafeBytes(of: self.reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// The reply as a value; its bulk strings are read off the front of `strings`, which holds
    /// them all in order (``forEachString(in:_:)``).
    private static func value(
        of reply: UnsafeMutablePointer<redisReply>,
        strings: inout ByteBuffer
    ) throws(RedisClientError) -> RESPValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            return .bulkString(strings.readSlice(length: node.len)!)
        case REDIS_REPLY_STATUS:
            return .simpleString(Self.text(node))
        case REDIS_REPLY_ERROR:
            return .error(Self.text(node))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(node.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                if let element = node.element[index] {
                    elements.append(try Self.value(of: element, strings: &strings))
                }
            }
            return .array(elements)
        case REDIS_REPLY_NIL:
            return .null
        default:
            // hiredis 0.14 speaks RESP2 only; a newer one could hand us a RESP3 type. Saying
            // nothing would turn it into a silent null.
            throw .protocolError("a reply of unknown type \(node.type)")
        }
    }

    /// Decodes a reply node of any `type` with no payload: lets tests show that a type this
    /// file does not know is an error, which hiredis 0.14 itself never produces.
    static func value(ofSyntheticReplyType type: Int32) throws(RedisClientError) -> RESPValue {
        var node = redisReply()
        node.type = type
        var strings = ByteBuffer()
        return try withUnsafeMutablePointer(to: &node) { (pointer) throws(RedisClientError) -> RESPValue in
            try Self.value(of: pointer, strings: &strings)
        }
    }

    private static func text(_ node: redisReply) -> String {
        String(decoding: UnsafeRawBufferPointer(start: node.str, count: node.len), as: UTF8.self)
    }
}
