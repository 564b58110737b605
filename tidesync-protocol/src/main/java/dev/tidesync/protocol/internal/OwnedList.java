package dev.tidesync.protocol.internal;

import java.util.ArrayList;

/** A list handed over to a value type that keeps it without copying (see {@link OwnedMap}). */
public final class OwnedList<E> extends ArrayList<E> {
  private static final long serialVersionUID = 1L;

  public OwnedList(int expected) {
    super(expected);
  }
}
