// Load generator for the benchmarks: one thread, one epoll loop, so that the
// client costs as little CPU per operation as the kernel allows and is never
// the bottleneck (it reports its own CPU use to prove it).
//
//   loadgen MODE ADDRESS [-c conns] [-d seconds] [-w warmup] [-s size]
//           [-b window] [-p server-pid] [-P v1|v2]
//
//   MODE     pingpong  each connection sends `size` bytes and waits for them
//                      to come back (requests/s, latency percentiles)
//            bulk      each connection streams 64 KiB writes and reads the
//                      echo, with at most `window` bytes in flight (MB/s)
//            connrate  connect, read the greeting until EOF, close, again
//            udp       ping-pong of `size`-byte datagrams, one socket each
//            idle      open `conns` connections, echo once on each, print
//                      "READY", then hold them until stdin closes
//   ADDRESS  tcp:HOST:PORT | unix:PATH | udp:HOST:PORT
//
// With -P (connrate only), each connection first sends a PROXY protocol
// header of that version, naming a made-up client, then reads the greeting.
//
// With -p, the server's CPU time (user + system, children included) is read
// from /proc at the start and the end of the measured interval, so warm-up
// and connection setup are not counted. The result is one JSON line.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "_loadgen_common.h"

// Size of one bulk write: the 64 KiB writes of the bulk test (bench/README.md).
#define BULK_CHUNK (64 * 1024)
// A datagram not answered in this long counts as lost and is sent again.
#define UDP_RETRY_NS (200LL * 1000 * 1000)
// Connects in flight at once while the idle mode opens its connections:
// below every server's listen backlog, so no SYN is dropped and retried.
#define IDLE_CONNECT_BATCH 64

enum mode { PINGPONG, BULK, CONNRATE, UDP, IDLE };

struct conn {
  int fd;
  int64_t started;  // when the pending request (or connect) began, in ns
  size_t got;       // bytes of the current reply received
  size_t out;       // bytes of the current request still to write
  uint64_t sent, recvd;  // bulk byte counts
  int ready;        // idle mode: echoed once
  int wants_out;    // EPOLLOUT is registered
};

static enum mode mode;
static int family, socktype;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static int epfd;
static int conns = 1;
static double seconds = 3, warmup = 1;
static size_t size = 64;
static size_t window = 4 * BULK_CHUNK;
static struct conn *table;
static char *payload, *scratch;
static uint64_t bytes, errors, lost;

static void parse_address(const char *spec) {
  memset(&addr, 0, sizeof addr);
  if (!strncmp(spec, "unix:", 5)) {
    struct sockaddr_un *un = (struct sockaddr_un *)&addr;
    un->sun_family = AF_UNIX;
    if (strlen(spec + 5) >= sizeof un->sun_path) {
      fprintf(stderr, "loadgen: socket path too long\n");
      exit(2);
    }
    strcpy(un->sun_path, spec + 5);
    family = AF_UNIX;
    socktype = SOCK_STREAM;
    addrlen = sizeof *un;
    return;
  }
  int udp = !strncmp(spec, "udp:", 4);
  if (!udp && strncmp(spec, "tcp:", 4)) {
    fprintf(stderr, "loadgen: address must be tcp:, udp: or unix:\n");
    exit(2);
  }
  char host[256];
  const char *colon = strrchr(spec + 4, ':');
  if (!colon || colon - (spec + 4) >= (long)sizeof host) {
    fprintf(stderr, "loadgen: address needs HOST:PORT\n");
    exit(2);
  }
  memcpy(host, spec + 4, colon - (spec + 4));
  host[colon - (spec + 4)] = 0;
  struct sockaddr_in *in = (struct sockaddr_in *)&addr;
  in->sin_family = AF_INET;
  in->sin_port = htons(atoi(colon + 1));
  if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
    fprintf(stderr, "loadgen: %s is not an IPv4 address\n", host);
    exit(2);
  }
  family = AF_INET;
  socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  addrlen = sizeof *in;
}

static void watch(struct conn *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0) die("epoll_ctl");
  c->wants_out = (events & EPOLLOUT) != 0;
}

// Starts a non-blocking connect; returns 0, or -1 when the server's backlog
// is full (a Unix socket says EAGAIN instead of queueing the attempt).
static int start_connect(struct conn *c) {
  c->fd = socket(family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket");
  if (family == AF_INET && socktype == SOCK_STREAM) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (connect(c->fd, (struct sockaddr *)&addr, addrlen) < 0 &&
      errno != EINPROGRESS) {
    if (errno == EAGAIN) {
      close(c->fd);
      c->fd = -1;
      return -1;
    }
    die("connect");
  }
  c->started = now_ns();
  c->got = 0;
  c->out = 0;
  return 0;
}

// Writes what is left of the current request; returns -1 if the connection failed.
static int flush_request(struct conn *c) {
  while (c->out > 0) {
    ssize_t n = write(c->fd, payload + (size - c->out), c->out);
    if (n < 0) {
      if (errno == EAGAIN) {
        if (!c->wants_out) watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        return 0;
      }
      return -1;
    }
    c->out -= n;
  }
  if (c->wants_out) watch(c, EPOLLIN, EPOLL_CTL_MOD);
  return 0;
}

static int send_request(struct conn *c) {
  c->started = now_ns();
  c->got = 0;
  c->out = size;
  return flush_request(c);
}

static void fail(struct conn *c, const char *what) {
  (void)c;
  if (errors++ < 5) fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
}

// Ping-pong, UDP and idle: one request in flight per connection.
static void on_echo(struct conn *c, uint32_t events) {
  if (events & EPOLLOUT && c->out > 0) {
    if (flush_request(c) < 0) fail(c, "write");
  }
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  while (1) {
    ssize_t n = read(c->fd, scratch, size);
    if (n < 0) {
      if (errno == EAGAIN) return;
      fail(c, "read");
      watch(c, 0, EPOLL_CTL_DEL);
      return;
    }
    if (n == 0) {
      errno = ECONNRESET;
      fail(c, "server closed the connection");
      watch(c, 0, EPOLL_CTL_DEL);
      return;
    }
    c->got += n;
    if (socktype == SOCK_DGRAM || c->got >= size) {
      if (mode == IDLE) {
        c->ready = 1;
        return;
      }
      record(c->started);
      if (send_request(c) < 0) fail(c, "write");
      if (socktype == SOCK_STREAM) return;
    }
  }
}

static void on_bulk(struct conn *c, uint32_t events) {
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    while (1) {
      ssize_t n = read(c->fd, scratch, BULK_CHUNK);
      if (n < 0) {
        if (errno != EAGAIN) {
          fail(c, "read");
          watch(c, 0, EPOLL_CTL_DEL);
          return;
        }
        break;
      }
      if (n == 0) {
        errno = ECONNRESET;
        fail(c, "server closed the connection");
        watch(c, 0, EPOLL_CTL_DEL);
        return;
      }
      c->recvd += n;
      if (measuring) bytes += n;
    }
  }
  while (c->sent - c->recvd + BULK_CHUNK <= window) {
    size_t off = c->sent % BULK_CHUNK;
    ssize_t n = write(c->fd, payload + off, BULK_CHUNK - off);
    if (n < 0) {
      if (errno != EAGAIN) {
        fail(c, "write");
        return;
      }
      if (!c->wants_out) watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
      return;
    }
    c->sent += n;
  }
  if (c->wants_out) watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

static int pending_starts;

// The PROXY header each connrate connection sends first (-P), or none.
static const char *proxy_header;
static size_t proxy_len;

static void set_proxy(const char *version) {
  // v2: signature, PROXY command, TCP over IPv4, 12 bytes of addresses:
  // 203.0.113.7:50000 to 192.0.2.1:443, as the v1 line says.
  static const char v2[] =
      "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c"
      "\xcb\x00\x71\x07\xc0\x00\x02\x01\xc3\x50\x01\xbb";
  static const char v1[] = "PROXY TCP4 203.0.113.7 192.0.2.1 50000 443\r\n";
  if (!strcmp(version, "v1")) {
    proxy_header = v1;
    proxy_len = sizeof v1 - 1;
  } else if (!strcmp(version, "v2")) {
    proxy_header = v2;
    proxy_len = sizeof v2 - 1;
  } else {
    fprintf(stderr, "loadgen: -P takes v1 or v2, got %s\n", version);
    exit(2);
  }
}

static void on_connrate(struct conn *c, uint32_t events) {
  if (c->out > 0 && events & EPOLLOUT) {
    // Connected: the header is far smaller than a socket's buffer.
    if (write(c->fd, proxy_header, proxy_len) != (ssize_t)proxy_len) {
      fail(c, "write PROXY header");
    }
    c->out = 0;
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
  }
  while (1) {
    ssize_t n = read(c->fd, scratch, BULK_CHUNK);
    if (n > 0) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n == 0) {
      record(c->started);
    } else {
      fail(c, "read");
    }
    close(c->fd);  // also removes it from the epoll set
    c->fd = -1;
    pending_starts++;
    return;
  }
}

static void start_pending(void) {
  for (int i = 0; i < conns && pending_starts > 0; i++) {
    struct conn *c = &table[i];
    if (c->fd >= 0) continue;
    if (start_connect(c) < 0) return;  // backlog full: try again soon
    c->out = proxy_len;
    watch(c, proxy_len ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_ADD);
    pending_starts--;
  }
}

// Connects every connection before the clock starts (not for connrate).
static void connect_all(void) {
  int batch = mode == IDLE ? IDLE_CONNECT_BATCH : conns;
  for (int first = 0; first < conns; first += batch) {
    int last = first + batch < conns ? first + batch : conns;
    for (int i = first; i < last; i++) {
      struct conn *c = &table[i];
      while (start_connect(c) < 0) usleep(1000);
      if (socktype == SOCK_STREAM) {
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (poll(&p, 1, 10000) != 1) die("connect timed out");
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
          errno = err;
          die("connect");
        }
      }
      watch(c, EPOLLIN, EPOLL_CTL_ADD);
      if (mode == IDLE) {
        if (send_request(c) < 0) die("write");
      }
    }
    if (mode == IDLE) {
      // Wait for this batch's echoes, so that every handler is running.
      int64_t deadline = now_ns() + 30LL * 1000000000;
      struct epoll_event evs[256];
      while (1) {
        int done = 1;
        for (int i = first; i < last; i++) done &= table[i].ready;
        if (done) break;
        if (now_ns() > deadline) {
          fprintf(stderr, "loadgen: echoes did not come back\n");
          exit(2);
        }
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int k = 0; k < n; k++) on_echo(evs[k].data.ptr, evs[k].events);
      }
    }
  }
}

static void raise_fd_limit(void) {
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

// ------------------------------------------------------------- open loop
//
//   loadgen openloop ADDRESS -r rate [-c conns] [-d seconds] [-w warmup]
//           [-s size] [-p server-pid]
//
// The method of wrk2: a fixed total rate, spread evenly over the
// connections (send k goes to connection k mod conns at start + k / rate),
// requests pipelined (a send never waits for the previous reply), and each
// reply timed from its *scheduled* send time, so a server that stalls cannot
// hide behind a client that slows down with it. Latencies go into a log-
// bucket histogram (1/64 relative precision); requests scheduled in the
// measured interval whose replies have not come back within OPEN_DRAIN_NS
// after it are reported as "owed".

// After the measured interval, replies are awaited this long before the
// requests still unanswered are counted as owed.
#define OPEN_DRAIN_NS (1000LL * 1000 * 1000)
// Sub-buckets per power of two: 1/64 relative precision, like HDR's 2 digits.
#define OPEN_SUB 64
// Powers of two covered, in ns: up to 2^40 ns, about 18 minutes.
#define OPEN_POWERS 40

struct open_conn {
  int64_t *sched;     // ring of scheduled send times of unanswered requests
  size_t head, count, cap;
  size_t got;         // bytes of the oldest reply received
  size_t out;         // bytes of queued requests still to write
};

static struct open_conn *open_table;
static uint64_t open_hist[OPEN_SUB * (OPEN_POWERS + 2)];
static uint64_t open_count, open_owed, open_window_sent;
static int64_t open_max, open_t_start, open_t_end;

static size_t open_bucket(int64_t ns) {
  if (ns < 2 * OPEN_SUB) return ns < 0 ? 0 : (size_t)ns;
  int e = 63 - __builtin_clzll((uint64_t)ns) - 6;  // ns >> e is in [64, 128)
  if (e > OPEN_POWERS) return sizeof open_hist / sizeof *open_hist - 1;
  return (size_t)e * OPEN_SUB + (size_t)(ns >> e);
}

// The lowest value of a bucket's range (the inverse of open_bucket).
static int64_t open_value(size_t b) {
  if (b < 2 * OPEN_SUB) return (int64_t)b;
  size_t e = b / OPEN_SUB - 1;
  return (int64_t)(b % OPEN_SUB + OPEN_SUB) << e;
}

static double open_percentile(double p) {
  if (open_count == 0) return 0;
  uint64_t rank = (uint64_t)(p * open_count + 0.5);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < sizeof open_hist / sizeof *open_hist; b++) {
    seen += open_hist[b];
    if (seen >= rank) return open_value(b) / 1000.0;
  }
  return open_max / 1000.0;
}

// Writes the queued requests (all bytes of a request are alike, so any
// slice of the payload will do); returns -1 if the connection failed.
static int open_flush(struct conn *c, struct open_conn *o) {
  while (o->out > 0) {
    size_t len = o->out < BULK_CHUNK ? o->out : BULK_CHUNK;
    ssize_t n = write(c->fd, payload, len);
    if (n < 0) {
      if (errno == EAGAIN) {
        if (!c->wants_out) watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        return 0;
      }
      return -1;
    }
    o->out -= n;
  }
  if (c->wants_out) watch(c, EPOLLIN, EPOLL_CTL_MOD);
  return 0;
}

static void open_send(int i, int64_t scheduled) {
  struct conn *c = &table[i];
  struct open_conn *o = &open_table[i];
  if (c->fd < 0) return;
  if (o->count == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 16;
    int64_t *ring = malloc(cap * sizeof *ring);
    if (!ring) die("malloc");
    for (size_t k = 0; k < o->count; k++) {
      ring[k] = o->sched[(o->head + k) % o->cap];
    }
    free(o->sched);
    o->sched = ring;
    o->head = 0;
    o->cap = cap;
  }
  o->sched[(o->head + o->count++) % o->cap] = scheduled;
  if (scheduled >= open_t_start && scheduled < open_t_end) open_window_sent++;
  int idle = o->out == 0;
  o->out += size;
  if (idle && open_flush(c, o) < 0) fail(c, "write");
}

static void open_event(struct conn *c, uint32_t events) {
  struct open_conn *o = &open_table[c - table];
  if (events & EPOLLOUT && open_flush(c, o) < 0) fail(c, "write");
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  while (1) {
    ssize_t n = read(c->fd, scratch, BULK_CHUNK);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return;
      if (n == 0) errno = ECONNRESET;
      fail(c, n == 0 ? "server closed the connection" : "read");
      watch(c, 0, EPOLL_CTL_DEL);
      close(c->fd);
      c->fd = -1;
      return;
    }
    int64_t now = now_ns();
    o->got += n;
    while (o->got >= size && o->count > 0) {
      o->got -= size;
      int64_t scheduled = o->sched[o->head];
      o->head = (o->head + 1) % o->cap;
      o->count--;
      if (scheduled < open_t_start || scheduled >= open_t_end) continue;
      int64_t ns = now - scheduled;
      open_hist[open_bucket(ns)]++;
      open_count++;
      if (ns > open_max) open_max = ns;
    }
  }
}

static int open_main(int argc, char **argv) {
  double rate = 0;
  mode = PINGPONG;  // connect_all's plain path
  parse_address(argv[2]);
  for (int i = 3; i + 1 < argc; i += 2) {
    const char *flag = argv[i], *value = argv[i + 1];
    if (!strcmp(flag, "-r")) rate = atof(value);
    else if (!strcmp(flag, "-c")) conns = atoi(value);
    else if (!strcmp(flag, "-d")) seconds = atof(value);
    else if (!strcmp(flag, "-w")) warmup = atof(value);
    else if (!strcmp(flag, "-s")) size = atol(value);
    else if (!strcmp(flag, "-p")) server_pid = atoi(value);
    else {
      fprintf(stderr, "loadgen: unknown flag %s\n", flag);
      return 2;
    }
  }
  if (rate <= 0 || socktype != SOCK_STREAM || size < 1 || size > BULK_CHUNK) {
    fprintf(stderr,
            "loadgen: openloop needs -r RATE > 0, a tcp: or unix: address "
            "and -s from 1 to %d\n", BULK_CHUNK);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  payload = malloc(BULK_CHUNK);
  scratch = malloc(BULK_CHUNK);
  memset(payload, 'x', BULK_CHUNK);
  table = calloc(conns, sizeof *table);
  open_table = calloc(conns, sizeof *open_table);
  for (int i = 0; i < conns; i++) table[i].fd = -1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  connect_all();

  double interval = 1e9 / rate;
  int64_t begin = now_ns();
  open_t_start = begin + (int64_t)(warmup * 1e9);
  open_t_end = open_t_start + (int64_t)(seconds * 1e9);
  int64_t drain_end = open_t_end + OPEN_DRAIN_NS;
  uint64_t k = 0;
  struct cpu_mark cpu0 = {0}, cpu1 = {0};
  int started = 0, stopped = 0;
  struct epoll_event evs[512];
  while (1) {
    int64_t t = now_ns();
    if (!started && t >= open_t_start) {
      started = 1;
      cpu0 = cpu_mark_now();
    }
    if (started && !stopped && t >= open_t_end) {
      stopped = 1;
      cpu1 = cpu_mark_now();
    }
    if (stopped) {
      int owed = 0;
      for (int i = 0; i < conns && !owed; i++) {
        struct open_conn *o = &open_table[i];
        for (size_t j = 0; j < o->count; j++) {
          if (o->sched[(o->head + j) % o->cap] < open_t_end) owed = 1;
        }
      }
      if (!owed || t >= drain_end) break;
    }
    // Every send whose time has come, each stamped with its scheduled time
    // (a client that fell behind catches up, so every request of the
    // measured interval is sent and either answered or owed).
    int64_t next = begin + (int64_t)(k * interval);
    while (next <= t && next < open_t_end) {
      open_send((int)(k % conns), next);
      k++;
      next = begin + (int64_t)(k * interval);
    }
    int64_t wait = next < open_t_end ? next - now_ns() : 1000000;
    if (wait < 0) wait = 0;
    struct timespec ts = {.tv_sec = wait / 1000000000,
                          .tv_nsec = wait % 1000000000};
    int n = epoll_pwait2(epfd, evs, 512, &ts, NULL);
    if (n < 0 && errno != EINTR) die("epoll_pwait2");
    for (int e = 0; e < n; e++) open_event(evs[e].data.ptr, evs[e].events);
  }
  for (int i = 0; i < conns; i++) {
    struct open_conn *o = &open_table[i];
    for (size_t j = 0; j < o->count; j++) {
      int64_t s = o->sched[(o->head + j) % o->cap];
      if (s >= open_t_start && s < open_t_end) open_owed++;
    }
  }
  double elapsed = (open_t_end - open_t_start) / 1e9;
  struct cpu_use use = cpu_between(cpu0, cpu1, elapsed);
  printf(
      "{\"mode\":\"openloop\",\"conns\":%d,\"seconds\":%.3f,\"target\":%.1f,"
      "\"sent\":%llu,\"ops\":%llu,\"rate\":%.1f,\"owed\":%llu,"
      "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f,\"errors\":%llu,\"client_cpu\":%.3f,"
      "\"server_cpu\":%.3f,\"other_cpu\":%.3f}\n",
      conns, elapsed, rate, (unsigned long long)open_window_sent,
      (unsigned long long)open_count, open_count / elapsed,
      (unsigned long long)open_owed, open_percentile(0.50),
      open_percentile(0.90), open_percentile(0.99), open_percentile(0.999),
      open_max / 1000.0, (unsigned long long)errors, use.client, use.server,
      use.other);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "openloop")) return open_main(argc, argv);
  if (argc < 3) {
    fprintf(stderr,
            "usage: loadgen pingpong|bulk|connrate|udp|idle ADDRESS [-c conns] "
            "[-d seconds] [-w warmup] [-s size] [-b window] [-p pid]\n");
    return 2;
  }
  const char *m = argv[1];
  mode = !strcmp(m, "pingpong") ? PINGPONG
         : !strcmp(m, "bulk")   ? BULK
         : !strcmp(m, "connrate") ? CONNRATE
         : !strcmp(m, "udp")    ? UDP
         : !strcmp(m, "idle")   ? IDLE
                                : (fprintf(stderr, "loadgen: unknown mode %s\n", m), exit(2), PINGPONG);
  parse_address(argv[2]);
  for (int i = 3; i + 1 < argc; i += 2) {
    const char *flag = argv[i], *value = argv[i + 1];
    if (!strcmp(flag, "-c")) conns = atoi(value);
    else if (!strcmp(flag, "-d")) seconds = atof(value);
    else if (!strcmp(flag, "-w")) warmup = atof(value);
    else if (!strcmp(flag, "-s")) size = atol(value);
    else if (!strcmp(flag, "-b")) window = atol(value);
    else if (!strcmp(flag, "-p")) server_pid = atoi(value);
    else if (!strcmp(flag, "-P") && mode == CONNRATE) set_proxy(value);
    else {
      fprintf(stderr, "loadgen: unknown flag %s\n", flag);
      return 2;
    }
  }
  if ((mode == UDP) != (socktype == SOCK_DGRAM)) {
    fprintf(stderr, "loadgen: udp mode needs a udp: address and only it\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  size_t bufsize = size > BULK_CHUNK ? size : BULK_CHUNK;
  payload = malloc(bufsize);
  scratch = malloc(bufsize);
  memset(payload, 'x', bufsize);
  table = calloc(conns, sizeof *table);
  for (int i = 0; i < conns; i++) table[i].fd = -1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");

  if (mode == CONNRATE) {
    pending_starts = conns;
    start_pending();
  } else {
    connect_all();
  }
  if (mode == IDLE) {
    printf("READY %d\n", conns);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    // Say whether the server still holds every connection after the wait.
    int alive = 0;
    for (int i = 0; i < conns; i++) {
      char b;
      ssize_t n = recv(table[i].fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
      if (n < 0 && errno == EAGAIN) alive++;
    }
    printf("{\"mode\":\"idle\",\"conns\":%d,\"alive\":%d}\n", conns, alive);
    return 0;
  }
  if (mode == PINGPONG || mode == UDP) {
    for (int i = 0; i < conns; i++) {
      if (send_request(&table[i]) < 0) die("write");
    }
  } else if (mode == BULK) {
    for (int i = 0; i < conns; i++) on_bulk(&table[i], 0);
  }

  int64_t begin = now_ns();
  int64_t t_start = begin + (int64_t)(warmup * 1e9);
  int64_t t_end = t_start + (int64_t)(seconds * 1e9);
  struct cpu_mark cpu0 = {0};
  int64_t last_scan = begin;
  struct epoll_event evs[512];
  while (1) {
    int64_t t = now_ns();
    if (!measuring && t >= t_start) {
      measuring = 1;
      cpu0 = cpu_mark_now();
      t_start = t;
      t_end = t + (int64_t)(seconds * 1e9);
    } else if (measuring && t >= t_end) {
      break;
    }
    if (mode == UDP && t - last_scan > UDP_RETRY_NS / 4) {
      last_scan = t;
      for (int i = 0; i < conns; i++) {
        if (t - table[i].started > UDP_RETRY_NS) {
          if (measuring) lost++;
          send_request(&table[i]);
        }
      }
    }
    int timeout = pending_starts > 0 ? 1 : 10;
    int n = epoll_wait(epfd, evs, 512, timeout);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      if (mode == BULK) on_bulk(c, evs[k].events);
      else if (mode == CONNRATE) on_connrate(c, evs[k].events);
      else on_echo(c, evs[k].events);
    }
    if (pending_starts > 0) start_pending();
  }
  int64_t t_stop = now_ns();
  struct cpu_use use =
      cpu_between(cpu0, cpu_mark_now(), (t_stop - t_start) / 1e9);
  if (mode == BULK) ops = bytes / BULK_CHUNK;
  print_result(m, conns, (t_stop - t_start) / 1e9, bytes, errors, lost, use);
  return 0;
}
