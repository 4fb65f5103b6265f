package dev.runnel.server;

import dev.runnel.broker.ProduceRecord;
import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.broker.ReadResult;
import dev.runnel.durability.StoreOptions;
import dev.runnel.broker.TopicConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URLEncoder;
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

/**
 * An external server reached over its Unix-domain socket with peer authentication: no password anywhere.
 *
 * <p>The server is one of our own making from the embedded binaries: a cluster initialised by {@link EmbeddedPostgres}
 * (role {@code runnel}), then started by hand listening on no TCP address, only on a socket in a temp dir, with
 * pg_hba.conf {@code local all all peer map=runnel}. Peer authentication takes the connecting process's user as the
 * kernel reports it to the server: when the tests run as root, Postgres runs under {@code unshare -U} in a user
 * namespace with no mapping, where root shows as the overflow uid, {@code nobody}; otherwise the server runs as the
 * test's own user. pg_ident.conf maps those two, and only those, to the role {@code runnel}.
 */
class UnixSocketPeerTest {

  @TempDir
  static Path tmp;

  private static Path pgData;
  private static Path socketDir;

  @TempDir
  Path dataDir;

  @BeforeAll
  static void startSocketOnlyServer() throws Exception {
    try (EmbeddedPostgres init = EmbeddedPostgres.start(tmp.resolve("pg"), 0)) {
      pgData = tmp.resolve("pg/postgres");  // initialised with the superuser runnel; stopped again on close
    }
    socketDir = Files.createDirectory(tmp.resolve("sock"));
    Files.writeString(pgData.resolve("pg_hba.conf"), "local all all peer map=runnel\n");
    Files.writeString(pgData.resolve("pg_ident.conf"),
        "runnel nobody runnel\nrunnel " + System.getProperty("user.name") + " runnel\n");
    // The default port: with no TCP address it only names the socket file, .s.PGSQL.5432, in our own directory.
    pgCtl("-l", tmp.resolve("pg/postgres.log").toString(), "-w", "-t", "60", "-o",
        "-c listen_addresses='' -c unix_socket_directories='" + socketDir + "' -p 5432", "start");
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (pgData != null && Files.exists(pgData.resolve("postmaster.pid"))) {
      pgCtl("-m", "immediate", "-w", "-t", "60", "stop");
    }
  }

  @Test
  void aSocketUrlWithoutAPasswordWorksWithPeerAuthentication() throws Exception {
    // libpq's form with the socket's directory as the host parameter, and port and user as parameters too
    RunnelNode node = start("postgresql:///postgres?host=" + socketDir + "&port=5432&user=runnel");
    try {
      node.broker().createTopic("peer", 1, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
      assertThat(node.broker().produce("peer", List.of(new ProduceRecord(null, "over the socket".getBytes(),
          "text/plain", List.of(), null, null))).await(30, TimeUnit.SECONDS)).hasSize(1);
    } finally {
      node.stop();
    }
    // the percent-encoded directory as the URL's host, the port left to its default: the record is there
    node = start("postgresql://runnel@" + URLEncoder.encode(socketDir.toString(), StandardCharsets.UTF_8) + "/postgres");
    try {
      ReadResult read = node.broker().read("peer", 0, 0, 10, 1 << 20).await(30, TimeUnit.SECONDS);
      assertThat(read.records()).hasSize(1);
      assertThat(new String(read.records().get(0).value(), StandardCharsets.UTF_8)).isEqualTo("over the socket");
    } finally {
      node.stop();
    }
    // and the JDBC driver's junixsocket form, which the node reads too
    node = start("jdbc:postgresql://localhost/postgres?socketFactory=org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg"
        + "&socketFactoryArg=" + socketDir.resolve(".s.PGSQL.5432") + "&user=runnel");
    try {
      assertThat(node.broker().describeTopic("peer").await(30, TimeUnit.SECONDS).name()).isEqualTo("peer");
    } finally {
      node.stop();
    }
    try (Connection c = jdbc("runnel"); ResultSet rs = c.createStatement().executeQuery("SELECT system_user")) {
      rs.next();
      assertThat(rs.getString(1)).as("the server let the role in by peer authentication, as this OS user")
          .isEqualTo("peer:" + ("root".equals(System.getProperty("user.name")) ? "nobody" : System.getProperty("user.name")));
    }
  }

  /** A role the server's peer rule does not let in stops the start with what to set, not a driver's bare message. */
  @Test
  void aRoleThePeerRuleRefusesSaysWhatToSet() {
    String url = "postgresql://stranger@" + URLEncoder.encode(socketDir.toString(), StandardCharsets.UTF_8) + "/postgres";
    assertThatThrownBy(() -> start(url))
        .hasMessageContaining("PostgreSQL at " + socketDir.resolve(".s.PGSQL.5432") + " refused the login of user stranger")
        .hasMessageContaining("Peer authentication failed")
        .hasMessageContaining("postgres.user")
        .hasMessageContaining("pg_ident.conf");
  }

  private RunnelNode start(String url) {
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL", url),
        Map.of("dataDir", dataDir.toString(), "http.port", "0", "http.host", "127.0.0.1", "amqp.port", "0", "amqp.host", "127.0.0.1"));
    return new RunnelNode(config).start();
  }

  /** A JDBC connection over the socket, as the migrations make it. */
  private static Connection jdbc(String user) throws Exception {
    StoreOptions options = new StoreOptions().setHost(socketDir.toString()).setPort(5432).setDatabase("postgres");
    Properties props = new Properties();
    props.setProperty("user", user);
    return DriverManager.getConnection(options.jdbcUrl(), props);
  }

  private static void pgCtl(String... args) throws Exception {
    List<String> command = new ArrayList<>();
    if ("root".equals(System.getProperty("user.name"))) {
      command.addAll(List.of("unshare", "-U"));  // Postgres refuses to run as root, as EmbeddedPostgres knows
    }
    command.add(EmbeddedPostgres.binaries().resolve("bin/pg_ctl").toString());
    command.addAll(List.of("-D", pgData.toString()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(90, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("pg_ctl " + String.join(" ", args) + " failed: " + out + "\nserver log: "
          + Files.readString(tmp.resolve("pg/postgres.log")));
    }
  }
}
