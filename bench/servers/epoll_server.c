// The event-loop server in C: the floor the other servers are measured
// against. One thread, level-triggered epoll, one fixed 64 KiB scratch
// buffer shared by every connection (nothing is allocated per connection
// beyond a small struct for a write that the kernel did not take at once).
//
//   epoll_server echo|hello tcp:HOST:PORT|unix:PATH|udp:HOST:PORT
//
// Prints "LISTENING <port or path>" once it accepts.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

// Deno's and Node's listen backlog is 511; the C servers use the same.
#define BACKLOG 511
#define BUFFER_SIZE (64 * 1024)

static const char greeting[] = "Hello, world!\n";

// Bytes read but not yet written back, kept only while the peer is slow.
struct pending {
  int fd;
  size_t len, off;
  char *data;
};

static int epfd;
static char buffer[BUFFER_SIZE];

static void die(const char *what) {
  fprintf(stderr, "epoll_server: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void drop(struct pending *p) {
  close(p->fd);
  free(p->data);
  free(p);
}

// Echoes until the socket would block; returns 0 to keep the connection.
static int echo(struct pending *p) {
  while (1) {
    while (p->off < p->len) {
      ssize_t n = write(p->fd, p->data + p->off, p->len - p->off);
      if (n < 0) {
        if (errno != EAGAIN) return -1;
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = p};
        epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &ev);
        return 0;
      }
      p->off += n;
    }
    if (p->data) {
      free(p->data);
      p->data = NULL;
      p->len = p->off = 0;
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
      epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &ev);
    }
    ssize_t n = read(p->fd, buffer, sizeof buffer);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    ssize_t w = write(p->fd, buffer, n);
    if (w < 0 && errno != EAGAIN) return -1;
    if (w < n) {
      if (w < 0) w = 0;
      p->data = malloc(n - w);
      memcpy(p->data, buffer + w, n - w);
      p->len = n - w;
      p->off = 0;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "echo") && strcmp(argv[1], "hello"))) {
    fprintf(stderr, "usage: epoll_server echo|hello tcp:HOST:PORT|unix:PATH|udp:HOST:PORT\n");
    return 2;
  }
  int hello = !strcmp(argv[1], "hello");
  const char *spec = argv[2];
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  int family, type = SOCK_STREAM;
  if (!strncmp(spec, "unix:", 5)) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    un->sun_family = family = AF_UNIX;
    strncpy(un->sun_path, spec + 5, sizeof un->sun_path - 1);
    unlink(un->sun_path);
    len = sizeof *un;
  } else {
    if (!strncmp(spec, "udp:", 4)) type = SOCK_DGRAM;
    char host[64];
    const char *colon = strrchr(spec + 4, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - spec - 4), spec + 4);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = family = AF_INET;
    in->sin_port = htons(atoi(colon + 1));
    inet_pton(AF_INET, host, &in->sin_addr);
    len = sizeof *in;
  }
  int lfd = socket(family, type | SOCK_NONBLOCK, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&ss, len) < 0) die("bind");
  if (type == SOCK_STREAM && listen(lfd, BACKLOG) < 0) die("listen");
  if (family == AF_INET) {
    getsockname(lfd, (struct sockaddr *)&ss, &len);
    printf("LISTENING %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  } else {
    printf("LISTENING %s\n", spec + 5);
  }
  fflush(stdout);

  if (type == SOCK_DGRAM) {
    // recvfrom/sendto in a blocking loop: the classic datagram server.
    int flags = 0;
    fcntl(lfd, F_SETFL, flags);
    while (1) {
      struct sockaddr_storage from;
      socklen_t fromlen = sizeof from;
      ssize_t n = recvfrom(lfd, buffer, sizeof buffer, 0,
                           (struct sockaddr *)&from, &fromlen);
      if (n >= 0) sendto(lfd, buffer, n, 0, (struct sockaddr *)&from, fromlen);
    }
  }

  epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event events[512];
  while (1) {
    int n = epoll_wait(epfd, events, 512, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      struct pending *p = events[i].data.ptr;
      if (p == NULL) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (hello) {
            // The greeting fits any fresh socket's send buffer.
            if (write(fd, greeting, sizeof greeting - 1) < 0) {
            }
            close(fd);
            continue;
          }
          if (family == AF_INET) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          }
          struct pending *c = calloc(1, sizeof *c);
          c->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      if (echo(p) < 0) drop(p);
    }
  }
}
