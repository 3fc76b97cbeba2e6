import ServiceLifecycle
import UnixSignals

/// Reads the keys file again when it changes (looked at every second, so a mounted secret that
/// is swapped is seen within 2 s) and on SIGHUP, which also reloads the listener's certificate.
struct ReloadService: Service {
    let keys: KeyStore
    let tls: ListenerTLS?
    var interval: Duration = .seconds(1)

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        // Both loops end when the server shuts down.
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in signals {
                        self.keys.reload(force: true)
                        self.tls?.reload()
                    }
                }
                if self.keys.path != nil {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: self.interval)
                            self.keys.reload()
                        }
                    }
                }
            }
        }
    }
}
