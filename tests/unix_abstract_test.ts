import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  connectUnix,
  connectUnixDatagram,
  listenUnixDatagram,
  serveUnix,
  serveUnixDatagram,
} from "../unix.ts";
import { copy } from "../io.ts";
import { formatAddress } from "../resolve.ts";
import {
  DEADLINE_MS,
  exchange,
  isMissing,
  readUntil,
  within,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A fresh abstract name: the namespace is shared by every process of the
 * network namespace, so each test run picks its own.
 */
function abstractName(what: string): string {
  return `\0sockets-net-test-${what}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Runs a Python program, `name` given as its first argument without the NUL. */
function python(source: string, name: string): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: ["-c", source, name.slice(1)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Kills `child` unless it has exited already. */
function stop(child: Deno.ChildProcess): void {
  try {
    child.kill();
  } catch {
    // Exited already.
  }
}

Deno.test("serveUnix() and connectUnix() talk over an abstract name, shown as @name", async () => {
  const path = abstractName("stream");
  await using server = await serveUnix({ path }, (conn) => copy(conn, conn));
  assertEquals(server.addr.path, path);
  assertEquals(formatAddress(server.addr), `@${path.slice(1)}`);
  using conn = await connectUnix(path, { timeout: DEADLINE_MS });
  assertEquals(await exchange(conn, "abstract"), "abstract");
});

Deno.test("serveUnix() on an abstract name leaves no file and frees the name on shutdown", async () => {
  const path = abstractName("free");
  const cwdBefore = [...Deno.readDirSync(".")].length;
  {
    await using _server = await serveUnix({ path }, () => {});
  }
  assertEquals([...Deno.readDirSync(".")].length, cwdBefore);
  await using _again = await serveUnix({ path }, (conn) => copy(conn, conn));
  using conn = await connectUnix(path);
  assertEquals(await exchange(conn, "again"), "again");
});

Deno.test("connectUnix() to an abstract name nobody holds names it as @name", async () => {
  const path = abstractName("nobody");
  const error = await assertRejects(
    () => connectUnix(path),
    Deno.errors.ConnectionRefused,
  );
  assertStringIncludes(error.message, `connect unix @${path.slice(1)}:`);
});

Deno.test("abstract names: a mode, an empty name and a NUL inside are refused", async () => {
  await assertRejects(
    () => serveUnix({ path: abstractName("mode"), mode: 0o600 }, () => {}),
    TypeError,
    "options.mode applies to a socket file",
  );
  await assertRejects(
    () =>
      serveUnixDatagram(
        { path: abstractName("mode"), mode: 0o600 },
        () => undefined,
      ),
    TypeError,
    "has none: leave mode out",
  );
  await assertRejects(
    () => connectUnix("\0"),
    RangeError,
    "empty abstract name",
  );
  await assertRejects(
    () => connectUnix("\0a\0b"),
    RangeError,
    "except the first of an abstract name",
  );
  await assertRejects(() => connectUnix("/tmp/a\0b"), RangeError, "NUL");
});

Deno.test("an abstract name needs the bare --allow-net, which the error names", async () => {
  const path = abstractName("permission");
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-net=unix:/tmp",
      new URL("./fixtures/abstract_connect.ts", import.meta.url).pathname,
      path.slice(1),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
  }).output();
  assertEquals(
    decoder.decode(stdout).trim(),
    `connect unix @${
      path.slice(1)
    }: permission denied; run again with --allow-net`,
  );
});

Deno.test("socat ABSTRACT-CONNECT reaches serveUnix(), and connectUnix() reaches socat ABSTRACT-LISTEN", async () => {
  if (await isMissing("socat")) return;
  const path = abstractName("socat");
  // socat as the client: feed it a line on stdin.
  {
    await using _server = await serveUnix({ path }, (conn) => copy(conn, conn));
    const child = new Deno.Command("socat", {
      args: ["-t", "5", "-", `ABSTRACT-CONNECT:${path.slice(1)}`],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("from socat\n"));
    await writer.close();
    const { stdout, success } = await within(child.output(), "socat");
    assertEquals(success, true);
    assertEquals(decoder.decode(stdout), "from socat\n");
  }
  // socat as the server.
  const child = new Deno.Command("socat", {
    args: [`ABSTRACT-LISTEN:${path.slice(1)}`, "EXEC:cat"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    let conn: Deno.UnixConn | undefined;
    for (let i = 0; i < 100 && conn === undefined; i++) {
      try {
        conn = await connectUnix(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    using c = conn!;
    assertEquals(await exchange(c, "to socat"), "to socat");
  } finally {
    try {
      child.kill();
    } catch {
      // Exited after its one connection.
    }
    await child.status;
    await child.stderr.cancel().catch(() => {});
  }
});

Deno.test("Python reaches serveUnix() on an abstract name, and connectUnix() reaches Python", async () => {
  if (await isMissing("python3")) return;
  const path = abstractName("python");
  {
    await using _server = await serveUnix({ path }, (conn) => copy(conn, conn));
    const child = python(
      `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("\\0" + sys.argv[1])
s.sendall(b"from python")
s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode())`,
      path,
    );
    const output = child.output();
    try {
      await child.stdin.close();
      const { stdout, success } = await within(output, "python");
      assertEquals(success, true);
      assertEquals(decoder.decode(stdout), "from python\n");
    } finally {
      stop(child);
      await output;
    }
  }
  const child = python(
    `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind("\\0" + sys.argv[1])
s.listen()
print("ready", flush=True)
c, _ = s.accept()
c.sendall(c.recv(100).upper())
c.close()`,
    path,
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await child.stdin.close();
    await readUntil(reader, "ready");
    using conn = await connectUnix(path);
    await conn.write(encoder.encode("to python"));
    const buffer = new Uint8Array(100);
    const n = await within(conn.read(buffer), "python's answer");
    assertEquals(decoder.decode(buffer.subarray(0, n ?? 0)), "TO PYTHON");
  } catch (error) {
    stop(child);
    throw error;
  } finally {
    await reader.cancel();
    await child.stderr.cancel();
  }
  assertEquals((await within(child.status, "python")).success, true);
});

Deno.test("datagrams over abstract names: listenUnixDatagram() answers Python, and connectUnixDatagram() binds an abstract localPath", async () => {
  const path = abstractName("dgram");
  await using server = await listenUnixDatagram({ path });
  assertEquals(formatAddress(server.addr), `@${path.slice(1)}`);
  {
    const localPath = abstractName("dgram-client");
    using client = await connectUnixDatagram(path, { localPath });
    await client.send(encoder.encode("ping"));
    const { data, from } = await within(server.receive(), "a datagram");
    assertEquals(decoder.decode(data), "ping");
    assertEquals(from.path, localPath);
    await server.send(encoder.encode("pong"), from);
    assertEquals(
      decoder.decode(await within(client.receive(), "the answer")),
      "pong",
    );
  }
  if (await isMissing("python3")) return;
  const child = python(
    `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + sys.argv[1] + "-py")
s.sendto(b"from python", "\\0" + sys.argv[1])
print(s.recv(100).decode())`,
    path,
  );
  const output = child.output();
  try {
    await child.stdin.close();
    const { data, from } = await within(
      server.receive(),
      "python's datagram",
    );
    assertEquals(decoder.decode(data), "from python");
    assertEquals(from.path, `${path}-py`);
    await server.send(data, from);
    const { stdout, success } = await within(output, "python");
    assertEquals(success, true);
    assertEquals(decoder.decode(stdout), "from python\n");
  } finally {
    stop(child);
    await output;
  }
});

Deno.test("serveUnixDatagram() serves an abstract name", async () => {
  const path = abstractName("serve-dgram");
  await using _server = await serveUnixDatagram(
    { path },
    (data) => encoder.encode(decoder.decode(data).toUpperCase()),
  );
  using client = await connectUnixDatagram(path, {
    localPath: abstractName("serve-dgram-client"),
  });
  await client.send(encoder.encode("shout"));
  assertEquals(
    decoder.decode(await within(client.receive(), "the answer")),
    "SHOUT",
  );
});
