/// Which databases besides the DSN's a target visits over short-lived connections (`table_stats.databases`,
/// `queries[].databases`).
public enum DatabaseSelection: Sendable, Equatable, CustomStringConvertible {
    /// These databases, by name.
    case list([String])
    /// Every database that accepts connections and that the role may connect to (templates left out),
    /// the first `max` by name; the rest are counted, not visited.
    case all(max: Int)

    /// The cap of `databases: all` when `max_databases` is not given.
    public static let defaultMaxDatabases = 50

    public var description: String {
        switch self {
        case .list(let names): "databases \(names.joined(separator: ", "))"
        case .all(let max): "every database (the first \(max) by name, max_databases)"
        }
    }
}

extension ConfigLoader {
    /// Database names as given in a `databases:` list: non-empty, each once. Names are sent to libpq as
    /// the `dbname` parameter, never spliced into SQL.
    func parseDatabaseList(_ node: Node, path: String, reader: inout NodeReader) -> [String]? {
        guard let items = reader.sequence(node, path: path) else { return nil }
        guard !items.isEmpty else {
            reader.fail(path, "is empty: list at least one database")
            return nil
        }
        var names: [String] = []
        for (index, item) in items.enumerated() {
            guard let name = reader.scalar(item, path: "\(path)[\(index)]") else { continue }
            if names.contains(name) {
                reader.fail("\(path)[\(index)]", "database \(ConfigEcho.quoted(name)) is listed twice")
            } else {
                names.append(name)
            }
        }
        return names
    }

    /// `table_stats.databases` (a list, or `all`) and `table_stats.max_databases`.
    func parseTableStatsDatabases(_ options: [String: Node], path: String, reader: inout NodeReader) -> DatabaseSelection? {
        var maxDatabases: Int?
        if let node = options["max_databases"] {
            maxDatabases = reader.integer(node, path: "\(path).max_databases", range: 1...1000)
        }
        guard let node = options["databases"] else {
            if options["max_databases"] != nil {
                reader.fail("\(path).max_databases", "applies only with databases: all")
            }
            return nil
        }
        if case .scalar = node {
            guard let text = reader.scalar(node, path: "\(path).databases") else { return nil }
            guard text == "all" else {
                reader.fail("\(path).databases", "\(ConfigEcho.quoted(text)) is not valid: use all, or a list of database names")
                return nil
            }
            return .all(max: maxDatabases ?? DatabaseSelection.defaultMaxDatabases)
        }
        if options["max_databases"] != nil {
            reader.fail("\(path).max_databases", "applies only with databases: all (a list is visited as given)")
        }
        return parseDatabaseList(node, path: "\(path).databases", reader: &reader).map { .list($0) }
    }
}
