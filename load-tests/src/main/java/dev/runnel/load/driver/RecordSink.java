package dev.runnel.load.driver;

/** Receives what a consumer got. Called from the consumer's own thread; must be quick and thread-safe. */
@FunctionalInterface
public interface RecordSink {

  /** @param receivedNanos {@code System.nanoTime()} when it arrived */
  void received(String key, byte[] value, int partition, long offset, long receivedNanos);
}
