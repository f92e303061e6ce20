#!/usr/bin/env python3
"""A tiny smart-HTTP git server for the lettuce-git-generic tests.

Bridges HTTP requests to `git http-backend` (CGI) using only the standard
library. Repositories live under --root; every path below /private/ requires
HTTP basic auth with --user/--password, everything else is public.

Binds 127.0.0.1 on a free port and prints `READY <port>` on stdout.
"""

import argparse
import base64
import http.server
import os
import subprocess
import sys


def make_handler(root, user, password):
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep test output quiet
            pass

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    line = self.rfile.readline().strip()
                    size = int(line.split(b";")[0], 16)
                    if size == 0:
                        # trailers until the empty line
                        while self.rfile.readline().strip():
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # CRLF after each chunk
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def reply(self, status, headers, body):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_git(self, method):
            body = self.read_body() if method == "POST" else b""
            path, _, query = self.path.partition("?")
            remote_user = ""
            if path.startswith("/private/"):
                if self.headers.get("Authorization") != expected:
                    self.reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"authentication required\n")
                    return
                remote_user = user
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", "/tmp"),
                "GIT_PROJECT_ROOT": root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "REQUEST_METHOD": method,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": remote_user,
                "REMOTE_ADDR": self.client_address[0],
                "SERVER_PROTOCOL": "HTTP/1.1",
                "GATEWAY_INTERFACE": "CGI/1.1",
            }
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
            out = proc.stdout
            head, sep, payload = out.partition(b"\r\n\r\n")
            if not sep:
                head, sep, payload = out.partition(b"\n\n")
            status = 200
            headers = []
            for line in head.decode("latin-1").splitlines():
                if not line.strip():
                    continue
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                else:
                    headers.append((name.strip(), value.strip()))
            if proc.returncode != 0 and not out:
                status, payload = 500, proc.stderr
            self.reply(status, headers, payload)

        def do_GET(self):
            self.handle_git("GET")

        def do_POST(self):
            self.handle_git("POST")

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args.root, args.user, args.password))
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
