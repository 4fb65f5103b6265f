package dev.runnel.durability;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The store's options, grouped by job, through their flat getters and setters; no Postgres. */
class StoreOptionsTest {

  @Test
  void theFlatSettersReachTheirGroups() {
    StoreOptions options = new StoreOptions().setHost("/run/pg").setPort(6543).setDatabase("db").setUser("u")
        .setPassword("p").setSchema("s").setPoolSize(9).setPipeliningLimit(7).setNodeId("n").setLeaseMs(3_000)
        .setTailCacheBytes(11).setMaxWriteBytes(12).setMaxQueuedBytesPerPartition(13);
    StoreOptions.PostgresOptions pg = options.getPostgres();
    assertThat(pg.getHost()).isEqualTo("/run/pg");
    assertThat(pg.getPort()).isEqualTo(6543);
    assertThat(pg.getDatabase()).isEqualTo("db");
    assertThat(pg.getUser()).isEqualTo("u");
    assertThat(pg.getPassword()).isEqualTo("p");
    assertThat(pg.getSchema()).isEqualTo("s");
    assertThat(pg.getPoolSize()).isEqualTo(9);
    assertThat(pg.getPipeliningLimit()).isEqualTo(7);
    assertThat(options.isUnixSocket()).isTrue();
    assertThat(options.socketPath()).isEqualTo("/run/pg/.s.PGSQL.6543");
    assertThat(options.address()).isEqualTo("/run/pg/.s.PGSQL.6543");
    assertThat(options.getLeases().getNodeId()).isEqualTo("n");
    assertThat(options.getIncarnation()).isSameAs(options.getLeases().getIncarnation());
    assertThat(options.getLeases().getLeaseMs()).isEqualTo(3_000);
    assertThat(options.getBounds().getTailCacheBytes()).isEqualTo(11);
    assertThat(options.getBounds().getMaxWriteBytes()).isEqualTo(12);
    assertThat(options.getBounds().getMaxQueuedBytesPerPartition()).isEqualTo(13);

    options.getPostgres().setHost("db.example").setPort(5433);
    assertThat(options.getHost()).isEqualTo("db.example");
    assertThat(options.jdbcUrl()).isEqualTo("jdbc:postgresql://db.example:5433/db");
    assertThat(options.address()).isEqualTo("db.example:5433");
  }

  @Test
  void theDefaultsAreTheStoresOwn() {
    StoreOptions options = new StoreOptions();
    assertThat(options.address()).isEqualTo("127.0.0.1:5432");
    assertThat(options.getDatabase()).isEqualTo("postgres");
    assertThat(options.getUser()).isEqualTo("postgres");
    assertThat(options.getPassword()).isNull();
    assertThat(options.getSchema()).isEqualTo("runnel");
    assertThat(options.getPoolSize()).isEqualTo(4);
    assertThat(options.getPipeliningLimit()).isEqualTo(256);
    assertThat(options.getNodeId()).isEqualTo("node-1");
    assertThat(options.getLeaseMs()).isEqualTo(30_000);
    assertThat(options.getTailCacheBytes()).isEqualTo(64L << 20);
    assertThat(options.getMaxWriteBytes()).isEqualTo(8 << 20);
    assertThat(options.getMaxQueuedBytesPerPartition()).isEqualTo(32L << 20);
    assertThat(options.getRetentionCheckMs()).isEqualTo(30_000);
    assertThat(options.isRequireDurable()).isTrue();
  }

  @Test
  void aCopyIsIndependentOfItsOriginalInEveryGroup() {
    StoreOptions original = new StoreOptions().setHost("a").setSchema("one").setLeaseMs(1_000).setMaxWriteBytes(5)
        .setRetentionCheckMs(0);
    StoreOptions copy = new StoreOptions(original);
    assertThat(copy.getHost()).isEqualTo("a");
    assertThat(copy.getSchema()).isEqualTo("one");
    assertThat(copy.getLeaseMs()).isEqualTo(1_000);
    assertThat(copy.getMaxWriteBytes()).isEqualTo(5);
    assertThat(copy.getRetentionCheckMs()).isZero();
    assertThat(copy.getIncarnation()).isSameAs(original.getIncarnation());

    original.setHost("b").setSchema("two").setLeaseMs(2_000).setMaxWriteBytes(6).setNodeId("other");
    assertThat(copy.getHost()).isEqualTo("a");
    assertThat(copy.getSchema()).isEqualTo("one");
    assertThat(copy.getLeaseMs()).isEqualTo(1_000);
    assertThat(copy.getMaxWriteBytes()).isEqualTo(5);
    assertThat(copy.getNodeId()).isEqualTo("node-1");
  }
}
