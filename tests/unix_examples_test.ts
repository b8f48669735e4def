import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  headerFlagsIn,
  runExample,
  startExample,
} from "./_examples.ts";
import { exists, tempDir } from "./_helpers.ts";

Deno.test("examples/unix_*.ts headers name the default paths", () => {
  assertEquals(headerFlags("unix_echo_server.ts"), [
    "--allow-read=/tmp/sockets-net",
    "--allow-write=/tmp/sockets-net",
    "--allow-net=unix:/tmp/sockets-net/echo.sock,unix:/tmp/sockets-net/.echo.sock/s",
  ]);
  assertEquals(headerFlags("unix_client.ts"), [
    "--allow-read=/tmp/sockets-net/echo.sock",
    "--allow-write=/tmp/sockets-net/echo.sock",
    "--allow-net=unix:/tmp/sockets-net/echo.sock",
  ]);
});

Deno.test("examples/unix_echo_server.ts echoes to examples/unix_client.ts and removes its socket", async () => {
  await using dir = await tempDir("unix_examples_");
  const path = `${dir.path}/echo.sock`;
  await using server = await startExample("unix_echo_server.ts", [
    "--path",
    path,
    "--mode",
    "600",
    "--max-connections",
    "4",
  ], { flags: headerFlagsIn("unix_echo_server.ts", dir.path) });
  assertEquals(server.address, path);
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  const text = "hello\nunix\n".repeat(500);
  const client = await runExample("unix_client.ts", ["--path", path], {
    flags: headerFlagsIn("unix_client.ts", dir.path),
    stdin: text,
  });
  assertEquals(client.code, 0, client.stderr);
  assertEquals(client.stdout, text);
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  assert(!(await exists(path)), "the socket file is removed on SIGINT");
});

Deno.test("examples/unix_echo_server.ts replaces the socket of a killed run", async () => {
  await using dir = await tempDir("unix_examples_");
  const path = `${dir.path}/echo.sock`;
  const flags = headerFlagsIn("unix_echo_server.ts", dir.path);
  const first = await startExample("unix_echo_server.ts", ["--path", path], {
    flags,
  });
  // Only a SIGKILL leaves the file behind.
  await first.stop("SIGKILL");
  assert((await Deno.lstat(path)).isSocket, "the killed run left its socket");
  await using second = await startExample("unix_echo_server.ts", [
    "--path",
    path,
  ], { flags });
  const client = await runExample("unix_client.ts", ["--path", path], {
    flags: headerFlagsIn("unix_client.ts", dir.path),
    stdin: "again",
  });
  assertEquals(client.stdout, "again");
  assertEquals((await second.stop()).code, 0);
});

Deno.test("examples/unix_client.ts explains a missing server", async () => {
  await using dir = await tempDir("unix_examples_");
  const path = `${dir.path}/echo.sock`;
  const { code, stderr } = await runExample("unix_client.ts", [
    "--path",
    path,
  ], { flags: headerFlagsIn("unix_client.ts", dir.path), stdin: "" });
  assertEquals(code, 1);
  assertStringIncludes(
    stderr,
    `connect unix ${path}: no socket file at this path`,
  );
});

Deno.test("examples/unix_datagram_server.ts answers examples/unix_datagram_client.ts", async () => {
  await using dir = await tempDir("unix_examples_");
  const path = `${dir.path}/datagram.sock`;
  await using server = await startExample("unix_datagram_server.ts", [
    "--path",
    path,
  ], { flags: headerFlagsIn("unix_datagram_server.ts", dir.path) });
  assertEquals(server.address, path);
  const client = await runExample("unix_datagram_client.ts", [
    "--path",
    path,
    "--local-path",
    `${dir.path}/client.sock`,
  ], {
    flags: headerFlagsIn("unix_datagram_client.ts", dir.path),
    stdin: "one\ntwo\nthree\n",
  });
  assertEquals(client.code, 0, client.stderr);
  assertEquals(client.stdout, "one\ntwo\nthree\n");
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  // The server's socket and the client's are gone.
  const left = [];
  for await (const entry of Deno.readDir(dir.path)) left.push(entry.name);
  assertEquals(left, []);
});

Deno.test("examples/unix_*.ts need every flag of their header", async () => {
  await using dir = await tempDir("unix_examples_");
  await assertFlagsNeeded("unix_echo_server.ts", [
    "--path",
    `${dir.path}/echo.sock`,
  ], { flags: headerFlagsIn("unix_echo_server.ts", dir.path) });
  await assertFlagsNeeded("unix_client.ts", [
    "--path",
    `${dir.path}/echo.sock`,
  ], { flags: headerFlagsIn("unix_client.ts", dir.path), stdin: "" });
  await assertFlagsNeeded("unix_datagram_server.ts", [
    "--path",
    `${dir.path}/datagram.sock`,
  ], { flags: headerFlagsIn("unix_datagram_server.ts", dir.path) });
  await assertFlagsNeeded("unix_datagram_client.ts", [
    "--path",
    `${dir.path}/datagram.sock`,
    "--local-path",
    `${dir.path}/client.sock`,
  ], {
    flags: headerFlagsIn("unix_datagram_client.ts", dir.path),
    stdin: "x\n",
  });
});

Deno.test("examples/unix_*.ts print their usage with --help", async () => {
  for (
    const name of [
      "unix_echo_server.ts",
      "unix_client.ts",
      "unix_datagram_server.ts",
      "unix_datagram_client.ts",
    ]
  ) {
    const { code, stdout } = await runExample(name, ["--help"]);
    assertEquals(code, 0, name);
    assertStringIncludes(stdout, `Usage: ${name}`);
  }
});

Deno.test("examples/unix_echo_server.ts --path @NAME echoes on an abstract name to examples/unix_client.ts, under a bare --allow-net", async () => {
  const abstract = ["--path", "@sockets-echo"];
  assertEquals(headerFlags("unix_echo_server.ts", abstract), ["--allow-net"]);
  assertEquals(headerFlags("unix_client.ts", abstract), ["--allow-net"]);
  // Unique per run: abstract names are shared by the whole network namespace.
  const name = `@sockets-net-test-${Deno.pid}-${crypto.randomUUID()}`;
  await using server = await startExample("unix_echo_server.ts", [
    "--path",
    name,
  ], { flags: headerFlags("unix_echo_server.ts", abstract) });
  assertEquals(server.address, name);
  const client = await runExample("unix_client.ts", ["--path", name], {
    flags: headerFlags("unix_client.ts", abstract),
    stdin: "hello\nabstract\n",
  });
  assertEquals(client.code, 0, client.stderr);
  assertEquals(client.stdout, "hello\nabstract\n");
  await assertFlagsNeeded("unix_client.ts", ["--path", name], {
    flags: headerFlags("unix_client.ts", abstract),
    stdin: "",
  });
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  await assertFlagsNeeded("unix_echo_server.ts", ["--path", name], {
    flags: headerFlags("unix_echo_server.ts", abstract),
  });
});
