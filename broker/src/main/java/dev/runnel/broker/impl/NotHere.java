package dev.runnel.broker.impl;

/**
 * A call reached a node that does not lead the partition or own the group (any more): the view changed, or the unit
 * is being handed to another node. Never reaches a client: the {@link ClusteredRoutes} route the call again, a
 * bounded number of times (DESIGN.md section 6's {@code NOT_LEADER} retry).
 */
final class NotHere extends RuntimeException {

  NotHere(String message) {
    super(message, null, false, false);
  }
}
