import CZlib
import Testing

@testable import PoolWatchCore

@Suite struct TextEncoderTests {
    @Test func goldenOutput() {
        let families = [
            MetricFamily("b_total", help: "B counter.", type: .counter, samples: [
                Sample([Label("target", "x"), Label("db", "b")], 2),
                Sample([Label("target", "x"), Label("db", "a")], 1.5),
            ]),
            MetricFamily("a_gauge", help: "A gauge\\with backslash\nand newline.", value: 3),
            MetricFamily("c_empty", help: "No samples: no block at all."),
        ]
        let text = String(decoding: TextEncoder().encode(families.mergedByName()).bytes, as: UTF8.self)
        #expect(text == """
            # HELP a_gauge A gauge\\\\with backslash\\nand newline.
            # TYPE a_gauge gauge
            a_gauge 3
            # HELP b_total B counter.
            # TYPE b_total counter
            b_total{target="x",db="a"} 1.5
            b_total{target="x",db="b"} 2

            """)
    }

    @Test func specialValues() {
        let family = MetricFamily("v", help: "h", samples: [
            Sample([Label("k", "a")], .nan), Sample([Label("k", "b")], .infinity), Sample([Label("k", "c")], -.infinity),
            Sample([Label("k", "d")], 1e-6), Sample([Label("k", "e")], -42), Sample([Label("k", "f")], 1e20),
        ])
        let text = String(decoding: TextEncoder().encode([family]).bytes, as: UTF8.self)
        #expect(text.contains("v{k=\"a\"} NaN\n"))
        #expect(text.contains("v{k=\"b\"} +Inf\n"))
        #expect(text.contains("v{k=\"c\"} -Inf\n"))
        #expect(text.contains("v{k=\"d\"} 1e-06\n"))
        #expect(text.contains("v{k=\"e\"} -42\n"))
        #expect(text.contains("v{k=\"f\"} 1e+20\n"))
    }

    /// A hostile application_name must stay inside its label value: no injected series, valid lines.
    @Test func hostileLabelValueCannotInjectSeries() {
        let invalidUTF8: [UInt8] = [0x61, 0xff, 0xfe, 0x62]  // "a", two invalid bytes, "b"
        let hostile = [
            "quote\"back\\slash", "line\nbreak", "} 1\nfake_metric 2", String(decoding: invalidUTF8, as: UTF8.self),
            "\"} 1\n# TYPE fake_metric counter\nfake_metric{a=\"",
        ]
        let family = MetricFamily("pg_stat_activity_backends", help: "h", samples: hostile.map {
            Sample([Label("application_name", $0)], 1)
        })
        let bytes = TextEncoder().encode([family]).bytes
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(String(validatingUTF8: text) != nil)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 2 + hostile.count)
        for line in lines where !line.hasPrefix("#") {
            #expect(line.hasPrefix("pg_stat_activity_backends{application_name=\""))
            #expect(line.hasSuffix("\"} 1"))
        }
        #expect(!lines.contains { $0.hasPrefix("fake_metric") })
        #expect(text.contains(#"application_name="} 1\nfake_metric 2""#))
        #expect(text.contains(#"application_name="quote\"back\\slash""#))
        #expect(text.contains("a\u{FFFD}\u{FFFD}b"))
    }

    @Test func duplicateSeriesAreDroppedNotEmittedTwice() {
        let family = MetricFamily("d", help: "h", samples: [
            Sample([Label("a", "1")], 1), Sample([Label("a", "1")], 2), Sample([Label("a", "2")], 3),
        ])
        let output = TextEncoder().encode([family])
        #expect(output.duplicatesDropped == 1)
        #expect(output.seriesCount == 2)
        #expect(String(decoding: output.bytes, as: UTF8.self).contains("d{a=\"1\"} 1\n"))
    }

    @Test func invalidNamesAreRepaired() {
        #expect(TextEncoder.sanitizedName("pg_settings_pg_stat_statements.max") == "pg_settings_pg_stat_statements_max")
        #expect(TextEncoder.sanitizedName("9lives") == "_9lives")
        #expect(TextEncoder.sanitizedName("a:b", allowColon: false) == "a_b")
        #expect(TextEncoder.sanitizedName("ok_name:x") == "ok_name:x")
    }

    @Test func familiesFromSeveralTargetsMergeIntoOneBlock() {
        let a = MetricFamily("pg_up", help: "h", value: 1).prefixed(with: [Label("target", "a")])
        let b = MetricFamily("pg_up", help: "h", value: 0).prefixed(with: [Label("target", "b")])
        let text = String(decoding: TextEncoder().encode([b, a].mergedByName()).bytes, as: UTF8.self)
        #expect(text == "# HELP pg_up h\n# TYPE pg_up gauge\npg_up{target=\"a\"} 1\npg_up{target=\"b\"} 0\n")
    }
}

@Suite struct GzipTests {
    /// The cached prefix plus a per-scrape stored block must inflate to exactly body + tail.
    @Test(arguments: [0, 10, 70_000])
    func prefixPlusTailInflatesToWholeDocument(tailSize: Int) throws {
        var body: [UInt8] = []
        for i in 0..<20_000 { body.append(contentsOf: "metric_\(i % 97){target=\"x\"} \(i)\n".utf8) }
        let tail = (0..<tailSize).map { UInt8(truncatingIfNeeded: $0 % 251 + 1) }
        let prefix = GzipPrefix(body: body)
        let document = prefix.finished(tail: tail)
        #expect(document.count < (body.count + tail.count) / 3 + tail.count + 64)
        #expect(try gunzip(document) == body + tail)
    }

    /// A scrape without gzip is served from the compressed body alone (the store keeps no plain copy).
    @Test(arguments: [0, 1, 200_000])
    func prefixInflatesBackToItsBody(lines: Int) {
        var body: [UInt8] = []
        for i in 0..<lines { body.append(contentsOf: "pool_metric{database=\"db\(i % 1000)\"} \(i)\n".utf8) }
        #expect(GzipPrefix(body: body).body() == body)
    }

    func gunzip(_ data: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        #expect(inflateInit2_(&stream, 16 + 15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var status: Int32 = Z_OK
        data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    out.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
                }
            } while status == Z_OK
        }
        #expect(status == Z_STREAM_END, "the gzip stream must end properly (CRC and length checked by zlib)")
        return out
    }
}
