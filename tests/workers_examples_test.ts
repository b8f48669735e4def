import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  runExample,
  startExample,
} from "./_examples.ts";
import { exchange } from "./_helpers.ts";

/** Sends `text` on a new connection to `port` and returns everything that comes back. */
async function echo(port: number, text: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return await exchange(conn, text);
}

Deno.test("examples/tcp_prefork_server.ts asks for net, read of this package, and --unstable-net", () => {
  assertEquals(headerFlags("tcp_prefork_server.ts"), [
    "--unstable-net",
    "--allow-net=127.0.0.1",
    "--allow-read=.",
  ]);
});

Deno.test("examples/tcp_prefork_server.ts echoes to many clients from its workers", async () => {
  await using server = await startExample("tcp_prefork_server.ts", [
    "--port",
    "0",
    "--workers",
    "2",
  ]);
  assert(server.address.startsWith("127.0.0.1:"), server.address);
  const texts = Array.from(
    { length: 20 },
    (_, i) => `client ${i}\n`.repeat(100),
  );
  assertEquals(
    await Promise.all(texts.map((text) => echo(server.port, text))),
    texts,
  );
  const text = "hello\nworld\n".repeat(1000);
  const client = await runExample("tcp_echo_client.ts", [
    "--port",
    String(server.port),
  ], { stdin: text });
  assertEquals(client.code, 0, client.stderr);
  assertEquals(client.stdout, text);
  const { code, stdout, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  assertEquals(stderr, "");
  assertStringIncludes(stdout, "2 workers");
});

Deno.test("examples/tcp_prefork_server.ts rejects --workers 0 without a stack trace", async () => {
  const { code, stderr } = await runExample("tcp_prefork_server.ts", [
    "--port",
    "0",
    "--workers",
    "0",
  ]);
  assertEquals(code, 1);
  assertStringIncludes(
    stderr,
    "options.workers must be a whole number of workers, 1 or more, got 0",
  );
  assert(!/^\s+at /m.test(stderr), stderr);
});

Deno.test("examples/tcp_prefork_server.ts needs every flag of its header", async () => {
  await assertFlagsNeeded("tcp_prefork_server.ts", ["--port", "0"]);
});
