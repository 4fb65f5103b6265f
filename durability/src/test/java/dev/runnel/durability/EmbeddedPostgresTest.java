package dev.runnel.durability;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EmbeddedPostgresTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  @Test
  void runsWithFsyncSynchronousCommitAndFullPageWritesOn() throws Exception {
    try (Connection c = TestPostgres.server().connect()) {
      assertThat(show(c, "fsync")).isEqualTo("on");
      assertThat(show(c, "synchronous_commit")).isEqualTo("on");
      assertThat(show(c, "full_page_writes")).isEqualTo("on");
      assertThat(show(c, "listen_addresses")).isEqualTo("127.0.0.1");
    }
  }

  @Test
  void refusesLoginsWithoutTheGeneratedPassword() {
    EmbeddedPostgres pg = TestPostgres.server();
    pg.checkNoTrustAuthentication();
    for (String password : new String[] {null, "", "wrong"}) {
      Properties props = new Properties();
      props.setProperty("user", pg.user());
      if (password != null) {
        props.setProperty("password", password);
      }
      assertThatThrownBy(() -> DriverManager.getConnection(pg.jdbcUrl(), props).close())
          .as("login with password %s", password)
          .hasMessageContaining("password");
    }
  }

  @Test
  void theStoreRefusesAServerThatIsNotDurable() throws Exception {
    try (Connection c = TestPostgres.server().connect()) {
      c.createStatement().execute("DROP ROLE IF EXISTS careless");
      c.createStatement().execute("CREATE ROLE careless LOGIN PASSWORD 'pw' SUPERUSER");
      c.createStatement().execute("ALTER ROLE careless SET synchronous_commit = off");
    }
    Vertx vertx = Vertx.vertx();
    try {
      StoreOptions careless = PG.options().setUser("careless").setPassword("pw");
      assertThatThrownBy(() -> LogStore.open(vertx, careless).await())
          .hasMessageContaining("synchronous_commit=off")
          .hasMessageContaining("refuses");
      // Relaxed mode is an explicit choice.
      LogStore relaxed = LogStore.open(vertx, new StoreOptions(careless).setRequireDurable(false)).await();
      relaxed.close().await();
    } finally {
      vertx.close().await();
    }
  }

  /**
   * fsync and full_page_writes can be set only for the whole server, so each is turned off on a server of this test's
   * own: initialised by {@link EmbeddedPostgres} (its password, its data directory), then started by hand with the
   * one setting off (EmbeddedPostgres passes both as {@code -c ...=on}, which nothing else could override).
   */
  @ParameterizedTest
  @ValueSource(strings = {"fsync", "full_page_writes"})
  void theStoreRefusesAServerWithFsyncOrFullPageWritesOff(String setting, @TempDir Path dir) throws Exception {
    EmbeddedPostgres.start(dir, 0).close();
    String password = Files.readString(dir.resolve("postgres-password"), StandardCharsets.UTF_8).trim();
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    pgCtl(dir, "-l", dir.resolve("postgres.log").toString(), "-w", "-t", "40", "-o",
        "-p " + port + " -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c " + setting + "=off", "start");
    Vertx vertx = Vertx.vertx();
    try {
      StoreOptions options = new StoreOptions().setPort(port).setUser(EmbeddedPostgres.USER).setPassword(password)
          .setDatabase(EmbeddedPostgres.DATABASE).setSchema("careless");
      String expected = Map.of("fsync", "fsync=off, synchronous_commit=on, full_page_writes=on",
          "full_page_writes", "fsync=on, synchronous_commit=on, full_page_writes=off").get(setting);
      assertThatThrownBy(() -> LogStore.open(vertx, options).await())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("PostgreSQL is not durable (" + expected + ")")
          .hasMessageContaining("refuses to run");
    } finally {
      vertx.close().await();
      pgCtl(dir, "-m", "fast", "-w", "-t", "40", "stop");
    }
  }

  /** A kill -9 of the postmaster: the server is started again by itself, with everything committed before. */
  @Test
  void aKilledServerIsStartedAgainWithItsCommittedData(@TempDir Path dir) throws Exception {
    try (EmbeddedPostgres pg = EmbeddedPostgres.start(dir, 0,
        new EmbeddedPostgres.Restarts(10, java.time.Duration.ofMillis(200), java.time.Duration.ofSeconds(2)))) {
      try (Connection c = pg.connect()) {
        c.createStatement().execute("CREATE TABLE kept (v text)");
        c.createStatement().execute("INSERT INTO kept VALUES ('before the kill')");
      }
      long first = pg.postmasterPid();
      killAndWait(first);

      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      Connection back = null;
      while (back == null && System.nanoTime() < deadline) {
        try {
          back = pg.connect();
        } catch (java.sql.SQLException notYet) {
          Thread.sleep(100);
        }
      }
      assertThat(back).as("a connection after the kill").isNotNull();
      try (Connection c = back; ResultSet rs = c.createStatement().executeQuery("SELECT v FROM kept")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getString(1)).isEqualTo("before the kill");
      }
      assertThat(pg.postmasterPid()).as("a new postmaster").isNotEqualTo(first);
      assertThat(pg.failure()).isNull();
      assertThat(pg.storeOptions().getUnrecoverable().get()).isNull();
    }
  }

  /** When every start after a death fails (here its port is taken), it says so, for liveness to fail. */
  @Test
  void aServerThatCannotBeStartedAgainIsReportedUnrecoverable(@TempDir Path dir) throws Exception {
    EmbeddedPostgres pg = EmbeddedPostgres.start(dir, 0,
        new EmbeddedPostgres.Restarts(2, java.time.Duration.ofSeconds(2), java.time.Duration.ofSeconds(2)));
    try {
      killAndWait(pg.postmasterPid());
      try (ServerSocket taken = new ServerSocket()) {
        taken.setReuseAddress(false);
        taken.bind(new java.net.InetSocketAddress("127.0.0.1", pg.port()));  // before the first attempt, 2 s on
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (pg.failure() == null && System.nanoTime() < deadline) {
          Thread.sleep(100);
        }
        assertThat(pg.failure()).as("the reason it stays down")
            .contains("2 attempts to start it again failed")
            .contains(dir.resolve("postgres.log").toString());
        assertThat(pg.storeOptions().getUnrecoverable().get()).isEqualTo(pg.failure());
      }
      Vertx vertx = Vertx.vertx();
      try {
        // A store on another server, watching this one as a node's store watches its embedded server.
        LogStore watched = LogStore.open(vertx, PG.options().setUnrecoverable(pg::failure)).await();
        assertThatThrownBy(() -> watched.checkLive().await()).hasMessageContaining("attempts to start it again failed");
        watched.close().await();
      } finally {
        vertx.close().await();
      }
    } finally {
      pg.close();  // nothing to stop, and no error
    }
  }

  private static void killAndWait(long pid) throws Exception {
    ProcessHandle postmaster = ProcessHandle.of(pid).orElseThrow();
    assertThat(postmaster.destroyForcibly()).isTrue();
    postmaster.onExit().get(30, TimeUnit.SECONDS);
  }

  /**
   * Runs pg_ctl on the data directory of an EmbeddedPostgres (whose start unpacked the binaries). Callers pass
   * {@code -t}: reading its output cannot be interrupted, so pg_ctl's own timeout is what bounds it.
   */
  private static void pgCtl(Path dir, String... args) throws Exception {
    List<String> command = new ArrayList<>();
    if ("root".equals(System.getProperty("user.name"))) {
      command.addAll(List.of("unshare", "-U"));  // as EmbeddedPostgres does: Postgres refuses to run as root
    }
    command.add(Path.of(System.getProperty("java.io.tmpdir"), "runnel-postgres-17.6.0", "bin", "pg_ctl").toString());
    command.addAll(List.of("-D", dir.resolve("postgres").toString()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(50, TimeUnit.SECONDS)).as("pg_ctl finished").isTrue();
    assertThat(p.exitValue()).as("pg_ctl %s: %s", String.join(" ", args), out).isZero();
  }

  private static String show(Connection c, String setting) throws Exception {
    try (ResultSet rs = c.createStatement().executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }
}
