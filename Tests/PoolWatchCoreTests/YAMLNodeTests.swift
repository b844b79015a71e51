import Testing

@testable import PoolWatchCore

/// The libyaml composer the configuration loader reads through (no Foundation, see YAMLNode.swift).
struct YAMLNodeTests {
    @Test func scalarsKeepStyleTagAndPosition() throws {
        let root = try #require(try YAML.compose(yaml: "a: plain\nb: 'single'\nc: \"double\"\nd: !!null\ne: |\n  lit\n"))
        guard case let .mapping(pairs) = root else { Issue.record("not a mapping"); return }
        #expect(pairs.map { $0.key.scalar?.string } == ["a", "b", "c", "d", "e"])
        let values = pairs.compactMap { $0.value.scalar }
        #expect(values.map(\.style) == [.plain, .singleQuoted, .doubleQuoted, .plain, .literal])
        #expect(values[3].tag == "tag:yaml.org,2002:null")
        #expect(values[4].string == "lit\n")
        #expect(values[1].mark == Node.Mark(line: 2, column: 4))
    }

    @Test func aliasesResolveToTheAnchoredNode() throws {
        let root = try #require(try YAML.compose(yaml: "base: &b {interval: 5s}\ncopy: *b\nlist: [1, *b]\n"))
        guard case let .mapping(pairs) = root, case let .mapping(copy) = pairs[1].value, case let .sequence(items) = pairs[2].value
        else { Issue.record("unexpected shape"); return }
        #expect(copy.first?.value.scalar?.string == "5s")
        #expect(items.count == 2)
    }

    @Test func errorsNameTheProblemAndLineNotTheText() {
        #expect(throws: YAMLError.undefinedAlias("nope", mark: Node.Mark(line: 1, column: 4))) { try YAML.compose(yaml: "a: *nope\n") }
        #expect(throws: YAMLError.duplicateKey("k", mark: Node.Mark(line: 2, column: 1), firstLine: 1)) {
            try YAML.compose(yaml: "k: secret-one\nk: secret-two\n")
        }
        do {
            _ = try YAML.compose(yaml: "a: [unclosed, secret-value\n")
            Issue.record("no error")
        } catch {
            #expect(error.description.contains("line") && !error.description.contains("secret-value"), "\(error)")
        }
    }

    @Test func emptyAndMultiDocumentInput() throws {
        #expect(try YAML.compose(yaml: "").map { _ in true } == nil)
        #expect(try YAML.compose(yaml: "# only a comment\n").map { _ in true } == nil)
        #expect(try YAML.compose(yaml: "a: 1\n---\nb: 2\n")?.mappingKeys == ["a"], "the first document only")
    }
}

extension Node {
    var mappingKeys: [String]? {
        guard case let .mapping(pairs) = self else { return nil }
        return pairs.compactMap { $0.key.scalar?.string }
    }
}
