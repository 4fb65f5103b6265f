package dev.runnel.load;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the key index of the next record: uniform over the keys, or Zipf (a few hot keys). */
public final class KeyChooser {

  private final SplittableRandom random;
  private final int keys;
  private final double[] cumulative;  // Zipf only

  public KeyChooser(Workload.KeyDistribution distribution, int keys, double exponent, long seed) {
    this.random = new SplittableRandom(seed);
    this.keys = keys;
    if (distribution == Workload.KeyDistribution.ZIPF) {
      cumulative = new double[keys];
      double sum = 0;
      for (int i = 0; i < keys; i++) {
        sum += 1.0 / Math.pow(i + 1, exponent);
        cumulative[i] = sum;
      }
      for (int i = 0; i < keys; i++) {
        cumulative[i] /= sum;
      }
    } else {
      cumulative = null;
    }
  }

  public int next() {
    if (cumulative == null) {
      return random.nextInt(keys);
    }
    int i = Arrays.binarySearch(cumulative, random.nextDouble());
    return Math.min(keys - 1, i >= 0 ? i : -i - 1);
  }

  public static String keyName(int index) {
    return "key-" + index;
  }
}
