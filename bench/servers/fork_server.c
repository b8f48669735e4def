// The classic fork-per-connection server of the sockets tutorial: accept,
// fork, let the child serve the connection, reap children on SIGCHLD.
//
//   fork_server echo|hello tcp:HOST:PORT|unix:PATH
//
// "hello" sends "Hello, world!\n" and closes, as the tutorial's server does;
// "echo" copies until EOF through a 64 KiB buffer. Prints "LISTENING ...".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

// The same backlog as every other server of the benchmark (Deno's and Node's 511).
#define BACKLOG 511

static void reap(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static void serve(int fd, int hello) {
  if (hello) {
    static const char greeting[] = "Hello, world!\n";
    if (write(fd, greeting, sizeof greeting - 1) < 0) {
    }
    return;
  }
  static char buffer[64 * 1024];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) {
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buffer + off, n - off);
      if (w < 0) return;
      off += w;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fork_server echo|hello tcp:HOST:PORT|unix:PATH\n");
    return 2;
  }
  int hello = !strcmp(argv[1], "hello");
  const char *spec = argv[2];
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  int family;
  if (!strncmp(spec, "unix:", 5)) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    un->sun_family = family = AF_UNIX;
    strncpy(un->sun_path, spec + 5, sizeof un->sun_path - 1);
    unlink(un->sun_path);
    len = sizeof *un;
  } else {
    char host[64];
    const char *colon = strrchr(spec + 4, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - spec - 4), spec + 4);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = family = AF_INET;
    in->sin_port = htons(atoi(colon + 1));
    inet_pton(AF_INET, host, &in->sin_addr);
    len = sizeof *in;
  }
  int lfd = socket(family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&ss, len) < 0 || listen(lfd, BACKLOG) < 0) {
    perror("fork_server: bind/listen");
    return 1;
  }
  if (family == AF_INET) {
    getsockname(lfd, (struct sockaddr *)&ss, &len);
    printf("LISTENING %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  } else {
    printf("LISTENING %s\n", spec + 5);
  }
  fflush(stdout);
  struct sigaction sa = {.sa_handler = reap, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  while (1) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      perror("fork_server: accept");
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(lfd);
      if (family == AF_INET) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      serve(fd, hello);
      close(fd);
      _exit(0);
    }
    close(fd);
  }
}
