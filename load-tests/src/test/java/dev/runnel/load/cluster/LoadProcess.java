package dev.runnel.load.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The load tool as a user runs it ({@code java -jar runnel-load.jar run ...}), in a child process of its own. */
final class LoadProcess {

  static final Path LOAD_JAR = Path.of(System.getProperty("runnel.load.jar", "target/runnel-load.jar"));

  private final Process process;
  private final Path result;
  private final Path log;

  private LoadProcess(Process process, Path result, Path log) {
    this.process = process;
    this.result = result;
    this.log = log;
  }

  /** Starts {@code run} with {@code args} (the result file and quiet progress are added). */
  static LoadProcess start(Path dir, String name, String... args) throws Exception {
    Path result = dir.resolve(name + "-result.json");
    Path log = dir.resolve(name + "-load.log");
    List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
        "-Xmx512m", "-jar", LOAD_JAR.toAbsolutePath().toString(), "run"));
    command.addAll(List.of(args));
    command.addAll(List.of("--result", result.toString()));
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.to(log.toFile())).start();
    return new LoadProcess(p, result, log);
  }

  boolean alive() {
    return process.isAlive();
  }

  /** Waits for the run's end (bounded); its exit code. */
  int await() throws Exception {
    return await(5 * 60);
  }

  /** Waits up to {@code seconds} for the tool to end; answers its exit code. */
  int await(long seconds) throws Exception {
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError("the load tool did not end within " + seconds + " s:\n" + output());
    }
    return process.exitValue();
  }

  /** The JSON result's one target. */
  JsonNode result() throws Exception {
    return new ObjectMapper().readTree(result.toFile()).get("targets").get(0);
  }

  String output() throws Exception {
    return Files.exists(log) ? Files.readString(log) : "";
  }

  void kill() {
    if (process.isAlive()) {
      process.destroyForcibly();
    }
  }
}
