package dev.runnel.load.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace of the test's own, joined to this one by a veth pair on a private /30 (this side {@link #outside},
 * the namespace's side {@link #inside}): a node started in it ({@link #exec}) reaches the others only through the
 * pair, so taking this side's end down ({@link #cut}) cuts it off from them and bringing it up ({@link #heal}) joins
 * it again. Traffic goes only between this host and the namespace. Needs root and iproute2; {@link #unavailable} says
 * why not. {@link #close} deletes the namespace, and the pair with it.
 */
final class NetworkCut implements AutoCloseable {

  private final String namespace;
  private final String hostEnd;
  final String outside;
  final String inside;

  private NetworkCut(int n) {
    this.namespace = "runnel-cut-" + n;
    this.hostEnd = "rncut" + n + "h";
    this.outside = "10.213." + n + ".1";
    this.inside = "10.213." + n + ".2";
  }

  /** Why a namespace cannot be made here (no {@code ip}, not root), or null when it can. */
  static String unavailable() {
    try {
      Process p = new ProcessBuilder("ip", "netns", "list").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
        return "'ip netns list' failed: " + out.strip();
      }
    } catch (IOException | InterruptedException e) {
      return "no iproute2 'ip' command: " + e.getMessage();
    }
    if (!"root".equals(System.getProperty("user.name"))) {
      return "network namespaces need root; this test runs as " + System.getProperty("user.name");
    }
    return null;
  }

  /** Makes the namespace and the pair, both ends up. */
  static NetworkCut create() throws Exception {
    NetworkCut cut = new NetworkCut((int) (ProcessHandle.current().pid() % 250) + 1);
    cut.ip("netns", "del", cut.namespace);  // a leftover of an earlier run with this pid, if any (fails otherwise)
    String nsEnd = cut.hostEnd.substring(0, cut.hostEnd.length() - 1) + "n";
    try {
      cut.must("netns", "add", cut.namespace);
      cut.must("link", "add", cut.hostEnd, "type", "veth", "peer", "name", nsEnd, "netns", cut.namespace);
      cut.must("addr", "add", cut.outside + "/30", "dev", cut.hostEnd);
      cut.must("link", "set", cut.hostEnd, "up");
      cut.must("-n", cut.namespace, "addr", "add", cut.inside + "/30", "dev", nsEnd);
      cut.must("-n", cut.namespace, "link", "set", nsEnd, "up");
      cut.must("-n", cut.namespace, "link", "set", "lo", "up");
    } catch (Exception | AssertionError e) {
      cut.close();
      throw e;
    }
    return cut;
  }

  /** The command prefix that runs a program inside the namespace. */
  List<String> exec() {
    return List.of("ip", "netns", "exec", namespace);
  }

  void cut() throws Exception {
    must("link", "set", hostEnd, "down");
  }

  void heal() throws Exception {
    must("link", "set", hostEnd, "up");
  }

  @Override
  public void close() throws Exception {
    ip("netns", "del", namespace);
  }

  private void must(String... args) throws Exception {
    String failed = ip(args);
    if (failed != null) {
      throw new AssertionError(failed);
    }
  }

  /** Runs {@code ip args}; null when it succeeded, else what it said. */
  private String ip(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("ip"));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return String.join(" ", command) + " did not finish";
    }
    return p.exitValue() == 0 ? null : String.join(" ", command) + " failed: " + out.strip();
  }
}
