import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The HTTP calls the workers make, each recorded with its invocation and completion times.
struct API: Sendable {
    let client: HTTPClient
    let servers: [String]
    let pool: String
    let recorder: Recorder
    private let next = Counter()

    init(client: HTTPClient, servers: [String], pool: String, recorder: Recorder) {
        self.client = client
        self.servers = servers
        self.pool = pool
        self.recorder = recorder
    }

    struct Answer {
        var status: Int
        var json: [String: Any]?
    }

    /// Sends one request to the next server; status 0 when no answer came.
    func call(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = [], server: Int? = nil) async -> (Int, Answer) {
        let index = server ?? self.next.next() % self.servers.count
        var request = HTTPClientRequest(url: self.servers[index] + "/pools/\(self.pool)" + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        do {
            let response = try await self.client.execute(request, timeout: .seconds(3))
            let bytes = try await response.body.collect(upTo: 4 << 20)
            let json = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
            return (index, Answer(status: Int(response.status.code), json: json))
        } catch {
            return (index, Answer(status: 0, json: nil))
        }
    }

    func record(_ worker: Int, _ op: String, _ server: Int, _ invoked: Int64, _ answer: Answer, token: String? = nil, lease: Int64? = nil, stale: Bool? = nil) async {
        let json = answer.json ?? [:]
        var operation = Operation(
            worker: worker, op: op, server: server, token: (json["token"] as? String) ?? token,
            lease: (json["lease"] as? Int64) ?? (json["lease"] as? Int).map(Int64.init) ?? lease,
            invoked: invoked, completed: now(), status: answer.status,
            expiresAt: (json["expiresAt"] as? String).flatMap(milliseconds),
            leaseExpiresAt: (json["leaseExpiresAt"] as? String).flatMap(milliseconds), stale: stale
        )
        if op == "stats", answer.status == 200 {
            operation.stats = json.compactMapValues { $0 as? Int }
        }
        if let list = json["tokens"] as? [[String: Any]] {
            operation.tokens = list.compactMap { $0["token"] as? String }
        } else if op == "generate", answer.status == 201, let token = json["token"] as? String {
            operation.tokens = [token]
        }
        await self.recorder.add(operation)
    }

    func generateBatch(worker: Int, count: Int) async throws -> [String] {
        let invoked = now()
        let (server, answer) = await self.call(.POST, "/tokens/batch", body: #"{"count": \#(count)}"#)
        await self.record(worker, "batch", server, invoked, answer)
        return (answer.json?["tokens"] as? [[String: Any]])?.compactMap { $0["token"] as? String } ?? []
    }

    /// Assigns; an answer lost on the way is asked again of the next server with the same key.
    func assign(worker: Int, attempt: String) async -> (token: String, lease: Int64)? {
        for _ in 0..<3 {
            let invoked = now()
            let (server, answer) = await self.call(.POST, "/tokens/assign", headers: [("Idempotency-Key", attempt)])
            await self.record(worker, "assign", server, invoked, answer)
            if answer.status == 200, let token = answer.json?["token"] as? String, let lease = answer.json?["lease"] as? Int {
                return (token, Int64(lease))
            }
            if answer.status != 0 && answer.status != 503 { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @discardableResult
    func leaseCall(_ op: String, worker: Int, token: String, lease: Int64, stale: Bool = false) async -> Int {
        let invoked = now()
        let path = op == "unblock" ? "unblock" : "keep-alive"
        let (server, answer) = await self.call(.POST, "/tokens/\(token)/\(path)?lease=\(lease)")
        await self.record(worker, op, server, invoked, answer, token: token, lease: lease, stale: stale)
        return answer.status
    }

    func generate(worker: Int) async -> String? {
        let invoked = now()
        let (server, answer) = await self.call(.POST, "/tokens")
        await self.record(worker, "generate", server, invoked, answer)
        return answer.json?["token"] as? String
    }

    func delete(worker: Int, token: String) async {
        let invoked = now()
        let (server, answer) = await self.call(.DELETE, "/tokens/\(token)")
        await self.record(worker, "delete", server, invoked, answer, token: token)
    }

    func inspect(worker: Int, token: String) async {
        let invoked = now()
        let (server, answer) = await self.call(.GET, "/tokens/\(token)")
        await self.record(worker, "inspect", server, invoked, answer, token: token)
    }

    func stats(worker: Int) async {
        let invoked = now()
        let (server, answer) = await self.call(.GET, "/stats")
        await self.record(worker, "stats", server, invoked, answer)
    }
}

final class Counter: Sendable {
    private let value = ManagedCounter()
    func next() -> Int { self.value.increment() }
}

/// A lock-protected integer (the load client's only shared mutable state outside the recorder).
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.value &+= 1
        return self.value
    }
}

func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

/// `2026-11-29T02:39:40.826Z` -> ms since the epoch.
func milliseconds(_ text: String) -> Int64? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
}
