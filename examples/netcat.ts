// deno run --allow-net=127.0.0.1 examples/netcat.ts
/**
 * A netcat on this module: it joins standard input and output to a TCP
 * connection, a Unix socket or a UDP peer, as a client or as a server, and
 * can serve a command per connection instead (`--exec`, as `nc -e` and
 * `tcpserver` do).
 *
 *     netcat.ts HOST PORT                      connect, as nc HOST PORT
 *     netcat.ts --listen [HOST] PORT           wait for one client, as nc -l
 *     netcat.ts --listen --keep-open PORT      serve client after client, as nc -lk
 *     netcat.ts --udp HOST PORT                UDP, as nc -u
 *     netcat.ts --unix PATH                    a Unix socket, as nc -U PATH
 *     netcat.ts --listen --exec "cat" PORT     a command per client
 *
 * Half-closes travel as they should: at the end of standard input the
 * socket's sending side is closed (as `nc -N` does), and at the end of the
 * socket's stream netcat exits once its output is written and its input
 * sent (at once when the input is a terminal). A server
 * listens on 127.0.0.1 unless given another HOST (`0.0.0.0` for every
 * address). Standard output carries only the peer's bytes: `--verbose`
 * reports what happens (including `listening on HOST:PORT`) on stderr.
 *
 * The header line grants the default mode: a TCP client or server on
 * 127.0.0.1. The other modes need more:
 *
 * - another host: `--allow-net=HOST` (a server on port 80 also needs root
 *   or `CAP_NET_BIND_SERVICE`);
 * - `--udp`: `--unstable-net` too (Deno's UDP API is unstable in 2.9);
 * - `--unix PATH`: `--allow-read=PATH --allow-write=PATH
 *   --allow-net=unix:PATH`, and for `--listen` the same on `DIR/.NAME`
 *   plus `unix:DIR/.NAME/s` (see `@sockets/net/unix`);
 * - `--exec CMD`: `--allow-run=CMD`; the command gets the connection's
 *   variables (`PROTO`, `TCPREMOTEIP`...) and none of netcat's environment.
 *
 * Errors print their message, which names any missing flag, and exit 1.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { copy, writeAll } from "@sockets/net/io";
import { spawnHandler } from "@sockets/net/spawn";
import type { ConnectionHandler, Server } from "@sockets/net/server";
import { formatAddress } from "@sockets/net/resolve";
import { connectTcp, serveTcp } from "@sockets/net/tcp";
import { connectUdp, listenUdp, type UdpSocket } from "@sockets/net/udp";
import { connectUnix, serveUnix } from "@sockets/net/unix";

/**
 * How much of standard input one read takes: the buffer size of OpenBSD's
 * nc, and small enough to go out as one UDP datagram.
 */
const INPUT_CHUNK_SIZE = 16 * 1024;

/**
 * How long connections get at Ctrl-C before they are closed: none, as nc,
 * which just exits; a command per connection is still stopped and reaped.
 */
const SHUTDOWN_TIMEOUT_MS = 0;

const USAGE = `Usage: netcat.ts [options] HOST PORT
       netcat.ts --listen [options] [HOST] PORT
       netcat.ts [--listen] [options] --unix PATH

Joins standard input and output to a socket, as nc does.

  -l, --listen             wait for a client instead of connecting
  -k, --keep-open          with --listen, serve client after client
  -u, --udp                use UDP instead of TCP (needs --unstable-net)
  -U, --unix PATH          use the Unix socket PATH instead of HOST PORT
  -e, --exec "CMD ARGS"    run CMD for each connection, joined to it
                           instead of standard input and output
                           (the words are split at spaces; needs --allow-run=CMD)
  --max-connections N      with --exec --keep-open, commands run at once
  --idle-timeout MS        close a connection silent for this long; with
                           --udp, exit after this long without a datagram
  -w, --timeout MS         give up connecting after this long
  -v, --verbose            report connections on stderr
  -h, --help               show this help`;

interface Flags {
  listen: boolean;
  keepOpen: boolean;
  udp: boolean;
  unix: string | undefined;
  exec: string[] | undefined;
  maxConnections: number | undefined;
  idleTimeout: number | undefined;
  timeout: number | undefined;
  verbose: boolean;
  hostname: string;
  port: string;
}

function optionalNumber(
  text: string | undefined,
  name: string,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || Number.isNaN(value)) {
    throw new TypeError(`--${name} must be a number, got "${text}"`);
  }
  return value;
}

function parse(args: string[]): Flags | undefined {
  const flags = parseArgs(args, {
    string: ["unix", "exec", "max-connections", "idle-timeout", "timeout", "_"],
    boolean: ["listen", "keep-open", "udp", "verbose", "help"],
    alias: {
      l: "listen",
      k: "keep-open",
      u: "udp",
      U: "unix",
      e: "exec",
      w: "timeout",
      v: "verbose",
      h: "help",
    },
    unknown: (arg) => {
      if (arg.startsWith("-") && arg !== "-") {
        throw new TypeError(`unknown option ${arg}; see --help`);
      }
      return true;
    },
  });
  if (flags.help) return undefined;
  const positionals = flags._.map(String);
  const exec = flags.exec?.trim().split(/\s+/);
  let hostname = "127.0.0.1";
  let port = "";
  if (flags.unix !== undefined) {
    if (positionals.length > 0) {
      throw new TypeError(
        `unexpected argument "${
          positionals[0]
        }": --unix PATH takes no HOST or PORT`,
      );
    }
    if (flags.udp) {
      throw new TypeError(
        "--unix with --udp is not supported: Unix datagram sockets need a path for each end; see examples/unix_datagram_client.ts",
      );
    }
  } else if (
    positionals.length === 2 || (flags.listen && positionals.length === 1)
  ) {
    port = positionals.at(-1)!;
    if (positionals.length === 2) hostname = positionals[0];
  } else {
    throw new TypeError(
      flags.listen
        ? "give the port to listen on, and optionally the host first: --listen [HOST] PORT"
        : "give the host and the port to connect to: HOST PORT (or --listen PORT to wait for a client)",
    );
  }
  if (exec !== undefined && (exec.length === 0 || exec[0] === "")) {
    throw new TypeError('--exec needs a command, such as --exec "cat"');
  }
  if (exec !== undefined && flags.udp) {
    throw new TypeError(
      "--exec needs a stream (TCP or --unix): UDP has no connection to join a command to",
    );
  }
  if (flags["keep-open"] && !flags.listen) {
    throw new TypeError("--keep-open works with --listen only");
  }
  return {
    listen: flags.listen,
    keepOpen: flags["keep-open"],
    udp: flags.udp,
    unix: flags.unix,
    exec,
    maxConnections: optionalNumber(
      flags["max-connections"],
      "max-connections",
    ),
    idleTimeout: optionalNumber(flags["idle-timeout"], "idle-timeout"),
    timeout: optionalNumber(flags.timeout, "timeout"),
    verbose: flags.verbose,
    hostname,
    port,
  };
}

/**
 * Standard input, read by one loop for the whole run: with `--keep-open`,
 * what one client did not take goes to the next. A chunk read while no
 * client is there waits for one.
 */
let pendingInput: Promise<Uint8Array | null> | undefined;

function nextInput(): Promise<Uint8Array | null> {
  pendingInput ??= (async () => {
    const buffer = new Uint8Array(INPUT_CHUNK_SIZE);
    const n = await Deno.stdin.read(buffer);
    return n === null ? null : buffer.subarray(0, n);
  })();
  return pendingInput;
}

/**
 * Sends standard input with `send` until it ends (then calls `end`) or
 * `stopped` resolves; a chunk that arrives after that is kept for the next
 * connection.
 */
async function sendInput(
  send: (chunk: Uint8Array) => Promise<unknown>,
  end: () => Promise<void>,
  stopped: Promise<void>,
): Promise<void> {
  const stop = stopped.then(() => undefined);
  while (true) {
    const chunk = await Promise.race([nextInput(), stop]);
    if (chunk === undefined) return;
    if (chunk === null) {
      // The end stays pending: every later connection gets it at once.
      await end();
      return;
    }
    pendingInput = undefined;
    await send(chunk);
  }
}

/**
 * Joins standard input and output to `conn` until both directions are
 * done: the peer's stream has ended, and so has the input sent to it.
 */
async function relay(conn: Deno.Conn): Promise<void> {
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  // A failed write means the peer has gone: the receiving side then ends
  // too, and says why if it was an error.
  const sending = sendInput(
    (chunk) => writeAll(conn, chunk),
    () => conn.closeWrite(),
    stopped,
  ).catch(() => {});
  try {
    await copy(conn, Deno.stdout);
  } catch (error) {
    stop();
    throw error;
  }
  // Input from a pipe or a file still goes out to its end, as a half-close
  // allows (the peer may be waiting for it); someone at a terminal is done.
  if (Deno.stdin.isTerminal()) stop();
  await sending;
}

async function connectStream(flags: Flags): Promise<void> {
  const conn = flags.unix !== undefined
    ? await connectUnix(flags.unix, { timeout: flags.timeout })
    : await connectTcp({
      hostname: flags.hostname,
      port: flags.port,
      timeout: flags.timeout,
    });
  try {
    if (flags.verbose) {
      console.error(`netcat: connected to ${formatAddress(conn.remoteAddr)}`);
    }
    if (flags.exec !== undefined) {
      // No server ends this connection: the command's context never aborts
      // and sets no deadline.
      await spawnHandler(flags.exec, { clearEnv: true })(conn, {
        signal: new AbortController().signal,
        setDeadline: () => {},
      });
    } else {
      await relay(conn);
    }
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function listenStream(flags: Flags): Promise<void> {
  const handler = flags.exec === undefined
    ? relay
    : spawnHandler(flags.exec, { clearEnv: true });
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const options = {
      // Standard input cannot be shared: without --exec, one client at a time.
      maxConnections: flags.exec !== undefined && flags.keepOpen
        ? flags.maxConnections
        : 1,
      idleTimeout: flags.idleTimeout,
      shutdownTimeout: SHUTDOWN_TIMEOUT_MS,
      signal: controller.signal,
      onError: (error: unknown) =>
        console.error(
          `netcat: ${error instanceof Error ? error.message : error}`,
        ),
    };
    const serveOne: ConnectionHandler = async (conn, context) => {
      const peer = formatAddress(conn.remoteAddr);
      if (flags.verbose) console.error(`netcat: connection from ${peer}`);
      try {
        await handler(conn, context);
      } finally {
        if (flags.verbose) console.error(`netcat: ${peer} closed`);
        if (!flags.keepOpen) stop();
      }
    };
    const server: Server = flags.unix !== undefined
      ? await serveUnix({ ...options, path: flags.unix }, serveOne)
      : serveTcp(
        { ...options, hostname: flags.hostname, port: flags.port },
        serveOne,
      );
    if (flags.verbose) {
      console.error(`netcat: listening on ${formatAddress(server.addr)}`);
    }
    await server.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

/**
 * Prints datagrams from `socket` until it closes; with an idle timeout,
 * closes it after that long without one.
 */
async function printDatagrams(
  receive: () => Promise<Uint8Array>,
  close: () => void,
  idleTimeout: number | undefined,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    if (idleTimeout === undefined) return;
    clearTimeout(timer);
    timer = setTimeout(close, idleTimeout);
  };
  arm();
  try {
    while (true) {
      let data: Uint8Array;
      try {
        data = await receive();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return;
        throw error;
      }
      arm();
      await writeAll(Deno.stdout, data);
    }
  } finally {
    clearTimeout(timer);
  }
}

async function connectDatagram(flags: Flags): Promise<void> {
  const socket = await connectUdp({
    hostname: flags.hostname,
    port: flags.port,
  });
  const close = () => socket.close();
  Deno.addSignalListener("SIGINT", close);
  Deno.addSignalListener("SIGTERM", close);
  try {
    if (flags.verbose) {
      console.error(`netcat: sending to ${formatAddress(socket.remoteAddr)}`);
    }
    const { promise: closed, resolve } = Promise.withResolvers<void>();
    // UDP has no end of stream to send: the end of input just stops sending.
    sendInput((chunk) => socket.send(chunk), async () => {}, closed)
      .catch((error) => {
        console.error(`netcat: ${error.message}`);
        close();
      });
    try {
      await printDatagrams(() => socket.receive(), close, flags.idleTimeout);
    } finally {
      resolve();
    }
  } finally {
    Deno.removeSignalListener("SIGINT", close);
    Deno.removeSignalListener("SIGTERM", close);
    socket.close();
  }
}

async function listenDatagram(flags: Flags): Promise<void> {
  const socket: UdpSocket = listenUdp({
    hostname: flags.hostname,
    port: flags.port,
  });
  const close = () => socket.close();
  Deno.addSignalListener("SIGINT", close);
  Deno.addSignalListener("SIGTERM", close);
  try {
    if (flags.verbose) {
      console.error(`netcat: listening on ${formatAddress(socket.addr)}`);
    }
    // Input goes to the latest sender, once there is one, as nc -u -l
    // answers the client it heard from.
    let peer: Deno.NetAddr | undefined;
    const { promise: heard, resolve: hear } = Promise.withResolvers<void>();
    const { promise: closed, resolve: done } = Promise.withResolvers<void>();
    heard.then(() =>
      sendInput((chunk) => socket.send(chunk, peer!), async () => {}, closed)
    ).catch((error) => {
      console.error(`netcat: ${error.message}`);
      close();
    });
    const receive = async () => {
      const { data, from } = await socket.receive();
      if (flags.verbose && peer?.port !== from.port) {
        console.error(`netcat: datagram from ${formatAddress(from)}`);
      }
      peer = from;
      hear();
      return data;
    };
    try {
      await printDatagrams(receive, close, flags.idleTimeout);
    } finally {
      done();
    }
  } finally {
    Deno.removeSignalListener("SIGINT", close);
    Deno.removeSignalListener("SIGTERM", close);
    socket.close();
  }
}

async function main(args: string[]): Promise<void> {
  const flags = parse(args);
  if (flags === undefined) {
    console.log(USAGE);
    return;
  }
  if (flags.udp) {
    await (flags.listen ? listenDatagram(flags) : connectDatagram(flags));
  } else {
    await (flags.listen ? listenStream(flags) : connectStream(flags));
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
    // Standard input may still be open (a terminal): the session is over.
    Deno.exit(0);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
