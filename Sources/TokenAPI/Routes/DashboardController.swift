import Hummingbird
import NIOCore

/// `/dashboard` and `/dashboard/pools/{pool}`: one page, embedded in the binary like the Lua
/// scripts. It loads without a key; its data comes from the API with the key typed into it.
/// The Content-Security-Policy lets the page talk to this server only.
struct DashboardController<Context: RequestContext>: Sendable {
    /// `/dashboard` and `/dashboard/pools/{pool}` alike: the page finds the pool in its address.
    func page(_ request: Request, _ context: Context) -> Response {
        Self.page
    }

    private static var page: Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                .contentSecurityPolicy: "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: EmbeddedFile.dashboardHTML))
        )
    }
}
