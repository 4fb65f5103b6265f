package dev.runnel.broker;

/**
 * Why a broker operation failed. Each constant is one public error code, with the same name; transports map it to
 * their protocol (an HTTP status, an AMQP error condition) and never invent codes of their own.
 */
public enum BrokerError {
  INVALID_TOPIC_NAME,
  TOPIC_NOT_FOUND,
  TOPIC_EXISTS,
  PARTITION_OUT_OF_RANGE,
  MALFORMED_JSON,
  INVALID_RECORD,
  BAD_ENCODING,
  RECORD_TOO_LARGE,
  BODY_TOO_LARGE,
  OFFSET_OUT_OF_RANGE,
  /** A request that is well-formed but asks for something invalid (a bad parameter, a bad partition count). */
  INVALID_REQUEST,
  /** A topic config key that does not exist or a value out of range. */
  INVALID_CONFIG,
  /** No such route or resource (other than a topic). */
  NOT_FOUND,
  METHOD_NOT_ALLOWED,
  UNKNOWN_MEMBER,
  /** A group that still has members cannot be deleted unless forced. */
  GROUP_NOT_EMPTY,
  STALE_GENERATION,
  UNKNOWN_TOKEN,
  LEASE_EXPIRED,
  INVALID_SIGNATURE,
  UNAUTHORIZED,
  FORBIDDEN,
  /** Too much is waiting; come back later. Nothing was stored. */
  OVERLOADED,
  /** Storage cannot take the request now. Nothing was stored. */
  UNAVAILABLE,
  /** A write was sent but whether it committed cannot be told. */
  OUTCOME_UNKNOWN,
  /** A bug: answered with an incident id that the server log carries too, never with internal text. */
  INTERNAL
}
