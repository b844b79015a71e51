import PoolWatchCore

/// A firing alert as the status page shows it.
public struct StatusAlert: Sendable, Equatable {
    public var name: String
    public var severity: String
    public var summary: String
    /// Epoch seconds when it started firing.
    public var since: Double

    public init(name: String, severity: String, summary: String, since: Double) {
        self.name = name
        self.severity = severity
        self.summary = summary
        self.since = since
    }
}

/// The live status page at `/`: targets up or down with the reason, every pool of the normalized pool
/// model, the holders of troubled pools, and the firing alerts. Server-rendered HTML with no script
/// and no external asset (it works offline and under the strict Content-Security-Policy), reloaded by
/// the browser every few seconds, and narrow enough for a phone. DSNs are shown redacted, never whole;
/// every value from a server or an application is escaped.
enum LandingPage {
    static let refreshSeconds = 5

    static func render(targets: [TargetConfig], snapshots: [TargetSnapshot], diagnosis: Diagnosis, alerts: [StatusAlert],
                       now: Double) -> String {
        var body = "<h1>poolwatch</h1>\n<p class=\"nav\"><a href=\"/metrics\">/metrics</a> · <a href=\"/diagnose\">/diagnose</a> · "
            + "<a href=\"/alerts\">/alerts</a> · <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a> · "
            + "refreshes every \(refreshSeconds) s · \(DiagnosisFormat.timeOfDay(now)) UTC</p>\n"
        body += alertsSection(alerts, now: now)
        body += targetsSection(targets, snapshots: snapshots, now: now)
        body += poolsSection(snapshots)
        body += troubledSection(diagnosis)
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>poolwatch</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <style>
            body{font-family:system-ui,sans-serif;margin:1em;color:#222}
            h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}
            .nav{color:#666;font-size:.9em}
            .scroll{overflow-x:auto}
            table{border-collapse:collapse;font-size:.9em}
            td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #ddd;white-space:nowrap}
            .up{color:#176f2c;font-weight:bold}.down{color:#b00020;font-weight:bold}
            .troubled{border-left:4px solid #b00020;padding-left:.6em;margin:1em 0}
            .verdict{font-weight:bold}
            .advice{font-family:ui-monospace,monospace;font-size:.85em;white-space:pre-wrap}
            </style></head>
            <body>
            \(body)</body></html>

            """
    }

    static func alertsSection(_ alerts: [StatusAlert], now: Double) -> String {
        guard !alerts.isEmpty else { return "<h2>Firing alerts</h2>\n<p id=\"alerts\">none</p>\n" }
        let rows = alerts.map { alert in
            "<tr><td class=\"down\">\(escape(alert.name))</td><td>\(escape(alert.severity))</td>"
                + "<td>\(DiagnosisFormat.duration(max(0, now - alert.since))) (since \(DiagnosisFormat.timeOfDay(alert.since)) UTC)</td>"
                + "<td>\(escape(alert.summary))</td></tr>"
        }
        return "<h2>Firing alerts</h2>\n" + table(id: "alerts", ["alert", "severity", "firing for", "summary"], rows)
    }

    static func targetsSection(_ targets: [TargetConfig], snapshots: [TargetSnapshot], now: Double) -> String {
        let rows = targets.map { target in
            let snapshot = snapshots.first { $0.target == target.name }
            let status = snapshot.map { $0.up ? "<span class=\"up\">up</span>" : "<span class=\"down\">down</span>" } ?? "not collected yet"
            let age = snapshot.map { " \(DiagnosisFormat.duration(max(0, now - $0.timestamp))) ago" } ?? ""
            return "<tr><td>\(escape(target.name))</td><td>\(target.kind.rawValue)</td><td>\(status)\(age)</td>"
                + "<td>\(escape(snapshot?.error ?? ""))</td><td><code>\(escape(target.redactedDSN))</code></td></tr>"
        }
        return "<h2>Targets</h2>\n" + table(id: "targets", ["target", "kind", "status", "reason", "connection"], rows)
    }

    /// One row per pool of the normalized pool model (PgBouncer, Pgpool-II, application pools).
    static func poolsSection(_ snapshots: [TargetSnapshot]) -> String {
        var rows: [String] = []
        for snapshot in snapshots where snapshot.up {
            let families = Dictionary(snapshot.families.filter { $0.name.hasPrefix("poolwatch_pool_") }.map { ($0.name, $0) },
                                      uniquingKeysWith: { a, _ in a })
            let pools = (families["poolwatch_pool_size_limit"]?.samples ?? []).map { $0.label("pool") ?? "" }
            for pool in pools {
                func value(_ name: String, state: String? = nil) -> Double {
                    (families[name]?.samples ?? []).filter { $0.label("pool") == pool && (state == nil || $0.label("state") == state) }
                        .reduce(0) { $0 + $1.value }
                }
                let utilization = value("poolwatch_pool_utilization_ratio")
                let saturated = value("poolwatch_pool_saturated") > 0
                rows.append("<tr><td>\(escape(snapshot.target))</td><td>\(escape(pool))</td>"
                            + "<td>\(format(value("poolwatch_pool_clients", state: "active")))</td>"
                            + "<td\(value("poolwatch_pool_clients", state: "waiting") > 0 ? " class=\"down\"" : "")>"
                            + "\(format(value("poolwatch_pool_clients", state: "waiting")))</td>"
                            + "<td>\(format(value("poolwatch_pool_servers", state: "active") + value("poolwatch_pool_servers", state: "used")))"
                            + " / \(format(value("poolwatch_pool_size_limit")))</td>"
                            + "<td\(saturated ? " class=\"down\"" : "")>\(Int((utilization * 100).rounded())) %</td>"
                            + "<td>\(DiagnosisFormat.duration(value("poolwatch_pool_wait_seconds_max")))</td></tr>")
            }
        }
        guard !rows.isEmpty else { return "" }
        return "<h2>Pools</h2>\n" + table(id: "pools", ["target", "pool", "clients active", "waiting", "servers in use", "utilization",
                                                        "longest wait"], rows)
    }

    static func troubledSection(_ diagnosis: Diagnosis) -> String {
        let troubled = diagnosis.troubled
        guard !troubled.isEmpty else { return "<h2>Who holds the pools</h2>\n<p id=\"holders\">no troubled pool</p>\n" }
        var html = "<h2>Who holds the pools</h2>\n"
        for pool in troubled {
            let name = pool.user.isEmpty ? "database \(pool.database)" : "pool \(pool.database)/\(pool.user)"
            html += "<div class=\"troubled\"><p><b>\(escape(pool.target))</b> \(escape(name))</p>"
                + "<p class=\"verdict\">\(escape(pool.verdict))</p>\n"
            let rows = pool.holders.map { h in
                "<tr><td>\(escape(h.activity.rawValue))</td><td>\(escape(h.application))</td><td>\(escape(h.client))</td>"
                    + "<td>\(h.backendPID.map(String.init) ?? "")</td>"
                    + "<td>\(h.stateSeconds.map(DiagnosisFormat.duration) ?? "")</td>"
                    + "<td>\(h.blockedBy.map(String.init).joined(separator: ", "))</td>"
                    + "<td>\(h.blocking.map(String.init).joined(separator: ", "))</td></tr>"
            }
            if !rows.isEmpty {
                html += table(id: nil, ["activity", "application", "client", "backend pid", "in state", "blocked by", "blocks"], rows)
            }
            if !pool.advice.isEmpty {
                html += "<p class=\"advice\">" + pool.advice.map { "→ " + escape($0) }.joined(separator: "\n") + "</p>"
            }
            html += "</div>\n"
        }
        return html
    }

    static func table(id: String?, _ header: [String], _ rows: [String]) -> String {
        "<div class=\"scroll\"><table\(id.map { " id=\"\($0)\"" } ?? "")><tr>" + header.map { "<th>\($0)</th>" }.joined()
            + "</tr>\n" + rows.joined(separator: "\n") + "\n</table></div>\n"
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
