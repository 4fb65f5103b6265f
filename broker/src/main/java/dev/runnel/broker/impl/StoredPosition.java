package dev.runnel.broker.impl;

import dev.runnel.broker.impl.RecordTable.Entry;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.ParkedRecord;
import io.vertx.core.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * A state machine's position as its {@link PositionSaver} stores it: the row each changed offset's record gets
 * ({@link RecordTable.Entry#change}) and the one statement, fenced by the group's epoch, that saves them with the
 * committed offset. Confined to its group's context.
 */
final class StoredPosition implements PositionSaver.Position {

  private static final Logger LOG = LoggerFactory.getLogger(StoredPosition.class);

  private final PartitionDelivery machine;
  private final GroupStateStore states;
  private final PartitionDelivery.Host host;
  private final RecordTable table;

  StoredPosition(PartitionDelivery machine, GroupStateStore states, PartitionDelivery.Host host, RecordTable table) {
    this.machine = machine;
    this.states = states;
    this.host = host;
    this.table = table;
  }

  @Override
  public boolean saveable() {
    return !machine.closed() && machine.isLoaded();
  }

  @Override
  public long now() {
    return host.now();
  }

  @Override
  public PositionSaver.Change change(long offset) {
    Entry e = table.get(offset);
    return e == null ? PositionSaver.Change.NO_ROW : e.change(machine.committed());
  }

  @Override
  public Future<Void> save(List<ParkedRecord> upserts, List<Long> deletes, List<Long> originDeletes) {
    return states.save(machine.group, machine.topic.id(), machine.partition, host.groupEpoch(), machine.committed(),
        machine.skipped(), upserts, deletes, originDeletes);
  }

  @Override
  public void saveFailed(Throwable cause) {
    LOG.warn("group {}: could not save its position in {}/{}: {}", machine.group, machine.topic.name(),
        machine.partition, cause.getMessage());
    if (machine.closed()) {
      machine.failRedrives();  // nobody saves them now
    }
  }
}
