package dev.runnel.durability;

import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.slf4j.Logger;
import org.tukaani.xz.XZInputStream;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A PostgreSQL server that Runnel runs itself, from the binaries published by zonky, with its data kept under the
 * node's data directory.
 *
 * <p>zonky's own {@code EmbeddedPostgres} is made for throw-away test databases: it initialises with trust
 * authentication, starts the server with {@code -F} (fsync off) and {@code synchronous_commit=off}, and installs a JVM
 * shutdown hook that stops Postgres in parallel with ours. None of that is acceptable for a broker that acknowledges
 * only committed data, so this class uses zonky's binaries but runs {@code initdb} and {@code pg_ctl} itself:
 * scram-sha-256 with a generated password kept in the data directory, fsync, synchronous_commit and full_page_writes on,
 * listening on loopback only, and stopped only when {@link #close()} is called (after the node has drained).
 *
 * <p>The server is watched: when its postmaster dies while this object is open (a kill -9, an OOM kill), it is
 * started again on the same port and data, after a backoff that lets orphaned backends exit, and the store's
 * connections and leases recover as they do from any Postgres restart. If {@link Restarts#attempts()} starts in a row
 * fail, it stays down and {@link #failure()} says why, so liveness can fail and a supervisor restart the node.
 *
 * <p>All methods block: call them from a main or worker thread, never from an event loop.
 */
public final class EmbeddedPostgres implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPostgres.class);
  public static final String USER = "runnel";
  public static final String DATABASE = "postgres";
  private static final Duration START_TIMEOUT = Duration.ofSeconds(120);

  private final Path binDir;
  private final Path pgData;
  private final Path logFile;
  private final int port;
  private final String password;
  private final Restarts restarts;
  /** Restarts run here, one at a time, off every event loop. */
  private final ExecutorService supervisor = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "runnel-postgres-supervisor");
    t.setDaemon(true);
    return t;
  });
  private volatile boolean closed;
  private volatile String failure;

  /**
   * How a server that died is brought back: up to {@code attempts} starts in a row, the first after
   * {@code firstBackoff}, each later wait doubled up to {@code maxBackoff}.
   */
  public record Restarts(int attempts, Duration firstBackoff, Duration maxBackoff) {
    /** About two minutes of attempts: long enough for orphaned backends to exit and a full disk to be noticed. */
    public static final Restarts DEFAULT = new Restarts(10, Duration.ofMillis(500), Duration.ofSeconds(20));

    public Restarts {
      if (attempts < 1 || firstBackoff.isNegative() || maxBackoff.compareTo(firstBackoff) < 0) {
        throw new IllegalArgumentException("restarts need at least one attempt and 0 <= firstBackoff <= maxBackoff");
      }
    }
  }

  private EmbeddedPostgres(Path binDir, Path pgData, Path logFile, int port, String password, Restarts restarts) {
    this.binDir = binDir;
    this.pgData = pgData;
    this.logFile = logFile;
    this.port = port;
    this.password = password;
    this.restarts = restarts;
  }

  /**
   * Starts (initialising on first use) the server whose files live under {@code dataDir}. A server left running on
   * that directory by a killed JVM is stopped first, so its files are consistent and the port is ours.
   *
   * @param port the loopback port, or 0 for a free one
   */
  public static EmbeddedPostgres start(Path dataDir, int port) {
    return start(dataDir, port, Restarts.DEFAULT);
  }

  /** As {@link #start(Path, int)}, bringing the server back after it dies as {@code restarts} says. */
  public static EmbeddedPostgres start(Path dataDir, int port, Restarts restarts) {
    try {
      Files.createDirectories(dataDir);
      Path binDir = unpackBinaries();
      Path pgData = dataDir.resolve("postgres");
      Path passwordFile = dataDir.resolve("postgres-password");
      Path logFile = dataDir.resolve("postgres.log");
      if (!Files.exists(pgData.resolve("PG_VERSION"))) {
        initdb(binDir, pgData, passwordFile);
      }
      String password = Files.readString(passwordFile, StandardCharsets.UTF_8).trim();
      int chosenPort = port == 0 ? freePort() : port;
      EmbeddedPostgres pg = new EmbeddedPostgres(binDir, pgData, logFile, chosenPort, password, restarts);
      pg.stopLeftover();
      pg.startServer();
      pg.watch();
      return pg;
    } catch (IOException e) {
      throw new UncheckedIOException("could not start the embedded PostgreSQL under " + dataDir, e);
    }
  }

  public String host() {
    return "127.0.0.1";
  }

  public int port() {
    return port;
  }

  public String user() {
    return USER;
  }

  public String password() {
    return password;
  }

  public String database() {
    return DATABASE;
  }

  public String jdbcUrl() {
    return "jdbc:postgresql://" + host() + ":" + port + "/" + DATABASE;
  }

  /** Connection settings for the store, before the schema is chosen; the store's liveness follows {@link #failure()}. */
  public StoreOptions storeOptions() {
    return new StoreOptions().setHost(host()).setPort(port).setDatabase(DATABASE).setUser(USER).setPassword(password)
        .setUnrecoverable(() -> failure);
  }

  /** Why the server is down for good (it died and every restart failed), or null while it runs or is coming back. */
  public String failure() {
    return failure;
  }

  /** The running postmaster's pid, from its lock file. */
  public long postmasterPid() {
    try {
      return Long.parseLong(Files.readAllLines(pgData.resolve("postmaster.pid")).get(0).trim());
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("cannot read the postmaster's pid from " + pgData.resolve("postmaster.pid"), e);
    }
  }

  /** Waits (on the supervisor thread) for the current postmaster to exit, then brings the server back. */
  private void watch() {
    long pid = postmasterPid();
    Optional<ProcessHandle> postmaster = ProcessHandle.of(pid);
    if (postmaster.isEmpty()) {
      supervisor.execute(() -> restartAfterDeath(pid));
    } else {
      postmaster.get().onExit().thenRunAsync(() -> restartAfterDeath(pid), supervisor);
    }
  }

  private void restartAfterDeath(long pid) {
    if (closed) {
      return;
    }
    LOG.error("the embedded PostgreSQL (postmaster pid {}) died; starting it again (its log: {})", pid, logFile);
    Duration backoff = restarts.firstBackoff();
    for (int attempt = 1; attempt <= restarts.attempts(); attempt++) {
      try {
        Thread.sleep(backoff.toMillis());  // the orphaned backends must exit before a new postmaster may start
      } catch (InterruptedException e) {
        return;  // closing
      }
      synchronized (this) {
        if (closed) {
          return;
        }
        try {
          startServer();
          LOG.warn("the embedded PostgreSQL is running again (attempt {} of {})", attempt, restarts.attempts());
          watch();
          return;
        } catch (RuntimeException e) {
          LOG.warn("starting the embedded PostgreSQL again failed (attempt {} of {}): {}", attempt,
              restarts.attempts(), e.getMessage());
        }
      }
      Duration doubled = backoff.multipliedBy(2);
      backoff = doubled.compareTo(restarts.maxBackoff()) > 0 ? restarts.maxBackoff() : doubled;
    }
    failure = "the embedded PostgreSQL died and " + restarts.attempts() + " attempts to start it again failed; see "
        + logFile;
    LOG.error("{}: the node cannot store anything until it is restarted", failure);
  }

  /**
   * Checks what an embedded server must guarantee beyond the settings every server is checked for: that no
   * connection can log in without a password.
   */
  public void checkNoTrustAuthentication() {
    try (Connection c = connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method IN ('trust', 'password')")) {
      rs.next();
      if (rs.getLong(1) != 0) {
        throw new IllegalStateException("the embedded PostgreSQL accepts logins without scram authentication");
      }
    } catch (SQLException e) {
      throw new IllegalStateException("could not check the embedded PostgreSQL's authentication rules", e);
    }
  }

  public Connection connect() throws SQLException {
    Properties props = new Properties();
    props.setProperty("user", USER);
    props.setProperty("password", password);
    return DriverManager.getConnection(jdbcUrl(), props);
  }

  /** Stops the server with a fast shutdown (clients disconnected, everything committed kept, a clean checkpoint). */
  @Override
  public void close() {
    synchronized (this) {  // a restart in progress finishes first; none starts after this
      if (closed) {
        return;
      }
      closed = true;
    }
    supervisor.shutdownNow();
    if (failure != null) {
      LOG.info("the embedded PostgreSQL is not running ({}); nothing to stop", failure);
      return;
    }
    run(List.of(binDir.resolve("bin/pg_ctl").toString(), "-D", pgData.toString(), "-m", "fast", "-w", "-t", "60", "stop"));
    LOG.info("embedded PostgreSQL stopped");
  }

  private void startServer() {
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
    run(List.of(binDir.resolve("bin/pg_ctl").toString(), "-D", pgData.toString(), "-l", logFile.toString(),
        "-w", "-t", Long.toString(START_TIMEOUT.toSeconds()), "-o", String.join(" ", options), "start"));
    LOG.info("embedded PostgreSQL started on {}:{} with data in {}", host(), port, pgData);
  }

  /** A postmaster that outlived a kill -9 of the JVM still holds the data directory; stop it cleanly. */
  private void stopLeftover() throws IOException {
    Path pidFile = pgData.resolve("postmaster.pid");
    if (!Files.exists(pidFile)) {
      return;
    }
    List<String> lines = Files.readAllLines(pidFile);
    long pid = lines.isEmpty() ? -1 : Long.parseLong(lines.get(0).trim());
    Optional<ProcessHandle> process = ProcessHandle.of(pid);
    if (process.isPresent() && process.get().isAlive()) {
      LOG.warn("a PostgreSQL server (pid {}) is still running on {}; stopping it before starting our own", pid, pgData);
      run(List.of(binDir.resolve("bin/pg_ctl").toString(), "-D", pgData.toString(), "-m", "fast", "-w", "-t", "60", "stop"));
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
    run(List.of(binDir.resolve("bin/initdb").toString(), "-D", scratch.toString(), "-U", USER,
        "--auth=scram-sha-256", "--pwfile=" + passwordFile, "-E", "UTF8", "--locale=C"));
    Files.move(scratch, pgData, StandardCopyOption.ATOMIC_MOVE);
    LOG.info("initialised a new PostgreSQL cluster in {}", pgData);
  }

  private static void run(List<String> args) {
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

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * The directory of the PostgreSQL binaries ({@code bin/initdb}, {@code bin/pg_ctl}, {@code bin/postgres}), unpacked
   * first if they are not yet; for tests that run a server of their own making.
   */
  public static Path binaries() {
    try {
      return unpackBinaries();
    } catch (IOException e) {
      throw new UncheckedIOException("could not unpack the PostgreSQL binaries", e);
    }
  }

  /** Unpacks the PostgreSQL binaries once per machine (under the temp dir), guarded by a file lock. */
  private static Path unpackBinaries() throws IOException {
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

  private static void deleteRecursively(Path path) throws IOException {
    if (!Files.exists(path)) {
      return;
    }
    try (var walk = Files.walk(path)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
