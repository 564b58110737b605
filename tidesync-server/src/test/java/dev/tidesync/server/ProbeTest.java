package dev.tidesync.server;

import java.io.*;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProbeTest {
  @Test
  void probe() throws Exception {
    try (TidesyncServer s = TidesyncServer.start(new FakeStorage(), ServerConfig.defaults().withPort(0))) {
      for (String req : new String[] {
          "GET /v1/datasets/%zz/pull HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(20000) + "\r\nConnection: close\r\n\r\n",
          "GET /" + "a".repeat(20000) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          "BLAH / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          "GARBAGE\r\n\r\n",
          "DELETE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          "GET /v1/datasets/../../etc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      }) {
        try (Socket sock = new Socket("127.0.0.1", s.port())) {
          sock.getOutputStream().write(req.getBytes(StandardCharsets.UTF_8));
          String resp = new String(sock.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
          System.out.println("=== " + req.substring(0, Math.min(40, req.length())).replace("\r\n", " ") + "\n" + resp.substring(0, Math.min(600, resp.length())));
        }
      }
    }
  }
}
