package dev.tidesync.cli.internal;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/** Sets log levels from the {@code --verbose} count; logback.xml holds the defaults (WARN to stderr). */
public final class Logging {
  private Logging() {}

  /** 0: WARN and up; 1: INFO; 2 or more: DEBUG for Tidesync (Jetty and Javalin stay at INFO, they are very chatty). */
  public static void configure(int verbosity) {
    if (verbosity <= 0) {
      return;
    }
    if (!(LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext)) {
      return; // another backend on the class path: leave it alone
    }
    Level level = verbosity == 1 ? Level.INFO : Level.DEBUG;
    ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).setLevel(level);
    ((Logger) LoggerFactory.getLogger("io.javalin.Javalin")).setLevel(Level.INFO); // OFF by default (logback.xml)
    if (level == Level.DEBUG) {
      ((Logger) LoggerFactory.getLogger("org.eclipse.jetty")).setLevel(Level.INFO);
      ((Logger) LoggerFactory.getLogger("io.javalin")).setLevel(Level.INFO);
    }
  }
}
