package dev.runnel.load;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class KeyChooserTest {

  static int[] counts(Workload.KeyDistribution d, int keys, int draws) {
    KeyChooser c = new KeyChooser(d, keys, 1.0, 42);
    int[] n = new int[keys];
    for (int i = 0; i < draws; i++) {
      n[c.next()]++;
    }
    return n;
  }

  @Test
  void uniformKeysAreDrawnAboutEquallyOften() {
    int[] n = counts(Workload.KeyDistribution.UNIFORM, 10, 100_000);
    for (int k = 0; k < 10; k++) {
      assertThat(n[k]).as("key %d", k).isBetween(9_000, 11_000);
    }
  }

  @Test
  void zipfKeysFollowOneOverTheirRank() {
    // Exponent 1 over 10 keys: key 0 has 1/H(10) = 34% of the draws, key 1 half of that, key 9 a tenth.
    int[] n = counts(Workload.KeyDistribution.ZIPF, 10, 100_000);
    assertThat(n[0]).isBetween(32_000, 36_300);
    assertThat(n[1] * 2.0 / n[0]).isBetween(0.9, 1.1);
    assertThat(n[9] * 10.0 / n[0]).isBetween(0.85, 1.15);
    assertThat(java.util.Arrays.stream(n).sum()).isEqualTo(100_000);
  }

  @Test
  void theSameSeedDrawsTheSameKeys() {
    KeyChooser a = new KeyChooser(Workload.KeyDistribution.ZIPF, 100, 1.2, 7);
    KeyChooser b = new KeyChooser(Workload.KeyDistribution.ZIPF, 100, 1.2, 7);
    for (int i = 0; i < 1000; i++) {
      assertThat(a.next()).isEqualTo(b.next());
    }
  }
}
