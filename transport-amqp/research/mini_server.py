#!/usr/bin/python3
# throwaway peer used only to smoke-test send.py/recv.py syntax: accepts links, queues messages in memory,
# refuses target "topics/missing" with amqp:not-found (null terminus + close)
import collections
from proton import Condition, Message
from proton.handlers import MessagingHandler
from proton.reactor import Container
class S(MessagingHandler):
    def __init__(self): super().__init__(); self.q = collections.deque(); self.senders = []
    def on_start(self, e): e.container.listen("127.0.0.1:5679")
    def on_link_opening(self, e):
        l = e.link
        if l.is_receiver and l.remote_target.address == "topics/missing":
            # EndpointStateHandler calls link.open() right after on_link_opening, so close on the next tick
            class C:
                def on_timer_task(self, ev): l.condition = Condition("amqp:not-found", "no such topic"); l.close()
            e.container.schedule(0, C()); return
        if l.is_sender: l.source.copy(l.remote_source); self.senders.append(l)
        else: l.target.copy(l.remote_target)
    def on_message(self, e): self.q.append(e.message); self.pump()
    def on_sendable(self, e): self.pump()
    def pump(self):
        for s in self.senders:
            while s.credit and self.q: s.send(self.q.popleft())
Container(S()).run()
