import ControlPlane
import Testing

@Suite("AdminAPI")
struct AdminAPITests {
    @Test("POST /cluster/members parses id, raft and bus addresses; answers the node and the leader")
    func addMember() async {
        let c = Client()
        let a = await c.call("POST", "/cluster/members",
                             json: #"{"id":4,"raftAddress":"127.0.0.1:7030","busAddress":"127.0.0.1:7031"}"#)
        #expect(a.status == 200)
        #expect(a.response.bodyText == #"{"id":4,"leaderID":1}"#)
        #expect(c.backend.changes.withLock { $0 } == [
            .add(nodeID: 4, raftAddress: "127.0.0.1:7030", busHost: "127.0.0.1", busPort: 7031)])
        _ = await c.call("POST", "/cluster/members",
                         json: #"{"id":5,"raftAddress":"[::1]:7040","busAddress":"[::1]:7041"}"#)
        #expect(c.backend.changes.withLock { $0.last } == .add(nodeID: 5, raftAddress: "[::1]:7040", busHost: "::1",
                                                               busPort: 7041))
    }

    @Test("bad membership bodies are 400 InvalidRequestException and reach no backend")
    func badBodies() async {
        let c = Client()
        for body in ["", "{", #"{"id":0,"raftAddress":"h:1","busAddress":"h:2"}"#,
                     #"{"id":-1,"raftAddress":"h:1","busAddress":"h:2"}"#, #"{"raftAddress":"h:1","busAddress":"h:2"}"#,
                     #"{"id":4,"busAddress":"h:2"}"#, #"{"id":4,"raftAddress":"h","busAddress":"h:2"}"#,
                     #"{"id":4,"raftAddress":"h:1","busAddress":"h:70000"}"#,
                     #"{"id":4,"raftAddress":"::1:7030","busAddress":"h:2"}"#,
                     #"{"id":"4","raftAddress":"h:1","busAddress":"h:2"}"#] {
            let a = await c.call("POST", "/cluster/members", json: body)
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(body) → \(a.response.bodyText)")
        }
        for target in ["/cluster/members/0", "/cluster/members/x", "/cluster/members/-3"] {
            #expect(await c.call("DELETE", target).status == 400, "\(target)")
        }
        #expect(await c.call("POST", "/cluster/leader", json: #"{"id":"two"}"#).status == 400)
        #expect(c.backend.changes.withLock { $0 }.isEmpty)
    }

    @Test("DELETE /cluster/members/{id} and POST /cluster/leader (id 0 or absent: any voter)")
    func removeAndTransfer() async {
        let c = Client()
        var a = await c.call("DELETE", "/cluster/members/3")
        #expect(a.status == 200 && a.response.bodyText == #"{"id":3,"leaderID":1}"#)
        a = await c.call("POST", "/cluster/leader", json: #"{"id":3}"#)
        #expect(a.status == 200 && a.response.bodyText == #"{"leaderID":3}"#)
        _ = await c.call("POST", "/cluster/leader")
        _ = await c.call("POST", "/cluster/leader", json: #"{"id":0}"#)
        #expect(c.backend.changes.withLock { $0 } == [.remove(nodeID: 3), .transferLeadership(to: 3),
                                                       .transferLeadership(to: 0), .transferLeadership(to: 0)])
    }

    @Test("GET /cluster/status passes the node's JSON through; 503 before the cluster service runs")
    func status() async {
        let c = Client()
        var a = await c.call("GET", "/cluster/status")
        #expect(a.status == 200 && a.response.bodyText == "{\"nodeID\":1}\n")
        c.backend.status.withLock { $0 = nil }
        a = await c.call("GET", "/cluster/status")
        #expect(a.status == 503 && a.errorType == "ServiceUnavailableException")
    }

    @Test("GET /cluster/members: the backend's gossip view, or 503 on a node without gossip")
    func gossipMembers() async {
        let c = Client()
        let a = await c.call("GET", "/cluster/members")
        #expect(a.status == 503 && a.errorType == "ServiceUnavailableException")
    }

    @Test("the backend's refusals are the answer; unknown admin routes are 404")
    func errors() async {
        let c = Client()
        c.backend.failure.withLock { $0 = .resourceNotFound("node 9 is not a member") }
        let a = await c.call("DELETE", "/cluster/members/9")
        #expect(a.status == 404 && a.errorType == "ResourceNotFoundException" && a.message == "node 9 is not a member")
        for (method, target) in [("PUT", "/cluster/members"), ("PUT", "/cluster/leader"), ("GET", "/cluster"),
                                 ("POST", "/cluster/status")] {
            let u = await c.call(method, target)
            #expect(u.status == 404 && u.errorType == "UnknownOperationException", "\(method) \(target)")
        }
    }

    @Test("GET /cluster/state: the applied index and a digest that changes with the state")
    func stateDigest() async {
        let c = Client()
        let before = await c.call("GET", "/cluster/state")
        #expect(before.status == 200)
        #expect(before.response.bodyText.hasPrefix(#"{"appliedIndex":"#))
        #expect(await c.call("GET", "/cluster/state").response.bodyText == before.response.bodyText)  // stable
        #expect(await c.call("POST", "/things/digest-thing").status == 200)
        let after = await c.call("GET", "/cluster/state")
        #expect(after.status == 200 && after.response.bodyText != before.response.bodyText)
        #expect(await c.call("POST", "/cluster/state").status == 404)  // unknown admin route
    }
}
