package dev.runnel.broker.impl;

import dev.runnel.broker.Delivery;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.impl.RecordTable.Entry;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A state machine's hand-out to members under lease (DESIGN.md section 4): which ready records a fetch gets, each
 * lease as its delivery and token, the token's check when an outcome comes, extensions, the leases a member holds,
 * and their giving back when the member leaves, is rebalanced away or its session expires. It keeps the leases'
 * deadline queue ({@link Leases}) and the incarnation that every token names (a seek makes a new one, so every
 * earlier token goes stale). Confined to its group's context.
 */
final class HandOut {

  private final PartitionDelivery machine;
  private final PartitionDelivery.Host host;
  private final GroupMeters meters;
  private final RecordTable table;
  private final WindowLoader loader;
  private final Leases<Entry> leases = new Leases<>();
  private long incarnation;

  HandOut(PartitionDelivery machine, PartitionDelivery.Host host, GroupMeters meters, RecordTable table,
          WindowLoader loader) {
    this.machine = machine;
    this.host = host;
    this.meters = meters;
    this.table = table;
    this.loader = loader;
    this.incarnation = newIncarnation();
  }

  private long newIncarnation() {
    return (long) (host.random() * Long.MAX_VALUE) ^ System.nanoTime();
  }

  /**
   * Hands out eligible records to a member, in offset order, within the bounds; the first may exceed
   * {@code maxBytes} only if {@code firstMayExceed} (a fetch returns at least one record).
   */
  List<Delivery> handOut(String member, int maxRecords, long maxBytes, long leaseMs, boolean firstMayExceed,
                         long[] handedBytes, int maxRetries) {
    List<Delivery> out = new ArrayList<>();
    long now = host.now();
    long bytes = 0;
    boolean needRecords = false;
    List<Entry> chosen = new ArrayList<>();
    for (Entry e : table.ready()) {
      if (chosen.size() >= maxRecords) {
        break;
      }
      if (e.notBefore > now || !table.isKeyHead(e)) {
        continue;
      }
      if (e.attempts > maxRetries) {
        continue;  // its attempts are used up: the next tick dead-letters it
      }
      if (e.record == null) {
        needRecords = true;
        continue;
      }
      int size = e.record.encodedSize();
      if ((!chosen.isEmpty() || !firstMayExceed) && bytes + size > maxBytes) {
        break;
      }
      bytes += size;
      chosen.add(e);
    }
    handedBytes[0] += bytes;
    for (Entry e : chosen) {
      table.take(e);
      e.state = e.state.to(RecordState.IN_FLIGHT);
      e.lease = leases.lease(e, member, now + leaseMs, e.lease);
      out.add(delivery(e));
      if (e.attempts == 0) {
        meters.deliveryLatency.record(Math.max(0, now - e.record.timestamp()), TimeUnit.MILLISECONDS);
      }
    }
    if (needRecords) {
      loader.loadWaitingRecords();
    }
    if (!out.isEmpty()) {
      meters.delivered.increment(out.size());
    }
    return out;
  }

  /** An in-flight entry as its delivery: the same token every time it is asked for, for as long as the lease lasts. */
  private Delivery delivery(Entry e) {
    int attempt = e.attempts + 1;
    String token = new DeliveryToken(machine.topic.id(), machine.partition, e.offset, attempt, e.lease.id(),
        incarnation, host.groupHash()).encode(host.tokenKey());
    return new Delivery(token, machine.topic.name(), machine.partition, e.offset, attempt, e.lease.deadline(),
        Values.record(e.record));
  }

  /** The entry a token leases, if the lease is current. */
  Entry current(DeliveryToken t) {
    if (machine.closed() || t.incarnation() != incarnation) {
      return null;
    }
    Entry e = table.get(t.offset());
    return e != null && e.state == RecordState.IN_FLIGHT && e.lease.id() == t.leaseId() ? e : null;
  }

  /** The entry's lease ends in an ack: acking its token again answers OK. */
  void acked(Entry e) {
    leases.acked(e.lease.id());
  }

  /** Whether the token's lease, no longer current, ended in an ack. */
  boolean wasAcked(DeliveryToken t) {
    return t.incarnation() == incarnation && leases.wasAcked(t.leaseId());
  }

  /** @param leaseMs null: the member's own lease length */
  void extend(Entry e, Long leaseMs) {
    long ms = leaseMs != null ? leaseMs : host.leaseMs(e.lease.member());
    e.lease = leases.extend(e.lease, host.now() + Math.max(1, Math.min(ms, JoinRequest.MAX_LEASE_MS)));
  }

  /** The entry is no longer in flight: its lease leaves the deadline queue. */
  void endLease(Entry e) {
    if (e.state == RecordState.IN_FLIGHT && e.lease != null) {
      leases.end(e.lease);
    }
  }

  /** An entry whose lease ran out at {@code now}, out of the deadline queue; null when none. */
  Entry expired(long now) {
    return leases.pollDue(now);
  }

  /** A seek: every lease ends and every token handed out so far goes stale. */
  void renew() {
    incarnation = newIncarnation();
    leases.clear();
  }

  /** A stop: every lease ends. */
  void clear() {
    leases.clear();
  }

  /** The member's deliveries still under lease here, by offset. */
  List<Delivery> leasedTo(String member) {
    List<Delivery> out = new ArrayList<>();
    for (Entry e : table.leasedTo(member)) {
      if (e.record != null) {
        out.add(delivery(e));
      }
    }
    return out;
  }

  /**
   * Gives back a member's leases (every member's: null): on leave or rebalance without counting an attempt; on
   * session expiry as a failure.
   */
  void release(String member, boolean countAttempt) {
    List<Entry> held = table.leasedTo(member);
    for (Entry e : held) {
      if (countAttempt) {
        meters.leaseExpired.increment();
        machine.failed(e, "session of member " + e.lease.member() + " expired", null);
      } else {
        machine.toReady(e);
      }
    }
    if (!held.isEmpty()) {
      host.deliverable();
    }
  }

  /**
   * Gives back what a leaving member held, with no attempt counted, except where its lease says the leave counts one
   * ({@link Leases.Lease#leaveCountsAttempt}: a link-bound member, and a record given back for free
   * {@code maxFreeReleases} times already): that one counts an attempt, as a failure (DESIGN.md section 7: a message
   * that crashes its consumer is dead-lettered in the end).
   *
   * @param maxFreeReleases the member's allowance ({@link Leases#OWN_MEMBER} for a member of its own)
   */
  void releaseOnLeave(String member, int maxFreeReleases) {
    List<Entry> held = table.leasedTo(member);
    for (Entry e : held) {
      if (e.lease.leaveCountsAttempt(maxFreeReleases)) {
        machine.failed(e, "its consumer left without settling it more than " + maxFreeReleases + " times", null);
      } else {
        e.lease = leases.releasedFree(e.lease);
        machine.toReady(e);
      }
    }
    if (!held.isEmpty()) {
      host.deliverable();
    }
  }
}
