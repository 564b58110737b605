package dev.tidesync.bench;

import java.nio.file.Path;

/** A device file synced with a dataset, kept by a benchmark for a later scenario. */
record Synced(String dataset, Path file, String device) {}
