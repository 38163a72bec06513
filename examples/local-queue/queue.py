#!/usr/bin/env python3
"""A tiny work queue for Updraft's quick start (Python standard library only).

GET  /metrics      -> {"depth": N, "produced": P, "consumed": C}
POST /take         -> 200 with one item, or 204 when empty
A producer thread adds bursts of work on a schedule: BURSTS="t1:n1,t2:n2" (seconds:items).
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"depth": 0, "produced": 0, "consumed": 0}


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body=b"", ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/metrics"):
            with lock:
                self._send(200, json.dumps(state).encode())
        else:
            self._send(404)

    def do_POST(self):
        if self.path.startswith("/take"):
            with lock:
                if state["depth"] > 0:
                    state["depth"] -= 1
                    state["consumed"] += 1
                    self._send(200, b'{"item": 1}')
                    return
            self._send(204)
        else:
            self._send(404)

    def log_message(self, *args):
        pass


def produce(bursts, start):
    for at, n in bursts:
        delay = start + at - time.time()
        if delay > 0:
            time.sleep(delay)
        with lock:
            state["depth"] += n
            state["produced"] += n
        print(f"queue: +{n} items (depth {state['depth']})", flush=True)


def main():
    port = int(sys.argv[1])
    bursts = []
    for part in os.environ.get("BURSTS", "5:150,45:300").split(","):
        at, n = part.split(":")
        bursts.append((float(at), int(n)))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=produce, args=(bursts, time.time()), daemon=True).start()
    print(f"queue: listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
