package dev.runnel.load;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkloadTest {

  @Test
  void durationsTakeTheirUnit() {
    assertThat(Workload.parseDuration("500ms", "d")).isEqualTo(Duration.ofMillis(500));
    assertThat(Workload.parseDuration("30s", "d")).isEqualTo(Duration.ofSeconds(30));
    assertThat(Workload.parseDuration("1.5s", "d")).isEqualTo(Duration.ofMillis(1500));
    assertThat(Workload.parseDuration("5m", "d")).isEqualTo(Duration.ofMinutes(5));
    assertThat(Workload.parseDuration("1h", "d")).isEqualTo(Duration.ofHours(1));
    assertThat(Workload.parseDuration("2", "d")).as("plain seconds").isEqualTo(Duration.ofSeconds(2));
    assertThatThrownBy(() -> Workload.parseDuration("2 days", "duration")).isInstanceOf(UsageException.class)
        .hasMessageContaining("duration must be a duration");
  }

  @Test
  void theDefaultsAreTheDocumentedOnes() {
    Workload w = new Workload();
    assertThat(w.topic).isEqualTo("runnel-load");
    assertThat(w.maxInFlight).isEqualTo(1000);
    assertThat(w.durationValue()).isEqualTo(Duration.ofSeconds(30));
    assertThat(w.warmupValue()).isEqualTo(Duration.ofSeconds(5));
    assertThat(w.rate).as("closed loop").isNull();
    assertThat(w.consumers).isEqualTo(1);
    w.check();
  }
}
