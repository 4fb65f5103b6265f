package dev.runnel.load;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintStream;
import java.io.PrintWriter;

/** {@code java -jar runnel-load.jar run --target URL ...}: see {@link RunCommand} and load-tests/README.md. */
@Command(name = "runnel-load", mixinStandardHelpOptions = true, version = "runnel-load 0.1",
    description = "Drives Runnel (HTTP) and Kafka with one workload, in turn, and verifies by identity that every "
        + "acknowledged record reached every group, in order.",
    subcommands = {RunCommand.class, CommandLine.HelpCommand.class})
public final class LoadMain {

  public static final int OK = 0;
  public static final int VERIFICATION_FAILED = 1;
  public static final int USAGE = 2;

  public static void main(String[] args) {
    int code = execute(args, System.out, System.err, DriverFactory.DEFAULT, System.getenv("CI") != null);
    System.out.flush();
    System.exit(code);
  }

  /**
   * Runs the command line: 0 when every run verified, 1 when one lost or reordered records, 2 on a usage or
   * connection failure.
   *
   * @param quiet no progress lines (as with the CI environment variable)
   */
  public static int execute(String[] args, PrintStream out, PrintStream err, DriverFactory drivers, boolean quiet) {
    CommandLine cli = new CommandLine(new LoadMain(), new Factory(out, drivers, quiet));
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    cli.setExecutionExceptionHandler((e, line, parsed) -> {
      if (e instanceof UsageException || e instanceof LoadRun.ConnectionFailure) {
        line.getErr().println("runnel-load: " + e.getMessage());
        return USAGE;
      }
      e.printStackTrace(line.getErr());
      return USAGE;
    });
    cli.setExitCodeExceptionMapper(e -> USAGE);
    return cli.execute(args);
  }

  /** Hands the streams and the driver factory to the run command. */
  private record Factory(PrintStream out, DriverFactory drivers, boolean quiet) implements CommandLine.IFactory {
    @Override
    public <K> K create(Class<K> cls) throws Exception {
      if (cls == RunCommand.class) {
        return cls.cast(new RunCommand(out, drivers, quiet));
      }
      return CommandLine.defaultFactory().create(cls);
    }
  }
}
