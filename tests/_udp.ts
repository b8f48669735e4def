/**
 * What the UDP tests share: an echo server, an echo server that answers
 * when released, and a peer that never answers.
 */

import {
  type ConnectedUdpSocket,
  connectUdp,
  type DatagramServer,
  listenUdp,
  serveUdp,
  type ServeUdpOptions,
  type UdpSocket,
} from "../udp.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Decodes a datagram as UTF-8. */
export const text = (data: Uint8Array): string => decoder.decode(data);

/** Encodes text as UTF-8. */
export const bytes = (value: string): Uint8Array<ArrayBuffer> =>
  encoder.encode(value);

/** An echo server on loopback, for `await using`. */
export function echoServer(
  hostname = "127.0.0.1",
): DatagramServer<Deno.NetAddr> {
  return serveUdp({ hostname, port: 0 }, (data) => data);
}

/** An echo server whose handler answers once released, and a client of it. */
export interface HeldEcho extends AsyncDisposable {
  server: DatagramServer<Deno.NetAddr>;
  client: ConnectedUdpSocket;
  /** Resolves when the handler has been entered. */
  entered: Promise<void>;
  /** Lets every handler answer. */
  release(): void;
}

/**
 * An echo server on loopback whose handler answers only once released, and
 * a client connected to it; disposing closes the client, releases the
 * handler and shuts the server down.
 */
export async function heldEcho(
  options: Omit<ServeUdpOptions, "hostname" | "port"> = {},
): Promise<HeldEcho> {
  const entered = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const server = serveUdp(
    { ...options, hostname: "127.0.0.1", port: 0 },
    async (data) => {
      entered.resolve();
      await released.promise;
      return data;
    },
  );
  const client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  return {
    server,
    client,
    entered: entered.promise,
    release: () => released.resolve(),
    async [Symbol.asyncDispose]() {
      client.close();
      released.resolve();
      await server.shutdown();
    },
  };
}

/** A socket that receives and counts datagrams but never answers: a server that has gone silent. */
export function silentPeer(
  hostname = "127.0.0.1",
): UdpSocket & { received: number } {
  const socket = listenUdp({ hostname, port: 0 }) as UdpSocket & {
    received: number;
  };
  socket.received = 0;
  (async () => {
    for await (const _ of socket) socket.received++;
  })();
  return socket;
}
