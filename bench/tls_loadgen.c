// TLS load generator for the benchmarks: the TLS counterpart of loadgen.c,
// with the same one-thread epoll loop, the same CPU accounting and the same
// JSON line, so that run.ts samples and reports it the same way. OpenSSL does
// the client's side (link with -lssl -lcrypto; Debian package libssl-dev).
//
//   tls_loadgen MODE tcp:HOST:PORT [-c conns] [-d seconds] [-w warmup]
//               [-s size] [-b window] [-p server-pid]
//
//   MODE  connrate  full handshakes: connect, TLS handshake, echo `size`
//                   bytes once, close_notify, close, again (conn/s). No
//                   session resumption: the client keeps no session and
//                   asks for no ticket, so every handshake is a full one.
//         bulk      each connection streams 64 KiB writes and reads the echo,
//                   with at most `window` bytes in flight (MB/s)
//         pingpong  each connection sends `size` bytes and waits for them
//                   to come back (requests/s, latency percentiles)
//
// The client does not verify the server's certificate: verifying costs the
// client, not the server, and the servers use a throwaway self-signed one.
// Handshakes started during warm-up are not counted; a connrate operation is
// counted when its echo comes back, its latency measured from the connect.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "_loadgen_common.h"

// Size of one bulk write: the size of loadgen.c's bulk test.
#define BULK_CHUNK (64 * 1024)

enum mode { CONNRATE, BULK, PINGPONG };
enum state { CONNECTING, HANDSHAKING, RUNNING };

struct conn {
  int fd;
  SSL *ssl;
  enum state state;
  int64_t started;        // when the connect (connrate) or request began, ns
  size_t got;             // bytes of the current reply received
  size_t out;             // bytes of the current request still to write
  uint64_t sent, recvd;   // bulk byte counts
  uint32_t events;        // the epoll events registered
};

static enum mode mode;
static struct sockaddr_in addr;
static SSL_CTX *ctx;
static int epfd;
static int conns = 1;
static double seconds = 3, warmup = 1;
static size_t size = 64;
static size_t window = 4 * BULK_CHUNK;
static struct conn *table;
static char *payload, *scratch;
static uint64_t bytes, errors;

static void parse_address(const char *spec) {
  char host[256];
  const char *colon = strrchr(spec, ':');
  if (strncmp(spec, "tcp:", 4) || !colon || colon - (spec + 4) <= 0 ||
      colon - (spec + 4) >= (long)sizeof host) {
    fprintf(stderr, "tls_loadgen: address must be tcp:HOST:PORT\n");
    exit(2);
  }
  memcpy(host, spec + 4, colon - (spec + 4));
  host[colon - (spec + 4)] = 0;
  addr.sin_family = AF_INET;
  addr.sin_port = htons(atoi(colon + 1));
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "tls_loadgen: %s is not an IPv4 address\n", host);
    exit(2);
  }
}

static void watch(struct conn *c, uint32_t events) {
  if (events == c->events) return;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
    die("epoll_ctl");
  c->events = events;
}

static void fail(const char *what) {
  if (errors++ < 5) {
    unsigned long e = ERR_get_error();
    fprintf(stderr, "tls_loadgen: %s: %s\n", what,
            e ? ERR_error_string(e, NULL) : strerror(errno));
  }
  ERR_clear_error();
}

static void start_connect(struct conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket");
  // Not for handshakes: with TCP_NODELAY, every handshake and echo waited
  // about 40 ms (the delayed ACK) against all three servers, so that the
  // rate measured 16 connections / 40 ms and not the server; without it, as
  // openssl s_time connects, the round trips take what the CPUs take.
  if (mode != CONNRATE) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  c->started = now_ns();
  c->got = c->out = 0;
  c->sent = c->recvd = 0;
  c->events = 0;
  c->state = CONNECTING;
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 &&
      errno != EINPROGRESS) {
    die("connect");
  }
  watch(c, EPOLLOUT);
}

// Ends the connection: close_notify if the handshake was done (not waiting
// for the server's), then close. Connrate starts the next one at once.
static void finish(struct conn *c, int clean) {
  if (c->ssl) {
    if (clean) SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  close(c->fd);  // also removes it from the epoll set
  c->fd = -1;
  if (mode == CONNRATE) start_connect(c);
}

// Maps an OpenSSL result to the events to wait for; 0 means it failed.
static uint32_t wants(struct conn *c, int r, const char *what) {
  switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
      return EPOLLIN;
    case SSL_ERROR_WANT_WRITE:
      return EPOLLIN | EPOLLOUT;
    case SSL_ERROR_ZERO_RETURN:
      errno = ECONNRESET;
      fail("server closed the connection");
      return 0;
    default:
      fail(what);
      return 0;
  }
}

// Ping-pong and connrate: one request in flight; returns 0 when the
// connection failed and was ended.
static int run_echo(struct conn *c) {
  uint32_t ev = EPOLLIN;
  while (1) {
    if (c->out > 0) {
      int r = SSL_write(c->ssl, payload, (int)c->out);
      if (r <= 0) {
        if (!(ev = wants(c, r, "SSL_write"))) return 0;
        break;
      }
      c->out = 0;
    }
    int r = SSL_read(c->ssl, scratch, (int)size);
    if (r <= 0) {
      if (!(ev = wants(c, r, "SSL_read"))) return 0;
      break;
    }
    c->got += r;
    if (c->got < size) continue;
    record(c->started);
    if (mode == CONNRATE) {
      finish(c, 1);
      return 1;
    }
    c->started = now_ns();
    c->got = 0;
    c->out = size;
  }
  watch(c, ev);
  return 1;
}

static int run_bulk(struct conn *c) {
  uint32_t ev = EPOLLIN;
  while (1) {
    int r = SSL_read(c->ssl, scratch, BULK_CHUNK);
    if (r <= 0) {
      uint32_t w = wants(c, r, "SSL_read");
      if (!w) return 0;
      ev |= w;
      break;
    }
    c->recvd += r;
    if (measuring) bytes += r;
  }
  while (c->sent - c->recvd + BULK_CHUNK <= window) {
    size_t off = c->sent % BULK_CHUNK;
    int r = SSL_write(c->ssl, payload + off, (int)(BULK_CHUNK - off));
    if (r <= 0) {
      uint32_t w = wants(c, r, "SSL_write");
      if (!w) return 0;
      ev |= w;
      break;
    }
    c->sent += r;
  }
  watch(c, ev);
  return 1;
}

static void on_event(struct conn *c, uint32_t events) {
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      errno = err;
      fail("connect");
      finish(c, 0);
      return;
    }
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    c->ssl = SSL_new(ctx);
    if (!c->ssl) die("SSL_new");
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    c->state = HANDSHAKING;
  }
  if (c->state == HANDSHAKING) {
    int r = SSL_connect(c->ssl);
    if (r != 1) {
      uint32_t w = wants(c, r, "handshake");
      if (!w) {
        finish(c, 0);
        return;
      }
      watch(c, w);
      return;
    }
    c->state = RUNNING;
    if (mode != BULK) {
      if (mode == PINGPONG) c->started = now_ns();
      c->out = size;
    }
  }
  int ok = mode == BULK ? run_bulk(c) : run_echo(c);
  if (!ok) finish(c, 0);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: tls_loadgen connrate|bulk|pingpong tcp:HOST:PORT "
            "[-c conns] [-d seconds] [-w warmup] [-s size] [-b window] "
            "[-p pid]\n");
    return 2;
  }
  const char *m = argv[1];
  if (!strcmp(m, "connrate")) mode = CONNRATE;
  else if (!strcmp(m, "bulk")) mode = BULK;
  else if (!strcmp(m, "pingpong")) mode = PINGPONG;
  else {
    fprintf(stderr, "tls_loadgen: unknown mode %s\n", m);
    return 2;
  }
  parse_address(argv[2]);
  for (int i = 3; i + 1 < argc; i += 2) {
    const char *flag = argv[i], *value = argv[i + 1];
    if (!strcmp(flag, "-c")) conns = atoi(value);
    else if (!strcmp(flag, "-d")) seconds = atof(value);
    else if (!strcmp(flag, "-w")) warmup = atof(value);
    else if (!strcmp(flag, "-s")) size = atol(value);
    else if (!strcmp(flag, "-b")) window = atol(value);
    else if (!strcmp(flag, "-p")) server_pid = atoi(value);
    else {
      fprintf(stderr, "tls_loadgen: unknown flag %s\n", flag);
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("SSL_CTX_new");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  // Full handshakes only: no session cache, no ticket asked for.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  size_t bufsize = size > BULK_CHUNK ? size : BULK_CHUNK;
  payload = malloc(bufsize);
  scratch = malloc(bufsize);
  memset(payload, 'x', bufsize);
  table = calloc(conns, sizeof *table);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  for (int i = 0; i < conns; i++) start_connect(&table[i]);

  int64_t begin = now_ns();
  int64_t t_start = begin + (int64_t)(warmup * 1e9);
  int64_t t_end = t_start + (int64_t)(seconds * 1e9);
  struct cpu_mark cpu0 = {0};
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
    int n = epoll_wait(epfd, evs, 512, 10);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) on_event(evs[k].data.ptr, evs[k].events);
  }
  int64_t t_stop = now_ns();
  struct cpu_use use =
      cpu_between(cpu0, cpu_mark_now(), (t_stop - t_start) / 1e9);
  if (mode == BULK) ops = bytes / BULK_CHUNK;
  char label[64];
  snprintf(label, sizeof label, "tls-%s", m);
  print_result(label, conns, (t_stop - t_start) / 1e9, bytes, errors, 0, use);
  return 0;
}
