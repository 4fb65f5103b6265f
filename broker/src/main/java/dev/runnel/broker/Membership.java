package dev.runnel.broker;

import java.util.List;
import java.util.Map;

/** A member's identity in its group, the group's generation, and the partitions it owns (partitioned mode). */
public record Membership(String memberId, int generation, Map<String, List<Integer>> assignment) {
}
