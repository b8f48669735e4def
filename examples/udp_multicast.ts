// deno run --unstable-net --allow-net=127.0.0.1,239.255.0.1 examples/udp_multicast.ts
/**
 * IPv4 multicast, both ends. `receive` joins a group and prints every
 * datagram sent to it; `send` sends its message to the group, once, to
 * every receiver at the same time.
 *
 * The receiver binds the group address itself, so that it gets that group's
 * datagrams only. Both ends use the loopback interface by default, and the
 * sender's TTL is 0, so nothing leaves this machine; on a network, give
 * `--interface` the address of the network interface and `--ttl 1`, and
 * allow net access to that address.
 *
 * Try it in two terminals:
 * `deno run --unstable-net --allow-net=127.0.0.1,239.255.0.1 examples/udp_multicast.ts receive`
 * `deno run --unstable-net --allow-net=127.0.0.1,239.255.0.1 examples/udp_multicast.ts send hello`
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { listenUdp } from "@sockets/net/udp";

/** An administratively scoped group (RFC 2365): for private use, never routed to the internet. */
const DEFAULT_GROUP = "239.255.0.1";

/** A port above 1024, so that no privilege is needed. */
const DEFAULT_PORT = 5007;

const USAGE = `Usage: udp_multicast.ts receive [options]
       udp_multicast.ts send [options] MESSAGE...

Receives from, or sends to, an IPv4 multicast group.

  --group ADDRESS          the group (default ${DEFAULT_GROUP})
  --port PORT              the group's port (default ${DEFAULT_PORT})
  --interface ADDRESS      the interface to use (default 127.0.0.1)
  --ttl N                  routers a sent datagram may cross (default 0: this machine only)
  --help                   show this help`;

async function receive(
  group: string,
  port: string,
  networkInterface: string,
): Promise<void> {
  using socket = listenUdp({ hostname: group, port, reuseAddress: true });
  await socket.joinMulticast(group, { interface: networkInterface });
  const stop = () => socket.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    console.log(`listening on ${formatAddress(socket.addr)}`);
    for await (const { data, from } of socket) {
      console.log(
        `${formatAddress(from)}: ${new TextDecoder().decode(data)}`,
      );
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

async function send(
  group: string,
  port: string,
  networkInterface: string,
  ttl: number,
  message: string,
): Promise<void> {
  using socket = listenUdp({
    hostname: networkInterface,
    port: 0,
    loopback: true,
  });
  // Deno sets the TTL through a membership, so the sender joins too.
  const membership = await socket.joinMulticast(group, {
    interface: networkInterface,
  });
  await membership.setTTL(ttl);
  await socket.send(new TextEncoder().encode(message), {
    hostname: group,
    port,
  });
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["group", "port", "interface", "ttl"],
    boolean: ["help"],
    default: {
      group: DEFAULT_GROUP,
      port: String(DEFAULT_PORT),
      interface: "127.0.0.1",
      ttl: "0",
    },
  });
  const [role, ...words] = flags._.map(String);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  if (role === "receive") {
    await receive(flags.group, flags.port, flags.interface);
  } else if (role === "send") {
    await send(
      flags.group,
      flags.port,
      flags.interface,
      Number(flags.ttl),
      words.join(" "),
    );
  } else {
    throw new TypeError(
      `give "receive" or "send" first, got ${
        role === undefined ? "nothing" : `"${role}"`
      }\n\n${USAGE}`,
    );
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
