package dev.tidesync.core;

/** One device as the server saw it: when it last pushed and pulled (epoch ms, 0 = never). */
public record DeviceStatus(String device, long lastPush, long lastPull, long pushes, long pulls, long changes) {}
