/**
 * The UDP server: {@linkcode serveUdp} binds a port and serves every
 * datagram with a handler whose return value is the reply, on the module's
 * one datagram engine.
 *
 * @example An echo server
 * ```ts
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveUdp({ port: 0 }, (data) => data);
 * const reply = await requestUdp(new Uint8Array([7]), server.addr);
 * assertEquals(reply, new Uint8Array([7]));
 * ```
 *
 * @module
 */

import {
  assertServeDatagramsOptions,
  SERVE_DATAGRAMS_OPTION_NAMES,
} from "./_lifecycle.ts";
import {
  assertPayloadSize,
  bindOptions,
  familyOf,
  LISTEN_UDP_OPTION_NAMES,
} from "./_udp.ts";
import { assertFunction, assertRequiredOptions } from "./_validate.ts";
import {
  type DatagramHandler,
  DatagramServer,
  type ServeDatagramsOptions,
} from "./datagram_server.ts";
import type { ListenUdpOptions } from "./udp_socket.ts";

/** Every option name of {@linkcode serveUdp}: the engine's and the local address's. */
const SERVE_UDP_OPTION_NAMES: readonly string[] = [
  ...SERVE_DATAGRAMS_OPTION_NAMES,
  ...LISTEN_UDP_OPTION_NAMES,
];

/**
 * Options of {@linkcode serveUdp}: where to listen, as for
 * {@linkcode listenUdp}, plus every option of the datagram engine
 * (`maxConcurrency`, `maxDatagramSize`, `signal`, `shutdownTimeout`,
 * `onError`, `onListen`).
 *
 * @example An iterative server that stops with a signal
 * ```ts
 * import type { ServeUdpOptions } from "@sockets/net/udp";
 *
 * const controller = new AbortController();
 * const options: ServeUdpOptions = {
 *   hostname: "127.0.0.1",
 *   port: "syslog",
 *   defaultPort: 5514,
 *   maxConcurrency: 1,
 *   signal: controller.signal,
 * };
 * ```
 */
export interface ServeUdpOptions
  extends ListenUdpOptions, ServeDatagramsOptions<Deno.NetAddr> {}

/**
 * Binds a UDP port and serves every datagram with `handler`: the classic
 * datagram server loop of `recvfrom()`, handle, `sendto()`. What the handler
 * returns is sent back to the sender; nothing means no reply.
 *
 * It is the datagram engine of `serveDatagrams` (from `@sockets/net/server`)
 * over a bound UDP socket, with every option of that engine: up to
 * `maxConcurrency` handlers run at once, each with its own receive in
 * flight; a handler that throws is reported to `onError` and the server goes
 * on serving. A reply larger than a UDP datagram of the socket's family
 * carries is reported to `onError` as a `RangeError` and not sent.
 *
 * It is synchronous, as {@linkcode listenUdp} is: binding needs no round
 * trip (a host name is resolved by the system inside the bind).
 *
 * @param options Where to listen, concurrency, shutdown and callbacks.
 * @param handler Called with each datagram, its sender and a context; may be async.
 * @returns The running server; `server.addr.port` is the port it is bound to.
 * @throws {TypeError} If an option or the handler has the wrong type, or an
 * option name is unknown.
 * @throws {RangeError} If the port is invalid or an unknown service, or a
 * number option is out of range.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} Without net permission; the message names
 * the flag, such as `--allow-net=0.0.0.0:5353`.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws Whatever `onListen` throws; the socket is closed first.
 *
 * @example An uppercasing server
 * ```ts
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * const encoder = new TextEncoder();
 * const decoder = new TextDecoder();
 * await using server = serveUdp({ hostname: "127.0.0.1", port: 0 }, (data) =>
 *   encoder.encode(decoder.decode(data).toUpperCase()));
 *
 * const reply = await requestUdp(encoder.encode("shout"), server.addr);
 * assertEquals(decoder.decode(reply), "SHOUT");
 * ```
 *
 * @example Stop with a signal
 * ```ts
 * import { serveUdp } from "@sockets/net/udp";
 *
 * const controller = new AbortController();
 * const server = serveUdp(
 *   { hostname: "127.0.0.1", port: 0, signal: controller.signal },
 *   () => {},
 * );
 * controller.abort();
 * await server.finished;
 * ```
 */
export function serveUdp(
  options: ServeUdpOptions,
  handler: DatagramHandler<Deno.NetAddr>,
): DatagramServer<Deno.NetAddr> {
  assertRequiredOptions(options, "{ port: 5353 }");
  assertServeDatagramsOptions(options, SERVE_UDP_OPTION_NAMES);
  assertFunction(
    handler,
    "handler",
    "(data, from, context) => reply | undefined",
  );
  // The engine reads only its own options; the socket, only the address.
  const socket = bindOptions(options, SERVE_UDP_OPTION_NAMES);
  const family = familyOf(socket.addr as Deno.NetAddr);
  return new DatagramServer<Deno.NetAddr>(
    socket,
    handler,
    options,
    (reply) => assertPayloadSize(reply, family),
  );
}
