import BenchCore
import Testing
@testable import LogStore

@Suite struct CRC32CTests {
    @Test func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    /// The iSCSI test vectors of RFC 3720, appendix B.4.
    @Test func rfc3720Vectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func checkValueOnSoftwarePath() {
        let bytes = Array("123456789".utf8)
        let crc = bytes.withUnsafeBytes { ~CRC32C.updateSoftware(~0, $0) }
        #expect(crc == 0xE306_9283)
    }

    /// Hardware and table paths agree on every length around the 8-byte stride and at unaligned
    /// starts, and checksumming in pieces equals checksumming the whole.
    @Test func pathsAgreeAndPiecesCompose() {
        var random = SeededGenerator(seed: 0xC3C)
        let bytes = (0..<1200).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        bytes.withUnsafeBytes { raw in
            for start in 0..<9 {
                for count in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 1000] {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)])
                    let whole = CRC32C.checksum(slice)
                    #expect(~CRC32C.updateSoftware(~0, slice) == whole, "start \(start) count \(count)")
                    let cut = count / 3
                    let first = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slice[..<cut]))
                    let both = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slice[cut...]), continuing: first)
                    #expect(both == whole, "start \(start) count \(count)")
                }
            }
        }
    }
}
