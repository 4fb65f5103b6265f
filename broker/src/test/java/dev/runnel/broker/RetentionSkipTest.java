package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A group whose position falls below the retained log moves to the log start and counts what it skipped
 * (DESIGN.md section 4), shown in {@link GroupDescription.PartitionLag#skipped()} and stored with its offset.
 */
class RetentionSkipTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> o.setWindowRecords(2));
  }

  @AfterEach
  void close() {
    f.close();
  }

  @Test
  void aGroupBelowTheRetainedLogSkipsToItsStartAndCountsWhatItSkipped() {
    String topic = unique("t");
    f.broker.createTopic(topic, 1, new TopicConfig(5_000, -1, 1_000, 1 << 20)).await();  // 1 s segments, kept 5 s
    f.produce(topic, "=a", "=b", "=c", "=d", "=e");  // offsets 0..4
    String reading = unique("g");
    String idle = unique("g");
    Membership r = f.join(reading, topic);
    f.join(idle, topic);
    // The reading group holds its window of two (a, b); the idle one has stored its position 0 and read nothing.
    List<Delivery> window = f.poll(reading, r, 10, 10_000);
    assertThat(window).extracting(BrokerFixture::value).containsExactly("a", "b");
    f.await(() -> f.storedCommitted(idle, 0), c -> c == 0);

    f.clock.advance(10_000);
    f.produce(topic, "=new");  // offset 5, in a segment of its own
    f.store.enforceRetention().await();
    assertThat(f.broker.describeTopic(topic).await().partitions().get(0).logStartOffset()).isEqualTo(5);

    // Running: once its window is done it finds c, d, e gone, moves to 5 and counts 3.
    window.forEach(d -> f.ack(reading, d));
    assertThat(f.poll(reading, r, 10, 10_000)).extracting(BrokerFixture::value).containsExactly("new");
    assertThat(f.lag(reading, 0).skipped()).isEqualTo(3);
    assertThat(f.await(() -> f.storedSkipped(reading, 0), s -> s == 3)).isEqualTo(3);

    // Loaded after a restart below the log start: it moves to 5 and counts 5.
    f.restart();
    Membership i = f.join(idle, topic);
    assertThat(f.poll(idle, i, 10, 10_000)).extracting(BrokerFixture::value).containsExactly("new");
    GroupDescription.PartitionLag lag = f.lag(idle, 0);
    assertThat(lag.skipped()).isEqualTo(5);
    assertThat(lag.committedOffset()).isEqualTo(5);
    assertThat(f.await(() -> f.storedSkipped(idle, 0), s -> s == 5)).isEqualTo(5);
  }
}
