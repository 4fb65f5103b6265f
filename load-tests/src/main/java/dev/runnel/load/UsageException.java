package dev.runnel.load;

/** A command line, workload or target the tool cannot run (exit 2). */
public class UsageException extends RuntimeException {

  public UsageException(String message) {
    super(message);
  }
}
