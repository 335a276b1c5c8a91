"""A throw-away certificate so the sandboxes can serve https on this machine.

MSAL refuses authorities that are not https, so trying the Microsoft sign-in flow locally
needs TLS. The certificate is self-signed for ``localhost``, ``127.0.0.1`` and ``::1``;
clients trust it by pointing ``verify`` at :attr:`LocalCertificate.ca_file`.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.sandbox.timeutil import utcnow

#: How long the generated certificate is valid.
VALIDITY = timedelta(days=7)


@dataclass(frozen=True)
class LocalCertificate:
    """Certificate and key files in a private temporary directory."""

    ca_file: str
    key_file: str
    directory: str

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for serving with this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, self.key_file)
        return context

    def remove(self) -> None:
        """Delete the files."""
        shutil.rmtree(self.directory, ignore_errors=True)


def create_local_certificate() -> LocalCertificate:
    """Generate a self-signed certificate for the loopback names, in a new temporary directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    directory = Path(tempfile.mkdtemp(prefix="calsync-sandbox-tls-"))
    ca_file = directory / "sandbox-cert.pem"
    key_file = directory / "sandbox-key.pem"
    ca_file.write_bytes(_self_signed(key).public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return LocalCertificate(str(ca_file), str(key_file), str(directory))


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync sandbox")])
    loopback = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    now = utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(loopback, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
