package dev.runnel.load.driver;

import java.util.concurrent.CompletionStage;

/** One system under test (Runnel over HTTP, Kafka, later AMQP), reached through its public protocol only. */
public interface Driver extends AutoCloseable {

  /** Uses the topic as it is when it exists, else creates it with {@code partitions}; answers its partition count. */
  CompletionStage<Integer> prepareTopic(String topic, int partitions);

  /** A new producer of the topic; the harness uses each producer from one thread at a time. */
  ProducerClient producer(String topic);

  /** A new member of {@code group} on the topic; once started it hands every record it receives to the sink and
   *  acknowledges it after the sink returned. */
  ConsumerClient consumer(String topic, String group, GroupMode mode, RecordSink sink);

  @Override
  void close();
}
