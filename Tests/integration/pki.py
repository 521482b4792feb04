"""Certificates for the TLS integration tests, made with the openssl CLI (OpenSSL 3.0, no Python crypto package):
P-256 CAs, server and device certificates signed by them, and a device certificate whose validity ended in the past.

Every function works in one directory `d` and names files after the certificate: `<name>.pem`, `<name>.key`.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

OPENSSL_TIMEOUT = 30


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=OPENSSL_TIMEOUT)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def _request(d: Path, name: str) -> None:
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)


def make_leaf(d: Path, ca: str, name: str, *, server: bool, sans: str | None = None) -> None:
    _request(d, name)
    ext = d / f"{name}.ext"
    lines = ["basicConstraints=CA:FALSE", f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}"]
    if sans:
        lines.append(f"subjectAltName={sans}")
    ext.write_text("\n".join(lines) + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "30", "-extfile", ext.name, "-out", f"{name}.pem", cwd=d)


def make_expired_leaf(d: Path, ca: str, name: str, *, not_before: str = "20200101000000Z",
                      not_after: str = "20200201000000Z") -> None:
    """A client certificate signed by `ca` and valid only from `not_before` to `not_after` (both in the past by
    default). `openssl x509 -req` of OpenSSL 3.0 only knows -days, so this goes through `openssl ca`, which takes
    explicit dates, with a throw-away database in `<d>/<name>.ca/`."""
    _request(d, name)
    db = d / f"{name}.ca"
    db.mkdir()
    (db / "index.txt").write_text("")
    (db / "serial").write_text("1000\n")
    config = db / "ca.cnf"
    config.write_text("\n".join([
        "[ca]", "default_ca = this_ca",
        "[this_ca]", f"dir = {db}", f"database = {db}/index.txt", f"new_certs_dir = {db}", f"serial = {db}/serial",
        "default_md = sha256", "policy = any_name", "x509_extensions = client", "unique_subject = no",
        "copy_extensions = none",
        "[any_name]", "commonName = supplied",
        "[client]", "basicConstraints = CA:FALSE", "extendedKeyUsage = clientAuth",
    ]) + "\n")
    openssl("ca", "-batch", "-notext", "-config", str(config), "-cert", f"{ca}.pem", "-keyfile", f"{ca}.key",
            "-in", f"{name}.csr", "-out", f"{name}.pem", "-startdate", not_before, "-enddate", not_after, cwd=d)


def cert_id(pem: Path) -> str:
    """AWS IoT's certificate id: SHA-256 of the DER, lower-case hex."""
    der = subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "der"], capture_output=True,
                         timeout=10, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def not_after(pem: Path) -> str:
    """The certificate's notAfter as openssl prints it (e.g. `Feb  1 00:00:00 2020 GMT`)."""
    done = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-enddate"], capture_output=True, text=True,
                          timeout=10, check=True)
    return done.stdout.strip().removeprefix("notAfter=")
