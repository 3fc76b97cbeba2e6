import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers

/// The key ring in use, swapped whole when the keys file changes: each request reads it once
/// (``ring``), so requests in flight finish under the rules they began with.
final class KeyStore: Sendable {
    private let current: NIOLockedValueBox<KeyRing>
    private let adminKeys: [String]
    private let clientKeys: [String]
    /// `--keys-file`, if any.
    let path: String?
    /// The bytes last read from the file, good or bad: a change is a difference from these.
    private let lastBytes: NIOLockedValueBox<Data?>
    private let logger: Logger
    private let reloads: Counter
    private let failedReloads: Counter
    private let fileValid: Gauge

    /// Reads the keys file, if one is named: a missing or bad file is an error here, at start.
    init(adminKeys: [String], clientKeys: [String], keysFile path: String?, logger: Logger) throws(KeysFileError) {
        (self.adminKeys, self.clientKeys, self.path, self.logger) = (adminKeys, clientKeys, path, logger)
        var bytes: Data?
        var file: [APIKey] = []
        if let path { (bytes, file) = try KeysFile.read(path: path) }
        self.current = NIOLockedValueBox(try KeyRing(adminKeys: adminKeys, clientKeys: clientKeys, file: file))
        self.lastBytes = NIOLockedValueBox(bytes)
        self.reloads = Counter(label: "tokenpool_keys_reloads_total", dimensions: [("result", "ok")])
        self.failedReloads = Counter(label: "tokenpool_keys_reloads_total", dimensions: [("result", "error")])
        self.fileValid = Gauge(label: "tokenpool_keys_file_valid")
        self.fileValid.record(1)
    }

    var ring: KeyRing { self.current.withLockedValue { $0 } }

    /// Reads the file again if it changed (or always, with `force`: SIGHUP). A file that cannot
    /// be read or parsed leaves the keys as they were: logged, and `tokenpool_keys_file_valid` 0.
    func reload(force: Bool = false) {
        guard let path = self.path else { return }
        let bytes = try? Data(contentsOf: URL(fileURLWithPath: path))
        let changed = self.lastBytes.withLockedValue { last in
            defer { last = bytes }
            return force || last != bytes
        }
        guard changed else { return }
        do {
            guard let bytes else { throw KeysFileError("cannot read the keys file \(path)") }
            let ring = try KeyRing(adminKeys: self.adminKeys, clientKeys: self.clientKeys, file: try KeysFile.parse(bytes))
            self.current.withLockedValue { $0 = ring }
            self.reloads.increment()
            self.fileValid.record(1)
            self.logger.info("Keys file reloaded", metadata: ["tokenpool.keys": "\(ring.keys.count)"])
        } catch {
            self.failedReloads.increment()
            self.fileValid.record(0)
            self.logger.error("Keys file not reloaded; the keys in use stay as they were", metadata: ["error": "\(error)"])
        }
    }
}
