import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  runExample,
  startExample,
} from "./_examples.ts";
import { closedPort, isMissing, output, tempDir, waitFor } from "./_helpers.ts";

const pythonMissing = await isMissing("python3");

/** A client no one here wrote: Python's socket module, reading to EOF. */
const PYTHON_CLIENT = `
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    s.sendall(sys.argv[2].encode())
    s.shutdown(socket.SHUT_WR)
    chunks = []
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
sys.stdout.write(b"".join(chunks).decode())
`;

/** Sends `send` to `port` from Python and returns the reply. */
function python(port: number, send = ""): Promise<string> {
  return output("python3", ["-c", PYTHON_CLIENT, String(port), send]);
}

Deno.test("examples/tcp_hello_server.ts greets Deno and Python clients", async () => {
  await using server = await startExample("tcp_hello_server.ts", [
    "--port",
    "0",
  ]);
  assert(server.address.startsWith("127.0.0.1:"), server.address);
  using conn = await Deno.connect({ port: server.port });
  assertEquals(await new Response(conn.readable).text(), "Hello World\n");
  if (!pythonMissing) {
    assertEquals(
      await python(server.port),
      "Hello World\n",
    );
  }
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
});

Deno.test("examples/tcp_hello_server.ts falls back to port 5432 for the hello service", async () => {
  const { code, stderr } = await runExample("tcp_hello_server.ts", [], {
    flags: [],
  });
  assertEquals(code, 1);
  assertStringIncludes(stderr, "--allow-net=127.0.0.1:5432");
});

Deno.test("examples/tcp_echo_server.ts echoes to the echo client and to Python", async () => {
  await using server = await startExample("tcp_echo_server.ts", [
    "--port",
    "0",
    "--max-connections",
    "1",
    "--idle-timeout",
    "10000",
  ]);
  const text = "hello\nworld\n".repeat(1000);
  const client = await runExample("tcp_echo_client.ts", [
    "--port",
    String(server.port),
  ], { stdin: text });
  assertEquals(client.code, 0, client.stderr);
  assertEquals(client.stdout, text);
  if (!pythonMissing) {
    assertEquals(
      await python(server.port, "ping from python"),
      "ping from python",
    );
  }
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
});

Deno.test("examples/tcp_hello_client.ts prints the greeting of examples/tcp_hello_server.ts", async () => {
  await using server = await startExample("tcp_hello_server.ts", [
    "--port",
    "0",
  ]);
  const client = await runExample("tcp_hello_client.ts", [
    "--port",
    String(server.port),
  ]);
  assertEquals(client, { code: 0, stdout: "Hello World\n", stderr: "" });
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
});

Deno.test("examples/tcp_hello_client.ts falls back to port 5432 for the hello service", async () => {
  const { code, stderr } = await runExample("tcp_hello_client.ts", [], {
    flags: [],
  });
  assertEquals(code, 1);
  assertStringIncludes(stderr, "--allow-net=127.0.0.1:5432");
});

Deno.test("examples/tcp_iterative_server.ts serves clients one at a time, in order", async () => {
  await using server = await startExample("tcp_iterative_server.ts", [
    "--port",
    "0",
  ]);
  const encoder = new TextEncoder();
  using first = await Deno.connect({ port: server.port });
  using second = await Deno.connect({ port: server.port });
  // The second client speaks first, but waits in the backlog until the
  // first one, which the server is serving, is done.
  await second.write(encoder.encode("Bob\n"));
  await first.write(encoder.encode("Ada\n"));
  assertEquals(
    await new Response(first.readable).text(),
    "hello Ada, you are visitor #1\n",
  );
  assertEquals(
    await new Response(second.readable).text(),
    "hello Bob, you are visitor #2\n",
  );
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
});

Deno.test("examples/tcp_echo_client.ts explains a refused connection", async () => {
  const port = closedPort();
  const { code, stderr } = await runExample("tcp_echo_client.ts", [
    "--port",
    String(port),
  ], { stdin: "" });
  assertEquals(code, 1);
  assertStringIncludes(
    stderr,
    `connect tcp 127.0.0.1:${port}: connection refused`,
  );
});

Deno.test("examples/tcp_*.ts need every flag of their header", async () => {
  await assertFlagsNeeded("tcp_hello_server.ts", ["--port", "0"]);
  await assertFlagsNeeded("tcp_echo_server.ts", ["--port", "0"]);
  await assertFlagsNeeded("tcp_iterative_server.ts", ["--port", "0"]);
  await assertFlagsNeeded("tcp_hello_client.ts", [
    "--port",
    String(closedPort()),
  ]);
  await assertFlagsNeeded("tcp_echo_client.ts", [
    "--port",
    String(closedPort()),
  ], {
    stdin: "",
  });
});

Deno.test("examples/tcp_echo_client.ts names the exact --allow-net flag", async () => {
  const { code, stderr } = await runExample("tcp_echo_client.ts", [
    "--port",
    "7007",
  ], { flags: [], stdin: "" });
  assertEquals(code, 1);
  assertStringIncludes(stderr, "--allow-net=127.0.0.1:7007");
});

/** The counter line that examples/tcp_counters_server.ts printed last. */
function lastCounters(output: string): string | undefined {
  return output.split("\n").findLast((line) => line.startsWith("counters "));
}

Deno.test("examples/tcp_counters_server.ts prints its counters on SIGUSR1 and at exit", async () => {
  await using server = await startExample("tcp_counters_server.ts", [
    "--port",
    "0",
  ]);
  for (const text of ["one", "two"]) {
    using conn = await Deno.connect({ port: server.port });
    await conn.write(new TextEncoder().encode(text));
    await conn.closeWrite();
    assertEquals(await new Response(conn.readable).text(), text);
  }
  Deno.kill(server.pid, "SIGUSR1");
  await waitFor(
    () => lastCounters(server.output())?.includes("accepted=2") ?? false,
    "the counter line",
  );
  assertEquals(
    lastCounters(server.output()),
    "counters accepted=2 active=0 refusedByRules=0 limitReached=0 timedOut=0 handlerErrors=0",
  );
  const { code, stdout } = await server.stop("SIGTERM");
  assertEquals(code, 0);
  assertStringIncludes(lastCounters(stdout) ?? "", "accepted=2");
  // One line on SIGUSR1, one more at exit.
  assertEquals(
    stdout.split("\n").filter((line) => line.startsWith("counters ")).length,
    2,
  );
});

Deno.test("examples/tcp_counters_server.ts --rules refuses and counts the clients its file denies", async () => {
  await using dir = await tempDir("counters-example");
  const rules = `${dir.path}/rules`;
  await Deno.writeTextFile(rules, "# nobody from here\n127.0.0.1:deny\n");
  await using server = await startExample(
    "tcp_counters_server.ts",
    ["--port", "0", "--rules", rules],
    {
      flags: [
        ...headerFlags("tcp_counters_server.ts"),
        `--allow-read=${rules}`,
      ],
    },
  );
  using conn = await Deno.connect({ port: server.port });
  await conn.write(new TextEncoder().encode("hello")).catch(() => 0);
  assertEquals(await new Response(conn.readable).text().catch(() => ""), "");
  Deno.kill(server.pid, "SIGUSR1");
  await waitFor(
    () => lastCounters(server.output())?.includes("refusedByRules=1") ?? false,
    "the refusal counted",
  );
  const { stdout } = await server.stop();
  assertStringIncludes(
    lastCounters(stdout) ?? "",
    "accepted=1 active=0 refusedByRules=1",
  );
});

Deno.test("examples/tcp_counters_server.ts --rules names the flag to read the file, and a bad line", async () => {
  await using dir = await tempDir("counters-example");
  const rules = `${dir.path}/rules`;
  await Deno.writeTextFile(rules, "10.0.0.0/8:allow\n10.0.0.66:deny\n");
  const denied = await runExample("tcp_counters_server.ts", [
    "--port",
    "0",
    "--rules",
    rules,
  ]);
  assertEquals(denied.code, 1);
  assertStringIncludes(denied.stderr, `--allow-read=${rules}`);
  const bad = await runExample(
    "tcp_counters_server.ts",
    ["--port", "0", "--rules", rules],
    {
      flags: [
        ...headerFlags("tcp_counters_server.ts"),
        `--allow-read=${rules}`,
      ],
    },
  );
  assertEquals(bad.code, 1);
  assertStringIncludes(bad.stderr, `${rules}:2: "10.0.0.66:deny": overlaps`);
  await assertFlagsNeeded("tcp_counters_server.ts", ["--port", "0"]);
});
