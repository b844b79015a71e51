import CZlib

/// gzip for `/metrics`, built so that the large snapshot body is compressed once per collection
/// round while a few bytes that change on every scrape (`poolwatch_scrapes_total`, snapshot ages) are
/// still served fresh.
///
/// The body is deflated and ended with a *sync flush* instead of a final block, which leaves a valid,
/// byte-aligned, unfinished deflate stream. Each scrape appends its small tail as a final *stored*
/// block, then the CRC-32 (continued from the body's) and the length. The result is one ordinary
/// gzip member: curl, Go and Python all read it (curl ignores a second gzip member, so
/// concatenating two members would not do).
public struct GzipPrefix: Sendable {
    /// gzip header plus the sync-flushed deflate data of the body.
    public let bytes: [UInt8]
    let crc: UInt
    let length: Int

    /// Compresses `body` at `level` (1 = fastest; exposition text compresses about 10× even at 1).
    public init(body: [UInt8], level: Int32 = 1) {
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]  // magic, deflate, no flags, mtime 0, OS unknown
        var stream = z_stream()
        precondition(czlib_deflate_init_raw(&stream, level) == Z_OK, "zlib deflateInit2 failed")
        defer { deflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        body.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    _ = deflate(&stream, Z_SYNC_FLUSH)
                    out.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
                }
            } while stream.avail_out == 0
        }
        self.bytes = out
        self.crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        self.length = body.count
    }

    /// The body again, inflated from `bytes`: what a scrape without `Accept-Encoding: gzip` is served.
    ///
    /// The store keeps only the compressed body (about a tenth of the text, and the text was also held
    /// with up to twice its size in capacity): at 1,000 PgBouncer pools that is 4 MiB of text per process
    /// for scrapes Prometheus never makes (it always asks for gzip). Inflating costs about 1 ms per MiB.
    public func body() -> [UInt8] {
        guard length > 0 else { return [] }
        var stream = z_stream()
        precondition(czlib_inflate_init_raw(&stream) == Z_OK, "zlib inflateInit2 failed")
        defer { inflateEnd(&stream) }
        let headerSize = 10
        return [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
            bytes.withUnsafeBufferPointer { input in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + headerSize)
                stream.avail_in = uInt(input.count - headerSize)
                stream.next_out = buffer.baseAddress
                stream.avail_out = uInt(length)
                // The stream has no final block (it ends with a sync flush), so inflate stops with
                // Z_OK or Z_BUF_ERROR once all input is consumed; the output count is what matters.
                _ = inflate(&stream, Z_SYNC_FLUSH)
            }
            initialized = length - Int(stream.avail_out)
            precondition(initialized == length, "gzip prefix inflated to \(initialized) bytes, not \(length)")
        }
    }

    /// The complete gzip document of `body + tail`.
    public func finished(tail: [UInt8]) -> [UInt8] {
        var out = bytes
        out.reserveCapacity(bytes.count + tail.count + 16 + tail.count / 65535 * 5)
        var offset = 0
        repeat {
            let count = min(65535, tail.count - offset)
            let final = offset + count == tail.count
            out.append(final ? 1 : 0)  // BFINAL, BTYPE=00 (stored); we are byte-aligned after the sync flush
            out.append(UInt8(count & 0xff))
            out.append(UInt8(count >> 8))
            out.append(UInt8(~count & 0xff))
            out.append(UInt8((~count >> 8) & 0xff))
            out.append(contentsOf: tail[offset..<(offset + count)])
            offset += count
        } while offset < tail.count
        let total = tail.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((total >> UInt(shift)) & 0xff)) }
        let size = UInt32(truncatingIfNeeded: length + tail.count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((size >> UInt32(shift)) & 0xff)) }
        return out
    }
}
