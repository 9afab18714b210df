import BenchCore
import XCTest

/// The client resilience mechanisms, each as a state machine with time passed in.
final class ResilienceTests: XCTestCase {
    func at(_ ms: Int64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }

    func testBreakerOpensHalfOpensAndCloses() {
        var settings = CircuitBreaker.Settings()
        settings.minimumRequests = 10
        settings.failureRateThreshold = 0.5
        settings.window = .seconds(1)
        settings.openDuration = .milliseconds(500)
        settings.probes = 3
        var breaker = CircuitBreaker(settings: settings)
        // Below the minimum, even all failures keep it closed.
        for i in 0..<9 { breaker.record(failed: true, now: at(Int64(i))) }
        XCTAssertEqual(breaker.state, .closed)
        breaker.record(failed: true, now: at(9))
        XCTAssertEqual(breaker.state, .open, "10 failures of 10 trip it")
        XCTAssertFalse(breaker.allow(now: at(100)), "open fails fast")
        XCTAssertFalse(breaker.allow(now: at(508)))
        XCTAssertTrue(breaker.allow(now: at(510)), "after the open duration, a probe goes through")
        XCTAssertEqual(breaker.state, .halfOpen)
        XCTAssertTrue(breaker.allow(now: at(511)))
        XCTAssertTrue(breaker.allow(now: at(512)))
        XCTAssertFalse(breaker.allow(now: at(513)), "only `probes` requests in half-open")
        breaker.record(failed: false, now: at(520))
        breaker.record(failed: true, now: at(521))
        XCTAssertEqual(breaker.state, .open, "a failed probe reopens it")
        XCTAssertTrue(breaker.allow(now: at(1_100)))
        for ms in 0..<3 { breaker.record(failed: false, now: at(1_101 + Int64(ms))) }
        XCTAssertEqual(breaker.state, .closed, "successful probes close it")
        XCTAssertTrue(breaker.allow(now: at(1_200)))
    }

    func testBreakerForgetsOldFailures() {
        var settings = CircuitBreaker.Settings()
        settings.minimumRequests = 4
        settings.window = .milliseconds(100)
        var breaker = CircuitBreaker(settings: settings)
        for i in 0..<3 { breaker.record(failed: true, now: at(Int64(i))) }
        // Successes long after: the old failures have left the window.
        for i in 0..<10 { breaker.record(failed: false, now: at(1_000 + Int64(i))) }
        breaker.record(failed: true, now: at(1_011))
        XCTAssertEqual(breaker.state, .closed)
    }

    func testTokenBucketRefillsAtItsRate() {
        var bucket = TokenBucket(rate: 100, burst: 5)
        var granted = 0
        for _ in 0..<10 where bucket.take(now: at(0)) { granted += 1 }
        XCTAssertEqual(granted, 5, "the burst, then nothing")
        XCTAssertFalse(bucket.take(now: at(5)), "half a token after 5 ms")
        XCTAssertTrue(bucket.take(now: at(10)), "one token after 10 ms at 100/s")
        XCTAssertFalse(bucket.take(now: at(10)))
        // A long pause refills only up to the burst.
        granted = 0
        for _ in 0..<10 where bucket.take(now: at(10_000)) { granted += 1 }
        XCTAssertEqual(granted, 5)
    }

    func testLeakyBucketSpacesAndRefuses() {
        var bucket = LeakyBucket(rate: 1_000, capacity: 3)
        XCTAssertEqual(bucket.admit(now: at(0)), at(0))
        XCTAssertEqual(bucket.admit(now: at(0)), at(1))
        XCTAssertEqual(bucket.admit(now: at(0)), at(2))
        XCTAssertEqual(bucket.admit(now: at(0)), at(3), "three waiting is the capacity")
        XCTAssertNil(bucket.admit(now: at(0)), "a full queue refuses")
        XCTAssertEqual(bucket.admit(now: at(10)), at(10), "drained by then")
    }

    func testExponentialBackoffStaysWithinBounds() {
        let backoff = Backoff.exponentialJitter(base: .milliseconds(2), cap: .milliseconds(200))
        var random = SeededGenerator(seed: 1)
        for attempt in 1...20 {
            let ceiling = min(200, 2 << (attempt - 1))
            var maximum = Duration.zero
            for _ in 0..<500 {
                let d = backoff.delay(attempt: attempt, random: &random)
                XCTAssertGreaterThanOrEqual(d, .zero)
                XCTAssertLessThan(d, .milliseconds(Int64(ceiling)), "attempt \(attempt)")
                maximum = max(maximum, d)
            }
            // Full jitter spreads over the whole range.
            XCTAssertGreaterThan(maximum, .milliseconds(Int64(ceiling)) * 8 / 10, "attempt \(attempt)")
        }
        XCTAssertEqual(Backoff.immediate.delay(attempt: 3, random: &random), .zero)
        XCTAssertEqual(Backoff.fixed(.milliseconds(7)).delay(attempt: 9, random: &random), .milliseconds(7))
    }

    func testRetryBudgetIsExhaustedAndRefills() {
        var budget = RetryBudget(ratio: 0.5, tokensMax: 10)
        var retries = 0
        while budget.tryRetry() { retries += 1 }
        XCTAssertEqual(retries, 10, "the initial reserve")
        XCTAssertEqual(budget.denied, 1)
        for _ in 0..<4 { budget.recordFirstAttempt() }
        XCTAssertTrue(budget.tryRetry())
        XCTAssertTrue(budget.tryRetry())
        XCTAssertFalse(budget.tryRetry(), "half a retry per first attempt")
    }

    func testPolicyParsing() {
        XCTAssertEqual(ResiliencePolicy(parsing: "none")?.backoff, .immediate)
        let protected = ResiliencePolicy(parsing: "protected+token:5000")
        XCTAssertEqual(protected?.retryBudget, 0.2)
        XCTAssertNotNil(protected?.breaker)
        XCTAssertEqual(protected?.rateLimit, .tokenBucket(rate: 5_000, burst: 50))
        XCTAssertTrue(ResiliencePolicy(parsing: "degrade")?.degradedReads ?? false)
        XCTAssertNil(ResiliencePolicy(parsing: "bogus"))
        XCTAssertNil(ResiliencePolicy(parsing: "none+token:x"))
    }

    /// A session with exponential back-off waits after a timeout instead of resending at once.
    func testSessionBacksOffAfterTimeout() {
        var settings = ClientSession.Settings()
        settings.backoff = .exponentialJitter(base: .milliseconds(10), cap: .milliseconds(100))
        var session = ClientSession(id: 1, nodeCount: 3, firstTarget: 0, settings: settings)
        guard case .send = session.start(.get(key: 1), now: at(0)) else { return XCTFail("sends first") }
        guard case let .wait(until) = session.onTimeout(now: at(100)) else { return XCTFail("waits after a timeout") }
        XCTAssertLessThan(until, at(110))
        guard case let .send(_, node, _) = session.onTimeout(now: until) else { return XCTFail("then resends") }
        XCTAssertEqual(node, 1, "to the next node")
    }
}
