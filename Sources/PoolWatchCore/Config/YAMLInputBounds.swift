internal import CYAML

/// The bounds on a configuration document, checked before `YAML.compose` builds its node tree.
///
/// One linear pass over libyaml's events rejects, before anything is composed: a file over
/// `maxFileBytes`, any alias used as or inside a mapping key, and aliases that expand to more than
/// `maxAliasExpandedNodes` nodes in total. A composer that shares the anchored node is cheap for
/// aliases as values, but anything that compares or hashes keys (duplicate-key checks) walks an
/// alias key fully expanded: `? *d : 1`, with `d` ten levels of lists of aliases, is billions of steps
/// (the YAML library poolwatch used before spun forever on it). Syntax errors are left to the composer.
enum YAMLInputBounds {
    /// A poolwatch configuration is a few kilobytes; 1 MiB leaves room for hundreds of targets.
    static let maxFileBytes = 1 << 20
    /// Nodes that aliases add when expanded, summed over the document. Aliases are handy for a shared
    /// `headers:` list; no real configuration comes near this, and reading it stays milliseconds.
    static let maxAliasExpandedNodes = 100_000

    /// The first bound `yaml` breaks, as a config error with the key path and line, or nil.
    static func violation(in yaml: String) -> ConfigError? {
        let bytes = yaml.utf8.count
        if bytes > maxFileBytes {
            return ConfigError("", "the file is \(bytes) bytes, more than the limit of \(maxFileBytes) bytes (1 MiB)")
        }
        var bytesCopy = Array(yaml.utf8)
        return bytesCopy.withUnsafeMutableBufferPointer { buffer in
            var scan = EventScan()
            return scan.run(buffer)
        }
    }
}

/// One open collection while scanning events.
private struct Frame {
    var isMapping: Bool
    /// This collection is a mapping key or inside one.
    var insideKey: Bool
    var anchor: String?
    /// Nodes in this collection with aliases expanded, itself included (saturates above the limit).
    var nodes = 1
    /// Mappings: whether the next node is a key; `key` is the last scalar key read.
    var expectingKey = true
    var key = "?"
    /// Sequences: the index of the next item.
    var index = 0
}

private struct EventScan {
    var frames: [Frame] = []
    /// Expanded size of every anchor defined so far (a later anchor of the same name shadows it).
    var anchorNodes: [String: Int] = [:]
    var aliasNodes = 0
    let ceiling = YAMLInputBounds.maxAliasExpandedNodes + 1

    /// Where the next node goes, as a config key path (`targets[0].headers`).
    var path: String {
        var result = ""
        for frame in frames {
            if frame.isMapping {
                if !frame.expectingKey { result += result.isEmpty ? frame.key : ".\(frame.key)" }
            } else {
                result += "[\(frame.index)]"
            }
        }
        return result
    }

    var nextIsKey: Bool { frames.last.map { $0.isMapping && $0.expectingKey } ?? false }

    /// Records a finished node of `size` expanded nodes in its parent.
    mutating func add(size: Int, scalarKey: String? = nil) {
        guard var parent = frames.popLast() else { return }
        parent.nodes = min(parent.nodes + size, ceiling)
        if parent.isMapping {
            if parent.expectingKey { parent.key = scalarKey ?? "?" }
            parent.expectingKey.toggle()
        } else {
            parent.index += 1
        }
        frames.append(parent)
    }

    mutating func run(_ input: UnsafeMutableBufferPointer<UInt8>) -> ConfigError? {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        defer {
            parser.deallocate()
            event.deallocate()
        }
        // Heap-allocated: libyaml keeps a pointer to the parser inside the parser.
        guard yaml_parser_initialize(parser) == 1 else { return nil }
        defer { yaml_parser_delete(parser) }
        yaml_parser_set_input_string(parser, input.baseAddress, input.count)
        while yaml_parser_parse(parser, event) == 1 {
            defer { yaml_event_delete(event) }
            let line = Int(event.pointee.start_mark.line) + 1
            switch event.pointee.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT:
                let scalar = event.pointee.data.scalar
                let anchor = Self.string(scalar.anchor)
                if let anchor { anchorNodes[anchor] = 1 }
                let key = nextIsKey ? String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self) : nil
                add(size: 1, scalarKey: key)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = event.pointee.type == YAML_MAPPING_START_EVENT
                let anchor = Self.string(isMapping ? event.pointee.data.mapping_start.anchor : event.pointee.data.sequence_start.anchor)
                let insideKey = nextIsKey || (frames.last?.insideKey ?? false)
                frames.append(Frame(isMapping: isMapping, insideKey: insideKey, anchor: anchor))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let done = frames.popLast() else { return nil }
                if let anchor = done.anchor { anchorNodes[anchor] = done.nodes }
                add(size: done.nodes)
            case YAML_ALIAS_EVENT:
                let name = Self.string(event.pointee.data.alias.anchor) ?? "?"
                if nextIsKey || (frames.last?.insideKey ?? false) {
                    return ConfigError(path, "line \(line): the alias *\(ConfigEcho.value(name)) is used in a mapping key; "
                                       + "aliases are allowed only as values")
                }
                let size = anchorNodes[name] ?? 1
                aliasNodes = min(aliasNodes + size, ceiling)
                if aliasNodes >= ceiling {
                    return ConfigError(path, "line \(line): aliases expand to more than \(YAMLInputBounds.maxAliasExpandedNodes) "
                                       + "nodes; write the values out or use fewer nested aliases")
                }
                add(size: size)
            default:
                continue
            }
        }
        // A syntax error: Yams reports it, with its line.
        return nil
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
