#!/usr/bin/python3
# A blocking python3-qpid-proton consumer, run by PythonProtonInteropTest (adapted from research/recv.py).
# usage: /usr/bin/python3 recv.py URL SOURCE COUNT REJECT_N
# Receives COUNT messages from SOURCE (topics/<topic>/groups/<group>), rejects the one whose property n is REJECT_N,
# accepts the others, and prints one JSON line per message, then "done".
import json
import sys
from proton.utils import BlockingConnection

url, source, count, reject = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conn = BlockingConnection(url, timeout=20, heartbeat=10, allowed_mechs="PLAIN ANONYMOUS",
                          allow_insecure_mechs=True)
try:
    receiver = conn.create_receiver(source, credit=5)
    for _ in range(count):
        m = receiver.receive(timeout=20)
        n = (m.properties or {}).get("n", -1)   # -1: a message without the property
        annotations = {str(k): v for k, v in (m.annotations or {}).items()}
        print(json.dumps({"n": n, "body": m.body, "id": m.id, "key": annotations.get("x-opt-partition-key"),
                          "partition": annotations.get("x-opt-partition-id"),
                          "offset": annotations.get("x-opt-sequence-number"),
                          "deliveryCount": m.delivery_count, "durable": m.durable,
                          "outcome": "rejected" if n == reject else "accepted"}), flush=True)
        if n == reject:
            receiver.reject()
        else:
            receiver.accept()
    receiver.close()
    print("done", flush=True)
finally:
    conn.close()
