package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Session expiry (DESIGN.md section 4): it revokes a member's leases with an attempt counted; a long poll is alive. */
class SessionExpiryTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final JsonObject NO_JITTER = new JsonObject().put("maxRetries", 3).put("initialDelayMs", 1000)
      .put("backoffMultiplier", 2).put("maxDelayMs", 300_000).put("jitter", 0);

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
  void anExpiredSessionLosesItsLeasesWithAnAttemptCounted() {
    String topic = f.topic(1, NO_JITTER);
    f.produce(topic, "k=r");
    String group = unique("g");
    // A 10 s session with 60 s leases: the session ends first. The other member's session outlives the test.
    Membership shortLived = f.join(group, topic, 10_000, 60_000);
    Membership other = f.join(group, topic, 3_600_000, 60_000);
    Delivery first = f.fetch(group, shortLived, 10).get(0);
    assertThat(first.attempt()).isEqualTo(1);

    f.advance(10_000);
    assertThat(f.fetch(group, other, 10)).as("the session has not expired yet: the record is still leased").isEmpty();
    f.advance(1);  // the session expires: the lease is revoked as a failure, retry 1 waits its 1 s backoff
    assertThatThrownBy(() -> f.fetch(group, shortLived, 10))
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.UNKNOWN_MEMBER));
    assertThat(f.ack(group, first)).isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    assertThat(f.fetch(group, other, 10)).as("the retry waits its backoff").isEmpty();
    f.advance(1000);
    List<Delivery> again = f.fetch(group, other, 10);
    assertThat(again).singleElement().satisfies(d -> {
      assertThat(d.offset()).isEqualTo(first.offset());
      assertThat(d.attempt()).as("session expiry counted an attempt").isEqualTo(2);
    });
    assertThat(f.broker.describeGroup(group).await().members()).extracting(GroupDescription.Member::memberId)
        .containsExactly(other.memberId());
  }

  @Test
  void aMemberWaitingInALongPollStaysAlive() {
    String topic = f.topic(1, NO_JITTER);
    String group = unique("g");
    Membership m = f.join(group, topic, 10_000, 30_000);
    Future<List<Delivery>> waiting = f.broker.fetch(group, m.memberId(), 10, 1 << 20, 30_000);
    f.broker.describeGroup(group).await();  // the long poll is registered (the group runs its calls in order)

    f.advance(25_000);  // far past the 10 s session, while it waits
    assertThat(waiting.failed()).as("the waiting member was not expired: %s", waiting.cause()).isFalse();
    f.produce(topic, "k=r");
    List<Delivery> got = waiting.await();
    assertThat(got).extracting(BrokerFixture::value).containsExactly("r");
    assertThat(f.ack(group, got.get(0))).isEqualTo(OutcomeResult.Status.OK);

    // Once it stops polling, the session does expire: the long poll is what kept it alive.
    f.advance(10_001);
    assertThatThrownBy(() -> f.fetch(group, m, 10))
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.UNKNOWN_MEMBER));
  }
}
