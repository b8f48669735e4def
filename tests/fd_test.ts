import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  Descriptor,
  DescriptorChannel,
  DescriptorFile,
  descriptorPair,
  listenUnix,
  MAX_DESCRIPTORS,
  peerCredentials,
  socketPair,
} from "../fd.ts";
import { duplicate, libc, libcPath, unixSocketAt } from "../_libc.ts";
import { idle, watchedCount } from "../_poller.ts";
import { copy, lines } from "../io.ts";
import { serve } from "../server.ts";
import { spawnHandler } from "../spawn.ts";
import {
  exists,
  isMissing,
  readAll,
  tempDir,
  waitFor,
  within,
  writeAll,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const peerScript = new URL("fixtures/fd_peer.py", import.meta.url).pathname;

/** More channels than Deno's blocking pool has threads (32). */
const CHANNELS = 40;

/** How many descriptors this process has open. */
function openDescriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** Waits until the process has `count` descriptors open again. */
async function settle(count: number): Promise<void> {
  await idle();
  await waitFor(
    () => openDescriptors() === count,
    `${count} open descriptors (now ${openDescriptors()})`,
  );
}

/** Runs `program` in a process that may open 150 descriptors; its output. */
async function underFileLimit(program: string): Promise<string> {
  const { stdout, stderr } = await new Deno.Command("sh", {
    args: [
      "-c",
      `ulimit -n 150 && exec "$0" eval --no-config -A "$1"`,
      Deno.execPath(),
      program,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return decoder.decode(stdout) + decoder.decode(stderr);
}

/** Starts tests/fixtures/fd_peer.py at `path` and waits for its socket. */
async function startPeer(
  path: string,
  args: string[],
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("python3", {
    args: [peerScript, path, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await waitFor(() => exists(path), `the Python peer's socket ${path}`);
  } catch (error) {
    try {
      child.kill();
    } catch {
      // Exited already.
    }
    await child.output();
    throw error;
  }
  return child;
}

async function finish(child: Deno.ChildProcess): Promise<string> {
  const { code, stdout, stderr } = await within(
    child.output(),
    "the Python peer",
  );
  assertEquals(code, 0, decoder.decode(stderr));
  return decoder.decode(stdout).trim();
}

/** Runs `source`, which imports fd.ts, with `flags` only; returns its output. */
async function runWith(
  flags: string[],
  source: string,
): Promise<{ code: number; text: string }> {
  await using dir = await tempDir("fd-run-");
  const fd = new URL("../fd.ts", import.meta.url).href;
  await Deno.writeTextFile(
    dir.file("main.ts"),
    `import * as fd from ${JSON.stringify(fd)};\n${source}`,
  );
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", ...flags, dir.file("main.ts")],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, text: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test("importing fd.ts needs no permission, and a call without --allow-ffi names the flag with the library's absolute path", async () => {
  const { code, text } = await runWith(
    [],
    `try { fd.socketPair(); } catch (error) { console.log(error.name + ": " + error.message); }`,
  );
  assertEquals(code, 0, text);
  assertStringIncludes(text, "NotCapable: socketpair:");
  assertStringIncludes(text, `--allow-ffi=${libcPath()}`);
  assertStringIncludes(text, "a bare --allow-ffi");
  assert(libcPath().startsWith("/"), libcPath());
});

Deno.test("a grant scoped to the library's absolute path is enough", async () => {
  const { code, text } = await runWith(
    [`--allow-ffi=${libcPath()}`],
    `const [a, b] = fd.socketPair();
     console.log(fd.peerCredentials(a).pid === Deno.pid);
     a.close(); b.close();`,
  );
  assertEquals(code, 0, text);
  assertEquals(text.trim(), "true");
});

Deno.test("socketPair() ends work with the io helpers, half-close included", async () => {
  const before = openDescriptors();
  const [a, b] = socketPair();
  await writeAll(a, "one\ntwo\n");
  await a.closeWrite();
  const seen: string[] = [];
  for await (const line of lines(b)) seen.push(line);
  assertEquals(seen, ["one", "two"]);
  await writeAll(b, "back");
  b.close();
  assertEquals(await readAll(a), "back");
  a.close();
  await settle(before);
});

Deno.test("peerCredentials() of a pair end is this process; a native Deno.UnixConn is refused with the way out", async () => {
  const [a, b] = socketPair();
  assertEquals(peerCredentials(a), {
    pid: Deno.pid,
    uid: Deno.uid()!,
    gid: Deno.gid()!,
  });
  a.close();
  b.close();
  await using dir = await tempDir("fd-native-");
  using listener = Deno.listen({ transport: "unix", path: dir.file("n.sock") });
  using client = await Deno.connect({
    transport: "unix",
    path: dir.file("n.sock"),
  });
  const error = assertThrows(() => peerCredentials(client), TypeError);
  assertStringIncludes(error.message, "listenUnix");
  (await listener.accept()).close();
});

Deno.test("serve() on listenUnix() gives handlers the credentials of a Python client, as Python sees them", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("fd-cred-");
  const path = dir.file("cred.sock");
  await using _server = serve(listenUnix(path), async (conn) => {
    const { pid, uid, gid } = peerCredentials(conn);
    await writeAll(conn, `${pid} ${uid} ${gid}`);
  });
  const script =
    "import os,socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);" +
    "print(s.recv(100).decode(), '|', os.getpid(), os.geteuid(), os.getegid())";
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", script, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(code, 0, decoder.decode(stderr));
  const [told, own] = decoder.decode(stdout).trim().split(" | ");
  assertEquals(told, own);
});

Deno.test("Python's SO_PEERCRED sees a Deno client of a DescriptorChannel as this process", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("fd-pycred-");
  const path = dir.file("p.sock");
  const child = await startPeer(path, ["peercred"]);
  using channel = DescriptorChannel.connect(path);
  assertEquals(await finish(child), `${Deno.pid} ${Deno.uid()} ${Deno.gid()}`);
  assertEquals(peerCredentials(channel).uid, Deno.uid());
});

Deno.test("a DescriptorChannel passes a connected socket, a listener and the payload; every descriptor is closed once", async () => {
  await using dir = await tempDir("fd-pass-");
  const before = openDescriptors();
  {
    using pair = DescriptorChannel.pair();
    const [here, there] = socketPair();
    const listener = listenUnix(dir.file("l.sock"));
    await pair[0].send(encoder.encode("two"), [there, listener]);
    there.close();
    listener.close();
    const message = await pair[1].receive();
    assert(message !== null);
    assertEquals(decoder.decode(message.payload), "two");
    const [connFd, listenerFd] = message.descriptors;
    assertEquals(connFd.kind, "stream");
    assertEquals(listenerFd.kind, "listener");
    assertThrows(() => listenerFd.toConn(), TypeError, "toListener()");
    using received = connFd.toConn();
    assertEquals(connFd.fd, -1);
    connFd.close(); // handed on: does nothing
    await writeAll(received, "through");
    await received.closeWrite();
    assertEquals(await readAll(here), "through");
    here.close();
    using adopted = listenerFd.toListener();
    await using _server = serve(adopted, (conn) => copy(conn, conn));
    using client = await Deno.connect({
      transport: "unix",
      path: dir.file("l.sock"),
    });
    await writeAll(client, "echo");
    await client.closeWrite();
    assertEquals(await readAll(client), "echo");
  }
  await settle(before);
});

Deno.test("a received descriptor never handed on is closed by close(); a closed channel's receive ends with null", async () => {
  const before = openDescriptors();
  using pair = DescriptorChannel.pair();
  const [a, b] = pair;
  const [x, y] = descriptorPair();
  await a.send(new Uint8Array(), [x, y]);
  x.close();
  y.close();
  a.close();
  const message = await b.receive();
  assertEquals(message?.descriptors.length, 2);
  for (const descriptor of message!.descriptors) descriptor.close();
  assertEquals(await b.receive(), null);
  b.close();
  await settle(before);
});

Deno.test(`${CHANNELS} channels wait at once on one poller, and file operations go on meanwhile`, async () => {
  const before = openDescriptors();
  const pairs = Array.from(
    { length: CHANNELS },
    () => DescriptorChannel.pair(),
  );
  const pending = pairs.map(([, b]) => b.receive());
  await waitFor(() => watchedCount() === CHANNELS, "every receive to wait");
  // With one blocking-pool thread parked per channel, this would stall.
  await within(Deno.readTextFile("/proc/self/status"), "a file read");
  await Promise.all(pairs.map(([a], i) => a.send(encoder.encode(`m${i}`))));
  const received = await within(Promise.all(pending), "every message");
  assertEquals(
    received.map((message) => decoder.decode(message!.payload)),
    pairs.map((_, i) => `m${i}`),
  );
  for (const pair of pairs) pair[Symbol.dispose]();
  await settle(before);
});

Deno.test("receive() ends with its signal's reason, and close() ends a pending receive", async () => {
  using pair = DescriptorChannel.pair();
  const [a, b] = pair;
  const controller = new AbortController();
  const waiting = b.receive({ signal: controller.signal });
  controller.abort(new Error("enough"));
  await assertRejects(() => waiting, Error, "enough");
  const closing = a.receive();
  a.close();
  await assertRejects(() => closing, Deno.errors.BadResource);
  b.close();
  await idle();
});

Deno.test("send() refuses more than SCM_MAX_FD descriptors", async () => {
  using pair = DescriptorChannel.pair();
  const many = Array.from({ length: MAX_DESCRIPTORS + 1 }, () => 0);
  await assertRejects(
    () => pair[0].send(new Uint8Array(), many),
    RangeError,
    "SCM_MAX_FD",
  );
});

Deno.test("descriptors from Python's send_fds become a file, a pipe and a conn", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("fd-py-send-");
  const file = dir.file("data.txt");
  await Deno.writeTextFile(file, "from a file");
  const path = dir.file("s.sock");
  const before = openDescriptors();
  const child = await startPeer(path, ["send", file]);
  {
    using channel = DescriptorChannel.connect(path);
    const message = await within(channel.receive(), "Python's message");
    assert(message !== null);
    assertEquals(decoder.decode(message.payload), "python");
    const [pipe, socket, opened] = message.descriptors;
    assertEquals([pipe.kind, socket.kind, opened.kind], [
      "pipe",
      "stream",
      "file",
    ]);
    for (
      const [descriptor, text] of [[pipe, "from a pipe"], [
        opened,
        "from a file",
      ]] as const
    ) {
      using readable = descriptor.toFile();
      const buffer = new Uint8Array(64);
      const n = await readable.read(buffer);
      assertEquals(decoder.decode(buffer.subarray(0, n!)), text);
      assertEquals(await readable.read(buffer), null);
    }
    using conn = socket.toConn();
    await writeAll(conn, "hello python");
    assertEquals(await finish(child), "hello python");
  }
  await settle(before);
});

Deno.test("Python's recv_fds receives a Deno payload and a connected socket", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("fd-py-recv-");
  const path = dir.file("r.sock");
  const before = openDescriptors();
  const child = await startPeer(path, ["receive"]);
  {
    using channel = DescriptorChannel.connect(path);
    const [here, there] = socketPair();
    await channel.send(encoder.encode("from deno"), [there]);
    there.close();
    assertEquals(await readAll(here), "hello from python");
    here.close();
    assertEquals(await finish(child), "from deno 1");
  }
  await settle(before);
});

Deno.test("descriptors that do not fit are reported as MSG_CTRUNC, those received are closed, and the channel refuses further receives", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("fd-ctrunc-");
  const path = dir.file("c.sock");
  // The receiving process may open few descriptors: the kernel installs
  // what fits, and cuts the rest off.
  const program = `
    const { DescriptorChannel } = await import(${
    JSON.stringify(new URL("../fd.ts", import.meta.url).href)
  });
    const count = () => [...Deno.readDirSync("/proc/self/fd")].length;
    const channel = DescriptorChannel.connect(${JSON.stringify(path)});
    const before = count();
    try { await channel.receive(); console.log("received"); }
    catch (error) { console.log(error.name, count() === before, error.message); }
    try { await channel.receive(); console.log("next received"); }
    catch (error) { console.log("next", error.message); }
    channel.close();
  `;
  const child = await startPeer(path, ["many", "200"]);
  const text = await underFileLimit(program);
  await finish(child);
  assertStringIncludes(text, "InvalidData true");
  assertStringIncludes(text, "MSG_CTRUNC");
  // The message's bytes were taken: the channel cannot find the next one.
  assertStringIncludes(text, "next receive unix");
  assertStringIncludes(text, "an earlier receive stopped after 4 bytes");
});

Deno.test("a Descriptor refuses a bad number and closes once", () => {
  assertThrows(() => new Descriptor(-1), TypeError);
  const [a, b] = descriptorPair();
  a.close();
  a.close();
  assertEquals(a.fd, -1);
  assertThrows(() => a.take(), Deno.errors.BadResource);
  const channel = b.toChannel();
  assertInstanceOf(channel, DescriptorChannel);
  channel.close();
});

Deno.test("spawnHandler({ peerCredentials }) sets UNIXREMOTEPID, UNIXREMOTEEUID and UNIXREMOTEEGID of a Python client, as unixserver does", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("fd-spawn-");
  const path = dir.file("spawn.sock");
  await using server = serve(
    listenUnix(path),
    spawnHandler(
      [
        "sh",
        "-c",
        'echo "$PROTO $UNIXREMOTEPID $UNIXREMOTEEUID $UNIXREMOTEEGID"',
      ],
      { peerCredentials, inheritEnv: ["PATH"] },
    ),
  );
  const script =
    "import os,socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);" +
    "data=b''\nwhile True:\n  chunk=s.recv(100)\n  if not chunk: break\n  data+=chunk\n" +
    "print(data.decode().strip(), '|', 'UNIX', os.getpid(), os.geteuid(), os.getegid())";
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", script, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(code, 0, decoder.decode(stderr));
  const [told, own] = decoder.decode(stdout).trim().split(" | ");
  assertEquals(told, own);
  assertEquals(server.addr.transport, "unix");
});

Deno.test("listenUnix() gives its path to server.addr, each conn's localAddr and spawnHandler's UNIXLOCALPATH", async () => {
  await using dir = await tempDir("fd-path-");
  const path = dir.file("path.sock");
  const seen: Deno.Addr[] = [];
  const handler = spawnHandler(["sh", "-c", 'printf %s "$UNIXLOCALPATH"'], {
    inheritEnv: ["PATH"],
  });
  await using server = serve(listenUnix(path), (conn, context) => {
    seen.push(conn.localAddr, conn.remoteAddr);
    return handler(conn, context);
  });
  assertEquals(server.addr, { transport: "unix", path });
  using client = await Deno.connect({ transport: "unix", path });
  assertEquals(await readAll(client), path);
  assertEquals(seen, [
    { transport: "unix", path },
    { transport: "unix", path: "" },
  ]);
});

Deno.test("a received Unix listener and conn tell their paths, as getsockname and getpeername give them", async () => {
  await using dir = await tempDir("fd-recvpath-");
  const path = dir.file("r.sock");
  using pair = DescriptorChannel.pair();
  const listener = listenUnix(path);
  const dialled = DescriptorChannel.connect(path);
  await pair[0].send(new Uint8Array(1), [listener]);
  listener.close();
  const message = await pair[1].receive();
  using received = message!.descriptors[0].toListener();
  assertEquals(received.addr, { transport: "unix", path });
  using accepted = await received.accept();
  assertEquals(accepted.localAddr, { transport: "unix", path });
  await pair[0].send(new Uint8Array(1), [accepted]);
  const second = await pair[1].receive();
  using conn = second!.descriptors[0].toConn();
  assertEquals(conn.localAddr, { transport: "unix", path });
  assertEquals(conn.remoteAddr, { transport: "unix", path: "" });
  dialled.close();
});

Deno.test("spawnHandler() refuses a peerCredentials that is not a function", () => {
  assertThrows(
    () =>
      spawnHandler(["true"], {
        peerCredentials: "yes" as unknown as typeof peerCredentials,
        clearEnv: true,
      }),
    TypeError,
    "options.peerCredentials must be a function",
  );
});

Deno.test("a closed conn or Descriptor is never sent, duplicated or asked for credentials: its number may be another file's now", async () => {
  const before = openDescriptors();
  {
    using pair = DescriptorChannel.pair();
    const [here, there] = socketPair();
    here.close();
    const [spare, spareEnd] = descriptorPair();
    spare.close();
    spareEnd.close();
    // The lowest free numbers are taken again by the next files opened.
    using other = Deno.openSync(new URL(import.meta.url).pathname);
    using otherPair = DescriptorChannel.pair();
    await assertRejects(
      () => pair[0].send(new Uint8Array(), [here]),
      TypeError,
      "descriptors[0]",
    );
    await assertRejects(
      () => pair[0].send(new Uint8Array(), [spare]),
      TypeError,
      "descriptors[0]",
    );
    assertThrows(() => peerCredentials(here), TypeError, "closed");
    assertThrows(() => DescriptorChannel.fromConn(here), TypeError, "closed");
    void other;
    void otherPair;
    there.close();
  }
  await settle(before);
});

Deno.test("a receive stopped in the middle of a message leaves the channel refusing, not reading a payload as the next header", async () => {
  using pair = DescriptorChannel.pair();
  const [a, b] = pair;
  using raw = new DescriptorFile(a.take());
  // A 5-byte message of which 2 bytes arrive before the receive is aborted.
  await raw.write(new Uint8Array([0, 0, 0, 5, 97, 98]));
  const controller = new AbortController();
  const first = b.receive({ signal: controller.signal });
  await waitFor(() => watchedCount() === 1, "the receive to wait for more");
  controller.abort(new Error("enough"));
  await assertRejects(() => first, Error, "enough");
  // The rest of it, then a whole message.
  await raw.write(new Uint8Array([99, 100, 101, 0, 0, 0, 1, 102]));
  const error = await assertRejects(
    () => b.receive(),
    Deno.errors.InvalidData,
    "close it",
  );
  assertStringIncludes(error.message, "6 bytes");
  b.close();
  await idle();
});

Deno.test("a poller that cannot start (EMFILE) fails the wait that needed it, and starts once descriptors are free again", async () => {
  const program = `
    const { DescriptorChannel } = await import(${
    JSON.stringify(new URL("../fd.ts", import.meta.url).href)
  });
    const [a, b] = DescriptorChannel.pair();
    const files = [];
    try {
      for (let i = 0; i < 200; i++) files.push(Deno.openSync("/dev/null"));
    } catch { /* the table is full */ }
    // One free number: too few for the poller's wake-up pair, and Deno
    // itself needs one now and then.
    files.pop().close();
    const stop = AbortSignal.timeout(5000);
    try { await b.receive({ signal: stop }); console.log("received"); }
    catch (error) { console.log("first", error.message); }
    for (const file of files) file.close();
    await a.send(new TextEncoder().encode("x"));
    const message = await b.receive({ signal: stop });
    console.log("second", message?.payload.length);
    a.close();
    b.close();
  `;
  const text = await underFileLimit(program);
  assertStringIncludes(text, "first ");
  assertStringIncludes(text, "EMFILE");
  assertStringIncludes(text, "second 1");
});

Deno.test("a descriptor turned into a conn, listener, file or channel is close-on-exec: a spawned program does not inherit it", async () => {
  const F_SETFD = 2;
  const c = libc("test");
  const childDescriptors = async () => {
    const { stdout } = await new Deno.Command("ls", {
      args: ["/proc/self/fd"],
      stdin: "null",
    }).output();
    return decoder.decode(stdout).split("\n").filter((name) => name !== "");
  };
  await using dir = await tempDir("fd-cloexec-");
  const filePath = dir.file("data.txt");
  Deno.writeTextFileSync(filePath, "data");
  const realPath = Deno.realPathSync(filePath);
  using opened = Deno.openSync(filePath);
  // Deno tells no FsFile's number: find the descriptor that names the file.
  const openedFd = [...Deno.readDirSync("/proc/self/fd")]
    .map(({ name }) => Number(name))
    .find((fd) => {
      try {
        return Deno.readLinkSync(`/proc/self/fd/${fd}`) === realPath;
      } catch {
        return false;
      }
    });
  assert(openedFd !== undefined, `no descriptor names ${realPath}`);
  const oneEnd = () => {
    const [end, other] = descriptorPair();
    other.close();
    return end;
  };
  const cases: [string, () => Descriptor, (d: Descriptor) => Disposable][] = [
    ["conn", oneEnd, (d) => d.toConn()],
    [
      "listener",
      () => new Descriptor(unixSocketAt("listen", dir.file("l.sock"))),
      (d) => d.toListener(),
    ],
    ["file", () => new Descriptor(duplicate(c, openedFd)), (d) => d.toFile()],
    ["channel", oneEnd, (d) => d.toChannel()],
  ];
  for (const [what, make, turn] of cases) {
    using descriptor = make();
    // As a descriptor inherited from a parent that did not set FD_CLOEXEC.
    assertEquals(c.fcntl(descriptor.fd, F_SETFD, 0), 0);
    const fd = descriptor.fd;
    assert((await childDescriptors()).includes(String(fd)), what);
    using turned = turn(descriptor);
    assert(!(await childDescriptors()).includes(String(fd)), what);
    void turned;
  }
  void opened;
});

Deno.test("listenUnix() and DescriptorChannel.connect() use an abstract name as Deno.listen and Deno.connect do, without trailing NULs", async () => {
  const path = `\0sockets-net-test-fd-${crypto.randomUUID().slice(0, 8)}`;
  {
    using listener = listenUnix(path);
    using client = await within(
      Deno.connect({ transport: "unix", path }),
      "Deno.connect to listenUnix's abstract name",
    );
    using accepted = await listener.accept();
    await writeAll(client, "x");
    await client.closeWrite();
    assertEquals(await readAll(accepted), "x");
  }
  using native = Deno.listen({ transport: "unix", path });
  using channel = DescriptorChannel.connect(path);
  using accepted = await native.accept();
  const fd = channel.take();
  using conn = new DescriptorFile(fd);
  await conn.write(encoder.encode("y"));
  const buffer = new Uint8Array(1);
  assertEquals(await accepted.read(buffer), 1);
  assertEquals(decoder.decode(buffer), "y");
});
