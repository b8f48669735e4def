import { assertEquals } from "@std/assert";
import { ServedConnection, ServedConnections } from "../_served_connection.ts";

/** A served connection for a stand-in conn, named so that lists can be compared. */
function served(name: string): ServedConnection {
  return new ServedConnection({ name } as unknown as Deno.Conn, 0, () => {});
}

const names = (list: ServedConnections) =>
  [...list].map((c) => (c.conn as unknown as { name: string }).name);

Deno.test("ServedConnections adds, and removes from the front, middle and end", () => {
  const list = new ServedConnections();
  const [a, b, c, d] = ["a", "b", "c", "d"].map(served);
  for (const connection of [a, b, c, d]) list.add(connection);
  assertEquals(list.size, 4);
  assertEquals(names(list), ["d", "c", "b", "a"]);
  assertEquals(list.delete(b), true);
  assertEquals(names(list), ["d", "c", "a"]);
  assertEquals(list.delete(d), true);
  assertEquals(names(list), ["c", "a"]);
  assertEquals(list.delete(a), true);
  assertEquals(names(list), ["c"]);
  assertEquals(list.delete(c), true);
  assertEquals(names(list), []);
  assertEquals(list.size, 0);
});

Deno.test("ServedConnections.delete() of one not in the list changes nothing and says so", () => {
  const list = new ServedConnections();
  const [a, b, stranger] = ["a", "b", "stranger"].map(served);
  list.add(a);
  list.add(b);
  assertEquals(list.delete(stranger), false);
  assertEquals(list.delete(a), true);
  assertEquals(list.delete(a), false);
  assertEquals(names(list), ["b"]);
  assertEquals(list.size, 1);
});

Deno.test("ServedConnections.clear() lets go of every connection, so a later delete() is false", () => {
  const list = new ServedConnections();
  const [a, b, c] = ["a", "b", "c"].map(served);
  for (const connection of [a, b, c]) list.add(connection);
  list.clear();
  assertEquals(list.size, 0);
  assertEquals(names(list), []);
  for (const connection of [a, b, c]) {
    assertEquals(list.delete(connection), false);
    assertEquals(connection.previous, undefined);
    assertEquals(connection.next, undefined);
  }
  list.add(b);
  assertEquals(names(list), ["b"]);
});

Deno.test("ServedConnections can be iterated while the current connection is removed", () => {
  const list = new ServedConnections();
  const all = ["a", "b", "c", "d"].map(served);
  for (const connection of all) list.add(connection);
  const seen: ServedConnection[] = [];
  for (const connection of list) {
    seen.push(connection);
    list.delete(connection);
  }
  assertEquals(seen.length, 4);
  assertEquals(list.size, 0);
});
