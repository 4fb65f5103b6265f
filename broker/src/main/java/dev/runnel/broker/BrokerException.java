package dev.runnel.broker;

import dev.runnel.durability.StorageException;

/** A failed broker operation: an error code and a message meant for the client. */
public class BrokerException extends RuntimeException {

  private final BrokerError error;

  public BrokerException(BrokerError error, String message) {
    super(message, null, false, false);
    this.error = error;
  }

  public BrokerException(BrokerError error, String message, Throwable cause) {
    super(message, cause, false, false);
    this.error = error;
  }

  public BrokerError error() {
    return error;
  }

  /** Whether {@code t} is a failure the broker reports (its own or storage's), rather than a transport's. */
  public static boolean isBrokerFailure(Throwable t) {
    return t instanceof BrokerException || t instanceof StorageException;
  }

  /** The broker's view of any failure: storage reasons keep their meaning, anything else is UNAVAILABLE. */
  public static BrokerException from(Throwable t) {
    if (t instanceof BrokerException b) {
      return b;
    }
    if (t instanceof StorageException s) {
      BrokerError error = switch (s.failure()) {
        case TOPIC_NOT_FOUND -> BrokerError.TOPIC_NOT_FOUND;
        case OFFSET_OUT_OF_RANGE -> BrokerError.OFFSET_OUT_OF_RANGE;
        case OVERLOADED -> BrokerError.OVERLOADED;
        case UNAVAILABLE -> BrokerError.UNAVAILABLE;
        case OUTCOME_UNKNOWN -> BrokerError.OUTCOME_UNKNOWN;
      };
      return new BrokerException(error, s.getMessage(), s);
    }
    // Anything else is a bug; its text stays in the cause, for the log, and never reaches a client.
    return new BrokerException(BrokerError.INTERNAL, "internal error", t);
  }
}
