package dev.runnel.durability;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Properties;

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

  private static String show(Connection c, String setting) throws Exception {
    try (ResultSet rs = c.createStatement().executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }
}
