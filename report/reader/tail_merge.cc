// report/reader/tail_merge.cc: see tail_merge.h.
#include "report/reader/tail_merge.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "preload/format/event_codec.h"
#include "preload/format/record_format.h"
#include "preload/format/tail_format.h"

namespace allocwatch::report {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kRecordingSuffix = ".awtrace";
constexpr std::string_view kTailSuffix = ".awtail";
// How far back in the recording a batch that was being flushed at the kill is looked for: the
// writer's region and one batch, with room to spare.
constexpr uint64_t kDuplicateWindow = 1u << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool ReadAt(int fd, void* out, size_t size, uint64_t offset) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    ssize_t n = pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

bool WriteAt(int fd, const void* data, size_t size, uint64_t offset) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

std::string ReadSmall(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The recording as it will be once merged: its first `keep` bytes, then `added`.
struct Combined {
  int fd;
  uint64_t keep;
  const std::vector<uint8_t>& added;

  uint64_t size() const { return keep + added.size(); }
  bool Read(void* out, size_t n, uint64_t offset) const {
    if (offset + n > size()) return false;
    auto* p = static_cast<uint8_t*>(out);
    if (offset < keep) {
      size_t from_file = static_cast<size_t>(std::min<uint64_t>(n, keep - offset));
      if (!ReadAt(fd, p, from_file, offset)) return false;
      p += from_file;
      n -= from_file;
      offset += from_file;
    }
    if (n > 0) std::memcpy(p, added.data() + (offset - keep), n);
    return true;
  }
};

bool PlausibleHeader(const format::RecordHeader& h) {
  return h.size >= sizeof(format::RecordHeader) && h.size % 8 == 0 &&
         h.size <= format::kMaxRecordSize;
}

// The end of the whole records of `c` from `from` on (`from` itself when the first is cut).
uint64_t WholeRecordsEnd(const Combined& c, uint64_t from) {
  uint64_t pos = from;
  format::RecordHeader h{};
  while (pos + sizeof(h) <= c.size() && c.Read(&h, sizeof(h), pos) && PlausibleHeader(h) &&
         pos + h.size <= c.size()) {
    pos += h.size;
  }
  return pos;
}

struct ProcessInfo {
  format::ProcessRecord record{};
  std::string exe;
  std::string boot_id;
};

// The process record at the start of `c`, or false when the bytes are not a recording's start.
bool ReadProcess(const Combined& c, ProcessInfo* out) {
  format::FileHeader file{};
  if (!c.Read(&file, sizeof(file), 0) ||
      std::memcmp(file.magic, format::kMagic, sizeof(file.magic)) != 0 ||
      file.header_size < sizeof(file) || file.header_size > 4096) {
    return false;
  }
  format::ProcessRecord& p = out->record;
  if (!c.Read(&p, sizeof(p), file.header_size) ||
      p.header.type != static_cast<uint16_t>(format::RecordType::kProcess) ||
      p.header.size < sizeof(p)) {
    return false;
  }
  uint64_t strings = uint64_t{p.exe_size} + p.cmdline_size + p.kernel_size + p.boot_id_size;
  if (sizeof(p) + strings > p.header.size) return false;
  std::string text(static_cast<size_t>(strings), '\0');
  if (!c.Read(text.data(), text.size(), file.header_size + sizeof(p))) return false;
  out->exe = text.substr(0, p.exe_size);
  out->boot_id = text.substr(text.size() - p.boot_id_size);
  return true;
}

// A ClockRecord for now, on the clock of the killed process's heap events, so that the events
// taken from its buffers get times on the line from its last ClockRecord to now. False when
// this machine cannot read that clock as the process did (another boot, another CPU type).
bool ClockNow(const ProcessInfo& p, uint32_t tick_source, format::ClockRecord* out) {
  if (p.boot_id.empty() || ReadSmall("/proc/sys/kernel/random/boot_id") != p.boot_id) {
    return false;
  }
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t ticks = 0;
  uint64_t mono = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
  if (tick_source == format::kTickSourceMonotonic) {
    ticks = mono;
  } else if (tick_source == format::kTickSourceTsc) {
#if defined(__x86_64__)
    ticks = __rdtsc();
#else
    return false;
#endif
  } else {
    return false;
  }
  if (mono < p.record.start_monotonic_ns) return false;
  *out = format::ClockRecord{};
  out->header = format::MakeHeader(format::RecordType::kClock, sizeof(*out));
  out->time_ns = mono - p.record.start_monotonic_ns;
  out->ticks = ticks;
  return true;
}

void AppendBytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  if (n == 0) return;
  size_t at = out.size();
  out.resize(at + n);
  std::memcpy(out.data() + at, p, n);
}

// The whole events at the start of a slot's data, as an Events record; false when none.
bool SlotBatch(const format::TailSlotHeader& h, const std::vector<uint8_t>& data,
               std::vector<uint8_t>* record, uint64_t* events, uint64_t* torn) {
  format::EventCodecState state;
  state.last_time = h.base_time;
  const uint8_t* begin = data.data();
  const uint8_t* p = begin;
  const uint8_t* end = begin + data.size();
  uint32_t n = 0;
  while (n < h.count) {
    format::Event e{};
    const uint8_t* at = p;
    if (!format::DecodeValidEvent(state, p, end, format::kMaxCall, &e)) {
      p = at;
      break;
    }
    ++n;
  }
  *torn += static_cast<uint64_t>(end - p);
  if (n == 0) return false;
  auto bytes = static_cast<uint32_t>(p - begin);
  format::EventsRecord r{};
  r.header = format::MakeHeader(format::RecordType::kEvents, sizeof(r) + bytes);
  r.base_time_ns = h.base_time;
  r.count = n;
  r.bytes = bytes;
  record->clear();
  AppendBytes(*record, &r, sizeof(r));
  AppendBytes(*record, begin, bytes);
  record->resize(r.header.size, 0);
  *events += n;
  return true;
}

// Whether `needle` is among the last kDuplicateWindow bytes of `c`.
bool InTail(const Combined& c, const std::vector<uint8_t>& needle) {
  uint64_t from = c.size() > kDuplicateWindow ? c.size() - kDuplicateWindow : 0;
  std::vector<uint8_t> window(static_cast<size_t>(c.size() - from));
  if (!c.Read(window.data(), window.size(), from)) return false;
  return std::search(window.begin(), window.end(), needle.begin(), needle.end()) != window.end();
}

TailMerge Left(TailMerge m, std::string why) {
  m.outcome = TailMerge::Outcome::kLeft;
  m.warning = std::move(why);
  return m;
}

}  // namespace

namespace {

// `path` with its suffix `from` replaced by `to`; "" when it does not end in `from`.
std::string Resuffix(const std::string& path, std::string_view from, std::string_view to) {
  if (path.size() < from.size() ||
      path.compare(path.size() - from.size(), from.size(), from) != 0) {
    return "";
  }
  return path.substr(0, path.size() - from.size()) + std::string(to);
}

}  // namespace

std::string TailPathFor(const std::string& recording) {
  return Resuffix(recording, kRecordingSuffix, kTailSuffix);
}

std::string RecordingPathForTail(const std::string& tail) {
  return Resuffix(tail, kTailSuffix, kRecordingSuffix);
}

bool ProcessStillRunning(uint32_t pid, const std::string& exe, const std::string& boot_id) {
  if (pid == 0) return false;
  if (!boot_id.empty() && ReadSmall("/proc/sys/kernel/random/boot_id") != boot_id) return false;
  std::error_code ec;
  fs::path now_path = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  // A zombie (or a process of another user) has no readable exe: running only if nothing
  // more is known.
  if (ec) return fs::exists("/proc/" + std::to_string(pid), ec) && exe.empty();
  std::string now = now_path.string();
  const std::string deleted = " (deleted)";
  if (now.size() > deleted.size() &&
      now.compare(now.size() - deleted.size(), deleted.size(), deleted) == 0) {
    now.resize(now.size() - deleted.size());
  }
  return exe.empty() || now == exe || fs::equivalent(now, exe, ec);
}

TailMerge MergeTail(const std::string& recording) {
  TailMerge m;
  std::string tail_path = TailPathFor(recording);
  if (tail_path.empty()) return m;
  Fd tail(open(tail_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (tail.get() < 0) return m;
  // One merge at a time (two reports started together): the second finds the tail removed.
  if (flock(tail.get(), LOCK_EX) != 0) return Left(m, tail_path + ": cannot lock the tail file");
  struct stat tail_st {};
  if (fstat(tail.get(), &tail_st) != 0 || tail_st.st_nlink == 0) return m;
  auto tail_size = static_cast<uint64_t>(tail_st.st_size);
  format::TailHeader h{};
  if (tail_size < format::kTailHeaderBytes + format::kTailWriterBytes ||
      !ReadAt(tail.get(), &h, sizeof(h), 0)) {
    return Left(m, tail_path + ": tail file too short (" + std::to_string(tail_size) +
                       " bytes); not merged");
  }
  if (std::memcmp(h.magic, format::kTailMagic, sizeof(h.magic)) != 0) {
    return Left(m, tail_path + ": not an allocwatch tail file; not merged");
  }
  if (h.version != format::kTailVersion) {
    return Left(m, tail_path + ": tail file version " + std::to_string(h.version) +
                       " (this allocwatch reads " + std::to_string(format::kTailVersion) +
                       "); not merged");
  }
  if (h.finished != 0) {
    unlink(tail_path.c_str());  // left by a process that ended as it was removing it
    m.outcome = TailMerge::Outcome::kRemoved;
    return m;
  }

  Fd rec(open(recording.c_str(), O_RDWR | O_CLOEXEC));
  if (rec.get() < 0) return Left(m, recording + ": cannot open it to merge its tail file");
  struct stat rec_st {};
  if (fstat(rec.get(), &rec_st) != 0) return Left(m, recording + ": cannot stat it");
  auto length = static_cast<uint64_t>(rec_st.st_size);
  uint64_t offset = h.writer_offset;
  uint64_t used = std::min<uint64_t>(h.writer_used, format::kTailWriterBytes);

  if (length < offset) {
    return Left(m, recording + ": " + std::to_string(length) + " bytes, shorter than the " +
                       std::to_string(offset) + " its tail file says were written; not merged");
  }
  // What the writer's region adds: the part of its bytes the recording does not hold yet.
  std::vector<uint8_t> added;
  uint64_t keep = length;
  if (used > 0 && h.direct_write == 0 && length <= offset + used) {
    std::vector<uint8_t> region(static_cast<size_t>(used));
    if (!ReadAt(tail.get(), region.data(), region.size(), format::kTailHeaderBytes)) {
      return Left(m, tail_path + ": cannot read the writer's region; not merged");
    }
    // The recording's bytes past `offset` are the region's first bytes (a write the kill cut).
    std::vector<uint8_t> written(static_cast<size_t>(length - offset));
    if (!ReadAt(rec.get(), written.data(), written.size(), offset) ||
        !std::equal(written.begin(), written.end(), region.begin())) {
      return Left(m, recording + ": its last bytes are not those of its tail file; not merged");
    }
    added.assign(region.begin() + static_cast<std::ptrdiff_t>(written.size()), region.end());
  }
  // Whole records from `offset` on; a record cut short by the kill is dropped. The file header
  // is not a record: a kill during the first write leaves offset 0.
  {
    Combined c{rec.get(), keep, added};
    uint64_t end = WholeRecordsEnd(c, std::max<uint64_t>(offset, sizeof(format::FileHeader)));
    if (end < c.size()) {
      m.torn_bytes = c.size() - end;
      if (end <= keep) {
        keep = end;
        added.clear();
      } else {
        added.resize(static_cast<size_t>(end - keep));
      }
    }
  }
  ProcessInfo process;
  {
    Combined c{rec.get(), keep, added};
    if (!ReadProcess(c, &process)) {
      return Left(m, recording + ": no process record at its start; its tail file is not merged");
    }
  }
  if (process.record.pid != h.pid || process.record.start_realtime_ns != h.start_realtime_ns) {
    return Left(m, tail_path + ": belongs to process " + std::to_string(h.pid) +
                       ", not to the one of " + recording + "; not merged");
  }
  if (ProcessStillRunning(process.record.pid, process.exe, process.boot_id)) {
    m.outcome = TailMerge::Outcome::kStillRunning;
    return m;
  }
  m.writer_bytes = added.size();

  // Each thread's buffered events.
  uint32_t slots = std::min(h.slot_count, format::kTailMaxSlots);
  uint32_t missing_slots = 0;
  std::vector<uint8_t> data;
  std::vector<uint8_t> batch;
  for (uint32_t i = 0; i < slots; ++i) {
    format::TailSlotHeader s{};
    uint64_t at = format::TailSlotOffset(i);
    if (at + format::kTailSlotBytes > tail_size || !ReadAt(tail.get(), &s, sizeof(s), at)) {
      ++missing_slots;
      continue;
    }
    if (s.count == 0) continue;
    data.resize(std::min<uint64_t>(s.used, format::kTailSlotDataBytes));
    if (!ReadAt(tail.get(), data.data(), data.size(), at + format::kTailSlotDataOffset)) {
      ++missing_slots;
      continue;
    }
    if (!SlotBatch(s, data, &batch, &m.events, &m.torn_bytes)) continue;
    if (s.flushing != 0) {
      // Being handed to the writer at the kill: it may be in the recording or the region.
      Combined c{rec.get(), keep, added};
      if (InTail(c, batch)) {
        ++m.duplicates;
        format::EventsRecord r{};
        std::memcpy(&r, batch.data(), sizeof(r));
        m.events -= r.count;
        continue;
      }
    }
    AppendBytes(added, batch.data(), batch.size());
    ++m.batches;
  }
  // Even when the tail adds nothing (the process had written all it had, as a sampled program
  // often has), the RecoveredRecord is appended: it tells the report that the recording was
  // checked against the tail and is whole up to the kill.
  format::ClockRecord clock{};
  if (m.batches > 0 && ClockNow(process, h.tick_source, &clock)) {
    AppendBytes(added, &clock, sizeof(clock));
  }
  format::RecoveredRecord done{};
  done.header = format::MakeHeader(format::RecordType::kRecovered, sizeof(done));
  done.writer_bytes = m.writer_bytes;
  done.events = m.events;
  done.batches = m.batches;
  done.duplicates = m.duplicates;
  done.torn_bytes = m.torn_bytes;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  done.merged_realtime_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ULL + now.tv_nsec;
  AppendBytes(added, &done, sizeof(done));

  if ((keep < length && ftruncate(rec.get(), static_cast<off_t>(keep)) != 0) ||
      !WriteAt(rec.get(), added.data(), added.size(), keep) || fsync(rec.get()) != 0) {
    std::string why = std::strerror(errno);
    // Back to the whole records (should that fail too, the reader stops at the cut record).
    (void)!ftruncate(rec.get(), static_cast<off_t>(keep));
    return Left(
        m, recording + ": cannot append its tail file's records (" + why + "); the tail is kept");
  }
  unlink(tail_path.c_str());
  m.outcome = TailMerge::Outcome::kMerged;
  m.appended_at = keep;
  if (missing_slots > 0) {
    m.warning = tail_path + ": " + std::to_string(missing_slots) +
                " event buffers missing from the tail file (cut short); their events are lost";
  }
  return m;
}

}  // namespace allocwatch::report
