import { assertEquals, assertRejects } from "@std/assert";
import { acceptPeer, loopbackPair } from "../loopback_pair.ts";
import { copy, lines, readExactly, writeAll } from "../io.ts";
import { readAll } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("loopbackPair() gives two connected ends, each the other's peer", async () => {
  const [a, b] = await loopbackPair({ timeout: 5_000 });
  using _a = a;
  using _b = b;
  assertEquals(a.localAddr, b.remoteAddr);
  assertEquals(a.remoteAddr, b.localAddr);
  assertEquals(a.localAddr.hostname, "127.0.0.1");
});

Deno.test("loopbackPair() ends work with the io helpers and a handler, half-close included", async () => {
  const [client, served] = await loopbackPair();
  using _client = client;
  // A handler as serve() would run it, on the accepted end.
  const handler = async (conn: Deno.Conn) => {
    for await (const line of lines(conn)) {
      await writeAll(conn, encoder.encode(line.toUpperCase() + "\n"));
    }
    await conn.closeWrite();
  };
  const handled = handler(served).finally(() => served.close());
  await writeAll(client, encoder.encode("one\ntwo\n"));
  assertEquals(decoder.decode((await readExactly(client, 8))!), "ONE\nTWO\n");
  await client.closeWrite();
  assertEquals(await readAll(client), "");
  await handled;
});

Deno.test("loopbackPair() ends copy() into each other", async () => {
  const [a, b] = await loopbackPair();
  using _a = a;
  using _b = b;
  const echoed = copy(b, b).then(() => b.closeWrite());
  await writeAll(a, encoder.encode("x".repeat(100_000)));
  await a.closeWrite();
  assertEquals((await readAll(a)).length, 100_000);
  await echoed;
});

Deno.test("acceptPeer() closes an intruder that connected first, and pairs the right conn", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using intruder = await Deno.connect({ port: listener.addr.port });
  using client = await Deno.connect({ port: listener.addr.port });
  using accepted = await acceptPeer(listener, client);
  assertEquals(accepted.remoteAddr, client.localAddr);
  // The intruder's connection was accepted and closed: it reads the end.
  assertEquals(await intruder.read(new Uint8Array(1)), null);
});

Deno.test("loopbackPair() rejects with the reason of an aborted signal, leaving nothing open", async () => {
  const controller = new AbortController();
  controller.abort(new Error("stopped"));
  await assertRejects(
    () => loopbackPair({ signal: controller.signal }),
    Error,
    "stopped",
  );
});

Deno.test("loopbackPair() aborted once it has started rejects with the signal's reason, leaving nothing open", async () => {
  const controller = new AbortController();
  // The call has listened and is connecting when the signal aborts.
  const pair = loopbackPair({ signal: controller.signal });
  controller.abort(new Error("stopped"));
  await assertRejects(() => pair, Error, "stopped");
});

Deno.test("loopbackPair() names a misspelled option", async () => {
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => loopbackPair({ timout: 5 } as any),
    TypeError,
    "timeout",
  );
});

Deno.test("loopbackPair() names the --allow-net flag it needs", async () => {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-net=127.0.0.2",
      new URL("./fixtures/loopback_pair_child.ts", import.meta.url).pathname,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
  }).output();
  assertEquals(
    decoder.decode(stdout).trim(),
    "loopbackPair: permission denied to listen and connect on 127.0.0.1; run again with --allow-net=127.0.0.1",
  );
});
