package dev.tidesync.bench;

import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/** A results table as aligned text (numbers right, text left) or as Markdown. */
final class Table {
  private Table() {}

  /** {@code textColumns}: the columns aligned left (the others are numbers, aligned right). */
  static String render(String[] header, List<String[]> rows, boolean markdown, Integer... textColumns) {
    Set<Integer> text = Set.of(textColumns);
    StringBuilder sb = new StringBuilder();
    if (markdown) {
      sb.append("| ").append(String.join(" | ", header)).append(" |\n|");
      for (int i = 0; i < header.length; i++) {
        sb.append(text.contains(i) ? "---|" : "---:|");
      }
      sb.append('\n');
      for (String[] r : rows) {
        sb.append("| ").append(String.join(" | ", r)).append(" |\n");
      }
      return sb.toString();
    }
    int[] w = IntStream.range(0, header.length)
        .map(i -> Math.max(header[i].length(), rows.stream().mapToInt(r -> r[i].length()).max().orElse(0))).toArray();
    line(sb, header, w, text);
    sb.append(IntStream.of(w).mapToObj("-"::repeat).collect(Collectors.joining("-+-"))).append('\n');
    for (String[] r : rows) {
      line(sb, r, w, text);
    }
    return sb.toString();
  }

  private static void line(StringBuilder sb, String[] cells, int[] w, Set<Integer> text) {
    for (int i = 0; i < cells.length; i++) {
      String pad = " ".repeat(w[i] - cells[i].length());
      sb.append(i > 0 ? " | " : "").append(text.contains(i) ? cells[i] + pad : pad + cells[i]);
    }
    sb.append('\n');
  }
}
