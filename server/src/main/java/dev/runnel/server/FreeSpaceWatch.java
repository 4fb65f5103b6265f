package dev.runnel.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Watches the free space of the file system under the data dir, once a second on its own thread, so the embedded
 * Postgres is never driven to a full disk (where it PANICs): under {@code storage.minFreeBytes} {@link #problem()}
 * answers why, the store refuses appends with it and readiness fails; consumers, acks and reads go on.
 */
final class FreeSpaceWatch implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(FreeSpaceWatch.class);

  private final Path dataDir;
  private final long minFreeBytes;
  private final FileStore fileStore;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "runnel-free-space");
    t.setDaemon(true);
    return t;
  });
  private volatile String problem;

  FreeSpaceWatch(Path dataDir, long minFreeBytes) {
    this.dataDir = dataDir;
    this.minFreeBytes = minFreeBytes;
    try {
      Files.createDirectories(dataDir);
      this.fileStore = Files.getFileStore(dataDir);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot watch the free space under " + dataDir, e);
    }
    check();
    timer.scheduleWithFixedDelay(this::check, 1, 1, TimeUnit.SECONDS);
  }

  /** Why produces are refused now, or null. */
  String problem() {
    return problem;
  }

  private void check() {
    long free;
    try {
      free = fileStore.getUsableSpace();
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not read the free space under {}: {}", dataDir, e.getMessage());
      return;
    }
    String now = free >= minFreeBytes ? null : "only " + mib(free) + " free under " + dataDir
        + " (storage.minFreeBytes is " + mib(minFreeBytes) + "): produces are refused until space is freed";
    if (now != null && problem == null) {
      LOG.error("{}", now);
    } else if (now == null && problem != null) {
      LOG.warn("free space under {} is back above storage.minFreeBytes: produces are accepted again", dataDir);
    }
    problem = now;
  }

  private static String mib(long bytes) {
    return (bytes >> 20) + " MiB";
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
