"""The two mailers against real servers and files: SMTP (plain, STARTTLS, implicit TLS, AUTH) and the
local outbox."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tenure.config import Settings
from tenure.notifications.mailer import (
    LocalOutboxMailer,
    PermanentFailure,
    SmtpConfig,
    SmtpMailer,
    TemporaryFailure,
    mailer_for,
)
from tests.conftest import free_port
from tests.notifications.conftest import start_server


def message(to: str = "ada@example.com") -> EmailMessage:
    built = EmailMessage()
    built["From"] = "Acme <billing@acme.test>"
    built["To"] = to
    built["Subject"] = "Héllo"
    built.set_content("plain ünïcode")
    built.add_alternative("<p>html</p>", subtype="html")
    return built


def test_smtp_urls() -> None:
    plain = SmtpConfig.from_url("smtp://mail.example.com")
    assert (plain.host, plain.port, plain.security, plain.username) == ("mail.example.com", 25, "none", None)
    tls = SmtpConfig.from_url("smtp+starttls://us%40er:p%3Ass@mail.example.com?timeout=3")
    assert (tls.port, tls.security, tls.username, tls.password, tls.timeout) == (
        587,
        "starttls",
        "us@er",
        "p:ss",
        3.0,
    )
    assert SmtpConfig.from_url("smtps://mail.example.com:2465").security == "ssl"
    assert SmtpConfig.from_url("smtp+ssl://mail.example.com").port == 465
    with pytest.raises(ValueError, match="TENURE_SMTP_URL"):
        SmtpConfig.from_url("http://mail.example.com")
    assert isinstance(mailer_for(Settings(smtp_url=None, data_dir=Path("/tmp/x"))), LocalOutboxMailer)


def test_plain_smtp() -> None:
    controller, box = start_server()
    try:
        SmtpMailer(SmtpConfig.from_url(box.url)).send(message(), reference="m1")
        assert [m["Subject"] for m in box.messages] == ["Héllo"]
        assert box.envelopes[0] == ("billing@acme.test", ["ada@example.com"])
    finally:
        controller.stop()


def _authenticate(
    server: object, session: object, envelope: object, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"tenure", b"s3cret")
    return AuthResult(success=ok)


def test_refusals_and_unreachable_servers() -> None:
    async def refuse_rcpt(
        server: object, session: object, envelope: object, address: str, options: list[str]
    ) -> str:
        return "550 5.1.1 No such user" if address.startswith("gone") else "451 4.2.0 Busy"

    controller, box = start_server()
    controller.handler.handle_RCPT = refuse_rcpt
    mailer = SmtpMailer(SmtpConfig.from_url(box.url))
    try:
        with pytest.raises(PermanentFailure, match="550"):
            mailer.send(message("gone@example.com"), reference="m1")
        with pytest.raises(TemporaryFailure, match="451"):
            mailer.send(message("busy@example.com"), reference="m2")
    finally:
        controller.stop()
    closed = SmtpMailer(SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}?timeout=2"))
    with pytest.raises(TemporaryFailure):
        closed.send(message(), reference="m3")


def _certificate(directory: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def test_starttls_with_authentication_and_implicit_tls(tmp_path: Path) -> None:
    context, ca = _certificate(tmp_path)
    controller, box = start_server(
        tls_context=context, require_starttls=True, authenticator=_authenticate, auth_required=True
    )
    try:
        url = f"smtp+starttls://tenure:s3cret@{box.host}:{box.port}?cafile={ca}"
        SmtpMailer(SmtpConfig.from_url(url)).send(message(), reference="m1")
        assert len(box.messages) == 1
        with pytest.raises(TemporaryFailure):
            wrong = f"smtp+starttls://tenure:wrong@{box.host}:{box.port}?cafile={ca}&timeout=3"
            SmtpMailer(SmtpConfig.from_url(wrong)).send(message(), reference="m2")
        # Without STARTTLS the server refuses: nothing goes out in clear text.
        with pytest.raises(TemporaryFailure):
            SmtpMailer(SmtpConfig.from_url(box.url)).send(message(), reference="m3")
        # An untrusted certificate is refused too.
        with pytest.raises(TemporaryFailure):
            untrusted = f"smtp+starttls://tenure:s3cret@{box.host}:{box.port}"
            SmtpMailer(SmtpConfig.from_url(untrusted)).send(message(), reference="m4")
        assert len(box.messages) == 1
    finally:
        controller.stop()
    controller, box = start_server(ssl_context=context, server_hostname="localhost")
    try:
        SmtpMailer(SmtpConfig.from_url(f"smtps://{box.host}:{box.port}?cafile={ca}")).send(
            message(), reference="m5"
        )
        assert len(box.messages) == 1
    finally:
        controller.stop()


def test_local_outbox_writes_one_eml_per_message(tmp_path: Path) -> None:
    mailer = LocalOutboxMailer(tmp_path / "outbox")
    path = mailer.send(message(), reference="emsg_1")
    again = mailer.send(message(), reference="emsg_1")  # a retry after a crash rewrites the same file
    assert path == again == str(tmp_path / "outbox" / "emsg_1.eml")
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == ["emsg_1.eml"]
    parsed = email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Héllo"
