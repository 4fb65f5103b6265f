package dev.runnel.durability;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

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
 * <p>This class is the server's life (start, watch, restart, stop) and how to reach it; the cluster's files and
 * {@code pg_ctl} are {@link PostgresCluster}'s, the binaries {@link PostgresBinaries}'.
 *
 * <p>All methods block: call them from a main or worker thread, never from an event loop.
 */
public final class EmbeddedPostgres implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPostgres.class);
  public static final String USER = "runnel";
  public static final String DATABASE = "postgres";

  private final PostgresCluster cluster;
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

    /** The wait after {@code backoff} when a start failed again: doubled, at most {@link #maxBackoff}. */
    Duration after(Duration backoff) {
      Duration doubled = backoff.multipliedBy(2);
      return doubled.compareTo(maxBackoff) > 0 ? maxBackoff : doubled;
    }
  }

  private EmbeddedPostgres(PostgresCluster cluster, Restarts restarts) {
    this.cluster = cluster;
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
      PostgresCluster cluster = PostgresCluster.open(PostgresBinaries.unpack(), dataDir, port);
      EmbeddedPostgres pg = new EmbeddedPostgres(cluster, restarts);
      cluster.stopLeftover();
      cluster.start();
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
    return cluster.port();
  }

  public String user() {
    return USER;
  }

  public String password() {
    return cluster.password();
  }

  public String database() {
    return DATABASE;
  }

  public String jdbcUrl() {
    return "jdbc:postgresql://" + host() + ":" + port() + "/" + DATABASE;
  }

  /** Connection settings for the store, before the schema is chosen; the store's liveness follows {@link #failure()}. */
  public StoreOptions storeOptions() {
    return new StoreOptions().setHost(host()).setPort(port()).setDatabase(DATABASE).setUser(USER).setPassword(password())
        .setUnrecoverable(() -> failure);
  }

  /** Why the server is down for good (it died and every restart failed), or null while it runs or is coming back. */
  public String failure() {
    return failure;
  }

  /** The running postmaster's pid, from its lock file. */
  public long postmasterPid() {
    return cluster.postmasterPid();
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
    LOG.error("the embedded PostgreSQL (postmaster pid {}) died; starting it again (its log: {})", pid,
        cluster.logFile());
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
          cluster.start();
          LOG.warn("the embedded PostgreSQL is running again (attempt {} of {})", attempt, restarts.attempts());
          watch();
          return;
        } catch (RuntimeException e) {
          LOG.warn("starting the embedded PostgreSQL again failed (attempt {} of {}): {}", attempt,
              restarts.attempts(), e.getMessage());
        }
      }
      backoff = restarts.after(backoff);
    }
    failure = "the embedded PostgreSQL died and " + restarts.attempts() + " attempts to start it again failed; see "
        + cluster.logFile();
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
    props.setProperty("password", password());
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
    cluster.stop();
    LOG.info("embedded PostgreSQL stopped");
  }

  /**
   * The directory of the PostgreSQL binaries ({@code bin/initdb}, {@code bin/pg_ctl}, {@code bin/postgres}), unpacked
   * first if they are not yet; for tests that run a server of their own making.
   */
  public static Path binaries() {
    try {
      return PostgresBinaries.unpack();
    } catch (IOException e) {
      throw new UncheckedIOException("could not unpack the PostgreSQL binaries", e);
    }
  }
}
