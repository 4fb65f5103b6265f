package dev.runnel.durability.impl;

import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.PartitionLog;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A lease renewal answers which partitions it renewed; a writer missing from the answer was fenced. A renewal sent
 * under an older epoch can be answered after the writer acquired again: that notice must not take the lease away
 * from the writer that holds the current epoch (it would stop writing until something made it acquire again).
 */
class FenceNoticeTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private Vertx vertx;
  private LogStore store;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options()).await();
  }

  @AfterEach
  void close() {
    store.close().await();
    vertx.close().await();
  }

  @Test
  void aFenceNoticeAboutAnOlderEpochLeavesTheCurrentWriterActive() {
    TopicMetadata topic = store.createTopic("fence-notice", 1, TopicConfig.DEFAULT).await().topic();
    PartitionLog log = store.partition(topic, 0);
    log.append(List.of(record("first"))).await();
    PartitionWriter writer = (PartitionWriter) log;
    long epoch = writer.epoch();
    assertThat(writer.isActive()).isTrue();

    writer.fenced(epoch - 1);
    log.append(List.of(record("second"))).await();
    assertThat(writer.epoch()).as("no new acquisition: the writer kept its lease").isEqualTo(epoch);

    writer.fenced(epoch);
    log.append(List.of(record("third"))).await();
    assertThat(writer.epoch()).as("a notice about its own epoch fences it: it acquires again").isEqualTo(epoch + 1);
    assertThat(log.read(0, 10, 1 << 20).await().records()).extracting(r -> new String(r.value(), StandardCharsets.UTF_8))
        .containsExactly("first", "second", "third");
  }

  private static LogRecord record(String value) {
    return LogRecord.of(null, value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null);
  }
}
