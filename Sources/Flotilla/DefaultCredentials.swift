import ClusterService
import ClusterState
import Foundation
import IoTTypes
import Logging

/// The embedded default's AWS credentials: makes sure the default tenant has an access key (the first node to ask
/// wins — `bootstrapAccessKey` is first-writer-wins, so nodes starting together agree on one key) and writes it to
/// `<data-dir>/aws-credentials` as profile `flotilla`, mode 0600, so that
/// `AWS_SHARED_CREDENTIALS_FILE=<data-dir>/aws-credentials aws --profile flotilla iot … --endpoint-url …` works.
/// The secret goes to that file only, never to the log.
enum DefaultCredentials {
    static let profile = "flotilla"

    static func path(dataDir: String) -> String { (dataDir as NSString).appendingPathComponent("aws-credentials") }

    /// Runs until the key is written or `attempts` proposals failed (no leader yet: retried every 500 ms).
    static func ensure(cluster: ClusterService, dataDir: String, apiURL: String, region: String, logger: Logger,
                       attempts: Int = 120) async
    {
        for _ in 0..<attempts {
            if let key = cluster.read({ $0.accessKeys(tenant: .default).first }) {
                write(key, dataDir: dataDir, apiURL: apiURL, region: region, logger: logger)
                return
            }
            var rng = SystemRandomNumberGenerator()
            let key = AccessKey.generate(tenant: .default, nowMs: Int64(Date().timeIntervalSince1970 * 1000),
                                         using: &rng)
            do {
                switch try await cluster.propose(.bootstrapAccessKey(key, tenantName: "default")) {
                case .success, .failure(.resourceAlreadyExists):
                    continue  // read what won on the next turn
                case .failure(let error):
                    logger.warning("default credentials not created", metadata: ["error": "\(error)"])
                    return
                }
            } catch {
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        logger.warning("default credentials not created: no cluster leader in time")
    }

    static func write(_ key: AccessKey, dataDir: String, apiURL: String, region: String, logger: Logger) {
        let file = path(dataDir: dataDir)
        let section = """
            # Flotilla's default tenant (\(key.tenant.accountID)). Use with:
            #   AWS_SHARED_CREDENTIALS_FILE=\(file) aws --profile \(profile) --region \(region) iot list-things --endpoint-url \(apiURL)
            [\(profile)]
            aws_access_key_id = \(key.accessKeyID)
            aws_secret_access_key = \(key.secretKey)

            """
        let old = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let text = merged(section, into: old)
        if old == text { return }
        let created = FileManager.default.createFile(
            atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        guard created else {
            logger.warning("cannot write the default credentials", metadata: ["path": "\(file)"])
            return
        }
        logger.notice("AWS credentials for the default tenant written", metadata: [
            "credentials_file": "\(file)", "profile": "\(profile)", "access_key_id": "\(key.accessKeyID)",
            "try": "AWS_SHARED_CREDENTIALS_FILE=\(file) aws --profile \(profile) --region \(region) iot list-things --endpoint-url \(apiURL)",
        ])
    }

    /// `old` with its `[flotilla]` profile (and the comment lines just above it) replaced by `section`, put first;
    /// other profiles — keys an operator appended with `flotilla admin access-key create --credentials-file` — stay.
    static func merged(_ section: String, into old: String) -> String {
        var kept: [Substring] = []
        var inOurs = false
        var pendingComments: [Substring] = []
        for line in old.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") {
                inOurs = trimmed == "[\(profile)]"
                if !inOurs { kept += pendingComments }
                pendingComments = []
                if !inOurs { kept.append(line) }
            } else if trimmed.hasPrefix("#") && !inOurs {
                pendingComments.append(line)
            } else if !inOurs {
                kept += pendingComments
                pendingComments = []
                kept.append(line)
            }
        }
        kept += pendingComments
        let rest = kept.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        return rest.isEmpty ? section : section + rest + "\n"
    }
}
