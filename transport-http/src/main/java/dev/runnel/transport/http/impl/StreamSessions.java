package dev.runnel.transport.http.impl;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * What this node sent each member's SSE streams, across reconnects and event loops: a per-member event sequence and
 * the sequence each still-leased delivery was sent with, so a reconnect with {@code Last-Event-ID} sends again only
 * what came after. A member's record outlives its streams by the longest lease (10 minutes), after which nothing it
 * was sent can still be settled, and is then forgotten. Thread-safe: streams of one member may run on any event loop.
 */
final class StreamSessions {

  /** The longest lease (JoinRequest.MAX_LEASE_MS): past it, nothing a closed stream sent is still leased. */
  static final long KEEP_CLOSED_MS = 600_000;

  private final Map<String, Session> sessions = new HashMap<>();

  /** The member's session, created on first use; sessions closed longer than {@link #KEEP_CLOSED_MS} are dropped. */
  synchronized Session of(String group, String member) {
    long now = System.currentTimeMillis();
    for (Iterator<Session> it = sessions.values().iterator(); it.hasNext(); ) {
      Session s = it.next();
      if (s.open == 0 && now - s.closedAt > KEEP_CLOSED_MS) {
        it.remove();
      }
    }
    Session s = sessions.computeIfAbsent(group + "/" + member, k -> new Session());
    synchronized (s) {
      s.open++;
    }
    return s;
  }

  synchronized int size() {
    return sessions.size();
  }

  static final class Session {
    private long nextSequence = 1;
    private final Map<String, Long> sequences = new LinkedHashMap<>();
    private int open;
    private long closedAt;

    /** Records a delivery sent now; answers its event id. */
    synchronized long sent(String token) {
      long seq = nextSequence++;
      sequences.put(token, seq);
      return seq;
    }

    /** The event id a delivery was sent with, or -1. */
    synchronized long sequenceOf(String token) {
      return sequences.getOrDefault(token, -1L);
    }

    synchronized int size() {
      return sequences.size();
    }

    /** Forgets every delivery but these (the ones still leased). */
    synchronized void retain(Collection<String> tokens) {
      Set<String> keep = new HashSet<>(tokens);
      sequences.keySet().retainAll(keep);
    }

    synchronized void closed() {
      open--;
      closedAt = System.currentTimeMillis();
    }
  }
}
