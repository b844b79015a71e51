import PoolWatchCore

/// The small HTML page at `/`: links and the target list. DSNs are shown redacted, never whole.
enum LandingPage {
    static func render(targets: [TargetConfig], snapshots: [TargetSnapshot]) -> String {
        var rows = ""
        for target in targets {
            let snapshot = snapshots.first { $0.target == target.name }
            let status = snapshot.map { $0.up ? "up" : "down" } ?? "not collected yet"
            let error = snapshot?.error.map { " — " + escape($0) } ?? ""
            rows += "<tr><td>\(escape(target.name))</td><td>\(target.kind.rawValue)</td>"
                + "<td><code>\(escape(target.redactedDSN))</code></td><td>\(DurationParser.format(target.interval))</td>"
                + "<td>\(status)\(error)</td></tr>\n"
        }
        return """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>poolwatch</title>
            <style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 12px;text-align:left}</style></head>
            <body><h1>poolwatch</h1>
            <p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/alerts">/alerts</a></p>
            <table><tr><th>target</th><th>kind</th><th>connection</th><th>interval</th><th>status</th></tr>
            \(rows)</table></body></html>

            """
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
