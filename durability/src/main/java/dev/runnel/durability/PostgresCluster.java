package dev.runnel.durability;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The PostgreSQL cluster under a node's data directory and its server: made once with {@code initdb} (the role
 * {@link EmbeddedPostgres#USER}, scram-sha-256 with a generated password kept beside it, UTF-8, made in a scratch
 * directory and renamed, so a crash never leaves half a cluster), and its server started and stopped with
 * {@code pg_ctl}: loopback only, no Unix-domain socket, fsync, synchronous_commit and full_page_writes on.
 *
 * <p>Threads: any; every method blocks (a main or worker thread, never an event loop).
 */
final class PostgresCluster {

  private static final Logger LOG = LoggerFactory.getLogger(PostgresCluster.class);
  private static final Duration START_TIMEOUT = Duration.ofSeconds(120);

  private final Path binDir;
  private final Path pgData;
  private final Path logFile;
  private final int port;
  private final String password;

  private PostgresCluster(Path binDir, Path pgData, Path logFile, int port, String password) {
    this.binDir = binDir;
    this.pgData = pgData;
    this.logFile = logFile;
    this.port = port;
    this.password = password;
  }

  /**
   * The cluster under {@code dataDir}, initialised first if there is none, to be served on {@code port} (0: a free
   * one).
   */
  static PostgresCluster open(Path binDir, Path dataDir, int port) throws IOException {
    Path pgData = dataDir.resolve("postgres");
    Path passwordFile = dataDir.resolve("postgres-password");
    Path logFile = dataDir.resolve("postgres.log");
    if (!Files.exists(pgData.resolve("PG_VERSION"))) {
      initdb(binDir, pgData, passwordFile);
    }
    String password = Files.readString(passwordFile, StandardCharsets.UTF_8).trim();
    int chosenPort = port == 0 ? freePort() : port;
    return new PostgresCluster(binDir, pgData, logFile, chosenPort, password);
  }

  int port() {
    return port;
  }

  /** The role's password, as {@code initdb} was given it. */
  String password() {
    return password;
  }

  /** The server's log. */
  Path logFile() {
    return logFile;
  }

  /** Starts the server and waits until it accepts connections. */
  void start() {
    List<String> options = List.of(
        "-p " + port,
        "-c listen_addresses=127.0.0.1",
        "-c unix_socket_directories=''",
        // Durability: every one of these is checked with SHOW when the store opens.
        "-c fsync=on",
        "-c synchronous_commit=on",
        "-c full_page_writes=on",
        "-c password_encryption=scram-sha-256",
        "-c max_connections=100",
        "-c shared_buffers=256MB",
        "-c max_wal_size=2GB",
        "-c timezone=UTC");
    PostgresBinaries.run(List.of(binDir.resolve("bin/pg_ctl").toString(), "-D", pgData.toString(), "-l",
        logFile.toString(), "-w", "-t", Long.toString(START_TIMEOUT.toSeconds()), "-o", String.join(" ", options),
        "start"));
    LOG.info("embedded PostgreSQL started on 127.0.0.1:{} with data in {}", port, pgData);
  }

  /** Stops the server with a fast shutdown (clients disconnected, everything committed kept, a clean checkpoint). */
  void stop() {
    PostgresBinaries.run(List.of(binDir.resolve("bin/pg_ctl").toString(), "-D", pgData.toString(), "-m", "fast", "-w",
        "-t", "60", "stop"));
  }

  /** A postmaster that outlived a kill -9 of the JVM still holds the data directory; stop it cleanly. */
  void stopLeftover() throws IOException {
    Path pidFile = pgData.resolve("postmaster.pid");
    if (!Files.exists(pidFile)) {
      return;
    }
    List<String> lines = Files.readAllLines(pidFile);
    long pid = lines.isEmpty() ? -1 : Long.parseLong(lines.get(0).trim());
    Optional<ProcessHandle> process = ProcessHandle.of(pid);
    if (process.isPresent() && process.get().isAlive()) {
      LOG.warn("a PostgreSQL server (pid {}) is still running on {}; stopping it before starting our own", pid, pgData);
      stop();
    }
  }

  /** The running postmaster's pid, from its lock file. */
  long postmasterPid() {
    try {
      return Long.parseLong(Files.readAllLines(pgData.resolve("postmaster.pid")).get(0).trim());
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("cannot read the postmaster's pid from " + pgData.resolve("postmaster.pid"), e);
    }
  }

  private static void initdb(Path binDir, Path pgData, Path passwordFile) throws IOException {
    Files.createDirectories(pgData.getParent());
    byte[] secret = new byte[24];
    new SecureRandom().nextBytes(secret);
    String password = Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    Path tmp = passwordFile.resolveSibling(passwordFile.getFileName() + ".tmp");
    Files.writeString(tmp, password + "\n", StandardCharsets.UTF_8);
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
    Files.move(tmp, passwordFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    // Initialise into a scratch directory and rename it, so a crash mid-initdb never leaves a half-made cluster.
    Path scratch = pgData.resolveSibling(pgData.getFileName() + ".init");
    deleteRecursively(scratch);
    PostgresBinaries.run(List.of(binDir.resolve("bin/initdb").toString(), "-D", scratch.toString(), "-U",
        EmbeddedPostgres.USER, "--auth=scram-sha-256", "--pwfile=" + passwordFile, "-E", "UTF8", "--locale=C"));
    Files.move(scratch, pgData, StandardCopyOption.ATOMIC_MOVE);
    LOG.info("initialised a new PostgreSQL cluster in {}", pgData);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static void deleteRecursively(Path path) throws IOException {
    if (!Files.exists(path)) {
      return;
    }
    try (var walk = Files.walk(path)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
