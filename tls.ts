/**
 * TLS servers and clients: {@linkcode serveTls} listens with
 * `Deno.listenTls` and serves every connection with the stream-server
 * engine of `server.ts`, once its handshake is done within a deadline;
 * {@linkcode connectTls} connects as `connectTcp` does (every address, one
 * deadline), then does the handshake; {@linkcode startTls} upgrades a
 * connection that is already open, after a plain exchange such as SMTP's or
 * IMAP's `STARTTLS`.
 *
 * Certificates and keys are PEM text, or files read at start. Certificate
 * errors say which check failed and the fix (an unknown authority: pass its
 * CA in `caCerts`; a certificate for another name: check `serverName`).
 *
 * @example A TLS echo server and its client
 * ```ts ignore
 * import { connectTls, serveTls } from "@sockets/net/tls";
 * import { copy } from "@sockets/net/io";
 *
 * await using server = serveTls(
 *   { hostname: "127.0.0.1", port: 8443, certFile: "cert.pem", keyFile: "key.pem" },
 *   (conn) => copy(conn, conn),
 * );
 * using conn = await connectTls({
 *   hostname: "localhost",
 *   port: server.addr.port,
 *   caCerts: [await Deno.readTextFile("ca.pem")],
 *   timeout: 5_000,
 * });
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import {
  DEFAULT_CONNECT_HOSTNAME,
  DEFAULT_LISTEN_HOSTNAME,
  dialable,
  IP_ADDRESS_OPTION_NAMES,
  joinHostPort,
} from "./_address.ts";
import { abortable, deadline } from "./_async.ts";
import { annotate, explainReadFile, explainTls } from "./_errors.ts";
import { SERVE_OPTION_NAMES } from "./_lifecycle.ts";
import {
  assertFunction,
  assertHostname,
  assertKnownOptions,
  assertMilliseconds,
  assertOptions,
  assertRequiredOptions,
  assertSignal,
  assertStrings,
  assertTimeout,
  assertTransport,
  show,
} from "./_validate.ts";
import {
  type ConnectionHandler,
  serve,
  type ServeOptions,
  type Server,
} from "./server.ts";
import { resolvePort } from "./services.ts";
import {
  connectTcp,
  type ConnectTcpOptions,
  type ServeTcpOptions,
} from "./tcp.ts";

export type {
  AccessRules,
  ConnectionContext,
  ConnectionHandler,
  ProxyOptions,
  ServeOptions,
  Server,
  ServerCounters,
  ServerOptions,
} from "./server.ts";
export type { ConnectTcpOptions, Resolver, ServeTcpOptions } from "./tcp.ts";

/**
 * The options of a TLS client, whatever the connection under it.
 *
 * @example A bounded handshake, for a server that never completes one
 * ```ts
 * import { connectTls, type TlsClientOptions } from "@sockets/net/tls";
 * import { serveTcp } from "@sockets/net/tcp";
 * import { assertRejects } from "@std/assert";
 *
 * await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, (conn) => {
 *   conn.close(); // no TLS here: every handshake fails
 * });
 *
 * const client: TlsClientOptions = {
 *   timeout: 5_000,
 *   serverName: "localhost",
 *   alpnProtocols: ["h2", "http/1.1"],
 * };
 * await assertRejects(() =>
 *   connectTls({ hostname: "127.0.0.1", port: server.addr.port, ...client })
 * );
 * ```
 */
export interface TlsClientOptions {
  /**
   * Milliseconds for the whole call (for {@linkcode connectTls}, the lookup,
   * the connect and the handshake); after it, the promise rejects with
   * `Deno.errors.TimedOut`. More than 0: leave it out or pass `Infinity` for
   * no limit. The connection is closed then, but Deno 2.9 keeps its socket
   * open while the handshake is pending, until the server answers or closes.
   *
   * @default {undefined} (no limit but the system's)
   */
  timeout?: number;
  /**
   * Aborts the call: the promise rejects with the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * CA certificates, as PEM text, trusted besides the system's (Mozilla's
   * list, as Deno ships it): the way to reach a server whose certificate a
   * private CA signed.
   *
   * @default {undefined} (the system's CAs only)
   */
  caCerts?: string[];
  /**
   * The name the server's certificate must be valid for, also sent as SNI:
   * a host name or an IP address.
   *
   * @default {the hostname connected to}
   */
  serverName?: string;
  /**
   * The application protocols offered by ALPN, preferred first, such as
   * `["h2", "http/1.1"]`; `(await conn.handshake()).alpnProtocol` is the
   * one the server chose.
   *
   * @default {undefined} (no ALPN)
   */
  alpnProtocols?: string[];
}

/**
 * Options of {@linkcode connectTls}: those of `connectTcp` and of a TLS client.
 *
 * @example The address of a TCP connection with the options of a TLS client
 * ```ts
 * import { connectTls } from "@sockets/net/tls";
 * import { serveTcp } from "@sockets/net/tcp";
 * import { assertRejects } from "@std/assert";
 *
 * await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, (conn) => {
 *   conn.close(); // no TLS here: every handshake fails
 * });
 *
 * await assertRejects(() =>
 *   connectTls({
 *     hostname: "127.0.0.1",
 *     port: server.addr.port,
 *     timeout: 5_000,
 *     serverName: "localhost",
 *   })
 * );
 * ```
 */
export interface ConnectTlsOptions
  extends Omit<ConnectTcpOptions, "timeout" | "signal">, TlsClientOptions {}

/**
 * Options of {@linkcode startTls}: those of a TLS client.
 *
 * @example Upgrade a plain connection, within a deadline
 * ```ts
 * import { startTls, type StartTlsOptions } from "@sockets/net/tls";
 * import { connectTcp, serveTcp } from "@sockets/net/tcp";
 * import { assertRejects } from "@std/assert";
 *
 * await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, (conn) => {
 *   conn.close(); // no TLS here: every handshake fails
 * });
 *
 * const options: StartTlsOptions = { timeout: 5_000, serverName: "localhost" };
 * const plain = await connectTcp(server.addr);
 * await assertRejects(() => startTls(plain, options));
 * ```
 */
export type StartTlsOptions = TlsClientOptions;

/**
 * Options of {@linkcode serveTls}: where to listen, the certificate, and every option of the engine.
 *
 * @example The certificate is read before anything listens
 * ```ts
 * import { serveTls } from "@sockets/net/tls";
 * import { assertThrows } from "@std/assert";
 *
 * assertThrows(
 *   () =>
 *     serveTls({
 *       hostname: "127.0.0.1",
 *       port: 0,
 *       certFile: "missing.pem",
 *       keyFile: "missing.pem",
 *       alpnProtocols: ["http/1.1"],
 *       idleTimeout: 30_000,
 *     }, () => {}),
 *   Deno.errors.NotFound,
 *   "options.certFile missing.pem",
 * );
 * ```
 */
export interface ServeTlsOptions
  extends
    Omit<ServeOptions, "proxy">,
    Pick<ServeTcpOptions, "transport" | "hostname" | "port" | "defaultPort"> {
  /**
   * The server's certificate chain as PEM text, its own certificate first;
   * give this or `certFile`.
   *
   * @default {undefined}
   */
  cert?: string;
  /**
   * The private key of the certificate as PEM text; give this or `keyFile`.
   *
   * @default {undefined}
   */
  key?: string;
  /**
   * The path of a PEM file holding the certificate chain, read once at
   * start: it needs `--allow-read=PATH`.
   *
   * @default {undefined}
   */
  certFile?: string;
  /**
   * The path of a PEM file holding the private key, read once at start: it
   * needs `--allow-read=PATH`.
   *
   * @default {undefined}
   */
  keyFile?: string;
  /**
   * The application protocols the server accepts by ALPN, preferred first;
   * the handler reads the chosen one with `(await conn.handshake()).alpnProtocol`.
   *
   * @default {undefined} (no ALPN)
   */
  alpnProtocols?: string[];
  /**
   * Milliseconds a client has to complete the TLS handshake after accept;
   * a client that does not is closed and never reaches the handler, so it
   * holds no slot of `maxConnections` for long. The engine enforces it as a
   * `context.setDeadline`, with the timer of `idleTimeout` (so up to a
   * quarter later), and ends the connection without lingering. `Infinity`
   * sets no limit.
   *
   * Deno 2.9 keeps the socket of a closed connection open while its
   * handshake is pending, until the client sends something or leaves: the
   * slot is free, the file descriptor is not.
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
}

/**
 * How long a server waits for a client's handshake by default: the 10 s
 * that Go's `http.DefaultTransport` gives a TLS handshake
 * (`TLSHandshakeTimeout`); nginx's stream `ssl_handshake_timeout` is 60 s,
 * long for a slot that does no work.
 */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** The option names of {@linkcode serveTls}: the engine's and its own. */
const SERVE_TLS_OPTION_NAMES: readonly string[] = [
  ...SERVE_OPTION_NAMES,
  ...IP_ADDRESS_OPTION_NAMES,
  "cert",
  "key",
  "certFile",
  "keyFile",
  "alpnProtocols",
  "handshakeTimeout",
];

/** The option names of a TLS client. */
const TLS_CLIENT_OPTION_NAMES: readonly string[] = [
  "timeout",
  "signal",
  "caCerts",
  "serverName",
  "alpnProtocols",
];

/** The option names of {@linkcode connectTls}: those of `connectTcp` and of a TLS client. */
const CONNECT_TLS_OPTION_NAMES: readonly string[] = [
  ...IP_ADDRESS_OPTION_NAMES,
  "attemptDelay",
  "noDelay",
  "keepAlive",
  "resolve",
  ...TLS_CLIENT_OPTION_NAMES,
];

const ALPN_EXAMPLE = '["h2", "http/1.1"]';

function assertClientOptions(options: TlsClientOptions): void {
  assertTimeout(options.timeout, "options.timeout");
  assertSignal(options.signal, "options.signal");
  assertStrings(
    options.caCerts,
    "options.caCerts",
    '[await Deno.readTextFile("ca.pem")]',
  );
  if (options.serverName !== undefined) {
    assertHostname(options.serverName, "options.serverName");
  }
  assertStrings(options.alpnProtocols, "options.alpnProtocols", ALPN_EXAMPLE);
}

/** Reads the PEM text of option `text`, or of the file of option `file`. */
function pem(
  text: string | undefined,
  file: string | undefined,
  name: "cert" | "key",
): string {
  const fileName = `${name}File`;
  if ((text === undefined) === (file === undefined)) {
    throw new TypeError(
      `give options.${name} (PEM text) or options.${fileName} (a path), ${
        text === undefined ? "got neither" : "not both"
      }`,
    );
  }
  if (text !== undefined) {
    if (typeof text !== "string") {
      throw new TypeError(
        `options.${name} must be PEM text, got ${show(text)}`,
      );
    }
    return text;
  }
  if (typeof file !== "string" || file === "") {
    throw new TypeError(
      `options.${fileName} must be the path of a PEM file, got ${show(file)}`,
    );
  }
  try {
    return Deno.readTextFileSync(file);
  } catch (error) {
    throw explainReadFile(error, file, `options.${fileName}`);
  }
}

/**
 * Upgrades `conn` and completes the handshake before `signal` aborts; closes
 * `conn` on failure.
 */
async function handshake(
  conn: Deno.TcpConn,
  serverName: string,
  options: TlsClientOptions,
  signal: AbortSignal,
  what: string,
): Promise<Deno.TlsConn> {
  let tls: Deno.TlsConn;
  try {
    tls = await Deno.startTls(conn, {
      hostname: serverName,
      ...(options.caCerts === undefined ? {} : { caCerts: options.caCerts }),
      ...(options.alpnProtocols === undefined
        ? {}
        : { alpnProtocols: options.alpnProtocols }),
    });
  } catch (error) {
    conn.close();
    throw explainTls(error, { what, serverName });
  }
  try {
    // Closing the connection is what ends a pending handshake.
    await abortable(tls.handshake(), signal);
  } catch (error) {
    tls.close();
    throw explainTls(error, { what, serverName });
  }
  return tls;
}

/**
 * Listens on a TCP address with TLS and serves every connection with
 * `handler`, as {@linkcode serve} does, once the client has completed the
 * TLS handshake within `handshakeTimeout`. A failed handshake is reported to
 * `onError` (as Go's server logs `TLS handshake error`) and a late one is
 * ended by the engine like an idle connection; either way the connection is
 * closed without running the handler.
 *
 * @param options Where to listen, the certificate and key, and the options
 * of the engine.
 * @param handler Serves one connection, after its handshake.
 * @returns The running server; `server.addr.port` is the port it listens on.
 * @throws {TypeError} If an option or the handler has the wrong type, an
 * option name is unknown, or neither (or both) of `cert` and `certFile`
 * (`key` and `keyFile`) is given.
 * @throws {RangeError} If the port is invalid or an unknown service.
 * @throws {Deno.errors.NotCapable} Without read permission for `certFile` or
 * `keyFile`, or without net permission; the message names the flag.
 * @throws {Deno.errors.InvalidData} If the certificate or key is not PEM.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 *
 * @example Serve with a certificate from files
 * ```ts ignore
 * import { serveTls } from "@sockets/net/tls";
 *
 * await using server = serveTls({
 *   port: 8443,
 *   certFile: "/etc/ssl/example/cert.pem",
 *   keyFile: "/etc/ssl/example/key.pem",
 *   alpnProtocols: ["http/1.1"],
 * }, async (conn) => {
 *   await conn.write(new TextEncoder().encode("hello over TLS\n"));
 * });
 * ```
 *
 * @example A certificate file that is not there
 * ```ts
 * import { serveTls } from "@sockets/net/tls";
 * import { assertThrows } from "@std/assert";
 *
 * assertThrows(
 *   () => serveTls({ certFile: "missing.pem", keyFile: "missing.pem" }, () => {}),
 *   Deno.errors.NotFound,
 *   "read options.certFile missing.pem: no such file; check the path",
 * );
 * ```
 */
export function serveTls(
  options: ServeTlsOptions,
  handler: ConnectionHandler<Deno.TlsConn>,
): Server<Deno.NetAddr> {
  assertRequiredOptions(
    options,
    '{ port: 8443, certFile: "cert.pem", keyFile: "key.pem" }',
  );
  assertKnownOptions(options, SERVE_TLS_OPTION_NAMES);
  if ("proxy" in options) {
    // admitProxied would read the header through the TlsConn, that is
    // after a handshake the header must come before.
    throw new TypeError(
      "options.proxy is not supported by serveTls: a PROXY header comes before the TLS handshake, and Deno's TlsConn cannot read the bytes before it; terminate TLS at the proxy and serve plain TCP behind it (serveTcp with proxy)",
    );
  }
  const {
    transport,
    hostname: rawHostname = DEFAULT_LISTEN_HOSTNAME,
    port: rawPort = 0,
    defaultPort,
    cert: certText,
    key: keyText,
    certFile,
    keyFile,
    alpnProtocols,
    handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT_MS,
    ...serveOptions
  } = options;
  assertTransport(transport, "tcp");
  const hostname = assertHostname(rawHostname, "options.hostname");
  const port = resolvePort(rawPort, { defaultPort, protocol: "tcp" });
  assertStrings(alpnProtocols, "options.alpnProtocols", ALPN_EXAMPLE);
  assertMilliseconds(
    handshakeTimeout,
    "options.handshakeTimeout",
    "leave it out for 10 s",
  );
  if (handshakeTimeout === 0) {
    throw new RangeError(
      "options.handshakeTimeout must be more than 0 ms, got 0; leave it out for 10 s, or pass Infinity for no limit",
    );
  }
  assertFunction(handler, "handler", "(conn, context) => void | Promise<void>");
  const cert = pem(certText, certFile, "cert");
  const key = pem(keyText, keyFile, "key");

  const address = joinHostPort(hostname, port);
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({
      hostname,
      port,
      transport: "tcp",
      cert,
      key,
      ...(alpnProtocols === undefined ? {} : { alpnProtocols }),
    });
  } catch (error) {
    if (error instanceof Deno.errors.InvalidData) {
      throw new Deno.errors.InvalidData(
        `listen tls ${address}: ${error.message}; options.cert (or certFile) must hold the PEM certificate chain ("-----BEGIN CERTIFICATE-----") and options.key (or keyFile) its PEM private key`,
        { cause: error },
      );
    }
    throw annotate(error, { op: "listen", network: "tcp", address, port });
  }
  try {
    return serve(listener, async (conn, context) => {
      // The engine's own deadline: at it, the engine closes the connection
      // at once (no lingering), frees its slot and aborts context.signal;
      // the server-wide timer enforces it, so no timer per handshake.
      context.setDeadline(handshakeTimeout);
      try {
        await abortable(conn.handshake(), context.signal);
      } catch (error) {
        const { hostname, port } = conn.remoteAddr;
        throw explainTls(error, {
          what: `handshake tls ${joinHostPort(hostname, port)}`,
        });
      }
      context.setDeadline(Infinity);
      return await handler(conn, context);
    }, serveOptions);
  } catch (error) {
    // serve() may have closed it already (when onListen throws).
    listener[Symbol.dispose]();
    throw error;
  }
}

/**
 * Connects to a TLS server: it connects as `connectTcp` does (every address
 * of the host, racing as RFC 8305 describes), then completes the TLS
 * handshake, all within one `timeout`. The server's certificate must be
 * valid for `serverName` (the hostname by default) and signed by a CA of
 * the system's or of `caCerts`.
 *
 * @param options The host, the port, the limits, and what to trust.
 * @returns The connection, its handshake done.
 * @throws {TypeError} If an option has the wrong type or an unknown name.
 * @throws {RangeError} If the port is invalid or the hostname empty.
 * @throws {Deno.errors.TimedOut} If the connect and handshake take longer
 * than `timeout`.
 * @throws {Deno.errors.InvalidData} If the certificate is not trusted
 * ("certificate signed by an unknown authority; pass its CA in caCerts") or
 * is for another name ("certificate is not valid for NAME; check
 * serverName"); Deno's error is the `cause`.
 * @throws {Deno.errors.ConnectionRefused} (or another error of `connectTcp`)
 * If no address can be reached.
 *
 * @example Reach a server whose certificate a private CA signed
 * ```ts ignore
 * import { connectTls } from "@sockets/net/tls";
 *
 * using conn = await connectTls({
 *   hostname: "db.internal",
 *   port: 5433,
 *   caCerts: [await Deno.readTextFile("/etc/ssl/internal-ca.pem")],
 *   alpnProtocols: ["postgresql"],
 *   timeout: 5_000,
 * });
 * console.log((await conn.handshake()).alpnProtocol);
 * ```
 *
 * @example A server that never answers the handshake
 * ```ts
 * import { connectTls } from "@sockets/net/tls";
 * import { assertRejects } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await assertRejects(
 *   () => connectTls({ port: listener.addr.port, timeout: 200 }),
 *   Deno.errors.TimedOut,
 *   "no TLS connection within 200 ms",
 * );
 * (await listener.accept()).close();
 * ```
 */
export async function connectTls(
  options: ConnectTlsOptions,
): Promise<Deno.TlsConn> {
  assertRequiredOptions(options, '{ hostname: "example.com", port: 443 }');
  assertKnownOptions(options, CONNECT_TLS_OPTION_NAMES);
  const {
    timeout,
    signal,
    caCerts,
    serverName: rawServerName,
    alpnProtocols,
    ...tcpOptions
  } = options;
  assertClientOptions({ timeout, signal, caCerts, alpnProtocols });
  const hostname = dialable(
    assertHostname(
      tcpOptions.hostname ?? DEFAULT_CONNECT_HOSTNAME,
      "options.hostname",
    ),
  );
  const serverName = rawServerName === undefined
    ? hostname
    : assertHostname(rawServerName, "options.serverName");
  if (tcpOptions.port === undefined) {
    throw new TypeError(
      'options.port is required: a number, a numeric string or a service name such as "https"',
    );
  }
  const port = resolvePort(tcpOptions.port, {
    defaultPort: tcpOptions.defaultPort,
    protocol: "tcp",
  });
  const target = joinHostPort(hostname, port);
  using call = deadline(
    timeout,
    signal,
    () =>
      new Deno.errors.TimedOut(
        `connect tls ${target}: no TLS connection within ${timeout} ms; raise the timeout or check that the host is up and speaks TLS`,
      ),
  );
  const conn = await connectTcp({ ...tcpOptions, port, signal: call.signal });
  return await handshake(
    conn,
    serverName,
    { caCerts, alpnProtocols },
    call.signal,
    `connect tls ${target}`,
  );
}

/**
 * Upgrades an open connection to TLS, as a client: the STARTTLS of SMTP,
 * IMAP, POP3, LDAP or PostgreSQL, where the two sides first talk in plain
 * text and then agree to switch. The caller does the plain exchange and
 * must leave no read or write pending on `conn`; from then on, only the
 * returned connection is used. `conn` is closed if the upgrade fails.
 *
 * @param conn A TCP connection, its plain exchange done.
 * @param options What to trust, ALPN, and the limits of the handshake.
 * @returns The TLS connection, its handshake done.
 * @throws {TypeError} If `conn` is not a connection, or an option has the
 * wrong type or an unknown name.
 * @throws {Deno.errors.TimedOut} If the handshake takes longer than `timeout`.
 * @throws {Deno.errors.InvalidData} If the certificate is not trusted or is
 * for another name; the message says the fix, Deno's error is the `cause`.
 *
 * @example SMTP's STARTTLS
 * ```ts ignore
 * import { connectTcp } from "@sockets/net/tcp";
 * import { startTls } from "@sockets/net/tls";
 * import { lines, writeAll } from "@sockets/net/io";
 *
 * const plain = await connectTcp({ hostname: "mail.example.com", port: 587 });
 * const replies = lines(plain)[Symbol.asyncIterator]();
 * await replies.next(); // 220 greeting
 * await writeAll(plain, new TextEncoder().encode("STARTTLS\r\n"));
 * await replies.next(); // 220 ready
 * await replies.return?.();
 * using conn = await startTls(plain, {
 *   serverName: "mail.example.com",
 *   timeout: 10_000,
 * });
 * ```
 */
export async function startTls(
  conn: Deno.TcpConn,
  options: StartTlsOptions = {},
): Promise<Deno.TlsConn> {
  if (
    conn === null || typeof conn !== "object" ||
    typeof (conn as Partial<Deno.Conn>).read !== "function" ||
    typeof (conn as Partial<Deno.Conn>).remoteAddr !== "object"
  ) {
    throw new TypeError(
      `conn must be a Deno.TcpConn (from connectTcp or Deno.connect), got ${
        show(conn)
      }`,
    );
  }
  assertOptions(options);
  assertKnownOptions(options, TLS_CLIENT_OPTION_NAMES);
  assertClientOptions(options);
  const { timeout, signal, serverName: rawServerName } = options;
  const remote = conn.remoteAddr;
  const serverName = rawServerName === undefined
    ? remote.hostname
    : assertHostname(rawServerName, "options.serverName");
  const what = `starttls ${joinHostPort(remote.hostname, remote.port)}`;
  using call = deadline(
    timeout,
    signal,
    () =>
      new Deno.errors.TimedOut(
        `${what}: no TLS handshake within ${timeout} ms; raise the timeout, or check that the server agreed to switch to TLS`,
      ),
  );
  return await handshake(conn, serverName, options, call.signal, what);
}
