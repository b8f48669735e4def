// deno run --allow-ffi --allow-read=/tmp/sockets-net --allow-write=/tmp/sockets-net --allow-net=unix:/tmp/sockets-net/restart.sock,unix:/tmp/sockets-net/restart.control examples/restart_server.ts
/**
 * An echo server that restarts without refusing a single client, as nginx's
 * binary upgrade and HAProxy's seamless reload do: start a second copy
 * while the first runs, and the first hands its listening socket to it over
 * a control socket (a descriptor passed with `SCM_RIGHTS`), stops
 * accepting, finishes the connections it has, and exits. The listening
 * socket never closes, so connections that arrive meanwhile wait in its
 * backlog for the new server, which serves them with the same engine.
 *
 * The first copy binds the socket itself, with `listenUnix` from
 * `@sockets/net/fd` so that its descriptor is known; each copy then waits
 * at the control socket (`--control`) for the next one. Ctrl-C or SIGTERM
 * stops the one running, which removes both files.
 *
 * Try it: start it, run `while :; do echo hi | nc -UN /tmp/sockets-net/restart.sock; done`
 * elsewhere, then start it again in another terminal: the first exits, and
 * the loop never sees an error. `--allow-ffi` is for the C library; the
 * least grant names its absolute path, which differs between systems (on
 * Debian and Ubuntu, `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6`).
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import {
  DescriptorChannel,
  type DescriptorMessage,
  listenUnix,
} from "@sockets/net/fd";
import { copy } from "@sockets/net/io";
import { serve } from "@sockets/net/server";

const DEFAULT_PATH = "/tmp/sockets-net/restart.sock";
const DEFAULT_CONTROL = "/tmp/sockets-net/restart.control";

/** What the running server sends with its listener, and the answer it waits for. */
const HANDOVER = "listener";
const SERVING = "serving";

/**
 * How long either side of the handover waits for the other's message: a
 * copy that hangs mid-handover must not hold the other one forever. Ten
 * seconds is ample for a message between two processes on one machine.
 */
const HANDOVER_TIMEOUT_MS = 10_000;

/**
 * The pause after a failed handover before the control socket is listened
 * on again, so that a failure that recurs at once (the control path taken,
 * say) does not spin.
 */
const HANDOVER_RETRY_MS = 100;

const USAGE = `Usage: restart_server.ts [options]

Echoes every byte back; a second copy started while one runs takes its
listening socket over, and the first exits once its clients are done.

  --path PATH       socket file (default ${DEFAULT_PATH})
  --control PATH    control socket of the handover (default ${DEFAULT_CONTROL})
  --help            show this help`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Creates the sockets' directory (owner only) when it is missing. */
async function makeDirectoryOf(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) {
    await Deno.mkdir(path.slice(0, slash), { recursive: true, mode: 0o700 });
  }
}

async function removeIfPresent(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The other side's next message on `channel`, waiting at most {@linkcode HANDOVER_TIMEOUT_MS}. */
async function receiveWithin(
  channel: DescriptorChannel,
  who: string,
): Promise<DescriptorMessage | null> {
  const signal = AbortSignal.timeout(HANDOVER_TIMEOUT_MS);
  try {
    return await channel.receive({ signal });
  } catch (error) {
    if (!signal.aborted) throw error;
    throw new Error(`${who} did not answer within ${HANDOVER_TIMEOUT_MS} ms`, {
      cause: error,
    });
  }
}

/** The listener of the running server, or `undefined` when none answers. */
async function takeOver(control: string): Promise<Deno.Listener | undefined> {
  let channel: DescriptorChannel;
  try {
    channel = DescriptorChannel.connect(control);
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.ConnectionRefused
    ) return undefined;
    throw error;
  }
  using _ = channel;
  const message = await receiveWithin(
    channel,
    `${control}: the running server`,
  );
  if (
    message === null || decoder.decode(message.payload) !== HANDOVER ||
    message.descriptors.length !== 1
  ) {
    for (const descriptor of message?.descriptors ?? []) descriptor.close();
    throw new Error(
      `${control}: the running server sent no listener; is another program using this control socket?`,
    );
  }
  const listener = message.descriptors[0].toListener();
  // Once it reads this, the old server stops accepting.
  await channel.send(encoder.encode(SERVING));
  return listener;
}

/**
 * Waits for the next copy at `control` and hands it `listener`; returns
 * `true` once a copy serves it, `false` when `signal` aborts first. A copy
 * that fails during the handover is reported and the next one awaited: this
 * server keeps serving meanwhile.
 */
async function handOverToNext(
  control: string,
  listener: Deno.Listener,
  signal: AbortSignal,
): Promise<boolean> {
  while (!signal.aborted) {
    try {
      if (await handOver(control, listener, signal)) return true;
    } catch (error) {
      console.error(
        `handover failed, still serving: ${
          error instanceof Error ? error.message : error
        }`,
      );
      await pause(HANDOVER_RETRY_MS, signal);
    }
  }
  return false;
}

/** Waits for the next copy at `control`, hands it `listener`, and returns once it serves. */
async function handOver(
  control: string,
  listener: Deno.Listener,
  signal: AbortSignal,
): Promise<boolean> {
  using controlListener = listenUnix(control);
  const stop = () => controlListener.close();
  signal.addEventListener("abort", stop, { once: true });
  let conn: Deno.Conn;
  try {
    conn = await controlListener.accept();
  } catch (error) {
    if (signal.aborted) return false;
    throw error;
  } finally {
    signal.removeEventListener("abort", stop);
    // The next copy binds it in turn.
    await removeIfPresent(control);
  }
  using channel = DescriptorChannel.fromConn(conn);
  await channel.send(encoder.encode(HANDOVER), [listener]);
  // Not cut short by a stop: the listener is sent, and the new copy may
  // serve it already, so a stop now must not clean its socket up.
  const answer = await receiveWithin(channel, "the new server");
  if (answer === null || decoder.decode(answer.payload) !== SERVING) {
    throw new Error("the new server did not take the listener over");
  }
  return true;
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["path", "control"],
    boolean: ["help"],
    default: { path: DEFAULT_PATH, control: DEFAULT_CONTROL },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  await makeDirectoryOf(flags.path);
  let listener = await takeOver(flags.control);
  if (listener === undefined) {
    // Nobody answers the control socket: files left by a crash are stale.
    await removeIfPresent(flags.control);
    await removeIfPresent(flags.path);
    listener = listenUnix(flags.path);
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const server = serve(listener, (conn) => copy(conn, conn), {
    signal: controller.signal,
    onError: (error) =>
      console.error(error instanceof Error ? error.message : error),
  });
  console.log(`listening on ${flags.path}`);
  try {
    const handedOver = await handOverToNext(
      flags.control,
      listener,
      controller.signal,
    );
    if (handedOver) {
      console.log("handed over; finishing the current connections");
      await server.shutdown();
    } else {
      await server.finished;
      await removeIfPresent(flags.path);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
