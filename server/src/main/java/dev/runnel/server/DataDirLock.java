package dev.runnel.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The OS lock on a node's data directory ({@code runnel.lock} in it), held for as long as the node runs. The OS frees
 * it when its holder dies (a kill -9 included) and not while the holder is merely paused, so holding it proves that no
 * earlier incarnation of this directory's node still runs: the node may take its own name's leases at once
 * ({@code Incarnation.soleHolder}). A second process on the same directory refuses to start, before it touches the
 * embedded Postgres the first one runs.
 */
final class DataDirLock implements AutoCloseable {

  private final FileChannel channel;
  private final FileLock lock;

  private DataDirLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  /** Takes the lock or fails saying who holds it. */
  static DataDirLock take(Path dataDir) {
    Path file = dataDir.resolve("runnel.lock");
    FileChannel channel = null;
    try {
      Files.createDirectories(dataDir);
      channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = channel.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null;  // held by this very process (another node in the same JVM)
      }
      if (lock == null) {
        channel.close();
        throw new IllegalStateException("another Runnel process runs on the data directory " + dataDir + " (it holds "
            + file + "); stop it first, or give this node a data directory of its own");
      }
      return new DataDirLock(channel, lock);
    } catch (IOException e) {
      closeQuietly(channel);
      throw new UncheckedIOException("cannot lock " + file, e);
    }
  }

  @Override
  public void close() {
    try {
      lock.release();
    } catch (IOException ignored) {
      // closing the channel below releases it too
    }
    closeQuietly(channel);
  }

  private static void closeQuietly(FileChannel channel) {
    if (channel != null) {
      try {
        channel.close();
      } catch (IOException ignored) {
        // nothing left to release
      }
    }
  }
}
