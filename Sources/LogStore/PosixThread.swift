import CLogSupport
import Glibc

/// A joinable pthread running one closure: the appender is a long-lived thread on the hot path,
/// and a bare pthread keeps Foundation's run-loop machinery out of it.
final class PosixThread {
    private var handle: pthread_t
    private var joined = false

    /// Starts a thread named `name` (the kernel keeps 15 bytes) that runs `body` once.
    init(name: String, body: @escaping @Sendable () -> Void) throws {
        final class Start {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) {
                self.name = name
                self.body = body
            }
        }
        let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            // Balanced with passRetained above: the thread owns the start record.
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            _ = clog_set_current_thread_name(start.name)
            start.body()
            return nil
        }, start)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw LogStoreError.system(call: "pthread_create", path: name, errno: result)
        }
        self.handle = handle
    }

    /// Waits for the thread to finish. Call once.
    func join() {
        precondition(!joined, "a thread is joined once")
        precondition(pthread_equal(handle, pthread_self()) == 0, "a thread cannot join itself")
        let result = pthread_join(handle, nil)
        precondition(result == 0, "pthread_join failed: \(result)")
        joined = true
    }
}
