package dev.runnel.durability.impl;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The partition writer's life, as {@link WriterState} allows it. */
class WriterStateTest {

  @Test
  void theWritersLifeIsAllowed() {
    WriterState s = WriterState.NEW;
    s = s.to(WriterState.ACQUIRING).to(WriterState.ACTIVE).to(WriterState.LOST).to(WriterState.ACQUIRING)
        .to(WriterState.CLOSING).to(WriterState.LOST).to(WriterState.ACQUIRING).to(WriterState.CLOSING)
        .to(WriterState.CLOSED).to(WriterState.CLOSED);
    assertThat(s).isEqualTo(WriterState.CLOSED);
    assertThat(WriterState.ACTIVE.to(WriterState.CLOSED)).as("an abort").isEqualTo(WriterState.CLOSED);
  }

  @Test
  void aWrongMoveFailsLoudly() {
    assertThatThrownBy(() -> WriterState.NEW.to(WriterState.ACTIVE)).as("writing without a lease")
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("NEW to ACTIVE");
    assertThatThrownBy(() -> WriterState.CLOSED.to(WriterState.LOST)).as("a closed writer acquiring again")
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> WriterState.ACTIVE.to(WriterState.ACQUIRING)).as("acquiring without losing first")
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> WriterState.LOST.to(WriterState.ACTIVE)).as("active without acquiring")
        .isInstanceOf(IllegalStateException.class);
  }
}
