#!/usr/bin/python3
# usage: /usr/bin/python3 send.py URL ADDRESS COUNT [--anon]
#   URL e.g. amqp://billing:secret@127.0.0.1:5672 ; ADDRESS e.g. topics/orders
import sys
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container

class Send(MessagingHandler):
    def __init__(self, url, address, count, anon):
        super().__init__(auto_settle=True)   # settle locally once the broker's outcome arrives
        self.url, self.address, self.total, self.anon = url, address, count, anon
        self.sent = self.done = 0
        self.outcomes = {}

    def on_start(self, event):
        conn = event.container.connect(self.url, allowed_mechs="PLAIN ANONYMOUS",
                                       allow_insecure_mechs=True, heartbeat=10)
        # anonymous relay: null target, address carried per message in properties.to
        event.container.create_sender(conn, None if self.anon else self.address)

    def on_sendable(self, event):                      # fires when credit arrives
        while event.sender.credit and self.sent < self.total:
            m = Message(body="hello %d" % self.sent, id="msg-%d" % self.sent,
                        annotations={"x-opt-partition-key": "k%d" % (self.sent % 3)},
                        properties={"n": self.sent}, content_type="text/plain", durable=True)
            if self.anon:
                m.address = self.address
            event.sender.send(m)                     # unsettled (at-least-once) by default
            self.sent += 1

    def _outcome(self, event, kind):
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
        if kind != "accepted":
            print(kind, event.delivery.remote.condition, file=sys.stderr)
        self.done += 1
        if self.done == self.total:
            print("outcomes:", self.outcomes)
            event.connection.close()

    def on_accepted(self, event): self._outcome(event, "accepted")
    def on_rejected(self, event): self._outcome(event, "rejected")
    def on_released(self, event): self._outcome(event, "released")   # also fires for modified

    def on_link_error(self, event):                    # refused link: detach/close with error
        print("link refused:", event.link.remote_condition, file=sys.stderr)
        event.connection.close(); sys.exit(2)

    def on_transport_error(self, event):
        print("transport error:", event.transport.condition, file=sys.stderr)

url, addr, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
Container(Send(url, addr, n, "--anon" in sys.argv)).run()
