package dev.runnel.durability;

/**
 * A lease could not be taken because another holds it: UNAVAILABLE, naming the holder's node (a group's owner that
 * drains for a hand-over still accepts outcomes there; DESIGN.md section 6).
 */
public final class HeldElsewhere extends StorageException {

  private final String holder;

  public HeldElsewhere(String holder, String message) {
    super(StorageFailure.UNAVAILABLE, message);
    this.holder = holder;
  }

  /** The holder's stable node name; null when the row names none. */
  public String holder() {
    return holder;
  }
}
