import Foundation

/// One simulated client; its role comes from its index (see ``LoadCommand``).
struct Worker: Sendable {
    let id: Int
    let api: API
    let end: Date

    /// Assign (waiting, with --wait), hold for `hold`, unblock: again and again. With `take`
    /// above 1, each assign takes 1 to `take` tokens at once at a random priority, as holder wID.
    func hold(for hold: Duration, take: Int = 1) async throws {
        var attempt = 0
        while Date() < self.end {
            attempt += 1
            let key = "w\(self.id)-\(attempt)"
            let held: [(token: String, lease: Int64)]
            if take > 1 {
                let count = Int.random(in: 1...take)
                guard let taken = await self.api.assign(worker: self.id, attempt: key, count: count, priority: [-10, 0, 10].randomElement()!, holder: "w\(self.id)")
                else { continue }
                held = taken
            } else {
                guard let one = await self.api.assign(worker: self.id, attempt: key) else { continue }
                held = [one]
            }
            try await Task.sleep(for: hold)
            for (token, lease) in held {
                await self.api.leaseCall("unblock", worker: self.id, token: token, lease: lease)
            }
        }
    }

    func run() async throws {
        var attempt = 0
        var generated: [String] = []
        while Date() < self.end {
            attempt += 1
            switch self.id % 8 {
            case 5:
                // Abandons what it gets: the lease must lapse and the token come back.
                _ = await self.api.assign(worker: self.id, attempt: "w\(self.id)-\(attempt)")
                try await Task.sleep(for: .milliseconds(300))
            case 6:
                // A stale holder: after unblocking, it tries its old lease again.
                if let held = await self.api.assign(worker: self.id, attempt: "w\(self.id)-\(attempt)") {
                    // Only a lease it has really given back is stale; an unblock lost in a fault is not.
                    guard await self.api.leaseCall("unblock", worker: self.id, token: held.token, lease: held.lease) == 200 else { continue }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...30)))
                    await self.api.leaseCall("keep-alive", worker: self.id, token: held.token, lease: held.lease, stale: true)
                    await self.api.leaseCall("unblock", worker: self.id, token: held.token, lease: held.lease, stale: true)
                } else {
                    try await Task.sleep(for: .milliseconds(20))
                }
            case 4:
                // Rests and failures: gives its token back to rest 50-200 ms (a rate-limited key),
                // or takes it out of service and, a moment later, puts it back.
                guard let held = await self.api.assign(worker: self.id, attempt: "w\(self.id)-\(attempt)") else {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...50)))
                if attempt % 4 == 0 {
                    guard await self.api.leaseCall("disable", worker: self.id, token: held.token, lease: held.lease) == 200 else { continue }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 50...150)))
                    await self.api.enable(worker: self.id, token: held.token)
                } else {
                    let cooldown = Duration.milliseconds(Int.random(in: 50...200))
                    await self.api.leaseCall("unblock", worker: self.id, token: held.token, lease: held.lease, cooldown: cooldown)
                }
            case 3:
                // Two at once (two accounts for one transfer), as its own holder, at a random priority.
                let priority = [-10, 0, 10].randomElement()!
                guard let held = await self.api.assign(worker: self.id, attempt: "w\(self.id)-\(attempt)", count: 2, priority: priority, holder: "w\(self.id)")
                else {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...100)))
                for (token, lease) in held {
                    await self.api.leaseCall("unblock", worker: self.id, token: token, lease: lease)
                }
            case 7:
                // Churn: generates tokens and deletes some of its own.
                if let token = await self.api.generate(worker: self.id) { generated.append(token) }
                if generated.count > 3, let victim = generated.randomElement() {
                    generated.removeAll { $0 == victim }
                    await self.api.delete(worker: self.id, token: victim)
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 20...80)))
            default:
                // A proper holder.
                guard let held = await self.api.assign(worker: self.id, attempt: "w\(self.id)-\(attempt)") else {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...150)))
                if Bool.random() {
                    let status = await self.api.leaseCall("keep-alive", worker: self.id, token: held.token, lease: held.lease)
                    if status != 200 { continue }  // lost it (lapsed or 409): stop using it
                    try await Task.sleep(for: .milliseconds(Int.random(in: 5...100)))
                }
                await self.api.leaseCall("unblock", worker: self.id, token: held.token, lease: held.lease)
            }
        }
    }
}
