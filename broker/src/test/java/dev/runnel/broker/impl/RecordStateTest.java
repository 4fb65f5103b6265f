package dev.runnel.broker.impl;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A record's moves in a delivery state machine, as {@link RecordState} allows them. */
class RecordStateTest {

  @Test
  void theRulesMovesAreAllowed() {
    assertThat(RecordState.READY.to(RecordState.IN_FLIGHT).to(RecordState.READY).to(RecordState.IN_FLIGHT)
        .to(RecordState.DONE)).as("a retry, then an ack").isEqualTo(RecordState.DONE);
    assertThat(RecordState.READY.to(RecordState.IN_FLIGHT).to(RecordState.DEAD_LETTERING).to(RecordState.DONE))
        .as("a reject").isEqualTo(RecordState.DONE);
    assertThat(RecordState.DEAD_LETTERING.to(RecordState.READY)).as("a seek replays it").isEqualTo(RecordState.READY);
    assertThat(RecordState.READY.to(RecordState.DONE)).as("gone with retention").isEqualTo(RecordState.DONE);
  }

  @Test
  void aWrongMoveFailsLoudly() {
    for (RecordState target : RecordState.values()) {
      assertThatThrownBy(() -> RecordState.DONE.to(target)).as("a done record is final")
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("DONE to " + target);
    }
    assertThatThrownBy(() -> RecordState.DEAD_LETTERING.to(RecordState.IN_FLIGHT)).as("handed out while dead-lettered")
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> RecordState.IN_FLIGHT.to(RecordState.IN_FLIGHT)).as("handed out twice")
        .isInstanceOf(IllegalStateException.class);
  }
}
