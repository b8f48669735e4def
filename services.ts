/**
 * Service names to port numbers, as the C library's `getservbyname()`:
 * `resolvePort("postgresql")` is 5432, and `resolvePort(name, { defaultPort })`
 * is the classic "look the service up, or use this port" of servers that take
 * their port from the command line.
 *
 * Names come from `/etc/services` when read permission for it is granted
 * (`--allow-read=/etc/services`), and otherwise from a built-in table of
 * well-known services; permission is never requested, so a lookup never
 * prompts.
 *
 * ```ts ignore
 * import { resolvePort } from "@sockets/net/services";
 *
 * const port = resolvePort(Deno.args[0] ?? "http", { defaultPort: 8080 });
 * Deno.serve({ port }, () => new Response("hello"));
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import {
  MAX_PORT,
  parseServices,
  type ServiceTable,
  WELL_KNOWN_SERVICES,
} from "./_services.ts";
import { assertKnownOptions, assertOptions, show } from "./_validate.ts";

/** Where the system lists its services (services(5)). */
const SERVICES_PATH = "/etc/services";

/** What a port is, for the messages of invalid ones. */
const PORT_RULE =
  "a port is an integer from 0 to 65535 (0 lets the system pick a free one)";

/** What `port` may be, for the messages of malformed strings. */
const PORT_FORMS =
  'give a port number such as 8080 or a service name such as "http"';

/** `/etc/services` once read; `undefined` until then. */
let servicesFile: ServiceTable | undefined;

/**
 * The parsed `/etc/services`, or `undefined` when read permission for it is
 * not granted. The permission is queried on every call, never requested:
 * a prompt would stall a server while it starts.
 */
function readServicesFile(): ServiceTable | undefined {
  const { state } = Deno.permissions.querySync({
    name: "read",
    path: SERVICES_PATH,
  });
  if (state !== "granted") return undefined;
  if (servicesFile === undefined) {
    try {
      servicesFile = parseServices(Deno.readTextFileSync(SERVICES_PATH));
    } catch {
      // Missing or unreadable (minimal containers): the built-in table serves.
      servicesFile = new Map();
    }
  }
  return servicesFile;
}

function assertProtocol(protocol: unknown): asserts protocol is "tcp" | "udp" {
  if (protocol === "tcp" || protocol === "udp") return;
  const message = `Invalid protocol ${show(protocol)}: use "tcp" or "udp"`;
  throw typeof protocol === "string"
    ? new RangeError(message)
    : new TypeError(message);
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_PORT;
}

/**
 * Looks a service name (or one of its aliases) up, as `getservbyname()`:
 * first in `/etc/services`, then in a built-in table of well-known services.
 * Names are matched without regard to case.
 *
 * `/etc/services` is read, once, only when read permission for it is already
 * granted; without it the built-in table alone answers and no permission
 * prompt appears.
 *
 * The lookup is synchronous, because servers resolve their port while they
 * start, where an `await` would be awkward; the file is a few kilobytes and
 * is read and parsed on the first call only.
 *
 * @param name A service name such as `"http"` or an alias such as `"www"`.
 * @param protocol The protocol the service runs over.
 * @returns The port number, or `undefined` when the name is unknown for that
 * protocol.
 * @throws {TypeError} If `name` is not a string or `protocol` is not a string.
 * @throws {RangeError} If `protocol` is neither `"tcp"` nor `"udp"`.
 *
 * @example Usage
 * ```ts
 * import { lookupPort } from "@sockets/net/services";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(lookupPort("ssh"), 22);
 * assertEquals(lookupPort("ntp", "udp"), 123);
 * assertEquals(lookupPort("no-such-service"), undefined);
 * ```
 */
export function lookupPort(
  name: string,
  protocol: "tcp" | "udp" = "tcp",
): number | undefined {
  if (typeof name !== "string") {
    throw new TypeError(
      `Invalid service name ${
        show(name)
      }: a service name is a string such as "http"`,
    );
  }
  assertProtocol(protocol);
  const key = name.toLowerCase();
  return readServicesFile()?.get(protocol)?.get(key) ??
    WELL_KNOWN_SERVICES.get(protocol)?.get(key);
}

/** The option names of {@linkcode resolvePort}. */
const RESOLVE_PORT_OPTION_NAMES: readonly string[] = [
  "defaultPort",
  "protocol",
];

/**
 * Options for {@linkcode resolvePort}.
 *
 * @example A UDP service, with a port for a name the system does not know
 * ```ts
 * import { resolvePort } from "@sockets/net/services";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(resolvePort("no-such-service", { protocol: "udp", defaultPort: 5514 }), 5514);
 * assertEquals(resolvePort("8080", { protocol: "udp", defaultPort: 5514 }), 8080);
 * ```
 */
export interface ResolvePortOptions {
  /**
   * The port to use when `port` is a service name that is not found, as the
   * classic `get_port(service, protocol, default)` does.
   *
   * @default {undefined} (an unknown service name throws)
   */
  defaultPort?: number;
  /**
   * The protocol whose services are searched.
   *
   * @default {"tcp"}
   */
  protocol?: "tcp" | "udp";
}

/**
 * Turns a port given as a number, a numeric string (`"8080"`, as it comes
 * from the command line or the environment) or a service name (`"http"`) into
 * a port number. A service name is looked up with {@linkcode lookupPort};
 * when it is not found, `defaultPort` is used if given.
 *
 * A string that looks like a mistyped number (`"80x"`, `"-1"`, `"8080.0"`) and
 * is not a known service is an error even with a `defaultPort`, which would
 * otherwise hide the mistake.
 *
 * @param port A port number from 0 to 65535, the same as a string, or a
 * service name.
 * @param options Options for the lookup.
 * @returns The port number.
 * @throws {TypeError} If `port` is not a number or a string, or `defaultPort`
 * or `protocol` has the wrong type.
 * @throws {RangeError} If `port` is out of range, malformed, or an unknown
 * service name without `defaultPort`, or `defaultPort` is not a port.
 *
 * @example Numbers, numeric strings and service names
 * ```ts
 * import { resolvePort } from "@sockets/net/services";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(resolvePort(8080), 8080);
 * assertEquals(resolvePort("8080"), 8080);
 * assertEquals(resolvePort("https"), 443);
 * assertEquals(resolvePort("syslog", { protocol: "udp" }), 514);
 * ```
 *
 * @example A default port for an unknown service
 * ```ts
 * import { resolvePort } from "@sockets/net/services";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(resolvePort("my-database", { defaultPort: 5432 }), 5432);
 * assertThrows(() => resolvePort("my-database"), RangeError);
 * ```
 */
export function resolvePort(
  port: number | string,
  options: ResolvePortOptions = {},
): number {
  assertOptions(options);
  assertKnownOptions(options, RESOLVE_PORT_OPTION_NAMES);
  const { defaultPort, protocol = "tcp" } = options;
  assertProtocol(protocol);
  if (defaultPort !== undefined && !isPort(defaultPort)) {
    const message = `Invalid defaultPort ${show(defaultPort)}: ${PORT_RULE}`;
    throw typeof defaultPort === "number"
      ? new RangeError(message)
      : new TypeError(message);
  }

  if (typeof port === "number") {
    if (!isPort(port)) {
      throw new RangeError(`Invalid port ${port}: ${PORT_RULE}`);
    }
    return port;
  }
  if (typeof port !== "string") {
    throw new TypeError(
      `Invalid port ${
        show(port)
      }: a port is a number or a string, such as 8080, "8080" or "http"`,
    );
  }
  if (/^\d+$/.test(port)) {
    const number = Number(port);
    if (!isPort(number)) {
      throw new RangeError(`Invalid port ${show(port)}: ${PORT_RULE}`);
    }
    return number;
  }
  if (port === "") throw new RangeError(`Invalid port "": ${PORT_FORMS}`);
  if (/\s/.test(port)) {
    throw new RangeError(
      `Invalid port ${show(port)}: remove the spaces; ${PORT_FORMS}`,
    );
  }

  const found = lookupPort(port, protocol);
  if (found !== undefined) return found;
  // Unknown and starting like a number: a mistyped port, which a default
  // would hide. (Service names start with a letter or a digit, RFC 6335.)
  if (/^[\d+.-]/.test(port)) {
    throw new RangeError(
      `Invalid port ${
        show(port)
      }: it is neither a port number nor a known service; write the port in decimal digits or give a service name such as "http"`,
    );
  }
  if (defaultPort !== undefined) return defaultPort;
  const searched = readServicesFile() === undefined
    ? `it is not in the built-in table, and ${SERVICES_PATH} was not read (run with --allow-read=${SERVICES_PATH} to use it)`
    : `it is not in ${SERVICES_PATH} nor in the built-in table`;
  throw new RangeError(
    `Unknown service ${
      show(port)
    } for ${protocol}: ${searched}; give a port number or a defaultPort`,
  );
}
