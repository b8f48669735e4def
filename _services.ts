// The services(5) file format, and the built-in table used where
// /etc/services cannot be read (minimal containers, no --allow-read).

/** Port numbers by protocol (`tcp`, `udp`, ...), then by lowercase service name or alias. */
export type ServiceTable = Map<string, Map<string, number>>;

/** The largest port number: ports are 16-bit (RFC 793, RFC 768). */
export const MAX_PORT = 65535;

/** `port/protocol`, the second field of a services(5) line. */
const PORT_AND_PROTOCOL = /^(\d{1,5})\/([a-z][a-z0-9-]*)$/i;

/**
 * Parses text in the services(5) format: `name port/protocol [alias ...]`,
 * with `#` starting a comment. Names and aliases are keyed in lowercase, as
 * Go's resolver does. When a name appears twice for a protocol the first line
 * wins, as `getservbyname()` returns the first match. Malformed lines are
 * skipped, as the C library does.
 */
export function parseServices(text: string): ServiceTable {
  const table: ServiceTable = new Map();
  for (const line of text.split("\n")) {
    const hash = line.indexOf("#");
    const content = (hash === -1 ? line : line.slice(0, hash)).trim();
    if (content === "") continue;
    const [name, portAndProtocol, ...aliases] = content.split(/\s+/);
    const match = PORT_AND_PROTOCOL.exec(portAndProtocol ?? "");
    if (match === null) continue;
    const port = Number(match[1]);
    if (port > MAX_PORT) continue;
    const protocol = match[2].toLowerCase();
    let names = table.get(protocol);
    if (names === undefined) {
      names = new Map();
      table.set(protocol, names);
    }
    for (const alias of [name, ...aliases]) {
      const key = alias.toLowerCase();
      if (!names.has(key)) names.set(key, port);
    }
  }
  return table;
}

/**
 * Well-known services, from the IANA registry as Debian's netbase ships it:
 * the protocols a program is likely to name when it starts a server or
 * connects to one.
 */
export const WELL_KNOWN_SERVICES: ServiceTable = parseServices(`
echo         7/tcp
echo         7/udp
discard      9/tcp     sink null
discard      9/udp     sink null
daytime      13/tcp
daytime      13/udp
qotd         17/tcp    quote
chargen      19/tcp    ttytst source
chargen      19/udp    ttytst source
ftp-data     20/tcp
ftp          21/tcp
ssh          22/tcp
telnet       23/tcp
smtp         25/tcp    mail
time         37/tcp    timserver
time         37/udp    timserver
whois        43/tcp    nicname
domain       53/tcp
domain       53/udp
bootps       67/udp
bootpc       68/udp
tftp         69/udp
gopher       70/tcp
finger       79/tcp
http         80/tcp    www
kerberos     88/tcp    kerberos5 krb5
kerberos     88/udp    kerberos5 krb5
pop3         110/tcp   pop-3
sunrpc       111/tcp   portmapper
sunrpc       111/udp   portmapper
auth         113/tcp   authentication ident
nntp         119/tcp   readnews
ntp          123/udp
imap         143/tcp   imap2
snmp         161/udp
snmp-trap    162/udp   snmptrap
ldap         389/tcp
ldap         389/udp
https        443/tcp
https        443/udp                  # HTTP/3
submissions  465/tcp   smtps ssmtp
syslog       514/udp
printer      515/tcp   spooler
submission   587/tcp
ipp          631/tcp
ldaps        636/tcp
domain-s     853/tcp                  # DNS over TLS
domain-s     853/udp                  # DNS over DTLS
rsync        873/tcp
ftps         990/tcp
imaps        993/tcp
pop3s        995/tcp
socks        1080/tcp
openvpn      1194/tcp
openvpn      1194/udp
mqtt         1883/tcp
nfs          2049/tcp
nfs          2049/udp
mysql        3306/tcp
sip          5060/tcp
sip          5060/udp
postgresql   5432/tcp  postgres
amqp         5672/tcp
x11          6000/tcp  x11-0
redis        6379/tcp
git          9418/tcp
memcache     11211/tcp
`);
