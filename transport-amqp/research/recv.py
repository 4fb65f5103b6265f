#!/usr/bin/python3
# usage: /usr/bin/python3 recv.py URL SOURCE COUNT   e.g. SOURCE topics/orders/groups/g1
import sys
from proton import Delivery
from proton.handlers import MessagingHandler
from proton.reactor import Container

class Recv(MessagingHandler):
    def __init__(self, url, source, count):
        # prefetch=0: no automatic credit; auto_accept=False: settle explicitly
        super().__init__(prefetch=0, auto_accept=False)
        self.url, self.source, self.total, self.got = url, source, count, 0

    def on_start(self, event):
        conn = event.container.connect(self.url, allowed_mechs="PLAIN ANONYMOUS",
                                       allow_insecure_mechs=True, heartbeat=10)
        self.receiver = event.container.create_receiver(conn, self.source)
        self.receiver.flow(min(10, self.total))           # explicit credit

    def on_message(self, event):
        d, m = event.delivery, event.message
        print(self.got, m.id, m.annotations, m.properties, m.body)
        if self.got % 5 == 4:
            d.local.failed = True                     # modified{delivery-failed=true} = nack
            d.update(Delivery.MODIFIED); d.settle()
        else:
            self.accept(d)                            # = d.update(Delivery.ACCEPTED); d.settle()
        self.got += 1
        if self.got >= self.total:
            event.receiver.close(); event.connection.close()
        elif event.receiver.credit == 0:
            event.receiver.flow(min(10, self.total - self.got))

    def on_link_error(self, event):
        print("link refused:", event.link.remote_condition, file=sys.stderr)
        event.connection.close(); sys.exit(2)

Container(Recv(sys.argv[1], sys.argv[2], int(sys.argv[3]))).run()
