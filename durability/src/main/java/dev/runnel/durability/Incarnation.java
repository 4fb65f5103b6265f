package dev.runnel.durability;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Objects;

/**
 * Who holds a lease: a stable node name and one start of it (a per-start id), so a restarted process is not its
 * predecessor. A new incarnation waits for its predecessor's leases to expire or be released like any other node,
 * unless {@code soleHolder}: the process proved that no other incarnation of its name runs (it holds the data
 * directory's OS lock, which a dead holder no longer holds and a paused one still does), and then it takes its name's
 * leases at once, bumping their epochs.
 */
public record Incarnation(String node, String id, boolean soleHolder) {

  private static final SecureRandom RANDOM = new SecureRandom();

  public Incarnation {
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(id, "id");
  }

  /** A new start of {@code node}, not proven to be its only one. */
  public static Incarnation start(String node) {
    byte[] id = new byte[8];
    RANDOM.nextBytes(id);
    return new Incarnation(node, HexFormat.of().formatHex(id), false);
  }

  /** This incarnation, proven to be its node name's only one. */
  public Incarnation asSoleHolder() {
    return new Incarnation(node, id, true);
  }

  @Override
  public String toString() {
    return node + "/" + id + (soleHolder ? " (sole holder)" : "");
  }
}
