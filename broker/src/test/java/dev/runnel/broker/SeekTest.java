package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;

/** Seek against parked records: rows at or above the new position go, those below stay (DESIGN.md section 4). */
class SeekTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final long HOUR = 3_600_000;

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> o.setWindowRecords(10));
  }

  @AfterEach
  void close() {
    f.close();
  }

  @Test
  void seekDropsParkedRecordsAtOrAboveThePositionAndKeepsThoseBelow() {
    JsonObject policy = new JsonObject().put("maxRetries", 3).put("initialDelayMs", HOUR).put("maxDelayMs", HOUR)
        .put("jitter", 0);
    String topic = f.topic(1, policy);
    //            0        1        2       3        4       5
    f.produce(topic, "A=a0", "B=b1", "=u2", "C=c3", "=u4", "A=a5");
    String group = unique("g");
    Membership m = f.join(group, topic);
    Map<String, Delivery> first = byValue(f.poll(group, m, 10, 10_000));
    assertThat(first).containsOnlyKeys("a0", "b1", "u2", "c3", "u4");  // a5 waits behind a0
    f.nack(group, first.get("a0"), null);  // retried in an hour
    f.nack(group, first.get("c3"), null);
    for (String v : List.of("b1", "u2", "u4")) {
      f.ack(group, first.get(v));
    }
    // Parked: a0 and c3 (retries), a5 (blocked behind a0); the committed offset is past all of them.
    assertThat(f.await(() -> f.parkedRows(group, 0), rows -> rows.equals(List.of(0L, 3L, 5L)))).hasSize(3);
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 6)).isEqualTo(6);

    f.broker.seek(group, topic, List.of(new SeekPosition(0, SeekPosition.Kind.OFFSET, 2))).await();

    assertThat(f.await(() -> f.parkedRows(group, 0), rows -> rows.equals(List.of(0L))))
        .as("the rows at and above offset 2 are gone, a0's stays").containsExactly(0L);
    List<Delivery> replay = new ArrayList<>();
    while (replay.size() < 3) {
      List<Delivery> got = f.poll(group, m, 10, 10_000);
      assertThat(got).as("the replay from offset 2").isNotEmpty();
      replay.addAll(got);
    }
    Map<String, Delivery> replayed = byValue(replay);
    assertThat(replayed).as("c3 is read again as new; a5 still waits behind a0").containsOnlyKeys("u2", "c3", "u4");
    assertThat(replayed.get("c3").attempt()).as("c3's dropped retry took its attempts with it").isEqualTo(1);
    replay.forEach(d -> f.ack(group, d));
    assertThat(f.fetchWhenIdle(group, m, 10)).as("a0 waits its hour, a5 behind it").isEmpty();

    f.advance(HOUR);
    List<Delivery> retried = f.poll(group, m, 10, 10_000);
    assertThat(retried).extracting(BrokerFixture::value).containsExactly("a0");
    assertThat(retried.get(0).attempt()).as("the kept row kept its attempts").isEqualTo(2);
    f.ack(group, retried.get(0));
    List<Delivery> last = f.poll(group, m, 10, 10_000);
    assertThat(last).extracting(BrokerFixture::value).containsExactly("a5");
    f.ack(group, last.get(0));
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 6)).isEqualTo(6);
    assertThat(f.await(() -> f.parkedRows(group, 0), List::isEmpty)).isEmpty();
  }

  private static Map<String, Delivery> byValue(List<Delivery> deliveries) {
    Map<String, Delivery> map = new HashMap<>();
    deliveries.forEach(d -> assertThat(map.put(BrokerFixture.value(d), d)).as("delivered once").isNull());
    return map;
  }
}
