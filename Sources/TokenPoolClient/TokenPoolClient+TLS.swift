import AsyncHTTPClient
import NIOCore
import NIOSSL

extension TokenPoolClient {
    /// An HTTP client for a server that serves HTTPS (`--tls-cert`) with a certificate of a
    /// private CA: it trusts the CAs of `caFile` (PEM) instead of the system's, and speaks
    /// HTTP/2 when the server offers it, and up to 10,000 HTTP/1 connections to it (every call,
    /// waiting assigns too, goes on this one client: one connection for each wait). Shut it down
    /// when done (`try await client.shutdown()`).
    ///
    /// ```swift
    /// let http = try TokenPoolClient.httpClient(trustingCAFile: "ca.pem")
    /// let pool = TokenPoolClient(baseURL: "https://tokenpool:8443", key: key, httpClient: http)
    /// ```
    public static func httpClient(trustingCAFile caFile: String) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.httpVersion = .automatic
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.connectionsForWaits)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
