import CLogSupport

/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF),
/// the checksum every log record carries. "123456789" checksums to 0xE3069283.
///
/// Two implementations give the same answer: the SSE4.2 `crc32` instruction (through the small C
/// target `CLogSupport`, chosen once at first use when the CPU has it) and a table-driven
/// slicing-by-8 loop in Swift for every other CPU. Tests compare the two on random buffers.
public enum CRC32C {
    /// The CRC-32C of `buffer`. Pass a previous result as `continuing` to checksum data that
    /// arrives in pieces: `checksum(b, continuing: checksum(a)) == checksum(a + b)`.
    @inlinable
    public static func checksum(_ buffer: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        ~update(~previous, buffer)
    }

    /// The CRC-32C of `bytes` (convenience for tests and cold paths).
    public static func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: previous) }
    }

    /// The table-driven path alone, whatever the CPU (public only for tests and measurements).
    public static func _checksumTableDriven(_ buffer: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        ~updateSoftware(~previous, buffer)
    }

    /// Whether the hardware path is in use on this machine.
    public static var usesHardware: Bool { hardwareAvailable }

    /// Advances the raw (not inverted) CRC register over `buffer`.
    ///
    /// `releasenone`: without it, the first-use initialisation of the two lazily initialised
    /// globals below looks to the optimizer like a call that may release any object, and a log
    /// record's payload, borrowed while its record is checksummed, would be retained and
    /// released around every call. What the function does release is harmless to that promise:
    /// the initialisers' own temporaries, and (software path only) a balanced retain and release
    /// of the `tables` array, which the global keeps alive; no object a caller holds is freed.
    @usableFromInline @_effects(releasenone) @inline(never)
    static func update(_ register: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return register }
        if hardwareAvailable {
            return clog_crc32c_hardware(register, base, buffer.count)
        }
        return updateSoftware(register, buffer)
    }

    /// The table-driven path; `internal` so tests can compare it with the hardware path.
    static func updateSoftware(_ register: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        tables.withUnsafeBufferPointer { table in
            var crc = register
            var offset = 0
            let count = buffer.count
            // Slicing-by-8: fold eight bytes per step through eight tables, table k giving the
            // effect of a byte followed by k zero bytes.
            while count - offset >= 8 {
                let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) ^ UInt64(crc)
                crc = table[7 &* 256 &+ Int(word & 0xFF)]
                    ^ table[6 &* 256 &+ Int((word >> 8) & 0xFF)]
                    ^ table[5 &* 256 &+ Int((word >> 16) & 0xFF)]
                    ^ table[4 &* 256 &+ Int((word >> 24) & 0xFF)]
                    ^ table[3 &* 256 &+ Int((word >> 32) & 0xFF)]
                    ^ table[2 &* 256 &+ Int((word >> 40) & 0xFF)]
                    ^ table[1 &* 256 &+ Int((word >> 48) & 0xFF)]
                    ^ table[Int(word >> 56)]
                offset &+= 8
            }
            while offset < count {
                crc = table[Int((crc ^ UInt32(buffer[offset])) & 0xFF)] ^ (crc >> 8)
                offset &+= 1
            }
            return crc
        }
    }

    static let hardwareAvailable: Bool = clog_crc32c_hardware_available() != 0

    /// Eight 256-entry tables, flattened: `tables[k * 256 + b]`.
    static let tables: [UInt32] = {
        let polynomial: UInt32 = 0x82F6_3B78
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1
            }
            tables[byte] = crc
        }
        for k in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(k - 1) * 256 + byte]
                tables[k * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()
}
