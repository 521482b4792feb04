#!/usr/bin/env python3
"""Known-answer SigV4 vectors for Tests/SigV4Tests, produced by the locally installed botocore (the signer the AWS CLI
and boto3 use), so the Swift verifier is checked against the real client rather than against our reading of the docs.

    python3 Tests/SigV4Tests/make-vectors.py > Tests/SigV4Tests/BotocoreVectors.swift

Time is frozen by replacing `botocore.auth.get_current_datetime` (the one place SigV4Auth / SigV4QueryAuth read the
clock). Every vector records the request as it goes on the wire (method, raw path, raw query, every header including
`Host`, the body) plus botocore's canonical request and signature, so a failure shows which step differs.
"""
import datetime
import json
import re
from urllib.parse import quote, urlsplit

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGNED_AT = datetime.datetime(2026, 5, 20, 12, 34, 56)
SIGNED_AT_EPOCH = 1779280496  # SIGNED_AT as seconds since 1970 (UTC); checked below
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEXAMPLE/token+with=chars"
REGION = "us-east-1"
IOT_HOST = "iot.us-east-1.amazonaws.com"
DATA_HOST = "abc123-ats.iot.us-east-1.amazonaws.com"

assert int(SIGNED_AT.replace(tzinfo=datetime.timezone.utc).timestamp()) == SIGNED_AT_EPOCH
botocore.auth.get_current_datetime = lambda *a, **k: SIGNED_AT
try:  # the CRT signer asks for an aware datetime
    import botocore.crt.auth
    botocore.crt.auth.get_current_datetime = lambda *a, **k: SIGNED_AT.replace(tzinfo=datetime.timezone.utc)
except ImportError:
    pass


class Recording:
    """Wraps a signer class so the canonical request it signs is kept."""

    def __init__(self, cls, *args, **kwargs):
        outer = self
        self.canonical = None

        class Sub(cls):
            def canonical_request(self, request):
                cr = super().canonical_request(request)
                outer.canonical = cr
                return cr

            def signature(self, string_to_sign, request):
                sig = super().signature(string_to_sign, request)
                outer.signature = sig
                return sig

        self.signer = Sub(*args, **kwargs)


def wire(request):
    """The request as a server receives it: raw path, raw query, headers (Host first, as an HTTP client sends)."""
    parts = urlsplit(request.url)
    headers = [(k, v if isinstance(v, str) else v.decode()) for k, v in request.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    # Unsigned headers that vary from run to run or machine to machine get fixed values (they stay in the vector:
    # the verifier must ignore headers that are not signed).
    fixed = {"user-agent": "Botocore/test", "amz-sdk-invocation-id": "00000000-0000-4000-8000-000000000000"}
    headers = [(k, fixed.get(k.lower(), v)) for k, v in headers]
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    return parts.path, parts.query, headers, body


WEBSOCKET_UPGRADE = {
    "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "mqtt",
}


def sign(name, request, service, token=None, query=False, expires=300, append_token=False, after=None):
    creds = Credentials(ACCESS_KEY, SECRET_KEY, None if append_token else token)
    if query:
        rec = Recording(botocore.auth.SigV4QueryAuth, creds, service, REGION, expires=expires)
    else:
        rec = Recording(botocore.auth.SigV4Auth, creds, service, REGION)
    rec.signer.add_auth(request)
    if append_token:
        # What the AWS IoT device SDKs do for WSS: sign without the token, then append it (AWS-IOT-SPEC §1.9).
        request.url += "&X-Amz-Security-Token=" + quote(token, safe="-_.~")
    for k, v in (after or {}).items():  # headers the client adds after signing (unsigned)
        request.headers[k] = v
    path, rawquery, headers, body = wire(request)
    return dict(
        name=name, service=service, method=request.method, path=path, query=rawquery, headers=headers, body=body,
        canonical=rec.canonical, signature=rec.signature, token=token,
    )


def client_request(service, op, params, host):
    """A request exactly as botocore's client serializes and signs it, captured before it is sent. With awscrt
    installed (as here, and in the AWS CLI bundle) the client signs with the CRT signer, not SigV4Auth."""
    session = botocore.session.get_session()
    client = session.create_client(
        service, region_name=REGION, endpoint_url=f"https://{host}",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )
    captured = {}

    class Captured(Exception):
        pass

    def before_send(request, **kwargs):
        captured["request"] = request
        raise Captured()

    client.meta.events.register("before-send", before_send)
    try:
        getattr(client, op)(**params)
    except Captured:
        pass
    return captured["request"]


def from_client(name, service, signing_name, op, params, host):
    request = client_request(service, op, params, host)
    path, rawquery, headers, body = wire(request)
    authorization = dict((k.lower(), v) for k, v in headers)["authorization"]
    signature = authorization.rsplit("Signature=", 1)[1]
    # Re-sign the request as received with the pure-Python SigV4Auth: its canonical request documents the vector,
    # and its signature must equal the client's (two botocore signers agreeing).
    added_by_signer_or_later = (
        "authorization", "host", "x-amz-date", "amz-sdk-invocation-id", "amz-sdk-request", "content-length")
    unsigned = {k: v for k, v in headers if k.lower() not in added_by_signer_or_later}
    again = AWSRequest(method=request.method, url=request.url, headers=unsigned, data=body)
    rec = Recording(botocore.auth.SigV4Auth, Credentials(ACCESS_KEY, SECRET_KEY), signing_name, REGION)
    rec.signer.add_auth(again)
    assert rec.signature == signature, (name, rec.canonical)
    return dict(
        name=name, service=signing_name, method=request.method, path=path, query=rawquery, headers=headers,
        body=body, canonical=rec.canonical, signature=signature, token=None,
    )


vectors = []

# The iot control plane through the real client: GET with query parameters that need encoding.
vectors.append(from_client(
    "iot ListThings, query values needing encoding", "iot", "iot", "list_things",
    dict(attributeName="model", attributeValue="a b/c:d*é", thingTypeName="Sensor~1", maxResults=5), IOT_HOST))
# POST with a JSON body.
vectors.append(from_client(
    "iot CreateThing, JSON body", "iot", "iot", "create_thing",
    dict(thingName="lamp-1", attributePayload={"attributes": {"room": "kitchen 2"}}), IOT_HOST))
# iot-data Publish: the topic is one URI label, so `/` is sent as %2F and the canonical URI re-encodes it to %252F.
vectors.append(from_client(
    "iot-data Publish to a/b (path label %2F, signed as %252F)", "iot-data", "iotdata", "publish",
    dict(topic="a/b", qos=1, payload=b'{"temp": 21}'), DATA_HOST))
vectors.append(from_client(
    "iot-data Publish to $aws/things/t1/shadow/update", "iot-data", "iotdata", "publish",
    dict(topic="$aws/things/t1/shadow/update", payload=b'{"state":{}}'), DATA_HOST))

# Header values with runs of spaces, a repeated header, and a session token.
r = AWSRequest(method="GET", url=f"https://{IOT_HOST}/things/lamp-1", headers={})
r.headers["X-Custom"] = "  a   b    c  "
r.headers["X-Multi"] = "one"
r.headers["X-Multi"] = "two  words"
vectors.append(sign("header with multiple spaces, repeated header, session token", r, "iot", token=TOKEN))

# The `Date` header instead of X-Amz-Date (botocore keeps `Date` if the request already has one).
r = AWSRequest(method="DELETE", url=f"https://{IOT_HOST}/things/lamp-1", headers={"Date": "x"})
vectors.append(sign("Date header instead of X-Amz-Date", r, "iot"))

# iot-jobs-data with the `$next` literal segment (sent as %24next).
r = AWSRequest(method="GET", url=f"https://{DATA_HOST}/things/t1/jobs/%24next?includeJobDocument=true", headers={})
vectors.append(sign("iot-jobs-data $next", r, "iot-jobs-data"))

# Presigned WSS URLs for /mqtt (service iotdevicegateway).
r = AWSRequest(method="GET", url=f"https://{DATA_HOST}/mqtt", headers={})
vectors.append(sign("presigned /mqtt, no token", r, "iotdevicegateway", query=True, expires=86400,
                    after=WEBSOCKET_UPGRADE))
r = AWSRequest(method="GET", url=f"https://{DATA_HOST}/mqtt", headers={})
vectors.append(sign("presigned /mqtt, token signed in the query", r, "iotdevicegateway", token=TOKEN, query=True,
                    after=WEBSOCKET_UPGRADE))
r = AWSRequest(method="GET", url=f"https://{DATA_HOST}/mqtt", headers={})
vectors.append(sign("presigned /mqtt, token appended after signing", r, "iotdevicegateway", token=TOKEN, query=True,
                    append_token=True, after=WEBSOCKET_UPGRADE))


def literal(s):
    """A Swift string literal (JSON escapes are valid Swift escapes except \\uXXXX, which Swift writes \\u{XXXX})."""
    out = json.dumps(s, ensure_ascii=True)
    return re.sub(r"\\u([0-9a-fA-F]{4})", r"\\u{\1}", out)


print("// Generated by make-vectors.py with botocore %s. Do not edit; regenerate:" % botocore.__version__)
print("//     python3 Tests/SigV4Tests/make-vectors.py > Tests/SigV4Tests/BotocoreVectors.swift")
print()
print("/// botocore's signing time for every vector, as seconds since 1970 (%sZ)." % SIGNED_AT.isoformat())
print("let botocoreSignedAt: Int64 = %d" % SIGNED_AT_EPOCH)
print("let botocoreAccessKey = %s" % literal(ACCESS_KEY))
print("let botocoreSecretKey = %s" % literal(SECRET_KEY))
print("let botocoreRegion = %s" % literal(REGION))
print()
print("let botocoreVectors: [BotocoreVector] = [")
for v in vectors:
    print("    BotocoreVector(")
    print("        name: %s," % literal(v["name"]))
    print("        service: %s," % literal(v["service"]))
    print("        method: %s," % literal(v["method"]))
    print("        path: %s," % literal(v["path"]))
    print("        query: %s," % literal(v["query"]))
    print("        headers: [")
    for k, val in v["headers"]:
        print("            (%s, %s)," % (literal(k), literal(val)))
    print("        ],")
    print("        body: %s," % literal(v["body"].decode("utf-8")))
    print("        sessionToken: %s," % ("nil" if v["token"] is None else literal(v["token"])))
    print("        canonicalRequest: %s," % literal(v["canonical"]))
    print("        signature: %s)," % literal(v["signature"]))
print("]")
