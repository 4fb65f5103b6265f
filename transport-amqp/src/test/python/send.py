#!/usr/bin/python3
# A blocking python3-qpid-proton producer, run by PythonProtonInteropTest (adapted from research/send.py).
# usage: /usr/bin/python3 send.py URL TOPIC COUNT MISSING_TOPIC
# Prints one line per outcome (the test reads them):
#   accepted <n>                      COUNT messages to topics/TOPIC on a link of its own, each waited for
#   relay <state> [<condition>]       one message to TOPIC, one to MISSING_TOPIC, over the anonymous relay
#   refused <condition>               a link to topics/MISSING_TOPIC
#   done
import sys
from proton import Delivery, Message
from proton.utils import BlockingConnection, LinkDetached, SendException

url, topic, count, missing = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
STATES = {Delivery.ACCEPTED: "accepted", Delivery.REJECTED: "rejected", Delivery.RELEASED: "released",
          Delivery.MODIFIED: "modified"}

def outcome(delivery):
    state = STATES.get(delivery.remote_state, str(delivery.remote_state))
    condition = delivery.remote.condition
    return state + ("" if condition is None else " " + condition.name)

# Every wait is bounded (timeout, seconds): a server that never answers fails the script, not hangs it.
conn = BlockingConnection(url, timeout=20, heartbeat=10, allowed_mechs="PLAIN ANONYMOUS",
                          allow_insecure_mechs=True)
try:
    sender = conn.create_sender("topics/" + topic)
    for n in range(count):
        m = Message(body="hello %d" % n, id="py-%d" % n, durable=True,
                    annotations={"x-opt-partition-key": "k%d" % (n % 3)}, properties={"n": n})
        try:
            sender.send(m)   # returns once the server settled it; raises on rejected or released
            print("accepted", n, flush=True)
        except SendException as e:
            print("failed", n, e.state, flush=True)
    sender.close()

    relay = conn.create_sender(None)   # a null target: each message names its topic in 'to'
    for address in ("topics/" + topic, "topics/" + missing):
        d = relay.send(Message(body="relay to " + address, address=address), error_states=[])
        print("relay", outcome(d), flush=True)
    relay.close()

    try:
        conn.create_sender("topics/" + missing)
        print("refused nothing", flush=True)
    except LinkDetached as e:
        print("refused", e.condition, flush=True)
    print("done", flush=True)
finally:
    conn.close()
