package dev.runnel.load;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The verifier on hand-made histories: one producer (0), keys 0 and 1, partition 0 unless said. Each case is what a
 * broken system would do, and must be caught; the clean history must pass.
 */
class VerifierTest {

  static final int RUN = 7;

  /** Producer 0 sends seq 0..n-1, all of key 0, acknowledged at offsets 0..n-1 of partition 0. */
  private static Verifier acked(int n, String... groups) {
    Verifier v = new Verifier(RUN, 1, List.of(groups));
    for (int s = 0; s < n; s++) {
      v.sent(0, s, 0);
      v.acked(0, s, 0, s);
    }
    return v;
  }

  @Test
  void aCompleteInOrderHistoryPasses() {
    Verifier v = acked(5, "g");
    for (int s = 0; s < 5; s++) {
      v.received("g", 0, s, 0, s);
    }
    Verifier.Outcome o = v.verify();
    assertThat(o.produced()).isEqualTo(5);
    assertThat(o.acked()).isEqualTo(5);
    assertThat(o.consumed()).isEqualTo(5);
    assertThat(o.lost()).isZero();
    assertThat(o.reordered()).isZero();
    assertThat(o.duplicates()).isZero();
    assertThat(o.unacknowledged()).isZero();
    assertThat(o.problems()).isEmpty();
    assertThat(v.complete()).isTrue();
  }

  @Test
  void anInjectedLossIsCaught() {
    Verifier v = acked(5, "g");
    for (int s : new int[] {0, 1, 3, 4}) {
      v.received("g", 0, s, 0, s);
    }
    Verifier.Outcome o = v.verify();
    assertThat(o.lost()).isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p).contains("never received producer 0 seq 2"));
    assertThat(v.complete()).isFalse();
  }

  @Test
  void eachGroupMustReceiveEveryRecord() {
    Verifier v = acked(3, "a", "b");
    for (int s = 0; s < 3; s++) {
      v.received("a", 0, s, 0, s);
    }
    v.received("b", 0, 0, 0, 0);
    assertThat(v.verify().lost()).as("group b misses 2").isEqualTo(2);
  }

  @Test
  void anInjectedReorderIsCaught() {
    Verifier v = acked(4, "g");
    for (int s : new int[] {0, 2, 1, 3}) {
      v.received("g", 0, s, 0, s);
    }
    Verifier.Outcome o = v.verify();
    assertThat(o.reordered()).isEqualTo(1);
    assertThat(o.lost()).isZero();
    assertThat(o.problems()).anySatisfy(p -> assertThat(p).contains("key 0 at acknowledged offset 0/1 after its record at offset 2"));
  }

  @Test
  void theOrderIsTheAcknowledgedOneNotTheSendOrder() {
    // Two sends of one key in flight together: seq 1 was stored first (offset 0), seq 0 second (offset 1).
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    v.sent(0, 0, 0);
    v.sent(0, 1, 0);
    v.acked(0, 0, 0, 1);
    v.acked(0, 1, 0, 0);
    v.received("g", 0, 1, 0, 0);
    v.received("g", 0, 0, 0, 1);
    assertThat(v.verify().reordered()).as("received in offset order").isZero();

    Verifier sendOrder = new Verifier(RUN, 1, List.of("g"));
    sendOrder.sent(0, 0, 0);
    sendOrder.sent(0, 1, 0);
    sendOrder.acked(0, 0, 0, 1);
    sendOrder.acked(0, 1, 0, 0);
    sendOrder.received("g", 0, 0, 0, 1);
    sendOrder.received("g", 0, 1, 0, 0);
    assertThat(sendOrder.verify().reordered()).as("send order against the stored order").isEqualTo(1);
  }

  @Test
  void otherKeysDoNotOrderEachOther() {
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    v.sent(0, 0, 0);
    v.sent(0, 1, 1);
    v.acked(0, 0, 0, 0);
    v.acked(0, 1, 0, 1);
    v.received("g", 0, 1, 0, 1);
    v.received("g", 0, 0, 0, 0);
    assertThat(v.verify().reordered()).isZero();
  }

  @Test
  void aDuplicateIsCountedAndIsNoLoss() {
    Verifier v = acked(3, "g");
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 1, 0, 1);
    v.received("g", 0, 1, 0, 1);
    v.received("g", 0, 2, 0, 2);
    Verifier.Outcome o = v.verify();
    assertThat(o.duplicates()).isEqualTo(1);
    assertThat(o.consumed()).isEqualTo(4);
    assertThat(o.lost()).isZero();
    assertThat(o.reordered()).as("a redelivery is a duplicate, not a reorder").isZero();
  }

  @Test
  void aLossHiddenByADuplicateOfAnotherRecordIsCaught() {
    // As many receptions as acknowledged records, but seq 1 came twice and seq 2 never.
    Verifier v = acked(3, "g");
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 1, 0, 1);
    v.received("g", 0, 1, 0, 1);
    Verifier.Outcome o = v.verify();
    assertThat(o.consumed()).isEqualTo(o.acked());
    assertThat(o.lost()).isEqualTo(1);
    assertThat(o.duplicates()).isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p).contains("never received producer 0 seq 2"));
  }

  @Test
  void aRecordDeliveredAtAnotherOffsetThanAcknowledgedIsLostAndDescribed() {
    Verifier v = acked(3, "g");
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 1, 0, 7);  // the system said offset 1
    v.received("g", 0, 2, 0, 2);
    Verifier.Outcome o = v.verify();
    assertThat(o.lost()).isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p)
        .contains("received producer 0 seq 1 at 0/7, but it was acknowledged at 0/1"));

    Verifier otherPartition = acked(1, "g");
    otherPartition.received("g", 0, 0, 3, 0);
    assertThat(otherPartition.verify().lost()).as("same offset, another partition").isEqualTo(1);
  }

  @Test
  void aRecordStoredButNeverAcknowledgedIsUnacknowledgedNotAnError() {
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    v.sent(0, 0, 0);
    v.acked(0, 0, 0, 0);
    v.sent(0, 1, 0);  // its answer never came
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 1, 0, 1);
    Verifier.Outcome o = v.verify();
    assertThat(o.unacknowledged()).isEqualTo(1);
    assertThat(o.acked()).isEqualTo(1);
    assertThat(o.lost()).isZero();
    assertThat(o.reordered()).isZero();
  }

  @Test
  void anAckThatArrivesAfterTheRecordWasReceivedStillCounts() {
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    v.sent(0, 0, 0);
    v.received("g", 0, 0, 0, 0);
    v.acked(0, 0, 0, 0);
    assertThat(v.verify().lost()).isZero();
    assertThat(v.verify().unacknowledged()).isZero();
  }

  @Test
  void valuesOfAnotherRunAreForeignAndIgnored() {
    Verifier v = acked(1, "g");
    ValueCodec codec = new ValueCodec(ValueCodec.Kind.JSON, 100);
    assertThat(v.received("g", codec.encode(new Identity(RUN + 1, 0, 0, 0, 0)), 0, 0)).isFalse();
    assertThat(v.received("g", "not ours".getBytes(), 0, 1)).isFalse();
    assertThat(v.received("g", codec.encode(new Identity(RUN, 0, 0, 0, 0)), 0, 0)).isTrue();
    Verifier.Outcome o = v.verify();
    assertThat(o.foreign()).isEqualTo(2);
    assertThat(o.lost()).isZero();
  }

  /**
   * Webhook deliveries are stored unkeyed and partitioned by their delivery id: records the harness chose for one key
   * land anywhere, and nothing orders unkeyed records. The history below would be a reorder for keyed records.
   */
  @Test
  void unkeyedRecordsAreNotCheckedForOrderButStillForLossAndDuplicates() {
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    for (int s = 0; s < 4; s++) {
      v.sent(0, s, 0, false);
      v.acked(0, s, 0, s);
    }
    v.received("g", 0, 2, 0, 2);
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 1, 0, 1);
    Verifier.Outcome o = v.verify();
    assertThat(o.reordered()).isZero();
    assertThat(o.duplicates()).isEqualTo(1);
    assertThat(o.lost()).as("seq 3 never came").isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p).contains("never received producer 0 seq 3"));

    Verifier misplaced = new Verifier(RUN, 1, List.of("g"));
    misplaced.sent(0, 0, 0, false);
    misplaced.acked(0, 0, 2, 5);
    misplaced.received("g", 0, 0, 1, 5);
    assertThat(misplaced.verify().lost()).as("received at another partition than acknowledged").isEqualTo(1);
  }

  @Test
  void keyedRecordsAreStillOrderedBesideUnkeyedOnes() {
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    v.sent(0, 0, 0, true);
    v.sent(0, 1, 0, false);
    v.sent(0, 2, 0, true);
    for (int s = 0; s < 3; s++) {
      v.acked(0, s, 0, s);
    }
    v.received("g", 0, 2, 0, 2);
    v.received("g", 0, 1, 0, 1);
    v.received("g", 0, 0, 0, 0);
    assertThat(v.verify().reordered()).as("only keyed seq 0 after keyed seq 2").isEqualTo(1);
  }

  @Test
  void manyRecordsGrowTheTracks() {
    Verifier v = acked(5000, "g");
    for (int s = 0; s < 5000; s++) {
      v.received("g", 0, s, 0, s);
    }
    assertThat(v.verify().lost()).isZero();
    assertThat(v.produced()).isEqualTo(5000);
    assertThat(v.acked()).isEqualTo(5000);
  }

  // ---- acknowledgements without a position (AMQP) and the order of acknowledgement and send --------------------------

  /** Producer 0 sends seq 0..n-1 of key 0, one after the other's acknowledgement, each acknowledged without a position. */
  private static Verifier ackedWithoutPosition(int n, String... groups) {
    Verifier v = new Verifier(RUN, 1, List.of(groups));
    for (int s = 0; s < n; s++) {
      v.sent(0, s, 0, true, 10L * s);
      v.ackedWithoutPosition(0, s, 10L * s + 5);
    }
    return v;
  }

  @Test
  void recordsAcknowledgedWithoutAPositionArePlacedWhereTheGroupsReceivedThem() {
    Verifier v = ackedWithoutPosition(4, "a", "b");
    for (String g : List.of("a", "b")) {
      for (int s = 0; s < 4; s++) {
        v.received(g, 0, s, 1, 100 + s);
      }
    }
    Verifier.Outcome o = v.verify();
    assertThat(o.acked()).isEqualTo(4);
    assertThat(o.lost()).isZero();
    assertThat(o.reordered()).isZero();
    assertThat(o.problems()).isEmpty();
    assertThat(v.complete()).isTrue();
  }

  @Test
  void anAcknowledgedIdentityNeverReceivedIsLostThoughNoPositionWasAcknowledged() {
    Verifier v = ackedWithoutPosition(3, "g");
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 2, 0, 1);
    Verifier.Outcome o = v.verify();
    assertThat(o.lost()).isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p)
        .contains("never received producer 0 seq 1 (key 0), acknowledged (without a position)"));
    assertThat(v.complete()).isFalse();
  }

  @Test
  void aGroupThatReceivesARecordElsewhereThanAnotherGroupLosesIt() {
    Verifier v = ackedWithoutPosition(1, "a", "b");
    v.received("a", 0, 0, 0, 5);
    v.received("b", 0, 0, 0, 6);
    Verifier.Outcome o = v.verify();
    assertThat(o.lost()).as("b got it at another offset than a").isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p)
        .contains("group b received producer 0 seq 0 at 0/6, but it was first received at 0/5"));
  }

  @Test
  void twoRecordsAtOnePositionAreMisplaced() {
    Verifier v = ackedWithoutPosition(2, "g");
    v.received("g", 0, 0, 0, 7);
    v.received("g", 0, 1, 0, 7);  // a node that labels two records with one offset
    Verifier.Outcome o = v.verify();
    assertThat(o.lost()).isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p)
        .contains("producer 0 seq 1 and producer 0 seq 0 are both at 0/7 (as received)"));

    Verifier acked = acked(2, "g");
    acked.acked(0, 1, 0, 0);  // the system acknowledged both at 0/0
    acked.received("g", 0, 0, 0, 0);
    acked.received("g", 0, 1, 0, 0);
    assertThat(acked.verify().lost()).as("also for acknowledged positions").isEqualTo(1);

    Verifier noPosition = ackedWithoutPosition(1, "g");
    noPosition.received("g", 0, 0, -1, -1);  // a delivery without the partition and offset annotations
    assertThat(noPosition.verify().lost()).isEqualTo(1);
    assertThat(noPosition.verify().problems()).anySatisfy(p -> assertThat(p).contains("which is no position"));
  }

  @Test
  void aReorderAgainstTheReceivedOffsetsIsCaught() {
    Verifier v = ackedWithoutPosition(3, "g");
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 2, 0, 2);
    v.received("g", 0, 1, 0, 1);
    Verifier.Outcome o = v.verify();
    assertThat(o.reordered()).isEqualTo(1);
    assertThat(o.lost()).isZero();
  }

  /**
   * A node that delivers a key's records out of order and labels them with offsets in the order it delivered them:
   * the offsets alone look fine, but seq 1 was sent only after seq 0 was acknowledged, so seq 0 must come first.
   */
  @Test
  void aRecordAcknowledgedBeforeAnotherOfItsKeyWasSentMustComeFirst() {
    Verifier v = ackedWithoutPosition(2, "g");
    v.received("g", 0, 1, 0, 0);
    v.received("g", 0, 0, 0, 1);
    Verifier.Outcome o = v.verify();
    assertThat(o.reordered()).isEqualTo(1);
    assertThat(o.problems()).anySatisfy(p -> assertThat(p)
        .contains("received key 0's producer 0 seq 0 (offset 0/1) after producer 0 seq 1, which was sent only after"
            + " this one was acknowledged"));

    // The same for positions the system acknowledged: stored out of the order of acknowledgement and send.
    Verifier stored = new Verifier(RUN, 1, List.of("g"));
    stored.sent(0, 0, 0, true, 0);
    stored.acked(0, 0, 0, 5, 10);
    stored.sent(0, 1, 0, true, 20);
    stored.acked(0, 1, 0, 3, 30);
    stored.received("g", 0, 1, 0, 3);
    stored.received("g", 0, 0, 0, 5);
    assertThat(stored.verify().reordered()).as("received in offset order, stored out of order").isEqualTo(1);
  }

  @Test
  void recordsInFlightTogetherMayComeEitherWay() {
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    v.sent(0, 0, 0, true, 0);
    v.sent(0, 1, 0, true, 1);  // sent before seq 0 was acknowledged
    v.ackedWithoutPosition(0, 0, 10);
    v.ackedWithoutPosition(0, 1, 11);
    v.received("g", 0, 1, 0, 0);
    v.received("g", 0, 0, 0, 1);
    Verifier.Outcome o = v.verify();
    assertThat(o.reordered()).isZero();
    assertThat(o.lost()).isZero();
    assertThat(o.duplicates()).isZero();
  }

  @Test
  void otherKeysAndOtherPartitionsAreNotOrderedByAcknowledgementEither() {
    Verifier v = new Verifier(RUN, 1, List.of("g"));
    v.sent(0, 0, 0, true, 0);
    v.ackedWithoutPosition(0, 0, 10);
    v.sent(0, 1, 1, true, 20);  // another key
    v.ackedWithoutPosition(0, 1, 30);
    v.sent(0, 2, 0, true, 40);  // key 0 again, after the partitions grew: another partition
    v.ackedWithoutPosition(0, 2, 50);
    v.received("g", 0, 1, 0, 0);
    v.received("g", 0, 2, 1, 0);
    v.received("g", 0, 0, 0, 1);
    assertThat(v.verify().reordered()).isZero();
  }

  @Test
  void unacknowledgedAndDuplicatesCountAsBeforeWithoutPositions() {
    Verifier v = ackedWithoutPosition(2, "g");
    v.sent(0, 2, 0, true, 100);  // never answered
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 0, 0, 0);
    v.received("g", 0, 1, 0, 1);
    v.received("g", 0, 2, 0, 2);
    Verifier.Outcome o = v.verify();
    assertThat(o.duplicates()).isEqualTo(1);
    assertThat(o.unacknowledged()).isEqualTo(1);
    assertThat(o.acked()).isEqualTo(2);
    assertThat(o.lost()).isZero();
  }
}
