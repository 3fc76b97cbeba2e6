import HTTPTypes
import Hummingbird
import RedisTokenPool

/// The JSON bodies the routes take, each checked in one place: a wrong body is a 400 that says
/// what is wrong, metadata over its limit a 413.
enum RequestBodies {
    /// The body as JSON, `nil` when there is none; at most `maxSize` bytes (else 413).
    static func json(_ request: Request, maxSize: Int) async throws -> RequestJSON? {
        // A request that announces no body (HTTP/1.1: no Transfer-Encoding and no or a zero
        // Content-Length) has none: nothing to wait for. Assign, the hot route, is mostly sent so.
        if !request.headers.contains(.transferEncoding), (request.headers.firstValue(.contentLength) ?? "0") == "0" { return nil }
        let body = try await request.body.collect(upTo: maxSize)
        guard body.readableBytesView.contains(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) else { return nil }
        do {
            return try JSONReader.parse(body)
        } catch {
            throw ProblemDetails.badRequest("the body is not JSON: \(error.message)")
        }
    }

    /// The body's members, when it is an object with no member but `allowed`; `[]` for no body.
    static func members(_ body: RequestJSON?, allowed: Set<String>, example: String) throws -> [RequestJSON.Member] {
        guard let body else { return [] }
        guard case .object(let members) = body else {
            throw ProblemDetails.badRequest("the body must be a JSON object like \(example)")
        }
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            throw ProblemDetails.badRequest("unknown member '\(unknown.key.prefix(32))'; the body is like \(example)")
        }
        return members
    }

    /// Metadata: a JSON object of at most ``TokenPool/maxMetadataBytes`` as compact text (413
    /// beyond), or `null` for none.
    static func metadata(_ value: RequestJSON, at path: String = "metadata") throws -> String? {
        switch value {
        case .null:
            return nil
        case .object:
            let text = value.text
            guard text.utf8.count <= TokenPool.maxMetadataBytes else {
                throw ProblemDetails(
                    .contentTooLarge, "metadata-too-large",
                    "\(path) is \(text.utf8.count) bytes as compact JSON; at most \(TokenPool.maxMetadataBytes)"
                )
            }
            return text
        default:
            throw ProblemDetails.badRequest("\(path) must be a JSON object or null")
        }
    }

    /// `POST /tokens`: `{"metadata": {...}}` or no body.
    static func generateOne(_ body: RequestJSON?) throws -> GeneratedMetadata {
        let members = try Self.members(body, allowed: ["metadata"], example: #"{"metadata": {"proxy": "10.0.0.7:3128"}}"#)
        return try members.first.flatMap { try Self.metadata($0.value) }.map(GeneratedMetadata.shared) ?? .none
    }

    /// `POST /tokens/batch`: `{"count": N}`, `{"count": N, "metadata": {...}}` (the same on each)
    /// or `{"metadata": [{...}, ...]}` (one each, as many tokens as objects: no `count` beside it).
    static func batch(_ body: RequestJSON?) throws -> (count: Int, metadata: GeneratedMetadata) {
        let example = #"{"count": 10} or {"count": 10, "metadata": {...}} or {"metadata": [{...}, {...}]}"#
        guard body != nil else { throw ProblemDetails.badRequest("the body must be JSON like \(example)") }
        let members = try Self.members(body, allowed: ["count", "metadata"], example: example)
        let range = 1...TokenPool.maxBatch
        var count: Int?
        if let value = members.first(where: { $0.key == "count" })?.value {
            guard case .number(let text) = value, let number = Int(text) else {
                throw ProblemDetails.badRequest("count must be a whole number from 1 to \(TokenPool.maxBatch)")
            }
            guard range.contains(number) else {
                throw ProblemDetails.badRequest("count must be from 1 to \(TokenPool.maxBatch), not \(number)")
            }
            count = number
        }
        switch members.first(where: { $0.key == "metadata" })?.value {
        case .array(let objects):
            guard range.contains(objects.count) else {
                throw ProblemDetails.badRequest("metadata must list 1 to \(TokenPool.maxBatch) objects, not \(objects.count)")
            }
            guard count == nil else {
                throw ProblemDetails.badRequest("with a list of metadata, one token per object: leave count out")
            }
            let each = try objects.enumerated().map { index, object in try Self.metadata(object, at: "metadata[\(index)]") }
            return (objects.count, .each(each))
        case let value?:
            guard let count else { throw ProblemDetails.badRequest("count is missing: \(example)") }
            return (count, try Self.metadata(value).map(GeneratedMetadata.shared) ?? .none)
        case nil:
            guard let count else { throw ProblemDetails.badRequest("count is missing: \(example)") }
            return (count, .none)
        }
    }

    /// `PATCH /tokens/{token}`: `{"metadata": {...} | null}`.
    static func patch(_ body: RequestJSON?) throws -> String? {
        let example = #"{"metadata": {...}} or {"metadata": null}"#
        guard let value = try Self.members(body, allowed: ["metadata"], example: example).first?.value else {
            throw ProblemDetails.badRequest("the body must be like \(example)")
        }
        return try Self.metadata(value)
    }

    /// `POST /tokens/assign`: `{"holder": "worker-7"}` or no body. A holder is 1 to 128
    /// characters (Unicode scalars, as JSON Schema counts), none of them a control character.
    static func holder(_ body: RequestJSON?) throws -> String? {
        let members = try Self.members(body, allowed: ["holder"], example: #"{"holder": "worker-7"}"#)
        guard let value = members.first?.value else { return nil }
        guard case .string(let holder) = value, (1...128).contains(holder.unicodeScalars.count),
            !holder.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw ProblemDetails.badRequest("holder must be a string of 1 to 128 printable characters")
        }
        return holder
    }

    /// The longest cooldown, in seconds (a day): `?cooldown=` and the pool's `cooldown`.
    static let maxCooldown = 86_400
    /// The most failure reports in a row a pool's `maxFailures` may ask for.
    static let maxFailures = 1_000

    /// The most assignments per window a pool's `rateLimit` may allow.
    static let maxRateAssigns = 100_000

    /// `PUT /pools/{pool}`: `{"leaseTTL": s, "keepAliveTTL": s, "cooldown": s, "maxFailures": F,
    /// "quarantine": s, "rateLimit": {"assigns": R, "per": s}, "maxPerHolder": Q}`, all at once (`rateLimit`: R 1 to
    /// 100000 in any window of 0.001 to 86400 s, or `null`/absent for none); the TTLs a number of seconds from 0.001 to 31536000 (a
    /// year), or `null`/absent for the replicas' default; `cooldown` 0 to 86400 s and
    /// `quarantine` 0.001 to 31536000 s, `maxFailures` 1 to 1000, `maxPerHolder` 1 to 100000,
    /// each `null`/absent (or a cooldown of 0) for none.
    static func poolSettings(_ body: RequestJSON?) throws -> PoolSettings {
        let example = #"{"leaseTTL": 60, "keepAliveTTL": 300, "cooldown": 30, "maxFailures": 3, "quarantine": 600, "rateLimit": {"assigns": 10, "per": 60}, "maxPerHolder": 5}"#
        guard body != nil else { throw ProblemDetails.badRequest("the body must be JSON like \(example) ({} for the defaults)") }
        let members = try Self.members(body, allowed: ["leaseTTL", "keepAliveTTL", "cooldown", "maxFailures", "quarantine", "rateLimit", "maxPerHolder"], example: example)
        func number(_ name: String) -> (text: String?, isNull: Bool) {
            let value = members.first { $0.key == name }?.value
            if value == nil || value == .null { return (nil, true) }
            if case .number(let text) = value { return (text, false) }
            return (nil, false)
        }
        func seconds(_ name: String, from low: Double, to high: Double, none: String) throws -> Duration? {
            let (text, isNull) = number(name)
            if isNull { return nil }
            guard let text, let seconds = Double(text), seconds >= low, seconds <= high else {
                throw ProblemDetails.badRequest("\(name) must be a number of seconds from \(low == 0 ? "0" : "0.001") to \(Int(high)), or null for \(none)")
            }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        var settings = PoolSettings()
        settings.leaseTTL = try seconds("leaseTTL", from: 0.001, to: 31_536_000, none: "the default")
        settings.keepAliveTTL = try seconds("keepAliveTTL", from: 0.001, to: 31_536_000, none: "the default")
        settings.cooldown = try seconds("cooldown", from: 0, to: Double(Self.maxCooldown), none: "none")
        if settings.cooldown == .zero { settings.cooldown = nil }
        settings.quarantine = try seconds("quarantine", from: 0.001, to: 31_536_000, none: "until enabled by hand")
        let (failures, isNull) = number("maxFailures")
        if !isNull {
            guard let failures, let count = Int(failures), (1...Self.maxFailures).contains(count) else {
                throw ProblemDetails.badRequest("maxFailures must be a whole number from 1 to \(Self.maxFailures), or null for never")
            }
            settings.maxFailures = count
        }
        settings.rateLimit = try Self.rateLimit(members.first { $0.key == "rateLimit" }?.value)
        let (cap, noCap) = number("maxPerHolder")
        if !noCap {
            guard let cap, let count = Int(cap), (1...TokenPool.maxPerHolderLimit).contains(count) else {
                throw ProblemDetails.badRequest("maxPerHolder must be a whole number from 1 to \(TokenPool.maxPerHolderLimit), or null for no cap")
            }
            settings.maxPerHolder = count
        }
        return settings
    }

    /// `{"assigns": R, "per": W}`: R a whole number from 1 to ``maxRateAssigns``, W seconds from
    /// 0.001 to 86400; `null` or absent for none.
    private static func rateLimit(_ value: RequestJSON?) throws -> RateLimit? {
        guard let value, value != .null else { return nil }
        let problem = ProblemDetails.badRequest(
            "rateLimit must be like {\"assigns\": 10, \"per\": 60}: assigns a whole number from 1 to \(Self.maxRateAssigns), per seconds from 0.001 to 86400; or null for none"
        )
        guard case .object(let members) = value, members.count == 2,
            case .number(let assignsText)? = members.first(where: { $0.key == "assigns" })?.value,
            case .number(let perText)? = members.first(where: { $0.key == "per" })?.value,
            let assigns = Int(assignsText), (1...Self.maxRateAssigns).contains(assigns),
            let per = Double(perText), per >= 0.001, per <= 86_400
        else { throw problem }
        return RateLimit(assigns: assigns, per: .milliseconds(Int64((per * 1000).rounded())))
    }

    /// `POST /tokens/{token}/disable`: `{"reason": "..."}` (1 to 256 printable characters) or no body.
    static func reason(_ body: RequestJSON?) throws -> String? {
        let members = try Self.members(body, allowed: ["reason"], example: #"{"reason": "proxy refuses connections"}"#)
        guard let value = members.first?.value, value != .null else { return nil }
        guard case .string(let reason) = value, (1...256).contains(reason.unicodeScalars.count),
            !reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw ProblemDetails.badRequest("reason must be a string of 1 to 256 printable characters")
        }
        return reason
    }
}

extension HTTPFields {
    /// The first value of the field `name`: what a request has once, read without building
    /// the values joined, as `HTTPFields`' subscript does (a string and its generic machinery,
    /// for every field it finds).
    func firstValue(_ name: HTTPField.Name) -> String? {
        self.first { $0.name == name }?.value
    }
}
