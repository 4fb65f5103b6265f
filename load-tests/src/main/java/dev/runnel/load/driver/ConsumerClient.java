package dev.runnel.load.driver;

import java.util.concurrent.CompletionStage;

public interface ConsumerClient extends AutoCloseable {

  /** Starts receiving; records go to the sink as they arrive. */
  void start();

  /** Stops receiving and leaves the group; completes when it has. */
  CompletionStage<Void> stop();

  @Override
  default void close() {
    stop().toCompletableFuture().join();
  }
}
