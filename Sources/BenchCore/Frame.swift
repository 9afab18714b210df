/// The frame every connection carries: a fixed header, then a body whose meaning the kind gives.
///
///     offset size field
///     0      4    length of everything after this field (header rest + body), little-endian
///     4      4    cluster id
///     8      1    kind
///     9      4    sender node id (0 for a client)
///     13     ...  body
public struct FrameHeader: Hashable, Sendable {
    public static let size = 13
    /// The largest frame a reader accepts (16 MiB); a larger length is treated as garbage.
    public static let lengthLimit = 16 << 20

    public var length: UInt32
    public var clusterID: UInt32
    public var kind: FrameKind
    public var sender: NodeID

    public init(length: UInt32, clusterID: UInt32, kind: FrameKind, sender: NodeID) {
        self.length = length
        self.clusterID = clusterID
        self.kind = kind
        self.sender = sender
    }

    /// The body's size in bytes.
    @inlinable public var bodySize: Int { Int(length) - (FrameHeader.size - 4) }

    /// Reads a header, refusing an unknown kind or an impossible length.
    public init(from reader: inout WireReader) throws {
        let length = try reader.readUInt32()
        guard Int(length) >= FrameHeader.size - 4, Int(length) <= FrameHeader.lengthLimit else {
            throw WireError.lengthTooLarge(Int(length), limit: FrameHeader.lengthLimit)
        }
        let clusterID = try reader.readUInt32()
        let rawKind = try reader.readUInt8()
        guard let kind = FrameKind(rawValue: rawKind) else { throw WireError.invalidTag(rawKind, type: "FrameKind") }
        let sender = NodeID(try reader.readUInt32())
        self.init(length: length, clusterID: clusterID, kind: kind, sender: sender)
    }
}

/// What a frame's body holds.
public enum FrameKind: UInt8, Hashable, Sendable {
    /// A peer introduces itself on a new connection (body empty; the header names it).
    case hello = 1
    /// A protocol message between replicas.
    case peer = 2
    /// A client request (`ClientRequest`).
    case request = 3
    /// A reply to a client (`ClientReply`).
    case reply = 4
    /// An orchestrator's control command (fault injection, status).
    case control = 5
    /// A node's answer to a control command.
    case controlReply = 6
}

extension WireWriter {
    /// Writes one frame: the header, then whatever `body` writes, with the length patched in.
    @inlinable public mutating func writeFrame(clusterID: UInt32, kind: FrameKind, sender: NodeID,
                                               body: (inout WireWriter) -> Void) {
        let start = count
        write(UInt32(0))
        write(clusterID)
        write(kind.rawValue)
        write(sender.rawValue)
        body(&self)
        patch(UInt32(count - start - 4), at: start)
    }
}
