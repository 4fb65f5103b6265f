package dev.runnel.durability;

/** A failed storage operation, with the reason as a {@link StorageFailure}. */
public class StorageException extends RuntimeException {

  private final StorageFailure failure;

  public StorageException(StorageFailure failure, String message) {
    super(message, null, false, false);
    this.failure = failure;
  }

  public StorageException(StorageFailure failure, String message, Throwable cause) {
    super(message, cause, false, false);
    this.failure = failure;
  }

  public StorageFailure failure() {
    return failure;
  }
}
