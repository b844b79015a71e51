/// `poolwatch diagnose` output: one screen per troubled pool — the verdict first, then the holders
/// and the waiting clients, then the advice — and a line for each target that could not be reached.
public enum DiagnosisText {
    public static func render(_ diagnosis: Diagnosis, all: Bool = false) -> String {
        var out: [String] = []
        for target in diagnosis.targets where !target.up {
            out.append("✗ \(target.name) [\(target.kind)] cannot be reached: \(target.error ?? "no round yet")")
        }
        let shown = all ? diagnosis.pools : diagnosis.troubled
        for pool in shown {
            if !out.isEmpty { out.append("") }
            out.append(contentsOf: screen(pool))
        }
        if shown.isEmpty {
            let up = diagnosis.targets.filter(\.up).map(\.name)
            if !up.isEmpty {
                if !out.isEmpty { out.append("") }
                out.append("✓ no troubled pool on \(up.joined(separator: ", "))")
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func screen(_ pool: PoolDiagnosis) -> [String] {
        let name = pool.user.isEmpty ? "\(pool.target) database \(pool.database)" : "\(pool.target) pool \(pool.database)/\(pool.user)"
        var lines = ["\(pool.troubled ? "✗" : "✓") \(name)", "  \(pool.verdict)"]
        if !pool.holders.isEmpty {
            lines.append("")
            lines.append(contentsOf: table(
                ["ACTIVITY", "APPLICATION", "CLIENT", "PID", "STATE", "XACT", "IN STATE", "WAITS ON", "BLOCKS"],
                pool.holders.map { h in
                    [h.activity.rawValue, h.application.isEmpty ? "-" : h.application, h.client.isEmpty ? "-" : h.client,
                     h.backendPID.map(String.init) ?? "-", h.backendState ?? h.serverState ?? "-",
                     h.transactionSeconds.map(DiagnosisFormat.duration) ?? "-", h.stateSeconds.map(DiagnosisFormat.duration) ?? "-",
                     h.blockedBy.isEmpty ? (h.waitEvent ?? "-") : "pid " + h.blockedBy.map(String.init).joined(separator: ","),
                     h.blocking.isEmpty ? "-" : "pid " + h.blocking.map(String.init).joined(separator: ",")]
                }).map { "  " + $0 })
            for h in pool.holders where h.query != nil {
                lines.append("  pid \(h.backendPID.map(String.init) ?? "-"): \(h.query!)")
            }
        }
        if !pool.waiting.isEmpty {
            lines.append("")
            lines.append(contentsOf: table(["WAITING CLIENT", "APPLICATION", "WAITED"], pool.waiting.prefix(10).map {
                [$0.client.isEmpty ? "-" : $0.client, $0.application.isEmpty ? "-" : $0.application, DiagnosisFormat.duration($0.waitSeconds)]
            }).map { "  " + $0 })
            if pool.waiting.count > 10 { lines.append("  … and \(pool.waiting.count - 10) more") }
        }
        if !pool.advice.isEmpty {
            lines.append("")
            lines.append(contentsOf: pool.advice.map { "  → " + $0 })
        }
        return lines
    }

    /// Left-aligned columns, two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
    }
}
