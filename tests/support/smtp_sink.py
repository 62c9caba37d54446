"""A local SMTP sink for tests: listens on 127.0.0.1 (a free port), speaks just enough SMTP for
smtplib, and keeps each message it is sent. Nothing leaves the machine."""

from __future__ import annotations

import socketserver
import threading


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[str] = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write((line + "\r\n").encode())
                self.wfile.flush()

            def handle(self) -> None:
                self.reply("220 sink ready")
                data: list[str] | None = None
                while line := self.rfile.readline():
                    text = line.decode(errors="replace").rstrip("\r\n")
                    if data is not None:  # message body until a lone dot
                        if text == ".":
                            sink.messages.append("\n".join(data))
                            data = None
                            self.reply("250 queued")
                        else:
                            data.append(text[1:] if text.startswith("..") else text)
                        continue
                    verb = text.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 sink")
                    elif verb == "DATA":
                        data = []
                        self.reply("354 end with a lone dot")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
