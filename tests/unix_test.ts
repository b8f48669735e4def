import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import {
  connectUnix,
  connectUnixDatagram,
  listenUnixDatagram,
  serveUnix,
} from "../unix.ts";
import {
  crashServerAt,
  DEADLINE_MS,
  echo,
  exchange,
  exists,
  isMissing,
  output,
  pathOfLength,
  readLine,
  readUntil,
  tempDir,
  waitFor,
  writeAll,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const pythonMissing = await isMissing("python3");

/** Sends `text`, half-closes, and returns everything the server sent back. */
async function exchangeAt(path: string, text: string): Promise<string> {
  using conn = await connectUnix(path, { timeout: DEADLINE_MS });
  return await exchange(conn, text);
}

Deno.test("serveUnix() echoes over a Unix stream socket at its path", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("echo.sock");
  let localPath: string | undefined;
  await using server = await serveUnix({ path }, async (conn) => {
    localPath = conn.localAddr.path;
    await echo(conn);
  });
  assertEquals(server.addr, { transport: "unix", path });
  assert((await Deno.lstat(path)).isSocket);
  assertEquals(await exchangeAt(path, "hello over unix"), "hello over unix");
  assertEquals(localPath, path);
  // Only the socket is left in the directory: the private one is gone.
  const names = [];
  for await (const entry of Deno.readDir(dir.path)) names.push(entry.name);
  assertEquals(names, ["echo.sock"]);
});

Deno.test("serveUnix() removes its socket file when it shuts down", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("s.sock");
  const server = await serveUnix({ path }, echo);
  assert(await exists(path));
  await server.shutdown();
  assertFalse(await exists(path));
});

Deno.test("serveUnix() replaces the stale socket file of a server killed with SIGKILL", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("crashed.sock");
  await crashServerAt(path, "unix");
  await assertRejects(() => connectUnix(path), Deno.errors.ConnectionRefused);
  await using _server = await serveUnix({ path }, echo);
  // Answered where the stale file refused: the file was replaced. (Its inode
  // proves nothing: the file system may give the new socket the old number.)
  assertEquals(await exchangeAt(path, "after the crash"), "after the crash");
});

Deno.test("serveUnix() with removeStale: false fails on a stale socket file and keeps it", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("stale.sock");
  await crashServerAt(path, "unix");
  await assertRejects(
    () => serveUnix({ path, removeStale: false }, echo),
    Deno.errors.AddrInUse,
    `listen unix ${path}: a stale socket file (no server answers)`,
  );
  assert((await Deno.lstat(path)).isSocket);
});

Deno.test("serveUnix() never deletes a regular file, a directory or a link at the path", async () => {
  await using dir = await tempDir("unix_test_");
  const file = dir.file("precious.txt");
  await Deno.writeTextFile(file, "keep me");
  await assertRejects(
    () => serveUnix({ path: file }, echo),
    Deno.errors.AlreadyExists,
    `listen unix ${file}: the path is a regular file, not a socket, and was left untouched`,
  );
  assertEquals(await Deno.readTextFile(file), "keep me");

  const directory = dir.file("a-directory");
  await Deno.mkdir(directory);
  await assertRejects(
    () => serveUnix({ path: directory }, echo),
    Deno.errors.AlreadyExists,
    "is a directory, not a socket",
  );
  assert((await Deno.lstat(directory)).isDirectory);

  const link = dir.file("link.sock");
  await Deno.symlink(file, link);
  await assertRejects(
    () => serveUnix({ path: link }, echo),
    Deno.errors.AlreadyExists,
    "is a symbolic link, not a socket",
  );
  assert((await Deno.lstat(link)).isSymlink);
});

Deno.test("serveUnix() fails clearly when a live server owns the path", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("live.sock");
  await using _first = await serveUnix({ path }, echo);
  const inode = (await Deno.lstat(path)).ino;
  const error = await assertRejects(
    () => serveUnix({ path }, echo),
    Deno.errors.AddrInUse,
    `listen unix ${path}: a live server owns this socket file`,
  );
  assertStringIncludes(
    error.message,
    "stop that server or choose another path",
  );
  assertEquals((await Deno.lstat(path)).ino, inode);
  assertEquals(await exchangeAt(path, "still first"), "still first");
});

Deno.test("serveUnix() treats a live datagram socket at the path as in use", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("dgram.sock");
  await using _datagram = await listenUnixDatagram({ path });
  await assertRejects(
    () => serveUnix({ path }, echo),
    Deno.errors.AddrInUse,
    "a live server owns this socket file",
  );
});

Deno.test("serveUnix() on close leaves a newer server's socket at the same path", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("shared.sock");
  const older = await serveUnix(
    { path },
    (conn) => conn.write(encoder.encode("old")),
  );
  await Deno.remove(path);
  await using _newer = await serveUnix(
    { path },
    (conn) => conn.write(encoder.encode("new")),
  );
  const inode = (await Deno.lstat(path)).ino;
  await older.shutdown();
  assertEquals((await Deno.lstat(path)).ino, inode);
  using conn = await connectUnix(path);
  assertEquals(await new Response(conn.readable).text(), "new");
});

Deno.test("serveUnix() on close leaves a regular file put at its path", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("replaced.sock");
  const server = await serveUnix({ path }, echo);
  await Deno.remove(path);
  await Deno.writeTextFile(path, "not yours");
  await server.shutdown();
  assertEquals(await Deno.readTextFile(path), "not yours");
});

Deno.test("serveUnix() gives the socket file its mode before anyone can reach it", async () => {
  await using dir = await tempDir("unix_test_");
  for (const mode of [0o600, 0o660, 0o666, 0o700]) {
    const path = dir.file(`mode-${mode.toString(8)}.sock`);
    await using server = await serveUnix({ path, mode }, echo);
    const info = await Deno.stat(path);
    assert(info.isSocket);
    assertEquals(
      (info.mode! & 0o777).toString(8),
      mode.toString(8),
      `mode 0o${mode.toString(8)}`,
    );
    assertEquals(await exchangeAt(server.addr.path, "mode"), "mode");
  }
});

Deno.test("serveUnix() rejects a path longer than sun_path before any system call", async () => {
  await using dir = await tempDir("unix_test_");
  const path = pathOfLength(108, dir.path);
  assertEquals(encoder.encode(path).length, 108);
  await assertRejects(
    () => serveUnix({ path }, echo),
    RangeError,
    "options.path is 108 bytes long, but a Unix socket path holds at most 107 (sun_path)",
  );
  assertFalse(await exists(path));
  // Multi-byte characters count as the bytes they take.
  await assertRejects(
    () => serveUnix({ path: `${dir.path}/${"é".repeat(60)}` }, echo),
    RangeError,
    "at most 107",
  );
  await assertRejects(
    () => connectUnix(path),
    RangeError,
    "path is 108 bytes long",
  );
  await assertRejects(
    () => listenUnixDatagram({ path }),
    RangeError,
    "options.path is 108 bytes long",
  );
  await assertRejects(
    () => connectUnixDatagram(path),
    RangeError,
    "path is 108 bytes long",
  );
});

Deno.test("serveUnix() accepts a path whose private bind path fits sun_path", async () => {
  await using dir = await tempDir("unix_test_");
  // DIR/NAME binds first at DIR/.NAME/s: 3 bytes more.
  const path = pathOfLength(104, dir.path);
  await using server = await serveUnix({ path }, echo);
  assertEquals(await exchangeAt(server.addr.path, "104"), "104");
  await assertRejects(
    () => serveUnix({ path: pathOfLength(105, dir.path) }, echo),
    RangeError,
    "(108 bytes), and a Unix socket path holds at most 107 bytes (sun_path); choose a path of at most 104 bytes",
  );
});

Deno.test("serveUnix() clears a private directory left by a crashed start", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("restart.sock");
  const leftover = dir.file(".restart.sock");
  await Deno.mkdir(leftover);
  await crashServerAt(`${leftover}/s`, "unix");
  await using server = await serveUnix({ path }, echo);
  assertEquals(await exchangeAt(server.addr.path, "again"), "again");
  assertFalse(await exists(leftover));
});

Deno.test("serveUnix() leaves a foreign file where its private directory goes", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("blocked.sock");
  const blocker = dir.file(".blocked.sock");
  await Deno.writeTextFile(blocker, "mine");
  await assertRejects(
    () => serveUnix({ path }, echo),
    Deno.errors.AlreadyExists,
    `listen unix ${path}: ${blocker}, where the server binds before its socket is put in place, is in the way and was left untouched`,
  );
  assertEquals(await Deno.readTextFile(blocker), "mine");
  assertFalse(await exists(path));
});

Deno.test({
  name: "serveUnix() names the exact flags for its path and private paths",
  permissions: { read: false, write: false, net: false },
  async fn() {
    await assertRejects(
      () => serveUnix({ path: "/run/app/app.sock" }, echo),
      Deno.errors.NotCapable,
      "listen unix /run/app/app.sock: permission denied; run again with --allow-read=/run/app/app.sock,/run/app/.app.sock --allow-write=/run/app/app.sock,/run/app/.app.sock --allow-net=unix:/run/app/app.sock,unix:/run/app/.app.sock/s",
    );
  },
});

/** A directory for the tests that run with exactly the permissions a function names. */
const grantedDir = await Deno.makeTempDir({ prefix: "unix_test_granted_" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(grantedDir, { recursive: true });
});

Deno.test({
  name: "serveUnix() and connectUnix() run with exactly the flags they name",
  permissions: {
    read: [`${grantedDir}/g.sock`, `${grantedDir}/.g.sock`],
    write: [`${grantedDir}/g.sock`, `${grantedDir}/.g.sock`],
    net: [`unix:${grantedDir}/g.sock`, `unix:${grantedDir}/.g.sock/s`],
  },
  async fn() {
    const path = `${grantedDir}/g.sock`;
    await using _server = await serveUnix({ path, mode: 0o600 }, echo);
    assertEquals(await exchangeAt(path, "least privilege"), "least privilege");
  },
});

Deno.test({
  name:
    "connectUnix() names the --allow-read, --allow-write and --allow-net flags for the path",
  permissions: { read: false, write: false, net: false },
  async fn() {
    await assertRejects(
      () => connectUnix("/run/app/app.sock"),
      Deno.errors.NotCapable,
      "connect unix /run/app/app.sock: permission denied; run again with --allow-read=/run/app/app.sock --allow-write=/run/app/app.sock --allow-net=unix:/run/app/app.sock",
    );
  },
});

Deno.test("serveUnix() validates its arguments", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("v.sock");
  await assertRejects(
    // @ts-expect-error: no options
    () => serveUnix(undefined, echo),
    TypeError,
    'options must be an object with a path, such as { path: "/tmp/app.sock" }',
  );
  await assertRejects(
    // @ts-expect-error: no path
    () => serveUnix({}, echo),
    TypeError,
    "options.path must be a socket file path",
  );
  await assertRejects(
    () => serveUnix({ path: "" }, echo),
    RangeError,
    "options.path must not be empty",
  );
  await assertRejects(
    () => serveUnix({ path, mode: 0o1777 }, echo),
    RangeError,
    "options.mode must be permission bits from 0o000 to 0o777 such as 0o600, got 0o1777",
  );
  await assertRejects(
    // @ts-expect-error: a string mode
    () => serveUnix({ path, mode: "600" }, echo),
    TypeError,
    'options.mode must be a number of permission bits such as 0o600, got "600"',
  );
  await assertRejects(
    // @ts-expect-error: not a boolean
    () => serveUnix({ path, removeStale: "yes" }, echo),
    TypeError,
    'options.removeStale must be true or false, got "yes"',
  );
  await assertRejects(
    // @ts-expect-error: no handler
    () => serveUnix({ path }),
    TypeError,
    "handler must be a function",
  );
  await assertRejects(
    () => serveUnix({ path, maxConnections: 0 }, echo),
    RangeError,
    "options.maxConnections",
  );
  assertFalse(await exists(path), "a rejected server leaves no file");
});

Deno.test("serveUnix() with maxConnections: 1 serves one client at a time", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("iterative.sock");
  await using server = await serveUnix({ path, maxConnections: 1 }, echo);
  using first = await connectUnix(path);
  await writeAll(first, "1\n");
  assertEquals(await readLine(first), "1\n");
  using second = await connectUnix(path);
  await writeAll(second, "2\n");
  let answered = false;
  const answer = readLine(second).then((line) => {
    answered = true;
    return line;
  });
  // Awaited below; a failed assertion first closes the connection under it.
  answer.catch(() => {});
  // A round trip through the first handler gives a server without the limit
  // the turns it needs to accept and answer the second client.
  await writeAll(first, "again\n");
  assertEquals(await readLine(first), "again\n");
  // The second client waits in the backlog while the first is served.
  assertEquals(server.connections, 1);
  assertEquals(answered, false, "the second client was served");
  first.close();
  assertEquals(await answer, "2\n");
});

Deno.test("serveUnix() closes connections after idleTimeout", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("idle.sock");
  await using _server = await serveUnix({ path, idleTimeout: 50 }, echo);
  using conn = await connectUnix(path);
  assertEquals(await conn.read(new Uint8Array(1)), null);
});

Deno.test("serveUnix() shuts down on abort and removes its file", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("abort.sock");
  const controller = new AbortController();
  let listened: Deno.Addr | undefined;
  const server = await serveUnix({
    path,
    signal: controller.signal,
    onListen: (addr) => listened = addr,
  }, echo);
  assertEquals(listened, { transport: "unix", path });
  controller.abort();
  await server.finished;
  assertFalse(await exists(path));
});

Deno.test("serveUnix() reports handler errors to onError and force-closes after shutdownTimeout", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("errors.sock");
  const errors: unknown[] = [];
  const { promise: handled, resolve } = Promise.withResolvers<void>();
  const server = await serveUnix({
    path,
    shutdownTimeout: 20,
    onError: (error) => {
      errors.push(error);
      resolve();
    },
  }, async (conn) => {
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    if (decoder.decode(buffer.subarray(0, n ?? 0)) === "fail") {
      throw new Error("handler failed");
    }
    await conn.read(buffer); // Hangs until the shutdown closes the connection.
  });
  using failing = await connectUnix(path);
  await failing.write(encoder.encode("fail"));
  await handled;
  assertEquals((errors[0] as Error).message, "handler failed");
  using hanging = await connectUnix(path);
  await hanging.write(encoder.encode("hang"));
  await waitFor(() => server.connections === 1, "the hanging connection");
  await server.shutdown();
  assertEquals(await hanging.read(new Uint8Array(1)), null);
  assertEquals(errors.length, 1);
});

Deno.test("connectUnix() explains a missing file and a stale one", async () => {
  await using dir = await tempDir("unix_test_");
  await assertRejects(
    () => connectUnix(dir.file("none.sock")),
    Deno.errors.NotFound,
    `connect unix ${dir.file("none.sock")}: no socket file at this path`,
  );
  const stale = dir.file("stale.sock");
  await crashServerAt(stale, "unix");
  const error = await assertRejects(
    () => connectUnix(stale),
    Deno.errors.ConnectionRefused,
    `connect unix ${stale}: connection refused; no server is bound to this socket file`,
  );
  assertInstanceOf(error.cause, Deno.errors.ConnectionRefused);
});

Deno.test("connectUnix() rejects with the signal's reason", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("s.sock");
  await using _server = await serveUnix({ path }, echo);
  const controller = new AbortController();
  const reason = new Error("stop");
  controller.abort(reason);
  const error = await assertRejects(() =>
    connectUnix(path, { signal: controller.signal })
  );
  assertEquals(error, reason);
  await assertRejects(
    // @ts-expect-error: a string timeout
    () => connectUnix(path, { timeout: "1s" }),
    TypeError,
    'options.timeout must be a number of milliseconds, got "1s"',
  );
});

Deno.test("connectUnix() names the server by the path it was given", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("named.sock");
  await using _server = await serveUnix({ path }, echo);
  using conn = await connectUnix(path, { timeout: DEADLINE_MS });
  assertEquals(conn.remoteAddr, { transport: "unix", path });
});

// Peers no one here wrote.

/** Python's AF_UNIX stream client: sends argv[2], half-closes, prints the reply. */
const PYTHON_STREAM_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
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

Deno.test({
  name: "serveUnix() echoes to Python's socket module",
  ignore: pythonMissing,
  async fn() {
    await using dir = await tempDir("unix_test_");
    const path = dir.file("py.sock");
    await using _server = await serveUnix({ path, mode: 0o600 }, echo);
    assertEquals(
      await output("python3", [
        "-c",
        PYTHON_STREAM_CLIENT,
        path,
        "from python",
      ]),
      "from python",
    );
  },
});

Deno.test({
  name: "connectUnix() talks to a Python AF_UNIX server",
  ignore: pythonMissing,
  async fn() {
    await using dir = await tempDir("unix_test_");
    const path = dir.file("pyserver.sock");
    const server = new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
print("ready", flush=True)
conn, _ = s.accept()
data = b""
while True:
    chunk = conn.recv(100)
    if not chunk:
        break
    data += chunk
conn.sendall(data.upper())
conn.close()
`,
        path,
      ],
      stdout: "piped",
    }).spawn();
    // Wait for "ready", and keep reading to the end: a pipe closed early would
    // kill the server with EPIPE on its next write.
    const reader = server.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let printed = await readUntil(reader, "\n");
    const rest = (async () => {
      for (let chunk; !(chunk = await reader.read()).done;) {
        printed += chunk.value;
      }
    })();
    using conn = await connectUnix(path, { timeout: DEADLINE_MS });
    await conn.write(encoder.encode("shout"));
    await conn.closeWrite();
    assertEquals(await new Response(conn.readable).text(), "SHOUT");
    assert((await server.status).success);
    await rest;
    assertEquals(printed, "ready\n");
  },
});

const socatMissing = await isMissing("socat");

Deno.test({
  name: "serveUnix() echoes to socat UNIX-CONNECT",
  ignore: socatMissing,
  async fn() {
    await using dir = await tempDir("unix_test_");
    const path = dir.file("socat.sock");
    await using _server = await serveUnix({ path }, echo);
    const child = new Deno.Command("socat", {
      args: ["-t", "5", "-", `UNIX-CONNECT:${path}`],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("through socat"));
    await writer.close();
    const { code, stdout } = await child.output();
    assertEquals(code, 0);
    assertEquals(decoder.decode(stdout), "through socat");
  },
});

Deno.test("serveUnix() names a missing directory and says to create it", async () => {
  await using dir = await tempDir("unix_test_");
  const missing = dir.file("run/app");
  const path = `${missing}/echo.sock`;
  const error = await assertRejects(
    () => serveUnix({ path }, echo),
    Deno.errors.NotFound,
    `listen unix ${path}: the directory ${missing} does not exist; create it first (mkdir -p ${missing})`,
  );
  assertFalse(error.message.includes(".echo.sock"), error.message);
});

Deno.test("serveUnix() and connectUnix() reject unknown option names", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("o.sock");
  await assertRejects(
    // @ts-expect-error: a misspelled option
    () => serveUnix({ path, idleTimout: 5 }, echo),
    TypeError,
    "options.idleTimout is not an option; did you mean options.idleTimeout?",
  );
  assertFalse(await exists(path));
  await assertRejects(
    // @ts-expect-error: a misspelled option
    () => connectUnix(path, { timout: 5 }),
    TypeError,
    "options.timout is not an option; did you mean options.timeout?",
  );
});

/** A Python server whose backlog (0) is full after one connect and that never accepts, until stdin closes. */
const PYTHON_FULL_BACKLOG = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(0)
print("ready", flush=True)
sys.stdin.read()
`;

Deno.test({
  name:
    "connectUnix() waits while the backlog is full, until its timeout or signal ends the call",
  ignore: pythonMissing,
  async fn() {
    await using dir = await tempDir("unix_test_");
    const path = dir.file("full.sock");
    const server = new Deno.Command("python3", {
      args: ["-c", PYTHON_FULL_BACKLOG, path],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const reader = server.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      await readUntil(reader, "ready\n");
      // Fill the backlog: one pending connection, maybe two.
      const pending: Deno.Conn[] = [];
      try {
        for (let i = 0; i < 4; i++) {
          pending.push(await Deno.connect({ transport: "unix", path }));
        }
      } catch (error) {
        assert(error instanceof Deno.errors.WouldBlock, String(error));
      }
      assert(pending.length < 4, "the backlog never filled");
      await assertRejects(
        () => connectUnix(path, { timeout: 50 }),
        Deno.errors.TimedOut,
        `connect unix ${path}: no connection within 50 ms: the server's backlog stayed full`,
      );
      const controller = new AbortController();
      const reason = new Error("given up");
      setTimeout(() => controller.abort(reason), 50);
      const error = await assertRejects(() =>
        connectUnix(path, { timeout: Infinity, signal: controller.signal })
      );
      assertEquals(error, reason);
      for (const conn of pending) conn.close();
    } finally {
      await server.stdin.close();
      await reader.cancel();
      await server.status;
    }
  },
});

Deno.test("serveUnix() passes on what onListen throws and removes its socket file", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("listen.sock");
  const mine = new Error("onListen failed");
  const error = await assertRejects(() =>
    serveUnix({
      path,
      onListen() {
        throw mine;
      },
    }, echo)
  );
  assertEquals(error, mine);
  assertFalse(await exists(path));
});

Deno.test("serveUnix() started concurrently on one path: one wins, the others get AddrInUse", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("race.sock");
  for (let round = 0; round < 5; round++) {
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => serveUnix({ path, mode: 0o600 }, echo)),
    );
    const servers = results.flatMap((r) =>
      r.status === "fulfilled" ? [r.value] : []
    );
    try {
      assertEquals(servers.length, 1);
      for (const result of results) {
        if (result.status === "rejected") {
          assertInstanceOf(result.reason, Deno.errors.AddrInUse);
          assertStringIncludes(result.reason.message, `listen unix ${path}: `);
        }
      }
      assertEquals(await exchangeAt(path, "winner"), "winner");
    } finally {
      for (const server of servers) await server.shutdown();
    }
    assertFalse(await exists(path));
    assertFalse(await exists(dir.file(".race.sock")));
  }
});

Deno.test({
  name:
    "serveUnix() names every flag for a relative path at once, the unix: grants absolute",
  permissions: { read: false, write: false, net: false },
  async fn() {
    const cwd = Deno.cwd();
    await assertRejects(
      () => serveUnix({ path: "rel.sock" }, echo),
      Deno.errors.NotCapable,
      `listen unix rel.sock: permission denied; run again with --allow-read=rel.sock,./.rel.sock --allow-write=rel.sock,./.rel.sock --allow-net=unix:${cwd}/rel.sock,unix:${cwd}/.rel.sock/s`,
    );
    await assertRejects(
      () => connectUnix("./run/../rel.sock"),
      Deno.errors.NotCapable,
      `--allow-net=unix:${cwd}/rel.sock`,
    );
  },
});

Deno.test("serveUnix() on a relative path runs with exactly the flags it names", async () => {
  await using dir = await tempDir("unix_test_");
  const script = dir.file("serve.ts");
  await Deno.writeTextFile(
    script,
    `import { serveUnix } from ${
      JSON.stringify(new URL("../unix.ts", import.meta.url).href)
    };
await using server = await serveUnix({ path: "rel.sock", mode: 0o600 }, () => {});
console.log(server.addr.path);
`,
  );
  const run = async (...flags: string[]) =>
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", ...flags, script],
      cwd: dir.path,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const denied = await run("--allow-read=serve.ts");
  assertFalse(denied.success);
  const stderr = new TextDecoder().decode(denied.stderr);
  const flags = stderr.match(/run again with (.*)$/m)?.[1].split(" ");
  assert(flags !== undefined, stderr);
  const granted = await run(
    ...flags.map((flag) =>
      flag.startsWith("--allow-read=") ? `${flag},serve.ts` : flag
    ),
  );
  assert(granted.success, new TextDecoder().decode(granted.stderr));
  assertEquals(new TextDecoder().decode(granted.stdout).trim(), "rel.sock");
});
