// The code that runs inside each worker of serveWorkers(): it loads the
// handler module, listens with reusePort, serves, and tells the main thread
// what happens, including its own death, which a Web Worker does not report.

import { show } from "./_validate.ts";
import type { FromWorker, ToWorker } from "./_worker_protocol.ts";
import {
  COUNTERS_INTERVAL_MS,
  readPermissionFix,
  toWire,
} from "./_worker_protocol.ts";
import type { ConnectionHandler, Server, ServerCounters } from "./server.ts";
import { serveTcp } from "./tcp.ts";

/** The part of a worker's global scope used here; Deno's types describe the main thread's. */
interface WorkerScope {
  postMessage(message: FromWorker): void;
  close(): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  addEventListener(
    type: "error" | "unhandledrejection" | "unload",
    listener: (event: Event) => void,
  ): void;
}

// Imported anywhere else, this module would take over the close() and the
// error events of the main thread.
if (!("WorkerGlobalScope" in globalThis)) {
  throw new Error(
    "_worker_entry.ts runs only inside the workers of serveWorkers(); import @sockets/net/workers instead",
  );
}

const scope = globalThis as unknown as WorkerScope;
const closeWorker = scope.close.bind(scope);

let server: Server<Deno.NetAddr> | undefined;
let stopping = false;
let dying = false;
/** Settles when the start has finished, whether it succeeded or not. */
let started: Promise<void> = Promise.resolve();
let countersTimer: ReturnType<typeof setInterval> | undefined;
/** The counters last sent, as JSON, so that unchanged ones are not sent again. */
let countersSent = "";

function post(message: FromWorker): void {
  scope.postMessage(message);
}

/** Sends the server's counters if they changed since they were last sent. */
function sendCounters(): void {
  if (server === undefined) return;
  const counters = server.counters;
  const json = JSON.stringify(counters);
  if (json === countersSent) return;
  countersSent = json;
  post({ type: "counters", counters });
}

/** The server's counters for the worker's last message; none is sent after it. */
function lastCounters(): ServerCounters | undefined {
  clearInterval(countersTimer);
  return server?.counters;
}

/**
 * Stops accepting, tells the main thread that this worker is ending on its
 * own, then ends it. The report waits one turn of the event loop, in which
 * the closed listener's pending accept settles and its socket is released:
 * by the time the pool hears of the death, the port no longer sends
 * connections here, and a replacement gets them.
 */
function die(reason: string, error?: unknown): void {
  if (dying) return;
  dying = true;
  server?.shutdown();
  setTimeout(() => {
    post({
      type: "died",
      reason,
      ...(error === undefined ? {} : { error: toWire(error) }),
      counters: lastCounters(),
    });
    closeWorker();
  });
}

// A worker that closes itself or exits sends no event to its parent: say so
// first, so that the pool can replace it.
scope.close = () => die("the worker called self.close()");
// Deno.exit() cannot wait: the report goes at once.
scope.addEventListener("unload", () => {
  if (dying) return;
  dying = true;
  post({
    type: "died",
    reason: "the worker called Deno.exit()",
    counters: lastCounters(),
  });
});

// An uncaught error would end the worker with an event that carries only a
// message; report the error itself, then end the worker as the error would.
scope.addEventListener("error", (event) => {
  event.preventDefault();
  die("uncaught error", (event as ErrorEvent).error);
});
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  die("unhandled rejection", (event as PromiseRejectionEvent).reason);
});

function loadFailure(module: string, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  // A dynamic import denied read access fails with a TypeError, not NotCapable.
  const fix = readPermissionFix(error);
  const ErrorClass = fix === undefined
    ? error.constructor as new (message: string, options: ErrorOptions) => Error
    : Deno.errors.NotCapable;
  return new ErrorClass(
    `serveWorkers: cannot load ${module}: ${fix ?? error.message}`,
    { cause: error },
  );
}

async function start(message: ToWorker & { type: "start" }): Promise<void> {
  const { type: _type, module, hostname, port, ...serveOptions } = message;
  let exports: Record<string, unknown>;
  try {
    exports = await import(module);
  } catch (error) {
    post({ type: "failed", error: toWire(loadFailure(module, error)) });
    return;
  }
  const handler = exports.default;
  if (typeof handler !== "function") {
    const found = "default" in exports
      ? `its default export is ${show(handler)}`
      : `it has no default export${
        Object.keys(exports).length === 0
          ? ""
          : ` (it exports ${Object.keys(exports).join(", ")})`
      }`;
    const error = new TypeError(
      `serveWorkers: ${module} must export its connection handler as the default export, such as export default (conn) => ...; ${found}`,
    );
    post({ type: "failed", error: toWire(error) });
    return;
  }
  if (stopping) {
    post({ type: "finished" });
    return;
  }
  try {
    server = serveTcp({
      hostname,
      port,
      reusePort: true,
      ...serveOptions,
      onError: (error) => post({ type: "error", error: toWire(error) }),
    }, handler as ConnectionHandler<Deno.TcpConn>);
  } catch (error) {
    post({ type: "failed", error: toWire(error) });
    return;
  }
  post({
    type: "listening",
    hostname: server.addr.hostname,
    port: server.addr.port,
  });
  countersTimer = setInterval(sendCounters, COUNTERS_INTERVAL_MS);
}

async function stop(): Promise<void> {
  stopping = true;
  await started;
  if (server === undefined) return;
  await server.shutdown();
  post({ type: "finished", counters: lastCounters() });
}

scope.onmessage = ({ data }) => {
  if (data.type === "start") {
    started = start(data);
  } else if (data.type === "shutdown" && !stopping) {
    stop();
  }
};
