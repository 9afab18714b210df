/// A golden script in etcd raft's datadriven layout: comment lines (`#`) and blank lines, then a
/// command, a `----` line, and the command's expected output up to the next blank line.
///
/// ```
/// # Node 1's election timer fires.
/// campaign 1
/// ----
/// > 1 election timeout
///   1 becomes pre-candidate term=0
/// ```
/// Output never contains a blank line (a command with nothing to say prints `ok`), so a blank
/// line always ends it. `rendered(outputs:)` writes the file back with fresh outputs, keeping the
/// comments, which is how `REWRITE_GOLDEN=1` regenerates expectations.
struct GoldenScript {
    struct Case {
        /// Comment and blank lines before the command, kept verbatim.
        var preamble: [String]
        var command: String
        /// 1-based line of the command in the file, for failure messages.
        var line: Int
        var expected: [String]
    }

    var cases: [Case] = []
    /// Comment and blank lines after the last case.
    var trailer: [String] = []

    init(parsing text: String) throws(ScriptError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var preamble: [String] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.trimmingBlanks.isEmpty || line.hasPrefix("#") {
                preamble.append(line)
                i += 1
                continue
            }
            guard i + 1 < lines.count, lines[i + 1] == "----" else {
                throw ScriptError("line \(i + 1): '\(line)' is not followed by ----")
            }
            var expected: [String] = []
            var j = i + 2
            while j < lines.count && !lines[j].isEmpty {
                expected.append(lines[j])
                j += 1
            }
            cases.append(Case(preamble: preamble, command: line, line: i + 1, expected: expected))
            preamble = []
            // The blank line that ends an output belongs to it, not to the next preamble.
            i = j + 1
        }
        trailer = preamble
    }

    func rendered(outputs: [[String]]) -> String {
        precondition(outputs.count == cases.count, "one output per case")
        var lines: [String] = []
        for (c, output) in zip(cases, outputs) {
            lines += c.preamble
            lines.append(c.command)
            lines.append("----")
            lines += output
            lines.append("")
        }
        lines += trailer
        while lines.last == "" { lines.removeLast() }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    var trimmingBlanks: Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
