import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { serve } from "@sockets/net/server";
import { serveTcp } from "@sockets/net/tcp";
import { listenUdp, serveUdp } from "@sockets/net/udp";
import { serveUnix, serveUnixDatagram } from "@sockets/net/unix";
import { writeProxyHeader } from "@sockets/net/proxy";
import { serveWorkers } from "@sockets/net/workers";
import { admits, ruleGate } from "../_rules.ts";
import { readLine, tempDir, waitFor, within } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ECHO_HANDLER = new URL("./fixtures/echo_handler.ts", import.meta.url);

/** Reads until the server closes `conn`: true when it closed without sending anything. */
async function closedSilently(conn: Deno.Conn): Promise<boolean> {
  const buffer = new Uint8Array(64);
  try {
    return await within(conn.read(buffer), "the server to close") === null;
  } catch (error) {
    // A close with unread input may reach the client as a reset.
    return error instanceof Deno.errors.ConnectionReset;
  }
}

/** A server that writes the client's address, counting handler runs and errors. */
function addressServer(options: Parameters<typeof serveTcp>[0]) {
  const seen = { handled: 0, errors: [] as unknown[] };
  const server = serveTcp({
    hostname: "127.0.0.1",
    port: 0,
    onError: (error) => seen.errors.push(error),
    ...options,
  }, async (conn) => {
    seen.handled++;
    const addr = conn.remoteAddr as Deno.NetAddr;
    await conn.write(encoder.encode(`${addr.hostname}\n`));
  });
  return { server, seen };
}

Deno.test("serveTcp() with allow serves a listed client", async () => {
  const { server, seen } = addressServer({ allow: ["127.0.0.0/8"] });
  await using _ = server;
  using conn = await Deno.connect({ port: server.addr.port });
  assertEquals(await readLine(conn), "127.0.0.1\n");
  assertEquals(seen.handled, 1);
  assertEquals(server.counters.refusedByRules, 0);
});

Deno.test("serveTcp() with deny closes the client before any handler runs, unreported", async () => {
  const { server, seen } = addressServer({ deny: ["127.0.0.1"] });
  await using _ = server;
  using conn = await Deno.connect({ port: server.addr.port });
  assert(await closedSilently(conn));
  await waitFor(() => server.counters.refusedByRules === 1, "the refusal");
  assertEquals(seen.handled, 0);
  assertEquals(seen.errors, []);
});

Deno.test("serveTcp() with allow refuses a client not listed; deny wins over allow", async () => {
  for (
    const rules of [
      { allow: ["10.0.0.0/8", "::1"] },
      { allow: ["127.0.0.1"], deny: ["127.0.0.0/24"] },
    ]
  ) {
    const { server, seen } = addressServer(rules);
    await using _ = server;
    using conn = await Deno.connect({ port: server.addr.port });
    assert(await closedSilently(conn), JSON.stringify(rules));
    await waitFor(() => server.counters.refusedByRules === 1, "the refusal");
    assertEquals(seen.handled, 0);
  }
});

Deno.test("rules match an IPv4-mapped IPv6 client by its IPv4 entry", () => {
  const mapped = {
    transport: "tcp" as const,
    hostname: "::ffff:10.1.2.3",
    port: 1,
  };
  assertEquals(admits(ruleGate({ deny: ["10.0.0.0/8"] })!, mapped), false);
  assertEquals(admits(ruleGate({ allow: ["10.1.2.3"] })!, mapped), true);
  assertEquals(admits(ruleGate({ allow: ["10.1.2.4"] })!, mapped), false);
  const v6 = { transport: "tcp" as const, hostname: "2001:db8::7", port: 1 };
  assertEquals(admits(ruleGate({ deny: ["2001:db8::/32"] })!, v6), false);
  assertEquals(admits(ruleGate({ allow: ["10.0.0.0/8"] })!, v6), false);
});

Deno.test("serve() on a dual-stack listener applies an IPv4 rule to an IPv4-mapped client", async () => {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: "::", port: 0 });
  } catch {
    // No IPv6 here: the unit test above covers the matching.
    return;
  }
  let seenAs = "";
  let handled = 0;
  await using server = serve(listener, (conn) => {
    handled++;
    seenAs = (conn.remoteAddr as Deno.NetAddr).hostname;
  }, { deny: ["127.0.0.1"] });
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  assert(await closedSilently(conn));
  await waitFor(() => server.counters.refusedByRules === 1, "the refusal");
  assertEquals(handled, 0, `served as ${seenAs}`);
});

Deno.test("serveTcp() with proxy decides on the client address of the PROXY header", async () => {
  const { server, seen } = addressServer({
    proxy: { trusted: ["127.0.0.1"] },
    allow: ["198.51.100.0/24"],
    deny: ["198.51.100.66"],
  });
  await using _ = server;
  const from = (hostname: string) => ({
    remoteAddr: { transport: "tcp" as const, hostname, port: 50000 },
    localAddr: { transport: "tcp" as const, hostname: "192.0.2.1", port: 80 },
  });
  {
    // The peer, 127.0.0.1, is not allowed; the client the header names is.
    using conn = await Deno.connect({ port: server.addr.port });
    await writeProxyHeader(conn, from("198.51.100.7"));
    assertEquals(await readLine(conn), "198.51.100.7\n");
  }
  for (const client of ["198.51.100.66", "203.0.113.7"]) {
    using conn = await Deno.connect({ port: server.addr.port });
    await writeProxyHeader(conn, from(client));
    assert(await closedSilently(conn), client);
  }
  await waitFor(() => server.counters.refusedByRules === 2, "two refusals");
  assertEquals(seen.handled, 1);
  assertEquals(seen.errors, []);
});

Deno.test("serveUdp() drops datagrams from refused senders before the handler", async () => {
  let handled = 0;
  await using denied = serveUdp(
    { hostname: "127.0.0.1", port: 0, deny: ["127.0.0.0/8"] },
    () => {
      handled++;
    },
  );
  await using allowed = serveUdp(
    { hostname: "127.0.0.1", port: 0, allow: ["127.0.0.1"] },
    (data) => data,
  );
  using client = listenUdp({ hostname: "127.0.0.1", port: 0 });
  await client.send(encoder.encode("hi"), denied.addr);
  await waitFor(() => denied.counters.refusedByRules === 1, "the drop");
  assertEquals(handled, 0);
  await client.send(encoder.encode("hi"), allowed.addr);
  const { data: reply } = await within(client.receive(), "the reply");
  assertEquals(decoder.decode(reply), "hi");
  assertEquals(allowed.counters.refusedByRules, 0);
});

Deno.test("serveWorkers() passes the rules to every worker", async () => {
  const pool = await serveWorkers(ECHO_HANDLER, {
    hostname: "127.0.0.1",
    workers: 1,
    deny: ["127.0.0.1"],
  });
  try {
    using conn = await Deno.connect({ port: pool.addr.port });
    await conn.write(encoder.encode("hi\n"));
    assert(await closedSilently(conn));
  } finally {
    await pool.shutdown();
  }
});

Deno.test("the rules are checked at call time, naming the bad entry and the fix", async () => {
  const error = assertThrows(
    () => serveTcp({ port: 0, allow: ["127.0.0.1", "10.0.0.0/33"] }, () => {}),
    TypeError,
  );
  assertStringIncludes(error.message, "options.allow[1]");
  assertStringIncludes(error.message, '"10.0.0.0/33"');
  assertThrows(
    // @ts-expect-error: one string, not a list
    () => serveTcp({ port: 0, deny: "10.0.0.1" }, () => {}),
    TypeError,
    'options.deny must be an array of IP addresses and CIDR ranges such as ["127.0.0.1", "10.0.0.0/8"], got "10.0.0.1"',
  );
  assertThrows(
    // @ts-expect-error: a number, not an address
    () => serveUdp({ port: 0, deny: [7] }, () => {}),
    TypeError,
    "options.deny[0] must be an IP address or a CIDR range",
  );
  await assertRejects(
    () => serveWorkers(ECHO_HANDLER, { allow: ["localhost"] }),
    TypeError,
    "options.allow[0]",
  );
});

Deno.test("rules on a Unix socket are a TypeError that says what to use instead", async () => {
  await using dir = await tempDir("rules");
  await assertRejects(
    () =>
      serveUnix({ path: `${dir.path}/s.sock`, allow: ["10.0.0.1"] }, () => {}),
    TypeError,
    "options.mode",
  );
  await assertRejects(
    () =>
      serveUnixDatagram(
        { path: `${dir.path}/d.sock`, deny: ["10.0.0.1"] },
        () => {},
      ),
    TypeError,
    "the clients of a Unix socket have none",
  );
  // With proxy, the header's client address is an IP address: allowed.
  await using server = await serveUnix({
    path: `${dir.path}/p.sock`,
    proxy: { trusted: ["unix"] },
    allow: ["10.0.0.1"],
  }, () => {});
  assertEquals(server.counters.refusedByRules, 0);
});
