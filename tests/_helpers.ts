/**
 * What the tests share: bounded waits, reading and writing a connection,
 * temporary directories, closed ports, and the interop peers (Python, socat,
 * netcat, ss) that are ignored, saying why, on a machine that lacks them.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every wait in the tests gives up after this long, so a bug fails a test instead of hanging it. */
export const DEADLINE_MS = 10_000;

/** Pause between two checks of a polled condition. */
export const POLL_INTERVAL_MS = 10;

/** A polled condition is checked at most this often, and for no longer than DEADLINE_MS. */
const POLL_LIMIT = DEADLINE_MS / POLL_INTERVAL_MS;

/** The longest line `readLine` reads before it fails: longer than any line a test expects. */
const MAX_LINE_BYTES = 4096;

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Awaits `promise`, failing with `what` if it takes longer than `ms`. */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  ms: number = DEADLINE_MS,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks `condition` until it holds, at most POLL_LIMIT times and for about
 * DEADLINE_MS; then fails naming `what` it waited for.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
): Promise<void> {
  const deadline = performance.now() + DEADLINE_MS;
  for (let i = 0; i < POLL_LIMIT && performance.now() < deadline; i++) {
    if (await condition()) return;
    await delay(POLL_INTERVAL_MS);
  }
  if (await condition()) return;
  throw new Error(`timed out after ${DEADLINE_MS} ms waiting for ${what}`);
}

/** Reads `conn` to the end of its stream as text, failing after DEADLINE_MS. */
export async function readAll(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(64 * 1024);
  const reading = (async () => {
    for (let n; (n = await conn.read(buffer)) !== null;) {
      chunks.push(decoder.decode(buffer.subarray(0, n), { stream: true }));
    }
    chunks.push(decoder.decode());
  })();
  await within(reading, "the end of the stream");
  return chunks.join("");
}

/**
 * Reads up to and including the next "\n", a byte at a time so that nothing
 * after it is consumed; returns less at the end of the stream ("" if none).
 */
export async function readLine(conn: Deno.Conn): Promise<string> {
  const bytes: number[] = [];
  const byte = new Uint8Array(1);
  while (bytes.length < MAX_LINE_BYTES) {
    const n = await within(conn.read(byte), "a line");
    if (n === null) return decoder.decode(new Uint8Array(bytes));
    bytes.push(byte[0]);
    if (byte[0] === 0x0a) return decoder.decode(new Uint8Array(bytes));
  }
  throw new Error(`no end of line in the first ${MAX_LINE_BYTES} bytes`);
}

/** Writes all of `data` (text is UTF-8 encoded), however many writes it takes. */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array | string,
): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  for (let offset = 0; offset < bytes.length;) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/** Sends `text`, closes the sending side, and returns everything the peer sends back. */
export async function exchange(conn: Deno.Conn, text: string): Promise<string> {
  await writeAll(conn, text);
  await conn.closeWrite();
  return await readAll(conn);
}

/** A handler that echoes everything until the peer ends; may reject when the connection is closed under it. */
export async function echo(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  for (let n; (n = await conn.read(buffer)) !== null;) {
    await writeAll(conn, buffer.subarray(0, n));
  }
}

/** A directory of the test's own, removed with everything in it. */
export interface TempDir extends AsyncDisposable {
  /** The directory's path. */
  path: string;
  /** The path of `name` in the directory. */
  file(name: string): string;
}

/** Makes a temporary directory whose name starts with `prefix`. */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    file: (name) => `${path}/${name}`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** Whether anything (a socket file, say) exists at `path`, without following a link. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** A port on which nothing listens, for a moment: bound, then released. */
export function closedPort(
  transport: "tcp" | "udp" = "tcp",
  hostname = "127.0.0.1",
): number {
  if (transport === "udp") {
    const socket = Deno.listenDatagram({ transport, hostname, port: 0 });
    socket.close();
    return (socket.addr as Deno.NetAddr).port;
  }
  const listener = Deno.listen({ hostname, port: 0 });
  listener.close();
  return listener.addr.port;
}

/** Runs `command` to its end and returns its stdout; fails, with its stderr, unless it exits 0. */
export async function output(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `${command} exited ${code}: ${decoder.decode(stderr).trim()}`,
    );
  }
  return decoder.decode(stdout);
}

const checked = new Map<string, Promise<boolean>>();

async function runs(command: string): Promise<boolean> {
  try {
    await new Deno.Command(command, {
      args: ["-h"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `command` is missing; the first time, a missing one is reported
 * with the Debian package that provides it.
 */
export function isMissing(
  command: string,
  debianPackage: string = command,
): Promise<boolean> {
  let missing = checked.get(command);
  if (missing === undefined) {
    missing = runs(command).then((found) => {
      if (!found) {
        console.log(
          `${command} not found: the tests that talk to it are ignored (apt-get install ${debianPackage})`,
        );
      }
      return !found;
    });
    checked.set(command, missing);
  }
  return missing;
}

/**
 * Reads text from `reader` until what was read, after `seen`, contains
 * `text`, or the stream ends; returns `seen` and all that was read. Fails
 * after `ms`.
 */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  text: string,
  seen = "",
  ms: number = DEADLINE_MS,
): Promise<string> {
  const reading = (async () => {
    while (!seen.includes(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    return seen;
  })();
  return await within(reading, JSON.stringify(text), ms);
}

/** Leaves a stale socket file: a child process binds `path` and is killed with SIGKILL. */
export async function crashServerAt(
  path: string,
  transport: "unix" | "unixpacket",
): Promise<void> {
  const bind = transport === "unix"
    ? `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} })`
    : `Deno.listenDatagram({ transport: "unixpacket", path: ${
      JSON.stringify(path)
    } })`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--unstable-net",
      `${bind}; console.log("ready"); setTimeout(() => {}, ${DEADLINE_MS});`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  if (decoder.decode(value).trim() !== "ready") {
    throw new Error(`the server at ${path} did not start`);
  }
  if (!(await Deno.lstat(path)).isSocket) {
    throw new Error(`the killed server left no socket file at ${path}`);
  }
}

/** A path in `dir` that is exactly `bytes` bytes long (ASCII). */
export function pathOfLength(bytes: number, dir: string): string {
  return `${dir}/${"s".repeat(bytes - dir.length - 1)}`;
}

/** A private CA and a server certificate it signed, made by openssl for a test. */
export interface TestCertificates {
  /** The CA certificate, PEM. */
  ca: string;
  /** The server certificate, PEM. */
  cert: string;
  /** The server's private key, PEM. */
  key: string;
  /** The paths of the same three files. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Makes a CA and a certificate it signed for `localhost` and `127.0.0.1`
 * (P-256 keys, valid one day) in `dir` with openssl, so that no key is ever
 * committed. A self-signed server certificate would not do: rustls refuses
 * a CA certificate used as a server's own.
 */
export async function makeCertificates(dir: string): Promise<TestCertificates> {
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  const caFile = `${dir}/ca.pem`;
  const caKey = `${dir}/ca-key.pem`;
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const request = `${dir}/cert.csr`;
  const extensions = `${dir}/cert.ext`;
  await output("openssl", [
    "req",
    "-x509",
    ...key,
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=sockets-net test CA",
    "-keyout",
    caKey,
    "-out",
    caFile,
  ]);
  await output("openssl", [
    "req",
    ...key,
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    keyFile,
    "-out",
    request,
  ]);
  await Deno.writeTextFile(
    extensions,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
  );
  await output("openssl", [
    "x509",
    "-req",
    "-in",
    request,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    extensions,
    "-out",
    certFile,
  ]);
  return {
    ca: await Deno.readTextFile(caFile),
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
    caFile,
    certFile,
    keyFile,
  };
}

/**
 * A line-protocol server in Python for STARTTLS clients: it greets with
 * `220 ready`, answers `STARTTLS` with `220 go ahead`, switches to TLS (the
 * server side of an upgrade, which Deno's own API does not offer), and
 * sends back in upper case all the client sends until it closes. It serves
 * one client; with `stall`, it reads the client's hello and never answers.
 */
const PYTHON_STARTTLS_SERVER = `
import socket, ssl, sys, time
cert, key, stall = sys.argv[1], sys.argv[2], sys.argv[3] == "stall"
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
with socket.create_server(("127.0.0.1", 0)) as listener:
    print(listener.getsockname()[1], flush=True)
    listener.settimeout(20)
    conn, _ = listener.accept()
    conn.settimeout(20)
    conn.sendall(b"220 ready\\r\\n")
    line = b""
    while not line.endswith(b"\\n") and len(line) < 1024:
        line += conn.recv(1)
    if line.strip() != b"STARTTLS":
        conn.sendall(b"500 say STARTTLS first\\r\\n")
        sys.exit(1)
    conn.sendall(b"220 go ahead\\r\\n")
    if stall:
        conn.recv(1024)
        time.sleep(1)
        sys.exit(0)
    tls = context.wrap_socket(conn, server_side=True)
    data = b""
    while len(data) < 1 << 20:
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    tls.sendall(data.upper())
    tls.unwrap().close()
`;

/** A running STARTTLS line server; disposing waits for it to exit. */
export interface TlsLineServer extends AsyncDisposable {
  /** The port it listens on, at 127.0.0.1. */
  port: number;
}

/** Starts {@linkcode PYTHON_STARTTLS_SERVER} with the given certificate. */
export async function startTlsLineServer(
  certFile: string,
  keyFile: string,
  { stall = false }: { stall?: boolean } = {},
): Promise<TlsLineServer> {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      PYTHON_STARTTLS_SERVER,
      certFile,
      keyFile,
      stall ? "stall" : "serve",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    await stdout.cancel();
    const status = await within(child.status, "the STARTTLS server to exit")
      .catch((error) => {
        child.kill("SIGKILL");
        throw error;
      });
    const errors = await stderr;
    if (!status.success) {
      throw new Error(`the STARTTLS server exited ${status.code}: ${errors}`);
    }
  };
  const { value } = await within(stdout.read(), "the STARTTLS server's port");
  const port = Number(value?.trim());
  if (!(port > 0)) {
    child.kill("SIGKILL");
    await stop().catch(() => {});
    throw new Error(`no port from the STARTTLS server: ${await stderr}`);
  }
  return { port, [Symbol.asyncDispose]: stop };
}
