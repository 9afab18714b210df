import BenchCore

/// The sweep `swift run -c release bench` runs with no arguments: every protocol in the catalog,
/// 3 and 5 nodes, a low load (1 client) and a high load (32 clients), without faults, one
/// repetition, real processes. Sized to finish in under 3 minutes on 2 cores (nine protocols,
/// 36 cells of about 4 s each); fault rates are one flag away (`bench sweep --drop 0,0.01`).
public enum DefaultSweep {
    public static func spec() -> SweepSpec {
        var spec = SweepSpec()
        spec.mode = .real
        spec.protocols = ProtocolCatalog.names
        spec.nodes = [3, 5]
        spec.clients = [1, 32]
        spec.drops = [0]
        spec.duration = .seconds(1)
        spec.warmup = .milliseconds(300)
        spec.keys = [1_000]
        spec.readRatios = [0.5]
        return spec
    }
}
