"""The mailpit stand-in: keeps every message received over SMTP (port 1025)
in memory and serves them with Mailpit's API shapes (port 8025)."""

import email
import email.policy
import email.utils
import json
import os
import signal
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

MESSAGES = []
LOCK = threading.Lock()


def truthy(name):
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def addresses(msg, header):
    return [
        {"Name": name, "Address": address}
        for name, address in email.utils.getaddresses(msg.get_all(header, []))
        if address
    ]


def body(msg, kind):
    part = msg.get_body(preferencelist=(kind,))
    return part.get_content() if part is not None else ""


class Keep:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        to = addresses(msg, "To")
        cc = addresses(msg, "Cc")
        listed = {a["Address"].lower() for a in to + cc}
        bcc = [
            {"Name": "", "Address": rcpt}
            for rcpt in envelope.rcpt_tos
            if rcpt.lower() not in listed
        ]
        sender = addresses(msg, "From")
        text = body(msg, "plain")
        record = {
            "ID": str(uuid.uuid4()),
            "MessageID": str(msg.get("Message-ID", "")).strip("<>"),
            "Read": False,
            "From": sender[0] if sender else {"Name": "", "Address": envelope.mail_from},
            "To": to,
            "Cc": cc,
            "Bcc": bcc,
            "ReplyTo": addresses(msg, "Reply-To"),
            "Subject": str(msg.get("Subject", "")),
            "Created": datetime.now(timezone.utc).isoformat(),
            "Size": len(raw),
            "Snippet": " ".join(text.split())[:250],
            "Text": text,
            "HTML": body(msg, "html"),
        }
        with LOCK:
            MESSAGES.append(record)
        print(f"mail {record['ID']} to {[a['Address'] for a in to + cc + bcc]}: {record['Subject']}")
        return "250 Message accepted for delivery"


SUMMARY = ("ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo",
           "Subject", "Created", "Size", "Snippet")


class Api(BaseHTTPRequestHandler):
    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/livez", "/readyz"):
            self.reply(200, {"status": "ok"})
        elif path == "/api/v1/messages":
            with LOCK:
                newest_first = [
                    {k: m[k] for k in SUMMARY} for m in reversed(MESSAGES)
                ]
            self.reply(200, {
                "total": len(newest_first),
                "unread": len(newest_first),
                "count": len(newest_first),
                "messages_count": len(newest_first),
                "start": 0,
                "tags": [],
                "messages": newest_first,
            })
        elif path.startswith("/api/v1/message/"):
            wanted = path[len("/api/v1/message/"):]
            with LOCK:
                found = next((m for m in MESSAGES if m["ID"] == wanted), None)
            if found is None:
                self.reply(404, {"error": "message not found"})
            else:
                self.reply(200, found)
        else:
            self.reply(404, {"error": "not found"})

    def do_DELETE(self):
        if self.path.split("?", 1)[0] == "/api/v1/messages":
            with LOCK:
                MESSAGES.clear()
            self.reply(200, {})
        else:
            self.reply(404, {"error": "not found"})

    def log_message(self, format, *args):
        pass


def accept_any(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


def main():
    accept = truthy("MP_SMTP_AUTH_ACCEPT_ANY")
    smtp = Controller(
        Keep(),
        hostname="0.0.0.0",
        port=1025,
        server_hostname="mailpit",
        authenticator=accept_any if accept else None,
        auth_require_tls=not truthy("MP_SMTP_AUTH_ALLOW_INSECURE"),
    )
    smtp.start()
    http = ThreadingHTTPServer(("0.0.0.0", 8025), Api)
    stopped = threading.Event()

    def stop(signum, frame):
        stopped.set()
        threading.Thread(target=http.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("mailpit stand-in: SMTP on 1025, API on 8025")
    http.serve_forever()
    smtp.stop()
    http.server_close()
    print("mailpit stand-in: stopped")


if __name__ == "__main__":
    main()
