package dev.runnel.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RendezvousTest {
  private static final List<String> THREE = List.of("node-a", "node-b", "node-c");

  private static List<String> keys(int n) {
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      keys.add("topic-" + (i % 7) + "/" + i);
    }
    return keys;
  }

  @Test
  void theOwnerDoesNotDependOnTheOrderOfTheView() {
    for (String key : keys(200)) {
      assertThat(Rendezvous.owner(key, List.of("node-c", "node-a", "node-b"))).isEqualTo(Rendezvous.owner(key, THREE));
    }
  }

  @Test
  void noNodesNoOwner() {
    assertThat(Rendezvous.owner("k", List.of())).isNull();
  }

  @Test
  void keysSpreadOverTheNodes() {
    Map<String, Integer> counts = new HashMap<>();
    for (String key : keys(3_000)) {
      counts.merge(Rendezvous.owner(key, THREE), 1, Integer::sum);
    }
    assertThat(counts).containsOnlyKeys(THREE);
    counts.values().forEach(c -> assertThat(c).isBetween(800, 1_200));  // 1,000 each, give or take
  }

  @Test
  void aLeavingNodeMovesOnlyItsOwnKeys() {
    List<String> two = List.of("node-a", "node-c");
    int moved = 0;
    for (String key : keys(1_000)) {
      String before = Rendezvous.owner(key, THREE);
      String after = Rendezvous.owner(key, two);
      if (!before.equals("node-b")) {
        assertThat(after).as(key).isEqualTo(before);
      } else {
        moved++;
      }
    }
    assertThat(moved).isPositive();
  }

  @Test
  void aJoiningNodeTakesKeysOnlyForItself() {
    List<String> four = List.of("node-a", "node-b", "node-c", "node-d");
    int taken = 0;
    for (String key : keys(1_000)) {
      String after = Rendezvous.owner(key, four);
      if (after.equals("node-d")) {
        taken++;
      } else {
        assertThat(after).as(key).isEqualTo(Rendezvous.owner(key, THREE));
      }
    }
    assertThat(taken).isBetween(150, 350);  // about a quarter
  }

  @Test
  void theSeparatorKeepsNodeAndKeyApart() {
    assertThat(Rendezvous.weight("ab", "c")).isNotEqualTo(Rendezvous.weight("a", "bc"));
  }
}
