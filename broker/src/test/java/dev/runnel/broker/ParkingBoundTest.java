package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Parking is bounded per partition (DESIGN.md section 4): at the bound the committed offset, and so the window, stops
 * advancing; nothing past the window is handed out until parked records finish.
 */
class ParkingBoundTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final long HOUR = 3_600_000;

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> o.setWindowRecords(4).setMaxParkedFactor(2));  // at most 8 parked
  }

  @AfterEach
  void close() {
    f.close();
  }

  @Test
  void atTheBoundTheWindowStopsUntilParkedRecordsFinish() {
    JsonObject policy = new JsonObject().put("initialDelayMs", HOUR).put("maxDelayMs", HOUR).put("jitter", 0);
    String topic = f.topic(1, policy);
    List<String> records = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      records.add("K=k" + i);  // offsets 0..11: k0 waits an hour, the others park behind it as blocked
    }
    for (int i = 12; i < 16; i++) {
      records.add("=u" + i);   // offsets 12..15: free, but past the window once parking stops at 8
    }
    f.produce(topic, records.toArray(new String[0]));
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> first = f.poll(group, m, 10, 10_000);
    assertThat(first).extracting(BrokerFixture::value).containsExactly("k0");
    f.nack(group, first.get(0), null);

    f.await(() -> f.lag(group, 0).committedOffset(), c -> c >= 8);
    assertThat(f.fetchWhenIdle(group, m, 10)).as("the window [8, 12) holds only blocked records; u12.. wait").isEmpty();
    assertThat(f.lag(group, 0).committedOffset()).as("parking stopped at the bound").isEqualTo(8);
    assertThat(f.await(() -> f.parkedRows(group, 0), rows -> rows.size() >= 8))
        .containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L);

    // k0's retry comes; as the parked records finish, the window moves on and everything is delivered.
    f.advance(HOUR);
    List<String> seen = new ArrayList<>();
    while (seen.size() < 16) {
      List<Delivery> got = f.poll(group, m, 10, 10_000);
      assertThat(got).as("more comes as parked records finish (seen %s)", seen).isNotEmpty();
      for (Delivery d : got) {
        seen.add(BrokerFixture.value(d));
        assertThat(f.ack(group, d)).isEqualTo(OutcomeResult.Status.OK);
      }
    }
    assertThat(seen.get(0)).isEqualTo("k0");
    assertThat(seen.stream().filter(v -> v.startsWith("k")).toList())
        .containsExactly("k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11");
    assertThat(seen).contains("u12", "u13", "u14", "u15");
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 16)).isEqualTo(16);
    assertThat(f.await(() -> f.parkedRows(group, 0), List::isEmpty)).isEmpty();
  }
}
