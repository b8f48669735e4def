import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  importMapFlags,
  runExample,
  startExample,
} from "./_examples.ts";
import { closedPort, isMissing, readUntil } from "./_helpers.ts";

/** Long enough for a cold type check of the example; a hung receiver is then killed. */
const RUN_TIMEOUT_MS = 30_000;

const pythonMissing = await isMissing("python3");

/** A client no one here wrote: Python's socket module, one request. */
const PYTHON_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))
print(s.recvfrom(65535)[0].decode())
`;

Deno.test("examples/udp_echo_server.ts echoes to the request, connected and unconnected clients and Python", async () => {
  await using server = await startExample("udp_echo_server.ts", [
    "--port",
    "0",
  ]);
  assert(server.address.startsWith("127.0.0.1:"), server.address);
  const port = String(server.port);

  const request = await runExample("udp_client.ts", [
    "--port",
    port,
    "hello",
    "there",
  ]);
  assertEquals(request, { code: 0, stdout: "hello there\n", stderr: "" });

  const connected = await runExample("udp_connected_client.ts", [
    "--port",
    port,
  ], { stdin: "one\ntwo\nthree" });
  assertEquals(connected, {
    code: 0,
    stdout: "one\ntwo\nthree\n",
    stderr: "",
  });

  const unconnected = await runExample("udp_sendto_client.ts", [
    "--port",
    port,
  ], { stdin: "four\nfive\n" });
  assertEquals(unconnected, {
    code: 0,
    stdout: `${server.address}: four\n${server.address}: five\n`,
    stderr: "",
  });

  if (!pythonMissing) {
    const python = await new Deno.Command("python3", {
      args: ["-c", PYTHON_CLIENT, port, "from python"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(python.stdout), "from python\n");
  }

  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
});

Deno.test("examples/udp_client.ts lists its attempts when no server answers", async () => {
  const { code, stdout, stderr } = await runExample("udp_client.ts", [
    "--port",
    String(closedPort("udp")),
    "--attempt-timeout",
    "20",
    "--retries",
    "2",
    "anyone?",
  ]);
  assertEquals(code, 1);
  assertEquals(stdout, "");
  assertStringIncludes(stderr, "no answer after 3 attempts");
  assertStringIncludes(stderr, "attempt 3: no answer in 80 ms");
});

Deno.test("examples/udp_client.ts gives up at --timeout", async () => {
  const { code, stderr } = await runExample("udp_client.ts", [
    "--port",
    String(closedPort("udp")),
    "--attempt-timeout",
    "20",
    "--retries",
    "1000",
    "--backoff",
    "1",
    "--timeout",
    "100",
    "x",
  ]);
  assertEquals(code, 1);
  assertStringIncludes(stderr, "no answer within the timeout of 100 ms after");
  assertEquals(stderr.includes("attempt 1000"), false);
});

Deno.test("examples/udp_connected_client.ts reports lost answers, goes on, and exits 1", async () => {
  const { code, stdout, stderr } = await runExample("udp_connected_client.ts", [
    "--port",
    String(closedPort("udp")),
    "--timeout",
    "20",
  ], { stdin: "a\nb\n" });
  assertEquals(code, 1);
  assertStringIncludes(
    stderr,
    "no answer to 2 of 2 datagrams within 20 ms each",
  );
  assertEquals(
    stdout,
    "(no answer within 20 ms)\n(no answer within 20 ms)\n",
  );
});

/**
 * Starts the multicast receiver as the harness would, but keeps its stdout
 * readable line by line, to wait for the datagram before stopping it.
 */
function spawnReceiver(): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...importMapFlags(),
      ...headerFlags("udp_multicast.ts"),
      "examples/udp_multicast.ts",
      "receive",
      "--port",
      "0",
    ],
    cwd: new URL("../", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    // Inherited: with a piped stderr, this receiver missed the datagram
    // every time under gVisor (cause not found yet); its errors still show.
    stderr: "inherit",
  }).spawn();
}

Deno.test("examples/udp_multicast.ts sends to a receiver of the group", async () => {
  const receiver = spawnReceiver();
  const reader = receiver.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  const killer = setTimeout(() => receiver.kill("SIGKILL"), RUN_TIMEOUT_MS);
  try {
    let output = await readUntil(reader, "\n", "", RUN_TIMEOUT_MS);
    const listening = /^listening on 239\.255\.0\.1:(\d+)\n/.exec(output);
    assert(listening !== null, output);
    const sent = await runExample("udp_multicast.ts", [
      "send",
      "--port",
      listening[1],
      "hello,",
      "group",
    ]);
    assertEquals(sent, { code: 0, stdout: "", stderr: "" });
    output = await readUntil(reader, ": hello, group\n", output);
    assertStringIncludes(output, ": hello, group\n");
    receiver.kill("SIGINT");
    assertEquals((await reader.read()).done, true);
    assertEquals((await receiver.status).code, 0);
  } finally {
    clearTimeout(killer);
    await reader.cancel().catch(() => {});
  }
});

Deno.test("the UDP examples print their usage with --help", async () => {
  for (
    const name of [
      "udp_echo_server.ts",
      "udp_client.ts",
      "udp_connected_client.ts",
      "udp_sendto_client.ts",
      "udp_multicast.ts",
    ]
  ) {
    const { code, stdout } = await runExample(name, ["--help"]);
    assertEquals(code, 0, name);
    assertStringIncludes(stdout, `Usage: ${name}`);
  }
});

Deno.test("examples/udp_multicast.ts says which role to take", async () => {
  const { code, stderr } = await runExample("udp_multicast.ts", ["listen"]);
  assertEquals(code, 1);
  assertStringIncludes(stderr, 'give "receive" or "send" first, got "listen"');
});

Deno.test("the UDP examples need every flag of their header line", async () => {
  await assertFlagsNeeded("udp_echo_server.ts", ["--port", "0"]);
  await assertFlagsNeeded("udp_client.ts", ["--port", "9", "x"]);
  await assertFlagsNeeded("udp_connected_client.ts", ["--port", "9"]);
  await assertFlagsNeeded("udp_sendto_client.ts", ["--port", "9"], {
    stdin: "",
  });
  await assertFlagsNeeded("udp_multicast.ts", ["receive", "--port", "0"]);
  await assertFlagsNeeded("udp_multicast.ts", ["send", "x"]);
});
