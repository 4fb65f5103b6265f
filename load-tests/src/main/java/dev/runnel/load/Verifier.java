package dev.runnel.load;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks, by identity, what each group received against what the system acknowledged (DESIGN.md section 9).
 *
 * <p>Every value carries (producer, key, sequence); sequences are dense per producer. The verifier keeps, per
 * producer, the acknowledged (partition, offset) of each sequence, and per group the receptions in the order they
 * arrived. Acks may come after the group already received the record, so the counts are computed at the end
 * ({@link #verify}):
 * <ul>
 *   <li>{@code lost}: per group, acknowledged records the group never received at their acknowledged partition and
 *   offset (received elsewhere counts as lost, and is described);</li>
 *   <li>{@code reordered}: per group, first receptions that come after a record of the same key with a higher
 *   acknowledged offset in the same partition (the order is the acknowledged one, not the send order); only records
 *   the system stored with their key count (webhook deliveries are stored unkeyed, and nothing orders those);</li>
 *   <li>{@code duplicates}: receptions of an identity the group had already received;</li>
 *   <li>{@code unacknowledged}: identities some group received but that were never acknowledged (stored, but the
 *   answer did not come): reported, not an error.</li>
 * </ul>
 * Thread-safe: producers record acks from their completion threads, consumers their receptions from theirs.
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
    Track t = producers[producer];
    synchronized (t) {
      t.ensure(seq);
      t.key[(int) seq] = key;
      if (!keyed) {
        t.unkeyed.set((int) seq);
      }
      t.sent = Math.max(t.sent, seq + 1);
    }
  }

  /** The system acknowledged the record at (partition, offset). */
  public void acked(int producer, long seq, int partition, long offset) {
    Track t = producers[producer];
    synchronized (t) {
      t.ensure(seq);
      t.partition[(int) seq] = partition;
      t.offset[(int) seq] = offset;
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
          if (t.offset[s] >= 0) {
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
    Map<Integer, java.util.BitSet> unacked = new HashMap<>();
    Track[] snapshot = new Track[producers.length];
    for (int p = 0; p < producers.length; p++) {
      synchronized (producers[p]) {
        snapshot[p] = producers[p].copy();
      }
    }
    for (Map.Entry<String, Receptions> e : new java.util.TreeMap<>(groups).entrySet()) {
      String group = e.getKey();
      Receptions r;
      synchronized (e.getValue()) {
        r = e.getValue().copy();
      }
      consumed += r.size;
      foreign += r.foreign;
      java.util.BitSet[] seen = new java.util.BitSet[snapshot.length];
      java.util.BitSet[] matched = new java.util.BitSet[snapshot.length];
      for (int p = 0; p < snapshot.length; p++) {
        seen[p] = new java.util.BitSet();
        matched[p] = new java.util.BitSet();
      }
      Map<Long, Long> highest = new HashMap<>();  // (key, partition) -> highest acknowledged offset received
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
        if (t.offset[s] < 0) {
          unacked.computeIfAbsent(p, x -> new java.util.BitSet()).set(s);
          continue;
        }
        if (t.partition[s] == r.partition[i] && t.offset[s] == r.offset[i]) {
          matched[p].set(s);
        } else if (problems.size() < MAX_DESCRIBED) {
          problems.add("group " + group + " received producer " + p + " seq " + s + " at " + r.partition[i] + "/"
              + r.offset[i] + ", but it was acknowledged at " + t.partition[s] + "/" + t.offset[s]);
        }
        if (t.unkeyed.get(s)) {
          continue;  // stored without a key: nothing orders it against other records (DESIGN.md section 2)
        }
        long slot = ((long) t.key[s] << 20) | t.partition[s];
        Long before = highest.get(slot);
        if (before != null && before > t.offset[s]) {
          reordered++;
          if (problems.size() < MAX_DESCRIBED) {
            problems.add("group " + group + " received key " + t.key[s] + " at acknowledged offset " + t.partition[s]
                + "/" + t.offset[s] + " after its record at offset " + before);
          }
        } else {
          highest.put(slot, t.offset[s]);
        }
      }
      for (int p = 0; p < snapshot.length; p++) {
        Track t = snapshot[p];
        for (int s = 0; s < t.sent; s++) {
          if (t.offset[s] >= 0 && !matched[p].get(s)) {
            lost++;
            if (problems.size() < MAX_DESCRIBED && !seen[p].get(s)) {
              problems.add("group " + group + " never received producer " + p + " seq " + s + " (key " + t.key[s]
                  + "), acknowledged at " + t.partition[s] + "/" + t.offset[s]);
            }
          }
        }
      }
    }
    long unacknowledged = 0;
    for (java.util.BitSet b : unacked.values()) {
      unacknowledged += b.cardinality();
    }
    long produced = 0, acked = 0;
    for (Track t : snapshot) {
      produced += t.sent;
      for (int s = 0; s < t.sent; s++) {
        if (t.offset[s] >= 0) {
          acked++;
        }
      }
    }
    return new Outcome(produced, acked, unacknowledged, consumed, lost, reordered, duplicates, foreign, problems);
  }

  /** The verifier's counts; {@code problems} describes the first lost, misplaced and reordered records. */
  public record Outcome(long produced, long acked, long unacknowledged, long consumed, long lost, long reordered,
                        long duplicates, long foreign, List<String> problems) {
  }

  /** One producer's records, indexed by sequence: key, acknowledged partition and offset (-1: not acknowledged). */
  private static final class Track {
    long sent;
    /** Sequences the system stored without a key: no order is checked for them. */
    java.util.BitSet unkeyed = new java.util.BitSet();
    int[] key = new int[1024];
    int[] partition = new int[1024];
    long[] offset = filled(1024);

    void ensure(long seq) {
      if (seq >= Integer.MAX_VALUE - 8) {
        throw new IllegalStateException("too many records for one producer");
      }
      if (seq >= offset.length) {
        int n = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(seq + 1, (long) offset.length * 2));
        key = Arrays.copyOf(key, n);
        partition = Arrays.copyOf(partition, n);
        int old = offset.length;
        offset = Arrays.copyOf(offset, n);
        Arrays.fill(offset, old, n, -1L);
      }
    }

    Track copy() {
      Track c = new Track();
      c.sent = sent;
      c.key = key.clone();
      c.unkeyed = (java.util.BitSet) unkeyed.clone();
      c.partition = partition.clone();
      c.offset = offset.clone();
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
