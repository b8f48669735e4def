import { assertEquals } from "@std/assert";
import { serveTcp } from "@sockets/net/tcp";
import { listenUdp, serveUdp } from "@sockets/net/udp";
import { waitFor, within } from "./_helpers.ts";

const encoder = new TextEncoder();

Deno.test("Server.counters counts accepted and active connections", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, (conn) =>
    // Holds the connection until the client closes it.
    conn.read(new Uint8Array(1)));
  assertEquals(server.counters, {
    accepted: 0,
    active: 0,
    refusedByRules: 0,
    limitReached: 0,
    timedOut: 0,
    handlerErrors: 0,
  });
  const first = await Deno.connect({ port: server.addr.port });
  const second = await Deno.connect({ port: server.addr.port });
  await waitFor(() => server.counters.active === 2, "two active connections");
  assertEquals(server.counters.accepted, 2);
  first.close();
  second.close();
  await waitFor(() => server.counters.active === 0, "no active connection");
  assertEquals(server.counters.accepted, 2);
});

Deno.test("Server.counters counts handler errors, each reported", async () => {
  const errors: unknown[] = [];
  await using server = serveTcp({
    hostname: "127.0.0.1",
    port: 0,
    onError: (error) => errors.push(error),
  }, () => {
    throw new Error("boom");
  });
  for (let i = 0; i < 2; i++) {
    using conn = await Deno.connect({ port: server.addr.port });
    await within(conn.read(new Uint8Array(1)), "the close");
  }
  await waitFor(() => server.counters.handlerErrors === 2, "two errors");
  assertEquals(errors.length, 2);
  assertEquals(server.counters.timedOut, 0);
});

Deno.test("Server.counters counts connections ended at idleTimeout and connectionTimeout", async () => {
  for (const limit of [{ idleTimeout: 20 }, { connectionTimeout: 20 }]) {
    await using server = serveTcp(
      { hostname: "127.0.0.1", port: 0, ...limit },
      (conn) => conn.read(new Uint8Array(1)).catch(() => {}),
    );
    using conn = await Deno.connect({ port: server.addr.port });
    await waitFor(() => server.counters.timedOut === 1, JSON.stringify(limit));
    assertEquals(server.counters.handlerErrors, 0);
    conn.close();
    await waitFor(() => server.counters.active === 0, "the close");
  }
});

Deno.test("Server.counters counts connections refused by the rules", async () => {
  let handled = 0;
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0, deny: ["127.0.0.1"] },
    () => {
      handled++;
    },
  );
  using conn = await Deno.connect({ port: server.addr.port });
  await within(conn.read(new Uint8Array(1)).catch(() => null), "the close");
  await waitFor(() => server.counters.refusedByRules === 1, "the refusal");
  assertEquals(server.counters.accepted, 1);
  assertEquals(server.counters.active, 0);
  assertEquals(handled, 0);
});

Deno.test("DatagramServer.counters counts received datagrams, busy handlers and errors", async () => {
  const release = Promise.withResolvers<void>();
  const errors: unknown[] = [];
  await using server = serveUdp({
    hostname: "127.0.0.1",
    port: 0,
    onError: (error) => errors.push(error),
  }, async (data) => {
    if (data[0] === 0x21) throw new Error("boom");
    await release.promise;
  });
  assertEquals(server.counters, {
    received: 0,
    busy: 0,
    refusedByRules: 0,
    limitReached: 0,
    timedOut: 0,
    handlerErrors: 0,
    bytesIn: 0,
    bytesOut: 0,
  });
  using client = listenUdp({ hostname: "127.0.0.1", port: 0 });
  await client.send(encoder.encode("wait"), server.addr);
  await waitFor(() => server.counters.busy === 1, "a busy handler");
  await client.send(encoder.encode("!"), server.addr);
  await waitFor(() => server.counters.handlerErrors === 1, "the error");
  assertEquals(server.counters.received, 2);
  assertEquals(errors.length, 1);
  release.resolve();
  await waitFor(() => server.counters.busy === 0, "no busy handler");
});

Deno.test("DatagramServer.counters counts handlers given up at handlerTimeout and refused senders", async () => {
  await using timed = serveUdp({
    hostname: "127.0.0.1",
    port: 0,
    handlerTimeout: 20,
    onError: () => {},
  }, () => new Promise<void>(() => {}));
  await using refusing = serveUdp({
    hostname: "127.0.0.1",
    port: 0,
    allow: ["10.0.0.0/8"],
  }, () => {});
  using client = listenUdp({ hostname: "127.0.0.1", port: 0 });
  await client.send(encoder.encode("x"), timed.addr);
  await waitFor(() => timed.counters.timedOut === 1, "the timeout");
  assertEquals(timed.counters.handlerErrors, 0);
  await client.send(encoder.encode("x"), refusing.addr);
  await waitFor(() => refusing.counters.refusedByRules === 1, "the drop");
  assertEquals(refusing.counters.received, 1);
});

Deno.test("Server.counters counts the pauses at maxConnections, refusing nobody", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0, maxConnections: 2 },
    async (conn) => {
      await release.promise;
      await conn.write(encoder.encode("x"));
    },
  );
  using first = await Deno.connect({ port: server.addr.port });
  await waitFor(() => server.counters.active === 1, "one active connection");
  assertEquals(server.counters.limitReached, 0);
  using second = await Deno.connect({ port: server.addr.port });
  await waitFor(() => server.counters.limitReached === 1, "the limit");
  // The third client waits in the backlog until a slot frees.
  using third = await Deno.connect({ port: server.addr.port });
  release.resolve();
  for (const conn of [first, second, third]) {
    assertEquals(await within(conn.read(new Uint8Array(1)), "the reply"), 1);
  }
  await waitFor(() => server.counters.accepted === 3, "the third accept");
  assertEquals(server.counters.refusedByRules, 0);
});

Deno.test("DatagramServer.counters counts the times every handler was busy, and the bytes in and out", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serveUdp({
    hostname: "127.0.0.1",
    port: 0,
    maxConcurrency: 2,
  }, async (data) => {
    if (data[0] === 0x77) await release.promise;
    return data.subarray(0, 2);
  });
  using client = listenUdp({ hostname: "127.0.0.1", port: 0 });
  await client.send(encoder.encode("wait"), server.addr);
  await waitFor(() => server.counters.busy === 1, "one busy handler");
  assertEquals(server.counters.limitReached, 0);
  await client.send(encoder.encode("well"), server.addr);
  await waitFor(() => server.counters.limitReached === 1, "the limit");
  release.resolve();
  for (let i = 0; i < 2; i++) await within(client.receive(), "a reply");
  await client.send(encoder.encode("abc"), server.addr);
  await within(client.receive(), "the last reply");
  await waitFor(() => server.counters.bytesOut === 6, "three replies");
  assertEquals(server.counters.bytesIn, 11);
  assertEquals(server.counters.limitReached, 1);
});
