// The messages between serveWorkers() and its workers, and how errors cross
// the worker boundary. Messages stay small plain objects: the structured clone
// of each is cheap, and both sides switch on `type`.

import { permissionFlag } from "./_errors.ts";
import type { ServerCounters } from "./_lifecycle.ts";
import type { ProxyOptions } from "./proxy.ts";

/**
 * How often, at most, a serving worker sends its counters to the pool, and
 * only when they changed: an operator reads counters by the second (as
 * `watch`, HAProxy's stats page or a metrics scrape do), and one small
 * message a second per worker costs nothing next to serving.
 */
export const COUNTERS_INTERVAL_MS = 1_000;

/** What the main thread tells a worker. */
export type ToWorker =
  | {
    /** Load `module`, then listen with `reusePort` and serve. */
    type: "start";
    /** The absolute URL of the module whose default export is the handler. */
    module: string;
    hostname: string;
    /** The resolved port; the first worker of a port-0 pool gets 0. */
    port: number;
    maxConnections?: number;
    idleTimeout?: number;
    connectionTimeout?: number;
    lingerTimeout?: number;
    shutdownTimeout?: number;
    /** Plain data (addresses and numbers), so it crosses to the worker as it is. */
    proxy?: ProxyOptions;
    /** Address and CIDR range strings, as given. */
    allow?: readonly string[];
    deny?: readonly string[];
  }
  | {
    /** Stop accepting, drain, then report `finished`. */
    type: "shutdown";
  };

/** What a worker tells the main thread. */
export type FromWorker =
  | {
    /** The worker is serving. */
    type: "listening";
    hostname: string;
    port: number;
  }
  | {
    /** The worker could not start: its module or its listener failed. */
    type: "failed";
    error: WireError;
  }
  | {
    /** A handler or an accept failed; the worker goes on serving. */
    type: "error";
    error: WireError;
  }
  | {
    /** The worker's counters changed: sent at most every {@linkcode COUNTERS_INTERVAL_MS}. */
    type: "counters";
    counters: ServerCounters;
  }
  | {
    /** The worker is ending on its own: an uncaught error, `close()` or `Deno.exit()`. */
    type: "died";
    reason: string;
    error?: WireError;
    /** Its last counters, when it was serving. */
    counters?: ServerCounters;
  }
  | {
    /** The worker has drained after a `shutdown` and may be terminated. */
    type: "finished";
    /** Its final counters, when it was serving. */
    counters?: ServerCounters;
  };

/** An error as it crosses the boundary: the structured clone of an Error keeps neither Deno's classes nor `name`. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  cause?: WireError;
}

/** How deep a chain of causes is copied: enough for an annotated error and its OS error. */
const MAX_CAUSE_DEPTH = 4;

/** Copies an error, or any thrown value, into a message. */
export function toWire(error: unknown, depth = 0): WireError {
  if (!(error instanceof Error)) {
    return { name: "Error", message: String(error) };
  }
  const wire: WireError = {
    name: error.name,
    message: error.message,
    stack: error.stack,
  };
  if (error.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    wire.cause = toWire(error.cause, depth + 1);
  }
  return wire;
}

/** The error classes that a name is rebuilt as, besides `Deno.errors`. */
const STANDARD_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

function errorClass(name: string): ErrorConstructor {
  const denoError = (Deno.errors as Record<string, unknown>)[name];
  if (typeof denoError === "function") return denoError as ErrorConstructor;
  return STANDARD_ERRORS[name] ?? Error;
}

/** Rebuilds a copied error with its class (for the built-in and Deno ones), name, message, stack and causes. */
export function fromWire(wire: WireError): Error {
  const ErrorClass = errorClass(wire.name);
  const error = wire.cause === undefined
    ? new ErrorClass(wire.message)
    : new ErrorClass(wire.message, { cause: fromWire(wire.cause) });
  if (error.name !== wire.name) {
    Object.defineProperty(error, "name", {
      value: wire.name,
      configurable: true,
      writable: true,
    });
  }
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

/**
 * The fix for a module that a worker could not load for want of read
 * permission: Deno names one file at a time, so grant its directory, which
 * usually holds the modules it imports too.
 */
export function readPermissionFix(error: Error): string | undefined {
  const flag = permissionFlag(error);
  if (flag === undefined || !flag.startsWith("--allow-read=")) return flag;
  const path = flag.slice("--allow-read=".length);
  const directory = path.slice(0, path.lastIndexOf("/")) || "/";
  return `permission denied reading ${path}; run again with --allow-read=${directory} (a worker needs read access to every local module it loads)`;
}
