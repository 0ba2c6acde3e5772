// tests/unit/cgroup_reader_test.cc: the memory cgroup reader against fake trees: v1, v2,
// hybrid hosts, nested limits where a parent binds, siblings using the parent's budget,
// namespace roots, the "unlimited" spellings, damaged and unreadable files.
#include "preload/procfs/cgroup_reader.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>

#include "fake_tree.h"

using allocwatch::test::FakeTree;
namespace fmt = allocwatch::format;
using allocwatch::preload::CgroupReading;
using allocwatch::preload::ReadCgroup;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kUnlimited = fmt::kHeadroomUnlimited;
constexpr uint64_t kUnknown = fmt::kHeadroomUnknown;

const char kV2Mount[] = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
const char kV1Mount[] =
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";

std::unique_ptr<CgroupReading> Read(const FakeTree& t) {
  auto r = std::make_unique<CgroupReading>();
  ReadCgroup(t.root().c_str(), r.get());
  return r;
}

void V2Level(const FakeTree& t, const std::string& dir, const std::string& max, uint64_t current) {
  if (!max.empty()) t.Write("/sys/fs/cgroup" + dir + "/memory.max", max + "\n");
  t.Write("/sys/fs/cgroup" + dir + "/memory.current", std::to_string(current) + "\n");
}

// A v2 process in /a/b: /a limited to 1 GiB with 900 MiB used, /a/b limited by `leaf_max`
// with 100 MiB used and the given memory.events.
void NestedV2(const FakeTree& t, const std::string& leaf_max, const std::string& events) {
  t.Write("/proc/self/cgroup", "0::/a/b\n");
  t.Write("/proc/self/mountinfo", kV2Mount);
  t.Write("/sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
  V2Level(t, "/a", "1073741824", 943718400);
  V2Level(t, "/a/b", leaf_max, 104857600);
  t.Write("/sys/fs/cgroup/a/b/memory.events", events);
}

}  // namespace

TEST_CASE("v2: the leaf is unlimited, its parent binds", "[cgroup]") {
  FakeTree t;
  NestedV2(t, "max", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n");
  auto r = Read(t);
  CHECK(r->version == fmt::kCgroupV2);
  CHECK(std::string(r->path) == "/a/b");
  CHECK(std::string(r->dir) == t.root() + "/sys/fs/cgroup/a/b");
  CHECK(r->effective_limit == kGiB);
  CHECK(r->headroom == 124 * kMiB);  // 1 GiB - 900 MiB at /a, not 1 GiB - the leaf's 100 MiB
  CHECK(r->binding_level == 1);
  CHECK(r->total_levels == 3);  // /a/b, /a, the mount point
  REQUIRE(r->level_count == 3);
  CHECK(r->levels[0].limit == kUnlimited);
  CHECK(r->levels[0].usage == 100 * kMiB);
  CHECK(r->levels[0].events_max == 7);
  CHECK(r->levels[0].events_oom_kill == 1);
  CHECK(r->levels[2].limit == kUnlimited);  // the root has no memory.max
}

TEST_CASE("v2: max_levels stops the walk: the leaf's own figures alone", "[cgroup]") {
  FakeTree t;
  NestedV2(t, std::to_string(512 * kMiB), "max 3\noom 2\noom_kill 2\n");
  auto r = std::make_unique<CgroupReading>();
  ReadCgroup(t.root().c_str(), r.get(), "/proc/self", 1);
  CHECK(r->version == fmt::kCgroupV2);
  CHECK(std::string(r->path) == "/a/b");
  CHECK(r->total_levels == 1);
  REQUIRE(r->level_count == 1);
  CHECK(r->levels[0].events_oom_kill == 2);
  CHECK(r->headroom == 412 * kMiB);  // the leaf's room: /a, which binds, was not read
  CHECK(r->binding_level == 0);
  auto all = Read(t);
  CHECK(all->total_levels == 3);
  CHECK(all->headroom == 124 * kMiB);
  CHECK(all->levels[0].events_oom_kill == r->levels[0].events_oom_kill);
}

TEST_CASE("v2: a sibling using the parent's budget leaves less than the leaf's own limit",
          "[cgroup]") {
  FakeTree t;
  t.Write("/proc/self/cgroup", "0::/a/b\n");
  t.Write("/proc/self/mountinfo", kV2Mount);
  t.Write("/sys/fs/cgroup/cgroup.controllers", "memory\n");
  V2Level(t, "/a", std::to_string(kGiB), 1000 * kMiB);  // mostly /a/sibling's
  V2Level(t, "/a/b", std::to_string(512 * kMiB), 10 * kMiB);
  V2Level(t, "/a/sibling", "max", 990 * kMiB);
  auto r = Read(t);
  CHECK(r->headroom == 24 * kMiB);
  CHECK(r->binding_level == 1);
  CHECK(r->effective_limit == 512 * kMiB);
}

TEST_CASE("v2 in a container: the namespace root is /, the limit sits at the mount point",
          "[cgroup]") {
  FakeTree t;
  t.Write("/proc/self/cgroup", "0::/\n");
  t.Write("/proc/self/mountinfo", kV2Mount);
  t.Write("/sys/fs/cgroup/cgroup.controllers", "memory pids\n");
  V2Level(t, "", std::to_string(256 * kMiB), 100 * kMiB);
  t.Write("/sys/fs/cgroup/memory.high", std::to_string(200 * kMiB));  // no newline
  auto r = Read(t);
  CHECK(r->version == fmt::kCgroupV2);
  CHECK(r->total_levels == 1);
  CHECK(r->headroom == 156 * kMiB);
  CHECK(r->binding_level == 0);
  CHECK(r->levels[0].high == 200 * kMiB);  // reported apart from the limit
  CHECK(r->levels[0].limit == 256 * kMiB);
}

TEST_CASE("v2 host root: no memory.max anywhere means unlimited", "[cgroup]") {
  FakeTree t;
  t.Write("/proc/self/cgroup", "0::/\n");
  t.Write("/proc/self/mountinfo", kV2Mount);
  t.Write("/sys/fs/cgroup/cgroup.controllers", "memory\n");
  auto r = Read(t);
  CHECK(r->version == fmt::kCgroupV2);
  CHECK(r->headroom == kUnlimited);
  CHECK(r->effective_limit == kUnlimited);
  CHECK(r->binding_level == UINT32_MAX);
}

TEST_CASE("v1 bind-mounted at the container's own cgroup (mount root = cgroup path)", "[cgroup]") {
  FakeTree t;
  t.Write("/proc/self/cgroup", "5:cpu:/docker/abc\n4:memory:/docker/abc\n");
  t.Write("/proc/self/mountinfo",
          "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n");
  t.Write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n");
  t.Write("/sys/fs/cgroup/memory/memory.usage_in_bytes", "268435456\n");
  t.Write("/sys/fs/cgroup/memory/memory.oom_control",
          "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  t.Write("/sys/fs/cgroup/memory/memory.failcnt", "12\n");
  auto r = Read(t);
  CHECK(r->version == fmt::kCgroupV1);
  CHECK(std::string(r->dir) == t.root() + "/sys/fs/cgroup/memory");
  CHECK(r->total_levels == 1);
  CHECK(r->headroom == 256 * kMiB);
  CHECK(r->levels[0].events_oom_kill == 2);
  CHECK(r->levels[0].events_max == 12);
  CHECK(r->levels[0].high == kUnknown);  // v1 has none
}

TEST_CASE("v1 nested: the parent's lower limit binds; unlimited sentinels for every page size",
          "[cgroup]") {
  for (const char* unlimited :
       {"9223372036854771712", "9223372036854759424", "9223372036854710272"}) {
    FakeTree t;
    t.Write("/proc/self/cgroup", "4:memory:/a/b\n");
    t.Write("/proc/self/mountinfo", kV1Mount);
    t.Write("/sys/fs/cgroup/memory/memory.limit_in_bytes", std::string(unlimited) + "\n");
    t.Write("/sys/fs/cgroup/memory/memory.usage_in_bytes", "999999999\n");
    t.Write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", std::to_string(64 * kMiB) + "\n");
    t.Write("/sys/fs/cgroup/memory/a/memory.usage_in_bytes", std::to_string(60 * kMiB) + "\n");
    t.Write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", std::to_string(256 * kMiB) + "\n");
    t.Write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", std::to_string(50 * kMiB) + "\n");
    t.Write("/sys/fs/cgroup/memory/a/b/memory.oom_control",
            "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n");
    auto r = Read(t);
    INFO(unlimited);
    CHECK(r->version == fmt::kCgroupV1);
    CHECK(r->total_levels == 3);
    CHECK(r->levels[2].limit == kUnlimited);
    CHECK(r->effective_limit == 64 * kMiB);
    CHECK(r->headroom == 4 * kMiB);
    CHECK(r->binding_level == 1);
    CHECK((r->flags & fmt::kCgroupFlagOomKillDisable) != 0);
    CHECK((r->flags & fmt::kCgroupFlagUnderOom) != 0);
  }
}

TEST_CASE("hybrid host: memory on v1 although a cgroup2 mount and a 0:: line exist", "[cgroup]") {
  FakeTree t;
  // The first line is not the memory controller's (a "first line" heuristic would fail).
  t.Write("/proc/self/cgroup",
          "12:pids:/user.slice/u.scope\n4:memory:/user.slice/u.scope\n"
          "1:name=systemd:/user.slice/u.scope\n0::/user.slice/u.scope\n");
  t.Write("/proc/self/mountinfo",
          std::string("41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n") + kV1Mount +
              "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n");
  t.Write("/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  t.Write("/sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes", "1073741824\n");
  t.Write("/sys/fs/cgroup/memory/user.slice/memory.usage_in_bytes", "73741824\n");
  t.Mkdir("/sys/fs/cgroup/memory/user.slice/u.scope");
  auto r = Read(t);
  CHECK(r->version == fmt::kCgroupV1);
  CHECK((r->flags & fmt::kCgroupFlagHybrid) != 0);
  CHECK(std::string(r->path) == "/user.slice/u.scope");
  CHECK(r->headroom == 1000000000);
  CHECK(r->binding_level == 1);
  // Missing files at the leaf: no limit there, usage unknown.
  CHECK(r->levels[0].limit == kUnlimited);
  CHECK(r->levels[0].usage == kUnknown);
}

TEST_CASE("v2 without the memory controller is no memory cgroup", "[cgroup]") {
  FakeTree t;
  t.Write("/proc/self/cgroup", "0::/a\n");
  t.Write("/proc/self/mountinfo", kV2Mount);
  t.Write("/sys/fs/cgroup/cgroup.controllers", "cpu io pids\n");
  V2Level(t, "/a", "1000", 10);
  CHECK(Read(t)->version == fmt::kCgroupNone);
}

TEST_CASE("paths: (deleted) suffix, \\040 in the mount point, /.. prefixes", "[cgroup]") {
  SECTION("deleted and escaped") {
    FakeTree t;
    t.Write("/proc/self/cgroup", "0::/a (deleted)\n");
    t.Write("/proc/self/mountinfo", "30 23 0:26 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n");
    t.Write("/sys/fs/my cgroup/cgroup.controllers", "memory\n");
    t.Write("/sys/fs/my cgroup/a/memory.max", "1000\n");
    t.Write("/sys/fs/my cgroup/a/memory.current", "400\n");
    auto r = Read(t);
    CHECK(std::string(r->path) == "/a");
    CHECK(std::string(r->dir) == t.root() + "/sys/fs/my cgroup/a");
    CHECK(r->headroom == 600);
  }
  SECTION("a path outside the namespace's mount root") {
    FakeTree t;
    t.Write("/proc/self/cgroup", "0::/../other/c\n");
    t.Write("/proc/self/mountinfo", "30 23 0:26 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    t.Write("/sys/fs/cgroup/cgroup.controllers", "memory\n");
    t.Write("/sys/fs/cgroup/c/memory.max", "2000\n");
    t.Write("/sys/fs/cgroup/c/memory.current", "500\n");
    auto r = Read(t);
    // The longest trailing part that exists under the mount point is used.
    CHECK(std::string(r->dir) == t.root() + "/sys/fs/cgroup/c");
    CHECK((r->flags & fmt::kCgroupFlagUnresolved) == 0);
    CHECK(r->headroom == 1500);
  }
}

TEST_CASE("several cgroup2 mounts: the one whose root prefixes the path", "[cgroup]") {
  FakeTree t;
  t.Write("/proc/self/cgroup", "0::/a/b\n");
  t.Write("/proc/self/mountinfo",
          "50 23 0:26 /zzz /mnt/other rw - cgroup2 cgroup2 rw\n" + std::string(kV2Mount));
  t.Write("/mnt/other/cgroup.controllers", "memory\n");
  t.Write("/sys/fs/cgroup/cgroup.controllers", "memory\n");
  V2Level(t, "/a/b", "4096", 1024);
  auto r = Read(t);
  CHECK(std::string(r->dir) == t.root() + "/sys/fs/cgroup/a/b");
  CHECK(r->headroom == 3072);
}

TEST_CASE("damaged and unreadable files are unknown, never unlimited", "[cgroup]") {
  FakeTree t;
  t.Write("/proc/self/cgroup", "0::/a/b\n");
  t.Write("/proc/self/mountinfo", kV2Mount);
  t.Write("/sys/fs/cgroup/cgroup.controllers", "memory\n");
  V2Level(t, "/a", "garbage", 100);
  t.Write("/sys/fs/cgroup/a/b/memory.max", "");  // empty
  t.Write("/sys/fs/cgroup/a/b/memory.current", "50\n");
  auto r = Read(t);
  CHECK(r->levels[0].limit == kUnknown);
  CHECK(r->levels[1].limit == kUnknown);
  CHECK(r->headroom == kUnlimited);  // no level with a known limit
  if (geteuid() == 0) {
    WARN("running as root: mode 000 files are readable, the EACCES case is not checked");
  } else {
    t.Write("/sys/fs/cgroup/a/memory.max", "1000\n");
    t.Chmod("/sys/fs/cgroup/a/memory.max", 0);
    CHECK(Read(t)->levels[1].limit == kUnknown);
  }
}

TEST_CASE("no /proc/self/cgroup: no cgroup", "[cgroup]") {
  FakeTree t;
  CHECK(Read(t)->version == fmt::kCgroupNone);
}
