"""The real AWS CLI and boto3 against a running node's control plane (`--api-port`), shared by the API tests.

Credentials: a node writes its default tenant's access key to `<data-dir>/aws-credentials` (profile `flotilla`);
`credentials(broker)` reads it. Other tenants' keys are passed explicitly as `Creds`. Until a node signs nothing
(before SigV4), the file is absent and dummy keys are used.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REGION = "us-east-1"


@dataclass(frozen=True)
class Creds:
    access_key_id: str
    secret_access_key: str


def api_url(broker) -> str:
    return getattr(broker, "api_url", None) or broker.metrics_url


def credentials(broker, profile: str = "flotilla") -> Creds:
    """The default tenant's key from the node's `<data-dir>/aws-credentials` (dummy keys when there is none)."""
    path = Path(broker.data_dir) / "aws-credentials"
    if not path.exists():
        return Creds("x", "y")
    ini = configparser.ConfigParser()
    ini.read(path)
    return Creds(ini[profile]["aws_access_key_id"], ini[profile]["aws_secret_access_key"])


def aws_cli() -> list[str]:
    exe = shutil.which("aws")
    if exe:
        return [exe]
    try:
        import awscli  # noqa: F401
    except ImportError:
        pytest.fail("the AWS CLI is not installed (scripts/install-deps.sh installs awscli)", pytrace=False)
    return [sys.executable, "-m", "awscli"]


def aws_env(creds: Creds) -> dict:
    return dict(os.environ, AWS_ACCESS_KEY_ID=creds.access_key_id, AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
                AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                AWS_PAGER="")


def aws(broker, *args: str, ok: bool = True, creds: Creds | None = None, service: str = "iot",
        timeout: float = 60) -> subprocess.CompletedProcess:
    """`aws <service> <args> --endpoint-url <node>`; asserts success unless `ok=False`."""
    cmd = aws_cli() + [service, *args, "--endpoint-url", api_url(broker), "--output", "json"]
    done = subprocess.run(cmd, env=aws_env(creds or credentials(broker)), capture_output=True, text=True,
                          timeout=timeout)
    if ok:
        assert done.returncode == 0, f"{' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def aws_json(broker, *args: str, creds: Creds | None = None) -> dict:
    out = aws(broker, *args, creds=creds).stdout
    return json.loads(out) if out.strip() else {}


def client(broker, service: str = "iot", creds: Creds | None = None):
    """A boto3 client for `service` at the node, retries off (so an error is seen once, as sent)."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    c = creds or credentials(broker)
    return boto3.client(service, endpoint_url=api_url(broker), region_name=REGION,
                        aws_access_key_id=c.access_key_id, aws_secret_access_key=c.secret_access_key,
                        config=Config(retries={"max_attempts": 1}))


def error_code(excinfo) -> tuple[str, int]:
    """(error type, HTTP status) of a botocore ClientError caught by `pytest.raises`."""
    e = excinfo.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def signed(method: str, url: str, body: bytes | None, creds: Creds, *, headers: dict | None = None,
           service: str = "iot") -> dict:
    """`headers` plus the SigV4 headers botocore's own signer computes for this request."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers or {}))
    SigV4Auth(Credentials(creds.access_key_id, creds.secret_access_key), service, REGION).add_auth(request)
    return dict(request.headers.items())


def raw(broker, method: str, path: str, body: bytes | None = None, creds: Creds | None = None,
        sign: bool = True, headers: dict | None = None, service: str = "iot") -> tuple[int, dict, dict]:
    """One HTTP request to the control plane, SigV4-signed with botocore's signer unless `sign=False`:
    (status, headers with lower-case names, JSON body). HTTP errors are returned, not raised."""
    import urllib.error
    import urllib.request
    url = api_url(broker) + path
    all_headers = dict(headers or {})
    if body is not None:
        all_headers.setdefault("content-type", "application/json")
    if sign:
        all_headers = signed(method, url, body, creds or credentials(broker), headers=all_headers, service=service)
    req = urllib.request.Request(url, data=body, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, got, text = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, got, text = e.code, e.headers, e.read()
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = {"_text": text.decode("utf-8", "replace")}
    return status, {k.lower(): v for k, v in got.items()}, parsed
