#!/usr/bin/env python3
"""A quick-start worker: takes items from the queue and "processes" each in 0.2 s."""
import os
import signal
import sys
import time
import urllib.request

url = os.environ["QUEUE_URL"] + "/take"
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
done = 0
while not stop:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=2) as r:
            if r.status == 200:
                time.sleep(0.2)  # the work
                done += 1
                continue
    except OSError:
        pass
    time.sleep(0.5)  # empty queue or queue unreachable
print(f"worker: processed {done} items, exiting on SIGTERM", flush=True)
sys.exit(0)
