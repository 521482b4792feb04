import Histogram
import NIOCore
import NIOPosix

/// The traffic shapes mqtt-load knows.
enum Scenario: String, CaseIterable, Sendable {
    /// N publisher → subscriber pairs, each pair on its own topic.
    case p2p
    /// One publisher → `fan` subscribers on one topic.
    case fanout
    /// `fan` publishers, each on its own topic → one subscriber on a `+` wildcard.
    case fanin
    /// `connections` clients that only CONNECT and stay idle; measures broker memory per connection.
    case idle
    /// `pairs` devices, each with its own thing's classic shadow (AWS IoT Device Shadow topics): subscribe to
    /// `…/update/accepted`, then a closed loop of one `…/update` (`{"state":{"reported":{"seq":N}}}`) at a time;
    /// latency is update → its accepted, throughput is accepted updates per second.
    case shadow
}

/// Everything a run needs, already validated.
struct RunPlan: Sendable {
    var scenario: Scenario
    var label: String
    var host: String
    var port: Int
    /// Subscribers connect here instead of `port` (another node of a cluster: cross-node routing); nil: `port`.
    var subscriberPort: Int?
    var threads: Int
    var qos: UInt8
    var payload: Int
    var duration: Double
    var warmup: Double
    var pairs: Int
    var fan: Int
    var maxInflight: Int
    var rate: Int
    var keepAlive: UInt16
    var connections: Int
    var connectConcurrency: Int
    var settle: Double
    var sendBuffer: Int
    var receiveBuffer: Int
    var handshakeTimeout: TimeAmount
    var brokerPID: Int32?
    var runID: String
    /// nil: plain TCP.
    var tls: TLSClient?

    func settings(_ id: String, _ role: ClientRole) -> ClientSettings {
        ClientSettings(
            clientID: "mqtt-load-\(self.runID)-\(id)",
            role: role,
            qos: self.qos,
            keepAliveSeconds: self.keepAlive,
            payloadSize: self.payload,
            maxInflight: self.maxInflight,
            ratePerSecond: self.rate,
            handshakeTimeout: self.handshakeTimeout
        )
    }

    /// Publisher and subscriber settings for the pub/sub scenarios. Topics carry the run id so runs never mix.
    func topology() -> (publishers: [ClientSettings], subscribers: [ClientSettings]) {
        let root = "bench/\(self.runID)"
        switch self.scenario {
        case .p2p:
            let topics = (0..<self.pairs).map { "\(root)/p2p/\($0)" }
            return (
                topics.enumerated().map { self.settings("pub\($0.offset)", .publisher(topic: $0.element)) },
                topics.enumerated().map { self.settings("sub\($0.offset)", .subscriber(filter: $0.element)) }
            )
        case .fanout:
            return (
                [self.settings("pub0", .publisher(topic: "\(root)/fanout"))],
                (0..<self.fan).map { self.settings("sub\($0)", .subscriber(filter: "\(root)/fanout")) }
            )
        case .fanin:
            return (
                (0..<self.fan).map { self.settings("pub\($0)", .publisher(topic: "\(root)/fanin/\($0)")) },
                [self.settings("sub0", .subscriber(filter: "\(root)/fanin/+"))]
            )
        case .idle:
            return ([], [])
        case .shadow:
            // Devices are "subscribers" (connected first, started first): each publishes its own updates once
            // started, and measures from its accepted messages.
            return ([], (0..<self.pairs).map { self.settings("dev\($0)", .shadowDevice(thing: "\(self.runID)-dev\($0)")) })
        }
    }
}

private func sleep(until deadline: UInt64) async {
    let now = NIODeadline.now().uptimeNanoseconds
    if deadline > now { try? await Task.sleep(nanoseconds: deadline - now) }
}

private func seconds(_ value: Double) -> UInt64 { UInt64((value * 1e9).rounded()) }

// MARK: p2p, fanout, fanin

/// Connects subscribers, then publishers; publishes through warm-up and the measurement window; collects counters.
func runPubSub(_ plan: RunPlan, group: EventLoopGroup) async -> RunResult {
    let connector = Connector(
        group: group,
        host: plan.host,
        port: plan.port,
        sendBufferBytes: plan.sendBuffer,
        receiveBufferBytes: plan.receiveBuffer,
        tls: plan.tls
    )
    let subscriberConnector = plan.subscriberPort.map {
        Connector(group: group, host: plan.host, port: $0, sendBufferBytes: plan.sendBuffer,
                  receiveBufferBytes: plan.receiveBuffer, tls: plan.tls)
    } ?? connector
    let (publisherSettings, subscriberSettings) = plan.topology()
    var result = RunResult(
        broker: plan.label,
        scenario: plan.scenario.rawValue,
        qos: Int(plan.qos),
        payload: plan.payload,
        durationS: plan.duration,
        warmupS: plan.warmup,
        threads: plan.threads,
        publishers: publisherSettings.count,
        subscribers: subscriberSettings.count,
        errors: 0,
        loadavg1m: ProcStats.loadAverage1m()
    )
    result.transport = plan.tls == nil ? "tcp" : "tls"
    result.maxInflight = plan.qos > 0 ? plan.maxInflight : nil
    result.ratePerPublisher = plan.rate
    result.sndbuf = plan.sendBuffer
    result.rcvbuf = plan.receiveBuffer

    let subscribers = await subscriberConnector.connectAll(subscriberSettings, concurrency: plan.connectConcurrency)
    let publishers = await connector.connectAll(publisherSettings, concurrency: plan.connectConcurrency)
    let connectErrors = subscribers.errors + publishers.errors
    let everyone = subscribers.channels + publishers.channels
    guard connectErrors.isEmpty else {
        result.errors = connectErrors.count
        result.errorDetail = "connect: \(connectErrors[0])"
        await disconnectAll(everyone, grace: .seconds(3))
        return result
    }

    let start = NIODeadline.now().uptimeNanoseconds + 20_000_000
    let window = MeasureWindow(
        publishStart: start,
        measureStart: start + seconds(plan.warmup),
        measureEnd: start + seconds(plan.warmup) + seconds(plan.duration)
    )
    broadcast(.start(window), to: subscribers.channels)
    await sleep(until: start)
    broadcast(.start(window), to: publishers.channels)

    await sleep(until: window.measureStart)
    let brokerCPU0 = plan.brokerPID.flatMap { ProcStats.cpuSeconds(pid: $0) }
    let ownCPU0 = ProcStats.cpuSeconds(pid: nil)
    await sleep(until: window.measureEnd)
    let elapsed = Double(NIODeadline.now().uptimeNanoseconds - window.measureStart) / 1e9
    if let brokerCPU0, let brokerCPU1 = plan.brokerPID.flatMap({ ProcStats.cpuSeconds(pid: $0) }) {
        result.brokerCpuPct = (brokerCPU1 - brokerCPU0) / elapsed * 100
    }
    if let ownCPU0, let ownCPU1 = ProcStats.cpuSeconds(pid: nil) {
        result.loadgenCpuPct = (ownCPU1 - ownCPU0) / elapsed * 100
    }
    // Deliveries stamped after measureEnd are not counted, so a short pause only lets in-window reads finish.
    try? await Task.sleep(nanoseconds: 100_000_000)

    let stats = await collectStats(from: everyone, timeout: .seconds(5))
    await disconnectAll(everyone, grace: .seconds(3))
    summarize(stats, duration: plan.duration, into: &result)
    return result
}

private func summarize(_ stats: [ClientStats], duration: Double, into result: inout RunResult) {
    var latency = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: latencyCeilingMicros,
        numberOfSignificantValueDigits: .three
    )
    var published: UInt64 = 0
    var received: UInt64 = 0
    var publishedTotal: UInt64 = 0
    var receivedTotal: UInt64 = 0
    for client in stats {
        publishedTotal += client.publishedTotal
        receivedTotal += client.receivedTotal
        published += client.publishedInWindow
        received += client.receivedInWindow
        result.errors += client.errors
        if result.errorDetail == nil { result.errorDetail = client.firstError }
        if let histogram = client.latencyMicros { latency.add(histogram) }
    }
    result.published = published
    result.received = received
    result.publishedTotal = publishedTotal
    result.receivedTotal = receivedTotal
    result.publishedPerS = Double(published) / duration
    result.receivedPerS = Double(received) / duration
    result.latencySamples = latency.totalCount
    if latency.totalCount > 0 {
        result.p50Us = Double(latency.valueAtPercentile(50))
        result.p99Us = Double(latency.valueAtPercentile(99))
        result.p999Us = Double(latency.valueAtPercentile(99.9))
        result.maxUs = Double(latency.max)
    }
}

// MARK: idle

/// Samples the broker's RSS, opens `connections` idle MQTT connections, samples again after `settle` seconds.
func runIdle(_ plan: RunPlan, group: EventLoopGroup) async -> RunResult {
    let connector = Connector(
        group: group,
        host: plan.host,
        port: plan.port,
        sendBufferBytes: plan.sendBuffer,
        receiveBufferBytes: plan.receiveBuffer,
        tls: plan.tls
    )
    var result = RunResult(
        broker: plan.label,
        scenario: plan.scenario.rawValue,
        durationS: 0,
        threads: plan.threads,
        errors: 0,
        loadavg1m: ProcStats.loadAverage1m(),
        connections: plan.connections
    )
    result.transport = plan.tls == nil ? "tcp" : "tls"
    result.openFileLimit = ProcStats.raiseOpenFileLimit(to: UInt64(plan.connections + 1_024))
    result.rssBeforeKb = plan.brokerPID.flatMap { ProcStats.residentKilobytes(pid: $0) }

    let settings = (0..<plan.connections).map { plan.settings("idle\($0)", .idle) }
    let begin = NIODeadline.now()
    let opened = await connector.connectAll(settings, concurrency: plan.connectConcurrency)
    let connectSeconds = Double((NIODeadline.now() - begin).nanoseconds) / 1e9
    result.connected = opened.channels.count
    result.connectSeconds = connectSeconds
    result.connectsPerS = Double(opened.channels.count) / connectSeconds
    result.errors = opened.errors.count
    result.errorDetail = opened.errors.first.map { "connect: \($0)" }

    try? await Task.sleep(nanoseconds: seconds(plan.settle))
    result.durationS = connectSeconds + plan.settle
    result.rssAfterKb = plan.brokerPID.flatMap { ProcStats.residentKilobytes(pid: $0) }
    if let before = result.rssBeforeKb, let after = result.rssAfterKb, !opened.channels.isEmpty {
        result.kbPerConnection = Double(after - before) / Double(opened.channels.count)
    }
    let stats = await collectStats(from: opened.channels, timeout: .seconds(10))
    for client in stats {
        result.errors += client.errors
        if result.errorDetail == nil { result.errorDetail = client.firstError }
    }
    await disconnectAll(opened.channels, grace: .seconds(5))
    return result
}
