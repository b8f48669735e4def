// Parses the benchmark's address strings: tcp:HOST:PORT, udp:HOST:PORT, unix:PATH.

/** An address to serve on. */
export type BenchAddress =
  | { transport: "tcp" | "udp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/** Parses `spec`, or exits with a usage message. */
export function parseAddress(spec: string | undefined): BenchAddress {
  const match = /^(tcp|udp):(.+):(\d+)$/.exec(spec ?? "");
  if (match) {
    return {
      transport: match[1] as "tcp" | "udp",
      hostname: match[2],
      port: Number(match[3]),
    };
  }
  if (spec?.startsWith("unix:")) {
    return { transport: "unix", path: spec.slice(5) };
  }
  console.error("usage: KIND tcp:HOST:PORT|unix:PATH|udp:HOST:PORT");
  Deno.exit(2);
}
