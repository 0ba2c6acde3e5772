// report/reader/recording_reader.cc: see recording_reader.h.
#include "report/reader/recording_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "preload/format/event_codec.h"

namespace allocwatch::report {

using format::RecordType;

uint32_t FixedRecordSize(RecordType type) {
  switch (type) {
    case RecordType::kProcess:
      return sizeof(format::ProcessRecord);
    case RecordType::kModuleLoad:
      return sizeof(format::ModuleLoadRecord);
    case RecordType::kModuleUnload:
      return sizeof(format::ModuleUnloadRecord);
    case RecordType::kThread:
      return sizeof(format::ThreadRecord);
    case RecordType::kStack:
      return sizeof(format::StackRecord);
    case RecordType::kAlloc:
      return sizeof(format::AllocRecord);
    case RecordType::kFree:
      return sizeof(format::FreeRecord);
    case RecordType::kMmap:
      return sizeof(format::MmapRecord);
    case RecordType::kMunmap:
      return sizeof(format::MunmapRecord);
    case RecordType::kMremap:
      return sizeof(format::MremapRecord);
    case RecordType::kSnapshot:
      return sizeof(format::SnapshotRecord);
    case RecordType::kFailure:
      return sizeof(format::FailureRecord);
    case RecordType::kLive:
      return sizeof(format::LiveRecord);
    case RecordType::kExec:
      return sizeof(format::ExecRecord);
    case RecordType::kEnd:
      return sizeof(format::EndRecord);
    case RecordType::kLost:
      return sizeof(format::LostRecord);
    case RecordType::kEvents:
      return sizeof(format::EventsRecord);
    case RecordType::kClock:
      return sizeof(format::ClockRecord);
    case RecordType::kPeriod:
      return sizeof(format::PeriodRecord);
    case RecordType::kHeadroom:
      return sizeof(format::HeadroomRecord);
    case RecordType::kRecovered:
      return sizeof(format::RecoveredRecord);
    case RecordType::kBrink:
      return sizeof(format::BrinkRecord);
    case RecordType::kProtect:
      return sizeof(format::ProtectRecord);
    case RecordType::kAdvise:
      return sizeof(format::AdviseRecord);
    case RecordType::kMemory:
      return sizeof(format::MemoryRecord);
    case RecordType::kControl:
      return sizeof(format::ControlRecord);
  }
  return 0;
}

RecordingReader::RecordingReader(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    throw ReadError(path + ": cannot open: " + std::strerror(errno));
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  format::FileHeader header{};
  size_t got = 0;
  if (!ReadExactly(&header, sizeof(header), &got) ||
      std::memcmp(header.magic, format::kMagic, sizeof(header.magic)) != 0) {
    std::fclose(file_);
    file_ = nullptr;
    throw ReadError(path + ": not an allocwatch recording (bad magic)");
  }
  if (header.version < format::kOldestReadableVersion || header.version > format::kVersion) {
    std::fclose(file_);
    file_ = nullptr;
    throw ReadError(path + ": recording format version " + std::to_string(header.version) +
                    " is not supported (this allocwatch reads versions " +
                    std::to_string(format::kOldestReadableVersion) + " to " +
                    std::to_string(format::kVersion) + ")");
  }
  version_ = header.version;
  if (header.header_size < sizeof(header) || header.header_size > 4096 ||
      std::fseek(file_, header.header_size, SEEK_SET) != 0) {
    std::fclose(file_);
    file_ = nullptr;
    throw ReadError(path + ": damaged file header");
  }
  offset_ = header.header_size;
}

RecordingReader::~RecordingReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool RecordingReader::ReadExactly(void* out, size_t size, size_t* got) {
  *got = std::fread(out, 1, size, file_);
  return *got == size;
}

const RawRecord* RecordingReader::WaitForMore() {
  std::clearerr(file_);
  if (fseeko(file_, static_cast<off_t>(offset_), SEEK_SET) != 0) {
    Stop(std::string("cannot seek back: ") + std::strerror(errno));
  }
  return nullptr;
}

void RecordingReader::Stop(const std::string& why) { StopAt(why, offset_); }

void RecordingReader::StopAt(const std::string& why, uint64_t offset) {
  done_ = true;
  warning_ =
      path_ + ": " + why + " at offset " + std::to_string(offset) + "; using the records before it";
}

void RecordingReader::CheckDamage() {
  std::optional<uint64_t> at = held_.TakeDamage();
  if (!at || (damaged_at_ && *damaged_at_ <= *at)) return;
  damaged_at_ = at;
  // The reader is past it: the held events of the records after it are dropped, and
  // nothing more is read. The record's own events before the damage have been handed out.
  held_.DropAfter(*at);
  StopAt("damaged events record", *at);
}

namespace {
// More held events than this are handed out without waiting for their ClockRecord (a writer
// that never wrote one, or a damaged file): memory stays bounded (the records as read, about
// 8 bytes an event), order between threads may suffer. The recorder writes a ClockRecord at
// least every 100 ms.
constexpr size_t kMaxHeldEvents = 8u << 20;
}  // namespace

void RecordingReader::SetClock(uint64_t ns, uint64_t ticks) {
  prev_clock_ = clock_;
  clock_ = ClockPoint{ns, ticks};
  const ClockPoint& b = *clock_;
  line_ = prev_clock_ && prev_clock_->ticks < b.ticks && prev_clock_->ns <= b.ns;
  if (!line_) return;
  const ClockPoint& a = *prev_clock_;
  line_ns_ = static_cast<double>(a.ns);
  line_ticks_ = static_cast<double>(a.ticks);
  slope_ = static_cast<double>(b.ns - a.ns) / static_cast<double>(b.ticks - a.ticks);
}

void RecordingReader::ReleaseEvents(uint64_t up_to) {
  releasing_ = true;
  release_up_to_ = up_to;
}

const RawRecord* RecordingReader::PopReady() {
  format::Event& e = *current_.event;
  current_.bytes.clear();
  if (format::IsAllocKind(e.kind)) {
    current_.type = RecordType::kAlloc;
    current_.flags = e.kind == format::EventKind::kRestoredAlloc ? format::kAllocFlagRestored : 0;
  } else {
    current_.type = RecordType::kFree;
    current_.flags = e.kind == format::EventKind::kReallocFree ? format::kFreeFlagRealloc : 0;
  }
  e.time_ns = TicksToNs(e.time_ns);
  return &current_;
}

size_t RecordingReader::NextEvents(format::Event* out, size_t max, uint64_t* offset) {
  if (!releasing_) return 0;
  size_t n = held_.NextBatch(release_up_to_, out, max, offset);
  CheckDamage();
  if (n == 0) {
    releasing_ = false;
    return 0;
  }
  for (size_t i = 0; i < n; ++i) out[i].time_ns = TicksToNs(out[i].time_ns);
  return n;
}

namespace {

// Writes into `out` the AllocRecord or FreeRecord its event stands for.
void WriteWireRecord(RawRecord& out) {
  const format::Event& e = *out.event;
  if (out.type == RecordType::kAlloc) {
    format::AllocRecord r{};
    r.header = format::MakeHeader(RecordType::kAlloc, sizeof(r), out.flags);
    r.time_ns = e.time_ns;
    r.address = e.address;
    r.size = e.size;
    r.stack_id = e.stack_id;
    r.tid = e.tid;
    r.call = e.call;
    r.sample_bytes =
        e.sample_bytes > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(e.sample_bytes);
    out.bytes.resize(sizeof(r));
    std::memcpy(out.bytes.data(), &r, sizeof(r));
  } else {
    format::FreeRecord r{};
    r.header = format::MakeHeader(RecordType::kFree, sizeof(r), out.flags);
    r.time_ns = e.time_ns;
    r.address = e.address;
    r.tid = e.tid;
    r.call = e.call;
    out.bytes.resize(sizeof(r));
    std::memcpy(out.bytes.data(), &r, sizeof(r));
  }
}

}  // namespace

std::optional<RawRecord> RecordingReader::Next() {
  const RawRecord* r = NextView();
  if (r == nullptr) return std::nullopt;
  RawRecord out = *r;
  if (out.event) WriteWireRecord(out);
  return out;
}

const RawRecord* RecordingReader::NextView() {
  for (;;) {
    // Released events go out before anything else is read.
    if (releasing_) {
      if (!current_.event) current_.event.emplace();
      bool got = held_.Next(release_up_to_, &*current_.event, &current_.offset);
      CheckDamage();
      if (got) return PopReady();
      releasing_ = false;
    }
    if (done_) {
      if (held_.empty()) return nullptr;
      // The file ended (cut short, or damaged) before the events' ClockRecord.
      ReleaseEvents(UINT64_MAX);
      continue;
    }
    format::RecordHeader header{};
    size_t got = 0;
    if (!ReadExactly(&header, sizeof(header), &got)) {
      if (follow_) return WaitForMore();
      done_ = true;
      if (got == 0) {
        clean_end_ = true;
      } else {
        Stop("truncated record header");
      }
      continue;
    }
    if (follow_ && header.size == 0 && header.type == 0) return WaitForMore();  // not yet written
    if (header.size < sizeof(header) || header.size % 8 != 0 ||
        header.size > format::kMaxRecordSize) {
      Stop("damaged record (size " + std::to_string(header.size) + ")");
      continue;
    }
    auto type = static_cast<RecordType>(header.type);
    uint32_t fixed = FixedRecordSize(type);
    if (fixed != 0 && header.size < fixed) {
      Stop("damaged record (type " + std::to_string(header.type) + " too short)");
      continue;
    }
    current_.type = type;
    current_.flags = header.flags;
    current_.offset = offset_;
    current_.event.reset();
    current_.bytes.resize(header.size);
    std::memcpy(current_.bytes.data(), &header, sizeof(header));
    if (!ReadExactly(current_.bytes.data() + sizeof(header), header.size - sizeof(header), &got)) {
      if (follow_) return WaitForMore();
      Stop("truncated record");
      continue;
    }
    if (fixed == 0) {  // a record type this version does not know: skip it
      offset_ += header.size;
      continue;
    }
    if (type == RecordType::kEvents) {
      // The record's buffer goes to the held events; the next record is read into another.
      if (!held_.Add(std::move(current_.bytes), offset_, version_)) {
        current_.bytes = held_.TakeBuffer();
        Stop("damaged events record");
        continue;
      }
      current_.bytes = held_.TakeBuffer();
      offset_ += header.size;
      if (held_.size() > kMaxHeldEvents) ReleaseEvents(UINT64_MAX);
      continue;
    }
    if (type == RecordType::kClock) {
      format::ClockRecord c;
      std::memcpy(&c, current_.bytes.data(), sizeof(c));
      SetClock(c.time_ns, c.ticks);
      offset_ += header.size;
      ReleaseEvents(c.ticks);
      continue;
    }
    offset_ += header.size;
    return &current_;
  }
}

}  // namespace allocwatch::report
