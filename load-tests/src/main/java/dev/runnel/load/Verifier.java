package dev.runnel.load;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Checks, by identity, what each group received against what the system acknowledged (DESIGN.md section 9).
 *
 * <p>Every value carries (producer, key, sequence); sequences are dense per producer. The verifier keeps, per
 * producer, the acknowledged (partition, offset) of each sequence, when it was sent and when acknowledged, and per
 * group the receptions in the order they arrived. Acks may come after the group already received the record, so the
 * counts are computed at the end ({@link #verify}):
 * <ul>
 *   <li>{@code lost}: per group, acknowledged records the group never received at their acknowledged partition and
 *   offset (received elsewhere counts as lost, and is described);</li>
 *   <li>{@code reordered}: per group, first receptions that come after a record of the same key with a higher
 *   acknowledged offset in the same partition (the order is the acknowledged one, not the send order), or after a
 *   record of the same key and partition that was sent only once this one had been acknowledged (a record
 *   acknowledged before another of its key was sent must come first); only records the system stored with their key
 *   count (webhook deliveries are stored unkeyed, and nothing orders those);</li>
 *   <li>{@code duplicates}: receptions of an identity the group had already received;</li>
 *   <li>{@code unacknowledged}: identities some group received but that were never acknowledged (stored, but the
 *   answer did not come): reported, not an error.</li>
 * </ul>
 *
 * <p>Records acknowledged without a position ({@link #ackedWithoutPosition}: AMQP's {@code accepted} names none) are
 * placed where the groups received them: the first reception of the identity, over the groups in name order, gives
 * its position, and every other group must receive it there. Loss is then an acknowledged identity a group never
 * received (or received elsewhere); order is checked against those positions and against the send and acknowledgement
 * times as above. For every acknowledged record, placed by the system or by a reception, two identities at one
 * position are misplaced: all but the first (by producer and sequence) count as lost in every group.
 *
 * <p>Thread-safe: producers record acks from their completion threads, consumers their receptions from theirs.
 */
public final class Verifier {

  /** How many lost, misplaced or reordered records {@link Outcome#problems} describes. */
  static final int MAX_DESCRIBED = 10;

  private final int run;
  private final Track[] producers;
  private final Map<String, Receptions> groups = new HashMap<>();

  public Verifier(int run, int producerCount, List<String> groupNames) {
    this.run = run;
    producers = new Track[producerCount];
    for (int i = 0; i < producerCount; i++) {
      producers[i] = new Track();
    }
    for (String g : groupNames) {
      groups.put(g, new Receptions());
    }
  }

  /** The producer sent (or is about to send) its record {@code seq} of key {@code key}. */
  public void sent(int producer, long seq, int key) {
    sent(producer, seq, key, true);
  }

  /**
   * The producer sent (or is about to send) its record {@code seq}, chosen for key {@code key} (carried in its value);
   * {@code keyed} false: the system stores it without that key (a webhook delivery), so no order is checked for it.
   */
  public void sent(int producer, long seq, int key, boolean keyed) {
    sent(producer, seq, key, keyed, System.nanoTime());
  }

  /** As {@link #sent(int, long, int, boolean)}, at {@code atNanos} ({@code System.nanoTime()}, before the send). */
  public void sent(int producer, long seq, int key, boolean keyed, long atNanos) {
    Track t = producers[producer];
    synchronized (t) {
      t.ensure(seq);
      t.key[(int) seq] = key;
      t.sentAt[(int) seq] = atNanos;
      if (!keyed) {
        t.unkeyed.set((int) seq);
      }
      t.sent = Math.max(t.sent, seq + 1);
    }
  }

  /** The system acknowledged the record at (partition, offset). */
  public void acked(int producer, long seq, int partition, long offset) {
    acked(producer, seq, partition, offset, System.nanoTime());
  }

  /** As {@link #acked(int, long, int, long)}, at {@code atNanos} ({@code System.nanoTime()}, after the answer). */
  public void acked(int producer, long seq, int partition, long offset, long atNanos) {
    if (partition < 0 || offset < 0) {
      throw new IllegalArgumentException("an acknowledged position is never negative: " + partition + "/" + offset);
    }
    Track t = producers[producer];
    synchronized (t) {
      t.ensure(seq);
      t.partition[(int) seq] = partition;
      t.offset[(int) seq] = offset;
      t.unplaced.clear((int) seq);
      t.ackedAt[(int) seq] = atNanos;
    }
  }

  /** The system acknowledged the record without saying where it stored it: the groups' receptions will place it. */
  public void ackedWithoutPosition(int producer, long seq) {
    ackedWithoutPosition(producer, seq, System.nanoTime());
  }

  /** As {@link #ackedWithoutPosition(int, long)}, at {@code atNanos} ({@code System.nanoTime()}, after the answer). */
  public void ackedWithoutPosition(int producer, long seq, long atNanos) {
    Track t = producers[producer];
    synchronized (t) {
      t.ensure(seq);
      if (t.offset[(int) seq] < 0) {
        t.unplaced.set((int) seq);
      }
      t.ackedAt[(int) seq] = atNanos;
    }
  }

  /** A group received a value at (partition, offset); answers false when the value is not one of this run's. */
  public boolean received(String group, byte[] value, int partition, long offset) {
    Identity id = ValueCodec.decode(value);
    if (id == null || id.run() != run || id.producer() < 0 || id.producer() >= producers.length) {
      Receptions r = groups.get(group);
      synchronized (r) {
        r.foreign++;
      }
      return false;
    }
    received(group, id.producer(), id.sequence(), partition, offset);
    return true;
  }

  /** A group received this identity at (partition, offset). */
  public void received(String group, int producer, long seq, int partition, long offset) {
    Receptions r = groups.get(group);
    synchronized (r) {
      r.add(producer, seq, partition, offset);
    }
  }

  public long acked() {
    long n = 0;
    for (Track t : producers) {
      synchronized (t) {
        for (int s = 0; s < t.sent; s++) {
          if (t.acked(s)) {
            n++;
          }
        }
      }
    }
    return n;
  }

  public long produced() {
    long n = 0;
    for (Track t : producers) {
      synchronized (t) {
        n += t.sent;
      }
    }
    return n;
  }

  /** Receptions of this run's records so far, over all groups (duplicates included). */
  public long consumed() {
    long n = 0;
    for (Receptions r : groups.values()) {
      synchronized (r) {
        n += r.size;
      }
    }
    return n;
  }

  /** Whether every group has received every acknowledged record at least once (cheap enough for a drain loop). */
  public boolean complete() {
    long acked = acked();
    for (Receptions r : groups.values()) {
      long distinct;
      synchronized (r) {
        distinct = r.size;
      }
      if (distinct < acked) {
        return false;
      }
    }
    return verify().lost() == 0;
  }

  /** The counts, computed from everything recorded so far. */
  public synchronized Outcome verify() {
    long lost = 0, reordered = 0, duplicates = 0, consumed = 0, foreign = 0;
    List<String> problems = new ArrayList<>();
    // Identities some group received that were never acknowledged: one bit per (producer, seq) over all groups.
    Map<Integer, BitSet> unacked = new HashMap<>();
    Track[] snapshot = new Track[producers.length];
    for (int p = 0; p < producers.length; p++) {
      synchronized (producers[p]) {
        snapshot[p] = producers[p].copy();
      }
    }
    Map<String, Receptions> received = new TreeMap<>();
    for (Map.Entry<String, Receptions> e : groups.entrySet()) {
      synchronized (e.getValue()) {
        received.put(e.getKey(), e.getValue().copy());
      }
    }
    BitSet[] placed = place(snapshot, received);
    BitSet[] misplaced = misplaced(snapshot, placed, problems);
    for (Map.Entry<String, Receptions> e : received.entrySet()) {
      String group = e.getKey();
      Receptions r = e.getValue();
      consumed += r.size;
      foreign += r.foreign;
      BitSet[] seen = new BitSet[snapshot.length];
      BitSet[] matched = new BitSet[snapshot.length];
      for (int p = 0; p < snapshot.length; p++) {
        seen[p] = new BitSet();
        matched[p] = new BitSet();
      }
      Map<Long, Long> highest = new HashMap<>();  // (key, partition) -> highest acknowledged offset received
      Map<Long, long[]> lastSent = new HashMap<>();  // (key, partition) -> the latest send received: {at, producer, seq}
      for (int i = 0; i < r.size; i++) {
        int p = r.producer[i];
        long seq = r.seq[i];
        Track t = snapshot[p];
        if (seq >= t.sent) {
          foreign++;  // this run's header but never sent: not ours to judge
          continue;
        }
        int s = (int) seq;
        if (seen[p].get(s)) {
          duplicates++;
          continue;
        }
        seen[p].set(s);
        if (!t.acked(s)) {
          unacked.computeIfAbsent(p, x -> new BitSet()).set(s);
          continue;
        }
        if (t.partition[s] == r.partition[i] && t.offset[s] == r.offset[i] && !misplaced[p].get(s)) {
          matched[p].set(s);
        } else if (problems.size() < MAX_DESCRIBED && !misplaced[p].get(s)) {
          problems.add("group " + group + " received producer " + p + " seq " + s + " at " + r.partition[i] + "/"
              + r.offset[i] + ", but it was " + (t.unplaced.get(s) ? "first received" : "acknowledged") + " at "
              + t.partition[s] + "/" + t.offset[s]);
        }
        if (t.unkeyed.get(s)) {
          continue;  // stored without a key: nothing orders it against other records (DESIGN.md section 2)
        }
        long slot = ((long) t.key[s] << 20) | (t.partition[s] & 0xFFFFF);
        Long before = highest.get(slot);
        long[] later = lastSent.get(slot);
        boolean afterHigher = before != null && before > t.offset[s];
        boolean afterSentLater = later != null && later[0] > t.ackedAt[s];
        if (afterHigher || afterSentLater) {
          reordered++;
          if (problems.size() < MAX_DESCRIBED) {
            problems.add(afterHigher
                ? "group " + group + " received key " + t.key[s] + " at " + (t.unplaced.get(s) ? "" : "acknowledged ")
                    + "offset " + t.partition[s] + "/" + t.offset[s] + " after its record at offset " + before
                : "group " + group + " received key " + t.key[s] + "'s producer " + p + " seq " + s + " (offset "
                    + t.partition[s] + "/" + t.offset[s] + ") after producer " + later[1] + " seq " + later[2]
                    + ", which was sent only after this one was acknowledged");
          }
        }
        if (!afterHigher) {
          highest.put(slot, t.offset[s]);
        }
        if (later == null || later[0] < t.sentAt[s]) {
          lastSent.put(slot, new long[] {t.sentAt[s], p, s});
        }
      }
      for (int p = 0; p < snapshot.length; p++) {
        Track t = snapshot[p];
        for (int s = 0; s < t.sent; s++) {
          if (t.acked(s) && !matched[p].get(s)) {
            lost++;
            if (problems.size() < MAX_DESCRIBED && !seen[p].get(s)) {
              problems.add("group " + group + " never received producer " + p + " seq " + s + " (key " + t.key[s]
                  + "), acknowledged " + (t.unplaced.get(s) ? "(without a position)"
                  : "at " + t.partition[s] + "/" + t.offset[s]));
            }
          }
        }
      }
    }
    long unacknowledged = 0;
    for (BitSet b : unacked.values()) {
      unacknowledged += b.cardinality();
    }
    long produced = 0, acked = 0;
    for (Track t : snapshot) {
      produced += t.sent;
      for (int s = 0; s < t.sent; s++) {
        if (t.acked(s)) {
          acked++;
        }
      }
    }
    return new Outcome(produced, acked, unacknowledged, consumed, lost, reordered, duplicates, foreign, problems);
  }

  /**
   * Gives each record acknowledged without a position the position of its first reception, over the groups in name
   * order (in the snapshot only; {@code unplaced} stays set so the problems can say so).
   */
  private static BitSet[] place(Track[] snapshot, Map<String, Receptions> received) {
    BitSet[] placed = new BitSet[snapshot.length];
    for (int p = 0; p < snapshot.length; p++) {
      placed[p] = new BitSet();
    }
    for (Receptions r : received.values()) {
      for (int i = 0; i < r.size; i++) {
        int p = r.producer[i];
        Track t = snapshot[p];
        if (r.seq[i] >= t.sent) {
          continue;
        }
        int s = (int) r.seq[i];
        if (t.unplaced.get(s) && !placed[p].get(s)) {
          placed[p].set(s);
          t.partition[s] = r.partition[i];
          t.offset[s] = r.offset[i];
        }
      }
    }
    return placed;
  }

  /**
   * Acknowledged records that share their position with another acknowledged record (all but the first by producer
   * and sequence), or whose position cannot be one (a reception without partition or offset): a system that stored
   * or labelled two records as one, which no reception can tell apart otherwise.
   */
  private static BitSet[] misplaced(Track[] snapshot, BitSet[] placed, List<String> problems) {
    BitSet[] misplaced = new BitSet[snapshot.length];
    int n = 0;
    for (int p = 0; p < snapshot.length; p++) {
      misplaced[p] = new BitSet();
      Track t = snapshot[p];
      for (int s = 0; s < t.sent; s++) {
        if (t.acked(s) && (!t.unplaced.get(s) || placed[p].get(s))) {
          n++;
        }
      }
    }
    long[] positions = new long[n];
    n = 0;
    for (int p = 0; p < snapshot.length; p++) {
      Track t = snapshot[p];
      for (int s = 0; s < t.sent; s++) {
        if (!t.acked(s) || (t.unplaced.get(s) && !placed[p].get(s))) {
          continue;  // never received, when acknowledged without a position: lost, said below
        }
        if (t.partition[s] < 0 || t.partition[s] >= (1 << 23) || t.offset[s] >= (1L << 40)) {
          misplaced[p].set(s);
          if (problems.size() < MAX_DESCRIBED) {
            problems.add("producer " + p + " seq " + s + " was received at " + t.partition[s] + "/" + t.offset[s]
                + ", which is no position");
          }
          continue;
        }
        positions[n++] = position(t.partition[s], t.offset[s]);
      }
    }
    long[] sorted = Arrays.copyOf(positions, n);
    Arrays.sort(sorted);
    java.util.Set<Long> shared = new java.util.HashSet<>();
    for (int i = 1; i < sorted.length; i++) {
      if (sorted[i] == sorted[i - 1]) {
        shared.add(sorted[i]);
      }
    }
    if (shared.isEmpty()) {
      return misplaced;
    }
    Map<Long, String> first = new HashMap<>();
    for (int p = 0; p < snapshot.length; p++) {
      Track t = snapshot[p];
      for (int s = 0; s < t.sent; s++) {
        if (!t.acked(s) || (t.unplaced.get(s) && !placed[p].get(s)) || misplaced[p].get(s)) {
          continue;
        }
        long at = position(t.partition[s], t.offset[s]);
        if (!shared.contains(at)) {
          continue;
        }
        String who = "producer " + p + " seq " + s;
        String holder = first.putIfAbsent(at, who);
        if (holder != null) {
          misplaced[p].set(s);
          if (problems.size() < MAX_DESCRIBED) {
            problems.add(who + " and " + holder + " are both at " + t.partition[s] + "/" + t.offset[s] + " ("
                + (t.unplaced.get(s) ? "as received" : "as acknowledged") + "): " + who + " counts as lost");
          }
        }
      }
    }
    return misplaced;
  }

  private static long position(int partition, long offset) {
    return ((long) partition << 40) | offset;
  }

  /** The verifier's counts; {@code problems} describes the first lost, misplaced and reordered records. */
  public record Outcome(long produced, long acked, long unacknowledged, long consumed, long lost, long reordered,
                        long duplicates, long foreign, List<String> problems) {
  }

  /**
   * One producer's records, indexed by sequence: key, acknowledged partition and offset (-1: not acknowledged, or
   * acknowledged without a position, then {@code unplaced}), send and acknowledgement times.
   */
  private static final class Track {
    long sent;
    /** Sequences the system stored without a key: no order is checked for them. */
    BitSet unkeyed = new BitSet();
    /** Sequences acknowledged without a position (their offset stays -1 until {@link #place} sets a copy's). */
    BitSet unplaced = new BitSet();
    int[] key = new int[1024];
    int[] partition = new int[1024];
    long[] offset = filled(1024);
    long[] sentAt = new long[1024];
    long[] ackedAt = new long[1024];

    boolean acked(int s) {
      return offset[s] >= 0 || unplaced.get(s);
    }

    void ensure(long seq) {
      if (seq >= Integer.MAX_VALUE - 8) {
        throw new IllegalStateException("too many records for one producer");
      }
      if (seq >= offset.length) {
        int n = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(seq + 1, (long) offset.length * 2));
        key = Arrays.copyOf(key, n);
        partition = Arrays.copyOf(partition, n);
        sentAt = Arrays.copyOf(sentAt, n);
        ackedAt = Arrays.copyOf(ackedAt, n);
        int old = offset.length;
        offset = Arrays.copyOf(offset, n);
        Arrays.fill(offset, old, n, -1L);
      }
    }

    Track copy() {
      Track c = new Track();
      c.sent = sent;
      c.key = key.clone();
      c.unkeyed = (BitSet) unkeyed.clone();
      c.unplaced = (BitSet) unplaced.clone();
      c.partition = partition.clone();
      c.offset = offset.clone();
      c.sentAt = sentAt.clone();
      c.ackedAt = ackedAt.clone();
      return c;
    }

    private static long[] filled(int n) {
      long[] a = new long[n];
      Arrays.fill(a, -1L);
      return a;
    }
  }

  /** One group's receptions in arrival order. */
  private static final class Receptions {
    int size;
    long foreign;
    int[] producer = new int[1024];
    long[] seq = new long[1024];
    int[] partition = new int[1024];
    long[] offset = new long[1024];

    void add(int p, long s, int part, long off) {
      if (size == seq.length) {
        int n = size * 2;
        producer = Arrays.copyOf(producer, n);
        seq = Arrays.copyOf(seq, n);
        partition = Arrays.copyOf(partition, n);
        offset = Arrays.copyOf(offset, n);
      }
      producer[size] = p;
      seq[size] = s;
      partition[size] = part;
      offset[size] = off;
      size++;
    }

    Receptions copy() {
      Receptions c = new Receptions();
      c.size = size;
      c.foreign = foreign;
      c.producer = Arrays.copyOf(producer, size);
      c.seq = Arrays.copyOf(seq, size);
      c.partition = Arrays.copyOf(partition, size);
      c.offset = Arrays.copyOf(offset, size);
      return c;
    }
  }
}
