import ArgumentParser
import Experiment

/// `bench list`: protocols, their settings, and the result columns.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the protocols, their settings (with defaults) and the result columns.")

    func run() {
        print("Protocols (--protocols):")
        for p in ProtocolCatalog.all {
            print("  \(p.name)  [\(p.guarantee.rawValue)]  \(p.summary)")
            for (key, value) in p.defaultSettings {
                print("      --set \(key)=\(value)")
            }
        }
        print("\nColumns of summary.csv (see results/README.md):")
        for column in Columns.all { print("  \(column.name): \(column.meaning)") }
    }
}
