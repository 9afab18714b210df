import Glibc
import NIOCore

/// Finds the socket descriptor behind a connected NIO channel. NIO does not expose it, but a TCP
/// connection's (local, remote) address pair is unique among live sockets, so the descriptor is the
/// one socket of this process whose `getsockname` and `getpeername` give the channel's addresses.
enum ChannelDescriptor {
    /// On `channel`'s event loop while it is active (so NIO's descriptor stays open and keeps its
    /// number during the search): returns a close-on-exec duplicate of the channel's socket
    /// descriptor, which the caller owns, or -1 when the channel has no TCP addresses, no socket
    /// or more than one matches, or `dup` fails. Costs two system calls per socket of the process
    /// plus a read of /proc/self/fd: once per connection, never per message.
    static func duplicate(of channel: Channel) -> Int32 {
        channel.eventLoop.preconditionInEventLoop()
        guard let local = channel.localAddress, let remote = channel.remoteAddress else { return -1 }
        guard let found = uniqueSocket(local: local, remote: remote) else { return -1 }
        // Close-on-exec: a process this one spawns must not hold the connection open.
        let duplicate = fcntl(found, F_DUPFD_CLOEXEC, 0)
        guard duplicate >= 0 else { return -1 }
        // The number was NIO's and could not change under us (only this event loop closes it),
        // but a wrong descriptor would corrupt another stream: check the duplicate itself.
        guard matches(duplicate, local: local, remote: remote) else {
            _ = close(duplicate)
            return -1
        }
        return duplicate
    }

    /// The one descriptor listed in /proc/self/fd that is a socket connected from `local` to
    /// `remote`, or nil if there is none or more than one.
    static func uniqueSocket(local: SocketAddress, remote: SocketAddress) -> Int32? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        let listing = dirfd(directory)
        var found: Int32?
        // Bounded by the process's descriptor count.
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let descriptor = Int32(name), descriptor != listing else { continue }
            guard matches(descriptor, local: local, remote: remote) else { continue }
            if found != nil { return nil }
            found = descriptor
        }
        return found
    }

    /// Whether `descriptor` is a socket whose local and peer addresses are `local` and `remote`.
    /// Any other kind of descriptor fails `getsockname` (ENOTSOCK) and does not match.
    static func matches(_ descriptor: Int32, local: SocketAddress, remote: SocketAddress) -> Bool {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0, sameEndpoint(&address, local) else { return false }
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let peered = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        return peered == 0 && sameEndpoint(&address, remote)
    }

    /// Whether a kernel-reported address is `expected`: same family, port and IP address (the
    /// padding and flow fields of the structures are ignored).
    static func sameEndpoint(_ actual: UnsafePointer<sockaddr_storage>, _ expected: SocketAddress) -> Bool {
        switch expected {
        case let .v4(ipv4):
            guard actual.pointee.ss_family == sa_family_t(AF_INET) else { return false }
            return actual.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { kernel in
                kernel.pointee.sin_port == ipv4.address.sin_port
                    && kernel.pointee.sin_addr.s_addr == ipv4.address.sin_addr.s_addr
            }
        case let .v6(ipv6):
            guard actual.pointee.ss_family == sa_family_t(AF_INET6) else { return false }
            return actual.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { kernel in
                var expectedAddress = ipv6.address.sin6_addr
                var kernelAddress = kernel.pointee.sin6_addr
                let sameAddress = memcmp(&kernelAddress, &expectedAddress, MemoryLayout<in6_addr>.size) == 0
                return kernel.pointee.sin6_port == ipv6.address.sin6_port && sameAddress
                    && kernel.pointee.sin6_scope_id == ipv6.address.sin6_scope_id
            }
        case .unixDomainSocket:
            return false
        }
    }
}
