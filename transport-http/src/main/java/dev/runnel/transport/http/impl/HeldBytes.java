package dev.runnel.transport.http.impl;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The request bytes the node holds at once, over all event loops: bodies being received, parsed or waiting for their
 * commit. A request reserves its declared length (a body without one: the body limit) before its body is read; one
 * that does not fit is refused at once, so memory stays bounded however many clients send at the same time.
 */
final class HeldBytes {

  private final long limit;
  private final AtomicLong held = new AtomicLong();

  HeldBytes(long limit) {
    this.limit = limit;
  }

  /** Takes {@code bytes} if they fit under the limit; a single request larger than the limit never fits. */
  boolean tryReserve(long bytes) {
    while (true) {
      long now = held.get();
      if (now + bytes > limit) {
        return false;
      }
      if (held.compareAndSet(now, now + bytes)) {
        return true;
      }
    }
  }

  void release(long bytes) {
    held.addAndGet(-bytes);
  }

  long held() {
    return held.get();
  }

  long limit() {
    return limit;
  }
}
