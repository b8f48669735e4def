// Rewrites operating-system and permission errors so that they say what failed,
// where, and how to fix it, in the manner of Go's `dial tcp 127.0.0.1:9: ...`.

import { socketPathText } from "./_address.ts";

/**
 * Throws `Deno.errors.NotSupported` unless Deno's unstable net API is there
 * (`Deno.listenDatagram`, `reusePort`): Deno 2 keeps datagram sockets and
 * `SO_REUSEPORT` behind `--unstable-net`.
 *
 * @param what What needs it, for the message: `"listen udp 0.0.0.0:53"`.
 */
export function requireUnstableNet(what: string): void {
  if (
    typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function"
  ) {
    throw new Deno.errors.NotSupported(
      `${what}: needs Deno's unstable net API; run again with --unstable-net`,
    );
  }
}

/** The transports an error can be about. */
export type Network = "tcp" | "udp" | "unix" | "unixpacket";

/** What was being done when an error happened, for its message. */
export interface Operation {
  /** The verb: `listen`, `connect`, `send`, ... */
  op: string;
  /** The transport. */
  network: Network;
  /** `host:port` for IP transports, the socket path for Unix ones. */
  address: string;
  /** The port, when there is one: it decides the privileged-port hint. */
  port?: number;
  /**
   * The directory the operation creates a file in (a Unix socket's, or a
   * private directory's parent): a `NotFound` then means it is missing.
   */
  directory?: string;
}

/** Ports below this need privilege to bind (Linux `ip_unprivileged_port_start`). */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** Deno's permission messages read `Requires net access to "host:port", ...`. */
const DENIED_PERMISSION = /Requires (\w+) access to "([^"]*)"/;

/** The flag that grants what a `NotCapable` error denied, such as `--allow-net=127.0.0.1:80`. */
export function permissionFlag(error: Error): string | undefined {
  const match = DENIED_PERMISSION.exec(error.message);
  if (match === null) return undefined;
  const [, kind, target] = match;
  // A scoped unix: grant cannot express the NUL of an abstract name.
  if (target.startsWith("unix:\0")) return `--allow-${kind}`;
  return target === "" ? `--allow-${kind}` : `--allow-${kind}=${target}`;
}

function explain(
  error: Error,
  { network, port, directory }: Operation,
): string {
  const unix = network === "unix" || network === "unixpacket";
  if (error instanceof Deno.errors.NotFound && directory !== undefined) {
    return `the directory ${directory} does not exist; create it first (mkdir -p ${directory})`;
  }
  if (error instanceof Deno.errors.NotFound && unix) {
    return "no socket file at this path; start the server first, or check the path";
  }
  if (error instanceof Deno.errors.ConnectionRefused && unix) {
    return "connection refused; no server is bound to this socket file (a crashed server may have left it), or it is not a socket";
  }
  if (error instanceof Deno.errors.NotCapable) {
    const flag = permissionFlag(error);
    return flag === undefined
      ? error.message
      : `permission denied; run again with ${flag}`;
  }
  if (error instanceof Deno.errors.AddrInUse) {
    return unix
      ? "the socket file is in use; stop the server that owns it or choose another path"
      : `port ${port} is already in use; stop the process that holds it or choose another port (0 picks a free one)`;
  }
  if (
    error instanceof Deno.errors.PermissionDenied && port !== undefined &&
    port > 0 && port < FIRST_UNPRIVILEGED_PORT
  ) {
    return `permission denied: ports below ${FIRST_UNPRIVILEGED_PORT} need root or CAP_NET_BIND_SERVICE; choose a port from ${FIRST_UNPRIVILEGED_PORT} up, or grant the capability`;
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused; check that a server is listening at that address";
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return "address not available; use an address of this machine (or 0.0.0.0 / :: for all)";
  }
  return error.message;
}

/**
 * Returns `error` as the same class with a message that names the operation,
 * the address and the fix; the original stays reachable as `cause`.
 * Non-errors and aborts pass through unchanged.
 */
export function annotate(error: unknown, operation: Operation): unknown {
  if (!(error instanceof Error) || error.name === "AbortError") return error;
  const { op, network } = operation;
  const address = socketPathText(operation.address);
  const message = `${op} ${network} ${address}: ${explain(error, operation)}`;
  return withMessage(error, message);
}

/** Node's codes for a name that has no address (`EAI_NONAME`, `EAI_NODATA`). */
const NO_SUCH_HOST_CODES = new Set(["ENOTFOUND", "ENODATA", "ENONAME"]);

/** Node's code for `EAI_AGAIN`, a failure that may pass. */
const TEMPORARY_FAILURE_CODE = "EAI_AGAIN";

/**
 * Deno's `node:dns` turns its permission error into this code, dropping the
 * original: the resolver itself reports `EAI_*` codes, never this one.
 */
const PERMISSION_DENIED_CODE = "EPERM";

/** Rewrites a `node:dns` lookup error so that it names the host and the fix. */
export function explainLookup(error: unknown, hostname: string): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  const prefix = `lookup ${hostname}`;
  if (code === PERMISSION_DENIED_CODE) {
    return new Deno.errors.NotCapable(
      `${prefix}: permission denied; run again with --allow-net=${hostname}`,
      { cause: error },
    );
  }
  if (typeof code === "string" && NO_SUCH_HOST_CODES.has(code)) {
    return new Deno.errors.NotFound(
      `${prefix}: no such host; check the spelling or the DNS configuration`,
      { cause: error },
    );
  }
  if (code === TEMPORARY_FAILURE_CODE) {
    return new Error(
      `${prefix}: temporary failure in name resolution; check the network and the DNS servers, then retry`,
      { cause: error },
    );
  }
  return new Error(`${prefix}: ${error.message}`, { cause: error });
}

/**
 * Rewrites a failure to spawn `program` so that it names the program and the
 * fix; `cwd` is the working directory it was given, if any.
 */
export function explainSpawn(
  error: unknown,
  program: string,
  cwd?: string,
): unknown {
  if (!(error instanceof Error)) return error;
  const prefix = `spawn ${program}`;
  let message: string | undefined;
  if (error instanceof Deno.errors.NotCapable) {
    message = `${prefix}: permission denied; run again with ${
      permissionFlag(error) ?? `--allow-run=${program}`
    }`;
  } else if (error instanceof Deno.errors.NotFound) {
    if (cwd !== undefined && error.message.includes("cwd")) {
      message =
        `${prefix}: options.cwd ${cwd} does not exist; create it or choose another directory`;
    } else if (program.includes("/")) {
      message = `${prefix}: no such program file; check the path`;
    } else {
      message =
        `${prefix}: program not found on the PATH; install it, or give its full path`;
    }
  } else if (error instanceof Deno.errors.PermissionDenied) {
    message =
      `${prefix}: permission denied by the system; check that it is executable (chmod +x) and that options.cwd is searchable`;
  }
  if (message === undefined) return error;
  const ErrorClass = error.constructor as new (
    message: string,
    options: ErrorOptions,
  ) => Error;
  return new ErrorClass(message, { cause: error });
}

/** `error`'s class with `message`, and `error` as its cause. */
function withMessage(error: Error, message: string): Error {
  const ErrorClass = error.constructor as new (
    message: string,
    options: ErrorOptions,
  ) => Error;
  try {
    return new ErrorClass(message, { cause: error });
  } catch {
    return new Error(message, { cause: error });
  }
}

/** What a TLS handshake or certificate error was about, for its message. */
export interface TlsOperation {
  /** The verb and address: `connect tls 127.0.0.1:443`. */
  what: string;
  /** The name the certificate was checked against. */
  serverName?: string;
}

/**
 * Rewrites a TLS failure (from rustls, through Deno) so that it says which
 * certificate check failed and how to fix it, in the words of Go's
 * `crypto/x509` errors; the original stays reachable as `cause`.
 */
export function explainTls(error: unknown, operation: TlsOperation): unknown {
  if (!(error instanceof Error) || error.name === "AbortError") return error;
  if (error instanceof Deno.errors.TimedOut) return error;
  const { what, serverName } = operation;
  const text = error.message;
  let reason: string;
  if (/UnknownIssuer/.test(text)) {
    reason =
      "certificate signed by an unknown authority; pass its CA in caCerts (PEM text)";
  } else if (/not valid for name/.test(text)) {
    const validFor = /certificate is only valid for (.*)$/.exec(text)?.[1];
    reason = `certificate is not valid for ${serverName}${
      validFor === undefined ? "" : ` (only for ${validFor})`
    }; check serverName`;
  } else if (/CaUsedAsEndEntity/.test(text)) {
    reason =
      "the server presents a CA certificate as its own; give the server a certificate signed by that CA, and its CA to caCerts";
  } else if (/Expired|NotValidYet/.test(text)) {
    reason =
      "certificate has expired or is not valid yet; renew it, or check the clocks";
  } else if (error instanceof Deno.errors.NotCapable) {
    const flag = permissionFlag(error);
    reason = flag === undefined
      ? text
      : `permission denied; run again with ${flag}`;
  } else {
    reason = text;
  }
  return withMessage(error, `${what}: ${reason}`);
}

/**
 * Rewrites a failure to read `path`, given as option `name`, so that it
 * names the file and the fix (`--allow-read=PATH`, a missing file).
 */
export function explainReadFile(
  error: unknown,
  path: string,
  name: string,
): unknown {
  if (!(error instanceof Error)) return error;
  const prefix = `read ${name} ${path}`;
  let message: string | undefined;
  if (error instanceof Deno.errors.NotCapable) {
    message =
      `${prefix}: permission denied; run again with --allow-read=${path}`;
  } else if (error instanceof Deno.errors.NotFound) {
    message = `${prefix}: no such file; check the path`;
  } else if (error instanceof Deno.errors.PermissionDenied) {
    message =
      `${prefix}: permission denied by the system; check the file's owner and mode`;
  }
  return message === undefined ? error : withMessage(error, message);
}
