import Testing

@testable import PoolWatchCore

/// Expected strings are what Go prints (`fmt.Sprint`, `fmt.Sprintf("%.4g")`) and what Prometheus'
/// template functions return; the differential test checks the same against promtool.
@Suite struct RuleTemplateTests {
    @Test(arguments: [
        (0.95, "0.95"), (600, "600"), (1e6, "1e+06"), (123456, "123456"), (1234567, "1.234567e+06"), (0.0001, "0.0001"),
        (0.00001, "1e-05"), (-2.5, "-2.5"), (0, "0"), (Double.nan, "NaN"), (Double.infinity, "+Inf"),
        (-Double.infinity, "-Inf"), (0.1 + 0.2, "0.30000000000000004"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    ])
    func goValueFormatting(value: Double, expected: String) {
        #expect(GoFloatFormat.value(value) == expected)
    }

    @Test(arguments: [
        (950.0, "950"), (1234.5, "1234"), (1235.5, "1236"), (0.12345, "0.1235"), (12345678, "1.235e+07"),
        (0.00001234, "1.234e-05"), (100, "100"), (99999, "1e+05"), (9999.5, "1e+04"), (1.5, "1.5"), (0.5, "0.5"),
        (90.00000000000001, "90"), (2.675, "2.675"), (1e21, "1e+21"), (0.0001, "0.0001"),
    ])
    func goSignificantFormatting(value: Double, expected: String) {
        #expect(GoFloatFormat.significant(value, digits: 4) == expected)
    }

    @Test func humanizeFunctions() {
        #expect(AlertTemplate.humanize(0) == "0")
        #expect(AlertTemplate.humanize(1234) == "1.234k")
        #expect(AlertTemplate.humanize(0.95) == "950m")
        #expect(AlertTemplate.humanize(1e6) == "1M")
        #expect(AlertTemplate.humanize(2048) == "2.048k")
        #expect(AlertTemplate.humanize(-1500) == "-1.5k")
        #expect(AlertTemplate.humanize(0.0025) == "2.5m")
        #expect(AlertTemplate.humanizeDuration(0) == "0s")
        #expect(AlertTemplate.humanizeDuration(0.5) == "500ms")
        #expect(AlertTemplate.humanizeDuration(5) == "5s")
        #expect(AlertTemplate.humanizeDuration(1.5) == "1.5s")
        #expect(AlertTemplate.humanizeDuration(65) == "1m 5s")
        #expect(AlertTemplate.humanizeDuration(3600) == "1h 0m 0s")
        #expect(AlertTemplate.humanizeDuration(90061.7) == "1d 1h 1m 1s")
        #expect(AlertTemplate.humanizeDuration(-65) == "-1m 5s")
        #expect(AlertTemplate.humanizeDuration(.nan) == "NaN")
        // Go converts an out-of-range float to math.MinInt64 (amd64); Prometheus prints the result.
        #expect(AlertTemplate.humanizeDuration(1e21) == "-106751991167300d -15h -30m -8s")
        #expect(AlertTemplate.apply(.humanizePercentage, 0.9278350515463918) == "92.78%")
        #expect(AlertTemplate.apply(.humanizePercentage, 0.5) == "50%")
    }

    @Test func rendersLabelsAndValues() throws {
        let labels = LabelSet(["pool": "app/app", "target": "pgb-1"])
        let template = try AlertTemplate(
            "Pool {{ $labels.pool }} on {{.Labels.target}} waits {{ $value | humanizeDuration }} ({{ $value }}, {{ humanize $value }}){{ $labels.missing }}"
        )
        #expect(template.render(labels: labels, value: 12.5) == "Pool app/app on pgb-1 waits 12.5s (12.5, 12.5)")
        #expect(try AlertTemplate("a  {{- $value -}}  b").render(labels: labels, value: 1) == "a1b")
        #expect(try AlertTemplate("{{ $value | humanizePercentage }}").render(labels: labels, value: 0.25) == "25%")
        #expect(try AlertTemplate("no actions").render(labels: labels, value: 1) == "no actions")
    }

    @Test func refusesWhatPrometheusMightRenderDifferently() {
        for text in [
            "{{ printf \"%.2f\" $value }}", "{{ $value | humanize | humanize }}", "{{ $labels.pool | humanize }}",
            "{{ $labels }}", "{{ $value", "value }}", "{{ range . }}{{ end }}", "{{ $labels.1x }}",
        ] {
            #expect(throws: AlertTemplateError.self, "\(text)") { try AlertTemplate(text) }
        }
    }
}
