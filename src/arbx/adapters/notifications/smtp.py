"""An e-mail channel over SMTP (STARTTLS and login optional), sent from a worker thread."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from arbx.adapters.notifications.message import headline, text
from arbx.domain.alerts import AlertTransition
from arbx.domain.errors import ExternalError
from arbx.ports.alert_channel import AlertChannel


class SmtpChannel(AlertChannel):
    kind = "email"

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        starttls: bool,
        username: str,
        password: str,
        sender: str,
        to: list[str],
        timeout_s: float,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self._host, self._port = host, port
        self._starttls = starttls
        self._username, self._password = username, password
        self._sender, self._to = sender, list(to)
        self._timeout = timeout_s
        self._tls = tls_context

    def __repr__(self) -> str:
        return f"SmtpChannel({self.name!r}, {self._host}:{self._port}, password=***)"

    async def deliver(self, transition: AlertTransition, *, test: bool = False) -> None:
        message = EmailMessage()
        message["Subject"] = headline(transition, test=test)
        message["From"] = self._sender
        message["To"] = ", ".join(self._to)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain="arbx")
        message.set_content(text(transition, test=test))
        try:
            await asyncio.to_thread(self._send, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ExternalError(
                f"e-mail channel {self.name} could not send via {self._host}:{self._port}: {exc}"
            ) from exc

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls(context=self._tls or ssl.create_default_context())
            if self._username:
                smtp.login(self._username, self._password)
            smtp.send_message(message)
