import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `flotilla cluster status|add|remove|transfer`: a client of a node's admin routes (`GET /cluster/status`,
/// `POST /cluster/members`, `DELETE /cluster/members/{id}`, `POST /cluster/leader`). Any node will do: membership
/// changes are forwarded to the raft leader by the node asked.
struct ClusterAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Show a node's view of the cluster, or change its membership, through any node's HTTP API.",
        subcommands: [Status.self, Add.self, Remove.self, Transfer.self])

    struct Options: ParsableArguments {
        @Option(name: .long, help: "A node's HTTP API: its metrics listener (default http://127.0.0.1:8080).")
        var api = "http://127.0.0.1:8080"
        @Option(name: .long, help: "Seconds to wait for the answer (default 30; adding a node waits for it to catch up).")
        var timeout: Double = 30
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the node's view: role, term, leader, commit and applied index, members.")
        @OptionGroup var options: Options
        @Flag(name: .long, help: "Print the raw JSON of GET /cluster/status.")
        var json = false

        func run() async throws {
            let body = try await AdminClient(options).call("GET", "/cluster/status", body: nil)
            if json {
                print(String(decoding: body, as: UTF8.self), terminator: "")
                return
            }
            guard let status = try? JSONDecoder().decode(StatusView.self, from: Data(body)) else {
                throw AdminClient.failure("the node answered something that is not a cluster status")
            }
            print(status.rendered(), terminator: "")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a node (started with --join) as a voter: records its bus address, then its raft membership.")
        @OptionGroup var options: Options
        @Argument(help: "The new node's id (its --node-id).")
        var id: UInt64
        @Option(name: .long, help: "The new node's raft address, host:port (its --bind and --raft-port).")
        var raftAddress: String
        @Option(name: .long, help: "The new node's cluster bus address, host:port (its --bind and --bus-port).")
        var busAddress: String

        func run() async throws {
            let request = ["id": AnyJSON.number(id), "raftAddress": .string(raftAddress), "busAddress": .string(busAddress)]
            let body = try await AdminClient(options).call("POST", "/cluster/members", body: AnyJSON.object(request))
            let answer = try? JSONDecoder().decode(MemberAnswer.self, from: Data(body))
            print("node \(id) added as a voter (leader: \(answer?.leaderID.map(String.init) ?? "unknown"))")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a node from the cluster (the leader hands over first if it is the one removed).")
        @OptionGroup var options: Options
        @Argument(help: "The id of the node to remove.")
        var id: UInt64

        func run() async throws {
            let body = try await AdminClient(options).call("DELETE", "/cluster/members/\(id)", body: nil)
            let answer = try? JSONDecoder().decode(MemberAnswer.self, from: Data(body))
            print("node \(id) removed (leader: \(answer?.leaderID.map(String.init) ?? "unknown"))")
        }
    }

    struct Transfer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move raft leadership to a node (no id: to any up-to-date voter).")
        @OptionGroup var options: Options
        @Argument(help: "The id of the node to lead (default: any other voter).")
        var id: UInt64?

        func run() async throws {
            let body = try await AdminClient(options).call(
                "POST", "/cluster/leader", body: AnyJSON.object(["id": .number(id ?? 0)]))
            let answer = try? JSONDecoder().decode(MemberAnswer.self, from: Data(body))
            print("leader is now node \(answer?.leaderID.map(String.init) ?? "unknown")")
        }
    }
}

// MARK: - What the admin routes answer

struct StatusView: Decodable {
    struct Peer: Decodable {
        var id: UInt64
        var address: String
        var role: String
        var busAddress: String?
    }
    var nodeID: UInt64
    var role: String
    var term: UInt64
    var leaderID: UInt64?
    var commitIndex: UInt64
    var appliedIndex: UInt64
    var peers: [Peer]

    /// A few lines for a human.
    func rendered() -> String {
        var out = "node \(nodeID): \(role), term \(term), leader \(leaderID.map { "node \($0)" } ?? "unknown")\n"
        out += "commit index \(commitIndex), applied index \(appliedIndex)\n"
        out += "members (\(peers.count)):\n"
        let idWidth = peers.map { String($0.id).count }.max() ?? 1
        let raftWidth = peers.map(\.address.count).max() ?? 0
        for p in peers.sorted(by: { $0.id < $1.id }) {
            var notes: [String] = []
            if p.id == leaderID { notes.append("leader") }
            if p.id == nodeID { notes.append("this node") }
            let id = String(repeating: " ", count: idWidth - String(p.id).count) + String(p.id)
            let raft = p.address + String(repeating: " ", count: raftWidth - p.address.count)
            let role = p.role + String(repeating: " ", count: max(0, 6 - p.role.count))
            var line = "  \(id)  \(role)  raft \(raft)"
            if let bus = p.busAddress { line += "  bus \(bus)" }
            if !notes.isEmpty { line += "  (\(notes.joined(separator: ", ")))" }
            out += line + "\n"
        }
        return out
    }
}

struct MemberAnswer: Decodable {
    var leaderID: UInt64?
}

/// Just enough JSON to write a request body.
enum AnyJSON {
    case string(String)
    case number(UInt64)
    indirect case object([String: AnyJSON])

    var text: String {
        switch self {
        case .number(let n): return String(n)
        case .string(let s):
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        case .object(let members):
            return "{" + members.keys.sorted().map { "\(AnyJSON.string($0).text):\(members[$0]!.text)" }
                .joined(separator: ",") + "}"
        }
    }
}

// MARK: - A minimal HTTP/1.1 client (one request per connection)

struct AdminClient {
    let host: String
    let port: Int
    let basePath: String
    let timeout: Double

    /// What the command prints on stderr before exiting 1.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("flotilla cluster: \(message)\n".utf8))
        return ExitCode.failure
    }

    init(_ options: ClusterAdminCommand.Options) throws {
        guard let url = URL(string: options.api), url.scheme == "http", let host = url.host, !host.isEmpty else {
            throw Self.failure("--api must be an http:// URL such as http://127.0.0.1:8080, not '\(options.api)'")
        }
        guard options.timeout > 0 else { throw Self.failure("--timeout must be positive") }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = url.port ?? 80
        self.basePath = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        self.timeout = options.timeout
    }

    /// The body of a 2xx answer; anything else exits 1 with the node's error type and message.
    func call(_ method: String, _ path: String, body: AnyJSON?) async throws -> [UInt8] {
        let answer: (status: Int, headers: HTTPHeaders, body: [UInt8])
        do {
            answer = try await exchange(method: method, path: basePath + path, body: body.map { Array($0.text.utf8) })
        } catch let error as Failure {
            throw Self.failure(error.description)
        } catch let error as NIOConnectionError {
            let refused = error.connectionErrors.contains { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
            throw Self.failure("cannot reach \(host):\(port): "
                + (refused ? "connection refused (is a node's metrics listener there?)" : "\(error)"))
        } catch {
            throw Self.failure("cannot reach \(host):\(port): \(error)")
        }
        guard (200..<300).contains(answer.status) else {
            let type = answer.headers.first(name: "x-amzn-ErrorType") ?? "HTTP \(answer.status)"
            let json = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
            let message = json?["message"] as? String ?? String(decoding: answer.body.prefix(500), as: UTF8.self)
            throw Self.failure("\(type): \(message)")
        }
        return answer.body
    }

    private func exchange(method: String, path: String, body: [UInt8]?) async throws
        -> (status: Int, headers: HTTPHeaders, body: [UInt8])
    {
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(Int64(min(timeout, 10) * 1000)))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        // Bounded: close the connection at the deadline, which ends the read loop below.
        let underlying = channel.channel
        let deadline = underlying.eventLoop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
            underlying.close(promise: nil)
        }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders()
            headers.add(name: "host", value: "\(host):\(port)")
            headers.add(name: "connection", value: "close")
            if let body {
                headers.add(name: "content-type", value: "application/json")
                headers.add(name: "content-length", value: "\(body.count)")
            }
            let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path,
                                       headers: headers)
            try await outbound.write(.head(head))
            if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            var status: Int?
            var responseHeaders = HTTPHeaders()
            var collected: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let h):
                    status = Int(h.status.code)
                    responseHeaders = h.headers
                case .body(let chunk):
                    collected += chunk.readableBytesView
                    if collected.count > 16 << 20 { throw Failure(description: "answer over 16 MiB") }
                case .end:
                    guard let status else { throw Failure(description: "an answer without a status line") }
                    return (status, responseHeaders, collected)
                }
            }
            throw Failure(description: "no complete answer from \(host):\(port) within \(timeout) s")
        }
    }
}
