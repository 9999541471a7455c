"""A self-made TLS certificate for `trackmaster serve --https-port`: mobile SDKs want https.

Made once under var/tls/ for this machine's names and addresses (hostname,
localhost, 127.0.0.1, ::1 and the addresses the hostname resolves to or the
default route leaves by) and reused while it covers them and is valid for
another 30 days; otherwise made again. A device trusts it once (install the
certificate file, shown by `serve`); a certificate of your own (`--cert`,
`--key`) is used as given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
from pathlib import Path

VALID_DAYS = 825  # the longest validity Apple's platforms accept for a TLS server certificate
RENEW_BEFORE_DAYS = 30


def machine_names() -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) this machine answers to, loopback included."""
    names = {"localhost", socket.gethostname()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn())
    addresses = {"127.0.0.1", "::1"}
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            addresses.add(str(info[4][0]).split("%")[0])
    # The address of the default route: a UDP "connect" sends nothing.
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        addresses.add(udp.getsockname()[0])
    return sorted(n for n in names if n), sorted(addresses)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for this machine, made or reused."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names, addresses = machine_names()
    cert_path, key_path = directory / "trackmaster.crt", directory / "trackmaster.key"
    wanted = {*names, *addresses}
    if cert_path.exists() and key_path.exists():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        covered = {*san.get_values_for_type(x509.DNSName),
                   *(str(a) for a in san.get_values_for_type(x509.IPAddress))}  # fmt: skip
        fresh = existing.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(
            days=RENEW_BEFORE_DAYS
        )
        if wanted <= covered and fresh:
            return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"TrackMaster {names[-1]}")])
    now = dt.datetime.now(dt.UTC)
    alternatives = [x509.DNSName(n) for n in names] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in addresses
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
