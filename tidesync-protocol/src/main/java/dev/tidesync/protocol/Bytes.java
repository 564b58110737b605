package dev.tidesync.protocol;

import java.util.Arrays;
import java.util.Base64;

/** An immutable BLOB value with content equality (a record over byte[] would compare references). */
public final class Bytes implements Comparable<Bytes> {
  private final byte[] data;

  private Bytes(byte[] data) {
    this.data = data;
  }

  public static Bytes of(byte[] data) {
    return new Bytes(data.clone());
  }

  static Bytes wrap(byte[] data) {
    return new Bytes(data);
  }

  public static Bytes fromBase64(String b64) {
    return new Bytes(Base64.getDecoder().decode(b64));
  }

  public byte[] toArray() {
    return data.clone();
  }

  public int length() {
    return data.length;
  }

  public String base64() {
    return Base64.getEncoder().encodeToString(data);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Bytes b && Arrays.equals(data, b.data);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(data);
  }

  @Override
  public int compareTo(Bytes o) {
    return Arrays.compareUnsigned(data, o.data);
  }

  @Override
  public String toString() {
    return "x'" + java.util.HexFormat.of().formatHex(data) + "'";
  }
}
