package dev.runnel.load.driver;

import java.util.List;
import java.util.concurrent.CompletionStage;

public interface ProducerClient extends AutoCloseable {

  /** Sends the records, in one request where the protocol allows; completes with one Ack per record, in order, once
   *  all are acknowledged, or fails (then none of them counts as acknowledged). */
  CompletionStage<List<Ack>> send(List<OutgoingRecord> records);

  @Override
  void close();
}
