package dev.runnel.durability;

import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The PostgreSQL 17.6 binaries from zonky's archive: unpacked once per machine (under the temp dir, guarded by a file
 * lock, so JVMs starting together unpack them once), and run as child processes ({@code initdb}, {@code pg_ctl}),
 * under a user namespace of their own when this process is root, since Postgres refuses to run as root.
 *
 * <p>Threads: any; every method blocks (a main or worker thread, never an event loop).
 */
final class PostgresBinaries {

  private static final Logger LOG = LoggerFactory.getLogger(PostgresBinaries.class);

  private PostgresBinaries() {
  }

  /** The directory holding {@code bin/initdb}, {@code bin/pg_ctl} and {@code bin/postgres}, unpacked first if needed. */
  static Path unpack() throws IOException {
    String version = Optional.ofNullable(EmbeddedPostgres.class.getPackage().getImplementationVersion()).orElse("dev");
    Path dir = Path.of(System.getProperty("java.io.tmpdir"), "runnel-postgres-17.6.0");
    Path ready = dir.resolve(".ready");
    if (Files.exists(ready)) {
      return dir;
    }
    Files.createDirectories(dir);
    try (FileChannel ch = FileChannel.open(dir.resolveSibling("runnel-postgres-17.6.0.lock"),
        StandardOpenOption.CREATE, StandardOpenOption.WRITE); FileLock ignored = ch.lock()) {
      if (Files.exists(ready)) {
        return dir;
      }
      LOG.info("unpacking the PostgreSQL binaries into {} (runnel {})", dir, version);
      try (InputStream archive = DefaultPostgresBinaryResolver.INSTANCE.getPgBinary("Linux", "x86_64");
           TarArchiveInputStream tar = new TarArchiveInputStream(new XZInputStream(new BufferedInputStream(archive)))) {
        TarArchiveEntry entry;
        while ((entry = tar.getNextEntry()) != null) {
          Path target = dir.resolve(entry.getName()).normalize();
          if (!target.startsWith(dir)) {
            throw new IOException("archive entry outside the target directory: " + entry.getName());
          }
          if (entry.isDirectory()) {
            Files.createDirectories(target);
          } else if (entry.isSymbolicLink()) {
            Files.createDirectories(target.getParent());
            Files.deleteIfExists(target);
            Files.createSymbolicLink(target, Path.of(entry.getLinkName()));
          } else {
            Files.createDirectories(target.getParent());
            Files.copy(tar, target, StandardCopyOption.REPLACE_EXISTING);
            if ((entry.getMode() & 0100) != 0) {
              target.toFile().setExecutable(true, false);
            }
          }
        }
      }
      Files.createFile(ready);
      return dir;
    }
  }

  /** Runs a binary to its end (at most five minutes); fails with its output when it exits non-zero. */
  static void run(List<String> args) {
    List<String> command = new ArrayList<>();
    if (isRoot()) {
      // Postgres refuses to run as root; a user namespace of our own gives it an unprivileged identity (as zonky does).
      command.addAll(List.of("unshare", "-U"));
    }
    command.addAll(args);
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IllegalStateException("timed out: " + String.join(" ", args));
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException(args.get(0) + " failed (" + p.exitValue() + "): " + out.trim());
      }
      LOG.debug("{}: {}", args.get(0), out.trim());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private static boolean isRoot() {
    return "root".equals(System.getProperty("user.name"));
  }
}
