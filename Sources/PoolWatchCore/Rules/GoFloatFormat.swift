/// Formats floats exactly as Go's `fmt` does, because alert annotations are Go templates in
/// Prometheus: `{{ $value }}` prints with `%v` and `humanize` with `%.4g`. A page sent by poolwatch
/// and the same alert sent by Alertmanager must read the same, and the differential test compares the
/// rendered annotations character for character.
///
/// - `%v` (`value(_:)`) is Go's shortest round-trip form, in exponent notation when the decimal
///   exponent is < -4 or >= 6 (`1e+06`, `123456`, `1e-05`, `0.0001`).
/// - `%.Ng` (`significant(_:digits:)`) rounds the *exact* binary value to N significant digits,
///   ties to even, then drops trailing zeros, as Go's `strconv` does.
enum GoFloatFormat {
    /// Go's `fmt.Sprint(v)` for a float64.
    static func value(_ v: Double) -> String {
        if let special = special(v) { return special }
        if v == 0 { return v.sign == .minus ? "-0" : "0" }
        let (digits, point) = shortestDigits(abs(v))
        return (v < 0 ? "-" : "") + formatG(digits, point, precision: digits.count, exponentThreshold: 6)
    }

    /// Go's `fmt.Sprintf("%.<digits>g", v)`.
    static func significant(_ v: Double, digits precision: Int) -> String {
        if let special = special(v) { return special }
        if v == 0 { return v.sign == .minus ? "-0" : "0" }
        let exact = exactDigits(abs(v))
        let (digits, point) = round(exact.digits, exact.point, toSignificant: precision)
        var threshold = precision
        if threshold > digits.count && digits.count >= point { threshold = digits.count }
        return (v < 0 ? "-" : "") + formatG(digits, point, precision: min(precision, digits.count), exponentThreshold: threshold)
    }

    private static func special(_ v: Double) -> String? {
        if v.isNaN { return "NaN" }
        if v == .infinity { return "+Inf" }
        if v == -.infinity { return "-Inf" }
        return nil
    }

    /// `digits` (no leading or trailing zeros) times 10^(point - count): Go's `%e` when the exponent
    /// is < -4 or >= the threshold, else `%f` with just enough decimals for the digits.
    private static func formatG(_ digits: [UInt8], _ point: Int, precision: Int, exponentThreshold: Int) -> String {
        let exponent = point - 1
        if exponent < -4 || exponent >= exponentThreshold {
            var text = String(digits[0])
            if precision > 1 {
                text += "."
                for index in 1..<precision { text += index < digits.count ? String(digits[index]) : "0" }
            }
            let magnitude = abs(exponent)
            return text + (exponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        var text = ""
        if point <= 0 {
            text = "0"
        } else {
            for index in 0..<point { text += index < digits.count ? String(digits[index]) : "0" }
        }
        let decimals = max(digits.count - point, 0)
        if decimals > 0 {
            text += "."
            for offset in 0..<decimals {
                let index = point + offset
                text += index >= 0 && index < digits.count ? String(digits[index]) : "0"
            }
        }
        return text
    }

    /// The shortest digits that round-trip (Swift's `description` computes the same set as Go's
    /// shortest formatting), as digits plus decimal point position.
    static func shortestDigits(_ v: Double) -> (digits: [UInt8], point: Int) {
        let text = v.description
        let parts = text.split(separator: "e")
        let mantissa = parts[0]
        let exponent = parts.count > 1 ? Int(parts[1])! : 0
        var digits: [UInt8] = []
        var integerDigits = 0
        var seenPoint = false
        for character in mantissa {
            if character == "." {
                seenPoint = true
                continue
            }
            guard let digit = character.wholeNumberValue else { continue }
            digits.append(UInt8(digit))
            if !seenPoint { integerDigits += 1 }
        }
        return trimmed(digits, integerDigits + exponent)
    }

    /// The exact decimal expansion of a finite positive double, by big-integer arithmetic in base 1e9:
    /// `mantissa × 2^e` is `mantissa × 2^e` for e ≥ 0, and `mantissa × 5^-e / 10^-e` for e < 0.
    static func exactDigits(_ v: Double) -> (digits: [UInt8], point: Int) {
        let mantissa = v.isNormal ? (v.significandBitPattern | (1 << 52)) : v.significandBitPattern
        let exponent = v.isNormal ? Int(v.exponentBitPattern) - 1075 : -1074
        var limbs: [UInt64] = [mantissa % 1_000_000_000, mantissa / 1_000_000_000 % 1_000_000_000, mantissa / 1_000_000_000_000_000_000]
        func multiply(by factor: UInt64) {
            var carry: UInt64 = 0
            for index in limbs.indices {
                let product = limbs[index] * factor + carry
                limbs[index] = product % 1_000_000_000
                carry = product / 1_000_000_000
            }
            while carry > 0 {
                limbs.append(carry % 1_000_000_000)
                carry /= 1_000_000_000
            }
        }
        var remaining = abs(exponent)
        while remaining > 0 {
            let step = min(remaining, 13)
            var factor: UInt64 = 1
            for _ in 0..<step { factor *= exponent >= 0 ? 2 : 5 }
            multiply(by: factor)
            remaining -= step
        }
        while limbs.count > 1 && limbs.last == 0 { limbs.removeLast() }
        var digits: [UInt8] = []
        for (index, limb) in limbs.reversed().enumerated() {
            var chunk: [UInt8] = []
            var value = limb
            for _ in 0..<9 {
                chunk.append(UInt8(value % 10))
                value /= 10
            }
            chunk.reverse()
            if index == 0 { chunk = Array(chunk.drop { $0 == 0 }) }
            digits += chunk
        }
        return trimmed(digits, exponent >= 0 ? digits.count : digits.count + exponent)
    }

    /// Rounds to `count` significant digits, ties to even (Go's rule for an exact half).
    static func round(_ digits: [UInt8], _ point: Int, toSignificant count: Int) -> (digits: [UInt8], point: Int) {
        guard digits.count > count else { return (digits, point) }
        let next = digits[count]
        let restNonZero = digits[(count + 1)...].contains { $0 != 0 }
        let roundUp = next > 5 || (next == 5 && (restNonZero || (count > 0 && digits[count - 1] % 2 == 1)))
        var kept = Array(digits[0..<count])
        var newPoint = point
        if roundUp {
            var index = kept.count - 1
            while index >= 0 {
                if kept[index] == 9 {
                    kept[index] = 0
                    index -= 1
                } else {
                    kept[index] += 1
                    break
                }
            }
            if index < 0 {
                kept.insert(1, at: 0)
                kept.removeLast()
                newPoint += 1
            }
        }
        return trimmed(kept, newPoint)
    }

    private static func trimmed(_ digits: [UInt8], _ point: Int) -> (digits: [UInt8], point: Int) {
        var result = ArraySlice(digits)
        var newPoint = point
        while result.first == 0 {
            result = result.dropFirst()
            newPoint -= 1
        }
        while result.last == 0 { result = result.dropLast() }
        return (Array(result), newPoint)
    }
}
