package dev.runnel.load.driver;

/** How a group shares a topic: each partition to one member (Kafka), or any member any record (Runnel's shared). */
public enum GroupMode { PARTITIONED, SHARED }
