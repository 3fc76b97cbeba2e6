import Hummingbird
import Logging

/// The keys that may call the API, by role. Empty: the service is open.
struct APIKeys: Sendable {
    enum Role: Sendable {
        /// Generate, batch, delete, stats, and everything a client may do.
        case admin
        /// Assign, unblock, keep-alive, inspect.
        case client
    }

    var admin: [String] = []
    var client: [String] = []

    var isOpen: Bool { self.admin.isEmpty && self.client.isEmpty }

    /// The role of a presented key, comparing against every configured key in constant time.
    func role(of key: Substring) -> Role? {
        var found: Role?
        for candidate in self.admin where Self.constantTimeEqual(candidate, key) { found = .admin }
        for candidate in self.client where Self.constantTimeEqual(candidate, key) { found = found ?? .client }
        return found
    }

    /// Time depends on the lengths only, never on where the bytes first differ.
    static func constantTimeEqual(_ a: String, _ b: Substring) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0 && x.count == y.count
    }
}

extension APIKeys {
    /// Lets a request through only with `Authorization: Bearer KEY` of a role that may use a
    /// route of `access`: no or an unknown key is 401 with `WWW-Authenticate: Bearer`, a client
    /// key on an admin route 403. An open service lets every request through.
    func authorize(_ request: Request, for access: Access) throws {
        if self.isOpen || access == .open { return }
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer ",
            let role = self.role(of: header.dropFirst(7).drop { $0 == " " })
        else {
            throw ProblemDetails(
                .unauthorized, "unauthorized", "a valid key is needed: Authorization: Bearer KEY",
                headers: [.wwwAuthenticate: "Bearer"]
            )
        }
        if access == .admin && role != .admin {
            throw ProblemDetails(.forbidden, "forbidden", "this route needs an admin key")
        }
    }
}
