package dev.runnel.durability.impl;

import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import org.junit.jupiter.api.Test;

import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** A partition lease's epoch and local deadline, on a clock the test moves; no Postgres. */
class PartitionLeaseTest {

  private static final long MS = 1_000_000;

  private final AtomicLong nanos = new AtomicLong(-5_000 * MS);  // System.nanoTime may be negative
  private final PartitionLease lease = new PartitionLease(null, null,
      new TopicMetadata(UUID.randomUUID(), "t", 1, TopicConfig.DEFAULT), 0, 30_000, nanos::get);

  @Test
  void aLeaseRunsALeaseLengthFromWhenItsAcquisitionWasSent() {
    long sent = nanos.get();
    nanos.addAndGet(2_000 * MS);  // the answer took 2 s
    lease.took(7, sent);
    assertThat(lease.epoch()).isEqualTo(7);
    nanos.set(sent + 30_000 * MS);
    assertThat(lease.expired()).as("at the deadline").isFalse();
    nanos.addAndGet(1);
    assertThat(lease.expired()).as("past it: counted from the send, not the answer").isTrue();
  }

  @Test
  void aRenewalMovesTheDeadlineFromItsOwnSendTime() {
    lease.took(1, nanos.get());
    nanos.addAndGet(25_000 * MS);
    long renewalSent = nanos.get();
    nanos.addAndGet(10_000 * MS);  // answered late, after the first deadline
    lease.renewed(renewalSent);
    assertThat(lease.expired()).isFalse();
    nanos.set(renewalSent + 30_000 * MS + 1);
    assertThat(lease.expired()).isTrue();
    assertThat(lease.epoch()).as("a renewal keeps the epoch").isEqualTo(1);
  }

  @Test
  void onlyANoticeAboutTheCurrentEpochFencesIt() {
    lease.took(4, nanos.get());
    assertThat(lease.fencedBy(3)).as("a renewal sent before the last acquisition").isFalse();
    assertThat(lease.fencedBy(4)).isTrue();
    lease.took(5, nanos.get());
    assertThat(lease.fencedBy(4)).isFalse();
  }

  @Test
  void aLeaseNeverTakenHasNothingToRelease() {
    assertThat(lease.epoch()).isZero();
    assertThat(lease.release().succeeded()).as("no statement (this lease has no store)").isTrue();
  }
}
