import { assert, assertEquals, assertFalse, assertRejects } from "@std/assert";
import {
  ConnectedUnixDatagramSocket,
  connectUnixDatagram,
  listenUnixDatagram,
  UnixDatagramSocket,
} from "../unix.ts";
import {
  crashServerAt,
  exists,
  isMissing,
  output,
  pathOfLength,
  tempDir,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const pythonMissing = await isMissing("python3");

Deno.test("listenUnixDatagram() accepts a path of exactly 107 bytes", async () => {
  await using dir = await tempDir("unix_test_");
  const path = pathOfLength(107, dir.path);
  await using socket = await listenUnixDatagram({ path });
  assertEquals(socket.addr.path, path);
  await using client = await connectUnixDatagram(path);
  await client.send(encoder.encode("107"));
  assertEquals(decoder.decode((await socket.receive()).data), "107");
});

Deno.test({
  name: "listenUnixDatagram() names only the missing permission flag",
  permissions: {
    read: ["/run/app/dgram.sock"],
    write: false,
    net: ["unix:/run/app/dgram.sock"],
  },
  async fn() {
    await assertRejects(
      () => listenUnixDatagram({ path: "/run/app/dgram.sock" }),
      Deno.errors.NotCapable,
      "listen unixpacket /run/app/dgram.sock: permission denied; run again with --allow-write=/run/app/dgram.sock",
    );
  },
});

Deno.test("listenUnixDatagram() and connectUnixDatagram() exchange datagrams", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("dgram.sock");
  await using server = await listenUnixDatagram({ path });
  assertEquals(server.addr.path, path);
  await using client = await connectUnixDatagram(path);
  assertEquals(client.remoteAddr, { transport: "unixpacket", path });
  for (const text of ["one", "two", "three"]) {
    await client.send(encoder.encode(text));
    const { data, from } = await server.receive();
    assertEquals(decoder.decode(data), text);
    assertEquals(from, { transport: "unixpacket", path: client.addr.path });
    await server.send(encoder.encode(text.toUpperCase()), from);
    assertEquals(decoder.decode(await client.receive()), text.toUpperCase());
  }
  // The client's private directory is only the owner's.
  const privateDir = client.addr.path.slice(
    0,
    client.addr.path.lastIndexOf("/"),
  );
  assertEquals((await Deno.stat(privateDir)).mode! & 0o777, 0o700);
});

Deno.test("connectUnixDatagram() with localPath binds there, replacing a stale file, and removes it on close", async () => {
  await using dir = await tempDir("unix_test_");
  await using server = await listenUnixDatagram({ path: dir.file("srv.sock") });
  const localPath = dir.file("client.sock");
  // A crashed client's socket file, which no one answers.
  Deno.listenDatagram({ transport: "unixpacket", path: localPath }).close();
  assert(await exists(localPath));
  const client = await connectUnixDatagram(server.addr.path, { localPath });
  assertEquals(client.addr.path, localPath);
  await client.send(encoder.encode("bound"));
  const { data, from } = await server.receive();
  assertEquals([decoder.decode(data), from.path], ["bound", localPath]);
  await server.send(encoder.encode("answer"), from);
  assertEquals(decoder.decode(await client.receive()), "answer");
  client.close();
  assertFalse(await exists(localPath));
  await assertRejects(
    () => connectUnixDatagram(server.addr.path, { localPath, dir: dir.path }),
    TypeError,
    "pass one of them",
  );
  await Deno.writeTextFile(localPath, "not a socket");
  await assertRejects(
    () => connectUnixDatagram(server.addr.path, { localPath }),
    Deno.errors.AlreadyExists,
    "left untouched",
  );
  assertEquals(await Deno.readTextFile(localPath), "not a socket");
});

Deno.test("listenUnixDatagram() keeps datagrams whole up to maxDatagramSize", async () => {
  await using dir = await tempDir("unix_test_");
  await using server = await listenUnixDatagram({ path: dir.file("big.sock") });
  await using client = await connectUnixDatagram(server.addr.path);
  const big = new Uint8Array(60_000).map((_, i) => i % 251);
  await client.send(big);
  const { data } = await server.receive();
  assertEquals(data, big);
  await using small = await listenUnixDatagram({
    path: dir.file("small.sock"),
    maxDatagramSize: 4,
  });
  await client.send(encoder.encode("abcdefgh"));
  // Sent to the first server; the small one gets its own datagram.
  await server.receive();
  await server.send(encoder.encode("abcdefgh"), small.addr.path);
  assertEquals(decoder.decode((await small.receive()).data), "abcd");
});

Deno.test("listenUnixDatagram() iterates until closed and removes its file", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("iter.sock");
  const server = await listenUnixDatagram({ path });
  const client = await connectUnixDatagram(path);
  const clientPath = client.addr.path;
  const clientDir = clientPath.slice(0, clientPath.lastIndexOf("/"));
  for (const text of ["a", "b", "c"]) await client.send(encoder.encode(text));
  const received: string[] = [];
  for await (const { data } of server) {
    received.push(decoder.decode(data));
    if (received.length === 3) server.close();
  }
  assertEquals(received, ["a", "b", "c"]);
  assertFalse(await exists(path));
  server.close();
  client.close();
  client.close();
  assertFalse(await exists(clientPath));
  assertFalse(await exists(clientDir));
});

Deno.test("listenUnixDatagram() replaces a stale file and refuses a live or foreign one", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("d.sock");
  await crashServerAt(path, "unixpacket");
  await using server = await listenUnixDatagram({ path });
  await assertRejects(
    () => listenUnixDatagram({ path }),
    Deno.errors.AddrInUse,
    `listen unixpacket ${path}: a live server owns this socket file`,
  );
  const file = dir.file("file.txt");
  await Deno.writeTextFile(file, "keep");
  await assertRejects(
    () => listenUnixDatagram({ path: file }),
    Deno.errors.AlreadyExists,
    "the path is a regular file, not a socket",
  );
  assertEquals(await Deno.readTextFile(file), "keep");
  assertEquals(server.addr.path, path);
});

Deno.test("listenUnixDatagram() on close leaves a newer socket at the same path", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("d.sock");
  const older = await listenUnixDatagram({ path });
  await Deno.remove(path);
  await using _newer = await listenUnixDatagram({ path });
  const inode = (await Deno.lstat(path)).ino;
  older.close();
  assertEquals((await Deno.lstat(path)).ino, inode);
});

Deno.test("UnixDatagramSocket.send() explains a missing receiver", async () => {
  await using dir = await tempDir("unix_test_");
  await using server = await listenUnixDatagram({ path: dir.file("s.sock") });
  const missing = dir.file("missing.sock");
  await assertRejects(
    () => server.send(encoder.encode("x"), missing),
    Deno.errors.NotFound,
    `send unixpacket ${missing}: no socket file at this path`,
  );
});

Deno.test("listenUnixDatagram() names --unstable-net when the API is missing", async () => {
  const module = new URL("../unix.ts", import.meta.url).href;
  const script = `
    import { listenUnixDatagram } from ${JSON.stringify(module)};
    try {
      await listenUnixDatagram({ path: "/tmp/x.sock" });
    } catch (error) {
      console.log(error.name + ": " + error.message);
    }
  `;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "null",
  }).output();
  assertEquals(
    decoder.decode(stdout).trim(),
    "NotSupported: listen unixpacket /tmp/x.sock: needs Deno's unstable net API; run again with --unstable-net",
  );
});

/** Python's AF_UNIX datagram client, bound at argv[2]: sends argv[3], prints the reply. */
const PYTHON_DATAGRAM_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(10)
s.bind(sys.argv[2])
s.sendto(sys.argv[3].encode(), sys.argv[1])
data, sender = s.recvfrom(65536)
s.close()
sys.stdout.write(data.decode() + "\\n" + sender)
`;

/** Python's unbound AF_UNIX datagram sender. */
const PYTHON_UNBOUND_SENDER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(sys.argv[2].encode(), sys.argv[1])
`;

Deno.test({
  name:
    "listenUnixDatagram() answers Python bound and unbound datagram senders",
  ignore: pythonMissing,
  async fn() {
    await using dir = await tempDir("unix_test_");
    const path = dir.file("pydgram.sock");
    await using server = await listenUnixDatagram({ path });
    const clientPath = dir.file("pyclient.sock");
    const replying = (async () => {
      const { data, from } = await server.receive();
      assertEquals(from, { transport: "unixpacket", path: clientPath });
      await server.send(
        encoder.encode(decoder.decode(data).toUpperCase()),
        from,
      );
    })();
    const printed = await output("python3", [
      "-c",
      PYTHON_DATAGRAM_CLIENT,
      path,
      clientPath,
      "datagram",
    ]);
    await replying;
    assertEquals(printed, `DATAGRAM\n${path}`);

    await output("python3", ["-c", PYTHON_UNBOUND_SENDER, path, "anonymous"]);
    const { data, from } = await server.receive();
    assertEquals(decoder.decode(data), "anonymous");
    assertEquals(from, { transport: "unixpacket", path: "" });
  },
});

const socatMissing = await isMissing("socat");

Deno.test({
  name: "listenUnixDatagram() receives from socat UNIX-SENDTO",
  ignore: socatMissing,
  async fn() {
    await using dir = await tempDir("unix_test_");
    const path = dir.file("socat-dgram.sock");
    await using server = await listenUnixDatagram({ path });
    const child = new Deno.Command("socat", {
      args: ["-u", "-", `UNIX-SENDTO:${path}`],
      stdin: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("socat datagram"));
    await writer.close();
    assert((await child.status).success);
    const { data } = await server.receive();
    assertEquals(decoder.decode(data), "socat datagram");
  },
});

Deno.test("listenUnixDatagram() and connectUnixDatagram() name a missing directory and say to create it", async () => {
  await using dir = await tempDir("unix_test_");
  const missing = dir.file("missing");
  const path = `${missing}/d.sock`;
  const error = await assertRejects(
    () => listenUnixDatagram({ path }),
    Deno.errors.NotFound,
    `listen unixpacket ${path}: the directory ${missing} does not exist; create it first (mkdir -p ${missing})`,
  );
  assertFalse(error.message.includes("/.d.sock"));
  await using server = await listenUnixDatagram({ path: dir.file("s.sock") });
  await assertRejects(
    () =>
      connectUnixDatagram(server.addr.path, { localPath: `${missing}/c.sock` }),
    Deno.errors.NotFound,
    `connect unixpacket ${server.addr.path}: the directory ${missing} does not exist; create it first (mkdir -p ${missing})`,
  );
  await assertRejects(
    () => connectUnixDatagram(server.addr.path, { dir: missing }),
    Deno.errors.NotFound,
    `connect unixpacket ${server.addr.path}: the directory ${missing} does not exist; create it first (mkdir -p ${missing})`,
  );
});

Deno.test("UnixDatagramSocket and ConnectedUnixDatagramSocket close with using, and say when closed", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("u.sock");
  let clientPath: string;
  {
    using server = await listenUnixDatagram({ path });
    using client = await connectUnixDatagram(path);
    assertEquals(server.closed, false);
    assertEquals(client.closed, false);
    assert(server instanceof UnixDatagramSocket);
    assert(client instanceof ConnectedUnixDatagramSocket);
    clientPath = client.addr.path;
    assertEquals(await client.send(encoder.encode("sized")), 5);
    const { from } = await server.receive();
    // An address works as the target, as a path does.
    assertEquals(await server.send(encoder.encode("back"), from), 4);
    assertEquals(decoder.decode(await client.receive()), "back");
    server.close();
    assertEquals(server.closed, true);
    await assertRejects(
      () => server.receive(),
      Deno.errors.BadResource,
      `receive unixpacket ${path}: the socket is closed`,
    );
  }
  assertFalse(await exists(path));
  assertFalse(await exists(clientPath));
});

Deno.test("UnixDatagramSocket.send() refuses a sender bound to no path", async () => {
  await using dir = await tempDir("unix_test_");
  await using server = await listenUnixDatagram({ path: dir.file("s.sock") });
  await assertRejects(
    () =>
      server.send(encoder.encode("x"), { transport: "unixpacket", path: "" }),
    RangeError,
    'to is a sender bound to no path (path ""), which cannot be answered',
  );
});

Deno.test("listenUnixDatagram() and connectUnixDatagram() reject unknown option names", async () => {
  await using dir = await tempDir("unix_test_");
  const path = dir.file("o.sock");
  await assertRejects(
    // @ts-expect-error: a misspelled option
    () => listenUnixDatagram({ path, removeStail: false }),
    TypeError,
    "options.removeStail is not an option; did you mean options.removeStale?",
  );
  assertFalse(await exists(path));
  await assertRejects(
    // @ts-expect-error: a misspelled option
    () => connectUnixDatagram(path, { localpath: dir.file("c.sock") }),
    TypeError,
    "options.localpath is not an option; did you mean options.localPath?",
  );
});
