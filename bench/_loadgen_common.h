// What both load generators share: the clock, the latency record, and the
// CPU accounting of the server, the client and the rest of the machine, so
// that loadgen.c and tls_loadgen.c measure exactly alike. Included once by
// each; everything here is static.
#ifndef LOADGEN_COMMON_H
#define LOADGEN_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int server_pid = 0;
static int measuring = 0;
static uint64_t ops;
static uint32_t *lat;
static size_t nlat, caplat;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
          strerror(errno));
  exit(2);
}

static void record(int64_t started) {
  if (!measuring) return;
  ops++;
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 1 << 16;
    lat = realloc(lat, caplat * sizeof *lat);
    if (!lat) die("realloc");
  }
  int64_t us = (now_ns() - started) / 1000;
  lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

// Reads fields 4 (ppid) and 14..17 (utime, stime, cutime, cstime) of
// /proc/PID/stat; returns -1 if the process is gone.
static int read_stat(int pid, long long *ppid, long long *ticks) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  // After "pid (comm)" comes field 3, the state: a letter, not a number.
  p += 2;
  while (*p && *p != ' ') p++;
  long long v[18] = {0};
  for (int field = 4; field <= 17 && *p; field++) v[field] = strtoll(p, &p, 10);
  *ppid = v[4];
  *ticks = v[14] + v[15] + v[16] + v[17];
  return 0;
}

// The server's CPU time in clock ticks: its own, its reaped children's, and
// its live children's (a fork-per-connection server works in them).
static long long server_ticks(void) {
  if (!server_pid) return 0;
  long long ppid, total;
  if (read_stat(server_pid, &ppid, &total) < 0) return -1;
  DIR *proc = opendir("/proc");
  struct dirent *d;
  while (proc && (d = readdir(proc))) {
    int pid = atoi(d->d_name);
    long long ticks;
    if (pid > 0 && pid != server_pid && read_stat(pid, &ppid, &ticks) == 0 &&
        ppid == server_pid) {
      total += ticks;
    }
  }
  if (proc) closedir(proc);
  return total;
}

// Busy clock ticks of the whole machine, from /proc/stat: with the server's
// and our own, it tells how much CPU other programs took meanwhile.
static long long machine_busy_ticks(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0,
            softirq = 0, steal = 0;
  if (fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &user, &nice,
             &sys, &idle, &iowait, &irq, &softirq, &steal) != 8) {
    user = nice = sys = irq = softirq = steal = 0;
  }
  fclose(f);
  return user + nice + sys + irq + softirq + steal;
}

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t percentile(double p) {
  if (nlat == 0) return 0;
  size_t i = (size_t)(p * (nlat - 1) + 0.5);
  return lat[i];
}

// What the CPU counters read at one end of the measured interval.
struct cpu_mark {
  long long server;  // the server's clock ticks (server_ticks)
  long long busy;    // the machine's busy clock ticks
  double client;     // our own CPU seconds
};

static struct cpu_mark cpu_mark_now(void) {
  struct cpu_mark m = {server_ticks(), machine_busy_ticks(), cpu_seconds()};
  return m;
}

// CPU used between two marks `elapsed` seconds apart: ours as a share of one
// core, the server's in seconds, the rest of the machine's as a share of one
// core; the last two are -1 without a server pid.
struct cpu_use {
  double client, server, other;
};

static struct cpu_use cpu_between(struct cpu_mark a, struct cpu_mark b,
                                  double elapsed) {
  long tck = sysconf(_SC_CLK_TCK);
  struct cpu_use u;
  u.client = (b.client - a.client) / elapsed;
  u.server = server_pid ? (double)(b.server - a.server) / tck : -1;
  u.other = server_pid ? ((double)(b.busy - a.busy) / tck - u.server -
                          (b.client - a.client)) / elapsed
                       : -1;
  if (u.other < 0 && server_pid) u.other = 0;
  return u;
}

// Prints the closed-loop result line that run.ts reads; sorts the latencies.
static void print_result(const char *mode, int conns, double elapsed,
                         uint64_t bytes, uint64_t errors, uint64_t lost,
                         struct cpu_use use) {
  qsort(lat, nlat, sizeof *lat, cmp_u32);
  printf(
      "{\"mode\":\"%s\",\"conns\":%d,\"seconds\":%.3f,\"ops\":%llu,"
      "\"rate\":%.1f,\"mbps\":%.2f,\"p50_us\":%u,\"p99_us\":%u,\"max_us\":%u,"
      "\"errors\":%llu,\"lost\":%llu,\"client_cpu\":%.3f,\"server_cpu\":%.3f,"
      "\"other_cpu\":%.3f}\n",
      mode, conns, elapsed, (unsigned long long)ops, ops / elapsed,
      bytes / elapsed / 1e6, percentile(0.50), percentile(0.99),
      nlat ? lat[nlat - 1] : 0, (unsigned long long)errors,
      (unsigned long long)lost, use.client, use.server, use.other);
}

#endif
