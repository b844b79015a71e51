/// Parses the PromQL subset into a `PromQLExpr`, with Prometheus' precedence and type checks.
///
/// Anything outside the subset (subqueries, `offset`, `@`, `topk`, unknown functions, `^`) is a
/// parse error naming its column rather than something evaluated differently from Prometheus: a rule
/// that the local evaluator cannot run exactly like Prometheus would defeat the single source of truth.
public enum PromQLParser {
    public static func parse(_ text: String) throws(PromQLParseError) -> PromQLExpr {
        var parser = Parser(tokens: try PromQLLexer.tokenize(text))
        let expr = try parser.parseExpression(minimumPrecedence: 0)
        guard parser.current.kind == .end else {
            throw parser.error("unexpected \(parser.current.display) after a complete expression")
        }
        return expr
    }
}

private struct Parser {
    let tokens: [PromQLToken]
    var index = 0

    init(tokens: [PromQLToken]) { self.tokens = tokens }

    var current: PromQLToken { tokens[index] }
    var nextToken: PromQLToken { tokens[min(index + 1, tokens.count - 1)] }

    func error(_ message: String, at token: PromQLToken? = nil) -> PromQLParseError {
        PromQLParseError(column: (token ?? current).column, message: message)
    }

    mutating func advance() -> PromQLToken {
        let token = current
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    mutating func expect(_ kind: PromQLToken.Kind, _ context: String) throws(PromQLParseError) -> PromQLToken {
        guard current.kind == kind else {
            throw error("expected '\(PromQLToken.symbol(kind))' \(context), found \(current.display)")
        }
        return advance()
    }

    func identifier(_ token: PromQLToken) -> String? {
        if case .identifier(let name) = token.kind { return name }
        return nil
    }

    // MARK: Binary expressions

    var currentBinaryOperator: BinaryOperator? {
        switch current.kind {
        case .plus: .add
        case .minus: .subtract
        case .star: .multiply
        case .slash: .divide
        case .percent: .modulo
        case .equal: .equal
        case .notEqual: .notEqual
        case .greater: .greater
        case .less: .less
        case .greaterOrEqual: .greaterOrEqual
        case .lessOrEqual: .lessOrEqual
        case .identifier(let name) where ["and", "or", "unless"].contains(name.lowercased()):
            BinaryOperator(rawValue: name.lowercased())
        default: nil
        }
    }

    /// Precedence climbing; every binary operator is left-associative in the subset (no `^`).
    mutating func parseExpression(minimumPrecedence: Int) throws(PromQLParseError) -> PromQLExpr {
        var lhs = try parseUnary()
        while true {
            if case .caret = current.kind {
                throw error("operator '^' is not supported by poolwatch's evaluator")
            }
            guard let op = currentBinaryOperator, op.precedence >= minimumPrecedence else { return lhs }
            let opToken = advance()
            let matching = try parseMatching(for: op, opToken: opToken)
            let rhs = try parseExpression(minimumPrecedence: op.precedence + 1)
            lhs = try checkedBinary(op, lhs, rhs, matching, at: opToken)
        }
    }

    /// Unary minus binds like `*` in Prometheus: `-a * b` is `(-a) * b`.
    mutating func parseUnary() throws(PromQLParseError) -> PromQLExpr {
        guard current.kind == .minus || current.kind == .plus else { return try parsePostfix() }
        let sign = advance()
        let operand = try parseUnary()
        guard operand.valueType == .scalar || operand.valueType == .vector else {
            throw error("unary expression only allowed on expressions of type scalar or instant vector", at: sign)
        }
        guard sign.kind == .minus else { return operand }
        if case .number(let value) = operand { return .number(-value) }
        return .negate(operand)
    }

    mutating func parseMatching(for op: BinaryOperator, opToken: PromQLToken) throws(PromQLParseError) -> VectorMatching {
        var matching = VectorMatching()
        if op.isSetOperator { matching.cardinality = .manyToMany }
        if identifier(current) == "bool" {
            guard op.isComparison else {
                throw error("bool modifier can only be used on comparison operators")
            }
            _ = advance()
            matching.returnBool = true
        }
        guard let keyword = identifier(current), keyword == "on" || keyword == "ignoring" else { return matching }
        _ = advance()
        matching.on = keyword == "on"
        matching.labels = try parseLabelList("after '\(keyword)'")
        if let group = identifier(current), group == "group_left" || group == "group_right" {
            let groupToken = advance()
            if op.isSetOperator {
                throw error("no grouping allowed for \"\(op.rawValue)\" operation", at: groupToken)
            }
            matching.cardinality = group == "group_left" ? .manyToOne : .oneToMany
            if current.kind == .leftParen {
                matching.include = try parseLabelList("after '\(group)'")
            }
            for label in matching.include where matching.on && matching.labels.contains(label) {
                throw error("label \"\(label)\" must not occur in ON and GROUP clause at once", at: groupToken)
            }
        }
        return matching
    }

    func checkedBinary(
        _ op: BinaryOperator, _ lhs: PromQLExpr, _ rhs: PromQLExpr, _ matching: VectorMatching, at token: PromQLToken
    ) throws(PromQLParseError) -> PromQLExpr {
        let lt = lhs.valueType
        let rt = rhs.valueType
        for type in [lt, rt] where type != .scalar && type != .vector {
            throw error("binary expression must contain only scalar and instant vector types, found \(type.rawValue)", at: token)
        }
        let bothVectors = lt == .vector && rt == .vector
        if !bothVectors && (matching.on || !matching.labels.isEmpty || matching.cardinality == .manyToOne
            || matching.cardinality == .oneToMany)
        {
            throw error("vector matching only allowed between instant vectors", at: token)
        }
        if op.isSetOperator && !bothVectors {
            throw error("set operator \"\(op.rawValue)\" not allowed in binary scalar expression", at: token)
        }
        if lt == .scalar && rt == .scalar && op.isComparison && !matching.returnBool {
            throw error("comparisons between scalars must use BOOL modifier", at: token)
        }
        return .binary(op, lhs, rhs, matching)
    }

    // MARK: Primary expressions

    mutating func parsePostfix() throws(PromQLParseError) -> PromQLExpr {
        var expr = try parsePrimary()
        if current.kind == .leftBracket {
            let bracket = advance()
            guard case .vector(let selector) = expr else {
                throw error("ranges only allowed for vector selectors", at: bracket)
            }
            guard case .duration(let text) = current.kind else {
                throw error("expected a duration such as 5m inside '[ ]', found \(current.display)")
            }
            let durationToken = advance()
            guard let seconds = DurationParser.seconds(text), seconds > 0 else {
                throw error("bad duration '\(text)'", at: durationToken)
            }
            if current.kind == .colon { throw error("subqueries are not supported by poolwatch's evaluator") }
            _ = try expect(.rightBracket, "to close '[' at column \(bracket.column)")
            expr = .range(selector, milliseconds: Int64((seconds * 1000).rounded()))
        }
        if let word = identifier(current), word == "offset" {
            throw error("'offset' is not supported by poolwatch's evaluator")
        }
        return expr
    }

    mutating func parsePrimary() throws(PromQLParseError) -> PromQLExpr {
        let token = current
        switch token.kind {
        case .number(let value):
            _ = advance()
            return .number(value)
        case .string(let value):
            _ = advance()
            return .string(value)
        case .leftParen:
            _ = advance()
            let inner = try parseExpression(minimumPrecedence: 0)
            _ = try expect(.rightParen, "to close '(' at column \(token.column)")
            return .parenthesized(inner)
        case .leftBrace:
            return .vector(try parseSelector(name: nil, nameToken: token))
        case .identifier(let name):
            _ = advance()
            if let op = AggregateOperator(rawValue: name.lowercased()),
                current.kind == .leftParen || identifier(current) == "by" || identifier(current) == "without"
            {
                return try parseAggregation(op, at: token)
            }
            if current.kind == .leftParen {
                return try parseCall(name, at: token)
            }
            if ["topk", "bottomk", "quantile", "count_values", "stddev", "stdvar"].contains(name) {
                throw error("aggregation '\(name)' is not supported by poolwatch's evaluator", at: token)
            }
            if ["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"]
                .contains(name.lowercased())
            {
                throw error("unexpected keyword '\(name)'", at: token)
            }
            return .vector(try parseSelector(name: name, nameToken: token))
        case .end:
            throw error("unexpected end of input, expected an expression")
        default:
            throw error("unexpected \(token.display), expected an expression")
        }
    }

    mutating func parseSelector(name: String?, nameToken: PromQLToken) throws(PromQLParseError) -> VectorSelector {
        var matchers: [LabelMatcher] = []
        if let name { matchers.append(try makeMatcher(LabelSet.metricName, .equal, name, at: nameToken)) }
        if current.kind == .leftBrace {
            let brace = advance()
            while current.kind != .rightBrace {
                let labelToken = current
                guard let label = identifier(labelToken), !label.contains(":") else {
                    throw error("expected a label name or '}' in the label matchers, found \(current.display)")
                }
                _ = advance()
                let kind: LabelMatcher.Kind
                switch current.kind {
                case .assign: kind = .equal
                case .notEqual: kind = .notEqual
                case .regexMatch: kind = .regexMatch
                case .regexNoMatch: kind = .regexNoMatch
                default:
                    throw error("expected one of '=', '!=', '=~', '!~' after label '\(label)', found \(current.display)")
                }
                _ = advance()
                guard case .string(let value) = current.kind else {
                    throw error("expected a quoted string after '\(label)\(kind.rawValue)', found \(current.display)")
                }
                let valueToken = advance()
                if label == LabelSet.metricName && name != nil {
                    throw error("metric name must not be set twice", at: labelToken)
                }
                matchers.append(try makeMatcher(label, kind, value, at: valueToken))
                if current.kind == .comma {
                    _ = advance()
                } else if current.kind != .rightBrace {
                    throw error("expected ',' or '}' to close '{' at column \(brace.column), found \(current.display)")
                }
            }
            _ = advance()
        }
        if !matchers.contains(where: { !$0.matchesEmpty }) {
            throw error("vector selector must contain at least one non-empty matcher", at: nameToken)
        }
        return VectorSelector(matchers: matchers)
    }

    func makeMatcher(_ name: String, _ kind: LabelMatcher.Kind, _ value: String, at token: PromQLToken)
        throws(PromQLParseError) -> LabelMatcher
    {
        do {
            return try LabelMatcher(name, kind, value)
        } catch {
            throw self.error("invalid regular expression \(ConfigEcho.quoted(value)): \(error.message) (offset \(error.offset))", at: token)
        }
    }

    mutating func parseLabelList(_ context: String) throws(PromQLParseError) -> [String] {
        let open = try expect(.leftParen, context)
        var labels: [String] = []
        while current.kind != .rightParen {
            guard let label = identifier(current), !label.contains(":") else {
                throw error("expected a label name or ')' in the label list opened at column \(open.column), found \(current.display)")
            }
            _ = advance()
            labels.append(label)
            if current.kind == .comma {
                _ = advance()
            } else if current.kind != .rightParen {
                throw error("expected ',' or ')' to close '(' at column \(open.column), found \(current.display)")
            }
        }
        _ = advance()
        return labels
    }

    mutating func parseGrouping() throws(PromQLParseError) -> AggregateGrouping? {
        guard let word = identifier(current), word == "by" || word == "without" else { return nil }
        _ = advance()
        return AggregateGrouping(without: word == "without", labels: try parseLabelList("after '\(word)'"))
    }

    /// `sum by (a) (x)` and `sum (x) by (a)`.
    mutating func parseAggregation(_ op: AggregateOperator, at token: PromQLToken) throws(PromQLParseError) -> PromQLExpr {
        let prefix = try parseGrouping()
        let open = try expect(.leftParen, "after '\(op.rawValue)'")
        let inner = try parseExpression(minimumPrecedence: 0)
        if current.kind == .comma {
            throw error("'\(op.rawValue)' takes one argument; parameters are not supported")
        }
        _ = try expect(.rightParen, "to close '(' at column \(open.column)")
        let suffix = try parseGrouping()
        if prefix != nil && suffix != nil { throw error("aggregation must only contain one grouping clause", at: token) }
        guard inner.valueType == .vector else {
            throw error("expected type instant vector in aggregation expression, got \(inner.valueType.rawValue)", at: token)
        }
        return .aggregate(op, grouping: prefix ?? suffix ?? .everything, inner)
    }

    mutating func parseCall(_ name: String, at token: PromQLToken) throws(PromQLParseError) -> PromQLExpr {
        guard let function = PromQLFunction(rawValue: name) else {
            throw error("unknown or unsupported function '\(name)'", at: token)
        }
        let open = advance()
        var arguments: [PromQLExpr] = []
        while current.kind != .rightParen {
            arguments.append(try parseExpression(minimumPrecedence: 0))
            if current.kind == .comma {
                _ = advance()
            } else if current.kind != .rightParen {
                throw error("expected ',' or ')' to close '(' at column \(open.column), found \(current.display)")
            }
        }
        _ = advance()
        let expected = function.argumentTypes
        guard arguments.count == expected.count else {
            throw error(
                "function '\(name)' takes \(expected.count) argument\(expected.count == 1 ? "" : "s"), got \(arguments.count)",
                at: token)
        }
        for (argument, type) in zip(arguments, expected) where argument.valueType != type {
            throw error("expected type \(type.rawValue) in call to function '\(name)', got \(argument.valueType.rawValue)", at: token)
        }
        return .call(function, arguments)
    }
}
