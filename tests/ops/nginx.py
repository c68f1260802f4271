"""The repository's ``nginx.conf`` served by a real nginx (a subprocess with its own prefix, temp dirs and
free ports), in front of gateway processes. Only the deployment-specific values are substituted --
ports, certificate, static path -- and each substitution must hit, so the file tested is the file shipped.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import ROOT


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost (PEM) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def render(upstreams: list[int], http_port: int, https_port: int, cert: Path, key: Path) -> str:
    """The shipped nginx.conf with this run's values; fails if the file no longer has what we replace."""
    text = (ROOT / "nginx.conf").read_text()
    subs = [("server 127.0.0.1:8081 ", f"server 127.0.0.1:{upstreams[0]} "),
            ("server 127.0.0.1:8082 ", f"server 127.0.0.1:{upstreams[1]} "),
            ("listen 80;", f"listen 127.0.0.1:{http_port};"),
            ("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
            ("/etc/ssl/certs/pay.example.com.pem", str(cert)),
            ("/etc/ssl/private/pay.example.com.key", str(key)),
            ("/srv/gateway/static/", f"{ROOT / 'static'}/")]
    for old, new in subs:
        assert text.count(old) == 1, f"nginx.conf no longer has {old!r} once"
        text = text.replace(old, new)
    return text


@dataclass
class Nginx:
    http_url: str
    https_url: str
    prefix: Path
    proc: subprocess.Popen[bytes]

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""


@contextmanager
def nginx(tmp: Path, upstreams: list[int], http_port: int, https_port: int, cert: Path,
          key: Path) -> Iterator[Nginx]:
    binary = nginx_binary()
    assert binary, "nginx is not installed (.ci/run installs Debian's)"
    prefix = tmp / "nginx"
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    (prefix / "gateway.conf").write_text(render(upstreams, http_port, https_port, cert, key))
    temps = "\n".join(f"    {d}_temp_path {prefix / d};" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(f"""
{'user root;' if os.geteuid() == 0 else ''}
daemon off;
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} warn;
events {{ worker_connections 512; }}
http {{
    access_log {prefix / 'access.log'};
{temps}
    include {prefix / 'gateway.conf'};
}}
""")
    check = subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=open(prefix / "stderr.log", "wb"))
    try:
        deadline = time.monotonic() + 10
        import socket

        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (prefix / "stderr.log").read_text()
                time.sleep(0.05)
        yield Nginx(f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}", prefix, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
