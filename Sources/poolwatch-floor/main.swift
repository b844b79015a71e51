// poolwatch-floor: the memory floor of a Swift HTTP server built like poolwatch (same package, toolchain,
// flags and Hummingbird, with Hummingbird's defaults), doing no work: `/metrics` answers a static body.
// `scripts/bench` measures it beside poolwatch and the peers, so the memory table shows how much of
// poolwatch's RSS is the Swift runtime and the server stack, and how much is poolwatch.
//
//   poolwatch-floor PORT
import Hummingbird
import NIOCore

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 9647 : 9647
let body = ByteBuffer(string: "# HELP floor_up A static body.\n# TYPE floor_up gauge\nfloor_up 1\n")
let router = Router()
router.get("/metrics") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
