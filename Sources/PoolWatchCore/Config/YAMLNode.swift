internal import CYAML

/// A YAML node as the configuration loader reads it, composed straight from libyaml's events.
///
/// Why not Yams, the usual Swift wrapper of the same C library: Yams imports Foundation, and with it
/// the process maps libFoundation, libFoundationInternationalization and ICU's data (about 8 MiB of a
/// sidecar's resident memory) for nothing else. The loader needs only what is here: scalars with
/// their style and tag, mappings in document order, sequences, and where each node starts.
/// Aliases are resolved to the anchored node; `YAMLInputBounds` has already refused aliases in keys
/// and bounded their expansion before this runs.
public indirect enum Node: Sendable {
    case scalar(Scalar)
    case mapping([(key: Node, value: Node)])
    case sequence([Node])

    public struct Scalar: Sendable, Equatable {
        public enum Style: Sendable, Equatable { case plain, singleQuoted, doubleQuoted, literal, folded }
        public var string: String
        public var style: Style
        /// The explicit tag (`!!null` reads as `tag:yaml.org,2002:null`), or "" when there is none.
        public var tag: String
        public var mark: Mark
    }

    /// 1-based line and column.
    public struct Mark: Sendable, Equatable {
        public var line: Int
        public var column: Int
    }

    public var scalar: Scalar? {
        if case let .scalar(scalar) = self { return scalar }
        return nil
    }
}

/// A document libyaml could not read: the problem and where, never the text around it (an inline
/// secret or header value could be there).
public enum YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    case syntax(problem: String, context: String?, mark: Node.Mark)
    case duplicateKey(String, mark: Node.Mark, firstLine: Int)
    case undefinedAlias(String, mark: Node.Mark)
    case notUTF8

    public var description: String {
        switch self {
        case let .syntax(problem, context, mark):
            return "\(problem)\(context.map { " \($0)" } ?? "") at line \(mark.line), column \(mark.column)"
        case let .duplicateKey(key, mark, first):
            return "duplicate key \(ConfigEcho.quoted(key)) in one mapping at line \(mark.line) (first at line \(first))"
        case let .undefinedAlias(name, mark):
            return "the alias *\(ConfigEcho.value(name)) names no anchor, at line \(mark.line)"
        case .notUTF8:
            return "the file is not UTF-8 text"
        }
    }
}

public enum YAML {
    /// The first document of `yaml`, or nil when it is empty.
    public static func compose(yaml: String) throws(YAMLError) -> Node? {
        var bytes = Array(yaml.utf8)
        return try bytes.withUnsafeMutableBufferPointer { buffer throws(YAMLError) in
            var composer = Composer()
            return try composer.run(buffer)
        }
    }

    private struct Composer {
        /// An open collection: a mapping collects key/value pairs, a sequence items (appended in place).
        struct Frame {
            var isMapping: Bool
            var anchor: String?
            var items: [Node] = []
            var pairs: [(key: Node, value: Node)] = []
            var pendingKey: Node?
            /// Scalar keys seen so far, with the line of each.
            var keys: [String: Int] = [:]
        }

        /// Innermost last.
        var frames: [Frame] = []
        var anchors: [String: Node] = [:]
        var root: Node?

        mutating func run(_ input: UnsafeMutableBufferPointer<UInt8>) throws(YAMLError) -> Node? {
            // Heap-allocated: libyaml keeps a pointer to the parser inside the parser.
            let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
            let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
            defer {
                parser.deallocate()
                event.deallocate()
            }
            guard yaml_parser_initialize(parser) == 1 else { throw .syntax(problem: "out of memory", context: nil, mark: Node.Mark(line: 0, column: 0)) }
            defer { yaml_parser_delete(parser) }
            yaml_parser_set_input_string(parser, input.baseAddress, input.count)
            while true {
                guard yaml_parser_parse(parser, event) == 1 else { throw Self.parserError(parser.pointee) }
                defer { yaml_event_delete(event) }
                let mark = Node.Mark(line: Int(event.pointee.start_mark.line) + 1, column: Int(event.pointee.start_mark.column) + 1)
                switch event.pointee.type {
                case YAML_SCALAR_EVENT:
                    let data = event.pointee.data.scalar
                    let text = String(decoding: UnsafeBufferPointer(start: data.value, count: data.length), as: UTF8.self)
                    let style: Node.Scalar.Style
                    switch data.style {
                    case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
                    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
                    case YAML_LITERAL_SCALAR_STYLE: style = .literal
                    case YAML_FOLDED_SCALAR_STYLE: style = .folded
                    default: style = .plain
                    }
                    let node = Node.scalar(Node.Scalar(string: text, style: style, tag: Self.string(data.tag) ?? "", mark: mark))
                    try add(node, anchor: Self.string(data.anchor), mark: mark)
                case YAML_MAPPING_START_EVENT:
                    frames.append(Frame(isMapping: true, anchor: Self.string(event.pointee.data.mapping_start.anchor)))
                case YAML_SEQUENCE_START_EVENT:
                    frames.append(Frame(isMapping: false, anchor: Self.string(event.pointee.data.sequence_start.anchor)))
                case YAML_MAPPING_END_EVENT, YAML_SEQUENCE_END_EVENT:
                    guard let done = frames.popLast() else { continue }
                    try add(done.isMapping ? .mapping(done.pairs) : .sequence(done.items), anchor: done.anchor, mark: mark)
                case YAML_ALIAS_EVENT:
                    let name = Self.string(event.pointee.data.alias.anchor) ?? ""
                    guard let node = anchors[name] else { throw .undefinedAlias(name, mark: mark) }
                    try add(node, anchor: nil, mark: mark)
                case YAML_DOCUMENT_END_EVENT, YAML_STREAM_END_EVENT:
                    // Only the first document counts, as with a single-document config file.
                    return root
                default:
                    continue
                }
            }
        }

        /// Puts a finished node where it belongs: the root, a mapping's key or value, a sequence item.
        mutating func add(_ node: Node, anchor: String?, mark: Node.Mark) throws(YAMLError) {
            if let anchor { anchors[anchor] = node }
            guard !frames.isEmpty else {
                root = node
                return
            }
            let last = frames.count - 1
            if !frames[last].isMapping {
                frames[last].items.append(node)
            } else if let key = frames[last].pendingKey {
                frames[last].pairs.append((key, node))
                frames[last].pendingKey = nil
            } else {
                // A key: scalar keys must be unique within one mapping.
                if let text = node.scalar?.string {
                    if let first = frames[last].keys[text] { throw .duplicateKey(text, mark: mark, firstLine: first) }
                    frames[last].keys[text] = mark.line
                }
                frames[last].pendingKey = node
            }
        }

        static func parserError(_ parser: yaml_parser_t) -> YAMLError {
            if parser.error == YAML_READER_ERROR { return .notUTF8 }
            let mark = Node.Mark(line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1)
            // `problem` and `context` are libyaml's own phrases ("did not find expected key"), not file text.
            return .syntax(problem: parser.problem.map { String(cString: $0) } ?? "invalid YAML",
                           context: parser.context.map { String(cString: $0) }, mark: mark)
        }

        static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }
    }
}
