import BenchCore
import NIOCore

/// A whole frame off the wire: its header and its body.
public struct Frame {
    public var header: FrameHeader
    public var body: ByteBuffer
}

/// Splits a TCP byte stream into frames (BenchCore's `FrameHeader` layout). A header that does
/// not parse is an error, which closes the connection.
public struct FrameDecoder: ByteToMessageDecoder {
    public init() {}
    public typealias InboundOut = Frame

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= FrameHeader.size else { return .needMoreData }
        let header = try buffer.withUnsafeReadableBytes { raw -> FrameHeader in
            var reader = WireReader(UnsafeRawBufferPointer(rebasing: raw[0..<FrameHeader.size]))
            return try FrameHeader(from: &reader)
        }
        let total = FrameHeader.size + header.bodySize
        guard buffer.readableBytes >= total else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: FrameHeader.size)
        let body = buffer.readSlice(length: header.bodySize)!
        context.fireChannelRead(wrapInboundOut(Frame(header: header, body: body)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

extension ByteBuffer {
    /// Decodes a whole `T` from the readable bytes; leftover bytes are an error.
    public func decodeWhole<T: WireCodable>(_: T.Type) throws -> T {
        try withUnsafeReadableBytes { raw in
            var reader = WireReader(raw)
            let value = try T(from: &reader)
            try reader.expectEnd()
            return value
        }
    }
}
