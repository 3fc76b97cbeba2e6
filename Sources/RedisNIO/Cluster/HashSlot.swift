/// Redis Cluster's hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag — the part
/// between the first `{` and the next `}`, when not empty — modulo 16384. Every key of a pool
/// shares the `{pool}` tag, so a pool lives in one slot.
package enum HashSlot {
    package static let count = 16384

    package static func of(_ key: String) -> Int {
        var bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            bytes = Array(bytes[(open + 1)..<close])
        }
        return Int(crc16(bytes) & 0x3FFF)
    }

    /// CRC16-CCITT, polynomial 0x1021, initial 0 (XMODEM), as Redis Cluster uses.
    static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
