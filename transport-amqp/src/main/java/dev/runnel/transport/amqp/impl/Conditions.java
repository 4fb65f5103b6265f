package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import io.vertx.proton.ProtonHelper;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.transport.AmqpError;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.apache.qpid.proton.amqp.transport.LinkError;

/** Broker errors as AMQP error conditions (the pinned ones of DESIGN.md section 7), with the broker's message. */
final class Conditions {

  private Conditions() {
  }

  static ErrorCondition of(Throwable failure) {
    if (failure instanceof BrokerException b) {
      return ProtonHelper.condition(symbol(b.error()), b.getMessage());
    }
    return ProtonHelper.condition(AmqpError.INTERNAL_ERROR, "internal error");
  }

  static Symbol symbol(BrokerError error) {
    return switch (error) {
      case TOPIC_NOT_FOUND, NOT_FOUND, UNKNOWN_MEMBER -> AmqpError.NOT_FOUND;
      case UNAUTHORIZED, FORBIDDEN, INVALID_SIGNATURE -> AmqpError.UNAUTHORIZED_ACCESS;
      case RECORD_TOO_LARGE, BODY_TOO_LARGE -> LinkError.MESSAGE_SIZE_EXCEEDED;
      case INVALID_RECORD, BAD_ENCODING, MALFORMED_JSON -> AmqpError.DECODE_ERROR;
      case OVERLOADED -> AmqpError.RESOURCE_LIMIT_EXCEEDED;
      case INTERNAL, OUTCOME_UNKNOWN, UNAVAILABLE -> AmqpError.INTERNAL_ERROR;
      default -> AmqpError.INVALID_FIELD;
    };
  }

  static ErrorCondition invalidField(String description) {
    return ProtonHelper.condition(AmqpError.INVALID_FIELD, description);
  }

  static ErrorCondition notImplemented(String description) {
    return ProtonHelper.condition(AmqpError.NOT_IMPLEMENTED, description);
  }

  static ErrorCondition unauthorized(String description) {
    return ProtonHelper.condition(AmqpError.UNAUTHORIZED_ACCESS, description);
  }
}
