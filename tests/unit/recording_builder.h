// tests/unit/recording_builder.h: writes allocwatch recordings record by record, for tests of
// the replay and the analyses on runs whose truth is known.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "preload/format/event_codec.h"
#include "preload/format/record_format.h"

namespace allocwatch::unit_test {

namespace fmt = allocwatch::format;

// An Events record, header and padding included, holding `events` (one thread's, in time
// order; times in ticks) encoded as the recorder encodes them, with header flags `flags`
// (fmt::kEventsFlagInOrder: as the recorder marks a batch whose times never go back).
inline std::vector<uint8_t> EventsRecordOf(const std::vector<fmt::Event>& events,
                                           uint16_t flags = 0) {
  fmt::EventsRecord head{};
  head.base_time_ns = events.empty() ? 0 : events.front().time_ns;
  head.count = static_cast<uint32_t>(events.size());
  std::vector<uint8_t> body(events.size() * fmt::kMaxEventBytes + 8);
  fmt::EventCodecState state;
  state.last_time = head.base_time_ns;
  uint8_t* p = body.data();
  for (const fmt::Event& e : events) p = fmt::EncodeEvent(state, e, p);
  head.bytes = static_cast<uint32_t>(p - body.data());
  head.header = fmt::MakeHeader(fmt::RecordType::kEvents, sizeof(head) + head.bytes, flags);
  std::vector<uint8_t> out(head.header.size, 0);
  std::memcpy(out.data(), &head, sizeof(head));
  std::memcpy(out.data() + sizeof(head), body.data(), head.bytes);
  return out;
}

class Builder {
 public:
  // sample_bytes 1: exact mode; otherwise the mean sampling period.
  explicit Builder(uint64_t sample_bytes = 1, uint32_t pid = 100, uint32_t ppid = 1) {
    FileHeader();
    std::string exe = "/bin/test", cmd = std::string("test\0arg", 9);
    fmt::ProcessRecord r{};
    uint32_t total = fmt::PaddedSize(sizeof(r) + exe.size() + cmd.size());
    r.header = Header(fmt::RecordType::kProcess, total);
    r.pid = pid;
    r.ppid = ppid;
    r.sample_bytes = sample_bytes;
    r.flags = sample_bytes == 1 ? fmt::kProcessFlagExact : 0;
    r.exe_size = static_cast<uint32_t>(exe.size());
    r.cmdline_size = static_cast<uint32_t>(cmd.size());
    Append(&r, sizeof(r));
    Append(exe.data(), exe.size());
    Append(cmd.data(), cmd.size());
    Pad(total - sizeof(r) - exe.size() - cmd.size());
  }

  // The file header alone, without a process record (for tests of damaged recordings).
  struct HeaderOnly {};
  explicit Builder(HeaderOnly) { FileHeader(); }

  void Module(uint32_t id, const std::string& path, uint64_t start, uint64_t end) {
    fmt::ModuleLoadRecord r{};
    uint32_t total = fmt::PaddedSize(sizeof(r) + path.size());
    r.header = Header(fmt::RecordType::kModuleLoad, total);
    r.start = start;
    r.end = end;
    r.module_id = id;
    r.path_size = static_cast<uint16_t>(path.size());
    Append(&r, sizeof(r));
    Append(path.data(), path.size());
    Pad(total - sizeof(r) - path.size());
  }

  void Stack(uint32_t id, std::vector<uint64_t> ips) {
    fmt::StackRecord r{};
    r.header = Header(fmt::RecordType::kStack, sizeof(r) + ips.size() * 8);
    r.stack_id = id;
    r.depth = static_cast<uint32_t>(ips.size());
    Append(&r, sizeof(r));
    Append(ips.data(), ips.size() * 8);
  }

  void Alloc(uint64_t time, uint64_t address, uint64_t size, uint32_t stack, uint32_t tid = 1) {
    fmt::AllocRecord r{};
    r.header = Header(fmt::RecordType::kAlloc, sizeof(r));
    r.time_ns = time;
    r.address = address;
    r.size = size;
    r.stack_id = stack;
    r.tid = tid;
    r.call = static_cast<uint16_t>(fmt::Call::kMalloc);
    Append(&r, sizeof(r));
  }

  void Free(uint64_t time, uint64_t address, uint32_t tid = 1, bool realloc = false) {
    fmt::FreeRecord r{};
    r.header = Header(fmt::RecordType::kFree, sizeof(r));
    if (realloc) r.header.flags = fmt::kFreeFlagRealloc;
    r.time_ns = time;
    r.address = address;
    r.tid = tid;
    Append(&r, sizeof(r));
  }

  // Heap events in an Events record (EventsRecordOf), and the Clock record that releases them.
  void Events(const std::vector<fmt::Event>& events, uint16_t flags = 0) {
    std::vector<uint8_t> r = EventsRecordOf(events, flags);
    Append(r.data(), r.size());
  }
  void Clock(uint64_t ticks, uint64_t time_ns) {
    fmt::ClockRecord c{};
    c.header = fmt::MakeHeader(fmt::RecordType::kClock, sizeof(c));
    c.time_ns = time_ns;
    c.ticks = ticks;
    Append(&c, sizeof(c));
  }

  void Snapshot(uint64_t time, uint64_t rss = 0) {
    fmt::SnapshotRecord r{};
    r.header = Header(fmt::RecordType::kSnapshot, sizeof(r));
    r.time_ns = time;
    r.rss_bytes = rss;
    Append(&r, sizeof(r));
  }

  void End(uint64_t time) {
    fmt::EndRecord r{};
    r.header = Header(fmt::RecordType::kEnd, sizeof(r));
    r.time_ns = time;
    r.reason = fmt::kEndReasonExit;
    Append(&r, sizeof(r));
  }

  // Writes the recording (minus its last `cut` bytes) to a new file under /tmp, returns its path.
  std::string Write(size_t cut = 0) const {
    char path[] = "/tmp/allocwatch-unit-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    size_t n = bytes_.size() - cut;
    REQUIRE(write(fd, bytes_.data(), n) == static_cast<ssize_t>(n));
    close(fd);
    files_.push_back(path);
    return path;
  }

  ~Builder() {
    for (const std::string& f : files_) unlink(f.c_str());
  }
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;
  Builder(Builder&&) = default;

  size_t size() const { return bytes_.size(); }

  // A record of a type no reader knows (readers skip it).
  void Unknown() {
    uint64_t body[3] = {1, 2, 3};
    fmt::RecordHeader h{999, 0, 32};
    Append(&h, sizeof(h));
    Append(body, sizeof(body));
  }

  // Any complete record, as given.
  void Raw(const void* p, size_t n) { Append(p, n); }

 private:
  void FileHeader() {
    fmt::FileHeader h{};
    std::memcpy(h.magic, fmt::kMagic, 8);
    h.version = fmt::kVersion;
    h.header_size = sizeof(h);
    Append(&h, sizeof(h));
  }
  static fmt::RecordHeader Header(fmt::RecordType t, uint64_t size) {
    return {static_cast<uint16_t>(t), 0, static_cast<uint32_t>(size)};
  }
  void Append(const void* p, size_t n) {
    size_t at = bytes_.size();
    bytes_.resize(at + n);
    if (n > 0) std::memcpy(bytes_.data() + at, p, n);
  }
  void Pad(size_t n) { bytes_.resize(bytes_.size() + n, 0); }
  std::vector<uint8_t> bytes_;
  mutable std::vector<std::string> files_;
};

inline constexpr uint64_t kSecond = 1'000'000'000;

}  // namespace allocwatch::unit_test
