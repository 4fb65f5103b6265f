package dev.runnel.durability;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How long the embedded Postgres's supervisor waits between starts of a server that died; no server. */
class RestartsTest {

  @Test
  void eachWaitDoublesUpToTheLongest() {
    EmbeddedPostgres.Restarts restarts = new EmbeddedPostgres.Restarts(5, Duration.ofMillis(500), Duration.ofSeconds(3));
    Duration wait = restarts.firstBackoff();
    StringBuilder waits = new StringBuilder();
    for (int i = 0; i < 5; i++) {
      waits.append(wait.toMillis()).append(' ');
      wait = restarts.after(wait);
    }
    assertThat(waits.toString().trim()).isEqualTo("500 1000 2000 3000 3000");
    assertThat(new EmbeddedPostgres.Restarts(2, Duration.ZERO, Duration.ZERO).after(Duration.ZERO))
        .as("no wait at all").isEqualTo(Duration.ZERO);
  }

  @Test
  void aScheduleWithoutAnAttemptOrWithItsWaitsBackwardsIsRefused() {
    assertThatThrownBy(() -> new EmbeddedPostgres.Restarts(0, Duration.ZERO, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new EmbeddedPostgres.Restarts(3, Duration.ofSeconds(2), Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
