package dev.runnel.durability.test;

import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.durability.StoreOptions;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Comparator;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The build's one embedded-Postgres test extension: one durable embedded server per test JVM (the same
 * {@link EmbeddedPostgres} a node runs), and a fresh schema per test class.
 *
 * <pre>
 * {@literal @}RegisterExtension static final TestPostgres PG = new TestPostgres();
 * ... LogStore.open(vertx, PG.options()) ...
 * </pre>
 */
public final class TestPostgres implements BeforeAllCallback {

  private static final AtomicInteger SCHEMAS = new AtomicInteger();
  private static EmbeddedPostgres server;
  private String schema;

  @Override
  public void beforeAll(ExtensionContext context) {
    server();
    schema = "t_" + context.getRequiredTestClass().getSimpleName().toLowerCase(Locale.ROOT) + "_" + SCHEMAS.incrementAndGet();
  }

  /** Store options for this test class's schema: retention timer off, short leases renewed often. */
  public StoreOptions options() {
    return server().storeOptions().setSchema(schema).setNodeId("test-node").setRetentionCheckMs(0);
  }

  public String schema() {
    return schema;
  }

  /** A JDBC connection with this class's schema on the search path. */
  public Connection jdbc() throws SQLException {
    Connection c = server().connect();
    c.createStatement().execute("SET search_path TO " + schema);
    return c;
  }

  public static synchronized EmbeddedPostgres server() {
    if (server == null) {
      try {
        Path dir = Files.createTempDirectory("runnel-test-pg");
        EmbeddedPostgres pg = EmbeddedPostgres.start(dir, 0);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
          pg.close();
          deleteQuietly(dir);
        }, "test-postgres-stop"));
        server = pg;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return server;
  }

  /** Deletes a temporary directory tree, best effort. */
  public static void deleteQuietly(Path dir) {
    try (var walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // a temp dir; the OS cleans it eventually
    }
  }
}
