package dev.runnel.load;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The pinned JSON result (DESIGN.md section 9), the Markdown table and the ratios between targets. */
public final class Report {

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private Report() {
  }

  /** {@code {"targets":[{"target", "produced", ...}], "ratios":[...]}}: one entry per target and round. */
  public static String json(List<TargetResult> results) {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode targets = root.putArray("targets");
    for (TargetResult r : results) {
      ObjectNode t = targets.addObject();
      t.put("target", r.target());
      t.put("round", r.round());
      t.put("produced", r.produced());
      t.put("acked", r.acked());
      t.put("unacknowledged", r.unacknowledged());
      t.put("consumed", r.consumed());
      t.put("lost", r.lost());
      t.put("reordered", r.reordered());
      t.put("duplicates", r.duplicates());
      t.put("late", r.late());
      t.put("skipped", r.skipped());
      t.put("errors", r.errors());
      ObjectNode tp = t.putObject("throughput");
      tp.put("produce", round(r.produceMsgsPerS()));
      tp.put("consume", round(r.consumeMsgsPerS()));
      tp.put("produceMBps", round(r.produceMBPerS()));
      tp.put("consumeMBps", round(r.consumeMBPerS()));
      ObjectNode lat = t.putObject("latency");
      latency(lat.putObject("produceAck"), r.produceAck());
      latency(lat.putObject("endToEnd"), r.endToEnd());
      ArrayNode problems = t.putArray("problems");
      r.problems().forEach(problems::add);
      ArrayNode outages = t.putArray("outages");
      for (Outages.Outage o : r.outages()) {
        outages.addObject().put("kind", o.kind()).put("partition", o.partition()).put("fromMs", o.fromMs())
            .put("toMs", o.toMs());
      }
    }
    ArrayNode ratios = root.putArray("ratios");
    for (Map.Entry<String, double[]> e : ratios(results).entrySet()) {
      ObjectNode o = ratios.addObject();
      o.put("target", e.getKey());
      o.put("baseline", results.get(0).target());
      o.put("produce", round(e.getValue()[0]));
      o.put("consume", round(e.getValue()[1]));
    }
    try {
      return JSON.writeValueAsString(root) + "\n";
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** One row per target and round. */
  public static String markdown(List<TargetResult> results) {
    StringBuilder b = new StringBuilder();
    b.append("| target | round | produced | acked | unacked | consumed | lost | reordered | dups | late | errors"
        + " | produce msg/s | produce MB/s | consume msg/s | ack p50 | ack p99 | ack p99.9 | ack max | e2e p50"
        + " | e2e p99 | e2e p99.9 | e2e max |\n");
    b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        + "|---:|---:|\n");
    for (TargetResult r : results) {
      b.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.0f | %.2f | %.0f"
              + " | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |%n", r.target(), r.round(), r.produced(),
          r.acked(), r.unacknowledged(), r.consumed(), r.lost(), r.reordered(), r.duplicates(), r.late(), r.errors(),
          r.produceMsgsPerS(), r.produceMBPerS(), r.consumeMsgsPerS(), r.produceAck().p50(), r.produceAck().p99(),
          r.produceAck().p999(), r.produceAck().max(), r.endToEnd().p50(), r.endToEnd().p99(), r.endToEnd().p999(),
          r.endToEnd().max()));
    }
    Map<String, double[]> ratios = ratios(results);
    if (!ratios.isEmpty()) {
      b.append("\nRatios to ").append(results.get(0).target()).append(" (mean over rounds):\n\n");
      b.append("| target | produce | consume |\n|---|---:|---:|\n");
      ratios.forEach((t, v) -> b.append(String.format(Locale.ROOT, "| %s | %.2f× | %.2f× |%n", t, v[0], v[1])));
    }
    return b.toString();
  }

  /** Per target other than the first: its mean throughput over rounds divided by the first target's. */
  static Map<String, double[]> ratios(List<TargetResult> results) {
    Map<String, List<TargetResult>> byTarget = new LinkedHashMap<>();
    for (TargetResult r : results) {
      byTarget.computeIfAbsent(r.target(), k -> new ArrayList<>()).add(r);
    }
    Map<String, double[]> out = new LinkedHashMap<>();
    if (byTarget.size() < 2) {
      return out;
    }
    List<TargetResult> base = byTarget.values().iterator().next();
    double baseProduce = base.stream().mapToDouble(TargetResult::produceMsgsPerS).average().orElse(0);
    double baseConsume = base.stream().mapToDouble(TargetResult::consumeMsgsPerS).average().orElse(0);
    byTarget.entrySet().stream().skip(1).forEach(e -> {
      double p = e.getValue().stream().mapToDouble(TargetResult::produceMsgsPerS).average().orElse(0);
      double c = e.getValue().stream().mapToDouble(TargetResult::consumeMsgsPerS).average().orElse(0);
      out.put(e.getKey(), new double[] {baseProduce == 0 ? 0 : p / baseProduce, baseConsume == 0 ? 0 : c / baseConsume});
    });
    return out;
  }

  private static void latency(ObjectNode o, LatencySummary s) {
    o.put("p50", s.p50());
    o.put("p99", s.p99());
    o.put("p999", s.p999());
    o.put("max", s.max());
    o.put("count", s.count());
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
