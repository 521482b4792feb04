import ArgumentParser
import Foundation

/// `flotilla admin domain …`, `flotilla admin cert …` and `flotilla admin server-cert …`: clients of a node's admin
/// routes for domain configurations and certificates (`/cluster/domains`, `/cluster/certificates`,
/// `/cluster/ca-certificates`, `/cluster/server-certificates`; see `AdminAPI+Registry.swift`,
/// `ServerCertificatesAPI.swift` and ops/configuration.md). Any node will do: writes go through raft.
struct RegistryAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Manage tenants, access keys, domain configurations and certificates through any node's operator routes (loopback only).",
        subcommands: [Tenant.self, AccessKeyCommand.self, Domain.self, Cert.self, ServerCert.self])

    struct TenantOption: ParsableArguments {
        @Option(name: .long, help: "The tenant's 12-digit account id (default: the default tenant).")
        var tenant: String?

        /// `?tenant=…` or nothing; `extra` is appended with `&`.
        func query(_ extra: String? = nil) -> String {
            let parts = [tenant.map { "tenant=\($0)" }, extra].compactMap { $0 }
            return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
        }
    }

    static func readFile(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw AdminClient.failure("cannot read \(what) from \(path)") }
        return text
    }

    struct Domain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create, list or delete domain configurations (custom domains picked by SNI).",
            subcommands: [Create.self, List.self, Delete.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create a domain configuration: its host name (exact or *.wildcard) and server certificate.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Argument(help: "The configuration's name ([A-Za-z0-9_.-], 1-128).")
            var name: String
            @Option(name: .long, help: "The host name it serves, e.g. iot.example.com or *.devices.example.com.")
            var domainName: String
            @Option(name: .long, help: "PEM file: the server certificate, then its intermediates.")
            var certificateChain: String
            @Option(name: .long, help: "PEM file: the server certificate's private key (replicated to every node).")
            var privateKey: String
            @Option(name: .long, help: "Default custom authorizer name (stored for later use).")
            var defaultAuthorizer: String?
            @Flag(name: .long, help: "Create it DISABLED (it serves no handshakes).")
            var disabled = false

            func run() async throws {
                var body: [String: AnyJSON] = [
                    "domainConfigurationName": .string(name), "domainName": .string(domainName),
                    "serverCertificateChainPem": .string(try readFile(certificateChain, what: "the certificate chain")),
                    "privateKeyPem": .string(try readFile(privateKey, what: "the private key")),
                    "status": .string(disabled ? "DISABLED" : "ENABLED"),
                ]
                if let defaultAuthorizer { body["defaultAuthorizerName"] = .string(defaultAuthorizer) }
                let answer = try await AdminClient(options).call("POST", "/cluster/domains" + tenant.query(),
                                                                 body: .object(body))
                let created = try? JSONDecoder().decode(DomainRow.self, from: Data(answer))
                print("domain configuration \(name) created for \(created?.domainName ?? domainName) "
                    + "(\(created?.status ?? "?"))")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the tenant's domain configurations.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Flag(name: .long, help: "Print the raw JSON.")
            var json = false

            func run() async throws {
                let answer = try await AdminClient(options).call("GET", "/cluster/domains" + tenant.query(), body: nil)
                if json {
                    print(String(decoding: answer, as: UTF8.self))
                    return
                }
                guard let list = try? JSONDecoder().decode(DomainList.self, from: Data(answer)) else {
                    throw AdminClient.failure("the node answered something that is not a domain list")
                }
                if list.domainConfigurations.isEmpty { print("no domain configurations") }
                for d in list.domainConfigurations {
                    print("\(d.domainConfigurationName)  \(d.domainName)  \(d.status)"
                        + (d.defaultAuthorizerName.map { "  authorizer \($0)" } ?? ""))
                }
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a domain configuration.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Argument(help: "The configuration's name.")
            var name: String

            func run() async throws {
                guard let escaped = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) else {
                    throw AdminClient.failure("cannot encode the name '\(name)'")
                }
                _ = try await AdminClient(options).call("DELETE", "/cluster/domains/\(escaped)" + tenant.query(),
                                                        body: nil)
                print("domain configuration \(name) deleted")
            }
        }
    }

    struct ServerCert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "server-cert",
            abstract: "Import, list or delete server certificates for AWS CreateDomainConfiguration (ACM-shaped ARNs).",
            subcommands: [Import.self, List.self, Delete.self])

        struct Import: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Import a server certificate and its key; prints the ARN to pass as serverCertificateArns.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Option(name: .long, help: "PEM file: the server certificate, then its intermediates.")
            var certificateChain: String
            @Option(name: .long, help: "PEM file: the server certificate's private key (replicated to every node).")
            var privateKey: String
            @Flag(name: .long, help: "Print the raw JSON.")
            var json = false

            func run() async throws {
                let body: [String: AnyJSON] = [
                    "certificateChainPem": .string(try readFile(certificateChain, what: "the certificate chain")),
                    "privateKeyPem": .string(try readFile(privateKey, what: "the private key")),
                ]
                let answer = try await AdminClient(options).call("POST", "/cluster/server-certificates" + tenant.query(),
                                                                 body: .object(body))
                if json {
                    print(String(decoding: answer, as: UTF8.self))
                    return
                }
                guard let row = try? JSONDecoder().decode(ServerCertificateRow.self, from: Data(answer)) else {
                    throw AdminClient.failure("the node answered something that is not a server certificate")
                }
                print(row.certificateArn)
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the tenant's imported server certificates.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Flag(name: .long, help: "Print the raw JSON.")
            var json = false

            func run() async throws {
                let answer = try await AdminClient(options).call(
                    "GET", "/cluster/server-certificates" + tenant.query(), body: nil)
                if json {
                    print(String(decoding: answer, as: UTF8.self))
                    return
                }
                guard let list = try? JSONDecoder().decode(ServerCertificateList.self, from: Data(answer)) else {
                    throw AdminClient.failure("the node answered something that is not a server certificate list")
                }
                if list.serverCertificates.isEmpty { print("no server certificates") }
                for c in list.serverCertificates {
                    let used = c.domainConfigurations.isEmpty ? "" : "  used by \(c.domainConfigurations.joined(separator: ","))"
                    print("\(c.certificateArn)  \(c.domainNames.joined(separator: ","))\(used)")
                }
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Delete an imported server certificate (not while a domain configuration uses it).")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Argument(help: "The certificate's ARN or id.")
            var certificate: String

            func run() async throws {
                guard let escaped = certificate.addingPercentEncoding(withAllowedCharacters: .alphanumerics
                    .union(CharacterSet(charactersIn: "-"))) else {
                    throw AdminClient.failure("cannot encode '\(certificate)'")
                }
                _ = try await AdminClient(options).call(
                    "DELETE", "/cluster/server-certificates/\(escaped)" + tenant.query(), body: nil)
                print("server certificate \(certificate) deleted")
            }
        }
    }

    struct Cert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cert",
            abstract: "Register, list or change the status of device and CA certificates (mutual TLS).",
            subcommands: [Register.self, List.self, UpdateStatus.self])

        struct Register: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Register a device certificate (or, with --ca, a CA); the node computes its id (SHA-256 of the DER).")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Argument(help: "PEM file holding the certificate (the first CERTIFICATE block is registered).")
            var pemFile: String
            @Flag(name: .long, help: "Register a CA certificate: devices it signed may connect while it is ACTIVE.")
            var ca = false
            @Option(name: .long, help: "The id of the registered CA that issued this device certificate.")
            var caCertificateId: String?
            @Option(name: .long, help: "ACTIVE (default) or INACTIVE; devices also PENDING_ACTIVATION.")
            var status = "ACTIVE"

            func run() async throws {
                let pem = try readFile(pemFile, what: "the certificate")
                var body: [String: AnyJSON] = [ca ? "caCertificatePem" : "certificatePem": .string(pem),
                                               "status": .string(status)]
                if let caCertificateId { body["caCertificateId"] = .string(caCertificateId) }
                let path = ca ? "/cluster/ca-certificates" : "/cluster/certificates"
                let answer = try await AdminClient(options).call("POST", path + tenant.query(), body: .object(body))
                let registered = try? JSONDecoder().decode(Registered.self, from: Data(answer))
                print("\(ca ? "CA certificate" : "certificate") \(registered?.certificateId ?? "?") registered "
                    + "(\(registered?.status ?? status))")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the tenant's CA and device certificates.")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Flag(name: .long, help: "Print the raw JSON.")
            var json = false

            func run() async throws {
                let answer = try await AdminClient(options).call("GET", "/cluster/certificates" + tenant.query(),
                                                                 body: nil)
                if json {
                    print(String(decoding: answer, as: UTF8.self))
                    return
                }
                guard let list = try? JSONDecoder().decode(CertificateList.self, from: Data(answer)) else {
                    throw AdminClient.failure("the node answered something that is not a certificate list")
                }
                for c in list.caCertificates { print("CA    \(c.certificateId)  \(c.status)") }
                for c in list.certificates {
                    print("cert  \(c.certificateId)  \(c.status)" + (c.caCertificateId.map { "  CA \($0)" } ?? ""))
                }
                if list.caCertificates.isEmpty && list.certificates.isEmpty { print("no certificates") }
            }
        }

        struct UpdateStatus: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "update-status",
                abstract: "Set a certificate's status (ACTIVE, INACTIVE, REVOKED; CAs: ACTIVE, INACTIVE).")
            @OptionGroup var options: ClusterAdminCommand.Options
            @OptionGroup var tenant: TenantOption
            @Argument(help: "The certificate id (64 hex characters).")
            var certificateId: String
            @Argument(help: "The new status.")
            var newStatus: String
            @Flag(name: .long, help: "The id is a CA certificate's.")
            var ca = false

            func run() async throws {
                guard certificateId.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }),
                      newStatus.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || $0 == UInt8(ascii: "_") })
                else { throw AdminClient.failure("the id must be hex and the status upper case, e.g. INACTIVE") }
                let path = (ca ? "/cluster/ca-certificates/" : "/cluster/certificates/") + certificateId
                _ = try await AdminClient(options).call("PUT", path + tenant.query("newStatus=\(newStatus)"), body: nil)
                print("\(ca ? "CA certificate" : "certificate") \(certificateId) is now \(newStatus)")
            }
        }
    }
}

private struct DomainRow: Decodable {
    var domainConfigurationName: String
    var domainName: String
    var status: String
    var defaultAuthorizerName: String?
}

private struct DomainList: Decodable { var domainConfigurations: [DomainRow] }

private struct ServerCertificateRow: Decodable {
    var certificateArn: String
    var domainNames: [String]
    var domainConfigurations: [String]
}

private struct ServerCertificateList: Decodable { var serverCertificates: [ServerCertificateRow] }

private struct CertificateRow: Decodable {
    var certificateId: String
    var status: String
    var caCertificateId: String?
}

private struct CertificateList: Decodable {
    var certificates: [CertificateRow]
    var caCertificates: [CertificateRow]
}

private struct Registered: Decodable {
    var certificateId: String
    var status: String
}
