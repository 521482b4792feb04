import ArgumentParser
import Foundation

/// `flotilla admin tenant …` and `flotilla admin access-key …`: tenants (AWS accounts) and their SigV4 keys, through
/// any node's loopback operator routes (`/cluster/tenants`, see `AdminAPI+Tenants.swift`). Writes go through raft.
extension RegistryAdminCommand {
    struct Tenant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or list tenants (AWS accounts: every object, topic and client id is theirs alone).",
            subcommands: [Create.self, List.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a tenant.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @Option(name: .long, help: "Its 12-digit account id (default: a random one).")
            var accountId: String?
            @Option(name: .long, help: "A name for people (default: the account id).")
            var name: String?

            func run() async throws {
                var rng = SystemRandomNumberGenerator()
                let id = accountId ?? String((0..<12).map { i in
                    Character(String(i == 0 ? 1 + rng.next() % 9 : rng.next() % 10))
                })
                var body: [String: AnyJSON] = ["accountId": .string(id)]
                if let name { body["name"] = .string(name) }
                _ = try await AdminClient(options).call("POST", "/cluster/tenants", body: .object(body))
                print("tenant \(id) created")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List tenants and their access key ids.")
            @OptionGroup var options: ClusterAdminCommand.Options

            func run() async throws {
                let answer = try await AdminClient(options).call("GET", "/cluster/tenants", body: nil)
                print(String(decoding: answer, as: UTF8.self))
            }
        }
    }

    struct AccessKeyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "access-key",
            abstract: "Issue, list or delete a tenant's SigV4 access keys (what the AWS CLI and SDKs sign with).",
            subcommands: [Create.self, List.self, Delete.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Issue a key. The secret is shown once: printed as a credentials-file profile, or written to --credentials-file.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @Option(name: .long, help: "The tenant's 12-digit account id.")
            var tenant: String
            @Option(name: .long, help: "The profile name in the credentials text (default flotilla-<account id>).")
            var profile: String?
            @Option(name: .long, help: "Append the profile to this AWS credentials file (created 0600) instead of printing the secret.")
            var credentialsFile: String?

            func run() async throws {
                let answer = try await AdminClient(options).call("POST", "/cluster/tenants/\(tenant)/access-keys",
                                                                 body: nil)
                guard let key = try? JSONDecoder().decode(NewKey.self, from: Data(answer)) else {
                    throw AdminClient.failure("the node answered something that is not a new access key")
                }
                let text = """
                    [\(profile ?? "flotilla-\(key.accountId)")]
                    aws_access_key_id = \(key.accessKeyId)
                    aws_secret_access_key = \(key.secretAccessKey)

                    """
                guard let path = credentialsFile else {
                    print(text, terminator: "")
                    return
                }
                let old = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                let joined = old.isEmpty || old.hasSuffix("\n") ? old + text : old + "\n" + text
                guard FileManager.default.createFile(atPath: path, contents: Data(joined.utf8),
                                                     attributes: [.posixPermissions: 0o600])
                else { throw AdminClient.failure("cannot write \(path)") }
                print("access key \(key.accessKeyId) for tenant \(key.accountId) written to \(path)")
            }

            struct NewKey: Decodable {
                var accountId: String
                var accessKeyId: String
                var secretAccessKey: String
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List a tenant's access key ids (never secrets).")
            @OptionGroup var options: ClusterAdminCommand.Options
            @Option(name: .long, help: "The tenant's 12-digit account id.")
            var tenant: String

            func run() async throws {
                let answer = try await AdminClient(options).call("GET", "/cluster/tenants/\(tenant)/access-keys",
                                                                 body: nil)
                print(String(decoding: answer, as: UTF8.self))
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete an access key: requests signed with it fail at once.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @Option(name: .long, help: "The tenant's 12-digit account id.")
            var tenant: String
            @Argument(help: "The access key id.")
            var accessKeyId: String

            func run() async throws {
                _ = try await AdminClient(options).call(
                    "DELETE", "/cluster/tenants/\(tenant)/access-keys/\(accessKeyId)", body: nil)
                print("access key \(accessKeyId) deleted")
            }
        }
    }
}
