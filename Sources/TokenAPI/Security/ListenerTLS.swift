import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// The listener's certificate and key (`--tls-cert`, `--tls-key`), read again on SIGHUP: every
/// handshake takes the pair in use at that moment, so a renewed certificate is served without
/// a restart and connections already open keep theirs.
final class ListenerTLS: Sendable {
    private struct Identity: Sendable {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
    }

    let certificatePath: String
    let keyPath: String
    private let identity: NIOLockedValueBox<Identity>
    private let logger: Logger

    /// Reads both files: an error here stops the start.
    init(certificatePath: String, keyPath: String, logger: Logger) throws {
        (self.certificatePath, self.keyPath, self.logger) = (certificatePath, keyPath, logger)
        self.identity = NIOLockedValueBox(try Self.read(certificatePath, keyPath))
    }

    private static func read(_ certificatePath: String, _ keyPath: String) throws -> Identity {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        guard !chain.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
        return Identity(chain: chain, key: try NIOSSLPrivateKey(file: keyPath, format: .pem))
    }

    /// TLS 1.2 and up with the pair in use, chosen anew at each handshake.
    var configuration: TLSConfiguration {
        let first = self.identity.withLockedValue { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: first.chain.map { .certificate($0) }, privateKey: .privateKey(first.key)
        )
        configuration.sslContextCallback = { [identity] _, promise in
            let now = identity.withLockedValue { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = now.chain.map { .certificate($0) }
            override.privateKey = .privateKey(now.key)
            promise.succeed(override)
        }
        return configuration
    }

    /// Reads the files again; a pair that does not load leaves the one in use, logged.
    func reload() {
        do {
            let fresh = try Self.read(self.certificatePath, self.keyPath)
            self.identity.withLockedValue { $0 = fresh }
            self.logger.info("TLS certificate reloaded")
        } catch {
            self.logger.error("TLS certificate not reloaded; the one in use stays", metadata: ["error": "\(error)"])
        }
    }
}
