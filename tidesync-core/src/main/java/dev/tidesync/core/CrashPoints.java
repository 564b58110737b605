package dev.tidesync.core;

import java.util.function.Consumer;

/**
 * Named crash points: places where a process dying matters to correctness (after a commit and
 * before the answer, between an answer and recording it, in the middle of applying a page).
 * In production {@link #hit} does nothing; crash tests install a hook that throws or halts, to
 * prove that no accepted change is lost or applied twice.
 */
public final class CrashPoints {
  /** The server committed a push and has not answered yet. */
  public static final String SERVER_PUSH_COMMITTED = "server.push.committed";
  /** The device received the server's answer to a push and has not recorded it yet. */
  public static final String DEVICE_PUSH_ANSWERED = "device.push.answered";
  /** The device is half-way through applying a pulled page (inside its transaction). */
  public static final String DEVICE_PULL_APPLYING = "device.pull.applying";

  private static volatile Consumer<String> hook;

  private CrashPoints() {}

  public static void hit(String name) {
    Consumer<String> h = hook;
    if (h != null) {
      h.accept(name);
    }
  }

  /** Installs a hook (tests only); null removes it. */
  public static void install(Consumer<String> h) {
    hook = h;
  }
}
